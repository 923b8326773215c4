"""Stash's sprite WebVTT: one cue per sprite tile, ``start --> end`` then ``image#xywh=x,y,w,h``.

Stash writes::

    WEBVTT

    00:00:00.000 --> 00:00:12.345
    <hash>_sprite.jpg#xywh=0,0,160,90

The parser accepts what other tools write too: a BOM, CRLF line ends, cue identifiers, cue
settings after the timing, ``MM:SS.mmm`` times, comma decimals and ``#xywh=pixel:...``. Every
tile counts, including those at x=0 or y=0.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from stash_sense.media.base import FrameSourceError

_TIME = r"(?:(\d+):)?(\d{1,2}):(\d{1,2}(?:[.,]\d+)?)"
_TIMING = re.compile(rf"^\s*{_TIME}\s*-->\s*{_TIME}(?:\s.*)?$")
_TILE = re.compile(r"^\s*(?P<name>[^#]*?)\s*#xywh=(?:pixel:)?(?P<x>\d+),(?P<y>\d+),(?P<w>\d+),(?P<h>\d+)\s*$")


@dataclass(frozen=True, slots=True)
class SpriteCue:
    """One sprite tile and the time span it previews."""

    start: float  # seconds
    end: float  # seconds
    image: str  # the sheet's name or URL as written in the VTT (relative to the VTT)
    x: int
    y: int
    w: int
    h: int


def parse_vtt_time(text: str) -> float:
    """``HH:MM:SS.mmm`` or ``MM:SS.mmm`` (comma decimals too) in seconds."""
    match = re.fullmatch(_TIME, text.strip())
    if not match:
        raise ValueError(f"not a WebVTT time: {text!r}")
    return _seconds(*match.groups())


def _seconds(hours: str | None, minutes: str, seconds: str) -> float:
    return int(hours or 0) * 3600 + int(minutes) * 60 + float(seconds.replace(",", "."))


def format_vtt_time(seconds: float) -> str:
    """Seconds as Stash writes them: ``HH:MM:SS.mmm``, milliseconds truncated."""
    # The nanosecond nudge keeps parse -> format round trips exact (12.345 * 1000 < 12345).
    millis = int(seconds * 1000 + 1e-6) if seconds > 0 else 0
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}.{millis:03d}"


def parse_sprite_vtt(text: str | bytes) -> list[SpriteCue]:
    """Every well-formed sprite cue in ``text``, in file order.

    Cues without an ``#xywh=`` payload, with an empty tile or with end before start are
    skipped. Raises :class:`FrameSourceError` when no sprite cue is found at all.
    """
    if isinstance(text, (bytes, bytearray)):
        text = bytes(text).decode("utf-8-sig", errors="replace")
    lines = text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n").split("\n")
    has_header = bool(lines) and lines[0].strip().startswith("WEBVTT")
    cues: list[SpriteCue] = []
    i = 0
    while i < len(lines):
        timing = _TIMING.match(lines[i])
        i += 1
        if not timing:
            continue
        start = _seconds(*timing.groups()[0:3])
        end = _seconds(*timing.groups()[3:6])
        # The payload is the next non-blank line (blank lines in between are tolerated).
        j = i
        while j < len(lines) and not lines[j].strip():
            j += 1
        tile = _TILE.match(lines[j]) if j < len(lines) else None
        if tile is None:
            continue  # a cue without a tile; rescan from the line after its timing
        i = j + 1
        w, h = int(tile["w"]), int(tile["h"])
        if w <= 0 or h <= 0 or end < start:
            continue
        cues.append(SpriteCue(start, end, tile["name"], int(tile["x"]), int(tile["y"]), w, h))
    if not cues:
        what = "no sprite cues (start --> end followed by image#xywh=x,y,w,h)"
        raise FrameSourceError(f"sprite VTT: {what}" + ("" if has_header else "; no WEBVTT header either"))
    return cues


def format_sprite_vtt(cues: Iterable[SpriteCue]) -> str:
    """The VTT text for ``cues`` exactly as Stash lays it out (``\\n`` line ends, blank line after each cue)."""
    lines = ["WEBVTT", ""]
    for cue in cues:
        lines.append(f"{format_vtt_time(cue.start)} --> {format_vtt_time(cue.end)}")
        lines.append(f"{cue.image}#xywh={cue.x},{cue.y},{cue.w},{cue.h}")
        lines.append("")
    return "\n".join(lines)

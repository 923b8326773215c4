"""Frames from Stash's sprite sheet: a grid of small thumbnails described by a WebVTT file.

Stash generates, per scene, a 9x9 grid of tiles 160 px wide (81 frames, one every
duration/81 seconds, the first at 0 s) and a VTT whose cues map time spans to tiles. Tiles are
small, but they cover the whole scene and cost two small downloads, so they are the fallback
when the video itself cannot be read. :func:`make_sprite_sheet` produces the same pair from
a video, for tests and for anything that must serve sprites the way Stash does.
"""

from __future__ import annotations

import contextlib
import io
import os
import statistics
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import httpx
import numpy as np
from PIL import Image

from stash_sense.media.base import Frame, FrameFailure, FrameSourceError, sampling_timestamps
from stash_sense.media.fetch import MediaSpec, describe_spec, http_client, is_url, read_media
from stash_sense.media.image import decode_image
from stash_sense.media.video import VideoFrameSource
from stash_sense.media.vtt import SpriteCue, format_sprite_vtt, parse_sprite_vtt

#: Stash's sprite layout: a square grid of 9x9 tiles, each 160 px on its longer side.
STASH_SPRITE_COLUMNS = 9
STASH_SPRITE_ROWS = 9
STASH_SPRITE_TILE_SIZE = 160
# Stash saves sprites through Go's image library at its default JPEG quality.
STASH_SPRITE_JPEG_QUALITY = 95


class SpriteFrameSource:
    """Tiles of a sprite sheet as frames, picked by their cue times.

    ``vtt`` is the VTT text (str starting with ``WEBVTT`` or bytes), a path or an http(s) URL.
    ``sprite_image`` is the sheet (bytes, path or URL); when omitted, each cue's image name is
    resolved against the VTT's location, as a browser would. ``headers`` go with every
    request (e.g. ``{"ApiKey": key}``); ``transport`` (e.g. the API's URL guard) carries them
    all, so a sheet URL named by the VTT is guarded like the VTT's own.
    """

    kind = "sprite"

    def __init__(
        self,
        vtt: MediaSpec,
        sprite_image: MediaSpec | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._headers = dict(headers or {})
        self.failures: list[FrameFailure] = []
        with contextlib.ExitStack() as stack:
            # One connection pool for the VTT and its sheet; none at all for local files.
            client = (
                stack.enter_context(http_client(self._headers, timeout, transport))
                if is_url(vtt) or is_url(sprite_image)
                else None
            )
            text, base = _load_vtt(vtt, client, timeout)
            self._shown = describe_spec(vtt) if base is not None else "<VTT text>"
            try:
                cues = parse_sprite_vtt(text)
            except FrameSourceError as exc:
                raise FrameSourceError(str(exc).replace("sprite VTT", f"sprite VTT {self._shown}", 1)) from None
            sheets = self._load_sheets(cues, sprite_image, base, client, timeout)

        # A tile must lie inside its sheet; a VTT for another sheet would crop garbage.
        self.tiles: list[SpriteCue] = []
        outside = 0
        for cue in cues:
            sheet_h, sheet_w = sheets[cue.image].shape[:2]
            if cue.x + cue.w <= sheet_w and cue.y + cue.h <= sheet_h:
                self.tiles.append(cue)
            else:
                outside += 1
        if not self.tiles:
            raise FrameSourceError(f"sprite {self._shown}: none of the {len(cues)} tiles lies inside the sprite image")
        self.tiles.sort(key=lambda c: c.start)
        self.tiles_outside_sheet = outside
        self._sheets: dict[str, np.ndarray] | None = sheets
        self.duration = max(c.end for c in self.tiles)

    def _load_sheets(
        self,
        cues: list[SpriteCue],
        sprite_image: MediaSpec | None,
        base: str | Path | None,
        client: httpx.Client | None,
        timeout: float,
    ) -> dict[str, np.ndarray]:
        """Each sheet the cues name, decoded once: the given image, or each name next to the VTT."""
        if sprite_image is not None:
            data = read_media(sprite_image, self._headers, timeout, "sprite image", client)
            sheet = decode_image(data, what=f"sprite image {describe_spec(sprite_image)}")
            return {name: sheet for name in {c.image for c in cues}}
        sheets: dict[str, np.ndarray] = {}
        for name in dict.fromkeys(c.image for c in cues):
            location = _resolve(name, base)
            if location is None:
                raise FrameSourceError(
                    f"sprite {self._shown}: cannot locate sprite image {name!r} (VTT given as text: pass sprite_image)"
                )
            data = read_media(location, self._headers, timeout, "sprite image", client)
            sheets[name] = decode_image(data, what=f"sprite image {describe_spec(location)}")
        return sheets

    @property
    def tile_width(self) -> int:
        return self.tiles[0].w

    @property
    def tile_height(self) -> int:
        return self.tiles[0].h

    def describe(self) -> str:
        return (
            f"sprite {self._shown} ({len(self.tiles)} tiles of {self.tile_width}x{self.tile_height}, "
            f"{self.duration:.1f} s)"
        )

    def sample(self, num_frames: int, start_pct: float = 0.05, end_pct: float = 0.95) -> list[Frame]:
        """Up to ``num_frames`` distinct tiles whose cue starts are nearest the sampling times.

        Only tiles inside the window (widened by half a tile's time span) are candidates;
        asking for more frames than there are candidates returns them all.
        """
        sheets = self._require_open()
        targets = sampling_timestamps(self.duration, num_frames, start_pct, end_pct)
        chosen = self._pick(targets, start_pct * self.duration, end_pct * self.duration)
        frames = []
        for index, cue in enumerate(chosen):
            tile = sheets[cue.image][cue.y : cue.y + cue.h, cue.x : cue.x + cue.w].copy()
            frames.append(Frame(index=index, timestamp=cue.start, image=tile, source=self.kind))
        return frames

    def _pick(self, targets: list[float], lo: float, hi: float) -> list[SpriteCue]:
        half_step = statistics.median(c.end - c.start for c in self.tiles) / 2
        candidates = [c for c in self.tiles if lo - half_step <= c.start <= hi + half_step]
        if not candidates:
            middle = (lo + hi) / 2
            candidates = [min(self.tiles, key=lambda c: abs(c.start - middle))]
        if len(targets) >= len(candidates):
            return candidates
        # Greedy nearest unused tile, targets in time order: evenly spread targets over more
        # candidates than targets, so each gets its own tile within about one tile's span.
        free = list(candidates)
        chosen = []
        for t in targets:
            best = min(range(len(free)), key=lambda k: abs(free[k].start - t))
            chosen.append(free.pop(best))
        chosen.sort(key=lambda c: c.start)
        return chosen

    def close(self) -> None:
        self._sheets = None

    def __enter__(self) -> SpriteFrameSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _require_open(self) -> dict[str, np.ndarray]:
        if self._sheets is None:
            raise FrameSourceError(f"sprite {self._shown}: source is closed")
        return self._sheets


def _load_vtt(vtt: MediaSpec, client: httpx.Client | None, timeout: float) -> tuple[str, str | Path | None]:
    """The VTT text and the location its relative image names resolve against (None for text)."""
    if isinstance(vtt, (bytes, bytearray, memoryview)):
        return bytes(vtt).decode("utf-8-sig", errors="replace"), None
    if isinstance(vtt, str) and _looks_like_vtt_text(vtt):
        return vtt, None
    location = os.fspath(vtt)
    data = read_media(location, None, timeout, "sprite VTT", client)
    base: str | Path = location if is_url(location) else Path(location).resolve()
    return data.decode("utf-8-sig", errors="replace"), base


def _looks_like_vtt_text(text: str) -> bool:
    head = text.lstrip("\ufeff \t\r\n")
    return head.startswith("WEBVTT") or "-->" in text or "\n" in text


def _resolve(name: str, base: str | Path | None) -> str | None:
    """Where a cue's image lives: absolute URLs as they are, names relative to the VTT."""
    if is_url(name):
        return name
    if base is None:
        return None
    if isinstance(base, Path):
        return str(base.parent / name)
    resolved = urljoin(base, name)
    # Stash may authenticate media by an ``apikey`` query value; the sheet needs it as much
    # as the VTT did, and a relative name drops the VTT's query string.
    base_query = [(k, v) for k, v in parse_qsl(urlsplit(base).query, keep_blank_values=True) if k.lower() == "apikey"]
    parts = urlsplit(resolved)
    if base_query and "apikey" not in parts.query.lower():
        query = "&".join(q for q in (parts.query, urlencode(base_query)) if q)
        resolved = urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))
    return resolved


# --- generating sprites the way Stash does ----------------------------------------------------


@dataclass(frozen=True, slots=True)
class SpriteSheet:
    """What :func:`make_sprite_sheet` wrote."""

    image_path: Path
    vtt_path: Path
    tile_width: int
    tile_height: int
    cues: list[SpriteCue]


def stash_tile_size(width: int, height: int, size: int = STASH_SPRITE_TILE_SIZE) -> tuple[int, int]:
    """Tile size for a ``width`` x ``height`` video, as Stash's ffmpeg ``scale=160:-2`` gives it.

    The longer side becomes ``size``; the other keeps the aspect ratio, rounded to an even number.
    """
    if width <= 0 or height <= 0:
        raise ValueError(f"invalid video size {width}x{height}")
    if width >= height:
        return size, max(2, 2 * round(height * size / (2 * width)))
    return max(2, 2 * round(width * size / (2 * height))), size


def make_sprite_sheet(
    video: str | os.PathLike[str],
    out_image: str | os.PathLike[str],
    out_vtt: str | os.PathLike[str],
    *,
    columns: int = STASH_SPRITE_COLUMNS,
    rows: int = STASH_SPRITE_ROWS,
    tile_size: int = STASH_SPRITE_TILE_SIZE,
    headers: Mapping[str, str] | None = None,
    timeout: float = 30.0,
) -> SpriteSheet:
    """Write a sprite sheet (JPEG) and its VTT for ``video`` in Stash's exact layout.

    ``columns * rows`` frames (81 by default) are taken at ``i * duration / (columns * rows)``
    seconds, scaled so the longer side is ``tile_size`` px, and laid out row by row; the VTT
    names the sheet by its file name, relative to the VTT, like Stash's
    ``<hash>_sprite.jpg`` next to ``<hash>_thumbs.vtt``. Raises :class:`FrameSourceError`
    when the video cannot be read or a frame cannot be decoded.
    """
    if columns < 1 or rows < 1:
        raise ValueError(f"columns and rows must be positive, got {columns}x{rows}")
    count = columns * rows
    out_image, out_vtt = Path(out_image), Path(out_vtt)
    with VideoFrameSource(video, headers, timeout, mode="accurate") as source:
        step = source.duration / count
        frames = source.frames_at([i * step for i in range(count)])
        if any(f is None for f in frames):
            reasons = "; ".join(sorted({f.reason for f in source.failures}))
            raise FrameSourceError(f"cannot make sprites for {source.describe()}: {reasons}")
        tile_w, tile_h = stash_tile_size(source.width, source.height, tile_size)

    sheet = Image.new("RGB", (tile_w * columns, tile_h * rows))
    cues = []
    for i, frame in enumerate(frames):
        assert frame is not None
        x, y = tile_w * (i % columns), tile_h * (i // columns)
        tile = Image.fromarray(frame.image).resize((tile_w, tile_h), Image.Resampling.BICUBIC)
        sheet.paste(tile, (x, y))
        cues.append(SpriteCue(i * step, (i + 1) * step, out_image.name, x, y, tile_w, tile_h))

    buffer = io.BytesIO()
    sheet.save(buffer, format="JPEG", quality=STASH_SPRITE_JPEG_QUALITY)
    out_image.parent.mkdir(parents=True, exist_ok=True)
    out_vtt.parent.mkdir(parents=True, exist_ok=True)
    out_image.write_bytes(buffer.getvalue())
    out_vtt.write_text(format_sprite_vtt(cues), encoding="utf-8", newline="\n")
    return SpriteSheet(out_image, out_vtt, tile_w, tile_h, cues)

"""Timeline evidence from Stash's sprite sheets: is one scene the other with its start cut?

Stash's 64-bit phash samples 25 frames at fixed shares of the duration, so a copy with a cut
intro samples other moments and its hash can land anywhere. Stash's sprite sheet (81 thumbnails,
one every ``duration / 81`` seconds, with a VTT giving each one's time) keeps the timeline: here
every thumbnail gets a 64-bit difference hash, and two scenes match when, at some time offset,
the thumbnails of one line up with the other's (median distance and share of close thumbnails).

This is video evidence, like the phash: it may raise a recommendation. It is only asked for a
few pairs, found through an inverted index of the scenes' performer sets with lengths that fit
a trimmed copy, so the sprites fetched stay few.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urljoin

import numpy as np
from PIL import Image

from stash_sense.media.vtt import parse_sprite_vtt
from stash_sense.recommendations.phash_index import popcount64
from stash_sense.stash import Priority, StashClient, StashError
from stash_sense.stash.library_client import scene_sprite_paths

# A thumbnail pair closer than this (of 64 bits) shows the same picture.
CLOSE_BITS = 10
MATCH_MEDIAN_BITS = 6
MATCH_CLOSE_SHARE = 0.7
MIN_OVERLAP = 20  # thumbnails that must overlap at the chosen offset


@dataclass(frozen=True)
class Timeline:
    times: np.ndarray  # seconds, the start of each thumbnail's span
    hashes: np.ndarray  # uint64 difference hash of each thumbnail


@dataclass(frozen=True)
class TimelineMatch:
    offset: float  # seconds to add to B's times to land on A's
    median_bits: float
    close_share: float
    overlap: int

    @property
    def matched(self) -> bool:
        return self.overlap >= MIN_OVERLAP and self.median_bits <= MATCH_MEDIAN_BITS and self.close_share >= MATCH_CLOSE_SHARE


def difference_hash(image: Image.Image) -> int:
    """64-bit dHash: 9x8 grey, one bit per horizontal neighbour pair that brightens."""
    small = np.asarray(image.convert("L").resize((9, 8), Image.Resampling.BILINEAR), dtype=np.int16)
    bits = (small[:, 1:] > small[:, :-1]).reshape(-1)
    value = 0
    for bit in bits:
        value = (value << 1) | int(bit)
    return value


def timeline_from_sprite(sheet: bytes, vtt: str | bytes) -> Timeline:
    cues = parse_sprite_vtt(vtt)
    if not cues:
        raise ValueError("the sprite VTT has no cues")
    with Image.open(io.BytesIO(sheet)) as img:
        img.load()
        hashes = [difference_hash(img.crop((c.x, c.y, c.x + c.w, c.y + c.h))) for c in cues]
    return Timeline(np.array([c.start for c in cues], dtype=np.float64), np.array(hashes, dtype=np.uint64))


def align(a: Timeline, b: Timeline, max_shift: float) -> TimelineMatch:
    """The best offset within ``max_shift`` seconds at which B's thumbnails line up with A's."""
    step_a = float(np.median(np.diff(a.times))) if len(a.times) > 1 else 1.0
    step_b = float(np.median(np.diff(b.times))) if len(b.times) > 1 else 1.0
    step = max(1e-3, min(step_a, step_b) / 2)
    best = TimelineMatch(0.0, 64.0, 0.0, 0)
    end_b = float(b.times[-1]) + step_b
    for offset in np.arange(-max_shift, max_shift + step / 2, step):
        # For every thumbnail of A, the thumbnail of B shown at the same moment of the video.
        t = a.times - offset
        inside = (t >= 0) & (t < end_b)
        if int(inside.sum()) < MIN_OVERLAP:
            continue
        idx = np.clip(np.searchsorted(b.times, t[inside], side="right") - 1, 0, len(b.times) - 1)
        dist = popcount64(a.hashes[inside] ^ b.hashes[idx])
        candidate = TimelineMatch(float(offset), float(np.median(dist)), float(np.mean(dist <= CLOSE_BITS)), int(inside.sum()))
        if (candidate.median_bits, -candidate.close_share) < (best.median_bits, -best.close_share):
            best = candidate
    return best


class SpriteSource(Protocol):
    async def timeline(self, scene_id: str) -> Timeline | None: ...


class StashSpriteSource:
    """Sprites from Stash (LOW priority), one fetch per scene and run."""

    def __init__(self, client: StashClient) -> None:
        self.client = client
        self._cache: dict[str, Timeline | None] = {}

    async def timeline(self, scene_id: str) -> Timeline | None:
        if scene_id in self._cache:
            return self._cache[scene_id]
        result: Timeline | None = None
        try:
            sprite, vtt = await scene_sprite_paths(self.client, scene_id, priority=Priority.LOW)
            if sprite and vtt:
                vtt_url = urljoin(self.client.url + "/", vtt)
                text = await self.client.fetch_bytes(vtt_url, Priority.LOW)
                sheet = await self.client.fetch_bytes(urljoin(self.client.url + "/", sprite), Priority.LOW)
                result = timeline_from_sprite(sheet, text)
        except (StashError, ValueError, OSError):
            # No sprite (not generated, unreadable): this pair simply has no timeline evidence.
            result = None
        self._cache[scene_id] = result
        return result

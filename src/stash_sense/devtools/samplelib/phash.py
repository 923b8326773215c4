"""Stash's video perceptual hash, re-implemented: what Stash stores as a file's ``phash``.

Stash (``pkg/hash/videophash``) takes 25 frames, from 5% to 95% of the duration in equal
steps, each scaled to 160 pixels wide, pastes them row by row into a 5x5 sprite, and hashes the
sprite with goimagehash's ``PerceptionHash``: bilinear resize to 64x64, grey levels
(0.299 R + 0.587 G + 0.114 B), a 2-D DCT-II (orthonormal, separable), the top-left 8x8
coefficients, and one bit per coefficient above their median (first coefficient = highest
bit). The median is goimagehash's quick-select, ported as it is (it is not always the exact
lower median, and matching Stash's bits matters more than statistics).

The resampling filters are Pillow's (bicubic for the 160-pixel frames, as ffmpeg's default
scaler; bilinear with antialiasing for the 64x64 step, as nfnt/resize): a hash can differ from
Stash's in a bit or two near the median, far inside the distances that count as duplicates.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PIL import Image

SCREENSHOT_WIDTH = 160
COLUMNS = 5
ROWS = 5


def sprite_times(duration: float) -> list[float]:
    """Stash's 25 sample times: offset 5% of the duration, steps of 90% / 25."""
    count = COLUMNS * ROWS
    offset = 0.05 * duration
    step = 0.9 * duration / count
    return [offset + i * step for i in range(count)]


def build_sprite(frames: list[Image.Image]) -> Image.Image:
    """The 5x5 montage of 160-pixel-wide frames (black where a frame is missing)."""
    if not frames:
        raise ValueError("no frames to build a phash sprite from")
    scaled = []
    for frame in frames:
        w, h = frame.size
        height = max(2, int(round(h * SCREENSHOT_WIDTH / w / 2)) * 2)  # ffmpeg's scale=160:-2 keeps it even
        scaled.append(frame.convert("RGB").resize((SCREENSHOT_WIDTH, height), Image.Resampling.BICUBIC))
    width, height = scaled[0].size
    sprite = Image.new("RGB", (width * COLUMNS, height * ROWS))
    for index, image in enumerate(scaled):
        sprite.paste(image, (width * (index % COLUMNS), height * (index // ROWS)))
    return sprite


def _dct_matrix(n: int) -> np.ndarray:
    """DCT-II as goimagehash computes it: sqrt(2/n) * cos(pi (j + 0.5) i / n), row 0 times sqrt(1/2)."""
    i = np.arange(n)[:, None]
    j = np.arange(n)[None, :]
    m = np.cos(math.pi * (j + 0.5) * i / n) * math.sqrt(2.0 / n)
    m[0, :] *= math.sqrt(0.5)
    return m


_DCT64 = _dct_matrix(64)


def _quick_select(seq: list[float], low: int, hi: int, k: int) -> float:
    """goimagehash's ``quickSelect``, statement for statement (including its quirks)."""
    while True:
        if hi - low <= 1:
            return seq[k]
        j = low
        seq[j], seq[k] = seq[k], seq[j]
        j += 1
        for i in range(j, hi):
            if seq[i] < seq[low]:
                seq[j], seq[i] = seq[i], seq[j]
                j += 1
        j -= 1
        seq[j], seq[low] = seq[low], seq[j]
        if k < j:
            hi = j
        elif k > j:
            low, k = j + 1, k - j
        else:
            return seq[j]


def goimagehash_median(values: list[float]) -> float:
    tmp = list(values)
    last = len(tmp) - 1
    return _quick_select(tmp, 0, last, last // 2)


def perception_hash(image: Image.Image) -> int:
    """goimagehash's ``PerceptionHash`` of an image, as an unsigned 64-bit integer."""
    small = np.asarray(image.convert("RGB").resize((64, 64), Image.Resampling.BILINEAR), dtype=np.float64)
    grey = 0.299 * small[:, :, 0] + 0.587 * small[:, :, 1] + 0.114 * small[:, :, 2]
    dct = _DCT64 @ grey @ _DCT64.T
    flat = [float(v) for v in dct[:8, :8].reshape(-1)]
    median = goimagehash_median(flat)
    value = 0
    for idx, coefficient in enumerate(flat):
        if coefficient > median:
            value |= 1 << (len(flat) - idx - 1)
    return value


def video_phash(path: Path, duration: float) -> int:
    """The phash Stash would store for the video at ``path`` (``duration`` in seconds)."""
    from stash_sense.devtools.emulator.media import grab_frames

    frames = grab_frames(Path(path), sprite_times(duration))
    return perception_hash(build_sprite(frames))


def phash_hex(value: int) -> str:
    """Stash's text form of the hash: lower-case hex without leading zeros (``FormatUint(h, 16)``)."""
    return format(value, "x")

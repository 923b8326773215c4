"""Scene sprite sheets and their WebVTT index, byte-compatible with Stash's generator.

Stash takes 81 frames, one every ``duration / 81`` seconds, scales each to 160 px on its long
side (width for landscape video, height for portrait), pastes them row by row into a 9x9 grid
and writes a VTT whose cue ``i`` spans ``[i*step, (i+1)*step)`` and points at
``<hash>_sprite.jpg#xywh=x,y,w,h`` (the file name relative to the VTT's own URL).
"""

from __future__ import annotations

import math
import uuid
from pathlib import Path

from stash_sense.devtools.emulator.media import VideoInfo, grab_frames, jpeg_bytes

SPRITE_CHUNKS = 81
SPRITE_SIZE = 160


def sprite_grid_size(chunks: int = SPRITE_CHUNKS) -> int:
    return math.ceil(math.sqrt(chunks))


def tile_size(width: int, height: int) -> tuple[int, int]:
    """FFmpeg's ``scale=160:-2`` (or ``-2:160`` for portrait): keep the aspect, even side."""
    if width <= 0 or height <= 0:
        raise ValueError(f"invalid video size {width}x{height}")
    if height > width:
        return max(2, round(SPRITE_SIZE * width / height / 2) * 2), SPRITE_SIZE
    return SPRITE_SIZE, max(2, round(SPRITE_SIZE * height / width / 2) * 2)


def vtt_time(seconds: float) -> str:
    """Stash's ``GetVTTTime``: truncated to whole milliseconds, ``HH:MM:SS.mmm``."""
    if seconds < 0 or math.isnan(seconds) or math.isinf(seconds):
        return "00:00:00.000"
    msec = int(seconds * 1000)
    sec, msec = divmod(msec, 1000)
    mnt, sec = divmod(sec, 60)
    hour, mnt = divmod(mnt, 60)
    return f"{hour:02d}:{mnt:02d}:{sec:02d}.{msec:03d}"


def sprite_vtt(sprite_name: str, duration: float, tile: tuple[int, int], chunks: int = SPRITE_CHUNKS) -> str:
    grid = sprite_grid_size(chunks)
    width, height = tile
    step = duration / chunks
    lines = ["WEBVTT", ""]
    for index in range(chunks):
        x = width * (index % grid)
        y = height * (index // grid)
        lines.append(f"{vtt_time(index * step)} --> {vtt_time((index + 1) * step)}")
        lines.append(f"{sprite_name}#xywh={x},{y},{width},{height}")
        lines.append("")
    return "\n".join(lines)


def render_sprite(info: VideoInfo, hash_: str) -> tuple[bytes, str]:
    """The sprite JPEG and its VTT text for a video whose Stash hash is ``hash_``."""
    from PIL import Image

    step = info.duration / SPRITE_CHUNKS
    tile = tile_size(info.width, info.height)
    frames = grab_frames(info.path, [index * step for index in range(SPRITE_CHUNKS)], size=tile)
    grid = sprite_grid_size()
    sheet = Image.new("RGB", (tile[0] * grid, tile[1] * grid))
    for index, frame in enumerate(frames):
        sheet.paste(frame.convert("RGB"), (tile[0] * (index % grid), tile[1] * (index // grid)))
    return jpeg_bytes(sheet), sprite_vtt(sprite_file_name(hash_), info.duration, tile)


def sprite_file_name(hash_: str) -> str:
    return f"{hash_}_sprite.jpg"


def vtt_file_name(hash_: str) -> str:
    return f"{hash_}_thumbs.vtt"


def write_atomically(path: Path, data: bytes) -> None:
    """Write via a temporary sibling so a concurrent reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    temporary.write_bytes(data)
    temporary.replace(path)

"""Facts about media files, computed the way Stash computes them.

Fingerprints follow Stash's scanner (OpenSubtitles hash and MD5); video facts come from PyAV
(the same FFmpeg libraries Stash's ffprobe uses). PyAV and Pillow are imported lazily so that
importing the emulator stays cheap.
"""

from __future__ import annotations

import hashlib
import io
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PIL import Image

_OSHASH_CHUNK = 64 * 1024


def oshash(path: Path) -> str:
    """OpenSubtitles hash as Stash computes it: file size plus the 64-bit little-endian word
    sums of the first and last 64 KiB (fewer, rounded down to whole words, for small files),
    modulo 2**64, as 16 lowercase hex digits."""
    size = path.stat().st_size
    if size <= 8:
        raise ValueError(f"cannot compute the oshash of {path}: {size} bytes is too small (empty file?)")
    chunk = min(_OSHASH_CHUNK, size // 8 * 8)
    with path.open("rb") as handle:
        head = handle.read(chunk)
        handle.seek(size - chunk)
        tail = handle.read(chunk)
    words = chunk // 8
    total = size + sum(struct.unpack(f"<{words}Q", head)) + sum(struct.unpack(f"<{words}Q", tail))
    return f"{total & 0xFFFFFFFFFFFFFFFF:016x}"


def md5sum(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class VideoInfo:
    """What Stash's ``VideoFile`` reports about a file."""

    path: Path
    size: int
    format: str
    width: int
    height: int
    duration: float
    video_codec: str
    audio_codec: str
    frame_rate: float
    bit_rate: int
    mod_time: float
    oshash: str
    md5: str


def probe_video(path: Path) -> VideoInfo:
    import av

    try:
        container = av.open(str(path))
    except av.error.FFmpegError as exc:
        raise ValueError(f"{path} is not a readable video: {exc}") from exc
    with container:
        if not container.streams.video:
            raise ValueError(f"{path} has no video stream")
        video = container.streams.video[0]
        audio = container.streams.audio[0] if container.streams.audio else None
        if container.duration is not None:
            duration = container.duration / 1_000_000
        elif video.duration is not None and video.time_base is not None:
            duration = float(video.duration * video.time_base)
        else:
            raise ValueError(f"{path}: duration unknown")
        rate = video.average_rate or video.guessed_rate
        stat = path.stat()
        # Stash reports the container's short name ("mp4" for the mov,mp4,m4a,... demuxer).
        names = container.format.name.split(",")
        fmt = path.suffix.lstrip(".").lower() if path.suffix.lstrip(".").lower() in names else names[0]
        bit_rate = container.bit_rate or (int(stat.st_size * 8 / duration) if duration > 0 else 0)
        return VideoInfo(
            path=path,
            size=stat.st_size,
            format=fmt,
            width=video.codec_context.width,
            height=video.codec_context.height,
            duration=round(duration, 3),
            video_codec=video.codec_context.name,
            audio_codec=audio.codec_context.name if audio is not None else "",
            frame_rate=round(float(rate), 2) if rate else 0.0,
            bit_rate=int(bit_rate),
            mod_time=stat.st_mtime,
            oshash=oshash(path),
            md5=md5sum(path),
        )


def grab_frames(path: Path, times: list[float], size: tuple[int, int] | None = None) -> list[Image.Image]:
    """One RGB frame per requested time (seconds, ascending): the first frame at or after each
    time (what ``ffmpeg -ss`` outputs), or the last frame when a time lies past the end.
    ``size`` scales each frame as it is decoded, so 81 frames of a 4K video stay small.

    Decodes forward and only seeks for long jumps, so both short clips (few keyframes) and long
    videos (many frames between the requested times) stay cheap.
    """
    import av

    if any(b < a for a, b in zip(times, times[1:])):
        raise ValueError("frame times must be ascending")
    images: list[Image.Image] = []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        time_base = float(stream.time_base)
        frames = container.decode(stream)
        last = None
        position = -1.0
        for target in times:
            if last is None or target - position > 5.0:
                # A long jump: land on the keyframe before the target instead of decoding there.
                container.seek(int(max(target - 0.5, 0.0) / time_base), stream=stream, backward=True)
                frames = container.decode(stream)
            chosen = last if last is not None and position + 1e-6 >= target else None
            if chosen is None:
                for frame in frames:
                    last = frame
                    position = (frame.pts or 0) * time_base
                    if position + 1e-6 >= target:
                        chosen = frame
                        break
            if last is None:
                raise ValueError(f"{path}: no decodable video frames")
            picked = chosen or last
            images.append(picked.to_image(width=size[0], height=size[1]) if size else picked.to_image())
    return images


def jpeg_bytes(image: Image.Image, quality: int = 90) -> bytes:
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def image_size(data: bytes) -> tuple[int, int]:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        return image.size


def image_mime(data: bytes) -> str:
    """The MIME type of image bytes, read from their magic number."""
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    raise ValueError("unsupported image data (expected JPEG, PNG, WebP or GIF)")


def default_portrait() -> bytes:
    """Stash's stand-in for a performer without an image: a flat silhouette, deliberately
    featureless so that no face detector finds a face in it."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (300, 400), (214, 218, 224))
    draw = ImageDraw.Draw(image)
    colour = (150, 157, 168)
    draw.ellipse((95, 70, 205, 190), fill=colour)
    draw.rounded_rectangle((45, 220, 255, 420), radius=90, fill=colour)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()

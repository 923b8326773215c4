"""Frame sources: the media layer (videos, sprite sheets and images in, RGB frames out).

One interface, :class:`FrameSource`, over three inputs, best first:

- :class:`VideoFrameSource`: the video itself, a local file or an HTTP(S) stream URL, decoded
  with PyAV (keyframe-aware seeking, ``Range`` requests over HTTP);
- :class:`SpriteFrameSource`: Stash's sprite sheet (9x9 tiles, 160 px) and its WebVTT;
- :class:`ImageFrameSource`: the scene screenshot, one frame.

:func:`open_frame_source` picks the best that works. This layer sits below ``stash/``, ``facedb/``
and the scene engine and knows nothing of them, nor of Stash's API: callers pass plain URLs and,
for authentication, a headers dict such as ``{"ApiKey": key}``.
"""

from stash_sense.media.auto import FRAME_SOURCE_KINDS, open_frame_source
from stash_sense.media.base import (
    SOURCE_KINDS,
    Frame,
    FrameFailure,
    FrameSource,
    FrameSourceError,
    sampling_timestamps,
)
from stash_sense.media.image import ImageFrameSource, decode_image
from stash_sense.media.redaction import redact_text, redact_url
from stash_sense.media.sprite import (
    STASH_SPRITE_COLUMNS,
    STASH_SPRITE_ROWS,
    STASH_SPRITE_TILE_SIZE,
    SpriteFrameSource,
    SpriteSheet,
    make_sprite_sheet,
    stash_tile_size,
)
from stash_sense.media.video import VIDEO_MODES, VideoFrameSource
from stash_sense.media.vtt import (
    SpriteCue,
    format_sprite_vtt,
    format_vtt_time,
    parse_sprite_vtt,
    parse_vtt_time,
)

__all__ = [
    "FRAME_SOURCE_KINDS",
    "SOURCE_KINDS",
    "STASH_SPRITE_COLUMNS",
    "STASH_SPRITE_ROWS",
    "STASH_SPRITE_TILE_SIZE",
    "VIDEO_MODES",
    "Frame",
    "FrameFailure",
    "FrameSource",
    "FrameSourceError",
    "ImageFrameSource",
    "SpriteCue",
    "SpriteFrameSource",
    "SpriteSheet",
    "VideoFrameSource",
    "decode_image",
    "format_sprite_vtt",
    "format_vtt_time",
    "make_sprite_sheet",
    "open_frame_source",
    "parse_sprite_vtt",
    "parse_vtt_time",
    "redact_text",
    "redact_url",
    "sampling_timestamps",
    "stash_tile_size",
]

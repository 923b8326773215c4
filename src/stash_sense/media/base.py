"""The common shape of every frame source: frames, failures, errors and the sampling grid."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

#: The three kinds a source can be, best first: identification prefers real video frames,
#: falls back to Stash's sprite tiles (small, but spread over the whole scene), then to the
#: single scene screenshot.
SOURCE_KINDS: tuple[str, ...] = ("video", "sprite", "screenshot")


class FrameSourceError(ValueError):
    """A frame source could not be opened or yielded no frame.

    The message is safe to show and log: URLs in it have their API keys redacted and header
    values never appear. ``attempts`` lists, for :func:`open_frame_source`, what was tried and
    why each attempt failed.
    """

    def __init__(self, message: str, attempts: list[str] | None = None) -> None:
        super().__init__(message)
        self.attempts: list[str] = list(attempts or [])


@dataclass(eq=False, slots=True)
class Frame:
    """One sampled frame."""

    index: int  # 0..n-1 in sampling order (failed or duplicate samples leave no gap)
    timestamp: float  # seconds from the first frame of the video (sprites: the tile's cue start)
    image: np.ndarray  # RGB uint8, H x W x 3
    source: str  # "video", "sprite" or "screenshot"

    @property
    def height(self) -> int:
        return int(self.image.shape[0])

    @property
    def width(self) -> int:
        return int(self.image.shape[1])


@dataclass(frozen=True, slots=True)
class FrameFailure:
    """A requested timestamp that yielded no frame, and why."""

    timestamp: float  # the requested time, seconds from the first frame
    reason: str


@runtime_checkable
class FrameSource(Protocol):
    """Anything that can sample frames of one scene."""

    kind: str
    #: Requested timestamps of the last :meth:`sample` call that yielded no frame.
    failures: list[FrameFailure]

    def describe(self) -> str:
        """One line for logs and diagnostics (never contains secrets)."""
        ...

    def sample(self, num_frames: int, start_pct: float = 0.05, end_pct: float = 0.95) -> list[Frame]:
        """Up to ``num_frames`` frames spread evenly between ``start_pct`` and ``end_pct``."""
        ...

    def close(self) -> None:
        """Release files and connections; safe to call twice."""
        ...

    def __enter__(self) -> FrameSource: ...

    def __exit__(self, *exc: object) -> None: ...


def sampling_timestamps(
    duration: float, num_frames: int, start_pct: float = 0.05, end_pct: float = 0.95
) -> list[float]:
    """``num_frames`` times evenly spaced from ``start_pct`` to ``end_pct`` of ``duration``, ends included.

    One frame is taken from the middle of the window. Intros and credits rarely show the
    performers, hence the 5%/95% defaults.
    """
    if num_frames < 1:
        raise ValueError(f"num_frames must be at least 1, got {num_frames}")
    if not (0.0 <= start_pct <= end_pct <= 1.0):
        raise ValueError(f"need 0 <= start_pct <= end_pct <= 1, got start_pct={start_pct}, end_pct={end_pct}")
    if not duration > 0:
        raise ValueError(f"duration must be positive, got {duration}")
    start, end = start_pct * duration, end_pct * duration
    if num_frames == 1:
        return [(start + end) / 2]
    step = (end - start) / (num_frames - 1)
    return [start + i * step for i in range(num_frames)]

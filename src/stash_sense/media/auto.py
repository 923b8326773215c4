"""Pick the best frame source available for a scene: video, then sprites, then the screenshot."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping

import httpx

from stash_sense.media.base import SOURCE_KINDS, FrameSource, FrameSourceError
from stash_sense.media.fetch import MediaSpec, describe_spec
from stash_sense.media.image import ImageFrameSource
from stash_sense.media.redaction import redact_secrets
from stash_sense.media.sprite import SpriteFrameSource
from stash_sense.media.video import VIDEO_MODES, VideoFrameSource

FRAME_SOURCE_KINDS: tuple[str, ...] = ("auto", *SOURCE_KINDS)


def open_frame_source(
    spec: str | os.PathLike[str] | None,
    kind: str = "auto",
    *,
    headers: Mapping[str, str] | None = None,
    sprite_vtt: MediaSpec | None = None,
    sprite_image: MediaSpec | None = None,
    screenshot: MediaSpec | None = None,
    timeout: float = 30.0,
    video_mode: str = "accurate",
    transport: httpx.BaseTransport | None = None,
) -> FrameSource:
    """Open a frame source for one scene.

    ``spec`` is the video: a local path or a stream URL (Stash's ``/scene/{id}/stream``).
    ``kind="auto"`` tries, in order, the video (opened and probed; ``video_mode`` is
    :class:`VideoFrameSource`'s ``mode``), the sprite sheet
    (``sprite_vtt`` plus optional ``sprite_image``), then the ``screenshot``, and returns the
    first that works. An explicit ``kind`` opens only that source (taking ``spec`` as its input
    when the matching keyword is not given). ``headers`` (e.g. ``{"ApiKey": key}``) go with
    every HTTP request; ``transport`` (e.g. the API's URL guard) carries every one of them, and
    what it raises itself (a refusal) ends the search at once instead of falling back to the
    next source. Raises :class:`FrameSourceError` listing each attempt and why it
    failed; the list is also in ``error.attempts``. Messages never contain header values or
    ``apikey=`` query values.
    """
    if kind not in FRAME_SOURCE_KINDS:
        raise ValueError(f"kind must be one of {FRAME_SOURCE_KINDS}, got {kind!r}")
    if video_mode not in VIDEO_MODES:  # a caller's bug: never let "auto" hide it as a fallback
        raise ValueError(f"video_mode must be one of {VIDEO_MODES}, got {video_mode!r}")
    headers = dict(headers or {})

    def video() -> FrameSource:
        return VideoFrameSource(spec, headers, timeout, mode=video_mode, transport=transport)  # type: ignore[arg-type]

    def sprite() -> FrameSource:
        return SpriteFrameSource(sprite_vtt if sprite_vtt is not None else spec, sprite_image, headers, timeout, transport)  # type: ignore[arg-type]

    def still() -> FrameSource:
        return ImageFrameSource(screenshot if screenshot is not None else spec, headers, timeout, transport=transport)  # type: ignore[arg-type]

    if kind != "auto":
        given = {
            "video": spec,
            "sprite": sprite_vtt if sprite_vtt is not None else spec,
            "screenshot": screenshot if screenshot is not None else spec,
        }[kind]
        if given is None:
            raise FrameSourceError(f"no input given for a {kind} frame source")
        return {"video": video, "sprite": sprite, "screenshot": still}[kind]()

    plan: list[tuple[str, MediaSpec, Callable[[], FrameSource]]] = []
    if spec is not None:
        plan.append(("video", spec, video))
    if sprite_vtt is not None:
        plan.append(("sprite", sprite_vtt, sprite))
    if screenshot is not None:
        plan.append(("screenshot", screenshot, still))
    if not plan:
        raise FrameSourceError("no frame source given: pass a video path/URL, a sprite VTT or a screenshot")

    attempts: list[str] = []
    for name, given_spec, opener in plan:
        try:
            return opener()
        except FrameSourceError as exc:
            message = redact_secrets(str(exc), headers)
        except (OSError, ValueError) as exc:  # anything unforeseen from a decoder or the filesystem
            message = redact_secrets(f"{type(exc).__name__}: {exc}", headers)
        # Our own errors already start with the source's kind and location.
        attempts.append(message if message.startswith(name) else f"{name} {describe_spec(given_spec)}: {message}")
    raise FrameSourceError("no usable frame source; tried:\n  - " + "\n  - ".join(attempts), attempts)

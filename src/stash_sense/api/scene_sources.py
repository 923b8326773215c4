"""Where a scene's frames come from: a Stash scene (stream, then sprites, then screenshot) or a
URL / local path given in the request. The plan is made on the event loop (it may ask Stash);
opening it decodes video, so that happens in a worker thread."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from stash_sense.api.errors import bad_request
from stash_sense.api.stash_access import StashAccess
from stash_sense.api.url_guard import UrlGuard
from stash_sense.media import FrameSource, open_frame_source
from stash_sense.stash import Scene


@dataclass(frozen=True)
class SourcePlan:
    video: str | None
    sprite_vtt: str | None = None
    sprite_image: str | None = None
    screenshot: str | None = None
    headers: dict[str, str] = field(default_factory=dict, repr=False)  # may carry Stash's key: never printed
    kind: str = "auto"
    timeout: float = 30.0
    video_mode: str = "fast"  # keyframe seeking: far fewer bytes from Stash on long scenes
    # URLs from a request: every HTTP request (redirects too) goes only to addresses the guard
    # checked; the video is then read through httpx, not FFmpeg's own client. Its refusal (an
    # ApiError, 400 url_not_allowed) comes out of open() as is.
    guard: UrlGuard | None = field(default=None, repr=False)

    def open(self) -> FrameSource:
        """Open the best source that works; raises ``FrameSourceError`` saying what was tried."""
        return open_frame_source(
            self.video, self.kind, headers=self.headers, sprite_vtt=self.sprite_vtt, sprite_image=self.sprite_image,
            screenshot=self.screenshot, timeout=self.timeout, video_mode=self.video_mode,
            transport=self.guard.transport("scene media") if self.guard is not None else None,
        )


def plan_for_scene(stash: StashAccess, scene: Scene, *, kind: str, timeout: float, video_mode: str = "fast") -> SourcePlan:
    paths = scene.paths
    urls = {
        "video": stash.media_url(paths.stream) if paths.stream else None,
        "sprite_vtt": stash.media_url(paths.vtt) if paths.vtt else None,
        "sprite_image": stash.media_url(paths.sprite) if paths.sprite else None,
        "screenshot": stash.media_url(paths.screenshot) if paths.screenshot else None,
    }
    given = [u for u in urls.values() if u]
    # One header set goes with every request of the source: only when all of them are Stash's.
    headers = stash.media_headers(given[0]) if given and all(stash.media_headers(u) for u in given) else {}
    return SourcePlan(
        video=urls["video"], sprite_vtt=urls["sprite_vtt"], sprite_image=urls["sprite_image"], screenshot=urls["screenshot"],
        headers=headers, kind=kind, timeout=timeout, video_mode=video_mode,
    )


def _is_url(spec: str) -> bool:
    return urlsplit(spec).scheme.lower() in ("http", "https")


def check_local_path(spec: str, roots: list[Path], what: str) -> str:
    """``spec`` resolved, if it lies inside one of ``roots``; a 400 otherwise.

    Reading arbitrary files for whoever can reach the API would be a hole, so local paths are
    refused unless the operator named the folders that may be read.
    """
    if "://" in spec:
        raise bad_request(f"{what} must be an http(s) URL or a local path, not {urlsplit(spec).scheme}://", error="invalid_url")
    if not roots:
        raise bad_request(
            f"{what}: local paths are disabled on this sidecar (set STASH_SENSE_MEDIA_ROOTS to allow folders)",
            error="local_paths_disabled",
        )
    if "\x00" in spec:
        raise bad_request(f"{what} contains a NUL byte", error="invalid_path")
    path = Path(os.path.expanduser(spec))
    if not path.is_absolute():
        raise bad_request(f"{what} must be an absolute path", error="invalid_path")
    resolved = path.resolve()
    for root in roots:
        if resolved.is_relative_to(root.expanduser().resolve()):
            return str(resolved)
    raise bad_request(f"{what} is outside the folders this sidecar may read (STASH_SENSE_MEDIA_ROOTS)", error="path_not_allowed")


def plan_for_request(
    stash: StashAccess, *, url: str, sprite_vtt: str | None, sprite_image: str | None, screenshot: str | None,
    kind: str, roots: list[Path], timeout: float, video_mode: str = "fast", guard: UrlGuard | None = None,
) -> SourcePlan:
    specs: dict[str, str | None] = {"url": url, "sprite_vtt": sprite_vtt, "sprite_image": sprite_image, "screenshot": screenshot}
    checked: dict[str, str | None] = {}
    for name, spec in specs.items():
        if spec is None:
            checked[name] = None
        elif _is_url(spec):
            if not urlsplit(spec).hostname:
                raise bad_request(f"{name} is not a valid URL", error="invalid_url")
            checked[name] = spec
        else:
            checked[name] = check_local_path(spec, roots, name)
    remote = [u for u in checked.values() if u and _is_url(u)]
    # Stash's own media (e.g. a stream URL the plugin passes on) gets Stash's key; nothing else does.
    headers = stash.media_headers(remote[0]) if remote and all(stash.media_headers(u) for u in remote) else {}
    return SourcePlan(
        video=checked["url"], sprite_vtt=checked["sprite_vtt"], sprite_image=checked["sprite_image"],
        screenshot=checked["screenshot"], headers=headers, kind=kind, timeout=timeout, video_mode=video_mode,
        guard=guard,
    )

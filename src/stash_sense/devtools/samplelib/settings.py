"""Parameters of a sample-library render, with validation that names the bad value."""

from __future__ import annotations

import math
from dataclasses import dataclass

from stash_sense.devtools.samplelib.library import TIER_SIZES, RenderSettingsRecord, SampleLibraryError

DEFAULT_X264_PARAMS = "cabac=1:deblock=1:rc-lookahead=10:mbtree=1"
X264_PRESETS = (
    "ultrafast",
    "superfast",
    "veryfast",
    "faster",
    "fast",
    "medium",
    "slow",
    "slower",
    "veryslow",
)


@dataclass(frozen=True)
class RenderSettings:
    """How to split the photos and what scenes to render.

    Defaults follow the product's test plan: 5 gallery photos per identity, 20-90 s scenes of
    2-6 s shots at 6 fps with a keyframe every 2 s, all four resolution tiers in equal shares,
    x264 CRF varied per scene between 23 and 30, and unknown people in ~30% of the scenes.
    ``x264_params`` must not set threads: the single-threaded encoder is what keeps output
    identical from run to run.
    """

    scenes: int
    gallery_per_identity: int = 5
    min_heldout: int = 1
    min_images: int | None = None  # only use identities with at least this many photos
    max_images: int | None = None  # ... and at most this many
    min_duration: float = 20.0
    max_duration: float = 90.0
    min_shot: float = 2.0
    max_shot: float = 6.0
    fps: int = 6
    keyframe_interval: float = 2.0
    tiers: tuple[str, ...] = ("480p", "720p", "1080p", "4k")
    crf_min: int = 23
    crf_max: int = 30
    preset: str = "ultrafast"
    # On top of the preset: ultrafast's speed with CABAC, deblocking and macroblock-tree rate
    # control turned back on, which makes scenes 2-3x smaller for ~10% more encoding time.
    x264_params: str = DEFAULT_X264_PARAMS
    unknown_scene_share: float = 0.3

    def validate(self) -> None:
        """Raise :class:`SampleLibraryError` naming the first bad parameter."""

        def bad(message: str) -> SampleLibraryError:
            return SampleLibraryError(f"invalid render settings: {message}")

        if self.scenes < 1:
            raise bad(f"--scenes must be at least 1 (got {self.scenes})")
        if self.gallery_per_identity < 1:
            raise bad(f"--gallery-per-identity must be at least 1 (got {self.gallery_per_identity})")
        if self.min_heldout < 1:
            raise bad(f"--min-heldout must be at least 1 (got {self.min_heldout})")
        for flag, value in (("--min-images", self.min_images), ("--max-images", self.max_images)):
            if value is not None and value < 1:
                raise bad(f"{flag} must be at least 1 (got {value})")
        if self.min_images is not None and self.max_images is not None and self.min_images > self.max_images:
            raise bad(f"--min-images {self.min_images} is greater than --max-images {self.max_images}")
        if not 1 <= self.fps <= 60:
            raise bad(f"--fps must be between 1 and 60 (got {self.fps})")
        if not (math.isfinite(self.min_duration) and math.isfinite(self.max_duration)):
            raise bad("durations must be finite numbers")
        if self.min_duration <= 0 or self.max_duration < self.min_duration:
            raise bad(
                f"need 0 < --min-duration <= --max-duration (got {self.min_duration} and {self.max_duration})"
            )
        if self.min_shot <= 0 or self.max_shot < self.min_shot:
            raise bad(f"need 0 < min shot <= max shot (got {self.min_shot} and {self.max_shot})")
        lo, hi = self.shot_frames
        # Any scene length can then be cut into whole shots within [lo, hi] frames.
        if hi < 2 * lo - 1:
            raise bad(f"the longest shot ({self.max_shot} s) must be about twice the shortest ({self.min_shot} s)")
        if self.min_duration < self.min_shot:
            raise bad(f"--min-duration {self.min_duration} s is shorter than one shot ({self.min_shot} s)")
        if self.keyframe_interval <= 0:
            raise bad(f"keyframe interval must be positive (got {self.keyframe_interval})")
        if not self.tiers:
            raise bad("at least one resolution tier is needed")
        unknown = [t for t in self.tiers if t not in TIER_SIZES]
        if unknown:
            raise bad(f"unknown resolution tier(s) {', '.join(unknown)}; choose from {', '.join(TIER_SIZES)}")
        if len(set(self.tiers)) != len(self.tiers):
            raise bad("resolution tiers are repeated")
        if not 0 <= self.crf_min <= self.crf_max <= 51:
            raise bad(f"need 0 <= crf min <= crf max <= 51 (got {self.crf_min} and {self.crf_max})")
        if self.preset not in X264_PRESETS:
            raise bad(f"unknown x264 preset {self.preset!r}; choose from {', '.join(X264_PRESETS)}")
        for item in filter(None, self.x264_params.split(":")):
            key, sep, value = item.partition("=")
            if not sep or not key or not value:
                raise bad(f"x264 params must look like key=value:key=value (got {self.x264_params!r})")
            if key in ("threads", "lookahead-threads", "sliced-threads"):
                raise bad("x264 params must not set threads: scenes are encoded single-threaded")
        if not 0 <= self.unknown_scene_share <= 1:
            raise bad(f"unknown-person scene share must be in [0, 1] (got {self.unknown_scene_share})")

    @property
    def shot_frames(self) -> tuple[int, int]:
        """Shortest and longest shot in frames."""
        lo = max(1, math.ceil(self.min_shot * self.fps - 1e-9))
        hi = max(lo, math.floor(self.max_shot * self.fps + 1e-9))
        return lo, hi

    @property
    def gop(self) -> int:
        return max(1, round(self.keyframe_interval * self.fps))

    def record(self) -> RenderSettingsRecord:
        return RenderSettingsRecord(
            scenes=self.scenes,
            gallery_per_identity=self.gallery_per_identity,
            min_heldout=self.min_heldout,
            min_images=self.min_images,
            max_images=self.max_images,
            min_duration=self.min_duration,
            max_duration=self.max_duration,
            min_shot=self.min_shot,
            max_shot=self.max_shot,
            fps=self.fps,
            keyframe_interval=self.keyframe_interval,
            tiers=list(self.tiers),  # type: ignore[arg-type]  # validated against TIER_SIZES
            crf_min=self.crf_min,
            crf_max=self.crf_max,
            preset=self.preset,
            x264_params=self.x264_params,
            unknown_scene_share=self.unknown_scene_share,
        )

"""Frame sources on local files: video seeking accuracy, sprites, screenshots, bad inputs, auto choice."""

from __future__ import annotations

import io
import time
from pathlib import Path

import av
import numpy as np
import pytest
from frames_helpers import (
    FPS,
    cached_video,
    encode_numbered_video,
    expected_frame_number,
    read_frame_number,
    truncate_copy,
)
from PIL import Image

from stash_sense.media import (
    Frame,
    FrameSource,
    FrameSourceError,
    ImageFrameSource,
    SpriteCue,
    SpriteFrameSource,
    VideoFrameSource,
    format_sprite_vtt,
    format_vtt_time,
    make_sprite_sheet,
    open_frame_source,
    parse_sprite_vtt,
    parse_vtt_time,
    sampling_timestamps,
    stash_tile_size,
)

HAMILTON = "face_recognition/short_hamilton_clip.mp4"


# --- fixtures -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("frames-media")


@pytest.fixture(scope="module")
def small_video(media: Path) -> Path:
    """320x240, 12 s at 25 fps, a keyframe every second, with B-frames."""
    return encode_numbered_video(media / "small.mp4", 320, 240, 12, gop=25, bframes=2)


@pytest.fixture(scope="module")
def long_gop_video(media: Path) -> Path:
    """320x240, 20 s, a keyframe every 4 s: seeking must decode from far back."""
    return encode_numbered_video(media / "long_gop.mp4", 320, 240, 20, gop=100, bframes=2)


@pytest.fixture(scope="module")
def hd_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """1920x1080, 10 s, a keyframe every second (shared with the HTTP tests)."""
    return cached_video(tmp_path_factory, "hd.mp4", 1920, 1080, 10, gop=25)


@pytest.fixture(scope="module")
def faststart_video(media: Path) -> Path:
    """Index (moov) at the start, as web-ready files have: a truncated copy stays readable."""
    return encode_numbered_video(media / "faststart.mp4", 320, 240, 12, gop=25, faststart=True, noise=64)


@pytest.fixture(scope="module")
def sprite(media: Path, small_video: Path) -> tuple[Path, Path]:
    sheet = make_sprite_sheet(small_video, media / "abc123_sprite.jpg", media / "abc123_thumbs.vtt")
    return sheet.image_path, sheet.vtt_path


@pytest.fixture
def hamilton(facedata: Path) -> Path:
    path = facedata / HAMILTON
    if not path.is_file():
        pytest.skip(f"{path} not found")
    return path


def assert_frame_is_time(frame: Frame, requested: float | None = None) -> None:
    """The image is the frame shown at ``frame.timestamp``, within one frame of ``requested``."""
    assert frame.image.dtype == np.uint8 and frame.image.ndim == 3 and frame.image.shape[2] == 3
    assert read_frame_number(frame.image) == expected_frame_number(frame.timestamp)
    if requested is not None:
        assert abs(frame.timestamp - requested) <= 1.0 / FPS + 1e-6, (frame.timestamp, requested)


# --- the sampling grid ----------------------------------------------------------------------


def test_sampling_timestamps_are_evenly_spaced_with_both_ends() -> None:
    assert sampling_timestamps(100.0, 5, 0.1, 0.9) == pytest.approx([10, 30, 50, 70, 90])
    assert sampling_timestamps(100.0, 1) == pytest.approx([50.0])
    times = sampling_timestamps(1800.0, 60)
    assert len(times) == 60 and times[0] == pytest.approx(90) and times[-1] == pytest.approx(1710)
    for bad in [(0, 0.05, 0.95), (5, 0.5, 0.4), (5, -0.1, 0.5), (5, 0.1, 1.1)]:
        with pytest.raises(ValueError):
            sampling_timestamps(100.0, *bad)
    with pytest.raises(ValueError):
        sampling_timestamps(0.0, 5)


# --- video: metadata and accuracy -----------------------------------------------------------


def test_video_source_reports_metadata(small_video: Path) -> None:
    with VideoFrameSource(small_video) as source:
        assert isinstance(source, FrameSource)
        assert (source.width, source.height, source.fps, source.codec) == (320, 240, 25.0, "h264")
        assert source.duration == pytest.approx(12.0, abs=0.05)
        assert source.start_time == 0.0
        assert source.kind == "video"
        assert "320x240" in source.describe() and str(small_video) in source.describe()


def test_frames_at_returns_the_frame_shown_at_each_time(small_video: Path) -> None:
    rng = np.random.default_rng(7)
    times = [0.0, 11.96, 3.0, 3.02, 5.5, *rng.uniform(0, 11.9, 25)]
    with VideoFrameSource(small_video) as source:
        frames = source.frames_at(times)
        assert source.failures == []
    for t, frame in zip(times, frames, strict=True):
        assert frame is not None
        assert_frame_is_time(frame, t)
        assert read_frame_number(frame.image) == expected_frame_number(t)


def test_sample_returns_distinct_frames_in_order_within_the_window(small_video: Path) -> None:
    with VideoFrameSource(small_video) as source:
        frames = source.sample(60)
        wanted = sampling_timestamps(source.duration, 60)
    assert [f.index for f in frames] == list(range(60))
    assert all(f.source == "video" for f in frames)
    stamps = [f.timestamp for f in frames]
    assert stamps == sorted(stamps) and len(set(stamps)) == 60
    for frame, t in zip(frames, wanted, strict=True):
        assert_frame_is_time(frame, t)


def test_dense_sample_decodes_forward_instead_of_reseeking(small_video: Path) -> None:
    total_frames = 12 * FPS
    with VideoFrameSource(small_video) as source:
        source.sample(60)
        # 60 targets 0.18 s apart in twelve 1-s GOPs: at most one seek per GOP, no frame twice.
        assert source.seeks <= 12
        assert source.frames_decoded <= total_frames


def test_sparse_sample_seeks_instead_of_decoding_everything(long_gop_video: Path) -> None:
    with VideoFrameSource(long_gop_video) as source:
        frames = source.sample(4, 0.1, 0.9)
        assert len(frames) == 4 and source.seeks >= 3
        # Each target costs at most one 4-s GOP of decoding, never the whole 500-frame file.
        assert source.frames_decoded < 4 * 100
    for frame, t in zip(frames, sampling_timestamps(20.0, 4, 0.1, 0.9), strict=True):
        assert_frame_is_time(frame, t)


def test_fast_mode_takes_keyframes_when_they_are_new(long_gop_video: Path) -> None:
    with VideoFrameSource(long_gop_video, mode="fast") as source:
        frames = source.sample(4, 0.1, 0.9)  # 2, 7.33, 12.67, 18 s: each in its own GOP
        assert source.frames_decoded == 4
    assert [f.timestamp for f in frames] == pytest.approx([0.0, 4.0, 12.0, 16.0])
    for frame in frames:
        assert_frame_is_time(frame)


def test_fast_mode_still_returns_distinct_frames_when_targets_share_a_gop(long_gop_video: Path) -> None:
    with VideoFrameSource(long_gop_video, mode="fast") as source:
        frames = source.sample(20)
    assert len({f.timestamp for f in frames}) == len(frames) == 20
    for frame in frames:
        assert_frame_is_time(frame)


def test_fast_mode_sampled_in_chunks_matches_one_call(long_gop_video: Path) -> None:
    times = sampling_timestamps(20.0, 12)
    with VideoFrameSource(long_gop_video, mode="fast") as source:
        whole = [f.timestamp for f in source.frames_at(times) if f]
    with VideoFrameSource(long_gop_video, mode="fast") as source:
        chunked = [f.timestamp for i in range(0, 12, 4) for f in source.frames_at(times[i : i + 4]) if f]
    assert chunked == whole and len(set(whole)) == 12


def test_repeated_and_backward_requests_reuse_one_container(small_video: Path) -> None:
    with VideoFrameSource(small_video) as source:
        first = source.frames_at([9.0, 2.0, 9.0])
        again = source.frames_at([2.0])
    assert [read_frame_number(f.image) for f in first if f] == [225, 50, 225]
    assert again[0] is not None and read_frame_number(again[0].image) == 50


def test_short_clip_sample_drops_duplicate_frames(media: Path) -> None:
    clip = encode_numbered_video(media / "tiny.mp4", 320, 240, 0.4)  # 10 frames
    with VideoFrameSource(clip) as source:
        frames = source.sample(60, 0.0, 1.0)
    assert [read_frame_number(f.image) for f in frames] == list(range(10))
    assert [f.index for f in frames] == list(range(10))


def test_hd_sample_is_accurate_and_fast(hd_video: Path, record_property) -> None:
    started = time.perf_counter()
    with VideoFrameSource(hd_video, threads=1) as source:
        opened = time.perf_counter()
        frames = source.sample(60)
        elapsed = time.perf_counter() - opened
        decoded = source.frames_decoded
    record_property("hd_local_60_frames_s", round(elapsed, 3))
    print(f"1080p local: open {opened - started:.3f} s, 60 frames {elapsed:.3f} s, {decoded} decoded")
    assert len(frames) == 60 and frames[0].image.shape == (1080, 1920, 3)
    for frame, t in zip(frames, sampling_timestamps(10.0, 60), strict=True):
        assert_frame_is_time(frame, t)
    assert decoded <= 10 * FPS  # never a frame twice
    assert elapsed < 15  # generous: this machine is shared; typical is well under 1 s


def test_duration_missing_from_the_file_is_found_by_seeking_to_the_end(media: Path) -> None:
    live = encode_numbered_video(media / "live.mkv", 320, 240, 8, container_format="matroska", streamed=True)
    with av.open(str(live)) as container:  # the premise: nothing declares a duration
        assert container.duration is None and container.streams.video[0].duration is None
    with VideoFrameSource(live) as source:
        assert source.duration == pytest.approx(8.0, abs=0.05)
        frames = source.sample(10)
    assert len(frames) == 10
    for frame, t in zip(frames, sampling_timestamps(8.0, 10), strict=True):
        assert_frame_is_time(frame, t)


def test_containers_without_keyframe_index_still_seek_accurately(media: Path) -> None:
    # MPEG-TS has no index: FFmpeg seeks by timestamp search and may land after the keyframe
    # that precedes the target; the source must step back rather than return a later frame.
    ts = encode_numbered_video(media / "clip.ts", 320, 240, 12, gop=50, container_format="mpegts")
    with VideoFrameSource(ts) as source:
        times = [0.3, 1.1, 4.5, 9.9, 2.2, 7.0]
        frames = source.frames_at(times)
    for frame, t in zip(frames, times, strict=True):
        assert frame is not None
        assert_frame_is_time(frame, t)


def test_invalid_arguments_are_rejected(small_video: Path) -> None:
    with pytest.raises(ValueError, match="mode"):
        VideoFrameSource(small_video, mode="exact")
    with VideoFrameSource(small_video) as source:
        with pytest.raises(ValueError):
            source.sample(0)
        with pytest.raises(ValueError):
            source.frames_at([float("nan")])
    with pytest.raises(FrameSourceError, match="closed"):
        source.sample(3)


# --- video: the real clip with a non-zero start time ----------------------------------------


def test_non_zero_start_time_is_honoured(hamilton: Path) -> None:
    with av.open(str(hamilton)) as container:
        stream = container.streams.video[0]
        start = float(stream.start_time * stream.time_base)
        reference = [
            (float((f.pts - stream.start_time) * stream.time_base), f.to_ndarray(format="rgb24"))
            for f in container.decode(stream)
        ]
    assert start == pytest.approx(0.852, abs=0.001)

    def shown_at(t: float) -> tuple[float, np.ndarray]:
        return [item for item in reference if item[0] <= t + 1e-6][-1]

    times = [0.0, 0.5, 2.0, 2.01, 4.9, 7.3, 9.0]
    with VideoFrameSource(hamilton) as source:
        assert source.start_time == pytest.approx(start)
        assert source.duration == pytest.approx(reference[-1][0], abs=0.1)
        frames = source.frames_at(times)
        sampled = source.sample(12)
    for t, frame in zip(times, frames, strict=True):
        assert frame is not None
        ref_time, ref_image = shown_at(t)
        assert frame.timestamp == pytest.approx(ref_time, abs=1e-6)
        assert np.array_equal(frame.image, ref_image)
    assert frames[0].timestamp == 0.0  # the first frame is at 0, not at 0.852
    assert len(sampled) == 12
    for frame in sampled:
        assert np.array_equal(frame.image, shown_at(frame.timestamp)[1])


# --- video: bad inputs ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", "empty"),
        (bytes(np.random.default_rng(3).integers(0, 256, 50_000, dtype=np.uint8)), "not a video"),
        (b"just some notes\nnot a video at all\n" * 20, "not a video"),
    ],
    ids=["zero-byte", "random-bytes", "text"],
)
def test_unreadable_files_raise_a_clear_error(tmp_path: Path, content: bytes, expected: str) -> None:
    path = tmp_path / "scene.mp4"
    path.write_bytes(content)
    with pytest.raises(FrameSourceError, match=expected) as info:
        VideoFrameSource(path)
    assert str(path) in str(info.value)


def test_missing_paths_directories_images_and_odd_schemes_are_refused(tmp_path: Path, hamilton: Path) -> None:
    with pytest.raises(FrameSourceError, match="no such file"):
        VideoFrameSource(tmp_path / "missing.mp4")
    with pytest.raises(FrameSourceError, match="directory"):
        VideoFrameSource(tmp_path)
    still = tmp_path / "still.jpg"
    Image.new("RGB", (64, 48), (200, 10, 10)).save(still)
    with pytest.raises(FrameSourceError, match="still image"):
        VideoFrameSource(still)
    with pytest.raises(FrameSourceError, match="unsupported URL scheme"):
        VideoFrameSource("ftp://example.invalid/scene.mp4")
    # FFmpeg pseudo-protocols are not followed: "concat:a|b" is just a (missing) file name.
    with pytest.raises(FrameSourceError, match="no such file"):
        VideoFrameSource(f"concat:{hamilton}|{hamilton}")


def test_truncated_mp4_without_index_at_start_is_a_clear_error(tmp_path: Path, small_video: Path) -> None:
    cut = truncate_copy(small_video, tmp_path / "cut.mp4", 0.5)
    with pytest.raises(FrameSourceError, match="corrupt/truncated"):
        VideoFrameSource(cut)


def test_truncated_faststart_mp4_yields_the_readable_frames(tmp_path: Path, faststart_video: Path) -> None:
    cut = truncate_copy(faststart_video, tmp_path / "cut.mp4", 0.5)
    with VideoFrameSource(cut) as source:
        frames = source.sample(10, 0.0, 1.0)
        failures = list(source.failures)
    assert frames and failures
    for frame in frames:
        assert_frame_is_time(frame)
    # Everything readable lies before the cut, everything that failed after it.
    last_good = max(f.timestamp for f in frames)
    assert last_good < 8.0
    assert all(f.timestamp > last_good for f in failures)
    assert all(f.reason for f in failures)
    assert len(frames) + len(failures) == 10


def test_no_decodable_frame_at_all_raises(tmp_path: Path, faststart_video: Path) -> None:
    cut = truncate_copy(faststart_video, tmp_path / "cut.mp4", 0.02)  # the index and hardly any data
    try:
        source = VideoFrameSource(cut)
    except FrameSourceError as exc:  # also acceptable: refused at open
        assert "cut.mp4" in str(exc)
        return
    with source, pytest.raises(FrameSourceError, match="no decodable frame"):
        source.sample(5, 0.5, 1.0)


# --- sprites --------------------------------------------------------------------------------

STASH_VTT = (
    "WEBVTT\n\n"
    "00:00:00.000 --> 00:00:12.345\nabc_sprite.jpg#xywh=0,0,160,90\n\n"
    "00:00:12.345 --> 00:00:24.690\nabc_sprite.jpg#xywh=160,0,160,90\n\n"
    "00:00:24.690 --> 00:00:37.035\nabc_sprite.jpg#xywh=0,90,160,90\n"
)


def test_parse_stash_vtt_keeps_tiles_at_x_zero() -> None:
    cues = parse_sprite_vtt(STASH_VTT)
    assert cues == [
        SpriteCue(0.0, 12.345, "abc_sprite.jpg", 0, 0, 160, 90),
        SpriteCue(12.345, 24.69, "abc_sprite.jpg", 160, 0, 160, 90),
        SpriteCue(24.69, 37.035, "abc_sprite.jpg", 0, 90, 160, 90),
    ]


def test_parse_vtt_tolerates_bom_crlf_short_times_ids_and_blank_lines() -> None:
    text = (
        "\ufeffWEBVTT - sprites\r\n\r\n\r\n"
        "NOTE written by another tool\r\n\r\n"
        "1\r\n00:01.500 --> 00:03.000 align:start\r\nsheet.jpg#xywh=pixel:0,0,160,90\r\n\r\n\r\n"
        "2\r\n01:00:03,000 --> 01:00:04.5\r\n\r\nsheet.jpg#xywh=160,0,160,90\r\n"
        "00:00:05.000 --> 00:00:06.000\r\nno tile on this cue\r\n\r\n"
        "00:00:07.000 --> 00:00:06.000\r\nsheet.jpg#xywh=320,0,160,90\r\n"  # ends before it starts
        "00:00:08.000 --> 00:00:09.000\r\nsheet.jpg#xywh=0,90,0,90\r\n"  # empty tile
    )
    cues = parse_sprite_vtt(text.encode("utf-8"))
    assert [(c.start, c.end, c.x, c.y) for c in cues] == [(1.5, 3.0, 0, 0), (3603.0, 3604.5, 160, 0)]


def test_parse_vtt_without_cues_is_an_error() -> None:
    with pytest.raises(FrameSourceError, match="no sprite cues"):
        parse_sprite_vtt("WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nHello subtitles\n")
    with pytest.raises(FrameSourceError, match="no WEBVTT header"):
        parse_sprite_vtt("just text")


def test_vtt_times_are_written_like_stash() -> None:
    assert format_vtt_time(0) == "00:00:00.000"
    assert format_vtt_time(12.3459) == "00:00:12.345"  # truncated, not rounded
    assert format_vtt_time(3725.5) == "01:02:05.500"
    assert parse_vtt_time("01:02:05.500") == 3725.5
    assert parse_vtt_time("02:05.5") == 125.5
    cues = parse_sprite_vtt(STASH_VTT)
    assert format_sprite_vtt(cues) == STASH_VTT
    assert format_vtt_time(parse_vtt_time("00:00:12.345")) == "00:00:12.345"
    assert format_vtt_time(parse_vtt_time("00:00:00.001")) == "00:00:00.001"


def test_stash_tile_sizes() -> None:
    assert stash_tile_size(1920, 1080) == (160, 90)
    assert stash_tile_size(320, 240) == (160, 120)
    assert stash_tile_size(1080, 1920) == (90, 160)  # portrait: the height is 160
    with pytest.raises(ValueError):
        stash_tile_size(0, 10)


def test_make_sprite_sheet_writes_stash_layout(sprite: tuple[Path, Path]) -> None:
    image_path, vtt_path = sprite
    with Image.open(image_path) as sheet:
        assert sheet.format == "JPEG" and sheet.size == (9 * 160, 9 * 120)
        pixels = np.asarray(sheet.convert("RGB"))
    text = vtt_path.read_text()
    assert text.startswith("WEBVTT\n\n00:00:00.000 --> 00:00:00.148\nabc123_sprite.jpg#xywh=0,0,160,120\n\n")
    cues = parse_sprite_vtt(text)
    assert len(cues) == 81
    assert {(c.x, c.y) for c in cues} == {(160 * col, 120 * row) for row in range(9) for col in range(9)}
    # Row-major order; tile i shows the frame at i * duration / 81.
    for i, cue in enumerate(cues):
        assert (cue.x, cue.y) == (160 * (i % 9), 120 * (i // 9))
        assert cue.start == pytest.approx(i * 12 / 81, abs=0.001)
        tile = pixels[cue.y : cue.y + cue.h, cue.x : cue.x + cue.w]
        assert read_frame_number(tile) == expected_frame_number(i * 12 / 81)


def test_sprite_source_uses_every_tile_including_x_zero(sprite: tuple[Path, Path]) -> None:
    _, vtt_path = sprite
    with SpriteFrameSource(vtt_path) as source:  # the sheet is found next to the VTT
        assert source.kind == "sprite" and len(source.tiles) == 81
        assert source.duration == pytest.approx(12.0, abs=0.01)
        frames = source.sample(81, 0.0, 1.0)
    assert len(frames) == 81
    assert frames[0].timestamp == 0.0 and read_frame_number(frames[0].image) == 0
    for i, frame in enumerate(frames):
        assert frame.index == i and frame.source == "sprite" and frame.image.shape == (120, 160, 3)
        assert read_frame_number(frame.image) == expected_frame_number(frame.timestamp + 0.0005)
    left_column = [f for f in frames if f.index % 9 == 0]
    assert len(left_column) == 9


def test_sprite_sample_picks_distinct_tiles_nearest_the_targets(sprite: tuple[Path, Path]) -> None:
    image_path, vtt_path = sprite
    with SpriteFrameSource(vtt_path.read_text(), image_path.read_bytes()) as source:
        step = 12 / 81
        targets = sampling_timestamps(source.duration, 30)
        frames = source.sample(30)
    stamps = [f.timestamp for f in frames]
    assert len(frames) == 30 and len(set(stamps)) == 30 and stamps == sorted(stamps)
    for frame, t in zip(frames, targets, strict=True):
        assert abs(frame.timestamp - t) <= 1.5 * step
        assert read_frame_number(frame.image) == expected_frame_number(frame.timestamp + 0.0005)
    # The window is respected: nothing from the first or last 5% (beyond half a tile).
    assert stamps[0] >= 0.05 * 12 - step / 2 and stamps[-1] <= 0.95 * 12 + step / 2


def test_sprite_source_errors(tmp_path: Path, sprite: tuple[Path, Path]) -> None:
    _, vtt_path = sprite
    with pytest.raises(FrameSourceError, match="cannot locate sprite image"):
        SpriteFrameSource(vtt_path.read_text())  # text has no location to resolve the sheet from
    with pytest.raises(FrameSourceError, match="no such file"):
        SpriteFrameSource(tmp_path / "missing_thumbs.vtt")
    lonely = tmp_path / "lonely_thumbs.vtt"
    lonely.write_text(vtt_path.read_text())
    with pytest.raises(FrameSourceError, match=r"sprite image .*abc123_sprite\.jpg: no such file"):
        SpriteFrameSource(lonely)
    with pytest.raises(FrameSourceError, match="not a recognised image"):
        SpriteFrameSource(vtt_path, b"not an image")
    small = io.BytesIO()
    Image.new("RGB", (100, 100)).save(small, format="JPEG")
    with pytest.raises(FrameSourceError, match="none of the 81 tiles"):
        SpriteFrameSource(vtt_path, small.getvalue())


# --- screenshots ----------------------------------------------------------------------------


def test_image_source_returns_one_frame(tmp_path: Path) -> None:
    path = tmp_path / "shot.png"
    Image.new("RGBA", (64, 48), (10, 200, 30, 128)).save(path)
    for spec in (path, str(path), path.read_bytes()):
        with ImageFrameSource(spec) as source:
            assert source.kind == "screenshot" and (source.width, source.height) == (64, 48)
            frames = source.sample(60)
        assert len(frames) == 1
        frame = frames[0]
        assert (frame.index, frame.timestamp, frame.source) == (0, 0.0, "screenshot")
        assert frame.image.shape == (48, 64, 3) and frame.image.dtype == np.uint8
        assert tuple(frame.image[0, 0]) == (10, 200, 30)


def test_image_source_errors(tmp_path: Path) -> None:
    with pytest.raises(FrameSourceError, match="empty"):
        ImageFrameSource(b"")
    with pytest.raises(FrameSourceError, match="not a recognised image"):
        ImageFrameSource(b"GIF89a but not really")
    png = io.BytesIO()
    Image.new("RGB", (200, 200), (1, 2, 3)).save(png, format="PNG")
    with pytest.raises(FrameSourceError, match="truncated"):
        ImageFrameSource(png.getvalue()[:300])
    with pytest.raises(FrameSourceError, match="no such file"):
        ImageFrameSource(tmp_path / "nope.jpg")


# --- choosing a source ----------------------------------------------------------------------


def test_auto_prefers_the_video(small_video: Path, sprite: tuple[Path, Path], tmp_path: Path) -> None:
    shot = tmp_path / "shot.jpg"
    Image.new("RGB", (32, 32)).save(shot)
    with open_frame_source(small_video, sprite_vtt=sprite[1], screenshot=shot) as source:
        assert isinstance(source, VideoFrameSource)


def test_auto_falls_back_to_sprite_then_screenshot(tmp_path: Path, sprite: tuple[Path, Path]) -> None:
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00" * 1000)
    with open_frame_source(broken, sprite_vtt=sprite[1]) as source:
        assert isinstance(source, SpriteFrameSource)
    shot = tmp_path / "shot.jpg"
    Image.new("RGB", (32, 32)).save(shot)
    with open_frame_source(tmp_path / "missing.mp4", sprite_vtt=tmp_path / "missing.vtt", screenshot=shot) as source:
        assert isinstance(source, ImageFrameSource)
    with open_frame_source(None, screenshot=shot.read_bytes()) as source:
        assert source.sample(5)[0].source == "screenshot"


def test_auto_lists_every_failed_attempt(tmp_path: Path) -> None:
    empty = tmp_path / "empty.mp4"
    empty.touch()
    with pytest.raises(FrameSourceError) as info:
        open_frame_source(empty, sprite_vtt=tmp_path / "x_thumbs.vtt", screenshot=b"nope")
    message = str(info.value)
    assert len(info.value.attempts) == 3
    assert "video" in message and "empty (0 bytes)" in message
    assert "sprite" in message and "no such file" in message
    assert "screenshot" in message and "not a recognised image" in message
    with pytest.raises(FrameSourceError, match="no frame source given"):
        open_frame_source(None)


def test_explicit_kinds(small_video: Path, sprite: tuple[Path, Path], tmp_path: Path) -> None:
    with open_frame_source(sprite[1], kind="sprite") as source:
        assert isinstance(source, SpriteFrameSource)
    with open_frame_source(small_video, kind="video", video_mode="fast") as source:
        assert isinstance(source, VideoFrameSource) and source.mode == "fast"
    shot = tmp_path / "shot.png"
    Image.new("RGB", (8, 8)).save(shot)
    with open_frame_source(shot, kind="screenshot") as source:
        assert isinstance(source, ImageFrameSource)
    with pytest.raises(FrameSourceError, match="still image"):
        open_frame_source(shot, kind="video")  # explicit kinds do not fall back
    with pytest.raises(ValueError, match="kind"):
        open_frame_source(small_video, kind="gif")
    with pytest.raises(ValueError, match="video_mode"):
        open_frame_source(small_video, video_mode="exact", screenshot=shot)
    with pytest.raises(FrameSourceError, match="no input"):
        open_frame_source(None, kind="video")

"""Frames from a video file or an HTTP(S) stream URL, decoded with PyAV (FFmpeg).

Sampling is keyframe-aware: for each requested time we seek to the keyframe at or before it
and decode forward to the frame shown at that time; when the next requested time lies in the
GOP being decoded, we keep decoding forward instead of seeking again. One container is opened
per scene and reused for every frame. Over HTTP, FFmpeg reads with ``Range`` requests, so a
sparse sample of a long scene downloads a small part of the file. Given an httpx ``transport``
(the API's URL guard), HTTP goes through httpx instead (:mod:`.httpio`), so that every
connection and redirect hop is one the transport allowed; FFmpeg then only demuxes and decodes.

Cost: "accurate" mode decodes on average half a GOP per sparse target (with 10-s GOPs and
1080p, ~60 frames each); "fast" mode decodes one keyframe per target, an order of magnitude
less on long scenes. Both return each frame's true timestamp.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Iterator, Mapping, Sequence
from fractions import Fraction

import av
import av.error
import av.video.frame
import httpx

from stash_sense.media.base import Frame, FrameFailure, FrameSourceError, sampling_timestamps
from stash_sense.media.fetch import is_url
from stash_sense.media.httpio import HttpRangeReader
from stash_sense.media.video_open import explain_av_error, open_container
from stash_sense.media.redaction import describe_headers, redact_secrets, redact_url

# Seek or decode forward to the next target? Seek only when the target lies past the next
# keyframe (per the container's keyframe index; without one, further than the learnt GOP
# length from the current keyframe): inside the current GOP, decoding forward is always
# cheaper than seeking back to its keyframe and decoding again. Without an index, and until
# the GOP length is learnt, assume at least this many seconds.
FORWARD_DECODE_MIN_S = 1.0
# While approaching a target, packets earlier than this are decoded with skip_frame=NONREF:
# non-reference frames (most B-frames) are never needed to decode later frames, so skipping
# them is safe and shortens long approaches. Must exceed one frame period.
NONREF_SKIP_MARGIN_S = 0.5
# When a seek lands after its target (no keyframe index), seek again this much earlier,
# then 4x further each time, at most this many times.
SEEK_BACKOFF_S = 1.0
SEEK_BACKOFF_TRIES = 4
#: "accurate": the frame shown at each requested time (decode from the keyframe before it).
#: "fast": the keyframe at or before each requested time when that keyframe is new, else the
#: accurate frame (cheap then: we are already decoding that GOP). Far faster on long scenes
#: with long GOPs, at the price of frames up to one GOP earlier than requested.
VIDEO_MODES = ("accurate", "fast")
# Demuxers that open a still image as a one-frame "video"; a screenshot is not a video.
_IMAGE_DEMUXERS = frozenset({"image2", "webp", "apng"})
class _NoFrame(Exception):
    """The requested time yielded no frame (recorded as a failure, not raised to callers)."""


class VideoFrameSource:
    """Seek-and-decode sampling of one video file or stream URL.

    ``headers`` are sent with every HTTP request (e.g. ``{"ApiKey": key}`` for Stash);
    ``timeout`` bounds opening and each network read, in seconds; ``mode`` is one of
    :data:`VIDEO_MODES`; ``threads`` is the decoder thread count (0: FFmpeg picks one per core).
    With ``transport``, a URL is read through httpx with that transport (every request and
    redirect hop, e.g. the API's URL guard, which pins each connection to a checked address);
    what it raises other than network errors (a refusal) reaches the caller unchanged.
    Exposes ``width``, ``height``, ``duration`` (seconds), ``fps`` (None if unknown), ``codec``
    and ``start_time`` (the first frame's presentation time, which all our timestamps are
    relative to), plus ``seeks`` / ``frames_decoded`` / ``decode_errors`` counters. Not
    thread-safe: use one source per scene and thread.
    """

    kind = "video"

    def __init__(
        self,
        path_or_url: str | os.PathLike[str],
        headers: Mapping[str, str] | None = None,
        timeout: float = 30.0,
        *,
        mode: str = "accurate",
        threads: int = 0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if mode not in VIDEO_MODES:
            raise ValueError(f"mode must be one of {VIDEO_MODES}, got {mode!r}")
        self.mode = mode
        target = os.fspath(path_or_url)
        self._headers = dict(headers or {})
        self._is_url = is_url(target)
        self._shown = redact_url(target) if self._is_url else target
        self.timeout = float(timeout)
        self._transport = transport
        self._reader: HttpRangeReader | None = None
        #: Requested timestamps of the last :meth:`sample` / :meth:`frames_at` that yielded nothing.
        self.failures: list[FrameFailure] = []
        #: Counters for diagnostics and benchmarks.
        self.seeks = 0
        self.frames_decoded = 0
        self.decode_errors = 0

        # Decode position: a generator of decoded frames, the last frame at or before the last
        # target, and one frame of lookahead already decoded past it.
        self._frames: Iterator[av.video.frame.VideoFrame] | None = None
        self._current: av.video.frame.VideoFrame | None = None
        self._lookahead: av.video.frame.VideoFrame | None = None
        self._exhausted = False
        self._stop_reason = ""
        self._target_pts = 0
        self._seekable = True
        # Keyframe interval learnt so far (seconds), the keyframe of the GOP being decoded, and
        # the one before the last seek (to notice seeks that land in the same GOP again).
        self._gop_s = 0.0
        self._last_key_pts: int | None = None
        self._key_before_seek: int | None = None
        self._returned_pts: int | None = None
        self._skipping = False
        self._closed = True

        self._container = self._open(target)
        self._closed = False
        try:
            self._setup_stream(threads)
            self.duration: float = self._declared_duration() or self._probe_duration()
        except BaseException:
            self.close()
            raise

    # --- opening -----------------------------------------------------------------------------

    def _open(self, target: str) -> av.container.InputContainer:
        container, self._reader = open_container(
            target, is_url=self._is_url, headers=self._headers, timeout=self.timeout, transport=self._transport, shown=self._shown,
        )
        return container

    def _setup_stream(self, threads: int) -> None:
        container = self._container
        fmt = container.format.name
        if fmt in _IMAGE_DEMUXERS or fmt.endswith("_pipe"):
            raise FrameSourceError(f"video {self._shown}: a still image ({fmt}), not a video")
        candidates = [s for s in container.streams.video if not s.disposition & av.stream.Disposition.attached_pic]
        if not candidates:
            raise FrameSourceError(f"video {self._shown}: no video stream (format {fmt})")
        stream = candidates[0]
        ctx = stream.codec_context
        if ctx is None or not ctx.width or not ctx.height:
            raise FrameSourceError(f"video {self._shown}: video stream has no decodable picture size (corrupt file?)")
        if stream.time_base is None:
            raise FrameSourceError(f"video {self._shown}: video stream has no time base")
        ctx.thread_type = "AUTO"
        ctx.thread_count = max(0, int(threads))
        self._stream = stream
        self._ctx = ctx
        self._tb: Fraction = stream.time_base
        self._start_pts: int = int(stream.start_time) if stream.start_time is not None else 0
        self.width: int = int(ctx.width)
        self.height: int = int(ctx.height)
        self.codec: str = ctx.name
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        self.fps: float | None = float(rate) if rate else None

    def _declared_duration(self) -> float:
        """Duration in seconds from the stream, the container or the frame count; 0 if unknown."""
        stream, container = self._stream, self._container
        if stream.duration:
            return float(stream.duration * self._tb)
        if container.duration:
            # The container's span starts at its earliest stream; ours may start later.
            container_start = (container.start_time or 0) / av.time_base
            lead = max(0.0, float(self._start_pts * self._tb) - container_start)
            return max(0.0, container.duration / av.time_base - lead)
        if stream.frames and self.fps:
            return stream.frames / self.fps
        return 0.0

    def _probe_duration(self) -> float:
        """Find the last frame's time by seeking to the end (for files that declare no duration)."""
        last = None
        try:
            self._seek(self._start_pts + int(24 * 3600 / self._tb))
            while (frame := self._next_frame()) is not None:
                last = frame
        except _NoFrame:
            last = None
        if not self._seekable:
            # Reading to the end of an unseekable stream would leave nothing to sample.
            raise FrameSourceError(f"video {self._shown}: duration unknown and this stream cannot be seeked")
        self._reset_position()
        if last is None:
            raise FrameSourceError(f"video {self._shown}: duration unknown and no frame could be decoded")
        return self._seconds(last) + self._frame_period()

    # --- properties --------------------------------------------------------------------------

    @property
    def start_time(self) -> float:
        """Presentation time of the first frame in the file, seconds (often non-zero)."""
        return float(self._start_pts * self._tb)

    def describe(self) -> str:
        fps = f", {self.fps:.3g} fps" if self.fps else ""
        return f"video {self._shown} ({self.width}x{self.height} {self.codec}, {self.duration:.1f} s{fps})"

    # --- sampling ----------------------------------------------------------------------------

    def sample(self, num_frames: int, start_pct: float = 0.05, end_pct: float = 0.95) -> list[Frame]:
        """``num_frames`` frames evenly spread over the window, in time order.

        Times that cannot be decoded are skipped and listed in :attr:`failures`; requests that
        land on a frame already returned (short clips) are dropped. Raises
        :class:`FrameSourceError` when no frame at all could be decoded.
        """
        times = sampling_timestamps(self.duration, num_frames, start_pct, end_pct)
        grabbed = self.frames_at(times)
        frames: list[Frame] = []
        seen: set[float] = set()
        for frame in grabbed:
            if frame is None or frame.timestamp in seen:
                continue
            seen.add(frame.timestamp)
            frame.index = len(frames)
            frames.append(frame)
        if not frames:
            reasons = sorted({f.reason for f in self.failures})
            raise FrameSourceError(f"video {self._shown}: no decodable frame ({'; '.join(reasons)})")
        return frames

    def frames_at(self, timestamps: Sequence[float]) -> list[Frame | None]:
        """The frame shown at each of ``timestamps`` (seconds from the first frame), aligned with them.

        ``None`` marks a time that could not be decoded; its reason is in :attr:`failures`.
        Times are clamped to ``[0, duration]``; each returned frame carries its own exact time.
        """
        self._require_open()
        self.failures = []
        times = [float(t) for t in timestamps]
        if any(not math.isfinite(t) for t in times):
            raise ValueError("timestamps must be finite numbers")
        results: list[Frame | None] = [None] * len(times)
        if times and self._returned_pts is not None and self._ticks(min(times)) < self._returned_pts:
            # A new pass over earlier times; a call that continues the last one (callers may
            # fetch a long sample in chunks) keeps knowing which keyframes it already returned.
            self._returned_pts = None
        # Visit in time order so that close targets are reached by decoding forward.
        for i in sorted(range(len(times)), key=times.__getitem__):
            t = min(max(times[i], 0.0), self.duration)
            try:
                picture = self._frame_at(t)
                self._returned_pts = self._pts(picture)
            except _NoFrame as exc:
                self.failures.append(FrameFailure(timestamp=t, reason=str(exc)))
                self._reset_position()
                continue
            # Only returned frames pay for the RGB conversion, not those decoded on the way.
            image = picture.to_ndarray(format="rgb24")
            results[i] = Frame(index=i, timestamp=self._seconds(picture), image=image, source=self.kind)
        return results

    def close(self) -> None:
        if not getattr(self, "_closed", True):
            self._closed = True
            self._frames = None
            self._current = self._lookahead = None
            self._container.close()
            if self._reader is not None:
                self._reader.close()

    def __enter__(self) -> VideoFrameSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        # A source dropped without close() must not keep a file or connection open; at
        # interpreter shutdown PyAV may already be gone, and there is nothing to report.
        with contextlib.suppress(Exception):
            self.close()

    # --- decoding core -----------------------------------------------------------------------

    def _frame_at(self, t: float) -> av.video.frame.VideoFrame:
        target = self._ticks(t)
        self._target_pts = target
        seeked = self._needs_seek(target)
        if seeked:
            self._seek(target)
        elif self._frames is None:
            # Not seekable: carry on from wherever the demuxer stands.
            self._frames = self._decode_packets()
        if self._current is not None and self._pts(self._current) > target:
            raise _NoFrame("stream is not seekable and was already read past this time")
        if seeked:
            first = self._settle_after_seek(target)
            if (
                self.mode == "fast"
                and first is not None
                and (self._returned_pts is None or self._pts(first) > self._returned_pts)
            ):
                self._current = first
                return first
            self._lookahead = first  # (fast mode: a keyframe already used) decode on to the target
        while True:
            if self._lookahead is None:
                self._lookahead = self._next_frame()
                if self._lookahead is None:
                    break
            if self._pts(self._lookahead) > target:
                break
            self._current, self._lookahead = self._lookahead, None
        if self._current is None:
            if self._lookahead is not None:
                # The seek landed after the target (no earlier keyframe): the first frame is
                # the closest we can get; it reports its own time.
                self._current, self._lookahead = self._lookahead, None
                return self._current
            raise _NoFrame(self._stop_reason or "no frame could be read here (file truncated or damaged?)")
        if self._lookahead is None and (target - self._pts(self._current)) > self._tolerance_ticks():
            # Decoding stopped well before the target: truncated file or a broken stream.
            ended = self._seconds(self._current)
            raise _NoFrame(f"stream ended at {ended:.2f} s" + (f" ({self._stop_reason})" if self._stop_reason else ""))
        return self._current

    def _needs_seek(self, target: int) -> bool:
        if not self._seekable:
            return False
        if self._frames is None or self._last_key_pts is None:
            return True
        if self._current is not None and target < self._pts(self._current):
            return True  # backwards
        ahead = self._lookahead if self._lookahead is not None else self._current
        if ahead is None:
            return False  # just seeked, nothing decoded yet
        if self._pts(ahead) >= target:
            return False  # the answer is already decoded
        if self._exhausted:
            # At the end of what could be read: a seek may get past a broken region.
            return target - self._pts(ahead) > self._tolerance_ticks()
        same_gop = self._same_gop(self._pts(ahead), target)
        if same_gop is not None:
            return not same_gop
        return float((target - self._last_key_pts) * self._tb) > max(FORWARD_DECODE_MIN_S, self._gop_s)

    def _same_gop(self, position: int, target: int) -> bool | None:
        """Whether ``target`` follows the same keyframe as ``position``, per the demuxer's index.

        MP4 and Matroska files carry a full keyframe index; None when there is none (or it does
        not reach ``target`` yet), and the caller falls back to the learnt GOP length. MP4
        index times are decode times, which run ahead of presentation times by the B-frame
        delay; the first entry against the stream's start gives that delay. A wrong call here
        costs a little time, never a wrong frame, since FFmpeg does the actual seek.
        """
        entries = self._stream.index_entries
        count = len(entries)
        if count == 0:
            return None
        delay = max(0, self._start_pts - entries[0].timestamp)
        position, target = position - delay, target - delay
        if target > entries[count - 1].timestamp:
            return None
        at_position = entries.search_timestamp(position, backward=True)
        at_target = entries.search_timestamp(target, backward=True)
        if at_position < 0 or at_target < 0:
            return None
        return at_position == at_target

    def _seek(self, target: int, *, count: bool = True) -> None:
        key_before = self._last_key_pts
        self._reset_position()
        try:
            self._container.seek(target, stream=self._stream, backward=True, any_frame=False)
        except av.error.FFmpegError as exc:
            if self.seeks == 0:
                # An unseekable stream (HTTP without Range support): from now on read forward
                # from where the demuxer stands, which is still the start.
                self._seekable = False
                self._frames = self._decode_packets()
                return
            raise _NoFrame(f"seek failed ({self._explain(exc)})") from None
        self.seeks += 1
        if count:
            # A first seek (not a backoff step) may land in the GOP we were decoding.
            self._key_before_seek = key_before
        self._frames = self._decode_packets()

    def _settle_after_seek(self, target: int) -> av.video.frame.VideoFrame | None:
        """The first frame after seeking to ``target``, stepping back if the seek overshot.

        Containers without a keyframe index (MPEG-TS, some streams) seek by timestamp search
        and may land after the keyframe that precedes the target; the decoder then starts at
        the next keyframe. Seeking again further back, a few times, finds an earlier start.
        """
        first = self._next_frame()
        back = int(SEEK_BACKOFF_S / self._tb)
        for _ in range(SEEK_BACKOFF_TRIES):
            if first is None or self._pts(first) <= target + self._tolerance_ticks() or target <= self._start_pts:
                break
            self._seek(max(self._start_pts, target - back), count=False)
            first = self._next_frame()
            back *= 4
        return first

    def _reset_position(self) -> None:
        self._frames = None
        self._current = None
        self._lookahead = None
        self._exhausted = False
        self._stop_reason = ""
        self._last_key_pts = None
        self._key_before_seek = None

    def _next_frame(self) -> av.video.frame.VideoFrame | None:
        if self._frames is None or self._exhausted:
            return None
        frame = next(self._frames, None)
        if frame is None:
            self._exhausted = True
            return None
        if frame.key_frame:
            self._learn_gop(self._pts(frame))
        elif self._last_key_pts is None:
            # Streams that flag no keyframes (or start mid-GOP): anchor at the first frame.
            self._last_key_pts = self._pts(frame)
        return frame

    def _learn_gop(self, key: int) -> None:
        if self._last_key_pts is not None and key > self._last_key_pts:
            self._gop_s = max(self._gop_s, float((key - self._last_key_pts) * self._tb))
        elif self._key_before_seek is not None and key == self._key_before_seek:
            # The seek fell back into the GOP we were already decoding: the GOP is longer
            # than we assumed. Doubling keeps such wasted seeks to a few per GOP.
            self._gop_s = max(self._gop_s, 2.0 * float((self._target_pts - key) * self._tb))
        self._key_before_seek = None
        self._last_key_pts = key

    def _decode_packets(self) -> Iterator[av.video.frame.VideoFrame]:
        """Decoded frames from the current demuxer position; stops at the end or a read error."""
        demux = self._container.demux(self._stream)
        margin = int(NONREF_SKIP_MARGIN_S / self._tb)
        while True:
            try:
                packet = next(demux)
            except StopIteration:
                self._reader_stopped()
                return
            except av.error.FFmpegError as exc:
                # EOF inside a truncated file, a dropped connection, a read timeout...
                self._stop_reason = self._explain(exc)
                if self._is_url and isinstance(exc, av.error.InvalidDataError):
                    self._stop_reason += "; does the server honour HTTP Range requests?"
                self._reader_stopped()
                return
            skip = packet.pts is not None and packet.size > 0 and packet.pts < self._target_pts - margin
            if skip != self._skipping:
                self._ctx.skip_frame = "NONREF" if skip else "DEFAULT"
                self._skipping = skip
            try:
                frames = self._ctx.decode(packet)
            except av.error.EOFError:
                return
            except av.error.FFmpegError as exc:
                # A corrupt packet: the decoder resynchronises on a later one.
                self.decode_errors += 1
                self._stop_reason = self._explain(exc)
                continue
            for frame in frames:
                self.frames_decoded += 1
                yield frame

    def _reader_stopped(self) -> None:
        """After the demuxer stopped: why our HTTP reader ended the stream, if it did."""
        reader = self._reader
        if reader is None:
            return
        if reader.refusal is not None:
            refusal, reader.refusal = reader.refusal, None
            raise refusal  # e.g. a later request refused by the URL guard: not a decoding problem
        if reader.reason:
            self._stop_reason = self._clean(reader.reason)
            reader.reason = ""

    # --- helpers -----------------------------------------------------------------------------

    def _pts(self, frame: av.video.frame.VideoFrame) -> int:
        if frame.pts is not None:
            return int(frame.pts)
        if frame.dts is not None:
            return int(frame.dts)
        raise _NoFrame("decoded frame carries no timestamp")

    def _ticks(self, t: float) -> int:
        """Seconds from the first frame to a stream timestamp."""
        # Floor, not round: the frame shown at t is the last one starting at or before t.
        return self._start_pts + math.floor(min(max(t, 0.0), self.duration) / self._tb + 1e-6)

    def _seconds(self, frame: av.video.frame.VideoFrame) -> float:
        return float((self._pts(frame) - self._start_pts) * self._tb)

    def _frame_period(self) -> float:
        return 1.0 / self.fps if self.fps else 0.04

    def _tolerance_ticks(self) -> int:
        # The last frame is shown for one period; allow two for rounding and odd timestamps.
        return int(max(2.0 * self._frame_period(), 0.1) / self._tb)

    def _require_open(self) -> None:
        if self._closed:
            raise FrameSourceError(f"video {self._shown}: source is closed")

    def _clean(self, text: str) -> str:
        return redact_secrets(text, self._headers)

    def _explain(self, exc: av.error.FFmpegError) -> str:
        return explain_av_error(exc, self.timeout, self._headers)

    def _error(self, exc: av.error.FFmpegError) -> str:
        return f"video {self._shown}{describe_headers(self._headers)}: {self._explain(exc)}"

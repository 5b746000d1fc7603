"""Reading and writing video: metadata, frame sampling, bounded-memory segments.

`VideoReader` decodes with decord (fast random access through its frame index)
and falls back to PyAV when decord cannot open a file. Every file is first
probed with PyAV, which reports damaged containers as Python exceptions: decord
is only handed files that opened and decoded a first frame there, because
decord can abort the process on some corrupt inputs.

Known decord2 hazard: on h264 with long GOPs (hundreds of frames between keyframes) its
frame skipping can give up and return a neighbouring frame without raising. Our writer
puts a keyframe every second; for other files that must be exact, use backend="pyav".

Every sampler returns a `FrameBatch`: uint8 frames (T, H, W, 3) in RGB, with the
frame indices and timestamps (seconds) they came from. Bad input raises one
family of errors, `VideoError`, whose message names the file and the problem.

    with VideoReader("clip.mp4", max_side=448) as video:
        video.metadata.fps                       # 25.0
        batch = video.sample_uniform(16)         # batch.frames: (16, H', W', 3)
        for segment in video.iter_segments(segment_seconds=1.0, fps=2):
            ...                                   # one second at a time, bounded memory
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)


class VideoError(Exception):
    """A video could not be read as asked. The message names the file and the problem."""

    def __init__(self, path: str | os.PathLike, problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")

    def __reduce__(self):
        # rebuilt from (path, problem), not from the message: a Ray worker's error reaches the driver whole
        return type(self), (self.path, self.problem)


class VideoNotFoundError(VideoError, FileNotFoundError):
    pass


class VideoDecodeError(VideoError):
    """Not a video, an unsupported codec, or data that does not decode."""


class VideoTruncatedError(VideoDecodeError):
    """The container promises more frames than the file holds."""


class FrameRangeError(VideoError, IndexError):
    """Frames or times were requested outside the video."""


@dataclass(frozen=True)
class VideoMetadata:
    path: str
    fps: float
    num_frames: int  # frames that actually decode (not the header's claim)
    duration_seconds: float
    width: int
    height: int
    codec: str

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass
class FrameBatch:
    """Decoded frames with their provenance."""

    frames: np.ndarray  # (T, H, W, 3) uint8 RGB
    frame_indices: np.ndarray  # (T,) int64, index into the video's decodable frames
    timestamps_seconds: np.ndarray  # (T,) float64, frame_index / fps

    def __len__(self) -> int:
        return len(self.frame_indices)


@dataclass
class Segment(FrameBatch):
    """A contiguous time span of a video, sampled; yielded by `VideoReader.iter_segments`."""

    segment_index: int = 0
    start_seconds: float = 0.0
    end_seconds: float = 0.0


def resized_shape(height: int, width: int, max_side: int | None) -> tuple[int, int]:
    """(height, width) scaled so the longer side is at most `max_side`, aspect kept, even sizes."""
    if max_side is None or max(height, width) <= max_side:
        return height, width
    scale = max_side / max(height, width)
    # Even sizes: h264 and most patch sizes want them; never below 2 pixels.
    return max(2, int(round(height * scale / 2)) * 2), max(2, int(round(width * scale / 2)) * 2)


class VideoReader:
    """Random-access reader over one video file.

    backend: "auto" (decord, PyAV if decord cannot open the file), "decord" or "pyav".
    max_side: resize frames so their longer side is at most this many pixels.
    allow_truncated: a file whose header claims more frames than decode raises
        `VideoTruncatedError` unless this is set; then only the decodable frames count.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        backend: str = "auto",
        max_side: int | None = None,
        allow_truncated: bool = False,
    ):
        if backend not in ("auto", "decord", "pyav"):
            raise ValueError(f"backend must be 'auto', 'decord' or 'pyav', got {backend!r}")
        if max_side is not None and max_side < 2:
            raise ValueError(f"max_side must be at least 2 pixels, got {max_side!r}")
        self.path = str(path)
        self.max_side = max_side
        self._decord_reader = None
        probe = _probe_with_pyav(self.path)
        height, width = resized_shape(probe["height"], probe["width"], max_side)

        num_frames = None
        if backend in ("auto", "decord"):
            try:
                self._decord_reader = _open_decord(self.path, height, width, probe)
                num_frames = len(self._decord_reader)
            except VideoError:
                if backend == "decord":
                    raise
                logger.info("decord could not open %s; using PyAV", self.path)
        self.backend = "decord" if self._decord_reader is not None else "pyav"
        if num_frames is None:
            num_frames = _count_frames_pyav(self.path)
        if num_frames == 0:
            raise VideoDecodeError(self.path, "the video stream has zero decodable frames")

        claimed = probe["claimed_frames"]
        # Containers round their frame counts; a few frames short is normal, a big gap is not.
        if claimed and num_frames < claimed - max(2, int(0.02 * claimed)):
            if not allow_truncated:
                raise VideoTruncatedError(
                    self.path,
                    f"truncated: the header promises {claimed} frames but only {num_frames} decode "
                    "(pass allow_truncated=True to read the decodable part)",
                )
            if self._decord_reader is not None:
                # decord counts frames from the index and then fails on the damaged tail:
                # read truncated files with PyAV, which stops cleanly where the data ends.
                self._decord_reader = None
                self.backend = "pyav"
                num_frames = _count_frames_pyav(self.path)
            logger.warning("%s is truncated: %d of %d frames decode", self.path, num_frames, claimed)

        fps = probe["fps"]
        self.metadata = VideoMetadata(
            path=self.path,
            fps=fps,
            num_frames=num_frames,
            duration_seconds=num_frames / fps,
            width=width,
            height=height,
            codec=probe["codec"],
        )

    # ---- context manager -------------------------------------------------------------
    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._decord_reader = None

    def __len__(self) -> int:
        return self.metadata.num_frames

    # ---- decoding --------------------------------------------------------------------
    def get_frames(self, frame_indices: Sequence[int] | np.ndarray) -> FrameBatch:
        """Decode the given frames (any order, repeats allowed)."""
        indices = np.asarray(frame_indices, dtype=np.int64).reshape(-1)
        num_frames = self.metadata.num_frames
        if indices.size == 0:
            raise FrameRangeError(self.path, "no frames requested (empty index list)")
        bad = indices[(indices < 0) | (indices >= num_frames)]
        if bad.size:
            raise FrameRangeError(
                self.path,
                f"frame index {int(bad[0])} is past the end (the video has {num_frames} frames, "
                f"valid indices are 0..{num_frames - 1})",
            )
        frames = None
        if self._decord_reader is not None:
            try:
                frames = self._decord_reader.get_batch(indices.tolist()).asnumpy()
            except Exception as error:  # decord raises bare DECORDError/RuntimeError
                # decord fails on some files PyAV reads (e.g. 96-pixel-wide h264: a row-padding
                # size mismatch); PyAV takes over for the rest of this reader's life.
                logger.warning("decord failed on %s (%s); decoding with PyAV", self.path, _first_line(error))
                self._decord_reader = None
                self.backend = "pyav"
        if frames is None:
            frames = _decode_pyav(self.path, indices, self.metadata.height, self.metadata.width)
        return FrameBatch(
            frames=frames,
            frame_indices=indices,
            timestamps_seconds=indices / self.metadata.fps,
        )

    # ---- samplers --------------------------------------------------------------------
    def uniform_indices(self, num_frames: int, start_frame: int = 0, end_frame: int | None = None) -> np.ndarray:
        """`num_frames` indices spread evenly over [start_frame, end_frame), each at the centre of its bin.

        Fewer indices come back when the span has fewer frames than asked: never duplicates.
        """
        if num_frames < 1:
            raise ValueError(f"num_frames must be at least 1, got {num_frames!r}")
        end_frame = self.metadata.num_frames if end_frame is None else end_frame
        span = end_frame - start_frame
        if span <= 0:
            raise FrameRangeError(self.path, f"empty frame range [{start_frame}, {end_frame})")
        if num_frames >= span:
            return np.arange(start_frame, end_frame, dtype=np.int64)
        bin_width = span / num_frames
        return (start_frame + (np.arange(num_frames) + 0.5) * bin_width).astype(np.int64)

    def sample_uniform(self, num_frames: int) -> FrameBatch:
        """`num_frames` frames spread evenly over the whole video (all of them if it is shorter)."""
        return self.get_frames(self.uniform_indices(num_frames))

    def fps_indices(self, fps: float, start_seconds: float = 0.0, end_seconds: float | None = None) -> np.ndarray:
        if fps <= 0:
            raise ValueError(f"fps must be positive, got {fps!r}")
        start_frame, end_frame = self._window_to_frames(start_seconds, end_seconds)
        times = np.arange(start_frame / self.metadata.fps, end_frame / self.metadata.fps, 1.0 / fps)
        indices = np.unique(np.floor(times * self.metadata.fps + 1e-6).astype(np.int64))
        return indices[(indices >= start_frame) & (indices < end_frame)]

    def sample_fps(self, fps: float) -> FrameBatch:
        """Frames at a fixed rate (frames per second) over the whole video."""
        return self.get_frames(self.fps_indices(fps))

    def sample_window(
        self,
        start_seconds: float,
        end_seconds: float,
        *,
        num_frames: int | None = None,
        fps: float | None = None,
    ) -> FrameBatch:
        """Frames from the time window [start_seconds, end_seconds): `num_frames` uniform ones,
        or at `fps`, or every frame when neither is given."""
        return self.get_frames(self.window_indices(start_seconds, end_seconds, num_frames=num_frames, fps=fps))

    def window_indices(
        self,
        start_seconds: float,
        end_seconds: float,
        *,
        num_frames: int | None = None,
        fps: float | None = None,
    ) -> np.ndarray:
        """The frame indices `sample_window` decodes (see there)."""
        if num_frames is not None and fps is not None:
            raise ValueError("give num_frames or fps, not both")
        if fps is not None:
            return self.fps_indices(fps, start_seconds, end_seconds)
        start_frame, end_frame = self._window_to_frames(start_seconds, end_seconds)
        if num_frames is not None:
            return self.uniform_indices(num_frames, start_frame, end_frame)
        return np.arange(start_frame, end_frame, dtype=np.int64)

    def iter_segments(
        self,
        segment_seconds: float,
        *,
        fps: float | None = None,
        frames_per_segment: int | None = None,
        only: Sequence[int] | None = None,
    ) -> Iterator[Segment]:
        """Fixed-length segments in order, from one streaming decode pass.

        Each segment is sampled at `fps`, or `frames_per_segment` uniform frames, or every
        frame; the last segment may be shorter. Only one segment's frames are alive at a time,
        and decoding streams through PyAV: decord2 keeps memory it never returns, growing
        with every frame decoded (about 500 MB over an hour of 320x240 video, measured).

        only: these segment indices alone (a worker's share of a long video). Decoding then seeks
        to the keyframe before each run of consecutive segments instead of starting at frame 0;
        the frames are the same arrays a full pass gives (`_stream_pyav_seeking` says why).
        """
        if segment_seconds <= 0:
            raise ValueError(f"segment_seconds must be positive, got {segment_seconds!r}")
        duration = self.metadata.duration_seconds
        num_segments = max(1, int(np.ceil(duration / segment_seconds - 1e-9)))
        plan = []  # (segment_index, start_seconds, end_seconds, frame indices)
        for segment_index in range(num_segments):
            start = segment_index * segment_seconds
            end = min(duration, start + segment_seconds)
            indices = self.window_indices(start, end, num_frames=frames_per_segment, fps=fps)
            if len(indices):
                plan.append((segment_index, start, end, indices))
        if only is not None:
            chosen = {int(i) for i in only}
            plan = [item for item in plan if item[0] in chosen]
            if not plan:
                return
        wanted = np.concatenate([indices for *_, indices in plan])
        if only is None:
            decoded = _stream_pyav(self.path, wanted, self.metadata.height, self.metadata.width)
        else:
            decoded = _stream_pyav_seeking(self.path, wanted, self.metadata.height, self.metadata.width,
                                           self.metadata.num_frames)
        for segment_index, start, end, indices in plan:
            frames = np.stack([next(decoded) for _ in indices])  # (T, H, W, 3)
            yield Segment(
                frames=frames,
                frame_indices=indices,
                timestamps_seconds=indices / self.metadata.fps,
                segment_index=segment_index,
                start_seconds=start,
                end_seconds=end,
            )

    def scene_change_indices(
        self,
        *,
        threshold: float = 0.35,
        probe_fps: float = 4.0,
        max_keyframes: int | None = None,
    ) -> np.ndarray:
        """Frame indices where the picture changes: the first frame, then every probed frame whose
        colour histogram differs from the previous probed frame's by more than `threshold`
        (Hellinger distance between HSV histograms, 0 = same, 1 = disjoint).

        Probing runs over 1-second chunks at `probe_fps`, so memory stays bounded.
        With `max_keyframes`, the strongest changes are kept (the first frame always).
        """
        import cv2

        if not 0.0 < threshold < 1.0:
            raise ValueError(f"threshold must be in (0, 1), got {threshold!r}")
        indices, scores = [0], [np.inf]
        previous = None
        for segment in self.iter_segments(segment_seconds=10.0, fps=probe_fps):
            for frame, frame_index in zip(segment.frames, segment.frame_indices):
                small = cv2.resize(frame, (64, 64), interpolation=cv2.INTER_AREA)
                hsv = cv2.cvtColor(small, cv2.COLOR_RGB2HSV)
                histogram = cv2.calcHist([hsv], [0, 1], None, [16, 8], [0, 180, 0, 256])
                histogram = cv2.normalize(histogram, None).flatten()
                if previous is not None:
                    distance = cv2.compareHist(previous, histogram, cv2.HISTCMP_BHATTACHARYYA)
                    if distance > threshold:
                        indices.append(int(frame_index))
                        scores.append(float(distance))
                previous = histogram
        keep = np.asarray(indices, dtype=np.int64)
        if max_keyframes is not None and len(keep) > max_keyframes:
            strongest = np.argsort(-np.asarray(scores), kind="stable")[:max_keyframes]
            keep = np.sort(keep[strongest])
        return keep

    def sample_scene_changes(self, **kwargs) -> FrameBatch:
        """Keyframes at scene changes (see `scene_change_indices`)."""
        return self.get_frames(self.scene_change_indices(**kwargs))

    # ---- helpers ---------------------------------------------------------------------
    def _window_to_frames(self, start_seconds: float, end_seconds: float | None) -> tuple[int, int]:
        duration = self.metadata.duration_seconds
        end_seconds = duration if end_seconds is None else end_seconds
        if not (np.isfinite(start_seconds) and np.isfinite(end_seconds)):
            raise ValueError(f"window bounds must be finite, got [{start_seconds}, {end_seconds})")
        if start_seconds < 0 or end_seconds <= start_seconds:
            raise ValueError(f"need 0 <= start_seconds < end_seconds, got [{start_seconds}, {end_seconds})")
        if start_seconds >= duration:
            raise FrameRangeError(
                self.path,
                f"window starts at {start_seconds:.3f} s, past the end of the video ({duration:.3f} s)",
            )
        fps = self.metadata.fps
        start_frame = int(np.floor(start_seconds * fps + 1e-6))
        end_frame = min(self.metadata.num_frames, int(np.ceil(end_seconds * fps - 1e-6)))
        return start_frame, max(end_frame, start_frame + 1)


# ---- writing ---------------------------------------------------------------------------
def write_video(
    path: str | os.PathLike,
    frames: np.ndarray | Iterator[np.ndarray],
    fps: float,
    *,
    crf: int = 18,
    preset: str = "superfast",
) -> Path:
    """Write RGB uint8 frames (T, H, W, 3), or an iterator of (H, W, 3) frames, as h264 mp4.

    Width and height must be even (yuv420p). crf 18 is visually lossless, which keeps the
    colours of rendered scenes close to their ground truth. The "superfast" preset is the
    default because it is reproducible: with "veryfast" and slower presets (lookahead,
    mb-tree) this libx264 gave different bytes, and decoded pixels up to 5 levels apart,
    for identical frames from run to run, which breaks "same seed, same video".
    """
    import av

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    from fractions import Fraction

    rate = Fraction(fps).limit_denominator(1001)
    container = av.open(str(path), mode="w")
    stream = None
    count = 0
    try:
        for frame in frames:
            if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
                raise ValueError(f"frames must be uint8 (H, W, 3), got {frame.dtype} {frame.shape}")
            if stream is None:
                height, width = frame.shape[:2]
                if height % 2 or width % 2:
                    raise ValueError(f"h264 needs even frame sizes, got {width}x{height}")
                stream = container.add_stream("libx264", rate=rate)
                stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
                # A keyframe every second: random access decodes at most one second of frames,
                # and decord2 returns wrong frames when it must skip far inside a long GOP.
                options = {"crf": str(crf), "preset": preset, "g": str(max(1, round(fps)))}
                stream.options = options
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")):
                container.mux(packet)
            count += 1
        if stream is None:
            raise ValueError(f"no frames to write to {path}")
        for packet in stream.encode():
            container.mux(packet)
    finally:
        container.close()
    if count == 0:
        path.unlink(missing_ok=True)
    return path


# ---- backends --------------------------------------------------------------------------
def _first_line(error: BaseException) -> str:
    text = (getattr(error, "strerror", None) or str(error)).strip().splitlines()
    return text[0][:300] if text else type(error).__name__


def _check_path(path: str) -> None:
    if not os.path.exists(path):
        raise VideoNotFoundError(path, "no such file")
    if os.path.isdir(path):
        raise VideoDecodeError(path, "is a directory, not a video file")
    if os.path.getsize(path) == 0:
        raise VideoDecodeError(path, "the file is empty (0 bytes)")


def _probe_with_pyav(path: str) -> dict:
    """Open the container with PyAV, find the video stream and decode its first frame."""
    import av

    _check_path(path)
    try:
        container = av.open(path)
    except av.error.FFmpegError as error:
        raise VideoDecodeError(
            path, f"cannot open as video ({_first_line(error)}); the file is not a video or is truncated"
        ) from None
    try:
        if not container.streams.video:
            raise VideoDecodeError(path, "the file has no video stream")
        stream = container.streams.video[0]
        codec = stream.codec_context.name if stream.codec_context else "unknown"
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        fps = float(rate) if rate else 0.0
        if not np.isfinite(fps) or fps <= 0:
            raise VideoDecodeError(path, f"the video stream has no usable frame rate ({rate!r})")
        try:
            first = next(container.decode(stream), None)
        except av.error.FFmpegError as error:
            raise VideoDecodeError(path, f"codec {codec!r} cannot decode the stream: {_first_line(error)}") from None
        if first is None:
            raise VideoDecodeError(path, "the video stream has zero decodable frames")
        return {
            "fps": fps,
            "width": int(first.width),
            "height": int(first.height),
            "codec": codec,
            "claimed_frames": int(stream.frames or 0),
        }
    finally:
        container.close()


def _open_decord(path: str, height: int, width: int, probe: dict):
    import decord

    size = {} if (height, width) == (probe["height"], probe["width"]) else {"height": height, "width": width}
    try:
        # One decoding thread: faster than decord's default for sparse sampling (measured) and it
        # avoids decord2's frame-threaded skips that returned wrong frames on long-GOP h264.
        return decord.VideoReader(path, ctx=decord.cpu(0), num_threads=1, **size)
    except Exception as error:  # decord raises DECORDError/RuntimeError with C++ context
        raise VideoDecodeError(path, f"decord cannot open it: {_first_line(error)}") from None


def _count_frames_pyav(path: str) -> int:
    import av

    count = 0
    try:
        with av.open(path) as container:
            for packet in container.demux(container.streams.video[0]):
                for _ in packet.decode():
                    count += 1
    except av.error.FFmpegError:
        pass  # count what decoded before the damage
    return count


def _stream_pyav(path: str, sorted_indices: np.ndarray, height: int, width: int) -> Iterator[np.ndarray]:
    """Decode once from the start, yielding the frames at `sorted_indices` (ascending) in order."""
    import av

    position = 0
    frame_index = -1
    try:
        with av.open(path) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            for frame in container.decode(stream):
                frame_index += 1
                while position < len(sorted_indices) and sorted_indices[position] == frame_index:
                    yield frame.reformat(width=width, height=height, format="rgb24").to_ndarray()
                    position += 1
                if position == len(sorted_indices):
                    return
    except av.error.FFmpegError as error:
        raise VideoDecodeError(path, f"decoding failed at frame {frame_index + 1}: {_first_line(error)}") from None
    if position < len(sorted_indices):
        raise VideoDecodeError(path, f"frame {int(sorted_indices[position])} did not decode (stream ended)")


_TIMESTAMPED_FORMATS = ("mp4", "mov", "matroska", "webm")  # containers that store real presentation times


def _presentation_times(path: str) -> list[int] | None:
    """Every video packet's presentation timestamp, ascending: frame i of the stream is the
    frame whose pts is the i-th. Reads packet headers only (no decoding). None for containers
    whose timestamps are guessed by the demuxer (AVI: its decoder's output comes out of pts
    order, measured on Megamind.avi), where only counting from frame 0 is exact."""
    import av

    try:
        with av.open(path) as container:
            if not any(name in container.format.name.split(",") for name in _TIMESTAMPED_FORMATS):
                return None
            stream = container.streams.video[0]
            return sorted(packet.pts for packet in container.demux(stream) if packet.pts is not None)
    except av.error.FFmpegError as error:
        raise VideoDecodeError(path, f"reading packet timestamps failed: {_first_line(error)}") from None


def _stream_pyav_seeking(path: str, sorted_indices: np.ndarray, height: int, width: int,
                         num_frames: int) -> Iterator[np.ndarray]:
    """The frames at `sorted_indices` (ascending), seeking to the keyframe before each gap.

    A frame's index comes from its presentation timestamp's rank among all packets' (so it is
    the count a full pass from frame 0 gives), and decoding restarts at a keyframe, where a
    decoder's output depends on no earlier frame: the pixels equal `_stream_pyav`'s. When the
    packets do not map one to one onto the decodable frames (a damaged or odd file), this falls
    back to the full pass rather than guess.
    """
    import av

    timestamps = _presentation_times(path)
    if timestamps is None or len(timestamps) != num_frames or len(set(timestamps)) != len(timestamps):
        logger.info("%s: no one-to-one packet timestamps for its %d frames; decoding from the start", path,
                    num_frames)
        yield from _stream_pyav(path, sorted_indices, height, width)
        return
    rank = {pts: index for index, pts in enumerate(timestamps)}
    # runs of wanted frames with no keyframe-sized gap between them are decoded in one go
    runs, start = [], 0
    for position in range(1, len(sorted_indices) + 1):
        if position == len(sorted_indices) or sorted_indices[position] - sorted_indices[position - 1] > 1 + _SEEK_GAP_FRAMES:
            runs.append(sorted_indices[start:position])
            start = position
    try:
        with av.open(path) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            for run in runs:
                # Some containers' seeks land past the asked time (AVI index quirks): then seek
                # again further back, doubling the distance, down to frame 0 (a full pass).
                back = 0
                while True:
                    target = max(0, int(run[0]) - back)
                    container.seek(timestamps[target], stream=stream, backward=True, any_frame=False)
                    frames = _decode_run(container, stream, run, rank, path, width, height)
                    first = next(frames)
                    if first is not None or target == 0:
                        break
                    back = max(1, 2 * back) if back else _SEEK_GAP_FRAMES
                if first is None:
                    raise VideoDecodeError(path, f"frame {int(run[0])} did not decode from the start either")
                yield first
                yield from frames
    except av.error.FFmpegError as error:
        raise VideoDecodeError(path, f"decoding after a seek failed: {_first_line(error)}") from None


def _decode_run(container, stream, run: np.ndarray, rank: dict, path: str, width: int, height: int
                ) -> Iterator[np.ndarray | None]:
    """Decode on from the current (seeked) position, yielding the frames of `run` in order; a
    first yield of None says the decoder started past run[0] (seek further back)."""
    position, previous = 0, -1
    for frame in container.decode(stream):
        index = rank.get(frame.pts)
        if index is None:
            raise VideoDecodeError(path, f"a decoded frame has a timestamp ({frame.pts}) no packet has")
        if index <= previous:  # never seen in mp4/mkv; the frame count would not be the pts rank
            raise VideoDecodeError(path, f"decoded frames come out of timestamp order (frame {index} after "
                                   f"{previous}); read this file without `only=`")
        previous = index
        if position < len(run) and run[position] < index:
            if position == 0:
                yield None
                return
            raise VideoDecodeError(path, f"frame {int(run[position])} was skipped by the decoder")
        array = None
        while position < len(run) and run[position] == index:  # repeats: the same frame again
            if array is None:
                array = frame.reformat(width=width, height=height, format="rgb24").to_ndarray()
            yield array
            position += 1
        if position == len(run):
            return
    raise VideoDecodeError(path, f"frame {int(run[position])} did not decode (stream ended)")


_SEEK_GAP_FRAMES = 250  # a gap longer than this (10 s at 25 fps, a long GOP) is skipped by seeking


def _decode_pyav(path: str, indices: np.ndarray, height: int, width: int) -> np.ndarray:
    """Frames at `indices` (any order) by one sequential pass: the fallback path, not the fast one."""
    unique = np.unique(indices)
    decoded = dict(zip(unique.tolist(), _stream_pyav(path, unique, height, width)))
    return np.stack([decoded[int(i)] for i in indices])  # (T, H, W, 3)

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import moving_square_frames, shared_clip
from videothought.perception.video import (
    FrameRangeError,
    VideoDecodeError,
    VideoError,
    VideoNotFoundError,
    VideoReader,
    VideoTruncatedError,
    resized_shape,
    write_video,
)


# ---- metadata and sampling ---------------------------------------------------------------
def test_sample_clip_metadata(sample_clip):
    with VideoReader(sample_clip) as video:
        meta = video.metadata
    assert (meta.fps, meta.num_frames, meta.width, meta.height) == (25.0, 250, 640, 272)
    assert meta.duration_seconds == pytest.approx(10.0)
    assert meta.to_dict()["codec"] == "h264"


def test_written_clip_roundtrip(clip_path):
    with VideoReader(clip_path) as video:
        assert (video.metadata.num_frames, video.metadata.fps) == (30, 10.0)
        batch = video.get_frames([0, 29, 5])
    expected = moving_square_frames(30)[[0, 29, 5]]
    assert batch.frames.shape == (3, 48, 64, 3) and batch.frames.dtype == np.uint8
    # h264 at crf 18 is near-lossless on flat colours.
    assert np.abs(batch.frames.astype(int) - expected).mean() < 3
    assert batch.frame_indices.tolist() == [0, 29, 5]
    assert batch.timestamps_seconds.tolist() == pytest.approx([0.0, 2.9, 0.5])


def test_uniform_sampling_is_centred_and_distinct(clip_path):
    with VideoReader(clip_path) as video:
        assert video.uniform_indices(3).tolist() == [5, 15, 25]
        assert video.uniform_indices(100).tolist() == list(range(30))  # never duplicates
        assert len(video.sample_uniform(8)) == 8


def test_fps_and_window_sampling(clip_path):
    with VideoReader(clip_path) as video:
        assert video.fps_indices(2.0).tolist() == [0, 5, 10, 15, 20, 25]
        window = video.sample_window(1.0, 2.0)
        assert window.frame_indices.tolist() == list(range(10, 20))
        assert video.sample_window(1.0, 2.0, num_frames=2).frame_indices.tolist() == [12, 17]
        assert video.sample_window(0.0, 3.0, fps=1.0).frame_indices.tolist() == [0, 10, 20]


def test_segments_cover_the_video_in_order_and_match_random_access(clip_path):
    with VideoReader(clip_path) as video:
        segments = list(video.iter_segments(segment_seconds=1.0))
        assert [s.segment_index for s in segments] == [0, 1, 2]
        assert np.concatenate([s.frame_indices for s in segments]).tolist() == list(range(30))
        assert np.array_equal(segments[1].frames, video.get_frames(range(10, 20)).frames)
        sparse = list(video.iter_segments(segment_seconds=1.5, frames_per_segment=2))
        assert [s.frame_indices.tolist() for s in sparse] == [[3, 11], [18, 26]]


def test_resize_keeps_aspect(sample_clip):
    assert resized_shape(272, 640, 320) == (136, 320)
    assert resized_shape(100, 50, None) == (100, 50)
    with VideoReader(sample_clip, max_side=160) as video:
        assert (video.metadata.width, video.metadata.height) == (160, 68)
        assert video.sample_uniform(2).frames.shape == (2, 68, 160, 3)


def test_pyav_backend_gives_decords_frames(sample_clip):
    with VideoReader(sample_clip, backend="decord") as fast, VideoReader(sample_clip, backend="pyav") as slow:
        indices = fast.uniform_indices(6)
        assert np.array_equal(fast.get_frames(indices).frames, slow.get_frames(indices).frames)
        assert slow.backend == "pyav"


def test_scene_changes_find_cuts(tmp_path):
    colours = [(200, 20, 20), (20, 200, 20), (20, 20, 200)]
    frames = np.concatenate([np.full((10, 32, 32, 3), c, np.uint8) for c in colours])  # (30, 32, 32, 3)
    path = write_video(tmp_path / "cuts.mp4", frames, fps=10.0)
    with VideoReader(path) as video:
        keyframes = video.scene_change_indices(probe_fps=10.0)
        assert keyframes.tolist() == [0, 10, 20]
        assert video.scene_change_indices(probe_fps=10.0, max_keyframes=2).tolist()[0] == 0


def test_real_pedestrian_clip():
    path = shared_clip("vtest.avi")
    with VideoReader(path, max_side=384) as video:
        assert (video.metadata.num_frames, video.metadata.fps) == (795, 10.0)
        assert video.sample_uniform(4).frames.shape == (4, 288, 384, 3)


# ---- bad input: one error family, messages that name the file and the problem ------------
def test_missing_file(tmp_path):
    with pytest.raises(VideoNotFoundError, match=r"nope\.mp4: no such file"):
        VideoReader(tmp_path / "nope.mp4")


def test_directory(tmp_path):
    with pytest.raises(VideoDecodeError, match="is a directory, not a video file"):
        VideoReader(tmp_path)


def test_zero_byte_file(tmp_path):
    path = tmp_path / "empty.mp4"
    path.write_bytes(b"")
    with pytest.raises(VideoDecodeError, match=r"empty\.mp4: the file is empty \(0 bytes\)"):
        VideoReader(path)


def test_non_video_file(tmp_path):
    path = tmp_path / "notes.mp4"
    path.write_text("these are not frames\n" * 50)
    with pytest.raises(VideoDecodeError, match=r"notes\.mp4: cannot open as video .*not a video or is truncated"):
        VideoReader(path)


def test_truncated_mp4_without_index(tmp_path, clip_path):
    path = tmp_path / "cut.mp4"
    path.write_bytes(clip_path.read_bytes()[: clip_path.stat().st_size // 2])  # moov atom at the end is lost
    with pytest.raises(VideoDecodeError, match=r"cut\.mp4: cannot open as video"):
        VideoReader(path)


def test_truncated_file_whose_header_promises_more_frames(tmp_path):
    import av

    # faststart puts the index first, so the file still opens after the cut.
    path = tmp_path / "faststart.mp4"
    with av.open(str(path), "w", options={"movflags": "faststart"}) as container:
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        stream.options = {"g": "5"}
        for frame in moving_square_frames(60):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())
    cut = tmp_path / "faststart_cut.mp4"
    cut.write_bytes(path.read_bytes()[: int(path.stat().st_size * 0.6)])
    with pytest.raises(VideoTruncatedError, match=r"faststart_cut\.mp4: truncated: the header promises 60 frames"):
        VideoReader(cut)
    with VideoReader(cut, allow_truncated=True) as video:
        assert 0 < video.metadata.num_frames < 60
        assert len(video.sample_uniform(4)) == 4


def test_real_truncated_avi():
    path = shared_clip("tree.avi")
    with pytest.raises(VideoTruncatedError, match="header promises 444 frames but only 68 decode"):
        VideoReader(path)


def test_unsupported_codec(tmp_path, clip_path):
    import av

    path = tmp_path / "mpeg4.avi"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for frame in moving_square_frames(10):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())
    data = path.read_bytes()
    assert b"FMP4" in data
    unknown = tmp_path / "unknown_codec.avi"
    unknown.write_bytes(data.replace(b"FMP4", b"QQQQ"))
    with pytest.raises(VideoDecodeError, match=r"unknown_codec\.avi: .*codec"):
        VideoReader(unknown)


def test_one_frame_video(tmp_path):
    path = write_video(tmp_path / "still.mp4", moving_square_frames(1), fps=10.0)
    with VideoReader(path) as video:
        assert video.metadata.num_frames == 1
        assert video.sample_uniform(16).frame_indices.tolist() == [0]  # not 16 copies
        assert [len(s) for s in video.iter_segments(1.0)] == [1]
        with pytest.raises(FrameRangeError, match=r"still\.mp4: frame index 1 is past the end \(the video has 1 frames"):
            video.get_frames([1])


def test_frames_past_the_end(clip_path):
    with VideoReader(clip_path) as video:
        with pytest.raises(FrameRangeError, match=r"frame index 30 is past the end .*valid indices are 0\.\.29"):
            video.get_frames([3, 30])
        with pytest.raises(FrameRangeError, match=r"window starts at 5\.000 s, past the end of the video \(3\.000 s\)"):
            video.sample_window(5.0, 6.0)
        with pytest.raises(FrameRangeError, match="no frames requested"):
            video.get_frames([])


def test_all_errors_share_one_family():
    for error in (VideoNotFoundError, VideoDecodeError, VideoTruncatedError, FrameRangeError):
        assert issubclass(error, VideoError)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="backend must be"):
        VideoReader("x.mp4", backend="opencv")
    with pytest.raises(ValueError, match="max_side must be at least 2"):
        VideoReader("x.mp4", max_side=0)


def test_write_video_rejects_odd_sizes(tmp_path):
    with pytest.raises(ValueError, match="even frame sizes"):
        write_video(tmp_path / "odd.mp4", np.zeros((2, 31, 32, 3), np.uint8), fps=5)


def test_write_video_is_reproducible(tmp_path):
    rng = np.random.default_rng(3)
    frames = moving_square_frames(40, height=96, width=128)
    frames[:, 60:, :] = rng.integers(0, 255, size=(40, 36, 128, 3), dtype=np.uint8)  # texture that stresses rate control
    first = write_video(tmp_path / "a.mp4", frames, fps=12.0).read_bytes()
    second = write_video(tmp_path / "b.mp4", frames, fps=12.0).read_bytes()
    assert first == second


def test_pyav_takes_over_where_decord_fails(tmp_path):
    # decord2 mis-copies frames whose width needs row padding (96 px wide h264).
    frames = moving_square_frames(10, height=64, width=96)
    path = write_video(tmp_path / "narrow.mp4", frames, fps=10.0)
    with VideoReader(path) as video:
        batch = video.get_frames([0, 9])
        assert batch.frames.shape == (2, 64, 96, 3)
        assert np.abs(batch.frames.astype(int) - frames[[0, 9]]).mean() < 3

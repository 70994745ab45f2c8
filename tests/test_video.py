"""Video reading and writing: round trips through H.264, frame folders, and clear errors for bad files."""
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from v2v.errors import UserError
from v2v.video import VideoWriter, even_pad, open_video, write_frames


def moving_square(n: int, w: int = 64, h: int = 48) -> list[np.ndarray]:
    frames = []
    for i in range(n):
        f = np.full((h, w, 3), 40, np.uint8)
        f[10:26, 4 + 3 * i:20 + 3 * i] = (250, 30, 30)
        frames.append(f)
    return frames


def test_mp4_round_trip(tmp_path):
    path = tmp_path / "out.mp4"
    frames = moving_square(12)
    with VideoWriter(path, fps=25, crf=18) as w:
        for f in frames:
            w.write(f)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.mp4"]  # temp file renamed away
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        assert s.codec_context.name == "h264"
        assert s.codec_context.pix_fmt == "yuv420p"
    v = open_video(path)
    assert (v.size, v.fps, v.num_frames, v.codec) == ((64, 48), 25.0, 12, "h264")
    back = list(v)
    assert len(back) == 12 and back[0].shape == (48, 64, 3) and back[0].dtype == np.uint8
    # crf 18: close to the input; the red square is where it was written
    assert np.abs(back[5].astype(int) - frames[5]).mean() < 4
    assert back[5][18, 4 + 15 + 8, 0] > 200
    # a range decodes just those frames
    part = list(v.frames(3, 6))
    assert len(part) == 3 and np.array_equal(part[0], back[3])


def test_odd_size_is_padded_by_replication(tmp_path):
    f = np.zeros((33, 45, 3), np.uint8)
    f[-1, :] = 200
    f[:, -1] = 100
    p = even_pad(f)
    assert p.shape == (34, 46, 3)
    assert np.array_equal(p[-1, :-1], p[-2, :-1]) and np.array_equal(p[:, -1], p[:, -2])
    with VideoWriter(tmp_path / "odd.mp4", fps=10) as w:
        w.write(f)
        w.write(f)
    v = open_video(tmp_path / "odd.mp4")
    assert v.size == (46, 34) and v.num_frames == 2


def test_writer_removes_temp_file_on_error(tmp_path):
    with pytest.raises(RuntimeError):
        with VideoWriter(tmp_path / "x.mp4", fps=10) as w:
            w.write(moving_square(1)[0])
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(UserError, match=r"\.mp4, \.mov or \.mkv"):
        VideoWriter(tmp_path / "x.avi", fps=10)


def test_frame_folder_round_trip(tmp_path):
    frames = moving_square(5)
    assert write_frames(tmp_path / "frames", frames) == 5
    assert sorted(p.name for p in tmp_path.iterdir()) == ["frames"]
    v = open_video(tmp_path / "frames", fps=12)
    assert (v.size, v.fps, v.num_frames, v.codec) == ((64, 48), 12.0, 5, "png-folder")
    assert all(np.array_equal(a, b) for a, b in zip(v, frames))  # PNG is lossless
    with pytest.raises(UserError, match="not empty"):
        write_frames(tmp_path / "frames", frames)


def test_frame_folder_of_mixed_sizes(tmp_path):
    cv2.imwrite(str(tmp_path / "a.png"), np.zeros((8, 8, 3), np.uint8))
    cv2.imwrite(str(tmp_path / "b.jpg"), np.zeros((8, 10, 3), np.uint8))
    v = open_video(tmp_path)
    with pytest.raises(UserError, match="10x8 but the first frame"):
        list(v)


def test_bad_inputs_raise_user_error(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        open_video(tmp_path / "nope.mp4")
    (tmp_path / "empty.mp4").write_bytes(b"")
    with pytest.raises(UserError, match="empty"):
        open_video(tmp_path / "empty.mp4")
    (tmp_path / "text.mp4").write_text("not a video at all " * 50)
    with pytest.raises(UserError, match="not a readable video"):
        open_video(tmp_path / "text.mp4")
    (tmp_path / "nothing").mkdir()
    with pytest.raises(UserError, match="no .png or .jpg"):
        open_video(tmp_path / "nothing")


def test_truncated_file(tmp_path):
    path = tmp_path / "clip.mp4"
    with VideoWriter(path, fps=10) as w:
        for f in moving_square(20):
            w.write(f)
    data = path.read_bytes()
    (tmp_path / "cut.mp4").write_bytes(data[: len(data) // 2])
    with pytest.raises(UserError, match="truncated|damaged"):
        v = open_video(tmp_path / "cut.mp4")
        list(v)


@pytest.mark.realdata
def test_dancer_avi(shared_data: Path, tmp_path):
    path = shared_data / "dancer" / "dancer.avi"
    v = open_video(path)
    assert v.size == (518, 496) and v.fps == 25.0 and v.num_frames == 1571
    first = next(iter(v))
    assert first.shape == (496, 518, 3)
    assert sum(1 for _ in v) == 1571  # decoding agrees with the packet count (the AVI header says 1572)
    # a truncated copy is reported, not silently read short
    data = path.read_bytes()
    (tmp_path / "cut.avi").write_bytes(data[: len(data) // 3])
    with pytest.raises(UserError, match="truncated"):
        open_video(tmp_path / "cut.avi").num_frames


def test_frame_folder_natural_order(tmp_path):
    for i in (10, 9, 1):
        cv2.imwrite(str(tmp_path / f"frame_{i}.png"), np.full((4, 4, 3), i, np.uint8))
    assert [int(f[0, 0, 0]) for f in open_video(tmp_path)] == [1, 9, 10]


def test_video_set_places_all_videos_or_none(tmp_path):
    from v2v.video import VideoSet

    frame = np.full((16, 24, 3), 90, np.uint8)
    paths = {"main": tmp_path / "out.mp4", "flow": tmp_path / "out_flow.mp4"}
    with VideoSet(paths, 10.0) as videos:
        for _ in range(3):
            videos.write({"main": frame, "flow": frame})
    assert all(p.is_file() for p in paths.values()) and videos.count == 3
    bad = {"main": tmp_path / "b.mp4", "flow": tmp_path / "b_flow.mp4"}
    videos = VideoSet(bad, 10.0)
    videos.write({"main": frame, "flow": frame})
    with pytest.raises(ValueError, match="the video is 24x16"):
        videos.write({"main": frame, "flow": frame[:8]})  # a wrong size aborts the whole set
    assert not any(p.exists() for p in bad.values())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.mp4", "out_flow.mp4"]  # no temp files left

"""The named API endpoints through gradio_client, against the app running in this process."""
from __future__ import annotations

import zipfile

import cv2
import numpy as np
import pytest
from gradio_client import handle_file
from gradio_client.exceptions import AppError

from v2v.video import VideoWriter, open_video

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "assets" / "examples" / "street_scene_1"
TEST_MAX_FRAMES = 12  # conftest's test_limits


def _check_mp4(path, frames: int, size: tuple[int, int] | None = None):
    stream = open_video(path)
    assert stream.codec == "h264"
    assert stream.num_frames == frames
    if size is not None:
        assert stream.size == size
    return stream


def test_endpoints_are_named(client):
    names = set(client.view_api(return_format="dict", print_info=False)["named_endpoints"])
    assert {"/synthesize_street", "/reroll_style", "/extract_pose", "/transfer_motion"} <= names


def test_synthesize_street_example_with_relabel(client, app_models):
    video, report = client.predict("street_scene_1", None, None, "tree->building", 1, app_models["street"],
                                   api_name="/synthesize_street")
    _check_mp4(video, TEST_MAX_FRAMES, (256, 128))
    assert report["frames"] == TEST_MAX_FRAMES and report["edits"] == ["vegetation -> building (all frames)"]
    assert report["frames_per_s"] > 0


def test_synthesize_street_uploaded_zip(client, tmp_path):
    zpath = tmp_path / "labels.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        for f in sorted((EXAMPLE / "labels").glob("*.png"))[:5]:
            zf.write(f, f"seq/{f.name}")
    ipath = tmp_path / "inst.zip"
    with zipfile.ZipFile(ipath, "w") as zf:
        for f in sorted((EXAMPLE / "instances").glob("*.png"))[:5]:
            zf.write(f, f.name)
    video, report = client.predict("", handle_file(str(zpath)), handle_file(str(ipath)), "", 0, "",
                                   api_name="/synthesize_street")
    _check_mp4(video, 5)
    assert report["name"] == "labels"


def test_synthesize_street_from_a_colour_label_video(client):
    video, report = client.predict("", handle_file(str(EXAMPLE / "labels_color.mp4")), None, "car->truck", 0, "",
                                   api_name="/synthesize_street")
    _check_mp4(video, TEST_MAX_FRAMES, (256, 128))
    assert report["name"] == "labels_color"


def test_uploads_over_the_size_limit_are_refused(client, tmp_path):
    big = tmp_path / "big.zip"
    big.write_bytes(b"\0" * (9 * 2**20))  # the test server takes 8 MB
    with pytest.raises(Exception, match="exceeds the maximum file size"):
        client.predict("", handle_file(str(big)), None, "", 0, "", api_name="/synthesize_street")


def test_reroll_style_lists_objects_and_rerolls_one(client):
    _, first = client.predict("street_scene_2", None, None, "", 5, "", "", api_name="/reroll_style")
    objects = first["objects"]
    car = next(o for o in objects if o["class"] in ("car", "truck", "person"))
    video, report = client.predict("street_scene_2", None, None, "", 5, f"{car['id']}:99", "",
                                   api_name="/reroll_style")
    _check_mp4(video, TEST_MAX_FRAMES)
    assert report["rerolls"] == {str(car["id"]): 99}
    with pytest.raises(AppError, match="not in this video"):
        client.predict("street_scene_2", None, None, "", 5, "987654:1", "", api_name="/reroll_style")


def test_transfer_motion_procedural(client, app_models):
    video, sbs, report = client.predict(None, app_models["pose"], True, api_name="/transfer_motion")
    _check_mp4(video, TEST_MAX_FRAMES, (256, 256))
    _check_mp4(sbs, TEST_MAX_FRAMES, (512, 256))  # pose | result
    assert report["detected"] == TEST_MAX_FRAMES


@pytest.mark.realdata
def test_extract_pose_and_transfer_motion_on_a_real_clip(client, shared_data):
    clip = handle_file(str(shared_data / "driving" / "musepose_dance.mp4"))
    skeleton, report = client.predict(clip, "", api_name="/extract_pose")
    _check_mp4(skeleton, TEST_MAX_FRAMES, (256, 256))
    assert report["detected"] >= TEST_MAX_FRAMES - 1
    video, sbs, report = client.predict(clip, "", False, api_name="/transfer_motion")
    _check_mp4(video, TEST_MAX_FRAMES, (256, 256))
    stream = _check_mp4(sbs, TEST_MAX_FRAMES)
    assert stream.size[0] > 512  # driving | pose | result


def test_concurrent_clients_all_complete(app_url):
    from gradio_client import Client

    clients = [Client(app_url, verbose=False, analytics_enabled=False) for _ in range(3)]
    try:
        jobs = [c.submit(f"street_scene_{1 + k % 2}", None, None, "", k, "", api_name="/synthesize_street")
                for k, c in enumerate(clients)]
        results = [j.result(timeout=240) for j in jobs]
    finally:
        for c in clients:
            c.close()
    assert len({r[0] for r in results}) == 3
    for video, report in results:
        _check_mp4(video, TEST_MAX_FRAMES)
        assert not report["stopped"]


# ------------------------------------------------------------------------------------------------ bad input
def _write_video(path, frames, size, fps=25.0, color=None):
    rng = np.random.default_rng(0)
    with VideoWriter(path, fps, preset="ultrafast") as w:
        for _ in range(frames):
            frame = np.full((size[1], size[0], 3), color, np.uint8) if color is not None else \
                rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
            w.write(frame)
    return path


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("bad")
    files = {}
    files["empty"] = d / "empty.mp4"
    files["empty"].write_bytes(b"")
    files["text"] = d / "notes.mp4"
    files["text"].write_text("this is not a video\n" * 50)
    files["badzip"] = d / "labels_broken.zip"
    files["badzip"].write_text("this is not a zip\n" * 50)
    good = _write_video(d / "good.mp4", 30, (64, 64))
    data = good.read_bytes()
    files["truncated"] = d / "truncated.mp4"
    files["truncated"].write_bytes(data[: len(data) // 3])
    files["nobody"] = _write_video(d / "nobody.mp4", 8, (128, 128), color=(90, 120, 160))
    files["4k"] = _write_video(d / "4k.mp4", 2, (3840, 2160), color=(10, 10, 10))
    files["long"] = _write_video(d / "long.mp4", 610, (32, 32), fps=1.0, color=(0, 0, 0))
    bad = np.zeros((32, 64, 3), np.uint8)
    bad[:] = (1, 200, 77)
    files["colours"] = d / "labels.zip"
    with zipfile.ZipFile(files["colours"], "w") as zf:
        zf.writestr("a.png", cv2.imencode(".png", bad)[1].tobytes())
    return files


@pytest.mark.parametrize("name,match", [
    ("empty", "empty"),
    ("text", "not a readable video"),
    ("truncated", "truncated|damaged|not a readable video"),
    ("nobody", "no person"),
    ("4k", "3840x2160"),
    ("long", "610.0 s"),
])
def test_bad_dance_clips_give_clear_errors(client, bad_files, name, match, app_models):
    with pytest.raises(AppError, match=match):
        client.predict(handle_file(str(bad_files[name])), app_models["pose"], api_name="/extract_pose")


def test_bad_label_uploads_give_clear_errors_and_the_server_keeps_serving(client, bad_files):
    with pytest.raises(AppError, match="a.png is not a colourised label map"):
        client.predict("", handle_file(str(bad_files["colours"])), None, "", 0, "", api_name="/synthesize_street")
    with pytest.raises(AppError, match="notes.mp4 is not a readable video"):  # server paths are not shown
        client.predict("", handle_file(str(bad_files["text"])), None, "", 0, "", api_name="/synthesize_street")
    with pytest.raises(AppError, match="not a readable zip"):
        client.predict("", handle_file(str(bad_files["badzip"])), None, "", 0, "", api_name="/synthesize_street")
    with pytest.raises(AppError, match="unknown class"):
        client.predict("street_scene_1", None, None, "spaceship->car", 0, "", api_name="/synthesize_street")
    with pytest.raises(AppError, match="unknown street model"):
        client.predict("street_scene_1", None, None, "", 0, "no_such_model", api_name="/synthesize_street")
    video, _ = client.predict("street_scene_1", None, None, "", 0, "", api_name="/synthesize_street")
    _check_mp4(video, TEST_MAX_FRAMES)

"""The named API endpoints through gradio_client, against the app running in this process."""
from __future__ import annotations

import re
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
    video, sbs, report = client.predict(procedural=True, api_name="/transfer_motion")  # the default model
    _check_mp4(video, TEST_MAX_FRAMES, (256, 256))
    _check_mp4(sbs, TEST_MAX_FRAMES, (512, 256))  # pose | result
    assert report["detected"] == TEST_MAX_FRAMES
    assert report["pose_seconds"] >= 0 and report["seconds"] > 0  # the pose step's time is reported too


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


# ------------------------------------------------------------------------------------------------ input checks
def _api_dirs() -> set:
    from app import session

    return {p.name for p in session.root().iterdir() if p.name.startswith("api-")}


@pytest.mark.parametrize("seed,shown", [(1e30, "1e+30"), (-1, "-1"), (2**31, "2147483648")])
def test_out_of_range_seeds_are_refused_before_any_work(client, seed, shown):
    """A seed the report cannot hold used to run the whole job, then fail with gradio's generic error."""
    before = _api_dirs()
    with pytest.raises(AppError, match=rf"seed {re.escape(shown)} is not allowed: give a whole number from 0 to "
                                       "2147483647"):
        client.predict("street_scene_1", None, None, "", seed, "", api_name="/synthesize_street")
    assert _api_dirs() == before  # refused before a working folder was even made
    with pytest.raises(AppError, match="reroll '3:99999999999': the seed 99999999999 is not allowed"):
        client.predict("street_scene_1", None, None, "", 0, "3:99999999999", "", api_name="/reroll_style")
    assert _api_dirs() == before


def _call_over_http(app_url: str, api_name: str, data: list | str) -> str:
    """A call through gradio's plain HTTP API (what curl or a non-Python client sends): the event stream's text.
    (gradio_client would upload a FileData dict's path from the client's disk instead.) ``data`` as a string is
    sent as it is (JSON that Python's encoder would refuse, such as Infinity)."""
    import json

    import httpx

    body = '{"data": %s}' % (data if isinstance(data, str) else json.dumps(data))
    with httpx.Client(timeout=120) as http:
        r = http.post(f"{app_url}gradio_api/call/{api_name}", content=body,
                      headers={"Content-Type": "application/json"})
        r.raise_for_status()
        return http.get(f"{app_url}gradio_api/call/{api_name}/{r.json()['event_id']}").text


def test_a_path_that_was_never_uploaded_is_refused_clearly(app_url, capfd):
    """A FileData path on the server that no one uploaded: gradio refuses it before the handler runs; the caller
    gets a message that says what to do (not `error: null`), and the server log no traceback."""
    capfd.readouterr()
    fake = {"path": "/etc/passwd", "meta": {"_type": "gradio.FileData"}}
    stream = _call_over_http(app_url, "extract_pose", [fake, ""])
    assert "event: error" in stream and "the file passwd was not uploaded to this server" in stream, stream
    assert "handle_file(path)" in stream and "root:" not in stream
    stream = _call_over_http(app_url, "synthesize_street", ["", fake, None, "", 0, ""])
    assert "passwd was not uploaded" in stream, stream
    assert "Traceback" not in capfd.readouterr().err


def test_values_a_component_cannot_take_are_refused_clearly(app_url, capfd):
    """JSON from other clients can carry Infinity (gradio_client refuses to send it): gradio's Number cannot round
    it, before the handler runs; the caller gets a message naming the input, and the log no traceback."""
    capfd.readouterr()
    stream = _call_over_http(app_url, "synthesize_street", '["street_scene_1", null, null, "", Infinity, ""]')
    assert "event: error" in stream and "the value given for 'seed' cannot be used" in stream, stream
    assert "Traceback" not in capfd.readouterr().err


def test_relabel_format_errors_arrive_readable(client):
    """Messages are plain text: API clients must not get HTML entities ("vegetation-&gt;building")."""
    with pytest.raises(AppError) as err:
        client.predict("street_scene_1", None, None, "vegetation building", 0, "", api_name="/synthesize_street")
    assert "relabel 'vegetation building' must look like vegetation->building" in str(err.value)
    assert "&gt;" not in str(err.value)


def test_every_api_input_has_a_default(client, bad_files):
    """Empty means "the default" (the first model of its kind, the first example...), so inputs can be left out."""
    endpoints = client.view_api(return_format="dict", print_info=False)["named_endpoints"]
    for name in ("/synthesize_street", "/reroll_style", "/extract_pose", "/transfer_motion"):
        missing = [p["parameter_name"] for p in endpoints[name]["parameters"] if not p["parameter_has_default"]]
        assert not missing, f"{name}: {missing} have no default"
    # the clip alone: the call reaches the handler (which finds nobody in this clip)
    with pytest.raises(AppError, match="no person"):
        client.predict(handle_file(str(bad_files["nobody"])), api_name="/extract_pose")


def test_app_and_cli_make_the_same_video_for_the_same_edit(client, app_models, tmp_path):
    """One front door: the street tab's job and `v2v synthesize` with the same relabel and style seed give the same
    frames (both videos decoded; the same encoder on the same frames gives the same stream)."""
    from app.models import resolve
    from v2v.cli import main

    video, _ = client.predict("street_scene_1", None, None, "tree->building", 3, app_models["street"],
                              api_name="/synthesize_street")
    model = resolve("street", app_models["street"]).path
    cli_out = tmp_path / "cli.mp4"
    assert main(["synthesize", "--checkpoint", str(model), "--input", str(EXAMPLE), "--relabel", "vegetation=building",
                 "--style-seed", "3", "--frames", f"0:{TEST_MAX_FRAMES}", "--output", str(cli_out)]) == 0
    app_frames = np.stack(list(_check_mp4(video, TEST_MAX_FRAMES, (256, 128))))
    cli_frames = np.stack(list(_check_mp4(cli_out, TEST_MAX_FRAMES, (256, 128))))
    assert np.array_equal(app_frames, cli_frames)

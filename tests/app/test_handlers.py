"""Street tab handlers called directly (no server): load, scrub, relabel, click, undo; Stop; limits messages."""
from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace

import gradio as gr
import numpy as np
import pytest

from app import jobs, session
from app.limits import Limits
from app.street_tab import make_handlers, new_state, run_street
from app.uploads import load_example
from v2v.errors import UserError
from v2v.video import open_video

ROOT = Path(__file__).resolve().parents[2]
VEG, BUILDING, SKY = 21, 11, 23


@pytest.fixture(scope="module")
def handlers(app_models):
    return make_handlers(Limits(max_frames=6))


def test_load_scrub_relabel_click_undo(handlers, app_models):
    h = handlers
    out = h["on_load_example"]("street_scene_1", app_models["street"], new_state())
    state = out[0]
    vol = state["volume"]
    assert vol.num_frames == 24 and out[1].shape == (256, 512, 3)  # shown at 2x
    color, editor, pair = h["on_frame"](5, state)
    assert editor["background"].shape == color.shape and pair is None
    n_veg = int((vol.labels == VEG).sum())
    state, *_ = h["on_relabel"]("tree", "building", "all frames", 0, 0, 3, state)
    assert (state["volume"].labels == VEG).sum() == 0
    sky = state["volume"].labels[3] == SKY
    ys, xs = np.nonzero(sky)
    evt = SimpleNamespace(index=[int(xs[0]) * 2, int(ys[0]) * 2])  # click coordinates are display pixels
    state, *_ = h["on_click"]("vegetation", "this frame", 0, 0, 3, state, evt)
    after = state["volume"].labels[3]
    assert after[ys[0], xs[0]] == VEG and 0 <= (after == SKY).sum() < sky.sum() // 2
    assert (state["volume"].labels[2] == SKY).sum() > sky.sum() // 2  # other frames keep their sky
    assert len(state["volume"].ops) == 2
    state, *_ = h["on_undo"](3, state)
    state, *_ = h["on_undo"](3, state)
    assert (state["volume"].labels == VEG).sum() == n_veg
    with pytest.raises(gr.Error, match="nothing to undo"):
        h["on_undo"](3, state)
    with pytest.raises(gr.Error, match="no truck|there is no"):
        h["on_relabel"]("bus", "car", "all frames", 0, 0, 0, state)
    with pytest.raises(gr.Error, match="outside the video"):
        h["on_relabel"]("road", "car", "frame range", 10, 99, 0, state)
    with pytest.raises(gr.Error, match="load a street example"):
        h["on_relabel"]("road", "car", "all frames", 0, 0, 0, new_state())
    session.remove_dir(state["dir"])


def test_stop_keeps_the_frames_made_so_far(app_models):
    limits = Limits(max_frames=12)
    vol = load_example(ROOT / "assets" / "examples" / "street_scene_1", (256, 128), limits)
    work = session.new_dir()
    cancel = session.start_job("test-session")
    events = []
    for ev in run_street(vol, app_models["street"], work, "s", limits, cancel=cancel):
        events.append(ev)
        if ev["event"] == "frame" and ev["done"] == 3:
            assert session.stop_job("test-session")
    session.end_job("test-session", cancel)
    done = events[-1]
    assert done["stopped"] and 3 <= done["frames"] < 12 and "Stopped after" in done["status"]
    assert open_video(done["video"]).num_frames == done["frames"]
    assert not [p for p in work.iterdir() if p.name.startswith(".")]  # no temp files left behind
    assert not session.stop_job("test-session")  # the job is gone
    session.remove_dir(work)
    assert not work.exists()


def test_continue_the_scene_past_its_last_label_frame(app_models):
    """Street tab "Continue the scene": the volume's last label frames that fit the limit, then frames made from
    predicted label maps; the observed part is the video those label frames give alone."""
    from app.editing import LabelVolume
    from app.street_tab import check_future

    limits = Limits(max_frames=10)
    vol = load_example(ROOT / "assets" / "examples" / "street_scene_1", (256, 128), Limits())
    work = session.new_dir()
    try:
        done = list(run_street(vol, app_models["street"], work, "c", limits, future=4))[-1]
        assert done["frames"] == 10 and open_video(done["video"]).num_frames == 10
        assert done["first_frame"] == vol.num_frames - 6
        assert "the last 6 label frames" in done["status"] and "4 frames predicted" in done["status"]
        tail = LabelVolume(vol.labels[-6:], vol.instances[-6:], vol.fps, vol.name)
        alone = list(run_street(tail, app_models["street"], work, "t", limits))[-1]["frames_made"]
        np.testing.assert_array_equal(done["frames_made"][:6], alone)
        assert np.abs(done["frames_made"][6:].astype(int) - done["frames_made"][5].astype(int)).mean() > 0
    finally:
        session.remove_dir(work)
    for bad in (9, -1, 1.5, "many"):
        with pytest.raises(UserError, match="frames to continue"):
            check_future(bad, limits)
    one = LabelVolume(vol.labels[:1], vol.instances[:1], vol.fps, vol.name)
    work = session.new_dir()
    try:
        with pytest.raises(UserError, match="needs at least 2 input frames"):
            list(run_street(one, app_models["street"], work, "o", limits, future=3))
    finally:
        session.remove_dir(work)


def test_flow_and_mask_videos(app_models):
    limits = Limits(max_frames=4)
    vol = load_example(ROOT / "assets" / "examples" / "street_scene_2", (256, 128), limits)
    work = session.new_dir()
    done = list(run_street(vol, app_models["street"], work, "s", limits, extras=True))[-1]
    assert set(done["extras"]) == {"flow", "mask"}
    for path in (done["video"], *done["extras"].values()):
        assert open_video(path).num_frames == 4
    session.remove_dir(work)


def test_a_failing_job_leaves_no_video(app_models, tmp_path):
    class Broken:
        def frames(self, source, **kwargs):
            yield {"index": 0, "image": np.zeros((8, 8, 3), np.uint8)}
            raise ValueError("model exploded")

    with pytest.raises(ValueError, match="exploded"):
        list(jobs.synthesize(Broken(), None, tmp_path, "x", 10.0, 5))
    assert list(tmp_path.iterdir()) == []


def test_a_failed_upload_keeps_the_loaded_scene(handlers, app_models, tmp_path):
    """A bad upload must not replace the scene with Error badges: every loaded output is left as it is (gradio
    skips), and the message appears under the upload button (and as a warning toast)."""
    h = handlers
    state = h["on_load_example"]("street_scene_1", app_models["street"], new_state())[0]
    vol, folder = state["volume"], state["dir"]
    bad = tmp_path / "labels.zip"
    bad.write_text("this is not a zip\n" * 50)
    with pytest.warns(UserWarning, match="Upload not loaded: the label zip labels.zip is not a readable zip"):
        out = h["on_load_upload"](str(bad), None, app_models["street"], state)
    *loaded, message = out
    assert len(loaded) == 9 and all(v == gr.skip() for v in loaded)  # the scene, slider, info ... stay
    assert "not a readable zip" in message and "unchanged" in message
    assert state["volume"] is vol and Path(folder).is_dir()
    out = h["on_load_upload"](str(ROOT / "assets" / "examples" / "street_scene_2" / "labels_color.mp4"), None,
                              app_models["street"], state)
    assert out[0]["volume"].name == "labels_color" and out[-1] == ""  # a good upload clears the message
    session.remove_dir(out[0]["dir"])


def test_change_class_keeps_a_class_selected_after_edits(handlers, app_models):
    """After "vegetation -> building" the "Change class" dropdown must not go blank: gradio sends only what the
    returned component sets (its constructor_args), so the update names a value that is among its choices."""
    h = handlers
    state = h["on_load_example"]("street_scene_1", app_models["street"], new_state())[0]
    update = h["on_relabel"]("vegetation", "building", "all frames", 0, 0, 0, state)[-1].constructor_args
    assert "vegetation" not in update["choices"] and update.get("value") in update["choices"]
    update = h["on_relabel"]("sky", "vegetation", "this frame", 0, 0, 0, state)[-1].constructor_args
    assert update.get("value") == "sky"  # still in the other frames: the selection stays
    update = h["on_undo"](0, state, "sky")[-1].constructor_args
    assert update.get("value") == "sky" and "building" in update["choices"]
    session.remove_dir(state["dir"])


def test_procedural_dance_side_by_side_title_and_total_time(app_models):
    """The procedural dance has no driving clip: its side-by-side is titled "pose | result". When Generate extracts
    the pose first, the Done line counts that time too."""
    from app import motion_tab
    from app.examples import PROCEDURAL_DANCE

    h = motion_tab.make_handlers(Limits(max_frames=3))
    outs = list(h["on_generate"](PROCEDURAL_DANCE, None, app_models["pose"], None, None, progress=None))
    state, _, _, video, sbs, text = outs[-1]
    assert open_video(video).num_frames == 3
    assert sbs.constructor_args["label"] == "Side by side: pose | result"
    assert open_video(sbs.constructor_args["value"]).size == (512, 256)  # two panels
    m = re.search(r"Done: 3 frames in ([\d.]+) s .*Pose extraction took ([\d.]+) s before it: ([\d.]+) s in all",
                  text)
    assert m, text
    assert abs(float(m[1]) + float(m[2]) - float(m[3])) <= 0.11
    assert motion_tab.side_by_side_label(True) == "Side by side: driving | pose | result"
    outs = list(h["on_generate"](PROCEDURAL_DANCE, None, app_models["pose"], state, None, progress=None))
    assert "Pose extraction" not in outs[-1][-1]  # extracted before: nothing to add
    session.remove_dir(state["dir"])

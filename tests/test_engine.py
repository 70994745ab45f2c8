"""The inference engine: streaming, relabelling, edits, progress/cancel, inputs of every kind, atomic output."""
import threading
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
import torch

from synthetic import make_street_dataset, street_frames
from v2v.checkpoint import export_model
from v2v.dataset_format import DatasetWriter
from v2v.engine import Engine, open_input, resolve_relabel
from v2v.errors import UserError
from v2v.labels import CITYSCAPES, colorize
from v2v.nn.build import build_generators
from v2v.presets import model_preset
from v2v.video import VideoWriter

TINY = {"ngf": 8, "n_blocks": 1, "first_frame.ngf": 8, "first_frame.n_blocks": 1, "encoder.nef": 4}
SIZE = (64, 32)
VEGETATION, BUILDING, SKY = CITYSCAPES.id_of("vegetation"), CITYSCAPES.id_of("building"), CITYSCAPES.id_of("sky")


def tiny_model(folder: Path, preset: str = "street_256", meta=None, **extra) -> Path:
    torch.manual_seed(0)
    cfg = model_preset(preset, {**TINY, **extra})
    return export_model(folder, cfg, build_generators(cfg), meta=meta if meta is not None else {"size": list(SIZE)})


def label_folder(root: Path, frames: int = 5, ids=None) -> Path:
    (root / "labels").mkdir(parents=True)
    (root / "instances").mkdir()
    for t, (labels, inst, _) in enumerate(street_frames(frames, SIZE)):
        labels[: SIZE[1] // 4, : SIZE[0] // 2] = VEGETATION
        if ids is not None:
            labels[-4:, -4:] = ids
        cv2.imwrite(str(root / "labels" / f"{t:06d}.png"), labels)
        cv2.imwrite(str(root / "instances" / f"{t:06d}.png"), inst.astype(np.uint16))
    return root


@pytest.fixture(scope="module")
def street(tmp_path_factory):
    root = tmp_path_factory.mktemp("engine")
    return {"model": tiny_model(root / "model"), "labels": label_folder(root / "scene"), "root": root}


@pytest.fixture(scope="module")
def engine(street):
    return Engine.load(street["model"], precision="fp32")


def test_frames_stream_with_extras_after_the_first_frames(engine, street):
    clip = engine.open(street["labels"])
    assert clip.kind == "street" and clip.size == SIZE and clip.num_frames == 5
    frames = list(engine.frames(clip))
    assert [f["index"] for f in frames] == list(range(5))
    L = engine.config.n_past_frames
    for f in frames[:L]:
        assert set(f) == {"index", "image", "labels_color"}
    for f in frames[L:]:
        assert {"flow", "mask", "warped", "raw"} <= set(f)
        for key in ("image", "labels_color", "flow", "mask", "warped", "raw"):
            assert f[key].shape == (SIZE[1], SIZE[0], 3) and f[key].dtype == np.uint8


def test_memory_window_stays_bounded(engine, street, monkeypatch):
    made = []
    new_synthesizer = engine.new_synthesizer
    monkeypatch.setattr(engine, "new_synthesizer", lambda: made.append(new_synthesizer()) or made[-1])
    clip = engine.open(street["labels"])
    for _ in engine.frames(clip):
        s = made[0]
        assert len(s.frames) <= engine.config.n_past_frames + 1
        assert all(len(h) <= engine.config.n_past_frames for h in s.history)
    assert len(made) == 1


def test_one_engine_serves_concurrent_jobs(engine, street):
    """Two jobs iterating one Engine's frames at the same time, interleaved frame by frame from two threads,
    give exactly the frames each gives alone."""
    import threading

    edits = {"plain": None, "relabelled": {"vegetation": "building"}}

    def frames(name):
        return engine.frames(engine.open(street["labels"], frames="0:5"), relabel=edits[name])

    alone = {name: [f["image"] for f in frames(name)] for name in edits}
    together, turn = {}, threading.Barrier(2)

    def run(name):
        images = []
        for f in frames(name):
            images.append(f["image"])
            turn.wait(timeout=60)  # both jobs are mid-video at every frame
        together[name] = images

    threads = [threading.Thread(target=run, args=(name,)) for name in edits]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    for name in edits:
        assert len(together[name]) == 5
        for a, b in zip(together[name], alone[name]):
            np.testing.assert_array_equal(a, b)
    assert any((a != b).any() for a, b in zip(alone["plain"], alone["relabelled"]))  # the jobs really differ


def test_label_arrays_give_the_frames_of_the_same_maps_as_files(engine, street):
    """Engine.open_arrays (the app's path, no files) yields what the label folder of the same maps yields."""
    from v2v.labels import read_instance_png, read_label_png

    folder = street["labels"]
    labels = np.stack([read_label_png(f, CITYSCAPES) for f in sorted((folder / "labels").glob("*.png"))])
    instances = np.stack([read_instance_png(f) for f in sorted((folder / "instances").glob("*.png"))])
    from_files, from_arrays = engine.open(folder), engine.open_arrays(labels, instances, fps=17.0)
    assert from_arrays.size == from_files.size and from_arrays.num_frames == from_files.num_frames
    for a, b in zip(from_files, from_arrays):
        assert torch.equal(a["labels"], b["labels"]) and torch.equal(a["instances"], b["instances"])
    for a, b in zip(engine.frames(from_files), engine.frames(from_arrays)):
        np.testing.assert_array_equal(a["image"], b["image"])
    with pytest.raises(UserError, match="integer array shaped like the label maps"):
        engine.open_arrays(labels, instances[:, :4])
    with pytest.raises(UserError, match=r"label ids \[200\] are outside"):
        engine.open_arrays(np.full_like(labels, 200))
    with pytest.raises(UserError, match="non-empty"):
        engine.open_arrays(labels[:0])


def test_relabel_by_name_and_id(engine, street):
    assert resolve_relabel(CITYSCAPES, {"vegetation": "building", 7: "8"}) == {VEGETATION: BUILDING, 7: 8}
    with pytest.raises(UserError, match="unknown class 'forest'"):
        resolve_relabel(CITYSCAPES, {"forest": "building"})
    with pytest.raises(UserError, match="not in label set"):
        resolve_relabel(CITYSCAPES, {VEGETATION: 99})
    clip = engine.open(street["labels"])
    veg = np.array(CITYSCAPES.colors[VEGETATION], np.uint8)
    plain = next(iter(engine.frames(clip)))["labels_color"]
    assert (plain == veg).all(-1).any()
    for relabel in ({"vegetation": "building"}, {VEGETATION: BUILDING}):
        changed = next(iter(engine.frames(clip, relabel=relabel)))["labels_color"]
        assert not (changed == veg).all(-1).any()
        assert (changed[:4, :4] == np.array(CITYSCAPES.colors[BUILDING])).all()


def test_painted_edit_changes_one_frame(engine, street):
    clip = engine.open(street["labels"])
    edit = np.full((SIZE[1], SIZE[0]), -1, np.int64)
    edit[-6:, -6:] = SKY
    frames = list(engine.frames(clip, edits={1: edit}, extras=False))
    sky = np.array(CITYSCAPES.colors[SKY], np.uint8)
    assert (frames[1]["labels_color"][-6:, -6:] == sky).all()
    assert not (frames[2]["labels_color"][-6:, -6:] == sky).all()
    with pytest.raises(UserError, match="label edit of frame 0"):
        list(engine.frames(clip, edits={0: np.zeros((3, 3), np.int64)}))
    with pytest.raises(UserError, match="holds id 77"):
        list(engine.frames(clip, edits={0: np.full((SIZE[1], SIZE[0]), 77)}))


def test_progress_and_cancel_leave_nothing(engine, street, tmp_path):
    clip = engine.open(street["labels"])
    seen = []
    cancel = threading.Event()

    def progress(done, total):
        seen.append((done, total))
        if done == 2:
            cancel.set()

    out = tmp_path / "out.mp4"
    report = engine.synthesize(clip, out, save_extras=True, progress=progress, cancel=cancel)
    assert report["cancelled"] and report["output"] is None
    assert seen == [(1, 5), (2, 5)]
    assert list(tmp_path.iterdir()) == []


def test_synthesize_writes_h264_and_extras(engine, street, tmp_path):
    out = tmp_path / "sub" / "out.mp4"
    report = engine.synthesize(engine.open(street["labels"], frames="1:5"), out, save_extras=True)
    assert report["frames"] == 4 and report["output"] == str(out)
    assert set(report["extras"]) == {"flow", "mask", "warped"}
    for path in [out, *map(Path, report["extras"].values())]:
        with av.open(str(path)) as c:
            s = c.streams.video[0]
            assert s.codec_context.name == "h264"
            assert sum(1 for _ in c.decode(s)) == 4
    assert sorted(p.name for p in out.parent.iterdir()) == ["out.mp4", "out_flow.mp4", "out_mask.mp4",
                                                              "out_warped.mp4"]


def test_bad_label_ids_fail_before_output(engine, tmp_path):
    clip = engine.open(label_folder(tmp_path / "bad", 3, ids=200))
    with pytest.raises(UserError, match=r"label ids \[200\]"):
        engine.synthesize(clip, tmp_path / "out.mp4")
    assert not (tmp_path / "out.mp4").exists()
    assert not [p for p in tmp_path.iterdir() if p.suffix == ".mp4"]


def test_size_the_network_cannot_take_names_the_nearest(engine, street):
    with pytest.raises(UserError, match="nearest valid size: 64x32"):
        list(engine.frames(engine.open(street["labels"], size=(66, 30))))


def test_fast_layers_match_the_plain_networks(street):
    plain = Engine.load(street["model"], precision="fp32", fast=False)
    fast = Engine.load(street["model"], precision="fp32")
    assert fast.fast["one_hot_convs"] == 3 and not plain.fast
    clip = fast.open(street["labels"])
    for a, b in zip(plain.frames(clip), fast.frames(clip)):
        assert np.abs(a["image"].astype(int) - b["image"].astype(int)).max() <= 1


def test_bf16_engine_runs(street):
    e = Engine.load(street["model"], precision="bf16")
    frames = list(e.frames(e.open(street["labels"], frames="0:3")))
    assert len(frames) == 3 and frames[-1]["image"].std() > 0


def test_style_features_reach_the_generator(engine, street, monkeypatch):
    from v2v.pipeline import Synthesizer

    calls = []
    step = Synthesizer.step

    def spy(self, labels, instances=None, mask=None, features=None):
        calls.append(features)
        return step(self, labels, instances, mask, features)

    monkeypatch.setattr(Synthesizer, "step", spy)
    list(engine.frames(engine.open(street["labels"], frames="0:2")))
    style = pytest.importorskip("v2v.style")
    if hasattr(style, "StyleSampler"):
        assert all(f is not None and f.shape == (1, engine.config.feature_channels, SIZE[1], SIZE[0]) for f in calls)


# ------------------------------------------------------------------------------------------------------- inputs
def test_prepared_dataset_and_wrong_kind(tmp_path, engine):
    ds = make_street_dataset(tmp_path / "ds", frames=4, sequences=("a", "b"))
    clip = open_input(ds, "street", sequence="b", frames="1:3")
    items = list(clip)
    assert len(items) == 2 and items[0]["labels"].shape == (1, 32, 64) and items[0]["instances"].shape == (1, 32, 64)
    with pytest.raises(UserError, match="street dataset but the model is a pose model"):
        open_input(ds, "pose")
    pose_model = tiny_model(tmp_path / "pose", "dancer_256")
    with pytest.raises(UserError, match="pose model"):
        list(Engine.load(pose_model, precision="fp32").frames(engine.open(ds)))


def test_pose_dataset_input(tmp_path):
    with DatasetWriter(tmp_path / "pose_ds", "pose", size=SIZE, fps=25) as w:
        seq = w.sequence("clip")
        for t in range(3):
            m = np.zeros((SIZE[1], SIZE[0], 3), np.uint8)
            m[5:20, 10 + t: 14 + t] = (255, 0, 0)
            seq.add(t, labels=m)
    e = Engine.load(tiny_model(tmp_path / "pose", "dancer_256"), precision="fp32")
    clip = e.open(tmp_path / "pose_ds")
    assert clip.kind == "pose" and clip.fps == 25
    frames = list(e.frames(clip))
    assert len(frames) == 3 and (frames[0]["labels_color"][10, 10] == (255, 0, 0)).all()


def test_vid2vid_folder_finds_instances_and_colour_pngs_snap(tmp_path):
    root = tmp_path / "v2v"
    for sub in ("test_A/s1", "test_inst/s1"):
        (root / sub).mkdir(parents=True)
    for t, (labels, inst, _) in enumerate(street_frames(3, SIZE)):
        cv2.imwrite(str(root / "test_A/s1" / f"f{t}.png"), cv2.cvtColor(colorize(labels), cv2.COLOR_RGB2BGR))
        cv2.imwrite(str(root / "test_inst/s1" / f"f{t}.png"), np.where(inst > 0, inst, 255).astype(np.uint8))
    truth = [lab for lab, _, _ in street_frames(3, SIZE)]
    for path in (root, root / "test_A/s1"):
        items = list(open_input(path, "street"))
        assert len(items) == 3
        assert np.array_equal(items[2]["labels"][0].numpy(), truth[2])
        assert items[2]["instances"] is not None and set(items[2]["instances"].unique().tolist()) == {0, 1}


def test_colourised_label_video(tmp_path):
    frames = [lab for lab, _, _ in street_frames(4, (128, 64))]
    with VideoWriter(tmp_path / "labels.mp4", fps=10) as w:
        for lab in frames:
            w.write(colorize(lab))
    clip = open_input(tmp_path / "labels.mp4", "street", size=SIZE)
    items = list(clip)
    assert clip.fps == 10 and len(items) == 4 and items[0]["labels"].shape == (1, 32, 64)
    small = cv2.resize(frames[1], SIZE, interpolation=cv2.INTER_NEAREST)
    assert (items[1]["labels"][0].numpy() == small).mean() > 0.95


def test_a_photo_video_is_not_a_label_video(tmp_path):
    rng = np.random.default_rng(0)
    with VideoWriter(tmp_path / "photo.mp4", fps=10) as w:
        for _ in range(2):
            w.write(rng.integers(0, 256, (32, 64, 3), dtype=np.uint8))
    with pytest.raises(UserError, match="not a colourised label map"):
        list(open_input(tmp_path / "photo.mp4", "street"))


def test_missing_and_unsupported_inputs(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        open_input(tmp_path / "nope", "street")
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(UserError, match="not a video"):
        open_input(tmp_path / "notes.txt", "pose")


@pytest.mark.realdata
def test_pose_video_two_pass_with_normalisation(shared_data, tmp_path):
    e = Engine.load(tiny_model(tmp_path / "pose", "dancer_256", meta={"size": [64, 64]}), precision="fp32")
    stats = {"far": 400.0, "close": 420.0, "height_far": 300.0, "height_close": 310.0, "height_median": 305.0,
             "ankle_median": 410.0, "center_x": 256.0, "frame": [512, 512]}
    analysed = []
    clip = e.open(shared_data / "dancer" / "dancer.avi", frames="0:4", normalize_stats=stats,
                  progress=lambda d, t: analysed.append(d))
    frames = list(e.frames(clip))
    assert analysed == [1, 2, 3, 4] and len(frames) == 4
    skeleton = frames[0]["labels_color"]
    assert skeleton.shape == (64, 64, 3) and skeleton.max() > 0
    ys = np.nonzero(skeleton.max(-1))[0]
    assert 0.45 * 64 < ys.max() < 0.95 * 64  # feet near the target's ankle line (410/512 of the height)


@pytest.mark.realdata
def test_face_frame_folder(shared_data, tmp_path):
    e = Engine.load(tiny_model(tmp_path / "face", "dancer_256", label_set="face", meta={"size": [64, 64]}),
                    precision="fp32")
    assert e.kind == "face"
    frames = list(e.frames(e.open(shared_data / "face_vid2vid_example" / "test_img" / "0001", frames="0:3")))
    assert len(frames) == 3 and frames[0]["labels_color"].max() == 255


def test_bench_stream_reports_speed_and_flat_memory(capsys):
    import argparse
    import json

    from v2v.bench import stream

    args = argparse.Namespace(frames=12, preset="street_256", size="64x32", precision="bf16", no_fast=False,
                              output=None, threads=0, seed=0, json=True)
    assert stream.run(args) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["frames"] == 12 and result["frames_per_s"] > 0 and result["peak_rss_mb"] > 0
    assert result["rss_growth_mb"] < 50

"""Future label-map prediction (v2v.predict): the methods, ``v2v predict``, ``synthesize --future`` and the bench."""
import argparse
import json

import av
import cv2
import numpy as np
import pytest

from test_synthesize_cli import run as synthesize, setup  # noqa: F401 (setup: the CLI tests' tiny model fixture)
from v2v.cli import main
from v2v.errors import UserError
from v2v.inputs.clip import open_input
from v2v.predict import METHODS, predict_labels
from v2v.predict.score import label_scores

ROAD, SKY, BUILDING, PERSON, CAR = 7, 23, 11, 24, 26


def moving_boxes(frames: int, size=(128, 64), speed=2, scale=1):
    """Label and instance maps: sky, building, road; a car (instance 3) driving right at ``speed`` px/frame and a
    person (instance 9) walking left at half that speed. ``scale`` multiplies sizes, positions and speeds."""
    w, h = size[0] * scale, size[1] * scale
    labels, instances = [], []
    for t in range(frames):
        lab = np.full((h, w), ROAD, np.uint8)
        lab[: h // 4] = SKY
        lab[h // 4: h // 2] = BUILDING
        inst = np.zeros((h, w), np.int32)
        x = (10 + speed * t) * scale
        lab[24 * scale: 40 * scale, x: x + 24 * scale], inst[24 * scale: 40 * scale, x: x + 24 * scale] = CAR, 3
        x = (100 - speed * t // 2) * scale
        lab[40 * scale: 56 * scale, x: x + 8 * scale], inst[40 * scale: 56 * scale, x: x + 8 * scale] = PERSON, 9
        labels.append(lab)
        instances.append(inst)
    return labels, instances


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max((a | b).sum(), 1))


def test_flow_predicts_a_moving_car_far_better_than_copy():
    labels, instances = moving_boxes(9)
    scores = {}
    for method in ("copy", "flow"):
        pred, _ = predict_labels(labels[:4], instances[:4], 5, method)
        assert len(pred) == 5
        scores[method] = iou(pred[4] == CAR, labels[8] == CAR)  # +5: the car moved 10 px
    assert scores["flow"] > 0.9 and scores["copy"] < 0.5, scores


def test_ids_are_never_blended_and_instances_follow_their_objects():
    labels, instances = moving_boxes(9)
    pred, pred_inst = predict_labels(labels[:4], instances[:4], 5, "flow")
    for lab, inst in zip(pred, pred_inst):
        assert lab.dtype == np.uint8 and set(np.unique(lab)) <= {ROAD, SKY, BUILDING, PERSON, CAR}
        assert set(np.unique(inst)) <= {0, 3, 9}
        assert np.all((inst == 3) == (lab == CAR)) and np.all((inst == 9) == (lab == PERSON))
    assert iou(pred_inst[4] == 3, instances[8] == 3) > 0.9  # right, 10 px
    assert iou(pred_inst[4] == 9, instances[8] == 9) > 0.8  # left, 5 px
    uncovered = (instances[3] == 3) & (instances[8] != 3)  # where the car was: road again, not a smeared car
    assert (pred[4][uncovered & (labels[8] == ROAD)] == ROAD).mean() > 0.95


def test_large_frames_use_a_working_size_and_move_as_far():
    labels, _ = moving_boxes(6, speed=2, scale=16)  # 2048x1024, the car drives 32 px a frame
    pred, inst = predict_labels(labels[:4], None, 2, "flow")
    assert inst is None and pred[1].shape == (1024, 2048)
    assert iou(pred[1] == CAR, labels[5] == CAR) > 0.9


def test_pushed_pixels_occlude_by_priority_and_only_the_background_fills_what_they_uncover():
    from v2v.predict.splat import EMPTY, fill_holes, forward_splat

    ids = np.ones((3, 12), np.int64)
    ids[:, 2:8] = 2  # an object, six pixels wide, on a background
    priority = np.where(ids == 2, 10, 1)
    displacement = np.zeros((3, 12, 2), np.float32)
    displacement[ids == 2, 0] = 3  # the object moves 3 px right, over the background
    source = forward_splat(displacement, priority)
    assert (source[:, 2:5] == EMPTY).all() and (source[:, :2] != EMPTY).all() and (source[:, 5:] != EMPTY).all()
    assert (ids.ravel()[source[:, 5:11]] == 2).all()  # in front of the background it covers
    row = [1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 1]
    assert ids.ravel()[fill_holes(source, priority, grows=ids == 1)].tolist() == [row] * 3
    grown = ids.ravel()[fill_holes(source, priority)]  # unbarred, the object grows back from its edge
    assert (grown[:, 4] == 2).all()


def test_bad_requests_say_what_is_wrong():
    labels, instances = moving_boxes(3)
    with pytest.raises(UserError, match="at least 1, got 0"):
        predict_labels(labels, None, 0)
    with pytest.raises(UserError, match="unknown prediction method 'magic'; choose one of copy, flow"):
        predict_labels(labels, None, 2, "magic")
    with pytest.raises(UserError, match="'flow' needs at least 2 observed frames, got 1"):
        predict_labels(labels[:1], None, 2, "flow")
    with pytest.raises(UserError, match=r"label ids \[40\] are outside label set"):
        predict_labels([labels[0], np.full_like(labels[0], 40)], None, 2)
    with pytest.raises(UserError, match="2 instance maps for 3 label maps"):
        predict_labels(labels, instances[:2], 2)
    assert predict_labels(labels[:1], None, 2, "copy")[0][1].tolist() == labels[0].tolist()
    assert set(METHODS) >= {"copy", "flow"}


def test_label_scores_use_the_19_classes_and_ignore_void():
    real = np.full((4, 4), ROAD, np.uint8)
    real[0] = 0  # unlabeled: ignored
    pred = real.copy()
    pred[0] = CAR  # wrong only where the truth is void
    assert label_scores(pred, real) == {"miou": 1.0, "pixel_accuracy": 1.0}
    pred[1, :2] = CAR  # 2 of 12 road pixels called car: road 10/12, car 0/2
    assert label_scores(pred, real)["miou"] == pytest.approx((10 / 12 + 0) / 2)


# ---------------------------------------------------------------------------------------------- command line
def scene_folder(root, frames=5):
    labels, instances = moving_boxes(frames)
    (root / "labels").mkdir(parents=True)
    (root / "instances").mkdir()
    for t, (lab, inst) in enumerate(zip(labels, instances)):
        cv2.imwrite(str(root / "labels" / f"{t:06d}.png"), lab)
        cv2.imwrite(str(root / "instances" / f"{t:06d}.png"), inst.astype(np.uint16))
    return root


def test_predict_cli_writes_frames_that_synthesize_reads(tmp_path, capsys):
    scene = scene_folder(tmp_path / "scene")
    assert main(["predict", "--input", str(scene), "--future", "3", "--out", str(tmp_path / "p"), "--fps", "10"]) == 0
    assert "frames 000005-000007 predicted from 5 observed frames (flow)" in capsys.readouterr().out
    out = tmp_path / "p"
    assert sorted(p.name for p in (out / "labels").iterdir()) == ["000005.png", "000006.png", "000007.png"]
    assert sorted(p.name for p in (out / "instances").iterdir()) == ["000005.png", "000006.png", "000007.png"]
    assert cv2.imread(str(out / "instances" / "000007.png"), cv2.IMREAD_UNCHANGED).dtype == np.uint16
    meta = json.loads((out / "prediction.json").read_text())
    assert meta["method"] == "flow" and meta["observed"] == 5 and meta["predicted"] == 3 and meta["fps"] == 10
    clip = open_input(out, "street")
    frames = list(clip)
    assert clip.num_frames == 3 and len(frames) == 3 and clip.size == (128, 64) and clip.fps == 10
    assert set(np.unique(frames[2]["instances"])) == {0, 3, 9}
    with av.open(str(out / "labels_color.mp4")) as c:
        assert sum(1 for _ in c.decode(video=0)) == 3

    assert main(["predict", "--input", str(scene), "--future", "2", "--out", str(tmp_path / "all"),
                 "--include-input", "--method", "copy", "--size", "64x32", "--no-preview"]) == 0
    clip = open_input(tmp_path / "all", "street")
    assert clip.num_frames == 7 and clip.size == (64, 32)
    assert not (tmp_path / "all" / "labels_color.mp4").exists()


@pytest.mark.parametrize("extra, message", [
    (["--future", "0"], "at least 1, got 0"),
    (["--future", "2", "--method", "magic"], "unknown prediction method 'magic'"),
])
def test_predict_cli_bad_options_exit_2_and_write_nothing(tmp_path, capsys, extra, message):
    scene = scene_folder(tmp_path / "scene")
    assert main(["predict", "--input", str(scene), "--out", str(tmp_path / "p"), *extra]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scene"]


def test_predict_cli_needs_two_frames_for_flow(tmp_path, capsys):
    scene = scene_folder(tmp_path / "scene", frames=1)
    assert main(["predict", "--input", str(scene), "--out", str(tmp_path / "p"), "--future", "2"]) == 2
    assert "needs at least 2 observed frames, got 1" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scene"]


# ------------------------------------------------------------------------------------------------ synthesis
def test_with_future_continues_a_clip_without_instances():
    import torch

    from v2v.inputs.clip import InputClip
    from v2v.predict.clip import with_future

    labels, _ = moving_boxes(4)

    def reader():
        for lab in labels:
            yield {"labels": torch.from_numpy(lab.astype(np.int64)).unsqueeze(0), "instances": None, "mask": None}

    clip = with_future(InputClip("street", (128, 64), 17.0, 4, "boxes", reader), 3, "flow")
    items = list(clip)
    assert clip.num_frames == 7 and [i["index"] for i in items] == list(range(7))
    assert all(i["instances"] is None and i["labels"].shape == (1, 64, 128) for i in items)
    assert torch.equal(items[3]["labels"], torch.from_numpy(labels[3].astype(np.int64)).unsqueeze(0))
    car = items[6]["labels"][0].numpy() == CAR  # 3 frames on: 6 px further right
    assert car[30, 10 + 2 * 3 + 6: 10 + 2 * 3 + 30].all() and not car[30, : 10 + 2 * 3 + 5].any()


def test_synthesize_future_appends_predicted_frames(setup, tmp_path, capsys):
    out = tmp_path / "out.mp4"
    assert synthesize(setup, out, "--future", "3", "--json") == 0
    report = json.loads(capsys.readouterr().out)
    assert report["frames"] == 8 and report["predicted"] == {"frames": 3, "method": "flow"}
    with av.open(str(out)) as c:
        assert sum(1 for _ in c.decode(video=0)) == 5 + 3


@pytest.mark.parametrize("extra, message", [
    (["--future", "0"], "at least 1, got 0"),
    (["--future", "2", "--future-method", "magic"], "unknown prediction method 'magic'"),
    (["--future-method", "copy"], "--future-method goes with --future N"),
    (["--future", "2", "--frames", "0:1"], "'flow' needs at least 2 input frames, the input has 1"),
])
def test_synthesize_future_bad_options(setup, tmp_path, capsys, extra, message):
    assert synthesize(setup, tmp_path / "out.mp4", *extra) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------------------------------- bench
def test_bench_predict_scores_flow_above_copy_on_a_moving_car(tmp_path, capsys):
    from synthetic import make_street_dataset
    from v2v.bench import predict as bench

    ds = make_street_dataset(tmp_path / "ds", frames=10, size=(128, 64))
    parser = argparse.ArgumentParser()
    bench.register(parser.add_subparsers())
    args = parser.parse_args(["predict", "--dataset", str(ds), "--context", "3", "--horizons", "1", "4", "--json"])
    assert args.run(args) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["start_points"] == 10 - 4 - 2 and result["horizons"] == [1, 4]
    from v2v.learned_predictor import available

    methods = {"copy", "flow"} | ({"learned"} if available() else set())  # learned once a predictor is installed
    for key in ("miou", "miou_accumulated", "pixel_accuracy"):
        assert set(result[key]) == methods
    assert result["miou"]["flow"]["4"] > result["miou"]["copy"]["4"] + 0.05

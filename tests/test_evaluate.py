import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from synthetic import make_street_dataset  # noqa: E402

from v2v.checkpoint import export_model  # noqa: E402
from v2v.nn.build import build_generators  # noqa: E402
from v2v.presets import model_preset  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TINY = {"ngf": 8, "n_blocks": 1, "first_frame.ngf": 8, "first_frame.n_blocks": 1, "encoder.nef": 4}


def test_evaluate_cli_scores_a_model(tmp_path):
    ds = make_street_dataset(tmp_path / "ds", frames=5)
    cfg = model_preset("street_256", TINY)
    export_model(tmp_path / "m", cfg, build_generators(cfg))
    out = tmp_path / "scores.json"
    r = subprocess.run([sys.executable, "-m", "v2v", "evaluate", "--checkpoint", str(tmp_path / "m"), "--dataset",
                        str(ds), "--json", str(out), "--no-kid"], cwd=ROOT, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    assert "evaluating at 64x32 (the dataset's size; the model does not record its training size)" in r.stdout
    mean = json.loads(out.read_text())["mean"]
    assert {"warp_error", "warp_error_real", "psnr", "ssim", "sharpness", "sharpness_real", "motion",
            "motion_real", "motion_ratio"} <= set(mean)
    assert not any(k.startswith("kid") for k in mean)  # --no-kid
    assert mean["warp_error_real"] < mean["warp_error"]  # an untrained model flickers more than the real video
    assert 0 < mean["psnr"] < 30


def test_evaluate_rejects_wrong_label_set(tmp_path):
    ds = make_street_dataset(tmp_path / "ds", frames=3)
    cfg = model_preset("dancer_256", TINY)
    export_model(tmp_path / "m", cfg, build_generators(cfg))
    r = subprocess.run([sys.executable, "-m", "v2v", "evaluate", "--checkpoint", str(tmp_path / "m"), "--dataset",
                        str(ds)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and "label set 'cityscapes'" in r.stderr


@pytest.mark.realdata
def test_pose_pck_of_real_frames_is_high(shared_data, tmp_path):
    from v2v.dataset_format import open_dataset
    from v2v.evaluate import pose_pck
    from v2v.inputs.pose import prepare_pose

    prepare_pose(shared_data / "dancer" / "dancer.avi", tmp_path / "ds", (256, 256), frames=(1300, 1310))
    index = open_dataset(tmp_path / "ds")
    seq = index.sequences[0]
    frames = [index.load_frame(seq, i) for i in range(seq.num_frames)]
    score = pose_pck([f["image"] for f in frames], [f["keypoints"] for f in frames])
    assert score["pck"] > 0.9 and score["pck_joints"] > 50


# ----------------------------------------------------------------------------------------------------- motion


def test_motion_ratio_is_0_for_a_frozen_video_and_1_for_the_real_one():
    from v2v.evaluate import motion_scores, video_scores

    rng = np.random.default_rng(0)
    reals = [rng.integers(0, 256, (16, 24, 3), dtype=np.uint8) for _ in range(4)]
    frozen = [reals[0]] * 4
    assert motion_scores(frozen, reals)["motion"] == 0 and motion_scores(frozen, reals)["motion_ratio"] == 0
    same = video_scores(reals, reals)
    assert same["motion_ratio"] == 1 and same["motion"] == same["motion_real"] > 50  # ~85 for uniform noise
    flat = [np.full((16, 24, 3), v, np.uint8) for v in (10, 20, 40)]  # grey steps of 10 and 20
    assert motion_scores(flat, flat)["motion"] == pytest.approx(15, abs=1e-4)
    assert np.isnan(motion_scores(frozen, frozen)["motion_ratio"])  # a still real video: no ratio


# ------------------------------------------------------------------------------------------------------- pose


def standing_body(x: float = 100.0) -> np.ndarray:
    """A (33, 3) MediaPipe body, all joints visible, torso size 80 px, arms hanging, standing at ``x``."""
    body = np.zeros((33, 3))
    body[:, 2] = 1.0
    body[:, :2] = (x + 10, 120)  # unscored landmarks: anywhere
    joints = {0: (10, 100), 11: (-5, 120), 12: (25, 120), 13: (-10, 150), 14: (30, 150), 15: (-12, 180),
              16: (32, 180), 23: (0, 200), 24: (20, 200), 25: (0, 250), 26: (20, 250), 27: (0, 300), 28: (20, 300)}
    for j, (dx, y) in joints.items():
        body[j, :2] = (x + dx, y)
    return body


def waving(frames: int = 6) -> list[np.ndarray]:
    """The standing body raising its right arm (elbow 14, wrist 16) over ``frames`` frames."""
    out = []
    for t in range(frames):
        body = standing_body()
        lift = t / (frames - 1)  # 0 .. 1
        body[14, 1] = 150 - 50 * lift  # aligned move 50 * lift / 80 torso sizes: over 0.3 from frame 3 on
        body[16, 1] = 180 - 150 * lift  # 150 * lift / 80: over 0.3 from frame 1 on
        out.append(body)
    return out


def as_keypoints(bodies: list[np.ndarray]) -> list[dict]:
    return [{"width": 256, "height": 320, "body": b.tolist()} for b in bodies]


def test_pck_on_moving_joints_is_0_for_a_frozen_video_and_1_for_the_real_one():
    from v2v.evaluate import pose_scores

    driving = waving()
    real = pose_scores(driving, as_keypoints(driving))
    frozen = pose_scores([driving[0]] * len(driving), as_keypoints(driving))
    assert real["pck"] == 1 and real["pck_moving"] == 1 and real["detected"] == 1
    assert frozen["pck_moving"] == 0 and frozen["pck_moving_joints"] == real["pck_moving_joints"] > 0
    assert frozen["pck"] > 0.8  # the plain PCK hardly notices the frozen video: only the arm moved
    # only the raised arm's joints, and only in frames where it is over 0.3 torso sizes (24 px) from the start
    assert real["pck_moving_joints"] == 8  # wrist in frames 1-5, elbow in frames 3-5


def test_moving_joints_are_torso_aligned_and_frames_without_a_person_score_0():
    from v2v.evaluate import moving_joints, pose_scores

    walking = [standing_body(100 + 30 * t) for t in range(5)]  # the whole body moves, no joint articulates
    assert moving_joints(walking) == [[]] * 5
    zoom = [b.copy() for b in waving()]
    for t, b in enumerate(zoom):  # the camera zooms in: scaled about the origin, still the same articulation
        b[:, :2] *= 1 + 0.2 * t
    assert moving_joints(zoom) == moving_joints(waving())
    driving = waving()
    found = [driving[0], None, None, driving[3], driving[4], driving[5]]
    scores = pose_scores(found, as_keypoints(driving))
    assert scores["detected"] == pytest.approx(4 / 6)
    assert scores["pck_moving"] == pytest.approx(6 / 8)  # frames 1-2 (one moving wrist each) found nobody
    assert np.isnan(pose_scores(walking, as_keypoints(walking))["pck_moving"])  # nothing moved: no score


# ------------------------------------------------------------------------------------------------------- size


def test_evaluation_size_follows_the_model_and_says_so(tmp_path):
    from v2v.dataset_format import open_dataset
    from v2v.errors import UserError
    from v2v.evaluate import evaluation_size, resize_frame

    index = open_dataset(make_street_dataset(tmp_path / "ds", frames=2, size=(128, 64)))
    size, notes, warnings = evaluation_size((64, 32), index, multiple=16)
    assert size == (64, 32) and "evaluating at 64x32 (the model's training size)" in notes[0]
    assert "128x64" in notes[0] and "prepared dataset at 128x64" in warnings[0]
    assert evaluation_size(None, index)[:2] == ((128, 64), [notes[0].split(" (")[0].replace("64x32", "128x64")
                                                             + " (the dataset's size; the model does not record "
                                                               "its training size)"])
    assert evaluation_size((128, 64), index)[2] == []  # same size: nothing to warn about
    assert "stretched" in evaluation_size((64, 64), index, multiple=16)[2][-1]
    with pytest.raises(UserError, match="not a multiple of 16"):
        evaluation_size((72, 32), index, multiple=16)
    frame = resize_frame(index.load_frame(index.sequences[0], 0), (64, 32), label_ids=True)
    assert frame["labels"].shape == (32, 64) and frame["image"].shape == (32, 64, 3)
    assert set(np.unique(frame["labels"])) <= set(np.unique(index.load_frame(index.sequences[0], 0)["labels"]))


def test_scale_keypoints_moves_points_with_the_frame():
    from v2v.evaluate import scale_keypoints

    kp = {"width": 200, "height": 100, "body": [[100.0, 50.0, 0.9]], "face": None}
    out = scale_keypoints(kp, 0.5, 2.0)
    assert out == {"width": 100, "height": 200, "body": [[50.0, 100.0, 0.9]], "face": None}


@pytest.mark.parametrize("bias, expected", [(-20.0, 0.0), (20.0, 1.0)])
def test_generator_diagnostics_show_whether_frames_are_warped_or_drawn(tmp_path, bias, expected):
    import torch

    from v2v.dataset_format import open_dataset
    from v2v.evaluate import synthesize_sequence
    ds = make_street_dataset(tmp_path / "ds", frames=5)
    cfg = model_preset("street_256", {**TINY, "flow_prior": "none"})
    nets = build_generators(cfg).eval()
    scale = nets["generator"].scales[0]
    with torch.no_grad():
        scale.mask_out.conv.bias.fill_(bias)  # sigmoid(-20) ~ 0: copy the warped previous frame; (20): draw anew
        scale.flow_out.conv.weight.zero_()
        scale.flow_out.conv.bias.copy_(torch.tensor([0.15, 0.0]))  # x 20 px (flow_multiplier) = 3 px to the right
    index = open_dataset(ds)
    out = synthesize_sequence(cfg, nets, index, index.sequences[0].name)
    assert out["generator"]["mask_mean"] == pytest.approx(expected, abs=1e-3)
    assert out["generator"]["flow_px"] == pytest.approx(3.0, abs=1e-3)


def test_part_scores_measure_detail_in_the_head_and_hand_squares_only():
    import cv2
    from v2v.evaluate import part_scores

    rng = np.random.default_rng(0)
    real = rng.integers(0, 256, (256, 256, 3), dtype=np.uint8)
    smooth_head = real.copy()
    smooth_head[100:140, 100:140] = cv2.GaussianBlur(real, (9, 9), 3)[100:140, 100:140]
    body = np.zeros((33, 3))
    body[:11] = (120, 120, 1.0)  # head at (120, 120), the rest invisible
    body[15] = (10, 250, 1.0)  # a left wrist at the corner: its square is shifted inside the frame
    keypoints = [{"width": 256, "height": 256, "body": body.tolist()}, None]
    scores = part_scores([smooth_head, smooth_head], [real, real], keypoints)
    assert scores["face_squares"] == 1 and scores["hands_squares"] == 1  # the frame without keypoints: no square
    assert scores["face_sharpness"] < 0.2 * scores["face_sharpness_real"] and scores["face_ssim"] < 0.5
    assert scores["hands_sharpness"] == scores["hands_sharpness_real"] and scores["hands_ssim"] == pytest.approx(1)
    none = part_scores([real], [real], [None])
    assert none["face_squares"] == 0 and np.isnan(none["face_sharpness"])

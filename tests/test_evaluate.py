import json
import subprocess
import sys
from pathlib import Path

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
                        str(ds), "--json", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    mean = json.loads(out.read_text())["mean"]
    assert {"warp_error", "warp_error_real", "psnr", "ssim", "sharpness", "sharpness_real"} <= set(mean)
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

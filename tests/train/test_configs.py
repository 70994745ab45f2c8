"""Every shipped training config loads, validates, and builds its model configuration."""
from pathlib import Path

import pytest

from train.config import load_config
from train import schedule

CONFIGS = sorted((Path(__file__).resolve().parents[2] / "train" / "configs").glob("*.yaml"))


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_config_loads(path):
    cfg = load_config(path, ["data.root=somewhere"] if "tiny" in path.stem else [])
    assert cfg.model_config().n_scales >= 1


def test_paper_and_demo_configs_exist():
    names = {p.stem for p in CONFIGS}
    assert {"label2city_1024", "label2city_2048", "pose_512", "face_512", "street_256", "dancer_256"} <= names


def test_progressive_schedule():
    cfg = load_config(CONFIGS[0].parent / "label2city_1024.yaml")
    s = cfg.schedule
    assert schedule.num_frames(s, 0) == 4 and schedule.num_frames(s, s.n_frames_double_every) == 8
    assert schedule.num_frames(s, 10 ** 9) == s.n_frames_max
    assert schedule.active_scales(s, 0, 3) == 1 and schedule.active_scales(s, s.scale_every, 3) == 2
    assert schedule.frozen_scales(s, s.scale_every, 3) == 1  # the new scale trains alone first
    assert schedule.frozen_scales(s, s.scale_every + s.new_scale_only, 3) == 0
    assert schedule.lr_factor(s, 0, 100) == 1.0 and schedule.lr_factor(s, 75, 100) == 0.5
    assert schedule.lr_factor(s, 100, 100) == 0.0

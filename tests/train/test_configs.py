"""Every shipped training config loads, validates, and builds its model configuration."""
from pathlib import Path

import pytest

from train.config import load_config
from v2v.config import ConfigError
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


def test_ablation_config_is_its_base_with_the_changed_keys():
    street = load_config(CONFIGS[0].parent / "street_256.yaml")
    noflow = load_config(CONFIGS[0].parent / "street_256_noflow.yaml")
    assert street.model_config().use_flow and not noflow.model_config().use_flow
    assert noflow.loss == street.loss and noflow.schedule == street.schedule and noflow.data == street.data
    assert noflow.out_dir != street.out_dir


def test_base_configs_merge_and_report_missing_or_cyclic_bases(tmp_path):
    (tmp_path / "a.yaml").write_text("data: {root: somewhere}\nmax_steps: 7\nschedule: {n_frames_max: 6, n_frames_start: 3}\n")
    (tmp_path / "b.yaml").write_text("base: a.yaml\nschedule: {n_frames_max: 4}\n")
    cfg = load_config(tmp_path / "b.yaml", ["schedule.n_frames_start=2"])
    assert (cfg.max_steps, cfg.schedule.n_frames_max, cfg.schedule.n_frames_start) == (7, 4, 2)
    (tmp_path / "c.yaml").write_text("base: gone.yaml\n")
    with pytest.raises(ConfigError, match="gone.yaml .the base of .*c.yaml. not found"):
        load_config(tmp_path / "c.yaml")
    (tmp_path / "d.yaml").write_text("base: e.yaml\n")
    (tmp_path / "e.yaml").write_text("base: d.yaml\n")
    with pytest.raises(ConfigError, match="names itself as its base"):
        load_config(tmp_path / "d.yaml")
    (tmp_path / "f.yaml").write_text("base: [a.yaml]\n")
    with pytest.raises(ConfigError, match="base must be the path"):
        load_config(tmp_path / "f.yaml")


def test_zoom_is_a_range_and_needs_a_crop():
    tiny = CONFIGS[0].parent / "tiny_test.yaml"
    cfg = load_config(tiny, ["data.root=somewhere", "data.crop=[64,32]", "data.zoom=[0.4,0.6]"])
    assert cfg.data.zoom == (0.4, 0.6)
    with pytest.raises(ConfigError, match="data.zoom needs data.crop"):
        load_config(tiny, ["data.root=somewhere", "data.zoom=[0.4,0.6]"])
    with pytest.raises(ConfigError, match="0 < min <= max"):
        load_config(tiny, ["data.root=somewhere", "data.crop=[64,32]", "data.zoom=[0.6,0.4]"])


def test_layout_mix_is_a_probability():
    tiny = CONFIGS[0].parent / "tiny_test.yaml"
    assert load_config(tiny, ["data.root=somewhere", "data.layout_mix=0.5"]).data.layout_mix == 0.5
    with pytest.raises(ConfigError, match="data.layout_mix is a probability"):
        load_config(tiny, ["data.root=somewhere", "data.layout_mix=1.5"])

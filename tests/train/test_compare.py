"""python -m train.compare: arms trained for one budget, scored alike, one table."""
import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from synthetic import make_street_dataset  # noqa: E402

from train.compare import main, parse_arms, table, train_command  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


def test_arms_are_checked():
    assert parse_arms([["base"], ["l1", "loss.image_l1=1"]]) == [("base", []), ("l1", ["loss.image_l1=1"])]
    with pytest.raises(SystemExit, match="given twice"):
        parse_arms([["a"], ["a"]])
    with pytest.raises(SystemExit, match="key=value"):
        parse_arms([["a", "loss.image_l1"]])
    with pytest.raises(SystemExit, match="plain word"):
        parse_arms([["max_steps=3"]])


def test_train_command_keeps_each_flag_beside_its_value():
    import argparse

    args = argparse.Namespace(config="c.yaml", budget="30m", out="runs/x", threads=1, seed=0, init_from="m",
                              set=["a=1"])
    cmd = train_command(args, "base", ["b=2"])
    assert cmd[cmd.index("--config") + 1] == "c.yaml" and cmd[cmd.index("--init-from") + 1] == "m"
    assert cmd[cmd.index("--time-budget") + 1] == "30m" and cmd[-2:] == ["a=1", "b=2"]
    cmd = train_command(args, "old", ["config=old.yaml", "b=3"])  # an arm trained from another config
    assert cmd[cmd.index("--config") + 1] == "old.yaml" and cmd[-2:] == ["a=1", "b=3"]
    assert not any(c.startswith("config=") for c in cmd)


def test_table_keeps_the_columns_every_arm_has():
    row = {"arm": "base", "overrides": [], "steps": 10, "s_per_step": 1.5, "sharpness": 5.0, "sharpness_real": 10.0,
           "motion_ratio": 0.8, "warp_error": 2e-3, "warp_error_real": 1e-3}
    text = table([row, {**row, "arm": "x", "overrides": ["a=1"], "kid_x1000": 300.0, "kid_x1000_real_floor": 9.0}])
    assert "KID" not in text and "PCK" not in text  # not every arm has them
    assert "| x (`a=1`) | 10 | 1.50 | 0.50 |" in text and text.count("\n") == 3


@pytest.mark.slow
def test_two_arms_train_evaluate_and_tabulate(tmp_path):
    ds = make_street_dataset(tmp_path / "ds", frames=6, size=(64, 32))
    out = tmp_path / "cmp"
    rc = main(["--config", str(ROOT / "train" / "configs" / "tiny_test.yaml"), "--budget", "4s", "--out", str(out),
               "--set", f"data.root={ds}", "save_every=1000", "sample_every=0", "log_every=1", "--parallel", "2",
               "--arm", "base", "--arm", "l1", "loss.image_l1=1", "--evaluate", f"--dataset {ds} --frames 4 --no-kid"])
    assert rc == 0
    summary = json.loads((out / "compare.json").read_text())
    assert [a["arm"] for a in summary["arms"]] == ["base", "l1"] and summary["threads"] == 1
    for arm in summary["arms"]:
        assert arm["steps"] >= 1 and arm["s_per_step"] > 0 and 0 < arm["sharpness_real"]
    assert (out / "l1" / "config.yaml").read_text().count("image_l1: 1") == 1


def test_an_arm_that_never_logged_still_reports_its_steps(tmp_path):
    import math

    from train.compare import steps_and_speed

    (tmp_path / "export").mkdir()
    (tmp_path / "export" / "config.json").write_text(json.dumps({"meta": {"step": 3}}))
    steps, s_step = steps_and_speed(tmp_path)  # the budget ended before the first log line: no log.jsonl
    assert steps == 3 and math.isnan(s_step)
    (tmp_path / "log.jsonl").write_text(json.dumps({"step": 2, "s_per_step": 0.5}) + "\n")
    assert steps_and_speed(tmp_path) == (3, 0.5)

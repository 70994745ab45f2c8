"""The progress record: rows come from `v2v evaluate --json` files and the export's meta.training; bad input is
refused with what to do; the curve figure is drawn."""
import json

import pytest
from PIL import Image

from train.progress import ProgressError, add, main, plot, read_record

MEAN = {"sharpness": 200.0, "sharpness_real": 800.0, "warp_error": 0.003, "warp_error_real": 0.001, "motion_ratio": 0.4,
        "ssim": 0.5, "psnr": 20.0, "kid_x1000": 480.0, "kid_x1000_real_floor": -10.0, "mask_mean": 0.1}


def _evaluation(tmp_path, name, mean, steps=100, hours=0.5):
    export = tmp_path / f"export_{name}"
    export.mkdir()
    (export / "config.json").write_text(json.dumps({"meta": {"training": {"steps": steps, "cpu_hours": hours}}}))
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps({"checkpoint": str(export), "frames": 30, "mean": mean}))
    return path


def test_add_reads_ratios_and_training_from_the_evaluation_and_export(tmp_path):
    record = tmp_path / "progress" / "m.jsonl"
    row = add(record, _evaluation(tmp_path, "a", MEAN, 100, 0.5), "seq0004", shipped=True)
    assert (row["steps"], row["cpu_hours"], row["shipped"], row["branch"]) == (100, 0.5, True, "main")
    f = row["figures"]
    assert f["sharpness_ratio"] == pytest.approx(0.25) and f["warp_ratio"] == pytest.approx(3.0)
    assert f["kid_x1000"] == 480.0 and "sharpness" not in f
    pose = dict(MEAN, pck=0.9, pck_moving=0.8, detected=1.0)
    row = add(record, _evaluation(tmp_path, "b", pose, 300, 1.5), "driving", branch="arm", driving=True)
    assert set(row["figures"]) <= {"kid_x1000", "kid_x1000_real_floor", "motion_ratio", "mask_mean", "pck",
                                   "pck_moving", "detected"} and row["figures"]["pck_moving"] == 0.8
    assert [r["steps"] for r in read_record(record)] == [100, 300]


def test_bad_inputs_are_refused_with_what_to_do(tmp_path):
    record = tmp_path / "m.jsonl"
    with pytest.raises(ProgressError, match="v2v evaluate"):
        add(record, tmp_path / "missing.json", "s")
    no_mean = tmp_path / "no_mean.json"
    no_mean.write_text("{}")
    with pytest.raises(ProgressError, match="no 'mean'"):
        add(record, no_mean, "s")
    gone = tmp_path / "gone.json"
    gone.write_text(json.dumps({"checkpoint": str(tmp_path / "nowhere"), "mean": MEAN}))
    with pytest.raises(ProgressError, match="--steps and --cpu-hours"):
        add(record, gone, "s")
    assert add(record, gone, "s", steps=5, cpu_hours=0.1)["steps"] == 5  # given by hand, the export is not needed
    with record.open("a") as fh:
        fh.write("not json\n")
    with pytest.raises(ProgressError, match="line 2 is not JSON"):
        add(record, gone, "s", steps=6, cpu_hours=0.2)
    assert len(record.read_text().splitlines()) == 2  # nothing appended to a broken record
    assert main(["plot", str(tmp_path / "none.jsonl"), "--out", str(tmp_path / "x.png")]) == 2


def test_plot_draws_every_figure_the_record_has(tmp_path):
    record = tmp_path / "m.jsonl"
    for i, (steps, hours) in enumerate([(100, 0.5), (200, 1.0), (300, 1.5)]):
        mean = dict(MEAN, sharpness=100.0 * (i + 1), pck=0.5 + 0.1 * i, pck_moving=0.4, detected=0.9)
        add(record, _evaluation(tmp_path, str(i), mean, steps, hours), "heldout", shipped=i != 1,
            branch="main" if i != 2 else "arm")
    out = plot(record, tmp_path / "fig" / "m.png")
    with Image.open(out) as im:
        assert im.size[0] > 1000 and im.size[1] > 500

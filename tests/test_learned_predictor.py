"""Method "learned": the flow extrapolation corrected by a trained refiner; its export, training driver and CLI."""
import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from synthetic import make_street_dataset, street_frames
from v2v.errors import UserError
from v2v.learned_predictor import LearnedPredictor, export_refiner, load_refiner, one_hot_maps
from v2v.nn.label_refiner import LabelRefiner, RefinerConfig
from v2v.predict import make_predictor, predict_labels

ROOT = Path(__file__).resolve().parents[1]


def _video(n=8, size=(64, 32)):
    frames = list(street_frames(n, size))
    return [f[0] for f in frames], [f[1].astype(np.int32) for f in frames]


def test_an_untrained_refiner_predicts_the_flow_extrapolation():
    labels, instances = _video()
    flow = predict_labels(labels, instances, 4, "flow")
    learned = predict_labels(labels, instances, 4, LearnedPredictor(net=LabelRefiner(RefinerConfig(ngf=8))))
    for a, b in zip(flow[0] + flow[1], learned[0] + learned[1]):
        assert np.array_equal(a, b)


def test_the_refiner_learns_a_correction_the_extrapolation_misses():
    """One sample whose future differs from the extrapolation: a few dozen steps make the refined map match it."""
    torch.manual_seed(0)
    labels, _ = _video(size=(32, 16))
    last, extrapolated, target = labels[-1], labels[-1].copy(), labels[-1].copy()
    target[:, :8] = 11  # a building appears on the left that the extrapolation does not see
    net = LabelRefiner(RefinerConfig(ngf=8))
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    x = (one_hot_maps(last[None], 35), one_hot_maps(extrapolated[None], 35), torch.tensor([3.0]))
    y = torch.from_numpy(target[None].astype(np.int64))
    before = float((net(*x)["logits"].argmax(1) == y).float().mean())
    for _ in range(60):
        loss = F.cross_entropy(net(*x)["logits"], y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = float((net(*x)["logits"].argmax(1) == y).float().mean())
    assert before == pytest.approx(float((extrapolated == target).mean())) and before < 0.9, before
    assert after > 0.98, after


def test_trust_keeps_the_extrapolation_unless_the_refiner_is_that_much_surer(tmp_path):
    torch.manual_seed(0)
    labels, instances = _video()
    net = LabelRefiner(RefinerConfig(ngf=8))
    with torch.no_grad():
        net.logits.weight.normal_(0, 0.5)  # a refiner with opinions
    flow = predict_labels(labels, instances, 3, "flow")[0]
    free = predict_labels(labels, instances, 3, LearnedPredictor(net=net))[0]
    assert any(not np.array_equal(a, b) for a, b in zip(flow, free))
    changed = [int((a != b).sum()) for a, b in zip(flow, free)]
    some = predict_labels(labels, instances, 3, LearnedPredictor(net=net, trust=1.0))[0]
    assert sum(int((a != b).sum()) for a, b in zip(flow, some)) < sum(changed)
    stiff = predict_labels(labels, instances, 3, LearnedPredictor(net=net, trust=1e4))[0]
    assert all(np.array_equal(a, b) for a, b in zip(flow, stiff))
    export_refiner(tmp_path / "lp", net, {"work_width": 64, "trust": 1e4})  # the export carries its margin
    assert LearnedPredictor(tmp_path / "lp").trust == 1e4


def test_export_round_trip_and_clear_errors(tmp_path):
    net = LabelRefiner(RefinerConfig(ngf=8))
    with torch.no_grad():
        net.logits.weight.normal_()
    export_refiner(tmp_path / "lp", net, {"work_width": 64})
    loaded, meta = load_refiner(tmp_path / "lp")
    assert meta == {"work_width": 64}
    for k, v in net.state_dict().items():
        assert torch.allclose(loaded.state_dict()[k], v.half().float()), k
    with pytest.raises(UserError, match="no learned label predictor.*train one"):
        load_refiner(tmp_path / "missing")
    (tmp_path / "lp" / "model.safetensors").write_bytes(b"garbage")
    with pytest.raises(UserError, match="corrupt or not a safetensors file"):
        load_refiner(tmp_path / "lp")
    (tmp_path / "lp" / "config.json").write_text(json.dumps({"format": "v2v-model"}))
    with pytest.raises(UserError, match="not a label predictor config"):
        load_refiner(tmp_path / "lp")
    with pytest.raises(UserError, match="no learned label predictor"):
        make_predictor("learned", checkpoint=tmp_path / "nothing")


def test_training_driver_exports_a_predictor_the_cli_uses(tmp_path, monkeypatch):
    from train.label_predictor import main as train_main
    from v2v.cli import main

    ds = make_street_dataset(tmp_path / "ds", frames=8, size=(64, 32), sequences=("seqA", "seqB"))
    out = tmp_path / "run"
    assert train_main(["--dataset", str(ds), "--train", "seqA", "--select", "seqB", "--scenes", "1",
                       "--scene-frames", "6", "--horizon", "3", "--context", "3", "--select-horizons", "1", "2",
                       "--max-steps", "4", "--eval-every", "2", "--batch", "2", "--ngf", "8", "--reverse",
                       "--max-zoom", "1.3", "--weight-decay", "0.01", "--out", str(out)]) == 0
    meta = json.loads((out / "export" / "config.json").read_text())["meta"]
    assert meta["work_width"] == 64 and set(meta["select_miou"]) == {"1", "2"}
    assert meta["trained_on"]["reverse"] and meta["trained_on"]["max_zoom"] == 1.3 and meta["trust"] in (0, 1, 2, 4)
    assert [json.loads(line)["step"] for line in (out / "log.jsonl").read_text().splitlines()] == [2, 4]
    assert train_main(["--dataset", str(ds), "--train", "seqA", "--select", "seqA", "--out", str(out)]) == 2
    assert train_main(["--dataset", str(ds), "--train", "seqA", "--select", "seqB", "--max-zoom", "0.5",
                       "--out", str(out)]) == 2
    assert train_main(["--dataset", str(ds), "--train", "seqA", "--select", "seqB", "--trust", "-1",
                       "--out", str(out)]) == 2

    monkeypatch.setenv("V2V_LABEL_PREDICTOR", str(out / "export"))
    pred = tmp_path / "pred"
    assert main(["predict", "--input", str(ds), "--sequence", "seqB", "--future", "3", "--method", "learned",
                 "--out", str(pred)]) == 0
    assert json.loads((pred / "prediction.json").read_text())["method"] == "learned"
    assert len(list((pred / "labels").glob("*.png"))) == 3



def test_zoom_crops_take_the_same_window_of_every_map():
    from train.label_predictor import zoom_crop

    rng = np.random.default_rng(0)
    a = rng.integers(0, 35, (32, 64)).astype(np.uint8)
    b = (a + 1) % 35
    za, zb = zoom_crop([a, b], 1.5, np.random.default_rng(3))
    assert za.shape == zb.shape == a.shape
    assert np.array_equal(zb, (za + 1) % 35)  # one window, resized alike: pixelwise relations survive
    assert not np.array_equal(za, a)
    same = zoom_crop([a], 1.0, rng)[0]
    assert np.array_equal(same, a)

"""The label flow prior: DIS flow between consecutive label maps, refined by the generator's flow head."""
import numpy as np
import pytest
import torch

from v2v.config import ConfigError
from v2v.flow_prior import label_flow, label_flow_batch, label_intensity
from v2v.nn.build import build_generators
from v2v.bench.inputs import synthetic_step_inputs
from v2v.pipeline import Synthesizer
from v2v.presets import model_preset

TINY = {"ngf": 8, "n_blocks": 2, "first_frame.ngf": 4, "first_frame.n_blocks": 1, "discriminator.ndf": 8,
        "encoder.nef": 4}


def blocky_labels(h=64, w=96, shift=0, seed=0):
    """Random 8x8 blocks of class ids, the whole map moved right by ``shift`` pixels."""
    rng = np.random.RandomState(seed)
    blocks = rng.randint(0, 34, size=(h // 8 + 1, w // 8 + 2))
    big = np.kron(blocks, np.ones((8, 8), dtype=np.int64))
    return big[:h, 8 - shift:8 - shift + w].astype(np.int64)


def test_label_flow_recovers_a_translation():
    prev, cur = blocky_labels(shift=0), blocky_labels(shift=3)
    flow = label_flow(cur, prev)
    assert flow.shape == (64, 96, 2) and flow.dtype == np.float32
    inner = flow[8:-8, 8:-8]  # the content moved right by 3: previous[y, x - 3] == current[y, x]
    assert abs(np.median(inner[..., 0]) + 3) < 0.5
    assert abs(np.median(inner[..., 1])) < 0.5


def test_label_intensity_keeps_classes_apart_and_reads_images():
    ids = np.arange(34).reshape(2, 17)
    grey = label_intensity(ids)
    assert grey.dtype == np.uint8 and len(np.unique(grey)) == 34
    image = np.full((4, 5, 3), 90, dtype=np.uint8)
    assert (label_intensity(image) == 90).all()
    with pytest.raises(ValueError, match="label frame"):
        label_intensity(np.zeros((4, 5, 3), dtype=np.float32))


def test_label_flow_batch_shapes_and_mismatch():
    cur = torch.from_numpy(np.stack([blocky_labels(shift=2), blocky_labels(shift=1)]))
    prev = torch.from_numpy(np.stack([blocky_labels(), blocky_labels()]))
    out = label_flow_batch(cur, prev)
    assert out.shape == (2, 2, 64, 96)
    assert out[0, 0, 8:-8, 8:-8].median() < out[1, 0, 8:-8, 8:-8].median() < 0
    with pytest.raises(ValueError, match="differ in shape"):
        label_flow_batch(cur[:1], prev)


def test_config_rejects_unknown_prior():
    with pytest.raises(ConfigError, match="flow_prior"):
        model_preset("street_256", {"flow_prior": "flownet"})


def test_generator_starts_from_the_prior_and_demands_it():
    cfg = model_preset("street_256", TINY)
    assert cfg.flow_prior == "labels"
    w, h = 64, 32
    net = build_generators(cfg)["generator"]
    x = synthetic_step_inputs(cfg, h, w)
    out = net(**x)
    # the flow head's last layer starts at zero: at initialisation the flow is exactly the prior
    assert torch.allclose(out["flow"], x["flow_prior"])
    x.pop("flow_prior")
    with pytest.raises(ValueError, match="flow_prior"):
        net(**x)
    # a model without the prior starts from the identity warp
    plain = build_generators(model_preset("street_256", {**TINY, "flow_prior": "none"}))["generator"]
    assert plain(**x)["flow"].abs().max() == 0


def test_synthesizer_feeds_the_label_flow_to_the_generator():
    cfg = model_preset("street_256", TINY)
    torch.manual_seed(0)
    nets = build_generators(cfg).eval()
    synth = Synthesizer(cfg, nets)
    flows = []
    for t in range(4):
        labels = torch.from_numpy(blocky_labels(h=64, w=96, shift=t))[None]
        out = synth.step(labels, instances=labels.clone())
        flows.append(out.get("flow"))
    # frames 0-1 come from the first-frame generator; from frame 2 on the untrained head adds nothing to the prior
    assert flows[0] is None and flows[1] is None
    for f in flows[2:]:
        assert abs(float(f[0, 0, 8:-8, 8:-8].median()) + 1) < 0.5

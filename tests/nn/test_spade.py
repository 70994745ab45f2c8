"""model.norm / first_frame.norm "spade": label-conditioned decoder norms that start as the instance norm."""
import pytest
import torch

from v2v.bench.inputs import synthetic_step_inputs
from v2v.config import ConfigError
from v2v.nn.build import build_generators
from v2v.nn.spade import SPADE, modulation_keys
from v2v.presets import model_preset

TINY = {"ngf": 8, "n_blocks": 2, "n_blocks_local": 1, "first_frame.ngf": 4, "first_frame.n_blocks": 1,
        "encoder.nef": 4, "spade_hidden": 8}


def _pair(name: str, **extra):
    plain = model_preset(name, {**TINY, **extra})
    spade = model_preset(name, {**TINY, **extra, "norm": "spade", "first_frame.norm": "spade"})
    return plain, spade


def _size(cfg):
    m = cfg.size_multiple
    return 4 * m, 2 * m


def test_spade_starts_as_the_affine_instance_norm_then_follows_the_label_map():
    torch.manual_seed(0)
    x = torch.randn(2, 6, 8, 12)
    cond = torch.zeros(2, 3, 16, 24)
    cond[:, 0, :, :12] = 1  # class 0 on the left half, class 1 on the right (given at twice x's size)
    cond[:, 1, :, 12:] = 1
    norm = SPADE(6, 3, hidden=4)
    with torch.no_grad():
        norm.weight.uniform_(0.5, 1.5)
        norm.bias.uniform_(-0.5, 0.5)
    reference = torch.nn.functional.instance_norm(x, weight=norm.weight, bias=norm.bias)
    assert torch.allclose(norm(x, cond), reference, atol=1e-6)
    with pytest.raises(ValueError, match="needs the conditioning map"):
        norm(x, None)
    with torch.no_grad():
        torch.nn.init.normal_(norm.gamma.weight)
        norm.beta.bias.fill_(0.3)
    y = norm(x, cond)
    ratio = (y - 0.3) / reference  # the per-pixel scale 1 + gamma(m)
    left, right = ratio[..., 2:-2, 1:4], ratio[..., 2:-2, 8:11]  # inside each region, away from the boundary
    assert torch.allclose(left, left[..., :1, :1].expand_as(left), atol=1e-4)
    assert not torch.allclose(left.mean((-1, -2)), right.mean((-1, -2)), atol=1e-3)


@pytest.mark.parametrize("name", ["street_256", "dancer_256"])
def test_a_spade_twin_loaded_from_an_instance_model_computes_the_same_frames(name):
    torch.manual_seed(0)
    plain_cfg, spade_cfg = _pair(name, n_scales=2) if name == "street_256" else _pair(name)
    plain, spade = build_generators(plain_cfg), build_generators(spade_cfg)
    with torch.no_grad():  # give the instance norms non-trivial affine parameters
        for m in plain.modules():
            if isinstance(m, torch.nn.InstanceNorm2d) and m.weight is not None:
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.5, 0.5)
    added = modulation_keys(spade)
    assert added and all(k.split(".")[-2] in ("gamma", "beta", "0") for k in added)
    assert set(spade.state_dict()) - set(plain.state_dict()) == added
    missing, unexpected = spade.load_state_dict(plain.state_dict(), strict=False)
    assert set(missing) == added and not unexpected
    assert any(isinstance(m, SPADE) for m in spade["generator"].modules())
    assert any(isinstance(m, SPADE) for m in spade["first_frame"].modules())
    w, h = _size(plain_cfg)
    x = synthetic_step_inputs(plain_cfg, h, w)
    with torch.no_grad():
        a, b = plain["generator"](**x), spade["generator"](**x)
        current = x["labels"][:, -plain_cfg.frame_channels - plain_cfg.feature_channels:]
        fa, fb = plain["first_frame"](current), spade["first_frame"](current)
    assert torch.allclose(a["image"], b["image"], atol=1e-5)
    assert torch.allclose(fa["image"], fb["image"], atol=1e-5)


def test_spade_generators_pass_gradients_to_their_modulation_and_read_only_the_current_labels():
    torch.manual_seed(0)
    _, cfg = _pair("street_256")
    nets = build_generators(cfg)
    w, h = _size(cfg)
    x = synthetic_step_inputs(cfg, h, w)
    nets["generator"](**x)["image"].square().mean().backward()
    grads = [m.gamma.weight.grad for m in nets["generator"].modules() if isinstance(m, SPADE)]
    assert grads and all(g is not None and g.abs().sum() > 0 for g in grads)
    spade = next(m for m in nets["generator"].modules() if isinstance(m, SPADE))
    assert spade.shared[0].in_channels == cfg.frame_channels  # one frame's labels and edges, not the stack
    first = next(m for m in nets["first_frame"].modules() if isinstance(m, SPADE))
    assert first.shared[0].in_channels == cfg.frame_channels  # not the style features


def test_spade_is_a_generator_norm_only():
    assert model_preset("street_256", {"norm": "spade"}).norm == "spade"
    with pytest.raises(ConfigError, match="discriminator.norm must be one of"):
        model_preset("street_256", {"discriminator.norm": "spade"})
    with pytest.raises(ConfigError, match="spade_hidden must be >= 1"):
        model_preset("street_256", {"norm": "spade", "spade_hidden": 0})

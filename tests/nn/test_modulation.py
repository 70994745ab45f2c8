"""Style modulation: the style features reach the output of a large region, which input channels alone do not."""
import torch

from v2v.config import FirstFrameConfig
from v2v.nn.build import build_generators
from v2v.nn.first_frame import FirstFrameGenerator
from v2v.nn.modulation import StyleModulation
from v2v.presets import model_preset

FEAT = 3


def _frame(style: torch.Tensor, h: int = 32, w: int = 48) -> torch.Tensor:
    """One encoded frame: a two-class one-hot map (left half class 0, right half class 1) + the style features."""
    onehot = torch.zeros(1, 4, h, w)
    onehot[:, 0, :, : w // 2] = 1
    onehot[:, 1, :, w // 2:] = 1
    return torch.cat([onehot, style.expand(1, FEAT, h, w)], 1)


def _strengthen(module: torch.nn.Module) -> None:
    torch.manual_seed(0)
    for conv in (module.gamma, module.beta):
        torch.nn.init.normal_(conv.weight, 0.0, 0.3)


def test_modulation_is_per_pixel():
    mod = StyleModulation(FEAT, 8)
    _strengthen(mod)
    x = torch.randn(1, 8, 16, 16)
    f = torch.zeros(1, FEAT, 16, 16)
    g = f.clone()
    g[:, :, 4:8, 4:8] = 0.7  # one object's features change
    changed = (mod(x, g) - mod(x, f)).abs().sum(1)[0]
    inside = torch.zeros(16, 16, dtype=torch.bool)
    inside[4:8, 4:8] = True
    assert changed[inside].min() > 1e-3
    assert changed[~inside].max() == 0


def test_modulation_pools_features_to_the_map_size():
    mod = StyleModulation(FEAT, 8)
    x = torch.randn(2, 8, 8, 12)
    assert mod(x, torch.rand(2, FEAT, 16, 24)).shape == x.shape
    assert mod(x, torch.rand(2, FEAT, 10, 10)).shape == x.shape


def test_whole_frame_feature_change_reaches_the_output_only_with_modulation():
    """A change of the features over the whole frame (what the road is, at half of a street frame) is removed by
    the instance norm after the first convolution when the features are only input channels."""
    cfg = FirstFrameConfig(ngf=8, n_downsample=2, n_blocks=1)
    torch.manual_seed(0)
    plain = FirstFrameGenerator(cfg, 4 + FEAT)
    torch.manual_seed(0)
    modulated = FirstFrameGenerator(cfg, 4 + FEAT, style_nc=FEAT)
    _strengthen(modulated.style)
    a, b = _frame(torch.full((1, FEAT, 1, 1), -0.5)), _frame(torch.full((1, FEAT, 1, 1), 0.3))
    with torch.no_grad():
        plain_change = (plain(a)["image"] - plain(b)["image"]).abs().mean()
        modulated_change = (modulated(a)["image"] - modulated(b)["image"]).abs().mean()
    assert plain_change < 1e-5
    assert modulated_change > 1e-2


def test_first_frame_modulation_reads_features_past_input_channels_and_padding():
    """NVIDIA-style generators read only the first input channels; the modulation still gets the features, and
    a frame size that needs padding keeps its size."""
    cfg = FirstFrameConfig(ngf=8, n_downsample=2, n_blocks=1, input_channels=4)
    net = FirstFrameGenerator(cfg, 4, style_nc=FEAT)
    _strengthen(net.style)
    a, b = _frame(torch.zeros(1, FEAT, 1, 1), 30, 42), _frame(torch.ones(1, FEAT, 1, 1), 30, 42)
    with torch.no_grad():
        out_a, out_b = net(a)["image"], net(b)["image"]
    assert out_a.shape == (1, 3, 30, 42)
    assert (out_a - out_b).abs().mean() > 1e-2


def test_sequential_generator_modulates_image_and_foreground_outputs():
    cfg = model_preset("street_256", {"ngf": 8, "n_blocks": 2, "first_frame.enabled": False})
    assert cfg.encoder.modulation
    gen = build_generators(cfg)["generator"]
    scale = gen.scales[0]
    assert hasattr(scale, "image_style") and hasattr(scale, "fg_style")
    for mod in (scale.image_style, scale.fg_style):
        _strengthen(mod)
    h, w = 32, 64
    labels = torch.zeros(1, cfg.generator_input_nc, h, w)
    labels[:, 7] = 1  # road
    prev = torch.zeros(1, 3 * cfg.n_past_frames, h, w)
    fg = torch.zeros(1, 1, h, w)
    fg[..., 8:16, 8:24] = 1
    prior = torch.zeros(1, 2, h, w)
    other = labels.clone()
    other[:, -FEAT:] = 0.5
    with torch.no_grad():
        raw_a = gen(labels, prev, fg, flow_prior=prior)["raw_image"]
        raw_b = gen(other, prev, fg, flow_prior=prior)["raw_image"]
    change = (raw_a - raw_b).abs().mean(1)[0]
    assert change[fg[0, 0] == 0].mean() > 1e-2  # the image head's region (road)
    assert change[fg[0, 0] == 1].mean() > 1e-2  # the foreground head's region


def test_modulation_config():
    import pytest

    from v2v.config import ConfigError

    with pytest.raises(ConfigError, match="modulation_hidden"):
        model_preset("street_256", {"encoder.modulation_hidden": 0})
    off = build_generators(model_preset("street_256", {"ngf": 8, "encoder.enabled": False}))
    assert not any(isinstance(m, StyleModulation) for m in off.modules())  # no features, nothing to modulate

"""The training-recipe levers in the networks: resize-conv decoders and the offline perceptual network."""
import socket

import pytest
import torch

from v2v.config import ConfigError
from v2v.losses import PerceptualConfig, build_perceptual_loss
from v2v.nn.blocks import ConvBlock, up_blocks
from v2v.nn.build import build_generators
from v2v.nn.efficientnet_lite import EfficientNetLite0Features, blur_121
from v2v.presets import model_preset


def _checkerboard_energy(y: torch.Tensor) -> float:
    """Mean |difference| between each pixel and its right/lower neighbour: 0 for a flat map."""
    return float((y[..., :, 1:] - y[..., :, :-1]).abs().mean() + (y[..., 1:, :] - y[..., :-1, :]).abs().mean())


@torch.no_grad()
def test_resize_conv_keeps_a_flat_input_flat_and_transpose_does_not():
    torch.manual_seed(0)
    flat = torch.ones(1, 8, 8, 8) * 0.7
    resize = ConvBlock(8, 4, upsample="resize_conv", norm="none", activation=None)
    transpose = ConvBlock(8, 4, upsample="transpose", norm="none", activation=None)
    a, b = resize(flat), transpose(flat)
    assert a.shape == b.shape == (1, 4, 16, 16)
    interior = (slice(None), slice(None), slice(2, -2), slice(2, -2))  # away from the padded border
    assert _checkerboard_energy(a[interior]) < 1e-6
    assert _checkerboard_energy(b[interior]) > 1e-3  # the transposed conv's uneven overlap: a 2-pixel pattern


def test_upsample_is_a_model_key_and_the_demo_presets_use_resize_conv():
    with pytest.raises(ConfigError, match="upsample must be one of"):
        model_preset("street_256", {"upsample": "bilinear"})
    for name in ("street_256", "dancer_256"):
        cfg = model_preset(name, {"ngf": 8, "first_frame.ngf": 8})
        nets = build_generators(cfg)
        assert not any(isinstance(m, torch.nn.ConvTranspose2d) for m in nets.modules()), name
    paper = build_generators(model_preset("label2city_1024", {"ngf": 16, "first_frame.ngf": 8}))
    assert any(isinstance(m, torch.nn.ConvTranspose2d) for m in paper.modules())  # NVIDIA checkpoints convert
    assert all(type(b.conv) is not torch.nn.ConvTranspose2d and b.conv.stride == (1, 1)
               for b in up_blocks(8, 2, "instance", "resize_conv"))


def test_efficientnet_lite0_loads_offline_and_passes_gradients_to_its_input(monkeypatch):
    def no_network(*a, **k):
        raise AssertionError("tried to open a network connection")
    monkeypatch.setattr(socket.socket, "connect", no_network)
    net = EfficientNetLite0Features()
    x = (torch.rand(1, 3, 64, 128) * 2 - 1).requires_grad_(True)
    feats = net(x)
    assert [f.shape[1] for f in feats] == [24, 40, 80, 112]
    assert [f.shape[-1] for f in feats] == [32, 16, 8, 8]
    sum(f.square().mean() for f in feats).backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert not any(p.requires_grad for p in net.parameters())
    net.train()
    assert not net.training  # batch norm keeps ImageNet statistics


def test_efficientnet_weights_are_imagenet_ones():
    """A trained network separates a photo-like structure from noise; random weights would not know the stem's
    statistics: the stem batch norm's running mean is not the init value 0."""
    net = EfficientNetLite0Features()
    bn = net.stem[1]
    assert bn.running_mean.abs().max() > 0.1 and (bn.running_var - 1).abs().max() > 0.1


def test_blur_removes_the_two_pixel_pattern():
    y, x = torch.meshgrid(torch.arange(16), torch.arange(16), indexing="ij")
    checker = ((x + y) % 2).float()[None, None].repeat(1, 3, 1, 1)
    blurred = blur_121(checker)
    assert blurred.shape == checker.shape
    assert float(blurred[..., 2:-2, 2:-2].std()) < 1e-6  # the 2-pixel pattern averages out exactly


def test_perceptual_loss_is_zero_for_identical_images_and_grows_with_blur():
    loss = build_perceptual_loss(PerceptualConfig(net="efficientnet_lite0", weight=1.0))
    torch.manual_seed(0)
    img = torch.rand(1, 3, 64, 128) * 2 - 1
    blurry = torch.nn.functional.avg_pool2d(img, 5, 1, 2)
    assert float(loss(img, img)) == 0.0
    assert float(loss(blurry, img)) > 0.01
    assert build_perceptual_loss(PerceptualConfig(net="vgg19"), None) is None  # no local VGG weights: skipped
    assert build_perceptual_loss(PerceptualConfig(net="none")) is None


def test_perceptual_config_is_checked():
    from v2v.config import from_dict
    with pytest.raises(ConfigError, match="loss.perceptual.net must be one of"):
        from_dict(PerceptualConfig, {"net": "resnet"})
    with pytest.raises(ConfigError, match="2 layer_weights for 3 layers"):
        from_dict(PerceptualConfig, {"net": "efficientnet_lite0", "layers": [1, 2, 3], "layer_weights": [1, 1]})
    with pytest.raises(ValueError, match="block indices"):
        EfficientNetLite0Features(layers=(16,))


def test_reflect_conv_gives_pytorchs_values_and_gradients_in_any_layout():
    from v2v.nn.blocks import ReflectConv2d
    torch.manual_seed(0)
    ours = ReflectConv2d(6, 4, 7, padding=3, padding_mode="reflect")
    plain = torch.nn.Conv2d(6, 4, 7, padding=3, padding_mode="reflect")
    plain.load_state_dict(ours.state_dict())
    for channels_last in (False, True):
        x = torch.randn(2, 6, 12, 20)
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        xa, xb = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
        ya, yb = ours(xa), plain(xb)
        assert torch.allclose(ya, yb, atol=1e-6)
        g = torch.randn_like(ya).contiguous()  # a gradient in the other layout than a channels-last input
        ya.backward(g)
        yb.backward(g)
        assert torch.allclose(xa.grad, xb.grad, atol=1e-5)
        assert torch.allclose(ours.weight.grad, plain.weight.grad, atol=1e-4)
        ours.zero_grad()
        plain.zero_grad()


def test_reflect_conv_with_declared_gradient_channels_is_the_same_convolution():
    from v2v.nn.blocks import ReflectConv2d
    torch.manual_seed(1)
    ours = ReflectConv2d(10, 4, 7, padding=3, padding_mode="reflect")
    ours.grad_channels = 3
    plain = torch.nn.Conv2d(10, 4, 7, padding=3, padding_mode="reflect")
    plain.load_state_dict(ours.state_dict())
    labels = torch.randn(2, 7, 12, 20)
    feats = torch.randn(2, 3, 12, 20)
    fa, fb = feats.clone().requires_grad_(True), feats.clone().requires_grad_(True)
    ya, yb = ours(torch.cat([labels, fa], 1)), plain(torch.cat([labels, fb], 1))
    assert torch.allclose(ya, yb, atol=1e-5)
    g = torch.randn_like(ya)
    ya.backward(g)
    yb.backward(g)
    assert torch.allclose(fa.grad, fb.grad, atol=1e-5)
    assert torch.allclose(ours.weight.grad, plain.weight.grad, atol=1e-4)
    assert torch.allclose(ours.bias.grad, plain.bias.grad, atol=1e-4)


def test_generators_declare_their_style_channels():
    cfg = model_preset("street_256", {"ngf": 8, "first_frame.ngf": 8})
    nets = build_generators(cfg)
    scale = nets["generator"].scales[0]
    assert scale.label_encoder[0].conv.grad_channels == cfg.feature_channels == 3
    assert scale.fg_encoder[0].conv.grad_channels == 3
    assert nets["first_frame"].global_net[0].conv.grad_channels == 3


def test_foreground_l1_averages_over_the_foreground_only():
    from v2v.losses import foreground_l1_loss

    real = torch.zeros(2, 3, 8, 8)
    fake = real.clone()
    fake[:, :, :, 4:] = 1.0  # wrong on the right half
    mask = torch.zeros(2, 1, 8, 8)
    mask[0, :, :, 4:] = 1.0  # frame 0: the foreground is the right half (all wrong); frame 1: no foreground
    loss = foreground_l1_loss(fake, real, mask, eps=0.0 + 1e-9)
    assert abs(float(loss) - 0.5) < 1e-6  # frame 0 scores 1 (every foreground pixel off by 1), frame 1 scores 0
    mask[0] = 0
    mask[0, :, :, :4] = 1.0
    assert float(foreground_l1_loss(fake, real, mask)) == 0.0  # errors outside the foreground do not count

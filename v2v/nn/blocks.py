"""The building blocks every network here is made of: one configurable conv block and a residual block.

``ConvBlock`` is conv → norm → activation with optional reflection padding or ×2 upsampling, in the spirit of
imaginaire's ``Conv2dBlock``. ``upsample`` is one of:

* ``"transpose"``: a stride-2 transposed convolution (pix2pixHD/vid2vid; NVIDIA's checkpoints). Its kernel
  overlaps unevenly across output pixels, so a fresh or briefly trained network draws a 2-pixel checkerboard.
* ``"resize_conv"``: nearest-neighbour ×2, then a 3×3 convolution (Odena et al., "Deconvolution and Checkerboard
  Artifacts", 2016): every output pixel sees the same number of taps, so a flat input stays flat.

``norm`` is one of:

* ``"batch"``: BatchNorm that always normalises with the statistics of the current batch, in training and at test
  time. This is what NVIDIA's vid2vid effectively does (its test script never calls ``.eval()``), so converted
  checkpoints behave as they did there; with batch size 1 it equals affine instance normalisation.
* ``"instance"``: affine instance normalisation.
* ``"instance_plain"``: instance normalisation without affine parameters (pix2pixHD's single-image generators).
* ``"none"``.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..config import UPSAMPLES


def make_norm(kind: str, channels: int) -> nn.Module | None:
    if kind == "batch":
        return nn.BatchNorm2d(channels, affine=True, track_running_stats=False)
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=True, track_running_stats=False)
    if kind == "instance_plain":
        return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)
    if kind == "none":
        return None
    raise ValueError(f"unknown norm {kind!r}; use batch, instance, instance_plain or none")


def make_activation(kind: str | None) -> nn.Module | None:
    if kind is None or kind == "none":
        return None
    return {"relu": lambda: nn.ReLU(inplace=True), "lrelu": lambda: nn.LeakyReLU(0.2, inplace=True),
            "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}[kind]()


class ConvBlock(nn.Sequential):
    """conv → norm → activation.

    ``padding="reflect"`` pads by k//2 with reflection (the 7×7 input/output convs and residual convs),
    ``"zero"`` pads by ``pad`` (default k//2) with zeros (the stride-2 convs). ``upsample`` doubles the size:
    ``"transpose"`` with a stride-2 ConvTranspose2d (k=3, padding 1, output_padding 1), ``"resize_conv"`` with
    nearest ×2 then the (reflect-padded) conv. Either way the weights sit under ``conv``.
    """

    def __init__(self, cin: int, cout: int, kernel: int = 3, stride: int = 1, norm: str = "instance",
                 activation: str | None = "relu", padding: str = "zero", pad: int | None = None,
                 upsample: str | None = None):
        super().__init__()
        if upsample not in (None, *UPSAMPLES):
            raise ValueError(f"unknown upsample {upsample!r}; use one of {UPSAMPLES}")
        if upsample == "transpose":
            self.conv = nn.ConvTranspose2d(cin, cout, kernel, stride=2, padding=1, output_padding=1)
        elif upsample == "resize_conv":
            self.up = nn.Upsample(scale_factor=2, mode="nearest")
            self.conv = nn.Conv2d(cin, cout, kernel, padding=kernel // 2, padding_mode="reflect")
        else:
            p = kernel // 2 if pad is None else pad
            mode = "reflect" if padding == "reflect" else "zeros"
            self.conv = nn.Conv2d(cin, cout, kernel, stride=stride, padding=p, padding_mode=mode)
        n = make_norm(norm, cout)
        if n is not None:
            self.norm = n
        a = make_activation(activation)
        if a is not None:
            self.act = a


class ResBlock(nn.Module):
    """Two reflect-padded 3×3 ConvBlocks plus the identity (pix2pixHD/vid2vid ResnetBlock)."""

    def __init__(self, channels: int, norm: str):
        super().__init__()
        self.block = nn.Sequential(
            ConvBlock(channels, channels, 3, norm=norm, padding="reflect"),
            ConvBlock(channels, channels, 3, norm=norm, activation=None, padding="reflect"),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.block(x)


def res_blocks(channels: int, count: int, norm: str) -> nn.Sequential:
    return nn.Sequential(*[ResBlock(channels, norm) for _ in range(count)])


def down_blocks(ngf: int, count: int, norm: str) -> list[nn.Module]:
    """``count`` stride-2 3×3 convs, doubling channels from ngf."""
    return [ConvBlock(ngf * 2 ** i, ngf * 2 ** (i + 1), 3, stride=2, norm=norm, pad=1) for i in range(count)]


def up_blocks(ngf: int, count: int, norm: str, upsample: str = "transpose") -> list[nn.Module]:
    """``count`` ×2 upsampling blocks (``upsample``: "transpose" or "resize_conv"), halving channels down to ngf."""
    return [ConvBlock(ngf * 2 ** (count - i), ngf * 2 ** (count - i - 1), upsample=upsample, norm=norm)
            for i in range(count)]


def downsample(x: torch.Tensor) -> torch.Tensor:
    """Halve a map with a 3×3 average, stride 2 (vid2vid's input pyramid; one-hot maps become soft)."""
    return F.avg_pool2d(x, 3, stride=2, padding=1, count_include_pad=False)


def pyramid(x: torch.Tensor, levels: int) -> list[torch.Tensor]:
    """[coarsest, ..., x]: ``levels`` maps, each half the size of the next."""
    out = [x]
    for _ in range(levels - 1):
        out.insert(0, downsample(out[0]))
    return out


def init_weights(module: nn.Module, gain: float = 0.02) -> None:
    """vid2vid's init: conv weights ~ N(0, 0.02), norm scales ~ N(1, 0.02), biases 0."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, gain)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.InstanceNorm2d)) and m.weight is not None:
            nn.init.normal_(m.weight, 1.0, gain)
            nn.init.zeros_(m.bias)


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad)

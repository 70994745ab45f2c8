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
* a :class:`v2v.nn.spade.SpadeNorm` spec: SPADE, an instance norm whose scale and shift follow a conditioning map
  (the label map) pixel by pixel. Blocks are then called as ``block(x, cond)``; :class:`CondSequential` hands
  ``cond`` on to the blocks that take it.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..config import UPSAMPLES
from .spade import SPADE, SpadeNorm


class _ReflectPad(torch.autograd.Function):
    """F.pad(x, (p, p, p, p), "reflect") with a backward written as strided slice additions.

    PyTorch's own backward of reflection padding is slow when the incoming gradient's memory layout differs from
    the input's (a channels-last input whose gradient arrives contiguous from a convolution's backward): measured
    on this project's CPU, 176 ms against 42 ms here for the street generator's 3×111×128×256 input, 6.1 against
    2.0 ms for a 32×128×256 map. The result is the same sum of the same terms."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, p: int) -> torch.Tensor:
        ctx.p = p
        return F.pad(x, (p, p, p, p), mode="reflect")

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        p = ctx.p
        cols = grad[..., p:-p].clone()  # fold the left and right strips back onto the columns they mirror
        cols[..., 1:p + 1] += grad[..., :p].flip(-1)
        cols[..., -p - 1:-1] += grad[..., -p:].flip(-1)
        out = cols[..., p:-p, :].clone()  # then the top and bottom strips onto their rows
        out[..., 1:p + 1, :] += cols[..., :p, :].flip(-2)
        out[..., -p - 1:-1, :] += cols[..., -p:, :].flip(-2)
        return out, None


class ReflectConv2d(nn.Conv2d):
    """A reflection-padded Conv2d (same parameters and results as ``nn.Conv2d(padding_mode="reflect")``) whose
    padding uses :class:`_ReflectPad` while gradients flow; 15 % of a street training step went to PyTorch's
    reflection-pad backward before. Inference takes PyTorch's own path.

    ``grad_channels`` (0: all): how many of the *last* input channels can carry a gradient. The generators' first
    convolutions read 100+ channels of one-hot labels and instance edges, which never need one, followed by a few
    style-feature channels, which do (they come from the trained encoder). Declared, the convolution runs as two:
    the label channels detached, the feature channels with their gradient, so the backward pass neither pads nor
    convolves a gradient for the label channels. The sum is the same convolution."""

    grad_channels: int = 0
    enabled = True  # class-wide switch (TrainConfig.fast_padding), so benchmarks can compare with PyTorch's path
    # (num_classes, frame_channels, n_frames) when the input starts with one-hot label frames and training may
    # compute their part by lookup (v2v.nn.fast.enable_one_hot_training; used only with a one_hot_hint).
    one_hot_layout: tuple[int, int, int] | None = None

    def _conv_forward(self, input: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        if self.one_hot_layout is not None and torch.is_grad_enabled() and weight.requires_grad:
            from .fast import one_hot_training_conv  # fast builds on this module

            out = one_hot_training_conv(self, input, weight, bias)
            if out is not None:
                return out
        pads = self._reversed_padding_repeated_twice
        if not self.enabled or self.padding_mode != "reflect" or len(set(pads)) != 1 or not pads[0] or not (
                torch.is_grad_enabled() and input.requires_grad):
            return super()._conv_forward(input, weight, bias)
        p, k = pads[0], self.grad_channels
        if 0 < k < input.shape[1] and self.groups == 1:
            fixed = F.conv2d(F.pad(input[:, :-k].detach(), (p, p, p, p), mode="reflect"), weight[:, :-k], bias,
                             self.stride, 0, self.dilation)
            return fixed + F.conv2d(_ReflectPad.apply(input[:, -k:], p), weight[:, -k:], None, self.stride, 0,
                                    self.dilation)
        return F.conv2d(_ReflectPad.apply(input, p), weight, bias, self.stride, 0, self.dilation, self.groups)


def make_norm(kind: str | SpadeNorm, channels: int) -> nn.Module | None:
    if isinstance(kind, SpadeNorm):
        return SPADE(channels, kind.cond_nc, kind.hidden)
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


class CondSequential(nn.Sequential):
    """nn.Sequential whose ``forward(x, cond=None)`` hands the conditioning map to the members that take one
    (``conditioned = True``: SPADE norms and the blocks holding them); the others see only ``x``."""

    conditioned = True

    def forward(self, x: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        for m in self:
            x = m(x, cond) if getattr(m, "conditioned", False) else m(x)
        return x


class ConvBlock(CondSequential):
    """conv → norm → activation.

    ``padding="reflect"`` pads by k//2 with reflection (the 7×7 input/output convs and residual convs),
    ``"zero"`` pads by ``pad`` (default k//2) with zeros (the stride-2 convs). ``upsample`` doubles the size:
    ``"transpose"`` with a stride-2 ConvTranspose2d (k=3, padding 1, output_padding 1), ``"resize_conv"`` with
    nearest ×2 then the (reflect-padded) conv. Either way the weights sit under ``conv``.
    """

    def __init__(self, cin: int, cout: int, kernel: int = 3, stride: int = 1, norm: str | SpadeNorm = "instance",
                 activation: str | None = "relu", padding: str = "zero", pad: int | None = None,
                 upsample: str | None = None):
        super().__init__()
        if upsample not in (None, *UPSAMPLES):
            raise ValueError(f"unknown upsample {upsample!r}; use one of {UPSAMPLES}")
        if upsample == "transpose":
            self.conv = nn.ConvTranspose2d(cin, cout, kernel, stride=2, padding=1, output_padding=1)
        elif upsample == "resize_conv":
            self.up = nn.Upsample(scale_factor=2, mode="nearest")
            self.conv = ReflectConv2d(cin, cout, kernel, padding=kernel // 2, padding_mode="reflect")
        else:
            p = kernel // 2 if pad is None else pad
            mode = "reflect" if padding == "reflect" else "zeros"
            conv = ReflectConv2d if mode == "reflect" else nn.Conv2d
            self.conv = conv(cin, cout, kernel, stride=stride, padding=p, padding_mode=mode)
        n = make_norm(norm, cout)
        if n is not None:
            self.norm = n
        a = make_activation(activation)
        if a is not None:
            self.act = a


class ResBlock(nn.Module):
    """Two reflect-padded 3×3 ConvBlocks plus the identity (pix2pixHD/vid2vid ResnetBlock)."""

    conditioned = True

    def __init__(self, channels: int, norm: str | SpadeNorm):
        super().__init__()
        self.block = CondSequential(
            ConvBlock(channels, channels, 3, norm=norm, padding="reflect"),
            ConvBlock(channels, channels, 3, norm=norm, activation=None, padding="reflect"),
        )

    def forward(self, x: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        return x + self.block(x, cond)


def res_blocks(channels: int, count: int, norm: str | SpadeNorm) -> CondSequential:
    return CondSequential(*[ResBlock(channels, norm) for _ in range(count)])


def down_blocks(ngf: int, count: int, norm: str) -> list[nn.Module]:
    """``count`` stride-2 3×3 convs, doubling channels from ngf."""
    return [ConvBlock(ngf * 2 ** i, ngf * 2 ** (i + 1), 3, stride=2, norm=norm, pad=1) for i in range(count)]


def up_blocks(ngf: int, count: int, norm: str | SpadeNorm, upsample: str = "transpose") -> list[nn.Module]:
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
        elif isinstance(m, (nn.BatchNorm2d, nn.InstanceNorm2d, SPADE)) and m.weight is not None:
            nn.init.normal_(m.weight, 1.0, gain)
            nn.init.zeros_(m.bias)
    for m in module.modules():  # after the convs above: SPADE starts as its instance norm
        if isinstance(m, SPADE):
            m.zero_modulation()


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad)

"""SPADE: spatially-adaptive normalisation (Park et al., "Semantic Image Synthesis with Spatially-Adaptive
Normalization", CVPR 2019), the norm imaginaire's vid2vid generators use in their decoders.

An instance norm removes what is constant over the frame; SPADE puts the label map back in, pixel by pixel:

    y = IN(x) · w + b,  then  y · (1 + γ(m)) + β(m)

where m is the conditioning map (the current frame's one-hot labels and edges) resized to x with nearest
neighbours, and γ, β come from a small convolutional net on m (3×3 conv → ReLU → two 3×3 convs). Labels thereby
reach every decoder layer directly instead of only through the encoder, whose instance norms wash out large
regions.

Two choices differ from the paper, both so that a model can switch to SPADE and continue from its export:

* the affine instance norm's ``weight`` and ``bias`` stay (the paper's SPADE has a parameter-free norm), under the
  same names, so an "instance" model's tensors load into its "spade" twin;
* γ and β start at zero, so that twin computes exactly what the instance-norm model computed until training
  moves them (``train --init-from`` starts only these modulation tensors fresh).

``model.norm: spade`` (and ``first_frame.norm: spade``) makes every decoder block (residual blocks after the
bottleneck and the upsampling blocks) a SPADE block; encoders keep affine instance norms. ``model.spade_hidden``
is the hidden width (128 in the paper; the CPU presets can afford far less).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass(frozen=True)
class SpadeNorm:
    """A ``norm`` argument of the building blocks: SPADE conditioned on ``cond_nc`` channels, ``hidden`` wide."""
    cond_nc: int
    hidden: int


def encoder_norm(norm: str | SpadeNorm) -> str:
    """The norm of an encoder in a network whose decoders use ``norm``: SPADE models encode with instance norms."""
    return "instance" if isinstance(norm, SpadeNorm) else norm


class SPADE(nn.Module):
    conditioned = True  # blocks hand it the conditioning map (v2v.nn.blocks.CondSequential)

    def __init__(self, channels: int, cond_nc: int, hidden: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.shared = nn.Sequential(nn.Conv2d(cond_nc, hidden, 3, padding=1), nn.ReLU(inplace=True))
        self.gamma = nn.Conv2d(hidden, channels, 3, padding=1)
        self.beta = nn.Conv2d(hidden, channels, 3, padding=1)
        self.zero_modulation()

    def zero_modulation(self) -> None:
        """γ = β = 0: the layer is the affine instance norm (after a generic weight init, and on warm starts)."""
        for conv in (self.gamma, self.beta):
            nn.init.zeros_(conv.weight)
            nn.init.zeros_(conv.bias)

    def forward(self, x: torch.Tensor, cond: torch.Tensor | None) -> torch.Tensor:
        """x: (B, C, H, W); cond: (B, cond_nc, h, w) conditioning map at any size (resized to x, nearest)."""
        if cond is None:
            raise ValueError("a SPADE norm needs the conditioning map: call the block with (x, cond)")
        y = F.instance_norm(x, weight=self.weight.to(x.dtype), bias=self.bias.to(x.dtype), eps=self.eps)
        if cond.shape[-2:] != x.shape[-2:]:
            cond = F.interpolate(cond, size=x.shape[-2:], mode="nearest")
        hidden = self.shared(cond.to(x.dtype))
        return y * (1 + self.gamma(hidden)) + self.beta(hidden)


def modulation_keys(module: nn.Module) -> set[str]:
    """State-dict keys of every SPADE γ/β/shared tensor in ``module``: what an instance-norm export lacks."""
    keys = set()
    for name, m in module.named_modules():
        if isinstance(m, SPADE):
            prefix = f"{name}." if name else ""
            keys |= {prefix + k for k in m.state_dict() if k.split(".")[0] in ("shared", "gamma", "beta")}
    return keys

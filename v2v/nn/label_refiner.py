"""The learned label-map predictor's network: it corrects the classical flow extrapolation of a street scene.

Input, per predicted frame t+k: the one-hot last observed label map (frame t), the one-hot constant-velocity
extrapolation of it to frame t+k (:mod:`v2v.predict.extrapolate`), and the horizon k / ``horizon_scale`` as a
constant channel. Output: class logits for frame t+k, the network's correction added to ``skip`` x the
extrapolated one-hot map. The correction's last layer starts at zero, so an untrained network predicts exactly
the extrapolation; training moves it only where the real futures disagree (classes that shrink, appear at the
frame's edges, thin structures that DIS loses).

Layout: a stride-2 conv (the work happens at half size), one more stride-2 conv, residual blocks, two resize-conv
upsamplings back to full size, a 1x1 conv to the logits (imaginaire-style ConvBlocks throughout).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn as nn

from .blocks import ConvBlock, init_weights, res_blocks


@dataclass(frozen=True)
class RefinerConfig:
    num_classes: int = 35
    ngf: int = 32
    n_blocks: int = 2
    horizon_scale: float = 10.0  # the horizon channel is k / horizon_scale (1 at the longest trained horizon)
    skip: float = 4.0  # initial weight of the extrapolated one-hot map in the logits

    @classmethod
    def from_dict(cls, d: dict) -> "RefinerConfig":
        unknown = set(d) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown label refiner config keys {sorted(unknown)}")
        return cls(**d)

    def to_dict(self) -> dict:
        return asdict(self)


class LabelRefiner(nn.Module):
    def __init__(self, cfg: RefinerConfig):
        super().__init__()
        self.cfg = cfg
        c, g = cfg.num_classes, cfg.ngf
        self.body = nn.Sequential(
            ConvBlock(2 * c + 1, g, 3, stride=2, pad=1, norm="instance"),
            ConvBlock(g, 2 * g, 3, stride=2, pad=1, norm="instance"),
            res_blocks(2 * g, cfg.n_blocks, "instance"),
            ConvBlock(2 * g, g, upsample="resize_conv", norm="instance"),
            ConvBlock(g, g, upsample="resize_conv", norm="instance"),
        )
        self.logits = nn.Conv2d(g, c, 1)
        self.skip = nn.Parameter(torch.tensor(float(cfg.skip)))
        init_weights(self.body)
        nn.init.zeros_(self.logits.weight)
        nn.init.zeros_(self.logits.bias)

    def forward(self, last: torch.Tensor, extrapolated: torch.Tensor, horizon: torch.Tensor) -> dict:
        """``last``, ``extrapolated``: (B, C, H, W) one-hot maps (H, W multiples of 4); ``horizon``: (B,) frames
        ahead. Returns {"logits": (B, C, H, W)}."""
        b, _, h, w = last.shape
        k = (horizon.to(last.dtype) / self.cfg.horizon_scale).view(b, 1, 1, 1).expand(b, 1, h, w)
        features = self.body(torch.cat([last, extrapolated, k], 1))
        return {"logits": self.logits(features) + self.skip * extrapolated}

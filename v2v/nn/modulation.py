"""Style modulation: the pooled style features scale and shift a generator's last feature maps, pixel by pixel.

The style features enter every generator as extra input channels (pix2pixHD, vid2vid). There they pass the
instance norm after the first convolution, which removes whatever is constant over the frame: a large region —
the road covers half a street frame — loses most of its feature change there, while a small car keeps it. This
layer gives the features a second way in, after the last normalisation (as SPADE does after each of its norms):

    y = x · (1 + γ(f)) + β(f)

with γ and β computed from the features f of the same pixel by a two-layer 1×1 network. Being 1×1 it mixes no
neighbouring regions, so re-rolling one object changes the modulation of that object's pixels only. Features of
another resolution than ``x`` are average-pooled (or resized) to it.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


class StyleModulation(nn.Module):
    def __init__(self, feat_nc: int, channels: int, hidden: int = 32):
        super().__init__()
        self.feat_nc = feat_nc
        self.shared = nn.Sequential(nn.Conv2d(feat_nc, hidden, 1), nn.ReLU(inplace=True))
        self.gamma = nn.Conv2d(hidden, channels, 1)
        self.beta = nn.Conv2d(hidden, channels, 1)

    def forward(self, x: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        """x: (B, C, H, W) feature maps; features: (B, feat_nc, h, w) pooled style features."""
        if features.shape[1] != self.feat_nc:
            raise ValueError(f"style modulation expects {self.feat_nc} feature channels, got {features.shape[1]}")
        size = x.shape[-2:]
        if features.shape[-2:] != size:
            fh, fw = features.shape[-2:]
            if fh % size[0] == 0 and fw % size[1] == 0:
                features = F.avg_pool2d(features, (fh // size[0], fw // size[1]))
            else:
                features = F.interpolate(features, size=size, mode="nearest")
        hidden = self.shared(features.to(x.dtype))
        return x * (1 + self.gamma(hidden)) + self.beta(hidden)

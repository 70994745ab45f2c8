"""Conditional multi-scale PatchGAN discriminators: the image D and the temporal (video) Ds.

``PatchDiscriminator`` is pix2pixHD's NLayerDiscriminator: 4×4 convs with padding 2, strides 2 for the first
n_layers convs then 1, channels ndf·2^i capped at 512, LeakyReLU 0.2, no sigmoid. ``MultiscaleDiscriminator``
runs num_D of them on the input average-pooled 0, 1, 2... times. The video D of vid2vid is one multi-scale D per
temporal scale s, fed K consecutive frames taken with stride K^s plus the K-1 flows of the real frames.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from .blocks import ConvBlock, downsample, init_weights


class PatchDiscriminator(nn.Module):
    def __init__(self, input_nc: int, ndf: int = 64, n_layers: int = 3, norm: str = "batch"):
        super().__init__()
        layers = [ConvBlock(input_nc, ndf, 4, stride=2, pad=2, norm="none", activation="lrelu")]
        nf = ndf
        for i in range(1, n_layers + 1):
            prev, nf = nf, min(nf * 2, 512)
            layers.append(ConvBlock(prev, nf, 4, stride=2 if i < n_layers else 1, pad=2, norm=norm,
                                    activation="lrelu"))
        layers.append(ConvBlock(nf, 1, 4, stride=1, pad=2, norm="none", activation=None))
        self.layers = nn.ModuleList(layers)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Every layer's output; the last one is the patch prediction."""
        feats = []
        for layer in self.layers:
            x = layer(x)
            feats.append(x)
        return feats


class MultiscaleDiscriminator(nn.Module):
    def __init__(self, input_nc: int, ndf: int = 64, n_layers: int = 3, num_D: int = 2, norm: str = "batch"):
        super().__init__()
        self.nets = nn.ModuleList([PatchDiscriminator(input_nc, ndf, n_layers, norm) for _ in range(num_D)])
        init_weights(self)

    def forward(self, x: torch.Tensor) -> dict:
        """{"predictions": [per scale (B,1,h,w)], "features": [per scale [layer outputs]]}, finest scale first."""
        preds, feats = [], []
        for i, net in enumerate(self.nets):
            if i:
                x = downsample(x)
            f = net(x)
            feats.append(f)
            preds.append(f[-1])
        return {"predictions": preds, "features": feats}


class TemporalDiscriminators(nn.Module):
    """One multi-scale D per temporal scale; scale s sees frames spaced K^s apart."""

    def __init__(self, n_frames: int, n_scales: int, image_nc: int = 3, ndf: int = 64, n_layers: int = 3,
                 num_D: int = 2, norm: str = "batch"):
        super().__init__()
        self.n_frames = n_frames
        input_nc = n_frames * image_nc + (n_frames - 1) * 2
        self.nets = nn.ModuleList([MultiscaleDiscriminator(input_nc, ndf, n_layers, num_D, norm)
                                   for _ in range(n_scales)])

    def span(self, scale: int) -> int:
        """Frames a window of temporal scale ``scale`` covers."""
        return (self.n_frames - 1) * self.n_frames ** scale + 1

    def forward(self, scale: int, frames: torch.Tensor, flows: torch.Tensor) -> dict:
        """frames: (B, K, 3, H, W) already subsampled with stride K^scale; flows: (B, K-1, 2, H, W) real flows."""
        b, k, c, h, w = frames.shape
        x = torch.cat([frames.reshape(b, k * c, h, w), flows.reshape(b, (k - 1) * 2, h, w)], 1)
        return self.nets[scale](x)

"""The first-frame generator: a pix2pixHD single-image generator for the first L frames of a video.

A global net (7×7 conv, n_downsample stride-2 convs, n_blocks residual blocks, as many transposed convs) plus
optional local enhancers, each doubling the resolution it works at and adding the coarser net's features (as
pix2pixHD's LocalEnhancer). Unlike NVIDIA's hard-coded single generators it takes any frame size: inputs are
padded to the multiple the network needs and the output is cropped back.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..config import FirstFrameConfig
from .blocks import CondSequential, ConvBlock, down_blocks, downsample, init_weights, res_blocks, up_blocks
from .modulation import StyleModulation
from .spade import SpadeNorm, encoder_norm


class FirstFrameGenerator(nn.Module):
    def __init__(self, cfg: FirstFrameConfig, input_nc: int, output_nc: int = 3, style_nc: int = 0,
                 style_hidden: int = 32, upsample: str = "transpose", spade_hidden: int = 128,
                 label_nc: int | None = None):
        """style_nc > 0: the last style_nc input channels are style features that also modulate the last feature
        maps (v2v/nn/modulation.py). With ``cfg.norm == "spade"`` the residual and upsampling blocks are SPADE
        blocks (``spade_hidden`` wide) conditioned on the first ``label_nc`` input channels (the label map and
        edges; default: all but the style features)."""
        super().__init__()
        n_local = cfg.n_local_enhancers
        self.input_channels = cfg.input_channels  # 0: all; else only the first N channels are read
        input_nc = cfg.input_channels or input_nc
        self.cond_nc = (cfg.input_channels or label_nc or input_nc - style_nc) if cfg.norm == "spade" else 0
        dec = SpadeNorm(self.cond_nc, spade_hidden) if self.cond_nc else cfg.norm  # decoder norm
        norm = encoder_norm(dec)
        ngf_global = cfg.ngf * 2 ** n_local
        width = ngf_global * 2 ** cfg.n_downsample
        self.multiple = 2 ** (cfg.n_downsample + n_local)
        self.global_net = CondSequential(
            ConvBlock(input_nc, ngf_global, 7, norm=norm, padding="reflect"),
            *down_blocks(ngf_global, cfg.n_downsample, norm), *res_blocks(width, cfg.n_blocks, dec),
            *up_blocks(ngf_global, cfg.n_downsample, dec, upsample))
        self.local_down = nn.ModuleList()
        self.local_up = nn.ModuleList()
        for i in range(1, n_local + 1):
            ngf = cfg.ngf * 2 ** (n_local - i)
            self.local_down.append(nn.Sequential(ConvBlock(input_nc, ngf, 7, norm=norm, padding="reflect"),
                                                 *down_blocks(ngf, 1, norm)))
            self.local_up.append(CondSequential(*res_blocks(ngf * 2, cfg.n_blocks_local, dec),
                                                *up_blocks(ngf, 1, dec, upsample)))
        self.out = ConvBlock(cfg.ngf, output_nc, 7, norm="none", activation="tanh", padding="reflect")
        if style_nc and not cfg.input_channels:  # the style features are the last input channels: see ReflectConv2d
            for first in [self.global_net[0], *(down[0] for down in self.local_down)]:
                first.conv.grad_channels = style_nc
        self.style_nc = style_nc
        if style_nc:
            self.style = StyleModulation(style_nc, cfg.ngf, style_hidden)
        init_weights(self)

    def forward(self, labels: torch.Tensor) -> dict:
        """labels: (B, C, H, W) one encoded conditioning frame (+ style features) -> {"image": (B, 3, H, W)}."""
        style = labels[:, -self.style_nc:] if self.style_nc else None
        if self.input_channels:
            labels = labels[:, : self.input_channels]
        h, w = labels.shape[-2:]
        ph, pw = (-h) % self.multiple, (-w) % self.multiple
        x = F.pad(labels, (0, pw, 0, ph), mode="replicate") if ph or pw else labels
        if style is not None and (ph or pw):
            style = F.pad(style, (0, pw, 0, ph), mode="replicate")
        inputs = [x]
        for _ in self.local_down:
            inputs.insert(0, downsample(inputs[0]))
        def cond(x: torch.Tensor) -> torch.Tensor | None:  # what SPADE norms read: the label channels
            return x[:, :self.cond_nc].detach() if self.cond_nc else None

        features = self.global_net(inputs[0], cond(inputs[0]))
        for i, (down, up) in enumerate(zip(self.local_down, self.local_up)):
            features = up(down(inputs[i + 1]) + features, cond(inputs[i + 1]))
        if style is not None:
            features = self.style(features, style)
        return {"image": self.out(features)[..., :h, :w]}

"""The sequential generator F of vid2vid (paper Eq. 4 and Eq. 9).

For frame t it sees the conditioning maps of frames t-L..t (stacked oldest → current on channels, plus optional
per-instance style features) and the L previously generated frames, and returns

    x_t = (1 - m) · warp(x_{t-1}, w) + m · h

where the flow w and the soft occlusion mask m come from a flow head, and the hallucinated frame h from an image
head. Both heads read the **sum** of a label encoder and a previous-frame encoder (the shared trunk); the flow and
mask share one decoder. With a foreground model, a second generator that sees only the labels paints the
foreground classes, either into h before the blend (``foreground_blend="paper"``, Eq. 9: foreground objects are
warped where the flow is reliable) or over x_t after it (``"reference"``, NVIDIA's code:
x_t ← fg · mask_fg + x_t · (1 - mask_fg), foreground hallucinated afresh every frame).

Coarse-to-fine: scale 0 (the "global" net, ngf channels) runs at 1/2^(S-1) of the frame size; each finer scale s
(ngf/2^s channels, "local enhancer") downsamples its inputs once and adds the coarser scale's last decoder
features before its own decoder, per head. Flow at scale s is scaled by flow_multiplier · 2^s pixels.

The layer layout (and so every parameter count) follows NVIDIA's CompositeGenerator / CompositeLocalGenerator, so
their released checkpoints can be converted (see v2v/checkpoint_nvidia.py).
"""
from __future__ import annotations

import contextlib

import torch
import torch.nn as nn
from torch.utils.checkpoint import checkpoint

from ..config import ModelConfig
from ..flow import resize_flow, warp
from .blocks import CondSequential, ConvBlock, down_blocks, init_weights, pyramid, res_blocks, up_blocks
from .modulation import StyleModulation
from .spade import SpadeNorm, encoder_norm


def _fg_ngf(ngf: int, n_downsample: int) -> int:
    # The reference halves the foreground net's width when the main net is deep (n_downsample > 2).
    return ngf // 2 if n_downsample > 2 else ngf


class _Head(nn.Module):
    """Residual blocks then upsampling: the decoder of one output of one scale."""

    def __init__(self, channels: int, n_res: int, ngf_out: int, n_up: int, norm: str | SpadeNorm, upsample: str):
        super().__init__()
        self.res = res_blocks(channels, n_res, norm)
        self.up = CondSequential(*up_blocks(ngf_out, n_up, norm, upsample))
        self.checkpointing = False

    def forward(self, x: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        """``cond``: the conditioning map of SPADE norms (None without them)."""
        if self.checkpointing and x.requires_grad:
            x = checkpoint(self.res, x, cond, use_reentrant=False)
        else:
            x = self.res(x, cond)
        return self.up(x, cond)


def _out_conv(ngf: int, channels: int, activation: str | None) -> ConvBlock:
    return ConvBlock(ngf, channels, 7, norm="none", activation=activation, padding="reflect")


class ScaleGenerator(nn.Module):
    """One spatial scale of the sequential generator (s = 0: global net, s >= 1: local enhancer)."""

    def __init__(self, cfg: ModelConfig, scale: int):
        super().__init__()
        self.scale = scale
        self.use_flow = cfg.use_flow
        self.use_foreground = cfg.use_foreground
        self.foreground_blend = cfg.foreground_blend
        self.flow_multiplier = cfg.flow_multiplier * 2 ** scale
        cin = cfg.generator_input_nc
        prev_nc = cfg.output_nc * cfg.n_past_frames
        # With SPADE the decoders' norms follow the current frame's conditioning maps (v2v/nn/spade.py).
        norm = SpadeNorm(cfg.frame_channels, cfg.spade_hidden) if cfg.norm == "spade" else cfg.norm
        self.cond_channels = (cfg.frame_channels * cfg.n_past_frames, cfg.frame_channels * (cfg.n_past_frames + 1))
        self.spade = cfg.norm == "spade"
        if scale == 0:
            ngf, n_down = cfg.ngf, cfg.n_downsample
            n_enc_res, n_dec_res, n_fg_res = cfg.n_blocks - cfg.n_blocks // 2, cfg.n_blocks // 2, cfg.n_blocks
        else:
            ngf, n_down = cfg.ngf // 2 ** scale, 1
            n_enc_res, n_dec_res, n_fg_res = 0, cfg.n_blocks_local, cfg.n_blocks_local
        width = ngf * 2 ** n_down

        def encoder(channels_in: int, base: int) -> nn.Sequential:
            enc = encoder_norm(norm)
            return nn.Sequential(ConvBlock(channels_in, base, 7, norm=enc, padding="reflect"),
                                 *down_blocks(base, n_down, enc), *res_blocks(base * 2 ** n_down, n_enc_res, enc))

        self.label_encoder = encoder(cin, ngf)
        self.label_encoder[0].conv.grad_channels = cfg.feature_channels  # only the style features need gradients
        self.prev_encoder = encoder(prev_nc, ngf)
        self.image_head = _Head(width, n_dec_res, ngf, n_down, norm, cfg.upsample)
        self.image_out = _out_conv(ngf, cfg.output_nc, "tanh")
        if cfg.use_flow:
            self.flow_head = _Head(width, n_dec_res, ngf, n_down, norm, cfg.upsample)
            self.flow_out = _out_conv(ngf, 2, None)
            self.mask_out = _out_conv(ngf, 1, "sigmoid")
        if cfg.use_foreground:
            fg_ngf = _fg_ngf(ngf, cfg.n_downsample)
            self.fg_encoder = nn.Sequential(ConvBlock(cin, fg_ngf, 7, norm=encoder_norm(norm), padding="reflect"),
                                            *down_blocks(fg_ngf, n_down, encoder_norm(norm)))
            self.fg_encoder[0].conv.grad_channels = cfg.feature_channels
            self.fg_head = _Head(fg_ngf * 2 ** n_down, n_fg_res, fg_ngf, n_down, norm, cfg.upsample)
            self.fg_out = _out_conv(fg_ngf, cfg.output_nc, "tanh")
        # The style features (the last input channels) also modulate what the image and foreground outputs read.
        self.style_nc = cfg.modulation_channels
        if self.style_nc:
            self.image_style = StyleModulation(self.style_nc, ngf, cfg.encoder.modulation_hidden)
            if cfg.use_foreground:
                self.fg_style = StyleModulation(self.style_nc, fg_ngf, cfg.encoder.modulation_hidden)

    def condition(self, labels: torch.Tensor) -> torch.Tensor | None:
        """What the SPADE norms read: the current frame's conditioning maps (no gradient; None without SPADE)."""
        if not self.spade:
            return None
        a, b = self.cond_channels
        return labels[:, a:b].detach()

    def label_branch(self, labels: torch.Tensor, coarse: dict | None = None) -> dict:
        """The part of a step that reads only the conditioning maps, not the history: the label encoder and the
        foreground generator. Training runs it for all frames of a sequence as one batch (with instance norm the
        result is the same as frame by frame) and hands each frame its slice through ``forward(label_part=...)``.
        ``coarse``: the coarser scale's label branch (its ``fg_features``)."""
        part = {"label_trunk": self.label_encoder(labels)}
        if self.use_foreground:
            fg_in = self.fg_encoder(labels)
            if coarse is not None:
                fg_in = fg_in + coarse["fg_features"]
            fg_features = self.fg_head(fg_in, self.condition(labels))
            style = labels[:, -self.style_nc:] if self.style_nc else None
            part["fg_features"] = fg_features
            part["foreground_image"] = self.fg_out(fg_features if style is None else self.fg_style(fg_features, style))
        return part

    def forward(self, labels: torch.Tensor, prev_images: torch.Tensor, fg_mask: torch.Tensor | None,
                coarse: dict | None = None, flow_prior: torch.Tensor | None = None,
                label_part: dict | None = None) -> dict:
        part = self.label_branch(labels, coarse) if label_part is None else label_part
        trunk = part["label_trunk"] + self.prev_encoder(prev_images)
        image_in = trunk if coarse is None else trunk + coarse["image_features"]
        cond = self.condition(labels)
        image_features = self.image_head(image_in, cond)
        style = labels[:, -self.style_nc:] if self.style_nc else None
        raw = self.image_out(image_features if style is None else self.image_style(image_features, style))
        out = {"image_features": image_features}
        fg = None
        if self.use_foreground:
            fg = part["foreground_image"]
            if fg_mask is None:
                raise ValueError("this generator has a foreground model: pass fg_mask (B, 1, H, W)")
            raw = fg * fg_mask + raw * (1 - fg_mask)
            out.update(fg_features=part["fg_features"], foreground_image=fg)
        if self.use_flow:
            flow_in = trunk if coarse is None else trunk + coarse["flow_features"]
            flow_features = self.flow_head(flow_in, cond)
            flow = self.flow_out(flow_features) * self.flow_multiplier
            if flow_prior is not None:  # the head predicts a correction to the prior (v2v/flow_prior.py)
                flow = flow.float() + flow_prior.float()  # fp32: bf16 would round a 40 px prior to 0.25 px
            mask = self.mask_out(flow_features)
            warped = warp(prev_images[:, -raw.shape[1]:], flow)
            image = (1 - mask) * warped + mask * raw
            out.update(flow_features=flow_features, flow=flow, mask=mask, warped_image=warped)
        else:
            image = raw
        if fg is not None and self.foreground_blend == "reference":
            image = fg * fg_mask + image * (1 - fg_mask)
        out.update(image=image, raw_image=raw)
        return out


class SequentialGenerator(nn.Module):
    """All spatial scales of F. ``scales[0]`` is the coarsest (NVIDIA's G0)."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.scales = nn.ModuleList([ScaleGenerator(cfg, s) for s in range(cfg.n_scales)])
        init_weights(self)
        # Start from the identity warp (or the prior). Random flows of several pixels at initialisation would
        # teach the rest of the network to ignore the warped frame before the flow head has learned anything.
        for net in self.scales:
            if cfg.use_flow:
                nn.init.zeros_(net.flow_out.conv.weight)
                nn.init.zeros_(net.flow_out.conv.bias)

    def set_gradient_checkpointing(self, enabled: bool) -> None:
        for m in self.modules():
            if isinstance(m, _Head):
                m.checkpointing = enabled

    def label_branches(self, labels: torch.Tensor, frozen_scales: int = 0, num_scales: int | None = None
                       ) -> list[dict]:
        """Every scale's :meth:`ScaleGenerator.label_branch` for ``labels`` (coarsest first), e.g. for all frames
        of a training sequence stacked on the batch axis; slice them per frame with :func:`split_label_parts`."""
        n = len(self.scales) if num_scales is None else num_scales
        parts, coarse = [], None
        for s, (net, x) in enumerate(zip(self.scales[:n], pyramid(labels, n))):
            with torch.no_grad() if s < frozen_scales else contextlib.nullcontext():
                coarse = net.label_branch(x, coarse)
            parts.append(coarse)
        return parts

    def forward(self, labels: torch.Tensor, prev_images: list[torch.Tensor] | torch.Tensor,
                fg_mask: torch.Tensor | None = None, frozen_scales: int = 0, num_scales: int | None = None,
                flow_prior: torch.Tensor | None = None, label_parts: list[dict] | None = None) -> dict:
        """One generation step.

        labels: (B, generator_input_nc, H, W) encoded conditioning maps of frames t-L..t at full size.
        prev_images: the L previous frames (B, 3·L, H_s, W_s) for every scale, coarsest first (each scale keeps
            its own history, as in the reference), or one full-size tensor that is downsampled for coarser scales.
        fg_mask: (B, 1, H, W) foreground mask of frame t at full size (needed with the foreground model).
        frozen_scales: the coarsest scales to run without gradient (the reference's ``niter_fix_global``).
        num_scales: run only the coarsest ``num_scales`` scales (progressive training); the inputs are then given
            at the resolution of the finest scale that runs.
        label_parts: this frame's slice of :meth:`label_branches` computed beforehand (else computed here).

        Returns a dict with the finest scale's ``image``, ``raw_image`` (h), ``warped_image``, ``flow``, ``mask``
        (m), ``foreground_image``, ``foreground_mask`` (each at full size; flow keys absent without flow), and
        ``scale_images``: every scale's output, coarsest first, for the callers' per-scale histories.
        """
        n = len(self.scales) if num_scales is None else num_scales
        label_pyr = pyramid(labels, n)
        prev_pyr = pyramid(prev_images, n) if isinstance(prev_images, torch.Tensor) else list(prev_images)
        if len(prev_pyr) != n:
            raise ValueError(f"prev_images has {len(prev_pyr)} scales, the generator has {n}")
        mask_pyr = pyramid(fg_mask, n) if fg_mask is not None else [None] * n
        if self.cfg.use_flow and self.cfg.flow_prior != "none" and flow_prior is None:
            raise ValueError(f"this generator refines a {self.cfg.flow_prior!r} flow prior: pass flow_prior "
                             "(B, 2, H, W), see v2v.flow_prior")
        prior_pyr = [None] * n
        if self.cfg.use_flow and flow_prior is not None:
            prior_pyr = [flow_prior if x.shape[-2:] == flow_prior.shape[-2:]
                         else resize_flow(flow_prior, tuple(x.shape[-2:])) for x in label_pyr]
        coarse, scale_images = None, []
        for s, net in enumerate(self.scales[:n]):
            part = label_parts[s] if label_parts is not None else None
            with torch.no_grad() if s < frozen_scales else contextlib.nullcontext():
                out = net(label_pyr[s], prev_pyr[s], mask_pyr[s], coarse, prior_pyr[s], part)
            scale_images.append(out["image"])
            coarse = out
        result = {k: v for k, v in coarse.items() if not k.endswith("_features")}
        result["foreground_mask"] = fg_mask
        result["scale_images"] = scale_images
        return result


def split_label_parts(parts: list[dict], n_frames: int) -> list[list[dict]]:
    """Per-frame slices of :meth:`SequentialGenerator.label_branches` run on ``n_frames`` frames stacked on the
    batch axis (frame-major): [frame][scale] -> {name: tensor}."""
    out = []
    for i in range(n_frames):
        frame = []
        for part in parts:
            b = next(iter(part.values())).shape[0] // n_frames
            frame.append({k: v[i * b:(i + 1) * b] for k, v in part.items()})
        out.append(frame)
    return out

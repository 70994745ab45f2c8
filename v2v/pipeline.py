"""Streaming synthesis: conditioning frames in, generated frames out, one at a time.

``Synthesizer`` owns the recurrence over frames at inference: the first L frames come from the first-frame
generator (or, without one, from the sequential generator fed blank history), every later frame from the
sequential generator fed the L previous outputs — at every spatial scale its own history, as in the reference.
Only L+1 encoded frames and L outputs per scale are kept, so memory does not grow with the video's length.

For one-hot label sets every step declares the class ids behind the generator inputs (``v2v.nn.fast.one_hot_hint``),
so networks prepared with ``v2v.nn.fast.enable_fast_inference`` compute their first convolution as a lookup.
``channels_last`` hands the networks channels-last inputs (faster oneDNN convolutions on CPU); with bf16 precision
the encoded frames are kept in bf16.
"""
from __future__ import annotations

import contextlib
from collections import deque
from typing import Iterable, Iterator

import torch
import torch.nn.functional as F

from . import conditioning
from .config import ModelConfig
from .flow_prior import label_flow_batch
from .nn.fast import one_hot_hint
from .nn.blocks import pyramid


class Synthesizer:
    def __init__(self, cfg: ModelConfig, networks: torch.nn.ModuleDict, device: str | torch.device = "cpu",
                 precision: str = "fp32", channels_last: bool = False):
        if precision not in ("fp32", "bf16"):
            raise ValueError(f"precision must be fp32 or bf16, got {precision!r}")
        self.cfg = cfg
        self.nets = networks
        self.device = torch.device(device)
        self.precision = precision
        self.channels_last = channels_last
        self.reset()

    def reset(self) -> None:
        """Forget the history: the next frame starts a new video."""
        self.t = 0
        self.frames: deque[torch.Tensor] = deque(maxlen=self.cfg.n_past_frames + 1)
        self.ids: deque[torch.Tensor] = deque(maxlen=self.cfg.n_past_frames + 1)  # one-hot label sets only
        self.previous_labels: torch.Tensor | None = None  # for the label flow prior
        self.history: list[deque[torch.Tensor]] = [deque(maxlen=self.cfg.n_past_frames)
                                                   for _ in range(self.cfg.n_scales)]

    def _autocast(self):
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.precision == "bf16")

    def _layout(self, x: torch.Tensor) -> torch.Tensor:
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    def _prepare(self, x: torch.Tensor) -> torch.Tensor:
        """An encoded frame or feature map as the networks read it: in bf16 already when they compute in bf16
        (one-hot maps and edges are exact), channels-last when asked — once per frame, not once per window."""
        return self._layout(x.to(torch.bfloat16) if self.precision == "bf16" else x)

    @torch.inference_mode()
    def step(self, labels: torch.Tensor, instances: torch.Tensor | None = None, mask: torch.Tensor | None = None,
             features: torch.Tensor | None = None) -> dict:
        """Generate the next frame.

        labels: (1, H, W) ids or (1, C, H, W) uint8 maps; instances: (1, H, W); mask: (1, 1, H, W) foreground mask
        for image-type labels; features: (1, feat_nc, H, W) pooled style features (zeros when None).
        Returns a dict of (1, C, H, W) float tensors: ``image`` in [-1, 1], and when the sequential generator ran,
        ``raw_image``, ``warped_image``, ``flow``, ``mask``, ``foreground_mask``.
        """
        cfg, L = self.cfg, self.cfg.n_past_frames
        dev = self.device
        enc = self._prepare(conditioning.encode(cfg, labels.to(dev), None if instances is None else instances.to(dev)))
        fg = conditioning.fg_mask(cfg, labels.to(dev), None if mask is None else mask.to(dev).float())
        feats = None if features is None else self._prepare(features.to(dev))
        self.frames.append(enc)
        onehot = cfg.labels.encoding == "onehot"
        if onehot:
            self.ids.append(labels.to(dev).long())
        labels_cpu = labels.detach().cpu() if cfg.use_flow and cfg.flow_prior == "labels" else None
        with self._autocast():
            if self.t < L and "first_frame" in self.nets:
                x = self._layout(conditioning.first_frame_input(cfg, enc, feats))
                with one_hot_hint(x, self.ids[-1].unsqueeze(1)) if onehot else contextlib.nullcontext():
                    out = self.nets["first_frame"](x)
                image = out["image"].float()
                result = {"image": image}
                scale_images = pyramid(image, cfg.n_scales)
            else:
                frames = list(self.frames)
                x = self._layout(conditioning.generator_input(cfg, frames, len(frames) - 1, feats))
                prior = None
                if labels_cpu is not None:  # DIS flow between this frame's labels and the previous frame's
                    if self.previous_labels is None:  # the video's first frame: no motion yet
                        prior = torch.zeros(labels_cpu.shape[0], 2, *labels_cpu.shape[-2:], device=dev)
                    else:
                        prior = label_flow_batch(labels_cpu, self.previous_labels).to(dev)
                prev = []
                for s, hist in enumerate(self.history):
                    h, w = x.shape[-2] // 2 ** (cfg.n_scales - 1 - s), x.shape[-1] // 2 ** (cfg.n_scales - 1 - s)
                    past = list(hist)
                    while len(past) < L:  # no first-frame generator: blank history, as the reference's no_first_img
                        past.insert(0, x.new_zeros(1, cfg.output_nc, h, w))
                    prev.append(self._layout(torch.cat(past, 1)))
                if onehot:  # the same window of ids as conditioning.window: before the start, frame 0 repeats
                    t = len(self.ids) - 1
                    ids = torch.stack([self.ids[max(i, 0)] for i in range(t - L, t + 1)], 1)
                    with one_hot_hint(x, ids):
                        out = self.nets["generator"](x, prev, fg, flow_prior=prior)
                else:
                    out = self.nets["generator"](x, prev, fg, flow_prior=prior)
                result = {k: v.float() for k, v in out.items() if isinstance(v, torch.Tensor)}
                scale_images = [im.float() for im in out["scale_images"]]
        for hist, im in zip(self.history, scale_images):
            hist.append(im)
        self.previous_labels = labels_cpu
        self.t += 1
        return result

    def blend_last(self, plain: "Synthesizer", weight: torch.Tensor) -> torch.Tensor:
        """Make this recurrence's latest output ``plain``'s latest output + ``weight`` x (this one's - plain's), at
        every scale (``weight``: (1, 1, H, W) at full size, area-resized for the coarser scales), so that the next
        frames continue from the blend (:mod:`v2v.local_edit`). Returns the blended full-size image."""
        weight = weight.to(self.device)
        for mine, theirs in zip(self.history, plain.history):
            edited, base = mine[-1], theirs[-1]
            w = weight if weight.shape[-2:] == edited.shape[-2:] else F.interpolate(weight, edited.shape[-2:],
                                                                                     mode="area")
            mine[-1] = base + w.to(base.dtype) * (edited - base)
        return self.history[-1][-1]

    def run(self, inputs: Iterable[dict]) -> Iterator[dict]:
        """Each input dict has ``labels`` (and optionally ``instances``, ``mask``, ``features``) for one frame."""
        self.reset()
        for item in inputs:
            yield self.step(**item)

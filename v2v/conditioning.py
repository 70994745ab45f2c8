"""Turning label frames into generator inputs, shared by the trainer and the inference pipeline so that both feed
the networks the same way.

Shapes: ``labels`` are (B, H, W) ids for one-hot label sets or (B, C, H, W) uint8 maps for image label sets;
``instances`` (B, H, W) ids. An encoded frame is (B, frame_channels, H, W).
"""
from __future__ import annotations

import torch

from .config import ModelConfig
from .labels import encode_frame, foreground_mask


def encode(cfg: ModelConfig, labels: torch.Tensor, instances: torch.Tensor | None = None) -> torch.Tensor:
    return encode_frame(cfg.labels, labels, instances, cfg.use_instance)


def fg_mask(cfg: ModelConfig, labels: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor | None:
    """Foreground mask of a frame (B, 1, H, W): the foreground classes for one-hot label sets, else ``mask``
    (e.g. a person mask) or None when the model has no foreground generator."""
    if not cfg.use_foreground:
        return None
    if cfg.labels.encoding == "onehot":
        return foreground_mask(cfg.labels, labels, cfg.fg_ids)
    if mask is None:
        raise ValueError("this model's foreground generator needs a foreground mask for image-type labels")
    return mask


def window(frames: list[torch.Tensor], t: int, n_past: int) -> torch.Tensor:
    """Concatenate encoded frames t-n_past..t (oldest first) on channels; before the start, repeat frame 0."""
    return torch.cat([frames[max(i, 0)] for i in range(t - n_past, t + 1)], 1)


def generator_input(cfg: ModelConfig, frames: list[torch.Tensor], t: int,
                    features: torch.Tensor | None = None) -> torch.Tensor:
    """Input of the sequential generator for frame t: L+1 encoded frames, then style features if any."""
    x = window(frames, t, cfg.n_past_frames)
    if cfg.feature_channels:
        if features is None:
            features = x.new_zeros(x.shape[0], cfg.feature_channels, *x.shape[-2:])
        x = torch.cat([x, features], 1)
    return x


def first_frame_input(cfg: ModelConfig, frame: torch.Tensor, features: torch.Tensor | None = None) -> torch.Tensor:
    if cfg.feature_channels:
        if features is None:
            features = frame.new_zeros(frame.shape[0], cfg.feature_channels, *frame.shape[-2:])
        frame = torch.cat([frame, features], 1)
    return frame

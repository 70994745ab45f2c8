"""Turning tensors into pictures: conditioning maps, images in [-1, 1], flows and masks as uint8 RGB."""
from __future__ import annotations

import numpy as np
import torch

from .config import ModelConfig
from .flow import flow_to_color
from .labels import colorize


def image_to_uint8(x: torch.Tensor) -> np.ndarray:
    """(3, H, W) or (1, 3, H, W) in [-1, 1] -> (H, W, 3) uint8."""
    if x.dim() == 4:
        x = x[0]
    return ((x.detach().float().clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).cpu().numpy()


def mask_to_uint8(m: torch.Tensor) -> np.ndarray:
    """(1, H, W) or (1, 1, H, W) in [0, 1] -> (H, W, 3) gray uint8."""
    m = m.reshape(m.shape[-2:]).detach().float().clamp(0, 1)
    g = (m * 255).round().byte().cpu().numpy()
    return np.repeat(g[..., None], 3, -1)


def flow_to_uint8(f: torch.Tensor) -> np.ndarray:
    return flow_to_color(f.reshape(2, *f.shape[-2:]))


def conditioning_to_uint8(cfg: ModelConfig, encoded: torch.Tensor) -> np.ndarray:
    """An encoded conditioning frame (C, H, W) or (1, C, H, W) -> colour picture."""
    if encoded.dim() == 4:
        encoded = encoded[0]
    ls = cfg.labels
    if ls.encoding == "onehot":
        ids = encoded[: ls.num_classes].float().argmax(0).cpu().numpy()
        return colorize(ids, ls)
    maps = encoded[: ls.image_channels]
    if maps.shape[0] == 1:
        maps = maps.expand(3, -1, -1)
    return image_to_uint8(maps)

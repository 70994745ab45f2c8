"""Deterministic synthetic generator inputs for benchmarks: a piecewise-constant label map (random regions with
random classes, like a segmentation) and smooth previous frames."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..config import ModelConfig
from ..labels import encode_frame, foreground_mask


def synthetic_label_ids(num_classes: int, height: int, width: int, seed: int = 0, regions: int = 24) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    centres = torch.rand(regions, 2, generator=g) * torch.tensor([height, width])
    classes = torch.randint(0, num_classes, (regions,), generator=g)
    ys, xs = torch.meshgrid(torch.arange(height), torch.arange(width), indexing="ij")
    d = (ys[None] - centres[:, 0, None, None]) ** 2 + (xs[None] - centres[:, 1, None, None]) ** 2
    return classes[d.argmin(0)].unsqueeze(0)  # (1, H, W)


def synthetic_step_inputs(cfg: ModelConfig, height: int, width: int, seed: int = 0) -> dict:
    """{"labels", "prev_images", "fg_mask"} (and "flow_prior" when the model refines one) for one generator step
    at batch size 1."""
    ls = cfg.labels
    g = torch.Generator().manual_seed(seed)
    frames, fg = [], None
    for t in range(cfg.n_past_frames + 1):
        if ls.encoding == "onehot":
            ids = synthetic_label_ids(ls.num_classes, height, width, seed + t)
            frames.append(encode_frame(ls, ids, ids, cfg.use_instance))
            fg = foreground_mask(ls, ids, cfg.fg_ids)
        else:
            maps = torch.rand(1, ls.image_channels, max(height // 8, 1), max(width // 8, 1), generator=g) * 255
            frames.append(encode_frame(ls, F.interpolate(maps, size=(height, width), mode="nearest")))
            fg = torch.zeros(1, 1, height, width)
    if cfg.feature_channels:
        frames.append(torch.rand(1, cfg.feature_channels, height, width, generator=g) * 2 - 1)
    prev = torch.rand(1, cfg.output_nc * cfg.n_past_frames, max(height // 16, 1), max(width // 16, 1),
                      generator=g) * 2 - 1
    prev = F.interpolate(prev, size=(height, width), mode="bilinear", align_corners=False)
    out = {"labels": torch.cat(frames, 1), "prev_images": prev, "fg_mask": fg}
    if cfg.use_flow and cfg.flow_prior != "none":  # a smooth random field of about a pixel
        prior = torch.randn(1, 2, max(height // 16, 1), max(width // 16, 1), generator=g)
        out["flow_prior"] = F.interpolate(prior, size=(height, width), mode="bilinear", align_corners=False)
    return out

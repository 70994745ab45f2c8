"""Feature encoder E and instance-wise average pooling (multimodal synthesis).

E maps a real frame to a feat_nc-channel map (pix2pixHD's Encoder: 7×7 conv, n stride-2 convs, n transposed
convs, 7×7 conv, tanh). ``instance_pool`` replaces every pixel by the mean feature of its region — its object
for "thing" pixels (instance id > 0) and its class region for "stuff" pixels (or zeros with
``encoder.stuff_pooling: false``) — with one scatter-add, no loop over instances.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from ..config import EncoderConfig
from .blocks import ConvBlock, down_blocks, init_weights, up_blocks


class FeatureEncoder(nn.Module):
    def __init__(self, cfg: EncoderConfig, input_nc: int = 3, upsample: str = "transpose"):
        super().__init__()
        self.multiple = 2 ** cfg.n_downsample
        self.net = nn.Sequential(
            ConvBlock(input_nc, cfg.nef, 7, norm="instance", padding="reflect"),
            *down_blocks(cfg.nef, cfg.n_downsample, "instance"),
            *up_blocks(cfg.nef, cfg.n_downsample, "instance", upsample),
            ConvBlock(cfg.nef, cfg.feat_nc, 7, norm="none", activation="tanh", padding="reflect"))
        init_weights(self)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        h, w = image.shape[-2:]
        if h % self.multiple or w % self.multiple:
            raise ValueError(f"encoder input {w}x{h} must be a multiple of {self.multiple}")
        return self.net(image)


def region_ids(labels: torch.Tensor, instances: torch.Tensor, num_classes: int, stuff: bool = True) -> torch.Tensor:
    """(B, H, W) region key: num_classes + instance id for object pixels, the class id for stuff pixels (-1, "no
    region", when ``stuff`` is False: stuff then gets no style feature)."""
    return torch.where(instances > 0, instances.long() + num_classes, labels.long() if stuff else -1)


def instance_pool(features: torch.Tensor, regions: torch.Tensor) -> torch.Tensor:
    """Mean of ``features`` (B, C, H, W) over each region of ``regions`` (B, H, W), broadcast back to pixels; pixels
    of region -1 get zeros."""
    b, c, h, w = features.shape
    keys = regions.reshape(b, -1) + 1  # >= 0 (region -1 included), so per-image offsets cannot collide
    uniq, inverse = torch.unique(keys + keys.new_tensor(range(b)).unsqueeze(1) * (int(keys.max()) + 1),
                                 return_inverse=True)
    inverse = inverse.reshape(-1)
    # sums in fp32 whatever the input: a bf16 running sum stops growing once it is ~256x the summand (8-bit
    # mantissa), so under autocast the means of large regions came out several times too small
    flat = features.float().permute(0, 2, 3, 1).reshape(-1, c)
    sums = flat.new_zeros(len(uniq), c).index_add_(0, inverse, flat)
    counts = flat.new_zeros(len(uniq)).index_add_(0, inverse, flat.new_ones(inverse.shape[0]))
    means = sums / counts.unsqueeze(1)
    pooled = means[inverse].reshape(b, h, w, c).permute(0, 3, 1, 2)
    return (pooled * (regions >= 0).unsqueeze(1).float()).to(features.dtype)

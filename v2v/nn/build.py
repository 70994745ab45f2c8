"""Build every network a ModelConfig describes."""
from __future__ import annotations

import torch.nn as nn

from ..config import ModelConfig
from .discriminator import MultiscaleDiscriminator, TemporalDiscriminators
from .encoder import FeatureEncoder
from .first_frame import FirstFrameGenerator
from .generator import SequentialGenerator


def build_generators(cfg: ModelConfig) -> nn.ModuleDict:
    """What inference needs: ``generator`` (F), ``first_frame`` and ``encoder`` when enabled."""
    nets = nn.ModuleDict({"generator": SequentialGenerator(cfg)})
    if cfg.first_frame.enabled:
        nets["first_frame"] = FirstFrameGenerator(cfg.first_frame, cfg.frame_channels + cfg.feature_channels,
                                                  cfg.output_nc, cfg.modulation_channels,
                                                  cfg.encoder.modulation_hidden, cfg.upsample, cfg.spade_hidden,
                                                  label_nc=cfg.frame_channels)
    if cfg.encoder.enabled:
        nets["encoder"] = FeatureEncoder(cfg.encoder, cfg.output_nc, cfg.upsample)
    return nets


def build_discriminators(cfg: ModelConfig, face: bool = False) -> nn.ModuleDict:
    """What training adds: the conditional image D and the temporal Ds; with ``face``, a one-scale conditional D
    for head crops (the face discriminator of Everybody Dance Now / vid2vid's add_face_disc)."""
    d = cfg.discriminator
    nets = {
        "image": MultiscaleDiscriminator(cfg.frame_channels + cfg.output_nc, d.ndf, d.n_layers, d.num_D, d.norm),
        "temporal": TemporalDiscriminators(d.n_frames_D, d.n_scales_temporal, cfg.output_nc, d.ndf, d.n_layers,
                                           d.num_D_temporal or d.num_D, d.norm),
    }
    if face:
        nets["face"] = MultiscaleDiscriminator(cfg.frame_channels + cfg.output_nc, d.ndf, d.n_layers, 1, d.norm)
    return nn.ModuleDict(nets)

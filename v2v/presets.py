"""Model presets, as data. ``model_preset(name, **overrides)`` returns a validated ModelConfig.

The paper's street models follow NVIDIA's released configurations (layer layout, widths, batch norm), so their
parameter counts match the released checkpoints; the small presets are what the demo models train on a CPU.
"""
from __future__ import annotations

import copy

from .config import ConfigError, ModelConfig, deep_merge, from_dict, set_path

PRESETS: dict[str, dict] = {
    # NVIDIA label2city_2048: G0 at 512x256 (ngf 128), G1 at 1024x512, G2 at 2048x1024.
    "label2city_2048": {
        "label_set": "cityscapes", "use_instance": True, "ngf": 128, "n_downsample": 3, "n_blocks": 9,
        "n_scales": 3, "norm": "batch", "use_foreground": True,
        "first_frame": {"ngf": 32, "n_downsample": 4, "n_local_enhancers": 1},
        "discriminator": {"num_D": 4, "n_scales_temporal": 3},
    },
    # NVIDIA label2city_1024_g1 (n_downsample 2).
    "label2city_1024": {
        "label_set": "cityscapes", "use_instance": True, "ngf": 128, "n_downsample": 2, "n_blocks": 9,
        "n_scales": 3, "norm": "batch", "use_foreground": True,
        "first_frame": {"ngf": 64, "n_downsample": 4},
        "discriminator": {"num_D": 3, "n_scales_temporal": 3},
    },
    # pose2body at 512: two spatial scales, no foreground model (as the reference's pose scripts).
    "pose_512": {
        "label_set": "pose", "use_instance": False, "ngf": 128, "n_downsample": 3, "n_blocks": 9,
        "n_scales": 2, "norm": "batch", "use_foreground": False,
        "first_frame": {"ngf": 64, "n_downsample": 4},
        "discriminator": {"num_D": 3, "n_scales_temporal": 2},
    },
    # edge2face at 512.
    "face_512": {
        "label_set": "face", "use_instance": False, "ngf": 128, "n_downsample": 3, "n_blocks": 9,
        "n_scales": 1, "norm": "batch", "use_foreground": False,
        "first_frame": {"ngf": 64, "n_downsample": 3},
        "discriminator": {"num_D": 3, "n_scales_temporal": 2},
    },
    # The reference layout at ngf 64 (speed comparisons against NVIDIA's implementation).
    "nvidia_ref_ngf64": {
        "label_set": "cityscapes", "use_instance": True, "ngf": 64, "n_downsample": 3, "n_blocks": 9,
        "n_scales": 1, "norm": "batch", "use_foreground": True,
    },
    # CPU demo models: small enough to train on 2 cores and to ship (fp16 export <= 20 MB).
    "street_256": {
        "label_set": "cityscapes", "use_instance": True, "ngf": 16, "n_downsample": 2, "n_blocks": 6,
        "n_scales": 1, "norm": "instance", "use_foreground": True, "foreground_blend": "paper",
        "flow_prior": "labels", "upsample": "resize_conv",
        "first_frame": {"ngf": 16, "n_downsample": 3, "n_blocks": 4},
        "encoder": {"enabled": True, "feat_nc": 3, "nef": 16, "n_downsample": 3, "modulation": True},
        "discriminator": {"ndf": 32, "num_D": 2, "n_layers": 3, "n_scales_temporal": 2, "norm": "instance"},
    },
    "dancer_256": {
        "label_set": "pose", "use_instance": False, "ngf": 16, "n_downsample": 3, "n_blocks": 6,
        "n_scales": 1, "norm": "instance", "use_foreground": False, "upsample": "resize_conv",
        "first_frame": {"ngf": 16, "n_downsample": 3, "n_blocks": 4},
        "discriminator": {"ndf": 32, "num_D": 2, "n_layers": 3, "n_scales_temporal": 2, "norm": "instance"},
    },
}


def model_preset(name: str, overrides: dict | None = None) -> ModelConfig:
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r}; known: {', '.join(PRESETS)}")
    """Overrides are a nested mapping or dotted keys (``{"first_frame.ngf": 16}``), merged over the preset."""
    data = copy.deepcopy(PRESETS[name])
    for key, value in (overrides or {}).items():
        nested: dict = {}
        set_path(nested, key, value)
        data = deep_merge(data, nested)
    return from_dict(ModelConfig, data)

"""Validated configuration dataclasses. Unknown keys are errors that name the key.

``ModelConfig`` describes the networks (what an exported model needs to be rebuilt); the training driver in
``train/`` adds its own ``TrainConfig`` with the same strictness.
"""
from __future__ import annotations

import dataclasses
import difflib
import typing
from dataclasses import dataclass, field

from .labels import LabelSet, load_label_set


class ConfigError(ValueError):
    pass


def _convert(value, tp, where: str):
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        return from_dict(tp, value, where)
    if origin is typing.Union:
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None:
            return None
        return _convert(value, args[0], where)
    if origin in (tuple, list):
        if isinstance(value, str):
            value = [v for v in value.split(",") if v.strip()]
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        (inner, *_rest) = typing.get_args(tp) or (object,)
        return tuple(_convert(v, inner, where) for v in value)
    if tp is bool:
        if isinstance(value, str):
            if value.lower() in ("1", "true", "yes", "on"):
                return True
            if value.lower() in ("0", "false", "no", "off"):
                return False
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{where}: expected true/false, got {value!r}")
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        try:
            return int(value)
        except ValueError:
            raise ConfigError(f"{where}: expected an integer, got {value!r}") from None
    if tp is float:
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: expected a number, got {value!r}") from None
    if tp is str:
        return str(value)
    return value


def from_dict(cls, data: dict, where: str = ""):
    """Build dataclass ``cls`` from ``data``; unknown keys and wrong types raise ConfigError."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in data.items():
        path = f"{where}.{key}" if where else key
        if key not in names:
            close = difflib.get_close_matches(key, names, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(f"unknown config key {path!r}{hint}")
        kwargs[key] = _convert(value, hints[key], path)
    obj = cls(**kwargs)
    validate = getattr(obj, "validate", None)
    if validate:
        validate()
    return obj


def to_dict(obj) -> dict:
    def conv(v):
        if dataclasses.is_dataclass(v):
            return {f.name: conv(getattr(v, f.name)) for f in dataclasses.fields(v)}
        if isinstance(v, tuple):
            return [conv(x) for x in v]
        return v
    return conv(obj)


def deep_merge(base: dict, update: dict) -> dict:
    """A copy of ``base`` with ``update`` merged in, recursing into nested mappings."""
    out = dict(base)
    for k, v in update.items():
        out[k] = deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def set_path(data: dict, dotted: str, value) -> None:
    """Set ``a.b.c=value`` in a nested dict (used by key=value overrides)."""
    parts = dotted.split(".")
    node = data
    for p in parts[:-1]:
        node = node.setdefault(p, {})
        if not isinstance(node, dict):
            raise ConfigError(f"override {dotted!r}: {p!r} is not a section")
    node[parts[-1]] = value


NORMS = ("batch", "instance", "none", "instance_plain")  # instance_plain: no affine (pix2pixHD)
# The generators' norm may also be "spade" (v2v/nn/spade.py): their decoders normalise with label-conditioned
# scales and shifts (SPADE, as imaginaire's vid2vid), their encoders with affine instance norms.
GENERATOR_NORMS = (*NORMS, "spade")
FOREGROUND_BLENDS = ("reference", "paper")
FLOW_PRIORS = ("none", "labels")  # see v2v/flow_prior.py
UPSAMPLES = ("transpose", "resize_conv")  # see v2v/nn/blocks.py


@dataclass
class FirstFrameConfig:
    """pix2pixHD-style single-image generator used for the first L frames."""
    enabled: bool = True
    ngf: int = 64
    n_downsample: int = 3
    n_blocks: int = 9
    n_local_enhancers: int = 0
    n_blocks_local: int = 3
    norm: str = "instance"  # or "spade" (label-conditioned decoder norms, width model.spade_hidden)
    input_channels: int = 0  # read only the first N input channels (NVIDIA's single G: the 35 one-hot ones); 0: all

    def validate(self):
        if self.norm not in GENERATOR_NORMS:
            raise ConfigError(f"first_frame.norm must be one of {GENERATOR_NORMS}, got {self.norm!r}")
        if self.input_channels < 0:
            raise ConfigError(f"first_frame.input_channels must be >= 0, got {self.input_channels}")


@dataclass
class EncoderConfig:
    """Feature encoder E for multimodal (per-instance style) synthesis."""
    enabled: bool = False
    feat_nc: int = 3
    nef: int = 16
    n_downsample: int = 4
    stuff_pooling: bool = True  # pool "stuff" classes (road, sky...) over their class region
    # Besides entering as input channels, the features scale and shift the generators' last feature maps per pixel
    # (v2v/nn/modulation.py), after the last instance norm, so that they set a large region's look (the road) as
    # firmly as a small one's. Off in the paper presets (NVIDIA's layout, convertible checkpoints); no effect
    # while the encoder is off.
    modulation: bool = False
    modulation_hidden: int = 32

    def validate(self):
        if self.feat_nc < 1 or self.modulation_hidden < 1:
            raise ConfigError(f"encoder.feat_nc and encoder.modulation_hidden must be >= 1, got {self.feat_nc} "
                              f"and {self.modulation_hidden}")


@dataclass
class DiscriminatorConfig:
    ndf: int = 64
    n_layers: int = 3
    num_D: int = 2
    n_frames_D: int = 3
    n_scales_temporal: int = 2
    num_D_temporal: int = 0  # 0: same as num_D
    norm: str = "batch"

    def validate(self):
        if self.norm not in NORMS:
            raise ConfigError(f"discriminator.norm must be one of {NORMS}, got {self.norm!r}")


@dataclass
class ModelConfig:
    label_set: str = "cityscapes"
    use_instance: bool = True
    output_nc: int = 3
    n_past_frames: int = 2  # L
    ngf: int = 128
    n_downsample: int = 3
    n_blocks: int = 9
    n_blocks_local: int = 3
    n_scales: int = 1  # spatial scales of the sequential generator (G0 + local enhancers)
    norm: str = "batch"  # or "spade": label-conditioned norms in the decoders (v2v/nn/spade.py)
    spade_hidden: int = 128  # SPADE's hidden width (the paper's 128), for model.norm and first_frame.norm "spade"
    use_flow: bool = True
    flow_multiplier: float = 20.0
    # "none" (the paper): the flow head predicts the flow from scratch. "labels": it predicts a residual on top of
    # DIS flow between consecutive label maps (v2v/flow_prior.py), which a short run can learn to correct.
    flow_prior: str = "none"
    use_foreground: bool = True
    foreground_labels: tuple[int, ...] = ()  # empty: the label set's default foreground classes
    # Where the foreground generator's image goes. "reference" (NVIDIA's code): over the final frame, so foreground
    # objects are hallucinated afresh every frame and never warped. "paper" (Eq. 9 of the paper): into the
    # hallucinated frame h, which the occlusion mask then blends with the warped previous frame, so foreground
    # objects are carried along the flow where it is reliable.
    foreground_blend: str = "reference"
    # How every decoder (sequential, first-frame, style encoder) doubles its size: "transpose" (the paper and
    # NVIDIA's checkpoints) or "resize_conv" (nearest x2 + 3x3 conv: no checkerboard; the CPU demo presets).
    upsample: str = "transpose"
    first_frame: FirstFrameConfig = field(default_factory=FirstFrameConfig)
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    discriminator: DiscriminatorConfig = field(default_factory=DiscriminatorConfig)

    def validate(self):
        if self.norm not in GENERATOR_NORMS:
            raise ConfigError(f"norm must be one of {GENERATOR_NORMS}, got {self.norm!r}")
        if self.spade_hidden < 1:
            raise ConfigError(f"spade_hidden must be >= 1, got {self.spade_hidden}")
        if self.foreground_blend not in FOREGROUND_BLENDS:
            raise ConfigError(f"foreground_blend must be one of {FOREGROUND_BLENDS}, got {self.foreground_blend!r}")
        if self.upsample not in UPSAMPLES:
            raise ConfigError(f"upsample must be one of {UPSAMPLES}, got {self.upsample!r}")
        if self.flow_prior not in FLOW_PRIORS:
            raise ConfigError(f"flow_prior must be one of {FLOW_PRIORS}, got {self.flow_prior!r}")
        if not 1 <= self.n_scales <= 3:
            raise ConfigError(f"n_scales must be 1, 2 or 3, got {self.n_scales}")
        if self.n_past_frames < 1:
            raise ConfigError(f"n_past_frames must be at least 1, got {self.n_past_frames}")
        if self.ngf % (2 ** (self.n_scales - 1)) or self.ngf < 2 ** self.n_scales:
            raise ConfigError(f"ngf {self.ngf} must be divisible by 2**(n_scales-1) = {2 ** (self.n_scales - 1)}")
        try:
            ls = self.labels
        except ValueError as e:
            raise ConfigError(str(e)) from None
        if ls.encoding != "onehot" and self.encoder.enabled:
            raise ConfigError("encoder.enabled needs a one-hot label set with instances (street scenes)")
        for i in self.foreground_labels:
            if not 0 <= i < max(ls.num_classes, 1):
                raise ConfigError(f"foreground_labels: id {i} is not in label set {ls.name!r}")

    @property
    def labels(self) -> LabelSet:
        return load_label_set(self.label_set)

    @property
    def frame_channels(self) -> int:
        """Channels of one encoded conditioning frame."""
        return self.labels.channels(self.use_instance)

    @property
    def feature_channels(self) -> int:
        return self.encoder.feat_nc if self.encoder.enabled else 0

    @property
    def modulation_channels(self) -> int:
        """Style feature channels that also modulate the generators' last feature maps (0: no modulation)."""
        return self.feature_channels if self.encoder.modulation else 0

    @property
    def generator_input_nc(self) -> int:
        """Channels the sequential generator sees: L+1 conditioning frames (+ style features)."""
        return self.frame_channels * (self.n_past_frames + 1) + self.feature_channels

    @property
    def fg_ids(self) -> tuple[int, ...]:
        return self.foreground_labels or self.labels.foreground

    @property
    def size_multiple(self) -> int:
        """Frame width and height must be multiples of this: the deepest downsampling of any network that reads
        the frames (sequential generator, first-frame generator, style encoder) keeps whole pixels."""
        ff = self.first_frame
        return max(2 ** (self.n_downsample + self.n_scales - 1),
                   2 ** (ff.n_downsample + ff.n_local_enhancers) if ff.enabled else 1,
                   2 ** self.encoder.n_downsample if self.encoder.enabled else 1)


def nearest_valid_size(width: int, height: int, multiple: int) -> tuple[int, int]:
    def r(v):
        return max(multiple, int(round(v / multiple)) * multiple)
    return r(width), r(height)


def check_size(width: int, height: int, multiple: int) -> None:
    if width % multiple or height % multiple:
        w, h = nearest_valid_size(width, height, multiple)
        raise ConfigError(f"size {width}x{height} is not a multiple of {multiple} as this network needs; "
                          f"nearest valid size: {w}x{h}")

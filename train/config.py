"""The training configuration: strict dataclasses loaded from YAML plus ``key=value`` overrides.

The model itself is a preset name plus a (nested) mapping of ModelConfig overrides, so a training config never
repeats the architecture.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from v2v.config import ConfigError, ModelConfig, deep_merge, from_dict, set_path, to_dict
from v2v.losses import GAN_MODES, LossWeights
from v2v.precision import PRECISIONS
from v2v.presets import model_preset

from .diff_augment import parse_policy

TRAIN_PRECISIONS = (*PRECISIONS, "fp16")


@dataclass
class DataConfig:
    root: str = ""
    train_sequences: tuple[str, ...] = ()  # empty: every sequence not held out for validation
    val_sequences: tuple[str, ...] = ()  # held-out sequences of val_root (of root when val_root is empty)
    val_root: str = ""  # a separate prepared dataset for validation (e.g. held-out frames of the same clip)
    val_frames: int = 30  # frames of each validation sequence that the validation pass generates
    crop: tuple[int, ...] = ()  # (W, H) random crop; empty: full frames
    # (min, max) scale of the dataset's frames in the training crops (needs crop): each run is a random box of
    # crop / z source pixels resized to the crop, z drawn log-uniformly (v2v.dataset). Below 1 it samples a
    # larger prepared dataset down without blur (data/cityscapes_512 at 0.4-0.64 is the 256x128 scale x0.8-1.26).
    zoom: tuple[float, ...] = ()
    flip: bool = True
    recolor: float = 0.0  # street: chance per class per training run of a random colour (v2v.dataset.recolor_regions)
    # street: chance per training run that its right part (from a random column in the middle half) comes from a
    # run of another sequence: layouts no single sequence has (v2v.dataset.mix_layouts)
    layout_mix: float = 0.0
    num_workers: int = 0
    samples_per_epoch: int = 0

    def validate(self):
        if not 0.0 <= self.layout_mix <= 1.0:
            raise ConfigError(f"data.layout_mix is a probability in [0, 1], got {self.layout_mix}")
        if self.zoom:
            if len(self.zoom) != 2 or not 0 < self.zoom[0] <= self.zoom[1]:
                raise ConfigError(f"data.zoom is (min, max) with 0 < min <= max, got {list(self.zoom)}")
            if not self.crop:
                raise ConfigError("data.zoom needs data.crop: the size (W, H) the zoomed boxes are resized to")


@dataclass
class ScheduleConfig:
    """The spatio-temporally progressive schedule, in optimisation steps."""
    n_frames_start: int = 4  # frames per training sequence (L real history frames + generated frames)
    n_frames_max: int = 16
    n_frames_double_every: int = 0  # 0: never grow
    frames_backprop: int = 1  # generated frames that gradients flow back through (truncated BPTT)
    scale_every: int = 0  # steps between adding finer spatial scales; 0: all scales from the start
    new_scale_only: int = 0  # steps after adding a scale during which only the new scale trains
    lr_decay_start: float = 0.5  # fraction of max_steps after which every learning rate decays linearly to 0
    # Chance per step that the L history frames the sequential generator starts from are the first-frame
    # generator's outputs (detached) instead of the real frames. The reference always starts from real frames,
    # but inference starts from generated ones: a model that only ever warped real frames learns to copy its
    # history, and at inference copies (and re-blurs, warp after warp) a first frame it never learned to repair.
    generated_history: float = 0.0

    def validate(self):
        if self.n_frames_start < 2 or self.n_frames_max < self.n_frames_start:
            raise ConfigError("schedule: need 2 <= n_frames_start <= n_frames_max")
        if not 0.0 <= self.generated_history <= 1.0:
            raise ConfigError(f"schedule.generated_history is a probability, got {self.generated_history}")
        if not 0.0 <= self.lr_decay_start <= 1.0:
            raise ConfigError("schedule.lr_decay_start must be within [0, 1]")


@dataclass
class TrainConfig:
    preset: str = "street_256"
    model: dict = field(default_factory=dict)
    data: DataConfig = field(default_factory=DataConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    loss: LossWeights = field(default_factory=LossWeights)
    gan_mode: str = "ls"
    raw_image_losses: bool = True
    vgg_weights: str = ""  # torchvision VGG19 state dict; empty: $V2V_VGG19_WEIGHTS, else no VGG loss
    out_dir: str = "runs/default"
    max_steps: int = 1000
    save_every: int = 200
    log_every: int = 10
    sample_every: int = 200
    val_every: int = 0
    batch_size: int = 1
    lr: float = 2e-4
    # Exponential moving average of the generators' weights (0: off). With it, the export, validation and samples
    # use the average, which smooths the GAN's step-to-step oscillation (0.999: about the last 1000 steps).
    ema_decay: float = 0.0
    # DiffAugment of every discriminator's input, real and generated alike (train/diff_augment.py): "" (off) or a
    # comma-separated subset of color, translation, cutout. For tiny datasets, where D memorises the real frames.
    diff_augment: str = ""
    # Side in pixels of the square head crop a face discriminator sees (0: none). Pose datasets only: the head is
    # found from the dataset's keypoints (v2v.face_crop); its generator-side weight is loss.face_gan.
    face_crop: int = 0
    beta1: float = 0.5
    beta2: float = 0.999
    # auto | fp32 | bf16 | fp16. auto: bf16 where the hardware has native bf16 (AVX512-BF16/AMX CPUs, GPUs), else
    # fp32 (emulated bf16 is ~10x slower; v2v.precision). fp16 uses a GradScaler; for GPUs without bf16.
    precision: str = "auto"
    # auto | true | false. auto: channels-last tensors only with bf16 (oneDNN's bf16 kernels want them); in fp32
    # they cost: measured on an AVX2 CPU (1 thread), street_256 steps 1.16x and dancer_256 steps 1.49x faster
    # without (the weight gradient of the first 7x7 convolution is 2.3x slower channels-last).
    channels_last: str = "auto"
    grad_checkpointing: bool = False
    # Run the sequential generator's label-only branches (label encoder, foreground generator) for all frames of a
    # sequence as one batch instead of frame by frame: the same result with instance norm, fewer, larger
    # operations. Ignored with norm "batch" (batch statistics would then mix the frames).
    batch_label_branches: bool = True
    # Reflection padding with a layout-proof backward, and no gradient for the label channels of the generators'
    # first convolutions (v2v.nn.blocks.ReflectConv2d; exact). false: PyTorch's own path, for comparisons.
    fast_padding: bool = True
    # In float32, the one-hot label channels of the generators' first convolutions are summed by lookup (per-class
    # kernel columns, v2v.nn.fast.one_hot_training_conv) instead of convolved: the same sums, differentiable in
    # the weights. false: the dense convolution, for comparisons. (bf16 keeps the dense convolution.)
    one_hot_lookup: bool = True
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda
    threads: int = 0  # torch intra-op threads per process on CPU; 0: torch's default

    def validate(self):
        if self.gan_mode not in GAN_MODES:
            raise ConfigError(f"gan_mode must be one of {GAN_MODES}, got {self.gan_mode!r}")
        if self.precision not in TRAIN_PRECISIONS:
            raise ConfigError(f"precision must be one of {', '.join(TRAIN_PRECISIONS)}, got {self.precision!r}")
        flag = str(self.channels_last).lower()
        self.channels_last = {"1": "true", "yes": "true", "on": "true", "0": "false", "no": "false",
                              "off": "false"}.get(flag, flag)
        if self.channels_last not in ("auto", "true", "false"):
            raise ConfigError(f"channels_last must be auto, true or false, got {self.channels_last!r}")
        if self.device not in ("auto", "cpu", "cuda"):
            raise ConfigError(f"device must be auto, cpu or cuda, got {self.device!r}")
        try:
            parse_policy(self.diff_augment)
        except ValueError as e:
            raise ConfigError(str(e)) from None
        if not 0.0 <= self.ema_decay < 1.0:
            raise ConfigError(f"ema_decay must be within [0, 1), got {self.ema_decay}")
        if self.face_crop < 0 or 0 < self.face_crop < 16:
            raise ConfigError(f"face_crop is the side of the head crop in pixels (0: no face D, else at least 16 for "
                              f"the D's three stride-2 layers), got {self.face_crop}")
        for name in ("max_steps", "save_every", "log_every", "batch_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1")
        if not self.data.root:
            raise ConfigError("data.root is required: the prepared dataset to train on")
        self.model_config()  # validates the model overrides

    def model_config(self) -> ModelConfig:
        return model_preset(self.preset, self.model)


def read_config_file(path: str | Path, _chain: tuple[Path, ...] = ()) -> dict:
    """A YAML config file as a mapping. ``base: OTHER.yaml`` (a path relative to the file) names a config whose keys
    this file's keys are merged over, so an ablation states only what it changes (train/configs/street_256_noflow)."""
    p = Path(path)
    if not p.is_file():
        where = f" (the base of {_chain[-1]})" if _chain else ""
        raise ConfigError(f"config file {p}{where} not found")
    if p.resolve() in _chain:
        raise ConfigError(f"config {p} names itself as its base through " + " -> ".join(str(c) for c in _chain))
    try:
        data = yaml.safe_load(p.read_text()) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"{p} is not valid YAML: {e}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{p} must hold a mapping of config keys")
    base = data.pop("base", None)
    if base is None:
        return data
    if not isinstance(base, str) or not base:
        raise ConfigError(f"{p}: base must be the path of another config file, got {base!r}")
    return deep_merge(read_config_file(p.parent / base, (*_chain, p.resolve())), data)


def load_config(path: str | Path | None, overrides: list[str] = ()) -> TrainConfig:
    data = copy.deepcopy(read_config_file(path)) if path else {}
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r} must look like key=value (e.g. max_steps=100)")
        key, value = item.split("=", 1)
        parsed = yaml.safe_load(value) if value else ""
        nested: dict = {}
        set_path(nested, key.strip(), parsed)
        data = deep_merge(data, nested)
    return from_dict(TrainConfig, data)


def dump_config(cfg: TrainConfig) -> str:
    return yaml.safe_dump(to_dict(cfg), sort_keys=False)

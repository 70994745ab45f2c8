"""Import NVIDIA vid2vid checkpoints (``latest_net_G0.pth`` ... and pix2pixHD single-image Gs) as v2v models.

NVIDIA's files are bare state dicts (no wrapper, no ``module.`` prefix). Our networks lay their layers out in the
same order as NVIDIA's, so a file maps onto one of our modules group by group and, within a group, tensor by
tensor in module order, with a shape check for every tensor:

=====================================  ========================================================
NVIDIA (CompositeGenerator, G0..G2)    v2v ScaleGenerator
=====================================  ========================================================
model_down_seg                         label_encoder
model_down_img                         prev_encoder
model_res_img + model_up_img           image_head (res blocks, then transposed convs)
model_final_img                        image_out
model_res_flow + model_up_flow         flow_head
model_final_flow / model_final_w       flow_out / mask_out
indv_down / indv_res + indv_up         fg_encoder / fg_head
indv_final                             fg_out
=====================================  ========================================================

and for the single-image G: ``model`` (global net; its last 7×7 conv is ``out`` when there is no local enhancer),
``model1_1`` (local_down), ``model1_2`` (local_up, then its last conv is ``out``).

Norm layers: NVIDIA's video generators use BatchNorm2d with running statistics, but its test script never calls
``.eval()``, so at test time they normalise with the statistics of the (single-image) batch; our ``norm="batch"``
does exactly that and the running statistics (and ``num_batches_tracked``, present or not) are ignored. The single
Gs use InstanceNorm2d without affine parameters (``first_frame.norm = "instance_plain"``) and read the 35 one-hot
channels only (``first_frame.input_channels = 35``). Test-time behaviour is kept: warping with
``align_corners=True`` (v2v.flow), flow × 20·2^s, and the foreground model painting only ``car`` (id 26), the
``fg_labels`` of the released scripts.

Files are read with ``torch.load(weights_only=True)`` only; nothing else is unpickled.
"""
from __future__ import annotations

import re
from pathlib import Path

import torch
import torch.nn as nn

from .config import ModelConfig
from .errors import UserError
from .presets import model_preset

# NVIDIA group(s) -> our submodule, in our module order (a group absent from both sides is skipped)
SCALE_GROUPS: list[tuple[tuple[str, ...], str]] = [
    (("model_down_seg",), "label_encoder"),
    (("model_down_img",), "prev_encoder"),
    (("model_res_img", "model_up_img"), "image_head"),
    (("model_final_img",), "image_out"),
    (("model_res_flow", "model_up_flow"), "flow_head"),
    (("model_final_flow",), "flow_out"),
    (("model_final_w",), "mask_out"),
    (("indv_down",), "fg_encoder"),
    (("indv_res", "indv_up"), "fg_head"),
    (("indv_final",), "fg_out"),
]
SINGLE_G_GROUPS = ("model", "model1_1", "model1_2")
IGNORED_BUFFERS = ("running_mean", "running_var", "num_batches_tracked")
CAR = 26

# Released street configurations: our preset, the full output size, and the single G that goes with them.
PRESETS: dict[str, dict] = {
    "label2city_2048": {"preset": "label2city_2048", "size": (2048, 1024)},
    "label2city_1024": {"preset": "label2city_1024", "size": (1024, 512)},
}
ALIASES = {"label2city_1024_g1": "label2city_1024"}
# In the key list but not convertible: their inputs are not what v2v's pose/face pipelines produce.
UNSUPPORTED = {
    "edge2face_512": "it reads vid2vid's 15-channel face inputs (edge map + distance maps), v2v face models read "
                     "1-channel sketches",
    "pose2body_1024p": "it reads 6 channels (OpenPose + DensePose), v2v pose models read 3-channel skeleton maps; "
                       "NVIDIA never released these weights either",
}


def reference_config(name: str, scales: int | None = None, single_g: bool = True) -> ModelConfig:
    """The ModelConfig that NVIDIA's ``name`` checkpoints load into (``scales``: how many of G0..G2 are given)."""
    name = ALIASES.get(name, name)
    if name in UNSUPPORTED:
        raise UserError(f"cannot convert {name}: {UNSUPPORTED[name]}")
    if name not in PRESETS:
        raise UserError(f"unknown NVIDIA preset {name!r}; known: {', '.join([*PRESETS, *ALIASES])}")
    base = model_preset(PRESETS[name]["preset"])
    return model_preset(PRESETS[name]["preset"], {
        "norm": "batch", "n_scales": scales or base.n_scales, "foreground_labels": [CAR],
        "foreground_blend": "reference", "flow_multiplier": 20.0,
        "first_frame.enabled": single_g, "first_frame.norm": "instance_plain",
        "first_frame.input_channels": base.labels.num_classes})


# ------------------------------------------------------------------------------------------------- reading
def load_state_dict(path: str | Path, what: str = "checkpoint") -> dict[str, torch.Tensor]:
    """A bare state dict from ``path`` (torch.load with weights_only=True; a ``state_dict`` wrapper and a
    ``module.`` prefix are tolerated)."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{what} {path} does not exist")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - unpickling errors come in many types; report them in one line
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UserError(f"{what} {path} is not a PyTorch state dict readable with weights_only=True ({first})") \
            from None
    if isinstance(data, dict) and isinstance(data.get("state_dict"), dict):
        data = data["state_dict"]
    if not isinstance(data, dict) or not all(isinstance(v, torch.Tensor) for v in data.values()):
        raise UserError(f"{what} {path} is not a bare state dict (name -> tensor)")
    return {k[7:] if k.startswith("module.") else k: v for k, v in data.items()}


def _natural(part: str):
    return (0, int(part), "") if part.isdigit() else (1, 0, part)


def _ordered_params(state: dict[str, torch.Tensor], group: str) -> list[tuple[str, torch.Tensor]]:
    """The learnable tensors of one group in module order (weight before bias), running stats dropped."""
    rank = {"weight": 0, "bias": 1}
    items = [(k, v) for k, v in state.items()
             if k.split(".", 1)[0] == group and k.rsplit(".", 1)[-1] not in IGNORED_BUFFERS]
    return sorted(items, key=lambda kv: ([_natural(p) for p in kv[0].split(".")[1:-1]],
                                         rank.get(kv[0].rsplit(".", 1)[-1], 2)))


def _match(pairs_from: list[tuple[str, torch.Tensor]], ours: list[tuple[str, torch.Tensor]], where: str,
           out: dict[str, torch.Tensor], mapping: dict[str, str]) -> None:
    for i in range(max(len(pairs_from), len(ours))):
        if i >= len(pairs_from):
            key, t = ours[i]
            raise UserError(f"{where}: no tensor for {key} (expected shape {tuple(t.shape)}); the file has too few "
                            "parameters for this preset")
        if i >= len(ours):
            key, t = pairs_from[i]
            raise UserError(f"{where}: unexpected key {key} with shape {tuple(t.shape)}; the file has more "
                            "parameters than this preset")
        (nkey, src), (okey, dst) = pairs_from[i], ours[i]
        if tuple(src.shape) != tuple(dst.shape):
            raise UserError(f"{where}: key {nkey} has shape {tuple(src.shape)}, expected {tuple(dst.shape)} "
                            f"(for {okey}); is this the right preset?")
        out[okey] = src
        mapping[nkey] = okey


def map_modules(state: dict[str, torch.Tensor], module: nn.Module, groups: list[tuple[tuple[str, ...], str]],
                where: str, prefix: str = "") -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Map NVIDIA ``state`` onto ``module`` (any device, also meta). Returns (our state dict with ``prefix``,
    {nvidia key: our key}); any missing, extra or mis-shaped tensor raises UserError naming the key."""
    ours_all = module.state_dict()
    known = {g for gs, _ in groups for g in gs}
    extra = sorted({k.split(".", 1)[0] for k in state} - known)
    if extra:
        raise UserError(f"{where}: unexpected key group {extra[0]!r} (e.g. "
                        f"{next(k for k in state if k.startswith(extra[0] + '.'))}); is this the right file?")
    out: dict[str, torch.Tensor] = {}
    mapping: dict[str, str] = {}
    for nv_groups, ours_name in groups:
        theirs = [kv for g in nv_groups for kv in _ordered_params(state, g)]
        ours = [(f"{prefix}{k}", v) for k, v in ours_all.items() if k == ours_name or k.startswith(ours_name + ".")]
        if not theirs and not ours:
            continue
        if not theirs:
            raise UserError(f"{where}: key group {nv_groups[0]!r} is missing (needed for {ours[0][0]} "
                            f"{tuple(ours[0][1].shape)})")
        _match(theirs, ours, where, out, mapping)
    covered = {k[len(prefix):] for k in out}
    left = [k for k in ours_all if k not in covered]
    if left:
        raise UserError(f"{where}: nothing in the file maps to {prefix}{left[0]} {tuple(ours_all[left[0]].shape)}")
    return out, mapping


def map_single_g(state: dict[str, torch.Tensor], module: nn.Module, where: str, prefix: str = ""):
    """Map a pix2pixHD single G onto a FirstFrameGenerator. In both, the tensors run global net, (local down,
    local up,) output conv — NVIDIA's output conv ends ``model`` (global G) or ``model1_2`` (local enhancer) — so
    the whole file is matched in order."""
    groups = SINGLE_G_GROUPS if len(module.local_down) else SINGLE_G_GROUPS[:1]
    extra = sorted({k.split(".", 1)[0] for k in state} - set(groups))
    if extra:
        raise UserError(f"{where}: unexpected key group {extra[0]!r}; is this the single G of this preset?")
    theirs = [kv for g in groups for kv in _ordered_params(state, g)]
    ours = [(f"{prefix}{k}", v) for k, v in module.state_dict().items()]
    out: dict[str, torch.Tensor] = {}
    mapping: dict[str, str] = {}
    _match(theirs, ours, where, out, mapping)
    return out, mapping


# ----------------------------------------------------------------------------------------------- converting
def convert(preset: str, g_files: list[str | Path], out: str | Path, single_g: str | Path | None = None,
            overwrite: bool = False) -> dict:
    """Convert NVIDIA files (G0 [, G1 [, G2]] and optionally the single G) into an exported v2v model at ``out``.

    Returns {"out", "preset", "scales", "size", "parameters", "mapped": {file: count}, "first_frame"}."""
    from .checkpoint import export_model
    from .nn.build import build_generators

    if not g_files:
        raise UserError("give at least --g0")
    name = ALIASES.get(preset, preset)
    cfg = reference_config(name, scales=len(g_files), single_g=single_g is not None)
    if len(g_files) > model_preset(PRESETS[name]["preset"]).n_scales:
        raise UserError(f"{name} has {model_preset(PRESETS[name]['preset']).n_scales} scales; too many files")
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())) and not overwrite:
        raise UserError(f"output {out} already exists; choose another --out or pass --overwrite")
    with torch.device("meta"):
        nets = build_generators(cfg)
    state: dict[str, torch.Tensor] = {}
    mapped = {}
    for s, path in enumerate(g_files):
        theirs = load_state_dict(path, f"G{s} file")
        part, mapping = map_modules(theirs, nets["generator"].scales[s], SCALE_GROUPS, f"G{s} {Path(path).name}",
                                    prefix=f"generator.scales.{s}.")
        state.update(part)
        mapped[str(path)] = len(mapping)
    if single_g is not None:
        theirs = load_state_dict(single_g, "single G file")
        part, mapping = map_single_g(theirs, nets["first_frame"], f"single G {Path(single_g).name}",
                                     prefix="first_frame.")
        state.update(part)
        mapped[str(single_g)] = len(mapping)
    nets.load_state_dict({k: v.float() for k, v in state.items()}, assign=True, strict=True)
    full_w, full_h = PRESETS[name]["size"]
    shrink = 2 ** (model_preset(PRESETS[name]["preset"]).n_scales - cfg.n_scales)
    size = [full_w // shrink, full_h // shrink]
    meta = {"source": f"NVIDIA vid2vid {name}", "converted_by": "python -m v2v convert-nvidia", "preset": name,
            "size": size, "files": {k: Path(k).name for k in mapped}}
    export_model(out, cfg, nets, meta=meta)
    return {"out": str(out), "preset": name, "scales": cfg.n_scales, "size": size,
            "parameters": sum(v.numel() for v in state.values()), "mapped": mapped,
            "first_frame": single_g is not None}


def parse_key_list(text: str) -> dict[tuple[str, str], dict[str, tuple[int, ...]]]:
    """Parse ``vid2vid-checkpoint-keys.txt`` ("===== <config> <net> ..." headers, then "key (shape)" lines) into
    {(config, net): {key: shape}} — what the tests build fake checkpoints from."""
    out: dict[tuple[str, str], dict[str, tuple[int, ...]]] = {}
    current = None
    for line in text.splitlines():
        if line.startswith("====="):
            parts = line.split()
            current = out.setdefault((parts[1], parts[2]), {})
            continue
        m = re.match(r"^(\S+) \(([\d, ]*)\)$", line.strip())
        if m and current is not None:
            current[m.group(1)] = tuple(int(v) for v in m.group(2).replace(" ", "").split(",") if v)
    return out

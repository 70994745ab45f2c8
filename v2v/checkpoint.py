"""The exported model format: what ``v2v synthesize`` and the app load.

A model is a folder with ``config.json`` (``{"format": "v2v-model", "version": 1, "model": ModelConfig as a dict,
"meta": {...}}``) and ``model.safetensors`` (fp16 weights of the generator, first-frame generator and encoder under
``generator.*``, ``first_frame.*``, ``encoder.*``, plus any extra tensors such as the style mixtures under
``style.*``). A training export may add ``discriminators.safetensors`` (fp16 image and temporal discriminators,
``image.*`` and ``temporal.*``) so that ``python -m train --init-from`` continues the adversarial game where it
stopped; inference never reads it. Nothing is pickled.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .config import ModelConfig, from_dict, to_dict
from .errors import UserError
from .format_file import read_format_json

FORMAT = "v2v-model"
VERSION = 1


DISCRIMINATORS_FILE = "discriminators.safetensors"


def _cpu_tensors(module: torch.nn.Module, dtype: torch.dtype) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu", dtype if v.is_floating_point() else v.dtype).contiguous()
            for k, v in module.state_dict().items()}


def export_model(folder: str | Path, cfg: ModelConfig, networks: torch.nn.Module, meta: dict | None = None,
                 extra_tensors: dict[str, torch.Tensor] | None = None, dtype: torch.dtype = torch.float16,
                 discriminators: torch.nn.Module | None = None) -> Path:
    """Write ``networks`` (a ModuleDict from build_generators), and ``discriminators`` (from
    build_discriminators) when given, atomically to ``folder``."""
    folder = Path(folder)
    tensors = _cpu_tensors(networks, dtype)
    for k, v in (extra_tensors or {}).items():
        tensors[k] = v.detach().cpu().contiguous()

    def fill(tmp: Path) -> None:
        save_file(tensors, str(tmp / "model.safetensors"))
        if discriminators is not None:
            save_file(_cpu_tensors(discriminators, dtype), str(tmp / DISCRIMINATORS_FILE))
        (tmp / "config.json").write_text(json.dumps(
            {"format": FORMAT, "version": VERSION, "model": to_dict(cfg), "meta": meta or {}}, indent=1))

    return write_folder(folder, fill)


def write_folder(folder: str | Path, fill: Callable[[Path], None]) -> Path:
    """Make ``folder`` all at once: ``fill(tmp)`` writes the files into a temporary folder beside it, which then
    replaces ``folder``; on any error nothing changes at ``folder``."""
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.tmp-", dir=folder.parent))
    try:
        fill(tmp)
        if folder.exists():
            old = folder.with_name(f".{folder.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(folder, old)
            os.replace(tmp, folder)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return folder


def read_model_config(folder: str | Path) -> tuple[ModelConfig, dict]:
    folder = Path(folder)
    path = folder / "config.json"
    data = read_format_json(path, FORMAT, VERSION, "a v2v model config", "re-export the model",
                            missing=f"{folder} is not an exported model: {path.name} is missing (export one with "
                                    "`python -m train ...` or `python -m v2v convert-nvidia`)")
    return from_dict(ModelConfig, data["model"]), data.get("meta", {})


def read_weights(path: Path) -> dict[str, torch.Tensor]:
    """A safetensors file's tensors, or a UserError that names the file and what to do."""
    if not path.is_file():
        raise UserError(f"{path.parent}: {path.name} is missing")
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as e:
        raise UserError(f"{path} is corrupt or not a safetensors file ({e}); re-export the model") from None


def match_state(module: torch.nn.Module, tensors: dict[str, torch.Tensor], source: Path
                ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """Split ``tensors`` into ``module``'s state (every key present, every shape right, else a UserError naming
    the first mismatch) and the rest."""
    own = module.state_dict()
    state = {k: v for k, v in tensors.items() if k in own}
    extra = {k: v for k, v in tensors.items() if k not in own}
    missing = [k for k in own if k not in state]
    if missing:
        raise UserError(f"{source} does not match its config: tensor {missing[0]!r} is missing "
                        f"({len(missing)} in all)")
    for k, v in state.items():
        if v.shape != own[k].shape:
            raise UserError(f"{source}: tensor {k!r} has shape {tuple(v.shape)}, the config needs "
                            f"{tuple(own[k].shape)}")
    return state, extra


def load_model(folder: str | Path, device: str | torch.device = "cpu") -> dict:
    """-> {"config": ModelConfig, "networks": ModuleDict (eval, fp32), "meta": dict, "extra": {name: tensor}}."""
    from .nn.build import build_generators

    folder = Path(folder)
    cfg, meta = read_model_config(folder)
    weights = folder / "model.safetensors"
    tensors = read_weights(weights)
    with torch.device("meta"):  # shapes only: the weights come from the file (no wasted random init)
        nets = build_generators(cfg)
    state, extra = match_state(nets, tensors, weights)
    nets.load_state_dict({k: v.float() for k, v in state.items()}, assign=True)
    return {"config": cfg, "networks": nets.to(device).eval(), "meta": meta, "extra": extra}

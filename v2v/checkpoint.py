"""The exported model format: what ``v2v synthesize`` and the app load.

A model is a folder with ``config.json`` (``{"format": "v2v-model", "version": 1, "model": ModelConfig as a dict,
"meta": {...}}``) and ``model.safetensors`` (fp16 weights of the generator, first-frame generator and encoder under
``generator.*``, ``first_frame.*``, ``encoder.*``, plus any extra tensors such as the style mixtures under
``style.*``). Nothing is pickled.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .config import ModelConfig, from_dict, to_dict
from .errors import UserError

FORMAT = "v2v-model"
VERSION = 1


def export_model(folder: str | Path, cfg: ModelConfig, networks: torch.nn.Module, meta: dict | None = None,
                 extra_tensors: dict[str, torch.Tensor] | None = None, dtype: torch.dtype = torch.float16) -> Path:
    """Write ``networks`` (a ModuleDict from build_generators) atomically to ``folder``."""
    folder = Path(folder)
    tensors = {k: v.detach().to("cpu", dtype if v.is_floating_point() else v.dtype).contiguous()
               for k, v in networks.state_dict().items()}
    for k, v in (extra_tensors or {}).items():
        tensors[k] = v.detach().cpu().contiguous()
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.tmp-", dir=folder.parent))
    try:
        save_file(tensors, str(tmp / "model.safetensors"))
        (tmp / "config.json").write_text(json.dumps(
            {"format": FORMAT, "version": VERSION, "model": to_dict(cfg), "meta": meta or {}}, indent=1))
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
    if not path.is_file():
        raise UserError(f"{folder} is not an exported model: {path.name} is missing (export one with "
                        "`python -m train ...` or `python -m v2v convert-nvidia`)")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise UserError(f"{path} is not valid JSON ({e}); re-export the model") from None
    if data.get("format") != FORMAT:
        raise UserError(f"{path} is not a v2v model config (format {data.get('format')!r})")
    return from_dict(ModelConfig, data["model"]), data.get("meta", {})


def load_model(folder: str | Path, device: str | torch.device = "cpu") -> dict:
    """-> {"config": ModelConfig, "networks": ModuleDict (eval, fp32), "meta": dict, "extra": {name: tensor}}."""
    from .nn.build import build_generators

    folder = Path(folder)
    cfg, meta = read_model_config(folder)
    weights = folder / "model.safetensors"
    if not weights.is_file():
        raise UserError(f"{folder}: model.safetensors is missing")
    try:
        tensors = load_file(str(weights))
    except (SafetensorError, OSError, ValueError) as e:
        raise UserError(f"{weights} is corrupt or not a safetensors file ({e}); re-export the model") from None
    with torch.device("meta"):  # shapes only: the weights come from the file (no wasted random init)
        nets = build_generators(cfg)
    own = nets.state_dict()
    state = {k: v for k, v in tensors.items() if k in own}
    extra = {k: v for k, v in tensors.items() if k not in own}
    missing = [k for k in own if k not in state]
    if missing:
        raise UserError(f"{weights} does not match its config: tensor {missing[0]!r} is missing "
                        f"({len(missing)} in all)")
    for k, v in state.items():
        if v.shape != own[k].shape:
            raise UserError(f"{weights}: tensor {k!r} has shape {tuple(v.shape)}, the config needs "
                            f"{tuple(own[k].shape)}")
    nets.load_state_dict({k: v.float() for k, v in state.items()}, assign=True)
    return {"config": cfg, "networks": nets.to(device).eval(), "meta": meta, "extra": extra}

"""``python -m train --init-from MODEL_DIR``: start a run from an exported model instead of from scratch.

A model improves across sessions (and machines) by continuing from its committed export, not from a run folder
that lives on one machine. The export holds the generators and the style encoder (``model.safetensors``) and,
when the trainer wrote it, the discriminators (``discriminators.safetensors``); both are fp16, so the networks
restart at exactly those fp16 values. Optimiser moments, schedules and RNG states start afresh (use ``--resume``
to continue a run bit for bit on the machine that holds it). The export's training history (steps and hours
of every earlier run) is carried on, so model cards can state the totals.
"""
from __future__ import annotations

from pathlib import Path

import torch

from v2v.checkpoint import DISCRIMINATORS_FILE, match_state, read_model_config, read_weights
from v2v.config import to_dict
from v2v.errors import UserError
from v2v.nn.spade import modulation_keys


# Config changes an export may continue under: the norms may become SPADE (v2v/nn/spade.py), whose modulation
# starts at zero, so the continued networks first compute what the export computed.
_SPADE_KEYS = ("norm", "first_frame.norm")


def _compatible(difference: tuple[str, object, object]) -> bool:
    key, exported, wanted = difference
    return (key in _SPADE_KEYS and exported == "instance" and wanted == "spade") or key == "spade_hidden"


def _config_changes(a: dict, b: dict, prefix: str = "") -> list[tuple[str, object, object]]:
    out = []
    for key in sorted(set(a) | set(b)):
        va, vb = a.get(key), b.get(key)
        if isinstance(va, dict) and isinstance(vb, dict):
            out += _config_changes(va, vb, f"{prefix}{key}.")
        elif va != vb:
            out.append((prefix + key, va, vb))
    return out


def _load_into(module: torch.nn.Module, tensors: dict[str, torch.Tensor], source: Path,
               may_lack: set[str] = frozenset()) -> None:
    """Copy ``tensors`` into ``module``; keys in ``may_lack`` (SPADE modulations) keep their initial values."""
    own = module.state_dict()
    lacking = {k for k in may_lack if k in own and k not in tensors}
    if lacking:
        tensors = {**tensors, **{k: own[k] for k in lacking}}
    state, _extra = match_state(module, tensors, source)
    with torch.no_grad():
        for k, v in state.items():
            own[k].copy_(v.to(own[k].dtype))


def warm_start(trainer, folder: str | Path) -> dict:
    """Load an export's networks into ``trainer`` (G, and D when the export has them).

    The run's model config must be the export's, except that instance norms may become SPADE norms
    (``model.norm`` / ``first_frame.norm`` "instance" -> "spade"): their modulation starts at zero.

    Each discriminator the export lacks (e.g. a face D that this run adds) starts fresh; discriminators the export
    has and this run does not are ignored. -> {"discriminators": bool (the export had some), "fresh_discriminators":
    [names that start fresh], "history": the export's training history}."""
    folder = Path(folder)
    cfg, meta = read_model_config(folder)
    changes = _config_changes(to_dict(cfg), to_dict(trainer.mcfg))
    diffs = [f"{k}: {a!r} in the export, {b!r} in this run" for k, a, b in changes if not _compatible((k, a, b))]
    if diffs:
        raise UserError(f"--init-from {folder}: the export's networks differ from this run's model config ("
                        + "; ".join(diffs[:4]) + (f"; {len(diffs) - 4} more" if len(diffs) > 4 else "")
                        + "). Train with the export's preset and model overrides, or start without --init-from.")
    _load_into(trainer.G, read_weights(folder / "model.safetensors"), folder / "model.safetensors",
               modulation_keys(trainer.G) if changes else set())
    trainer.sync_ema()
    d_file = folder / DISCRIMINATORS_FILE
    has_d = d_file.is_file()
    fresh = list(trainer.D.keys())
    if has_d:
        tensors = read_weights(d_file)
        for name, net in trainer.D.items():
            own = {k[len(name) + 1:]: v for k, v in tensors.items() if k.startswith(name + ".")}
            if own:
                _load_into(net, own, d_file)
                fresh.remove(name)
    return {"discriminators": has_d, "fresh_discriminators": fresh, "history": meta.get("training", {})}

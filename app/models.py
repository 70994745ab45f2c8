"""Finding the models the app can run, and loading each one once.

A model is an exported folder (``config.json`` + ``model.safetensors``, see :mod:`v2v.checkpoint`). They are
looked for, in this order (the first folder of a name wins):

1. ``$V2V_MODELS_DIR/*/`` — or ``$V2V_MODELS_DIR`` itself when it is a model folder (tests, development);
2. ``assets/models/*/`` — the shipped demo models (``street_256``, ``dancer_256``);
3. ``runs/*/export/`` — exports of training runs in this checkout (development fallback, named after the run;
   only used when the first two places hold no model at all).

The kind of a model follows its label set (:func:`v2v.kinds.of_label_set`).
"""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

from v2v.engine import read_model_kind
from v2v.errors import UserError

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class ModelEntry:
    name: str
    path: Path
    kind: str  # street | pose | face
    source: str  # "env", "assets" or "runs"


def _is_model(folder: Path) -> bool:
    return (folder / "config.json").is_file() and (folder / "model.safetensors").is_file()


def _candidates() -> list[tuple[str, Path, str]]:
    found: list[tuple[str, Path, str]] = []
    env = os.environ.get("V2V_MODELS_DIR", "").strip()
    if env:
        base = Path(env)
        if _is_model(base):
            found.append((base.name, base, "env"))
        elif base.is_dir():
            found += [(p.name, p, "env") for p in sorted(base.iterdir()) if p.is_dir() and _is_model(p)]
    assets = ROOT / "assets" / "models"
    if assets.is_dir():
        found += [(p.name, p, "assets") for p in sorted(assets.iterdir()) if p.is_dir() and _is_model(p)]
    runs = ROOT / "runs"
    if not found and runs.is_dir():
        found += [(p.name, p / "export", "runs") for p in sorted(runs.iterdir()) if _is_model(p / "export")]
    return found


def find_models(kind: str | None = None) -> list[ModelEntry]:
    """Usable models (optionally only one kind), deduplicated by name, in search order. Folders whose config
    cannot be read are skipped."""
    seen: set[str] = set()
    out: list[ModelEntry] = []
    for name, path, source in _candidates():
        if name in seen:
            continue
        try:
            model_kind = read_model_kind(path)
        except (UserError, ValueError, OSError, KeyError, TypeError):
            continue
        entry = ModelEntry(name, path, model_kind, source)
        if kind is None or entry.kind == kind:
            seen.add(name)
            out.append(entry)
    return out


def model_choices(kind: str) -> list[str]:
    return [m.name for m in find_models(kind)]


def resolve(kind: str, name: str | None) -> ModelEntry:
    """The model called ``name`` of this kind (the first one when ``name`` is empty)."""
    models = find_models(kind)
    if not models:
        raise UserError(f"no {kind} model is installed; put one in assets/models/ or set V2V_MODELS_DIR")
    if not name:
        return models[0]
    for m in models:
        if m.name == name:
            return m
    raise UserError(f"unknown {kind} model {name!r}; available: {', '.join(m.name for m in models)}")


class EngineCache:
    """Loads each model once (keyed by folder and the weights' modification time, so a re-exported model is
    reloaded) and hands out the shared Engine; jobs on one Engine may run at once (each ``frames`` call has its own
    recurrence state)."""

    def __init__(self, device: str = "cpu", precision: str | None = None):
        self.device = device
        self.precision = precision or os.environ.get("V2V_PRECISION", "").strip() or None
        self._lock = threading.Lock()
        self._engines: dict[tuple[str, float], object] = {}

    def get(self, entry: ModelEntry):
        from v2v.engine import Engine

        key = (str(entry.path), (entry.path / "model.safetensors").stat().st_mtime)
        with self._lock:
            engine = self._engines.get(key)
            if engine is None:
                kwargs = {"device": self.device}
                if self.precision:
                    kwargs["precision"] = self.precision
                engine = Engine.load(entry.path, **kwargs)
                self._engines = {k: v for k, v in self._engines.items() if k[0] != key[0]}
                self._engines[key] = engine
            return engine


ENGINES = EngineCache()

"""Method "learned" of :mod:`v2v.predict`: the flow extrapolation, corrected by a small trained network.

For each predicted frame t+k the classical method (:class:`v2v.predict.extrapolate.FlowExtrapolation`) pushes the
last label map forward along its own motion; :class:`v2v.nn.label_refiner.LabelRefiner` then reads that
extrapolation beside the last map and the horizon k and changes the classes where real futures differ from it.
An untrained refiner changes nothing, so the method starts as good as the extrapolation it corrects.

``trust`` (stored with the export, chosen on the selection sequence when it is trained) is added to the logit of
the extrapolated class before the argmax: the refiner then changes a pixel only where it is that much more
confident in another class, so selection can settle between the refiner's argmax (0) and the extrapolation (a
large margin). The shipped model's selection chose 0.

The network runs at a working width of at most ``work_width`` pixels (the width it was trained at); on larger
inputs only the pixels whose class it changes at that size take the refined class, scaled up with nearest
neighbours, and every other pixel keeps the full-size extrapolation. Instance ids follow the extrapolation where the
class is kept and are 0 where the refiner changed it.

The shipped model is ``assets/models/label_predictor`` (``config.json`` with format ``v2v-label-predictor`` and
``model.safetensors``, fp16); ``V2V_LABEL_PREDICTOR`` names another folder; train one with
``python -m train.label_predictor``.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

from .checkpoint import match_state, read_weights, write_folder
from .errors import UserError
from .format_file import read_format_json
from .nn.label_refiner import LabelRefiner, RefinerConfig
from .predict import register_method
from .predict.base import Frames, Predictor
from .predict.extrapolate import FlowExtrapolation

FORMAT = "v2v-label-predictor"
VERSION = 1
DEFAULT_DIR = Path(__file__).resolve().parents[1] / "assets" / "models" / "label_predictor"


def default_checkpoint() -> Path:
    env = os.environ.get("V2V_LABEL_PREDICTOR", "").strip()
    return Path(env) if env else DEFAULT_DIR


def available(checkpoint: str | Path | None = None) -> bool:
    """Whether a trained label predictor is installed (at ``checkpoint`` or the default place)."""
    return (Path(checkpoint or default_checkpoint()) / "config.json").is_file()


def export_refiner(folder: str | Path, net: LabelRefiner, meta: dict | None = None) -> Path:
    """Write ``net`` (fp16) and its config to ``folder``, all at once."""
    tensors = {k: v.detach().to("cpu", torch.float16).contiguous() for k, v in net.state_dict().items()}

    def fill(tmp: Path) -> None:
        save_file(tensors, str(tmp / "model.safetensors"))
        (tmp / "config.json").write_text(json.dumps({"format": FORMAT, "version": VERSION,
                                                     "refiner": net.cfg.to_dict(), "meta": meta or {}}, indent=1))
    return write_folder(folder, fill)


def load_refiner(folder: str | Path) -> tuple[LabelRefiner, dict]:
    """The refiner exported to ``folder`` (fp32, eval mode) and its meta; UserError naming what is wrong."""
    folder = Path(folder)
    path = folder / "config.json"
    data = read_format_json(path, FORMAT, VERSION, "a label predictor config", "export the label predictor again",
                            missing=f"no learned label predictor at {folder} ({path.name} is missing): train one "
                                    "with `python -m train.label_predictor`, set V2V_LABEL_PREDICTOR, or use method "
                                    "'flow'")
    try:
        cfg = RefinerConfig.from_dict(data["refiner"])
    except (KeyError, TypeError, ValueError) as e:
        raise UserError(f"{path}: the refiner config is unreadable ({e})") from None
    net = LabelRefiner(cfg)
    weights = folder / "model.safetensors"
    state, _ = match_state(net, read_weights(weights), weights)
    net.load_state_dict({k: v.float() for k, v in state.items()})
    return net.eval(), data.get("meta", {})


def one_hot_maps(maps: np.ndarray, num_classes: int) -> torch.Tensor:
    """(B, H, W) uint8 ids -> (B, C, H, W) float one-hot."""
    ids = torch.from_numpy(np.ascontiguousarray(maps)).long()
    return F.one_hot(ids, num_classes).permute(0, 3, 1, 2).float()


def working_size(shape: tuple[int, int], work_width: int) -> tuple[int, int]:
    """(W, H) the refiner runs at for (H, W) maps: at most ``work_width`` wide, aspect kept, multiples of 4."""
    h, w = shape
    scale = min(1.0, work_width / w)
    return max(4, int(round(w * scale / 4)) * 4), max(4, int(round(h * scale / 4)) * 4)


def _resize(a: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    return a if (a.shape[1], a.shape[0]) == tuple(size) else cv2.resize(a, size, interpolation=cv2.INTER_NEAREST)


class LearnedPredictor(Predictor):
    """The flow extrapolation, corrected by a trained :class:`LabelRefiner` (see the module docstring)."""

    name = "learned"
    min_context = 2

    def __init__(self, checkpoint: str | Path | None = None, work_width: int | None = None,
                 net: LabelRefiner | None = None, trust: float | None = None):
        self.extrapolation = FlowExtrapolation()
        self.context = self.extrapolation.context
        meta = {}
        if net is None:
            net, meta = load_refiner(checkpoint or default_checkpoint())
            work_width = work_width or meta.get("work_width")
        self.net = net.eval()
        self.work_width = int(work_width or 256)
        self.trust = float(meta.get("trust", 0.0) if trust is None else trust)

    def refine(self, last: np.ndarray, extrapolated: list[np.ndarray], horizons: list[int]) -> list[np.ndarray]:
        """The refined label maps of ``extrapolated`` ((H, W) maps of frames ``horizons`` ahead of ``last``)."""
        size = working_size(last.shape, self.work_width)
        c = self.net.cfg.num_classes
        small_last = _resize(last, size)
        small = np.stack([_resize(e, size) for e in extrapolated])
        with torch.inference_mode():
            extrapolated_1hot = one_hot_maps(small, c)
            logits = self.net(one_hot_maps(np.repeat(small_last[None], len(small), 0), c), extrapolated_1hot,
                              torch.tensor(horizons, dtype=torch.float32))["logits"]
            if self.trust:
                logits = logits + self.trust * extrapolated_1hot
        refined = logits.argmax(1).numpy().astype(np.uint8)
        out = []
        for full, s, r in zip(extrapolated, small, refined):
            changed = _resize((r != s).astype(np.uint8), (full.shape[1], full.shape[0])).astype(bool)
            out.append(np.where(changed, _resize(r, (full.shape[1], full.shape[0])), full).astype(np.uint8))
        return out

    def predict(self, labels: Frames, instances: Frames | None, future: int) -> tuple[Frames, Frames | None]:
        base_labels, base_instances = self.extrapolation.predict(labels, instances, future)
        refined = self.refine(labels[-1], base_labels, list(range(1, future + 1)))
        if base_instances is None:
            return refined, None
        kept = [np.where(r == b, i, 0).astype(np.int32) for r, b, i in zip(refined, base_labels, base_instances)]
        return refined, kept


register_method(LearnedPredictor.name, LearnedPredictor)

"""Sample strips written during training: one row per generated frame, conditioning | generated | real."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from v2v.visualize import conditioning_to_uint8, image_to_uint8

MAX_ROWS = 4


def save_sample(folder: Path, step: int, trainer, index) -> Path | None:
    last = getattr(trainer, "_last", None)
    if not last or not last["outs"]:
        return None
    x, outs, L = last["x"], last["outs"], trainer.mcfg.n_past_frames
    rows = []
    for i, out in enumerate(outs[-MAX_ROWS:]):
        t = L + len(outs) - min(len(outs), MAX_ROWS) + i
        rows.append(np.concatenate([conditioning_to_uint8(trainer.mcfg, x["enc"][t][:1]),
                                    image_to_uint8(out["image"][:1]), image_to_uint8(x["real"][t][:1])], 1))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"step_{step:07d}.png"
    Image.fromarray(np.concatenate(rows, 0)).save(path)
    return path

"""Samples written during training: a PNG strip with one row per generated frame (conditioning | generated | real)
and the same rows as a short H.264 video."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from v2v.video import VideoWriter
from v2v.visualize import conditioning_to_uint8, image_to_uint8

MAX_ROWS = 4


def save_sample(folder: Path, step: int, trainer, index) -> Path | None:
    last = getattr(trainer, "_last", None)
    if not last or not last["outs"]:
        return None
    x, outs, L = last["x"], last["outs"], trainer.mcfg.n_past_frames
    rows = [np.concatenate([conditioning_to_uint8(trainer.mcfg, x["enc"][L + i][:1]),
                            image_to_uint8(out["image"][:1]), image_to_uint8(x["real"][L + i][:1])], 1)
            for i, out in enumerate(outs)]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"step_{step:07d}.png"
    Image.fromarray(np.concatenate(rows[-MAX_ROWS:], 0)).save(path)
    with VideoWriter(folder / f"step_{step:07d}.mp4", fps=4) as video:
        for row in rows:
            video.write(row)
    return path

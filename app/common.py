"""Small helpers shared by the tabs: display scaling, palette legend, frame pictures, status text."""
from __future__ import annotations

import html
import math

import cv2
import numpy as np

from v2v.errors import UserError
from v2v.labels import CITYSCAPES

from .editing import BRUSH_CLASSES, PAINT_CLASSES, class_name

DISPLAY_LONG_SIDE = 512  # small model frames are shown enlarged (nearest neighbour, so label edges stay hard)
MAX_SEED = 2**31 - 1  # seeds are whole numbers 0..MAX_SEED (the re-roll buttons draw from this range too)


def _shown(value) -> str:
    try:
        f = float(value)
    except (TypeError, ValueError, OverflowError):
        return repr(value)
    if not math.isfinite(f) or abs(f) >= 1e12:
        return f"{f:.6g}"
    return f"{value}" if isinstance(value, int) else f"{f:g}"


def check_seed(value, what: str = "seed") -> int:
    """A seed from a form or API value: empty means 0; anything but a whole number in 0..MAX_SEED is a UserError
    (checked before any work: an out-of-range seed would otherwise fail only when the report is written)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return 0
    if isinstance(value, bool):
        raise UserError(f"{what} must be a whole number from 0 to {MAX_SEED}, got {value}")
    try:
        n = int(value) if isinstance(value, (int, np.integer)) else None
        if n is None:
            f = float(value)
            n = int(f) if math.isfinite(f) and f.is_integer() else None
    except (TypeError, ValueError, OverflowError):
        n = None
    if n is None or not 0 <= n <= MAX_SEED:
        raise UserError(f"{what} {_shown(value)} is not allowed: give a whole number from 0 to {MAX_SEED}")
    return n


def display_scale(size: tuple[int, int]) -> int:
    """Integer enlargement for frames of ``size`` (W, H) in the UI."""
    return max(1, DISPLAY_LONG_SIDE // max(size))


def enlarge(image: np.ndarray, scale: int) -> np.ndarray:
    if scale <= 1:
        return image
    return cv2.resize(image, (image.shape[1] * scale, image.shape[0] * scale), interpolation=cv2.INTER_NEAREST)


def hex_color(cid: int) -> str:
    r, g, b = CITYSCAPES.colors[cid]
    return f"#{r:02x}{g:02x}{b:02x}"


def class_choices(classes: list[int] | None = None) -> list[str]:
    return [class_name(c) for c in (classes if classes is not None else PAINT_CLASSES)]


def palette_legend(classes: list[int] | None = None) -> str:
    """HTML swatches with class names (the image editor's colour picker shows colours only)."""
    items = []
    for c in classes if classes is not None else BRUSH_CLASSES:
        items.append(f'<span class="v2v-swatch"><i style="background:{hex_color(c)}"></i>'
                     f"{html.escape(class_name(c))}</span>")
    return '<div class="v2v-legend">' + "".join(items) + "</div>"


def side_by_side(pictures: list[np.ndarray], height: int) -> np.ndarray:
    """Pictures scaled to one height (even) and put next to each other."""
    height += height % 2
    out = []
    for p in pictures:
        w = max(2, int(round(p.shape[1] * height / p.shape[0])))
        w += w % 2
        out.append(cv2.resize(p, (w, height), interpolation=cv2.INTER_AREA if p.shape[0] > height
                              else cv2.INTER_LINEAR))
    return np.concatenate(out, 1)


def status(done: int, total: int, seconds: float | None = None, stopped: bool = False, what: str = "frames") -> str:
    if stopped:
        return f"Stopped after {done} of {total} {what}."
    if seconds is None:
        return f"Generating: {done} / {total} {what}..."
    return f"Done: {done} {what} in {seconds:.1f} s ({done / max(seconds, 1e-9):.1f} {what}/s)."


CSS = """
.v2v-legend {display:flex; flex-wrap:wrap; gap:4px 10px; font-size:12px; line-height:18px;}
.v2v-swatch {display:inline-flex; align-items:center; gap:4px; white-space:nowrap;}
.v2v-swatch i {display:inline-block; width:14px; height:14px; border:1px solid #8884; border-radius:2px;}
.v2v-limits {font-size:12px; opacity:0.8;}
"""

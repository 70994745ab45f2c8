"""Frame files: a folder's frames in the order a person numbers them (``frame_9.png`` before ``frame_10.png``),
and reading one image with an error that names the file."""
from __future__ import annotations

import re
from pathlib import Path

import cv2
import numpy as np

from .errors import UserError


def natural_key(path: Path) -> list:
    """Sort key that orders 'frame_9.png' before 'frame_10.png' (digit runs compare as numbers)."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", path.name)]


def list_frames(folder: Path, exts: tuple[str, ...]) -> list[Path]:
    """Files of ``folder`` with one of ``exts`` (lower case, with dot), hidden files skipped, in natural order."""
    return sorted((p for p in folder.iterdir() if p.suffix.lower() in exts and not p.name.startswith(".")),
                  key=natural_key)


def read_image(path: Path, flags: int = cv2.IMREAD_UNCHANGED) -> np.ndarray:
    """cv2.imread, with a UserError naming the file when it is missing, damaged or not an image."""
    arr = cv2.imread(str(path), flags)
    if arr is None:
        raise UserError(f"cannot read {path}: missing, damaged or not an image")
    return arr


def image_size(path: Path) -> tuple[int, int]:
    """(W, H) of an image, from the file header only."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            return im.size
    except OSError as e:
        raise UserError(f"cannot read image {path}: {e}") from None

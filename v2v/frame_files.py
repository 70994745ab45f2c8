"""Frame files of a folder in the order a person numbers them (``frame_9.png`` before ``frame_10.png``)."""
from __future__ import annotations

import re
from pathlib import Path


def natural_key(path: Path) -> list:
    """Sort key that orders 'frame_9.png' before 'frame_10.png' (digit runs compare as numbers)."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", path.name)]


def list_frames(folder: Path, exts: tuple[str, ...]) -> list[Path]:
    """Files of ``folder`` with one of ``exts`` (lower case, with dot), hidden files skipped, in natural order."""
    return sorted((p for p in folder.iterdir() if p.suffix.lower() in exts and not p.name.startswith(".")),
                  key=natural_key)

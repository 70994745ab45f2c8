"""Relabelling, written one way everywhere: class names (or aliases, or ids) and the text users type for them.

``class_id(label_set, "tree")`` -> 21; ``parse_relabel("tree->building, car=truck")`` -> [(21, 11), (26, 27)].
One syntax for the CLI's ``--relabel`` (repeatable) and the app's relabel box: pairs separated by commas or
semicolons, each ``FROM->TO``, ``FROM=TO``, ``FROM=>TO``, ``FROM:TO`` or ``FROM to TO``.
"""
from __future__ import annotations

from typing import Iterable

import numpy as np

from .errors import UserError
from .labels import CITYSCAPES, LabelSet

# Words people use for Cityscapes classes.
ALIASES = {"tree": "vegetation", "trees": "vegetation", "grass": "terrain", "pedestrian": "person",
           "people": "person", "cars": "car", "street": "road", "houses": "building", "house": "building"}
SEPARATORS = ("->", "=>", "=", ":", " to ")
EXAMPLE = "vegetation->building (or vegetation=building)"


def class_id(label_set: LabelSet, name) -> int:
    """A class of ``label_set`` from its id, its name (any case, "_" for " ") or an alias such as "tree"."""
    if isinstance(name, (int, np.integer)) and not isinstance(name, bool):
        if not 0 <= int(name) < label_set.num_classes:
            raise UserError(f"label id {name} is not in label set {label_set.name!r} (0..{label_set.num_classes - 1})")
        return int(name)
    key = str(name).strip().lower()
    try:
        return label_set.id_of(ALIASES.get(key, key) if label_set is CITYSCAPES else key)
    except ValueError:
        some = ", ".join(label_set.names[:8])
        raise UserError(f"unknown class {str(name).strip()!r} in label set {label_set.name!r}; use a class name such "
                        f"as {some}, or an id 0..{label_set.num_classes - 1}") from None


def split_relabel(text: str | Iterable[str] | None) -> list[tuple[str, str]]:
    """The (from, to) texts of relabel pairs, in order (a list of texts is what ``--relabel`` repeated gives);
    only the syntax is checked here, the class names by :func:`parse_relabel` or the engine."""
    parts = [text] if text is None or isinstance(text, str) else list(text)
    pairs = []
    for chunk in parts:
        for part in (chunk or "").replace(";", ",").split(","):
            part = part.strip()
            if not part:
                continue
            for sep in SEPARATORS:
                a, found, b = part.partition(sep)
                if found and a.strip() and b.strip():
                    pairs.append((a.strip(), b.strip()))
                    break
            else:
                raise UserError(f"relabel {part!r} must look like {EXAMPLE}")
    return pairs


def parse_relabel(text: str | Iterable[str] | None, label_set: LabelSet = CITYSCAPES) -> list[tuple[int, int]]:
    """Relabel pairs as class ids of ``label_set``, in order."""
    return [(class_id(label_set, a), class_id(label_set, b)) for a, b in split_relabel(text)]

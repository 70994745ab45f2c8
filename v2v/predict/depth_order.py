"""Which Cityscapes class is in front of which, for moving label maps without depth.

When two pixels of the last frame move onto the same pixel of a predicted frame, one occludes the other; when a
moving object uncovers a pixel, what appears there is what was behind it. A label map has no depth, so the class
decides: the sky is behind everything, the ground (road, sidewalk, terrain...) behind buildings and walls, those
behind poles, signs and vegetation, and those behind people and vehicles. The void classes that are fixed to the
camera (ego vehicle, rectification border, out of roi) are in front of everything and never move.
"""
from __future__ import annotations

import numpy as np

from ..labels import CITYSCAPES

SKY, GROUND, CONSTRUCTION, OBJECT, THING, CAMERA = range(6)

_LAYER_OF = {
    SKY: ("sky",),
    GROUND: ("ground", "road", "sidewalk", "parking", "rail track", "terrain"),
    CONSTRUCTION: ("unlabeled", "static", "dynamic", "building", "wall", "fence", "guard rail", "bridge", "tunnel"),
    OBJECT: ("pole", "polegroup", "traffic light", "traffic sign", "vegetation"),
    THING: ("person", "rider", "car", "truck", "bus", "caravan", "trailer", "train", "motorcycle", "bicycle",
            "license plate"),
    CAMERA: ("ego vehicle", "rectification border", "out of roi"),
}


def _table() -> np.ndarray:
    table = np.full(256, CONSTRUCTION, np.int64)
    for layer, names in _LAYER_OF.items():
        for name in names:
            table[CITYSCAPES.id_of(name)] = layer
    return table


LAYER = _table()  # Cityscapes labelId -> layer, 0 = farthest


def layers(labels: np.ndarray) -> np.ndarray:
    """(H, W) layer of each pixel of a Cityscapes id map (larger = nearer the camera)."""
    return LAYER[labels]


def fixed_to_camera(labels: np.ndarray) -> np.ndarray:
    """(H, W) bool: pixels of classes that move with the camera (ego vehicle and the like), so never move."""
    return LAYER[labels] == CAMERA

"""Objects move as one piece: every pixel of an object gets the object's median motion.

DIS flow between label maps is measured at region edges and interpolated inside, so it varies across one object
(a near pole's top and foot, a car's front and back); pushed k frames ahead with that flow, the object shears and
tears apart. Things (people, vehicles) and thin street furniture (poles, traffic lights, signs) are rigid enough
to move with one velocity: the per-pixel median of the flow over the object. An object is one instance id of a
thing where instance maps are given, else one 8-connected region of one such class. Stuff (road, buildings,
vegetation, sky) keeps its per-pixel flow: a row of facades or trees spans near and far and must stretch.

The scores barely move (five Cityscapes samples, +10: pixel accuracy 0.812 -> 0.815, mIoU 0.247 either way);
what changes is the look: a pole or a car arrives in one piece instead of as a smear, which the video generator
would have to render.
"""
from __future__ import annotations

import cv2
import numpy as np

from ..labels import CITYSCAPES
from .depth_order import LAYER, THING

RIGID = LAYER == THING  # Cityscapes labelId -> moves as one piece
RIGID[[CITYSCAPES.id_of(n) for n in ("pole", "polegroup", "traffic light", "traffic sign")]] = True


def objects(labels: np.ndarray, instances: np.ndarray | None) -> np.ndarray:
    """(H, W) int64 object ids, 0 for pixels that are no rigid object (see the module docstring)."""
    rigid = RIGID[labels]
    out = np.zeros(labels.shape, np.int64)
    next_id = 1
    if instances is not None:  # only things have instances (Cityscapes gives poles the class id instead)
        with_id = (LAYER[labels] == THING) & (instances > 0)
        ids, inverse = np.unique(instances[with_id], return_inverse=True)
        out[with_id] = inverse + next_id
        next_id += ids.size
        rigid &= ~with_id
    for cls in np.unique(labels[rigid]):
        count, regions = cv2.connectedComponents((rigid & (labels == cls)).astype(np.uint8), connectivity=8)
        mask = regions > 0
        out[mask] = regions[mask].astype(np.int64) + next_id - 1
        next_id += count - 1
    return out


def rigid_motion(motion: np.ndarray, object_ids: np.ndarray) -> np.ndarray:
    """``motion`` (H, W, 2) with every object (id > 0 in ``object_ids``) moved by its per-channel median."""
    inside = object_ids.ravel() > 0
    if not inside.any():
        return motion
    ids = object_ids.ravel()[inside]
    out = motion.reshape(-1, 2).copy()
    for c in range(2):
        values = out[inside, c]
        order = np.lexsort((values, ids))  # by object, then value
        sorted_ids = ids[order]
        starts = np.flatnonzero(np.r_[True, sorted_ids[1:] != sorted_ids[:-1]])
        counts = np.diff(np.r_[starts, sorted_ids.size])
        medians = values[order][starts + counts // 2]
        out[inside, c] = medians[np.searchsorted(sorted_ids[starts], ids)]
    return out.reshape(motion.shape)

"""Local style edits: re-rolling or painting some tracks changes those tracks' pixels and nothing else.

The generators cannot keep such a change local by themselves. A region's style features enter the first
convolutions, whose outputs pass instance norms (statistics over the whole frame), a bottleneck whose receptive
field covers the frame, and the recurrence (each frame warps the previous output). Measured on the street_256
demo model before this module (``python -m v2v.bench reroll``, held-out seq0004, 30 frames): re-rolling the
largest car (0.7 % of the pixels) changed it by 41 grey levels and every pixel more than 4 px away from it by 1.1;
painting the road red changed the rest of the frame by 2.7.

So a job with local edits runs two recurrences in lock-step on the same conditioning: the plain one (no edits:
exactly the video the user saw before editing) and the edited one. Each edited frame is the plain frame plus
``weight`` times the difference, where ``weight`` is 1 on the edited tracks' pixels grown by a few pixels (an
object's edge is drawn across its border) and falls to 0 over a short feather; the edited recurrence then
continues from that composite, so the outside stays the plain video frame after frame. The cost is a second
generator pass per frame, for edited jobs only.
"""
from __future__ import annotations

import cv2
import numpy as np
import torch


def grow_pixels(height: int, width: int) -> int:
    """How far the hard part of the weight reaches past the tracks: 2 px at 256x128, in proportion above."""
    return max(2, round(min(height, width) / 64))


def edit_weight(track_map: np.ndarray, tracks: set[int] | frozenset[int], grow: int | None = None) -> torch.Tensor:
    """(1, 1, H, W) float32 weight of the edited frame for an (H, W) map of track ids: 1 on the ``tracks``' pixels
    and up to ``grow`` pixels around them, then a linear feather of another ``grow`` pixels down to 0."""
    h, w = track_map.shape
    grow = grow_pixels(h, w) if grow is None else grow
    edited = np.isin(track_map, np.fromiter(tracks, np.int64, len(tracks))) if tracks else np.zeros((h, w), bool)
    if not edited.any():
        return torch.zeros(1, 1, h, w)
    # distance of every pixel to the nearest edited pixel
    distance = cv2.distanceTransform((~edited).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    weight = np.clip((2.0 * grow - distance) / max(grow, 1), 0.0, 1.0).astype(np.float32)
    return torch.from_numpy(weight)[None, None]

"""Method "flow": classical extrapolation of the label maps' own motion, constant velocity, no training.

Flow conventions (see :mod:`v2v.flow`). ``label_flow(last, prev)`` is the *backward* flow f from frame t to t-1,
defined on frame t's grid: ``prev[y + f(y)] ≈ last[y]``. So the content at pixel y of frame t came from y + f(y)
and moved by -f(y) during the last frame. Constant motion keeps that velocity: the content at y is at
``y - k·f(y)`` in frame t+k. That is a *forward* displacement of frame t's pixels, which :func:`v2v.flow.warp`
cannot apply (it pulls values along a backward flow of the *target* frame; re-using f there would treat the flow
field as fixed in the image, so a moving object would stay put at its leading edge and shrink from its trailing
edge). The pixels are therefore pushed with :func:`v2v.predict.splat.forward_splat`, collisions and uncovered
pixels settled by the class depth order of :mod:`v2v.predict.depth_order` (then by speed: among one layer what
moves faster is nearer the camera). Things and street furniture move as one piece (:mod:`v2v.predict.rigid`), and
only stuff fills the pixels they uncover, so an object keeps its shape and leaves no trail.

Frame t+k is pushed directly from frame t by k times the velocity rather than from frame t+k-1 by one step: the
same constant-velocity motion, without rounding every step to whole pixels (a 0.4 px/frame motion would round to
no motion at all) and without compounding the hole filling.

The velocity is the per-pixel median of the flows from frame t to t-1, t-2 and t-3, each divided by its frame
gap (fewer when fewer frames were observed; two are needed). Label maps made by a segmentation network jitter
from frame to frame and one flow carries that jitter, times k, into frame t+k; on the five Cityscapes sample
sequences (``python -m v2v.bench predict``) the median raised +10 mIoU from 0.235 to 0.247 and pixel accuracy
from 0.803 to 0.815 (at +1: mIoU 0.506 -> 0.510, pixel accuracy 0.938 -> 0.937). A Gaussian blur of the flow
(``smooth``, 1 or 2 px) changed every score by less than 0.002, so it is off by default.

Pixels of classes fixed to the camera (ego vehicle, rectification border) never move. Flow is computed at a
working width of at most ``work_width`` pixels (label maps shrunk with nearest neighbour) and scaled back up, so a
2048x1024 input costs about what a 512x256 one does for DIS; the pushing runs at full size (on the 2-core
development machine, shared with training: 15 ms a predicted frame at 256x128, about 1 s at 2048x1024).
"""
from __future__ import annotations

import cv2
import numpy as np

from ..errors import UserError
from ..flow_prior import label_flow
from .base import Frames, Predictor
from .depth_order import fixed_to_camera, layers
from .rigid import objects, rigid_motion
from .splat import fill_holes, forward_splat

SPEED_STEPS = 64  # priority resolution of speed within a layer: 1/64 px per frame
SPEED_SPAN = 1 << 16
MIN_SIDE = 12  # OpenCV's DIS needs a width or a height of at least this


def _flow(last: np.ndarray, earlier: np.ndarray, size: tuple[int, int] | None) -> np.ndarray:
    if size is not None:
        last, earlier = (cv2.resize(a, size, interpolation=cv2.INTER_NEAREST) for a in (last, earlier))
    return label_flow(last, earlier)


def constant_motion(frames: Frames, work_width: int = 512, smooth: float = 0.0, gaps: int = 3) -> np.ndarray:
    """(H, W, 2) float32 forward motion in pixels per frame of every pixel of the last frame t of ``frames``
    (label maps, oldest first, at least two): minus the per-pixel median of the DIS backward flows from t to t-g
    divided by g, g = 1 .. ``gaps`` (as far as ``frames`` go). ``smooth``: sigma in pixels (at the working size)
    of a Gaussian blur of the flow, 0 for none."""
    last = frames[-1]
    h, w = last.shape
    size = (work_width, max(8, round(h * work_width / w))) if w > work_width else None
    earlier = frames[-2::-1][:gaps]
    flows = [_flow(last, e, size) / g for g, e in enumerate(earlier, 1)]
    flow = flows[0] if len(flows) == 1 else np.median(np.stack(flows), axis=0).astype(np.float32)
    if smooth > 0:
        flow = cv2.GaussianBlur(flow, (0, 0), smooth)
    if size is not None:
        flow = cv2.resize(flow, (w, h), interpolation=cv2.INTER_LINEAR) * np.float32([w / size[0], h / size[1]])
    motion = -flow
    motion[fixed_to_camera(last)] = 0
    return motion


def splat_priority(labels: np.ndarray, motion: np.ndarray) -> np.ndarray:
    """(H, W) int64: class layer first (nearer classes occlude), then speed."""
    speed = np.minimum(np.rint(np.hypot(motion[..., 0], motion[..., 1]) * SPEED_STEPS), SPEED_SPAN - 1)
    return layers(labels) * SPEED_SPAN + speed.astype(np.int64)


class FlowExtrapolation(Predictor):
    """Constant-velocity extrapolation of the label maps' own DIS flow (see the module docstring)."""

    name = "flow"
    min_context = 2

    def __init__(self, work_width: int = 512, smooth: float = 0.0, gaps: int = 3, rigid: bool = True):
        if work_width < 16 or gaps < 1 or smooth < 0:
            raise ValueError(f"FlowExtrapolation needs work_width >= 16, gaps >= 1 and smooth >= 0, got "
                             f"{work_width}, {gaps} and {smooth}")
        self.work_width, self.smooth, self.gaps = int(work_width), float(smooth), int(gaps)
        self.context = self.gaps + 1
        self.rigid = bool(rigid)

    def predict(self, labels: Frames, instances: Frames | None, future: int) -> tuple[Frames, Frames | None]:
        last = labels[-1]
        if max(last.shape) < MIN_SIDE:
            raise UserError(f"label maps of {last.shape[1]}x{last.shape[0]} are too small to measure motion in "
                            f"(DIS flow needs a side of {MIN_SIDE} px); use method 'copy' or larger frames")
        object_ids = objects(last, None if instances is None else instances[-1])
        motion = constant_motion(labels, self.work_width, self.smooth, self.gaps)
        if self.rigid:
            motion = rigid_motion(motion, object_ids)
        priority = splat_priority(last, motion)
        stuff = object_ids == 0  # only stuff fills uncovered pixels: objects keep their shape
        pred_labels, pred_instances = [], [] if instances is not None else None
        for k in range(1, future + 1):
            source = fill_holes(forward_splat(motion * k, priority), priority, stuff)
            pred_labels.append(last.ravel()[source])
            if instances is not None:
                pred_instances.append(instances[-1].ravel()[source])
        return pred_labels, pred_instances

"""Forward splatting of id maps: move every pixel along its own displacement, nearest neighbour, no blending.

:func:`v2v.flow.warp` pulls values: it needs a backward flow defined on the *target* grid. Extrapolating motion
gives the opposite, a displacement per pixel of the *source* (the last observed frame), so pixels are pushed
instead. Pushing leaves three cases to settle, all by a per-pixel ``priority`` (larger = nearer the camera):

* **collisions**: several source pixels land on one target pixel; the one with the largest priority wins
  (ties: the later pixel in raster order, so the result is deterministic);
* **gaps** where a region stretches (it comes nearer, so its pixels spread apart): a target pixel that no source
  pixel lands on nearest takes the best claim of the source pixels whose one-pixel square overlaps it;
* **holes** that are left (uncovered background, the frame's edge as the camera moves on) are filled from their
  filled 8-neighbours, one ring per pass from the hole's edge inward, each hole pixel taking the neighbour with
  the *smallest* priority: what a moving object uncovers is the background beside it, not the object itself.
  Pixels can be barred from filling (``grows``): an object moved as one piece must not grow from its edge into
  the space it leaves behind.

The functions return *source indices*, not values, so the label map and the instance map of a frame are moved
by the same choices (an object keeps its instance id) and no id is ever invented or averaged.
"""
from __future__ import annotations

import cv2
import numpy as np

EMPTY = -1
_NEIGHBOURS = [(-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1)]


def _claim(out: np.ndarray, source: np.ndarray, tx: np.ndarray, ty: np.ndarray, priority: np.ndarray,
           only_empty: bool) -> None:
    """Source pixels ``source`` claim targets (tx, ty); in each target the largest priority wins (``out``, flat,
    updated in place; with ``only_empty`` only targets still ``EMPTY`` are claimed)."""
    h, w = priority.shape
    inside = (tx >= 0) & (tx < w) & (ty >= 0) & (ty < h)
    target = ty[inside] * w + tx[inside]
    source = source[inside]
    if only_empty:
        free = out[target] == EMPTY
        target, source = target[free], source[free]
    span = int(priority.max(initial=0)) + 1
    order = np.argsort(target * span + priority.ravel()[source], kind="stable")  # by target, then priority
    target = target[order]
    last = np.ones(target.size, bool)  # the last (largest priority) claim of each target wins
    last[:-1] = target[1:] != target[:-1]
    out[target[last]] = source[order[last]]


def forward_splat(displacement: np.ndarray, priority: np.ndarray) -> np.ndarray:
    """(H, W) int64: for each target pixel the flat index of the source pixel that lands there (nearest, then by
    overlap for gaps), ``EMPTY`` where none does. ``displacement`` (H, W, 2) is in pixels (x, y) per source pixel;
    ``priority`` (H, W) non-negative ints."""
    h, w = priority.shape
    x = (np.arange(w, dtype=np.float32)[None, :] + displacement[..., 0]).ravel()
    y = (np.arange(h, dtype=np.float32)[:, None] + displacement[..., 1]).ravel()
    rx, ry = np.rint(x).astype(np.int64), np.rint(y).astype(np.int64)
    source = np.arange(h * w)
    out = np.full(h * w, EMPTY, np.int64)
    _claim(out, source, rx, ry, priority, only_empty=False)
    empty = (out == EMPTY).reshape(h, w)
    if not empty.any():
        return out.reshape(h, w)
    # A moved unit square overlaps pixels within one pixel of its nearest target: only sources whose nearest
    # target touches an empty pixel can fill one.
    near = cv2.dilate(empty.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    inside = (rx >= 0) & (rx < w) & (ry >= 0) & (ry < h)
    keep = np.flatnonzero(inside)
    keep = keep[near[ry[keep], rx[keep]]]
    fx, fy = np.floor(x[keep]), np.floor(y[keep])
    x0, y0 = fx.astype(np.int64), fy.astype(np.int64)
    spill_x, spill_y = x[keep] - fx > 1e-3, y[keep] - fy > 1e-3  # on a whole pixel the square covers just it
    for dx, dy in ((0, 0), (1, 0), (0, 1), (1, 1)):  # the pixels a moved unit square overlaps
        some = (spill_x | (dx == 0)) & (spill_y | (dy == 0))
        _claim(out, keep[some], x0[some] + dx, y0[some] + dy, priority, only_empty=True)
    return out.reshape(h, w)


def fill_holes(source: np.ndarray, priority: np.ndarray, grows: np.ndarray | None = None) -> np.ndarray:
    """``source`` (a :func:`forward_splat` result) with every ``EMPTY`` pixel given the source index of its filled
    8-neighbour of smallest ``priority`` (of the source pixel, (H, W)), growing inward from each hole's edge.

    ``grows`` (H, W) bool, per source pixel: whether it may fill holes. Objects that move as one piece keep their
    shape, so they should not grow into the space they uncover; holes fill from the growing pixels first, and
    only a hole that no growing pixel reaches (one enclosed by an object) fills from the others."""
    h, w = source.shape
    if not (source == EMPTY).any():
        return source
    if (source == EMPTY).all():
        raise ValueError("fill_holes: nothing landed inside the frame")
    src = np.pad(source, 1, constant_values=EMPTY).ravel()
    far = np.iinfo(np.int64).max
    pri = np.full(src.shape, far, np.int64)
    filled = src != EMPTY
    pri[filled] = priority.ravel()[src[filled]]
    rank = pri.copy()  # what a hole pixel compares: far for pixels that may not fill (yet)
    if grows is not None:
        rank[filled] = np.where(grows.ravel()[src[filled]], pri[filled], far)
    inner = np.pad(np.ones((h, w), bool), 1, constant_values=False).ravel()
    holes = np.flatnonzero(~filled & inner)
    offsets = np.array([dy * (w + 2) + dx for dy, dx in _NEIGHBOURS])
    while holes.size:
        candidates = rank[holes[None, :] + offsets[:, None]]  # (8, holes)
        best = candidates.argmin(0)
        ready = candidates[best, np.arange(holes.size)] < far
        if not ready.any():  # only non-growing pixels border the holes left: let every filled pixel fill
            filled = src != EMPTY
            rank[filled] = pri[filled]
            continue
        done, neighbour = holes[ready], holes[ready] + offsets[best[ready]]
        src[done], pri[done], rank[done] = src[neighbour], pri[neighbour], rank[neighbour]
        holes = holes[~ready]
    return src.reshape(h + 2, w + 2)[1:-1, 1:-1]

"""Label-video editing for the street tab: a volume of Cityscapes ids plus instance ids, and edit operations that
can be replayed (undo = drop the last operation and replay the rest from the loaded volume).

Conventions
-----------
* ``labels`` is (N, H, W) uint8 Cityscapes labelIds, ``instances`` (N, H, W) int32 (0 = no instance).
* Frame ranges are inclusive ``(first, last)`` pairs, clipped to the video.
* After every operation, pixels whose class is not a "thing" class (``CITYSCAPES.foreground``) lose their instance
  id; pixels that become a thing class without being one before get a fresh instance id (one per operation), so
  painted or relabelled objects are separate objects for the instance-edge input and the style tracker.
* Painting comes from ``gr.ImageEditor`` layers, whose strokes are antialiased (gradio cannot turn that off).
  A pixel counts as painted when its alpha is at least ``ALPHA_THRESHOLD``. Its colour is snapped to the nearest
  brush colour with :func:`v2v.labels.decolorize` (``max_distance=SNAP_DISTANCE``) over the brush palette only.
  Where two strokes of different colours overlap, the blended edge pixels could snap to a third class that lies
  between them in RGB, so pixels farther than ``PURE_DISTANCE`` from their snapped colour take the class of the
  nearest clean stroke pixel instead: every painted pixel gets a class that was actually painted next to it.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from v2v import edits
from v2v.errors import UserError
from v2v.labels import CITYSCAPES, LabelSet, canonical_color_ids, colorize, decolorize

ALPHA_THRESHOLD = 128
SNAP_DISTANCE = 160.0  # RGB distance; painted colours farther than this from every brush colour are refused
PURE_DISTANCE = 12.0  # painted pixels this close to their brush colour are clean stroke pixels
THINGS = np.zeros(256, bool)
THINGS[list(CITYSCAPES.foreground)] = True
# Classes offered in the UI (one per palette colour; the black "void" classes collapse into "unlabeled").
PAINT_CLASSES = [int(i) for i in canonical_color_ids(CITYSCAPES)]
# Brush colours: the common classes (rare ones whose colours nearly repeat others — caravan, trailer, train —
# are left out, so a brush colour is never mistaken for a neighbour).
BRUSH_CLASSES = [CITYSCAPES.id_of(n) for n in (
    "road", "sidewalk", "parking", "ground", "building", "wall", "fence", "pole", "traffic light", "traffic sign",
    "vegetation", "terrain", "sky", "person", "rider", "car", "truck", "bus", "motorcycle", "bicycle")]
BRUSH_SET = LabelSet(name="brush", encoding="onehot", names=tuple(CITYSCAPES.names[c] for c in BRUSH_CLASSES),
                     colors=tuple(CITYSCAPES.colors[c] for c in BRUSH_CLASSES))


def class_id(name: str | int) -> int:
    """A Cityscapes class from its name (or an alias such as "tree", or the id): :func:`v2v.edits.class_id`."""
    return edits.class_id(CITYSCAPES, name)


def class_name(cid: int) -> str:
    return CITYSCAPES.names[cid] if 0 <= cid < CITYSCAPES.num_classes else str(cid)


def parse_relabel(text: str | None) -> list[tuple[int, int]]:
    """"vegetation->building, car=truck" -> [(21, 11), (26, 27)]: the one syntax of :mod:`v2v.edits`."""
    return edits.parse_relabel(text, CITYSCAPES)


def _range(frames: tuple[int, int] | None, n: int) -> range:
    if frames is None:
        return range(n)
    a, b = int(frames[0]), int(frames[1])
    a, b = max(0, min(a, b)), min(n - 1, max(a, b))
    return range(a, b + 1)


@dataclass
class Op:
    """One edit. kind: "class" (from_id -> to_id), "region" (the connected region under (x, y) -> to_id; an object
    with an instance id is followed through the frame range by that id) or "paint" (``ids`` (H, W) int16 with -1
    = keep, stored compressed)."""
    kind: str
    to_id: int
    frames: tuple[int, int] | None = None
    from_id: int = -1
    x: int = 0
    y: int = 0
    frame: int = 0
    paint: bytes = b""
    shape: tuple[int, int] = (0, 0)

    def describe(self) -> str:
        if self.frames is None:
            span = "all frames"
        elif self.frames[0] == self.frames[1]:
            span = f"frame {self.frames[0]}"
        else:
            span = f"frames {self.frames[0]}-{self.frames[1]}"
        if self.kind == "class":
            return f"{class_name(self.from_id)} -> {class_name(self.to_id)} ({span})"
        if self.kind == "region":
            return f"region at ({self.x}, {self.y}) of frame {self.frame} -> {class_name(self.to_id)} ({span})"
        return f"painted strokes ({span})"


def _pack(ids: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", (ids.astype(np.int16) + 1).astype(np.uint16))
    if not ok:
        raise OSError("could not encode a paint layer")
    return buf.tobytes()


def _unpack(data: bytes) -> np.ndarray:
    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED).astype(np.int16) - 1


@dataclass
class LabelVolume:
    labels: np.ndarray
    instances: np.ndarray
    fps: float
    name: str = "labels"
    ops: list[Op] = field(default_factory=list)

    @property
    def num_frames(self) -> int:
        return int(self.labels.shape[0])

    @property
    def size(self) -> tuple[int, int]:
        return int(self.labels.shape[2]), int(self.labels.shape[1])

    def color(self, index: int) -> np.ndarray:
        return colorize(self.labels[index], CITYSCAPES)

    def classes(self) -> list[int]:
        return [int(c) for c in np.unique(self.labels)]


def _region_mask(labels: np.ndarray, x: int, y: int) -> np.ndarray:
    """Pixels 4-connected to (x, y) with its class."""
    mask = (labels == labels[y, x]).astype(np.uint8)
    _, comp = cv2.connectedComponents(mask, connectivity=4)
    return comp == comp[y, x]


def _assign(labels: np.ndarray, instances: np.ndarray, where: np.ndarray, to_id: int, new_instance: int) -> None:
    """Set ``where`` (same leading shape as labels) to ``to_id`` in place, fixing instance ids."""
    was_thing = THINGS[labels[where]]
    labels[where] = to_id
    if THINGS[to_id]:
        inst = instances[where]
        inst[~was_thing | (inst == 0)] = new_instance
        instances[where] = inst
    else:
        instances[where] = 0


def fresh_ids(instances: np.ndarray, count: int) -> list[int]:
    """``count`` instance ids that ``instances`` does not use, all below 65536 (16-bit instance PNGs)."""
    top = int(instances.max(initial=0))
    if top + count <= 65535:
        return list(range(top + 1, top + 1 + count))
    free = np.setdiff1d(np.arange(1, 65536), np.unique(instances))
    if len(free) < count:
        raise UserError("this video has too many objects for 16-bit instance ids; edit fewer frames at once")
    return [int(v) for v in free[:count]]


def apply_op(labels: np.ndarray, instances: np.ndarray, op: Op) -> None:
    """Apply one operation in place."""
    n, h, w = labels.shape
    new_instance = fresh_ids(instances, 1)[0]
    frames = _range(op.frames, n)
    if op.kind == "class":
        sel = labels[frames.start:frames.stop] == op.from_id
        sub_l, sub_i = labels[frames.start:frames.stop], instances[frames.start:frames.stop]
        _assign(sub_l, sub_i, sel, op.to_id, new_instance)
    elif op.kind == "region":
        f0 = min(max(op.frame, 0), n - 1)
        x, y = min(max(op.x, 0), w - 1), min(max(op.y, 0), h - 1)
        inst = int(instances[f0, y, x])
        cls = int(labels[f0, y, x])
        for f in frames:
            if inst and THINGS[cls]:  # an object: follow its instance id
                where = (instances[f] == inst) & (labels[f] == cls)
            elif labels[f, y, x] == cls:
                where = _region_mask(labels[f], x, y)
            else:
                continue
            _assign(labels[f], instances[f], where, op.to_id, new_instance)
    elif op.kind == "paint":
        ids = _unpack(op.paint)
        if ids.shape != (h, w):
            raise UserError(f"the painted layer is {ids.shape[1]}x{ids.shape[0]} but the frames are {w}x{h}")
        classes = [int(c) for c in np.unique(ids[ids >= 0])]
        new = dict(zip(classes, fresh_ids(instances, len(classes))))
        for f in frames:
            for cid in classes:
                _assign(labels[f], instances[f], ids == cid, cid, new[cid])
    else:
        raise ValueError(f"unknown edit {op.kind!r}")


def replay(base_labels: np.ndarray, base_instances: np.ndarray, ops: list[Op]) -> tuple[np.ndarray, np.ndarray]:
    labels, instances = base_labels.copy(), base_instances.copy()
    for op in ops:
        apply_op(labels, instances, op)
    return labels, instances


def snap_strokes(rgb: np.ndarray, painted: np.ndarray) -> np.ndarray:
    """(H, W) Cityscapes ids of painted stroke pixels (see the module docstring); -1 where not painted."""
    index = decolorize(rgb[painted].reshape(-1, 1, 3), BRUSH_SET, max_distance=SNAP_DISTANCE).reshape(-1)
    pal = BRUSH_SET.palette().astype(np.float32)
    dist = np.sqrt(((rgb[painted].astype(np.float32) - pal[index]) ** 2).sum(-1))
    snapped = np.full(painted.shape, -1, np.int64)
    snapped[painted] = index
    blended = np.zeros(painted.shape, bool)
    blended[painted] = dist > PURE_DISTANCE
    clean = painted & ~blended
    if blended.any() and clean.any():
        # nearest clean stroke pixel of every pixel (labels of the zero pixels of the source)
        _, nearest = cv2.distanceTransformWithLabels((~clean).astype(np.uint8), cv2.DIST_L2, 3,
                                                     labelType=cv2.DIST_LABEL_PIXEL)
        ys, xs = np.nonzero(clean)
        table = np.zeros(nearest.max() + 1, np.int64)
        table[nearest[ys, xs]] = snapped[ys, xs]
        snapped[blended] = table[nearest[blended]]
    out = np.full(painted.shape, -1, np.int16)
    out[painted] = np.asarray(BRUSH_CLASSES)[snapped[painted]]
    return out


def paint_op(layer: np.ndarray, frames: tuple[int, int], size: tuple[int, int]) -> Op | None:
    """An Op from an ImageEditor layer ((H, W, 4) RGBA uint8, or RGB where black means "not painted"), or None
    when nothing was painted. The layer is resized (nearest) to the frame ``size`` (W, H) if needed."""
    layer = np.asarray(layer)
    if layer.ndim != 3 or layer.shape[2] not in (3, 4):
        raise UserError(f"the painted layer has shape {layer.shape}; expected an RGBA picture")
    if layer.shape[2] == 4:
        painted = layer[:, :, 3] >= ALPHA_THRESHOLD
    else:
        painted = layer.any(-1)
    if not painted.any():
        return None
    ids = snap_strokes(layer[:, :, :3], painted)  # at the editor's resolution, then down to the frame's
    if (ids.shape[1], ids.shape[0]) != tuple(size):
        ids = cv2.resize(ids, tuple(size), interpolation=cv2.INTER_NEAREST)
    if not (ids >= 0).any():
        return None
    return Op("paint", to_id=-1, frames=frames, paint=_pack(ids), shape=ids.shape)

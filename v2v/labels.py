"""Label sets: what the conditioning input of a model means, and how it is encoded into tensors.

Two encodings exist:

* ``onehot`` — a map of integer class ids (e.g. Cityscapes labelIds) becomes one channel per class, optionally
  followed by one instance-edge channel. This is the street (label→city) input.
* ``image`` — the input already is an image-like map (a rendered pose skeleton, a face sketch). Its channels are
  scaled from [0, 255] to [-1, 1] and used as they are.

Cityscapes ids follow the official ``labelIds`` (0..33); the licence-plate class (-1 in the official table) is
stored as id 34 so that all 35 classes fit one unsigned byte, as vid2vid's ``label_nc 35`` expects.

Label maps are read from files here too: id PNGs (8/16-bit gray), colour-coded PNGs snapped to the palette
(:class:`PaletteSnapper`), and instance PNGs (16-bit ids, or vid2vid's 8-bit maps with 255 = none).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
import torch

from .errors import UserError


@dataclass(frozen=True)
class LabelSet:
    name: str
    encoding: str  # "onehot" or "image"
    names: tuple[str, ...] = ()
    colors: tuple[tuple[int, int, int], ...] = ()
    foreground: tuple[int, ...] = ()
    image_channels: int = 0

    @property
    def num_classes(self) -> int:
        return len(self.names)

    def channels(self, use_instance: bool) -> int:
        """Channels of one encoded frame."""
        if self.encoding == "onehot":
            return self.num_classes + (1 if use_instance else 0)
        return self.image_channels

    def id_of(self, name: str) -> int:
        key = name.strip().lower().replace("_", " ")
        for i, n in enumerate(self.names):
            if n == key:
                return i
        if key.isdigit() and int(key) < self.num_classes:
            return int(key)
        raise ValueError(f"unknown class {name!r} in label set {self.name!r}; known: {', '.join(self.names)}")

    def palette(self) -> np.ndarray:
        """(num_classes, 3) uint8 colours."""
        return np.asarray(self.colors, dtype=np.uint8).reshape(-1, 3)


# id, name, colour — Cityscapes labelIds (licence plate moved from -1 to 34).
_CITYSCAPES = [
    (0, "unlabeled", (0, 0, 0)), (1, "ego vehicle", (0, 0, 0)), (2, "rectification border", (0, 0, 0)),
    (3, "out of roi", (0, 0, 0)), (4, "static", (0, 0, 0)), (5, "dynamic", (111, 74, 0)),
    (6, "ground", (81, 0, 81)), (7, "road", (128, 64, 128)), (8, "sidewalk", (244, 35, 232)),
    (9, "parking", (250, 170, 160)), (10, "rail track", (230, 150, 140)), (11, "building", (70, 70, 70)),
    (12, "wall", (102, 102, 156)), (13, "fence", (190, 153, 153)), (14, "guard rail", (180, 165, 180)),
    (15, "bridge", (150, 100, 100)), (16, "tunnel", (150, 120, 90)), (17, "pole", (153, 153, 153)),
    (18, "polegroup", (153, 153, 153)), (19, "traffic light", (250, 170, 30)),
    (20, "traffic sign", (220, 220, 0)), (21, "vegetation", (107, 142, 35)), (22, "terrain", (152, 251, 152)),
    (23, "sky", (70, 130, 180)), (24, "person", (220, 20, 60)), (25, "rider", (255, 0, 0)),
    (26, "car", (0, 0, 142)), (27, "truck", (0, 0, 70)), (28, "bus", (0, 60, 100)),
    (29, "caravan", (0, 0, 90)), (30, "trailer", (0, 0, 110)), (31, "train", (0, 80, 100)),
    (32, "motorcycle", (0, 0, 230)), (33, "bicycle", (119, 11, 32)), (34, "license plate", (0, 0, 142)),
]
CITYSCAPES_FOREGROUND = (24, 25, 26, 27, 28, 31, 32, 33)  # person rider car truck bus train motorcycle bicycle

CITYSCAPES = LabelSet(
    name="cityscapes", encoding="onehot",
    names=tuple(n for _, n, _ in _CITYSCAPES), colors=tuple(c for _, _, c in _CITYSCAPES),
    foreground=CITYSCAPES_FOREGROUND,
)
POSE = LabelSet(name="pose", encoding="image", image_channels=3)
FACE = LabelSet(name="face", encoding="image", image_channels=1)

BUILTIN = {s.name: s for s in (CITYSCAPES, POSE, FACE)}


def load_label_set(spec: str) -> LabelSet:
    """A built-in label set by name, or a custom one from a JSON file.

    The file holds ``{"name": ..., "classes": [{"name": "road", "color": [128, 64, 128]}, ...],
    "foreground": ["car", ...]}`` for one-hot sets, or ``{"name": ..., "encoding": "image", "channels": 3}``.
    """
    if spec in BUILTIN:
        return BUILTIN[spec]
    path = Path(spec)
    if not path.is_file():
        raise ValueError(f"label set {spec!r} is neither built in ({', '.join(BUILTIN)}) nor a JSON file")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"label set file {path} is not valid JSON: {e}") from None
    unknown = set(data) - {"name", "encoding", "classes", "foreground", "channels"}
    if unknown:
        raise ValueError(f"label set file {path}: unknown keys {sorted(unknown)}")
    encoding = data.get("encoding", "onehot")
    if encoding == "image":
        return LabelSet(name=data.get("name", path.stem), encoding="image", image_channels=int(data["channels"]))
    if encoding != "onehot":
        raise ValueError(f"label set file {path}: encoding must be 'onehot' or 'image', got {encoding!r}")
    classes = data.get("classes") or []
    if not classes:
        raise ValueError(f"label set file {path}: 'classes' must list at least one class")
    names = tuple(str(c["name"]).lower() for c in classes)
    colors = tuple(tuple(int(v) for v in c["color"]) for c in classes)
    ls = LabelSet(name=data.get("name", path.stem), encoding="onehot", names=names, colors=colors)
    fg = tuple(ls.id_of(n) if isinstance(n, str) else int(n) for n in data.get("foreground", []))
    return LabelSet(name=ls.name, encoding="onehot", names=names, colors=colors, foreground=fg)


def check_label_ids(ids: np.ndarray | torch.Tensor, label_set: LabelSet) -> None:
    """Raise a ValueError listing label ids that the label set does not have."""
    arr = ids.detach().cpu().numpy() if isinstance(ids, torch.Tensor) else np.asarray(ids)
    present = np.unique(arr)
    bad = present[(present < 0) | (present >= label_set.num_classes)]
    if bad.size:
        raise ValueError(
            f"label ids {bad.tolist()} are outside label set {label_set.name!r} (valid 0..{label_set.num_classes - 1}); "
            "use labelIds (not trainIds or colours) or a custom label set")


def one_hot(ids: torch.Tensor, num_classes: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """(B, H, W) integer ids -> (B, num_classes, H, W)."""
    if ids.dim() != 3:
        raise ValueError(f"one_hot expects (B, H, W) ids, got shape {tuple(ids.shape)}")
    lo, hi = int(ids.min()), int(ids.max())
    if lo < 0 or hi >= num_classes:
        check_label_ids(ids, LabelSet("given", "onehot", names=tuple(map(str, range(num_classes)))))
    out = torch.zeros(ids.shape[0], num_classes, *ids.shape[1:], dtype=dtype, device=ids.device)
    return out.scatter_(1, ids.long().unsqueeze(1), 1.0)


def instance_edges(inst: torch.Tensor) -> torch.Tensor:
    """(B, H, W) instance ids -> (B, 1, H, W) float map, 1 where a 4-neighbour has another id."""
    if inst.dim() != 3:
        raise ValueError(f"instance_edges expects (B, H, W) ids, got shape {tuple(inst.shape)}")
    edge = torch.zeros_like(inst, dtype=torch.bool)
    dx = inst[:, :, 1:] != inst[:, :, :-1]
    dy = inst[:, 1:, :] != inst[:, :-1, :]
    edge[:, :, 1:] |= dx
    edge[:, :, :-1] |= dx
    edge[:, 1:, :] |= dy
    edge[:, :-1, :] |= dy
    return edge.unsqueeze(1).float()


def encode_frame(label_set: LabelSet, labels: torch.Tensor, instances: torch.Tensor | None = None,
                 use_instance: bool = False) -> torch.Tensor:
    """Encode a batch of conditioning frames into network input channels.

    onehot: ``labels`` (B, H, W) ids, ``instances`` (B, H, W) ids or None -> (B, C(+1), H, W).
    image:  ``labels`` (B, C, H, W) uint8 or float in [0, 255] -> (B, C, H, W) in [-1, 1].
    """
    if label_set.encoding == "onehot":
        x = one_hot(labels, label_set.num_classes)
        if use_instance:
            edges = instance_edges(instances if instances is not None else labels)
            x = torch.cat([x, edges], 1)
        return x
    if labels.dim() != 4 or labels.shape[1] != label_set.image_channels:
        raise ValueError(f"label set {label_set.name!r} expects (B, {label_set.image_channels}, H, W) maps, "
                         f"got shape {tuple(labels.shape)}")
    return labels.float() / 127.5 - 1.0


def foreground_mask(label_set: LabelSet, labels: torch.Tensor, fg_ids: tuple[int, ...] | None = None) -> torch.Tensor:
    """(B, H, W) ids -> (B, 1, H, W) mask of the foreground classes."""
    ids = label_set.foreground if fg_ids is None else fg_ids
    mask = torch.zeros_like(labels, dtype=torch.bool)
    for i in ids:  # a handful of class ids, not pixels
        mask |= labels == i
    return mask.unsqueeze(1).float()


def colorize(ids: np.ndarray, label_set: LabelSet = CITYSCAPES) -> np.ndarray:
    """(H, W) ids -> (H, W, 3) uint8 colour image."""
    return label_set.palette()[np.clip(ids, 0, label_set.num_classes - 1)]


def canonical_color_ids(label_set: LabelSet = CITYSCAPES) -> np.ndarray:
    """Class id chosen for each distinct palette colour: where several classes share a colour (Cityscapes' black
    void classes, pole/polegroup, car/licence plate) the first listed class that is not void wins, else the first."""
    chosen: dict[tuple[int, int, int], int] = {}
    for i, c in enumerate(label_set.colors):
        if c not in chosen:
            chosen[c] = i
    return np.array(sorted(chosen.values()), dtype=np.int64)


def decolorize(rgb: np.ndarray, label_set: LabelSet = CITYSCAPES, max_distance: float = 0.0) -> np.ndarray:
    """(H, W, 3) colour image -> (H, W) ids by nearest palette colour.

    ``max_distance`` bounds the Euclidean RGB distance to the nearest colour; 0 means exact colours only. Pixels
    beyond it raise a ValueError that lists a few of the unknown colours.
    """
    ids = canonical_color_ids(label_set)
    pal = label_set.palette()[ids].astype(np.int32)
    flat = rgb.reshape(-1, 3).astype(np.int32)
    colors, inverse = np.unique(flat, axis=0, return_inverse=True)
    d = ((colors[:, None, :] - pal[None, :, :]) ** 2).sum(-1)
    nearest = d.argmin(1)
    far = np.sqrt(d[np.arange(len(colors)), nearest]) > max_distance
    if far.any():
        sample = [tuple(int(v) for v in c) for c in colors[far][:5]]
        raise ValueError(f"{int(far.sum())} colours are not in the {label_set.name} palette, e.g. {sample}; "
                         "paint with the palette colours or raise the snapping tolerance")
    return ids[nearest][inverse.reshape(-1)].reshape(rgb.shape[:2])


# ------------------------------------------------------------------------------------------- reading label maps
SNAP_TOLERANCE = 30.0  # RGB distance beyond which a label-video pixel is "not a palette colour"
SNAP_MAX_FAR = 0.25  # more such pixels than this fraction: the video is not a colourised label video


@lru_cache(maxsize=4)
def _snap_table(label_set: LabelSet) -> tuple[np.ndarray, np.ndarray]:
    ids = canonical_color_ids(label_set)
    pal = label_set.palette()[ids].astype(np.float32)
    q = (np.arange(64, dtype=np.float32) * 4 + 1.5)
    grid = np.stack(np.meshgrid(q, q, q, indexing="ij"), -1).reshape(-1, 1, 3)
    d = np.sqrt(((grid - pal[None]) ** 2).sum(-1))
    return ids[d.argmin(1)].astype(np.uint8), d.min(1) > SNAP_TOLERANCE


class PaletteSnapper:
    """Colour -> class id by the nearest palette colour, through a 64x64x64 lookup table (2 bits dropped per
    channel, so a frame costs one table read per pixel)."""

    def __init__(self, label_set: LabelSet):
        self.ids, self.far = _snap_table(label_set)

    def __call__(self, rgb: np.ndarray, where: str) -> np.ndarray:
        key = ((rgb[..., 0].astype(np.int32) >> 2) << 12) | ((rgb[..., 1].astype(np.int32) >> 2) << 6) | (
            rgb[..., 2].astype(np.int32) >> 2)
        far = float(self.far[key].mean())
        if far > SNAP_MAX_FAR:
            raise UserError(f"{where} is not a colourised label map: {far:.0%} of its pixels are far from every "
                            "palette colour (a street model needs label maps, not photos or pose/face clips)")
        return self.ids[key]


def read_label_png(path: Path, label_set: LabelSet, snapper: PaletteSnapper | None = None) -> np.ndarray:
    """(H, W) uint8 ids from an id PNG (8/16-bit gray) or a colour-coded PNG; ids are checked against the set."""
    arr = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if arr is None:
        raise UserError(f"cannot read label image {path}: missing, damaged or not an image")
    if arr.ndim == 3:
        rgb = cv2.cvtColor(arr[:, :, :3], cv2.COLOR_BGR2RGB)
        if np.array_equal(rgb[:, :, 0], rgb[:, :, 1]) and np.array_equal(rgb[:, :, 0], rgb[:, :, 2]):
            arr = rgb[:, :, 0]
        else:
            arr = (snapper or PaletteSnapper(label_set))(rgb, f"label image {path}")
    if arr.size and int(arr.max()) >= label_set.num_classes:
        try:
            check_label_ids(arr, label_set)
        except ValueError as e:
            raise UserError(f"{path}: {e}") from None
    return arr.astype(np.uint8)


def read_instance_png(path: Path) -> np.ndarray:
    arr = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if arr is None:
        raise UserError(f"cannot read instance map {path}: missing, damaged or not an image")
    if arr.ndim == 3:
        arr = arr[:, :, 0]
    if arr.dtype == np.uint8:
        arr = np.where(arr == 255, 0, arr)  # vid2vid's 8-bit maps: 255 = no instance
    return arr.astype(np.int32)

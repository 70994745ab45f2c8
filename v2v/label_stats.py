"""Label-map statistics: which classes lie where in the frame, and how big objects are where.

For a set of Cityscapes label frames (labelIds 0..34) and, optionally, their instance maps:

* ``band_hist`` (bands, 35): the class distribution of each horizontal band of rows (16 bands by default; each row
  of the table sums to 1), e.g. sky in the top bands, road in the bottom ones;
* ``class_frac`` (35,): the classes' share of all pixels; ``presence`` (35,): the share of frames that show a
  class (at least ``min_area`` pixels of it);
* ``road_top`` / ``ground_half`` (per frame, fraction of the height from the top): the highest row that holds some
  road (1 % of the row or more), and the highest row from which on the flat classes (road, sidewalk, parking,
  ground, terrain...) cover half the row — two estimates of the horizon;
* ``objects``: per object class (person, car, truck...) one entry per instance and frame with its area (fraction
  of the frame), bounding-box height and width (fractions of the frame's height and width) and its bottom edge
  (fraction of the height from the top). Instances come from the instance maps (ids > 0; an instance belongs to
  its most frequent label, and only its pixels of that label count) or from the connected components of each
  object class that has no instance id in the frame (all classes when there is no instance map).

Two sets are compared with :func:`band_distance` (the mean over bands of the L1 distance between the two class
distributions: 0 for the same layout, 2 when no band shares a class) and :func:`compare` (the figures of
:func:`summary` side by side, then the band-table cells that differ most).

``python -m v2v.label_stats --real ../shared/data/cityscapes_vid2vid --seeds 1-8`` prints the comparison of
procedural scenes (:mod:`v2v.inputs.scene`) with real label maps, with the real-vs-real floor (each real sequence
against the others).
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import cv2
import numpy as np

from .labels import read_instance_png

NUM_CLASSES = 35
NAMES = ("unlabeled", "ego vehicle", "rectification border", "out of roi", "static", "dynamic", "ground", "road",
         "sidewalk", "parking", "rail track", "building", "wall", "fence", "guard rail", "bridge", "tunnel", "pole",
         "polegroup", "traffic light", "traffic sign", "vegetation", "terrain", "sky", "person", "rider", "car",
         "truck", "bus", "caravan", "trailer", "train", "motorcycle", "bicycle", "license plate")
ROAD, SIDEWALK, BUILDING, POLE, TRAFFIC_LIGHT, TRAFFIC_SIGN, VEGETATION, TERRAIN, SKY = 7, 8, 11, 17, 19, 20, 21, 22, 23
PERSON, CAR, TRUCK = 24, 26, 27
FLAT = (6, 7, 8, 9, 10, 22)  # ground, road, sidewalk, parking, rail track, terrain
OBJECT_CLASSES = (24, 25, 26, 27, 28, 29, 30, 31, 32, 33)  # person rider car truck bus caravan trailer train moto bike
OBJECT_FIELDS = ("area", "height", "width", "bottom")


@dataclass
class LabelStats:
    frames: int
    size: tuple[int, int]  # (W, H) of the frames
    band_hist: np.ndarray  # (bands, NUM_CLASSES), rows sum to 1
    class_frac: np.ndarray  # (NUM_CLASSES,), sums to 1
    presence: np.ndarray  # (NUM_CLASSES,) share of frames showing the class
    road_top: np.ndarray  # (frames,) fraction of the height; nan where a frame has no road
    ground_half: np.ndarray  # (frames,) fraction of the height; nan where no row is half flat
    objects: dict[int, dict[str, np.ndarray]] = field(default_factory=dict)  # class -> field -> (instances,)

    @property
    def bands(self) -> int:
        return len(self.band_hist)


class StatsAccumulator:
    """Collects :class:`LabelStats` frame by frame (nothing per pixel is kept)."""

    def __init__(self, bands: int = 16, min_area: int = 4):
        self.bands, self.min_area = bands, min_area
        self.size: tuple[int, int] | None = None
        self.band_counts = np.zeros((bands, NUM_CLASSES), np.int64)
        self.present = np.zeros(NUM_CLASSES, np.int64)
        self.road_top: list[float] = []
        self.ground_half: list[float] = []
        self.objects: dict[int, dict[str, list]] = {}
        self.frames = 0

    def add(self, labels: np.ndarray, instances: np.ndarray | None = None) -> None:
        """One frame: (H, W) label ids and optionally (H, W) instance ids (0 = none)."""
        labels = np.asarray(labels)
        h, w = labels.shape
        if self.size is None:
            if h < self.bands:
                raise ValueError(f"frames of height {h} cannot be split into {self.bands} row bands")
            self.size = (w, h)
        elif self.size != (w, h):
            raise ValueError(f"frame {self.frames} is {w}x{h}, the earlier ones {self.size[0]}x{self.size[1]}")
        if labels.size and int(labels.max()) >= NUM_CLASSES:
            raise ValueError(f"label ids go up to {int(labels.max())}; expected Cityscapes labelIds < {NUM_CLASSES}")
        lab = labels.astype(np.int64)
        rows = np.bincount((np.arange(h)[:, None] * NUM_CLASSES + lab).ravel(),
                           minlength=h * NUM_CLASSES).reshape(h, NUM_CLASSES)  # per-row class counts
        np.add.at(self.band_counts, np.arange(h) * self.bands // h, rows)
        self.present += rows.sum(0) >= self.min_area
        road_rows = np.nonzero(rows[:, ROAD] >= 0.01 * w)[0]
        self.road_top.append(road_rows[0] / h if len(road_rows) else np.nan)
        flat = rows[:, list(FLAT)].sum(1) >= 0.5 * w
        # the highest row below which every row is at least half flat
        above = np.nonzero(~flat)[0]
        first = above[-1] + 1 if len(above) else 0
        self.ground_half.append(first / h if first < h else np.nan)
        for cls, fields in _objects(lab, instances, self.min_area).items():
            store = self.objects.setdefault(cls, {k: [] for k in OBJECT_FIELDS})
            for k in OBJECT_FIELDS:
                store[k].extend(fields[k])
        self.frames += 1

    def result(self) -> LabelStats:
        if not self.frames:
            raise ValueError("no frames")
        counts = self.band_counts.astype(np.float64)
        return LabelStats(
            frames=self.frames, size=self.size, band_hist=counts / counts.sum(1, keepdims=True),
            class_frac=counts.sum(0) / counts.sum(), presence=self.present / self.frames,
            road_top=np.array(self.road_top), ground_half=np.array(self.ground_half),
            objects={c: {k: np.array(v, np.float64) for k, v in d.items()} for c, d in sorted(self.objects.items())})


def _objects(lab: np.ndarray, instances: np.ndarray | None, min_area: int) -> dict[int, dict[str, list]]:
    """Per object class, the area, height, width and bottom of each instance in one frame (fractions)."""
    h, w = lab.shape
    out: dict[int, dict[str, list]] = {}

    def put(cls, area, top, bottom, left, right):
        d = out.setdefault(int(cls), {k: [] for k in OBJECT_FIELDS})
        d["area"].append(area / (h * w))
        d["height"].append((bottom - top + 1) / h)
        d["width"].append((right - left + 1) / w)
        d["bottom"].append((bottom + 1) / h)

    inst = np.zeros(lab.shape, np.int64) if instances is None else np.asarray(instances).astype(np.int64)
    if inst.shape != lab.shape:
        raise ValueError(f"instance map {inst.shape} and label map {lab.shape} differ in size")
    # classes without any instance id in this frame (no instance map, or a class the map leaves out, such as the
    # people of vid2vid's Cityscapes sample): one object per connected component. The unlabelled slivers along
    # instanced objects are left out.
    for cls in OBJECT_CLASSES:
        mask = (lab == cls).astype(np.uint8)
        if not mask.any() or (inst[mask.astype(bool)] > 0).any():
            continue
        _, _, st, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
        for x, y, bw, bh, area in st[1:]:
            if area >= min_area:
                put(cls, area, y, y + bh - 1, x, x + bw - 1)
    sel = np.nonzero(inst.ravel() > 0)[0]
    if not len(sel):
        return out
    ids, idx = np.unique(inst.ravel()[sel], return_inverse=True)
    votes = np.bincount(idx * NUM_CLASSES + lab.ravel()[sel], minlength=len(ids) * NUM_CLASSES)
    major = votes.reshape(len(ids), NUM_CLASSES).argmax(1)
    keep = major[idx] == lab.ravel()[sel]  # only the instance's pixels of its own class
    sel, idx = sel[keep], idx[keep]
    ys, xs = sel // w, sel % w
    n = len(ids)
    area = np.bincount(idx, minlength=n)
    top, bottom = np.full(n, h), np.full(n, -1)
    left, right = np.full(n, w), np.full(n, -1)
    np.minimum.at(top, idx, ys)
    np.maximum.at(bottom, idx, ys)
    np.minimum.at(left, idx, xs)
    np.maximum.at(right, idx, xs)
    for i in np.nonzero((area >= min_area) & np.isin(major, OBJECT_CLASSES))[0]:
        put(major[i], area[i], top[i], bottom[i], left[i], right[i])
    return out


def label_stats(frames: Iterable, bands: int = 16, min_area: int = 4) -> LabelStats:
    """Statistics of ``frames``: label maps, or (labels, instances) pairs (instances may be None)."""
    acc = StatsAccumulator(bands, min_area)
    for f in frames:
        if isinstance(f, tuple):
            acc.add(*f)
        else:
            acc.add(f)
    return acc.result()


def merge(stats: list[LabelStats]) -> LabelStats:
    """One set of statistics for the frames of several sets (of one size and band count), each frame weighted
    alike."""
    if not stats:
        raise ValueError("nothing to merge")
    if len({(s.size, s.bands) for s in stats}) > 1:
        raise ValueError("statistics of different frame sizes or band counts cannot be merged")
    n = np.array([s.frames for s in stats], np.float64)
    wts = n / n.sum()
    objects: dict[int, dict[str, np.ndarray]] = {}
    for cls in sorted({c for s in stats for c in s.objects}):
        objects[cls] = {k: np.concatenate([s.objects[cls][k] for s in stats if cls in s.objects])
                        for k in OBJECT_FIELDS}
    return LabelStats(
        frames=int(n.sum()), size=stats[0].size,
        band_hist=sum(w * s.band_hist for w, s in zip(wts, stats)),
        class_frac=sum(w * s.class_frac for w, s in zip(wts, stats)),
        presence=sum(w * s.presence for w, s in zip(wts, stats)),
        road_top=np.concatenate([s.road_top for s in stats]),
        ground_half=np.concatenate([s.ground_half for s in stats]), objects=objects)


def band_distance(a: LabelStats, b: LabelStats) -> float:
    """Mean over row bands of the L1 distance between the two class distributions (0 .. 2)."""
    if a.bands != b.bands:
        raise ValueError(f"band counts differ: {a.bands} vs {b.bands}")
    return float(np.abs(a.band_hist - b.band_hist).sum(1).mean())


def class_distance(a: LabelStats, b: LabelStats) -> float:
    """L1 distance between the overall class distributions (0 .. 2)."""
    return float(np.abs(a.class_frac - b.class_frac).sum())


def _median(x: np.ndarray) -> float:
    x = x[np.isfinite(x)]
    return float(np.median(x)) if len(x) else float("nan")


def _band_share(s: LabelStats, classes, lo: float, hi: float) -> float:
    """Share of the rows from ``lo`` to ``hi`` (fractions of the height) that ``classes`` cover."""
    b0, b1 = int(round(lo * s.bands)), int(round(hi * s.bands))
    return float(s.band_hist[b0:b1][:, list(classes)].sum(1).mean())


def summary(s: LabelStats) -> dict[str, float]:
    """The figures that :func:`compare` shows: horizon, class areas by region, shares, object sizes and places."""
    out = {
        "road top (horizon), y/H": _median(s.road_top),
        "flat classes from, y/H": _median(s.ground_half),
        "sky in top quarter": _band_share(s, [SKY], 0, 0.25),
        "building in top half": _band_share(s, [BUILDING], 0, 0.5),
        "vegetation in top half": _band_share(s, [VEGETATION], 0, 0.5),
        "road in bottom quarter": _band_share(s, [ROAD], 0.75, 1),
        "road in 3rd quarter": _band_share(s, [ROAD], 0.5, 0.75),
    }
    for cls in (ROAD, BUILDING, VEGETATION, SKY, CAR, SIDEWALK, TERRAIN, POLE, TRAFFIC_SIGN, TRAFFIC_LIGHT, PERSON,
                TRUCK):
        out[f"{NAMES[cls]} share"] = float(s.class_frac[cls])
    for cls in (POLE, TRAFFIC_SIGN, TRAFFIC_LIGHT, PERSON, TRUCK):
        out[f"frames with {NAMES[cls]}"] = float(s.presence[cls])
    for cls in (CAR, PERSON):
        o = s.objects.get(cls, {k: np.zeros(0) for k in OBJECT_FIELDS})
        name = NAMES[cls]
        out[f"{name}s per frame"] = len(o["area"]) / s.frames
        out[f"{name} height/H, median"] = _median(o["height"])
        out[f"{name} height/H, 90th pct"] = float(np.percentile(o["height"], 90)) if len(o["height"]) else np.nan
        out[f"{name} bottom y/H, median"] = _median(o["bottom"])
        if cls == CAR:
            out["car area/frame, 90th pct"] = float(np.percentile(o["area"], 90)) if len(o["area"]) else np.nan
            low = o["bottom"] >= 0.75
            out["car height/H, bottom in lowest quarter"] = _median(o["height"][low])
            mid = (o["bottom"] >= 0.5) & (o["bottom"] < 0.75)
            out["car height/H, bottom in 3rd quarter"] = _median(o["height"][mid])
    return out


def compare(a: LabelStats, b: LabelStats, top: int = 8) -> list[tuple[str, float, float]]:
    """(figure, value of a, value of b) rows: the summary figures, then the ``top`` (band, class) cells of the
    band tables that differ most."""
    sa, sb = summary(a), summary(b)
    rows = [(k, sa[k], sb[k]) for k in sa]
    diff = np.abs(a.band_hist - b.band_hist)
    for flat in np.argsort(-diff, axis=None)[:top]:
        band, cls = divmod(int(flat), NUM_CLASSES)
        lo, hi = band / a.bands, (band + 1) / a.bands
        rows.append((f"{NAMES[cls]} in rows {lo:.2f}-{hi:.2f}", float(a.band_hist[band, cls]),
                     float(b.band_hist[band, cls])))
    return rows


def format_rows(rows: list[tuple], header: tuple[str, ...]) -> str:
    """A plain-text table: a name column, then numbers (3 decimals)."""
    cells = [[r[0]] + [v if isinstance(v, str) else f"{v:.3f}" for v in r[1:]] for r in rows]
    widths = [max(len(str(x)) for x in col) for col in zip(header, *cells)]
    lines = ["  ".join(str(x).ljust(w) if i == 0 else str(x).rjust(w) for i, (x, w) in enumerate(zip(r, widths)))
             for r in [list(header)] + cells]
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------------- reading
def read_frame(label_path: Path, instance_path: Path | None, size: tuple[int, int] | None):
    """(labels, instances or None) of one frame, resized to ``size`` (W, H) with nearest neighbours. Label PNGs
    hold labelIds; 8-bit instance maps use 255 for "no instance" (vid2vid's layout), 16-bit ones 0."""
    lab = cv2.imread(str(label_path), cv2.IMREAD_UNCHANGED)
    if lab is None or lab.ndim != 2:
        raise ValueError(f"{label_path} is not a one-channel label-id image")
    inst = read_instance_png(instance_path) if instance_path is not None else None
    if size is not None and (lab.shape[1], lab.shape[0]) != tuple(size):
        lab = cv2.resize(lab, tuple(size), interpolation=cv2.INTER_NEAREST)
        if inst is not None:
            inst = cv2.resize(inst.astype(np.uint16), tuple(size), interpolation=cv2.INTER_NEAREST)
    return lab, inst


def vid2vid_sequences(root: Path) -> list[tuple[str, list[Path], list[Path] | None]]:
    """(name, label files, instance files or None) of each sequence of a vid2vid root (train_A, train_inst)."""
    root = Path(root)
    out = []
    for seq in sorted(p for p in (root / "train_A").iterdir() if p.is_dir()):
        labels = sorted(seq.glob("*.png"))
        inst_dir = root / "train_inst" / seq.name
        inst = [inst_dir / p.name for p in labels] if inst_dir.is_dir() else None
        if inst is not None and not all(p.exists() for p in inst):
            inst = None
        out.append((seq.name, labels, inst))
    if not out:
        raise ValueError(f"no sequences under {root / 'train_A'}")
    return out


def folder_stats(label_files: list[Path], instance_files: list[Path] | None, size: tuple[int, int] | None,
                 bands: int = 16, step: int = 1) -> LabelStats:
    """Statistics of every ``step``-th frame of a list of label (and instance) files."""
    pairs = ((label_files[i], instance_files[i] if instance_files else None)
             for i in range(0, len(label_files), step))
    return label_stats((read_frame(lp, ip, size) for lp, ip in pairs), bands)


def scene_stats(seed: int, frames: int, size: tuple[int, int], bands: int = 16) -> LabelStats:
    """Statistics of a procedural scene (:mod:`v2v.inputs.scene`) rendered in memory."""
    from .inputs.scene import build_world, render_frame

    world = build_world(seed, frames)
    return label_stats(((r["labels"], r["instances"]) for r in (render_frame(world, i, *size) for i in range(frames))),
                       bands)


def floor_distance(per_sequence: list[LabelStats]) -> float:
    """Real-vs-real floor: the mean over sequences of each one's band distance to the others merged."""
    if len(per_sequence) < 2:
        raise ValueError("the floor needs two sequences or more")
    return float(np.mean([band_distance(s, merge(per_sequence[:i] + per_sequence[i + 1:]))
                          for i, s in enumerate(per_sequence)]))


def _seeds(text: str) -> list[int]:
    out = []
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        out.extend(range(int(lo), int(hi or lo) + 1))
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m v2v.label_stats",
                                description="compare procedural street scenes with real Cityscapes label maps")
    p.add_argument("--real", type=Path, required=True, help="vid2vid root with train_A (and train_inst)")
    p.add_argument("--seeds", default="1-8", help="scene seeds, e.g. 1-8 or 1,2,5")
    p.add_argument("--frames", type=int, default=30, help="frames per scene")
    p.add_argument("--size", default="256x128", help="W x H the frames are compared at")
    p.add_argument("--bands", type=int, default=16)
    p.add_argument("--step", type=int, default=1, help="use every STEP-th real frame")
    args = p.parse_args(argv)
    size = tuple(int(v) for v in args.size.lower().split("x"))
    real = [folder_stats(lab, inst, size, args.bands, args.step) for _, lab, inst in vid2vid_sequences(args.real)]
    scenes = [scene_stats(s, args.frames, size, args.bands) for s in _seeds(args.seeds)]
    real_all, scene_all = merge(real), merge(scenes)
    print(f"band distance (mean over {args.bands} row bands of the L1 distance between class distributions)")
    print(f"  real vs real (each sequence vs the others): {floor_distance(real):.3f}")
    print(f"  scene vs real, each seed vs all real:       "
          f"{np.mean([band_distance(s, real_all) for s in scenes]):.3f}")
    print(f"  scenes merged vs real merged:               {band_distance(scene_all, real_all):.3f}")
    print(f"class distance (L1 of overall class shares): scenes {class_distance(scene_all, real_all):.3f}, "
          f"real floor {np.mean([class_distance(s, merge(real[:i] + real[i + 1:])) for i, s in enumerate(real)]):.3f}")
    print(format_rows(compare(scene_all, real_all), ("figure", "scene", "real")))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

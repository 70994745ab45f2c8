"""Training samples: short runs of consecutive frames from a prepared dataset, augmented consistently.

An item of :class:`VideoDataset` is a dict of tensors for T consecutive frames of one sequence:

* ``labels``     street: (T, H, W) int64 class ids; pose/face: (T, C, H, W) uint8 conditioning maps
* ``instances``  (T, H, W) int64 instance ids, 0 = none (all zeros when the dataset has none)
* ``images``     (T, 3, H, W) float real frames in [-1, 1] (zeros, with ``has_images`` False, when absent)
* ``flow``       (T, 2, H, W) float backward flow in pixels, frame t -> t-1; ``flow[0]`` is 0
* ``flow_conf``  (T, 1, H, W) float, 1 where that flow is trusted; ``flow_conf[0]`` is 0
* ``masks``      (T, 1, H, W) float foreground masks in {0, 1} (zeros when absent)
* ``face_center`` (T, 2) float head centre (x, y) in the item's pixels, NaN without a visible head — only with
  ``face_centers=True`` (datasets with keypoints: the face discriminator's crops, :mod:`v2v.face_crop`)
* ``sequence`` (str), ``start`` (int, first frame index), ``num_frames`` (int T, smaller than asked when the
  sequence is shorter than that), ``has_images`` (bool)

Random choices (start frame, crop box, zoom, flip) come from torch's global RNG, so DataLoader worker seeding and
``torch.manual_seed`` make them reproducible. One crop box, zoom and flip decision hold for the whole run of frames.
A horizontal flip mirrors every map and negates the x component of the flow; it is used for street scenes only
(pose and face maps have a handedness that a mirror would swap).

Region recolouring (``recolor``, street scenes): each class present in the run is, with this chance, moved to a
random colour — its pixels shifted by (random target − the class's mean colour over the run), the same shift in
every frame, so texture and motion stay. It teaches a model with style features to draw whatever colour its
features ask for (the few real sequences alone show nearly one colour per class, and a generator trained on them
ignores requests outside it).

Zoom (``zoom=(min, max)``, with a crop): the run is a random box of crop / z source pixels, z log-uniform in
[min, max], resized to the crop: class ids, instance ids, masks and flow confidence by nearest neighbour, frames,
pose/face maps and flow bilinearly with antialiasing (the flow's pixels scaled by the resize), head centres moved
with the box. With a prepared dataset at twice the model's size and z around 0.5 the scale varies without the blur
of upsampling, so a tiny dataset shows its objects at more sizes (four street sequences: 120 frames).

Layout mixing (``layout_mix``, street scenes): with this chance a run is cut at a random column in the middle half
of the frame and its right part replaced by the same columns of a run from another sequence (same length, its own
start, crop and flip), every map and every frame cut at that one column, so the pair is a street layout no single
sequence has (four sequences give twelve ordered pairs at every cut). The other run's instance ids move above the
first run's so that no two objects share one; the flow is kept on each side, its confidence set to 0 where it
points across the cut (the previous frame there belongs to the other sequence).
"""
from __future__ import annotations

import math
from collections import OrderedDict
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from . import kinds
from .dataset_format import DatasetIndex, open_dataset
from .errors import UserError
from .face_crop import face_centers
from .flow import ground_truth_flow


def _crop_size(crop_size, size: tuple[int, int]) -> tuple[int, int] | None:
    if crop_size is None:
        return None
    cw, ch = (crop_size, crop_size) if isinstance(crop_size, int) else (int(v) for v in crop_size)
    w, h = size
    if not (0 < cw <= w and 0 < ch <= h):
        raise UserError(f"crop size {cw}x{ch} does not fit the dataset frames of {w}x{h}")
    return cw, ch


def _zoom_range(zoom, crop: tuple[int, int] | None, size: tuple[int, int]) -> tuple[float, float] | None:
    """(lowest, highest) zoom that keeps the source box of a crop inside frames of ``size``; None without zoom."""
    if not zoom:
        return None
    lo, hi = (float(v) for v in zoom) if len(zoom) == 2 else (0.0, 0.0)
    if not 0 < lo <= hi:
        raise UserError(f"zoom is (min, max) with 0 < min <= max, got {list(zoom)}")
    if crop is None:
        raise UserError("zoom needs a crop size: the size (W, H) that each zoomed box is resized to")
    (cw, ch), (w, h) = crop, size
    need = max(cw / w, ch / h)
    if hi < need:
        raise UserError(f"zoom up to {hi:g} cannot fill a {cw}x{ch} crop from frames of {w}x{h} (the box would be "
                        f"larger than the frame): raise the zoom to at least {need:.3g}, or prepare the dataset at "
                        "a larger size")
    return max(lo, need), hi


class VideoDataset(Dataset):
    """Runs of ``num_frames`` consecutive frames from the dataset at ``root`` (a folder or a :class:`DatasetIndex`).

    ``crop_size``: (W, H) or an int for a square crop; None keeps whole frames. ``zoom``: (min, max) scale of the
    source frames in the crop (module docstring; needs ``crop_size``). ``flip``: None means "on for
    street scenes when ``random``". ``samples_per_epoch``: the length of an epoch (at least one item per sequence);
    item ``i`` comes from sequence ``i % num_sequences``. ``random=False`` (validation) starts every run at frame 0,
    centre-crops at the geometric middle of the zoom range and never flips. ``sequences`` restricts the dataset
    to these sequence names.
    Flow is read from the dataset when it has it; otherwise it is computed with DIS from the real frames and the
    last ``flow_cache_size`` results are kept in memory.
    """

    def __init__(self, root: str | Path | DatasetIndex, num_frames: int, crop_size=None, flip: bool | None = None,
                 samples_per_epoch: int | None = None, random: bool = True, sequences: list[str] | None = None,
                 flow_cache_size: int = 64, flow_preset: str = "medium", recolor: float = 0.0,
                 face_centers: bool = False, zoom=None, layout_mix: float = 0.0):
        self.index = root if isinstance(root, DatasetIndex) else open_dataset(root)
        self.kind = self.index.kind
        kind = kinds.get(self.kind)
        if sequences is not None:
            self.sequences = [self.index.sequence(name) for name in sequences]
            if not self.sequences:
                raise UserError("the list of sequences to use is empty")
        else:
            self.sequences = list(self.index.sequences)
        self.crop = _crop_size(crop_size, self.index.size)
        self.zoom = _zoom_range(zoom, self.crop, self.index.size)
        if flip and not kind.flips:
            raise UserError(f"a {self.kind} dataset cannot be flipped: horizontal flips are only for street scenes "
                            "(a mirror swaps the left and right of pose and face maps); set flip off")
        self.flip = (kind.flips and random) if flip is None else bool(flip)
        if not 0.0 <= recolor <= 1.0:
            raise UserError(f"recolor is a probability, got {recolor}")
        if recolor and not kind.label_ids:
            raise UserError(f"region recolouring needs class labels; a {self.kind} dataset has none")
        self.recolor = float(recolor) if random else 0.0
        if not 0.0 <= layout_mix <= 1.0:
            raise UserError(f"layout_mix is a probability, got {layout_mix}")
        if layout_mix and not kind.label_ids:
            raise UserError(f"layout mixing cuts class-label maps; a {self.kind} dataset has none (a pose or face map "
                            "cut in two is not one person): set layout_mix to 0")
        if layout_mix and len(self.sequences) < 2:
            raise UserError("layout mixing joins runs of two different sequences, and this dataset has "
                            f"{len(self.sequences)}: use more sequences or set layout_mix to 0")
        self.layout_mix = float(layout_mix) if random else 0.0
        missing = [s.name for s in self.sequences if s.keypoints is None]
        if face_centers and missing:
            raise UserError(f"face crops need the dataset's keypoints, and sequence {missing[0]!r} has none: prepare "
                            "it with `python -m v2v prepare pose`, or train without face_crop")
        self.face_centers = bool(face_centers)
        self.random = random
        self.samples_per_epoch = samples_per_epoch
        self.num_frames = 1
        self.set_num_frames(num_frames)
        self.flow_preset = flow_preset
        self.flow_cache_size = max(0, int(flow_cache_size))
        self._flow_cache: OrderedDict[tuple[str, int], tuple[np.ndarray, np.ndarray]] = OrderedDict()

    def set_num_frames(self, num_frames: int) -> None:
        """Change T, the length of the runs (the progressive training schedule grows it)."""
        if int(num_frames) < 1:
            raise UserError(f"num_frames must be at least 1, got {num_frames}")
        self.num_frames = int(num_frames)

    def __len__(self) -> int:
        return max(len(self.sequences), self.samples_per_epoch or 0)

    def _randint(self, high: int) -> int:
        """Uniform integer in [0, high) from torch's RNG."""
        return int(torch.randint(high, (1,)).item()) if high > 1 else 0

    def middle_zoom(self) -> float:
        """The geometric middle of the zoom range (1 without zoom): the validation items' zoom, and the scale of the
        dataset's frames that a model trained on this dataset draws at."""
        return math.sqrt(self.zoom[0] * self.zoom[1]) if self.zoom else 1.0

    def _source_size(self, cw: int, ch: int) -> tuple[int, int]:
        """(W, H) of the source box that becomes a cw x ch crop: the crop itself, or crop / z with zoom."""
        if self.zoom is None:
            return cw, ch
        lo, hi = self.zoom
        z = math.exp(math.log(lo) + float(torch.rand(())) * math.log(hi / lo)) if self.random else self.middle_zoom()
        w, h = self.index.size
        return min(w, max(1, round(cw / z))), min(h, max(1, round(ch / z)))

    def __getitem__(self, idx: int) -> dict:
        if not 0 <= idx < len(self):
            raise IndexError(idx)
        seq = self.sequences[idx % len(self.sequences)]
        item = self._run(seq, min(self.num_frames, seq.num_frames))
        if self.layout_mix and bool(torch.rand(()) < self.layout_mix):
            t = item["labels"].shape[0]
            others = [s for s in self.sequences if s is not seq and s.num_frames >= t
                      and (s.images is None) == (seq.images is None)]
            if others:
                other = self._run(others[self._randint(len(others))], t)
                width = item["labels"].shape[-1]
                cut = width // 4 + self._randint(width // 2 + 1)
                item = mix_layouts(item, other, cut)
        if self.recolor and seq.images is not None:
            item["images"] = recolor_regions(item["images"], item["labels"], self.recolor)
        item.update(sequence=seq.name, num_frames=item["labels"].shape[0], has_images=seq.images is not None)
        return item

    def _run(self, seq, t: int) -> dict:
        """The maps of ``t`` frames of ``seq`` with their own random start, crop box, zoom and flip, and ``start``."""
        w, h = self.index.size
        cw, ch = self.crop or (w, h)
        sw, sh = self._source_size(cw, ch)
        if self.random:
            start = self._randint(seq.num_frames - t + 1)
            x0, y0 = self._randint(w - sw + 1), self._randint(h - sh + 1)
            flip = self.flip and bool(torch.rand(()) < 0.5)
        else:
            start, x0, y0, flip = 0, (w - sw) // 2, (h - sh) // 2, False
        box = (slice(y0, y0 + sh), slice(x0, x0 + sw))
        # the run's first frame has no flow inside the run; keypoints only for the face crops
        parts = {"labels", "instances", "image", "mask"} | ({"keypoints"} if self.face_centers else set())
        frames = [self.index.load_frame(seq, i, parts if i == start else parts | {"flow"})
                  for i in range(start, start + t)]
        item = self._stack(frames, box)
        item.update(self._flows(seq, start, t, frames, box))
        if self.face_centers:
            item["face_center"] = face_centers([f.get("keypoints") for f in frames], x0, y0, (sw, sh))
        if (sw, sh) != (cw, ch):
            item = _resized(item, (cw, ch), kinds.get(self.kind).label_ids)
        if flip:
            item = _hflip(item)
        item["start"] = start
        return item

    def _stack(self, frames: list[dict], box) -> dict:
        t = len(frames)
        ch, cw = box[0].stop - box[0].start, box[1].stop - box[1].start
        labels = np.stack([f["labels"][box] for f in frames])
        if kinds.get(self.kind).label_ids:
            lab = torch.from_numpy(labels.astype(np.int64))
        else:
            if labels.ndim == 3:  # gray maps: one channel
                labels = labels[..., None]
            lab = torch.from_numpy(np.ascontiguousarray(labels.transpose(0, 3, 1, 2)))
        if "instances" in frames[0]:
            inst = torch.from_numpy(np.stack([f["instances"][box] for f in frames]).astype(np.int64))
        else:
            inst = torch.zeros(t, ch, cw, dtype=torch.int64)
        if "image" in frames[0]:
            img = torch.from_numpy(np.stack([f["image"][box] for f in frames])).permute(0, 3, 1, 2)
            images = img.float() / 127.5 - 1.0
        else:
            images = torch.zeros(t, 3, ch, cw)
        if "mask" in frames[0]:
            masks = torch.from_numpy(np.stack([f["mask"][box] for f in frames])).unsqueeze(1).float() / 255.0
        else:
            masks = torch.zeros(t, 1, ch, cw)
        return {"labels": lab, "instances": inst, "images": images.contiguous(), "masks": masks}

    def _flows(self, seq, start: int, t: int, frames: list[dict], box) -> dict:
        ch, cw = box[0].stop - box[0].start, box[1].stop - box[1].start
        flow = torch.zeros(t, 2, ch, cw)
        conf = torch.zeros(t, 1, ch, cw)
        for k in range(1, t):
            f = frames[k]
            if "flow" in f:
                fl, cf = f["flow"], f["flow_conf"]
            elif "image" in f:
                fl, cf = self._computed_flow(seq.name, start + k, f["image"], frames[k - 1]["image"])
            else:
                continue  # no real frames: no flow
            flow[k] = torch.from_numpy(np.ascontiguousarray(fl[box].transpose(2, 0, 1)).astype(np.float32))
            conf[k, 0] = torch.from_numpy(cf[box].astype(np.float32))
        return {"flow": flow, "flow_conf": conf}

    def _computed_flow(self, name: str, i: int, image: np.ndarray, prev: np.ndarray):
        key = (name, i)
        hit = self._flow_cache.get(key)
        if hit is not None:
            self._flow_cache.move_to_end(key)
            return hit
        fl, conf = ground_truth_flow(image, prev, preset=self.flow_preset)
        result = (fl.astype(np.float16), conf)
        if self.flow_cache_size:
            self._flow_cache[key] = result
            while len(self._flow_cache) > self.flow_cache_size:
                self._flow_cache.popitem(last=False)
        return result


def _resized(item: dict, size: tuple[int, int], class_ids: bool) -> dict:
    """``item``'s maps resized to ``size`` (W, H): ids, masks and flow confidence by nearest neighbour, frames,
    conditioning images and flow bilinearly with antialiasing, flow vectors and head centres scaled with the map."""
    w, h = size
    sh, sw = item["images"].shape[-2:]
    sx, sy = w / sw, h / sh

    def nearest(x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x.float(), size=(h, w), mode="nearest-exact").to(x.dtype)

    def smooth(x: torch.Tensor) -> torch.Tensor:
        y = F.interpolate(x.float(), size=(h, w), mode="bilinear", align_corners=False, antialias=True)
        return y.round().clamp(0, 255).to(x.dtype) if x.dtype == torch.uint8 else y

    out = dict(item)
    out["labels"] = nearest(item["labels"][:, None])[:, 0] if class_ids else smooth(item["labels"])
    out["instances"] = nearest(item["instances"][:, None])[:, 0]
    out["images"] = smooth(item["images"]).clamp(-1, 1)
    out["masks"] = nearest(item["masks"])
    out["flow_conf"] = nearest(item["flow_conf"])
    out["flow"] = smooth(item["flow"]) * torch.tensor([sx, sy]).view(1, 2, 1, 1)
    if "face_center" in item:
        out["face_center"] = (item["face_center"] + 0.5) * torch.tensor([sx, sy]) - 0.5
    return out


def _hflip(item: dict) -> dict:
    """Mirror every map left-right; the flow's x component changes sign, head centres move to the mirror side."""
    out = {k: torch.flip(v, dims=[-1]) for k, v in item.items() if k != "face_center"}
    out["flow"][:, 0] = -out["flow"][:, 0]
    if "face_center" in item:
        centers = item["face_center"].clone()
        centers[:, 0] = item["labels"].shape[-1] - 1 - centers[:, 0]
        out["face_center"] = centers
    return out


def mix_layouts(left: dict, right: dict, cut: int) -> dict:
    """``left``'s run with the columns from ``cut`` on taken from ``right`` (two runs of T frames of one size): every
    map cut at that column; ``right``'s instance ids moved above ``left``'s largest; flow confidence 0 where a
    pixel's backward flow lands on the other side of the cut (its previous frame there is the other sequence's)."""
    out = dict(left)
    for key in ("labels", "instances", "images", "masks", "flow", "flow_conf"):
        joined = left[key].clone()
        joined[..., cut:] = right[key][..., cut:]
        out[key] = joined
    moved = right["instances"][..., cut:]
    out["instances"][..., cut:] = torch.where(moved > 0, moved + left["instances"].max().clamp(min=0), moved)
    x = torch.arange(out["flow"].shape[-1], dtype=out["flow"].dtype)
    source_x = x + out["flow"][:, 0:1]  # (T, 1, H, W): where each pixel's previous position is
    same_side = torch.where(x < cut, source_x <= cut - 1, source_x >= cut)
    out["flow_conf"] = out["flow_conf"] * same_side.to(out["flow_conf"].dtype)
    return out


RECOLOR_RANGE = (-0.9, 0.6)  # targets per channel, in [-1, 1] image units (bright targets would clip texture)


def recolor_regions(images: torch.Tensor, labels: torch.Tensor, chance: float) -> torch.Tensor:
    """(T, 3, H, W) frames in [-1, 1] with each class of ``labels`` (T, H, W), with probability ``chance``, shifted
    to a random colour (uniform in ``RECOLOR_RANGE`` per channel): one shift per class for the whole run, so
    texture and motion are kept; clipped to [-1, 1]. Uses torch's global RNG, no loop over classes."""
    flat = labels.reshape(-1)
    classes, inverse = torch.unique(flat, return_inverse=True)
    k = len(classes)
    pixels = images.permute(1, 0, 2, 3).reshape(3, -1)  # (3, T*H*W)
    sums = pixels.new_zeros(3, k).index_add_(1, inverse, pixels)
    means = sums / torch.bincount(inverse, minlength=k).clamp(min=1).to(pixels.dtype)
    chosen = torch.rand(k) < chance
    lo, hi = RECOLOR_RANGE
    targets = torch.rand(3, k) * (hi - lo) + lo
    shift = torch.where(chosen, targets - means, torch.zeros_like(means))  # (3, K)
    moved = pixels + shift[:, inverse]
    return moved.reshape(3, *images.shape[:1], *images.shape[2:]).permute(1, 0, 2, 3).clamp(-1, 1).contiguous()

"""Multimodal synthesis: per-class style mixtures, object tracks, and the per-frame style feature maps.

How style works here (the paper's "Gaussian mixture per class", done as a real mixture rather than pix2pixHD's
KMeans centres):

* **Regions.** The feature encoder E maps a real frame to ``feat_nc`` channels; ``instance_pool`` averages them over
  regions — one region per object instance (instance id > 0) and one per class for the remaining "stuff" pixels
  (``v2v.nn.encoder.region_ids``). A region's class is the majority label of its pixels.
* **StyleBank.** :func:`fit_style_bank` encodes every real frame of a dataset, takes one mean feature vector per
  (frame, region), and fits a scikit-learn ``GaussianMixture`` (full covariances) per class. The mixtures are stored
  as plain tensors inside the exported model (``style.classes``, ``style.<id>.weights|means|covariances|samples``)
  and sampled with numpy, so nothing is pickled.
* **Tracks.** :class:`Tracker` follows objects through a label video online: the previous frame's object masks are
  warped to the current frame with DIS flow between the colourised label frames and matched to the current
  instances by IoU (same class only). Ids in the label video need not be stable. Every stuff class is one track
  for the whole video with id ``STUFF_TRACK_BASE + class id`` (so the road keeps one look).
* **Sampling.** :class:`StyleSampler` gives every track ONE feature vector for the whole video, drawn from its
  class mixture with a numpy Generator seeded from ``(seed, track id)``; re-rolling a track (``rerolls[id] = s``)
  reseeds only that track. Feature maps are (1, feat_nc, H, W), constant over each region, zeros for classes the
  bank has no mixture for.
"""
from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import torch

from .errors import UserError
from .labels import CITYSCAPES, LabelSet, colorize

STUFF_TRACK_BASE = 100000  # track id of stuff class c is STUFF_TRACK_BASE + c
SINGLE_SAMPLE_VARIANCE = 1e-4  # a class seen once becomes a tiny Gaussian at that sample
REG_COVAR = 1e-5  # added to the covariance diagonals while fitting (features are tanh outputs in [-1, 1])
MIN_REGION_FRACTION = 1 / 1024  # regions smaller than this share of the frame are not used for fitting
FLOW_SIZE = 512  # the tracker computes label flow on frames at most this many pixels wide (or high)
Progress = Callable[[int, int], None]


# ------------------------------------------------------------------------------------------------ mixtures


@dataclass
class Mixture:
    """One class's Gaussian mixture: weights (K,), means (K, D), covariances (K, D, D), float32; ``samples`` is
    how many region vectors it was fitted on."""
    weights: np.ndarray
    means: np.ndarray
    covariances: np.ndarray
    samples: int = 0
    _chol: np.ndarray | None = field(default=None, repr=False, compare=False)

    def __post_init__(self):
        self.weights = np.asarray(self.weights, np.float32).reshape(-1)
        self.means = np.asarray(self.means, np.float32).reshape(len(self.weights), -1)
        d = self.means.shape[1]
        self.covariances = np.asarray(self.covariances, np.float32).reshape(len(self.weights), d, d)

    @property
    def components(self) -> int:
        return len(self.weights)

    def cholesky(self) -> np.ndarray:
        if self._chol is None:
            cov = self.covariances.astype(np.float64)
            eye = np.eye(cov.shape[-1])
            for jitter in (0.0, 1e-8, 1e-6, 1e-4):
                try:
                    self._chol = np.linalg.cholesky(cov + jitter * eye)
                    break
                except np.linalg.LinAlgError:
                    continue
            else:
                raise UserError("a style mixture has a covariance that is not positive definite; run `style fit` "
                                "again")
        return self._chol

    def sample(self, rng: np.random.Generator) -> np.ndarray:
        """One draw: a component by weight, then N(mean, cov) via its Cholesky factor; clipped to [-1, 1] (the
        range of the encoder's tanh output)."""
        p = self.weights.astype(np.float64)
        k = int(rng.choice(len(p), p=p / p.sum()))
        z = rng.standard_normal(self.means.shape[1])
        x = self.means[k].astype(np.float64) + self.cholesky()[k] @ z
        return np.clip(x, -1.0, 1.0).astype(np.float32)


def fit_mixture(samples: np.ndarray, max_components: int = 5, seed: int = 0) -> Mixture:
    """Fit a full-covariance GaussianMixture to (N, D) samples.

    The number of components is chosen by BIC among 1..K with K = min(max_components, N // 5, distinct samples),
    at least 1; a single sample becomes a Gaussian with variance ``SINGLE_SAMPLE_VARIANCE`` at that sample.
    """
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.mixture import GaussianMixture
    from threadpoolctl import threadpool_limits

    x = np.asarray(samples, np.float64)
    n, d = x.shape
    if n == 0:
        raise ValueError("fit_mixture needs at least one sample")
    if n == 1:
        return Mixture(np.ones(1), x, np.eye(d)[None] * SINGLE_SAMPLE_VARIANCE, samples=1)
    distinct = len(np.unique(x, axis=0))
    k_max = max(1, min(max_components, n // 5, distinct))
    best, best_bic = None, np.inf
    # a few thousand low-dimensional samples: worker threads only cost (20x slower on a busy 2-core machine)
    with warnings.catch_warnings(), threadpool_limits(1):
        warnings.simplefilter("ignore", ConvergenceWarning)
        for k in range(1, k_max + 1):
            gm = GaussianMixture(k, covariance_type="full", reg_covar=REG_COVAR, random_state=seed, max_iter=200)
            gm.fit(x)
            bic = gm.bic(x)
            if bic < best_bic:
                best, best_bic = gm, bic
    return Mixture(best.weights_, best.means_, best.covariances_, samples=n)


class StyleBank:
    """Per-class style mixtures (class id -> :class:`Mixture`), all with the same feature size."""

    def __init__(self, mixtures: dict[int, Mixture], label_set: LabelSet = CITYSCAPES):
        self.mixtures = {int(c): m for c, m in sorted(mixtures.items())}
        self.label_set = label_set
        dims = {m.means.shape[1] for m in self.mixtures.values()}
        if len(dims) > 1:
            raise ValueError(f"style mixtures disagree on the feature size: {sorted(dims)}")
        self.feat_nc = dims.pop() if dims else 0
        self.stats: dict = {}  # what fit_style_bank measured (frames, regions, seconds)

    @property
    def classes(self) -> list[int]:
        return list(self.mixtures)

    def __contains__(self, class_id: int) -> bool:
        return int(class_id) in self.mixtures

    @classmethod
    def fit(cls, samples: dict[int, np.ndarray], components: int = 5, label_set: LabelSet = CITYSCAPES,
            seed: int = 0) -> "StyleBank":
        """A bank from per-class (N, D) sample arrays (classes with no samples are left out)."""
        return cls({c: fit_mixture(x, components, seed) for c, x in samples.items() if len(x)}, label_set)

    def sample(self, class_id: int, rng: np.random.Generator, spread: float = 1.0) -> np.ndarray:
        """(feat_nc,) float32 draw from the class's mixture; zeros for a class without one. ``spread`` scales the
        draw's distance from the mixture's mean (1: as fitted; 0: always the mean; 2: twice as far; clipped to
        [-1, 1])."""
        m = self.mixtures.get(int(class_id))
        if m is None:
            return np.zeros(self.feat_nc, np.float32)
        x = m.sample(rng)
        if spread != 1.0:
            center = (m.weights[:, None] * m.means).sum(0) / m.weights.sum()
            x = np.clip(center + spread * (x - center), -1.0, 1.0).astype(np.float32)
        return x

    def to_tensors(self) -> dict[str, torch.Tensor]:
        out = {"style.classes": torch.tensor(self.classes, dtype=torch.int64)}
        for c, m in self.mixtures.items():
            out[f"style.{c}.weights"] = torch.from_numpy(m.weights.copy())
            out[f"style.{c}.means"] = torch.from_numpy(m.means.copy())
            out[f"style.{c}.covariances"] = torch.from_numpy(m.covariances.copy())
            out[f"style.{c}.samples"] = torch.tensor([m.samples], dtype=torch.int64)
        return out

    @classmethod
    def from_tensors(cls, tensors: dict[str, torch.Tensor], label_set: LabelSet = CITYSCAPES) -> "StyleBank | None":
        """Rebuild a bank from ``to_tensors`` output (e.g. ``load_model(...)["extra"]``); None when it has none."""
        if "style.classes" not in tensors:
            return None
        mixtures = {}
        for c in tensors["style.classes"].reshape(-1).tolist():
            keys = [f"style.{c}.{k}" for k in ("weights", "means", "covariances")]
            missing = [k for k in keys if k not in tensors]
            if missing:
                raise UserError(f"the model's style bank is incomplete ({missing[0]} is missing); run `python -m v2v "
                                "style fit` again")
            w, mu, cov = (tensors[k].detach().cpu().float().numpy() for k in keys)
            if mu.ndim != 2 or w.shape != (mu.shape[0],) or cov.shape != (mu.shape[0], mu.shape[1], mu.shape[1]):
                raise UserError(f"the model's style mixture for class {c} has inconsistent shapes "
                                f"{w.shape}, {mu.shape}, {cov.shape}; run `python -m v2v style fit` again")
            n = tensors.get(f"style.{c}.samples")
            mixtures[int(c)] = Mixture(w, mu, cov, samples=int(n.reshape(-1)[0]) if n is not None else 0)
        return cls(mixtures, label_set)

    def summary(self) -> dict[str, dict]:
        """{class name: {"id", "components", "samples"}}."""
        names = self.label_set.names
        return {(names[c] if c < len(names) else str(c)): {"id": c, "components": m.components,
                                                           "samples": m.samples}
                for c, m in self.mixtures.items()}


# ------------------------------------------------------------------------------------------------ regions


def region_means(features: torch.Tensor, labels: torch.Tensor, instances: torch.Tensor | None,
                 num_classes: int) -> dict:
    """Mean feature of every region of one frame (the regions of ``instance_pool``), vectorised.

    features (C, H, W); labels and instances (H, W). Returns {"vectors": (R, C) float32, "classes": (R,) int64
    majority label of each region, "pixels": (R,) int64, "things": (R,) bool (instance regions)}, numpy arrays.
    """
    from .nn.encoder import region_ids

    c = features.shape[0]
    labels = labels.long().to(features.device)
    inst = torch.zeros_like(labels) if instances is None else instances.long().to(features.device)
    keys = region_ids(labels[None], inst[None], num_classes)[0].reshape(-1)
    uniq, inverse, counts = torch.unique(keys, return_inverse=True, return_counts=True)
    r = len(uniq)
    flat = features.float().reshape(c, -1).t()
    sums = flat.new_zeros(r, c).index_add_(0, inverse, flat)
    votes = torch.bincount(inverse * num_classes + labels.reshape(-1), minlength=r * num_classes)
    classes = votes.view(r, num_classes).argmax(1)
    return {"vectors": (sums / counts.unsqueeze(1)).cpu().numpy().astype(np.float32),
            "classes": classes.cpu().numpy(), "pixels": counts.cpu().numpy(),
            "things": (uniq >= num_classes).cpu().numpy()}


def _image_tensor(image: np.ndarray) -> torch.Tensor:
    """(H, W, 3) uint8 RGB -> (1, 3, H, W) in [-1, 1]."""
    return torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None].float() / 127.5 - 1.0


def fit_style_bank(model_dir: str | Path, dataset_dir: str | Path, components: int = 5,
                   max_frames_per_sequence: int | None = None, progress: Progress | None = None,
                   min_region_fraction: float = MIN_REGION_FRACTION, batch_size: int = 8,
                   sequences: Iterable[str] | None = None, exclude: Iterable[str] = ()) -> StyleBank:
    """Encode every real frame of a prepared dataset with the model's encoder, fit one mixture per class, and write
    the bank into the model folder (re-exported atomically with the same networks and its other extra tensors).

    One sample per (frame, object instance) and per (frame, stuff class region); regions smaller than
    ``min_region_fraction`` of the frame are skipped. ``sequences`` picks sequences by name (default: all),
    ``exclude`` leaves some out (e.g. the held-out validation sequence). The model meta gets a "style" summary.
    """
    from .checkpoint import load_model
    from .dataset_format import open_dataset

    if components < 1:
        raise UserError(f"--components must be at least 1, got {components}")
    model = load_model(model_dir, "cpu")
    cfg, nets = model["config"], model["networks"]
    if "encoder" not in nets:
        raise UserError(f"model {model_dir} has no feature encoder (train it with encoder.enabled=true) so it has "
                        "no styles to fit")
    index = open_dataset(dataset_dir)
    if index.label_set != cfg.label_set:
        raise UserError(f"dataset {dataset_dir} has label set {index.label_set!r} but the model uses "
                        f"{cfg.label_set!r}")
    if not index.has.get("images"):
        raise UserError(f"dataset {dataset_dir} has no real images to take styles from")
    w, h = index.size
    multiple = nets["encoder"].multiple
    if w % multiple or h % multiple:
        raise UserError(f"dataset frames are {w}x{h}; the encoder needs multiples of {multiple} (prepare the "
                        "dataset at such a size)")
    ncls = cfg.labels.num_classes
    min_pixels = max(1, int(round(w * h * min_region_fraction)))
    names = [s.name for s in index.sequences]
    unknown = [n for n in list(sequences or []) + list(exclude) if n not in names]
    if unknown:
        raise UserError(f"sequence {unknown[0]!r} is not in {dataset_dir} (has: {', '.join(names)})")
    chosen = [s for s in index.sequences if (sequences is None or s.name in set(sequences)) and s.name not in
              set(exclude)]
    if not chosen:
        raise UserError(f"no sequences of {dataset_dir} are left to fit styles on; check --sequences/--exclude")
    jobs = [(s, i) for s in chosen for i in range(min(s.num_frames, max_frames_per_sequence or s.num_frames))]
    per_class: dict[int, list[np.ndarray]] = {}
    start = time.perf_counter()
    regions = 0
    for b in range(0, len(jobs), batch_size):
        frames = [index.load_frame(s, i, {"labels", "instances", "image"}) for s, i in jobs[b:b + batch_size]]
        with torch.inference_mode():
            feats = nets["encoder"](torch.cat([_image_tensor(f["image"]) for f in frames]))
        for f, feat in zip(frames, feats):
            inst = f.get("instances")
            pooled = region_means(feat, torch.from_numpy(f["labels"].astype(np.int64)),
                                  None if inst is None else torch.from_numpy(inst.astype(np.int64)), ncls)
            keep = pooled["pixels"] >= min_pixels
            if not cfg.encoder.stuff_pooling:  # stuff has no style features in this model
                keep &= pooled["things"]
            for c in np.unique(pooled["classes"][keep]):
                per_class.setdefault(int(c), []).append(pooled["vectors"][keep & (pooled["classes"] == c)])
            regions += int(keep.sum())
        if progress:
            progress(min(b + batch_size, len(jobs)), len(jobs))
    encode_s = time.perf_counter() - start
    bank = StyleBank.fit({c: np.concatenate(v) for c, v in per_class.items()}, components, cfg.labels)
    fit_s = time.perf_counter() - start - encode_s
    extra = {k: v for k, v in model["extra"].items() if not k.startswith("style.")}
    extra.update(bank.to_tensors())
    meta = dict(model["meta"])
    meta["style"] = {"dataset": str(dataset_dir), "sequences": [s.name for s in chosen], "frames": len(jobs),
                     "regions": regions,
                     "min_region_pixels": min_pixels, "max_components": components,
                     "classes": bank.summary()}
    _rewrite_model(Path(model_dir), cfg, nets, meta, extra)
    bank.stats = {"frames": len(jobs), "regions": regions, "encode_seconds": encode_s, "fit_seconds": fit_s}
    return bank


def _rewrite_model(folder: Path, cfg, nets: torch.nn.Module, meta: dict, extra: dict[str, torch.Tensor]) -> None:
    """Re-export a model folder in place: same networks in the weights' stored precision, new meta and extra
    tensors; any other files in the folder (previews, notes) are kept. Atomic: swapped in at the end."""
    import os
    import shutil
    import tempfile

    from safetensors import safe_open

    from .checkpoint import export_model

    with safe_open(str(folder / "model.safetensors"), "pt") as f:
        name = next((k for k in f.keys() if k.startswith("generator.")), None)
        dtype = f.get_tensor(name).dtype if name else torch.float16
    work = Path(tempfile.mkdtemp(prefix=f".{folder.name}.style-", dir=folder.parent))
    try:
        new = export_model(work / folder.name, cfg, nets, meta=meta, extra_tensors=extra, dtype=dtype)
        for item in folder.iterdir():
            if item.name not in ("config.json", "model.safetensors"):
                (shutil.copytree if item.is_dir() else shutil.copy2)(item, new / item.name)
        old = work / "old"
        os.replace(folder, old)
        try:
            os.replace(new, folder)
        except BaseException:
            os.replace(old, folder)
            raise
    finally:
        shutil.rmtree(work, ignore_errors=True)


# ------------------------------------------------------------------------------------------------ tracking


class Tracker:
    """Online object tracker for label videos: call :meth:`update` once per frame, in order.

    Objects (instance id > 0) are matched to the previous frame's tracks by IoU between their masks and the
    previous track masks warped to the current frame (DIS flow between the colourised label frames, or no warp
    when ``use_flow`` is False); a match needs the same class and IoU >= ``min_iou``, best pairs first. Unmatched
    objects start new tracks (ids 1, 2, ...). A track missing for up to ``max_gap`` frames can still be picked up
    (by the mask it had when last seen). Stuff pixels belong to the class track ``STUFF_TRACK_BASE + class``.
    """

    def __init__(self, label_set: LabelSet = CITYSCAPES, use_flow: bool = True, min_iou: float = 0.1,
                 max_gap: int = 5, flow_preset: str = "medium"):
        self.label_set = label_set
        self.use_flow = use_flow
        self.min_iou = min_iou
        self.max_gap = max_gap
        self.flow_preset = flow_preset
        self.reset()

    def reset(self) -> None:
        self.tracks: dict[int, dict] = {}
        self.next_id = 1
        self.frames = 0
        self._memory: np.ndarray | None = None  # (H, W) track ids of the previous frame's objects
        self._lost: np.ndarray | None = None  # (H, W) last masks of tracks lost for up to max_gap frames
        self._color: np.ndarray | None = None  # previous colourised label frame
        self._last_seen: dict[int, int] = {}

    def _flow(self, color: np.ndarray) -> np.ndarray:
        """Backward flow current -> previous frame, computed at most FLOW_SIZE pixels wide (ample for matching)."""
        import cv2

        from .flow import dis_flow

        h, w = color.shape[:2]
        scale = min(1.0, FLOW_SIZE / max(h, w))
        if scale == 1.0:
            return dis_flow(color, self._color, self.flow_preset)
        small = (max(8, round(w * scale)), max(8, round(h * scale)))
        cur, prev = (cv2.resize(c, small, interpolation=cv2.INTER_NEAREST) for c in (color, self._color))
        flow = cv2.resize(dis_flow(cur, prev, self.flow_preset), (w, h), interpolation=cv2.INTER_LINEAR)
        return flow * np.array([w / small[0], h / small[1]], np.float32)

    def _warp_memory(self, color: np.ndarray) -> np.ndarray:
        mem = self._memory
        if not self.use_flow or not mem.any():
            return mem
        flow = self._flow(color)  # current pixel -> its place in the previous frame
        h, w = mem.shape
        xs = np.clip(np.rint(np.arange(w, dtype=np.float32)[None] + flow[..., 0]), 0, w - 1).astype(np.intp)
        ys = np.clip(np.rint(np.arange(h, dtype=np.float32)[:, None] + flow[..., 1]), 0, h - 1).astype(np.intp)
        return mem[ys, xs]

    def _record(self, tid: int, class_id: int, index: int, pixels: int) -> None:
        rec = self.tracks.get(tid)
        if rec is None:
            names = self.label_set.names
            rec = self.tracks[tid] = {"id": tid, "class": names[class_id] if class_id < len(names) else str(class_id),
                                      "class_id": class_id, "first_frame": index, "last_frame": index, "pixels": 0,
                                      "frames": 0}
        rec["last_frame"] = index
        rec["pixels"] += pixels
        rec["frames"] += 1

    def update(self, labels: np.ndarray | torch.Tensor, instances: np.ndarray | torch.Tensor | None = None,
               index: int | None = None) -> np.ndarray:
        """Track one frame ((H, W) ids, or (1, H, W) tensors) -> (H, W) int64 map of track ids."""
        labels = _as_map(labels)
        inst = np.zeros_like(labels) if instances is None else _as_map(instances)
        index = self.frames if index is None else int(index)
        ncls = max(self.label_set.num_classes, int(labels.max()) + 1)
        h, w = labels.shape
        color = colorize(labels, self.label_set) if self.use_flow else None
        if self._memory is not None and self._memory.shape != (h, w):
            self._memory = self._lost = None

        # current objects: one per instance id, class = majority label
        uniq, inv, area = unique_inverse(inst)
        r = len(uniq)
        cls = np.bincount(inv * ncls + labels.reshape(-1), minlength=r * ncls).reshape(r, ncls).argmax(1)
        assigned = np.zeros(r, np.int64)

        warped = None
        if self._memory is not None:
            warped = self._warp_memory(color)
            if self._lost is not None:  # lost tracks: their last mask as it was, where no recent object is
                warped = np.where(warped > 0, warped, self._lost)
            warped = warped.reshape(-1)
            tids, tinv, tarea = unique_inverse(warped)
            t = len(tids)
            both = (uniq[inv] > 0) & (warped > 0)
            inter = np.bincount(inv[both] * t + tinv[both], minlength=r * t).reshape(r, t)
            iou = inter / np.maximum(area[:, None] + tarea[None] - inter, 1)
            tcls = np.array([self.tracks[int(x)]["class_id"] if x > 0 else -1 for x in tids])
            ok = (iou >= self.min_iou) & (cls[:, None] == tcls[None]) & (uniq[:, None] > 0) & (tids[None] > 0)
            ri, ti = np.nonzero(ok)
            used: set[int] = set()
            for k in np.argsort(-iou[ri, ti], kind="stable"):  # best pairs first (a few objects, not pixels)
                if assigned[ri[k]] == 0 and ti[k] not in used:
                    assigned[ri[k]] = tids[ti[k]]
                    used.add(ti[k])
        for k in np.nonzero((uniq > 0) & (assigned == 0))[0]:
            assigned[k] = self.next_id
            self.next_id += 1
        for k in np.nonzero(uniq > 0)[0]:
            tid = int(assigned[k])
            self._record(tid, int(cls[k]), index, int(area[k]))  # a known track keeps its class
            self._last_seen[tid] = index
        things = assigned[inv].reshape(h, w)

        # stuff: one track per class for the whole video
        stuff = things == 0
        counts = np.bincount(labels[stuff], minlength=ncls)
        for c in np.nonzero(counts)[0]:
            self._record(STUFF_TRACK_BASE + int(c), int(c), index, int(counts[c]))
        track_map = np.where(stuff, STUFF_TRACK_BASE + labels, things)

        # memory for the next frame: this frame's objects; tracks just lost keep the mask they had when last seen
        # (warping it with flow from a frame the object is missing from would scatter it)
        self._last_seen = {tid: s for tid, s in self._last_seen.items() if index - s < self.max_gap}
        if self._memory is not None:
            lost = self._lost if self._lost is not None else np.zeros_like(self._memory)
            lost = np.where(self._memory > 0, self._memory, lost)
            alive = [tid for tid, s in self._last_seen.items() if s != index]
            lost = np.where(np.isin(lost, alive), lost, 0)
            self._lost = lost if lost.any() else None
        self._memory, self._color = things, color
        self.frames += 1
        return track_map

    def objects(self) -> list[dict]:
        """Tracks seen so far: [{"id", "class", "class_id", "first_frame", "last_frame", "pixels" (summed over
        frames), "frames" (frames it appears in)}], objects first (by id), then stuff classes."""
        return [dict(self.tracks[k]) for k in sorted(self.tracks)]


def unique_inverse(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``np.unique(ids, return_inverse=True, return_counts=True)`` on the flattened ids, by counting instead of
    sorting when the ids are small non-negative integers (label, instance and track ids): ~20x faster."""
    flat = ids.reshape(-1)
    if flat.size and flat.min() >= 0 and flat.max() < 1 << 22:
        counts = np.bincount(flat)
        uniq = np.flatnonzero(counts)
        lut = np.zeros(len(counts), np.int64)
        lut[uniq] = np.arange(len(uniq))
        return uniq, lut[flat], counts[uniq]
    uniq, inv, counts = np.unique(flat, return_inverse=True, return_counts=True)
    return uniq, inv.reshape(-1), counts


def _as_map(x: np.ndarray | torch.Tensor) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    x = np.asarray(x)
    if x.ndim == 3 and x.shape[0] == 1:
        x = x[0]
    if x.ndim != 2:
        raise ValueError(f"expected an (H, W) id map, got shape {x.shape}")
    return x.astype(np.int64)


def track_objects(label_frames: Iterable, instance_frames: Iterable | None = None, label_set: LabelSet = CITYSCAPES,
                  use_flow: bool = True, maps: list | None = None) -> list[dict]:
    """Track a whole label video: (H, W) label id frames and matching instance frames (or None) -> the tracks
    (see :meth:`Tracker.objects`). Pass a list as ``maps`` to also get each frame's (H, W) track-id map."""
    tracker = Tracker(label_set, use_flow=use_flow)
    insts = iter(instance_frames) if instance_frames is not None else None
    for labels in label_frames:
        track_map = tracker.update(labels, next(insts) if insts is not None else None)
        if maps is not None:
            maps.append(track_map)
    return tracker.objects()


# ------------------------------------------------------------------------------------------------ sampling


@dataclass
class StyleRequest:
    """What style to synthesise with.

    seed: base seed of every track's draw. rerolls: {track id: seed} draws those tracks anew (other tracks keep
    their look). from_image: an (H, W, 3) uint8 RGB real frame whose per-class mean features are used (needs the
    encoder); its classes come from ``from_labels`` ((H, W) ids of that image) or, when None, from the first frame
    of the video. Classes absent from the image fall back to the bank. colors: {track id: (r, g, b) 0..255 or
    "#rrggbb"} paints those tracks a chosen colour — for models whose style features are region colours (meta
    ``style_features`` "rgb", trained with ``loss.style_color``); the other feature channels, if any, keep the
    track's draw.
    spread: how far draws go from each class's mean (1: as fitted, >1 more variety than the training data shows).
    """
    seed: int = 0
    rerolls: dict[int, int] = field(default_factory=dict)
    from_image: np.ndarray | None = None
    from_labels: np.ndarray | None = None
    colors: dict[int, tuple[int, int, int] | str] = field(default_factory=dict)
    spread: float = 1.0

    @property
    def local_tracks(self) -> frozenset[int]:
        """The tracks this request re-rolls or paints: edits of single objects (see :mod:`v2v.local_edit`)."""
        return frozenset(int(t) for t in (*self.rerolls, *self.colors))

    def without_local_edits(self) -> "StyleRequest":
        """The same request with no re-rolls and no colours: the video the local edits are made on."""
        return replace(self, rerolls={}, colors={})


def _color_vector(color, track_id) -> np.ndarray:
    """(r, g, b) 0..255 (or "#rrggbb") -> the (3,) feature of a colour-anchored encoder: the colour in [-1, 1]."""
    if isinstance(color, str):
        text = color.strip().lstrip("#")
        if len(text) != 6:
            raise UserError(f"colour {color!r} for object {track_id} must look like #rrggbb")
        try:
            color = tuple(int(text[i:i + 2], 16) for i in (0, 2, 4))
        except ValueError:
            raise UserError(f"colour {color!r} for object {track_id} must look like #rrggbb") from None
    rgb = np.asarray(color, np.float64).reshape(-1)
    if rgb.shape != (3,) or not np.all((rgb >= 0) & (rgb <= 255)):
        raise UserError(f"colour {color!r} for object {track_id} must be three values 0..255")
    return (rgb / 127.5 - 1.0).astype(np.float32)


class StyleSampler:
    """Per-frame style feature maps for one video (online: frames arrive in order, no look-ahead).

    ``features(labels, instances, index)`` -> (1, feat_nc, H, W) float32 on the labels' device. Frame index 0
    after other frames starts a new video (the tracker is reset).
    """

    def __init__(self, bank: StyleBank | None, request: StyleRequest | None, config,
                 encoder: torch.nn.Module | None = None, use_flow: bool = True, color_features: bool = False):
        self.bank = bank
        self.request = request or StyleRequest()
        self.config = config
        self.encoder = encoder
        self.feat_nc = config.encoder.feat_nc if config.encoder.enabled else (bank.feat_nc if bank else 0)
        if bank is not None and bank.classes and bank.feat_nc != self.feat_nc:
            raise UserError(f"the style bank has {bank.feat_nc}-channel features but the model expects "
                            f"{self.feat_nc}; run `python -m v2v style fit` for this model")
        if self.request.from_image is not None and encoder is None:
            raise UserError("style from an image needs a model with a feature encoder")
        if not (np.isfinite(self.request.spread) and 0.0 <= self.request.spread <= 10.0):
            raise UserError(f"style spread must be within 0..10, got {self.request.spread}")
        self._colors = {int(t): _color_vector(c, t) for t, c in self.request.colors.items()}
        if self._colors and not color_features:
            raise UserError("this model's style features are not colours (it was trained without "
                            "loss.style_color), so objects cannot be given a colour; re-roll them instead")
        self.tracker = Tracker(config.labels, use_flow=use_flow)
        self._vectors: dict[int, np.ndarray] = {}
        self._image_means: dict[int, np.ndarray] | None = None
        self.track_map: np.ndarray | None = None  # the last frame's (H, W) track ids

    def reset(self) -> None:
        self.tracker.reset()
        self._vectors.clear()

    def track_seed(self, track_id: int) -> np.random.SeedSequence:
        tid = int(track_id)
        if tid in self.request.rerolls:
            return np.random.SeedSequence([int(self.request.rerolls[tid]), tid, 1])
        return np.random.SeedSequence([int(self.request.seed), tid])

    def vector(self, track_id: int, class_id: int) -> np.ndarray:
        """The (feat_nc,) style vector of a track (drawn once, then reused for the whole video)."""
        v = self._vectors.get(track_id)
        if v is None:
            if track_id >= STUFF_TRACK_BASE and not self.config.encoder.stuff_pooling:
                v = np.zeros(self.feat_nc, np.float32)  # the model was trained without stuff features
            elif self._image_means is not None and class_id in self._image_means:
                v = self._image_means[class_id]
            elif self.bank is not None and class_id in self.bank:
                v = self.bank.sample(class_id, np.random.default_rng(self.track_seed(track_id)),
                                     self.request.spread)
            else:
                v = np.zeros(self.feat_nc, np.float32)
            if track_id in self._colors:
                v = v.copy()
                k = min(3, self.feat_nc)
                v[:k] = self._colors[track_id][:k]
            self._vectors[track_id] = v
        return v

    def _encode_image(self, labels: np.ndarray) -> dict[int, np.ndarray]:
        """Per-class mean features of the request image, classes from ``from_labels`` or ``labels``."""
        import cv2

        from .config import nearest_valid_size

        image = np.asarray(self.request.from_image)
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise UserError(f"the style image must be an (H, W, 3) uint8 RGB picture, got {image.shape} {image.dtype}")
        ref = labels if self.request.from_labels is None else _as_map(self.request.from_labels)
        w, h = nearest_valid_size(ref.shape[1], ref.shape[0], self.encoder.multiple)
        image = cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA)
        ref = cv2.resize(ref.astype(np.int32), (w, h), interpolation=cv2.INTER_NEAREST)
        dev = next(self.encoder.parameters()).device
        with torch.inference_mode():
            feat = self.encoder(_image_tensor(image).to(dev))[0]
        pooled = region_means(feat, torch.from_numpy(ref.astype(np.int64)), None,
                              max(self.config.labels.num_classes, int(ref.max()) + 1))
        return {int(c): v for c, v in zip(pooled["classes"], pooled["vectors"])}

    def features(self, labels: torch.Tensor, instances: torch.Tensor | None = None, index: int = 0) -> torch.Tensor:
        if index == 0 and self.tracker.frames:
            self.reset()
        self.track_map = self.tracker.update(_as_map(labels), instances, index)  # also read by v2v.local_edit
        return self.feature_map(labels, self.track_map, self.tracker.tracks)

    def feature_map(self, labels: torch.Tensor, track_map: np.ndarray, tracks: dict) -> torch.Tensor:
        """The (1, feat_nc, H, W) features of a frame already tracked — by this sampler's :meth:`features`, or by
        another sampler on the same video (``track_map`` and its ``tracks``), so a second request needs no second
        tracking pass."""
        lab = _as_map(labels)
        if self.request.from_image is not None and self._image_means is None:
            self._image_means = self._encode_image(lab)
        tids, inv, _ = unique_inverse(track_map)
        table = np.stack([self.vector(int(t), tracks[int(t)]["class_id"]) for t in tids]) \
            if self.feat_nc else np.zeros((len(tids), 0), np.float32)
        out = torch.from_numpy(table[inv.reshape(-1)].reshape(*lab.shape, self.feat_nc)).permute(2, 0, 1)[None]
        device = labels.device if isinstance(labels, torch.Tensor) else "cpu"
        return out.contiguous().to(device)

"""How close predicted label maps are to the real future ones: mIoU over the 19 Cityscapes evaluation classes.

Label ids are mapped to Cityscapes' 19 ``trainId`` classes (road ... bicycle, the classes Cityscapes and the
segmentation-forecasting literature score); pixels whose *real* class is void (unlabeled, ego vehicle, static,
parking, guard rail, polegroup, caravan, licence plate...) are ignored, as in the Cityscapes benchmark. The IoU
of a class is |pred ∩ real| / |pred ∪ real|.

* :func:`label_scores` scores one pair of maps: ``miou`` averages the IoU over the classes present in either map
  (a class that neither map shows is not a free perfect score), so a class of a few stray pixels that one map has
  and the other lacks counts as one class at IoU 0.
* :func:`confusion` + :func:`miou_of` accumulate intersections and unions over many pairs first (the Cityscapes
  benchmark's way), so stray pixels weigh by their area.
"""
from __future__ import annotations

import numpy as np

from ..labels import CITYSCAPES

IGNORE = 255
TRAIN_CLASSES = ("road", "sidewalk", "building", "wall", "fence", "pole", "traffic light", "traffic sign",
                 "vegetation", "terrain", "sky", "person", "rider", "car", "truck", "bus", "train", "motorcycle",
                 "bicycle")
N = len(TRAIN_CLASSES)


def _train_ids() -> np.ndarray:
    table = np.full(256, IGNORE, np.uint8)
    for train_id, name in enumerate(TRAIN_CLASSES):
        table[CITYSCAPES.id_of(name)] = train_id
    return table


TRAIN_ID = _train_ids()  # Cityscapes labelId -> trainId (255 = void)


def confusion(pred: np.ndarray, real: np.ndarray) -> np.ndarray:
    """(N + 1, N) int64 pixel counts: row = predicted train class (row N: a void class predicted), column = real
    train class; pixels that are void in ``real`` are left out."""
    if pred.shape != real.shape:
        raise ValueError(f"predicted map is {pred.shape[::-1]} (W, H), the real one {real.shape[::-1]}")
    p, r = TRAIN_ID[pred].ravel(), TRAIN_ID[real].ravel()
    keep = r != IGNORE
    p = np.minimum(p[keep], N).astype(np.int64)
    return np.bincount(p * N + r[keep], minlength=(N + 1) * N).reshape(N + 1, N)


def miou_of(conf: np.ndarray) -> float:
    """Mean IoU over the classes with a non-empty union in a :func:`confusion` matrix (NaN when there are none)."""
    inter = np.diag(conf[:N])
    union = conf[:N].sum(1) + conf.sum(0) - inter
    present = union > 0
    return float((inter[present] / union[present]).mean()) if present.any() else float("nan")


def label_scores(pred: np.ndarray, real: np.ndarray) -> dict:
    """{"miou", "pixel_accuracy"} of a predicted (H, W) labelId map against the real one; NaN when the real map is
    void everywhere."""
    conf = confusion(pred, real)
    total = conf.sum()
    return {"miou": miou_of(conf), "pixel_accuracy": float(np.trace(conf[:N]) / total) if total else float("nan")}

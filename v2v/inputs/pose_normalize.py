"""Global pose normalisation (Everybody Dance Now, Chan et al. 2019, section 3.2).

A source dancer filmed at another distance or framing than the target person must be moved and scaled so that the
rendered poses look like the target's own training poses. For each clip we measure, from the ankle heights in the
image:

* ``far`` / ``close``: the farthest (highest in the image) and closest (lowest) ankle y the person reaches, taken
  as the 5th and 95th percentiles of the per-frame ankle y (the lower visible ankle: the foot on the ground);
* ``height_far`` / ``height_close``: the person's height in pixels (ankle y minus the top of the head landmarks)
  in the frames whose ankle y is near ``far`` / ``close`` (the median over those frames);
* ``center_x``: the median horizontal position of the body.

A source frame whose ankle is at ``a`` then gets, with ``p = (a - far_s) / (close_s - far_s)``:

* scale ``s(a) = hf_t / hf_s + p (hc_t / hc_s - hf_t / hf_s)`` (interpolating the two height ratios), and
* ankle target ``b(a) = far_t + p (close_t - far_t)`` (the source's feet land in the target's range),

and every point moves as ``y' = b + s (y - a)``, ``x' = center_x_t + s (x - center_x_s)``. When a clip barely
changes depth (ankle range under 2 % of the frame height) a single scale (median height ratio) and the median
ankle positions are used instead. Coordinates are those of the keypoint dicts (see :mod:`.pose_render`); the
result is expressed in the target clip's coordinates.
"""
from __future__ import annotations

from typing import Iterable

import numpy as np

from ..errors import UserError

ANKLES = (27, 28)
HEAD = tuple(range(0, 11))  # nose, eyes, ears, mouth
BODY_CORE = (11, 12, 23, 24)  # shoulders and hips
MIN_RANGE = 0.02  # ankle range below this fraction of the frame height counts as "no depth change"
VIS = 0.5


def _frame_measures(kp: dict) -> tuple[float, float, float] | None:
    """(ankle y, height, centre x) of one frame, or None when the body, head or ankles are not visible."""
    body = kp.get("body") if kp else None
    if body is None:
        return None
    b = np.asarray(body, dtype=np.float64).reshape(-1, 3)
    ankles = b[list(ANKLES)]
    ankles = ankles[ankles[:, 2] >= VIS]
    head = b[list(HEAD)]
    head = head[head[:, 2] >= VIS]
    core = b[list(BODY_CORE)]
    core = core[core[:, 2] >= VIS]
    if not len(ankles) or not len(head) or not len(core):
        return None
    ankle = float(ankles[:, 1].max())
    height = ankle - float(head[:, 1].min())
    if height <= 0:
        return None
    return ankle, height, float(np.median(core[:, 0]))


def clip_stats(keypoint_seq: Iterable[dict | None]) -> dict:
    """Ankle range, heights there and centre of one clip (see the module docstring)."""
    seq = list(keypoint_seq)
    rows = [m for m in (_frame_measures(kp) for kp in seq) if m is not None]
    if not rows:
        raise UserError("pose normalisation needs frames where the whole body (head to ankles) is visible; "
                        "none were found")
    frame_h = next(float(kp["height"]) for kp in seq if kp)
    frame_w = next(float(kp["width"]) for kp in seq if kp)
    m = np.array(rows)
    ankle, height, cx = m[:, 0], m[:, 1], m[:, 2]
    far, close = (float(v) for v in np.percentile(ankle, [5, 95]))
    band = max((close - far) * 0.15, 1e-6)
    h_far = float(np.median(height[ankle <= far + band]))
    h_close = float(np.median(height[ankle >= close - band]))
    return {"far": far, "close": close, "height_far": h_far, "height_close": h_close,
            "height_median": float(np.median(height)), "ankle_median": float(np.median(ankle)),
            "center_x": float(np.median(cx)), "frame": [frame_w, frame_h], "frames_used": len(rows)}


def fit_normalization(source_keypoint_seq: Iterable[dict | None],
                      target_keypoint_seq: Iterable[dict | None] | dict) -> dict:
    """Parameters that map source poses into the target clip's placement and scale.

    ``target_keypoint_seq`` may also be a stats dict from :func:`clip_stats` (or a parameters dict from an earlier
    fit, whose "target" is reused). Returns a JSON-serialisable dict for :func:`apply_normalization`.
    """
    src = clip_stats(source_keypoint_seq)
    if isinstance(target_keypoint_seq, dict):
        tgt = target_keypoint_seq.get("target", target_keypoint_seq)
        missing = {"far", "close", "height_far", "height_close", "center_x"} - set(tgt)
        if missing:
            raise UserError(f"pose normalisation target stats lack {sorted(missing)}; give a dataset with keypoints")
    else:
        tgt = clip_stats(target_keypoint_seq)
    src_depth = src["close"] - src["far"] >= MIN_RANGE * src["frame"][1]
    tgt_depth = tgt["close"] - tgt["far"] >= MIN_RANGE * tgt["frame"][1]
    mode = "linear" if (src_depth and tgt_depth) else "constant"
    return {"mode": mode, "source": src, "target": tgt}


def _transform(params: dict, ankle: float) -> tuple[float, float]:
    """(scale, ankle target) for a source ankle y."""
    s, t = params["source"], params["target"]
    if params["mode"] == "constant":
        scale = t.get("height_median", t["height_close"]) / s.get("height_median", s["height_close"])
        return scale, t.get("ankle_median", t["close"]) + scale * (ankle - s.get("ankle_median", s["close"]))
    p = (ankle - s["far"]) / (s["close"] - s["far"])
    r_far, r_close = t["height_far"] / s["height_far"], t["height_close"] / s["height_close"]
    return r_far + p * (r_close - r_far), t["far"] + p * (t["close"] - t["far"])


def apply_normalization(keypoints: dict, params: dict) -> dict:
    """A new keypoint dict in the target's frame (its "width"/"height"), every part moved and scaled.

    The frame's own ankle decides the scale; frames without visible ankles use the source's median ankle."""
    m = _frame_measures(keypoints)
    ankle = m[0] if m is not None else params["source"].get("ankle_median", params["source"]["close"])
    scale, target_ankle = _transform(params, ankle)
    cx_s, cx_t = params["source"]["center_x"], params["target"]["center_x"]

    def move(pts: np.ndarray) -> np.ndarray:
        pts = pts.copy()
        pts[:, 0] = cx_t + scale * (pts[:, 0] - cx_s)
        pts[:, 1] = target_ankle + scale * (pts[:, 1] - ankle)
        return pts

    frame = params["target"]["frame"]
    return _map_points(keypoints, (int(round(frame[0])), int(round(frame[1]))), move)


def scale_keypoints(keypoints: dict, size: tuple[int, int]) -> dict:
    """The same keypoints expressed for a frame of ``size`` (W, H) (x and y scaled independently)."""
    factor = np.array([size[0] / float(keypoints["width"]), size[1] / float(keypoints["height"]), 1.0])
    return _map_points(keypoints, size, lambda pts: pts * factor)


def _map_points(keypoints: dict, size: tuple[int, int], fn) -> dict:
    """A keypoint dict for a frame of ``size`` (W, H) with ``fn`` applied to every part's (N, 3) points (x, y,
    visibility); other keys are kept, absent parts stay None."""
    out = {"width": int(size[0]), "height": int(size[1])}
    for key, value in keypoints.items():
        if key in ("width", "height"):
            continue
        if value is None or key not in ("body", "left_hand", "right_hand", "face"):
            out[key] = value
            continue
        out[key] = np.round(fn(np.asarray(value, dtype=np.float64).reshape(-1, 3)), 3).tolist()
    return out

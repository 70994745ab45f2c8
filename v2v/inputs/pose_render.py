"""Render keypoints into the RGB pose map a pose model is conditioned on.

One renderer serves training data (``prepare pose``) and inference (a driving video), so both see identical maps.

Keypoints come as the dict written to ``keypoints/*.json``::

    {"width": W, "height": H,
     "body": [[x, y, visibility] * 33] | None,        # MediaPipe Pose landmark order
     "left_hand": [[x, y, v] * 21] | None, "right_hand": ..., # MediaPipe hand landmark order
     "face": [[x, y, v] * 468] | None}                 # MediaPipe FaceMesh order

Coordinates are continuous pixels: (0, 0) is the top-left corner of the top-left pixel, pixel ``i`` spans
``[i, i + 1)``. "left"/"right" are the person's own sides, as MediaPipe names them.

Drawing: each body limb has its own fixed colour (the person's right side in warm colours, the left side in cool
ones, the head in magenta), line width about H/85; hands (each finger its own colour) and face contours (oval,
brows, eyes, nose, lips) are thinner; without a face mesh the body's eye and ear points are joined instead.
Body points with visibility below ``threshold`` are skipped with every limb that touches them. Lines are
anti-aliased and placed with sub-pixel precision, so slow motion renders smoothly.
"""
from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np

# MediaPipe Pose indices
NOSE, L_EYE, R_EYE, L_EAR, R_EAR = 0, 2, 5, 7, 8
L_SHOULDER, R_SHOULDER, L_ELBOW, R_ELBOW, L_WRIST, R_WRIST = 11, 12, 13, 14, 15, 16
L_PINKY, R_PINKY, L_INDEX, R_INDEX, L_THUMB, R_THUMB = 17, 18, 19, 20, 21, 22
L_HIP, R_HIP, L_KNEE, R_KNEE, L_ANKLE, R_ANKLE = 23, 24, 25, 26, 27, 28
L_HEEL, R_HEEL, L_FOOT, R_FOOT = 29, 30, 31, 32
NECK = 33  # virtual point: middle of the shoulders (appended by the renderer)

# (a, b, RGB colour). Person's right: reds/oranges/yellows; left: greens/cyans/blues; centre: magentas.
BODY_LIMBS: tuple[tuple[int, int, tuple[int, int, int]], ...] = (
    (NOSE, NECK, (255, 0, 170)),
    (NECK, R_SHOULDER, (255, 0, 0)), (R_SHOULDER, R_ELBOW, (255, 85, 0)), (R_ELBOW, R_WRIST, (255, 170, 0)),
    (NECK, L_SHOULDER, (0, 255, 0)), (L_SHOULDER, L_ELBOW, (0, 255, 128)), (L_ELBOW, L_WRIST, (0, 255, 255)),
    (R_SHOULDER, R_HIP, (255, 60, 90)), (L_SHOULDER, L_HIP, (60, 170, 255)), (R_HIP, L_HIP, (170, 0, 255)),
    (R_HIP, R_KNEE, (255, 255, 0)), (R_KNEE, R_ANKLE, (200, 255, 0)),
    (L_HIP, L_KNEE, (0, 128, 255)), (L_KNEE, L_ANKLE, (0, 0, 255)),
    (R_ANKLE, R_HEEL, (255, 200, 120)), (R_HEEL, R_FOOT, (255, 220, 160)), (R_ANKLE, R_FOOT, (230, 180, 100)),
    (L_ANKLE, L_HEEL, (120, 120, 255)), (L_HEEL, L_FOOT, (160, 160, 255)), (L_ANKLE, L_FOOT, (100, 100, 230)),
)
# Eyes and ears from the body landmarks, drawn only when the detailed face is missing.
BODY_HEAD = ((NOSE, R_EYE, (255, 0, 255)), (R_EYE, R_EAR, (255, 100, 255)),
             (NOSE, L_EYE, (170, 0, 255)), (L_EYE, L_EAR, (200, 100, 255)))
# Coarse hands from the body landmarks, drawn only when the detailed hand is missing.
BODY_HANDS = {
    "right_hand": ((R_WRIST, R_INDEX, (255, 140, 140)), (R_WRIST, R_PINKY, (255, 140, 140)),
                   (R_WRIST, R_THUMB, (255, 140, 140))),
    "left_hand": ((L_WRIST, L_INDEX, (140, 255, 200)), (L_WRIST, L_PINKY, (140, 255, 200)),
                  (L_WRIST, L_THUMB, (140, 255, 200))),
}
# Hand landmarks: 0 wrist, then 4 points per finger (thumb, index, middle, ring, pinky).
_FINGER_COLORS = ((255, 80, 80), (255, 220, 60), (80, 255, 80), (60, 200, 255), (200, 80, 255))
HAND_LIMBS = tuple(
    (0 if j == 0 else 1 + 4 * f + j - 1, 1 + 4 * f + j, _FINGER_COLORS[f]) for f in range(5) for j in range(4)
) + ((5, 9, (230, 230, 230)), (9, 13, (230, 230, 230)), (13, 17, (230, 230, 230)))
FACE_COLORS = {"oval": (255, 255, 255), "left_eyebrow": (120, 255, 120), "right_eyebrow": (255, 180, 120),
               "left_eye": (60, 255, 60), "right_eye": (255, 120, 60), "nose": (255, 255, 120),
               "lips": (255, 80, 200)}
SHIFT = 4  # sub-pixel bits for OpenCV drawing


@lru_cache(maxsize=1)
def face_contours() -> dict[str, np.ndarray]:
    """FaceMesh contour edges per part as (E, 2) index arrays (from MediaPipe's connection sets)."""
    from mediapipe.python.solutions import face_mesh_connections as fmc

    sets = {"oval": fmc.FACEMESH_FACE_OVAL, "left_eyebrow": fmc.FACEMESH_LEFT_EYEBROW,
            "right_eyebrow": fmc.FACEMESH_RIGHT_EYEBROW, "left_eye": fmc.FACEMESH_LEFT_EYE,
            "right_eye": fmc.FACEMESH_RIGHT_EYE, "nose": fmc.FACEMESH_NOSE, "lips": fmc.FACEMESH_LIPS}
    return {k: np.array(sorted(v), dtype=np.int64) for k, v in sets.items()}


def line_widths(height: int) -> dict[str, int]:
    """Line widths in pixels for a map ``height`` pixels high."""
    return {"body": max(1, round(height / 85)), "hand": max(1, round(height / 256)),
            "face": max(1, round(height / 384))}


def _points(part) -> np.ndarray | None:
    if part is None:
        return None
    arr = np.asarray(part, dtype=np.float64).reshape(-1, 3)
    return arr if len(arr) else None


def _with_neck(body: np.ndarray) -> np.ndarray:
    neck = (body[L_SHOULDER] + body[R_SHOULDER]) / 2
    neck[2] = min(body[L_SHOULDER, 2], body[R_SHOULDER, 2])
    return np.vstack([body, neck])


def _segments(canvas: np.ndarray, pts: np.ndarray, edges: np.ndarray, color, width: int) -> None:
    """Draw edges (E, 2) between points (N, 2) in continuous pixel coordinates."""
    if len(edges) == 0:
        return
    fixed = np.round((pts - 0.5) * (1 << SHIFT)).astype(np.int64)
    fixed = np.clip(fixed, -(1 << 26), 1 << 26).astype(np.int32)
    lines = [fixed[e].reshape(2, 1, 2) for e in edges]
    cv2.polylines(canvas, lines, False, color, width, cv2.LINE_AA, SHIFT)


def _draw_limbs(canvas, pts, limbs, width, ok) -> None:
    for a, b, color in limbs:
        if ok[a] and ok[b]:
            _segments(canvas, pts[:, :2], np.array([[a, b]]), color, width)


def render_pose(keypoints: dict, size: tuple[int, int] | None = None, threshold: float = 0.5) -> np.ndarray:
    """(H, W, 3) uint8 RGB pose map. ``size`` (W, H) defaults to the keypoints' own width/height; keypoints are
    scaled when the two differ."""
    kw, kh = int(keypoints["width"]), int(keypoints["height"])
    w, h = size if size is not None else (kw, kh)
    scale = np.array([w / kw, h / kh, 1.0])
    canvas = np.zeros((h, w, 3), np.uint8)
    widths = line_widths(h)
    body = _points(keypoints.get("body"))
    face = _points(keypoints.get("face"))
    if face is not None and len(face) < 468:
        face = None
    if body is not None:
        body = _with_neck(body * scale)
        ok = body[:, 2] >= threshold
        _draw_limbs(canvas, body, BODY_LIMBS, widths["body"], ok)
        if face is None:
            _draw_limbs(canvas, body, BODY_HEAD, max(1, widths["body"] * 2 // 3), ok)
        for hand, limbs in BODY_HANDS.items():
            if _points(keypoints.get(hand)) is None:
                _draw_limbs(canvas, body, limbs, max(1, widths["body"] // 2), ok)
    for hand in ("left_hand", "right_hand"):
        pts = _points(keypoints.get(hand))
        if pts is not None and len(pts) == 21:
            pts = pts * scale
            _draw_limbs(canvas, pts, HAND_LIMBS, widths["hand"], pts[:, 2] >= threshold)
    if face is not None:
        face = face * scale
        for part, edges in face_contours().items():
            keep = (face[edges[:, 0], 2] >= threshold) & (face[edges[:, 1], 2] >= threshold)
            _segments(canvas, face[:, :2], edges[keep], FACE_COLORS[part], widths["face"])
    return canvas

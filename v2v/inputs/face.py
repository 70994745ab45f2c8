"""Prepare a face dataset (vid2vid's edge2face input) from a talking-head video, and sketch faces at inference.

Per frame, MediaPipe FaceMesh (legacy ``mp.solutions`` API, bundled model, ``static_image_mode=False`` so the mesh
is tracked, ``refine_landmarks=False``: 468 points) finds the face. The conditioning map is a one-channel sketch,
white on black:

* the face contours — oval, eyebrows, eyes, nose and lips from MediaPipe's FaceMesh connection sets — drawn with a
  line width of about H/256 pixels;
* Canny edges of the real frame OUTSIDE the face (the convex hull of the landmarks, dilated by about H/40 pixels):
  hair, ears, neck, clothes and background, as in vid2vid's edge2face.

``prepare_face`` chooses ONE crop for the clip: square-ish (the dataset's aspect ratio), about 2.5 times the median
face width, centred on the union of the face boxes and shifted into the frame (padded with black where it is
bigger than the frame). It writes labels/ (gray sketch PNG), images/, keypoints/ (``{"width", "height",
"face": [[x, y, 1] * 468] | None}`` in dataset pixels) and the backward DIS flow (flow/).
Sketches are drawn at the dataset size from the cropped frame, so the same code gives the same maps at inference
when :func:`face_sketch_stream` gets frames already cropped and resized to the model's size.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Iterable, Iterator

import cv2
import numpy as np

from ..config import check_size
from ..errors import UserError
from .pose import (SIZE_MULTIPLE, MediaPipeSession, Progress, crop_points, fit_crop, open_clip, quiet_native_stderr,
                   sequence_name, two_pass_report, union_box, write_cropped_frames)
from .pose_render import SHIFT, face_contours

FACE_CROP_SCALE = 2.5  # crop side / face width (vid2vid's face crop)
CANNY_LOW, CANNY_HIGH = 60, 140


class FaceTracker(MediaPipeSession):
    """MediaPipe FaceMesh in video mode (one face). Call it on consecutive RGB frames; use as a context manager."""

    def __init__(self):
        import mediapipe as mp

        super().__init__(lambda: mp.solutions.face_mesh.FaceMesh(
            static_image_mode=False, max_num_faces=1, refine_landmarks=False, min_detection_confidence=0.5,
            min_tracking_confidence=0.5))

    def __call__(self, rgb: np.ndarray) -> np.ndarray | None:
        """(468, 3) landmarks: x, y in pixels of ``rgb`` and visibility 1; None when no face is found."""
        h, w = rgb.shape[:2]
        res = self.process(rgb)
        if not res.multi_face_landmarks:
            return None
        return np.array([(p.x * w, p.y * h, 1.0) for p in res.multi_face_landmarks[0].landmark], dtype=np.float64)


def face_region(landmarks: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """(H, W) bool mask: the convex hull of the landmarks, dilated by about H/40 pixels."""
    h, w = shape
    region = np.zeros((h, w), np.uint8)
    pts = np.round((landmarks[:, :2] - 0.5) * (1 << SHIFT)).astype(np.int32)
    cv2.fillConvexPoly(region, cv2.convexHull(pts), 255, cv2.LINE_8, SHIFT)
    r = max(1, round(h / 40))
    region = cv2.dilate(region, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1)))
    return region > 0


def draw_face_sketch(image: np.ndarray, landmarks: np.ndarray | None, region_landmarks: np.ndarray | None = None
                     ) -> np.ndarray:
    """(H, W) uint8 sketch of one frame: face contours from ``landmarks`` (pixels of ``image``; None: no face) plus
    Canny edges of ``image`` outside the face region. ``region_landmarks`` (default: ``landmarks``) decides the
    region, so a frame where the face was lost can still leave out the face's edges."""
    h, w = image.shape[:2]
    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) if image.ndim == 3 else image
    gray = cv2.GaussianBlur(gray, (0, 0), max(0.8, h / 320))
    edges = cv2.Canny(gray, CANNY_LOW, CANNY_HIGH)
    region_pts = landmarks if region_landmarks is None else region_landmarks
    if region_pts is not None:
        edges[face_region(region_pts, (h, w))] = 0
    if landmarks is not None:
        width = max(1, round(h / 256))
        fixed = np.clip(np.round((landmarks[:, :2] - 0.5) * (1 << SHIFT)), -(1 << 26), 1 << 26).astype(np.int32)
        for edges_idx in face_contours().values():
            lines = [fixed[e].reshape(2, 1, 2) for e in edges_idx]
            cv2.polylines(edges, lines, False, 255, width, cv2.LINE_AA, SHIFT)
    return edges


def face_sketch_stream(frames: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
    """Sketches (H, W) uint8 for a stream of RGB frames of one clip (inference). Give frames already cropped and
    resized to the model's size, as the training frames were, so line widths and edges match. Where the face is
    lost the last face region is still left out of the edges."""
    last = None
    with FaceTracker() as tracker:
        for rgb in frames:
            lms = tracker(rgb)
            if lms is not None:
                last = lms
            yield draw_face_sketch(rgb, lms, lms if lms is not None else last)


def face_keypoints(landmarks: np.ndarray | None, size: tuple[int, int]) -> dict:
    return {"width": int(size[0]), "height": int(size[1]),
            "face": None if landmarks is None else np.round(landmarks, 2).tolist()}


def _nearest_detected(found: list[np.ndarray | None]) -> list[np.ndarray | None]:
    """For every frame, the landmarks of the nearest frame with a face (for the edge mask of missing frames)."""
    idx = np.array([i for i, f in enumerate(found) if f is not None])
    return [found[int(idx[np.abs(idx - k).argmin()])] for k in range(len(found))]


def prepare_face(video: str | Path, out: str | Path, size: tuple[int, int], frames=None,
                 progress: Progress | None = None, overwrite: bool = False) -> dict:
    """Write a face dataset (kind "face", label set "face", one sequence named after the clip) to ``out``.

    ``size`` (W, H) must be multiples of 32; ``frames`` a frame range (see :func:`v2v.inputs.pose.resolve_range`).
    ``progress(done, total)`` counts both passes (2 x frames). Returns a report: ``frames``, ``missing_frames``
    (output indices without a face), ``crop`` [x0, y0, w, h] in source pixels, ``face_width`` (median, source
    pixels), ``source_size``, ``size``, ``frame_range``, ``seconds``, ``frames_per_second``, per-pass timings and
    ``warnings``.
    """
    from ..dataset_format import DatasetWriter

    w, h = (int(v) for v in size)
    check_size(w, h, SIZE_MULTIPLE)
    stream, start, stop = open_clip(video, frames)
    n = stop - start
    t0 = time.perf_counter()
    with DatasetWriter(out, "face", "face", (w, h), stream.fps,
                       f"face from {Path(video).name} frames {start}:{stop}", overwrite=overwrite) as writer:
        found: list[np.ndarray | None] = []
        with quiet_native_stderr(), FaceTracker() as tracker:
            for k, rgb in enumerate(stream.frames(start, stop)):
                found.append(tracker(rgb))
                if progress is not None:
                    progress(k + 1, 2 * n)
        t1 = time.perf_counter()
        n, stop = len(found), start + len(found)
        fw, fh = stream.size
        boxes = [None if f is None else (f[:, 0].min(), f[:, 1].min(), f[:, 0].max(), f[:, 1].max()) for f in found]
        box = union_box(boxes)
        if box is None:
            raise UserError(f"no face found in clip {video} (frames {start}:{stop}); use a clip with one face seen "
                            "from the front")
        face_width = float(np.median([b[2] - b[0] for b in boxes if b is not None]))
        box = (max(box[0], 0.0), max(box[1], 0.0), min(box[2], fw), min(box[3], fh))
        crop = fit_crop(box, stream.size, (w, h), margin=0.1, min_side=FACE_CROP_SCALE * face_width)
        local = [None if f is None else crop_points(f, crop, (w, h)) for f in found]
        region = _nearest_detected(local)

        def fields(k: int, image: np.ndarray) -> dict:
            return {"labels": draw_face_sketch(image, local[k], region[k]),
                    "keypoints": face_keypoints(local[k], (w, h))}

        write_cropped_frames(writer.sequence(sequence_name(video)), stream, (start, stop), n, crop, (w, h), fields,
                             progress)
    missing = [k for k, f in enumerate(found) if f is None]
    return two_pass_report(out, stream, crop, (w, h), (start, stop), missing, "face", "their sketches hold only edges",
                           (t0, t1, time.perf_counter()), face_width=face_width)

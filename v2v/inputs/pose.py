"""Prepare a pose dataset from a video of one person, and extract poses from a driving video at inference time.

Extraction uses MediaPipe Holistic (legacy ``mp.solutions`` API, models bundled with the wheel) in video mode
(``static_image_mode=False``: landmarks are tracked from frame to frame): 33 body landmarks with a visibility each,
21 landmarks per hand and 468 face landmarks when they are visible, and a person segmentation mask.

``prepare_pose`` works in two passes over the clip:

1. decode and extract every frame (keypoints in source pixels, masks kept PNG-compressed in memory);
2. choose ONE crop for the whole clip — the union of the per-frame person boxes, expanded, with the aspect ratio of
   the dataset size, shifted into the frame (giving up margin before it reaches outside the frame, and padded by
   repeating the frame's edge where even the bare box does not fit) —
   then decode again, crop and resize every frame, render the pose map (:mod:`.pose_render`), and write labels/,
   images/, masks/, keypoints/ and the backward DIS flow between consecutive real frames (flow/).

A fixed crop keeps the camera still for the model: a per-frame crop would turn the dancer's motion into camera
motion. Keypoints are stored in the dataset's pixel coordinates (see :mod:`.pose_render` for the format).

The crop helpers here (:func:`resolve_range`, :func:`fit_crop`, :func:`crop_frame`, :func:`crop_points`) are shared
with :mod:`.face`.
"""
from __future__ import annotations

import io
import json
import os
import re
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator

import cv2
import numpy as np

from ..config import check_size
from ..errors import UserError
from ..flow import ground_truth_flow
from .pose_normalize import apply_normalization, fit_normalization, scale_keypoints
from .pose_render import render_pose

SIZE_MULTIPLE = 32
PARTS = ("body", "left_hand", "right_hand", "face")
PART_POINTS = {"body": 33, "left_hand": 21, "right_hand": 21, "face": 468}
VISIBLE = 0.5
CROP_MARGIN = 0.08  # fraction of the person box's larger side added on every side
Progress = Callable[[int, int], None]  # progress(frames_done, frames_total)


# ------------------------------------------------------------------------------------------------ clip and crop helpers
def resolve_range(frames, num_frames: int) -> tuple[int, int]:
    """Frame range (start, stop) with Python slice semantics (stop excluded, negatives count from the end).
    ``frames`` is None (whole clip), a ``slice``, a (start, stop) pair (either may be None) or an "A:B" string."""
    if frames is None:
        sl = slice(None)
    elif isinstance(frames, slice):
        sl = frames
    elif isinstance(frames, str):
        parts = frames.split(":")
        try:
            if len(parts) != 2:
                raise ValueError
            sl = slice(*(int(p) if p.strip() else None for p in parts))
        except ValueError:
            raise UserError(f"frame range {frames!r} must be START:STOP, e.g. 0:1257") from None
    else:
        start, stop = frames
        sl = slice(start, stop)
    if sl.step not in (None, 1):
        raise UserError("frame ranges cannot skip frames (no step)")
    start, stop, _ = sl.indices(num_frames)
    if stop <= start:
        raise UserError(f"frame range {sl.start}:{sl.stop} selects no frames of a {num_frames}-frame clip")
    return start, stop


@dataclass(frozen=True)
class Crop:
    """A crop of the source frame in whole pixels; it may reach outside the frame (that part is padded)."""
    x0: int
    y0: int
    w: int
    h: int

    def as_list(self) -> list[int]:
        return [self.x0, self.y0, self.w, self.h]

    def padded(self, frame_size: tuple[int, int]) -> bool:
        return self.x0 < 0 or self.y0 < 0 or self.x0 + self.w > frame_size[0] or self.y0 + self.h > frame_size[1]


def union_box(boxes: Iterable[tuple[float, float, float, float] | None]) -> tuple[float, float, float, float] | None:
    arr = np.array([b for b in boxes if b is not None], dtype=np.float64)
    if not len(arr):
        return None
    return float(arr[:, 0].min()), float(arr[:, 1].min()), float(arr[:, 2].max()), float(arr[:, 3].max())


def fit_crop(box: tuple[float, float, float, float], frame_size: tuple[int, int], out_size: tuple[int, int],
             margin: float = CROP_MARGIN, min_side: float = 0.0) -> Crop:
    """The crop around ``box`` (x0, y0, x1, y1) expanded by ``margin`` x its larger side on each side, grown to the
    aspect ratio of ``out_size`` (and to at least ``min_side`` pixels high/wide), then shifted to lie inside the
    frame.

    Where that crop is bigger than the frame it first gives up margin, down to the bare box (still at least
    ``min_side``), so that it fits: a padded band is a region the model must draw without any input telling it
    where the band is. Only a box that does not fit even without margin gets a crop bigger than the frame, centred
    on the box along that axis (and padded by :func:`crop_frame`)."""
    fw, fh = frame_size
    x0, y0, x1, y1 = box
    aspect = out_size[0] / out_size[1]

    def with_aspect(cw: float, ch: float) -> tuple[float, float]:
        cw, ch = max(cw, min_side, 1.0), max(ch, min_side, 1.0)
        return (ch * aspect, ch) if cw / ch < aspect else (cw, cw / aspect)

    pad = margin * max(x1 - x0, y1 - y0)
    cw, ch = with_aspect(x1 - x0 + 2 * pad, y1 - y0 + 2 * pad)
    bare_w, _ = with_aspect(x1 - x0, y1 - y0)
    fits = min(1.0, fw / cw, fh / ch)  # the scale at which the expanded crop fits the frame
    scale = max(fits, bare_w / cw)  # ... but never smaller than the bare box
    w, h = max(1, int(round(cw * scale))), max(1, int(round(ch * scale)))
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2

    def place(center: float, length: int, limit: int) -> int:
        start = int(round(center - length / 2))
        return int(np.clip(start, 0, limit - length)) if length <= limit else start

    return Crop(place(cx, w, fw), place(cy, h, fh), w, h)


def crop_frame(image: np.ndarray, crop: Crop, out_size: tuple[int, int], border: str = "zero",
               interpolation: int | None = None) -> np.ndarray:
    """Cut ``crop`` out of ``image`` (padding outside the frame with black, or by repeating the edge for
    ``border="replicate"``) and resize it to ``out_size`` (W, H): area averaging when shrinking, bilinear otherwise."""
    fh, fw = image.shape[:2]
    ix0, iy0 = max(crop.x0, 0), max(crop.y0, 0)
    ix1, iy1 = min(crop.x0 + crop.w, fw), min(crop.y0 + crop.h, fh)
    if ix1 <= ix0 or iy1 <= iy0:
        raise ValueError(f"crop {crop} does not overlap the {fw}x{fh} frame")
    part = image[iy0:iy1, ix0:ix1]
    pads = (iy0 - crop.y0, crop.y0 + crop.h - iy1, ix0 - crop.x0, crop.x0 + crop.w - ix1)
    if any(pads):
        mode = cv2.BORDER_REPLICATE if border == "replicate" else cv2.BORDER_CONSTANT
        part = cv2.copyMakeBorder(part, *pads, mode, value=0)
    if interpolation is None:
        interpolation = cv2.INTER_AREA if crop.w > out_size[0] else cv2.INTER_LINEAR
    if (part.shape[1], part.shape[0]) == tuple(out_size):
        return np.ascontiguousarray(part)
    return cv2.resize(part, tuple(out_size), interpolation=interpolation)


def crop_points(points: np.ndarray, crop: Crop, out_size: tuple[int, int]) -> np.ndarray:
    """(N, 2+) continuous pixel coordinates in the source frame -> in the cropped and resized frame."""
    out = np.array(points, dtype=np.float64, copy=True)
    out[:, 0] = (out[:, 0] - crop.x0) * (out_size[0] / crop.w)
    out[:, 1] = (out[:, 1] - crop.y0) * (out_size[1] / crop.h)
    return out


def sequence_name(path: str | Path) -> str:
    """A dataset sequence name from a clip's file name."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(path).stem).lstrip("._-")
    return name or "clip"


def open_clip(video: str | Path, frames) -> tuple[object, int, int]:
    """(stream, start, stop) for a video file or frame folder and a frame range."""
    from ..video import open_video

    stream = open_video(video)
    start, stop = resolve_range(frames, stream.num_frames)
    return stream, start, stop


# ------------------------------------------------------------------------------------------------------- extraction
def _flush_c_stdio() -> None:
    try:
        import ctypes

        ctypes.CDLL(None).fflush(None)
    except (OSError, AttributeError):
        pass


@contextmanager
def quiet_native_stderr():
    """Silence MediaPipe's native chatter (TFLite/absl lines written straight to file descriptor 2, also later on
    its graph threads when a sub-model first runs). Python's own ``sys.stderr`` (progress, warnings) keeps going to
    the real stderr meanwhile, and Python exceptions are unaffected."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):  # no real stderr (e.g. an embedded runner): nothing to silence
        yield
        return
    python_stderr = sys.stderr
    try:
        swap = python_stderr.fileno() == 2
    except (OSError, ValueError, AttributeError):
        swap = False
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            if swap:
                sys.stderr = io.TextIOWrapper(io.FileIO(saved, "w", closefd=False), line_buffering=True,
                                              write_through=True)
            try:
                yield
            finally:
                _flush_c_stdio()  # native code may hold buffered text that would otherwise surface later
                if swap:
                    sys.stderr.flush()
                    sys.stderr = python_stderr
                os.dup2(saved, 2)
    finally:
        os.close(saved)


class MediaPipeSession:
    """One MediaPipe legacy solution in video mode: its native start-up logging silenced (construction and first
    frame), ``process`` per frame, ``close``, and use as a context manager."""

    def __init__(self, make_model: Callable[[], object]):
        self._started = False
        with quiet_native_stderr():
            self._model = make_model()

    def process(self, rgb: np.ndarray):
        if self._started:
            return self._model.process(np.ascontiguousarray(rgb))
        with quiet_native_stderr():
            res = self._model.process(np.ascontiguousarray(rgb))
        self._started = True
        return res

    def close(self) -> None:
        self._model.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class PoseTracker(MediaPipeSession):
    """MediaPipe Holistic in video mode; call it on consecutive RGB frames of one clip. Use as a context manager
    (or call :meth:`close`). ``segmentation`` adds the person mask."""

    def __init__(self, segmentation: bool = True, model_complexity: int = 1):
        import mediapipe as mp

        self.segmentation = segmentation
        super().__init__(lambda: mp.solutions.holistic.Holistic(
            static_image_mode=False, model_complexity=model_complexity, smooth_landmarks=True,
            enable_segmentation=segmentation, smooth_segmentation=True, refine_face_landmarks=False,
            min_detection_confidence=0.5, min_tracking_confidence=0.5))

    def __call__(self, rgb: np.ndarray) -> dict:
        """{"parts": {part: (N, 3) array of x, y (source pixels) and visibility, or None}, "mask": (H, W) uint8
        0/255 or None}."""
        h, w = rgb.shape[:2]
        res = self.process(rgb)
        parts = {}
        for part, field in (("body", "pose_landmarks"), ("left_hand", "left_hand_landmarks"),
                            ("right_hand", "right_hand_landmarks"), ("face", "face_landmarks")):
            lms = getattr(res, field)
            if lms is None:
                parts[part] = None
                continue
            arr = np.array([(p.x, p.y, p.visibility) for p in lms.landmark], dtype=np.float64)
            arr[:, 0] *= w
            arr[:, 1] *= h
            if part != "body":  # MediaPipe gives no visibility for hands and face: present means visible
                arr[:, 2] = 1.0
            parts[part] = arr
        mask = None
        if self.segmentation and res.segmentation_mask is not None and parts["body"] is not None:
            mask = np.where(res.segmentation_mask > 0.5, 255, 0).astype(np.uint8)
        return {"parts": parts, "mask": mask}


def keypoints_dict(parts: dict, size: tuple[int, int]) -> dict:
    """The JSON keypoint format (see :mod:`.pose_render`) from per-part arrays."""
    out: dict = {"width": int(size[0]), "height": int(size[1])}
    for part in PARTS:
        arr = parts.get(part)
        out[part] = None if arr is None else np.round(np.asarray(arr, dtype=np.float64), 2).tolist()
    return out


def extract_pose_stream(frames: Iterable[np.ndarray]) -> Iterator[dict]:
    """Keypoint dicts (pixel coordinates of each frame, ``body`` None where nobody is found) for a stream of RGB
    frames of one clip, e.g. a driving video at inference time. Render them with
    :func:`v2v.inputs.pose_render.render_pose`, after the same crop (:func:`crop_keypoints`) and normalisation
    (:func:`v2v.inputs.pose_normalize.apply_normalization`) as the model's training data."""
    with PoseTracker(segmentation=False) as tracker:
        for rgb in frames:
            yield keypoints_dict(tracker(rgb)["parts"], (rgb.shape[1], rgb.shape[0]))


def crop_keypoints(keypoints: dict, crop: Crop, out_size: tuple[int, int]) -> dict:
    """A keypoint dict moved into a cropped and resized frame."""
    parts = {p: None if keypoints.get(p) is None else crop_points(np.asarray(keypoints[p], dtype=np.float64)
                                                                  .reshape(-1, 3), crop, out_size) for p in PARTS}
    return keypoints_dict(parts, out_size)


def person_box(parts: dict, mask: np.ndarray | None, frame_size: tuple[int, int]):
    """(x0, y0, x1, y1) around the person's mask and visible landmarks, inside the frame; None without a body."""
    if parts.get("body") is None:
        return None
    pts = [parts["body"][parts["body"][:, 2] >= VISIBLE, :2]]
    pts += [parts[p][:, :2] for p in ("left_hand", "right_hand", "face") if parts.get(p) is not None]
    pts = np.concatenate(pts)
    boxes = []
    if len(pts):
        boxes.append((pts[:, 0].min(), pts[:, 1].min(), pts[:, 0].max(), pts[:, 1].max()))
    if mask is not None:
        ys, xs = np.nonzero(mask.any(1))[0], np.nonzero(mask.any(0))[0]
        if len(xs):
            boxes.append((xs[0], ys[0], xs[-1] + 1, ys[-1] + 1))
    box = union_box(boxes)
    if box is None:
        return None
    fw, fh = frame_size
    x0, y0, x1, y1 = np.clip(box[0], 0, fw), np.clip(box[1], 0, fh), np.clip(box[2], 0, fw), np.clip(box[3], 0, fh)
    return (float(x0), float(y0), float(x1), float(y1)) if x1 > x0 and y1 > y0 else None


# ----------------------------------------------------------------------------------------------------- normalisation
def load_normalization_target(spec: str | Path, size: tuple[int, int]) -> dict | list[dict]:
    """Target side of the pose normalisation, in a frame of ``size``: a prepared pose dataset folder (its
    keypoints/, all sequences, at most 2000 frames sampled evenly) or a JSON file with stats/parameters from
    :mod:`.pose_normalize` (its "target" is used)."""
    path = Path(spec)
    if path.is_file():
        try:
            data = json.loads(path.read_text())
        except json.JSONDecodeError as e:
            raise UserError(f"normalisation file {path} is not valid JSON ({e})") from None
        stats = data.get("target", data) if isinstance(data, dict) else None
        if not isinstance(stats, dict) or "frame" not in stats:
            raise UserError(f"normalisation file {path} holds no pose stats; give a prepared pose dataset folder")
        sx, sy = size[0] / stats["frame"][0], size[1] / stats["frame"][1]
        scaled = dict(stats)
        for k in ("far", "close", "height_far", "height_close", "height_median", "ankle_median"):
            if k in scaled:
                scaled[k] = stats[k] * sy
        scaled["center_x"] = stats["center_x"] * sx
        scaled["frame"] = [float(size[0]), float(size[1])]
        return scaled
    from ..dataset_format import open_dataset

    index = open_dataset(path)
    files = [f for s in index.sequences for f in (s.keypoints or [])]
    if not files:
        raise UserError(f"dataset {path} has no keypoints/; prepare it with `prepare pose` first")
    picks = np.unique(np.linspace(0, len(files) - 1, min(len(files), 2000)).round().astype(int))
    seq = []
    for k in picks:
        try:
            kp = json.loads(Path(files[k]).read_text())
        except (OSError, json.JSONDecodeError) as e:
            raise UserError(f"keypoints file {files[k]} is unreadable ({e})") from None
        seq.append(scale_keypoints(kp, size))
    return seq


# ----------------------------------------------------------------------------------------------------------- prepare
def _extract_clip(stream, start: int, stop: int, progress: Progress | None, total_steps: int) -> list[dict]:
    """Pass 1: keypoints (source pixels), PNG-encoded mask and person box per frame."""
    rows = []
    size = stream.size
    with quiet_native_stderr(), PoseTracker(segmentation=True) as tracker:
        for k, rgb in enumerate(stream.frames(start, stop)):
            res = tracker(rgb)
            mask = res["mask"]
            rows.append({"parts": res["parts"], "box": person_box(res["parts"], mask, size),
                         "mask": None if mask is None else cv2.imencode(".png", mask)[1]})
            if progress is not None:
                progress(k + 1, total_steps)
    return rows


def recorded_crop(dataset: str | Path, source_size: tuple[int, int]) -> Crop:
    """The crop that ``prepare pose`` recorded in ``dataset``'s dataset.json, checked against this source's size
    (held-out frames of a clip are prepared with the training frames' crop so the person sits where the model
    learned it)."""
    from ..dataset_format import open_dataset

    rec = open_dataset(dataset).crop
    if not isinstance(rec, dict) or "box" not in rec:
        raise UserError(f"--crop-like {dataset}: it records no crop (prepared before crops were recorded); "
                        "prepare it again with this version")
    if list(rec.get("source_size", [])) != list(source_size):
        raise UserError(f"--crop-like {dataset}: its crop was made on a {rec.get('source_size')} source, this clip "
                        f"is {list(source_size)}; use the same clip")
    x0, y0, w, h = (int(v) for v in rec["box"])
    return Crop(x0, y0, w, h)


def prepare_pose(video: str | Path, out: str | Path, size: tuple[int, int], frames=None,
                 normalize_to: str | Path | None = None, progress: Progress | None = None,
                 overwrite: bool = False, crop_like: str | Path | None = None) -> dict:
    """Write a pose dataset (kind "pose", label set "pose", one sequence named after the clip) to ``out``.

    ``size`` (W, H) must be multiples of 32. ``frames``: a frame range (see :func:`resolve_range`).
    ``normalize_to``: a prepared pose dataset (or stats JSON) whose placement and scale the poses are moved to
    (Everybody Dance Now's global normalisation); the pose maps and keypoints are then normalised while images/ and
    masks/ stay the source's own frames. ``crop_like``: a pose dataset prepared from the same clip whose recorded
    crop is reused (instead of fitting one to this frame range); the crop used is recorded in dataset.json.
    ``progress(done, total)`` counts both passes (2 x frames).

    Returns a report: ``frames``, ``missing_frames`` (output indices with no person), ``crop`` [x0, y0, w, h] in
    source pixels, ``source_size``, ``size``, ``frame_range``, ``seconds``, ``frames_per_second`` and per-pass
    timings, ``normalization`` (parameters or None), ``warnings``.
    """
    from ..dataset_format import DatasetWriter

    w, h = (int(v) for v in size)
    check_size(w, h, SIZE_MULTIPLE)
    stream, start, stop = open_clip(video, frames)
    fixed_crop = recorded_crop(crop_like, stream.size) if crop_like is not None else None
    n = stop - start
    t0 = time.perf_counter()
    target = load_normalization_target(normalize_to, (w, h)) if normalize_to is not None else None
    with DatasetWriter(out, "pose", "pose", (w, h), stream.fps,
                       f"pose from {Path(video).name} frames {start}:{stop}", overwrite=overwrite) as writer:
        rows = _extract_clip(stream, start, stop, progress, 2 * n)
        t1 = time.perf_counter()
        if len(rows) < n:  # the container announced more frames than it decodes
            n, stop = len(rows), start + len(rows)
        box = union_box(r["box"] for r in rows)
        if box is None:
            raise UserError(f"no person found in clip {video} (frames {start}:{stop}); use a clip where one person "
                            "is visible")
        crop = fixed_crop or fit_crop(box, stream.size, (w, h))
        writer.extra["crop"] = {"source_size": list(stream.size), "box": crop.as_list()}
        keypoints = [crop_keypoints(keypoints_dict(r["parts"], stream.size), crop, (w, h)) for r in rows]
        params = None
        if target is not None:
            params = fit_normalization(keypoints, target)
            keypoints = [apply_normalization(kp, params) if kp["body"] is not None else kp for kp in keypoints]

        def fields(k: int, image: np.ndarray) -> dict:
            row = rows[k]
            if row["mask"] is not None:
                mask = cv2.imdecode(row["mask"], cv2.IMREAD_GRAYSCALE)
                mask = crop_frame(mask, crop, (w, h), interpolation=cv2.INTER_LINEAR)
            else:
                mask = np.zeros((h, w), np.uint8)
            return {"labels": render_pose(keypoints[k]), "mask": mask, "keypoints": keypoints[k]}

        write_cropped_frames(writer.sequence(sequence_name(video)), stream, (start, stop), n, crop, (w, h), fields,
                             progress)
    missing = [k for k, r in enumerate(rows) if r["parts"]["body"] is None]
    return two_pass_report(out, stream, crop, (w, h), (start, stop), missing, "person", "their pose maps are empty",
                           (t0, t1, time.perf_counter()), normalization=params)


def write_cropped_frames(seq, stream, frame_range: tuple[int, int], n: int, crop: Crop, size: tuple[int, int],
                         fields: Callable[[int, np.ndarray], dict], progress: Progress | None) -> None:
    """The second pass of prepare pose/face: crop each of the ``n`` frames to ``size``, add it to ``seq`` with
    ``fields(k, image)`` (labels, mask, keypoints) and the DIS flow from the previous frame."""
    prev = None
    for k, rgb in enumerate(stream.frames(*frame_range)):
        if k >= n:
            break
        image = crop_frame(rgb, crop, size, border="replicate")  # a padded band continues the backdrop
        seq.add(k, image=image, **fields(k, image))
        if prev is not None:
            seq.add_flow(k, *ground_truth_flow(image, prev))
        prev = image
        if progress is not None:
            progress(n + k + 1, 2 * n)


def two_pass_report(out, stream, crop: Crop, size: tuple[int, int], frame_range: tuple[int, int],
                    missing: list[int], subject: str, without: str, times: tuple[float, float, float],
                    **extra) -> dict:
    """prepare pose/face's report: frames, the ``missing`` ones (no ``subject`` found: ``without`` says what their
    maps hold), the crop, sizes, timings (``times``: start, end of pass 1, end of pass 2), ``extra`` and warnings."""
    n = frame_range[1] - frame_range[0]
    t0, t1, t2 = times
    warnings = []
    if missing:
        warnings.append(f"{len(missing)} of {n} frames have no {subject} (first: {missing[:5]}); {without}")
    if crop.padded(stream.size):
        warnings.append(f"the crop {crop.as_list()} reaches outside the {stream.size[0]}x{stream.size[1]} frame; "
                        "the outside was padded with black")
    return {"out": str(Path(out)), "frames": n, "missing_frames": missing, "crop": crop.as_list(),
            "source_size": list(stream.size), "size": list(size), "frame_range": list(frame_range),
            "fps": stream.fps, "seconds": t2 - t0, "frames_per_second": n / max(t2 - t0, 1e-9),
            "extract_seconds": t1 - t0, "write_seconds": t2 - t1, **extra, "warnings": warnings}

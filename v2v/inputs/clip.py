"""Conditioning inputs for inference, streamed one frame at a time: :func:`open_input` -> :class:`InputClip`.

An InputClip yields, per frame, ``{"labels", "instances", "mask", "index"}``: ``labels`` is a (1, H, W) int64 id
map for one-hot label sets (street) or a (1, C, H, W) uint8 map for image label sets (pose: RGB skeleton, face:
gray sketch), ``instances`` (1, H, W) int64 or None, ``mask`` (1, 1, H, W) float in [0, 1] or None, ``index`` the
frame's position in the clip (0 = first frame of the selected range). Frames are read lazily, so memory does not
depend on the clip's length; iterating again starts from the beginning.

What :func:`open_input` accepts, per model kind:

* street: a folder of label PNGs (8-bit ids, or colour PNGs snapped to the palette) with an optional instance
  folder (``instances=``; a vid2vid ``*_A/<seq>`` folder finds its ``*_inst/<seq>`` sibling by itself); a vid2vid
  layout root (``train_A`` + ``train_inst`` or ``test_*``; ``sequence=`` picks one, default the first); a prepared
  dataset (``dataset.json``) + sequence; a ``v2v scene`` or ``v2v predict`` output or a prepared sequence folder
  (``labels/`` + ``instances/``); a single label PNG; or a colourised label video (each pixel snapped to the
  nearest palette colour).
* pose: a raw video of a person (poses extracted with MediaPipe in a first pass that also fixes ONE crop for the
  clip exactly as ``prepare pose`` does, rendered at the output size in a second pass, optionally normalised to the
  target person's keypoint statistics), or a prepared pose dataset / sequence folder.
* face: a raw talking-head video (fixed face crop as ``prepare face``, then ``face_sketch_stream``), or a prepared
  face dataset / sequence folder.

Sizes are (W, H). Label and instance maps are resized with nearest neighbour, pose/face maps bilinearly, when the
source size differs from the requested ``size``.
"""
from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import cv2
import numpy as np
import torch

from .. import kinds
from ..dataset_format import open_dataset
from ..frame_files import image_size, list_frames
from ..errors import UserError
from ..labels import CITYSCAPES, LabelSet, PaletteSnapper, check_label_ids, read_instance_png, read_label_png
from ..video import FRAME_EXTS, VIDEO_EXTS, open_video
from .pose import resolve_range

Progress = Callable[[int, int], None]
STREET_FPS = 17.0


@dataclass
class InputClip:
    """A conditioning clip ready for :class:`v2v.engine.Engine`. ``size`` (W, H) of the yielded frames, ``fps``,
    ``num_frames`` (None when unknown), ``kind`` ("street", "pose" or "face"), ``description`` of the source and
    ``warnings`` found while opening (e.g. a stretched aspect ratio)."""
    kind: str
    size: tuple[int, int]
    fps: float
    num_frames: int | None
    description: str
    reader: Callable[[], Iterator[dict]] = field(repr=False)
    warnings: list[str] = field(default_factory=list)

    def __iter__(self) -> Iterator[dict]:
        for i, item in enumerate(self.reader()):
            yield {"index": i, **item}


# ------------------------------------------------------------------------------------------------ numpy -> tensors
def _resize(arr: np.ndarray, size: tuple[int, int], nearest: bool) -> np.ndarray:
    if (arr.shape[1], arr.shape[0]) == tuple(size):
        return arr
    if nearest:
        return cv2.resize(arr, tuple(size), interpolation=cv2.INTER_NEAREST)
    shrink = arr.shape[1] > size[0]
    return cv2.resize(arr, tuple(size), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


def _to_item(labels: np.ndarray, instances: np.ndarray | None, mask: np.ndarray | None, kind: str,
             size: tuple[int, int]) -> dict:
    """numpy maps at any size -> tensors at ``size``."""
    if kinds.get(kind).label_ids:
        lab = torch.from_numpy(_resize(labels, size, True).astype(np.int64)).unsqueeze(0)
    else:
        arr = _resize(labels, size, False)
        arr = arr[:, :, None] if arr.ndim == 2 else arr
        lab = torch.from_numpy(np.ascontiguousarray(arr)).permute(2, 0, 1).unsqueeze(0)
    inst = None
    if instances is not None:
        inst = torch.from_numpy(_resize(instances.astype(np.int32), size, True).astype(np.int64)).unsqueeze(0)
    m = None
    if mask is not None:
        m = torch.from_numpy(_resize(mask, size, True).astype(np.float32) / 255.0).view(1, 1, size[1], size[0])
    return {"labels": lab, "instances": inst, "mask": m}


def _size_warning(source: tuple[int, int], size: tuple[int, int]) -> list[str]:
    if abs(source[0] / source[1] - size[0] / size[1]) > 0.01 * size[0] / size[1]:
        return [f"the input is {source[0]}x{source[1]}; frames are stretched to {size[0]}x{size[1]}"]
    return []


# ------------------------------------------------------------------------------------------------------- street
def _street_files(label_files: list[Path], inst_files: list[Path] | None, label_set: LabelSet,
                  size: tuple[int, int] | None, frames, fps: float, description: str) -> InputClip:
    if inst_files is not None and len(inst_files) != len(label_files):
        raise UserError(f"{description}: {len(inst_files)} instance maps for {len(label_files)} label maps; "
                        "give folders with the same frames")
    start, stop = resolve_range(frames, len(label_files))
    source = image_size(label_files[start])
    out = tuple(size) if size else source
    snapper = PaletteSnapper(label_set)

    def reader() -> Iterator[dict]:
        for i in range(start, stop):
            labels = read_label_png(label_files[i], label_set, snapper)
            if (labels.shape[1], labels.shape[0]) != source:
                raise UserError(f"{label_files[i]} is {labels.shape[1]}x{labels.shape[0]}, the first frame is "
                                f"{source[0]}x{source[1]}; all frames need one size")
            inst = read_instance_png(inst_files[i]) if inst_files is not None else None
            if inst is not None and inst.shape != labels.shape:
                raise UserError(f"instance map {inst_files[i]} is {inst.shape[1]}x{inst.shape[0]} but its label map "
                                f"is {labels.shape[1]}x{labels.shape[0]}")
            yield _to_item(labels, inst, None, "street", out)

    return InputClip("street", out, fps, stop - start, description, reader, _size_warning(source, out))


def street_clip(labels: np.ndarray, instances: np.ndarray | None = None, fps: float = 17.0,
                size: tuple[int, int] | None = None, label_set: LabelSet = CITYSCAPES,
                description: str = "label arrays") -> InputClip:
    """A street clip from label maps in memory: ``labels`` (N, H, W) class ids, ``instances`` (N, H, W) instance
    ids or None, at ``size`` (W, H; default the arrays'). The frames are the ones a folder of the same maps as PNGs
    would give (the app's edited label volume goes to the engine this way, without files)."""
    labels = np.asarray(labels)
    if labels.ndim != 3 or not labels.shape[0] or not np.issubdtype(labels.dtype, np.integer):
        raise UserError(f"{description}: label maps must be a non-empty (frames, height, width) integer array, "
                        f"got {labels.shape} {labels.dtype}")
    if instances is not None:
        instances = np.asarray(instances)
        if instances.shape != labels.shape or not np.issubdtype(instances.dtype, np.integer):
            raise UserError(f"{description}: instance maps must be an integer array shaped like the label maps "
                            f"{labels.shape}, got {instances.shape} {instances.dtype}")
    if int(labels.min()) < 0 or int(labels.max()) >= label_set.num_classes:
        try:
            check_label_ids(labels, label_set)
        except ValueError as e:
            raise UserError(f"{description}: {e}") from None
    if not (np.isfinite(fps) and fps > 0):
        raise UserError(f"{description}: the frame rate must be positive, got {fps}")
    source = (labels.shape[2], labels.shape[1])
    out = tuple(size) if size else source

    def reader() -> Iterator[dict]:
        for i in range(labels.shape[0]):
            yield _to_item(labels[i].astype(np.uint8), None if instances is None else instances[i], None, "street",
                           out)

    return InputClip("street", out, float(fps), labels.shape[0], description, reader, _size_warning(source, out))


def _label_video(path: Path, label_set: LabelSet, size, frames, fps) -> InputClip:
    stream = open_video(path, fps)
    start, stop = resolve_range(frames, stream.num_frames)
    out = tuple(size) if size else stream.size
    snapper = PaletteSnapper(label_set)

    def reader() -> Iterator[dict]:
        for k, rgb in enumerate(stream.frames(start, stop)):
            yield _to_item(snapper(rgb, f"video {path} frame {start + k}"), None, None, "street", out)

    return InputClip("street", out, stream.fps, stop - start, f"colourised label video {path}", reader,
                     _size_warning(stream.size, out))


def _vid2vid_sibling(folder: Path) -> Path | None:
    """``root/train_A/seq`` -> ``root/train_inst/seq`` when it exists."""
    parent = folder.parent
    if parent.name.endswith("_A"):
        sibling = parent.parent / (parent.name[:-2] + "_inst") / folder.name
        if sibling.is_dir():
            return sibling
    return None


def _folder_pngs(folder: Path, what: str) -> list[Path]:
    files = list_frames(folder, (".png",))
    if not files:
        raise UserError(f"{what} folder {folder} has no .png frames")
    return files


# ------------------------------------------------------------------------------------------------- datasets
def _dataset(path: Path, kind: str, size, frames, sequence, label_set: LabelSet) -> InputClip:
    index = open_dataset(path)
    if index.kind != kind:
        raise UserError(f"{path} is a {index.kind} dataset but the model is a {kind} model; give {kind} input")
    if sequence is None and len(index.sequences) > 1:
        sequence = index.sequences[0].name
    seq = index.sequence(sequence if sequence is not None else 0)
    start, stop = resolve_range(frames, seq.num_frames)
    out = tuple(size) if size else tuple(index.size)
    parts = {"labels", "instances", "mask"}
    label_ids = kinds.get(kind).label_ids
    snapper = PaletteSnapper(label_set) if label_ids else None

    def reader() -> Iterator[dict]:
        for i in range(start, stop):
            f = index.load_frame(seq, i, parts=parts)
            labels = f["labels"]
            if label_ids:  # ids, or colour label images snapped to the palette
                labels = read_label_png(seq.labels[i], label_set, snapper)
            yield _to_item(labels, f.get("instances"), f.get("mask"), kind, out)

    desc = f"{index.layout} dataset {path} sequence {seq.name!r}"
    return InputClip(kind, out, index.fps, stop - start, desc, reader, _size_warning(tuple(index.size), out))


def _looks_like_label_ids(png: Path) -> bool:
    """A single-channel image of small values: a street label map (class ids), not a pose/face map or a photo."""
    arr = cv2.imread(str(png), cv2.IMREAD_UNCHANGED)
    return arr is not None and arr.ndim == 2 and arr.size > 0 and int(arr.max()) < CITYSCAPES.num_classes


def _not_street(path: Path, first: Path | None, kind: str) -> None:
    """UserError when ``path`` holds street label maps but the model is a pose/face model."""
    street = (path / "scene.json").is_file() or (path / "instances").is_dir()
    if street or (first is not None and _looks_like_label_ids(first)):
        raise UserError(f"{path} holds street label maps (class ids) but the model is a {kind} model; give "
                        f"{kinds.get(kind).media}")


def _map_folder(folder: Path, kind: str, size, frames, fps: float | None, masks: Path | None) -> InputClip:
    """A prepared pose/face sequence folder (labels/ with RGB or gray maps, optional masks/)."""
    files = _folder_pngs(folder, "labels")
    _not_street(folder.parent, files[0], kind)
    mask_files = list_frames(masks, (".png",)) if masks is not None and masks.is_dir() else None
    start, stop = resolve_range(frames, len(files))
    source = image_size(files[start])
    out = tuple(size) if size else source
    channels = kinds.get(kind).image_channels

    def reader() -> Iterator[dict]:
        for i in range(start, stop):
            arr = cv2.imread(str(files[i]), cv2.IMREAD_COLOR if channels == 3 else cv2.IMREAD_GRAYSCALE)
            if arr is None:
                raise UserError(f"cannot read {files[i]}: missing, damaged or not an image")
            if channels == 3:
                arr = cv2.cvtColor(arr, cv2.COLOR_BGR2RGB)
            mask = cv2.imread(str(mask_files[i]), cv2.IMREAD_GRAYSCALE) if mask_files else None
            yield _to_item(arr, None, mask, kind, out)

    return InputClip(kind, out, fps or 30.0, stop - start, f"{kind} maps {folder}", reader,
                     _size_warning(source, out))


# ---------------------------------------------------------------------------------------------------- raw video
class _KeypointStore:
    """Per-frame keypoints of a clip in a temporary file (fixed-size float32 records), so a long clip's poses need
    no memory: 543 points x (x, y, visibility), NaN for a missing part."""

    PARTS = (("body", 33), ("left_hand", 21), ("right_hand", 21), ("face", 468))
    POINTS = sum(n for _, n in PARTS)

    def __init__(self):
        self.file = tempfile.TemporaryFile()
        self.count = 0
        self.size = (0, 0)

    def append(self, parts: dict, size: tuple[int, int]) -> None:
        rec = np.full((self.POINTS, 3), np.nan, np.float32)
        row = 0
        for name, n in self.PARTS:
            if parts.get(name) is not None:
                rec[row:row + n] = np.asarray(parts[name], dtype=np.float32).reshape(n, 3)
            row += n
        self.file.write(rec.tobytes())
        self.count += 1
        self.size = size

    def __getitem__(self, i: int) -> dict:
        nbytes = self.POINTS * 3 * 4
        self.file.seek(i * nbytes)
        rec = np.frombuffer(self.file.read(nbytes), np.float32).reshape(self.POINTS, 3)
        out: dict = {"width": int(self.size[0]), "height": int(self.size[1])}
        row = 0
        for name, n in self.PARTS:
            part = rec[row:row + n]
            out[name] = None if np.isnan(part).all() else part.astype(np.float64).tolist()
            row += n
        return out

    def close(self) -> None:
        self.file.close()


def _scale_stats(stats: dict, size: tuple[int, int]) -> dict:
    """Keypoint statistics (``clip_stats`` output, "frame": [W, H]) expressed for a frame of ``size``."""
    sx, sy = size[0] / float(stats["frame"][0]), size[1] / float(stats["frame"][1])
    out = dict(stats)
    for k in ("far", "close", "height_far", "height_close", "height_median", "ankle_median"):
        if k in out:
            out[k] = float(stats[k]) * sy
    out["center_x"] = float(stats["center_x"]) * sx
    out["frame"] = [float(size[0]), float(size[1])]
    return out


def _normalization_target(spec, size: tuple[int, int]):
    """``normalize_stats``: a stats dict, a JSON file or a prepared pose dataset -> target in ``size`` pixels."""
    if isinstance(spec, dict):
        stats = spec.get("target", spec)
        if "frame" not in stats:
            raise UserError("pose statistics need a 'frame' [W, H] entry (clip_stats output)")
        return _scale_stats(stats, size)
    from .pose import load_normalization_target

    return load_normalization_target(spec, size)


def _pose_video(path: Path, size, frames, fps, normalize_stats, progress: Progress | None) -> InputClip:
    from .pose import PoseTracker, crop_keypoints, fit_crop, keypoints_dict, person_box, quiet_native_stderr, union_box
    from .pose_normalize import apply_normalization, fit_normalization
    from .pose_render import render_pose

    stream = open_video(path, fps)
    start, stop = resolve_range(frames, stream.num_frames)
    out = tuple(size) if size else stream.size
    warnings: list[str] = []

    def reader() -> Iterator[dict]:
        store = _KeypointStore()
        try:
            box = None
            n = stop - start
            with quiet_native_stderr(), PoseTracker(segmentation=True) as tracker:  # pass 1: poses and the crop
                for k, rgb in enumerate(stream.frames(start, stop)):
                    res = tracker(rgb)
                    store.append(keypoints_dict(res["parts"], stream.size), stream.size)
                    box = union_box([box, person_box(res["parts"], res["mask"], stream.size)])
                    if progress is not None:
                        progress(k + 1, n)
            if box is None:
                raise UserError(f"no person found in {path} (frames {start}:{stop}); use a clip where one person "
                                "is visible")
            crop = fit_crop(box, stream.size, out)
            params = None
            if normalize_stats is not None:
                picks = np.unique(np.linspace(0, store.count - 1, min(store.count, 2000)).round().astype(int))
                sample = [crop_keypoints(store[int(i)], crop, out) for i in picks]
                params = fit_normalization(sample, _normalization_target(normalize_stats, out))
            for k in range(store.count):  # pass 2: render at the output size
                kp = crop_keypoints(store[k], crop, out)
                if params is not None and kp["body"] is not None:
                    kp = apply_normalization(kp, params)
                yield _to_item(render_pose(kp, out), None, None, "pose", out)
        finally:
            store.close()

    return InputClip("pose", out, stream.fps, stop - start, f"pose video {path}", reader, warnings)


def _face_video(path: Path, size, frames, fps, normalize_stats, progress: Progress | None) -> InputClip:
    """A raw talking-head video (``normalize_stats`` is for poses and ignored)."""
    from .face import FACE_CROP_SCALE, FaceTracker, face_sketch_stream
    from .pose import crop_frame, fit_crop, quiet_native_stderr, union_box

    stream = open_video(path, fps)
    start, stop = resolve_range(frames, stream.num_frames)
    out = tuple(size) if size else stream.size

    def reader() -> Iterator[dict]:
        box, widths = None, []
        n = stop - start
        with quiet_native_stderr(), FaceTracker() as tracker:  # pass 1: the face crop (as prepare face)
            for k, rgb in enumerate(stream.frames(start, stop)):
                lm = tracker(rgb)
                if lm is not None:
                    b = (float(lm[:, 0].min()), float(lm[:, 1].min()), float(lm[:, 0].max()), float(lm[:, 1].max()))
                    box = union_box([box, b])
                    widths.append(b[2] - b[0])
                if progress is not None:
                    progress(k + 1, n)
        if box is None:
            raise UserError(f"no face found in {path} (frames {start}:{stop}); use a clip with one face seen from "
                            "the front")
        fw, fh = stream.size
        box = (max(box[0], 0.0), max(box[1], 0.0), min(box[2], fw), min(box[3], fh))
        crop = fit_crop(box, stream.size, out, margin=0.1, min_side=FACE_CROP_SCALE * float(np.median(widths)))
        frames_out = (crop_frame(rgb, crop, out, border="replicate") for rgb in stream.frames(start, stop))
        for sketch in face_sketch_stream(frames_out):  # pass 2
            yield _to_item(sketch, None, None, "face", out)

    return InputClip("face", out, stream.fps, stop - start, f"face video {path}", reader)


# The reader of each image kind's raw media (a video, or a folder of frames): (path, size, frames, fps,
# normalize_stats, progress) -> InputClip. Kinds with class-id labels read label maps instead (_open_street).
MEDIA_READERS: dict[str, Callable[..., InputClip]] = {"pose": _pose_video, "face": _face_video}


# ------------------------------------------------------------------------------------------------------- dispatch
def open_input(path: str | Path, kind: str, size: tuple[int, int] | None = None, frames=None,
               sequence: str | None = None, instances: str | Path | None = None, fps: float | None = None,
               normalize_stats=None, label_set: LabelSet = CITYSCAPES, progress: Progress | None = None
               ) -> InputClip:
    """Open ``path`` as conditioning input for a ``kind`` model ("street", "pose", "face"), see the module
    docstring for what is accepted. ``size`` (W, H): frames come out at this size (default: the source's).
    ``frames``: a range "A:B" / (A, B) / slice. ``sequence``: which sequence of a dataset. ``instances``: instance
    folder for a street label folder. ``fps`` overrides the rate of frame folders. ``normalize_stats``: pose
    normalisation target (a clip_stats dict with "frame", a JSON file or a prepared pose dataset).
    ``progress(done, total)`` reports the analysis pass of raw pose/face videos (it runs when iteration starts).
    """
    spec = kinds.get(kind)
    path = Path(path)
    if not path.exists():
        raise UserError(f"input {path} does not exist")
    if size is not None:
        size = (int(size[0]), int(size[1]))
    if path.is_dir() and ((path / "dataset.json").is_file() or (path / "train_A").is_dir()
                          or (path / "test_A").is_dir()):
        if not spec.label_ids and not (path / "dataset.json").is_file():
            raise UserError(f"{path} is a vid2vid street-scene folder but the model is a {kind} model")
        return _dataset(path, kind, size, frames, sequence, label_set)
    if spec.label_ids:
        return _open_street(path, size, frames, instances, fps, label_set)
    if path.is_dir() and (path / "labels").is_dir():
        return _map_folder(path / "labels", kind, size, frames, fps, path / "masks")
    if path.is_file() and path.suffix.lower() not in VIDEO_EXTS:
        raise UserError(f"{path} is not a video ({', '.join(VIDEO_EXTS[:5])} ...) nor a folder; a {kind} model needs "
                        f"{spec.media}")
    if path.is_dir():
        pngs = list_frames(path, (".png",))
        _not_street(path, pngs[0] if pngs else None, kind)
    return MEDIA_READERS[spec.name](path, size, frames, fps, normalize_stats, progress)


def _open_street(path: Path, size, frames, instances, fps, label_set: LabelSet) -> InputClip:
    if path.is_file():
        suffix = path.suffix.lower()
        if suffix in VIDEO_EXTS:
            return _label_video(path, label_set, size, frames, fps)
        if suffix in FRAME_EXTS:
            inst = [Path(instances)] if instances and Path(instances).is_file() else None
            return _street_files([path], inst, label_set, size, frames, fps or STREET_FPS, f"label map {path}")
        raise UserError(f"{path} is neither a label image, a label video nor a folder of label maps")
    if (path / "labels").is_dir():  # `v2v scene` output or a prepared sequence folder
        fps = fps or _scene_fps(path) or STREET_FPS
        inst_dir = path / "instances"
        inst = _folder_pngs(inst_dir, "instances") if inst_dir.is_dir() else None
        return _street_files(_folder_pngs(path / "labels", "labels"), inst, label_set, size, frames, fps,
                             f"label folder {path}")
    labels = _folder_pngs(path, "labels")
    inst_dir = Path(instances) if instances else _vid2vid_sibling(path)
    inst = _folder_pngs(inst_dir, "instances") if inst_dir is not None else None
    return _street_files(labels, inst, label_set, size, frames, fps or STREET_FPS, f"label folder {path}")


def _scene_fps(folder: Path) -> float | None:
    """The frame rate a ``v2v scene`` (scene.json) or ``v2v predict`` (prediction.json) folder records."""
    for name in ("scene.json", "prediction.json"):
        meta = folder / name
        if not meta.is_file():
            continue
        try:
            return float(json.loads(meta.read_text()).get("fps") or 0) or None
        except (json.JSONDecodeError, ValueError, TypeError, AttributeError):
            return None
    return None

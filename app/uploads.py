"""Turning what a user gives the street tab into a :class:`~app.editing.LabelVolume` at the model's frame size.

Accepted: a shipped example name, a zip of label PNGs (8-bit Cityscapes labelIds, or colour PNGs in the Cityscapes
palette) with an optional zip of instance PNGs (16-bit ids, or vid2vid's 8-bit maps with 255 = none), a single
label PNG, or a colourised label video. Frames are read with the engine's own readers
(:func:`v2v.labels.read_label_png`, :class:`~v2v.labels.PaletteSnapper`): colours snap to the nearest
palette colour, and a frame is refused when too many of its pixels are far from every palette colour.

Label and instance maps are resized with nearest neighbour (ids never blend). Without instance maps, every
connected region of a "thing" class (car, person, ...) becomes its own instance in each frame; the style tracker
links them across frames.
"""
from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import cv2
import numpy as np

from v2v.errors import UserError
from v2v.labels import CITYSCAPES, PaletteSnapper, read_instance_png, read_label_png
from v2v.video import VIDEO_EXTS, list_frames, open_video

from .editing import THINGS, LabelVolume
from .limits import Limits

DEFAULT_FPS = 17.0


def extract_zip(path: Path, dest: Path, limits: Limits, what: str) -> Path:
    """Unpack the PNGs of an uploaded zip (flattened; no paths outside ``dest``, bounded size and count) into
    ``dest`` and return it."""
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError):
        raise UserError(f"{what} {path.name} is not a readable zip file; zip the PNG frames and upload again") from None
    with zf:
        members = [m for m in zf.infolist() if not m.is_dir() and m.filename.lower().endswith(".png")
                   and not Path(m.filename).name.startswith(".") and "__MACOSX" not in m.filename]
        if not members:
            raise UserError(f"{what} {path.name} holds no .png frames")
        limits.check_label_frames(len(members), f"{what} {path.name}")
        total = sum(m.file_size for m in members)
        if total > 8 * limits.max_upload_bytes:
            raise UserError(f"{what} {path.name} unpacks to {total / 2**20:.0f} MB, too much for this server")
        names = [Path(m.filename).name for m in members]
        if len(set(names)) != len(names):
            raise UserError(f"{what} {path.name} has several frames with one file name in different folders; "
                            "zip one sequence")
        dest.mkdir(parents=True, exist_ok=True)
        try:
            for m, name in zip(members, names):
                with zf.open(m) as src, open(dest / name, "wb") as out:
                    shutil.copyfileobj(src, out)
        except (zipfile.BadZipFile, OSError, EOFError) as e:
            raise UserError(f"{what} {path.name} is damaged ({e}); zip the frames again") from None
    return dest


def _resize_ids(arr: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    if (arr.shape[1], arr.shape[0]) == tuple(size):
        return arr
    return cv2.resize(arr, tuple(size), interpolation=cv2.INTER_NEAREST)


def components_as_instances(labels: np.ndarray) -> np.ndarray:
    """(H, W) ids -> (H, W) int32 instances: one id per 4-connected region of each thing class."""
    inst = np.zeros(labels.shape, np.int32)
    next_id = 1
    for c in np.unique(labels):
        if not THINGS[c]:
            continue
        n, comp = cv2.connectedComponents((labels == c).astype(np.uint8), connectivity=4)
        inst[comp > 0] = comp[comp > 0] + next_id - 1
        next_id += n - 1
    return inst


def _volume(labels: list[np.ndarray], instances: list[np.ndarray] | None, fps: float, name: str) -> LabelVolume:
    lab = np.stack(labels).astype(np.uint8)
    inst = np.stack(instances).astype(np.int32) if instances is not None else \
        np.stack([components_as_instances(x) for x in lab])
    return LabelVolume(lab, inst, float(fps), name)


def load_label_folder(labels_dir: Path, instances_dir: Path | None, size: tuple[int, int], limits: Limits,
                      fps: float = DEFAULT_FPS, name: str | None = None) -> LabelVolume:
    files = list_frames(labels_dir, (".png",))
    if not files:
        raise UserError(f"no label PNGs found in {labels_dir.name}")
    limits.check_label_frames(len(files), "the label upload")
    inst_files = None
    if instances_dir is not None:
        inst_files = list_frames(instances_dir, (".png",))
        if len(inst_files) != len(files):
            raise UserError(f"the instance maps have {len(inst_files)} frames but the labels have {len(files)}; "
                            "upload matching zips (or no instance zip)")
    labels, instances = [], [] if inst_files is not None else None
    snapper = PaletteSnapper(CITYSCAPES)
    for k, f in enumerate(files):
        arr = read_label_png(f, CITYSCAPES, snapper)
        if k == 0:
            limits.check_resolution((arr.shape[1], arr.shape[0]), f"label frame {f.name}")
            first_shape = arr.shape
        elif arr.shape != first_shape:
            raise UserError(f"label frame {f.name} is {arr.shape[1]}x{arr.shape[0]} but the first is "
                            f"{first_shape[1]}x{first_shape[0]}; all frames need one size")
        labels.append(_resize_ids(arr, size))
        if inst_files is not None:
            inst = read_instance_png(inst_files[k])
            if inst.shape != arr.shape:
                raise UserError(f"instance map {inst_files[k].name} is {inst.shape[1]}x{inst.shape[0]} but label "
                                f"frame {f.name} is {arr.shape[1]}x{arr.shape[0]}")
            instances.append(_resize_ids(inst, size).astype(np.int32))
    return _volume(labels, instances, fps, name or labels_dir.name)


def load_label_video(path: Path, size: tuple[int, int], limits: Limits) -> LabelVolume:
    stream = open_video(path)
    limits.check_resolution(stream.size, f"the label video {path.name}")
    limits.check_duration(stream.num_frames, stream.fps, f"the label video {path.name}")
    limits.check_label_frames(stream.num_frames, f"the label video {path.name}")
    snapper = PaletteSnapper(CITYSCAPES)
    labels = [snapper(cv2.resize(rgb, tuple(size), interpolation=cv2.INTER_NEAREST), f"{path.name} frame {k}")
              for k, rgb in enumerate(stream)]
    return _volume(labels, None, stream.fps, Path(path).stem)


def load_upload(labels_file: str | Path, instances_file: str | Path | None, work: Path, size: tuple[int, int],
                limits: Limits) -> LabelVolume:
    """A volume from uploaded files; ``work`` is the session folder zips are unpacked into."""
    path = limits.check_file(labels_file, "label upload")
    suffix = path.suffix.lower()
    inst_dir = None
    if instances_file:
        ipath = limits.check_file(instances_file, "instance upload")
        if ipath.suffix.lower() == ".zip":
            inst_dir = extract_zip(ipath, work / "upload_instances", limits, "the instance zip")
        elif ipath.suffix.lower() == ".png":
            inst_dir = work / "upload_instances"
            inst_dir.mkdir(parents=True, exist_ok=True)
            shutil.copy(ipath, inst_dir / "000000.png")
        else:
            raise UserError(f"instance maps must come as a .zip of PNGs (got {ipath.name})")
    if suffix == ".zip":
        folder = extract_zip(path, work / "upload_labels", limits, "the label zip")
        return load_label_folder(folder, inst_dir, size, limits, name=path.stem)
    if suffix == ".png":
        folder = work / "upload_labels"
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, folder / "000000.png")
        return load_label_folder(folder, inst_dir, size, limits, name=path.stem)
    if suffix in VIDEO_EXTS:
        if inst_dir is not None:
            raise UserError("instance maps go with label PNGs, not with a label video; upload the labels as a zip")
        return load_label_video(path, size, limits)
    raise UserError(f"{path.name}: upload a zip of label PNGs, a label PNG or a colour label video "
                    f"({', '.join(VIDEO_EXTS[:5])})")


def load_example(folder: Path, size: tuple[int, int], limits: Limits) -> LabelVolume:
    import json

    fps = DEFAULT_FPS
    meta = folder / "scene.json"
    if meta.is_file():
        fps = float(json.loads(meta.read_text()).get("fps", fps))
    inst = folder / "instances"
    return load_label_folder(folder / "labels", inst if inst.is_dir() else None, size, limits, fps, folder.name)

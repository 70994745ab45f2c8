"""Prepare street-scene data (label maps -> city frames) into the v2v dataset layout.

Inputs are either three frame folders of one sequence (labels, optional instances, optional real images) or a
root in NVIDIA vid2vid's layout (``train_A``/``train_B``/``train_inst``, all sequences). Every frame is resized to
the dataset size — label and instance maps with nearest neighbour (ids must not blend), photos with area
averaging when shrinking — label ids are checked against the Cityscapes label set, and the backward optical flow
between consecutive real frames (``dis_flow(frame_t, frame_{t-1})``) is stored with its confidence mask.

Label folders hold 8-bit Cityscapes ``labelIds`` PNGs; colour-coded label images (the Cityscapes palette) are
converted to ids. Instance maps are 16-bit ids (Cityscapes ``instanceIds``) or 8-bit with 255 for "no instance"
(the vid2vid example data); both end up as 16-bit with 0 for "no instance".
"""
from __future__ import annotations

import re
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from ..config import check_size
from ..dataset_format import IMAGE_EXTS, DatasetWriter, Sequence, open_dataset
from ..frame_files import list_frames, read_image
from ..errors import UserError
from ..flow import ground_truth_flow
from ..labels import CITYSCAPES, check_label_ids, decolorize, read_instance_png

SIZE_MULTIPLE = 32
DEFAULT_FPS = 17.0  # Cityscapes video rate
Progress = Callable[[int, int], None]  # progress(frames_done, frames_total)


def _list(folder: Path, exts: tuple[str, ...], what: str) -> list[Path]:
    if not folder.is_dir():
        raise UserError(f"{what} folder {folder} does not exist")
    files = list_frames(folder, exts)
    if not files:
        raise UserError(f"{what} folder {folder} has no {'/'.join(exts)} frames")
    return files


def _sequence_name(folder: Path) -> str:
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", folder.resolve().name).lstrip("._-")
    return name or "seq0000"


def _folder_sequence(labels_dir: Path, images_dir: Path | None, instances_dir: Path | None) -> Sequence:
    labels = _list(labels_dir, (".png",), "labels")
    seq = Sequence(name=_sequence_name(labels_dir), num_frames=len(labels), labels=labels)
    for what, folder, exts in (("images", images_dir, IMAGE_EXTS), ("instances", instances_dir, (".png",))):
        if folder is None:
            continue
        files = _list(folder, exts, what)
        if len(files) != len(labels):
            raise UserError(f"{what} folder {folder} has {len(files)} frames but labels folder {labels_dir} has "
                            f"{len(labels)}; give folders with the same frames")
        setattr(seq, what, files)
    return seq


def _read_labels(path: Path) -> np.ndarray:
    """(H, W) uint8 label ids from an id PNG or a colour-coded one."""
    arr = read_image(path, cv2.IMREAD_UNCHANGED)
    if arr.ndim == 3:
        rgb = cv2.cvtColor(arr[:, :, :3], cv2.COLOR_BGR2RGB)
        if np.array_equal(rgb[:, :, 0], rgb[:, :, 1]) and np.array_equal(rgb[:, :, 0], rgb[:, :, 2]):
            arr = rgb[:, :, 0]
        else:
            try:
                arr = decolorize(rgb, CITYSCAPES).astype(np.uint8)
            except ValueError as e:
                raise UserError(f"label image {path} is in colour but {e}") from None
    if arr.dtype != np.uint8 and arr.max(initial=0) > 255:
        raise UserError(f"label image {path} has ids up to {arr.max()}; expected 8-bit Cityscapes labelIds")
    if arr.max(initial=0) >= CITYSCAPES.num_classes:  # cheap test first, detailed message only on failure
        try:
            check_label_ids(arr, CITYSCAPES)
        except ValueError as e:
            raise UserError(f"{path}: {e}") from None
    return arr.astype(np.uint8)


def _read_image(path: Path, size: tuple[int, int]) -> np.ndarray:
    """RGB uint8 at ``size`` (W, H). JPEGs much larger than the target decode at 1/2, 1/4 or 1/8 scale (libjpeg
    does this in the DCT domain, several times faster), then get area-averaged to the exact size."""
    flags = cv2.IMREAD_COLOR
    if path.suffix.lower() in (".jpg", ".jpeg"):
        from PIL import Image

        with Image.open(path) as im:
            sw, sh = im.size
        factor = min(sw // size[0], sh // size[1])
        for f, flag in ((8, cv2.IMREAD_REDUCED_COLOR_8), (4, cv2.IMREAD_REDUCED_COLOR_4),
                        (2, cv2.IMREAD_REDUCED_COLOR_2)):
            if factor >= f:
                flags = flag
                break
    bgr = read_image(path, flags)
    return cv2.cvtColor(_resize(bgr, size, smooth=True), cv2.COLOR_BGR2RGB)


def _resize(arr: np.ndarray, size: tuple[int, int], smooth: bool) -> np.ndarray:
    if (arr.shape[1], arr.shape[0]) == size:
        return arr
    if not smooth:
        return cv2.resize(arr, size, interpolation=cv2.INTER_NEAREST)
    shrink = arr.shape[1] > size[0] or arr.shape[0] > size[1]
    return cv2.resize(arr, size, interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


def _load(seq: Sequence, i: int, size: tuple[int, int]) -> dict:
    """Frame ``i`` read and resized to ``size``; also its source (W, H) for the report."""
    labels = _read_labels(seq.labels[i])
    out = {"labels": _resize(labels, size, smooth=False), "source_size": (labels.shape[1], labels.shape[0])}
    if seq.instances is not None:
        inst = read_instance_png(seq.instances[i]).astype(np.uint16)
        if inst.shape != labels.shape:
            raise UserError(f"sequence {seq.name!r}: instance map {seq.instances[i]} is {inst.shape[1]}x"
                            f"{inst.shape[0]} but label map {seq.labels[i]} is {labels.shape[1]}x{labels.shape[0]}")
        out["instances"] = _resize(inst, size, smooth=False)
    if seq.images is not None:
        out["image"] = _read_image(seq.images[i], size)
    return out


def _read_ahead(pool: ThreadPoolExecutor, seq: Sequence, size: tuple[int, int], depth: int):
    """Yield the frames of ``seq`` in order while at most ``depth`` later ones are being read (bounded memory)."""
    pending: deque = deque()
    for k in range(seq.num_frames):
        pending.append(pool.submit(_load, seq, k, size))
        if len(pending) >= depth:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()


def prepare_street(out: str | Path, size: tuple[int, int], labels_dir: str | Path | None = None,
                   images_dir: str | Path | None = None, instances_dir: str | Path | None = None,
                   vid2vid_root: str | Path | None = None, progress: Progress | None = None,
                   fps: float | None = None, overwrite: bool = False, flow_preset: str = "medium",
                   workers: int = 2) -> dict:
    """Write a street dataset to ``out`` at ``size`` (W, H), both multiples of 32.

    Give either ``labels_dir`` (with optional ``images_dir`` and ``instances_dir``: one sequence named after the
    labels folder) or ``vid2vid_root`` (every sequence of its train split, or test split when there is no train).
    Flow is computed when real images are present. ``progress(done, total)`` is called after every frame.
    ``workers`` threads read and resize frames ahead of the writer (OpenCV releases the GIL).

    Returns a report: ``frames``, ``sequences``, ``seconds``, ``frames_per_second``, ``size``, ``source_size``,
    ``has_images``, ``has_instances``, ``out`` and ``warnings`` (e.g. an aspect-ratio change).
    """
    w, h = (int(v) for v in size)
    check_size(w, h, SIZE_MULTIPLE)
    if flow_preset not in ("ultrafast", "fast", "medium"):
        raise UserError(f"flow preset must be ultrafast, fast or medium, got {flow_preset!r}")
    if (labels_dir is None) == (vid2vid_root is None):
        raise UserError("give either a labels folder (--labels, with --images and optionally --instances) "
                        "or a vid2vid root (--vid2vid-root), not both or neither")
    if vid2vid_root is not None:
        if images_dir is not None or instances_dir is not None:
            raise UserError("--images/--instances go with --labels; a vid2vid root has its own train_B/train_inst")
        index = open_dataset(vid2vid_root)
        if index.kind != "street":
            raise UserError(f"{vid2vid_root} is a {index.kind} dataset, not street scenes")
        sequences = index.sequences
        fps = fps or index.fps
        source = f"street scenes from {Path(vid2vid_root).resolve()}"
    else:
        seq = _folder_sequence(Path(labels_dir), Path(images_dir) if images_dir else None,
                               Path(instances_dir) if instances_dir else None)
        sequences = [seq]
        fps = fps or DEFAULT_FPS
        source = f"street scenes from labels {Path(labels_dir).resolve()}" + (
            f", images {Path(images_dir).resolve()}" if images_dir else "")
    for s in sequences:
        if s.images is None and any(t.images is not None for t in sequences):
            raise UserError(f"sequence {s.name!r} has no real images but other sequences do")
        if s.instances is None and any(t.instances is not None for t in sequences):
            raise UserError(f"sequence {s.name!r} has no instance maps but other sequences do")
    total = sum(s.num_frames for s in sequences)
    warnings: list[str] = []
    source_size = None
    start = time.perf_counter()
    done = 0
    with DatasetWriter(out, "street", "cityscapes", (w, h), fps, source, overwrite=overwrite) as writer, \
            ThreadPoolExecutor(max(1, workers)) as pool:
        for s in sequences:
            sw = writer.sequence(s.name)
            prev = None
            for i, frame in enumerate(_read_ahead(pool, s, (w, h), depth=2 * max(1, workers))):
                if source_size is None:
                    source_size = frame["source_size"]
                    if abs(source_size[0] / source_size[1] - w / h) > 0.01 * w / h:
                        warnings.append(f"aspect ratio changes from {source_size[0]}x{source_size[1]} to {w}x{h}; "
                                        "frames are stretched")
                elif frame["source_size"] != source_size:
                    raise UserError(f"sequence {s.name!r}: {s.labels[i]} is {frame['source_size'][0]}x"
                                    f"{frame['source_size'][1]}, earlier frames are {source_size[0]}x{source_size[1]}")
                sw.add(i, labels=frame["labels"], instances=frame.get("instances"), image=frame.get("image"))
                image = frame.get("image")
                if image is not None and prev is not None:
                    sw.add_flow(i, *ground_truth_flow(image, prev, preset=flow_preset))
                prev = image
                done += 1
                if progress is not None:
                    progress(done, total)
    seconds = time.perf_counter() - start
    return {"out": str(Path(out)), "frames": total, "sequences": len(sequences), "seconds": seconds,
            "frames_per_second": total / max(seconds, 1e-9), "size": [w, h],
            "source_size": list(source_size) if source_size else None,
            "flow_preset": flow_preset, "has_images": sequences[0].images is not None, "has_instances": sequences[0].instances is not None,
            "warnings": warnings}

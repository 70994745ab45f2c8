"""The prepared-dataset layout in code: writing it (:class:`DatasetWriter`) and reading it (:func:`open_dataset`).

Layout (see also ``notes/common.md``)::

    DS/dataset.json            {"format": "v2v-dataset", "version": 1, "kind", "label_set", "size": [W, H],
                                "fps", "sequences", "source", "has": {"instances", "images", "flow", "masks",
                                "keypoints"}, and for pose datasets "crop": {"source_size": [W, H],
                                "box": [x0, y0, w, h]} (the source-frame crop, reused by --crop-like)}
    DS/<seq>/labels/000000.png     street: 8-bit label ids; pose: RGB map; face: gray map
    DS/<seq>/instances/000000.png  16-bit instance ids, 0 = no instance
    DS/<seq>/images/000000.jpg     real RGB frames, JPEG quality 95
    DS/<seq>/flow/000001.npz       backward flow t -> t-1: float16 "flow" (H, W, 2) and uint8 "conf" (H, W),
                                   conf is 1 where the warp is trusted, 0 elsewhere; no file for frame 0
    DS/<seq>/masks/000000.png      8-bit foreground mask 0/255
    DS/<seq>/keypoints/000000.json per-frame keypoints in this dataset's pixel coordinates

Frames are numbered from 0 without gaps, six digits. :func:`open_dataset` also reads NVIDIA vid2vid's own layout
(``train_A``/``train_B``/``train_inst``, or ``test_*``) in place, so its example data needs no conversion.

Arrays handed to and returned by this module are numpy, channels last: labels (H, W) uint8 ids or (H, W, C) uint8
maps (a face map is (H, W)), instances (H, W) int32, image (H, W, 3) uint8 RGB, flow (H, W, 2) float32 pixels,
flow_conf (H, W) uint8 0/1, mask (H, W) uint8 0/255.
"""
from __future__ import annotations

import json
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from . import kinds
from .errors import UserError
from .format_file import read_format_json
from .frame_files import image_size, list_frames, read_image
from .labels import BUILTIN

FORMAT = "v2v-dataset"
VERSION = 1
HAS_KEYS = ("instances", "images", "flow", "masks", "keypoints")
# folder name -> file extension in our layout
FOLDERS = {"labels": ".png", "instances": ".png", "images": ".jpg", "flow": ".npz", "masks": ".png",
           "keypoints": ".json"}
VID2VID_FPS = 17.0  # Cityscapes sequences (the vid2vid street example) are recorded at 17 Hz
JPEG_QUALITY = 95
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".bmp", ".webp")


def frame_name(index: int, ext: str) -> str:
    return f"{index:06d}{ext}"


# --------------------------------------------------------------------------------------------------------- writing


def _check_hw(what: str, arr: np.ndarray, size: tuple[int, int], seq: str, index: int) -> None:
    w, h = size
    if arr.shape[:2] != (h, w):
        raise UserError(f"sequence {seq!r} frame {index}: {what} is {arr.shape[1]}x{arr.shape[0]} but the dataset "
                        f"size is {w}x{h}; resize it before writing")


def _imwrite(path: Path, arr: np.ndarray, params: list[int] | None = None) -> None:
    if arr.ndim == 3 and arr.shape[2] == 3:
        arr = cv2.cvtColor(arr, cv2.COLOR_RGB2BGR)
    if not cv2.imwrite(str(path), np.ascontiguousarray(arr), params or []):
        raise OSError(f"could not write {path}")


class SequenceWriter:
    """Writes the frames of one sequence. Obtained from :meth:`DatasetWriter.sequence`."""

    def __init__(self, writer: "DatasetWriter", name: str, folder: Path):
        self.writer = writer
        self.name = name
        self.folder = folder
        self.frames: dict[int, set[str]] = {}  # index -> folders written for it
        self.flows: set[int] = set()
        self._made: set[str] = set()  # sub-folders already created

    def _dir(self, what: str) -> Path:
        d = self.folder / what
        if what not in self._made:
            d.mkdir(exist_ok=True)
            self._made.add(what)
        return d

    def add(self, index: int, labels: np.ndarray, instances: np.ndarray | None = None,
            image: np.ndarray | None = None, mask: np.ndarray | None = None, keypoints: dict | None = None) -> None:
        """Write frame ``index``: conditioning ``labels`` (required) and whatever else the dataset has."""
        if index in self.frames:
            raise ValueError(f"sequence {self.name!r}: frame {index} written twice")
        if index < 0:
            raise ValueError(f"sequence {self.name!r}: frame index must be >= 0, got {index}")
        size = self.writer.size
        labels = np.asarray(labels)
        _check_hw("labels", labels, size, self.name, index)
        if labels.dtype != np.uint8:
            if labels.size and (labels.min() < 0 or labels.max() > 255):
                raise UserError(f"sequence {self.name!r} frame {index}: label values must fit 0..255")
            labels = labels.astype(np.uint8)
        expected = self.writer.label_channels
        got = 1 if labels.ndim == 2 else labels.shape[2]
        if expected and got != expected:
            raise UserError(f"sequence {self.name!r} frame {index}: label set {self.writer.label_set!r} needs "
                            f"{expected}-channel label maps, got {got}")
        if labels.ndim == 3 and labels.shape[2] == 1:
            labels = labels[:, :, 0]
        written = {"labels"}
        _imwrite(self._dir("labels") / frame_name(index, ".png"), labels)
        if instances is not None:
            inst = np.asarray(instances)
            _check_hw("instances", inst, size, self.name, index)
            if inst.size and (inst.min() < 0 or inst.max() > 65535):
                raise UserError(f"sequence {self.name!r} frame {index}: instance ids must fit 0..65535")
            _imwrite(self._dir("instances") / frame_name(index, ".png"), inst.astype(np.uint16))
            written.add("instances")
        if image is not None:
            img = np.asarray(image)
            _check_hw("image", img, size, self.name, index)
            if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
                raise UserError(f"sequence {self.name!r} frame {index}: image must be (H, W, 3) uint8 RGB, "
                                f"got {img.shape} {img.dtype}")
            _imwrite(self._dir("images") / frame_name(index, ".jpg"), img, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
            written.add("images")
        if mask is not None:
            m = np.asarray(mask)
            if m.ndim == 3:
                m = m[:, :, 0]
            _check_hw("mask", m, size, self.name, index)
            m = np.where(m > (0 if m.dtype == bool or m.max() <= 1 else 127), 255, 0).astype(np.uint8)
            _imwrite(self._dir("masks") / frame_name(index, ".png"), m)
            written.add("masks")
        if keypoints is not None:
            text = json.dumps(keypoints)
            (self._dir("keypoints") / frame_name(index, ".json")).write_text(text)
            written.add("keypoints")
        self.frames[index] = written

    def add_flow(self, index: int, flow: np.ndarray, conf: np.ndarray) -> None:
        """Write the backward flow of frame ``index`` (>= 1) to frame ``index - 1`` and its 0/1 confidence."""
        if index < 1:
            raise ValueError(f"sequence {self.name!r}: flow exists only for frames >= 1, got {index}")
        flow = np.asarray(flow)
        conf = np.asarray(conf)
        _check_hw("flow", flow, self.writer.size, self.name, index)
        _check_hw("flow confidence", conf, self.writer.size, self.name, index)
        if flow.ndim != 3 or flow.shape[2] != 2:
            raise ValueError(f"sequence {self.name!r} frame {index}: flow must be (H, W, 2), got {flow.shape}")
        conf = (conf > 0).astype(np.uint8) if conf.dtype == bool or conf.max() <= 1 else (conf > 127).astype(np.uint8)
        # stored uncompressed: float16 flow barely compresses (~35 %) and zlib would cost more than DIS itself
        np.savez(self._dir("flow") / frame_name(index, ".npz"), flow=flow.astype(np.float16), conf=conf)
        self.flows.add(index)

    def _check_complete(self) -> dict[str, bool | None]:
        """Check that indices are contiguous and each kind of data covers all frames (or none)."""
        n = len(self.frames)
        if n == 0:
            raise ValueError(f"sequence {self.name!r} has no frames")
        if sorted(self.frames) != list(range(n)):
            missing = sorted(set(range(max(self.frames) + 1)) - set(self.frames))[:5]
            raise ValueError(f"sequence {self.name!r}: frame indices are not contiguous from 0 (missing {missing})")
        has = {}
        for what in ("instances", "images", "masks", "keypoints"):
            count = sum(what in s for s in self.frames.values())
            if count not in (0, n):
                raise ValueError(f"sequence {self.name!r}: {what} written for {count} of {n} frames")
            has[what] = count == n
        if self.flows and self.flows != set(range(1, n)):
            raise ValueError(f"sequence {self.name!r}: flow written for {len(self.flows)} of {n - 1} frame pairs")
        has["flow"] = bool(self.flows) if n > 1 else None  # None: a one-frame sequence has no flow either way
        return has


class DatasetWriter:
    """Create a prepared dataset at ``root``. Use as a context manager, or call :meth:`close` at the end.

    Everything is written into a sibling temp folder ``<root>.tmp-XXXX`` that is renamed to ``root`` by
    :meth:`close` (after writing ``dataset.json``). On an exception inside ``with`` the temp folder is deleted, so
    a failed prepare leaves nothing behind. An existing non-empty ``root`` is refused unless ``overwrite=True``.
    """

    def __init__(self, root: str | Path, kind: str, label_set: str | None = None, size: tuple[int, int] = (0, 0),
                 fps: float = 30.0, source: str = "", overwrite: bool = False):
        kinds.get(kind)  # UserError for an unknown kind
        w, h = (int(v) for v in size)
        if w <= 0 or h <= 0:
            raise UserError(f"dataset size must be positive, got {w}x{h}")
        self.root = Path(root)
        self.kind = kind
        self.label_set = label_set or kinds.get(kind).label_set
        ls = BUILTIN.get(self.label_set)
        self.label_channels = (1 if ls.encoding == "onehot" else ls.image_channels) if ls else 0
        self.size = (w, h)
        self.fps = float(fps)
        self.source = source
        self.overwrite = overwrite
        if self.root.exists():
            if not self.root.is_dir():
                raise UserError(f"output {self.root} exists and is not a folder; choose another --out")
            if any(self.root.iterdir()) and not overwrite:
                raise UserError(f"output folder {self.root} already exists and is not empty; "
                                "choose another --out or remove it")
        self.root.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = Path(tempfile.mkdtemp(prefix=self.root.name + ".tmp-", dir=self.root.parent))
        self.sequences: dict[str, SequenceWriter] = {}
        self.extra: dict = {}  # more top-level dataset.json entries (e.g. prepare pose's "crop")
        self.closed = False

    def sequence(self, name: str) -> SequenceWriter:
        if not _NAME_RE.match(name) or name == "dataset.json":
            raise UserError(f"sequence name {name!r} must be letters, digits, '.', '_' or '-' "
                            "(not starting with '.' or '-')")
        if name in self.sequences:
            raise ValueError(f"sequence {name!r} created twice")
        folder = self.tmp / name
        folder.mkdir()
        self.sequences[name] = SequenceWriter(self, name, folder)
        return self.sequences[name]

    def close(self) -> Path:
        """Check completeness, write dataset.json, move the folder into place; returns the dataset path."""
        if self.closed:
            return self.root
        if not self.sequences:
            raise ValueError("dataset has no sequences")
        has_per_seq = [s._check_complete() for s in self.sequences.values()]
        has = {}
        for key in HAS_KEYS:
            values = {h[key] for h in has_per_seq if h[key] is not None} or {False}
            if len(values) > 1:
                raise ValueError(f"some sequences have {key} and others do not")
            has[key] = values.pop()
        meta = {"format": FORMAT, "version": VERSION, "kind": self.kind, "label_set": self.label_set,
                "size": list(self.size), "fps": self.fps, "sequences": list(self.sequences), "source": self.source,
                "has": has, **self.extra}
        (self.tmp / "dataset.json").write_text(json.dumps(meta, indent=2) + "\n")
        if self.root.exists():
            if any(self.root.iterdir()):
                if not self.overwrite:
                    raise UserError(f"output folder {self.root} appeared while preparing; not overwriting it")
                shutil.rmtree(self.root)
            else:
                self.root.rmdir()
        self.tmp.rename(self.root)
        self.closed = True
        return self.root

    def abort(self) -> None:
        """Delete the temp folder (nothing is left behind)."""
        if not self.closed:
            shutil.rmtree(self.tmp, ignore_errors=True)
            self.closed = True

    def __enter__(self) -> "DatasetWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.abort()
            return
        try:
            self.close()
        except BaseException:
            self.abort()
            raise


# --------------------------------------------------------------------------------------------------------- reading


@dataclass
class Sequence:
    """One sequence of a dataset. Each per-frame list has ``num_frames`` entries, or is None when absent.
    ``flow[0]`` is always None (no flow into the first frame)."""
    name: str
    num_frames: int
    labels: list[Path]
    instances: list[Path] | None = None
    images: list[Path] | None = None
    flow: list[Path | None] | None = None
    masks: list[Path] | None = None
    keypoints: list[Path] | None = None


@dataclass
class DatasetIndex:
    """A prepared (or vid2vid-layout) dataset: metadata and per-frame file paths; :meth:`load_frame` reads one.

    ``layout`` is "v2v" or "vid2vid"; ``size`` is (W, H). In the vid2vid layout 8-bit instance maps use 255 for
    "no instance"; :meth:`load_frame` turns that into 0 as in our layout.
    """
    root: Path
    kind: str
    label_set: str
    size: tuple[int, int]
    fps: float
    sequences: list[Sequence]
    source: str = ""
    layout: str = "v2v"
    has: dict[str, bool] = field(default_factory=dict)
    crop: dict | None = None  # pose datasets: {"source_size": [W, H], "box": [x0, y0, w, h]} of the source crop

    @property
    def num_frames(self) -> int:
        return sum(s.num_frames for s in self.sequences)

    def sequence(self, key: str | int) -> Sequence:
        if isinstance(key, int):
            return self.sequences[key]
        for s in self.sequences:
            if s.name == key:
                return s
        raise UserError(f"dataset {self.root} has no sequence {key!r}; it has "
                        f"{', '.join(s.name for s in self.sequences[:10])}")

    def label_video(self, key: str | int | Sequence) -> tuple[list[np.ndarray], list[np.ndarray] | None]:
        """All label maps of a sequence and its int32 instance maps (None when it has none), oldest first."""
        seq = key if isinstance(key, Sequence) else self.sequence(key)
        frames = [self.load_frame(seq, i, parts={"labels", "instances"}) for i in range(seq.num_frames)]
        instances = [f["instances"].astype(np.int32) for f in frames] if seq.instances is not None else None
        return [f["labels"] for f in frames], instances

    def load_frame(self, seq: str | int | Sequence, i: int, parts: set[str] | None = None) -> dict:
        """Frame ``i`` of a sequence as numpy arrays: "labels", and "instances", "image", "flow" + "flow_conf"
        (frames >= 1), "mask", "keypoints" where the dataset has them. ``parts`` limits what is read (a set of
        those names; None reads everything)."""
        s = seq if isinstance(seq, Sequence) else self.sequence(seq)
        if not 0 <= i < s.num_frames:
            raise IndexError(f"sequence {s.name!r} has {s.num_frames} frames, asked for frame {i}")
        w, h = self.size
        out: dict = {}

        def want(name: str) -> bool:
            return parts is None or name in parts

        labels = read_image(s.labels[i], cv2.IMREAD_UNCHANGED)
        if labels.ndim == 3:
            labels = labels[:, :, 0] if kinds.get(self.kind).label_ids else cv2.cvtColor(labels, cv2.COLOR_BGR2RGB)
        out["labels"] = labels
        if s.instances is not None and want("instances"):
            inst = read_image(s.instances[i], cv2.IMREAD_UNCHANGED)
            if inst.ndim == 3:
                inst = inst[:, :, 0]
            if self.layout == "vid2vid" and inst.dtype == np.uint8:
                inst = np.where(inst == 255, 0, inst)
            out["instances"] = inst.astype(np.int32)
        if s.images is not None and want("image"):
            out["image"] = cv2.cvtColor(read_image(s.images[i], cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
        if s.flow is not None and s.flow[i] is not None and want("flow"):
            try:
                with np.load(s.flow[i]) as z:
                    out["flow"] = z["flow"].astype(np.float32)
                    out["flow_conf"] = z["conf"].astype(np.uint8)
            except (OSError, ValueError, KeyError) as e:
                raise UserError(f"flow file {s.flow[i]} is unreadable ({e}); prepare the dataset again") from None
        if s.masks is not None and want("mask"):
            m = read_image(s.masks[i], cv2.IMREAD_GRAYSCALE)
            out["mask"] = m
        if s.keypoints is not None and want("keypoints"):
            try:
                out["keypoints"] = json.loads(Path(s.keypoints[i]).read_text())
            except (OSError, json.JSONDecodeError) as e:
                raise UserError(f"keypoints file {s.keypoints[i]} is unreadable ({e})") from None
        for key, arr in out.items():
            if isinstance(arr, np.ndarray) and arr.shape[:2] != (h, w):
                raise UserError(f"sequence {s.name!r} frame {i}: {key} is {arr.shape[1]}x{arr.shape[0]}, "
                                f"dataset size is {w}x{h}; prepare the dataset again")
        return out


def open_dataset(path: str | Path, split: str | None = None) -> DatasetIndex:
    """Open a prepared dataset (has ``dataset.json``) or a vid2vid-layout root (``train_A`` ... or ``test_A`` ...).

    ``split`` ("train"/"test") picks the vid2vid split; by default train when present, else test.
    Raises UserError when the folder is neither, or when frame counts or sizes disagree.
    """
    root = Path(path)
    if not root.is_dir():
        raise UserError(f"dataset folder {root} does not exist")
    if (root / "dataset.json").is_file():
        return _open_v2v(root)
    if (root / "train_A").is_dir() or (root / "test_A").is_dir():
        return _open_vid2vid(root, split)
    raise UserError(f"{root} is not a dataset: it has no dataset.json (run `python -m v2v prepare`) and no "
                    "vid2vid train_A/test_A folder")


def _check_count(seq: str, folder: Path, n: int, ref_folder: Path, ref_n: int) -> None:
    if n != ref_n:
        raise UserError(f"sequence {seq!r}: {folder} has {n} frames but {ref_folder} has {ref_n}; "
                        "every folder of a sequence needs the same frames")


def _check_size(seq: str, path: Path, size: tuple[int, int]) -> None:
    got = image_size(path)
    if got != tuple(size):
        raise UserError(f"sequence {seq!r}: {path.parent} has frames of {got[0]}x{got[1]} but the dataset is "
                        f"{size[0]}x{size[1]}; all frames must have one size")


def _open_v2v(root: Path) -> DatasetIndex:
    meta = read_format_json(root / "dataset.json", FORMAT, VERSION, "a v2v dataset", "prepare the dataset again")
    kind = meta.get("kind")
    if kind not in kinds.KINDS:
        raise UserError(f"{root / 'dataset.json'}: kind must be one of {', '.join(kinds.NAMES)}, got {kind!r}")
    size = tuple(int(v) for v in meta["size"])
    sequences = []
    for name in meta.get("sequences", []):
        folder = root / name
        lab_dir = folder / "labels"
        if not lab_dir.is_dir():
            raise UserError(f"sequence {name!r}: folder {lab_dir} is missing; the dataset is incomplete")
        labels = list_frames(lab_dir, (".png",))
        n = len(labels)
        if n == 0:
            raise UserError(f"sequence {name!r}: {lab_dir} has no frames")
        expected = [frame_name(i, ".png") for i in range(n)]
        if [p.name for p in labels] != expected:
            raise UserError(f"sequence {name!r}: {lab_dir} frames are not numbered 000000.png.. without gaps")
        _check_size(name, labels[0], size)
        seq = Sequence(name=name, num_frames=n, labels=labels)
        for what in ("instances", "images", "masks", "keypoints"):
            d = folder / what
            if not d.is_dir():
                continue
            ext = FOLDERS[what]
            files = list_frames(d, (ext,))
            _check_count(name, d, len(files), lab_dir, n)
            if [p.name for p in files] != [frame_name(i, ext) for i in range(n)]:
                raise UserError(f"sequence {name!r}: {d} frame names do not match {lab_dir}")
            if what != "keypoints":
                _check_size(name, files[0], size)
            setattr(seq, what, files)
        d = folder / "flow"
        if d.is_dir():
            files = list_frames(d, (".npz",))
            _check_count(name, d, len(files), lab_dir, n - 1)
            seq.flow = [None] + [d / frame_name(i, ".npz") for i in range(1, n)]
            missing = [p for p in seq.flow[1:] if not p.is_file()]
            if missing:
                raise UserError(f"sequence {name!r}: flow file {missing[0]} is missing")
        sequences.append(seq)
    if not sequences:
        raise UserError(f"dataset {root} lists no sequences")
    has = {k: all(getattr(s, k) is not None for s in sequences) for k in ("instances", "images", "masks",
                                                                          "keypoints")}
    has["flow"] = all(s.flow is not None for s in sequences if s.num_frames > 1) and any(
        s.flow is not None for s in sequences)
    return DatasetIndex(root=root, kind=kind, label_set=meta.get("label_set") or kinds.get(kind).label_set,
                        size=size, fps=float(meta.get("fps", 30.0)), sequences=sequences,
                        source=meta.get("source", ""), layout="v2v", has=has, crop=meta.get("crop"))


def _open_vid2vid(root: Path, split: str | None) -> DatasetIndex:
    if split is None:
        split = "train" if (root / "train_A").is_dir() else "test"
    a_dir = root / f"{split}_A"
    if not a_dir.is_dir():
        raise UserError(f"{root} has no {split}_A folder")
    b_dir, inst_dir = root / f"{split}_B", root / f"{split}_inst"
    names = sorted(p.name for p in a_dir.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not names:
        raise UserError(f"{a_dir} has no sequence folders (expected {a_dir}/<sequence>/*.png)")
    sequences = []
    size = None
    for name in names:
        labels = list_frames(a_dir / name, (".png",))
        if not labels:
            raise UserError(f"sequence {name!r}: {a_dir / name} has no .png label frames")
        if size is None:
            size = image_size(labels[0])
        _check_size(name, labels[0], size)
        seq = Sequence(name=name, num_frames=len(labels), labels=labels)
        for what, d, exts in (("images", b_dir / name, IMAGE_EXTS), ("instances", inst_dir / name, (".png",))):
            if not d.is_dir():
                continue
            files = list_frames(d, exts)
            _check_count(name, d, len(files), a_dir / name, len(labels))
            _check_size(name, files[0], size)
            setattr(seq, what, files)
        sequences.append(seq)
    has = {k: all(getattr(s, k) is not None for s in sequences) for k in ("instances", "images")}
    has.update(flow=False, masks=False, keypoints=False)
    return DatasetIndex(root=root, kind="street", label_set="cityscapes", size=size, fps=VID2VID_FPS,
                        sequences=sequences, source=f"vid2vid layout {root} ({split})", layout="vid2vid", has=has)

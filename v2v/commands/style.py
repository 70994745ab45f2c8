"""``python -m v2v style fit|tracks``: fit a model's per-class style mixtures, list the objects of a label video.

* ``style fit --checkpoint MODEL --dataset DS [--components K]`` encodes the dataset's real frames with the model's
  feature encoder, fits a Gaussian mixture per class and stores it inside the model folder (see :mod:`v2v.style`).
* ``style tracks --input LABELS [--json]`` tracks the objects of a street label video (what ``v2v synthesize``
  takes) and lists them with the ids that ``--reroll`` style options refer to.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Iterator

import numpy as np

from ..errors import UserError


def register(sub) -> None:
    p = sub.add_parser("style", help="multimodal synthesis: fit style mixtures, list object tracks")
    cmds = p.add_subparsers(dest="style_command", required=True)
    f = cmds.add_parser("fit", help="fit per-class style mixtures from a dataset's real frames into a model")
    f.add_argument("--checkpoint", required=True, help="exported model folder (rewritten with the style bank)")
    f.add_argument("--dataset", required=True, help="prepared dataset (or vid2vid layout) with real images")
    f.add_argument("--components", type=int, default=5, help="most mixture components per class (default 5)")
    f.add_argument("--max-frames", type=int, default=None, help="use at most this many frames of each sequence")
    f.add_argument("--threads", type=int, default=0, help="CPU threads for the encoder (default: torch's choice)")
    f.set_defaults(run=run_fit)
    t = cmds.add_parser("tracks", help="list the objects (track ids) of a street label video")
    t.add_argument("--input", required=True,
                   help="label frames folder, `v2v scene` output, vid2vid layout or prepared dataset")
    t.add_argument("--sequence", default=None, help="sequence of a dataset input (default: the first)")
    t.add_argument("--json", action="store_true", help="print a JSON list")
    t.add_argument("--no-flow", action="store_true", help="match objects by plain overlap (no optical flow)")
    t.set_defaults(run=run_tracks)


def run_fit(args) -> int:
    from ..style import fit_style_bank

    if args.max_frames is not None and args.max_frames < 1:
        raise UserError(f"--max-frames must be at least 1, got {args.max_frames}")
    if args.threads < 0:
        raise UserError(f"--threads must be >= 0, got {args.threads}")
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)

    def progress(done: int, total: int) -> None:
        if sys.stderr.isatty():
            print(f"\rstyle fit: {done}/{total} frames", end="\n" if done == total else "", file=sys.stderr)

    bank = fit_style_bank(args.checkpoint, args.dataset, args.components, args.max_frames, progress)
    s = bank.stats
    print(f"style bank: {len(bank.classes)} classes from {s['regions']} regions of {s['frames']} frames "
          f"(encoding {s['encode_seconds']:.1f} s, fitting {s['fit_seconds']:.1f} s); written to {args.checkpoint}")
    for name, info in bank.summary().items():
        parts = "component " if info["components"] == 1 else "components"
        print(f"  {info['id']:3d} {name:<20} {info['components']} {parts} from {info['samples']} regions")
    return 0


# ------------------------------------------------------------------------------------------------ input reading


def _read_ids(path: Path) -> np.ndarray:
    """A label PNG: 8-bit ids, or a colour picture snapped to the Cityscapes palette."""
    import cv2

    from ..labels import CITYSCAPES, decolorize

    arr = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if arr is None:
        raise UserError(f"cannot read label frame {path}")
    if arr.ndim == 3:
        if (arr[..., :3] == arr[..., :1]).all():
            return arr[..., 0].astype(np.int64)
        return decolorize(cv2.cvtColor(arr[..., :3], cv2.COLOR_BGR2RGB), CITYSCAPES).astype(np.int64)
    return arr.astype(np.int64)


def _read_instances(path: Path) -> np.ndarray:
    import cv2

    arr = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if arr is None:
        raise UserError(f"cannot read instance frame {path}")
    if arr.ndim == 3:
        arr = arr[..., 0]
    return arr.astype(np.int64)


def _folder_frames(labels_dir: Path, inst_dir: Path | None) -> Iterator[dict]:
    from ..dataset_format import list_frames

    labels = list_frames(labels_dir, (".png",))
    if not labels:
        raise UserError(f"{labels_dir} has no .png label frames")
    insts = list_frames(inst_dir, (".png",)) if inst_dir is not None and inst_dir.is_dir() else None
    if insts is not None and len(insts) != len(labels):
        raise UserError(f"{inst_dir} has {len(insts)} frames but {labels_dir} has {len(labels)}")
    for i, p in enumerate(labels):
        yield {"labels": _read_ids(p), "instances": _read_instances(insts[i]) if insts else None}


def label_frames(path: str | Path, sequence: str | None = None) -> Iterator[dict]:
    """Frames {"labels": (H, W) ids, "instances": (H, W) ids or None} of a street label input: a prepared dataset or
    vid2vid-layout folder (one sequence), a `v2v scene` output folder (labels/ + instances/), or a folder of label
    PNGs (with an ``instances`` folder beside it, if any)."""
    from ..dataset_format import open_dataset

    root = Path(path)
    if not root.is_dir():
        raise UserError(f"label input {root} is not a folder of label frames")
    if (root / "dataset.json").is_file() or (root / "train_A").is_dir() or (root / "test_A").is_dir():
        index = open_dataset(root)
        if index.kind != "street":
            raise UserError(f"{root} is a {index.kind} dataset; object tracks need street label frames")
        seq = index.sequence(sequence if sequence is not None else 0)
        for i in range(seq.num_frames):
            f = index.load_frame(seq, i, {"labels", "instances"})
            inst = f.get("instances")
            yield {"labels": f["labels"].astype(np.int64), "instances": None if inst is None else inst.astype(np.int64)}
        return
    if (root / "labels").is_dir():
        yield from _folder_frames(root / "labels", root / "instances")
        return
    yield from _folder_frames(root, root.parent / "instances" if root.name == "labels" else None)


def open_labels(path: str | Path, sequence: str | None = None):
    """The input's frames: through ``v2v.engine.open_input`` when it exists (every input ``synthesize`` takes), else
    through :func:`label_frames`."""
    try:
        from ..engine import open_input
    except ImportError:
        return label_frames(path, sequence)
    if sequence is not None:
        return label_frames(path, sequence)
    return open_input(path, "street")


def run_tracks(args) -> int:
    from ..style import Tracker

    tracker = Tracker(use_flow=not args.no_flow)
    n = 0
    for frame in open_labels(args.input, args.sequence):
        tracker.update(frame["labels"], frame.get("instances"))
        n += 1
    if n == 0:
        raise UserError(f"{args.input} has no frames")
    objects = [{k: o[k] for k in ("id", "class", "first_frame", "last_frame", "pixels")} for o in tracker.objects()]
    if args.json:
        print(json.dumps(objects, indent=1))
        return 0
    print(f"{len(objects)} tracks in {n} frames (objects, then one track per stuff class):")
    for o in objects:
        print(f"  {o['id']:6d}  {o['class']:<20} frames {o['first_frame']}-{o['last_frame']}  {o['pixels']} pixels")
    return 0

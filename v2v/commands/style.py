"""``python -m v2v style fit|tracks``: fit a model's per-class style mixtures, list the objects of a label video.

* ``style fit --checkpoint MODEL --dataset DS [--components K] [--sequences|--exclude SEQ ...]`` encodes the
  dataset's real frames with the model's feature encoder, fits a Gaussian mixture per class and stores it inside
  the model folder (see :mod:`v2v.style`).
* ``style tracks --input LABELS [--json]`` tracks the objects of a street label video (what ``v2v synthesize``
  takes) and lists them with the ids that ``--reroll`` style options refer to.
"""
from __future__ import annotations

import json
import sys

from ..errors import UserError


def register(sub) -> None:
    p = sub.add_parser("style", help="multimodal synthesis: fit style mixtures, list object tracks")
    cmds = p.add_subparsers(dest="style_command", required=True)
    f = cmds.add_parser("fit", help="fit per-class style mixtures from a dataset's real frames into a model")
    f.add_argument("--checkpoint", required=True, help="exported model folder (rewritten with the style bank)")
    f.add_argument("--dataset", required=True, help="prepared dataset (or vid2vid layout) with real images")
    f.add_argument("--components", type=int, default=5, help="most mixture components per class (default 5)")
    f.add_argument("--max-frames", type=int, default=None, help="use at most this many frames of each sequence")
    f.add_argument("--sequences", nargs="+", default=None, metavar="NAME", help="fit on these sequences only")
    f.add_argument("--exclude", nargs="+", default=[], metavar="NAME",
                   help="leave these sequences out (e.g. the held-out validation sequence)")
    f.add_argument("--threads", type=int, default=0, help="CPU threads for the encoder (default: torch's choice)")
    f.set_defaults(run=run_fit)
    t = cmds.add_parser("tracks", help="list the objects (track ids) of a street label video")
    t.add_argument("--input", required=True, help="street labels as `v2v synthesize` takes them: a label folder, "
                   "`v2v scene` output, vid2vid layout, prepared dataset or colourised label video")
    t.add_argument("--sequence", default=None, help="sequence of a dataset input (default: the first)")
    t.add_argument("--instances", default=None, help="instance maps folder for a plain label folder")
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

    bank = fit_style_bank(args.checkpoint, args.dataset, args.components, args.max_frames, progress,
                          sequences=args.sequences, exclude=args.exclude)
    s = bank.stats
    print(f"style bank: {len(bank.classes)} classes from {s['regions']} regions of {s['frames']} frames "
          f"(encoding {s['encode_seconds']:.1f} s, fitting {s['fit_seconds']:.1f} s); written to {args.checkpoint}")
    for name, info in bank.summary().items():
        parts = "component " if info["components"] == 1 else "components"
        print(f"  {info['id']:3d} {name:<20} {info['components']} {parts} from {info['samples']} regions")
    return 0


def run_tracks(args) -> int:
    from ..engine import open_input
    from ..style import Tracker

    clip = open_input(args.input, "street", sequence=args.sequence, instances=args.instances)
    tracker = Tracker(use_flow=not args.no_flow)
    n = 0
    for frame in clip:
        tracker.update(frame["labels"], frame.get("instances"), frame.get("index"))
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

"""``python -m v2v style fit|tracks``: fit a model's per-class style mixtures, list the objects of a label video.

* ``style fit --checkpoint MODEL --dataset DS [--components K] [--sequences|--exclude SEQ ...]`` encodes the
  dataset's real frames with the model's feature encoder, fits a Gaussian mixture per class and stores it inside
  the model folder (see :mod:`v2v.style`).
* ``style tracks --checkpoint MODEL --input LABELS [--json]`` tracks the objects of a street label video (what
  ``v2v synthesize`` takes) and lists them with the ids that ``--reroll`` / ``--color`` refer to. Objects are
  tracked on the frames synthesis reads: at the model's size (``--size`` as in ``synthesize``), over the same
  ``--frames``, after the same ``--relabel`` — a small object that vanishes at the model's size would otherwise
  shift every later id. Without a model, ``--size WxH`` names the size.
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
    t.add_argument("--checkpoint", default=None,
                   help="the street model you will synthesize with: objects are tracked at its size, as synthesis "
                        "tracks them (give this or --size)")
    t.add_argument("--size", default=None,
                   help="track at WIDTHxHEIGHT: the --size you give `synthesize` (default: the model's size)")
    t.add_argument("--frames", default=None, help="frame range START:STOP, as given to `synthesize` (default: all)")
    t.add_argument("--relabel", action="append", default=[], metavar="FROM=TO",
                   help="the --relabel options you give `synthesize` (tracks follow the relabelled classes)")
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


def tracking_size(checkpoint: str | None, size: str | None) -> tuple[tuple[int, int] | None, object]:
    """(W, H) to track at and the label set, the way ``synthesize`` picks its frame size: ``--size``, else the
    model's training size, else the input's own size (None)."""
    from .. import kinds
    from ..engine import _meta_size
    from ..labels import CITYSCAPES
    from .scene import parse_size

    if checkpoint is None and size is None:
        raise UserError("style tracks needs the size synthesis runs at, since ids depend on it (small objects vanish "
                        "at a model's size): give --checkpoint MODEL (the street model you synthesize with) or "
                        "--size WIDTHxHEIGHT")
    label_set, model_size, cfg = CITYSCAPES, None, None
    if checkpoint is not None:
        from ..checkpoint import read_model_config

        cfg, meta = read_model_config(checkpoint)
        kind = kinds.of_label_set(cfg.labels)
        if not kind.styles:
            raise UserError(f"{checkpoint} is a {kind.name} model; style tracks lists the objects of street models")
        label_set, model_size = cfg.labels, _meta_size(meta)
    if size is not None:
        w, h = parse_size(size)
        if w < 8 or h < 8:
            raise UserError(f"--size {size} is too small; give the WIDTHxHEIGHT you synthesize at, e.g. 256x128")
        if cfg is not None:  # the size synthesize would refuse for this model
            from ..config import check_size

            try:
                check_size(w, h, cfg.size_multiple)
            except ValueError as e:
                raise UserError(str(e)) from None
        return (w, h), label_set
    return model_size, label_set


def run_tracks(args) -> int:
    import torch

    from ..engine import open_input, resolve_relabel
    from ..style import Tracker
    from .synthesize import parse_relabel

    size, label_set = tracking_size(args.checkpoint, args.size)
    lut = None
    mapping = resolve_relabel(label_set, parse_relabel(args.relabel))
    if mapping:  # as Engine.frames relabels before its style sampler tracks
        lut = torch.arange(max(256, label_set.num_classes))
        for a, b in mapping.items():
            lut[a] = b
    clip = open_input(args.input, "street", size=size, frames=args.frames, sequence=args.sequence,
                      instances=args.instances, label_set=label_set)
    tracker = Tracker(label_set, use_flow=not args.no_flow)
    n = 0
    for frame in clip:
        labels = frame["labels"]
        if lut is not None:
            labels = lut[torch.as_tensor(labels).long()]
        tracker.update(labels, frame.get("instances"), frame.get("index"))
        n += 1
    if n == 0:
        raise UserError(f"{args.input} has no frames")
    objects = [{k: o[k] for k in ("id", "class", "first_frame", "last_frame", "pixels")} for o in tracker.objects()]
    if args.json:
        print(json.dumps(objects, indent=1))
        return 0
    w, h = clip.size
    print(f"{len(objects)} tracks in {n} frames at {w}x{h} (objects, then one track per stuff class):")
    for o in objects:
        print(f"  {o['id']:6d}  {o['class']:<20} frames {o['first_frame']}-{o['last_frame']}  {o['pixels']} pixels")
    return 0

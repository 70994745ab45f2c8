"""``python -m v2v synthesize --checkpoint MODEL --input PATH --output OUT.mp4``: run a model over a conditioning
clip (see :mod:`v2v.inputs.clip` for the inputs each kind of model takes) and write H.264 video.

Options: ``--relabel FROM=TO`` (or FROM->TO; class names, aliases or ids; repeatable), ``--style-seed N``,
``--reroll ID --reroll-seed M``, ``--color ID=#rrggbb``, ``--style-spread S``, ``--size WxH`` (default: the size the
model was trained at, else the input's), ``--device``, ``--precision``, ``--save-extras`` (OUT_flow.mp4, OUT_mask.mp4,
OUT_warped.mp4 beside OUT), ``--frames A:B``, ``--future N [--future-method flow|copy]`` (street models: N more frames
after the input, synthesised from label maps predicted by :mod:`v2v.predict` at the size synthesis runs at). Bad input
ends with a one-line error and exit code 2, and nothing is left at OUT.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from ..errors import UserError
from ..video import DEFAULT_CRF

OUTPUT_SUFFIXES = (".mp4", ".mov", ".mkv")


def register(sub) -> None:
    p = sub.add_parser("synthesize", help="generate a video from label maps, a dance video or a face video")
    p.add_argument("--checkpoint", required=True, help="exported model folder (config.json + model.safetensors)")
    p.add_argument("--input", required=True, help="label folder/video, vid2vid folder, dataset, scene or raw video")
    p.add_argument("--output", required=True, help="output video (.mp4, .mov or .mkv)")
    p.add_argument("--relabel", action="append", default=[], metavar="FROM=TO",
                   help="replace a class everywhere, by name or id (e.g. vegetation=building); repeatable")
    p.add_argument("--style-seed", type=int, default=None, help="seed of the per-object style draws")
    p.add_argument("--reroll", type=int, action="append", default=[], metavar="TRACK_ID",
                   help="draw this object's style anew, keeping every other object's "
                        "(ids: `v2v style tracks --checkpoint MODEL`)")
    p.add_argument("--reroll-seed", type=int, action="append", default=[], metavar="M",
                   help="seed of each --reroll (in order; default 1)")
    p.add_argument("--style-spread", type=float, default=1.0, metavar="S",
                   help="how far style draws go from each class's mean: 1 as fitted (default), 2 twice as far")
    p.add_argument("--color", action="append", default=[], metavar="TRACK_ID=#RRGGBB",
                   help="paint this object a colour (models trained with loss.style_color; "
                        "ids: `v2v style tracks --checkpoint MODEL`)")
    p.add_argument("--style-from", metavar="IMAGE", help="use the per-class style of this real photo (RGB)")
    p.add_argument("--style-from-labels", metavar="LABELS_PNG",
                   help="label ids of the --style-from photo (default: the first input frame's labels)")
    p.add_argument("--size", help="output WIDTHxHEIGHT (default: the model's training size, else the input's)")
    p.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    p.add_argument("--precision", choices=["auto", "fp32", "bf16"], default="auto",
                   help="auto (default): bf16 where the hardware has native bf16, else fp32")
    p.add_argument("--save-extras", action="store_true", help="also write OUT_flow, OUT_mask and OUT_warped videos")
    p.add_argument("--frames", help="frame range START:STOP of the input (default: all)")
    p.add_argument("--sequence", help="sequence of a dataset or vid2vid folder (default: the first)")
    p.add_argument("--instances", help="instance-map folder for a street label folder")
    p.add_argument("--fps", type=float, help="frame rate of frame folders (default: 17 for street, 30 otherwise)")
    p.add_argument("--normalize-to", help="pose models: a prepared pose dataset or stats JSON of the target person "
                                          "(default: the statistics stored in the model, if any)")
    p.add_argument("--future", type=int, metavar="N",
                   help="street models: continue the video N frames past the input, from predicted label maps")
    p.add_argument("--future-method", metavar="METHOD",
                   help="how --future predicts the label maps: flow (default; extrapolated motion), learned "
                        "(flow corrected by the trained label predictor) or copy")
    p.add_argument("--crf", type=int, default=DEFAULT_CRF,
                   help=f"x264 quality, lower is better (default {DEFAULT_CRF}, as the app)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(run=run)


def parse_relabel(items: list[str] | None) -> dict[str, str]:
    """``--relabel`` values (:mod:`v2v.edits` syntax: FROM=TO or FROM->TO, comma-separated lists too) -> {from: to}
    as typed; the engine resolves the names against the model's label set."""
    from ..edits import split_relabel

    return dict(split_relabel(items))


def check_output(path: Path) -> None:
    if path.suffix.lower() not in OUTPUT_SUFFIXES:
        raise UserError(f"output {path.name} must end in {', '.join(OUTPUT_SUFFIXES)}")
    if path.is_dir():
        raise UserError(f"output {path} is a folder; give a video file name")
    parent = path.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise UserError(f"cannot create {path}: {parent} is not a folder")


def style_request(args, engine):
    """The StyleRequest the style flags ask for, or None when none is given."""
    if args.style_seed is None and not args.reroll and not args.style_from and not args.color \
            and args.style_spread == 1.0:
        return None
    if args.reroll_seed and len(args.reroll_seed) != len(args.reroll):
        raise UserError(f"give one --reroll-seed per --reroll ({len(args.reroll)} rerolls, "
                        f"{len(args.reroll_seed)} seeds), or none")
    if engine.config.feature_channels == 0:
        raise UserError("this model has no style encoder: --style-seed/--reroll/--style-from need a street model "
                        "trained with encoder.enabled")
    if engine.style_bank is None and not args.style_from:
        raise UserError(f"{args.checkpoint} has no style mixtures yet: run "
                        f"`python -m v2v style fit --checkpoint {args.checkpoint} --dataset DS` first")
    seeds = args.reroll_seed or [1] * len(args.reroll)
    colors = {}
    for item in args.color:
        track, sep, color = item.partition("=")
        if not sep or not track.strip().isdigit():
            raise UserError(f"--color {item!r} must look like TRACK_ID=#rrggbb, e.g. 12=#c02020")
        colors[int(track)] = color
    image = labels = None
    if args.style_from:
        from PIL import Image, UnidentifiedImageError
        import numpy as np

        try:
            image = np.asarray(Image.open(args.style_from).convert("RGB"))
            if args.style_from_labels:
                labels = np.asarray(Image.open(args.style_from_labels))
        except (OSError, UnidentifiedImageError) as e:
            raise UserError(f"cannot read the style image: {e}") from None
    from ..style import StyleRequest

    return StyleRequest(seed=args.style_seed or 0, rerolls=dict(zip(args.reroll, seeds)), from_image=image,
                        from_labels=labels, colors=colors, spread=args.style_spread)


def future_predictor(args):
    """The predictor ``--future``/``--future-method`` ask for (checked before any work), or None."""
    if args.future is None:
        if args.future_method is not None:
            raise UserError("--future-method goes with --future N (the number of frames to predict)")
        return None
    from .. import learned_predictor  # noqa: F401  (registers method "learned")
    from ..predict import check_future, make_predictor

    check_future(args.future)
    return make_predictor(args.future_method or "flow")


def run(args) -> int:
    from ..engine import Engine
    from .scene import parse_size

    out = Path(args.output)
    check_output(out)
    predictor = future_predictor(args)
    relabel = parse_relabel(args.relabel)
    size = parse_size(args.size) if args.size else None
    if args.crf < 0 or args.crf > 51:
        raise UserError(f"--crf must be 0..51, got {args.crf}")
    engine = Engine.load(args.checkpoint, device=args.device, precision=args.precision)
    if size is not None:
        engine.check_size(size)
    style = style_request(args, engine)
    kwargs = {"frames": args.frames, "sequence": args.sequence, "instances": args.instances, "fps": args.fps}
    if args.normalize_to:
        kwargs["normalize_stats"] = args.normalize_to
    tty = sys.stderr.isatty()

    def analysing(done: int, total: int) -> None:
        if tty and (done == total or done % 10 == 0):
            print(f"\ranalysing input: {done}/{total} frames", end="\n" if done == total else "", file=sys.stderr)

    def progress(done: int, total: int) -> None:
        if tty and (done == total or done % 5 == 0):
            print(f"\rsynthesize: {done}/{total or '?'} frames", end="\n" if done == total else "", file=sys.stderr)

    clip = engine.open(args.input, size=size, progress=analysing, **kwargs)
    if predictor is not None:
        from ..predict.clip import with_future

        clip = with_future(clip, args.future, predictor)
    report = engine.synthesize(clip, out, save_extras=args.save_extras, crf=args.crf, relabel=relabel,
                               style=style, progress=progress)
    if predictor is not None:
        report["predicted"] = {"frames": args.future, "method": predictor.name}
    if args.json:
        print(json.dumps(report))
        return 0
    for warning in report["warnings"]:
        print(f"warning: {warning}", file=sys.stderr)
    w, h = report["size"]
    extras = f" (+ {', '.join(Path(p).name for p in report['extras'].values())})" if report["extras"] else ""
    predicted = f" ({args.future} predicted, {predictor.name})" if predictor is not None else ""
    print(f"wrote {report['output']}{extras}: {report['frames']} frames{predicted} {w}x{h} at {report['fps']:g} fps in "
          f"{report['seconds']:.1f} s ({report['frames_per_s']:.2f} frames/s, {engine.precision} on {args.device})")
    return 0

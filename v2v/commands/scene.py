"""``python -m v2v scene --out DIR --frames N --size WxH --seed S``: a procedural street scene as Cityscapes-id label
frames (see :mod:`v2v.inputs.scene`), ready to drive a street model."""
from __future__ import annotations

import sys

from ..errors import UserError


def parse_size(text: str) -> tuple[int, int]:
    """'1024x512' -> (1024, 512)."""
    parts = text.lower().replace("*", "x").split("x")
    try:
        w, h = (int(p) for p in parts)
    except ValueError:
        raise UserError(f"size {text!r} must look like WIDTHxHEIGHT, e.g. 1024x512") from None
    return w, h


def register(sub) -> None:
    p = sub.add_parser("scene", help="generate a procedural street scene (Cityscapes label ids + instances)")
    p.add_argument("--out", required=True, help="output folder (labels/, instances/, labels_color.mp4, scene.json)")
    p.add_argument("--frames", type=int, default=30, help="number of frames (default 30)")
    p.add_argument("--size", default="1024x512", help="WIDTHxHEIGHT (default 1024x512)")
    p.add_argument("--seed", type=int, default=0, help="random seed; one seed always gives the same scene")
    p.add_argument("--fps", type=float, default=17.0, help="frame rate (default 17, as Cityscapes sequences)")
    p.add_argument("--markings", action="store_true",
                   help="draw dashed lane markings as class 'ground' (Cityscapes itself labels them 'road')")
    p.add_argument("--no-preview", action="store_true", help="skip labels_color.mp4")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    p.set_defaults(run=run)


def run(args) -> int:
    from ..inputs.scene import write_scene

    if args.seed < 0:
        raise UserError(f"--seed must be >= 0, got {args.seed}")

    def progress(done: int, total: int) -> None:
        if sys.stderr.isatty() and (done == total or done % 10 == 0):
            print(f"\rscene: {done}/{total} frames", end="\n" if done == total else "", file=sys.stderr)

    report = write_scene(args.out, args.frames, parse_size(args.size), args.seed, fps=args.fps,
                         markings=args.markings, overwrite=args.overwrite, preview=not args.no_preview,
                         progress=progress)
    w, h = report["size"]
    print(f"wrote scene {report['out']}: {report['frames']} frames {w}x{h}, seed {report['seed']}, "
          f"{report['seconds']:.1f} s ({report['frames_per_s']:.1f} frames/s); classes: {', '.join(report['classes'])}")
    return 0

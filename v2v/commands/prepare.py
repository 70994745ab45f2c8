"""``python -m v2v prepare KIND ...``: turn raw footage into a prepared dataset (see :mod:`v2v.dataset_format`).

    prepare street --labels DIR [--images DIR] [--instances DIR] --out DS --size WxH
    prepare street --vid2vid-root DIR --out DS --size WxH
    prepare pose   --video CLIP --out DS --size WxH [--frames A:B] [--normalize-to DS_OR_JSON] [--crop-like DS]
    prepare face   --video CLIP --out DS --size WxH [--frames A:B]

``--frames A:B`` is a Python-style range of frame indices: A included, B excluded, either may be left out
(``0:1257`` is frames 0..1256). The pipelines are imported only when their kind runs.
"""
from __future__ import annotations

import importlib
import re
import sys

from .. import kinds
from ..errors import UserError

_SIZE_RE = re.compile(r"^\s*(\d+)\s*x\s*(\d+)\s*$", re.IGNORECASE)
_FRAMES_RE = re.compile(r"^\s*(\d*)\s*:\s*(\d*)\s*$")


def parse_size(text: str) -> tuple[int, int]:
    """Strict 'WxH' -> (W, H) with positive integers."""
    m = _SIZE_RE.match(text or "")
    if not m or int(m.group(1)) == 0 or int(m.group(2)) == 0:
        raise UserError(f"--size must be WIDTHxHEIGHT with positive whole numbers, e.g. 512x256; got {text!r}")
    return int(m.group(1)), int(m.group(2))


def parse_frames(text: str | None) -> tuple[int, int | None] | None:
    """'A:B' -> (A, B) with B exclusive; 'A:' -> (A, None); ':B' -> (0, B); None -> None."""
    if text is None:
        return None
    m = _FRAMES_RE.match(text)
    if not m:
        raise UserError(f"--frames must be START:STOP frame numbers (STOP excluded), e.g. 0:1257; got {text!r}")
    start = int(m.group(1)) if m.group(1) else 0
    stop = int(m.group(2)) if m.group(2) else None
    if stop is not None and stop <= start:
        raise UserError(f"--frames {text!r} is empty: STOP must be greater than START")
    return start, stop


def _street_arguments(p) -> None:
    p.add_argument("--labels", help="folder of 8-bit labelId PNGs (one sequence)")
    p.add_argument("--images", help="folder of the real frames (jpg/png), same count as --labels")
    p.add_argument("--instances", help="folder of instance-id PNGs (optional)")
    p.add_argument("--vid2vid-root", help="a root in vid2vid's layout (train_A, train_B, train_inst): all sequences")
    p.add_argument("--fps", type=float, help="frame rate to record (default 17 Hz, as Cityscapes)")
    p.add_argument("--flow-preset", choices=["ultrafast", "fast", "medium"], default="medium",
                   help="DIS optical-flow quality (default medium; fast is ~4x quicker at 512x256)")


def _prepare_street(args, size, progress) -> dict:
    if not args.vid2vid_root and not args.labels:
        raise UserError("prepare street needs --labels DIR (with --images DIR) or --vid2vid-root DIR")
    return _pipeline("street", "prepare_street")(
        args.out, size, labels_dir=args.labels, images_dir=args.images, instances_dir=args.instances,
        vid2vid_root=args.vid2vid_root, progress=progress, fps=args.fps, overwrite=args.overwrite,
        flow_preset=args.flow_preset)


def _pose_arguments(p) -> None:
    p.add_argument("--video", required=True, help="video file or folder of frames")
    p.add_argument("--frames", help="frame range START:STOP (STOP excluded), e.g. 0:1257")
    p.add_argument("--normalize-to", help="dataset folder or JSON whose body proportions/placement to match")
    p.add_argument("--crop-like", help="a pose dataset prepared from the same clip: reuse its crop (e.g. for "
                                       "held-out frames, so the person sits where the model learned it)")


def _prepare_pose(args, size, progress) -> dict:
    return _pipeline("pose", "prepare_pose")(
        args.video, args.out, size, frames=parse_frames(args.frames), normalize_to=args.normalize_to,
        progress=progress, overwrite=args.overwrite, crop_like=args.crop_like)


def _face_arguments(p) -> None:
    p.add_argument("--video", required=True, help="video file or folder of frames")
    p.add_argument("--frames", help="frame range START:STOP (STOP excluded)")


def _prepare_face(args, size, progress) -> dict:
    return _pipeline("face", "prepare_face")(args.video, args.out, size, frames=parse_frames(args.frames),
                                             progress=progress, overwrite=args.overwrite)


# kind -> (help, its arguments, its preparer(args, size, progress) -> report); one entry per kind of v2v.kinds
PREPARERS = {
    "street": ("Cityscapes-style label maps + real frames", _street_arguments, _prepare_street),
    "pose": ("a video of one person: pose maps, masks and keypoints", _pose_arguments, _prepare_pose),
    "face": ("a video of a face: landmark sketches and keypoints", _face_arguments, _prepare_face),
}


def register(sub) -> None:
    p = sub.add_parser("prepare", help="prepare a dataset (street label maps, pose or face videos)")
    by_kind = p.add_subparsers(dest="kind", required=True, metavar="KIND")
    for name in kinds.NAMES:
        help_text, arguments, _ = PREPARERS[name]
        kp = by_kind.add_parser(name, help=help_text)
        arguments(kp)
        _common(kp)


def _common(p) -> None:
    p.add_argument("--out", required=True, help="output dataset folder (must not exist or be empty)")
    p.add_argument("--size", required=True, help="WIDTHxHEIGHT of the dataset frames, e.g. 512x256")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    p.set_defaults(run=run)


def _progress(kind: str):
    """A progress callback for the pipelines: ``progress(done, total)``; silent unless stderr is a terminal."""
    tty = sys.stderr.isatty()

    def progress(done, total=None, *_args, **_kw) -> None:
        if tty:
            end = "\n" if total is not None and done >= total else ""
            print(f"\rprepare {kind}: {done}/{total if total is not None else '?'} frames", end=end,
                  file=sys.stderr, flush=True)
    return progress


def summary(kind: str, out: str, report: dict) -> str:
    """The one-line result printed by the command."""
    frames = int(report.get("frames", 0))
    seconds = float(report.get("seconds", 0.0))
    fps = report.get("frames_per_second") or (frames / seconds if seconds > 0 else 0.0)
    line = f"prepared {kind} dataset {out}: {frames} frames"
    if report.get("sequences", 1) != 1:
        line += f" in {report['sequences']} sequences"
    line += f", {seconds:.1f} s ({fps:.1f} frames/s)"
    missing = report.get("missing_frames")
    if missing is not None:
        count = missing if isinstance(missing, int) else len(missing)
        line += f", {count} frames without a person"
    return line


def run(args) -> int:
    size = parse_size(args.size)
    report = PREPARERS[kinds.get(args.kind).name][2](args, size, _progress(args.kind))
    for warning in report.get("warnings") or []:
        print(f"warning: {warning}", file=sys.stderr)
    print(summary(args.kind, args.out, report))
    return 0


def _pipeline(kind: str, name: str):
    """Import ``v2v.inputs.<kind>.<name>`` lazily; a missing module or dependency is a one-line error."""
    try:
        module = importlib.import_module(f"v2v.inputs.{kind}")
    except ImportError as e:
        raise UserError(f"prepare {kind} is not available in this installation ({e})") from None
    return getattr(module, name)

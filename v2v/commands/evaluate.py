"""``python -m v2v evaluate --checkpoint MODEL --dataset DS --json OUT``: scores without pretrained networks."""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np


def register(sub) -> None:
    p = sub.add_parser("evaluate", help="temporal warping error, PSNR, SSIM, sharpness (and pose PCK) of a model")
    p.add_argument("--checkpoint", required=True, help="exported model folder")
    p.add_argument("--dataset", required=True, help="prepared dataset folder (held-out data)")
    p.add_argument("--sequences", nargs="*", help="sequence names (default: all)")
    p.add_argument("--frames", type=int, default=None, help="at most this many frames per sequence")
    p.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    p.add_argument("--no-pck", action="store_true", help="skip the pose PCK for pose models")
    p.add_argument("--json", dest="json_out", help="write the scores to this JSON file")
    p.set_defaults(run=run)


def run(args) -> int:
    from ..checkpoint import load_model
    from ..dataset_format import open_dataset
    from ..errors import UserError
    from ..evaluate import pose_pck, synthesize_sequence, video_scores

    model = load_model(args.checkpoint)
    cfg = model["config"]
    index = open_dataset(args.dataset)
    if index.label_set != cfg.label_set:
        raise UserError(f"dataset {args.dataset} has label set {index.label_set!r}, the model expects "
                        f"{cfg.label_set!r}")
    names = args.sequences or [s.name for s in index.sequences]
    t0 = time.time()
    per_seq = {}
    for name in names:
        out = synthesize_sequence(cfg, model["networks"], index, name, args.frames, "cpu", args.precision)
        if any(r is None for r in out["reals"]):
            raise UserError(f"sequence {name} has no real frames to compare with")
        scores = video_scores(out["fakes"], out["reals"])
        if cfg.label_set == "pose" and not args.no_pck:
            scores.update(pose_pck(out["fakes"], out["keypoints"]))
        per_seq[name] = scores
        print(f"{name}: " + ", ".join(f"{k}={v:.4g}" for k, v in scores.items()), flush=True)
    keys = per_seq[names[0]].keys()
    mean = {k: float(np.nanmean([s[k] for s in per_seq.values()])) for k in keys}
    result = {"checkpoint": str(args.checkpoint), "dataset": str(args.dataset), "frames": args.frames,
              "mean": mean, "sequences": per_seq, "seconds": round(time.time() - t0, 1)}
    print(json.dumps(result["mean"]))
    if args.json_out:
        Path(args.json_out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json_out).write_text(json.dumps(result, indent=1))
    return 0

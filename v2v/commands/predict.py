"""``python -m v2v predict --input LABELS --future N --out DIR [--method flow|copy] [--size WxH]``: predict the
next N label maps of a street clip (:mod:`v2v.predict`) and write them as a label folder that ``v2v synthesize
--input DIR`` reads (the ``v2v scene`` layout: labels/, instances/ when the input has instance maps,
labels_color.mp4, prediction.json).

The input is anything a street model takes (label folder, vid2vid folder, prepared dataset, colour label video,
``v2v scene`` output; ``--frames``, ``--sequence``, ``--instances``, ``--fps`` as for synthesize). Predicted frames
are numbered after the observed ones (30 observed frames: 000030.png ...); ``--include-input`` also writes the
observed frames (000000.png ...), so DIR is the whole clip continued.
"""
from __future__ import annotations

import sys
import time
from collections import deque

import numpy as np

from ..errors import UserError


def register(sub) -> None:
    p = sub.add_parser("predict", help="predict the next label maps of a street clip (future video prediction)")
    p.add_argument("--input", required=True, help="label folder/video, vid2vid folder, dataset or scene")
    p.add_argument("--future", type=int, required=True, metavar="N", help="number of frames to predict")
    p.add_argument("--out", required=True, help="output folder (labels/, instances/, labels_color.mp4, "
                                                "prediction.json)")
    p.add_argument("--method", default="flow",
                   help="prediction method (v2v.predict.METHODS): flow (default; extrapolated motion), learned "
                        "(flow corrected by the trained label predictor) or copy")
    p.add_argument("--size", help="WIDTHxHEIGHT to read and predict at (default: the input's)")
    p.add_argument("--frames", help="frame range START:STOP of the input (default: all)")
    p.add_argument("--sequence", help="sequence of a dataset or vid2vid folder (default: the first)")
    p.add_argument("--instances", help="instance-map folder for a label folder")
    p.add_argument("--fps", type=float, help="frame rate of frame folders (default 17)")
    p.add_argument("--include-input", action="store_true", help="also write the observed frames")
    p.add_argument("--no-preview", action="store_true", help="skip labels_color.mp4")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    p.set_defaults(run=run)


def _numpy(item: dict) -> tuple[np.ndarray, np.ndarray | None]:
    inst = item.get("instances")
    return item["labels"][0].numpy().astype(np.uint8), None if inst is None else inst[0].numpy()


def run(args) -> int:
    from ..inputs.clip import open_input
    from .. import learned_predictor  # noqa: F401  (registers method "learned")
    from ..predict import check_future, make_predictor, predict_labels
    from ..predict.writer import LabelFolderWriter
    from .scene import parse_size

    future = check_future(args.future)
    predictor = make_predictor(args.method)
    size = parse_size(args.size) if args.size else None
    if size is not None and min(size) < 1:
        raise UserError(f"--size {args.size} must be positive, e.g. 256x128")
    clip = open_input(args.input, "street", size, frames=args.frames, sequence=args.sequence,
                      instances=args.instances, fps=args.fps)
    start = time.perf_counter()
    labels: deque = deque(maxlen=predictor.context)
    instances: deque = deque(maxlen=predictor.context)
    with LabelFolderWriter(args.out, clip.fps, overwrite=args.overwrite, preview=not args.no_preview) as writer:
        observed = 0
        for item in clip:
            lab, inst = _numpy(item)
            labels.append(lab)
            instances.append(inst)
            if args.include_input:
                writer.add(observed, lab, inst)
            observed += 1
        if observed == 0:
            raise UserError(f"the input has no frames ({clip.description})")
        has_instances = all(i is not None for i in instances)
        pred_labels, pred_instances = predict_labels(list(labels), list(instances) if has_instances else None,
                                                     future, predictor)
        for k, lab in enumerate(pred_labels):
            writer.add(observed + k, lab, None if pred_instances is None else pred_instances[k])
        seconds = time.perf_counter() - start
        w, h = clip.size
        writer.close({"format": "v2v-prediction", "method": predictor.name, "observed": observed,
                      "predicted": future, "first_predicted": observed, "includes_input": args.include_input,
                      "size": [w, h], "label_set": "cityscapes", "input": clip.description,
                      "seconds": round(seconds, 3)})
    for warning in clip.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print(f"wrote {args.out}: frames {observed:06d}-{observed + future - 1:06d} predicted from {observed} observed "
          f"{'frame' if observed == 1 else 'frames'} ({predictor.name}) at {w}x{h} in {seconds:.1f} s")
    return 0

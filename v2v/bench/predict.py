"""``python -m v2v.bench predict --dataset DS [--sequences S ...] [--context 10] [--horizons 1 5 10] [--json]``

Scores the label-map prediction methods (:mod:`v2v.predict`) against the real future of a prepared street
dataset: from every start point t of a sequence (every ``--stride``-th one with ``--context`` frames observed up to
and including t and the largest horizon still inside the sequence), each method predicts frames t+1 .. t+max(h)
from frames t-context+1 .. t, and the predictions at each horizon h are scored against the real label map of
frame t+h (:mod:`v2v.predict.score`: the 19 Cityscapes evaluation classes, void pixels of the real map ignored):
``miou`` is the mean over start points of each pair's mIoU over the classes present in either map,
``miou_accumulated`` the mIoU of intersections and unions summed over all pairs first (the Cityscapes benchmark's
way), ``pixel_accuracy`` the mean share of non-void pixels predicted right. Figures are over all sequences, and
per sequence; ``seconds_per_frame`` is the wall time of one predicted frame.
"""
from __future__ import annotations

import json
import sys
import time

import numpy as np


def register(sub) -> None:
    p = sub.add_parser("predict", help="mIoU of predicted future label maps against the real ones")
    p.add_argument("--dataset", required=True, help="prepared street dataset (v2v prepare street)")
    p.add_argument("--sequences", nargs="+", help="sequence names (default: all)")
    p.add_argument("--context", type=int, default=10, help="observed frames up to each start point (default 10)")
    p.add_argument("--horizons", type=int, nargs="+", default=[1, 5, 10], help="frames ahead (default 1 5 10)")
    p.add_argument("--methods", nargs="+", help="prediction methods (default: all registered; learned when a "
                                                "trained label predictor is installed)")
    p.add_argument("--stride", type=int, default=1, help="frames between start points (default 1)")
    p.add_argument("--json", action="store_true", help="print only the JSON result")
    p.set_defaults(run=run)


def run(args) -> int:
    from .. import kinds
    from ..dataset_format import open_dataset
    from ..errors import UserError
    from ..learned_predictor import available as learned_available  # also registers method "learned"
    from ..predict import METHODS, make_predictor, predict_labels

    if args.context < 1 or args.stride < 1 or min(args.horizons) < 1:
        raise UserError("--context, --stride and every --horizons value must be at least 1")
    methods = args.methods or [m for m in sorted(METHODS) if m != "learned" or learned_available()]
    predictors = {m: make_predictor(m) for m in methods}
    horizons = sorted(set(args.horizons))
    index = open_dataset(args.dataset)
    if not kinds.get(index.kind).predicts:
        raise UserError(f"{args.dataset} is a {index.kind} dataset; label prediction needs a street dataset")
    names = args.sequences or [s.name for s in index.sequences]
    total = _Scores(methods, horizons)
    per_sequence: dict = {}
    seconds = {m: 0.0 for m in methods}
    calls = 0
    for name in names:
        seq = index.sequence(name)
        labels, instances = index.label_video(seq)
        starts = list(range(args.context - 1, seq.num_frames - horizons[-1], args.stride))
        if not starts:
            raise UserError(f"sequence {name!r} has {seq.num_frames} frames, too few for {args.context} observed "
                            f"and {horizons[-1]} predicted; lower --context or --horizons")
        scores = _Scores(methods, horizons)
        for t in starts:
            observed = slice(t - args.context + 1, t + 1)
            for m, predictor in predictors.items():
                tic = time.perf_counter()
                pred, _ = predict_labels(labels[observed], None if instances is None else instances[observed],
                                         horizons[-1], predictor)
                seconds[m] += time.perf_counter() - tic
                for h in horizons:
                    scores.add(m, h, pred[h - 1], labels[t + h])
                    total.add(m, h, pred[h - 1], labels[t + h])
            calls += 1
        per_sequence[name] = {"start_points": len(starts), **scores.summary()}
    result = {"bench": "predict", "dataset": str(args.dataset), "size": list(index.size), "sequences": names,
              "context": args.context, "horizons": horizons, "stride": args.stride,
              "start_points": calls,
              "metric": "mIoU over the 19 Cityscapes train classes (void pixels of the real map ignored): miou = "
                        "mean over pairs of the classes present in either map, miou_accumulated = over "
                        "intersections and unions summed over all pairs",
              **total.summary(), "per_sequence": per_sequence,
              "seconds_per_frame": {m: round(seconds[m] / max(calls * horizons[-1], 1), 5) for m in methods}}
    if not args.json:
        _table(result, sys.stderr)
    print(json.dumps(result))
    return 0


class _Scores:
    """Scores of every (method, horizon): per-pair mIoU and pixel accuracy, and a summed confusion matrix."""

    def __init__(self, methods: list[str], horizons: list[int]):
        from ..predict.score import N

        self.pairs = {(m, h): [] for m in methods for h in horizons}
        self.confusion = {(m, h): np.zeros((N + 1, N), np.int64) for m in methods for h in horizons}

    def add(self, method: str, horizon: int, pred: np.ndarray, real: np.ndarray) -> None:
        from ..predict.score import confusion, label_scores

        self.pairs[method, horizon].append(label_scores(pred, real))
        self.confusion[method, horizon] += confusion(pred, real)

    def summary(self) -> dict:
        from ..predict.score import miou_of

        out: dict = {"miou": {}, "miou_accumulated": {}, "pixel_accuracy": {}}
        for (m, h), pairs in self.pairs.items():
            for key in ("miou", "pixel_accuracy"):
                out[key].setdefault(m, {})[str(h)] = round(float(np.nanmean([p[key] for p in pairs])), 4)
            out["miou_accumulated"].setdefault(m, {})[str(h)] = round(miou_of(self.confusion[m, h]), 4)
        return out


def _table(result: dict, stream) -> None:
    hs = result["horizons"]
    print(f"{result['start_points']} start points of {', '.join(result['sequences'])}, {result['context']} frames "
          "observed", file=stream)
    print(f"{'':<20}{'method':<8}" + "".join(f"{'+' + str(h):>8}" for h in hs), file=stream)
    for key in ("miou", "miou_accumulated", "pixel_accuracy"):
        for m, by_h in result[key].items():
            print(f"{key:<20}{m:<8}" + "".join(f"{by_h[str(h)]:>8.4f}" for h in hs), file=stream)

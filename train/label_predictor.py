"""``python -m train.label_predictor``: train the learned label-map predictor (:mod:`v2v.learned_predictor`).

Samples are (last label map t, its flow extrapolation to t+k, the real map t+k, k) for k = 1..``--horizon``,
from the training sequences of a prepared street dataset and, optionally, procedural scenes (``v2v scene``'s
generator, rendered in memory at the dataset's size). The extrapolations are computed once, up front. The loss is
the cross-entropy of the refined logits against the real future map. Every ``--eval-every`` steps the predictor
is scored as ``python -m v2v.bench predict`` scores it (mIoU at +1, +5 and +10, each start point observing
``--context`` frames) on the selection sequence, with each ``--trust`` margin for the extrapolated class, and the
best export so far is kept in ``OUT/export`` with its margin; the held-out sequence is left for the benchmark.
The run stops after ``--minutes``.

    python -m train.label_predictor --dataset data/cityscapes_256 --train seq0000 seq0001 seq0002 \\
        --select seq0003 --scenes 24 --minutes 30 --out runs/label_predictor
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from v2v.dataset_format import open_dataset
from v2v.errors import UserError
from v2v.learned_predictor import LearnedPredictor, export_refiner, one_hot_maps
from v2v.nn.label_refiner import LabelRefiner, RefinerConfig
from v2v.predict import predict_labels
from v2v.predict.extrapolate import FlowExtrapolation
from v2v.predict.score import label_scores


def scene_video(seed: int, frames: int, size: tuple[int, int]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    from v2v.inputs.scene import build_world, render_frame

    world = build_world(seed, frames)
    rendered = [render_frame(world, i, *size) for i in range(frames)]
    return [r["labels"] for r in rendered], [r["instances"].astype(np.int32) for r in rendered]


def make_samples(videos: list[tuple], horizon: int, context: int) -> dict:
    """Stacked (last, extrapolated, target) uint8 maps and horizons of every start point with ``context`` observed
    frames and every k up to ``horizon`` that the video still covers; ``videos``: (labels, instances or None)."""
    extrapolation = FlowExtrapolation()
    last, extrapolated, target, ks = [], [], [], []
    for frames, instances in videos:
        for t in range(context - 1, len(frames) - 1):
            future = min(horizon, len(frames) - 1 - t)
            seen = slice(max(0, t - extrapolation.context + 1), t + 1)
            predicted, _ = extrapolation.predict(frames[seen], None if instances is None else instances[seen], future)
            for k in range(1, future + 1):
                last.append(frames[t])
                extrapolated.append(predicted[k - 1])
                target.append(frames[t + k])
                ks.append(k)
    return {"last": np.stack(last), "extrapolated": np.stack(extrapolated), "target": np.stack(target),
            "k": np.asarray(ks, np.float32)}


def zoom_crop(maps: list[np.ndarray], scale: float, rng: np.random.Generator) -> list[np.ndarray]:
    """The same random window, 1/``scale`` of each side, of every (H, W) map in ``maps``, resized back to (H, W)
    with nearest neighbours: the scene as a longer lens would see it, motion and all."""
    h, w = maps[0].shape
    ch, cw = max(4, int(round(h / scale))), max(4, int(round(w / scale)))
    y, x = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
    return [cv2.resize(np.ascontiguousarray(m[y:y + ch, x:x + cw]), (w, h), interpolation=cv2.INTER_NEAREST)
            for m in maps]


def batch_of(samples: dict, idx: np.ndarray, num_classes: int, rng: np.random.Generator,
             max_zoom: float = 1.0) -> tuple:
    last, extrapolated, target = (samples[key][idx] for key in ("last", "extrapolated", "target"))
    flip = rng.random(len(idx)) < 0.5  # a mirrored street is a street
    for a in (last, extrapolated, target):
        a[flip] = a[flip, :, ::-1]
    if max_zoom > 1.0:
        for i in range(len(idx)):
            last[i], extrapolated[i], target[i] = zoom_crop([last[i], extrapolated[i], target[i]],
                                                            float(rng.uniform(1.0, max_zoom)), rng)
    return (one_hot_maps(last, num_classes), one_hot_maps(extrapolated, num_classes),
            torch.from_numpy(samples["k"][idx]), torch.from_numpy(target.astype(np.int64)))


def select_score(predictor, video: tuple, context: int, horizons: list[int]) -> dict:
    """Mean per-pair mIoU at each horizon over the start points of one sequence (the benchmark's protocol)."""
    labels, instances = video
    scores = {h: [] for h in horizons}
    for t in range(context - 1, len(labels) - max(horizons)):
        seen = slice(t - context + 1, t + 1)
        pred, _ = predict_labels(labels[seen], None if instances is None else instances[seen], max(horizons),
                                 predictor)
        for h in horizons:
            scores[h].append(label_scores(pred[h - 1], labels[t + h])["miou"])
    return {h: float(np.nanmean(v)) for h, v in scores.items()}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dataset", required=True, help="prepared street dataset (v2v prepare street)")
    p.add_argument("--train", nargs="+", required=True, help="training sequences")
    p.add_argument("--select", required=True, help="sequence the best export is chosen on")
    p.add_argument("--scenes", type=int, default=0, help="procedural scenes added to the training videos")
    p.add_argument("--scene-frames", type=int, default=30)
    p.add_argument("--horizon", type=int, default=10, help="longest horizon trained (frames ahead)")
    p.add_argument("--context", type=int, default=10, help="observed frames per start point, as the benchmark")
    p.add_argument("--select-horizons", type=int, nargs="+", default=[1, 5, 10],
                   help="horizons whose mean mIoU on the selection sequence picks the export (default 1 5 10)")
    p.add_argument("--trust", type=float, nargs="+", default=[0.0, 1.0, 2.0, 4.0],
                   help="margins for the extrapolated class (v2v.learned_predictor) tried at every evaluation; "
                        "the best on the selection sequence goes with the export")
    p.add_argument("--reverse", action="store_true",
                   help="also train on the training sequences played backwards (the camera reversing)")
    p.add_argument("--max-zoom", type=float, default=1.0,
                   help="random zoom-in crops of each sample up to this factor (1: off)")
    p.add_argument("--minutes", type=float, default=30.0)
    p.add_argument("--max-steps", type=int, default=100000)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--weight-decay", type=float, default=0.0, help="AdamW's decoupled weight decay")
    p.add_argument("--ngf", type=int, default=32)
    p.add_argument("--blocks", type=int, default=2, help="residual blocks of the refiner")
    p.add_argument("--eval-every", type=int, default=250)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="run folder (log.jsonl, export/)")
    args = p.parse_args(argv)
    try:
        return run(args)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


def run(args) -> int:
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    index = open_dataset(args.dataset)
    if index.kind != "street":
        raise UserError(f"{args.dataset} is a {index.kind} dataset; the label predictor trains on street scenes")
    if min(args.trust) < 0:
        raise UserError(f"--trust {args.trust}: margins are >= 0 (0: the refiner's argmax as it is)")
    if args.max_zoom < 1.0:
        raise UserError(f"--max-zoom {args.max_zoom}: the zoom factor is at least 1 (1: no zoom crops)")
    if args.select in args.train:
        raise UserError(f"the selection sequence {args.select} is also a training sequence")

    # ---------------------------------------------------------------------------------------------- data
    tic = time.perf_counter()
    real_videos = [index.label_video(name) for name in args.train]
    if args.reverse:
        real_videos += [(labels[::-1], None if instances is None else instances[::-1])
                        for labels, instances in real_videos]
    scene_videos = [scene_video(1000 + s, args.scene_frames, tuple(index.size)) for s in range(args.scenes)]
    real = make_samples(real_videos, args.horizon, context=4)
    scenes = make_samples(scene_videos, args.horizon, context=4) if args.scenes else None
    select = index.label_video(args.select)
    if len(select[0]) < args.context + max(args.select_horizons):
        raise UserError(f"selection sequence {args.select} has {len(select[0])} frames, too few for {args.context} "
                        f"observed and {max(args.select_horizons)} predicted; lower --context or --select-horizons")
    print(f"samples: {len(real['k'])} real, {0 if scenes is None else len(scenes['k'])} procedural "
          f"({time.perf_counter() - tic:.0f} s)", flush=True)

    # ---------------------------------------------------------------------------------------------- model
    cfg = RefinerConfig(ngf=args.ngf, n_blocks=args.blocks, horizon_scale=float(args.horizon))
    net = LabelRefiner(cfg)
    # weight decay on the conv weights only: not on biases, norms or the weight given to the extrapolation
    decayed = [p for p in net.parameters() if p.dim() > 1]
    kept = [p for p in net.parameters() if p.dim() <= 1]
    opt = torch.optim.AdamW([{"params": decayed, "weight_decay": args.weight_decay},
                             {"params": kept, "weight_decay": 0.0}], lr=args.lr, betas=(0.9, 0.999))
    meta = {"work_width": int(index.size[0]), "trained_on": {"dataset": str(args.dataset), "train": args.train,
                                                             "scenes": args.scenes, "select": args.select,
                                                             "reverse": args.reverse, "max_zoom": args.max_zoom,
                                                             "weight_decay": args.weight_decay, "lr": args.lr}}
    def score(method) -> dict:
        return select_score(method, select, args.context, args.select_horizons)

    def learned() -> tuple[dict, float]:
        """The refiner's best selection score over the --trust margins, and that margin."""
        tried = [(score(LearnedPredictor(net=net, work_width=index.size[0], trust=t)), t) for t in args.trust]
        return max(tried, key=lambda st: sum(st[0].values()))

    copy_score, flow_score = score("copy"), score("flow")
    best, trust = dict(flow_score), 0.0  # an untrained refiner predicts exactly the extrapolation (tested)
    print(f"selection {args.select}: copy {copy_score}, flow {flow_score}, untrained {best}", flush=True)
    export_refiner(out / "export", net, {**meta, "step": 0, "select_miou": best, "trust": trust})
    log = open(out / "log.jsonl", "a")

    # ---------------------------------------------------------------------------------------------- loop
    start = time.perf_counter()
    deadline = start + 60 * args.minutes
    step, seen = 0, 0.0
    while step < args.max_steps and time.perf_counter() < deadline:
        net.train()
        pool = scenes if scenes is not None and rng.random() < 0.5 else real
        idx = rng.integers(0, len(pool["k"]), args.batch)
        last, extrapolated, k, target = batch_of(pool, idx, cfg.num_classes, rng, args.max_zoom)
        t0 = time.perf_counter()
        logits = net(last, extrapolated, k)["logits"]
        loss = F.cross_entropy(logits, target)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        seen += time.perf_counter() - t0
        step += 1
        if step % 25 == 0:
            rec = {"step": step, "loss": round(loss.item(), 5), "s_step": round(seen / 25, 4),
                   "minutes": round((time.perf_counter() - start) / 60, 2)}
            seen = 0.0
            log.write(json.dumps(rec) + "\n")
            log.flush()
        if step % args.eval_every == 0:
            net.eval()
            now, trust = learned()
            better = sum(now.values()) > sum(best.values())
            print(f"step {step}: loss {loss.item():.4f}, select mIoU {now} at trust {trust}"
                  f"{' (best)' if better else ''}", flush=True)
            log.write(json.dumps({"step": step, "select_miou": now, "trust": trust}) + "\n")
            if better:
                best = now
                export_refiner(out / "export", net, {**meta, "step": step, "select_miou": now, "trust": trust})
    print(f"done: {step} steps in {(time.perf_counter() - start) / 60:.1f} min; best selection mIoU {best} "
          f"(copy {copy_score}, flow {flow_score}); export {out / 'export'}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

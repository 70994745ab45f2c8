"""``python -m v2v.bench stream --frames N [--preset street_256] [--size 256x128] [--json]``

Streams N synthetic label frames through :class:`v2v.engine.Engine` with a random-weight model of the preset
(exported and loaded like a real one) and reports throughput and memory: ``frames_per_s`` (all frames after
loading), ``steady_frames_per_s`` (after the first 10 frames), ``cpu_seconds_per_frame`` (CPU time of the
process, all threads: on a busy machine a steadier measure of the work than wall time), ``peak_rss_mb`` (``resource.getrusage`` max RSS of
the process) and ``rss_growth_mb`` between 10 % and 100 % of the frames (memory must not grow with the video).
The labels are a slowly scrolling Voronoi segmentation with instance ids, made on the fly (nothing is stored).
``--output OUT.mp4`` also encodes the video (Engine.synthesize) instead of only generating frames.
"""
from __future__ import annotations

import json
import resource
import sys
import tempfile
import time
from pathlib import Path

import torch

from .generator import parse_size


def register(sub) -> None:
    p = sub.add_parser("stream", help="stream synthetic frames through the Engine (speed and memory)")
    p.add_argument("--frames", type=int, default=100)
    p.add_argument("--preset", default="street_256")
    p.add_argument("--size", default="256x128", help="WxH")
    p.add_argument("--precision", choices=["auto", "fp32", "bf16"], default="auto",
                   help="auto (the engine's default): bf16 where the hardware has native bf16, else fp32")
    p.add_argument("--no-fast", action="store_true", help="plain layers (no one-hot lookup / fast norms)")
    p.add_argument("--output", help="also encode H.264 to this file")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=run)


def _rss_mb() -> float:
    """Peak resident set size of this process so far, in MB (Linux reports kilobytes)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _current_rss_mb() -> float:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * resource.getpagesize() / 2 ** 20
    except OSError:
        return _rss_mb()


def synthetic_clip(cfg, size: tuple[int, int], frames: int, seed: int = 0):
    """An InputClip of ``frames`` street frames made on the fly: Voronoi regions with random classes that scroll
    one pixel per frame, each region its own instance id."""
    from ..inputs.clip import InputClip
    from .inputs import synthetic_label_ids

    w, h = size
    ls = cfg.labels
    if ls.encoding != "onehot":
        raise ValueError("bench stream synthesises street (one-hot) frames; pick a street preset")
    wide = synthetic_label_ids(ls.num_classes, h, w * 2, seed)  # (1, H, 2W); frames are windows into it
    regions = synthetic_label_ids(10_000, h, w * 2, seed)  # same layout seeds: use as instance ids

    def reader():
        for t in range(frames):
            x = t % w
            yield {"labels": wide[:, :, x:x + w].contiguous(), "instances": regions[:, :, x:x + w].contiguous(),
                   "mask": None}

    return InputClip("street", (w, h), 17.0, frames, "synthetic scrolling segmentation", reader)


def run(args) -> int:
    from ..checkpoint import export_model
    from ..config import check_size
    from ..engine import Engine
    from ..nn.build import build_generators
    from ..presets import model_preset

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.frames < 1:
        raise ValueError("--frames must be at least 1")
    w, h = parse_size(args.size)
    cfg = model_preset(args.preset)
    check_size(w, h, cfg.size_multiple)
    torch.manual_seed(args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        export_model(Path(tmp) / "model", cfg, build_generators(cfg), meta={"size": [w, h]})
        t0 = time.perf_counter()
        engine = Engine.load(Path(tmp) / "model", precision=args.precision, fast=not args.no_fast)
        load_s = time.perf_counter() - t0
    clip = synthetic_clip(cfg, (w, h), args.frames, args.seed)
    marks = {}
    early = max(1, args.frames // 10)

    def progress(done: int, total: int) -> None:
        if done == min(10, total):
            marks["steady"] = (done, time.perf_counter())
        if done == early:
            marks["rss_early"] = _current_rss_mb()

    start, cpu_start = time.perf_counter(), time.process_time()
    if args.output:
        engine.synthesize(clip, args.output, progress=progress)
    else:
        for _ in engine.frames(clip, progress=progress, extras=False):
            pass
    end = time.perf_counter()
    cpu = time.process_time() - cpu_start
    seconds = end - start
    n0, t10 = marks.get("steady", (0, start))
    steady = (args.frames - n0) / max(end - t10, 1e-9) if args.frames > n0 else None
    result = {"bench": "stream", "preset": args.preset, "size": [w, h], "precision": engine.precision,
              "fast": not args.no_fast, "threads": torch.get_num_threads(), "frames": args.frames,
              "seconds": round(seconds, 3), "frames_per_s": round(args.frames / seconds, 3),
              "steady_frames_per_s": round(steady, 3) if steady else None, "load_seconds": round(load_s, 3),
              "cpu_seconds_per_frame": round(cpu / args.frames, 4),
              "peak_rss_mb": round(_rss_mb(), 1),
              "rss_growth_mb": round(_current_rss_mb() - marks.get("rss_early", _current_rss_mb()), 1),
              "encoded": bool(args.output)}
    if not args.json:
        for k, v in result.items():
            print(f"{k:>20}: {v}", file=sys.stderr)
    print(json.dumps(result))
    return 0

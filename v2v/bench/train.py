"""``python -m v2v.bench train --config C --steps N [--set k=v ...] [--against k=v ...] [--json]``: training speed.

Runs ``python -m train`` for a few steps in a throw-away folder (a subprocess: the training driver sits a floor
above the library) and reads its log: seconds per step, frames per second, GFLOP per step (counted by
FlopCounterMode on a real step), achieved GFLOP/s and MFU against the matmul peak the run measured in its precision. The
first ``--warmup`` steps (kernel selection, the counted step) are left out. ``--against`` runs the same config a
second time with other overrides, one after the other in the same invocation, and prints the ratios, so that a
speed-up is measured against its baseline on the same machine and load.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def register(sub) -> None:
    p = sub.add_parser("train", help="time training steps of a config (s/step, frames/s, GFLOP/s, MFU)")
    p.add_argument("--config", required=True, help="training config (train/configs/*.yaml)")
    p.add_argument("--steps", type=int, default=10, help="timed steps (after the warm-up)")
    p.add_argument("--warmup", type=int, default=2, help="steps left out of the timing")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: the config's)")
    p.add_argument("--set", nargs="*", default=[], metavar="key=value", help="overrides for the measured run")
    p.add_argument("--against", nargs="*", default=None, metavar="key=value",
                   help="also measure the config with these overrides instead, and print the ratios")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(run=run)


def measure(config: str, overrides: list[str], steps: int, warmup: int, threads: int) -> dict:
    """Train ``warmup + steps`` steps and summarise the timed ones."""
    if steps < 1 or warmup < 1:
        raise ValueError("--steps and --warmup must be at least 1 (the first step counts FLOPs)")
    with tempfile.TemporaryDirectory(prefix="v2v-bench-train-") as tmp:
        args = [sys.executable, "-m", "train", "--config", config, f"out_dir={tmp}/run",
                f"max_steps={warmup + steps + 1}", "log_every=1", "sample_every=0", "val_every=0",
                f"save_every={10 ** 9}", "data.val_sequences=[]", "data.val_root=", *overrides]
        if threads:
            args.append(f"threads={threads}")
        env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
        r = subprocess.run(args, cwd=os.getcwd(), env=env, capture_output=True, text=True)
        if r.returncode != 0:
            last = r.stderr.strip().splitlines()[-1] if r.stderr.strip() else f"exit status {r.returncode}"
            raise ValueError(f"training failed: {last}")
        logs = [json.loads(line) for line in (Path(tmp) / "run" / "log.jsonl").read_text().splitlines()]
    timed = [e for e in logs if warmup < e["step"] <= warmup + steps]
    s_per_step = sum(e["s_per_step"] for e in timed) / len(timed)
    frames = sum(e["frames"] for e in timed) / len(timed)
    gflop = sum(e["gflop_per_step"] for e in timed) / len(timed)
    peak = timed[0]["gflop_per_step"] / timed[0]["s_per_step"] / timed[0]["mfu"]
    return {"overrides": overrides, "steps": len(timed), "s_per_step": s_per_step,
            "frames_per_s": frames / s_per_step, "gflop_per_step": gflop, "gflops_per_s": gflop / s_per_step,
            "mfu": gflop / s_per_step / peak, "peak_gflops": peak}


def run(args) -> int:
    result = {"config": args.config, **measure(args.config, args.set, args.steps, args.warmup, args.threads)}
    if args.against is not None:
        base = measure(args.config, args.against, args.steps, args.warmup, args.threads)
        result["baseline"] = base
        result["frames_per_s_ratio"] = result["frames_per_s"] / base["frames_per_s"]
        result["s_per_step_ratio"] = result["s_per_step"] / base["s_per_step"]
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        rows = [("measured", result)] + ([("baseline", result["baseline"])] if "baseline" in result else [])
        for name, r in rows:
            print(f"{name:9s} {' '.join(r['overrides']) or '(config as is)'}: {r['s_per_step']:.3f} s/step, "
                  f"{r['frames_per_s']:.2f} frames/s, {r['gflop_per_step']:.1f} GFLOP/step, "
                  f"{r['gflops_per_s']:.1f} GFLOP/s, MFU {r['mfu']:.1%} of {r['peak_gflops']:.0f}")
        if "baseline" in result:
            print(f"frames/s ratio {result['frames_per_s_ratio']:.2f}x")
    return 0

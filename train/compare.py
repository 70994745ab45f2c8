"""``python -m train.compare``: a fixed-budget comparison of training recipes (the evidence table of
docs/training.md), one command from training to the table.

Each arm is a name and config overrides; every arm trains from the same config, seed and data for the same wall
time (``python -m train --time-budget``), then its export is scored by ``python -m v2v evaluate`` with the same
arguments. ``--parallel 2`` runs two arms at once, one thread each (on the 2-core machine: what two sessions'
spare cores give; both arms then share the machine alike). The table has, per arm: steps, s/step, sharpness ÷
real, KID×1000 (with its real-vs-real floor), motion ratio, warping error ÷ real, and for pose models PCK and
moving-joint PCK; ``OUT/compare.json`` keeps every figure.

    python -m train.compare --config train/configs/street_256.yaml --budget 30m --out runs/compare_street \\
        --arm base --arm diffaug diff_augment=color,translation,cutout \\
        --evaluate "--dataset data/cityscapes_256 --sequences seq0004 --frames 30 \\
                    --kid-reference seq0000 seq0001 seq0002 seq0003"
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COLUMNS = (  # (header, how to read it from an arm's result)
    ("steps", lambda r: f"{r['steps']}"),
    ("s/step", lambda r: f"{r['s_per_step']:.2f}"),
    ("sharpness ÷ real", lambda r: f"{r['sharpness'] / r['sharpness_real']:.2f}"),
    ("KID×1000 (floor)", lambda r: f"{r['kid_x1000']:.0f} ({r['kid_x1000_real_floor']:.0f})"),
    ("motion ratio", lambda r: f"{r['motion_ratio']:.2f}"),
    ("warp error ÷ real", lambda r: f"{r['warp_error'] / r['warp_error_real']:.2f}"),
    ("PCK", lambda r: f"{r['pck']:.3f}"),
    ("moving-joint PCK", lambda r: f"{r['pck_moving']:.3f}"),
)


def parse_arms(items: list[list[str]]) -> list[tuple[str, list[str]]]:
    """[[name, key=value, ...], ...] -> [(name, overrides)], names unique and plain."""
    arms, seen = [], set()
    for item in items:
        name, overrides = item[0], item[1:]
        if not name.replace("_", "").replace("-", "").isalnum() or "=" in name:
            raise SystemExit(f"error: arm name {name!r} must be a plain word (letters, digits, - or _), "
                             "followed by its key=value overrides")
        if name in seen:
            raise SystemExit(f"error: arm {name!r} is given twice")
        bad = [o for o in overrides if "=" not in o]
        if bad:
            raise SystemExit(f"error: arm {name!r}: overrides must look like key=value, got {bad}")
        seen.add(name)
        arms.append((name, overrides))
    return arms


def train_command(args, name: str, overrides: list[str]) -> list[str]:
    """The arm's ``python -m train`` command; an override ``config=PATH`` trains that arm from another config
    (e.g. the old recipe, train/configs/street_256_old_recipe.yaml, against today's)."""
    config = args.config
    rest = []
    for o in overrides:
        if o.startswith("config="):
            config = o.split("=", 1)[1]
        else:
            rest.append(o)
    init = ["--init-from", args.init_from] if args.init_from else []
    return [sys.executable, "-m", "train", "--config", config, *init, "--time-budget", args.budget,
            f"out_dir={Path(args.out) / name}", f"threads={args.threads}", f"seed={args.seed}",
            *args.set, *rest]


def evaluate_command(args, name: str) -> list[str]:
    return [sys.executable, "-m", "v2v", "evaluate", "--checkpoint", str(Path(args.out) / name / "export"),
            *shlex.split(args.evaluate), "--json", str(Path(args.out) / name / "evaluate.json")]


def steps_and_speed(run_dir: Path) -> tuple[int, float]:
    """(steps trained, from the export; mean s/step over the logged steps of the run's log.jsonl, NaN when the
    budget ended before the first log line)."""
    steps = int(json.loads((run_dir / "export" / "config.json").read_text())["meta"].get("step", 0))
    log = run_dir / "log.jsonl"
    records = [json.loads(line) for line in log.read_text().splitlines() if line.strip()] if log.is_file() else []
    timed = [r["s_per_step"] for r in records if "s_per_step" in r]
    return steps, (sum(timed) / len(timed) if timed else float("nan"))


def run_arm(args, name: str, overrides: list[str], env: dict) -> dict:
    out = Path(args.out) / name
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(Path(args.out) / f"{name}.log", "w") as log:
        for cmd in (train_command(args, name, overrides), evaluate_command(args, name)):
            log.write("$ " + shlex.join(cmd) + "\n")
            log.flush()
            if subprocess.run(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT).returncode != 0:
                raise RuntimeError(f"arm {name}: `{shlex.join(cmd[1:4])} ...` failed; see {log.name}")
    scores = json.loads((out / "evaluate.json").read_text())["mean"]
    steps, s_step = steps_and_speed(out)
    return {"arm": name, "overrides": overrides, "steps": steps, "s_per_step": s_step, **scores}


def table(results: list[dict]) -> str:
    columns = [(h, f) for h, f in COLUMNS if all(_has(r, f) for r in results)]
    lines = ["| arm | " + " | ".join(h for h, _ in columns) + " |", "|---" * (len(columns) + 1) + "|"]
    for r in results:
        label = r["arm"] + (f" (`{' '.join(r['overrides'])}`)" if r["overrides"] else "")
        lines.append(f"| {label} | " + " | ".join(f(r) for _, f in columns) + " |")
    return "\n".join(lines)


def _has(result: dict, read) -> bool:
    try:
        read(result)
        return True
    except (KeyError, TypeError, ZeroDivisionError):
        return False


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m train.compare", description=__doc__.split("\n\n")[0])
    p.add_argument("--config", required=True, help="the training config every arm starts from")
    p.add_argument("--arm", nargs="+", action="append", required=True, metavar="NAME [key=value ...]",
                   help="one arm: a name, then its config overrides (none: the config as it is; config=PATH: "
                        "another config for this arm)")
    p.add_argument("--budget", default="30m", help="wall time per arm (python -m train --time-budget), e.g. 30m")
    p.add_argument("--evaluate", required=True, help="arguments of `python -m v2v evaluate` besides --checkpoint")
    p.add_argument("--out", required=True, help="folder of the arms' runs, logs and compare.json")
    p.add_argument("--set", nargs="+", default=[], metavar="key=value", help="overrides for every arm")
    p.add_argument("--init-from", help="start every arm from this export instead of from scratch")
    p.add_argument("--parallel", type=int, default=1, help="arms trained at once (one thread each when > 1)")
    p.add_argument("--threads", type=int, default=0, help="threads per arm (default: 2 alone, 1 in parallel)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    arms = parse_arms(args.arm)
    if args.parallel < 1:
        p.error("--parallel must be at least 1")
    args.threads = args.threads or (1 if args.parallel > 1 else 2)
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "OMP_WAIT_POLICY": "PASSIVE"}
    results: list[dict] = []
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=args.parallel) as pool:
        futures = [(name, pool.submit(run_arm, args, name, overrides, env)) for name, overrides in arms]
        for name, future in futures:
            try:
                results.append(future.result())
            except RuntimeError as e:
                print(f"error: {e}", file=sys.stderr)
                return 1
            print(f"arm {name} done ({(time.perf_counter() - start) / 60:.1f} min)", file=sys.stderr, flush=True)
    summary = {"config": args.config, "budget": args.budget, "set": args.set, "seed": args.seed,
               "threads": args.threads, "parallel": args.parallel, "evaluate": args.evaluate, "arms": results}
    (Path(args.out) / "compare.json").write_text(json.dumps(summary, indent=1))
    print(table(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

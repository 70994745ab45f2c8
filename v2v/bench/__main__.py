"""``python -m v2v.bench NAME ...`` (NAME: one of BENCHMARKS): each benchmark is a module of this package with
register/run."""
from __future__ import annotations

import argparse
import importlib
import sys

BENCHMARKS = ["generator", "stream", "train", "predict", "reroll", "server", "scenes"]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m v2v.bench")
    sub = parser.add_subparsers(dest="bench", required=True)
    for name in BENCHMARKS:
        importlib.import_module(f"v2v.bench.{name}").register(sub)
    args = parser.parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


raise SystemExit(main())

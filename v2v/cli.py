"""``python -m v2v COMMAND``: every command lives in its own module under ``v2v/commands``."""
from __future__ import annotations

import argparse
import importlib
import sys

# command name -> module under v2v.commands; each module has register(subparsers) and run(args) -> int
COMMANDS = {
    "info": "info",
    "prepare": "prepare",
    "scene": "scene",
    "synthesize": "synthesize",
    "convert-nvidia": "convert_nvidia",
    "style": "style",
    "evaluate": "evaluate",
    "predict": "predict",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m v2v", description="vid2vid studio command-line tools")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, module in COMMANDS.items():
        importlib.import_module(f"v2v.commands.{module}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except (ValueError, FileNotFoundError, PermissionError, OSError) as e:
        # ValueError covers UserError and ConfigError: bad input, reported in one line.
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130

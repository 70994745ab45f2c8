"""``python app/main.py``: help, and a bad limit in the environment is a one-line error with exit code 2."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run(*args, **env):
    return subprocess.run([sys.executable, "app/main.py", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, env={**os.environ, **env})


def test_help():
    r = run("--help")
    assert r.returncode == 0 and "--share" in r.stdout and "--port" in r.stdout


def test_bad_limit_in_the_environment():
    r = run(V2V_MAX_FRAMES="lots")
    assert r.returncode == 2
    assert r.stderr.strip() == "error: V2V_MAX_FRAMES='lots' is not a whole number"

"""python -m v2v.bench server: the app as a subprocess, jobs through its API, the server's memory read after each."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_server_benchmark_reads_memory_after_every_job(app_models):
    out = subprocess.run([sys.executable, "-m", "v2v.bench", "server", "--jobs", "3", "--warmup", "1",
                          "--frames", "4", "--json"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout)
    assert result["jobs"] == 3 and len(result["rss_mb"]) == 3
    assert 0 < result["rss_start_mb"] <= result["rss_max_mb"] == max(result["rss_mb"])
    assert result["rss_after_warmup_mb"] == result["rss_mb"][0]
    assert abs(result["growth_percent"] - 100 * (result["rss_mb"][-1] / result["rss_mb"][0] - 1)) < 1e-6


def test_server_benchmark_refuses_bad_counts():
    out = subprocess.run([sys.executable, "-m", "v2v.bench", "server", "--jobs", "2", "--warmup", "2"], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and "--warmup below --jobs" in out.stderr

"""``python -m v2v.bench server [--jobs 50] [--warmup 5] [--frames 12] [--json]``: the app's memory over many jobs.

Starts ``python app/main.py`` as a subprocess on a free port (the app sits a floor above the library, so it is run,
not imported), sends ``--jobs`` jobs through its named API with ``gradio_client`` — street synthesis with a
relabel, a re-roll, and a procedural dance through the pose model, in turn — and reads the server's resident
memory (``VmRSS`` of its process) after each. Reports the RSS after the warm-up jobs, at the end, the largest,
and ``growth_percent`` = (end - after warm-up) / after warm-up; a server that keeps memory flat stays within a
few percent. ``V2V_MAX_FRAMES`` is set to ``--frames`` for the server so that each job stays short.
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def register(sub) -> None:
    p = sub.add_parser("server", help="the app server's memory over many API jobs")
    p.add_argument("--jobs", type=int, default=50, help="API jobs to send (default 50)")
    p.add_argument("--warmup", type=int, default=5, help="jobs before the reference reading (default 5)")
    p.add_argument("--frames", type=int, default=12, help="frames per job (the server's V2V_MAX_FRAMES)")
    p.add_argument("--timeout", type=float, default=180.0, help="seconds to wait for the server to start")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=run)


def rss_mb(pid: int) -> float:
    """Resident memory of a process in MB (``VmRSS`` from /proc)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    raise ValueError(f"no VmRSS for process {pid}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_server(proc: subprocess.Popen, url: str, timeout: float, log: Path):
    """A gradio_client Client once the server answers; ValueError if it exits or does not answer in time."""
    from gradio_client import Client

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise ValueError(f"the app exited with code {proc.returncode}:\n{log.read_text()[-2000:]}")
        try:
            return Client(url, verbose=False)
        except Exception:  # not listening yet
            time.sleep(1.0)
    raise ValueError(f"the app did not answer at {url} within {timeout:.0f} s")


JOBS = [  # (name, send(client, job number)): seeds change from job to job, as a user's would
    ("street", lambda c, i: c.predict("street_scene_1", None, None, "tree->building", i, "",
                                      api_name="/synthesize_street")),
    ("reroll", lambda c, i: c.predict("street_scene_2", None, None, "", 3, f"100007:{i}", "",
                                      api_name="/reroll_style")),
    ("dance", lambda c, i: c.predict(None, "", True, api_name="/transfer_motion")),
]

def run(args) -> int:
    if args.jobs < 1 or not 0 <= args.warmup < args.jobs:
        raise ValueError("--jobs must be at least 1 and --warmup below --jobs")
    port = free_port()
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1",
           "V2V_MAX_FRAMES": str(args.frames)}
    with tempfile.TemporaryDirectory(prefix="v2v-bench-server-") as tmp:
        log = Path(tmp) / "server.log"
        with open(log, "w") as out:
            proc = subprocess.Popen([sys.executable, str(ROOT / "app" / "main.py"), "--port", str(port)],
                                    cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            client = wait_for_server(proc, f"http://127.0.0.1:{port}/", args.timeout, log)
            start_rss = rss_mb(proc.pid)
            readings, seconds = [], []
            for i in range(args.jobs):
                name, job = JOBS[i % len(JOBS)]
                t0 = time.perf_counter()
                job(client, i)
                seconds.append(time.perf_counter() - t0)
                readings.append(rss_mb(proc.pid))
                if not args.json:
                    print(f"\rjob {i + 1}/{args.jobs} ({name}): {readings[-1]:.0f} MB", end="", file=sys.stderr)
            if not args.json:
                print(file=sys.stderr)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
    ref = readings[args.warmup - 1] if args.warmup else start_rss
    result = {"jobs": args.jobs, "warmup": args.warmup, "frames_per_job": args.frames,
              "rss_start_mb": start_rss, "rss_after_warmup_mb": ref, "rss_end_mb": readings[-1],
              "rss_max_mb": max(readings), "growth_percent": 100.0 * (readings[-1] - ref) / ref,
              "seconds_per_job": sum(seconds) / len(seconds), "rss_mb": readings}
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"server RSS: {start_rss:.0f} MB at start, {ref:.0f} MB after {args.warmup} jobs, {readings[-1]:.0f} MB "
          f"after {args.jobs} (max {result['rss_max_mb']:.0f}); growth {result['growth_percent']:+.1f} % "
          f"after warm-up; {result['seconds_per_job']:.1f} s per job")
    return 0

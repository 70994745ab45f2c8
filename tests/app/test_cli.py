"""``python app/main.py``: help, the start message, and a bad limit in the environment is a one-line error with
exit code 2."""
from __future__ import annotations

import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
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


def test_start_message_names_the_share_switch():
    """Gradio's own start line says to set `share=True` in `launch()`; this app's switch is --share."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-u", "app/main.py", "--port", str(port)], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout], daemon=True).start()
    out = []
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and not any("public link" in line for line in out):
            try:
                out.append(lines.get(timeout=1))
            except queue.Empty:
                assert proc.poll() is None, "".join(out)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    text = "".join(out)
    assert f"Running on local URL:  http://127.0.0.1:{port}" in text, text
    assert "python app/main.py --share" in text and "share=True" not in text, text

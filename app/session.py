"""Per-session working folders and Stop buttons.

Every browser session (and every API call) works in its own folder under ``<tmp>/v2v-studio/``: uploads are
unpacked there, edited label videos and generated mp4s are written there. Folders are removed when the session's
state expires (``gr.State(delete_callback=...)``), when the app exits, and — in case a process died before —
when they are older than ``MAX_AGE_S`` at the next start of a session.

Stop buttons: a job registers a ``threading.Event`` under the session hash (:func:`start_job`); the Stop button's
handler sets it (:func:`stop_job`) and the engine stops at the next frame.
"""
from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import threading
import time
import uuid
from pathlib import Path

MAX_AGE_S = 6 * 3600  # browser sessions (their state also removes them when it expires)
API_MAX_AGE_S = 3600  # folders of API calls ("api-*"): their outputs have been copied to gradio's cache by then
_ROOT = Path(os.environ.get("V2V_APP_TMP") or Path(tempfile.gettempdir()) / "v2v-studio")
_created: set[Path] = set()
_jobs: dict[str, threading.Event] = {}
_lock = threading.Lock()


def root() -> Path:
    _ROOT.mkdir(parents=True, exist_ok=True)
    return _ROOT


def new_dir(prefix: str = "s") -> Path:
    """A fresh working folder (and a sweep of stale ones)."""
    sweep()
    d = root() / f"{prefix}-{uuid.uuid4().hex[:12]}"
    d.mkdir(parents=True)
    with _lock:
        _created.add(d)
    return d


def remove_dir(path: str | Path | None) -> None:
    if not path:
        return
    p = Path(path)
    if p.parent == _ROOT:  # only our own folders
        shutil.rmtree(p, ignore_errors=True)
        with _lock:
            _created.discard(p)


def sweep(max_age_s: float = MAX_AGE_S, api_max_age_s: float = API_MAX_AGE_S) -> None:
    """Remove working folders older than ``max_age_s`` (left by a process that died), API call folders older than
    ``api_max_age_s``."""
    if not _ROOT.is_dir():
        return
    now = time.time()
    for p in _ROOT.iterdir():
        try:
            age = api_max_age_s if p.name.startswith("api-") else max_age_s
            if p.is_dir() and now - p.stat().st_mtime > age:
                shutil.rmtree(p, ignore_errors=True)
        except OSError:
            pass


@atexit.register
def _cleanup() -> None:
    with _lock:
        dirs = list(_created)
        _created.clear()
    for d in dirs:
        shutil.rmtree(d, ignore_errors=True)


def session_key(request) -> str:
    """The session hash of a gradio request (a fresh key when there is none, e.g. in direct calls)."""
    key = getattr(request, "session_hash", None) if request is not None else None
    return key or f"anon-{uuid.uuid4().hex}"


def start_job(key: str) -> threading.Event:
    event = threading.Event()
    with _lock:
        _jobs[key] = event
    return event


def stop_job(key: str) -> bool:
    """Ask the session's running job to stop; False when none runs."""
    with _lock:
        event = _jobs.get(key)
    if event is None:
        return False
    event.set()
    return True


def end_job(key: str, event: threading.Event) -> None:
    with _lock:
        if _jobs.get(key) is event:
            del _jobs[key]

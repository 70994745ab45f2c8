"""Running a synthesis job for the app: frames from ``Engine.frames`` into H.264 files, with progress, live
previews and a Stop flag.

:func:`synthesize` is a generator of events so that gradio handlers can stream a preview image while the video is
being made::

    {"event": "frame", "done": k, "total": n, "image": (H, W, 3) uint8, "labels": ..., "preview": bool}
    {"event": "done", "video": Path | None, "extras": {"flow": Path, "mask": Path, "side_by_side": Path},
     "frames": k, "total": n, "seconds": s, "frames_per_s": f, "stopped": bool, "first": ..., "last": ...}

``preview`` is True at most every ``preview_every_s`` seconds (and on the last frame): handlers yield to the
browser only then. Videos are written with :class:`v2v.video.VideoSet` (temp names, renamed when all are
complete), so a stopped or failed job leaves no half-written file; a stopped job keeps the frames made so far when
``keep_partial`` is set.
"""
from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from v2v.video import VideoSet

Compose = Callable[[dict], np.ndarray]  # frame dict -> extra picture (e.g. a side-by-side frame)


def _blank_like(image: np.ndarray) -> np.ndarray:
    return np.zeros_like(image)


def synthesize(engine, source, out_dir: Path, stem: str, fps: float, total: int,
               cancel: threading.Event | None = None, style=None, extras: tuple[str, ...] = (),
               side_by_side: Compose | None = None, keep_partial: bool = True,
               progress: Callable[[int, int], None] | None = None, preview_every_s: float = 0.4,
               frames_kwargs: dict | None = None) -> Iterator[dict]:
    """Make at most ``total`` frames of ``source`` (an input clip of :func:`v2v.engine.open_input`) into
    ``out_dir/<stem>.mp4`` (plus ``<stem>_<extra>.mp4`` for each of ``extras`` — "flow", "mask", "warped" — and
    ``<stem>_side_by_side.mp4`` when ``side_by_side`` is given)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    names = ["video", *extras, *(["side_by_side"] if side_by_side is not None else [])]
    videos = VideoSet({name: out_dir / (f"{stem}.mp4" if name == "video" else f"{stem}_{name}.mp4")
                       for name in names}, fps)

    start = time.perf_counter()
    last_preview = 0.0
    done = 0
    first = last = None
    stopped = False
    kwargs = {"extras": bool(extras), **(frames_kwargs or {})}
    frames = engine.frames(source, style=style, cancel=cancel, **kwargs)
    try:
        for item in frames:
            if cancel is not None and cancel.is_set():
                stopped = True
                break
            image = item["image"]
            pictures = {"video": image, **{name: item.get(name, _blank_like(image)) for name in extras}}
            if side_by_side is not None:
                pictures["side_by_side"] = side_by_side(item)
            videos.write(pictures)
            done += 1
            if first is None:
                first = item
            last = item
            if progress is not None:
                progress(done, total)
            now = time.perf_counter()
            final = done >= total
            show = final or now - last_preview >= preview_every_s
            if show:
                last_preview = now
            yield {"event": "frame", "done": done, "total": total, "image": image,
                   "labels": item.get("labels_color"), "preview": show}
            if final:
                break
        else:
            stopped = cancel is not None and cancel.is_set() and done < total
    except BaseException:
        videos.abort()
        raise
    finally:
        close = getattr(frames, "close", None)
        if close is not None:
            close()
    paths: dict[str, Path] = {}
    if done and (not stopped or keep_partial):
        paths = videos.close()
    else:
        videos.abort()
    seconds = time.perf_counter() - start
    yield {"event": "done", "video": paths.pop("video", None), "extras": paths, "frames": done, "total": total,
           "seconds": seconds, "frames_per_s": done / max(seconds, 1e-9), "stopped": stopped,
           "first": first, "last": last}

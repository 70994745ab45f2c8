"""Upload, length and resolution limits of the app: stated in the UI, enforced with one-line messages.

The defaults fit a free 2-core CPU machine (a Hugging Face "cpu-basic" Space): short clips, a few dozen generated
frames per job, one job at a time. Every limit can be raised with an environment variable:

=========================  =======  ==================================================================
variable                   default  meaning
=========================  =======  ==================================================================
V2V_MAX_UPLOAD_MB          50       largest uploaded file (enforced by the server before any handler runs)
V2V_MAX_SECONDS            30       longest uploaded video, in seconds
V2V_MAX_SIDE               1920     largest width or height of an uploaded video or label frame (4K is refused)
V2V_MAX_FRAMES             48       frames generated per job; longer inputs are cut to this many frames
V2V_MAX_LABEL_FRAMES       300      label frames accepted in one upload (zip or label video)
V2V_CONCURRENCY            1        jobs that run at the same time (the rest wait in the queue)
V2V_MAX_QUEUE              16       jobs that may wait in the queue
=========================  =======  ==================================================================
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from v2v.errors import UserError


@dataclass(frozen=True)
class Limits:
    max_upload_mb: float = 50.0
    max_seconds: float = 30.0
    max_side: int = 1920
    max_frames: int = 48
    max_label_frames: int = 300
    concurrency: int = 1
    max_queue: int = 16

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)

    def describe(self) -> str:
        """One markdown line for the UI."""
        return (f"Limits on this server: uploads up to {self.max_upload_mb:g} MB, videos up to "
                f"{self.max_seconds:g} s and {self.max_side} px on their longer side, "
                f"{self.max_label_frames} label frames per upload; each job makes at most {self.max_frames} frames "
                f"(longer inputs are cut); {self.concurrency} job(s) at a time.")

    # ------------------------------------------------------------------------------------------- checks
    def check_file(self, path: str | Path | None, what: str = "upload") -> Path:
        """An uploaded file exists, is not empty and not over the size limit."""
        if path is None or str(path) == "":
            raise UserError(f"no {what} given; upload a file first")
        p = Path(path)
        if not p.exists():
            raise UserError(f"the {what} {p.name} is gone from the server (expired?); upload it again")
        if p.is_file():
            size = p.stat().st_size
            if size == 0:
                raise UserError(f"the {what} {p.name} is empty (0 bytes); upload the file again")
            if size > self.max_upload_bytes:
                raise UserError(f"the {what} {p.name} is {size / 2**20:.1f} MB; this server takes up to "
                                f"{self.max_upload_mb:g} MB (set V2V_MAX_UPLOAD_MB to raise it)")
        return p

    def check_resolution(self, size: tuple[int, int], what: str) -> None:
        w, h = size
        if max(w, h) > self.max_side:
            raise UserError(f"{what} is {w}x{h}; this server takes up to {self.max_side} px on the longer side "
                            f"(scale it down, or set V2V_MAX_SIDE)")

    def check_duration(self, frames: int, fps: float, what: str) -> None:
        seconds = frames / fps if fps > 0 else 0.0
        if seconds > self.max_seconds:
            raise UserError(f"{what} lasts {seconds:.1f} s; this server takes clips up to {self.max_seconds:g} s "
                            f"(trim it, or set V2V_MAX_SECONDS)")

    def check_label_frames(self, count: int, what: str) -> None:
        if count > self.max_label_frames:
            raise UserError(f"{what} has {count} frames; this server takes up to {self.max_label_frames} "
                            "(set V2V_MAX_LABEL_FRAMES to raise it)")


_ENV = {"max_upload_mb": ("V2V_MAX_UPLOAD_MB", float), "max_seconds": ("V2V_MAX_SECONDS", float),
        "max_side": ("V2V_MAX_SIDE", int), "max_frames": ("V2V_MAX_FRAMES", int),
        "max_label_frames": ("V2V_MAX_LABEL_FRAMES", int), "concurrency": ("V2V_CONCURRENCY", int),
        "max_queue": ("V2V_MAX_QUEUE", int)}


def load_limits(env: Mapping[str, str] | None = None) -> Limits:
    """Limits from the environment (see the module docstring); bad values raise a UserError naming the variable."""
    env = os.environ if env is None else env
    values = {}
    for field_name, (var, kind) in _ENV.items():
        text = env.get(var, "").strip()
        if not text:
            continue
        try:
            value = kind(text)
        except ValueError:
            raise UserError(f"{var}={text!r} is not a {'whole number' if kind is int else 'number'}") from None
        if value <= 0:
            raise UserError(f"{var} must be positive, got {text}")
        values[field_name] = value
    return Limits(**values)

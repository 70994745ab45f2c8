"""Label frames written as a folder that every street reader takes: the layout ``v2v scene`` writes.

``DIR/labels/000030.png`` (8-bit Cityscapes labelIds), ``DIR/instances/000030.png`` (16-bit ids, 0 = none; only
when the frames have instance maps), ``DIR/labels_color.mp4`` (a colour preview) and ``DIR/prediction.json``
(what was predicted, from what, and the frame rate ``v2v synthesize --input DIR`` plays it at). The folder is
written under a temporary name beside ``DIR`` and renamed when complete, so it appears whole or not at all.
"""
from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import cv2
import numpy as np

from ..errors import UserError
from ..labels import CITYSCAPES, colorize

META_NAME = "prediction.json"


class LabelFolderWriter:
    """``add(index, labels, instances)`` frame by frame, then ``close(meta)``; ``abort()`` (or an exception in a
    ``with`` block) leaves nothing behind."""

    def __init__(self, out: str | Path, fps: float, overwrite: bool = False, preview: bool = True):
        self.out = Path(out)
        if self.out.exists() and (not self.out.is_dir() or any(self.out.iterdir())) and not overwrite:
            raise UserError(f"output folder {self.out} already exists and is not empty; choose another or pass "
                            "--overwrite")
        self.out.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = Path(tempfile.mkdtemp(prefix=f".{self.out.name}.tmp-", dir=self.out.parent))
        (self.tmp / "labels").mkdir()
        self.fps = fps
        self.count = 0
        self.video = None
        if preview:
            from ..video import VideoWriter

            try:
                self.video = VideoWriter(self.tmp / "labels_color.mp4", fps)
            except BaseException:
                shutil.rmtree(self.tmp, ignore_errors=True)
                raise

    def add(self, index: int, labels: np.ndarray, instances: np.ndarray | None) -> None:
        name = f"{index:06d}.png"
        self._write(self.tmp / "labels" / name, labels.astype(np.uint8))
        if instances is not None:
            if instances.size and int(instances.max()) > 65535:
                raise UserError(f"frame {index}: instance id {int(instances.max())} does not fit a 16-bit PNG")
            (self.tmp / "instances").mkdir(exist_ok=True)
            self._write(self.tmp / "instances" / name, instances.astype(np.uint16))
        if self.video is not None:
            self.video.write(colorize(labels, CITYSCAPES))
        self.count += 1

    @staticmethod
    def _write(path: Path, arr: np.ndarray) -> None:
        if not cv2.imwrite(str(path), arr):
            raise OSError(f"could not write {path}")

    def close(self, meta: dict) -> Path:
        """Finish the preview, write ``prediction.json`` (``meta`` + the frame rate) and move the folder into
        place (replacing an existing one only when the writer was made with ``overwrite``)."""
        try:
            if self.video is not None:
                self.video.close()
            (self.tmp / META_NAME).write_text(json.dumps({**meta, "fps": self.fps}, indent=2) + "\n")
            if self.out.exists():
                shutil.rmtree(self.out) if self.out.is_dir() else self.out.unlink()
            self.tmp.rename(self.out)
        except BaseException:
            self.abort()
            raise
        return self.out

    def abort(self) -> None:
        if self.video is not None:
            self.video.abort()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self) -> "LabelFolderWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.abort()

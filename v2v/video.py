"""Reading and writing videos with PyAV, one frame at a time.

* :func:`open_video` opens a video file (mp4, avi, mov, webm, mkv, ...) or a folder of png/jpg frames and returns a
  :class:`VideoStream`: iterating it yields RGB uint8 (H, W, 3) frames, decoded lazily (never the whole video in
  memory). Problems with the input (missing, empty, not a video, damaged) raise :class:`UserError`.
* :class:`VideoWriter` writes H.264 (libx264, yuv420p, ``+faststart``) into a temp file next to the target and
  renames it on a successful close, so a failed export never leaves a broken file behind.
* :func:`write_frames` writes frames as a numbered PNG folder, with the same all-or-nothing rule.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from fractions import Fraction
from pathlib import Path
from typing import Iterable, Iterator

import av
import cv2
import numpy as np

from .frame_files import list_frames
from .errors import UserError

VIDEO_EXTS = (".mp4", ".avi", ".mov", ".webm", ".mkv", ".m4v", ".mpg", ".mpeg", ".ogv", ".gif")
FRAME_EXTS = (".png", ".jpg", ".jpeg")
DEFAULT_FOLDER_FPS = 30.0
DEFAULT_CRF = 18  # x264 quality of every video the studio writes (CLI and app alike): near lossless
_CONTAINER = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska"}


class VideoStream:
    """A video opened for reading. Attributes: ``path``, ``fps`` (float), ``size`` (W, H) of the frames as
    yielded (after applying rotation metadata), ``codec`` ("png-folder" for frame folders) and ``num_frames``
    (counted from the container's packets without decoding; the length of the frame list for folders).

    Each iteration decodes from the start again; :meth:`frames` yields a range of frames.
    """

    def __init__(self, path: Path, fps: float, size: tuple[int, int], codec: str, files: list[Path] | None = None,
                 rotation: int = 0, header_frames: int = 0):
        self.path = path
        self.fps = fps
        self.size = size
        self.codec = codec
        self._files = files
        self._rotation = rotation
        self._header_frames = header_frames  # frame count the container claims (0: unknown)
        self._num_frames: int | None = len(files) if files is not None else None

    @property
    def is_folder(self) -> bool:
        return self._files is not None

    @property
    def num_frames(self) -> int:
        if self._num_frames is None:
            self._num_frames = self._count_packets()
        return self._num_frames

    def __len__(self) -> int:
        return self.num_frames

    def __iter__(self) -> Iterator[np.ndarray]:
        return self.frames()

    def frames(self, start: int = 0, stop: int | None = None) -> Iterator[np.ndarray]:
        """Yield frames ``start`` .. ``stop - 1`` (``stop=None``: to the end)."""
        if self._files is not None:
            for p in self._files[start:stop]:
                yield self._read_image(p)
            return
        yield from self._decode(start, stop)

    def _read_image(self, p: Path) -> np.ndarray:
        bgr = cv2.imread(str(p), cv2.IMREAD_COLOR)
        if bgr is None:
            raise UserError(f"cannot read frame {p}: not an image or damaged")
        if (bgr.shape[1], bgr.shape[0]) != self.size:
            raise UserError(f"frame {p} is {bgr.shape[1]}x{bgr.shape[0]} but the first frame of {self.path} is "
                            f"{self.size[0]}x{self.size[1]}; all frames of a folder need one size")
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)

    def _decode(self, start: int, stop: int | None) -> Iterator[np.ndarray]:
        index = 0
        try:
            with av.open(str(self.path)) as container:
                stream = container.streams.video[0]
                stream.thread_type = "AUTO"
                for frame in container.decode(stream):
                    if stop is not None and index >= stop:
                        return
                    if index >= start:
                        yield _to_rgb(frame, self._rotation)
                    index += 1
                self._check_truncated(index)
        except av.FFmpegError as e:
            raise UserError(f"video {self.path} is damaged or truncated: decoding failed after {index} frames "
                            f"({e}); re-encode or re-download it") from None

    def _count_packets(self) -> int:
        try:
            with av.open(str(self.path)) as container:
                stream = container.streams.video[0]
                count = sum(1 for p in container.demux(stream) if p.size > 0)
        except av.FFmpegError as e:
            raise UserError(f"video {self.path} is damaged: reading it failed ({e})") from None
        self._check_truncated(count)
        return count

    def _check_truncated(self, count: int) -> None:
        """The container header promised more frames than the file holds: it was cut short."""
        expected = self._header_frames
        if expected and count < expected - max(2, expected // 100):
            raise UserError(f"video {self.path} is truncated: it holds {count} of the {expected} frames its header "
                            "announces; copy or download it again")


def _to_rgb(frame: av.VideoFrame, rotation: int) -> np.ndarray:
    rgb = frame.to_ndarray(format="rgb24")
    if rotation:
        rgb = np.ascontiguousarray(np.rot90(rgb, k=rotation // 90))
    return rgb


def _open_folder(folder: Path, fps: float | None) -> VideoStream:
    files = list_frames(folder, FRAME_EXTS)
    if not files:
        raise UserError(f"folder {folder} has no .png or .jpg frames")
    first = cv2.imread(str(files[0]), cv2.IMREAD_COLOR)
    if first is None:
        raise UserError(f"cannot read frame {files[0]}: not an image or damaged")
    return VideoStream(folder, float(fps or DEFAULT_FOLDER_FPS), (first.shape[1], first.shape[0]), "png-folder",
                       files=files)


def open_video(path: str | Path, fps: float | None = None) -> VideoStream:
    """Open a video file or a folder of frames (in natural name order: f9 before f10). ``fps`` sets the rate of a frame folder
    (default 30); a file's own rate is used otherwise. The first frame is decoded to check the file."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"video {path} does not exist")
    if path.is_dir():
        return _open_folder(path, fps)
    if path.stat().st_size == 0:
        raise UserError(f"video {path} is empty (0 bytes); copy or export it again")
    try:
        container = av.open(str(path))
    except (av.FFmpegError, UnicodeDecodeError) as e:
        raise UserError(f"{path} is not a readable video, or it is truncated ({type(e).__name__}: {e}); "
                        f"use one of {', '.join(VIDEO_EXTS[:5])} or a folder of frames") from None
    try:
        if not container.streams.video:
            raise UserError(f"{path} has no video stream")
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        try:
            first = next(container.decode(stream), None)
        except av.FFmpegError as e:
            raise UserError(f"video {path} is damaged: its first frame cannot be decoded ({e})") from None
        if first is None:
            raise UserError(f"video {path} has no decodable frames; it may be truncated")
        rotation = int(round(getattr(first, "rotation", 0) or 0)) % 360
        rotation -= rotation % 90
        w, h = first.width, first.height
        if rotation in (90, 270):
            w, h = h, w
        codec = stream.codec_context.name
        header_frames = int(stream.frames or 0)
    finally:
        container.close()
    return VideoStream(path, float(fps or (float(rate) if rate else DEFAULT_FOLDER_FPS)), (w, h), codec,
                       rotation=rotation, header_frames=header_frames)


def even_pad(frame: np.ndarray) -> np.ndarray:
    """Pad an (H, W, 3) frame to even width and height by repeating its last column / row."""
    h, w = frame.shape[:2]
    if h % 2 == 0 and w % 2 == 0:
        return frame
    return np.pad(frame, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")


class _AllOrNothing:
    """``with`` support for writers whose output appears on ``close()`` and is dropped by ``abort()``: closed when
    the block ends normally, aborted when it raises."""

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.abort()
        else:
            self.close()


class VideoWriter(_AllOrNothing):
    """H.264 writer: ``with VideoWriter("out.mp4", fps=25) as w: w.write(rgb)``.

    Frames are RGB uint8 (H, W, 3), all of the size of the first; odd sizes are padded to even by replicating the
    last row/column (yuv420p needs even sizes). ``crf`` is x264's quality (lower is better, 18 is near lossless
    to the eye). The file appears at ``path`` only when the writer closes without an exception.
    """

    def __init__(self, path: str | Path, fps: float, crf: int = DEFAULT_CRF, preset: str = "medium"):
        self.path = Path(path)
        suffix = self.path.suffix.lower()
        if suffix not in _CONTAINER:
            raise UserError(f"cannot write H.264 into {self.path.name}: use a .mp4, .mov or .mkv name")
        if not fps or fps <= 0:
            raise UserError(f"fps must be positive, got {fps}")
        self.fps = float(fps)
        self.crf = int(crf)
        self.preset = preset
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.stem}.tmp-", suffix=suffix, dir=self.path.parent)
        os.close(fd)
        self.tmp = Path(tmp)
        options = {"movflags": "+faststart"} if _CONTAINER[suffix] in ("mp4", "mov") else {}
        self._container = av.open(str(self.tmp), mode="w", format=_CONTAINER[suffix], options=options)
        self._stream = None
        self.size: tuple[int, int] | None = None  # (W, H) of the input frames
        self.count = 0
        self.closed = False

    def _start(self, w: int, h: int) -> None:
        rate = Fraction(self.fps).limit_denominator(1001)
        stream = self._container.add_stream("libx264", rate=rate)
        stream.width, stream.height = w + w % 2, h + h % 2
        stream.pix_fmt = "yuv420p"
        # mbtree off: with it, x264 encoded the same frames differently from one process to the next (measured:
        # identical YUV input, two different B-frame streams, even with one thread); without it the same frames
        # give the same file, which "same seed, same video" needs. It costs a few percent of file size.
        stream.options = {"crf": str(self.crf), "preset": self.preset, "x264-params": "mbtree=0"}
        stream.codec_context.time_base = Fraction(1) / rate
        self._stream = stream
        self.size = (w, h)

    def write(self, frame: np.ndarray) -> None:
        frame = np.asarray(frame)
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise ValueError(f"VideoWriter expects (H, W, 3) uint8 RGB frames, got {frame.shape} {frame.dtype}")
        h, w = frame.shape[:2]
        if self._stream is None:
            self._start(w, h)
        elif (w, h) != self.size:
            raise ValueError(f"frame {self.count} is {w}x{h}, the video is {self.size[0]}x{self.size[1]}")
        vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(even_pad(frame)), format="rgb24")
        vf.pts = self.count
        for packet in self._stream.encode(vf):
            self._container.mux(packet)
        self.count += 1

    def close(self) -> Path:
        """Flush, close and move the file into place. Returns the final path."""
        if self.closed:
            return self.path
        try:
            if self._stream is None:
                raise ValueError(f"no frames were written to {self.path}")
            for packet in self._stream.encode(None):
                self._container.mux(packet)
            self._container.close()
            self.tmp.replace(self.path)
        except BaseException:
            self.abort()
            raise
        self.closed = True
        return self.path

    def abort(self) -> None:
        """Drop the partial file."""
        if self.closed:
            return
        self.closed = True
        try:
            self._container.close()
        except (av.FFmpegError, ValueError, OSError):
            pass
        self.tmp.unlink(missing_ok=True)



class VideoSet(_AllOrNothing):
    """Several videos of one job written frame by frame together (the result and its extras: flow, mask, a
    side-by-side), all or none: ``close()`` moves them into place, the first name last (so the main video appears
    only when every other did) and takes back the ones already placed if a later one fails; ``abort()`` drops
    them all. The one way the CLI, the engine and the app write videos."""

    def __init__(self, paths: dict[str, str | Path], fps: float, crf: int = DEFAULT_CRF):
        if not paths:
            raise ValueError("VideoSet needs at least one video")
        self.writers: dict[str, VideoWriter] = {}
        try:
            for name, path in paths.items():
                self.writers[name] = VideoWriter(path, fps, crf=crf)
        except BaseException:
            self.abort()
            raise

    @property
    def count(self) -> int:
        """Frames written to the first video."""
        return next(iter(self.writers.values())).count

    def write(self, frames: dict[str, np.ndarray]) -> None:
        """One frame of every video: ``frames`` has a picture for each name."""
        try:
            for name, w in self.writers.items():
                w.write(frames[name])
        except BaseException:
            self.abort()
            raise

    def close(self) -> dict[str, Path]:
        """Move every video into place; returns {name: path}."""
        names = list(self.writers)
        placed: dict[str, Path] = {}
        try:
            for name in [*names[1:], names[0]]:
                placed[name] = self.writers[name].close()
        except BaseException:
            self.abort()
            for path in placed.values():
                path.unlink(missing_ok=True)
            raise
        return {name: placed[name] for name in names}

    def abort(self) -> None:
        for w in self.writers.values():
            w.abort()


def write_frames(folder: str | Path, frames: Iterable[np.ndarray], overwrite: bool = False) -> int:
    """Write RGB frames as ``folder/000000.png`` ...; returns the count. The folder appears complete or not at all;
    an existing non-empty folder is refused unless ``overwrite``."""
    folder = Path(folder)
    if folder.exists() and any(folder.iterdir()) and not overwrite:
        raise UserError(f"output folder {folder} already exists and is not empty; choose another or remove it")
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=folder.name + ".tmp-", dir=folder.parent))
    count = 0
    try:
        for frame in frames:
            frame = np.asarray(frame)
            bgr = cv2.cvtColor(frame, cv2.COLOR_RGB2BGR) if frame.ndim == 3 else frame
            if not cv2.imwrite(str(tmp / f"{count:06d}.png"), bgr):
                raise OSError(f"could not write frame {count} to {tmp}")
            count += 1
        if folder.exists():
            shutil.rmtree(folder)
        tmp.rename(folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return count

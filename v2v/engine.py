"""The inference engine: an exported model + a conditioning clip -> generated frames, streamed.

``Engine.load(model_dir)`` reads a model folder (``v2v.checkpoint.load_model``) and prepares it for inference:
weights in bf16 when the precision resolves to bf16 (``"auto"``, the default: only where the hardware has native
bf16, see :mod:`v2v.precision`; cast once, not at every layer call), channels-last layout, and the exact
fast layers of :mod:`v2v.nn.fast` (the one-hot lookup for the first convolutions, the batch-norm kernel for
instance norm). ``Engine.frames(clip, ...)`` yields one dict of uint8 pictures per frame while only the
Synthesizer's window of L+1 conditioning frames and L outputs is kept, so memory does not grow with the video.
Every ``frames`` call has its own Synthesizer, so one Engine serves concurrent jobs (threads) without a lock.
``Engine.synthesize(clip, "out.mp4")`` writes browser-playable H.264 atomically.

On the fly, per frame: ``relabel`` ({"vegetation": "building"} or ids; every frame), ``edits`` (painted label maps
for single frames, -1 = keep), style features from :mod:`v2v.style` when the model reads them, ``progress(done,
total)`` after each frame, and ``cancel`` (a ``threading.Event``) checked before each frame.

Inputs come from :func:`open_input` (see :mod:`v2v.inputs.clip`); ``Engine.open(path)`` fills in the model's kind,
size and pose statistics.
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch

from . import kinds
from .checkpoint import load_model, read_model_config
from .config import ModelConfig, check_size
from .edits import class_id
from .errors import UserError
from .inputs.clip import InputClip, open_input, street_clip
from .inputs.pose_render import render_pose
from .labels import LabelSet
from .local_edit import edit_weight
from .nn.fast import enable_fast_inference
from .pipeline import Synthesizer
from .precision import resolve_precision
from .predict.clip import with_future
from .style import STUFF_TRACK_BASE, StyleBank, StyleRequest, StyleSampler, track_objects
from .video import DEFAULT_CRF, VideoSet
from .visualize import flow_to_uint8, image_to_uint8, mask_to_uint8

# The front door: the app imports the library only through this module, edits, labels, kinds, errors and video.
__all__ = ["Engine", "InputClip", "open_input", "model_kind", "read_model_kind", "resolve_relabel", "StyleRequest",
           "track_objects", "STUFF_TRACK_BASE", "with_future", "render_pose"]

EXTRAS = ("flow", "mask", "warped")  # the extra videos of --save-extras, beside the main one


def model_kind(cfg: ModelConfig) -> str:
    """The name of the model's kind (street / pose / face), which follows its label set."""
    return kinds.of_label_set(cfg.labels).name


def read_model_kind(model_dir: str | Path) -> str:
    """The kind of the exported model in ``model_dir``, from its config.json alone (no weights are read)."""
    cfg, _ = read_model_config(model_dir)
    return model_kind(cfg)


def resolve_relabel(ls: LabelSet, relabel: dict | None) -> dict[int, int]:
    """{from: to} with class names or ids -> {from_id: to_id}; unknown classes raise UserError."""
    if not relabel:
        return {}
    if ls.encoding != "onehot":
        raise UserError(f"relabelling needs a label set of classes; {ls.name!r} models read images")
    return {class_id(ls, a): class_id(ls, b) for a, b in relabel.items()}


def _meta_size(meta: dict) -> tuple[int, int] | None:
    """The (W, H) the model was trained at: meta "size", else the size of the training dataset if readable."""
    size = meta.get("size")
    if size:
        return int(size[0]), int(size[1])
    ds = meta.get("dataset")
    if ds:
        try:
            data = json.loads((Path(ds) / "dataset.json").read_text())
            return int(data["size"][0]), int(data["size"][1])
        except (OSError, ValueError, KeyError, TypeError, IndexError):
            return None
    return None


class Engine:
    """A loaded model ready to synthesise. Attributes: ``config``, ``kind``, ``size`` (W, H) or None, ``meta``,
    ``networks``, ``device``, ``precision``, ``style_bank`` (or None), ``fast`` (what enable_fast_inference did)."""

    def __init__(self, config: ModelConfig, networks: torch.nn.ModuleDict, meta: dict | None = None,
                 extra: dict | None = None, device: str | torch.device = "cpu", precision: str = "auto",
                 fast: bool = True):
        try:  # auto: bf16 where the hardware has it, else fp32 (v2v.precision)
            precision = resolve_precision(precision, device)
        except ValueError as e:
            raise UserError(str(e)) from None
        self.config = config
        self.kind = model_kind(config)
        self.meta = meta or {}
        self.size = _meta_size(self.meta)
        self.device = torch.device(device)
        self.precision = precision
        self.networks = networks.to(self.device).eval()
        for name in ("generator", "first_frame"):  # the encoder stays fp32: v2v.style calls it outside autocast
            if name in self.networks:
                net = self.networks[name]
                if precision == "bf16":
                    net.to(torch.bfloat16)
                net.to(memory_format=torch.channels_last)
        self.fast = enable_fast_inference(self.networks, config) if fast else {}
        self.style_bank = None
        if extra:
            self.style_bank = StyleBank.from_tensors({k: v for k, v in extra.items() if k.startswith("style.")},
                                                     config.labels)

    def new_synthesizer(self) -> Synthesizer:
        """A fresh recurrence over this engine's networks. Each :meth:`frames` call makes its own, so one Engine
        serves concurrent jobs (the networks are only read; the fast layers' per-call state is thread-local)."""
        return Synthesizer(self.config, self.networks, self.device, self.precision, channels_last=True)

    @classmethod
    def load(cls, model_dir: str | Path, device: str = "cpu", precision: str = "auto", fast: bool = True) -> "Engine":
        if str(device).startswith("cuda") and not torch.cuda.is_available():
            raise UserError("--device cuda was asked for but no CUDA GPU is available; use --device cpu")
        m = load_model(model_dir, device)
        return cls(m["config"], m["networks"], m["meta"], m["extra"], device, precision, fast)

    # ------------------------------------------------------------------------------------------------ inputs
    def open(self, path: str | Path, size: tuple[int, int] | None = None, **kwargs) -> InputClip:
        """open_input for this model: its kind, its size (unless ``size``), its pose statistics (meta
        "pose_stats") for normalising driving poses unless ``normalize_stats`` is given."""
        if kinds.get(self.kind).keypoints and "normalize_stats" not in kwargs and self.meta.get("pose_stats"):
            kwargs["normalize_stats"] = self.meta["pose_stats"]
        label_set = self.config.labels
        if label_set.encoding == "onehot":
            kwargs.setdefault("label_set", label_set)
        return open_input(path, self.kind, size or self.size, **kwargs)

    def open_arrays(self, labels, instances=None, fps: float = 17.0, size: tuple[int, int] | None = None
                    ) -> InputClip:
        """A street clip from (N, H, W) label (and instance) id arrays in memory, at ``size`` (default: the
        model's size, else the arrays'); see :func:`v2v.inputs.clip.street_clip`."""
        if not kinds.get(self.kind).label_ids:
            raise UserError(f"label id arrays are input for street models; this is a {self.kind} model")
        return street_clip(labels, instances, fps, size or self.size, self.config.labels)

    def check_size(self, size: tuple[int, int]) -> None:
        """UserError naming the nearest valid size when the network cannot take (W, H)."""
        try:
            check_size(int(size[0]), int(size[1]), self.config.size_multiple)
        except ValueError as e:
            raise UserError(str(e)) from None

    # --------------------------------------------------------------------------------------------- per frame
    def _relabel_table(self, relabel: dict | None) -> torch.Tensor | None:
        mapping = resolve_relabel(self.config.labels, relabel)
        if not mapping:
            return None
        table = torch.arange(self.config.labels.num_classes)
        for a, b in mapping.items():
            table[a] = b
        return table

    def _check_edits(self, edits: dict | None, size: tuple[int, int]) -> dict[int, torch.Tensor]:
        if not edits:
            return {}
        ls = self.config.labels
        if ls.encoding != "onehot":
            raise UserError(f"label edits need a label set of classes; {ls.name!r} models read images")
        out = {}
        for index, arr in edits.items():
            a = torch.as_tensor(np.asarray(arr)).long()
            if a.dim() == 3 and a.shape[0] == 1:
                a = a[0]
            if tuple(a.shape) != (size[1], size[0]):
                raise UserError(f"label edit of frame {index} is {tuple(a.shape)[::-1]} (W, H); the frames are "
                                f"{size[0]}x{size[1]}")
            bad = a[(a < -1) | (a >= ls.num_classes)]
            if bad.numel():
                raise UserError(f"label edit of frame {index} holds id {int(bad[0])}, outside label set "
                                f"{ls.name!r} (0..{ls.num_classes - 1}, -1 = keep)")
            out[int(index)] = a
        return out

    def _check_labels(self, labels: torch.Tensor, index: int) -> None:
        ls = self.config.labels
        if ls.encoding == "onehot":
            if labels.dim() != 3:
                raise UserError(f"frame {index}: a {self.kind} model needs (1, H, W) label ids, got "
                                f"{tuple(labels.shape)}")
            lo, hi = int(labels.min()), int(labels.max())
            if lo < 0 or hi >= ls.num_classes:
                bad = sorted({int(v) for v in labels.unique() if not 0 <= int(v) < ls.num_classes})[:8]
                raise UserError(f"frame {index}: label ids {bad} are outside label set {ls.name!r} "
                                f"(valid 0..{ls.num_classes - 1}); use labelIds (not trainIds) or the right model")
        elif labels.dim() != 4 or labels.shape[1] != ls.image_channels:
            raise UserError(f"frame {index}: a {self.kind} model reads {ls.image_channels}-channel maps, got shape "
                            f"{tuple(labels.shape)}; is this input for another kind of model?")

    def _style_sampler(self, style):
        if not self.config.feature_channels:
            return None
        encoder = self.networks["encoder"] if "encoder" in self.networks else None
        return StyleSampler(self.style_bank, style, self.config, encoder,
                            color_features=self.meta.get("style_features") == "rgb")

    def _labels_color(self, labels: torch.Tensor) -> np.ndarray:
        ls = self.config.labels
        if ls.encoding == "onehot":
            return ls.palette()[labels[0].clamp(0, ls.num_classes - 1).numpy()]
        maps = labels[0].permute(1, 2, 0).numpy()
        return np.repeat(maps, 3, 2) if maps.shape[2] == 1 else np.ascontiguousarray(maps)

    def frames(self, source: InputClip, relabel: dict | None = None, edits: dict | None = None, style=None,
               progress: Callable[[int, int], None] | None = None, cancel=None, extras: bool = True
               ) -> Iterator[dict]:
        """Generated frames of ``source``, one dict per frame: ``index``, ``image`` (H, W, 3) uint8,
        ``labels_color`` (the conditioning picture, after relabelling and edits) and, for frames made by the
        sequential generator and when ``extras``, ``flow`` (colour-coded), ``mask`` (m: white = hallucinated),
        ``warped`` (the warped previous frame) and ``raw`` (the hallucinated frame h)."""
        if source.kind != self.kind:
            raise UserError(f"this is a {self.kind} model but the input is {source.kind} input ({source.description})")
        self.check_size(source.size)
        lut = self._relabel_table(relabel)
        painted = self._check_edits(edits, source.size)
        sampler = self._style_sampler(style)
        # re-rolled or painted tracks: a second, plain recurrence keeps every other pixel as it was (v2v.local_edit)
        local = sampler.request.local_tracks if sampler is not None else frozenset()
        plain_sampler = self._style_sampler(style.without_local_edits()) if local else None
        plain = self.new_synthesizer() if local else None
        synth = self.new_synthesizer()
        onehot = self.config.labels.encoding == "onehot"
        total = source.num_frames or 0
        for item in source:
            if cancel is not None and cancel.is_set():
                return
            index = item["index"]
            labels, instances, mask = item["labels"], item.get("instances"), item.get("mask")
            self._check_labels(labels, index)
            if onehot:
                if lut is not None:
                    labels = lut[labels]
                if index in painted:
                    p = painted[index].unsqueeze(0)
                    labels = torch.where(p >= 0, p, labels)
            features = None
            if sampler is not None:
                features = sampler.features(labels, instances, index)
            out = synth.step(labels, instances, mask, features)
            if plain is not None:
                plain.step(labels, instances, mask, plain_sampler.feature_map(labels, sampler.track_map,
                                                                              sampler.tracker.tracks))
                out["image"] = synth.blend_last(plain, edit_weight(sampler.track_map, local))
            frame = {"index": index, "image": image_to_uint8(out["image"]), "labels_color": self._labels_color(labels)}
            if extras and "flow" in out:
                frame.update(flow=flow_to_uint8(out["flow"]), mask=mask_to_uint8(out["mask"]),
                             warped=image_to_uint8(out["warped_image"]), raw=image_to_uint8(out["raw_image"]))
            if progress is not None:
                progress(index + 1, total)
            yield frame

    # ------------------------------------------------------------------------------------------------- video
    def synthesize(self, source: InputClip, output_mp4: str | Path, save_extras: bool = False, crf: int = DEFAULT_CRF,
                   **kwargs) -> dict:
        """Write the generated video (and with ``save_extras`` OUT_flow.mp4, OUT_mask.mp4, OUT_warped.mp4 beside
        it). Nothing appears at the output paths on error or cancel. ``kwargs`` go to :meth:`frames`.

        Returns {"output", "extras" ({name: path}), "frames", "seconds", "frames_per_s", "size", "fps",
        "cancelled", "device", "precision", "warnings"}; a cancelled run has "output" None."""
        out = Path(output_mp4)
        paths = {"image": out}
        if save_extras:
            paths.update({k: out.with_name(f"{out.stem}_{k}{out.suffix}") for k in EXTRAS})
        self.check_size(source.size)
        start = time.perf_counter()
        cancel = kwargs.get("cancel")
        videos = VideoSet(paths, source.fps, crf=crf)
        try:
            for frame in self.frames(source, extras=save_extras, **kwargs):
                pictures = {"image": frame["image"]}
                if save_extras:
                    h, w = frame["image"].shape[:2]
                    pictures.update(flow=frame.get("flow", _blank(h, w, 255)),
                                    mask=frame.get("mask", _blank(h, w, 255)),  # first frames: all hallucinated
                                    warped=frame.get("warped", _blank(h, w, 0)))
                videos.write(pictures)
            count = videos.count
            if count == 0 and not (cancel is not None and cancel.is_set()):
                raise UserError(f"the input has no frames ({source.description})")
        except BaseException:
            videos.abort()
            raise
        seconds = time.perf_counter() - start
        report = {"output": None, "extras": {}, "frames": count, "seconds": round(seconds, 3),
                  "frames_per_s": round(count / max(seconds, 1e-9), 3), "size": list(source.size),
                  "fps": source.fps, "cancelled": False, "device": str(self.device), "precision": self.precision,
                  "warnings": list(source.warnings)}
        if cancel is not None and cancel.is_set():
            videos.abort()
            report["cancelled"] = True
            return report
        placed = videos.close()  # extras first, the main video last
        report["output"] = str(placed["image"])
        report["extras"] = {k: str(v) for k, v in placed.items() if k != "image"}
        return report


def _blank(h: int, w: int, value: int) -> np.ndarray:
    return np.full((h, w, 3), value, np.uint8)

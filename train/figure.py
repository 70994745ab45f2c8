"""``python -m train.figure``: chosen frames of held-out sequences, as one or more models draw them, in a grid
(rows: frames; columns: the input, optionally the real frame, then each model) — the sample figures of the model
cards, made the same way every session:

    python -m train.figure --dataset data/cityscapes_256 --sequence seq0004 --frames 0 10 20 29 \\
        --model before=assets/models/street_256 --model after=runs/street_256_s28/export \\
        --out docs/samples/street_before_after.png

Each model synthesises the sequence from its first frame, as inference does (``v2v.evaluate.synthesize_sequence``,
at the model's training size). ``--real`` adds the real frames: for looking, not for committing when the footage
may not be redistributed (Cityscapes).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

from v2v.errors import UserError


def input_picture(frame: dict, label_set) -> np.ndarray:
    """What the model was given, as a picture: label ids coloured with the label set's palette, or the rendered
    conditioning image (pose maps, face sketches) as it is."""
    from v2v.labels import colorize

    labels = frame["labels"]
    if label_set.encoding == "onehot":
        return colorize(labels, label_set)
    return labels if labels.ndim == 3 else np.repeat(labels[:, :, None], 3, 2)


def caption(picture: np.ndarray, text: str) -> np.ndarray:
    """The picture with ``text`` in its top-left corner (white on a dark band, readable on any frame)."""
    out = np.ascontiguousarray(picture.copy())
    scale = max(0.35, picture.shape[0] / 600)
    (w, h), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    out[: h + base + 4, : w + 6] = (out[: h + base + 4, : w + 6] * 0.35).astype(out.dtype)
    cv2.putText(out, text, (3, h + 2), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1, cv2.LINE_AA)
    return out


def grid(rows: list[list[np.ndarray]]) -> np.ndarray:
    """Rows of equally sized pictures -> one picture."""
    return np.concatenate([np.concatenate(row, 1) for row in rows], 0)


def make_figure(dataset: str | Path, sequence: str, frames: list[int], models: list[tuple[str, str | Path]],
                show_real: bool = False) -> np.ndarray:
    from v2v.checkpoint import load_model
    from v2v.dataset_format import open_dataset
    from v2v.engine import _meta_size
    from v2v.evaluate import evaluation_size, resize_frame, synthesize_sequence

    if not models:
        raise UserError("give at least one --model NAME=PATH")
    if any(f < 0 for f in frames):
        raise UserError(f"--frames are frame numbers from 0, got {frames}")
    index = open_dataset(dataset)
    known = [s.name for s in index.sequences]
    if sequence not in known:
        raise UserError(f"sequence {sequence!r} is not in {dataset} (has: {', '.join(known)})")
    seq = index.sequence(sequence)
    n = seq.num_frames
    if max(frames) >= n:
        raise UserError(f"sequence {sequence} has {n} frames (0-{n - 1}); --frames asks for {max(frames)}")
    columns: list[tuple[str, list[np.ndarray]]] = []
    size = label_set = None
    for name, path in models:
        model = load_model(path)
        cfg = model["config"]
        if index.label_set != cfg.label_set:
            raise UserError(f"model {name} ({path}) expects label set {cfg.label_set!r}, {dataset} has "
                            f"{index.label_set!r}")
        model_size = evaluation_size(_meta_size(model["meta"]), index, None, cfg.size_multiple)[0]
        if size is not None and model_size != size:
            raise UserError(f"model {name} draws at {model_size[0]}x{model_size[1]}, the first model at "
                            f"{size[0]}x{size[1]}: compare models of one size")
        size, label_set = model_size, label_set or cfg.labels
        out = synthesize_sequence(cfg, model["networks"], index, sequence, max(frames) + 1, "cpu", "fp32", size)
        columns.append((name, [out["fakes"][f] for f in frames]))
    rows = []
    for k, f in enumerate(frames):
        frame = resize_frame(index.load_frame(seq, f, parts={"labels", "image"}), size,
                             label_set.encoding == "onehot")
        row = [caption(input_picture(frame, label_set), f"input, frame {f}")]
        if show_real:
            if frame.get("image") is None:
                raise UserError(f"{dataset} has no real frames to show (--real)")
            row.append(caption(frame["image"], "real"))
        row += [caption(pictures[k], name) for name, pictures in columns]
        rows.append(row)
    return grid(rows)


def parse_model(spec: str) -> tuple[str, str]:
    name, sep, path = spec.partition("=")
    if not sep or not name or not path:
        raise UserError(f"--model {spec!r}: give NAME=PATH, e.g. --model shipped=assets/models/street_256")
    return name, path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m train.figure", description=__doc__.split("\n\n")[0])
    p.add_argument("--dataset", required=True, help="prepared dataset (held-out frames)")
    p.add_argument("--sequence", required=True)
    p.add_argument("--frames", type=int, nargs="+", required=True, help="frame numbers (rows of the figure)")
    p.add_argument("--model", action="append", required=True, metavar="NAME=PATH", help="a column; repeat")
    p.add_argument("--real", action="store_true", help="add the real frames (for looking; see the module notes)")
    p.add_argument("--out", type=Path, required=True, help="PNG to write")
    args = p.parse_args(argv)
    try:
        picture = make_figure(args.dataset, args.sequence, args.frames, [parse_model(m) for m in args.model],
                              args.real)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    args.out.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(args.out), cv2.cvtColor(picture, cv2.COLOR_RGB2BGR)):
        print(f"error: could not write {args.out}", file=sys.stderr)
        return 2
    print(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())

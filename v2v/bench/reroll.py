"""``python -m v2v.bench reroll --checkpoint MODEL --input LABELS [--frames 30] [--track ID|largest-car|road]
[--seed 5] [--reroll-seed 99] [--color '#c02020'] [--json]``: how local a re-roll is.

Synthesises the input twice at the model's size, once as it is and once with one track re-rolled (or painted
``--color``), and compares the two videos in grey levels (0..255, mean over RGB): ``inside`` is the mean absolute
change over the track's pixels, ``outside`` over every pixel beyond the track grown by ``--margin`` pixels (the
few pixels at an object's border belong to neither: the generators draw an edge across it), ``ratio`` is
inside / outside (None when nothing outside changed). Tracks are the ids ``v2v style tracks`` lists;
``largest-car`` picks the car with the most pixels, ``road`` the road's stuff track.
"""
from __future__ import annotations

import json
import sys
import time

import numpy as np


def register(sub) -> None:
    p = sub.add_parser("reroll", help="how much a re-roll changes its object and everything else")
    p.add_argument("--checkpoint", required=True, help="exported street model with a style bank")
    p.add_argument("--input", required=True, help="label folder, vid2vid folder, dataset or scene")
    p.add_argument("--sequence", help="sequence of a dataset or vid2vid folder")
    p.add_argument("--frames", type=int, default=30, help="frames from the start (default 30)")
    p.add_argument("--track", default="largest-car", help="track id, largest-car (default) or road")
    p.add_argument("--seed", type=int, default=5, help="style seed of both runs")
    p.add_argument("--reroll-seed", type=int, default=99)
    p.add_argument("--color", help="paint the track this colour (#rrggbb) instead of re-rolling it")
    p.add_argument("--margin", type=int, default=4, help="pixels around the track counted as neither (default 4)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=run)


def pick_track(objects: list[dict], which: str) -> int:
    """A track id from ``--track``: a number, ``largest-car`` or ``road``."""
    from ..style import STUFF_TRACK_BASE

    if which == "road":
        return STUFF_TRACK_BASE + 7
    if which == "largest-car":
        cars = [o for o in objects if o["class"] == "car"]
        if not cars:
            raise ValueError("the input has no car to re-roll; pass --track ID (see `v2v style tracks`)")
        return max(cars, key=lambda o: o["pixels"])["id"]
    try:
        return int(which)
    except ValueError:
        raise ValueError(f"--track must be a track id, largest-car or road, not {which!r}") from None


def run(args) -> int:
    import cv2

    from ..engine import Engine
    from ..style import StyleRequest, track_objects

    engine = Engine.load(args.checkpoint)
    if args.frames < 1:
        raise ValueError("--frames must be at least 1")
    clip = engine.open(args.input, sequence=args.sequence, frames=f"0:{args.frames}")
    labels = [item["labels"][0].numpy() for item in clip]
    instances = [item["instances"][0].numpy() if item.get("instances") is not None else None for item in clip]
    maps: list[np.ndarray] = []
    objects = track_objects(labels, instances if instances[0] is not None else None, engine.config.labels,
                            maps=maps)
    track = pick_track(objects, args.track)
    edit = {"colors": {track: args.color}} if args.color else {"rerolls": {track: args.reroll_seed}}

    def video(**style) -> tuple[np.ndarray, float]:
        start = time.perf_counter()
        frames = [f["image"] for f in engine.frames(clip, style=StyleRequest(seed=args.seed, **style), extras=False)]
        return np.stack(frames).astype(np.float32), time.perf_counter() - start

    plain, plain_s = video()
    edited, edited_s = video(**edit)
    inside = np.stack(maps) == track
    if not inside.any():
        raise ValueError(f"track {track} has no pixels in the first {args.frames} frames")
    kernel = np.ones((2 * args.margin + 1,) * 2, np.uint8)
    near = np.stack([cv2.dilate(m.astype(np.uint8), kernel) for m in inside]).astype(bool)
    diff = np.abs(edited - plain).mean(-1)
    result = {"track": track, "frames": len(maps), "size": list(plain.shape[2:0:-1]),
              "track_share": float(inside.mean()), "inside": float(diff[inside].mean()),
              "outside": float(diff[~near].mean()), "outside_max": float(diff[~near].max()),
              "seconds_plain": plain_s, "seconds_edited": edited_s}
    result["ratio"] = result["inside"] / result["outside"] if result["outside"] > 0 else None  # None: nothing leaked
    if args.json:
        print(json.dumps(result))
        return 0
    what = f"painted {args.color}" if args.color else f"re-rolled (seed {args.reroll_seed})"
    print(f"track {track} {what}, {result['frames']} frames {result['size'][0]}x{result['size'][1]}, "
          f"{100 * result['track_share']:.1f}% of the pixels", file=sys.stderr)
    print(f"change inside {result['inside']:.2f} grey levels, outside (beyond {args.margin} px) "
          f"{result['outside']:.3f} (max {result['outside_max']:.1f}), ratio "
          f"{'inf' if result['ratio'] is None else format(result['ratio'], '.1f')}; "
          f"{plain_s:.1f} s plain, {edited_s:.1f} s edited")
    return 0

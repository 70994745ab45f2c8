"""Example inputs that ship with the app, all made by the project's own code.

* **Street scenes** — ``assets/examples/street_scene_<seed>/``: procedural label videos written by
  ``python -m v2v scene`` (``labels/`` 8-bit Cityscapes ids, ``instances/`` 16-bit ids,
  ``labels_color.mp4`` preview, ``scene.json``). Regenerate them with ``python -m app.examples``.
* **Procedural dance** — :func:`dance_keypoints` animates a stick figure (MediaPipe body landmark layout, see
  :mod:`v2v.inputs.pose_render`) that sways, bounces and waves its arms. It needs no video and no pose
  extraction, so the motion tab can run without any upload; nothing of it is stored.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES_DIR = ROOT / "assets" / "examples"
STREET_SEEDS = (1, 2)
STREET_FRAMES = 24
STREET_SIZE = (256, 128)
PROCEDURAL_DANCE = "procedural dance (built in)"


def street_example_dirs() -> dict[str, Path]:
    """{name: folder} of the shipped street scenes that are present."""
    if not EXAMPLES_DIR.is_dir():
        return {}
    return {p.name: p for p in sorted(EXAMPLES_DIR.glob("street_scene_*")) if (p / "labels").is_dir()}


def scene_commands(root: Path = EXAMPLES_DIR, seeds=STREET_SEEDS, frames: int = STREET_FRAMES,
                   size: tuple[int, int] = STREET_SIZE) -> list[list[str]]:
    """The ``v2v scene`` command lines that write the street scene examples."""
    return [[sys.executable, "-m", "v2v", "scene", "--out", str(root / f"street_scene_{seed}"), "--frames",
             str(frames), "--size", f"{size[0]}x{size[1]}", "--seed", str(seed), "--overwrite"] for seed in seeds]


# ------------------------------------------------------------------------------------------------ procedural dance
def dance_keypoints(frames: int, size: tuple[int, int], fps: float = 24.0, seed: int = 0) -> list[dict]:
    """Keypoint dicts (``{"width", "height", "body": 33 x [x, y, visibility], hands/face None}``) of a figure
    dancing in place, one per frame, in pixels of a ``size`` (W, H) frame. The figure stands centred with its
    feet near the bottom and is about 80 % of the frame tall; ``seed`` shifts the phases of the movements."""
    w, h = size
    rng = np.random.default_rng(seed)
    phase = rng.uniform(0, 2 * np.pi, 4)
    t = np.arange(frames) / fps
    beat = 2 * np.pi * 1.0 * t  # one beat per second
    tall = 0.8 * h
    feet_y = 0.92 * h
    sway = 0.04 * w * np.sin(beat / 2 + phase[0])  # whole-body sideways sway
    bounce = 0.03 * tall * (1 - np.cos(beat + phase[1])) / 2  # hips drop on the beat
    cx = w / 2 + sway

    def pt(x, y):
        return np.stack([np.broadcast_to(x, t.shape), np.broadcast_to(y, t.shape)], -1)

    up = lambda frac: feet_y - frac * tall  # noqa: E731  (height fraction -> image y)
    # person's left is the image's right (the figure faces the camera)
    hip_y = up(0.52) + bounce
    sh_y = up(0.82) + bounce
    body = np.zeros((frames, 33, 2))
    body[:, 0] = pt(cx, up(0.92) + bounce)  # nose
    for i, dx, dy in ((1, 0.015, -0.02), (2, 0.025, -0.02), (3, 0.035, -0.02), (4, -0.015, -0.02),
                      (5, -0.025, -0.02), (6, -0.035, -0.02), (7, 0.05, -0.01), (8, -0.05, -0.01),
                      (9, 0.02, 0.025), (10, -0.02, 0.025)):
        body[:, i] = body[:, 0] + np.array([dx * tall, dy * tall])
    for side, sign in ((0, 1), (1, -1)):  # 0: person's left (+x), 1: right (-x)
        shoulder = pt(cx + sign * 0.11 * tall, sh_y)
        hip = pt(cx + sign * 0.07 * tall, hip_y)
        # arm angle from hanging down (0) to straight up (pi), alternating sides
        raise_ = 0.35 + 1.1 * (1 + np.sin(beat + phase[2] + side * np.pi)) / 2
        elbow = shoulder + 0.17 * tall * np.stack([sign * np.sin(raise_), np.cos(raise_)], -1)
        fore = raise_ + 0.6 * np.sin(2 * beat + phase[3])
        wrist = elbow + 0.15 * tall * np.stack([sign * np.sin(fore), np.cos(fore)], -1)
        knee_out = 0.02 * tall + bounce * 0.8
        ankle = pt(cx + sign * 0.08 * tall + 0 * sway, feet_y)
        knee = (hip + ankle) / 2 + np.stack([sign * knee_out, np.zeros_like(t)], -1)
        body[:, 11 + side] = shoulder
        body[:, 13 + side] = elbow
        body[:, 15 + side] = wrist
        for k, off in ((17, (0.02, 0.03)), (19, (0.0, 0.035)), (21, (-0.015, 0.02))):  # pinky, index, thumb
            body[:, k + side] = wrist + np.array([sign * off[0] * tall, off[1] * tall])
        body[:, 23 + side] = hip
        body[:, 25 + side] = knee
        body[:, 27 + side] = ankle
        body[:, 29 + side] = ankle + np.array([-sign * 0.01 * tall, 0.015 * tall])  # heel
        body[:, 31 + side] = ankle + np.array([sign * 0.03 * tall, 0.02 * tall])  # foot index
    out = []
    for f in range(frames):
        pts = np.concatenate([body[f], np.ones((33, 1))], 1)
        out.append({"width": int(w), "height": int(h), "body": np.round(pts, 2).tolist(),
                    "left_hand": None, "right_hand": None, "face": None})
    return out


def main() -> int:
    p = argparse.ArgumentParser(description="regenerate the app's street scene examples (runs `python -m v2v scene`)")
    p.add_argument("--root", type=Path, default=EXAMPLES_DIR)
    args = p.parse_args()
    for cmd in scene_commands(args.root):
        subprocess.run(cmd, check=True, cwd=ROOT)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Small synthetic datasets the tests make themselves: a textured street-like scene with a moving car."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from v2v.dataset_format import DatasetWriter
from v2v.labels import CITYSCAPES


def street_frames(n: int, size=(64, 32), seed: int = 0):
    """Yields (labels, instances, image) for n frames: sky, building, road, and a car moving right."""
    w, h = size
    rng = np.random.default_rng(seed)
    texture = rng.integers(-12, 12, (h, w + 2 * n, 3))
    for t in range(n):
        labels = np.full((h, w), 23, np.uint8)  # sky
        labels[h // 4: h // 2, :] = 11  # building
        labels[h // 2:, :] = 7  # road
        inst = np.zeros((h, w), np.int32)
        x0 = 4 + 2 * t
        labels[h // 2 - 2: h // 2 + 6, x0: x0 + 12] = 26  # car
        inst[h // 2 - 2: h // 2 + 6, x0: x0 + 12] = 1
        pal = CITYSCAPES.palette().astype(int)
        image = pal[labels] + texture[:, 2 * t: 2 * t + w]  # scene texture scrolls with the camera
        yield labels, inst, np.clip(image, 0, 255).astype(np.uint8)


def make_street_dataset(root: Path, frames: int = 8, size=(64, 32), sequences=("seqA",)) -> Path:
    from v2v.flow import ground_truth_flow

    with DatasetWriter(root, "street", size=size, fps=10, source="tests") as ds:
        for k, name in enumerate(sequences):
            seq = ds.sequence(name)
            prev = None
            for t, (labels, inst, image) in enumerate(street_frames(frames, size, seed=k)):
                seq.add(t, labels=labels, instances=inst, image=image)
                if prev is not None:
                    seq.add_flow(t, *ground_truth_flow(image, prev))
                prev = image
    return root


def tiny_trainer(tmp_path: Path, frames: int = 4, overrides=()):
    """A Trainer on train/configs/tiny_test.yaml over a synthetic street clip of ``frames`` frames (sequences of
    all of them), and that clip as one training batch. Seeds torch first."""
    import torch

    from train.config import load_config
    from train.distributed import DistInfo
    from train.trainer import Trainer
    from v2v.dataset import VideoDataset
    from v2v.dataset_format import open_dataset

    torch.manual_seed(0)
    ds = make_street_dataset(tmp_path / "clip", frames=frames, size=(64, 32))
    cfg = load_config(Path(__file__).resolve().parents[1] / "train" / "configs" / "tiny_test.yaml",
                      [f"data.root={ds}", f"out_dir={tmp_path / 'run'}", f"schedule.n_frames_start={frames}",
                       f"schedule.n_frames_max={frames}", *overrides])
    item = VideoDataset(open_dataset(ds), frames, flip=False)[0]
    return Trainer(cfg, DistInfo()), {k: v.unsqueeze(0) if isinstance(v, torch.Tensor) else [v]
                                      for k, v in item.items()}


def make_pose_dataset(root: Path, frames: int = 6, size=(64, 64), keypoints: bool = True) -> Path:
    """A pose dataset of a bright 'head' moving right by 2 px a frame over a dark backdrop: pose maps with a
    dot at the head, real frames with a textured head, person masks, and (with ``keypoints``) MediaPipe-style
    body keypoints whose 11 head landmarks sit around the head centre (one of them invisible)."""
    w, h = size
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:h, :w]
    with DatasetWriter(root, "pose", None, size, 25) as ds:
        seq = ds.sequence("dance")
        for t in range(frames):
            cx, cy = 16 + 2 * t, h // 3
            head = (xx - cx) ** 2 + (yy - cy) ** 2 <= 36
            labels = np.zeros((h, w, 3), np.uint8)
            labels[head] = (255, 0, 0)
            image = rng.integers(0, 40, (h, w, 3)).astype(np.uint8)
            image[head] = 220
            body = [[cx + dx, cy + dy, 1.0] for dx, dy in zip(range(-5, 6), [0, -1, 1] * 3 + [0, 2])]
            body[3][2] = 0.1  # not visible: must not count
            body += [[cx, cy + 20, 1.0]] * 22
            kp = {"width": w, "height": h, "body": body} if keypoints else None
            seq.add(t, labels=labels, image=image, mask=head.astype(np.uint8) * 255, keypoints=kp)
    return root

"""Evaluating a model on a prepared dataset, without pretrained networks.

For every sequence the model synthesises the frames the way inference does (first-frame generator, then the
recurrence; style features encoded from the real frames when the model has an encoder) and is scored against the
real video: temporal warping error (next to the real video's own), PSNR, SSIM, sharpness (mean Laplacian energy,
next to the real video's), and for pose models the PCK of MediaPipe's pose on the generated frames against the
driving pose.
"""
from __future__ import annotations

import numpy as np
import torch

from .config import ModelConfig
from .metrics import psnr, sharpness, ssim, warping_error
from .nn.encoder import instance_pool, region_ids
from .pipeline import Synthesizer
from .visualize import image_to_uint8

# MediaPipe body landmarks scored by PCK: nose, shoulders, elbows, wrists, hips, knees, ankles.
PCK_JOINTS = (0, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28)


def frame_inputs(cfg: ModelConfig, frame: dict) -> dict:
    """A dataset frame (numpy, from DatasetIndex.load_frame) -> Synthesizer.step keyword arguments."""
    labels = torch.from_numpy(np.ascontiguousarray(frame["labels"]))
    if cfg.labels.encoding == "onehot":
        labels = labels.long()[None]
    else:
        labels = labels[None, None] if labels.dim() == 2 else labels.permute(2, 0, 1)[None]
    inst = frame.get("instances")
    mask = frame.get("mask")
    return {"labels": labels,
            "instances": None if inst is None else torch.from_numpy(inst.astype(np.int64))[None],
            "mask": None if mask is None else torch.from_numpy((mask > 127).astype(np.float32))[None, None]}


@torch.no_grad()
def synthesize_sequence(cfg: ModelConfig, networks, index, sequence: str, max_frames: int | None = None,
                        device: str | torch.device = "cpu", precision: str = "fp32") -> dict:
    """-> {"fakes": [uint8 frames], "reals": [uint8 frames], "keypoints": [dicts or None]}"""
    seq = index.sequence(sequence)
    n = seq.num_frames if max_frames is None else min(seq.num_frames, max_frames)
    synth = Synthesizer(cfg, networks, device, precision)
    fakes, reals, keypoints = [], [], []
    for i in range(n):
        frame = index.load_frame(seq, i)
        inputs = frame_inputs(cfg, frame)
        if "encoder" in networks and frame.get("image") is not None:
            real = torch.from_numpy(frame["image"]).permute(2, 0, 1)[None].float().to(device) / 127.5 - 1
            inst = inputs["instances"] if inputs["instances"] is not None else torch.zeros_like(inputs["labels"])
            inputs["features"] = instance_pool(networks["encoder"](real), region_ids(
                inputs["labels"].to(device), inst.to(device), cfg.labels.num_classes, cfg.encoder.stuff_pooling))
        out = synth.step(**inputs)
        fakes.append(image_to_uint8(out["image"]))
        reals.append(frame.get("image"))
        keypoints.append(frame.get("keypoints"))
    return {"fakes": fakes, "reals": reals, "keypoints": keypoints}


def video_scores(fakes: list[np.ndarray], reals: list[np.ndarray]) -> dict:
    return {
        "warp_error": warping_error(fakes, reals),
        "warp_error_real": warping_error(reals, reals),
        "psnr": float(np.mean([psnr(a, b) for a, b in zip(fakes, reals)])),
        "ssim": float(np.mean([ssim(a, b) for a, b in zip(fakes, reals)])),
        "sharpness": float(np.mean([sharpness(a) for a in fakes])),
        "sharpness_real": float(np.mean([sharpness(b) for b in reals])),
    }


def pose_pck(frames: list[np.ndarray], driving: list[dict | None], threshold: float = 0.2) -> dict:
    """PCK@threshold (torso-normalised) of MediaPipe's body pose on ``frames`` against the driving keypoints.

    A joint is correct when it lies within threshold × torso size (mean-shoulder to mean-hip distance of the
    driving pose) of the driving joint; joints invisible in the driving pose are not scored; a generated frame in
    which no person is found scores 0 for all its joints."""
    from .inputs.pose import PoseTracker

    correct = total = 0
    with PoseTracker(segmentation=False) as tracker:
        for frame, kp in zip(frames, driving):
            if not kp or not kp.get("body"):
                continue
            ref = np.asarray(kp["body"], dtype=np.float64)
            torso = np.linalg.norm(ref[[11, 12], :2].mean(0) - ref[[23, 24], :2].mean(0))
            joints = [j for j in PCK_JOINTS if ref[j, 2] >= 0.5]
            total += len(joints)
            found = tracker(frame)["parts"]["body"]
            if found is None or torso <= 0:
                continue
            d = np.linalg.norm(found[joints, :2] - ref[joints, :2], axis=1)
            correct += int((d <= threshold * torso).sum())
    return {"pck": correct / total if total else float("nan"), "pck_joints": total}

"""Video quality metrics that need no pretrained network.

* temporal warping error: how much a video changes along the real video's optical flow, outside occlusions.
  E = mean over t of || (o_t - warp(o_{t-1}, f_t)) · c_t ||² / sum(c_t), with f_t the DIS backward flow of the
  **real** video (so output and real video are measured along the same motion) and c_t its confidence mask.
* PSNR and SSIM against real frames; sharpness as the mean Laplacian energy.
* motion: the mean absolute change of grey level (0-255) between consecutive frames; a still video scores 0.
  Next to the real video's motion it tells a video that moves as much as the real one from one that freezes
  (whose warping error is perfect) or flickers.
All functions take uint8 RGB numpy frames (H, W, 3). Learned-feature scores (KID) are in :mod:`v2v.kid`.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from .flow import ground_truth_flow, warp


def _t(frame: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(frame)).float().permute(2, 0, 1)[None] / 255.0


def warping_error(frames: list[np.ndarray], real_frames: list[np.ndarray]) -> float:
    """Occlusion-masked temporal warping error of ``frames`` along the flow of ``real_frames`` (same length)."""
    if len(frames) != len(real_frames) or len(frames) < 2:
        raise ValueError("warping_error needs two equally long sequences of at least 2 frames")
    errs = []
    for t in range(1, len(frames)):
        flow, conf = ground_truth_flow(real_frames[t], real_frames[t - 1])
        conf = torch.from_numpy(conf).float()
        f = torch.from_numpy(flow).permute(2, 0, 1)[None]
        diff = ((_t(frames[t]) - warp(_t(frames[t - 1]), f)) ** 2).sum(1)[0]
        errs.append(float((diff * conf).sum() / conf.sum().clamp(min=1)))
    return float(np.mean(errs))


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * math.log10(255.0 ** 2 / mse)


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Mean SSIM over channels with an 11×11 Gaussian window (σ 1.5), as Wang et al. 2004."""
    import cv2

    x, y = a.astype(np.float64), b.astype(np.float64)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2

    def blur(z):
        return cv2.GaussianBlur(z, (11, 11), 1.5)

    mx, my = blur(x), blur(y)
    vx, vy, cxy = blur(x * x) - mx ** 2, blur(y * y) - my ** 2, blur(x * y) - mx * my
    s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx ** 2 + my ** 2 + c1) * (vx + vy + c2))
    return float(s.mean())


def sharpness(frame: np.ndarray) -> float:
    """Mean Laplacian energy of the gray frame (higher = sharper)."""
    import cv2

    gray = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY).astype(np.float64)
    return float((cv2.Laplacian(gray, cv2.CV_64F) ** 2).mean())


def _gray(frame: np.ndarray) -> np.ndarray:
    """ITU-R BT.601 luma of an RGB frame, float32, unrounded (0-255)."""
    return np.asarray(frame, dtype=np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)


def motion(frames: list[np.ndarray]) -> float:
    """Mean over t >= 1 of the mean absolute grey-level change |gray(o_t) - gray(o_{t-1})| (0 for a still video)."""
    if len(frames) < 2:
        raise ValueError("motion needs a sequence of at least 2 frames")
    grays = [_gray(f) for f in frames]
    return float(np.mean([np.abs(b - a).mean() for a, b in zip(grays, grays[1:])]))

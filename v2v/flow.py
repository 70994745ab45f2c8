"""Optical flow: backward warping, ground-truth flow from OpenCV DIS, flow confidence, flow colouring.

Conventions (the same as NVIDIA vid2vid with ``align_corners=True``):

* A flow map has shape (B, 2, H, W), channels (x, y), in **pixels**.
* Flows are **backward**: ``flow[t]`` maps each pixel of the target frame t to where it comes from in the source
  frame (usually t-1), so ``warp(source, flow)`` reconstructs the target.
* Sampling is bilinear with border padding and ``align_corners=True``: pixel centres sit at -1 and +1 on the edges,
  so an integer flow moves an image by exactly that many pixels.
"""
from __future__ import annotations

import threading
from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F


@lru_cache(maxsize=16)
def _base_grid(h: int, w: int, device: str, dtype: torch.dtype) -> torch.Tensor:
    ys = torch.linspace(-1.0, 1.0, h, dtype=torch.float32)
    xs = torch.linspace(-1.0, 1.0, w, dtype=torch.float32)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([gx, gy], -1).unsqueeze(0).to(device=device, dtype=dtype)  # (1, H, W, 2)


def warp(image: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Backward-warp ``image`` (B, C, H, W) with a pixel flow (B, 2, H, W)."""
    if image.shape[-2:] != flow.shape[-2:] or flow.shape[1] != 2:
        raise ValueError(f"warp: image {tuple(image.shape)} and flow {tuple(flow.shape)} do not match")
    b, _, h, w = image.shape
    dtype = torch.float32 if flow.dtype in (torch.float16, torch.bfloat16) else flow.dtype
    scale = torch.tensor([2.0 / max(w - 1, 1), 2.0 / max(h - 1, 1)], device=flow.device, dtype=dtype)
    offset = flow.to(dtype).permute(0, 2, 3, 1) * scale
    grid = _base_grid(h, w, str(flow.device), dtype) + offset
    out = F.grid_sample(image.to(dtype), grid, mode="bilinear", padding_mode="border", align_corners=True)
    return out.to(image.dtype)


def resize_flow(flow: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Resize a pixel flow to (H, W), scaling its vectors with the size."""
    h, w = flow.shape[-2:]
    out = F.interpolate(flow, size=size, mode="bilinear", align_corners=True)
    sx = (size[1] - 1) / max(w - 1, 1)
    sy = (size[0] - 1) / max(h - 1, 1)
    return out * torch.tensor([sx, sy], device=flow.device, dtype=flow.dtype).view(1, 2, 1, 1)


def _gray(frame: np.ndarray) -> np.ndarray:
    import cv2

    if frame.ndim == 2:
        return frame
    return cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)


_DIS = threading.local()  # one DIS object per thread and preset: OpenCV's DIS instances are not thread-safe


def dis_flow(target: np.ndarray, source: np.ndarray, preset: str = "medium") -> np.ndarray:
    """Backward flow (H, W, 2) float32 in pixels from ``target`` to ``source`` (RGB or gray uint8 frames),
    computed with OpenCV's DIS optical flow: ``source[y + f_y, x + f_x] ≈ target[y, x]``.

    The reference vid2vid used FlowNet2 here; DIS needs no network weights and runs on a laptop CPU.
    """
    import cv2

    presets = {"ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST, "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
               "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM}
    cache = _DIS.__dict__
    if preset not in cache:
        cache[preset] = cv2.DISOpticalFlow_create(presets[preset])
    return cache[preset].calc(_gray(target), _gray(source), None).astype(np.float32)


def warp_numpy(source: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """``warp`` for numpy frames (H, W[, C]) with OpenCV: bilinear, border replicate, same conventions (OpenCV's
    bilinear weights are quantised to 1/32 pixel, so values differ from ``warp`` by up to a few percent of an edge)."""
    import cv2

    h, w = flow.shape[:2]
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return cv2.remap(source, gx + flow[..., 0], gy + flow[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def flow_confidence(target: np.ndarray, source: np.ndarray, flow: np.ndarray, threshold: float = 0.02) -> np.ndarray:
    """(H, W) uint8 mask, 1 where ``source`` warped by ``flow`` matches ``target``.

    As in vid2vid: the squared error of the warp, with images in [-1, 1] and averaged over channels, must be below
    ``threshold``. Occluded and badly tracked pixels get 0.
    """
    warped = warp_numpy(source.astype(np.float32), flow.astype(np.float32)) / 127.5 - 1
    err = (warped - (target.astype(np.float32) / 127.5 - 1)) ** 2
    if err.ndim == 3:
        err = err.mean(-1)
    return (err < threshold).astype(np.uint8)


def ground_truth_flow(target: np.ndarray, source: np.ndarray, preset: str = "medium") -> tuple[np.ndarray, np.ndarray]:
    """The training target for flow: DIS backward flow from ``target`` to ``source`` and its confidence mask
    (:func:`dis_flow` then :func:`flow_confidence`)."""
    flow = dis_flow(target, source, preset)
    return flow, flow_confidence(target, source, flow)


def _color_wheel() -> np.ndarray:
    # Middlebury colour wheel: red-yellow-green-cyan-blue-magenta segments.
    segments = [(15, (255, 0, 0), (255, 255, 0)), (6, (255, 255, 0), (0, 255, 0)), (4, (0, 255, 0), (0, 255, 255)),
                (11, (0, 255, 255), (0, 0, 255)), (13, (0, 0, 255), (255, 0, 255)), (6, (255, 0, 255), (255, 0, 0))]
    rows = []
    for n, a, b in segments:
        t = np.arange(n)[:, None] / n
        rows.append(np.asarray(a)[None] * (1 - t) + np.asarray(b)[None] * t)
    return np.concatenate(rows).astype(np.float32)


_WHEEL = _color_wheel()


def flow_to_color(flow: np.ndarray | torch.Tensor, max_magnitude: float | None = None) -> np.ndarray:
    """(H, W, 2) or (2, H, W) flow -> (H, W, 3) uint8: hue is direction, saturation is magnitude."""
    if isinstance(flow, torch.Tensor):
        flow = flow.detach().float().cpu().numpy()
    if flow.shape[0] == 2 and flow.shape[-1] != 2:
        flow = flow.transpose(1, 2, 0)
    u, v = flow[..., 0], flow[..., 1]
    mag = np.sqrt(u ** 2 + v ** 2)
    top = max_magnitude if max_magnitude else max(float(mag.max()), 1e-6)
    mag = np.clip(mag / top, 0, 1)
    angle = np.arctan2(-v, -u) / np.pi  # -1..1
    pos = (angle + 1) / 2 * (len(_WHEEL) - 1)
    i0 = np.floor(pos).astype(int)
    i1 = (i0 + 1) % len(_WHEEL)
    frac = (pos - i0)[..., None]
    col = _WHEEL[i0] * (1 - frac) + _WHEEL[i1] * frac
    col = 255 - mag[..., None] * (255 - col)
    return np.clip(col, 0, 255).astype(np.uint8)

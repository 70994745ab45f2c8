"""Head crops for the face discriminator (Everybody Dance Now's face GAN, vid2vid's ``--add_face_disc``).

A dancer's face covers a few hundred of a frame's 65,000 pixels, so the image discriminator barely looks at it and
the generator draws a smooth blob. Training with ``face_crop: N`` adds a discriminator that sees only an N×N square
around the head of every generated and real frame (conditioned on the same square of the pose map).

Where the head is comes from the dataset's keypoints (``python -m v2v prepare pose`` stores MediaPipe's 33 body
landmarks per frame): the mean of the visible head landmarks (nose, eyes, ears, mouth corners). Frames without a
visible head get no crop. :func:`crop_squares` cuts the squares out of a batch by slicing, so gradients reach the
generator's pixels.
"""
from __future__ import annotations

import math

import torch

from .inputs.pose import VISIBLE

HEAD_POINTS = tuple(range(11))  # MediaPipe Pose: nose, eyes (inner, centre, outer), ears, mouth corners
HAND_POINTS = {"left": (15, 17, 19, 21), "right": (16, 18, 20, 22)}  # MediaPipe Pose: wrist, pinky, index, thumb
NO_FACE = (math.nan, math.nan)


def landmarks_center(keypoints: dict | None, points: tuple[int, ...]) -> tuple[float, float]:
    """(x, y) in the keypoints' pixel coordinates: the mean of the visible body landmarks ``points``; NaNs
    without any."""
    body = (keypoints or {}).get("body")
    if not body:
        return NO_FACE
    seen = [p for i, p in enumerate(body) if i in points and len(p) >= 3 and p[2] >= VISIBLE]
    if not seen:
        return NO_FACE
    return (sum(p[0] for p in seen) / len(seen), sum(p[1] for p in seen) / len(seen))


def face_center(keypoints: dict | None) -> tuple[float, float]:
    """(x, y) in the keypoints' pixel coordinates: the mean of the visible head landmarks; NaNs without any."""
    return landmarks_center(keypoints, HEAD_POINTS)


def face_centers(keypoints: list[dict | None], x0: int = 0, y0: int = 0, size: tuple[int, int] | None = None
                 ) -> torch.Tensor:
    """(T, 2) float head centres of a run of frames, moved into a crop box at (x0, y0) of ``size`` (W, H): NaN
    where a frame has no visible head or its head lies outside the box."""
    out = torch.tensor([face_center(k) for k in keypoints], dtype=torch.float32).view(-1, 2)
    out -= torch.tensor([float(x0), float(y0)])
    if size is not None:
        w, h = size
        outside = (out[:, 0] < 0) | (out[:, 0] >= w) | (out[:, 1] < 0) | (out[:, 1] >= h)
        out[outside] = math.nan
    return out


def square_origin(cx: float, cy: float, side: int, width: int, height: int) -> tuple[int, int]:
    """(left, top) of the ``side``×``side`` square centred on (cx, cy), shifted to lie inside a width×height frame."""
    return (min(max(int(round(cx - side / 2)), 0), width - side),
            min(max(int(round(cy - side / 2)), 0), height - side))


def crop_squares(x: torch.Tensor, centers: torch.Tensor, side: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Cut a ``side``×``side`` square around each centre out of ``x`` (N, C, H, W); centres (N, 2) as (x, y), NaN
    for none. A square that would reach over the border is shifted inside. -> (crops (M, C, side, side), the
    indices (M,) of the rows of ``x`` they come from); M = 0 gives an empty (0, C, side, side) tensor."""
    n, c, h, w = x.shape
    if side > min(h, w):
        raise ValueError(f"a face crop of {side} px does not fit frames of {w}x{h}; lower face_crop")
    if centers.shape != (n, 2):
        raise ValueError(f"centres must be ({n}, 2), got {tuple(centers.shape)}")
    keep = (~torch.isnan(centers).any(1)).nonzero().squeeze(1)
    crops = []
    for i in keep.tolist():
        left, top = square_origin(float(centers[i, 0]), float(centers[i, 1]), side, w, h)
        crops.append(x[i, :, top:top + side, left:left + side])
    if not crops:
        return x.new_zeros(0, c, side, side), keep
    return torch.stack(crops), keep

"""Differentiable augmentation of what the discriminators see (DiffAugment, Zhao et al., NeurIPS 2020).

With a few hundred training frames (the street demo trains on four 30-frame Cityscapes sequences) the
discriminators memorise the real frames and their feedback to the generator stops being useful. DiffAugment
applies the same kind of random, differentiable transforms to real and generated inputs of every D, in the D
updates and in the generator update alike, so D cannot win by memorising and the generator still gets gradients
through the transforms. Policies (``diff_augment`` in the training config, comma-separated):

* ``color``: random brightness (±0.5), saturation (×0..2) and contrast (×0.5..1.5) of the image channels;
* ``translation``: shift by up to 1/8 of the size in x and y, zeros shifted in;
* ``cutout``: zero a random rectangle of half the width and height.

A conditional D reads (label map, image) pairs: the geometric transforms move both alike and the colour ones touch
the image only. A temporal D's window of K frames and its flows move as one. One :class:`Augmentation` is one draw
of the random parameters; the generator update draws once and uses it for both the real and the generated side,
so that its feature-matching loss compares features of the same transform.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

POLICIES = ("color", "translation", "cutout")
TRANSLATION = 1 / 8
CUTOUT = 1 / 2


def parse_policy(text: str) -> tuple[str, ...]:
    """'color,translation' -> ("color", "translation"); ValueError naming an unknown policy."""
    names = tuple(p.strip() for p in text.split(",") if p.strip())
    unknown = [n for n in names if n not in POLICIES]
    if unknown:
        raise ValueError(f"diff_augment policies must be among {', '.join(POLICIES)}, got {', '.join(unknown)}")
    return names


@dataclass
class Augmentation:
    """One draw of the transforms for a batch of ``n`` inputs of size (H, W)."""
    brightness: torch.Tensor | None = None  # (n, 1, 1, 1)
    saturation: torch.Tensor | None = None
    contrast: torch.Tensor | None = None
    shift: torch.Tensor | None = None  # (n, 2) whole pixels (dy, dx)
    keep: torch.Tensor | None = None  # (n, 1, H, W): 0 inside the cut-out rectangle

    @classmethod
    def draw(cls, policy: tuple[str, ...], n: int, size: tuple[int, int], device) -> "Augmentation":
        h, w = size
        aug = cls()
        if "color" in policy:
            aug.brightness = torch.rand(n, 1, 1, 1, device=device) - 0.5
            aug.saturation = torch.rand(n, 1, 1, 1, device=device) * 2
            aug.contrast = torch.rand(n, 1, 1, 1, device=device) + 0.5
        if "translation" in policy:
            limit = torch.tensor([int(h * TRANSLATION + 0.5), int(w * TRANSLATION + 0.5)], device=device)
            aug.shift = (torch.rand(n, 2, device=device) * (2 * limit + 1)).long() - limit
        if "cutout" in policy:
            ch, cw = int(h * CUTOUT + 0.5), int(w * CUTOUT + 0.5)
            y0 = torch.randint(0, h - ch + 1, (n, 1, 1), device=device)
            x0 = torch.randint(0, w - cw + 1, (n, 1, 1), device=device)
            ys = torch.arange(h, device=device).view(1, h, 1)
            xs = torch.arange(w, device=device).view(1, 1, w)
            inside = (ys >= y0) & (ys < y0 + ch) & (xs >= x0) & (xs < x0 + cw)
            aug.keep = (~inside).unsqueeze(1).float()
        return aug

    def _color(self, image: torch.Tensor) -> torch.Tensor:
        if self.brightness is None:
            return image
        b = self.brightness.to(image.dtype).view(-1, *([1] * (image.dim() - 1)))
        s = self.saturation.to(image.dtype).view_as(b)
        c = self.contrast.to(image.dtype).view_as(b)
        channel_dim = image.dim() - 3  # (n, C, H, W) or (n, K, C, H, W)
        image = image + b
        mean = image.mean(dim=channel_dim, keepdim=True)
        image = (image - mean) * s + mean
        mean = image.mean(dim=tuple(range(1, image.dim())), keepdim=True)
        return (image - mean) * c + mean

    def _geometry(self, x: torch.Tensor) -> torch.Tensor:
        """Translation and cutout of (n, ..., H, W), the same for all leading channels of a sample."""
        if self.shift is not None:
            h, w = x.shape[-2:]
            lead = x.shape[1:-2]
            flat = x.reshape(x.shape[0], -1, h, w)
            py, px = int(self.shift[:, 0].abs().max()), int(self.shift[:, 1].abs().max())
            padded = F.pad(flat, (px, px, py, py))
            flat = torch.stack([padded[i, :, py - int(dy):py - int(dy) + h, px - int(dx):px - int(dx) + w]
                                for i, (dy, dx) in enumerate(self.shift.tolist())])
            x = flat.reshape(x.shape[0], *lead, h, w)
        if self.keep is not None:
            keep = self.keep.to(x.dtype).view(x.shape[0], *([1] * (x.dim() - 3)), *x.shape[-2:])
            x = x * keep
        return x

    def __call__(self, image: torch.Tensor, *also: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """The augmented ``image`` (colour and geometry) and ``also`` (label maps, flows: geometry only)."""
        return (self._geometry(self._color(image)), *(self._geometry(a) for a in also))

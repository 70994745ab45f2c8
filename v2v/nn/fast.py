"""Faster inference with the same networks: exact rewrites that give the same results up to float rounding.

**One-hot lookup.** The first 7×7 convolution of the label encoder (and of the foreground encoder and the
first-frame generator) reads one-hot label channels: for a pixel p, the contribution of the one-hot channels of
frame f is ``sum over the 49 taps (ky, kx) of W[:, f·C + id_f(p + offset), ky, kx]`` — a per-class kernel
lookup, not a dense product over 35 mostly-zero channels. :class:`OneHotConv` computes it with ``embedding_bag``
over a table of those kernel columns (49 rows summed per pixel). Inside a region of one class (no other class
within the kernel's reach, with the conv's reflection padding) the 49 rows are always the same, so their sum is
precomputed per class and such pixels need one row; only pixels near a class boundary read all 49. The other
input channels (instance edges, style features) go through an ordinary convolution, and the bias is added once.

The layer needs the class ids behind its input. They are handed over with :func:`one_hot_hint` (the
:class:`~v2v.pipeline.Synthesizer` does it for every step): inside the block, an OneHotConv that receives exactly
that tensor object uses the ids; any other input (a coarser pyramid level with soft labels, a padded copy, a caller
without a hint) goes through the plain convolution, so results never depend on the hint being right about some
other tensor.

**Instance norm at batch size 1** equals batch normalisation with the statistics of the batch; PyTorch's batch-norm
kernel is several times faster than its instance-norm kernel on channels-last tensors, so :class:`FastInstanceNorm`
uses it for single images.

:func:`enable_fast_inference` applies both to a ModuleDict from ``build_generators``; state dict keys and parameters
are unchanged (the layers keep their own weights), so training code never sees a difference — but call it on
inference copies only: the lookup tables are rebuilt when the weights change, the point is that the fast layers
skip autograd-friendly dense work.
"""
from __future__ import annotations

import threading
from contextlib import contextmanager

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

_state = threading.local()


@contextmanager
def one_hot_hint(x: torch.Tensor, ids: torch.Tensor):
    """Declare that the one-hot channels of ``x`` encode ``ids`` (B, F, H, W) int64 — F frames of class ids, in
    the frame order of ``x``'s channels. OneHotConv layers called with ``x`` itself inside the block use them."""
    previous = getattr(_state, "hint", None)
    _state.hint = {"x": x, "ids": ids, "cache": {}}
    try:
        yield
    finally:
        _state.hint = previous


def _current_hint(x: torch.Tensor) -> dict | None:
    hint = getattr(_state, "hint", None)
    if hint is None or hint["x"] is not x:
        return None
    return hint


def _reflect_index(n: int, pad: int, device) -> torch.Tensor:
    """Indices of a reflection-padded axis (PyTorch's "reflect": the edge sample is not repeated)."""
    i = torch.arange(-pad, n + pad, device=device).abs()
    return torch.where(i > n - 1, 2 * (n - 1) - i, i)


def _boundary(ids: torch.Tensor, k: int) -> torch.Tensor:
    """(B, H, W) bool: pixels whose k×k reflection-padded neighbourhood holds more than one class."""
    if ids.device.type == "cpu" and int(ids.max()) < 256 and int(ids.min()) >= 0:
        import cv2  # a 7x7 min/max filter on bytes is much faster in OpenCV; BORDER_REFLECT_101 is torch's "reflect"

        kernel = np.ones((k, k), np.uint8)
        out = []
        for frame in ids.to(torch.uint8).numpy():
            hi = cv2.dilate(frame, kernel, borderType=cv2.BORDER_REFLECT_101)
            lo = cv2.erode(frame, kernel, borderType=cv2.BORDER_REFLECT_101)
            out.append(torch.from_numpy(hi != lo))
        return torch.stack(out)
    p = k // 2
    f = ids.unsqueeze(1).float()
    padded = F.pad(f, (p, p, p, p), mode="reflect")
    hi = F.max_pool2d(F.max_pool2d(padded, (1, k), 1), (k, 1), 1)
    lo = -F.max_pool2d(F.max_pool2d(-padded, (1, k), 1), (k, 1), 1)
    return (hi != lo)[:, 0]


def _lookup_plan(ids: torch.Tensor, k: int, num_classes: int) -> dict:
    """Index tensors for the lookup of ids (B, F, H, W) with a k×k kernel (shared by every layer of one hint)."""
    b, n_frames, h, w = ids.shape
    p = k // 2
    dev = ids.device
    ry, rx = _reflect_index(h, p, dev), _reflect_index(w, p, dev)
    hp, wp = h + 2 * p, w + 2 * p
    taps = (torch.arange(k, device=dev).view(k, 1) * wp + torch.arange(k, device=dev).view(1, k)).reshape(-1)
    tap_rows = torch.arange(k * k, device=dev) * num_classes
    zero_row = n_frames * num_classes  # the interior table's all-zero row: "this frame is done elsewhere"
    interior_idx = []
    boundary = []
    for f in range(n_frames):
        frame = ids[:, f]
        edge = _boundary(frame, k)
        interior_idx.append(torch.where(edge, zero_row, frame + f * num_classes).reshape(-1))
        where = edge.reshape(-1).nonzero().squeeze(1)
        if where.numel() == 0:
            continue
        padded = frame[:, ry][:, :, rx].reshape(-1)  # (B·Hp·Wp,)
        bi, rest = where // (h * w), where % (h * w)
        base = bi * (hp * wp) + (rest // w) * wp + rest % w
        cls = padded[base.unsqueeze(1) + taps.unsqueeze(0)]  # (N, k·k) classes under every tap
        boundary.append({"frame": f, "pixels": where, "rows": cls + tap_rows.unsqueeze(0)})
    return {"interior": torch.stack(interior_idx, 1), "boundary": boundary, "shape": (b, h, w)}


class OneHotConv(nn.Conv2d):
    """A reflection-padded k×k convolution whose input starts with ``n_frames`` groups of ``frame_channels``
    channels, the first ``num_classes`` of each group one-hot (then e.g. an instance-edge channel), followed by
    any other channels. Shares the weight and bias Parameters of the convolution it replaces."""

    def __init__(self, conv: nn.Conv2d, num_classes: int, frame_channels: int, n_frames: int):
        k = conv.kernel_size[0]
        if (conv.kernel_size != (k, k) or k % 2 == 0 or conv.stride != (1, 1) or conv.dilation != (1, 1)
                or conv.groups != 1 or conv.padding != (k // 2, k // 2) or conv.padding_mode != "reflect"):
            raise ValueError("OneHotConv replaces stride-1, odd-kernel, reflection-padded convolutions only")
        if n_frames * frame_channels > conv.in_channels or num_classes > frame_channels:
            raise ValueError(f"a {conv.in_channels}-channel conv cannot read {n_frames} frames of {frame_channels}")
        super().__init__(conv.in_channels, conv.out_channels, k, padding=k // 2, padding_mode="reflect",
                         bias=conv.bias is not None, device="meta")
        self.weight = conv.weight
        self.bias = conv.bias
        self.num_classes, self.frame_channels, self.n_frames = num_classes, frame_channels, n_frames
        onehot = [f * frame_channels + c for f in range(n_frames) for c in range(num_classes)]
        self.register_buffer("rest_channels", torch.tensor(sorted(set(range(conv.in_channels)) - set(onehot)),
                                                           dtype=torch.long, device=conv.weight.device),
                             persistent=False)
        self._tables: tuple | None = None

    def _build_tables(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(interior (F·nc + 1, Cout): per-class sums of the 49 taps + a zero row; taps (F, k·k·nc, Cout))."""
        key = (self.weight._version, self.weight.device, self.weight.data_ptr())
        if self._tables is not None and self._tables[0] == key:
            return self._tables[1], self._tables[2]
        k, nc, fc, n = self.kernel_size[0], self.num_classes, self.frame_channels, self.n_frames
        w = self.weight.detach().float()[:, : n * fc].reshape(self.out_channels, n, fc, k, k)[:, :, :nc]
        taps = w.permute(1, 3, 4, 2, 0).reshape(n, k * k * nc, self.out_channels).contiguous()
        interior = w.sum((3, 4)).permute(1, 2, 0).reshape(n * nc, self.out_channels)
        interior = torch.cat([interior, interior.new_zeros(1, self.out_channels)]).contiguous()
        self._tables = (key, interior, taps)
        return interior, taps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hint = _current_hint(x)
        if hint is None or hint["ids"].shape[1] != self.n_frames or hint["ids"].shape[-2:] != x.shape[-2:]:
            return super().forward(x)
        k = self.kernel_size[0]
        plan_key = ("plan", k, self.num_classes)
        plan = hint["cache"].get(plan_key)
        if plan is None:
            plan = hint["cache"][plan_key] = _lookup_plan(hint["ids"].to(x.device), k, self.num_classes)
        interior, taps = self._build_tables()
        b, h, w = plan["shape"]
        out = F.embedding_bag(plan["interior"], interior, mode="sum")  # (B·H·W, Cout), pixels in NHWC order
        for part in plan["boundary"]:
            out.index_add_(0, part["pixels"], F.embedding_bag(part["rows"], taps[part["frame"]], mode="sum"))
        if self.bias is not None:
            out += self.bias.float()
        out = out.view(b, h, w, self.out_channels).permute(0, 3, 1, 2)  # a channels-last view
        if len(self.rest_channels):
            rest = x.index_select(1, self.rest_channels)
            w_rest = self.weight.index_select(1, self.rest_channels)
            out = out + self._conv_forward(rest, w_rest, None)
        dtype = torch.get_autocast_dtype(x.device.type) if torch.is_autocast_enabled(x.device.type) \
            else self.weight.dtype
        return out.to(dtype)


class FastInstanceNorm(nn.InstanceNorm2d):
    """Instance norm that runs single images through the batch-statistics batch-norm kernel (same result)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[0] != 1 or self.track_running_stats:
            return super().forward(x)
        return F.batch_norm(x, None, None, self.weight, self.bias, True, 0.0, self.eps)


def _first_convs(networks: nn.ModuleDict, cfg) -> list[tuple[nn.Module, int]]:
    """(ConvBlock, frames it reads) for every layer whose input starts with one-hot label frames."""
    found = []
    gen = networks["generator"] if "generator" in networks else None
    if gen is not None:
        for scale in gen.scales:
            found.append((scale.label_encoder[0], cfg.n_past_frames + 1))
            if hasattr(scale, "fg_encoder"):
                found.append((scale.fg_encoder[0], cfg.n_past_frames + 1))
    ff = networks["first_frame"] if "first_frame" in networks else None
    if ff is not None and getattr(ff, "input_channels", 0) in (0, None):
        found.append((ff.global_net[0], 1))
        found.extend((down[0], 1) for down in ff.local_down)
    return found


def enable_fast_inference(networks: nn.ModuleDict, cfg) -> dict:
    """Swap in the fast layers (in place); returns {"one_hot_convs": n, "instance_norms": m}."""
    convs = 0
    if cfg.labels.encoding == "onehot":
        for block, n_frames in _first_convs(networks, cfg):
            if isinstance(block.conv, OneHotConv):
                continue
            block.conv = OneHotConv(block.conv, cfg.labels.num_classes, cfg.frame_channels, n_frames)
            convs += 1
    norms = 0
    for name in ("generator", "first_frame"):
        if name not in networks:
            continue
        for m in networks[name].modules():
            if type(m) is nn.InstanceNorm2d:
                m.__class__ = FastInstanceNorm
                norms += 1
    return {"one_hot_convs": convs, "instance_norms": norms}


def disable_fast_inference(networks: nn.ModuleDict) -> None:
    """Undo :func:`enable_fast_inference` (plain convolutions and instance norms again)."""
    for m in list(networks.modules()):
        for name, child in list(m.named_children()):
            if isinstance(child, OneHotConv):
                plain = nn.Conv2d(child.in_channels, child.out_channels, child.kernel_size, padding=child.padding,
                                  padding_mode="reflect", bias=child.bias is not None, device="meta")
                plain.weight, plain.bias = child.weight, child.bias
                setattr(m, name, plain)
        if type(m) is FastInstanceNorm:
            m.__class__ = nn.InstanceNorm2d

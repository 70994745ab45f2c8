"""Faster inference with the same networks: exact rewrites that give the same results up to float rounding.

**One-hot lookup.** The first 7×7 convolution of the label encoder (and of the foreground encoder and the
first-frame generator) reads one-hot label channels: for a pixel p, the contribution of the one-hot channels of
frame f is ``sum over the 49 taps (ky, kx) of W[:, f·C + id_f(p + offset), ky, kx]`` — a per-class kernel
lookup, not a dense product over 35 mostly-zero channels. :class:`OneHotLookup` computes it with ``embedding_bag``
over a table of those kernel columns. Inside a region of one class (no other class within the kernel's reach, with
the conv's reflection padding) the 49 rows are always the same, so their sum is precomputed per class and such
pixels read one row; only pixels near a class boundary read all 49. The other input channels (instance edges,
style features) go through an ordinary convolution, and the bias is added once. Layers that read the same input
(a scale's label and foreground encoders) share one lookup, their kernels side by side in the tables.

The layer needs the class ids behind its input. They are handed over with :func:`one_hot_hint` (the
:class:`~v2v.pipeline.Synthesizer` does it for every step): inside the block, a :class:`OneHotConv` that receives
exactly that tensor object uses the ids; any other input (a coarser pyramid level with soft labels, a padded copy,
a caller without a hint) goes through the plain convolution, so results never depend on the hint being right
about some other tensor.

In float32 the lookup is several times faster than the convolution. With bf16 matrix units (AMX on recent Xeons,
tensor cores) a dense convolution over the 108 mostly-zero channels can be as fast or faster, so by default
(``one_hot="auto"``) float32 uses the lookup and half precision the dense convolution — a fixed rule, so that
the same input always gives the same output.

**Convolutions** (:class:`FastConv`) pad in the dtype they compute in (under CPU autocast PyTorch pads in float32)
and keep their weights prepacked for oneDNN on the CPU.

**Instance norm at batch size 1** equals batch normalisation with the statistics of the batch; PyTorch's batch-norm
kernel is several times faster than its instance-norm kernel on channels-last tensors, so :class:`FastInstanceNorm`
uses it for single images.

:func:`enable_fast_inference` applies all of this in place to a ModuleDict from ``build_generators``. Parameters and
state dict keys are unchanged (the fast layers share the original Parameters), and the lookup tables are rebuilt
when the weights change; still, it is meant for inference copies — training keeps the plain layers.
"""
from __future__ import annotations

import threading
from contextlib import contextmanager

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from .blocks import ReflectConv2d, _ReflectPad

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
    p = k // 2
    f = ids.unsqueeze(1).float()
    padded = F.pad(f, (p, p, p, p), mode="reflect")
    hi = F.max_pool2d(F.max_pool2d(padded, (1, k), 1), (k, 1), 1)
    lo = -F.max_pool2d(F.max_pool2d(-padded, (1, k), 1), (k, 1), 1)
    return (hi != lo)[:, 0]


def _lookup_plan(ids: torch.Tensor, k: int, num_classes: int) -> dict:
    """Index tensors for the lookup of ids (B, F, H, W) with a k×k kernel (shared by every layer of one hint):
    ``interior`` (B·H·W, F) rows of the interior table (the zero row where the pixel is a boundary pixel of that
    frame), and per frame with boundary pixels their flat ``pixels`` and (N, k·k) ``rows`` of the tap table."""
    if ids.device.type == "cpu" and num_classes <= 256:
        return _lookup_plan_numpy(ids, k, num_classes)
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


def _lookup_plan_numpy(ids: torch.Tensor, k: int, num_classes: int) -> dict:
    """:func:`_lookup_plan` on the CPU with byte maps, OpenCV min/max filters and numpy window views (the index
    work is a large part of the lookup's cost, and this is several times faster than torch indexing)."""
    import cv2
    from numpy.lib.stride_tricks import sliding_window_view

    b, n_frames, h, w = ids.shape
    p = k // 2
    maps = ids.to(torch.uint8).numpy()
    kernel = np.ones((k, k), np.uint8)
    tap_rows = (np.arange(k * k, dtype=np.int64) * num_classes)
    zero_row = n_frames * num_classes
    interior = np.empty((b, h, w, n_frames), np.int64)
    boundary = []
    for f in range(n_frames):
        pixels, rows = [], []
        for i in range(b):
            frame = maps[i, f]
            edge = cv2.dilate(frame, kernel, borderType=cv2.BORDER_REFLECT_101) != \
                cv2.erode(frame, kernel, borderType=cv2.BORDER_REFLECT_101)
            interior[i, :, :, f] = np.where(edge, zero_row, frame.astype(np.int64) + f * num_classes)
            ys, xs = np.nonzero(edge)
            if len(ys):
                windows = sliding_window_view(np.pad(frame, p, mode="reflect"), (k, k))
                rows.append(windows[ys, xs].reshape(len(ys), k * k).astype(np.int64) + tap_rows)
                pixels.append((i * h + ys) * w + xs)
        if pixels:
            boundary.append({"frame": f, "pixels": torch.from_numpy(np.concatenate(pixels)),
                             "rows": torch.from_numpy(np.concatenate(rows))})
    return {"interior": torch.from_numpy(interior.reshape(b * h * w, n_frames)), "boundary": boundary,
            "shape": (b, h, w)}


def _ranges(channels: list[int]) -> list[tuple[int, int]]:
    """[35, 71, 107, 108, 109] -> [(35, 36), (71, 72), (107, 110)]."""
    out: list[list[int]] = []
    for c in channels:
        if out and out[-1][1] == c:
            out[-1][1] = c + 1
        else:
            out.append([c, c + 1])
    return [(a, b) for a, b in out]


class FastConv(nn.Conv2d):
    """A convolution for inference: it pads (reflection or zeros) and computes in the dtype autocast asks for —
    under CPU autocast PyTorch would run reflection padding in float32, turning a bf16 activation into a float32
    copy and back — and on the CPU it keeps its weights prepacked in oneDNN's blocked layout (eager PyTorch
    reorders them at every call; for the small feature maps of the residual blocks that is a third of the time).
    Prepacking uses ``torch.ops.mkldnn._convolution_pointwise``; where that is unavailable the layer falls back
    to ``F.conv2d``. Either way the arithmetic is the convolution's."""

    _packed: tuple | None = None
    _prepack_failed = False

    def _prepacked(self, weight: torch.Tensor, dtype: torch.dtype, padding: tuple[int, int]) -> torch.Tensor | None:
        if self._prepack_failed or not torch.backends.mkldnn.is_available():
            return None
        key = (dtype, weight._version, weight.data_ptr(), padding)
        if self._packed is not None and self._packed[0] == key:
            return self._packed[1]
        try:
            w = weight.detach().to(dtype).contiguous(memory_format=torch.channels_last).to_mkldnn()
            packed = torch._C._nn.mkldnn_reorder_conv2d_weight(w, list(padding), list(self.stride),
                                                               list(self.dilation), self.groups, None)
        except (RuntimeError, AttributeError, NotImplementedError):
            self._prepack_failed = True
            return None
        self._packed = (key, packed)
        return packed

    def _conv_forward(self, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        if self.padding_mode not in ("reflect", "zeros"):
            return super()._conv_forward(x, weight, bias)
        dev = x.device.type
        dtype = torch.get_autocast_dtype(dev) if torch.is_autocast_enabled(dev) else weight.dtype
        with torch.autocast(dev, enabled=False):
            x = x.to(dtype)
            padding = tuple(self.padding)
            if self.padding_mode == "reflect":
                x = F.pad(x, self._reversed_padding_repeated_twice, mode="reflect")
                padding = (0, 0)
            b = None if bias is None else bias.to(dtype)
            packed = self._prepacked(weight, dtype, padding) if dev == "cpu" else None
            if packed is not None:
                try:
                    return torch.ops.mkldnn._convolution_pointwise(x, packed, b, list(padding), list(self.stride),
                                                                   list(self.dilation), self.groups, "none", [], "")
                except (RuntimeError, NotImplementedError):
                    self._prepack_failed = True
            return F.conv2d(x, weight.to(dtype), b, self.stride, padding, self.dilation, self.groups)


def _lookup_tables(weight: torch.Tensor, layout: tuple[int, int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    """The lookup tables of a k×k kernel ``weight`` (C, ...) over ``layout`` = (nc, frame channels, F) one-hot
    frames: interior (F·nc + 1, C) per-class sums of the k·k taps, then a zero row; taps (F, k·k·nc, C). Plain
    tensor operations, so gradients reach ``weight`` when it needs them (training) and not when it is detached."""
    nc, fc, n = layout
    c, k = weight.shape[0], weight.shape[-1]
    w = weight[:, : n * fc].reshape(c, n, fc, k, k)[:, :, :nc]
    interior = torch.cat([w.sum((3, 4)).permute(1, 2, 0).reshape(n * nc, c), w.new_zeros(1, c)])
    return interior, w.permute(1, 3, 4, 2, 0).reshape(n, k * k * nc, c)


class OneHotLookup:
    """The lookup shared by the OneHotConv layers that read the same input (a scale's label encoder and foreground
    encoder): one pass over the indices and one rest-channel convolution serve all of them, with their kernels
    side by side in the tables."""

    def __init__(self, num_classes: int, frame_channels: int, n_frames: int, mode: str = "auto"):
        if mode not in ("auto", "lookup", "dense"):
            raise ValueError(f"one-hot mode must be auto, lookup or dense, got {mode!r}")
        self.num_classes, self.frame_channels, self.n_frames = num_classes, frame_channels, n_frames
        self.mode = mode
        self.members: list["OneHotConv"] = []
        self._tables: tuple | None = None

    def add(self, conv: "OneHotConv") -> tuple[int, int]:
        start = sum(m.out_channels for m in self.members)
        self.members.append(conv)
        return start, start + conv.out_channels

    def tables(self, dtype: torch.dtype) -> dict:
        """interior (F·nc + 1, C): per-class sums of the k·k taps, then a zero row; taps (F, k·k·nc, C); rest
        weights (C, n_rest, k, k) in ``dtype``; bias (C,) or None — C the members' channels side by side."""
        key = (dtype, *((m.weight._version, m.weight.data_ptr(), m.weight.device) for m in self.members))
        if self._tables is not None and self._tables[0] == key:
            return self._tables[1]
        first = self.members[0]
        weight = torch.cat([m.weight.detach().float() for m in self.members])
        interior, taps = _lookup_tables(weight, (self.num_classes, self.frame_channels, self.n_frames))
        biases = [m.bias for m in self.members]
        out = {"interior": interior.contiguous(), "taps": taps.contiguous(),
               "rest": weight[:, first.rest_channels].to(dtype).contiguous(memory_format=torch.channels_last),
               "bias": None if any(b is None for b in biases) else torch.cat([b.detach().float() for b in biases])}
        self._tables = (key, out)
        return out

    def __call__(self, x: torch.Tensor, hint: dict, compute_dtype: torch.dtype) -> torch.Tensor | None:
        """(B, C, H, W) lookup output of all members for ``x`` (cached in the hint for the other members), or None
        when this lookup computes densely (the members then run their plain convolution).

        ``mode="auto"`` is decided by the compute dtype, never by timing (timing would make the output depend on
        the machine's load, and the two ways differ by rounding): float32 uses the lookup, which is several times
        faster than the convolution; bf16/fp16 use the dense convolution, which matrix units (AMX, tensor cores)
        run as fast or faster (measured: 18 ms dense vs 21 ms lookup for a 108→64 layer at 256×128, bf16)."""
        if self.mode == "auto":
            self.mode = "lookup" if compute_dtype == torch.float32 else "dense"
        if self.mode == "dense":
            return None
        cached = hint["cache"].get(id(self))
        if cached is not None:
            return cached
        out = self._lookup(x, hint, compute_dtype)
        hint["cache"][id(self)] = out
        return out

    def _lookup(self, x: torch.Tensor, hint: dict, compute_dtype: torch.dtype) -> torch.Tensor:
        first = self.members[0]
        k = first.kernel_size[0]
        plan_key = ("plan", k, self.num_classes)
        plan = hint["cache"].get(plan_key)
        if plan is None:
            plan = hint["cache"][plan_key] = _lookup_plan(hint["ids"].to(x.device), k, self.num_classes)
        t = self.tables(compute_dtype)
        b, h, w = plan["shape"]
        c = t["interior"].shape[1]
        out = F.embedding_bag(plan["interior"], t["interior"], mode="sum")  # (B·H·W, C), pixels in NHWC order
        for part in plan["boundary"]:
            out.index_add_(0, part["pixels"], F.embedding_bag(part["rows"], t["taps"][part["frame"]], mode="sum"))
        if t["bias"] is not None:
            out += t["bias"]
        out = out.view(b, h, w, c).permute(0, 3, 1, 2)  # a channels-last view
        if len(first.rest_ranges):
            rest = torch.cat([x[:, a:e] for a, e in first.rest_ranges], 1).to(compute_dtype)
            with torch.autocast(x.device.type, enabled=False):
                pad = F.pad(rest, first._reversed_padding_repeated_twice, mode="reflect")
                out = torch.add(F.conv2d(pad, t["rest"]), out)
        return out.to(compute_dtype)


class OneHotConv(FastConv):
    """A reflection-padded k×k convolution whose input starts with ``n_frames`` groups of ``frame_channels``
    channels, the first ``num_classes`` of each group one-hot (then e.g. an instance-edge channel), followed by
    any other channels. Shares the weight and bias Parameters of the convolution it replaces; with a hint for its
    input it computes through its :class:`OneHotLookup` (possibly shared with other layers)."""

    def __init__(self, conv: nn.Conv2d, lookup: OneHotLookup):
        k = conv.kernel_size[0]
        if (conv.kernel_size != (k, k) or k % 2 == 0 or conv.stride != (1, 1) or conv.dilation != (1, 1)
                or conv.groups != 1 or conv.padding != (k // 2, k // 2) or conv.padding_mode != "reflect"):
            raise ValueError("OneHotConv replaces stride-1, odd-kernel, reflection-padded convolutions only")
        n, fc, nc = lookup.n_frames, lookup.frame_channels, lookup.num_classes
        if n * fc > conv.in_channels or nc > fc:
            raise ValueError(f"a {conv.in_channels}-channel conv cannot read {n} frames of {fc}")
        if lookup.members and (lookup.members[0].in_channels, lookup.members[0].kernel_size) != \
                (conv.in_channels, conv.kernel_size):
            raise ValueError("the layers of one OneHotLookup must read the same input with the same kernel")
        super().__init__(conv.in_channels, conv.out_channels, k, padding=k // 2, padding_mode="reflect",
                         bias=conv.bias is not None, device="meta")
        self.weight = conv.weight
        self.bias = conv.bias
        onehot = {f * fc + c for f in range(n) for c in range(nc)}
        rest = [c for c in range(conv.in_channels) if c not in onehot]
        self.rest_ranges = _ranges(rest)  # the other channels as (start, stop) runs, gathered by slicing
        self.register_buffer("rest_channels", torch.tensor(rest, dtype=torch.long, device=conv.weight.device),
                             persistent=False)
        self.lookup = lookup
        self.channels = lookup.add(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hint = _current_hint(x)
        if hint is None or hint["ids"].shape[1] != self.lookup.n_frames or hint["ids"].shape[-2:] != x.shape[-2:]:
            return super().forward(x)
        if self.lookup.mode == "dense":
            return super().forward(x)
        dtype = torch.get_autocast_dtype(x.device.type) if torch.is_autocast_enabled(x.device.type) \
            else self.weight.dtype
        out = self.lookup(x, hint, dtype)
        if out is None:  # "auto" resolved to the dense convolution for this dtype
            return super().forward(x)
        a, b = self.channels
        return out if (a, b) == (0, out.shape[1]) else out[:, a:b]


class FastInstanceNorm(nn.InstanceNorm2d):
    """Instance norm that runs single images through the batch-statistics batch-norm kernel (same result)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[0] != 1 or self.track_running_stats:
            return super().forward(x)
        return F.batch_norm(x, None, None, self.weight, self.bias, True, 0.0, self.eps)


def _first_convs(networks: nn.ModuleDict, cfg) -> list[tuple[list[nn.Module], int]]:
    """([ConvBlocks reading the same input], frames it holds) for every input made of one-hot label frames."""
    found = []
    gen = networks["generator"] if "generator" in networks else None
    if gen is not None:
        for scale in gen.scales:
            blocks = [scale.label_encoder[0]] + ([scale.fg_encoder[0]] if hasattr(scale, "fg_encoder") else [])
            found.append((blocks, cfg.n_past_frames + 1))
    ff = networks["first_frame"] if "first_frame" in networks else None
    if ff is not None and getattr(ff, "input_channels", 0) in (0, None):
        found.append(([ff.global_net[0]], 1))
        found.extend(([down[0]], 1) for down in ff.local_down)
    return found


def enable_one_hot_training(networks: nn.ModuleDict, cfg) -> int:
    """Let training compute the one-hot part of the generators' first convolutions by lookup (float32; the same
    sum, differentiable in the weights): marks those :class:`~v2v.nn.blocks.ReflectConv2d` layers with their input
    layout. They use the lookup only for an input declared with :func:`one_hot_hint`; -> how many were marked."""
    if cfg.labels.encoding != "onehot":
        return 0
    marked = 0
    for blocks, n_frames in _first_convs(networks, cfg):
        for block in blocks:
            if isinstance(block.conv, ReflectConv2d):
                block.conv.one_hot_layout = (cfg.labels.num_classes, cfg.frame_channels, n_frames)
                marked += 1
    return marked


class _TrainingLookup(torch.autograd.Function):
    """The lookup sum of a :func:`_lookup_plan` over tables that need gradients: (B·H·W, C) in NHWC pixel order.
    Its backward scatters the output gradient into the table rows with ``index_add_`` (one call per frame for
    the interior table, one per frame and tap for the boundary taps), several times faster on the CPU than the
    backward of ``embedding_bag`` over the same indices."""

    @staticmethod
    def forward(ctx, interior: torch.Tensor, taps: torch.Tensor, plan: dict) -> torch.Tensor:
        ctx.plan = plan
        ctx.shapes = (interior.shape, taps.shape)
        out = F.embedding_bag(plan["interior"], interior, mode="sum")
        for part in plan["boundary"]:
            out.index_add_(0, part["pixels"], F.embedding_bag(part["rows"], taps[part["frame"]], mode="sum"))
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        plan, (interior_shape, taps_shape) = ctx.plan, ctx.shapes
        grad = grad.contiguous()
        g_interior = grad.new_zeros(interior_shape)
        for f in range(plan["interior"].shape[1]):
            g_interior.index_add_(0, plan["interior"][:, f], grad)
        g_interior[-1] = 0  # the zero row stands for "done by the taps": it is no parameter
        g_taps = grad.new_zeros(taps_shape)
        for part in plan["boundary"]:
            g_pixels = grad.index_select(0, part["pixels"])
            table, rows = g_taps[part["frame"]], part["rows"]
            for j in range(rows.shape[1]):
                table.index_add_(0, rows[:, j], g_pixels)
        return g_interior, g_taps, None


def one_hot_training_conv(conv: ReflectConv2d, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None
                          ) -> torch.Tensor | None:
    """``conv(x)`` for training with its one-hot channels computed by lookup; None (the caller convolves) when
    ``x`` carries no matching hint or does not compute in float32. Gradients reach the weight, the bias and the
    last ``conv.grad_channels`` input channels (the style features), as in ReflectConv2d's split convolution;
    the label channels never get one."""
    hint = _current_hint(x)
    nc, fc, n = conv.one_hot_layout
    dev = x.device.type
    if hint is None or hint["ids"].shape[1] != n or hint["ids"].shape[-2:] != x.shape[-2:] or \
            x.dtype != torch.float32 or weight.dtype != torch.float32 or torch.is_autocast_enabled(dev):
        return None
    k, p, g = weight.shape[-1], weight.shape[-1] // 2, conv.grad_channels
    plan_key = ("plan", k, nc)
    plan = hint["cache"].get(plan_key)
    if plan is None:
        plan = hint["cache"][plan_key] = _lookup_plan(hint["ids"].to(x.device), k, nc)
    interior, taps = _lookup_tables(weight, conv.one_hot_layout)
    out = _TrainingLookup.apply(interior, taps, plan)  # (B·H·W, C), pixels in NHWC order
    b, h, w = plan["shape"]
    out = out.view(b, h, w, -1).permute(0, 3, 1, 2)
    idx_key = ("fixed_channels", x.shape[1], g, conv.one_hot_layout)
    idx = hint["cache"].get(idx_key)
    if idx is None:  # the channels neither one-hot nor style features, e.g. instance edges: no gradient
        onehot = {f * fc + c for f in range(n) for c in range(nc)}
        fixed = [c for c in range(x.shape[1] - g) if c not in onehot]
        idx = hint["cache"][idx_key] = torch.tensor(fixed, dtype=torch.long, device=x.device)
    if idx.numel():
        rest = F.pad(x.detach().index_select(1, idx), (p, p, p, p), mode="reflect")
        out = out + F.conv2d(rest, weight.index_select(1, idx))
    if g:
        out = out + F.conv2d(_ReflectPad.apply(x[:, -g:], p), weight[:, -g:])
    if bias is not None:
        out = out + bias.view(1, -1, 1, 1)
    return out


def enable_fast_inference(networks: nn.ModuleDict, cfg, one_hot: str = "auto") -> dict:
    """Swap in the fast layers (in place). ``one_hot``: "lookup", "dense" (a plain convolution over the one-hot
    channels, still with bf16 padding) or "auto" (time both on the first frames, keep the faster).
    Returns {"one_hot_convs", "instance_norms", "convs"}: how many layers were swapped."""
    convs = 0
    if cfg.labels.encoding == "onehot":
        for blocks, n_frames in _first_convs(networks, cfg):
            if any(isinstance(block.conv, OneHotConv) for block in blocks):
                continue
            lookup = OneHotLookup(cfg.labels.num_classes, cfg.frame_channels, n_frames, one_hot)
            for block in blocks:
                block.conv = OneHotConv(block.conv, lookup)
                convs += 1
    norms = plain = 0
    for name in ("generator", "first_frame"):
        if name not in networks:
            continue
        for m in networks[name].modules():
            if type(m) is nn.InstanceNorm2d:
                m.__class__ = FastInstanceNorm
                norms += 1
            elif type(m) in (nn.Conv2d, ReflectConv2d) and m.padding_mode in ("reflect", "zeros"):
                m.__dict__["_plain_class"] = type(m)
                m.__class__ = FastConv
                plain += 1
    return {"one_hot_convs": convs, "instance_norms": norms, "convs": plain}


def one_hot_modes(networks: nn.Module) -> list[str]:
    """The way each one-hot lookup computes: "lookup", "dense", or still "auto" (not decided yet)."""
    seen: dict[int, str] = {}
    for m in networks.modules():
        if isinstance(m, OneHotConv):
            seen.setdefault(id(m.lookup), m.lookup.mode)
    return list(seen.values())


def disable_fast_inference(networks: nn.ModuleDict) -> None:
    """Undo :func:`enable_fast_inference` (plain convolutions and instance norms again)."""
    for m in list(networks.modules()):
        for name, child in list(m.named_children()):
            if isinstance(child, OneHotConv):
                plain = ReflectConv2d(child.in_channels, child.out_channels, child.kernel_size,
                                      padding=child.padding, padding_mode="reflect", bias=child.bias is not None,
                                      device="meta")
                plain.weight, plain.bias = child.weight, child.bias
                setattr(m, name, plain)
        if type(m) is FastInstanceNorm:
            m.__class__ = nn.InstanceNorm2d
        elif type(m) is FastConv:
            m.__dict__.pop("_packed", None)
            m.__dict__.pop("_prepack_failed", None)
            m.__class__ = m.__dict__.pop("_plain_class", nn.Conv2d)

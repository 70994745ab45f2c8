"""Throughput you can see: FLOPs per training step, the machine's measured matmul peak, and MFU (as nanoGPT logs
it: achieved FLOP/s ÷ peak FLOP/s).

FLOPs are counted, not estimated: one real training step runs under ``torch.utils.flop_counter.FlopCounterMode``
(convolutions, matmuls and their backward passes; the elementwise work is not counted, as is usual for MFU).
The peak is a dense square matmul in the training precision on this process's threads, timed once at start.
"""
from __future__ import annotations

import time

import torch
from torch.utils.flop_counter import FlopCounterMode

PRECISION_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def matmul_peak_gflops(precision: str = "bf16", device: str | torch.device = "cpu", n: int = 1024,
                       seconds: float = 0.5) -> float:
    """Best GFLOP/s of an n×n×n matmul in ``precision`` over about ``seconds`` of repeats."""
    dtype = PRECISION_DTYPES[precision]
    a = torch.randn(n, n, device=device).to(dtype)
    b = torch.randn(n, n, device=device).to(dtype)
    torch.mm(a, b)  # warm-up (oneDNN kernel selection)
    best, start = float("inf"), time.perf_counter()
    while time.perf_counter() - start < seconds or best == float("inf"):
        t = time.perf_counter()
        torch.mm(a, b)
        if torch.device(device).type == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t)
    return 2 * n ** 3 / best / 1e9


def counted(fn, *args, **kwargs) -> tuple[object, float]:
    """Run ``fn`` under a FLOP counter: -> (its result, GFLOP it performed)."""
    with FlopCounterMode(display=False) as counter:
        result = fn(*args, **kwargs)
    return result, counter.get_total_flops() / 1e9

"""Which floating-point precision to compute in: bf16 only where the hardware computes it natively.

bf16 autocast halves memory traffic and, on CPUs with bf16 dot-product instructions (AVX512-BF16, AMX) or on
GPUs, runs the convolutions 2-4x faster than fp32. On a CPU without them (AVX2-only machines, e.g. AMD Zen 3)
PyTorch and oneDNN emulate bf16, and it is an order of magnitude *slower* than fp32: measured on a 2-core AMD
EPYC (Zen 3, AVX2), a 1024² matmul ran 0.6 GFLOP/s in bf16 against 48 in fp32, and ``v2v.bench stream`` on
street_256 took 2.85 CPU-seconds per frame in bf16 against 0.24 in fp32.

``precision="auto"`` (the default of the engine, the CLI, the benchmarks and the training configs) therefore
resolves to bf16 where it is native and to fp32 elsewhere. The rule reads CPU features, not timings, so the same
machine always makes the same frames. Asking for bf16 explicitly where it is emulated still works, with a warning.
"""
from __future__ import annotations

import warnings

import torch

PRECISIONS = ("auto", "fp32", "bf16")  # what inference computes in; training also has fp16 (GradScaler, GPUs)


def _cpu_feature(name: str) -> bool:
    probe = getattr(torch.cpu, name, None)  # private helpers of torch.cpu; absent on some builds -> no feature
    try:
        return bool(probe()) if probe is not None else False
    except Exception:  # noqa: BLE001 - a probe that fails says nothing about the feature
        return False


def native_bf16(device: str | torch.device = "cpu") -> bool:
    """True where bf16 math runs in hardware: a CUDA GPU that supports it, or an x86 CPU with AVX512-BF16 or AMX."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        return _cpu_feature("_is_avx512_bf16_supported") or _cpu_feature("_is_amx_tile_supported")
    return False


def cpu_description() -> str:
    """What the precision rule saw on this CPU, for logs and error messages."""
    features = [name for name, probe in (("AVX512-BF16", "_is_avx512_bf16_supported"),
                                          ("AMX", "_is_amx_tile_supported")) if _cpu_feature(probe)]
    capability = torch.backends.cpu.get_cpu_capability()
    return f"{capability}" + (f" + {' + '.join(features)}" if features else ", no native bf16")


def resolve_precision(precision: str, device: str | torch.device = "cpu",
                      allowed: tuple[str, ...] = PRECISIONS) -> str:
    """``auto`` -> ``bf16`` where :func:`native_bf16`, else ``fp32``; any other allowed name is returned as is
    (bf16 where it is emulated with a warning that says how much slower it is and what to pass instead)."""
    if precision not in allowed:
        raise ValueError(f"precision must be one of {', '.join(allowed)}, got {precision!r}")
    native = native_bf16(device)
    if precision == "auto":
        return "bf16" if native else "fp32"
    if precision == "bf16" and not native:
        where = torch.backends.cpu.get_cpu_capability() if torch.device(device).type == "cpu" \
            else str(torch.device(device))
        warnings.warn(f"bf16 was asked for, but this machine ({where}) has no native bf16: it is emulated and "
                      "about 10x slower than fp32. Use precision auto or fp32.",
                      RuntimeWarning, stacklevel=2)
    return precision

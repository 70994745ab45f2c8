"""``python -m v2v.bench generator --preset NAME --size WxH [--precision fp32|bf16] [--fast] [--json]``

Times one step of the sequential generator (median of several runs after warm-up; also the process CPU time,
steadier than wall time on a busy machine), counts its FLOPs with
torch's FlopCounterMode, and for bf16 reports the PSNR of the output against fp32 on the same random-init weights.

``--fast`` times the inference path the Engine uses instead: weights cast to bf16 once (with ``--precision bf16``),
channels-last layout, and the exact fast layers of :mod:`v2v.nn.fast` (first convolutions as one-hot lookups with
the class ids handed over as the Synthesizer does — ``--one-hot auto|lookup|dense`` — bf16 reflection padding,
batch-kernel instance norm); the PSNR is then against the plain fp32 path and ``one_hot`` says which way each
lookup computes. ``--profile`` prints torch.profiler's top operators of one timed step.
"""
from __future__ import annotations

import copy
import json
import math
import statistics
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from ..config import GENERATOR_NORMS
from ..presets import model_preset
from .inputs import synthetic_step_inputs


def register(sub) -> None:
    p = sub.add_parser("generator", help="time one sequential-generator step")
    p.add_argument("--preset", required=True)
    p.add_argument("--size", default="256x128", help="WxH")
    p.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    p.add_argument("--norm", choices=GENERATOR_NORMS)
    p.add_argument("--fast", action="store_true", help="time the Engine's optimised inference path")
    p.add_argument("--one-hot", choices=["auto", "lookup", "dense"], default="auto",
                   help="with --fast: how the first convolutions read one-hot labels (auto: lookup in fp32, dense in bf16)")
    p.add_argument("--profile", action="store_true", help="print the profiler's top operators")
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=run)


def parse_size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise ValueError(f"size must look like 256x128 (WxH), got {text!r}") from None
    return w, h


def psnr(a: torch.Tensor, b: torch.Tensor, peak_to_peak: float = 2.0) -> float:
    mse = float(((a.float() - b.float()) ** 2).mean())
    return float("inf") if mse == 0 else 10 * math.log10(peak_to_peak ** 2 / mse)


def one_hot_ids(cfg, labels: torch.Tensor) -> torch.Tensor | None:
    """The class ids behind the one-hot channels of a generator input (what the Synthesizer hands over)."""
    if cfg.labels.encoding != "onehot":
        return None
    n, fc, nc = cfg.n_past_frames + 1, cfg.frame_channels, cfg.labels.num_classes
    return labels[:, : n * fc].reshape(labels.shape[0], n, fc, *labels.shape[-2:])[:, :, :nc].argmax(2)


def fast_network(cfg, net: torch.nn.Module, precision: str, one_hot: str = "auto") -> torch.nn.Module:
    """A copy of ``net`` prepared as the Engine prepares its networks."""
    from ..nn.fast import enable_fast_inference

    fast = copy.deepcopy(net)
    if precision == "bf16":
        fast.to(torch.bfloat16)
    fast.to(memory_format=torch.channels_last)
    enable_fast_inference(torch.nn.ModuleDict({"generator": fast}), cfg, one_hot)
    return fast


def run(args) -> int:
    import contextlib

    from ..config import check_size
    from ..nn.fast import one_hot_hint
    from ..nn.generator import SequentialGenerator

    if args.threads:
        torch.set_num_threads(args.threads)
    w, h = parse_size(args.size)
    cfg = model_preset(args.preset, {"norm": args.norm} if args.norm else None)
    check_size(w, h, cfg.size_multiple)
    torch.manual_seed(args.seed)
    net = SequentialGenerator(cfg).eval()
    inputs = synthetic_step_inputs(cfg, h, w, args.seed)

    with torch.inference_mode():
        reference = net(**inputs)["image"]
        with FlopCounterMode(display=False) as counter:
            net(**inputs)
    gflop = counter.get_total_flops() / 1e9

    ids = None
    if args.fast:
        net = fast_network(cfg, net, args.precision, args.one_hot)
        ids = one_hot_ids(cfg, inputs["labels"])
    else:
        net = net.to(memory_format=torch.channels_last)
    inputs = {k: v.contiguous(memory_format=torch.channels_last) for k, v in inputs.items()}

    def step():
        hint = one_hot_hint(inputs["labels"], ids) if ids is not None else contextlib.nullcontext()
        with hint:
            return net(**inputs)["image"]

    autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.precision == "bf16")
    times, cpu_times = [], []
    with torch.inference_mode(), autocast:
        for _ in range(2):  # warm-up (oneDNN primitive creation, weight packing)
            out = step()
        for _ in range(args.repeats):
            t0, c0 = time.perf_counter(), time.process_time()
            out = step()
            times.append(time.perf_counter() - t0)
            cpu_times.append(time.process_time() - c0)
        if args.profile:
            from torch.profiler import profile

            with profile() as prof:
                step()
            print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=15))
    sec = statistics.median(times)
    cpu = statistics.median(cpu_times)
    result = {"bench": "generator", "preset": args.preset, "size": [w, h], "precision": args.precision,
              "fast": args.fast, "norm": cfg.norm, "threads": torch.get_num_threads(), "s_per_frame": round(sec, 4), "cpu_s_per_frame": round(cpu, 4),
              "frames_per_s": round(1 / sec, 3), "gflop_per_frame": round(gflop, 2),
              "gflops_per_s": round(gflop / sec, 1)}
    if args.fast:
        from ..nn.fast import one_hot_modes

        result["one_hot"] = one_hot_modes(net)
    if args.precision != "fp32" or args.fast:
        result["psnr_vs_fp32"] = round(psnr(out, reference), 2)
    if not args.json:
        for k, v in result.items():
            print(f"{k:>16}: {v}")
    print(json.dumps(result))
    return 0

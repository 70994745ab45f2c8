"""Process-group setup and gradient averaging for multi-process training (torchrun).

The recurrent generator runs T forward passes per backward, with per-scale histories and frozen scales, which
DistributedDataParallel's reducer does not track cleanly; gradients are instead averaged explicitly after each
backward with one coalesced all-reduce per network. The result is the same as DDP's: every rank steps with the
mean gradient and the parameters stay identical.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def setup(device_pref: str) -> DistInfo:
    want_cuda = device_pref == "cuda" or (device_pref == "auto" and torch.cuda.is_available())
    if device_pref == "cuda" and not torch.cuda.is_available():
        raise ValueError("device=cuda but no CUDA device is available; use device=cpu")
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if want_cuda:
        torch.cuda.set_device(local)
        device = torch.device("cuda", local)
    else:
        device = torch.device("cpu")
    if world > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if want_cuda else "gloo")
    return DistInfo(rank, world, local, device)


def average_gradients(params, world_size: int) -> None:
    if world_size <= 1:
        return
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= world_size
    offset = 0
    for g in grads:
        n = g.numel()
        g.copy_(flat[offset:offset + n].view_as(g))
        offset += n


def broadcast_parameters(module: torch.nn.Module, world_size: int) -> None:
    """Start every rank from rank 0's weights."""
    if world_size <= 1:
        return
    for t in list(module.parameters()) + list(module.buffers()):
        dist.broadcast(t.data, 0)


def barrier(world_size: int) -> None:
    if world_size > 1:
        dist.barrier()


def cleanup() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def parameters_identical(module: torch.nn.Module, world_size: int) -> bool:
    """True when every rank holds exactly the same parameters (compared by an fp64 checksum per tensor)."""
    if world_size <= 1:
        return True
    sums = torch.stack([p.detach().double().sum() for p in module.parameters()]).cpu()
    gathered = [None] * world_size
    dist.all_gather_object(gathered, sums)
    return all(torch.equal(gathered[0], g) for g in gathered[1:])

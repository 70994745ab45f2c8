"""Validation on held-out sequences: the model synthesises each sequence the way inference does (first-frame
generator, then the recurrence, styles encoded from the real frames) and is scored against the real video."""
from __future__ import annotations

import numpy as np
import torch

from v2v.metrics import psnr, ssim, warping_error
from v2v.nn.encoder import instance_pool, region_ids
from v2v.pipeline import Synthesizer
from v2v.visualize import image_to_uint8


def _frame_tensors(index, seq, i: int, mcfg) -> dict:
    f = index.load_frame(seq, i)
    labels = torch.from_numpy(np.ascontiguousarray(f["labels"]))
    labels = labels.long()[None] if mcfg.labels.encoding == "onehot" else (
        labels[None, None] if labels.dim() == 2 else labels.permute(2, 0, 1)[None])
    inst = f.get("instances")
    inst = torch.from_numpy(inst.astype(np.int64))[None] if inst is not None else torch.zeros_like(labels[:, 0]
                                                                                                   if labels.dim() == 4
                                                                                                   else labels)
    mask = f.get("mask")
    mask = torch.from_numpy((mask > 127).astype(np.float32))[None, None] if mask is not None else None
    return {"labels": labels, "instances": inst, "mask": mask, "image": f["image"]}


@torch.no_grad()
def validate(trainer, index, sequences: list[str], max_frames: int) -> dict:
    mcfg = trainer.mcfg
    nets = trainer.G
    was_training = nets.training
    nets.eval()
    synth = Synthesizer(mcfg, nets, trainer.device, "fp32")
    scores = {"warp_error": [], "warp_error_real": [], "psnr": [], "ssim": []}
    for name in sequences:
        seq = index.sequence(name)
        n = min(seq.num_frames, max_frames)
        synth.reset()
        fakes, reals = [], []
        for i in range(n):
            f = _frame_tensors(index, seq, i, mcfg)
            feats = None
            if "encoder" in nets:
                real = torch.from_numpy(f["image"]).permute(2, 0, 1)[None].float().to(trainer.device) / 127.5 - 1
                feats = instance_pool(nets["encoder"](real), region_ids(f["labels"].to(trainer.device),
                                                                        f["instances"].to(trainer.device),
                                                                        mcfg.labels.num_classes))
            out = synth.step(f["labels"], f["instances"], f["mask"], feats)
            fakes.append(image_to_uint8(out["image"]))
            reals.append(f["image"])
        scores["warp_error"].append(warping_error(fakes, reals))
        scores["warp_error_real"].append(warping_error(reals, reals))
        scores["psnr"].append(float(np.mean([psnr(a, b) for a, b in zip(fakes, reals)])))
        scores["ssim"].append(float(np.mean([ssim(a, b) for a, b in zip(fakes, reals)])))
    nets.train(was_training)
    return {k: float(np.mean(v)) for k, v in scores.items()}

"""Validation on held-out sequences during training (the same synthesis and scores as ``v2v evaluate``, with the
generator diagnostics ``mask_mean`` and ``flow_px``)."""
from __future__ import annotations

import numpy as np

from v2v.evaluate import synthesize_sequence, video_scores


def validate(trainer, index, sequences: list[str], max_frames: int) -> dict:
    nets = trainer.G_inference
    was_training = nets.training
    nets.eval()
    per_seq = []
    for name in sequences:
        out = synthesize_sequence(trainer.mcfg, nets, index, name, max_frames, trainer.device)
        # with the generator's mask and flow: a closing mask (the generator copying its previous frame) shows here
        per_seq.append({**video_scores(out["fakes"], out["reals"]), **out["generator"]})
    nets.train(was_training)
    return {k: float(np.mean([s[k] for s in per_seq])) for k in per_seq[0]}

"""The style losses: E's colour anchor and the generator's style consistency (``loss.style_color``,
``loss.style_consistency``)."""
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from synthetic import tiny_trainer  # noqa: E402

from v2v.losses import style_color_loss, style_consistency_loss  # noqa: E402
from v2v.nn.encoder import instance_pool, region_ids  # noqa: E402


def _setup(tmp_path, *overrides):
    return tiny_trainer(tmp_path, 4, overrides)


def test_loss_functions_are_zero_exactly_when_the_regions_match():
    labels = torch.tensor([[[7, 7, 26, 26], [7, 7, 26, 26]]])
    inst = torch.tensor([[[0, 0, 1, 1], [0, 0, 1, 1]]])
    regions = region_ids(labels, inst, 35)
    image = torch.rand(1, 3, 2, 4) * 2 - 1
    colors = instance_pool(image, regions)
    assert style_color_loss(colors, image * 0 + colors) == 0
    # only the first three channels are anchored; a fourth is free
    free = torch.cat([colors, torch.randn(1, 1, 2, 4)], 1)
    assert style_color_loss(free, colors) == 0
    assert style_color_loss(colors + 0.25, colors) == pytest.approx(0.25)
    # consistency compares region means: pixel noise that averages out inside each region costs nothing
    noise = torch.tensor([[1.0, -1.0, 1.0, -1.0], [-1.0, 1.0, -1.0, 1.0]]) * 0.3
    assert style_consistency_loss(colors + noise, colors, regions) == pytest.approx(0.0, abs=1e-6)
    assert style_consistency_loss(colors - 0.5, colors, regions) == pytest.approx(0.5)


def test_style_consistency_trains_the_generator_and_leaves_the_encoder_alone(tmp_path):
    trainer, batch = _setup(tmp_path, "loss.style_consistency=10", "loss.style_color=0")
    x = trainer.prepare(batch, 1)
    gen = trainer.generate(x, 1, 0)
    L = trainer.mcfg.n_past_frames
    fakes = [gen["first"]] + [o["image"] for o in gen["outs"]]
    terms = trainer._style_terms(x, [torch.cat(fakes[:1]), torch.cat(fakes[1:])], [0] + list(range(L, x["T"])))
    assert set(terms) == {"G_style"} and terms["G_style"] > 0
    trainer.G.zero_grad(set_to_none=True)
    terms["G_style"].backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in trainer.G["first_frame"].parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in trainer.G["generator"].parameters())


def test_frozen_encoder_passes_gradients_to_the_image_only(tmp_path):
    """E reads the generated frames with fixed weights: otherwise it could satisfy the consistency term by learning
    to agree with the generator instead of the generator learning to honour the features."""
    trainer, _ = _setup(tmp_path)
    image = torch.rand(1, 3, 32, 64, requires_grad=True)
    out = trainer._encode_frozen(image)
    assert torch.allclose(out, trainer.G["encoder"](image))
    trainer.G.zero_grad(set_to_none=True)
    out.square().sum().backward()
    assert image.grad is not None and image.grad.abs().sum() > 0
    assert all(p.grad is None for p in trainer.G["encoder"].parameters())

def test_colour_anchor_pulls_pooled_features_to_region_colours_under_bf16(tmp_path):
    """Under bf16 autocast (the CPU training precision) the encoder's pooled features must move to the region
    colours. Before instance_pool summed in fp32 they could not: bf16 sums over a large region stall, and the anchor
    fitted the stalled means instead."""
    trainer, batch = _setup(tmp_path, "loss.style_color=10", "precision=bf16", "lr=0.002")
    with torch.no_grad():
        start = float(trainer.prepare(batch, 1)["style_color"])
    for _ in range(20):
        logs = trainer.train_step(batch)
    with torch.no_grad():  # measured in fp32, outside autocast
        x = trainer.prepare(batch, 1)
    end = float(x["style_color"])
    print(f"E colour L1: {start:.3f} -> {end:.3f} (last logged {logs['E_color'] / 10:.3f})")
    assert end < 0.3 * start
    # what training saw under autocast is what it is in fp32 (with bf16 sums: 0.05 logged, 0.17 true)
    assert abs(logs["E_color"] / 10 - end) < 0.03

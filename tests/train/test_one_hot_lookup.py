"""Training's one-hot lookup (``one_hot_lookup``): the generators' first convolutions sum per-class kernel columns
instead of convolving one-hot channels; the same outputs and gradients as the dense convolution."""
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from synthetic import street_frames, tiny_trainer  # noqa: E402

from v2v.labels import CITYSCAPES, encode_frame  # noqa: E402
from v2v.nn import fast  # noqa: E402
from v2v.nn.blocks import ReflectConv2d  # noqa: E402
from v2v.nn.fast import one_hot_hint  # noqa: E402


def _frames(n_frames: int, size=(48, 24)):
    frames = list(street_frames(n_frames, size))
    ids = torch.stack([torch.from_numpy(lab).long() for lab, _, _ in frames])  # (F, H, W)
    inst = torch.stack([torch.from_numpy(i).long() for _, i, _ in frames])
    enc = torch.cat([encode_frame(CITYSCAPES, ids[f:f + 1], inst[f:f + 1], True) for f in range(n_frames)], 1)
    return ids.unsqueeze(0), enc


@pytest.mark.parametrize("grad_channels", [0, 3])
def test_lookup_conv_matches_the_dense_convolution_and_its_gradients(grad_channels):
    torch.manual_seed(0)
    n, nc = 3, CITYSCAPES.num_classes
    ids, enc = _frames(n)
    feats = torch.randn(1, grad_channels, *enc.shape[-2:], requires_grad=True)
    conv = ReflectConv2d(enc.shape[1] + grad_channels, 12, 7, padding=3, padding_mode="reflect")
    conv.grad_channels = grad_channels
    weights = torch.randn(1, 12, *enc.shape[-2:])

    def run(layout):
        conv.zero_grad()
        feats.grad = None
        conv.one_hot_layout = layout
        inp = torch.cat([enc, feats], 1)
        with one_hot_hint(inp, ids):
            out = conv(inp)
        (out * weights).sum().backward()
        return out.detach(), conv.weight.grad.clone(), conv.bias.grad.clone(), \
            None if feats.grad is None else feats.grad.clone()

    dense, lookup = run(None), run((nc, nc + 1, n))
    for a, b in zip(dense, lookup):
        if a is None or a.numel() == 0:
            assert b is None or b.numel() == 0
            continue
        assert torch.allclose(a, b, rtol=1e-4, atol=1e-4 * float(a.abs().max())), float((a - b).abs().max())


def test_lookup_is_used_only_with_a_matching_hint_in_float32():
    ids, enc = _frames(1)
    conv = ReflectConv2d(enc.shape[1], 4, 7, padding=3, padding_mode="reflect")
    conv.one_hot_layout = (CITYSCAPES.num_classes, CITYSCAPES.num_classes + 1, 1)
    assert fast.one_hot_training_conv(conv, enc, conv.weight, conv.bias) is None  # no hint
    with one_hot_hint(enc.clone(), ids):  # a hint for another tensor
        assert fast.one_hot_training_conv(conv, enc, conv.weight, conv.bias) is None
    with one_hot_hint(enc, ids):
        assert fast.one_hot_training_conv(conv, enc, conv.weight, conv.bias) is not None
        with torch.autocast("cpu", dtype=torch.bfloat16):
            assert fast.one_hot_training_conv(conv, enc, conv.weight, conv.bias) is None


def test_a_training_step_gives_the_same_weights_with_and_without_the_lookup(tmp_path, monkeypatch):
    used = []
    real = fast.one_hot_training_conv

    def spy(*args):
        out = real(*args)
        used.append(out is not None)
        return out

    monkeypatch.setattr(fast, "one_hot_training_conv", spy)
    results = {}
    for lookup in (False, True):
        trainer, batch = tiny_trainer(tmp_path / str(lookup), overrides=[f"one_hot_lookup={lookup}"])
        assert trainer.one_hot_lookup is lookup
        logs = trainer.train_step(batch)
        # the generators' gradients of the step (Adam's update would amplify rounding noise into whole steps of
        # lr where a gradient is ~0, e.g. the bias of a convolution before an instance norm)
        results[lookup] = (logs, {k: p.grad.clone() for k, p in trainer.G.named_parameters() if p.grad is not None})
    assert any(used), "the lookup never ran"
    (logs_d, dense), (logs_l, lookup) = results[False], results[True]
    for k in ("G_GAN", "G_FM", "G_Warp", "D_image"):
        assert logs_l[k] == pytest.approx(logs_d[k], rel=1e-3, abs=1e-5), k
    assert dense.keys() == lookup.keys()
    scale = max(float(g.abs().max()) for g in dense.values())
    for k, g in dense.items():
        assert torch.allclose(g, lookup[k], rtol=1e-3, atol=1e-5 * scale), k


def test_bf16_training_keeps_the_dense_convolution(tmp_path):
    trainer, _ = tiny_trainer(tmp_path, overrides=["precision=bf16"])
    assert trainer.one_hot_lookup is False

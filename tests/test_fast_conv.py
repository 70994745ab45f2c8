"""The exact inference rewrites of v2v.nn.fast: the one-hot lookup equals the 7×7 convolution it replaces, the hint
is only used for its own tensor, shared lookups, auto mode, bf16 padding and the batch-kernel instance norm."""
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from v2v.bench.inputs import synthetic_label_ids, synthetic_step_inputs
from v2v.bench.generator import one_hot_ids
from v2v.nn.build import build_generators
from v2v.nn.fast import (FastConv, FastInstanceNorm, OneHotConv, OneHotLookup, disable_fast_inference,
                         enable_fast_inference, one_hot_hint, one_hot_modes)
from v2v.presets import model_preset

NC, FC, FRAMES = 35, 36, 3


def one_hot_input(ids: torch.Tensor, extra: int = 0, seed: int = 0) -> torch.Tensor:
    """[one-hot(35), edge] per frame, then ``extra`` feature channels: (B, 3·36 + extra, H, W)."""
    g = torch.Generator().manual_seed(seed)
    b, n, h, w = ids.shape
    parts = []
    for f in range(n):
        parts += [F.one_hot(ids[:, f], NC).permute(0, 3, 1, 2).float(), (torch.rand(b, 1, h, w, generator=g) > 0.8)
                  .float()]
    return torch.cat(parts + [torch.randn(b, extra, h, w, generator=g)], 1)


def conv(cin: int, cout: int, seed: int = 0) -> nn.Conv2d:
    torch.manual_seed(seed)
    return nn.Conv2d(cin, cout, 7, padding=3, padding_mode="reflect")


def regions(b: int, h: int, w: int) -> torch.Tensor:
    return torch.stack([torch.cat([synthetic_label_ids(NC, h, w, 10 * i + f) for f in range(FRAMES)])
                        for i in range(b)])


@pytest.mark.parametrize("ids_kind, extra", [("random", 3), ("regions", 3), ("regions", 0), ("uniform", 2)])
def test_lookup_equals_the_convolution(ids_kind, extra):
    b, h, w = 2, 24, 40
    ids = {"random": torch.randint(0, NC, (b, FRAMES, h, w)), "regions": regions(b, h, w),
           "uniform": torch.full((b, FRAMES, h, w), 7)}[ids_kind]
    x = one_hot_input(ids, extra)
    plain = conv(x.shape[1], 16)
    fast = OneHotConv(plain, OneHotLookup(NC, FC, FRAMES, "lookup"))
    with torch.inference_mode():
        ref = plain(x)
        with one_hot_hint(x, ids):
            out = fast(x)
    assert out.shape == ref.shape
    assert (out - ref).abs().max() < 1e-5 * max(1.0, ref.abs().max().item())


def test_without_its_hint_the_layer_is_the_plain_convolution():
    ids = regions(1, 16, 32)
    x = one_hot_input(ids, 3)
    plain = conv(x.shape[1], 8)
    fast = OneHotConv(plain, OneHotLookup(NC, FC, FRAMES, "lookup"))
    with torch.inference_mode():
        ref = plain(x)
        assert (fast(x) - ref).abs().max() < 1e-5
        other = x.clone()
        with one_hot_hint(other, torch.zeros_like(ids)):  # a hint for another tensor (wrong ids): ignored
            assert (fast(x) - ref).abs().max() < 1e-5
        with one_hot_hint(x, ids[:, :1]):  # wrong number of frames: ignored
            assert (fast(x) - ref).abs().max() < 1e-5


def test_shared_lookup_serves_two_layers_and_follows_weight_changes():
    ids = regions(1, 16, 32)
    x = one_hot_input(ids, 3)
    a, b = conv(x.shape[1], 8, 1), conv(x.shape[1], 4, 2)
    lookup = OneHotLookup(NC, FC, FRAMES, "lookup")
    fa, fb = OneHotConv(a, lookup), OneHotConv(b, lookup)
    assert fb.channels == (8, 12)
    with torch.inference_mode():
        with one_hot_hint(x, ids):
            oa, ob = fa(x), fb(x)
        assert (oa - a(x)).abs().max() < 1e-5 and (ob - b(x)).abs().max() < 1e-5
    with torch.no_grad():
        b.weight.mul_(2)  # the shared Parameter changes: tables must be rebuilt
    with torch.inference_mode():
        with one_hot_hint(x, ids):
            ob2 = fb(x)
        assert (ob2 - b(x)).abs().max() < 1e-5


def test_auto_mode_is_a_fixed_rule_by_dtype():
    """auto: the lookup in float32, the dense convolution in bf16 -- decided by dtype, never by timing, so the
    same input always gives the same output."""
    ids = regions(1, 16, 32)
    x = one_hot_input(ids, 3)
    plain = conv(x.shape[1], 8)
    lookup = OneHotLookup(NC, FC, FRAMES)
    fast = OneHotConv(plain, lookup)
    with torch.inference_mode():
        ref = plain(x)
        for _ in range(3):
            with one_hot_hint(x, ids):
                assert (fast(x) - ref).abs().max() < 1e-5
        assert lookup.mode == "lookup"
    bf16 = OneHotLookup(NC, FC, FRAMES)
    fast16 = OneHotConv(conv(x.shape[1], 8), bf16)
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16), one_hot_hint(x, ids):
        fast16(x)
    assert bf16.mode == "dense"


@pytest.mark.parametrize("mode, stride, pad", [("reflect", 1, 3), ("zeros", 2, 1), ("zeros", 1, 1)])
def test_fast_conv_equals_the_convolution(mode, stride, pad):
    torch.manual_seed(0)
    k = 2 * pad + 1
    plain = nn.Conv2d(8, 6, k, stride=stride, padding=pad, padding_mode=mode)
    fast = nn.Conv2d(8, 6, k, stride=stride, padding=pad, padding_mode=mode)
    fast.load_state_dict(plain.state_dict())
    fast.__class__ = FastConv
    x = torch.randn(1, 8, 12, 20).contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        assert (fast(x) - plain(x)).abs().max() < 1e-5  # fp32, prepacked weights on the CPU
        assert (fast(x) - plain(x)).abs().max() < 1e-5  # the packed weights are reused
        with torch.autocast("cpu", dtype=torch.bfloat16):
            ref, out = plain(x), fast(x)
        assert out.dtype == torch.bfloat16 and (out.float() - ref.float()).abs().max() < 2e-2
    with torch.no_grad():
        plain.weight.mul_(-1)
        fast.weight.mul_(-1)  # weights change: the packed copy is rebuilt
    with torch.inference_mode():
        assert (fast(x) - plain(x)).abs().max() < 1e-5


def test_fast_instance_norm_matches_for_single_images():
    norm = nn.InstanceNorm2d(6, affine=True)
    with torch.no_grad():
        norm.weight.uniform_(0.5, 1.5)
        norm.bias.uniform_(-1, 1)
    x = torch.randn(2, 6, 9, 11)
    ref = norm(x)
    norm.__class__ = FastInstanceNorm
    assert (norm(x[:1]) - ref[:1]).abs().max() < 1e-5
    assert torch.allclose(norm(x), ref, atol=1e-6)  # batches > 1 keep the instance-norm kernel


@pytest.mark.parametrize("preset", ["street_256", "label2city_2048"])
def test_fast_networks_match_plain_ones(preset):
    cfg = model_preset(preset, {"ngf": 8, "n_blocks": 1, "n_blocks_local": 1, "first_frame.ngf": 4,
                                "first_frame.n_blocks": 1, "encoder.nef": 4})
    torch.manual_seed(0)
    nets = build_generators(cfg).eval()
    h, w = 2 * cfg.size_multiple, 4 * cfg.size_multiple
    inputs = synthetic_step_inputs(cfg, h, w)
    ids = one_hot_ids(cfg, inputs["labels"])
    ff_in = inputs["labels"][:, 2 * cfg.frame_channels:]
    keys = list(nets.state_dict())
    with torch.inference_mode():
        ref = nets["generator"](**inputs)["image"]
        ref_ff = nets["first_frame"](ff_in)["image"]
        counts = enable_fast_inference(nets, cfg, one_hot="lookup")
        with one_hot_hint(inputs["labels"], ids):
            out = nets["generator"](**inputs)["image"]
        with one_hot_hint(ff_in, ids[:, -1:]):
            out_ff = nets["first_frame"](ff_in)["image"]
    assert counts["one_hot_convs"] == 2 * cfg.n_scales + 1 + cfg.first_frame.n_local_enhancers
    assert one_hot_modes(nets) == ["lookup"] * (cfg.n_scales + 1 + cfg.first_frame.n_local_enhancers)
    assert list(nets.state_dict()) == keys
    assert (out - ref).abs().max() < 5e-5 and (out_ff - ref_ff).abs().max() < 5e-5  # fp32 rounding, summed in another order
    disable_fast_inference(nets)
    assert not any(isinstance(m, (OneHotConv, FastConv, FastInstanceNorm)) for m in nets.modules())
    assert counts["convs"] > 0 and counts["instance_norms"] > 0
    with torch.inference_mode():
        assert torch.allclose(nets["generator"](**inputs)["image"], ref, atol=1e-6)

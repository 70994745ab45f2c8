import pytest
import torch

from v2v.bench.inputs import synthetic_step_inputs
from v2v.losses import feature_matching_loss, gan_loss
from v2v.nn.build import build_discriminators, build_generators
from v2v.nn.blocks import pyramid
from v2v.nn.encoder import instance_pool, region_ids
from v2v.presets import PRESETS, model_preset

TINY = {"ngf": 8, "n_blocks": 2, "n_blocks_local": 1, "first_frame.ngf": 4, "first_frame.n_blocks": 1,
        "discriminator.ndf": 8, "encoder.nef": 4}


def tiny(name, **extra):
    return model_preset(name, {**TINY, **extra})


def size_for(cfg):
    m = cfg.size_multiple
    return 4 * m, 2 * m  # W, H: the bottleneck keeps at least 2x4 pixels for reflection padding


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_generator_shapes_every_preset(name):
    cfg = tiny(name)
    w, h = size_for(cfg)
    nets = build_generators(cfg)
    x = synthetic_step_inputs(cfg, h, w)
    out = nets["generator"](**x)
    assert out["image"].shape == (1, 3, h, w)
    assert out["raw_image"].shape == (1, 3, h, w)
    assert out["flow"].shape == (1, 2, h, w) and out["mask"].shape == (1, 1, h, w)
    assert out["warped_image"].shape == (1, 3, h, w)
    assert len(out["scale_images"]) == cfg.n_scales
    assert out["image"].abs().max() <= 1
    first = nets["first_frame"](x["labels"][:, -cfg.frame_channels - cfg.feature_channels:])
    assert first["image"].shape == (1, 3, h, w)


def test_first_frame_generator_any_size():
    cfg = tiny("label2city_2048")  # local enhancer + 4 downsamplings: multiple 32
    net = build_generators(cfg)["first_frame"]
    out = net(torch.randn(1, cfg.frame_channels, 37, 50))
    assert out["image"].shape == (1, 3, 37, 50)


def test_no_flow_ablation_outputs_raw():
    cfg = tiny("street_256", use_flow=False, use_foreground=False)
    w, h = size_for(cfg)
    out = build_generators(cfg)["generator"](**synthetic_step_inputs(cfg, h, w))
    assert "flow" not in out and torch.equal(out["image"], out["raw_image"])


def test_output_is_flow_mask_blend():
    cfg = tiny("street_256", use_foreground=False)
    w, h = size_for(cfg)
    out = build_generators(cfg)["generator"](**synthetic_step_inputs(cfg, h, w))
    m = out["mask"]
    assert torch.allclose(out["image"], (1 - m) * out["warped_image"] + m * out["raw_image"], atol=1e-6)


@pytest.mark.parametrize("blend", ["reference", "paper"])
def test_foreground_is_composited_inside_mask(blend):
    """reference (NVIDIA's code): the foreground replaces the final frame; paper (Eq. 9): it replaces the
    hallucinated frame, which the occlusion mask then blends with the warped previous frame."""
    cfg = tiny("street_256", foreground_blend=blend)
    w, h = size_for(cfg)
    x = synthetic_step_inputs(cfg, h, w)
    x["fg_mask"] = torch.zeros(1, 1, h, w)
    x["fg_mask"][..., : h // 2, :] = 1
    out = build_generators(cfg)["generator"](**x)
    top = (..., slice(0, h // 2), slice(None))
    fg = out["foreground_image"][top]
    assert torch.allclose(out["raw_image"][top], fg, atol=1e-6)
    if blend == "reference":
        assert torch.allclose(out["image"][top], fg, atol=1e-6)
    else:
        m = out["mask"][top]
        assert torch.allclose(out["image"][top], (1 - m) * out["warped_image"][top] + m * fg, atol=1e-5)
        assert not torch.allclose(out["image"][top], fg, atol=1e-3)


@pytest.mark.parametrize("name", ["label2city_1024", "street_256"])
def test_gradients_reach_every_parameter(name):
    torch.manual_seed(0)
    cfg = tiny(name, n_scales=2) if name == "street_256" else tiny(name)
    w, h = size_for(cfg)
    gens, discs = build_generators(cfg), build_discriminators(cfg)
    x = synthetic_step_inputs(cfg, h, w)
    if "encoder" in gens:  # the style features come from E pooled over regions
        real = torch.rand(1, 3, h, w) * 2 - 1
        ids = torch.randint(0, 3, (1, h, w))
        feat = instance_pool(gens["encoder"](real), region_ids(ids, ids, 35))
        x["labels"] = torch.cat([x["labels"][:, :-cfg.feature_channels], feat], 1)
    # Two recurrent steps: the coarse scales' own outputs only matter through their per-scale histories.
    first_step = gens["generator"](**x)
    prev = [torch.cat([p[:, 3:], img], 1) for p, img in
            zip(pyramid(x["prev_images"], cfg.n_scales), first_step["scale_images"])]
    out = gens["generator"](x["labels"], prev, x["fg_mask"], flow_prior=x.get("flow_prior"))
    cur = x["labels"][:, -cfg.frame_channels - cfg.feature_channels:][:, :cfg.frame_channels]
    first = gens["first_frame"](x["labels"][:, -cfg.frame_channels - cfg.feature_channels:])
    fake_in = torch.cat([cur, out["image"]], 1)
    d_fake = discs["image"](fake_in)
    d_real = discs["image"](torch.cat([cur, torch.rand_like(out["image"])], 1))
    g_loss = (gan_loss(d_fake["predictions"], True) + feature_matching_loss(d_fake["features"], d_real["features"])
              + gan_loss(discs["image"](torch.cat([cur, first["image"]], 1))["predictions"], True))
    g_loss.backward()
    missing = [n for n, p in gens.named_parameters() if p.grad is None or not torch.any(p.grad != 0)]
    assert not missing, missing[:5]

    discs.zero_grad()
    fake = torch.cat([cur.detach(), out["image"].detach()], 1)
    real_in = torch.cat([cur.detach(), torch.rand_like(out["image"])], 1)
    d_loss = gan_loss(discs["image"](fake)["predictions"], False) + gan_loss(discs["image"](real_in)["predictions"], True)
    frames = torch.rand(1, cfg.discriminator.n_frames_D, 3, h, w)
    flows = torch.rand(1, cfg.discriminator.n_frames_D - 1, 2, h, w)
    for s in range(cfg.discriminator.n_scales_temporal):
        d_loss = d_loss + gan_loss(discs["temporal"](s, frames, flows)["predictions"], True)
    d_loss.backward()
    missing = [n for n, p in discs.named_parameters() if p.grad is None or not torch.any(p.grad != 0)]
    assert not missing, missing[:5]


def test_instance_pool_means_per_region():
    feats = torch.arange(2 * 1 * 2 * 3, dtype=torch.float32).reshape(2, 1, 2, 3)
    labels = torch.tensor([[[7, 7, 26], [7, 26, 26]], [[7, 7, 7], [7, 7, 7]]])
    inst = torch.tensor([[[0, 0, 1], [0, 2, 2]], [[0, 0, 0], [0, 0, 0]]])
    pooled = instance_pool(feats, region_ids(labels, inst, 35))
    a = feats[0, 0]
    road = (a[0, 0] + a[0, 1] + a[1, 0]) / 3
    assert torch.allclose(pooled[0, 0], torch.tensor([[road, road, a[0, 2]], [road, (a[1, 1] + a[1, 2]) / 2,
                                                                              (a[1, 1] + a[1, 2]) / 2]]))
    assert torch.allclose(pooled[1, 0], feats[1, 0].mean().expand(2, 3))
    # encoder.stuff_pooling: false -> stuff pixels get no feature, objects are pooled as before
    things_only = instance_pool(feats, region_ids(labels, inst, 35, stuff=False))
    assert torch.equal(things_only[0, 0] != 0, inst[0] > 0) and not things_only[1].any()
    assert torch.allclose(things_only[0, 0][inst[0] > 0], pooled[0, 0][inst[0] > 0])


@pytest.mark.parametrize("mode", ["ls", "hinge", "original"])
def test_gan_modes_order_real_above_fake(mode):
    real, fake = [torch.full((1, 1, 4, 4), 2.0)], [torch.full((1, 1, 4, 4), -2.0)]
    d_good = gan_loss(real, True, mode) + gan_loss(fake, False, mode)
    d_bad = gan_loss(fake, True, mode) + gan_loss(real, False, mode)
    assert d_good < d_bad
    assert gan_loss(real, True, mode, for_discriminator=False) < gan_loss(fake, True, mode, for_discriminator=False)


def test_instance_pool_under_bf16_gives_the_true_means():
    """bf16 has an 8-bit mantissa: a running bf16 sum over a 128x256 region stalls long before the end. The means
    must come out right anyway (the trainer pools under autocast)."""
    feats = torch.full((1, 2, 128, 256), -0.3)
    feats[:, 1, :, 128:] = 0.7
    labels = torch.full((1, 128, 256), 7)
    labels[:, :, 128:] = 11
    regions = region_ids(labels, torch.zeros_like(labels), 35)
    pooled = instance_pool(feats.bfloat16(), regions)
    assert pooled.dtype == torch.bfloat16
    assert torch.allclose(pooled.float(), feats, atol=0.01)

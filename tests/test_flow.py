import numpy as np
import torch

from v2v.flow import dis_flow, flow_confidence, flow_to_color, resize_flow, warp


def test_integer_flow_moves_image_exactly():
    img = torch.rand(1, 3, 12, 16)
    flow = torch.zeros(1, 2, 12, 16)
    flow[:, 0], flow[:, 1] = 2.0, -1.0  # target (x, y) samples source (x + 2, y - 1)
    out = warp(img, flow)
    assert torch.allclose(out[:, :, 1:, :-2], img[:, :, :-1, 2:], atol=1e-5)


def test_zero_flow_is_identity_and_border_padding():
    img = torch.rand(2, 3, 8, 8)
    assert torch.allclose(warp(img, torch.zeros(2, 2, 8, 8)), img, atol=1e-6)
    far = torch.full((2, 2, 8, 8), 100.0)
    assert torch.allclose(warp(img, far), img[:, :, -1:, -1:].expand_as(img), atol=1e-5)


def test_resize_flow_scales_vectors():
    flow = torch.ones(1, 2, 8, 8)
    assert torch.allclose(resize_flow(flow, (15, 15)), torch.full((1, 2, 15, 15), 2.0))


def test_dis_flow_recovers_translation_backward():
    rng = np.random.default_rng(0)
    base = (rng.random((80, 100)) * 255).astype(np.uint8)
    import cv2
    base = cv2.GaussianBlur(base, (7, 7), 2)
    src = np.stack([base] * 3, -1)
    tgt = np.roll(src, 3, axis=1)  # content moved right by 3 px: tgt(x) = src(x - 3)
    f = dis_flow(tgt, src)
    assert abs(np.median(f[20:60, 20:80, 0]) + 3) < 0.5 and abs(np.median(f[20:60, 20:80, 1])) < 0.5
    conf = flow_confidence(tgt, src, f)
    assert conf[20:60, 20:80].mean() > 0.9


def test_flow_to_color():
    flow = np.zeros((4, 4, 2), np.float32)
    flow[0, 0] = (1, 0)
    c = flow_to_color(flow)
    assert c.shape == (4, 4, 3) and c.dtype == np.uint8
    assert tuple(c[1, 1]) == (255, 255, 255) and tuple(c[0, 0]) != (255, 255, 255)


def test_numpy_warp_matches_torch_warp():
    from v2v.flow import warp_numpy

    rng = np.random.default_rng(1)
    img = rng.random((20, 24, 3)).astype(np.float32)
    flow = (rng.random((20, 24, 2)).astype(np.float32) - 0.5) * 6
    a = warp_numpy(img, flow)
    b = warp(torch.from_numpy(img).permute(2, 0, 1)[None], torch.from_numpy(flow).permute(2, 0, 1)[None])
    d = np.abs(a - b[0].permute(1, 2, 0).numpy())
    assert d.max() < 0.03 and d.mean() < 0.01  # OpenCV interpolates with 1/32-pixel fixed-point weights

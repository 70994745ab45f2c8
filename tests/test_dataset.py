"""VideoDataset: runs of consecutive frames, one crop and flip for the whole run, flow handled with the flip."""
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from v2v.dataset import VideoDataset
from v2v.dataset_format import DatasetWriter
from v2v.errors import UserError

W, H = 64, 32
YY, XX = np.mgrid[0:H, 0:W]
CODE = (YY * W + XX + 1).astype(np.int32)  # instance id = position code: reveals the crop box and mirroring


def stored_flow(i: int) -> np.ndarray:
    return np.dstack([XX / 10.0 + i, np.full((H, W), 0.5)]).astype(np.float32)


def stored_conf() -> np.ndarray:
    return (XX < W // 2).astype(np.uint8)


def write_coded_street(root, lengths=(6, 2)):
    """Street dataset whose frames encode position (instances), frame index (image red channel), and a known flow."""
    with DatasetWriter(root, "street", None, (W, H), 17) as w:
        for name, n in zip(("long", "short"), lengths):
            s = w.sequence(name)
            for i in range(n):
                image = np.zeros((H, W, 3), np.uint8)
                image[..., 0] = 20 * i
                s.add(i, labels=(XX * 35 // W).astype(np.uint8), instances=CODE, image=image)
                if i:
                    s.add_flow(i, stored_flow(i), stored_conf())
    return root


@pytest.fixture
def coded(tmp_path):
    return write_coded_street(tmp_path / "DS")


def crop_box(item) -> tuple[int, int, bool]:
    """(x0, y0, flipped) recovered from the position code."""
    inst = item["instances"][0].numpy()
    flipped = inst[0, 0] > inst[0, -1]
    corner = int(inst[0, -1] if flipped else inst[0, 0]) - 1
    return corner % W, corner // W, bool(flipped)


def test_item_contents(coded):
    ds = VideoDataset(coded, num_frames=3, crop_size=(32, 16), flip=False, sequences=["long"])
    torch.manual_seed(0)
    item = ds[0]
    assert item["labels"].shape == (3, 16, 32) and item["labels"].dtype == torch.int64
    assert item["instances"].shape == (3, 16, 32) and item["instances"].dtype == torch.int64
    assert item["images"].shape == (3, 3, 16, 32) and item["images"].dtype == torch.float32
    assert item["flow"].shape == (3, 2, 16, 32) and item["flow_conf"].shape == (3, 1, 16, 32)
    assert item["masks"].shape == (3, 1, 16, 32) and item["masks"].abs().sum() == 0
    assert item["sequence"] == "long" and item["num_frames"] == 3 and item["has_images"]
    assert float(item["images"].min()) >= -1 and float(item["images"].max()) <= 1
    start = item["start"]
    red = ((item["images"][:, 0, 0, 0] + 1) * 127.5).round().numpy()
    assert np.allclose(red, [20 * (start + k) for k in range(3)], atol=2)  # consecutive frames, in order
    assert item["flow"][0].abs().sum() == 0 and item["flow_conf"][0].sum() == 0
    x0, y0, _ = crop_box(item)
    box = (slice(y0, y0 + 16), slice(x0, x0 + 32))
    for k in range(1, 3):
        expect = torch.from_numpy(stored_flow(start + k)[box].transpose(2, 0, 1))
        assert torch.allclose(item["flow"][k], expect, atol=0.02)  # float16 storage
        assert torch.equal(item["flow_conf"][k, 0], torch.from_numpy(stored_conf()[box]).float())


def test_one_crop_box_for_all_frames(coded):
    ds = VideoDataset(coded, num_frames=4, crop_size=(24, 20), flip=False, sequences=["long"])
    torch.manual_seed(1)
    boxes = set()
    for _ in range(8):
        item = ds[0]
        x0, y0, _ = crop_box(item)
        expect = torch.from_numpy(CODE[y0:y0 + 20, x0:x0 + 24]).long()
        assert all(torch.equal(item["instances"][t], expect) for t in range(4))
        assert all(torch.equal(item["labels"][t], torch.from_numpy((XX * 35 // W)[y0:y0 + 20, x0:x0 + 24]).long())
                   for t in range(4))
        boxes.add((x0, y0))
    assert len(boxes) > 1  # and the box is random between items


def test_flip_mirrors_maps_and_negates_flow_x(coded):
    ds = VideoDataset(coded, num_frames=3, sequences=["long"])  # street + random: flips by default
    torch.manual_seed(2)
    seen = set()
    for _ in range(12):
        item = ds[0]
        _, _, flipped = crop_box(item)
        seen.add(flipped)
        if not flipped:
            continue
        assert torch.equal(item["instances"][1], torch.from_numpy(CODE[:, ::-1].copy()).long())
        for k in range(1, 3):
            f = stored_flow(item["start"] + k)
            assert torch.allclose(item["flow"][k, 0], torch.from_numpy(-f[:, ::-1, 0].copy()), atol=0.02)
            assert torch.allclose(item["flow"][k, 1], torch.from_numpy(f[:, ::-1, 1].copy()), atol=0.02)
            assert torch.equal(item["flow_conf"][k, 0], torch.from_numpy(stored_conf()[:, ::-1].copy()).float())
    assert seen == {True, False}


def test_flipped_flow_still_warps_correctly(tmp_path):
    """A real check of the sign: a scene moving right, flipped, moves left, and warping with the flipped flow
    still reconstructs the flipped frame."""
    from v2v.flow import warp

    rng = np.random.default_rng(0)
    base = (rng.random((H, W + 8, 3)) * 255).astype(np.uint8)
    with DatasetWriter(tmp_path / "T", "street", None, (W, H), 17) as w:
        s = w.sequence("a")
        for i in range(2):
            s.add(i, labels=np.zeros((H, W), np.uint8), image=base[:, 4 - 2 * i:4 - 2 * i + W])
        s.add_flow(1, np.dstack([np.full((H, W), -2.0), np.zeros((H, W))]), np.ones((H, W)))
    ds = VideoDataset(tmp_path / "T", num_frames=2, flip=True)
    torch.manual_seed(0)
    for _ in range(10):
        item = ds[0]
        rebuilt = warp(item["images"][:1], item["flow"][1:2])
        wrong = warp(item["images"][:1], item["flow"][1:2] * torch.tensor([-1.0, 1.0]).view(1, 2, 1, 1))
        err = (rebuilt - item["images"][1:2])[..., 4:-4].abs().mean()
        assert err < 0.05 and (wrong - item["images"][1:2])[..., 4:-4].abs().mean() > 4 * err


def test_validation_mode_is_deterministic(coded):
    ds = VideoDataset(coded, num_frames=3, crop_size=(32, 16), random=False)
    assert ds.flip is False
    a, b = ds[0], ds[0]
    assert a["start"] == 0 and crop_box(a) == ((W - 32) // 2, (H - 16) // 2, False)
    assert all(torch.equal(a[k], b[k]) for k in ("labels", "instances", "images", "flow"))


def test_torch_seed_reproduces_items(coded):
    ds = VideoDataset(coded, num_frames=2, crop_size=(16, 16))
    torch.manual_seed(7)
    a = [ds[0] for _ in range(3)]
    torch.manual_seed(7)
    b = [ds[0] for _ in range(3)]
    assert [(x["start"], crop_box(x)) for x in a] == [(x["start"], crop_box(x)) for x in b]


def test_length_short_sequences_and_schedule(coded):
    ds = VideoDataset(coded, num_frames=4)
    assert len(ds) == 2 and len(VideoDataset(coded, 4, samples_per_epoch=10)) == 10
    short = ds[1]
    assert short["sequence"] == "short" and short["num_frames"] == 2 and short["labels"].shape[0] == 2
    ds.set_num_frames(5)
    assert ds[0]["labels"].shape[0] == 5 and ds[10 % 2]["num_frames"] == 5
    with pytest.raises(UserError, match="no sequence 'nope'"):
        VideoDataset(coded, 2, sequences=["nope"])
    with pytest.raises(UserError, match="crop size 128x16 does not fit"):
        VideoDataset(coded, 2, crop_size=(128, 16))
    batch = next(iter(DataLoader(VideoDataset(coded, 3, sequences=["long"], samples_per_epoch=4), batch_size=2)))
    assert batch["images"].shape == (2, 3, 3, H, W) and batch["sequence"] == ["long", "long"]


def test_pose_and_face_maps(tmp_path):
    for kind, channels in (("pose", 3), ("face", 1)):
        with DatasetWriter(tmp_path / kind, kind, None, (W, H), 25) as w:
            s = w.sequence("clip")
            for i in range(3):
                shape = (H, W, 3) if channels == 3 else (H, W)
                mask = (XX > W // 2).astype(np.uint8) * 255 if kind == "pose" else None
                s.add(i, labels=np.full(shape, 10 * i, np.uint8), image=np.zeros((H, W, 3), np.uint8), mask=mask)
        ds = VideoDataset(tmp_path / kind, num_frames=2)
        assert ds.flip is False
        item = ds[0]
        assert item["labels"].shape == (2, channels, H, W) and item["labels"].dtype == torch.uint8
        assert item["instances"].abs().sum() == 0
        if kind == "pose":
            assert torch.equal(item["masks"][0, 0], torch.from_numpy((XX > W // 2).astype(np.float32)))
        with pytest.raises(UserError, match="only for street"):
            VideoDataset(tmp_path / kind, 2, flip=True)


def test_flow_computed_on_the_fly_with_bounded_cache(tmp_path):
    rng = np.random.default_rng(0)
    import cv2

    tex = cv2.GaussianBlur(rng.normal(0, 1, (H, W + 20, 3)).astype(np.float32), (0, 0), 2)
    tex = ((tex - tex.min()) / (tex.max() - tex.min()) * 255).astype(np.uint8)
    with DatasetWriter(tmp_path / "N", "street", None, (W, H), 17) as w:
        s = w.sequence("a")
        for i in range(6):  # moves right by 2 px per frame, no stored flow
            s.add(i, labels=np.zeros((H, W), np.uint8), image=tex[:, 12 - 2 * i:12 - 2 * i + W])
    ds = VideoDataset(tmp_path / "N", num_frames=3, flip=False, flow_cache_size=2)
    assert not ds.index.has["flow"]
    torch.manual_seed(0)
    for _ in range(6):
        item = ds[0]
        inner = item["flow"][1:, :, 6:-6, 6:-6]
        assert abs(float(inner[:, 0].median()) + 2) < 0.3 and abs(float(inner[:, 1].median())) < 0.3
        assert float(item["flow_conf"][1:, :, 6:-6, 6:-6].mean()) > 0.8
        assert item["flow"][0].abs().sum() == 0
        assert len(ds._flow_cache) <= 2


def test_recolor_moves_whole_classes_and_keeps_texture():
    from v2v.dataset import RECOLOR_RANGE, recolor_regions

    torch.manual_seed(0)
    labels = torch.zeros(3, 16, 32, dtype=torch.int64)
    labels[:, :, 16:] = 26
    texture = torch.linspace(-0.1, 0.1, 32).expand(3, 3, 16, 32)
    images = (texture + torch.tensor([-0.5, -0.4, -0.3]).view(1, 3, 1, 1)).contiguous()
    moved = recolor_regions(images, labels, 1.0)
    shift = moved - images
    for cls in (0, 26):
        per_class = shift.permute(1, 0, 2, 3)[:, labels == cls]  # (3 channels, pixels of the class)
        # one shift per class and channel, in every frame: texture and motion are kept
        assert torch.allclose(per_class, per_class[:, :1].expand_as(per_class), atol=1e-6)
        mean = moved.permute(1, 0, 2, 3)[:, labels == cls].mean(1)
        assert ((mean >= RECOLOR_RANGE[0] - 1e-5) & (mean <= RECOLOR_RANGE[1] + 1e-5)).all()
    assert not torch.allclose(shift[:, :, :, 0], shift[:, :, :, -1])  # the two classes got different colours
    assert torch.equal(recolor_regions(images, labels, 0.0), images)


def test_recolor_only_for_training_street_runs(coded, tmp_path):
    torch.manual_seed(1)
    plain = VideoDataset(coded, 3, flip=False, random=False)[0]
    val = VideoDataset(coded, 3, flip=False, random=False, recolor=1.0)[0]
    assert torch.equal(plain["images"], val["images"])  # validation never recolours
    item = VideoDataset(coded, 3, flip=False, recolor=1.0)[0]
    same = VideoDataset(coded, 3, flip=False)
    torch.manual_seed(1)
    ref = same[0]
    assert not torch.equal(item["images"], ref["images"]) and torch.equal(item["labels"], ref["labels"])
    with pytest.raises(UserError, match="probability"):
        VideoDataset(coded, 3, recolor=1.5)


def test_zoom_resizes_a_larger_box_into_the_crop(coded):
    """z = 0.5: a 32x16 box of the 64x32 frames becomes the 16x8 crop; ids by nearest neighbour, the flow averaged
    and its pixels halved with the map."""
    ds = VideoDataset(coded, num_frames=3, crop_size=(16, 8), flip=False, sequences=["long"], zoom=(0.5, 0.5))
    torch.manual_seed(3)
    for _ in range(4):
        item = ds[0]
        assert item["labels"].shape == (3, 8, 16) and item["labels"].dtype == torch.int64
        assert item["images"].shape == (3, 3, 8, 16) and item["flow"].shape == (3, 2, 8, 16)
        inst = item["instances"][0].numpy()
        corner = int(inst[0, 0]) - 1  # nearest-exact at scale 2 reads source pixel 2i+1
        x0, y0 = corner % W - 1, corner // W - 1
        assert 0 <= x0 <= W - 32 and 0 <= y0 <= H - 16
        assert np.array_equal(inst, CODE[y0 + 1:y0 + 16:2, x0 + 1:x0 + 32:2])
        classes = (XX * 35 // W)[y0 + 1:y0 + 16:2, x0 + 1:x0 + 32:2]
        assert torch.equal(item["labels"][0], torch.from_numpy(classes).long())
        for k in range(1, 3):
            src_x = x0 + 2 * np.arange(16) + 0.5  # centre of the two source columns each output column averages
            expect = 0.5 * (src_x / 10.0 + item["start"] + k)
            assert np.allclose(item["flow"][k, 0, 3, 1:-1].numpy(), expect[1:-1], atol=0.02)
            assert torch.allclose(item["flow"][k, 1], torch.full((8, 16), 0.25), atol=0.01)
            assert set(item["flow_conf"][k].unique().tolist()) <= {0.0, 1.0}
        red = ((item["images"][:, 0, 0, 0] + 1) * 127.5).round().numpy()
        assert np.allclose(red, [20 * (item["start"] + k) for k in range(3)], atol=2)


def test_zoom_draws_a_scale_per_run_and_validation_takes_the_middle(coded):
    ds = VideoDataset(coded, num_frames=2, crop_size=(16, 16), flip=False, sequences=["long"], zoom=(0.5, 1.0))
    torch.manual_seed(4)
    steps = set()
    for _ in range(12):
        inst = ds[0]["instances"][0].numpy()
        step = float(np.diff(inst[0]).mean())  # source columns per crop column: 1 / z
        assert 1.0 - 1e-6 <= step <= 2.0 + 0.1
        steps.add(round(step, 2))
    assert len(steps) > 3
    val = VideoDataset(coded, num_frames=2, crop_size=(16, 16), random=False, zoom=(0.5, 1.0))
    a, b = val[0], val[0]
    assert torch.equal(a["instances"], b["instances"])
    assert float(np.diff(a["instances"][0, 0].numpy()).mean()) == pytest.approx(2 ** 0.5, abs=0.1)


def test_zoom_moves_head_centres_with_the_box():
    from v2v.dataset import _resized

    images = torch.full((1, 3, 16, 32), -1.0)
    images[0, :, 6:8, 10:12] = 1.0  # a 2x2 bright block around (10.5, 6.5)
    ids = torch.zeros(1, 16, 32, dtype=torch.int64)
    item = {"labels": ids, "instances": ids, "images": images, "masks": torch.zeros(1, 1, 16, 32),
            "flow": torch.zeros(1, 2, 16, 32), "flow_conf": torch.zeros(1, 1, 16, 32),
            "face_center": torch.tensor([[10.5, 6.5]])}
    out = _resized(item, (16, 8), class_ids=True)
    cx, cy = out["face_center"][0].tolist()
    assert (cx, cy) == pytest.approx((5.0, 3.0))
    red = out["images"][0, 0]
    assert divmod(int(red.argmax()), 16) == (3, 5)  # the block, blurred by the antialiasing, is brightest there
    assert float(red[3, 5]) > float(red[3, 4]) + 0.1 and float(red[3, 5]) > float(red[2, 5]) + 0.1


def test_zoom_errors_name_the_problem(coded):
    with pytest.raises(UserError, match="zoom needs a crop size"):
        VideoDataset(coded, 2, zoom=(0.5, 1.0))
    with pytest.raises(UserError, match="cannot fill a 32x16 crop.*at least 0.5"):
        VideoDataset(coded, 2, crop_size=(32, 16), zoom=(0.3, 0.4))
    with pytest.raises(UserError, match="0 < min <= max"):
        VideoDataset(coded, 2, crop_size=(16, 16), zoom=(1.0, 0.5))
    with pytest.raises(UserError, match="0 < min <= max"):
        VideoDataset(coded, 2, crop_size=(16, 16), zoom=(1.0,))


def write_two_streets(root, shift_a=3.0, shift_b=-3.0):
    """Street sequences "a" (class 7, red 10, x flow +shift_a) and "b" (class 26, red 200, x flow shift_b), 4
    frames each, every pixel instance 1."""
    with DatasetWriter(root, "street", None, (W, H), 17) as w:
        for name, cls, red, shift in (("a", 7, 10, shift_a), ("b", 26, 200, shift_b)):
            s = w.sequence(name)
            for i in range(4):
                image = np.zeros((H, W, 3), np.uint8)
                image[..., 0] = red
                s.add(i, labels=np.full((H, W), cls, np.uint8), instances=np.ones((H, W), np.int32), image=image)
                if i:
                    flow = np.dstack([np.full((H, W), shift), np.zeros((H, W))]).astype(np.float32)
                    s.add_flow(i, flow, np.ones((H, W), np.uint8))
    return root


def test_layout_mix_joins_two_sequences_at_one_column(tmp_path):
    ds = VideoDataset(write_two_streets(tmp_path / "DS"), 3, flip=False, layout_mix=1.0)
    torch.manual_seed(0)
    cuts = set()
    for idx in (0, 1, 0, 1, 0, 1):
        item = ds[idx]
        first, second = (7, 26) if item["sequence"] == "a" else (26, 7)
        row = item["labels"][0, 0]
        cut = int((row == second).nonzero()[0])
        cuts.add(cut)
        assert W // 4 <= cut <= 3 * W // 4
        assert (item["labels"][..., :cut] == first).all() and (item["labels"][..., cut:] == second).all()
        red = ((item["images"][:, 0] + 1) * 127.5).round()
        assert set(red[..., :cut].unique().tolist()) == ({10.0} if first == 7 else {200.0})
        assert (item["instances"][..., :cut] == 1).all() and (item["instances"][..., cut:] == 2).all()
        shift = item["flow"][1:, 0, 0]  # (T-1, W): +3 on a's side, -3 on b's
        x = torch.arange(W, dtype=torch.float32)
        expect = torch.where(x < cut, (x + shift) <= cut - 1, (x + shift) >= cut).float()
        assert torch.equal(item["flow_conf"][1:, 0, 0], expect)
        lost = int((item["flow_conf"][1:] == 0).sum())  # flows towards the seam: 3 columns each side
        assert lost == (2 * 6 * H if first == 7 else 0)
        assert item["flow_conf"][0].abs().sum() == 0
    assert len(cuts) > 2


def test_layout_mix_only_in_training_and_for_class_labels(tmp_path):
    root = write_two_streets(tmp_path / "DS")
    val = VideoDataset(root, 3, random=False, layout_mix=1.0)[0]
    assert (val["labels"] == 7).all()
    torch.manual_seed(5)
    plain = VideoDataset(root, 3)[1]
    torch.manual_seed(5)
    off = VideoDataset(root, 3, layout_mix=0.0)[1]
    assert all(torch.equal(plain[k], off[k]) for k in ("labels", "images", "flow"))  # 0: the same random draws
    with pytest.raises(UserError, match="layout_mix is a probability"):
        VideoDataset(root, 3, layout_mix=-0.1)
    with pytest.raises(UserError, match="two different sequences"):
        VideoDataset(root, 3, sequences=["a"], layout_mix=0.5)
    with DatasetWriter(tmp_path / "pose", "pose", None, (W, H), 25) as w:
        for name in ("p", "q"):
            w.sequence(name).add(0, labels=np.zeros((H, W, 3), np.uint8), image=np.zeros((H, W, 3), np.uint8))
    with pytest.raises(UserError, match="class-label maps"):
        VideoDataset(tmp_path / "pose", 1, layout_mix=0.5)

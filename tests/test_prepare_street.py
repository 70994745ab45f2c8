"""prepare street: folders or a vid2vid root in, a v2v dataset with flow out; bad input gives one-line errors."""
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from v2v.cli import main
from v2v.dataset_format import open_dataset
from v2v.errors import UserError
from v2v.inputs.street import prepare_street
from v2v.labels import CITYSCAPES, colorize

SW, SH = 256, 128  # source frames
SHIFT = 4  # the whole scene moves right by this many source pixels per frame


def texture(w: int, h: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    noise = rng.normal(0, 1, (h, w, 3)).astype(np.float32)
    smooth = cv2.GaussianBlur(noise, (0, 0), 3)
    smooth = (smooth - smooth.min()) / (smooth.max() - smooth.min())
    return (smooth * 255).astype(np.uint8)


def make_street_folders(root: Path, n: int = 4, bad_ids_at: int | None = None, instances_8bit: bool = True):
    """labels/ (road with a car), instances/ (the car), images/ (a texture translating right by SHIFT px)."""
    tex = texture(SW + SHIFT * n, SH)
    for sub in ("labels", "images", "instances"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for i in range(n):
        labels = np.full((SH, SW), 7, np.uint8)
        labels[: SH // 3] = 23  # sky
        labels[60:100, 40 + SHIFT * i:120 + SHIFT * i] = 26  # car
        if bad_ids_at == i:
            labels[0, 0], labels[0, 1] = 40, 200
        inst = np.full((SH, SW), 255 if instances_8bit else 0, np.uint16)
        inst[60:100, 40 + SHIFT * i:120 + SHIFT * i] = 5 if instances_8bit else 26001
        image = tex[:, SHIFT * (n - i):SHIFT * (n - i) + SW]
        cv2.imwrite(str(root / "labels" / f"f{i:03d}.png"), labels)
        cv2.imwrite(str(root / "instances" / f"f{i:03d}.png"), inst.astype(np.uint8 if instances_8bit else np.uint16))
        cv2.imwrite(str(root / "images" / f"f{i:03d}.jpg"), image, [cv2.IMWRITE_JPEG_QUALITY, 98])
    return root


def prepare_folders(src: Path, out: Path, size=(128, 64), **kw) -> dict:
    return prepare_street(out, size, labels_dir=src / "labels", images_dir=src / "images",
                          instances_dir=src / "instances", **kw)


def test_prepare_from_folders(tmp_path):
    src = make_street_folders(tmp_path / "src")
    seen = []
    report = prepare_folders(src, tmp_path / "DS", progress=lambda d, t: seen.append((d, t)))
    assert report["frames"] == 4 and report["sequences"] == 1 and report["size"] == [128, 64]
    assert report["source_size"] == [SW, SH] and report["frames_per_second"] > 0 and report["warnings"] == []
    assert seen[-1] == (4, 4)
    ds = open_dataset(tmp_path / "DS")
    assert ds.kind == "street" and ds.size == (128, 64) and ds.fps == 17.0
    assert ds.has == {"instances": True, "images": True, "flow": True, "masks": False, "keypoints": False}
    f = ds.load_frame(0, 2)
    assert set(np.unique(f["labels"])) == {7, 23, 26}  # nearest resize: no blended ids
    assert set(np.unique(f["instances"])) == {0, 5}  # 8-bit 255 means no instance
    assert np.array_equal(f["instances"] == 5, f["labels"] == 26)
    # the scene moves right by SHIFT/2 output pixels, so the backward flow is -SHIFT/2 in x
    inner = (slice(8, -8), slice(8, -8))
    assert abs(np.median(f["flow"][inner][..., 0]) + SHIFT / 2) < 0.25
    assert abs(np.median(f["flow"][inner][..., 1])) < 0.25
    assert f["flow_conf"][inner].mean() > 0.9


def test_16bit_instances_and_colour_labels(tmp_path):
    src = make_street_folders(tmp_path / "src", n=2, instances_8bit=False)
    for p in (src / "labels").iterdir():  # replace ids by the Cityscapes palette colours
        ids = cv2.imread(str(p), cv2.IMREAD_UNCHANGED)
        cv2.imwrite(str(p), cv2.cvtColor(colorize(ids, CITYSCAPES), cv2.COLOR_RGB2BGR))
    prepare_folders(src, tmp_path / "DS", size=(256, 128))
    f = open_dataset(tmp_path / "DS").load_frame(0, 1)
    assert set(np.unique(f["labels"])) == {7, 23, 26}
    assert set(np.unique(f["instances"])) == {0, 26001}


def test_prepare_from_vid2vid_root(tmp_path):
    root = tmp_path / "v2v_root"
    for seq in ("seq0000", "seq0001"):
        src = make_street_folders(tmp_path / seq, n=3)
        for sub, name in (("labels", "A"), ("images", "B"), ("instances", "inst")):
            shutil.copytree(src / sub, root / f"train_{name}" / seq)
    report = prepare_street(tmp_path / "DS", (64, 32), vid2vid_root=root)
    assert report["frames"] == 6 and report["sequences"] == 2
    ds = open_dataset(tmp_path / "DS")
    assert [s.name for s in ds.sequences] == ["seq0000", "seq0001"] and ds.fps == 17.0
    assert all(len(s.flow) == 3 and s.flow[0] is None for s in ds.sequences)


def test_bad_label_ids_list_the_ids_and_leave_nothing(tmp_path):
    src = make_street_folders(tmp_path / "src", n=3, bad_ids_at=2)
    with pytest.raises(UserError, match=r"f002\.png: label ids \[40, 200\] are outside label set 'cityscapes'"):
        prepare_folders(src, tmp_path / "DS")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src"]


def test_input_checks(tmp_path):
    src = make_street_folders(tmp_path / "src", n=3)
    with pytest.raises(ValueError, match="nearest valid size: 128x64"):
        prepare_folders(src, tmp_path / "DS", size=(130, 60))
    (src / "images" / "f002.jpg").unlink()
    with pytest.raises(UserError, match=r"images folder .* has 2 frames but labels folder .* has 3"):
        prepare_folders(src, tmp_path / "DS")
    with pytest.raises(UserError, match="either a labels folder"):
        prepare_street(tmp_path / "DS", (64, 32))
    with pytest.raises(UserError, match="does not exist"):
        prepare_street(tmp_path / "DS", (64, 32), labels_dir=tmp_path / "nope")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src"]


def test_aspect_ratio_warning(tmp_path):
    src = make_street_folders(tmp_path / "src", n=2)
    report = prepare_folders(src, tmp_path / "DS", size=(64, 64))
    assert "aspect ratio changes from 256x128 to 64x64" in report["warnings"][0]


def test_cli_success_and_errors(tmp_path, capsys):
    src = make_street_folders(tmp_path / "src", n=3)
    args = ["prepare", "street", "--labels", str(src / "labels"), "--images", str(src / "images"),
            "--instances", str(src / "instances"), "--out", str(tmp_path / "DS")]
    assert main(args + ["--size", "128x64"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and out[0].startswith(f"prepared street dataset {tmp_path / 'DS'}: 3 frames, ")
    assert out[0].endswith("frames/s)")

    def fails(extra, message):
        code = main(args[:-1] + [str(tmp_path / "bad")] + extra)
        err = capsys.readouterr().err.strip().splitlines()
        assert code == 2 and len(err) == 1 and err[0].startswith("error: ") and message in err[0], err
        assert not (tmp_path / "bad").exists()

    fails(["--size", "128by64"], "--size must be WIDTHxHEIGHT")
    fails(["--size", "0x64"], "--size must be WIDTHxHEIGHT")
    fails(["--size", "100x64"], "nearest valid size: 96x64")
    (src / "labels" / "f001.png").write_bytes(b"not a png")  # fails mid-way, after the first frame was written
    fails(["--size", "128x64"], "f001.png")
    # the existing dataset is refused, and left as it was
    assert main(args + ["--size", "128x64"]) == 2
    assert "already exists" in capsys.readouterr().err
    assert (tmp_path / "DS" / "dataset.json").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["DS", "src"]


def test_cli_pose_face_argument_errors(tmp_path, capsys):
    for argv, message in ((["pose", "--video", "x.mp4", "--size", "256x256", "--frames", "9:3"], "is empty"),
                          (["face", "--video", "x.mp4", "--size", "256", "--frames", "0:10"], "--size must be"),
                          (["pose", "--video", "x.mp4", "--size", "256x256", "--frames", "a-b"], "--frames must")):
        assert main(["prepare", *argv, "--out", str(tmp_path / "o")]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0], err
    assert not (tmp_path / "o").exists()


@pytest.mark.realdata
def test_real_cityscapes_sequence(shared_data, tmp_path):
    """seq0000 of the vid2vid Cityscapes sample, first 6 frames, through the CLI and into VideoDataset."""
    from v2v.dataset import VideoDataset

    src = shared_data / "cityscapes_vid2vid"
    root = tmp_path / "root"
    for sub in ("train_A", "train_B", "train_inst"):
        (root / sub / "seq0000").mkdir(parents=True)
        for p in sorted((src / sub / "seq0000").iterdir())[:6]:
            (root / sub / "seq0000" / p.name).symlink_to(p)
    assert main(["prepare", "street", "--vid2vid-root", str(root), "--out", str(tmp_path / "DS"),
                 "--size", "256x128"]) == 0
    ds = VideoDataset(tmp_path / "DS", num_frames=4, crop_size=(128, 128), random=False)
    item = ds[0]
    assert item["labels"].shape == (4, 128, 128) and item["images"].shape == (4, 3, 128, 128)
    assert item["flow"].shape == (4, 2, 128, 128) and item["num_frames"] == 4
    ids = set(np.unique(cv2.imread(str(src / "train_A/seq0000/aachen_000000_000000_leftImg8bit.png"), 0)).tolist())
    assert item["start"] == 0 and set(item["labels"][0].unique().tolist()) <= ids  # nearest: no invented ids
    assert item["instances"].max() > 0
    # a car-mounted camera: flow is non-trivial but mostly trusted
    assert item["flow_conf"][1:].mean() > 0.6 and item["flow"][1:].abs().mean() > 0.1

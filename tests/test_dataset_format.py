"""The dataset layout contract: writing with DatasetWriter, reading ours and vid2vid's layout with open_dataset."""
import json

import cv2
import numpy as np
import pytest

from v2v.dataset_format import DatasetWriter, open_dataset
from v2v.errors import UserError

W, H = 64, 32


def street_frame(i: int) -> dict:
    labels = np.full((H, W), 7, np.uint8)
    labels[8:20, 10 + i:30 + i] = 26
    inst = np.zeros((H, W), np.int32)
    inst[8:20, 10 + i:30 + i] = 26001  # a Cityscapes-style id above 8 bits
    image = np.zeros((H, W, 3), np.uint8)
    image[..., 0] = np.linspace(0, 250, W, dtype=np.uint8)[None]
    image[..., 1] = np.linspace(0, 250, H, dtype=np.uint8)[:, None]
    image[8:20, 10 + i:30 + i] = (20, 40, 200)
    return {"labels": labels, "instances": inst, "image": image}


def write_street(root, n=3, **kw):
    with DatasetWriter(root, "street", "cityscapes", (W, H), 17, "unit test", **kw) as w:
        s = w.sequence("seq_a")
        for i in range(n):
            s.add(i, **street_frame(i))
            if i:
                flow = np.dstack([np.full((H, W), 1.5, np.float32), np.full((H, W), -0.25, np.float32)])
                s.add_flow(i, flow, np.ones((H, W), np.uint8))
    return root


def test_street_round_trip(tmp_path):
    root = write_street(tmp_path / "DS")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["DS"]  # no temp folder left
    meta = json.loads((root / "dataset.json").read_text())
    assert meta["format"] == "v2v-dataset" and meta["version"] == 1
    assert meta["kind"] == "street" and meta["label_set"] == "cityscapes" and meta["size"] == [W, H]
    assert meta["sequences"] == ["seq_a"] and meta["fps"] == 17.0
    assert meta["has"] == {"instances": True, "images": True, "flow": True, "masks": False, "keypoints": False}
    assert sorted(p.name for p in (root / "seq_a" / "flow").iterdir()) == ["000001.npz", "000002.npz"]
    assert cv2.imread(str(root / "seq_a" / "instances" / "000000.png"), cv2.IMREAD_UNCHANGED).dtype == np.uint16

    ds = open_dataset(root)
    assert (ds.kind, ds.size, ds.layout, ds.num_frames) == ("street", (W, H), "v2v", 3)
    seq = ds.sequences[0]
    assert seq.flow[0] is None and seq.masks is None and len(seq.images) == 3
    f0, f2 = ds.load_frame("seq_a", 0), ds.load_frame(seq, 2)
    ref = street_frame(2)
    assert "flow" not in f0
    assert np.array_equal(f2["labels"], ref["labels"]) and np.array_equal(f2["instances"], ref["instances"])
    assert np.abs(f2["image"].astype(int) - ref["image"]).mean() < 3  # JPEG quality 95
    assert f2["flow"].dtype == np.float32 and np.allclose(f2["flow"][..., 0], 1.5)
    assert np.allclose(f2["flow"][..., 1], -0.25) and f2["flow_conf"].max() == 1


def test_pose_masks_and_keypoints(tmp_path):
    with DatasetWriter(tmp_path / "P", "pose", None, (W, H), 25.0, "clip.mp4") as w:
        s = w.sequence("clip")
        for i in range(2):
            pose = np.zeros((H, W, 3), np.uint8)
            pose[5:10, 5:10] = (255, 0, 0)
            mask = np.zeros((H, W), bool)
            mask[4:20, 4:20] = True
            s.add(i, labels=pose, image=np.zeros((H, W, 3), np.uint8), mask=mask,
                  keypoints={"body": [[10.5, 4.0, 0.9]], "frame": i})
    ds = open_dataset(tmp_path / "P")
    assert ds.kind == "pose" and ds.label_set == "pose"
    assert ds.has == {"instances": False, "images": True, "masks": True, "keypoints": True, "flow": False}
    f = ds.load_frame(0, 1)
    assert f["labels"].shape == (H, W, 3) and tuple(f["labels"][6, 6]) == (255, 0, 0)  # RGB order kept
    assert set(np.unique(f["mask"])) == {0, 255}
    assert f["keypoints"] == {"body": [[10.5, 4.0, 0.9]], "frame": 1}


def test_refuses_non_empty_folder_unless_overwrite(tmp_path):
    (tmp_path / "DS").mkdir()
    (tmp_path / "DS" / "precious.txt").write_text("keep")
    with pytest.raises(UserError, match="already exists and is not empty"):
        write_street(tmp_path / "DS")
    assert (tmp_path / "DS" / "precious.txt").exists()
    write_street(tmp_path / "DS", overwrite=True)
    assert not (tmp_path / "DS" / "precious.txt").exists() and (tmp_path / "DS" / "dataset.json").exists()
    (tmp_path / "empty").mkdir()
    write_street(tmp_path / "empty")  # an empty folder is fine


def test_failure_leaves_nothing(tmp_path):
    with pytest.raises(RuntimeError):
        with DatasetWriter(tmp_path / "DS", "street", None, (W, H), 17) as w:
            w.sequence("a").add(0, **street_frame(0))
            raise RuntimeError("prepare crashed")
    assert list(tmp_path.iterdir()) == []
    # incomplete data is caught at close, and also leaves nothing
    with pytest.raises(ValueError, match="images written for 1 of 2 frames"):
        with DatasetWriter(tmp_path / "DS", "street", None, (W, H), 17) as w:
            s = w.sequence("a")
            s.add(0, **street_frame(0))
            s.add(1, labels=street_frame(1)["labels"], instances=street_frame(1)["instances"])
    assert list(tmp_path.iterdir()) == []


def test_writer_checks_inputs(tmp_path):
    with DatasetWriter(tmp_path / "DS", "street", None, (W, H), 17) as w:
        s = w.sequence("a")
        with pytest.raises(UserError, match="labels is 32x64 but the dataset size is 64x32"):
            s.add(0, labels=np.zeros((W, H), np.uint8))
        with pytest.raises(UserError, match="sequence name"):
            w.sequence("../evil")
        with pytest.raises(ValueError, match="flow exists only for frames >= 1"):
            s.add_flow(0, np.zeros((H, W, 2)), np.zeros((H, W)))
        s.add(0, **street_frame(0))
    with pytest.raises(UserError, match="kind must be one of"):
        DatasetWriter(tmp_path / "X", "cars", None, (W, H), 17)


def make_vid2vid(root, split="train", n=3, b_count=None, b_size=(W, H)):
    for i in range(n):
        f = street_frame(i)
        for sub, arr, ext in (("A", f["labels"], "png"), ("inst", np.where(f["instances"] > 0, 3, 255), "png")):
            d = root / f"{split}_{sub}" / "seq0000"
            d.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(d / f"frame_{i:03d}.{ext}"), arr.astype(np.uint8))
    d = root / f"{split}_B" / "seq0000"
    d.mkdir(parents=True, exist_ok=True)
    for i in range(n if b_count is None else b_count):
        cv2.imwrite(str(d / f"frame_{i:03d}.jpg"), cv2.resize(street_frame(i)["image"], b_size))
    return root


def test_vid2vid_layout(tmp_path):
    ds = open_dataset(make_vid2vid(tmp_path / "v"))
    assert (ds.layout, ds.kind, ds.size, [s.name for s in ds.sequences]) == ("vid2vid", "street", (W, H), ["seq0000"])
    f = ds.load_frame("seq0000", 1)
    assert f["image"].shape == (H, W, 3)
    assert set(np.unique(f["instances"])) == {0, 3}  # 255 (no instance) became 0
    test_only = open_dataset(make_vid2vid(tmp_path / "t", split="test"))
    assert "(test)" in test_only.source and test_only.sequences[0].num_frames == 3


def test_vid2vid_count_and_size_mismatch(tmp_path):
    with pytest.raises(UserError, match=r"sequence 'seq0000': .*train_B/seq0000 has 2 frames but .*train_A/seq0000 "
                                        r"has 3"):
        open_dataset(make_vid2vid(tmp_path / "c", b_count=2))
    with pytest.raises(UserError, match=r"sequence 'seq0000': .*train_B/seq0000 has frames of 32x16 but the dataset "
                                        r"is 64x32"):
        open_dataset(make_vid2vid(tmp_path / "s", b_size=(32, 16)))


def test_open_dataset_errors(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        open_dataset(tmp_path / "missing")
    (tmp_path / "plain").mkdir()
    with pytest.raises(UserError, match="no dataset.json"):
        open_dataset(tmp_path / "plain")
    root = write_street(tmp_path / "DS")
    (root / "seq_a" / "images" / "000002.jpg").unlink()
    with pytest.raises(UserError, match=r"sequence 'seq_a': .*images has 2 frames but .*labels has 3"):
        open_dataset(root)

"""The face discriminator (``face_crop``): head centres from keypoints, crops that follow the item's crop box, a D
that trains on them, and --init-from of an export made without one."""
import math
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from synthetic import make_pose_dataset  # noqa: E402

from v2v.config import ConfigError  # noqa: E402
from v2v.dataset import VideoDataset  # noqa: E402
from v2v.errors import UserError  # noqa: E402
from v2v.face_crop import crop_squares, face_center, face_centers  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "train" / "configs" / "tiny_test.yaml"
POSE = ["preset=dancer_256", "model.ngf=8", "model.n_blocks=1", "model.first_frame.ngf=8",
        "model.first_frame.n_blocks=1", "schedule.n_frames_start=4", "schedule.n_frames_max=4"]


@pytest.fixture(scope="module")
def pose_ds(tmp_path_factory):
    return make_pose_dataset(tmp_path_factory.mktemp("pose") / "ds")


def test_face_center_is_the_mean_of_the_visible_head_landmarks():
    body = [[10.0 + i, 20.0, 1.0] for i in range(11)] + [[0.0, 0.0, 1.0]] * 22
    body[0][2] = 0.2  # invisible: left out
    assert face_center({"body": body}) == pytest.approx((15.5, 20.0))
    assert all(math.isnan(v) for v in face_center({"body": None}))
    assert all(math.isnan(v) for v in face_center(None))
    hidden = [[5.0, 5.0, 0.0]] * 33
    assert all(math.isnan(v) for v in face_center({"body": hidden}))


def test_face_centers_move_into_the_crop_box_and_drop_heads_outside():
    kps = [{"body": [[30.0, 12.0, 1.0]] * 11}, {"body": [[2.0, 12.0, 1.0]] * 11}, None]
    c = face_centers(kps, x0=8, y0=4, size=(32, 16))
    assert c[0].tolist() == [22.0, 8.0]
    assert torch.isnan(c[1]).all() and torch.isnan(c[2]).all()  # left of the box; no keypoints


def test_crop_squares_stay_inside_the_frame_and_pass_gradients():
    x = torch.arange(2 * 1 * 20 * 30, dtype=torch.float32).view(2, 1, 20, 30).requires_grad_(True)
    centers = torch.tensor([[1.0, 1.0], [math.nan, math.nan]])
    crops, keep = crop_squares(x, centers, 8)
    assert keep.tolist() == [0] and crops.shape == (1, 1, 8, 8)
    assert torch.equal(crops[0], x[0, :, :8, :8])  # shifted inside the top-left corner
    crops.sum().backward()
    assert x.grad[0, 0, :8, :8].eq(1).all() and x.grad.sum() == 64
    crops, _ = crop_squares(x.detach(), torch.tensor([[29.0, 19.0], [15.0, 10.0]]), 8)
    assert torch.equal(crops[0], x[0, :, -8:, -8:].detach()) and torch.equal(crops[1], x[1, :, 6:14, 11:19].detach())
    empty, keep = crop_squares(x.detach(), torch.full((2, 2), math.nan), 8)
    assert empty.shape == (0, 1, 8, 8) and keep.numel() == 0
    with pytest.raises(ValueError, match="does not fit frames of 30x20"):
        crop_squares(x, centers, 24)


def test_dataset_face_centers_follow_random_crops(pose_ds):
    ds = VideoDataset(pose_ds, 3, crop_size=(48, 48), face_centers=True)
    torch.manual_seed(0)
    for _ in range(5):
        item = ds[0]
        c = item["face_center"]
        assert c.shape == (3, 2)
        for t in range(3):
            if torch.isnan(c[t]).any():
                continue
            x, y = (int(round(float(v))) for v in c[t])
            assert item["images"][t, :, y, x].min() > 0.6  # the bright head is where the centre says
    plain = VideoDataset(pose_ds, 3)
    assert "face_center" not in plain[0]


def test_face_centers_need_keypoints(tmp_path):
    no_kp = make_pose_dataset(tmp_path / "nokp", keypoints=False)
    with pytest.raises(UserError, match="face crops need the dataset's keypoints"):
        VideoDataset(no_kp, 3, face_centers=True)


def test_face_crop_config_is_checked():
    from train.config import load_config
    with pytest.raises(ConfigError, match="face_crop is the side of the head crop"):
        load_config(CONFIG, ["data.root=x", "face_crop=8"])


def _pose_trainer(tmp_path, ds, *overrides):
    from train.config import load_config
    from train.distributed import DistInfo
    from train.trainer import Trainer

    torch.manual_seed(0)
    cfg = load_config(CONFIG, [f"data.root={ds}", f"out_dir={tmp_path / 'run'}", *POSE, *overrides])
    data = VideoDataset(ds, 4, face_centers=cfg.face_crop > 0, flip=False)
    batch = {k: v.unsqueeze(0) if isinstance(v, torch.Tensor) else [v] for k, v in data[0].items()}
    return Trainer(cfg, DistInfo()), batch


def test_a_training_step_updates_the_face_D_from_head_crops(pose_ds, tmp_path):
    trainer, batch = _pose_trainer(tmp_path, pose_ds, "face_crop=16")
    assert "face" in trainer.D and trainer.opt_DF in trainer.optimizers
    before = [p.detach().clone() for p in trainer.D["face"].parameters()]
    logs = trainer.train_step(batch)
    assert {"D_face", "G_GAN_face", "G_FM_face"} <= set(logs)
    assert all(math.isfinite(logs[k]) for k in ("D_face", "G_GAN_face", "G_FM_face"))
    assert any(not torch.equal(a, b) for a, b in zip(before, trainer.D["face"].parameters()))
    assert trainer.loss_weights()["G_GAN_face"] == trainer.cfg.loss.face_gan

    batch["face_center"][:] = math.nan  # nobody's head visible: no face terms, the step still runs
    logs = trainer.train_step(batch)
    assert "D_face" not in logs and "G_GAN_face" not in logs


def test_no_face_D_without_face_crop(pose_ds, tmp_path):
    trainer, batch = _pose_trainer(tmp_path, pose_ds)
    assert "face" not in trainer.D and trainer.opt_DF is None
    assert "D_face" not in trainer.train_step(batch)


def test_init_from_an_export_without_face_D_starts_only_it_fresh(pose_ds, tmp_path):
    from safetensors.torch import load_file

    from train.warm_start import warm_start
    from v2v.checkpoint import export_model

    plain, _ = _pose_trainer(tmp_path / "a", pose_ds)
    export = export_model(tmp_path / "export", plain.mcfg, plain.G, discriminators=plain.D)
    assert not any(k.startswith("face.") for k in load_file(str(export / "discriminators.safetensors")))
    with_face, _ = _pose_trainer(tmp_path / "b", pose_ds, "face_crop=16")
    fresh_face = {k: v.clone() for k, v in with_face.D["face"].state_dict().items()}
    report = warm_start(with_face, export)
    assert report["discriminators"] and report["fresh_discriminators"] == ["face"]
    saved = load_file(str(export / "discriminators.safetensors"))
    for k, v in with_face.D.state_dict().items():
        if k.startswith("face."):
            assert torch.equal(v, fresh_face[k[5:]])
        else:
            assert torch.equal(v, saved[k].to(v.dtype)), k

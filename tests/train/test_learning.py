"""A tiny model trained a few hundred steps on a 4-frame clip must reconstruct it clearly better than at step 0."""
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from synthetic import make_street_dataset  # noqa: E402

from train.config import load_config  # noqa: E402
from train.distributed import DistInfo  # noqa: E402
from train.trainer import Trainer  # noqa: E402
from train.validate import validate  # noqa: E402
from v2v.dataset import VideoDataset  # noqa: E402
from v2v.dataset_format import open_dataset  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_tiny_model_learns_a_clip(tmp_path):
    torch.set_num_threads(2)
    ds = make_street_dataset(tmp_path / "clip", frames=4, size=(64, 32))
    cfg = load_config(ROOT / "train" / "configs" / "tiny_test.yaml",
                      [f"data.root={ds}", f"out_dir={tmp_path / 'run'}", "max_steps=150", "model.ngf=16",
                       "loss.first_frame_l1=10"])
    trainer = Trainer(cfg, DistInfo())
    index = open_dataset(ds)
    before = validate(trainer, index, ["seqA"], 4)
    data = VideoDataset(index, 4, flip=False)
    for _ in range(cfg.max_steps):
        trainer.train_step({k: v.unsqueeze(0) if isinstance(v, torch.Tensor) else [v] for k, v in data[0].items()})
    after = validate(trainer, index, ["seqA"], 4)
    print("before", before, "after", after)
    assert after["psnr"] > before["psnr"] + 5, (before, after)
    assert after["ssim"] > before["ssim"] + 0.15, (before, after)

"""A tiny model trained a few hundred steps on a 4-frame clip must reconstruct it clearly better than at step 0."""
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from synthetic import make_street_dataset, tiny_trainer  # noqa: E402

from train.config import load_config  # noqa: E402
from train.distributed import DistInfo  # noqa: E402
from train.trainer import Trainer  # noqa: E402
from train.validate import validate  # noqa: E402
from v2v import conditioning  # noqa: E402
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


@pytest.mark.parametrize("chance", [0.0, 1.0])
def test_history_starts_from_real_or_generated_frames(tmp_path, chance):
    """schedule.generated_history: the sequential generator's history starts from the real frames (0) or from the
    first-frame generator's detached outputs (1), and the temporal warp loss compares against that same start."""
    trainer, batch = tiny_trainer(tmp_path, 4, [f"schedule.generated_history={chance}"])
    x = trainer.prepare(batch, 1)
    gen = trainer.generate(x, 1, 0)
    L = trainer.mcfg.n_past_frames
    if chance == 0.0:
        assert gen["history_start"] is x["real"][L - 1]
    else:
        assert not gen["history_start"].requires_grad
        with torch.no_grad():
            expect = trainer.G["first_frame"](conditioning.first_frame_input(
                trainer.mcfg, x["enc"][L - 1], x["feats"][L - 1]))["image"]
        assert torch.allclose(gen["history_start"], expect, atol=1e-5)
    logs = trainer.train_step(batch)
    assert all(torch.isfinite(torch.tensor(v)) for v in logs.values())


def test_generated_history_must_be_a_probability():
    from train.config import ConfigError
    with pytest.raises(ConfigError, match="generated_history"):
        load_config(ROOT / "train" / "configs" / "tiny_test.yaml", ["schedule.generated_history=1.5"])


def test_training_and_inference_run_the_same_recurrence(tmp_path):
    """The recurrence is written twice (Trainer.generate: batched, for backprop; Synthesizer.step: a frame at a
    time). Started from the first-frame generator's outputs, as inference is, the trainer's frames are the frames
    the exported model makes from the same labels and style features."""
    from v2v.pipeline import Synthesizer

    trainer, batch = tiny_trainer(tmp_path, 5, ["schedule.generated_history=1"])
    x = trainer.prepare(batch, 1)
    with torch.no_grad():
        trained = [o["image"] for o in trainer.generate(x, 1, 0)["outs"]]
    synth = Synthesizer(trainer.mcfg, trainer.G, precision="fp32")
    inferred = [synth.step(batch["labels"][:, t], batch["instances"][:, t], features=x["feats"][t])["image"]
                for t in range(5)]
    L = trainer.mcfg.n_past_frames
    assert len(trained) == 5 - L >= 2
    for t, image in enumerate(trained, start=L):
        assert torch.allclose(image, inferred[t], atol=1e-4), (t, float((image - inferred[t]).abs().max()))

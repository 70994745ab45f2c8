"""DiffAugment: the discriminators' inputs transformed alike on both sides, differentiably."""
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from synthetic import tiny_trainer  # noqa: E402

from train.config import ConfigError, load_config  # noqa: E402
from train.diff_augment import Augmentation, parse_policy  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


def test_policies_are_checked():
    assert parse_policy("color, translation") == ("color", "translation")
    assert parse_policy("") == ()
    with pytest.raises(ValueError, match="flip"):
        parse_policy("color,flip")
    with pytest.raises(ConfigError, match="diff_augment policies"):
        load_config(ROOT / "train" / "configs" / "tiny_test.yaml", ["data.root=x", "diff_augment=zoom"])


def test_translation_moves_image_labels_and_flows_alike_and_colour_touches_the_image_only():
    torch.manual_seed(0)
    aug = Augmentation.draw(("color", "translation"), 2, (16, 32), "cpu")
    aug.shift = torch.tensor([[2, -3], [0, 4]])
    image, labels = torch.zeros(2, 3, 16, 32), torch.zeros(2, 5, 16, 32)
    image[:, :, 8, 10] = 1.0
    labels[:, 2, 8, 10] = 1.0
    out_image, out_labels = aug(image, labels)
    assert out_labels[0, 2, 10, 7] == 1 and out_labels[1, 2, 8, 14] == 1 and out_labels.sum() == 2
    assert out_image[0].abs().sum(0).argmax() == 10 * 32 + 7  # the bright pixel moved with the label
    # a window of frames and its flows (n, K, C, H, W) move as one
    frames, flows = torch.zeros(2, 3, 3, 16, 32), torch.zeros(2, 2, 2, 16, 32)
    frames[:, :, :, 4, 4] = 1.0
    flows[:, :, :, 4, 4] = 5.0
    plain = Augmentation(shift=aug.shift)
    moved_frames, moved_flows = plain(frames, flows)
    assert (moved_frames[0, :, :, 6, 1] == 1).all() and (moved_flows[0, :, :, 6, 1] == 5).all()


def test_cutout_blanks_a_quarter_and_gradients_pass():
    torch.manual_seed(1)
    aug = Augmentation.draw(("cutout",), 3, (16, 32), "cpu")
    assert torch.allclose(aug.keep.mean((1, 2, 3)), torch.full((3,), 0.75))
    image = torch.randn(3, 3, 16, 32, requires_grad=True)
    (out,) = aug(image)
    out.square().sum().backward()
    assert image.grad.abs().sum() > 0
    assert (image.grad * (1 - aug.keep)).abs().sum() == 0  # nothing flows from the cut-out rectangle


def test_a_training_step_with_diff_augment(tmp_path):
    trainer, batch = tiny_trainer(tmp_path, 5, ["diff_augment=color,translation,cutout"])
    logs = trainer.train_step(batch)
    assert {"G_GAN", "G_FM", "D_image", "D_T0"} <= set(logs)
    assert all(torch.isfinite(torch.tensor(v)) for v in logs.values())

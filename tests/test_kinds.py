"""The registry of kinds: every kind has its readers, and a model's kind follows its label set."""
import pytest

from v2v import kinds
from v2v.commands.prepare import PREPARERS
from v2v.errors import UserError
from v2v.inputs.clip import MEDIA_READERS
from v2v.labels import BUILTIN, CITYSCAPES, LabelSet


def test_every_kind_has_a_preparer_and_a_reader():
    assert set(PREPARERS) == set(kinds.NAMES)
    for kind in kinds.KINDS.values():
        # class-id kinds read label maps; image kinds read raw media (a video) through their own reader
        assert kind.label_ids or kind.name in MEDIA_READERS, kind.name
        assert kind.label_set in BUILTIN, kind.name
        assert (kind.image_channels == 0) == kind.label_ids


def test_kind_follows_the_label_set():
    for kind in kinds.KINDS.values():
        assert kinds.of_label_set(BUILTIN[kind.label_set]) is kind
    assert kinds.of_label_set(LabelSet(name="mine", encoding="onehot", names=("a", "b"))).name == "street"
    assert kinds.of_label_set(LabelSet(name="mine", encoding="image", image_channels=3)).name == "pose"
    with pytest.raises(UserError, match="fits none of the kinds"):
        kinds.of_label_set(LabelSet(name="mine", encoding="image", image_channels=5))
    assert kinds.of_label_set(CITYSCAPES).styles


def test_unknown_kind_is_refused_by_name():
    with pytest.raises(UserError, match="kind must be one of street, pose, face, got 'cars'"):
        kinds.get("cars")
    assert kinds.get(kinds.KINDS["pose"]) is kinds.KINDS["pose"]

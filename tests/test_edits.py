"""One relabel syntax and one class resolver for the CLI, the engine and the app (v2v.edits)."""
from __future__ import annotations

import pytest

from app.editing import parse_relabel as app_parse
from v2v.commands.synthesize import parse_relabel as cli_parse
from v2v.edits import class_id, parse_relabel, split_relabel
from v2v.engine import resolve_relabel
from v2v.errors import UserError
from v2v.labels import CITYSCAPES, LabelSet

VEG, BUILDING, CAR, TRUCK = 21, 11, 26, 27


@pytest.mark.parametrize("text", ["tree->building, car=truck", "vegetation=building; cars => truck",
                                  "21:11, car to truck"])
def test_every_spelling_gives_the_same_pairs_in_app_cli_and_engine(text):
    assert parse_relabel(text) == [(VEG, BUILDING), (CAR, TRUCK)]
    assert app_parse(text) == [(VEG, BUILDING), (CAR, TRUCK)]
    assert resolve_relabel(CITYSCAPES, cli_parse([text])) == {VEG: BUILDING, CAR: TRUCK}
    assert resolve_relabel(CITYSCAPES, cli_parse(text.replace(";", ",").split(","))) == {VEG: BUILDING, CAR: TRUCK}


def test_bad_relabels_say_what_to_write():
    with pytest.raises(UserError, match=r"'vegetation building' must look like vegetation->building"):
        split_relabel("vegetation building")
    with pytest.raises(UserError, match="must look like"):
        split_relabel("vegetation->")
    with pytest.raises(UserError, match="unknown class 'spaceship'"):
        parse_relabel("spaceship->car")
    with pytest.raises(UserError, match="not in label set"):
        class_id(CITYSCAPES, 99)
    assert split_relabel(None) == [] and split_relabel(" , ") == []


def test_aliases_belong_to_cityscapes_only():
    assert class_id(CITYSCAPES, "Tree") == VEG and class_id(CITYSCAPES, "traffic_light") == 19
    other = LabelSet("two", "onehot", ("ground", "tree"), ((0, 0, 0), (0, 255, 0)))
    assert class_id(other, "tree") == 1  # its own class, not Cityscapes' alias

import json

import numpy as np
import pytest
import torch

from v2v.labels import (CITYSCAPES, check_label_ids, colorize, decolorize, encode_frame, foreground_mask,
                        instance_edges, load_label_set, one_hot)


def test_cityscapes_table():
    assert CITYSCAPES.num_classes == 35
    assert CITYSCAPES.id_of("car") == 26 and CITYSCAPES.id_of("vegetation") == 21
    assert CITYSCAPES.colors[7] == (128, 64, 128)
    assert set(CITYSCAPES.foreground) == {24, 25, 26, 27, 28, 31, 32, 33}


def test_one_hot_matches_ids():
    ids = torch.randint(0, 35, (2, 5, 7))
    x = one_hot(ids, 35)
    assert x.shape == (2, 35, 5, 7)
    assert torch.equal(x.argmax(1), ids) and torch.all(x.sum(1) == 1)


def test_one_hot_rejects_unknown_ids_listing_them():
    ids = torch.tensor([[[0, 40], [255, 3]]])
    with pytest.raises(ValueError, match=r"\[40, 255\]"):
        one_hot(ids, 35)


def test_instance_edges_four_neighbour():
    inst = torch.zeros(1, 6, 6, dtype=torch.long)
    inst[0, 2:4, 2:4] = 5
    e = instance_edges(inst)[0, 0]
    expected = torch.zeros(6, 6)
    expected[2:4, 2:4] = 1  # the object's own border pixels
    expected[1, 2:4] = expected[4, 2:4] = expected[2:4, 1] = expected[2:4, 4] = 1  # outside neighbours
    assert torch.equal(e, expected)


def test_encode_frame_channels_and_foreground():
    ids = torch.full((1, 4, 4), 7)
    ids[0, 0, 0] = 26
    x = encode_frame(CITYSCAPES, ids, torch.zeros_like(ids), use_instance=True)
    assert x.shape == (1, 36, 4, 4)
    fg = foreground_mask(CITYSCAPES, ids)
    assert fg.sum() == 1 and fg[0, 0, 0, 0] == 1


def test_colour_round_trip_and_unknown_colours():
    ids = np.array([[7, 8], [21, 26]])
    assert np.array_equal(decolorize(colorize(ids)), ids)
    bad = colorize(ids)
    bad[0, 0] = (1, 2, 3)
    with pytest.raises(ValueError, match="not in the cityscapes palette"):
        decolorize(bad)
    assert decolorize(bad, max_distance=10)[0, 0] == 0  # snapped to black (unlabeled)


def test_check_label_ids():
    check_label_ids(np.array([0, 34]), CITYSCAPES)
    with pytest.raises(ValueError, match=r"\[35\]"):
        check_label_ids(np.array([1, 35]), CITYSCAPES)


def test_custom_label_set_file(tmp_path):
    path = tmp_path / "mine.json"
    path.write_text(json.dumps({"name": "mine", "classes": [{"name": "ground", "color": [0, 0, 0]},
                                                            {"name": "thing", "color": [255, 0, 0]}],
                                "foreground": ["thing"]}))
    ls = load_label_set(str(path))
    assert ls.num_classes == 2 and ls.foreground == (1,)
    path.write_text(json.dumps({"name": "x", "colour": []}))
    with pytest.raises(ValueError, match="unknown keys"):
        load_label_set(str(path))
    with pytest.raises(ValueError, match="neither built in"):
        load_label_set(str(tmp_path / "missing.json"))

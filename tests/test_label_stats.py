import cv2
import numpy as np
import pytest

from v2v.label_stats import (CAR, PERSON, ROAD, SKY, band_distance, class_distance, compare, floor_distance,
                             folder_stats, format_rows, label_stats, merge, read_frame, summary, vid2vid_sequences)


def _frame(k=1):
    """A 64x32 frame (scaled by ``k``): sky above row 12, road below, one car (instance 5) and one person without an
    instance id."""
    h, w = 32 * k, 64 * k
    lab = np.full((h, w), SKY, np.uint8)
    lab[12 * k:] = ROAD
    inst = np.zeros((h, w), np.uint16)
    lab[10 * k:20 * k, 4 * k:20 * k] = CAR
    inst[10 * k:20 * k, 4 * k:20 * k] = 5
    lab[14 * k:24 * k, 40 * k:44 * k] = PERSON
    return lab, inst


def test_bands_shares_horizon_and_objects():
    lab, inst = _frame()
    s = label_stats([(lab, inst)], bands=4)
    assert s.frames == 1 and s.size == (64, 32) and s.band_hist.shape == (4, 35)
    assert np.allclose(s.band_hist.sum(1), 1) and np.isclose(s.class_frac.sum(), 1)
    assert s.band_hist[0, SKY] == 1.0  # rows 0-7: sky only
    assert s.band_hist[3, ROAD] == 1.0  # rows 24-31: road only
    assert np.isclose(s.class_frac[CAR], 160 / (32 * 64))
    assert s.presence[CAR] == 1 and s.presence[7] == 1 and s.presence[8] == 0
    assert np.isclose(s.road_top[0], 12 / 32)  # the highest row with road
    assert np.isclose(s.ground_half[0], 12 / 32)
    car = s.objects[CAR]
    assert np.allclose([car["area"][0], car["height"][0], car["width"][0], car["bottom"][0]],
                       [160 / 2048, 10 / 32, 16 / 64, 20 / 32])
    person = s.objects[PERSON]  # no instance id: a connected component
    assert len(person["area"]) == 1 and np.isclose(person["height"][0], 10 / 32)


def test_instance_belongs_to_its_majority_class_and_maps_are_optional():
    lab, inst = _frame()
    inst[8:10, 4:20] = 5  # the instance spills two rows into the sky: those pixels are not the car's
    s = label_stats([(lab, inst)], bands=4)
    assert np.isclose(s.objects[CAR]["height"][0], 10 / 32)
    without = label_stats([lab], bands=4)  # no instance map: components
    assert np.allclose(without.objects[CAR]["area"], s.objects[CAR]["area"])
    assert summary(s)["cars per frame"] == 1


def test_merge_equals_one_set_and_distances():
    a, b = _frame(), _frame()
    b[0][:] = ROAD
    sa, sb = label_stats([a], bands=4), label_stats([b], bands=4)
    both = label_stats([a, b], bands=4)
    m = merge([sa, sb])
    assert m.frames == 2
    assert np.allclose(m.band_hist, both.band_hist) and np.allclose(m.class_frac, both.class_frac)
    assert np.array_equal(m.objects[CAR]["area"], both.objects[CAR]["area"])
    assert band_distance(sa, sa) == 0 and class_distance(sa, sa) == 0
    assert band_distance(sa, sb) > 0
    sky = label_stats([np.full((8, 8), SKY, np.uint8)], bands=4)
    road = label_stats([np.full((8, 8), ROAD, np.uint8)], bands=4)
    assert band_distance(sky, road) == 2.0  # no band shares a class
    assert floor_distance([sa, sb, both]) > 0
    rows = compare(sa, sb, top=3)
    assert len(rows) == len(summary(sa)) + 3
    assert "road top" in format_rows(rows, ("figure", "a", "b"))


def test_bad_input():
    with pytest.raises(ValueError, match="labelIds"):
        label_stats([np.full((32, 32), 40, np.uint8)])
    with pytest.raises(ValueError, match="earlier"):
        label_stats([np.zeros((32, 32), np.uint8), np.zeros((32, 16), np.uint8)])
    with pytest.raises(ValueError, match="no frames"):
        label_stats([])
    with pytest.raises(ValueError, match="row bands"):
        label_stats([np.zeros((8, 8), np.uint8)], bands=16)


def test_reads_a_vid2vid_layout_with_8bit_instances(tmp_path):
    lab, inst = _frame(2)
    for seq in ("seq0000", "seq0001"):
        for d in ("train_A", "train_inst"):
            (tmp_path / d / seq).mkdir(parents=True)
        for i in range(3):
            cv2.imwrite(str(tmp_path / "train_A" / seq / f"f{i}.png"), lab)
            cv2.imwrite(str(tmp_path / "train_inst" / seq / f"f{i}.png"),
                        np.where(inst > 0, inst, 255).astype(np.uint8))  # vid2vid: 255 = no instance
    seqs = vid2vid_sequences(tmp_path)
    assert [name for name, _, _ in seqs] == ["seq0000", "seq0001"]
    _, labels, insts = seqs[0]
    small_lab, small_inst = read_frame(labels[0], insts[0], (64, 32))  # nearest neighbour, halved
    assert small_lab.shape == (32, 64) and set(np.unique(small_inst)) == {0, 5}
    s = folder_stats(labels, insts, (64, 32), bands=4, step=2)
    assert s.frames == 2 and np.allclose(s.band_hist, label_stats([_frame()] * 2, bands=4).band_hist)
    assert len(s.objects[CAR]["area"]) == 2


def test_command_line_compares_scenes_with_a_vid2vid_root(tmp_path, capsys):
    from v2v.label_stats import main

    lab, inst = _frame(2)
    for seq in ("seq0000", "seq0001"):
        (tmp_path / "train_A" / seq).mkdir(parents=True)
        cv2.imwrite(str(tmp_path / "train_A" / seq / "f0.png"), lab)
    assert main(["--real", str(tmp_path), "--seeds", "1-2", "--frames", "2", "--size", "64x32", "--bands", "4"]) == 0
    out = capsys.readouterr().out
    assert "real vs real" in out and "scenes merged vs real merged" in out and "road top (horizon)" in out

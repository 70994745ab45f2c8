"""Label editing and upload parsing of the street tab (no server, no model)."""
from __future__ import annotations

import zipfile

import cv2
import numpy as np
import pytest

from app.editing import Op, apply_op, class_id, paint_op, parse_relabel, replay
from app.limits import Limits, load_limits
from app.uploads import components_as_instances, load_upload
from v2v.errors import UserError
from v2v.labels import CITYSCAPES, colorize

ROAD, BUILDING, VEG, CAR, TRUCK, SKY = 7, 11, 21, 26, 27, 23


def volume(n=3, h=16, w=32):
    labels = np.full((n, h, w), ROAD, np.uint8)
    labels[:, :4] = SKY
    labels[:, 4:8, :10] = VEG
    labels[:, 4:8, 20:] = VEG  # a second, separate vegetation region
    labels[:, 10:14, 4:10] = CAR
    inst = np.zeros((n, h, w), np.int32)
    inst[:, 10:14, 4:10] = 5
    return labels, inst


def test_relabel_parsing_and_aliases():
    assert parse_relabel("tree->building, car => truck") == [(VEG, BUILDING), (CAR, TRUCK)]
    assert class_id("Traffic_Light") == 19
    with pytest.raises(UserError, match="unknown class"):
        parse_relabel("spaceship->car")
    with pytest.raises(UserError, match="must look like"):
        parse_relabel("vegetation building")


def test_class_relabel_and_undo_by_replay():
    labels, inst = volume()
    ops = [Op("class", BUILDING, from_id=VEG), Op("class", VEG, from_id=BUILDING)]
    l1, _ = replay(labels, inst, ops[:1])
    assert (l1 == VEG).sum() == 0 and (l1 == BUILDING).sum() == (labels == VEG).sum()
    l2, i2 = replay(labels, inst, ops)
    np.testing.assert_array_equal(l2, labels)
    np.testing.assert_array_equal(i2, inst)


def test_region_relabel_touches_only_the_connected_region_and_fixes_instances():
    labels, inst = volume()
    apply_op(labels, inst, Op("region", BUILDING, frames=(1, 1), x=2, y=5, frame=1))
    assert (labels[1, 4:8, :10] == BUILDING).all() and (labels[1, 4:8, 20:] == VEG).all()
    assert (labels[0, 4:8, :10] == VEG).all()  # other frames untouched
    apply_op(labels, inst, Op("region", SKY, frames=None, x=5, y=11, frame=0))  # the car, in all frames
    assert (labels[:, 10:14, 4:10] == SKY).all() and (inst == 0).all()
    apply_op(labels, inst, Op("region", TRUCK, frames=(0, 0), x=12, y=12, frame=0))  # road becomes a truck
    assert inst[0, 12, 12] > 0 and (inst[0][labels[0] != TRUCK] == 0).all()


def test_paint_layer_snaps_antialiased_strokes_and_ignores_faint_alpha():
    labels, inst = volume()
    layer = np.zeros((16, 32, 4), np.uint8)
    layer[0:3, 0:5] = (*CITYSCAPES.colors[CAR], 255)
    layer[0:3, 5] = (20, 10, 130, 200)  # antialiased edge colour near car blue
    layer[5, 5] = (*CITYSCAPES.colors[BUILDING], 40)  # faint: not painted
    op = paint_op(layer, (0, 1), (32, 16))
    apply_op(labels, inst, op)
    assert (labels[0:2, 0:3, 0:6] == CAR).all() and (labels[2, 0:3, 0:6] == SKY).all()
    assert labels[0, 5, 5] == VEG
    assert inst[0, 0, 0] > 0
    assert paint_op(np.zeros((16, 32, 4), np.uint8), (0, 0), (32, 16)) is None


def test_overlapping_antialiased_strokes_never_become_a_third_class():
    """A car-blue stroke over a road-purple one: the blended seam snaps to car or road, never in between."""
    layer = np.zeros((20, 40, 4), np.uint8)
    layer[:, :24] = (*CITYSCAPES.colors[ROAD], 255)
    layer[:, 20:] = (*CITYSCAPES.colors[CAR], 255)
    ramp = np.linspace(0, 1, 6)[1:-1]
    for k, t in enumerate(ramp):  # antialiased seam: colours between the two
        layer[:, 20 + k, :3] = np.round(np.array(CITYSCAPES.colors[ROAD]) * (1 - t)
                                        + np.array(CITYSCAPES.colors[CAR]) * t)
    layer[0, 0, 3] = 100  # faint edge: not painted
    op = paint_op(np.repeat(np.repeat(layer, 2, 0), 2, 1), (0, 0), (40, 20))  # editor at 2x the frame size
    labels, inst = volume(1, 20, 40)
    labels[:] = SKY
    apply_op(labels, inst, op)
    assert set(np.unique(labels)) == {ROAD, CAR, SKY} and labels[0, 0, 0] == SKY
    assert (labels[0, :, :20] == ROAD)[1:].all() and (labels[0, :, 24:] == CAR).all()


def test_components_become_instances():
    lab = np.full((8, 8), ROAD, np.uint8)
    lab[0:2, 0:2] = CAR
    lab[5:7, 5:7] = CAR
    inst = components_as_instances(lab)
    assert len(np.unique(inst)) == 3 and inst[0, 0] != inst[6, 6]


def _zip(path, files):
    with zipfile.ZipFile(path, "w") as zf:
        for name, arr in files.items():
            ok, buf = cv2.imencode(".png", arr)
            zf.writestr(name, buf.tobytes())
    return path


def test_upload_zip_of_ids_and_colours(tmp_path):
    labels, _ = volume(2)
    z = _zip(tmp_path / "l.zip", {"seq/f1.png": labels[0], "seq/f2.png": cv2.cvtColor(colorize(labels[1]),
                                                                                        cv2.COLOR_RGB2BGR)})
    vol = load_upload(z, None, tmp_path / "work", (64, 32), Limits())
    assert vol.labels.shape == (2, 32, 64) and vol.instances.max() > 0
    assert set(vol.classes()) == {ROAD, SKY, VEG, CAR}


@pytest.mark.parametrize("content,match", [
    (b"", "empty"), (b"not a zip at all", "not a readable zip"),
])
def test_bad_uploads(tmp_path, content, match):
    p = tmp_path / "x.zip"
    p.write_bytes(content)
    with pytest.raises(UserError, match=match):
        load_upload(p, None, tmp_path / "w", (64, 32), Limits())


def test_unknown_colours_and_ids_are_refused(tmp_path):
    bad = np.zeros((8, 8, 3), np.uint8)
    bad[:] = (1, 200, 77)
    z = _zip(tmp_path / "c.zip", {"a.png": bad})
    with pytest.raises(UserError, match="not a colourised label map"):
        load_upload(z, None, tmp_path / "w", (64, 32), Limits())
    z = _zip(tmp_path / "i.zip", {"a.png": np.full((8, 8), 99, np.uint8)})
    with pytest.raises(UserError, match="outside"):
        load_upload(z, None, tmp_path / "w2", (64, 32), Limits())


def test_limits_from_env():
    lim = load_limits({"V2V_MAX_FRAMES": "10", "V2V_MAX_SIDE": "640"})
    assert lim.max_frames == 10 and lim.max_side == 640
    with pytest.raises(UserError, match="V2V_MAX_SECONDS"):
        load_limits({"V2V_MAX_SECONDS": "ten"})
    with pytest.raises(UserError, match="4K|3840"):
        lim.check_resolution((3840, 2160), "the 4K clip")
    with pytest.raises(UserError, match="600.0 s"):
        Limits().check_duration(15000, 25.0, "the clip")

import json
import shutil

import numpy as np
import pytest

from v2v.errors import UserError
from v2v.inputs.pose import Crop, crop_frame, crop_points, fit_crop, resolve_range
from v2v.inputs.pose_normalize import apply_normalization, clip_stats, fit_normalization, scale_keypoints
from v2v.inputs.pose_render import BODY_LIMBS, L_ELBOW, L_SHOULDER, L_WRIST, line_widths, render_pose


def standing_body(cx=100.0, ankle=180.0, height=150.0, vis=1.0) -> np.ndarray:
    """33 MediaPipe body points of a person standing with arms down, feet at ``ankle``."""
    top = ankle - height
    y = lambda f: top + f * height  # noqa: E731
    b = np.zeros((33, 3))
    b[:, 2] = vis
    b[0] = (cx, y(0.06), vis)
    k = height / 150
    for i, dx in zip(range(1, 11), (-4, -6, -8, 4, 6, 8, -10, 10, -3, 3)):
        b[i] = (cx + dx * k, y(0.05 if i < 9 else 0.1), vis)
    for side, s in ((0, k), (1, -k)):  # MediaPipe's "left" points come first (11, 13, ...)
        b[11 + side] = (cx + s * 20, y(0.2), vis)
        b[13 + side] = (cx + s * 25, y(0.38), vis)
        b[15 + side] = (cx + s * 27, y(0.52), vis)
        for j in (17, 19, 21):
            b[j + side] = (cx + s * 28, y(0.56), vis)
        b[23 + side] = (cx + s * 12, y(0.55), vis)
        b[25 + side] = (cx + s * 13, y(0.78), vis)
        b[27 + side] = (cx + s * 13, y(1.0), vis)
        b[29 + side] = (cx + s * 13, y(1.02), vis)
        b[31 + side] = (cx + s * 15, y(1.04), vis)
    return b


def kp(body, w=200, h=200, **parts) -> dict:
    d = {"width": w, "height": h, "body": None if body is None else body.tolist(), "left_hand": None,
         "right_hand": None, "face": None}
    d.update({k: v.tolist() for k, v in parts.items()})
    return d


# ---------------------------------------------------------------------------------------------------------- renderer
def test_render_draws_limbs_in_their_colours():
    img = render_pose(kp(standing_body()))
    assert img.shape == (200, 200, 3) and img.dtype == np.uint8
    assert (img.sum(2) > 0).mean() > 0.01
    assert img[:5].sum() == 0 and img[:, :50].sum() == 0  # nothing far from the person
    colours = {tuple(c) for c in img.reshape(-1, 3)}
    for a, b, c in BODY_LIMBS[:14]:
        assert c in colours, (a, b, c)


def test_render_skips_low_visibility_points():
    body = standing_body()
    body[L_ELBOW, 2] = 0.1
    img = render_pose(kp(body))
    colours = {tuple(c) for c in img.reshape(-1, 3)}
    arm = {c for a, b, c in BODY_LIMBS if L_ELBOW in (a, b)}
    assert not (arm & colours)
    shoulder_only = {c for a, b, c in BODY_LIMBS if L_SHOULDER in (a, b) and L_ELBOW not in (a, b)}
    assert shoulder_only & colours


def test_render_nothing_without_body_and_line_width_scales():
    assert render_pose(kp(None)).sum() == 0
    assert line_widths(1024)["body"] == 12 and line_widths(256)["body"] == 3 and line_widths(64)["face"] == 1
    small = (render_pose(kp(standing_body())).sum(2) > 0).mean()
    big = (render_pose(kp(standing_body()), size=(800, 800)).sum(2) > 0).mean()
    assert big == pytest.approx(small, rel=0.35)  # widths grow with the size: same coverage


def test_render_hands_and_face_when_present():
    body = standing_body()
    rng = np.random.default_rng(0)
    hand = np.column_stack([body[L_WRIST, 0] + rng.uniform(-8, 8, 21), body[L_WRIST, 1] + rng.uniform(0, 12, 21),
                            np.ones(21)])
    ang = np.linspace(0, 2 * np.pi, 468)
    face = np.column_stack([100 + 8 * np.cos(ang * 7), 45 + 10 * np.sin(ang * 5), np.ones(468)])
    plain = render_pose(kp(body))
    full = render_pose(kp(body, left_hand=hand, face=face))
    assert (full != plain).any(2).sum() > 50


# ------------------------------------------------------------------------------------------------------ normalisation
def walking_clip(n=40, cx=100.0, scale=1.0, shift=(0.0, 0.0), size=(200, 200)):
    """A person walking towards the camera: the ankle goes down the image and the person grows."""
    seq = []
    for t in range(n):
        ankle = 120 + 60 * t / (n - 1)
        body = standing_body(cx=cx + 10 * np.sin(t / 5), ankle=ankle, height=0.8 * ankle - 20)
        body[:, 0] = body[:, 0] * scale + shift[0]
        body[:, 1] = body[:, 1] * scale + shift[1]
        seq.append(kp(body, *size))
    return seq


def test_normalization_recovers_scale_and_translation():
    src = walking_clip()
    tgt = walking_clip(scale=1.6, shift=(30.0, -40.0), size=(400, 300))
    params = fit_normalization(src, tgt)
    assert params["mode"] == "linear"
    for t in (0, 13, 39):
        out = apply_normalization(src[t], params)
        assert (out["width"], out["height"]) == (400, 300)
        np.testing.assert_allclose(np.array(out["body"])[:, :2], np.array(tgt[t]["body"])[:, :2], atol=0.05)
    json.dumps(params)  # serialisable


def test_normalization_constant_mode_for_a_static_dancer():
    src = [kp(standing_body(cx=90, ankle=150, height=100)) for _ in range(10)]
    tgt = [kp(standing_body(cx=120, ankle=190, height=160)) for _ in range(10)]
    params = fit_normalization(src, tgt)
    assert params["mode"] == "constant"
    out = np.array(apply_normalization(src[0], params)["body"])
    np.testing.assert_allclose(out[:, :2], np.array(tgt[0]["body"])[:, :2], atol=0.05)
    # the target may also be given as stats, e.g. from an earlier fit
    again = fit_normalization(src, params)
    assert again["target"] == params["target"]


def test_normalization_needs_full_bodies():
    with pytest.raises(UserError, match="whole body"):
        clip_stats([kp(None), kp(None)])


def test_scale_keypoints():
    k = scale_keypoints(kp(standing_body()), (400, 100))
    assert (k["width"], k["height"]) == (400, 100)
    np.testing.assert_allclose(np.array(k["body"])[0, :2], standing_body()[0, :2] * [2, 0.5])


# --------------------------------------------------------------------------------------------------------------- crop
def test_fit_crop_contains_box_with_aspect_and_inside_frame():
    box = (300.0, 100.0, 380.0, 400.0)
    c = fit_crop(box, (640, 480), (256, 128))
    assert c.w / c.h == pytest.approx(2.0, abs=0.02)
    assert c.x0 <= box[0] and c.y0 <= box[1] and c.x0 + c.w >= box[2] and c.y0 + c.h >= box[3]
    c = fit_crop((10.0, 10.0, 60.0, 100.0), (640, 480), (128, 128))
    assert c.x0 >= 0 and c.y0 >= 0 and not c.padded((640, 480))


def test_fit_crop_gives_up_margin_before_it_pads():
    # dancer.avi: the person's union box fits the 518x496 frame, the box plus the 8 % margin does not
    box = (95.0, 22.0, 502.0, 481.0)
    c = fit_crop(box, (518, 496), (256, 256))
    assert not c.padded((518, 496)) and c.w == c.h == 496
    assert c.x0 <= box[0] and c.y0 <= box[1] and c.x0 + c.w >= box[2] and c.y0 + c.h >= box[3]
    roomy = fit_crop(box, (1000, 1000), (256, 256))  # room for the whole margin: it is kept
    assert roomy.w == roomy.h == round(459 * 1.16)


def test_fit_crop_pads_when_bigger_than_the_frame():
    c = fit_crop((0.0, 0.0, 100.0, 300.0), (100, 300), (256, 256))
    assert c.padded((100, 300)) and c.w == c.h >= 300
    img = np.full((300, 100, 3), 77, np.uint8)
    out = crop_frame(img, c, (64, 64))
    assert out.shape == (64, 64, 3) and out[:, 0].max() == 0 and (out[32, 32] == 77).all()  # black outside
    rep = crop_frame(img[:, :, 0], c, (64, 64), border="replicate")
    assert (rep == 77).all()


def test_crop_points_match_crop_frame():
    img = np.zeros((200, 300), np.uint8)
    img[120:124, 200:204] = 255  # a dot centred at (202, 122) in continuous pixels
    c = Crop(150, 80, 100, 100)
    out = crop_frame(img, c, (200, 200), interpolation=0)
    ys, xs = np.nonzero(out)
    p = crop_points(np.array([[202.0, 122.0]]), c, (200, 200))[0]
    assert abs(xs.mean() + 0.5 - p[0]) < 1 and abs(ys.mean() + 0.5 - p[1]) < 1


def test_resolve_range():
    assert resolve_range(None, 10) == (0, 10)
    assert resolve_range((2, 5), 10) == (2, 5)
    assert resolve_range((2, None), 10) == (2, 10)
    assert resolve_range("3:", 10) == (3, 10)
    assert resolve_range(slice(-4, None), 10) == (6, 10)
    assert resolve_range((0, 100), 10) == (0, 10)
    with pytest.raises(UserError):
        resolve_range((8, 8), 10)
    with pytest.raises(UserError):
        resolve_range("1-2", 10)


# ------------------------------------------------------------------------------------------------------- extraction
def gray_clip(path, frames=6, size=(160, 128)):
    from v2v.video import VideoWriter

    with VideoWriter(path, fps=10) as w:
        for _ in range(frames):
            w.write(np.full((size[1], size[0], 3), 128, np.uint8))
    return path


def test_prepare_pose_without_a_person_fails_cleanly(tmp_path):
    from v2v.inputs.pose import prepare_pose

    clip = gray_clip(tmp_path / "gray.mp4")
    with pytest.raises(UserError, match="no person found"):
        prepare_pose(clip, tmp_path / "ds", (64, 64))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gray.mp4"]


@pytest.fixture(scope="module")
def dancer_ds(shared_data, tmp_path_factory):
    from v2v.inputs.pose import prepare_pose

    out = tmp_path_factory.mktemp("pose") / "dancer_ds"
    report = prepare_pose(shared_data / "dancer" / "dancer.avi", out, (256, 256), frames=(0, 20))
    return out, report


@pytest.mark.realdata
def test_prepare_pose_dancer(dancer_ds):
    from v2v.dataset_format import open_dataset

    out, report = dancer_ds
    assert report["frames"] == 20 and report["missing_frames"] == [] and report["frames_per_second"] > 0
    ds = open_dataset(out)
    assert ds.kind == "pose" and ds.label_set == "pose" and ds.size == (256, 256) and ds.fps == 25.0
    assert all(ds.has[k] for k in ("images", "flow", "masks", "keypoints"))
    seq = ds.sequences[0]
    assert seq.num_frames == 20
    for i in (0, 19):
        f = ds.load_frame(seq, i)
        assert f["labels"].shape == (256, 256, 3) and f["labels"].any()
        assert f["image"].shape == (256, 256, 3) and f["mask"].max() == 255
        body = np.array(f["keypoints"]["body"])
        vis = body[body[:, 2] > 0.5]
        assert len(vis) > 25
        # the crop keeps the person: visible landmarks and the mask lie inside the frame, away from its edges
        assert vis[:, 0].min() > 0 and vis[:, 0].max() < 256 and vis[:, 1].min() > 0 and vis[:, 1].max() < 256
        ys = np.nonzero(f["mask"].any(1))[0]
        assert ys[0] > 0 and ys[-1] < 255
    assert ds.load_frame(seq, 1)["flow"].shape == (256, 256, 2)


@pytest.mark.realdata
def test_normalize_to_a_prepared_dataset(dancer_ds, shared_data, tmp_path):
    from v2v.inputs.pose import prepare_pose

    target, _ = dancer_ds
    report = prepare_pose(shared_data / "dancer" / "dancer.avi", tmp_path / "n", (128, 128), frames=(20, 26),
                          normalize_to=target)
    params = report["normalization"]
    assert params["mode"] in ("constant", "linear")
    assert params["target"]["frame"] == [128.0, 128.0]  # target keypoints rescaled to this dataset's size
    k = json.loads((tmp_path / "n" / "dancer" / "keypoints" / "000000.json").read_text())
    assert k["width"] == 128 and k["body"] is not None


@pytest.mark.realdata
def test_extract_pose_stream(shared_data):
    from v2v.inputs.pose import extract_pose_stream
    from v2v.video import open_video

    frames = list(open_video(shared_data / "dancer" / "dancer.avi").frames(0, 3))
    out = list(extract_pose_stream(frames))
    assert len(out) == 3
    assert out[0]["width"] == 518 and len(out[0]["body"]) == 33 and len(out[0]["body"][0]) == 3
    assert render_pose(out[0]).shape == (496, 518, 3)


@pytest.mark.realdata
def test_crop_like_reuses_the_recorded_crop(dancer_ds, shared_data, tmp_path):
    """Held-out frames prepared with --crop-like get the training frames' crop (a fitted crop would differ), and
    the crop is recorded in dataset.json; a dataset from another source size is refused."""
    from v2v.inputs.pose import prepare_pose

    train, report = dancer_ds
    recorded = json.loads((train / "dataset.json").read_text())["crop"]
    assert recorded == {"source_size": report["source_size"], "box": report["crop"]}
    held_out = prepare_pose(shared_data / "dancer" / "dancer.avi", tmp_path / "val", (256, 256), frames=(400, 404),
                            crop_like=train)
    fitted = prepare_pose(shared_data / "dancer" / "dancer.avi", tmp_path / "fit", (256, 256), frames=(400, 404))
    assert held_out["crop"] == report["crop"] != fitted["crop"]
    other = tmp_path / "other"
    shutil.copytree(train, other)
    meta = json.loads((other / "dataset.json").read_text())
    meta["crop"]["source_size"] = [640, 480]
    (other / "dataset.json").write_text(json.dumps(meta))
    with pytest.raises(UserError, match="same clip"):
        prepare_pose(shared_data / "dancer" / "dancer.avi", tmp_path / "bad", (256, 256), frames=(0, 2),
                     crop_like=other)
    assert not (tmp_path / "bad").exists()

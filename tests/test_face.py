import json

import numpy as np
import pytest

from v2v.errors import UserError
from v2v.inputs.face import draw_face_sketch, face_region


def synthetic_face(cx=64.0, cy=64.0, r=25.0) -> np.ndarray:
    """468 points spread over a disc (stands in for a FaceMesh result)."""
    rng = np.random.default_rng(1)
    a, d = rng.uniform(0, 2 * np.pi, 468), np.sqrt(rng.uniform(0, 1, 468)) * r
    return np.column_stack([cx + d * np.cos(a), cy + d * np.sin(a), np.ones(468)])


def striped(size=128) -> np.ndarray:
    img = np.zeros((size, size, 3), np.uint8)
    img[:, ::16] = 255  # strong vertical edges everywhere
    img[:, 1::16] = 255
    return img


def test_sketch_keeps_edges_outside_the_face_only():
    img = striped()
    face = synthetic_face()
    no_face = draw_face_sketch(img, None)
    assert no_face.dtype == np.uint8 and no_face.shape == (128, 128)
    region = face_region(face, (128, 128))
    assert no_face[region].any() and no_face[~region].any()
    masked = draw_face_sketch(img, None, region_landmarks=face)
    assert not masked[region].any() and masked[~region].any()
    with_face = draw_face_sketch(img, face)
    assert with_face[region].any()  # the face contours replace the edges inside
    assert set(np.unique(with_face)) <= set(range(256))


def test_sketch_of_a_blank_frame_is_only_the_contours():
    blank = np.full((256, 256, 3), 90, np.uint8)
    assert draw_face_sketch(blank, None).sum() == 0
    s = draw_face_sketch(blank, synthetic_face(128, 128, 50))
    assert s.any() and face_region(synthetic_face(128, 128, 50), (256, 256))[s > 0].all()


def test_prepare_face_without_a_face_fails_cleanly(tmp_path):
    from v2v.inputs.face import prepare_face
    from v2v.video import VideoWriter

    with VideoWriter(tmp_path / "gray.mp4", fps=10) as w:
        for _ in range(5):
            w.write(np.full((96, 128, 3), 128, np.uint8))
    with pytest.raises(UserError, match="no face found"):
        prepare_face(tmp_path / "gray.mp4", tmp_path / "ds", (64, 64))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gray.mp4"]


@pytest.fixture(scope="module")
def face_clip(shared_data, tmp_path_factory):
    """An mp4 made from the vid2vid face example frames (0001, 30 frames 1280x720)."""
    import cv2

    from v2v.video import VideoWriter

    folder = shared_data / "face_vid2vid_example" / "train_img" / "0001"
    path = tmp_path_factory.mktemp("face") / "talk.mp4"
    with VideoWriter(path, fps=30) as w:
        for p in sorted(folder.glob("*.jpg"))[:16]:
            w.write(cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB))
    return path


@pytest.mark.realdata
def test_prepare_face_example(face_clip, tmp_path):
    from v2v.dataset_format import open_dataset
    from v2v.inputs.face import prepare_face

    report = prepare_face(face_clip, tmp_path / "ds", (256, 256))
    assert report["frames"] == 16 and report["missing_frames"] == []
    x0, y0, w, h = report["crop"]
    assert w == h and w == pytest.approx(2.5 * report["face_width"], rel=0.15)
    ds = open_dataset(tmp_path / "ds")
    assert ds.kind == "face" and ds.label_set == "face" and ds.size == (256, 256)
    assert ds.has["images"] and ds.has["flow"] and ds.has["keypoints"] and not ds.has["masks"]
    f = ds.load_frame(ds.sequences[0], 5)
    assert f["labels"].shape == (256, 256) and f["labels"].any()
    pts = np.array(f["keypoints"]["face"])
    assert pts.shape == (468, 3)
    # the face sits inside the crop, about 1/2.5 of its width
    assert pts[:, :2].min() > 0 and pts[:, :2].max() < 256
    assert 0.25 < np.ptp(pts[:, 0]) / 256 < 0.6
    k = json.loads((tmp_path / "ds" / ds.sequences[0].name / "keypoints" / "000000.json").read_text())
    assert (k["width"], k["height"]) == (256, 256)


@pytest.mark.realdata
def test_face_sketch_stream(face_clip):
    from v2v.inputs.face import face_sketch_stream
    from v2v.video import open_video

    frames = list(open_video(face_clip).frames(0, 3))
    sketches = list(face_sketch_stream(frames))
    assert len(sketches) == 3 and sketches[0].shape == frames[0].shape[:2] and sketches[0].dtype == np.uint8
    assert all(s.any() for s in sketches)

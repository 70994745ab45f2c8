"""Evaluating a model on a prepared dataset (or a vid2vid-layout folder).

For every sequence the model synthesises the frames the way inference does (first-frame generator, then the
recurrence; style features encoded from the real frames when the model has an encoder), at the size it was trained
at (the dataset's frames are resized to it, see :func:`evaluation_size`), and is scored against the real video:

* without pretrained networks (:func:`video_scores`, also run during training): temporal warping error (next to
  the real video's own), PSNR, SSIM, sharpness (mean Laplacian energy, next to the real video's), and motion (mean
  absolute grey-level change between consecutive frames, next to the real video's, and their ratio);
* KID×1000 against the real frames of the sequence, next to the real-vs-real floor (:mod:`v2v.kid`; InceptionV3);
* for pose models (:func:`pose_pck`, one MediaPipe pass over the generated frames): PCK of the pose found in the
  generated frames against the driving pose, the same PCK on the joints that moved (a frozen video scores ~0 there
  while its plain PCK can stay high), and the fraction of generated frames in which a person is found;
* for pose models, face and hands (:func:`part_scores`): sharpness and SSIM of the head and hand squares (found
  from the driving keypoints) next to the real frames' — MediaPipe finds no face landmarks in the real 256×256
  frames either, so a detector cannot say whether a face is readable; these say how much detail is there.
"""
from __future__ import annotations

import numpy as np
import torch

from .config import ModelConfig, check_size
from .errors import UserError
from .metrics import motion, psnr, sharpness, ssim, warping_error
from .nn.encoder import instance_pool, region_ids
from .pipeline import Synthesizer
from .visualize import image_to_uint8

# MediaPipe body landmarks scored by PCK: nose, shoulders, elbows, wrists, hips, knees, ankles.
PCK_JOINTS = (0, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28)
SHOULDERS, HIPS = [11, 12], [23, 24]
VISIBLE = 0.5  # a driving joint with lower MediaPipe visibility is not scored
# the dataset parts synthesis and scoring read (not the stored flow: the warping error computes its own)
PARTS = {"labels", "instances", "image", "mask", "keypoints"}


def frame_inputs(cfg: ModelConfig, frame: dict) -> dict:
    """A dataset frame (numpy, from DatasetIndex.load_frame) -> Synthesizer.step keyword arguments."""
    labels = torch.from_numpy(np.ascontiguousarray(frame["labels"]))
    if cfg.labels.encoding == "onehot":
        labels = labels.long()[None]
    else:
        labels = labels[None, None] if labels.dim() == 2 else labels.permute(2, 0, 1)[None]
    inst = frame.get("instances")
    mask = frame.get("mask")
    return {"labels": labels,
            "instances": None if inst is None else torch.from_numpy(inst.astype(np.int64))[None],
            "mask": None if mask is None else torch.from_numpy((mask > 127).astype(np.float32))[None, None]}


def evaluation_size(model_size: tuple[int, int] | None, index, requested: tuple[int, int] | None = None,
                    multiple: int = 1) -> tuple[tuple[int, int], list[str], list[str]]:
    """The (W, H) to evaluate at, with the lines that say so (notes) and warnings.

    ``requested`` (--size) wins, then ``model_size`` (the size the model was trained at, as ``synthesize`` uses),
    then the dataset's size. Frames of another size are resized to it (see :func:`resize_frame`): on a raw vid2vid
    folder (2048×1024 Cityscapes) that is the normal case; a prepared dataset at another size than the model was
    trained at gets a warning, since its scores then differ from data prepared at the model's size."""
    data = tuple(int(v) for v in index.size)
    if requested is not None:
        size, why = tuple(requested), "--size"
    elif model_size is not None:
        size, why = tuple(model_size), "the model's training size"
    else:
        size, why = data, "the dataset's size; the model does not record its training size"
    try:
        check_size(size[0], size[1], multiple)
    except ValueError as e:
        raise UserError(f"cannot evaluate at {size[0]}x{size[1]} ({why}): {e}") from None
    note = f"evaluating at {size[0]}x{size[1]} ({why})"
    warnings = []
    if size != data:
        note += f"; the {data[0]}x{data[1]} frames of {index.root} are resized to it"
        if index.layout == "v2v" and requested is None:
            warnings.append(f"{index.root} is a prepared dataset at {data[0]}x{data[1]} but the model was trained "
                            f"at {size[0]}x{size[1]}: labels, real frames and keypoints are resized, so the scores "
                            f"are not those of data prepared at {size[0]}x{size[1]} (prepare the held-out data at "
                            "that size for comparable numbers)")
    if abs(data[0] * size[1] - data[1] * size[0]) > 0.01 * data[1] * size[0]:
        warnings.append(f"the dataset is {data[0]}x{data[1]}; its frames are stretched to {size[0]}x{size[1]}")
    return size, [note], warnings


def _resize(arr: np.ndarray, size: tuple[int, int], nearest: bool) -> np.ndarray:
    """``arr`` (H, W[, C]) at ``size`` (W, H): nearest for ids and masks, area/linear for images and maps."""
    if (arr.shape[1], arr.shape[0]) == tuple(size):
        return arr
    import cv2

    if nearest:
        return cv2.resize(arr, tuple(size), interpolation=cv2.INTER_NEAREST)
    shrink = arr.shape[1] > size[0] or arr.shape[0] > size[1]
    return cv2.resize(arr, tuple(size), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


def scale_keypoints(keypoints: dict, sx: float, sy: float) -> dict:
    """A keypoint dict (lists of [x, y, visibility] per part, "width"/"height") with x, y scaled by sx, sy."""
    out = dict(keypoints)
    for key, value in keypoints.items():
        if isinstance(value, list) and value:
            arr = np.asarray(value, dtype=np.float64).reshape(len(value), -1)
            arr[:, 0] *= sx
            arr[:, 1] *= sy
            out[key] = arr.tolist()
    if "width" in out and "height" in out:
        out["width"], out["height"] = round(out["width"] * sx), round(out["height"] * sy)
    return out


def resize_frame(frame: dict, size: tuple[int, int], label_ids: bool) -> dict:
    """A dataset frame (numpy, from DatasetIndex.load_frame) at ``size`` (W, H); ``label_ids``: labels are class
    ids (nearest-neighbour), not a pose/face map (smooth). Keypoints are scaled along."""
    h, w = frame["labels"].shape[:2]
    if (w, h) == tuple(size):
        return frame
    out = dict(frame)
    out["labels"] = _resize(frame["labels"], size, label_ids)
    if frame.get("instances") is not None:
        out["instances"] = _resize(frame["instances"].astype(np.int32), size, True)
    if frame.get("mask") is not None:
        out["mask"] = _resize(frame["mask"], size, True)
    if frame.get("image") is not None:
        out["image"] = _resize(frame["image"], size, False)
    if frame.get("keypoints"):
        out["keypoints"] = scale_keypoints(frame["keypoints"], size[0] / w, size[1] / h)
    return out


@torch.no_grad()
def synthesize_sequence(cfg: ModelConfig, networks, index, sequence: str, max_frames: int | None = None,
                        device: str | torch.device = "cpu", precision: str = "fp32",
                        size: tuple[int, int] | None = None) -> dict:
    """-> {"fakes": [uint8 frames], "reals": [uint8 frames], "keypoints": [dicts or None], "generator": {...}},
    all at ``size`` (W, H; default: the dataset's size; see :func:`evaluation_size`).

    ``generator`` says how the sequential generator made its frames (empty without a flow head): ``mask_mean``,
    the mean occlusion mask (0: every pixel warped from the previous output, 1: every pixel hallucinated afresh),
    and ``flow_px``, the mean length of its flow in pixels. A generator that copies its previous frame shows a
    mask near 0 with a flow near 0 px, whatever the input does."""
    seq = index.sequence(sequence)
    n = seq.num_frames if max_frames is None else min(seq.num_frames, max_frames)
    synth = Synthesizer(cfg, networks, device, precision)
    label_ids = cfg.labels.encoding == "onehot"
    fakes, reals, keypoints, masks, flows = [], [], [], [], []
    for i in range(n):
        frame = index.load_frame(seq, i, parts=PARTS)
        if size is not None:
            frame = resize_frame(frame, size, label_ids)
        inputs = frame_inputs(cfg, frame)
        if "encoder" in networks and frame.get("image") is not None:
            real = torch.from_numpy(frame["image"]).permute(2, 0, 1)[None].float().to(device) / 127.5 - 1
            inst = inputs["instances"] if inputs["instances"] is not None else torch.zeros_like(inputs["labels"])
            inputs["features"] = instance_pool(networks["encoder"](real), region_ids(
                inputs["labels"].to(device), inst.to(device), cfg.labels.num_classes, cfg.encoder.stuff_pooling))
        out = synth.step(**inputs)
        fakes.append(image_to_uint8(out["image"]))
        reals.append(frame.get("image"))
        keypoints.append(frame.get("keypoints"))
        if "mask" in out:
            masks.append(float(out["mask"].mean()))
            flows.append(float(out["flow"].norm(dim=1).mean()))
    generator = {"mask_mean": float(np.mean(masks)), "flow_px": float(np.mean(flows))} if masks else {}
    return {"fakes": fakes, "reals": reals, "keypoints": keypoints, "generator": generator}


def real_frames(index, sequence: str, max_frames: int | None = None, size: tuple[int, int] | None = None
                ) -> list[np.ndarray]:
    """The real frames of ``sequence`` (uint8, at ``size`` when given), as synthesize_sequence pairs them."""
    seq = index.sequence(sequence)
    n = seq.num_frames if max_frames is None else min(seq.num_frames, max_frames)
    frames = []
    for i in range(n):
        frame = index.load_frame(seq, i, parts={"image"})
        frames.append(frame["image"] if size is None else resize_frame(frame, size, False)["image"])
    return frames


def motion_scores(fakes: list[np.ndarray], reals: list[np.ndarray]) -> dict:
    """{"motion", "motion_real": mean absolute grey-level change between consecutive frames (0-255) of the
    generated and the real video, "motion_ratio": their ratio (0: frozen, 1: as much change as the real video,
    above 1: flicker or extra motion; NaN when the real video is still)}."""
    fake, real = motion(fakes), motion(reals)
    return {"motion": fake, "motion_real": real, "motion_ratio": fake / real if real > 0 else float("nan")}


def video_scores(fakes: list[np.ndarray], reals: list[np.ndarray]) -> dict:
    """The scores that need no pretrained network (cheap enough for validation during training)."""
    return {
        "warp_error": warping_error(fakes, reals),
        "warp_error_real": warping_error(reals, reals),
        "psnr": float(np.mean([psnr(a, b) for a, b in zip(fakes, reals)])),
        "ssim": float(np.mean([ssim(a, b) for a, b in zip(fakes, reals)])),
        "sharpness": float(np.mean([sharpness(a) for a in fakes])),
        "sharpness_real": float(np.mean([sharpness(b) for b in reals])),
        **motion_scores(fakes, reals),
    }


# ------------------------------------------------------------------------------------------------------ pose


def part_squares(frames: list[np.ndarray], centers: list[tuple[float, float]], side: int) -> list[np.ndarray]:
    """The ``side``×``side`` square around each centre (x, y) of its frame, shifted inside the frame; frames whose
    centre is NaN or outside give none."""
    from .face_crop import square_origin

    out = []
    for frame, (cx, cy) in zip(frames, centers):
        h, w = frame.shape[:2]
        if not (0 <= cx < w and 0 <= cy < h) or side > min(h, w):  # NaN fails the comparisons
            continue
        left, top = square_origin(cx, cy, side, w, h)
        out.append(frame[top:top + side, left:left + side])
    return out


def part_scores(fakes: list[np.ndarray], reals: list[np.ndarray], keypoints: list[dict | None],
                side: int | None = None) -> dict:
    """Detail where a person's identity shows: for the head ("face_") and the two hands ("hands_"), squares of
    ``side`` px (default: an eighth of the frame's shorter side, 32 at 256×256) around the driving keypoints' head
    and hand landmarks, in the generated and the real frame alike: "*_sharpness", "*_sharpness_real" (mean
    Laplacian energy), "*_ssim" (generated square against the real one; self-reenactment only) and "*_squares"
    (how many were scored). NaN where no frame shows that part."""
    from .face_crop import HAND_POINTS, HEAD_POINTS, landmarks_center

    side = side or max(8, min(fakes[0].shape[:2]) // 8)
    nan = float("nan")
    out = {}
    for part, point_sets in (("face", [HEAD_POINTS]), ("hands", list(HAND_POINTS.values()))):
        fake_sq, real_sq = [], []
        for points in point_sets:
            centers = [landmarks_center(k, points) for k in keypoints]
            fake_sq += part_squares(fakes, centers, side)
            real_sq += part_squares(reals, centers, side)
        out[f"{part}_sharpness"] = float(np.mean([sharpness(a) for a in fake_sq])) if fake_sq else nan
        out[f"{part}_sharpness_real"] = float(np.mean([sharpness(b) for b in real_sq])) if real_sq else nan
        out[f"{part}_ssim"] = float(np.mean([ssim(a, b) for a, b in zip(fake_sq, real_sq)])) if fake_sq else nan
        out[f"{part}_squares"] = len(fake_sq)
    return out


def _body(keypoints: dict | None) -> np.ndarray | None:
    """The (33, 3) x, y, visibility body landmarks of a keypoint dict, or None without a body."""
    if not keypoints or not keypoints.get("body"):
        return None
    return np.asarray(keypoints["body"], dtype=np.float64)


def torso(body: np.ndarray) -> tuple[np.ndarray, float]:
    """(mid-hip point, torso size) of a body: the torso size is the mid-shoulder to mid-hip distance."""
    hip = body[HIPS, :2].mean(0)
    return hip, float(np.linalg.norm(body[SHOULDERS, :2].mean(0) - hip))


def _torso_aligned(body: np.ndarray) -> np.ndarray | None:
    """Joint positions with the mid-hip as origin, in torso sizes (None when the torso has no size)."""
    hip, size = torso(body)
    return None if size <= 0 else (body[:, :2] - hip) / size


def moving_joints(driving: list[np.ndarray | None], min_move: float = 0.3) -> list[list[int]]:
    """Per driving frame, the PCK joints that moved: visible (>= 0.5) there and in the reference frame (the first
    driving frame with a body), and more than ``min_move`` torso sizes from their reference position once both
    poses are torso-aligned (mid-hip at the origin, divided by that frame's torso size). Aligning makes the
    selection about articulation (an arm raised), not about the person walking or the camera zooming."""
    out: list[list[int]] = [[] for _ in driving]
    first = next((i for i, body in enumerate(driving) if body is not None), None)
    ref = None if first is None else _torso_aligned(driving[first])
    if ref is None:
        return out
    for t, body in enumerate(driving):
        aligned = None if body is None or t == first else _torso_aligned(body)
        if aligned is None:
            continue
        out[t] = [j for j in PCK_JOINTS if body[j, 2] >= VISIBLE and driving[first][j, 2] >= VISIBLE
                  and np.linalg.norm(aligned[j] - ref[j]) > min_move]
    return out


def _hits(found: np.ndarray | None, ref: np.ndarray, joints: list[int], threshold: float) -> int:
    """How many of ``joints`` of the generated pose lie within threshold × torso size of the driving pose (in
    pixels); none when no person was found or the driving torso has no size."""
    size = torso(ref)[1]
    if found is None or size <= 0 or not joints:
        return 0
    return int((np.linalg.norm(found[joints, :2] - ref[joints, :2], axis=1) <= threshold * size).sum())


def pose_scores(found: list[np.ndarray | None], driving: list[dict | None], threshold: float = 0.2,
                min_move: float = 0.3) -> dict:
    """Pose scores from the bodies found in the generated frames (``found``: (33, 3) pixel arrays or None, one
    per frame) against the driving keypoint dicts; no detector runs here.

    * "pck": fraction of driving joints (visible >= 0.5, of PCK_JOINTS) whose generated joint lies within
      threshold × torso size (of the driving pose) of it; a frame where no person is found scores 0 for all its
      joints. "pck_joints": how many (frame, joint) pairs were scored.
    * "pck_moving", "pck_moving_joints": the same on the joints that moved (:func:`moving_joints`), so a video
      frozen on its first frame scores ~0 while its plain PCK can stay high; NaN when nothing moved.
    * "detected": fraction of generated frames in which a person was found.
    """
    bodies = [_body(kp) for kp in driving]
    moving = moving_joints(bodies, min_move)
    correct = total = moved_correct = moved_total = 0
    for gen, ref, moved in zip(found, bodies, moving):
        if ref is None:
            continue
        joints = [j for j in PCK_JOINTS if ref[j, 2] >= VISIBLE]
        correct += _hits(gen, ref, joints, threshold)
        total += len(joints)
        moved_correct += _hits(gen, ref, moved, threshold)
        moved_total += len(moved)
    nan = float("nan")
    return {"pck": correct / total if total else nan, "pck_joints": total,
            "pck_moving": moved_correct / moved_total if moved_total else nan, "pck_moving_joints": moved_total,
            "detected": sum(f is not None for f in found) / len(found) if len(found) else nan}


def detect_bodies(frames: list[np.ndarray]) -> list[np.ndarray | None]:
    """MediaPipe's body landmarks ((33, 3) pixels + visibility, or None) in each frame of one clip, in one pass."""
    from .inputs.pose import PoseTracker

    with PoseTracker(segmentation=False) as tracker:
        return [tracker(frame)["parts"]["body"] for frame in frames]


def pose_pck(frames: list[np.ndarray], driving: list[dict | None], threshold: float = 0.2,
             min_move: float = 0.3) -> dict:
    """All pose scores (:func:`pose_scores`: pck, pck_joints, pck_moving, pck_moving_joints, detected) of the
    generated ``frames`` against the driving keypoints, running MediaPipe once over the frames."""
    if len(frames) != len(driving):
        raise ValueError(f"pose_pck needs one driving keypoint dict per frame, got {len(driving)} for "
                         f"{len(frames)} frames")
    return pose_scores(detect_bodies(frames), driving, threshold, min_move)

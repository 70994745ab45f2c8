"""Tab 3: motion transfer — a trained person (a pose model such as the dancer) dances like the person in an
uploaded clip.

Two steps, so the user sees the driving signal before the expensive part:

1. **Extract pose** — the clip's poses are extracted by the engine's pose input (:func:`v2v.engine.open_input`
   with kind "pose": MediaPipe, the model's crop and pose normalisation) and shown as a skeleton video. The pose
   maps are kept (lossless, in the session state) for step 2.
2. **Generate** — the pose maps drive the model; the result comes as an mp4 and as a side-by-side
   (driving | pose | result; pose | result for the procedural dance) mp4 to download. When Generate has to
   extract the pose first, its "Done" line gives both times and their sum.

The built-in procedural dance (:func:`app.examples.dance_keypoints`) needs no upload and no extraction.
"""
from __future__ import annotations

import hashlib
import time
from pathlib import Path

import gradio as gr
import numpy as np
import torch

from v2v.errors import UserError
from v2v.video import VideoWriter, open_video

from . import jobs, session
from .common import side_by_side, status
from .errors import user_facing
from .examples import PROCEDURAL_DANCE, dance_keypoints
from .limits import Limits
from .models import ENGINES, model_choices, resolve

UPLOAD = "my clip"
DEFAULT_POSE_SIZE = (256, 256)
PROCEDURAL_FPS = 24.0


def memory_clip(maps: np.ndarray, fps: float):
    """Pose maps kept in memory ((N, H, W, 3) uint8) as an engine input clip (kind "pose")."""
    from v2v.engine import InputClip

    def reader():
        for m in maps:
            yield {"labels": torch.from_numpy(np.ascontiguousarray(m)).permute(2, 0, 1)[None].contiguous(),
                   "instances": None, "mask": None}

    return InputClip("pose", (int(maps.shape[2]), int(maps.shape[1])), float(fps), len(maps),
                     "pose maps extracted by the app", reader)


def new_state() -> dict:
    return {"dir": None, "key": None, "poses": None, "fps": None, "driving": None, "skeleton": None, "runs": 0}


def delete_state(state: dict | None) -> None:
    if state:
        session.remove_dir(state.get("dir"))


def _map_of(item: dict) -> np.ndarray:
    """(H, W, 3) uint8 pose map of one input item."""
    lab = item["labels"]
    if isinstance(lab, torch.Tensor):
        lab = lab.detach().cpu()
        lab = lab.reshape(lab.shape[-3:]).permute(1, 2, 0).numpy()
    return np.ascontiguousarray(lab).astype(np.uint8)


def check_clip(path: str | Path, limits: Limits) -> dict:
    """Open an uploaded driving clip and apply the limits (empty, not a video, truncated, too large, too long)."""
    p = limits.check_file(path, "dance clip")
    stream = open_video(p)
    limits.check_resolution(stream.size, f"the clip {p.name}")
    limits.check_duration(stream.num_frames, stream.fps, f"the clip {p.name}")
    return {"path": p, "fps": stream.fps, "frames": stream.num_frames, "size": stream.size}


def _clip_key(path: Path | None, model: str) -> str:
    if path is None:
        return f"procedural|{model}"
    st = path.stat()
    return hashlib.sha1(f"{path}|{st.st_size}|{st.st_mtime}|{model}".encode()).hexdigest()


def extract(video: str | Path | None, model: str | None, work: Path, limits: Limits, cancel=None, progress=None):
    """Pose maps of the first ``limits.max_frames`` frames of ``video`` (None: the procedural dance) at the pose
    model's size, written as a skeleton mp4. Yields {"event": "frame", ...} and a final {"event": "done",
    "poses", "fps", "skeleton", "driving", "detected", "frames", "total", "seconds", "status"}."""
    start = time.perf_counter()
    entry = resolve("pose", model)
    engine = ENGINES.get(entry)
    size = tuple(engine.size or DEFAULT_POSE_SIZE)
    driving = None
    if video is None:
        from v2v.engine import render_pose

        fps = PROCEDURAL_FPS
        total = limits.max_frames
        items = ({"labels": torch.from_numpy(render_pose(kp, size)).permute(2, 0, 1)[None]}
                 for kp in dance_keypoints(total, size, fps))
        note = ""
    else:
        info = check_clip(video, limits)
        driving = info["path"]
        fps = info["fps"]
        total = min(info["frames"], limits.max_frames)
        note = "" if total == info["frames"] else f" (the first {total} of {info['frames']} frames: the limit)"

        def finding(done: int, all_: int) -> None:  # the engine's first pass: poses and the crop
            if progress is not None:
                progress((done, all_), desc="Finding the dancer", unit="frames")

        # the engine's pose input: MediaPipe, one crop for the clip, normalised to the model's person
        items = iter(engine.open(driving, size=size, frames=(0, total), progress=finding))
    maps = []
    detected = 0
    work.mkdir(parents=True, exist_ok=True)
    n = sum(1 for _ in work.glob("skeleton_*.mp4"))
    writer = VideoWriter(work / f"skeleton_{n + 1}.mp4", fps)
    try:
        for k, item in enumerate(items):
            if k >= total or (cancel is not None and cancel.is_set()):
                break
            m = _map_of(item)
            maps.append(m)
            detected += bool(m.any())
            writer.write(m)
            if progress is not None:
                progress((k + 1, total), desc="Drawing the pose", unit="frames")
            yield {"event": "frame", "done": k + 1, "total": total, "image": m,
                   "status": f"Extracting pose: {k + 1} / {total} frames..."}
        if cancel is not None and cancel.is_set():
            raise UserError("pose extraction was stopped")
        if not maps:
            raise UserError("the clip has no frames to extract a pose from")
        if detected == 0:
            raise UserError("no person was found in the clip; upload a clip that shows one dancer's whole body")
        skeleton = writer.close()
    except BaseException:
        writer.abort()
        raise
    finally:
        close = getattr(items, "close", None)
        if close is not None:
            close()
    seconds = time.perf_counter() - start
    text = f"Pose found in {detected} of {len(maps)} frames{note} ({seconds:.1f} s)."
    yield {"event": "done", "poses": np.stack(maps), "fps": fps, "skeleton": skeleton, "driving": driving,
           "detected": detected, "frames": len(maps), "total": total, "seconds": seconds, "status": text}


def side_by_side_label(driving: bool) -> str:
    """Title of the side-by-side video: its panels (no driving clip for the procedural dance)."""
    return "Side by side: " + ("driving | pose | result" if driving else "pose | result")


def with_pose_time(done_status: str, pose_seconds: float, synth_seconds: float) -> str:
    """The generation's "Done" line when the pose was extracted in the same run: both times and their sum."""
    return (f"{done_status} Pose extraction took {pose_seconds:.1f} s before it: "
            f"{pose_seconds + synth_seconds:.1f} s in all.")


def transfer(poses: np.ndarray, fps: float, driving: Path | None, model: str | None, work: Path, stem: str,
             limits: Limits, cancel=None, progress=None):
    """Drive the pose model with ``poses``; events of :func:`app.jobs.synthesize` with a ``status`` line. The
    side-by-side video shows driving frame | pose | result (pose | result for the procedural dance)."""
    engine = ENGINES.get(resolve("pose", model))
    total = len(poses)
    frames = iter(open_video(driving).frames(0, total)) if driving is not None else None
    height = poses.shape[1]

    def compose(item: dict) -> np.ndarray:
        k = int(item.get("index", 0))
        pictures = [poses[min(k, total - 1)], item["image"]]
        if frames is not None:
            drive = next(frames, None)
            if drive is not None:
                pictures.insert(0, drive)
        return side_by_side(pictures, height)

    def tick(done: int, all_: int) -> None:
        if progress is not None:
            progress((done, total), desc="Generating", unit="frames")

    tick(0, total)
    for ev in jobs.synthesize(engine, memory_clip(poses, fps), work, stem, fps, total, cancel=cancel,
                              side_by_side=compose, progress=tick):
        if ev["event"] == "frame":
            ev["status"] = status(ev["done"], total)
        else:
            ev["status"] = status(ev["frames"], total, ev["seconds"], ev["stopped"])
        yield ev


# ------------------------------------------------------------------------------------------------ handlers
def make_handlers(limits: Limits) -> dict:
    def _source(choice: str, video):
        if choice == PROCEDURAL_DANCE:
            return None
        if not video:
            raise UserError("upload a dance clip first (or choose the procedural dance)")
        return video

    def _begin(choice: str, video, state: dict | None, request: gr.Request):
        """A job's start: (its copy of the tab state, the session's work folder, the clip, session key, cancel)."""
        state = dict(state or new_state())
        if not state.get("dir"):
            state["dir"] = str(session.new_dir("m"))
        key = session.session_key(request)
        return state, Path(state["dir"]), _source(choice, video), key, session.start_job(key)

    @user_facing
    def on_extract(choice: str, video, model: str, state: dict | None, request: gr.Request, progress=gr.Progress()):
        state, work, src, key, cancel = _begin(choice, video, state, request)
        try:
            for ev in extract(src, model, work, limits, cancel, progress):
                if ev["event"] == "frame":
                    yield gr.skip(), gr.skip(), ev["image"], ev["status"]
                    continue
                state.update(poses=ev["poses"], fps=ev["fps"], driving=str(ev["driving"]) if ev["driving"] else None,
                             skeleton=str(ev["skeleton"]),
                             key=_clip_key(Path(src) if src else None, model or ""))
                yield state, state["skeleton"], ev["poses"][len(ev["poses"]) // 2], ev["status"]
        finally:
            session.end_job(key, cancel)

    @user_facing
    def on_generate(choice: str, video, model: str, state: dict | None, request: gr.Request,
                    progress=gr.Progress()):
        state, work, src, key, cancel = _begin(choice, video, state, request)
        try:
            pose_seconds = None  # set when the pose is extracted in this run (its time goes into the Done line)
            if state.get("poses") is None or state.get("key") != _clip_key(Path(src) if src else None, model or ""):
                for ev in extract(src, model, work, limits, cancel, progress):  # pose first, shown as it comes
                    if ev["event"] == "frame":
                        yield gr.skip(), gr.skip(), ev["image"], gr.skip(), gr.skip(), ev["status"]
                        continue
                    state.update(poses=ev["poses"], fps=ev["fps"], skeleton=str(ev["skeleton"]),
                                 driving=str(ev["driving"]) if ev["driving"] else None,
                                 key=_clip_key(Path(src) if src else None, model or ""))
                    pose_seconds = ev["seconds"]
                    yield state, state["skeleton"], gr.skip(), gr.skip(), gr.skip(), ev["status"]
            state["runs"] += 1
            driving = Path(state["driving"]) if state.get("driving") else None
            for ev in transfer(state["poses"], state["fps"], driving, model, work, f"dance_{state['runs']}", limits,
                               cancel, progress):
                if ev["event"] == "frame":
                    if ev["preview"]:
                        yield gr.skip(), gr.skip(), ev["image"], gr.skip(), gr.skip(), ev["status"]
                    continue
                sbs = ev["extras"].get("side_by_side")
                text = ev["status"] if pose_seconds is None else \
                    with_pose_time(ev["status"], pose_seconds, ev["seconds"])
                yield (state, gr.skip(), gr.skip(), str(ev["video"]) if ev["video"] else None,
                       gr.Video(value=str(sbs) if sbs else None, label=side_by_side_label(driving is not None)),
                       text)
        finally:
            session.end_job(key, cancel)

    def on_stop(request: gr.Request):
        return "Stopping..." if session.stop_job(session.session_key(request)) else gr.skip()

    return {k: v for k, v in locals().items() if k.startswith("on_")}


def build(limits: Limits) -> dict:
    h = make_handlers(limits)
    state = gr.State(new_state(), time_to_live=3600, delete_callback=delete_state)
    models = model_choices("pose")
    gr.Markdown("Make a trained person dance like someone else: upload a clip of one dancer (whole body in view), "
                "check the extracted skeleton, then generate.")
    with gr.Row():
        with gr.Column(scale=1, min_width=280):
            model = gr.Dropdown(models, value=models[0] if models else None, label="Target person (pose model)",
                                info=None if models else "no pose model installed")
            choice = gr.Radio([UPLOAD, PROCEDURAL_DANCE], value=UPLOAD, label="Driving motion", elem_id="motion-choice")
            video = gr.Video(label="Dance clip", sources=["upload"], height=240, elem_id="motion-upload")
            extract_btn = gr.Button("1. Extract pose", elem_id="motion-extract")
            gen_btn = gr.Button("2. Generate the dance", variant="primary", elem_id="motion-generate")
            stop_btn = gr.Button("Stop", variant="stop")
        with gr.Column(scale=2, min_width=400):
            status_md = gr.Markdown("", elem_id="motion-status")
            with gr.Row():
                skeleton = gr.Video(label="Extracted pose", format="mp4", autoplay=True, loop=True, height=256,
                                    elem_id="motion-skeleton")
                preview = gr.Image(label="Live preview", format="png", interactive=False, height=256)
                result = gr.Video(label="Target person dancing", format="mp4", autoplay=True, loop=True,
                                  buttons=["download"], height=256, elem_id="motion-result")
            sbs = gr.Video(label=side_by_side_label(True), format="mp4", autoplay=True, loop=True,
                           buttons=["download"], height=256, elem_id="motion-sbs")
    private = {"api_visibility": "private"}
    extract_btn.click(h["on_extract"], [choice, video, model, state], [state, skeleton, preview, status_md],
                      concurrency_id="synthesis", show_progress_on=[skeleton], **private)
    gen_btn.click(h["on_generate"], [choice, video, model, state],
                  [state, skeleton, preview, result, sbs, status_md], concurrency_id="synthesis",
                  show_progress_on=[result], **private)
    stop_btn.click(h["on_stop"], None, [status_md], queue=False, **private)
    return {"model": model}

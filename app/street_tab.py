"""Tab 1: street scenes — load a label video, scrub and edit it, and synthesize a city video from it.

The session's label video lives in a ``gr.State`` dict (see :func:`new_state`): the loaded volume, the list of
edit operations (undo drops the last one and replays the rest, see :mod:`app.editing`), the current edited
volume, and the last generated frames. The style tab works on the same state.
"""
from __future__ import annotations

from pathlib import Path

import gradio as gr
import numpy as np

from v2v.engine import StyleRequest, with_future
from v2v.errors import UserError

from . import jobs, session
from .common import (BRUSH_CLASSES, check_seed, class_choices, display_scale, enlarge, hex_color, palette_legend,
                     status)
from .editing import LabelVolume, Op, apply_op, class_id, class_name, paint_op, replay
from .errors import message_of, user_facing
from .examples import street_example_dirs
from .limits import Limits
from .models import ENGINES, model_choices, resolve
from .uploads import load_example, load_upload

DEFAULT_SIZE = (256, 128)
SCOPES = ["this frame", "all frames", "frame range"]
LOADED = 9  # outputs of a load: state, frame, editor, before/after, slider, info, history, class, last frame


# ------------------------------------------------------------------------------------------------ state
def new_state() -> dict:
    return {"dir": None, "volume": None, "base": None, "generated": None, "output": None, "runs": 0}


def delete_state(state: dict | None) -> None:
    """gr.State delete_callback: the session's folder goes with it."""
    if state:
        session.remove_dir(state.get("dir"))


def working_size(model_name: str | None) -> tuple[int, int]:
    """Frame size of the street model (labels are edited at the size the model makes)."""
    try:
        engine = ENGINES.get(resolve("street", model_name))
    except UserError:
        return DEFAULT_SIZE
    return tuple(engine.size) if engine.size else DEFAULT_SIZE


def _fresh(state: dict | None, volume: LabelVolume, work: Path) -> dict:
    if state and state.get("dir") and Path(state["dir"]) != work:
        session.remove_dir(state["dir"])
    return {"dir": str(work), "volume": volume,
            "base": (volume.labels.copy(), volume.instances.copy()), "generated": None, "output": None, "runs": 0}


def _volume(state: dict | None) -> LabelVolume:
    if not state or state.get("volume") is None:
        raise UserError("load a street example or upload a label video first")
    return state["volume"]


def frame_range(scope: str, index: int, first, last, n: int) -> tuple[int, int] | None:
    """None = all frames; otherwise an inclusive (first, last) range inside the video."""
    if scope == "all frames":
        return None
    if scope == "frame range":
        a, b = int(first or 0), int(last if last is not None else n - 1)
        if not (0 <= a < n and 0 <= b < n):
            raise UserError(f"the frame range {a}-{b} is outside the video (frames 0-{n - 1})")
        return (min(a, b), max(a, b))
    i = int(index)
    return (i, i)


# ------------------------------------------------------------------------------------------------ views
def frame_views(state: dict, index: int):
    """(label frame, editor value, before/after pair) for frame ``index``."""
    vol = _volume(state)
    index = int(min(max(int(index or 0), 0), vol.num_frames - 1))
    scale = display_scale(vol.size)
    color = enlarge(vol.color(index), scale)
    editor = {"background": color, "layers": [], "composite": None}
    gen, at = state.get("generated"), index - state.get("generated_start", 0)  # a continued job may skip frames
    after = enlarge(gen[at], scale) if gen is not None and 0 <= at < len(gen) else None
    return color, editor, ((color, after) if after is not None else None)


def info_text(vol: LabelVolume) -> str:
    names = ", ".join(class_name(c) for c in vol.classes())
    objects = len(np.unique(vol.instances)) - (1 if (vol.instances == 0).any() else 0)
    return (f"**{vol.name}**: {vol.num_frames} frames, {vol.size[0]}x{vol.size[1]} (the model's size), "
            f"{vol.fps:g} fps, {objects} object ids. Classes: {names}.")


def history_text(vol: LabelVolume) -> str:
    if not vol.ops:
        return "No edits yet."
    return "Edits: " + "; ".join(f"{k + 1}. {op.describe()}" for k, op in enumerate(vol.ops))


def class_dropdown(vol: LabelVolume, selected: str | None = None) -> gr.Dropdown:
    """The "Change class" choices after an edit: the classes still in the video, keeping the selection while its
    class is there (else the first class), so the dropdown never shows a class that is gone, or nothing."""
    present = [class_name(c) for c in vol.classes()]
    value = selected if selected in present else (present[0] if present else None)
    return gr.Dropdown(choices=present, value=value)


def _after_load(state: dict):
    vol = state["volume"]
    color, editor, pair = frame_views(state, 0)
    present = [class_name(c) for c in vol.classes()]
    canvas = (color.shape[1], color.shape[0])
    slider = gr.Slider(minimum=0, maximum=vol.num_frames - 1, value=0, step=1, interactive=vol.num_frames > 1)
    return (state, color, gr.ImageEditor(value=editor, canvas_size=canvas), gr.update(value=pair), slider,
            info_text(vol), history_text(vol), gr.Dropdown(choices=present, value=present[0] if present else None),
            gr.Number(value=vol.num_frames - 1, maximum=vol.num_frames - 1))


# ------------------------------------------------------------------------------------------------ the job
def check_future(future, limits: Limits) -> int:
    """The number of frames to continue the scene by: a whole number from 0 to the job's frame limit - 2 (the
    prediction needs at least two observed frames)."""
    try:
        value = float(future or 0)
    except (TypeError, ValueError):
        raise UserError(f"frames to continue must be a whole number, got {future!r}") from None
    most = limits.max_frames - 2
    if value != int(value) or not 0 <= value <= most:
        raise UserError(f"frames to continue must be a whole number from 0 to {most} (each job makes at most "
                        f"{limits.max_frames} frames, and two observed frames are needed); got {future!r}")
    return int(value)


def run_street(vol: LabelVolume, model: str | None, work: Path, stem: str, limits: Limits, seed=0,
               rerolls: dict[int, int] | None = None, extras: bool = False, cancel=None, progress=None,
               require_style: bool = False, colors: dict[int, str] | None = None, spread: float = 1.0,
               future=0):
    """Synthesize the (edited) volume with a street model: :func:`app.jobs.synthesize` events, each with a
    ``status`` line; the final one also has ``frames_made`` ((N, H, W, 3) uint8 or None) and ``style``.
    ``future`` > 0 continues the scene that many frames past its last label frame (label maps predicted by flow
    extrapolation, :mod:`v2v.predict`); the job then observes the volume's last frames that fit the limit."""
    seed = check_seed(seed)
    future = check_future(future, limits)
    engine = ENGINES.get(resolve("street", model))
    has_bank = engine.style_bank is not None
    if require_style and not has_bank:
        raise UserError(f"the street model {model or ''} has no style mixtures, so objects cannot be re-rolled "
                        "(fit them with `python -m v2v style fit`)")
    observed = min(vol.num_frames, limits.max_frames - future)
    total = observed + future
    # the volume's frame the video starts at: a continuation must follow the volume's real end
    start = vol.num_frames - observed if future else 0
    if future:
        predicted = f"{future} frames predicted past the last label frame"
        note = (f" (the last {observed} label frames, the frame limit, then {predicted})"
                if observed < vol.num_frames else f" ({predicted})")
    else:
        note = "" if total == vol.num_frames else f" (the first {total} of {vol.num_frames} frames: the frame limit)"
    kept = slice(start, start + observed)
    source = engine.open_arrays(vol.labels[kept], vol.instances[kept], vol.fps, size=vol.size)
    if future:
        source = with_future(source, future, "flow")
    style = StyleRequest(seed=seed, rerolls=dict(rerolls or {}), colors=dict(colors or {}),
                         spread=float(spread)) if has_bank else None
    made = []

    def tick(done: int, all_: int) -> None:
        if progress is not None:
            progress((done, total), desc="Generating", unit="frames")

    tick(0, total)
    for ev in jobs.synthesize(engine, source, work, stem, vol.fps, total, cancel=cancel, style=style,
                              extras=("flow", "mask") if extras else (), progress=tick):
        if ev["event"] == "frame":
            made.append(ev["image"])
            ev["status"] = status(ev["done"], total) + note
        else:
            ev["status"] = status(ev["frames"], total, ev["seconds"], ev["stopped"]) + note
            ev["frames_made"] = np.stack(made) if made else None
            ev["first_frame"] = start
            ev["style"] = style
        yield ev


# ------------------------------------------------------------------------------------------------ handlers
def make_handlers(limits: Limits) -> dict:
    @user_facing
    def on_load_example(name: str, model: str, state: dict | None):
        folders = street_example_dirs()
        if name not in folders:
            raise UserError(f"unknown example {name!r}; choose one of {', '.join(folders) or 'none installed'}")
        vol = load_example(folders[name], working_size(model), limits)
        return _after_load(_fresh(state, vol, session.new_dir()))

    def on_load_upload(labels_file, instances_file, model: str, state: dict | None):
        """A failed upload keeps the loaded scene (every output skipped; raising would put Error badges on all of
        them) and says why, in a toast and under the upload button."""
        work = session.new_dir()
        try:
            vol = load_upload(labels_file, instances_file, work, working_size(model), limits)
        except Exception as e:  # noqa: BLE001 - every failure becomes a message
            session.remove_dir(work)
            message = message_of(e)
            kept = " The scene shown is unchanged." if state and state.get("volume") is not None else ""
            gr.Warning(f"Upload not loaded: {message}", title="Upload not loaded")
            return (*[gr.skip()] * LOADED, f"**Upload not loaded:** {message.rstrip('.')}.{kept}")
        return (*_after_load(_fresh(state, vol, work)), "")

    @user_facing
    def on_frame(index, state: dict | None):
        if not state or state.get("volume") is None:
            return None, None, None
        color, editor, pair = frame_views(state, index)
        return color, editor, pair

    def _edited(state: dict, op: Op, index, selected: str | None = None):
        vol = _volume(state)
        apply_op(vol.labels, vol.instances, op)
        vol.ops.append(op)
        color, editor, pair = frame_views(state, index)
        return state, color, editor, pair, history_text(vol), class_dropdown(vol, selected)

    @user_facing
    def on_relabel(src: str, dst: str, scope: str, first, last, index, state: dict | None):
        vol = _volume(state)
        if not src or not dst:
            raise UserError("choose the class to change and its new class")
        a, b = class_id(src), class_id(dst)
        if a == b:
            raise UserError(f"{src} is already {dst}; choose two different classes")
        if not (vol.labels == a).any():
            raise UserError(f"there is no {src} in this video")
        return _edited(state, Op("class", b, frames=frame_range(scope, index, first, last, vol.num_frames),
                                 from_id=a), index, src)

    @user_facing
    def on_click(dst: str, scope: str, first, last, index, state: dict | None, evt: gr.SelectData,
                 src: str | None = None):
        vol = _volume(state)
        if not dst:
            raise UserError("choose the new class for the region first")
        scale = display_scale(vol.size)
        x, y = (int(v) // scale for v in evt.index[:2])
        if not (0 <= x < vol.size[0] and 0 <= y < vol.size[1]):
            raise UserError("click inside the frame")
        op = Op("region", class_id(dst), frames=frame_range(scope, index, first, last, vol.num_frames),
                x=x, y=y, frame=int(index))
        return _edited(state, op, index, src)

    @user_facing
    def on_paint(editor: dict | None, scope: str, first, last, index, state: dict | None, src: str | None = None):
        vol = _volume(state)
        layers = (editor or {}).get("layers") or []
        if not layers or layers[0] is None:
            raise UserError("paint on the frame first (pick a class colour in the brush menu)")
        op = paint_op(layers[0], frame_range(scope, index, first, last, vol.num_frames), vol.size)
        if op is None:
            raise UserError("nothing is painted yet; paint on the frame, then apply")
        return _edited(state, op, index, src)

    @user_facing
    def on_undo(index, state: dict | None, src: str | None = None):
        vol = _volume(state)
        if not vol.ops:
            raise UserError("there is nothing to undo")
        vol.ops.pop()
        vol.labels, vol.instances = replay(*state["base"], vol.ops)
        color, editor, pair = frame_views(state, index)
        return state, color, editor, pair, history_text(vol), class_dropdown(vol, src)

    @user_facing
    def on_reset(index, state: dict | None, src: str | None = None):
        vol = _volume(state)
        vol.ops.clear()
        vol.labels, vol.instances = state["base"][0].copy(), state["base"][1].copy()
        color, editor, pair = frame_views(state, index)
        return state, color, editor, pair, history_text(vol), class_dropdown(vol, src)

    @user_facing
    def on_generate(model: str, seed, extras: bool, index, state: dict | None, future, request: gr.Request,
                    progress=gr.Progress()):
        vol = _volume(state)
        seed = check_seed(seed, "the style seed")
        future = check_future(future, limits)
        key = session.session_key(request)
        cancel = session.start_job(key)
        try:
            yield from _generate(state, vol, model, seed, extras, index, cancel, progress, future)
        finally:
            session.end_job(key, cancel)

    def _generate(state, vol, model, seed, extras, index, cancel, progress, future=0):
        state["runs"] += 1
        scale = display_scale(vol.size)
        for ev in run_street(vol, model, Path(state["dir"]), f"street_{state['runs']}", limits, seed=seed,
                             extras=extras, cancel=cancel, progress=progress, future=future):
            if ev["event"] == "frame":
                if ev["preview"]:
                    yield (enlarge(ev["image"], scale), gr.skip(), ev["status"], gr.skip(), gr.skip(), gr.skip(),
                           gr.skip())
                continue
            state["generated"], state["generated_start"] = ev["frames_made"], ev["first_frame"]
            state["output"] = str(ev["video"]) if ev["video"] else None
            _, _, pair = frame_views(state, min(int(index or 0), max(ev["frames"] - 1, 0)))
            flow, mask = ev["extras"].get("flow"), ev["extras"].get("mask")
            yield (gr.skip(), state["output"], ev["status"], pair,
                   gr.update(value=str(flow) if flow else None, visible=bool(flow)),
                   gr.update(value=str(mask) if mask else None, visible=bool(mask)), state)

    def on_stop(request: gr.Request):
        stopped = session.stop_job(session.session_key(request))
        return "Stopping..." if stopped else gr.skip()

    return {k: v for k, v in locals().items() if k.startswith("on_")}


# ------------------------------------------------------------------------------------------------ layout
def build(limits: Limits, state: gr.State) -> dict:
    """Lay out the tab inside the current gr.Tab and wire its events; returns the components other tabs use."""
    h = make_handlers(limits)
    examples = list(street_example_dirs())
    models = model_choices("street")
    with gr.Row():
        with gr.Column(scale=1, min_width=280):
            gr.Markdown("### 1. Label video")
            example = gr.Dropdown(examples, value=examples[0] if examples else None, label="Example scene")
            load_ex = gr.Button("Load example", variant="secondary", elem_id="street-load")
            with gr.Accordion("...or upload your own labels", open=False):
                labels_file = gr.File(label="Label PNGs (.zip), one label PNG, or a colour label video",
                                      file_types=[".zip", ".png", ".mp4", ".webm", ".mov", ".avi", ".mkv"],
                                      elem_id="street-labels-file")
                inst_file = gr.File(label="Instance maps (.zip of 16-bit PNGs, optional)", file_types=[".zip"])
                load_up = gr.Button("Load upload", elem_id="street-load-upload")
                upload_msg = gr.Markdown("", elem_id="street-upload-message")
            model = gr.Dropdown(models, value=models[0] if models else None, label="Street model",
                                info=None if models else "no street model installed")
            info = gr.Markdown("Load an example to start.")
        with gr.Column(scale=2, min_width=400):
            frame_img = gr.Image(label="Labels of this frame (click a region to relabel it)", format="png",
                                 elem_id="street-frame",
                                 interactive=False, buttons=["fullscreen"], height=300)
            frame = gr.Slider(0, 1, value=0, step=1, label="Frame", interactive=False)
    with gr.Accordion("2. Edit the labels", open=True):
        with gr.Row():
            scope = gr.Radio(SCOPES, value="this frame", label="Apply edits to", scale=2)
            first = gr.Number(0, label="from frame", precision=0, minimum=0, scale=1)
            last = gr.Number(0, label="to frame", precision=0, minimum=0, scale=1)
        with gr.Tabs():
            with gr.Tab("Relabel a class"):
                with gr.Row():
                    src = gr.Dropdown([], label="Change class", scale=2, elem_id="street-src")
                    dst = gr.Dropdown(class_choices(), value="building", label="into", scale=2)
                    relabel_btn = gr.Button("Relabel", scale=1, elem_id="street-relabel")
            with gr.Tab("Click a region"):
                gr.Markdown("Choose a class, then click a region in the frame above. Objects (cars, people) are "
                            "followed through the chosen frames by their instance id.")
                region_to = gr.Dropdown(class_choices(), value="vegetation", label="New class of the clicked region")
            with gr.Tab("Paint"):
                gr.HTML(palette_legend())
                editor = gr.ImageEditor(
                    label="Paint with class colours (strokes snap to the palette)", type="numpy", format="png",
                    image_mode="RGBA", sources=(), transforms=(), height=340,
                    layers=gr.LayerOptions(allow_additional_layers=False, layers=["paint"]),
                    brush=gr.Brush(colors=[hex_color(c) for c in BRUSH_CLASSES], default_color=hex_color(26),
                                   color_mode="fixed", default_size=12),
                    eraser=gr.Eraser(default_size=12), canvas_size=(512, 256))
                paint_btn = gr.Button("Apply paint")
        with gr.Row():
            undo_btn = gr.Button("Undo", size="sm", elem_id="street-undo")
            reset_btn = gr.Button("Reset all edits", size="sm")
        history = gr.Markdown("No edits yet.", elem_id="street-history")
    gr.Markdown("### 3. Generate")
    with gr.Row():
        seed = gr.Number(0, label="Style seed", precision=0, minimum=0, scale=1)
        extras = gr.Checkbox(False, label="Also make flow and mask videos", scale=1)
        future = gr.Number(0, label="Continue the scene for N more frames", precision=0, minimum=0,
                           maximum=limits.max_frames - 2, scale=1, elem_id="street-future",
                           info="predicted past the last label frame (0: off)")
        gen_btn = gr.Button("Generate video", variant="primary", scale=2, elem_id="street-generate")
        stop_btn = gr.Button("Stop", variant="stop", scale=1)
    status_md = gr.Markdown("", elem_id="street-status")
    with gr.Row():
        preview = gr.Image(label="Live preview", format="png", interactive=False, height=240)
        video = gr.Video(label="Generated video (H.264)", format="mp4", autoplay=True, loop=True,
                         buttons=["download"], height=240, elem_id="street-video")
        compare = gr.ImageSlider(label="Before / after (the frame on the slider)", format="png", height=240,
                                 type="numpy", max_height=240)
    with gr.Row():
        flow_video = gr.Video(label="Flow (warp) video", format="mp4", visible=False, height=200)
        mask_video = gr.Video(label="Occlusion mask video", format="mp4", visible=False, height=200)

    loaded = [state, frame_img, editor, compare, frame, info, history, src, last]
    assert len(loaded) == LOADED
    private = {"api_visibility": "private"}
    light = {"concurrency_limit": None, **private}  # quick numpy work on the session's own state
    load_ex.click(h["on_load_example"], [example, model, state], loaded, **light)
    load_up.click(h["on_load_upload"], [labels_file, inst_file, model, state], loaded + [upload_msg], **light)
    frame.change(h["on_frame"], [frame, state], [frame_img, editor, compare], show_progress="hidden", **light)
    edited = [state, frame_img, editor, compare, history, src]
    relabel_btn.click(h["on_relabel"], [src, dst, scope, first, last, frame, state], edited, **light)
    frame_img.select(h["on_click"], [region_to, scope, first, last, frame, state, src], edited, **light)
    paint_btn.click(h["on_paint"], [editor, scope, first, last, frame, state, src], edited, **light)
    undo_btn.click(h["on_undo"], [frame, state, src], edited, **light)
    reset_btn.click(h["on_reset"], [frame, state, src], edited, **light)
    gen_btn.click(h["on_generate"], [model, seed, extras, frame, state, future],
                  [preview, video, status_md, compare, flow_video, mask_video, state], concurrency_id="synthesis",
                  show_progress_on=[video],
                  **private)
    stop_btn.click(h["on_stop"], None, [status_md], queue=False, **private)
    return {"model": model, "example": example, "load_example": load_ex, "video": video, "seed": seed,
            "handlers": h, "load_inputs": [example, model, state], "load_outputs": loaded}


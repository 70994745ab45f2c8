"""Tab 2: style — every object of the street tab's label video keeps one look for the whole video (drawn from
the model's per-class style mixtures, see :mod:`v2v.style`); a re-roll gives one object, or everything, a new look.

Objects are the tracks of :func:`v2v.style.track_objects` over the frames that get generated — the same tracker
the engine's style sampler runs, so a track id here is the id a ``StyleRequest.rerolls`` entry refers to. "Stuff"
classes (road, sky, ...) are one track each for the whole video.
"""
from __future__ import annotations

import random
import re
from pathlib import Path

import cv2
import gradio as gr
import numpy as np

from v2v.errors import UserError
from v2v.engine import STUFF_TRACK_BASE, track_objects

from . import session
from .common import MAX_SEED, check_seed, display_scale, enlarge
from .editing import LabelVolume
from .errors import user_facing
from .limits import Limits
from .street_tab import _volume, run_street

THUMB = 96
MAX_OBJECTS = 60


def new_style_state() -> dict:
    return {"objects": [], "selected": None, "seed": 0, "rerolls": {}, "colors": {}, "spread": 1.0, "result": None,
            "key": None, "runs": 0}


def parse_color(value) -> str:
    """The colour picker's value ("#rrggbb", "#rgb" or "rgb(a)(r, g, b[, a])") as "#rrggbb"."""
    text = str(value or "").strip().lower()
    if re.fullmatch(r"#[0-9a-f]{3}", text):
        return "#" + "".join(ch * 2 for ch in text[1:])
    if re.fullmatch(r"#[0-9a-f]{6}([0-9a-f]{2})?", text):
        return text[:7]
    m = re.fullmatch(r"rgba?\(\s*([\d.]+)\s*,\s*([\d.]+)\s*,\s*([\d.]+)\s*(,\s*[\d.]+\s*)?\)", text)
    if m and all(float(v) <= 255 for v in m.groups()[:3]):
        return "#" + "".join(f"{int(round(float(v))):02x}" for v in m.groups()[:3])
    raise UserError(f"pick a colour first (got {value!r})")


def list_objects(vol: LabelVolume, frames: int) -> tuple[list[dict], list[np.ndarray]]:
    """Tracks over the first ``frames`` frames (objects first, then stuff), and the per-frame track-id maps."""
    maps: list[np.ndarray] = []
    objects = track_objects(list(vol.labels[:frames]), list(vol.instances[:frames]), maps=maps)
    return objects, maps


def thumbnails(objects: list[dict], maps: list[np.ndarray], pictures: np.ndarray) -> list[np.ndarray]:
    """One THUMBxTHUMB picture per track: the frame where it is largest, the track bright and the rest dimmed,
    cropped around things (whole frame for stuff classes)."""
    areas = [dict(zip(*np.unique(m, return_counts=True))) for m in maps]
    out = []
    for obj in objects:
        tid = obj["id"]
        best = int(np.argmax([a.get(tid, 0) for a in areas]))
        pic = pictures[min(best, len(pictures) - 1)]
        mask = maps[best] == tid
        shown = np.where(mask[..., None], pic, (pic * 0.35).astype(np.uint8))
        if tid < STUFF_TRACK_BASE and mask.any():
            ys, xs = np.nonzero(mask)
            cx, cy = (xs.min() + xs.max()) / 2, (ys.min() + ys.max()) / 2
            half = max(xs.max() - xs.min(), ys.max() - ys.min(), 12) * 0.75
            x0, x1 = int(max(0, cx - half)), int(min(pic.shape[1], cx + half + 1))
            y0, y1 = int(max(0, cy - half)), int(min(pic.shape[0], cy + half + 1))
            shown = shown[y0:y1, x0:x1]
        h, w = shown.shape[:2]
        s = THUMB / max(h, w)
        small = cv2.resize(shown, (max(1, int(w * s)), max(1, int(h * s))),
                           interpolation=cv2.INTER_NEAREST if s >= 1 else cv2.INTER_AREA)
        canvas = np.full((THUMB, THUMB, 3), 24, np.uint8)
        y, x = (THUMB - small.shape[0]) // 2, (THUMB - small.shape[1]) // 2
        canvas[y:y + small.shape[0], x:x + small.shape[1]] = small
        out.append(canvas)
    return out


def caption(obj: dict) -> str:
    """Short gallery caption: "#3 car" for objects, "road" for a background class."""
    return obj["class"] if obj["id"] >= STUFF_TRACK_BASE else f"#{obj['id']} {obj['class']}"


def describe(obj: dict) -> str:
    what = f"the {obj['class']} (background class, track {obj['id']})" if obj["id"] >= STUFF_TRACK_BASE else \
        f"object #{obj['id']}, a {obj['class']}"
    return f"{what}, in frames {obj['first_frame']}-{obj['last_frame']}"


def make_handlers(limits: Limits) -> dict:
    def _gallery(street: dict, style: dict):
        vol = _volume(street)
        total = min(vol.num_frames, limits.max_frames)
        objects, maps = list_objects(vol, total)
        things = [o for o in objects if o["id"] < STUFF_TRACK_BASE]
        stuff = [o for o in objects if o["id"] >= STUFF_TRACK_BASE]
        objects = (things + stuff)[:MAX_OBJECTS]
        pictures = style.get("result")
        if pictures is None:
            pictures = street.get("generated")
        if pictures is None or len(pictures) < total:
            pictures = np.stack([vol.color(i) for i in range(total)])
        style["objects"] = objects
        style["key"] = id(vol), len(vol.ops)
        items = list(zip(thumbnails(objects, maps, pictures), [caption(o) for o in objects]))
        text = f"{len(things)} objects and {len(stuff)} background classes in the first {total} frames."
        return items, text

    @user_facing
    def on_find(street: dict | None, style: dict | None):
        style = dict(style or new_style_state())
        items, text = _gallery(street, style)
        style["selected"] = None
        return style, items, text + " Select one, then re-roll or paint it.", None

    def on_select(style: dict | None, evt: gr.SelectData):
        style = dict(style or new_style_state())
        objs = style.get("objects") or []
        if evt.index is None or not 0 <= int(evt.index) < len(objs):
            return style, "Nothing selected."
        obj = objs[int(evt.index)]
        style["selected"] = obj["id"]
        return style, f"Selected: {describe(obj)}."

    def _run(street, style, model, cancel, progress):
        vol = _volume(street)
        style["runs"] += 1
        work = Path(street["dir"])
        before = style.get("result")
        if before is None:
            before = street.get("generated")  # the street tab's video (same seed: the same look)
        scale = display_scale(vol.size)
        for ev in run_street(vol, model, work, f"style_{style['runs']}", limits, seed=style["seed"],
                             rerolls=style["rerolls"], cancel=cancel, progress=progress, require_style=True,
                             colors=style["colors"], spread=style.get("spread", 1.0)):
            if ev["event"] == "frame":
                if ev["preview"]:
                    yield gr.skip(), enlarge(ev["image"], scale), gr.skip(), ev["status"], gr.skip(), gr.skip()
                continue
            after = ev["frames_made"]
            if not ev["stopped"]:
                style["result"] = after
            pair = None
            if after is not None:
                k = _frame_of(style, len(after))
                prev = before[k] if before is not None and k < len(before) else vol.color(k)
                pair = (enlarge(prev, scale), enlarge(after[k], scale))
            items, _ = _gallery(street, style)
            yield (style, gr.skip(), str(ev["video"]) if ev["video"] else None, ev["status"], pair, items)

    def _frame_of(style: dict, n: int) -> int:
        """The frame where the selected object is shown in the before/after view: its middle frame."""
        sel = style.get("selected")
        for o in style.get("objects") or []:
            if o["id"] == sel:
                return min((o["first_frame"] + o["last_frame"]) // 2, n - 1)
        return n // 2

    def _job(street, style, model, request, progress, change):
        street_vol = _volume(street)
        style = dict(style or new_style_state())
        style["rerolls"] = dict(style.get("rerolls") or {})
        style["colors"] = dict(style.get("colors") or {})
        if style.get("key") != (id(street_vol), len(street_vol.ops)) or not style.get("objects"):
            _gallery(street, style)
        change(style)
        key = session.session_key(request)
        cancel = session.start_job(key)
        try:
            yield from _run(street, style, model, cancel, progress)
        finally:
            session.end_job(key, cancel)

    def on_variety(style: dict | None, value):
        style = dict(style or new_style_state())
        style["spread"] = float(1.0 if value is None else value)
        return style

    @user_facing
    def on_reroll_selected(street: dict | None, style: dict | None, model: str, seed, request: gr.Request,
                           progress=gr.Progress()):
        seed_ = check_seed(seed)

        def change(st):
            st["seed"] = seed_
            if st.get("selected") is None:
                raise UserError("select an object in the gallery first (or roll everything)")
            st["rerolls"][int(st["selected"])] = random.randint(0, MAX_SEED)
            st["colors"].pop(int(st["selected"]), None)
        yield from _job(street, style, model, request, progress, change)

    @user_facing
    def on_paint_selected(street: dict | None, style: dict | None, model: str, seed, color,
                          request: gr.Request, progress=gr.Progress()):
        hex_color = parse_color(color)
        seed_ = check_seed(seed)

        def change(st):
            st["seed"] = seed_
            if st.get("selected") is None:
                raise UserError("select an object in the gallery first")
            st["colors"][int(st["selected"])] = hex_color
        yield from _job(street, style, model, request, progress, change)

    @user_facing
    def on_reroll_all(street: dict | None, style: dict | None, model: str, request: gr.Request,
                      progress=gr.Progress()):
        new_seed = random.randint(0, MAX_SEED)

        def change(st):
            st["seed"] = new_seed
            st["rerolls"] = {}
            st["colors"] = {}
        for out in _job(street, style, model, request, progress, change):
            yield out + (new_seed,)

    @user_facing
    def on_generate(street: dict | None, style: dict | None, model: str, seed, request: gr.Request,
                    progress=gr.Progress()):
        seed_ = check_seed(seed)

        def change(st):
            if seed_ != st.get("seed"):
                st["rerolls"] = {}
                st["colors"] = {}
            st["seed"] = seed_
        yield from _job(street, style, model, request, progress, change)

    return {k: v for k, v in locals().items() if k.startswith("on_")}


def build(limits: Limits, state: gr.State, street: dict) -> dict:
    h = make_handlers(limits)
    style_state = gr.State(new_style_state(), time_to_live=3600)
    gr.Markdown("Works on the label video of the **Street scenes** tab (load an example there first). Every object "
                "keeps one look for the whole video; re-roll the selected object — or everything — to give it a "
                "new look, or paint the selected object a colour (models trained with colour style features). "
                "Only that object changes.")
    with gr.Row():
        with gr.Column(scale=3, min_width=400):
            gallery = gr.Gallery(label="Objects (click one to select it)", columns=6, height=330, format="png",
                                 allow_preview=False, object_fit="contain", interactive=False,
                                 elem_id="style-gallery")
            selected = gr.Markdown("Press **Find objects**.", elem_id="style-selected")
        with gr.Column(scale=1, min_width=220):
            find_btn = gr.Button("Find objects", elem_id="style-find")
            seed = gr.Number(0, label="Seed", precision=0, minimum=0)
            # words only: emoji show as empty boxes where no emoji font is installed
            dice_one = gr.Button("Re-roll the selected object", variant="primary", elem_id="style-dice-one")
            with gr.Row():
                color = gr.ColorPicker("#c02020", label="Colour", min_width=60, elem_id="style-color")
                paint = gr.Button("Paint the selected object", elem_id="style-paint", min_width=120)
            dice_all = gr.Button("Re-roll everything", elem_id="style-dice-all")
            variety = gr.Slider(0.0, 3.0, value=1.0, step=0.25, label="Variety",
                                info="0: each class's typical look; 1: as varied as the training videos",
                                elem_id="style-variety")
            gen_btn = gr.Button("Generate with this seed")
            stop_btn = gr.Button("Stop", variant="stop")
    status_md = gr.Markdown("", elem_id="style-status")
    with gr.Row():
        preview = gr.Image(label="Live preview", format="png", interactive=False, height=240)
        video = gr.Video(label="Result", format="mp4", autoplay=True, loop=True, buttons=["download"], height=240,
                         elem_id="style-video")
        compare = gr.ImageSlider(label="Before / after the last roll", format="png", height=240, type="numpy",
                                 max_height=240)

    private = {"api_visibility": "private"}
    light = {"concurrency_limit": None, **private}
    find_btn.click(h["on_find"], [state, style_state], [style_state, gallery, selected, compare], **light)
    gallery.select(h["on_select"], [style_state], [style_state, selected], **light)
    variety.change(h["on_variety"], [style_state, variety], [style_state], **light)
    outs = [style_state, preview, video, status_md, compare, gallery]
    heavy = {"concurrency_id": "synthesis", "show_progress_on": [video], **private}
    dice_one.click(h["on_reroll_selected"], [state, style_state, street["model"], seed], outs, **heavy)
    paint.click(h["on_paint_selected"], [state, style_state, street["model"], seed, color], outs, **heavy)
    dice_all.click(h["on_reroll_all"], [state, style_state, street["model"]], outs + [seed], **heavy)
    gen_btn.click(h["on_generate"], [state, style_state, street["model"], seed], outs, **heavy)
    stop_btn.click(street["handlers"]["on_stop"], None, [status_md], queue=False, **private)
    return {"gallery": gallery, "video": video}

"""Named API endpoints for ``gradio_client`` (usable without the UI; inputs are file paths, names and seeds).

==================  ==========================================================================================
endpoint            inputs -> outputs
==================  ==========================================================================================
/synthesize_street  example, labels_file, instances_file, relabel, seed, model -> (mp4, report)
/reroll_style       example, labels_file, instances_file, relabel, seed, rerolls, model -> (mp4, report)
/extract_pose       video, model -> (skeleton mp4, report)
/transfer_motion    video, model, procedural -> (result mp4, side-by-side mp4, report)
==================  ==========================================================================================

* ``example``: a shipped street scene name (``street_scene_1``); used when ``labels_file`` is empty.
* ``labels_file`` / ``instances_file``: a zip of label PNGs (or one PNG, or a colour label video) and an optional
  zip of instance PNGs (``gradio_client.handle_file(path)``).
* ``relabel``: "vegetation->building, car->truck" (class names, or aliases such as "tree").
* ``rerolls``: "TRACK:SEED, ..." — track ids come from the report's ``objects`` (call once without rerolls).
* ``model``: a model name (empty: the first one of that kind).
* ``procedural``: True drives the dancer with the built-in procedural dance (no video needed).

Every report is a JSON object with ``frames``, ``seconds``, ``frames_per_s`` and what the endpoint did. Bad input
comes back as an error with a one-line message.
"""
from __future__ import annotations

from pathlib import Path

import gradio as gr

from v2v.errors import UserError

from . import motion_tab, session
from .editing import Op, apply_op, parse_relabel
from .errors import user_facing
from .examples import street_example_dirs
from .limits import Limits
from .street_tab import run_street, working_size
from .style_tab import list_objects
from .uploads import load_example, load_upload

API_DIR_PREFIX = "api"


def parse_rerolls(text: str | None) -> dict[int, int]:
    """"3:17, 100021:5" -> {3: 17, 100021: 5}."""
    out = {}
    for part in (text or "").replace(";", ",").split(","):
        part = part.strip()
        if not part:
            continue
        try:
            tid, seed = (int(v) for v in part.split(":"))
        except ValueError:
            raise UserError(f"reroll {part!r} must look like TRACK_ID:SEED, e.g. 3:17") from None
        out[tid] = seed
    return out


def _volume(example: str, labels_file, instances_file, relabel: str, model: str, work: Path, limits: Limits):
    size = working_size(model or None)
    if labels_file:
        vol = load_upload(labels_file, instances_file, work, size, limits)
    else:
        folders = street_example_dirs()
        if not example or example not in folders:
            raise UserError(f"give labels_file or one of the examples: {', '.join(folders) or 'none installed'}")
        vol = load_example(folders[example], size, limits)
    for a, b in parse_relabel(relabel):
        op = Op("class", b, from_id=a)
        apply_op(vol.labels, vol.instances, op)
        vol.ops.append(op)
    return vol


def _report(ev: dict, **more) -> dict:
    keys = ("frames", "total", "seconds", "frames_per_s", "stopped")
    out = {k: (round(ev[k], 3) if isinstance(ev[k], float) else ev[k]) for k in keys if k in ev}
    out.update(more)
    return out


def _last(events):
    final = None
    for ev in events:
        if ev["event"] == "done":
            final = ev
    return final


def build(limits: Limits) -> None:
    """Hidden components and triggers carrying the named endpoints (call inside the Blocks)."""

    @user_facing
    def synthesize_street(example: str, labels_file, instances_file, relabel: str, seed, model: str,
                          progress=gr.Progress()):
        work = session.new_dir(API_DIR_PREFIX)
        vol = _volume(example, labels_file, instances_file, relabel, model, work, limits)
        ev = _last(run_street(vol, model or None, work, "street", limits, seed=seed, progress=progress))
        return str(ev["video"]), _report(ev, size=list(vol.size), name=vol.name, seed=int(seed or 0),
                                         edits=[op.describe() for op in vol.ops])

    @user_facing
    def reroll_style(example: str, labels_file, instances_file, relabel: str, seed, rerolls: str, model: str,
                     progress=gr.Progress()):
        work = session.new_dir(API_DIR_PREFIX)
        vol = _volume(example, labels_file, instances_file, relabel, model, work, limits)
        total = min(vol.num_frames, limits.max_frames)
        objects, _ = list_objects(vol, total)
        known = {o["id"] for o in objects}
        wanted = parse_rerolls(rerolls)
        unknown = sorted(set(wanted) - known)
        if unknown:
            raise UserError(f"track ids {unknown} are not in this video; the report of a call without rerolls "
                            "lists them under 'objects'")
        ev = _last(run_street(vol, model or None, work, "style", limits, seed=seed, rerolls=wanted,
                              progress=progress, require_style=True))
        objs = [{k: o[k] for k in ("id", "class", "first_frame", "last_frame", "frames")} for o in objects]
        return str(ev["video"]), _report(ev, seed=int(seed or 0), rerolls={str(k): v for k, v in wanted.items()},
                                         objects=objs)

    @user_facing
    def extract_pose(video, model: str, progress=gr.Progress()):
        if not video:
            raise UserError("give a dance clip (video)")
        work = session.new_dir(API_DIR_PREFIX)
        ev = _last(motion_tab.extract(video, model or None, work, limits, progress=progress))
        return str(ev["skeleton"]), _report(ev, fps=ev["fps"], detected=ev["detected"],
                                            size=[int(ev["poses"].shape[2]), int(ev["poses"].shape[1])])

    @user_facing
    def transfer_motion(video, model: str, procedural: bool, progress=gr.Progress()):
        if not video and not procedural:
            raise UserError("give a dance clip (video) or set procedural=True")
        work = session.new_dir(API_DIR_PREFIX)
        pose = _last(motion_tab.extract(None if procedural else video, model or None, work, limits,
                                        progress=progress))
        ev = _last(motion_tab.transfer(pose["poses"], pose["fps"], pose["driving"], model or None, work, "dance",
                                       limits, progress=progress))
        sbs = ev["extras"].get("side_by_side")
        return str(ev["video"]), str(sbs) if sbs else None, _report(ev, detected=pose["detected"], fps=pose["fps"])

    with gr.Column(visible=False):
        example = gr.Textbox(label="example")
        labels_file = gr.File(label="labels_file")
        instances_file = gr.File(label="instances_file")
        relabel = gr.Textbox(label="relabel")
        seed = gr.Number(0, label="seed", precision=0)
        rerolls = gr.Textbox(label="rerolls")
        model = gr.Textbox(label="model")
        video = gr.File(label="video")
        procedural = gr.Checkbox(False, label="procedural")
        out_video = gr.File(label="video")
        out_extra = gr.File(label="side_by_side")
        report = gr.JSON(label="report")
        trigger = gr.Button("api")
    common = {"concurrency_id": "synthesis", "show_progress": "hidden"}
    trigger.click(synthesize_street, [example, labels_file, instances_file, relabel, seed, model],
                  [out_video, report], api_name="synthesize_street", **common)
    trigger.click(reroll_style, [example, labels_file, instances_file, relabel, seed, rerolls, model],
                  [out_video, report], api_name="reroll_style", **common)
    trigger.click(extract_pose, [video, model], [out_video, report], api_name="extract_pose", **common)
    trigger.click(transfer_motion, [video, model, procedural], [out_video, out_extra, report],
                  api_name="transfer_motion", **common)

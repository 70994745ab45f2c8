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
* ``seed``: a whole number 0..2147483647 (checked before any work).
* ``model``: a model name (empty: the first one of that kind).
* ``procedural``: True drives the dancer with the built-in procedural dance (no video needed).

Every input has a default (``example``: the first shipped scene; files: none; texts: empty; ``seed``: 0;
``procedural``: False), so ``client.predict(handle_file("dance.mp4"), api_name="/extract_pose")`` works.

Every report is a JSON object with ``frames``, ``seconds``, ``frames_per_s`` and what the endpoint did
(``/transfer_motion`` also gives ``pose_seconds``, the time of the pose extraction before it). Bad input comes back
as an error with a one-line message.
"""
from __future__ import annotations

from pathlib import Path

import gradio as gr

from v2v.errors import UserError

from . import motion_tab, session
from .common import check_seed
from .editing import Op, apply_op, parse_relabel
from .errors import user_facing
from .examples import street_example_dirs
from .limits import Limits
from .models import resolve
from .street_tab import run_street, working_size
from .style_tab import list_objects
from .uploads import load_example, load_upload

API_DIR_PREFIX = "api"


def parse_rerolls(text: str | None) -> dict[int, int]:
    """"3:17, 100021:5" -> {3: 17, 100021: 5}; every seed a valid seed (see :func:`app.common.check_seed`)."""
    out = {}
    for part in (text or "").replace(";", ",").split(","):
        part = part.strip()
        if not part:
            continue
        try:
            tid, seed = (int(v) for v in part.split(":"))
        except ValueError:
            raise UserError(f"reroll {part!r} must look like TRACK_ID:SEED, e.g. 3:17") from None
        out[tid] = check_seed(seed, f"reroll {part!r}: the seed")
    return out


def _check_street_inputs(example: str, labels_file, relabel: str, model: str) -> list[tuple[int, int]]:
    """What can be checked before loading anything: the model, the example name and the relabel text."""
    resolve("street", model or None)
    if not labels_file:
        folders = street_example_dirs()
        if not example or example not in folders:
            raise UserError(f"give labels_file or one of the examples: {', '.join(folders) or 'none installed'}")
    return parse_relabel(relabel)


def _volume(example: str, labels_file, instances_file, pairs: list[tuple[int, int]], model: str, work: Path,
            limits: Limits):
    size = working_size(model or None)
    if labels_file:
        vol = load_upload(labels_file, instances_file, work, size, limits)
    else:
        vol = load_example(street_example_dirs()[example], size, limits)
    for a, b in pairs:
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
    def synthesize_street(example: str = "", labels_file=None, instances_file=None, relabel: str = "", seed=0,
                          model: str = "", progress=gr.Progress()):
        seed = check_seed(seed)
        pairs = _check_street_inputs(example, labels_file, relabel, model)
        work = session.new_dir(API_DIR_PREFIX)
        vol = _volume(example, labels_file, instances_file, pairs, model, work, limits)
        ev = _last(run_street(vol, model or None, work, "street", limits, seed=seed, progress=progress))
        return str(ev["video"]), _report(ev, size=list(vol.size), name=vol.name, seed=seed,
                                         edits=[op.describe() for op in vol.ops])

    @user_facing
    def reroll_style(example: str = "", labels_file=None, instances_file=None, relabel: str = "", seed=0,
                     rerolls: str = "", model: str = "", progress=gr.Progress()):
        seed = check_seed(seed)
        wanted = parse_rerolls(rerolls)
        pairs = _check_street_inputs(example, labels_file, relabel, model)
        work = session.new_dir(API_DIR_PREFIX)
        vol = _volume(example, labels_file, instances_file, pairs, model, work, limits)
        total = min(vol.num_frames, limits.max_frames)
        objects, _ = list_objects(vol, total)
        known = {o["id"] for o in objects}
        unknown = sorted(set(wanted) - known)
        if unknown:
            raise UserError(f"track ids {unknown} are not in this video; the report of a call without rerolls "
                            "lists them under 'objects'")
        ev = _last(run_street(vol, model or None, work, "style", limits, seed=seed, rerolls=wanted,
                              progress=progress, require_style=True))
        objs = [{k: o[k] for k in ("id", "class", "first_frame", "last_frame", "frames")} for o in objects]
        return str(ev["video"]), _report(ev, seed=seed, rerolls={str(k): v for k, v in wanted.items()},
                                         objects=objs)

    @user_facing
    def extract_pose(video=None, model: str = "", progress=gr.Progress()):
        if not video:
            raise UserError("give a dance clip (video)")
        resolve("pose", model or None)
        work = session.new_dir(API_DIR_PREFIX)
        ev = _last(motion_tab.extract(video, model or None, work, limits, progress=progress))
        return str(ev["skeleton"]), _report(ev, fps=ev["fps"], detected=ev["detected"],
                                            size=[int(ev["poses"].shape[2]), int(ev["poses"].shape[1])])

    @user_facing
    def transfer_motion(video=None, model: str = "", procedural: bool = False, progress=gr.Progress()):
        if not video and not procedural:
            raise UserError("give a dance clip (video) or set procedural=True")
        resolve("pose", model or None)
        work = session.new_dir(API_DIR_PREFIX)
        pose = _last(motion_tab.extract(None if procedural else video, model or None, work, limits,
                                        progress=progress))
        ev = _last(motion_tab.transfer(pose["poses"], pose["fps"], pose["driving"], model or None, work, "dance",
                                       limits, progress=progress))
        sbs = ev["extras"].get("side_by_side")
        return str(ev["video"]), str(sbs) if sbs else None, _report(ev, detected=pose["detected"], fps=pose["fps"],
                                                                    pose_seconds=round(pose["seconds"], 3))

    # every input has a value, which gradio_client takes as the parameter's default (files: the handlers' None)
    examples = list(street_example_dirs())
    with gr.Column(visible=False):
        example = gr.Textbox(examples[0] if examples else "", label="example")
        labels_file = gr.File(label="labels_file")
        instances_file = gr.File(label="instances_file")
        relabel = gr.Textbox("", label="relabel")
        seed = gr.Number(0, label="seed", precision=0)
        rerolls = gr.Textbox("", label="rerolls")
        model = gr.Textbox("", label="model")
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

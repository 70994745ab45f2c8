"""An input clip continued by predicted frames, so one synthesis run renders the observed and the predicted future.

``with_future(clip, future, method)`` streams the clip's frames unchanged while it keeps the last few label (and
instance) maps, at the size the clip yields them, which is the size synthesis runs at; after the last frame it
predicts ``future`` more and yields them like input frames. The generator's recurrence therefore runs on through
the boundary: the first predicted frame is generated from the last generated ones, as any next frame would be.
"""
from __future__ import annotations

from collections import deque
from typing import Iterator

import numpy as np
import torch

from .. import kinds
from ..errors import UserError
from ..inputs.clip import InputClip
from . import Predictor, check_future, make_predictor, predict_labels


def with_future(clip: InputClip, future: int, method: str | Predictor = "flow", **options) -> InputClip:
    """``clip`` (a street clip) followed by ``future`` frames predicted with ``method`` (see :mod:`v2v.predict`)."""
    future = check_future(future)
    predictor = make_predictor(method, **options)
    if not kinds.get(clip.kind).predicts:
        raise UserError(f"future prediction needs street label maps (class ids); this is {clip.kind} input "
                        f"({clip.description})")
    if clip.num_frames is not None and clip.num_frames < predictor.min_context:
        raise UserError(f"prediction method {predictor.name!r} needs at least {predictor.min_context} input "
                        f"frames, the input has {clip.num_frames}; give a longer input or use method 'copy'")

    def reader() -> Iterator[dict]:
        labels: deque = deque(maxlen=predictor.context)
        instances: deque = deque(maxlen=predictor.context)
        for item in clip.reader():
            labels.append(item["labels"][0].numpy().astype(np.uint8))
            instances.append(None if item.get("instances") is None else item["instances"][0].numpy())
            yield item
        have_instances = bool(instances) and all(i is not None for i in instances)
        pred_labels, pred_instances = predict_labels(list(labels), list(instances) if have_instances else None,
                                                     future, predictor)
        for k, lab in enumerate(pred_labels):
            inst = None
            if pred_instances is not None:
                inst = torch.from_numpy(pred_instances[k].astype(np.int64)).unsqueeze(0)
            yield {"labels": torch.from_numpy(lab.astype(np.int64)).unsqueeze(0), "instances": inst, "mask": None}

    total = None if clip.num_frames is None else clip.num_frames + future
    return InputClip(clip.kind, clip.size, clip.fps, total,
                     f"{clip.description} + {future} frames predicted ({predictor.name})", reader,
                     list(clip.warnings))

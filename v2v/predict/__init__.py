"""Future label-map prediction (the first half of the paper's future video prediction, section 4).

``predict_labels(labels, instances, future, method)`` rolls a street scene forward ``future`` frames from its last
observed Cityscapes label maps; the video generator then synthesises the predicted maps like any other input
(:func:`v2v.predict.clip.with_future`, ``v2v synthesize --future N``). Methods (``METHODS``):

* ``copy`` (:mod:`.copy_last`): repeat the last frame, the baseline;
* ``flow`` (:mod:`.extrapolate`): constant-velocity extrapolation of the DIS flow between the last two label
  maps, pushed forward with a class depth order (:mod:`.splat`, :mod:`.depth_order`).

A new method (a learned predictor) subclasses :class:`Predictor` and calls :func:`register_method`; everything
else (the CLI, synthesis, the benchmark) finds it by name.
"""
from __future__ import annotations

import numpy as np

from ..labels import CITYSCAPES, LabelSet
from .base import METHODS, Frames, Predictor, check_future, check_observed, make_predictor, register_method
from .copy_last import CopyLast
from .extrapolate import FlowExtrapolation

register_method(CopyLast.name, CopyLast)
register_method(FlowExtrapolation.name, FlowExtrapolation)

__all__ = ["METHODS", "Predictor", "predict_labels", "make_predictor", "register_method", "check_future"]


def predict_labels(labels: list[np.ndarray], instances: list[np.ndarray] | None, future: int,
                   method: str | Predictor = "flow", label_set: LabelSet = CITYSCAPES, **options
                   ) -> tuple[Frames, Frames | None]:
    """The next ``future`` frames after the observed ``labels`` ((H, W) Cityscapes label ids, oldest first) and
    their ``instances`` (or None): a list of ``future`` (H, W) uint8 label maps and a list of int32 instance maps
    (None without instances). ``method`` is a name in :data:`METHODS` (``options`` go to its constructor) or a
    :class:`Predictor`. Bad input (too few frames, sizes that differ, ids outside the label set, ``future`` < 1,
    an unknown method) raises :class:`v2v.errors.UserError`."""
    future = check_future(future)
    predictor = make_predictor(method, **options)
    labels, instances = check_observed(labels, instances, predictor, label_set)
    return predictor.predict(labels, instances, future)

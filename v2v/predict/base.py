"""The label-map predictor interface and the registry of prediction methods.

A predictor rolls a street scene forward: from the last observed Cityscapes label maps (and instance maps, when
there are any) it makes the label maps of the next ``future`` frames. This is the first half of the paper's
future video prediction (section 4): the predicted label maps are then synthesised by the video generator like any
other input.

Every method is a :class:`Predictor` subclass registered by name in :data:`METHODS`. A method states how many
observed frames it reads (``context``: at most the last ``context`` frames) and needs (``min_context``; fewer is
an error) and implements :meth:`Predictor.predict`. Input checking lives here, once, so every method receives
well-formed frames and only has to predict: the untrained ones now, and a learned one later, e.g.
``register_method("learned", LearnedPredictor)`` with a constructor that loads its checkpoint
(``make_predictor("learned", checkpoint=...)``) and a ``context`` of as many frames as it was trained on.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from ..errors import UserError
from ..labels import CITYSCAPES, LabelSet

Frames = list[np.ndarray]


class Predictor:
    """Base class of the prediction methods. Subclasses set ``name``, ``context`` and ``min_context`` and
    implement ``predict``."""

    name: str = ""
    context: int = 1  # observed frames read: at most the last `context`
    min_context: int = 1  # observed frames needed

    def predict(self, labels: Frames, instances: Frames | None, future: int) -> tuple[Frames, Frames | None]:
        """``future`` predicted (H, W) uint8 label maps (and int32 instance maps when ``instances`` is given) from
        ``min_context`` to ``context`` observed frames (oldest first), which :func:`check_observed` has checked."""
        raise NotImplementedError


METHODS: dict[str, Callable[..., Predictor]] = {}


def register_method(name: str, factory: Callable[..., Predictor]) -> None:
    """Make ``factory(**options)`` available as method ``name`` (to :func:`make_predictor`, the CLI, the bench)."""
    METHODS[name] = factory


def make_predictor(method: str | Predictor, **options) -> Predictor:
    """A predictor by method name (with its options), or ``method`` itself when it already is one."""
    if isinstance(method, Predictor):
        return method
    if method not in METHODS:
        raise UserError(f"unknown prediction method {method!r}; choose one of {', '.join(sorted(METHODS))}")
    return METHODS[method](**options)


def check_future(future) -> int:
    """``future`` as an int >= 1, else a UserError."""
    if isinstance(future, bool) or not isinstance(future, (int, np.integer)) or int(future) < 1:
        raise UserError(f"the number of future frames must be a whole number of at least 1, got {future!r}")
    return int(future)


def check_observed(labels, instances, predictor: Predictor, label_set: LabelSet = CITYSCAPES
                   ) -> tuple[Frames, Frames | None]:
    """The last ``predictor.context`` observed frames (or all, when fewer) as uint8 label maps and int32 instance
    maps, after checking that there are at least ``predictor.min_context`` of them, that they are (H, W) class-id
    maps of one size, and that the instance maps (if any) match them one to one."""
    labels = [np.asarray(a) for a in labels]
    if instances is not None:
        instances = [np.asarray(a) for a in instances]
        if len(instances) != len(labels):
            raise UserError(f"{len(instances)} instance maps for {len(labels)} label maps; give one per frame")
    if len(labels) < predictor.min_context:
        raise UserError(f"prediction method {predictor.name!r} needs at least {predictor.min_context} observed "
                        f"frame{'s' if predictor.min_context > 1 else ''}, got {len(labels)}; give a longer input or "
                        "use method 'copy'")
    labels = labels[-predictor.context:]
    shape = labels[0].shape
    for a in labels:
        if a.ndim != 2 or not np.issubdtype(a.dtype, np.integer):
            raise UserError(f"label maps must be (H, W) integer class ids, got {a.dtype} {a.shape}; prediction works "
                            "on street label maps, not on pose or face maps")
        if a.shape != shape:
            raise UserError(f"observed label maps differ in size: {shape[::-1]} and {a.shape[::-1]} (W, H)")
        if a.size and (int(a.min()) < 0 or int(a.max()) >= label_set.num_classes):
            bad = sorted(set(np.unique(a).tolist()) - set(range(label_set.num_classes)))[:8]
            raise UserError(f"label ids {bad} are outside label set {label_set.name!r} "
                            f"(0..{label_set.num_classes - 1}); use labelIds, not trainIds or colours")
    if instances is None:
        return [a.astype(np.uint8) for a in labels], None
    instances = instances[-predictor.context:]
    for a in instances:
        if a.shape != shape:
            raise UserError(f"an instance map is {a.shape[::-1]} (W, H) but the label maps are {shape[::-1]}")
    return [a.astype(np.uint8) for a in labels], [a.astype(np.int32) for a in instances]

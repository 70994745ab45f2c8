"""Method "copy": the scene stands still; every future frame repeats the last observed one.

The baseline every other method must beat: at short horizons little changes, so it is already hard to beat there.
"""
from __future__ import annotations

from .base import Frames, Predictor


class CopyLast(Predictor):
    name = "copy"
    context = 1

    def predict(self, labels: Frames, instances: Frames | None, future: int) -> tuple[Frames, Frames | None]:
        pred_labels = [labels[-1].copy() for _ in range(future)]
        pred_instances = None if instances is None else [instances[-1].copy() for _ in range(future)]
        return pred_labels, pred_instances

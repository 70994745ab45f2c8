"""The spatio-temporally progressive schedule and the learning-rate schedule, as pure functions of the step."""
from __future__ import annotations

from .config import ScheduleConfig


def num_frames(s: ScheduleConfig, step: int) -> int:
    """Frames per training sequence: doubles every ``n_frames_double_every`` steps up to the cap."""
    if s.n_frames_double_every <= 0:
        return s.n_frames_start
    return min(s.n_frames_start * 2 ** (step // s.n_frames_double_every), s.n_frames_max)


def active_scales(s: ScheduleConfig, step: int, n_scales: int) -> int:
    """Spatial scales trained at ``step``: the coarsest first, one more every ``scale_every`` steps."""
    if s.scale_every <= 0:
        return n_scales
    return min(1 + step // s.scale_every, n_scales)


def frozen_scales(s: ScheduleConfig, step: int, n_scales: int) -> int:
    """Coarser scales held fixed while a newly added scale trains alone (the reference's niter_fix_global)."""
    k = active_scales(s, step, n_scales)
    if k <= 1 or s.new_scale_only <= 0:
        return 0
    added_at = (k - 1) * s.scale_every
    return k - 1 if step - added_at < s.new_scale_only else 0


def lr_factor(s: ScheduleConfig, step: int, max_steps: int, time_fraction: float = 0.0) -> float:
    """Constant, then linear decay to 0 at the end of the run (applied to every optimiser, temporal Ds included).
    The run's progress is the larger of step / max_steps and the share of a wall-time budget spent."""
    progress = max(step / max_steps, time_fraction)
    if progress < s.lr_decay_start or s.lr_decay_start >= 1.0:
        return 1.0
    return max(0.0, 1.0 - (progress - s.lr_decay_start) / (1.0 - s.lr_decay_start))

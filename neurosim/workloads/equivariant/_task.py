"""What an equivariant workload returns: its data and its own error measure."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from torch import Tensor

from ..teacher_student import Dataset

__all__ = ["EquivariantTask"]


@dataclass(frozen=True)
class EquivariantTask:
    """A dataset plus the task's own error measure on the test set.

    ``task_error(s_out)`` takes the relaxed output states of ``data.x_test`` (all rows) and
    returns the task error: MSE over target coordinates (regression, averaged over frames
    for ``nbody_frames``) or the error rate (classification).
    """

    data: Dataset
    task_error: Callable[[Tensor], float]
    metadata: dict[str, object] = field(default_factory=dict)

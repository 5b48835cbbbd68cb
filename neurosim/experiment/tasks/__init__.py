"""Tasks: what ``workload.task`` names — data, network and readout built from a config.

:class:`AbstractTask` is the interface and :data:`TASKS` the registry
(``register_task`` adds your own): ``teacher_student``, ``mnist``, ``digits``
(:mod:`._supervised`) and the equivariant ``spherical``, ``nbody_frames``,
``affine_lifted`` (:mod:`._equivariant`).
"""

from ._base import (
    TASKS as TASKS,
    AbstractTask as AbstractTask,
    TaskBuild as TaskBuild,
    TaskData as TaskData,
    dense_network as dense_network,
    get_task as get_task,
    register_task as register_task,
)
from ._equivariant import (
    AffineLifted as AffineLifted,
    NBodyFrames as NBodyFrames,
    Spherical as Spherical,
)
from ._supervised import MNIST as MNIST, Digits as Digits, TeacherStudent as TeacherStudent

__all__ = [
    "AbstractTask",
    "TASKS",
    "TaskBuild",
    "TaskData",
    "dense_network",
    "get_task",
    "register_task",
    "AffineLifted",
    "Digits",
    "MNIST",
    "NBodyFrames",
    "Spherical",
    "TeacherStudent",
]

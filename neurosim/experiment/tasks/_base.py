r"""What a task is: it builds its data, its network and its readout from a config.

A task is what ``workload.task`` names. :class:`AbstractTask` turns a config
into a :class:`TaskBuild` — the relaxation network, the dataset (targets as the
cost needs them), the cost with its readout, and the task's own error measure —
and states, in :meth:`AbstractTask.check`, every rule its data and network put
on the config (layer sizes, dataset size, batch, cost). The config runs that
check at validation, so ``neurosim validate`` refuses what building would.

Random streams are named: the network's initial weights come from
``stream(seed, "network")``, the data from ``derive_seed(seed, "data")``, the
readout from ``stream(seed, "readout")`` (:mod:`neurosim.seeds`).

Adding a task: subclass, set ``name``, implement :meth:`AbstractTask.data` (and
override :meth:`~AbstractTask.network` or :meth:`~AbstractTask.check` where the
defaults do not fit), and ``register_task`` it; ``docs/guides/custom_device.md``
has a worked example that the tests run.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import torch
from torch import Tensor

from ...learning import AbstractLoss, get_loss
from ...registry import Registry
from ...schema import FieldError
from ...seeds import derive_seed, stream
from ...substrate import LayeredNetwork
from ...workloads import Dataset

if TYPE_CHECKING:
    from ..config import Config

__all__ = [
    "AbstractTask",
    "TASKS",
    "TaskBuild",
    "TaskData",
    "dense_network",
    "get_task",
    "register_task",
]


@dataclass(frozen=True)
class TaskData:
    """A task's dataset (class labels as integers) and its own test error, if any.

    ``task_error(s_out)`` maps the relaxed output states of ``data.x_test`` to the
    task's error (MSE of a frame-averaged prediction, …); None: the runner reports
    1 − accuracy for classification and NaN for regression.
    """

    data: Dataset
    task_error: Callable[[Tensor], float] | None = None


@dataclass(frozen=True)
class TaskBuild:
    """Everything a task contributes to a run."""

    network: LayeredNetwork
    """The relaxation network (ideal hardware, angle ``feedback.alpha``)."""
    data: Dataset
    """Train and test splits; targets one-hot for a regression cost on class labels."""
    loss: AbstractLoss
    """The cost ``workload.loss`` on the network's output layer (with its readout)."""
    task_error: Callable[[Tensor], float] | None
    """See :class:`TaskData`."""


def dense_network(
    config: Config, sizes, generator: torch.Generator, dtype: torch.dtype
) -> LayeredNetwork:
    """The config's dense layered network on widths ``sizes`` (input first): activation,
    initial gain and biases from ``[network]``, the feedback angle from ``[feedback]``."""
    net = config.network
    return LayeredNetwork.dense(
        sizes,
        activation=net.activation,
        alpha=config.feedback.alpha,
        gain=net.init_gain,
        bias=net.bias,
        generator=generator,
        dtype=dtype,
    )


class AbstractTask(ABC):
    """A workload: data, network and readout from a config, and the rules it puts on it.

    Attributes
    ----------
    name : str
        Registry key (``workload.task``).
    input_size : int or None
        The input width the data fixes (``network.sizes[0]``), None if the config sets it.
    n_classes : int or None
        Classes of a labelled dataset, None for regression (or when the config sets it:
        override :meth:`classes`).
    max_examples : int or None
        Most ``n_train + n_test`` the data holds (None: generated, unlimited).
    """

    name: ClassVar[str]
    input_size: ClassVar[int | None] = None
    n_classes: ClassVar[int | None] = None
    max_examples: ClassVar[int | None] = None

    # -- what the config must satisfy ---------------------------------------------------
    def classes(self, config: Config) -> int | None:
        """Number of classes of the labels (None: real-valued targets)."""
        return self.n_classes

    def train_rows(self, config: Config) -> int:
        """Rows of the training set (``n_train``; more when one example gives several rows)."""
        return config.workload.n_train

    def dense(self, config: Config) -> bool:
        """Whether every connection of :meth:`network` is a dense layer."""
        return True

    def check(self, config: Config) -> None:
        """Raise :class:`~neurosim.schema.FieldError` (a root-relative key) for a config this
        task cannot build. The default checks the cost, the sizes the data fixes, the
        dataset size and the batch."""
        wl, sizes = config.workload, list(config.network.sizes)
        task = f'workload.task = "{self.name}"'
        classification = get_loss(wl.loss).classification
        n_classes = self.classes(config)
        if classification and n_classes is None:
            raise FieldError(
                "workload.loss",
                f'{task} is a regression and workload.loss = "{wl.loss}" needs class labels; '
                'allowed: "mse"',
            )
        one_hot = not classification and n_classes is not None
        wrong_in = self.input_size is not None and sizes[0] != self.input_size
        if wrong_in or (one_hot and sizes[-1] != n_classes):
            need = [] if self.input_size is None else [f"network.sizes[0] = {self.input_size}"]
            if one_hot:
                need.append(f"sizes[-1] = {n_classes} (one-hot MSE targets)")
            raise FieldError(
                "network.sizes", f"{task} needs {' and '.join(need)}, got sizes = {sizes}"
            )
        if self.max_examples is not None and wl.n_train + wl.n_test > self.max_examples:
            raise FieldError(
                "workload.n_train",
                f"{task} holds {self.max_examples} examples, got n_train + n_test = "
                f"{wl.n_train} + {wl.n_test}; allowed: n_train + n_test <= {self.max_examples}",
            )
        rows = self.train_rows(config)
        if wl.batch > rows:
            raise FieldError(
                "workload.batch",
                f"workload.batch = {wl.batch} exceeds the {rows} training rows of {task}; "
                f"allowed: 1 <= batch <= {rows}",
            )

    # -- building -----------------------------------------------------------------------
    @abstractmethod
    def data(self, config: Config, dtype: torch.dtype) -> TaskData:
        """The dataset (seeded by ``derive_seed(config.seed, "data")`` where generated)."""

    def network(
        self, config: Config, data: Dataset, generator: torch.Generator, dtype: torch.dtype
    ) -> LayeredNetwork:
        """The relaxation network; by default dense on ``network.sizes``."""
        return dense_network(config, config.network.sizes, generator, dtype)

    def build(self, config: Config, dtype: torch.dtype) -> TaskBuild:
        """Data, network and cost of a validated ``config``."""
        task = self.data(config, dtype)
        data = task.data
        loss_cls = get_loss(config.workload.loss)
        if not loss_cls.classification and data.n_classes is not None:
            hot = lambda y: torch.nn.functional.one_hot(y, data.n_classes).to(dtype)  # noqa: E731
            data = Dataset(
                data.x_train, hot(data.y_train), data.x_test, hot(data.y_test), data.n_classes
            )
        network = self.network(config, data, stream(config.seed, "network"), dtype)
        loss = loss_cls.for_output(
            network.shapes[-1],
            data.n_classes,
            generator=stream(config.seed, "readout"),
            dtype=dtype,
        )
        return TaskBuild(network, data, loss, task.task_error)

    @staticmethod
    def data_seed(config: Config) -> int:
        """The seed of generated data: ``derive_seed(config.seed, "data")``."""
        return derive_seed(config.seed, "data")


TASKS: Registry[type[AbstractTask]] = Registry("task")
"""Tasks by name: the values ``workload.task`` accepts."""


def register_task(cls: type[AbstractTask]) -> type[AbstractTask]:
    """Add a task class under its ``name`` (usable as a class decorator)."""
    if not (isinstance(cls, type) and issubclass(cls, AbstractTask)):
        raise TypeError(f"register_task needs an AbstractTask subclass, got {cls!r}")
    return TASKS.register(cls)


def get_task(name: str) -> AbstractTask:
    """An instance of the task registered as ``name``."""
    return TASKS.get(name)()

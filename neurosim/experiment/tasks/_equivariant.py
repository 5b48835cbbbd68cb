r"""The equivariant tasks (:mod:`neurosim.workloads.equivariant`) as ordinary tasks.

``network.sizes`` keeps its meaning of "widths, input first, output last":

==================  ===========================================================================
task                network
==================  ===========================================================================
``spherical``       :func:`~neurosim.substrate.equivariant.gaunt_network`; sizes = channels
                    ``[C_in, C_1, …, n_out]`` of irreps layers ``(C, (lmax+1)²)``, invariant
                    output ``(n_out, 1)``; ``workload.lmax`` the degree; biases on l = 0 only
                    (inside the maps, whatever ``network.bias`` says). Regression.
``nbody_frames``    dense, ``sizes = [35, …, 15]`` (5 particles), one row per frame element
                    (8 per system: ``n_train`` and ``n_test`` count systems). Regression.
``affine_lifted``   dense on the lifting features, ``sizes[0] = 2 × lifting channels``
                    (a mean and a max per channel). ``workload.lifting = "trained"``: the
                    clamped input is the image and connection 1 is a
                    :class:`~neurosim.substrate.ModuleConnection` around
                    :func:`~neurosim.workloads.equivariant.affine_lifting_map` (lifting
                    conv, pooling, linear to sizes[1]); the rest is dense.
==================  ===========================================================================
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from ...schema import FieldError
from ...substrate import Dense, LayeredNetwork, ModuleConnection, gaunt_network
from ...workloads import MNIST5K_SIZE, Dataset
from ...workloads.equivariant import (
    affine_lifted,
    affine_lifting_map,
    nbody_frames,
    spherical_molecules,
)
from ._base import AbstractTask, TaskData, dense_network, register_task

if TYPE_CHECKING:
    from ..config import Config

__all__ = ["AffineLifted", "NBodyFrames", "Spherical"]


@register_task
class Spherical(AbstractTask):
    """``spherical``: invariant regression on SH-embedded point clouds, Gaunt network."""

    name = "spherical"

    def dense(self, config: Config) -> bool:
        return False

    def data(self, config: Config, dtype: torch.dtype) -> TaskData:
        wl, sizes = config.workload, config.network.sizes
        task = spherical_molecules(
            n_train=wl.n_train,
            n_test=wl.n_test,
            lmax=wl.lmax,
            channels=sizes[0],
            n_out=sizes[-1],
            seed=self.data_seed(config),
            dtype=dtype,
        )
        return TaskData(task.data, task.task_error)

    def network(self, config, data, generator, dtype) -> LayeredNetwork:
        net = config.network
        return gaunt_network(
            list(net.sizes),
            config.workload.lmax,
            activation=net.activation,
            alpha=config.feedback.alpha,
            gain=net.init_gain,
            generator=generator,
            dtype=dtype,
        )


@register_task
class NBodyFrames(AbstractTask):
    """``nbody_frames``: charged n-body forecasting, frame-averaged (one row per frame element)."""

    name = "nbody_frames"
    input_size = 35
    output_size = 15
    rows_per_system = 8
    """Elements of the E(3) PCA frame of a generic cloud: the training rows per system."""

    def check(self, config: Config) -> None:
        sizes = list(config.network.sizes)
        if (sizes[0], sizes[-1]) != (self.input_size, self.output_size):
            raise FieldError(
                "network.sizes",
                f'workload.task = "{self.name}" needs network.sizes = [35, ..., 15] '
                f"(5 particles), got {sizes}",
            )
        super().check(config)

    def train_rows(self, config: Config) -> int:
        return self.rows_per_system * config.workload.n_train

    def data(self, config: Config, dtype: torch.dtype) -> TaskData:
        wl = config.workload
        task = nbody_frames(
            n_train=wl.n_train, n_test=wl.n_test, seed=self.data_seed(config), dtype=dtype
        )
        rows = task.data.x_train.shape[0]
        if rows != self.train_rows(config):  # the contract check() relies on
            raise RuntimeError(
                f"nbody_frames gave {rows} training rows for {wl.n_train} systems, "
                f"not {self.rows_per_system} per system (a degenerate frame)"
            )
        return TaskData(task.data, task.task_error)


@register_task
class AffineLifted(AbstractTask):
    """``affine_lifted``: affine digits through a GL⁺(2) lifting layer (``workload.lifting``)."""

    name = "affine_lifted"
    n_classes = 10
    max_examples = MNIST5K_SIZE

    def dense(self, config: Config) -> bool:
        return config.workload.lifting != "trained"

    def check(self, config: Config) -> None:
        sizes = list(config.network.sizes)
        if sizes[0] % 2:
            raise FieldError(
                "network.sizes",
                f'workload.task = "{self.name}" needs network.sizes[0] divisible by 2 '
                f"(2 x lifting channels), got {sizes}",
            )
        super().check(config)

    def data(self, config: Config, dtype: torch.dtype) -> TaskData:
        wl = config.workload
        task = affine_lifted(
            n_train=wl.n_train,
            n_test=wl.n_test,
            channels=config.network.sizes[0] // 2,
            lifting=wl.lifting,
            seed=self.data_seed(config),
            dtype=dtype,
        )
        return TaskData(task.data)

    def network(self, config, data: Dataset, generator, dtype) -> LayeredNetwork:
        sizes, net = list(config.network.sizes), config.network
        if config.workload.lifting != "trained":
            return dense_network(config, sizes, generator, dtype)
        lift = affine_lifting_map(
            data.x_train,
            sizes[1],
            channels=sizes[0] // 2,
            seed=self.data_seed(config),
            gain=net.init_gain,
            generator=generator,
        )
        shape = tuple(data.x_train.shape[1:])
        conns = [ModuleConnection(lift, shape, (sizes[1],), alpha=0.0, generator=generator)]
        conns += [
            Dense(
                a,
                b,
                alpha=config.feedback.alpha,
                gain=net.init_gain,
                generator=generator,
                dtype=dtype,
            )
            for a, b in zip(sizes[1:-1], sizes[2:], strict=True)
        ]
        return LayeredNetwork(conns, activation=net.activation, bias=net.bias)

"""Networks and data of the equivariant ``workload.task`` values (issue 9).

``network.sizes`` keeps its meaning of "widths, input first, output last":

==================  ===========================================================================
task                network
==================  ===========================================================================
``spherical``       :func:`~neurosim.substrate.equivariant.gaunt_network`; sizes = channels
                    ``[C_in, C_1, …, n_out]`` of irreps layers ``(C, (lmax+1)²)``, invariant
                    output ``(n_out, 1)``; ``workload.lmax`` the degree; biases on l = 0 only
                    (inside the maps, whatever ``network.bias`` says).
``nbody_frames``    dense, ``sizes = [35, …, 15]`` (5 particles), one row per frame element.
``affine_lifted``   dense on the lifting features, ``sizes[0] = 2 × lifting channels``
                    (a mean and a max per channel). ``workload.lifting = "trained"``: the
                    clamped input is the image and connection 1 is a
                    :class:`~neurosim.substrate.ModuleConnection` around
                    :func:`~neurosim.workloads.equivariant.affine_lifting_map` (lifting
                    conv, pooling, linear to sizes[1]); the rest is dense.
==================  ===========================================================================
"""

from __future__ import annotations

import torch

from ..substrate import Dense, LayeredNetwork, ModuleConnection
from ..substrate.equivariant import gaunt_network
from ..workloads.equivariant import (
    EquivariantTask,
    affine_lifted,
    affine_lifting_map,
    nbody_frames,
    spherical_molecules,
)
from .config import Config

__all__ = ["build_equivariant", "dense_network"]

NBODY_SIZES = (35, 15)


def build_equivariant(
    config: Config, generator: torch.Generator, dtype: torch.dtype
) -> tuple[LayeredNetwork, EquivariantTask]:
    """The network (ideal hardware, angle ``feedback.alpha``) and task of an equivariant config."""
    net_cfg, wl = config.network, config.workload
    sizes = list(net_cfg.sizes)
    seed = config.seed + 10_007
    classification = wl.loss == "cross_entropy"
    if wl.task == "spherical":
        if classification:
            raise ValueError(
                'workload.task = "spherical" is a regression: use workload.loss = "mse"'
            )
        task = spherical_molecules(
            n_train=wl.n_train,
            n_test=wl.n_test,
            lmax=wl.lmax,
            channels=sizes[0],
            n_out=sizes[-1],
            seed=seed,
            dtype=dtype,
        )
        network = gaunt_network(
            sizes,
            wl.lmax,
            activation=net_cfg.activation,
            alpha=config.feedback.alpha,
            gain=net_cfg.init_gain,
            generator=generator,
            dtype=dtype,
        )
        return network, task
    if wl.task == "nbody_frames":
        if classification or (sizes[0], sizes[-1]) != NBODY_SIZES:
            raise ValueError(
                'workload.task = "nbody_frames" needs workload.loss = "mse" and '
                f"network.sizes = [35, ..., 15], got {sizes} ({wl.loss})"
            )
        task = nbody_frames(n_train=wl.n_train, n_test=wl.n_test, seed=seed, dtype=dtype)
    elif wl.task == "affine_lifted":
        if sizes[0] % 2 or (not classification and sizes[-1] != 10):
            raise ValueError(
                'workload.task = "affine_lifted" needs network.sizes[0] divisible by 2 '
                "(2 x lifting channels) and sizes[-1] = 10 for one-hot MSE targets, got "
                f"{sizes}"
            )
        task = affine_lifted(
            n_train=wl.n_train,
            n_test=wl.n_test,
            channels=sizes[0] // 2,
            lifting=wl.lifting,
            seed=seed,
            dtype=dtype,
        )
        if not classification:
            d = task.data
            hot = lambda y: torch.nn.functional.one_hot(y, d.n_classes).to(dtype)  # noqa: E731
            task = EquivariantTask(
                type(d)(d.x_train, hot(d.y_train), d.x_test, hot(d.y_test), d.n_classes),
                task.task_error,
                task.metadata,
            )
    else:
        raise KeyError(f"not an equivariant task: {wl.task!r}")
    if wl.task == "affine_lifted" and wl.lifting == "trained":
        lift = affine_lifting_map(
            task.data.x_train,
            sizes[1],
            channels=sizes[0] // 2,
            seed=seed,
            gain=net_cfg.init_gain,
            generator=generator,
        )
        shape = tuple(task.data.x_train.shape[1:])
        conns = [ModuleConnection(lift, shape, (sizes[1],), alpha=0.0, generator=generator)]
        conns += [
            Dense(
                a,
                b,
                alpha=config.feedback.alpha,
                gain=net_cfg.init_gain,
                generator=generator,
                dtype=dtype,
            )
            for a, b in zip(sizes[1:-1], sizes[2:], strict=True)
        ]
        network = LayeredNetwork(conns, activation=net_cfg.activation, bias=net_cfg.bias)
        return network, task
    return dense_network(config, sizes, generator, dtype), task


def dense_network(
    config: Config, sizes, generator: torch.Generator, dtype: torch.dtype
) -> LayeredNetwork:
    """The config's dense layered network on widths ``sizes`` (input first): activation,
    initial gain and biases from ``[network]``, the feedback angle from ``[feedback]``."""
    net_cfg = config.network
    return LayeredNetwork.dense(
        sizes,
        activation=net_cfg.activation,
        alpha=config.feedback.alpha,
        gain=net_cfg.init_gain,
        bias=net_cfg.bias,
        generator=generator,
        dtype=dtype,
    )

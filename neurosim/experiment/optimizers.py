"""Optimizers by name: what ``training.optimizer`` names, built from ``[training]``."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

import torch

from ..registry import Registry

if TYPE_CHECKING:
    from .config import TrainingConfig

__all__ = ["OPTIMIZERS", "get_optimizer", "register_optimizer"]

OptimizerFactory = Callable[[Iterable[torch.Tensor], "TrainingConfig"], torch.optim.Optimizer]

OPTIMIZERS: Registry[OptimizerFactory] = Registry("optimizer")
"""Optimizer factories ``(parameters, training section) → torch optimizer``, by name."""


def register_optimizer(name: str, factory: OptimizerFactory) -> OptimizerFactory:
    """Add an optimizer factory under ``name``."""
    return OPTIMIZERS.register(factory, name=name)


def get_optimizer(
    name: str, params: Iterable[torch.Tensor], training: TrainingConfig
) -> torch.optim.Optimizer:
    """The optimizer called ``name`` over ``params``, set up from the ``[training]`` section."""
    return OPTIMIZERS.get(name)(params, training)


def _sgd(params, tr: TrainingConfig) -> torch.optim.Optimizer:
    """SGD with momentum μ = ``momentum``; ``weight_decay`` λ adds λθ to the gradient."""
    return torch.optim.SGD(params, lr=tr.lr, momentum=tr.momentum, weight_decay=tr.weight_decay)


def _adamw(params, tr: TrainingConfig) -> torch.optim.Optimizer:
    """AdamW with β₁ = ``momentum`` (β₂ = 0.999, torch's default) and decoupled ``weight_decay``."""
    return torch.optim.AdamW(
        params, lr=tr.lr, betas=(tr.momentum, 0.999), weight_decay=tr.weight_decay
    )


register_optimizer("sgd", _sgd)
register_optimizer("adamw", _adamw)

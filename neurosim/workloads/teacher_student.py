r"""Teacher–student synthetic tasks, generated locally from a seed.

A fixed random teacher, a two-layer tanh perceptron

.. math::  t(x) = W_2 \tanh(W_1 x + b_1) + b_2 ,\qquad x \sim U[0, 1]^{n_{in}},

labels the inputs. For regression the target is σ(t(x)) ∈ (0, 1)^{n_out} (the
range of sigmoid-like output states); for classification it is argmax t(x).
The teacher is not a relaxation network, so students do not start aligned with it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = ["Dataset", "teacher_student"]


@dataclass(frozen=True)
class Dataset:
    """Train and test splits; ``y`` holds targets ``(N, n_out)`` or class indices ``(N,)``."""

    x_train: Tensor
    y_train: Tensor
    x_test: Tensor
    y_test: Tensor
    n_classes: int | None = None

    def batches(self, batch: int, generator: torch.Generator):
        """One epoch of shuffled training mini-batches (the last partial batch is dropped)."""
        order = torch.randperm(self.x_train.shape[0], generator=generator)
        for i in range(0, order.numel() - batch + 1, batch):
            idx = order[i : i + batch]
            yield self.x_train[idx], self.y_train[idx]


def teacher_student(
    n_in: int,
    n_out: int,
    *,
    n_train: int,
    n_test: int,
    classification: bool = False,
    hidden: int = 32,
    seed: int = 0,
    dtype: torch.dtype = torch.float64,
) -> Dataset:
    """Draw a teacher and ``n_train + n_test`` labelled inputs from ``seed``."""
    gen = torch.Generator().manual_seed(seed)
    w1 = torch.randn(hidden, n_in, generator=gen, dtype=torch.float64) * (3.0 / n_in**0.5)
    b1 = torch.randn(hidden, generator=gen, dtype=torch.float64)
    w2 = torch.randn(n_out, hidden, generator=gen, dtype=torch.float64) * (2.0 / hidden**0.5)
    b2 = torch.randn(n_out, generator=gen, dtype=torch.float64) * 0.5
    x = torch.rand(n_train + n_test, n_in, generator=gen, dtype=torch.float64)
    t = torch.tanh(x @ w1.T + b1) @ w2.T + b2
    y = t.argmax(-1) if classification else torch.sigmoid(t).to(dtype)
    x = x.to(dtype)
    return Dataset(
        x[:n_train], y[:n_train], x[n_train:], y[n_train:], n_out if classification else None
    )

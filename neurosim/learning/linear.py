r"""Matrix-free linear fixed-point solves shared by the exact estimator and recurrent BP.

Both solve a linear system of the form :math:`v = b + A v` (A given as a
function) by the damped iteration of the substrate's own integrator,

.. math::  v_{k+1} = v_k + η\,(b + A v_k - v_k) ,

which converges whenever the relaxation it linearises converges.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from ..substrate import state_norm

__all__ = ["LinearSolveResult", "linear_fixed_point", "state_norm"]


@dataclass
class LinearSolveResult:
    v: list[Tensor]
    steps: int
    residual: Tensor
    converged: Tensor


def linear_fixed_point(
    apply_a: Callable[[list[Tensor]], list[Tensor]],
    b: Sequence[Tensor],
    *,
    eta: float,
    steps: int,
    tol: float,
    n_lead: int,
    check_every: int = 10,
) -> LinearSolveResult:
    """Iterate v ← v + η(b + A v − v) from v = 0 until ‖b + A v − v‖ ≤ tol per sample."""
    v = [torch.zeros_like(t) for t in b]
    res = state_norm(b, n_lead)
    for k in range(steps):
        av = apply_a(v)
        r = [bi + ai - vi for bi, ai, vi in zip(b, av, v, strict=True)]
        if (k + 1) % check_every == 0 or k == steps - 1:
            res = state_norm(r, n_lead)
            if not torch.isfinite(res).all():
                raise FloatingPointError(f"linear fixed-point iteration diverged at step {k}")
            if float(res.max()) <= tol:
                return LinearSolveResult(v, k, res, res <= tol)
        v = [vi + eta * ri for vi, ri in zip(v, r, strict=True)]
    return LinearSolveResult(v, steps, res, res <= tol)

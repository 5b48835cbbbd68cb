"""The exact derivative ds*/dβ by forward-mode differentiation (ground truth)."""

from __future__ import annotations

from typing import ClassVar

import torch

from ...schema import param
from ...substrate import vector_field
from ..linear import linear_fixed_point
from .base import AbstractEstimator, Estimate, register_estimator

__all__ = ["Exact"]


@register_estimator
class Exact(AbstractEstimator):
    r"""δ = ds*/dβ at β = 0 from the tangent of the relaxation (forward mode in β).

    Differentiating u* = Φ(ρ(u*)) + β g in β gives the tangent equation
    u̇ = Φ_s D u̇ + g, iterated with the substrate's own integrator using
    Jacobian–vector products (no matrix is formed), then δ = D u̇ =
    (I − DΦ_s)^{-1} D g. No nudge-size bias: the reference the other
    estimators are measured against. ``phase.tol`` is the tangent residual
    tolerance; it falls back to 1e-12 when the nudged phase has none.
    """

    max_steps: int = param(10_000, ge=1, units="steps")
    """Most iterations of the tangent equation (≥ 1)."""

    name: ClassVar[str] = "exact"
    nudged_relax: ClassVar[bool] = False
    bias_order: ClassVar[int | None] = None

    def estimate(self, network, x, free, nudge, phase) -> Estimate:
        bound = network.bind()
        h = bound.static_drive(x)
        u = [t.detach() for t in free.u]
        g = nudge(free.s[-1])
        b = [torch.zeros_like(t) for t in u[:-1]] + [g]

        def field(*v):
            return tuple(vector_field(network, bound, h, list(v))[0])

        def apply_a(du):  # Φ_s D du = J_F du + du
            _, jf = torch.func.jvp(field, tuple(u), tuple(du))
            return [a + b for a, b in zip(jf, du, strict=True)]

        tol = phase.tol if phase.tol > 0 else 1e-12
        n_lead = x.ndim - len(network.input_shape)
        sol = linear_fixed_point(
            apply_a,
            b,
            eta=phase.integrator.rate,
            steps=self.max_steps,
            tol=tol,
            n_lead=n_lead,
            check_every=phase.check_every,
        )
        delta = [d * v for d, v in zip(network.activate_derivative(u), sol.v, strict=True)]
        return Estimate(delta, sol.steps, sol.residual, sol.converged, 0)

"""Online holomorphic EP: one oscillating nudge, first harmonic integrated over time."""

from __future__ import annotations

import math
from typing import ClassVar

import torch

from ...schema import param
from ...substrate import vector_field
from ..linear import state_norm
from .base import AbstractEstimator, CircleNudge, Estimate, register_estimator

__all__ = ["OnlineHolomorphic"]


@register_estimator
class OnlineHolomorphic(AbstractEstimator, CircleNudge):
    r"""One relaxation driven by β(t) = r e^{2πit/T}; δ from the first harmonic of s(t).

    .. math::

        δ ≈ \mathrm{Re}\,\frac{1}{P T r} \sum_{t=t_0}^{t_0+PT-1}
            \big(s_{t+1} - s^*\big)\, e^{-2πit/T}

    after ``warmup`` discarded periods, where s_{t+1} is the state that
    responded to β(t). A quasi-static trajectory (T ≫ relaxation time) traces
    s*(β) on the circle and the sum is the continuous Cauchy integral (exact).
    Finite T adds a lag: linearising u_{t+1} = Φ(ρ(u_t)) + β_t g with A = Φ_s D
    gives the response (I − e^{-iω}A)^{-1} g at ω = 2π/T, whose O(ω) term
    −iω (I−A)^{-1} A (I−A)^{-1} g is purely imaginary for a real substrate, so
    the real part has bias O(1/T²) (measured in the tests). The nudged-phase
    ``steps`` budget is replaced by (warmup + periods)·T.
    """

    period: int = param(100, ge=2, units="steps")
    """Period T of the online nudge β(t) = r e^{2πit/T}, in relaxation steps (≥ 2)."""

    periods: int = param(1, ge=1)
    """Number P of oscillation periods integrated by ``online_holomorphic`` (≥ 1)."""

    warmup: int = param(1, ge=0)
    """Periods run before the integration starts (discarded transient), ≥ 0."""

    name: ClassVar[str] = "online_holomorphic"
    nudged_relax: ClassVar[bool] = False
    bias_order: ClassVar[int | None] = None
    complex_states: ClassVar[bool] = True

    def estimate(self, network, x, free, nudge, phase) -> Estimate:
        bound = network.bind()
        h = bound.static_drive(x)
        ctype = torch.promote_types(network.dtype, torch.complex64)
        u = [t.to(ctype) for t in free.u]
        acc = [torch.zeros_like(t) for t in u]
        t0 = self.warmup * self.period
        total = t0 + self.periods * self.period
        eta = phase.integrator.rate
        hw = network.hardware
        for t in range(total):
            if t:  # one relaxation step of the substrate's clock per update
                hw.elapse(eta)
            if hw.per_step_read:  # the arrays are read anew at every step
                bound = network.bind()
                h = bound.static_drive(x)
            w = torch.tensor(2 * math.pi * t / self.period, dtype=torch.float64)
            beta = phase.perturb(self.r * torch.polar(torch.ones_like(w), w)).to(ctype)
            f, _ = vector_field(network, bound, h, u, beta, nudge)
            u = [a + eta * b for a, b in zip(u, f, strict=True)]
            if t >= t0:
                rot = torch.polar(torch.ones_like(w), -w).to(ctype)
                s = network.activate(u)
                acc = [a + rot * (si - s0) for a, si, s0 in zip(acc, s, free.s, strict=True)]
        scale = 1.0 / (self.periods * self.period * self.r)
        delta = [(scale * a).real for a in acc]
        if not all(torch.isfinite(d).all() for d in delta):
            raise FloatingPointError("online holomorphic estimate is not finite")
        f, _ = vector_field(network, bound, h, u, beta, nudge)
        return Estimate(delta, total, state_norm(f, x.ndim - len(network.input_shape)), None, 1)

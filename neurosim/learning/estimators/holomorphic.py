"""Holomorphic EP: Cauchy's integral formula on N probes (Laborieux & Zenke, 2022/2024)."""

from __future__ import annotations

import math
from typing import ClassVar

import torch

from ...schema import param
from .base import AbstractProbeEstimator, CircleNudge, register_estimator

__all__ = ["Holomorphic"]


@register_estimator
class Holomorphic(AbstractProbeEstimator, CircleNudge):
    r"""N-point Cauchy estimate on the circle |β| = r.

    .. math::

        δ ≈ \frac{1}{N r} \sum_{k=0}^{N-1} s^*(β_k)\, e^{-2πik/N},\qquad β_k = r e^{2πik/N}.

    With s(β) = Σ_m a_m β^m the sum keeps a_1 plus the aliased terms
    a_{N+1} r^N + a_{2N+1} r^{2N} + …: the bias is O(r^N) and vanishes
    geometrically as N grows (:attr:`bias_order` is ``None``: it is not a
    fixed power of r). A real substrate satisfies s(β̄) = conj s(β), so the
    probes k and N − k are conjugate; only k = 0 … ⌊N/2⌋ are relaxed
    (⌈N/2⌉ complex relaxations for odd N; for even N, N/2 − 1 complex ones
    plus the real probes ±r), with weight 2 on each conjugate pair and the
    real part taken. All probes relax in one batch (probe axis K).

    References
    ----------
    Laborieux & Zenke, "Holomorphic Equilibrium Propagation Computes Exact
    Gradients Through Finite Size Oscillations", NeurIPS 2022; "Improving
    equilibrium propagation without weight symmetry through Jacobian
    homeostasis", ICLR 2024.
    """

    n: int = param(4, ge=2)
    """Number N of probes β_k = r e^{2πik/N} on the circle (``holomorphic``), ≥ 2."""

    name: ClassVar[str] = "holomorphic"
    bias_order: ClassVar[int | None] = None
    complex_states: ClassVar[bool] = True

    def probes(self):
        k = torch.arange(self.n // 2 + 1, dtype=torch.float64)
        phase = 2 * math.pi * k / self.n
        beta = self.r * torch.polar(torch.ones_like(phase), phase)
        mult = torch.where((k == 0) | (2 * k == self.n), 1.0, 2.0).to(torch.float64)
        coef = mult * torch.polar(torch.ones_like(phase), -phase) / (self.n * self.r)
        return beta, coef

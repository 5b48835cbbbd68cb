"""Holomorphic EP: Cauchy's integral formula on N probes (Laborieux & Zenke, 2022/2024)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .base import AbstractProbeEstimator

__all__ = ["Holomorphic"]


@dataclass(frozen=True)
class Holomorphic(AbstractProbeEstimator):
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

    r: float = 0.1
    n: int = 4
    name = "holomorphic"
    bias_order = None
    complex_states = True

    def __post_init__(self) -> None:
        if self.n < 2:
            raise ValueError(f"Holomorphic needs n >= 2 probes, got n={self.n}")
        if self.r <= 0:
            raise ValueError(f"Holomorphic needs radius r > 0, got r={self.r}")

    def probes(self):
        k = torch.arange(self.n // 2 + 1, dtype=torch.float64)
        phase = 2 * math.pi * k / self.n
        beta = self.r * torch.polar(torch.ones_like(phase), phase)
        mult = torch.where((k == 0) | (2 * k == self.n), 1.0, 2.0).to(torch.float64)
        coef = mult * torch.polar(torch.ones_like(phase), -phase) / (self.n * self.r)
        return beta, coef

"""One-sided finite nudge (Scellier & Bengio, 2017)."""

from __future__ import annotations

from typing import ClassVar

import torch

from .base import AbstractProbeEstimator, RealNudge, register_estimator

__all__ = ["OneSided"]


@register_estimator
class OneSided(AbstractProbeEstimator, RealNudge):
    r"""δ ≈ (s*(β) − s*(0)) / β.

    One nudged relaxation; bias O(β) (:attr:`bias_order` = 1), from the
    curvature ½ s''(0) β.

    References
    ----------
    Scellier & Bengio, "Equilibrium Propagation", Front. Comput. Neurosci. 2017.
    """

    name: ClassVar[str] = "one_sided"
    bias_order: ClassVar[int | None] = 1

    def probes(self):
        return torch.tensor([self.beta], dtype=torch.float64), torch.tensor(
            [1.0 / self.beta], dtype=torch.float64
        )

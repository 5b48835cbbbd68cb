"""Centered (symmetric) finite nudge (Laborieux et al., 2021)."""

from __future__ import annotations

from typing import ClassVar

import torch

from .base import AbstractProbeEstimator, RealNudge, register_estimator

__all__ = ["Centered"]


@register_estimator
class Centered(AbstractProbeEstimator, RealNudge):
    r"""δ ≈ (s*(β) − s*(−β)) / (2β).

    Two probes ±β relaxed side by side; the even terms cancel, bias O(β²)
    (:attr:`bias_order` = 2).

    References
    ----------
    Laborieux et al., "Scaling Equilibrium Propagation to Deep ConvNets by
    Drastically Reducing its Gradient Estimator Bias", Front. Neurosci. 2021.
    """

    name: ClassVar[str] = "centered"
    bias_order: ClassVar[int | None] = 2

    def probes(self):
        b = self.beta
        return torch.tensor([b, -b], dtype=torch.float64), torch.tensor(
            [0.5 / b, -0.5 / b], dtype=torch.float64
        )

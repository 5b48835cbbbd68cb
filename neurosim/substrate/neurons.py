r"""Neuron and periphery model: gain/offset mismatch, thermal state noise, DAC and ADC.

A non-ideal neuron of layer l computes

.. math::

    s_l = ρ(g_l \odot u_l + o_l),\qquad g_l = 1 + σ_g ξ,\quad o_l = σ_o ξ ,

with g and o fixed per unit (drawn once), and its state receives thermal noise
at every relaxation step, the Euler–Maruyama increment of
τ du = F(u) dt + σ √τ dW:

.. math::

    u_{t+1} = u_t + η F(u_t) + σ \sqrt{η}\, ξ_t ,\qquad η = dt/τ .

For the linear leak F = −u this is an Ornstein–Uhlenbeck process with
stationary variance σ² η / (1 − (1 − η)²) = σ² / (2 − η) (σ²/2 as dt → 0).

The input passes a DAC and the learning rule reads states through an ADC,
both uniform quantizers with 2^bits levels over a range (clipping outside);
the ADC quantizes the real and imaginary parts of complex states separately.

Every effect is exactly the identity at its default (no draw, no float op).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from .devices import quantize_uniform, straight_through

__all__ = ["NeuronModel"]


def _check_range(name: str, r: tuple[float, float]) -> None:
    lo, hi = r
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise ValueError(f"{name} must be a finite (lo, hi) with lo < hi, got {r}")


@dataclass(frozen=True)
class NeuronModel:
    r"""Neuron mismatch, thermal noise and converter resolution (all defaults ideal).

    Parameters
    ----------
    gain_std
        Relative gain mismatch: g = 1 + gain_std·ξ per unit, fixed.
    offset_std
        Input-referred offset: o = offset_std·ξ per unit, fixed (state units).
    noise_std
        σ of the thermal state noise; each relaxation step adds σ √η ξ (η = dt/τ,
        the integrator's rate; η = 1 for the fixed-point iteration).
    dac_bits, dac_range
        Input DAC: 0 bits is ideal; b ≥ 1 bits give 2^b uniform levels on
        ``dac_range`` (inclusive), inputs outside are clipped.
    adc_bits, adc_range
        ADC through which the learning rule reads the states, same quantizer,
        applied to the real and imaginary parts separately.

    Notes
    -----
    The default ranges (−1, 1) match aihwkit's ``inp_bound = 1``; sigmoid
    states and pixel inputs live in [0, 1], where (0, 1) uses the levels twice
    as well. The imaginary parts of complex probe states are signed (and
    O(r)): an ADC range of (0, 1) clips their negative half. Quantizer
    gradients pass straight through (∂Q/∂x := 1).
    """

    gain_std: float = 0.0
    offset_std: float = 0.0
    noise_std: float = 0.0
    dac_bits: int = 0
    dac_range: tuple[float, float] = (-1.0, 1.0)
    adc_bits: int = 0
    adc_range: tuple[float, float] = (-1.0, 1.0)

    def __post_init__(self) -> None:
        for name in ("gain_std", "offset_std", "noise_std"):
            value = getattr(self, name)
            if not (value >= 0 and math.isfinite(value)):
                raise ValueError(f"{name} must be finite and >= 0, got {value}")
        for name in ("dac_bits", "adc_bits"):
            value = getattr(self, name)
            if int(value) != value or not 0 <= value <= 32:
                raise ValueError(f"{name} must be an integer in [0, 32], got {value}")
        _check_range("dac_range", self.dac_range)
        _check_range("adc_range", self.adc_range)

    @property
    def mismatched(self) -> bool:
        """True when units have a gain or offset mismatch (per-layer shapes are needed)."""
        return self.gain_std > 0 or self.offset_std > 0

    @property
    def is_ideal(self) -> bool:
        return not (self.mismatched or self.noise_std > 0 or self.dac_bits or self.adc_bits)

    # -- fixed per-unit randomness ------------------------------------------------------
    def realize_gain(self, shape: Sequence[int], generator: torch.Generator) -> Tensor | None:
        """g = 1 + gain_std·ξ of ``shape`` (float64, CPU ``generator``), or None when ideal."""
        if self.gain_std == 0:
            return None
        xi = torch.randn(tuple(shape), dtype=torch.float64, generator=generator)
        return xi.mul_(self.gain_std).add_(1.0)

    def realize_offset(self, shape: Sequence[int], generator: torch.Generator) -> Tensor | None:
        """o = offset_std·ξ of ``shape`` (float64, CPU ``generator``), or None when ideal."""
        if self.offset_std == 0:
            return None
        return torch.randn(tuple(shape), dtype=torch.float64, generator=generator).mul_(
            self.offset_std
        )

    # -- per-step noise -----------------------------------------------------------------
    def thermal_noise(
        self, like: Sequence[Tensor], eta: float, generator: torch.Generator | None
    ) -> list[Tensor] | None:
        r"""One step's noise σ √η ξ per layer, shaped and typed like ``like``; None when σ = 0.

        ``like`` are real tensors of any leading shape; ``generator`` lives on their device.
        """
        if self.noise_std == 0:
            return None
        scale = self.noise_std * math.sqrt(eta)
        return [
            torch.randn(v.shape, dtype=v.dtype, device=v.device, generator=generator).mul_(scale)
            for v in like
        ]

    # -- converters ---------------------------------------------------------------------
    def dac(self, x: Tensor) -> Tensor:
        """The input as a ``dac_bits`` DAC over ``dac_range`` drives it (``x`` itself if ideal)."""
        if not self.dac_bits:
            return x
        return _quantize(x, self.dac_range, 2**self.dac_bits)

    def adc(self, s: Tensor) -> Tensor:
        """A state as the ``adc_bits`` ADC reads it, Re and Im separately (``s`` if ideal)."""
        if not self.adc_bits:
            return s
        return _quantize(s, self.adc_range, 2**self.adc_bits)


def _quantize(x: Tensor, rng: tuple[float, float], n_levels: int) -> Tensor:
    lo, hi = rng
    with torch.no_grad():
        if x.is_complex():
            q = torch.complex(
                quantize_uniform(x.real, lo, hi, n_levels),
                quantize_uniform(x.imag, lo, hi, n_levels),
            )
        else:
            q = quantize_uniform(x.detach(), lo, hi, n_levels)
    return straight_through(x, q)

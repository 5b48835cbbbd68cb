r"""The rate neuron model: gain/offset mismatch, thermal state noise, DAC and ADC.

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
from functools import cached_property
from typing import Literal

import torch
from pydantic import model_validator
from torch import Tensor

from ...schema import borrow, build_prefixed, param
from ..converters import RANGE_ALLOWED, ConverterModel, ConverterState, Range
from ._base import AbstractNeuronModel, register_neuron_model

__all__ = ["NeuronModel"]


@register_neuron_model
class NeuronModel(AbstractNeuronModel):
    r"""Neurons and periphery: mismatch, thermal noise, input DAC, readout ADC (defaults ideal).

    Notes
    -----
    The DAC's default range (0, 1) is that of pixel and teacher–student inputs;
    the ADC's (−1, 1) matches aihwkit's ``inp_bound = 1`` and keeps both signs of
    the imaginary parts of complex probe states, which are O(r): a (0, 1) ADC
    range would clip their negative half. Quantizer gradients pass straight
    through (∂Q/∂x := 1).
    """

    kind: Literal["rate"] = "rate"
    """The neuron model: ``"rate"``, rate units with mismatch, thermal noise and converters."""

    gain_std: float = param(0.0, ge=0)
    """Gain mismatch σ_g, relative (≥ 0): unit i computes ρ(g_i u_i + o_i), g_i = 1 + σ_g ξ,
    drawn once per unit."""

    offset_std: float = param(0.0, ge=0, units="state")
    """Offset mismatch σ_o in state units (≥ 0): o_i = σ_o ξ, drawn once per unit."""

    noise_std: float = param(0.0, ge=0, units="state/sqrt(time)")
    """Thermal state noise σ_n in state units per √(unit time) (≥ 0).

    Each relaxation step of rate η (= dt/τ; 1 for the fixed-point iteration)
    adds σ_n √η ξ to the states u.
    """

    dac_bits: int = param(0, ge=0, le=32, units="bit")
    """Input DAC resolution b in bits (0 … 32): inputs clipped to dac_range, rounded to
    2^b levels; 0 = ideal (no quantization)."""

    dac_range: Range = param((0.0, 1.0), units="input", allowed=RANGE_ALLOWED)
    """[lo, hi] input range of the DAC, in input units, lo < hi (used when dac_bits > 0)."""

    adc_bits: int = param(0, ge=0, le=32, units="bit")
    """Readout ADC resolution b in bits (0 … 32) for the states the learning rule reads.

    States are clipped to adc_range and rounded to 2^b levels; 0 = ideal.
    """

    adc_range: Range = param((-1.0, 1.0), units="state", allowed=RANGE_ALLOWED)
    """[lo, hi] state range of the ADC, in state units, lo < hi (used when adc_bits > 0).

    Real and imaginary parts are converted separately, so the range is symmetric by
    default: holomorphic probes give states with imaginary parts of either sign.
    """

    dac_offset: float = borrow(ConverterModel, "offset", note="DAC:")
    dac_offset_std: float = borrow(ConverterModel, "offset_std", note="DAC:")
    dac_gain_error: float = borrow(ConverterModel, "gain_error", note="DAC:")
    dac_gain_std: float = borrow(ConverterModel, "gain_std", note="DAC:")
    dac_inl_lsb: float = borrow(ConverterModel, "inl_lsb", note="DAC:")
    dac_inl_harmonics: int = borrow(ConverterModel, "inl_harmonics", note="DAC:")

    adc_offset: float = borrow(ConverterModel, "offset", note="ADC:")
    adc_offset_std: float = borrow(ConverterModel, "offset_std", note="ADC:")
    adc_gain_error: float = borrow(ConverterModel, "gain_error", note="ADC:")
    adc_gain_std: float = borrow(ConverterModel, "gain_std", note="ADC:")
    adc_inl_lsb: float = borrow(ConverterModel, "inl_lsb", note="ADC:")
    adc_inl_harmonics: int = borrow(ConverterModel, "inl_harmonics", note="ADC:")

    @model_validator(mode="after")
    def _converters_valid(self) -> NeuronModel:
        """Each converter checks its own rules (INL needs levels); blame the key here."""
        for which in ("dac", "adc"):
            self._converter(which)
        return self

    def _converter(self, which: str) -> ConverterModel:
        return build_prefixed(ConverterModel, self, f"{which}_")

    @cached_property
    def dac_converter(self) -> ConverterModel:
        """The input DAC as a :class:`~neurosim.substrate.converters.ConverterModel`."""
        return self._converter("dac")

    @cached_property
    def adc_converter(self) -> ConverterModel:
        """The readout ADC as a :class:`~neurosim.substrate.converters.ConverterModel`."""
        return self._converter("adc")

    @property
    def mismatched(self) -> bool:
        """True when units have a gain or offset mismatch (per-layer shapes are needed)."""
        return self.gain_std > 0 or self.offset_std > 0

    @property
    def is_ideal(self) -> bool:
        return not (
            self.mismatched
            or self.noise_std > 0
            or not self.dac_converter.is_ideal
            or not self.adc_converter.is_ideal
        )

    @property
    def thermal_std(self) -> float:
        return self.noise_std

    @property
    def adc_is_identity(self) -> bool:
        return self.adc_converter.is_ideal

    def realize_converters(
        self, which: str, n: int, generator: torch.Generator
    ) -> ConverterState | None:
        """Per-instance offsets, gains and INL curves of n ``"dac"``/``"adc"`` converters
        (one per unit), or None when the converters do not differ."""
        conv = self.dac_converter if which == "dac" else self.adc_converter
        return conv.realize(n, generator) if conv.needs_realization else None

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
    def dac(self, x: Tensor, state: ConverterState | None = None) -> Tensor:
        """The input as the DAC drives it (``x`` itself if ideal); ``state``: per-unit draws."""
        return self.dac_converter.transfer(x, state)

    def adc(self, s: Tensor, state: ConverterState | None = None) -> Tensor:
        """A state as the ADC reads it, Re and Im separately (``s`` if ideal)."""
        return self.adc_converter.transfer(s, state)

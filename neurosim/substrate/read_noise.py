r"""The read noise of the synaptic arrays as processes in time (the ``[noise]`` section).

Every device of every array carries the sum of the configured processes
(:mod:`neurosim.substrate.noise`), evaluated at the time stamp of each read on the
substrate's clock (:mod:`neurosim.substrate.timeline`):

.. math::

    \tilde w_{ij}(t) = w^{read}_{ij} + a(w^{read}_{ij})\,\big[x^{white}_{ij}(t)
        + x^{1/f}_{ij}(t) + x^{RTN}_{ij}(t)\big] ,

with amplitude a = 1 (``scale = "absolute"``: the processes are in weight units) or
a = |w^{read}|·m(ĝ) (``scale = "relative"``: the processes are δG/G, the form of
measured conductance noise, with the differential pair's active device carrying
G ∝ |w|), and m(ĝ) = 1 or aihwkit's PCM law m = min(ĝ^{−0.65}, 0.2/0.0088) with
ĝ = |w|/G_max (docs/hardware_sources.md §4a), G_max the ``[array]`` section's ``g_max``.
In physical units (:class:`~neurosim.substrate.crossbar.Crossbar`) the same holds for
each device G± of a pair, in µS: w̃ = ((G⁺ + a(G⁺)x⁺) − (G⁻ + a(G⁻)x⁻))/G_ref, every
device with its own processes.

The device model's dimensionless ``read_noise_std`` is the white special case
(infinite bandwidth): redrawn at each read, once per relaxation (``per_read``) or
at every step (``per_step``). A process here is read at every relaxation step.
"""

from __future__ import annotations

from typing import Literal

from pydantic import field_validator, model_validator

from ..schema import Schema, borrow, build_prefixed, param
from .noise import AbstractNoiseProcess, FlickerNoise, TelegraphNoise, WhiteNoise

__all__ = ["ReadNoise"]

_PROCESSES = ((WhiteNoise, "white_"), (FlickerNoise, "flicker_"), (TelegraphNoise, "telegraph_"))
"""Each process and the prefix of its keys here."""


class ReadNoise(Schema):
    """The read-noise processes of every synaptic device (all off by default).

    Each group of keys is the matching process of :mod:`neurosim.substrate.noise`
    (``white_*``: :class:`WhiteNoise`, ``flicker_*``: :class:`FlickerNoise`,
    ``telegraph_*``: :class:`TelegraphNoise`), defined there once.
    """

    scale: Literal["absolute", "relative"] = param("relative", units="")
    """What the processes' values are: ``"relative"``, δG/G (multiplied by |w| at each
    read); ``"absolute"``, weight units."""

    law: Literal["constant", "aihwkit_pcm"] = param("constant", units="")
    """Conductance dependence of the amplitude: ``"constant"``, or ``"aihwkit_pcm"``,
    multiplied by min(ĝ^−0.65, 22.7) with ĝ = G/G_max, G_max the ``[array]`` section's
    ``g_max`` (docs/hardware_sources.md §4a)."""

    white_std: float = borrow(WhiteNoise, "std", note="White noise:")
    white_bandwidth: float = borrow(WhiteNoise, "bandwidth", note="White noise:")

    flicker_level: Literal["density", "std"] = borrow(FlickerNoise, "level", note="1/f noise:")
    flicker_density: float = borrow(FlickerNoise, "density", note="1/f noise:")
    flicker_std: float = borrow(FlickerNoise, "std", note="1/f noise:")
    flicker_reference_window: tuple[float, float] = borrow(
        FlickerNoise, "reference_window", note="1/f noise:"
    )
    flicker_gamma: float = borrow(FlickerNoise, "gamma", note="1/f noise:")
    flicker_f_lo: float = borrow(FlickerNoise, "f_lo", note="1/f noise:")
    flicker_f_hi: float = borrow(FlickerNoise, "f_hi", note="1/f noise:")
    flicker_components: int = borrow(FlickerNoise, "components", note="1/f noise:")
    flicker_hold: float = borrow(FlickerNoise, "hold", note="1/f noise:")

    telegraph_amplitude: float = borrow(TelegraphNoise, "amplitude", note="Telegraph noise:")
    telegraph_tau_up: float = borrow(TelegraphNoise, "tau_up", note="Telegraph noise:")
    telegraph_tau_down: float = borrow(TelegraphNoise, "tau_down", note="Telegraph noise:")

    @field_validator("flicker_reference_window", mode="before")
    @classmethod
    def _list_to_tuple(cls, value):
        return tuple(value) if isinstance(value, list) else value

    @model_validator(mode="after")
    def _processes_valid(self) -> ReadNoise:
        """The processes check their own cross-field rules; blame the key here."""
        self._models()
        return self

    def _models(self) -> tuple[WhiteNoise, FlickerNoise, TelegraphNoise]:
        return tuple(build_prefixed(m, self, p) for m, p in _PROCESSES)  # type: ignore[return-value]

    def processes(self) -> tuple[AbstractNoiseProcess, ...]:
        """The active processes (those with a nonzero amplitude), built from the keys."""
        white, flicker, telegraph = self._models()
        on = (white.std > 0, flicker.K > 0, telegraph.amplitude > 0)
        return tuple(p for p, active in zip((white, flicker, telegraph), on, strict=True) if active)

    @property
    def is_ideal(self) -> bool:
        """True when no process is on."""
        return not self.processes()

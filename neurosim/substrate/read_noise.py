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
ĝ = |w|/g_max (docs/hardware_sources.md §4a).

The device model's dimensionless ``read_noise_std`` is the white special case
(infinite bandwidth): redrawn at each read, once per relaxation (``per_read``) or
at every step (``per_step``). A process here is read at every relaxation step.
"""

from __future__ import annotations

from typing import Literal

from pydantic import ValidationError, field_validator, model_validator

from ..schema import FieldError, Schema, borrow, param
from .noise import AbstractNoiseProcess, FlickerNoise, TelegraphNoise, WhiteNoise

__all__ = ["ReadNoise"]


def _from(model: type[Schema], name: str, doc: str):
    field = borrow(model, name)
    field.description = doc + " " + (field.description or "")
    return field


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
    multiplied by min(ĝ^−0.65, 22.7) with ĝ = |w|/g_max (docs/hardware_sources.md §4a)."""

    g_max: float = param(1.0, gt=0, units="weight")
    """The weight |w| of a device at G_max (> 0), for ĝ = |w|/g_max."""

    white_std: float = _from(WhiteNoise, "std", "White noise:")
    white_bandwidth: float = _from(WhiteNoise, "bandwidth", "White noise:")

    flicker_level: Literal["density", "std"] = _from(FlickerNoise, "level", "1/f noise:")
    flicker_density: float = _from(FlickerNoise, "density", "1/f noise:")
    flicker_std: float = _from(FlickerNoise, "std", "1/f noise:")
    flicker_reference_window: tuple[float, float] = _from(
        FlickerNoise, "reference_window", "1/f noise:"
    )
    flicker_gamma: float = _from(FlickerNoise, "gamma", "1/f noise:")
    flicker_f_lo: float = _from(FlickerNoise, "f_lo", "1/f noise:")
    flicker_f_hi: float = _from(FlickerNoise, "f_hi", "1/f noise:")
    flicker_components: int = _from(FlickerNoise, "components", "1/f noise:")

    telegraph_amplitude: float = _from(TelegraphNoise, "amplitude", "Telegraph noise:")
    telegraph_tau_up: float = _from(TelegraphNoise, "tau_up", "Telegraph noise:")
    telegraph_tau_down: float = _from(TelegraphNoise, "tau_down", "Telegraph noise:")

    @field_validator("flicker_reference_window", mode="before")
    @classmethod
    def _list_to_tuple(cls, value):
        return tuple(value) if isinstance(value, list) else value

    @model_validator(mode="after")
    def _processes_valid(self) -> ReadNoise:
        """The processes check their own cross-field rules; blame the key here."""
        try:
            self._models()
        except ValidationError as exc:
            err = exc.errors()[0]
            cause = err.get("ctx", {}).get("error")
            prefix = {"white": "white_", "flicker": "flicker_", "telegraph": "telegraph_"}
            kind = exc.title.replace("Noise", "").lower()
            name = cause.field if isinstance(cause, FieldError) else str(err["loc"][-1])
            raise FieldError(prefix.get(kind, "") + name, str(cause or err["msg"])) from None
        return self

    def _models(self) -> tuple[WhiteNoise, FlickerNoise, TelegraphNoise]:
        return (
            WhiteNoise(std=self.white_std, bandwidth=self.white_bandwidth),
            FlickerNoise(
                level=self.flicker_level,
                density=self.flicker_density,
                std=self.flicker_std,
                reference_window=self.flicker_reference_window,
                gamma=self.flicker_gamma,
                f_lo=self.flicker_f_lo,
                f_hi=self.flicker_f_hi,
                components=self.flicker_components,
            ),
            TelegraphNoise(
                amplitude=self.telegraph_amplitude,
                tau_up=self.telegraph_tau_up,
                tau_down=self.telegraph_tau_down,
            ),
        )

    def processes(self) -> tuple[AbstractNoiseProcess, ...]:
        """The active processes (those with a nonzero amplitude), built from the keys."""
        white, flicker, telegraph = self._models()
        on = (white.std > 0, flicker.K > 0, telegraph.amplitude > 0)
        return tuple(p for p, active in zip((white, flicker, telegraph), on, strict=True) if active)

    @property
    def is_ideal(self) -> bool:
        """True when no process is on."""
        return not self.processes()

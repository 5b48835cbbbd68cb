r"""What every neuron model provides, and the registry that names them.

A neuron model describes the units and the periphery of a substrate: per-unit
gain and offset mismatch inside the activation, s = ρ(g ⊙ u + o); thermal
noise added to the states at every relaxation step; the input DAC and the ADC
through which the learning rule reads the states. It is a
:class:`~neurosim.schema.Schema` whose fields are the keys of the config's
``[neurons]`` section; its ``kind`` field is its name in :data:`NEURON_MODELS`.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from ...registry import Registry
from ...schema import Schema

__all__ = ["AbstractNeuronModel", "NEURON_MODELS", "get_neuron_model", "register_neuron_model"]


class AbstractNeuronModel(Schema):
    """Neurons and periphery. Every effect is exactly the identity when ideal.

    Subclasses declare ``kind: Literal["<name>"] = "<name>"``, their parameters as
    documented fields, and implement the hooks below.
    """

    kind: str
    """The neuron model, by name in :data:`NEURON_MODELS` (each model has its own keys)."""

    @property
    @abstractmethod
    def is_ideal(self) -> bool:
        """True when every hook is the identity."""

    @property
    def mismatched(self) -> bool:
        """True when units have a gain or offset mismatch (per-layer shapes are needed)."""
        return False

    @property
    def thermal_std(self) -> float:
        """σ of the white state noise, in state units per √(unit time) (0: none)."""
        return 0.0

    @property
    def adc_is_identity(self) -> bool:
        """True when :meth:`adc` returns the states unchanged."""
        return True

    def realize_gain(self, shape: Sequence[int], generator: torch.Generator) -> Tensor | None:
        """Per-unit gains g of ``shape`` (float64, CPU ``generator``), or None for 1."""
        return None

    def realize_offset(self, shape: Sequence[int], generator: torch.Generator) -> Tensor | None:
        """Per-unit offsets o of ``shape`` (float64, CPU ``generator``), or None for 0."""
        return None

    def thermal_noise(
        self, like: Sequence[Tensor], eta: float, generator: torch.Generator | None
    ) -> list[Tensor] | None:
        """One relaxation step's state noise per layer, shaped like ``like``; None when off."""
        return None

    def realize_converters(self, which: str, n: int, generator: torch.Generator) -> Any:
        """Per-instance draws of ``n`` ``"dac"``/``"adc"`` converters (one per unit), or None."""
        return None

    @abstractmethod
    def dac(self, x: Tensor, state: Any = None) -> Tensor:
        """The input as the DAC drives it (``state``: :meth:`realize_converters` for it)."""

    @abstractmethod
    def adc(self, s: Tensor, state: Any = None) -> Tensor:
        """A state as the ADC reads it (``state``: :meth:`realize_converters` for it)."""


NEURON_MODELS: Registry[type[AbstractNeuronModel]] = Registry("neuron model", key="kind")
"""Neuron models by ``kind``: the values ``[neurons] kind`` accepts."""


def register_neuron_model(cls: type[AbstractNeuronModel]) -> type[AbstractNeuronModel]:
    """Add a neuron model class under its ``kind`` (usable as a class decorator)."""
    if not (isinstance(cls, type) and issubclass(cls, AbstractNeuronModel)):
        raise TypeError(f"register_neuron_model needs an AbstractNeuronModel subclass, got {cls!r}")
    return NEURON_MODELS.register(cls)


def get_neuron_model(kind: str) -> type[AbstractNeuronModel]:
    """The neuron model class registered as ``kind``."""
    return NEURON_MODELS.get(kind)

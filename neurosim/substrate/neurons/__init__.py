"""Neuron and periphery models: mismatch, thermal noise, input DAC, readout ADC.

:class:`AbstractNeuronModel` is the interface, :data:`NEURON_MODELS` the registry of
models by ``kind`` (the config's ``[neurons] kind``): :class:`NeuronModel` (``"rate"``).
"""

from ._base import (
    NEURON_MODELS as NEURON_MODELS,
    AbstractNeuronModel as AbstractNeuronModel,
    get_neuron_model as get_neuron_model,
    register_neuron_model as register_neuron_model,
)
from ._rate import NeuronModel as NeuronModel

__all__ = [
    "AbstractNeuronModel",
    "NEURON_MODELS",
    "NeuronModel",
    "get_neuron_model",
    "register_neuron_model",
]

"""The simulated physical substrate: states, maps, activations, relaxation dynamics, hardware.

Registries (one pattern, :class:`neurosim.registry.Registry`): :data:`ACTIVATIONS`,
:data:`INTEGRATORS`, :data:`DEVICE_MODELS`, :data:`NEURON_MODELS`.
"""

from .activations import (
    ACTIVATIONS as ACTIVATIONS,
    AbstractActivation as AbstractActivation,
    DSiLU as DSiLU,
    ShiftedSigmoid as ShiftedSigmoid,
    Sigmoid as Sigmoid,
    Tanh as Tanh,
    get_activation as get_activation,
    register_activation as register_activation,
    sigmoid as sigmoid,
)
from .analog import AnalogHardware as AnalogHardware
from .connections import (
    AbstractConnection as AbstractConnection,
    BoundConnection as BoundConnection,
    Conv2d as Conv2d,
    Dense as Dense,
    ModuleConnection as ModuleConnection,
    real_linear as real_linear,
    sincos_deg as sincos_deg,
)
from .devices import (
    DEVICE_MODELS as DEVICE_MODELS,
    AbstractDeviceModel as AbstractDeviceModel,
    DeviceModel as DeviceModel,
    DeviceState as DeviceState,
    get_device_model as get_device_model,
    quantize_uniform as quantize_uniform,
    register_device_model as register_device_model,
)
from .dynamics import (
    INTEGRATORS as INTEGRATORS,
    AbstractIntegrator as AbstractIntegrator,
    AbstractProgress as AbstractProgress,
    FixedPoint as FixedPoint,
    LeakyEuler as LeakyEuler,
    NonFiniteStateError as NonFiniteStateError,
    NoProgress as NoProgress,
    RelaxResult as RelaxResult,
    get_integrator as get_integrator,
    register_integrator as register_integrator,
    relax as relax,
    state_norm as state_norm,
    vector_field as vector_field,
)
from .equivariant import (
    GauntInteraction as GauntInteraction,
    IrrepsActivation as IrrepsActivation,
    gaunt_network as gaunt_network,
    irreps_width as irreps_width,
)
from .hardware import AbstractHardware as AbstractHardware, IdealHardware as IdealHardware
from .network import BoundNetwork as BoundNetwork, LayeredNetwork as LayeredNetwork
from .neurons import (
    NEURON_MODELS as NEURON_MODELS,
    AbstractNeuronModel as AbstractNeuronModel,
    NeuronModel as NeuronModel,
    get_neuron_model as get_neuron_model,
    register_neuron_model as register_neuron_model,
)

__all__ = [
    "GauntInteraction",
    "IrrepsActivation",
    "gaunt_network",
    "irreps_width",
    "AbstractHardware",
    "IdealHardware",
    "ACTIVATIONS",
    "AbstractActivation",
    "DSiLU",
    "ShiftedSigmoid",
    "Sigmoid",
    "Tanh",
    "get_activation",
    "register_activation",
    "sigmoid",
    "AbstractConnection",
    "BoundConnection",
    "Conv2d",
    "Dense",
    "ModuleConnection",
    "real_linear",
    "sincos_deg",
    "AbstractIntegrator",
    "AbstractProgress",
    "FixedPoint",
    "INTEGRATORS",
    "LeakyEuler",
    "get_integrator",
    "register_integrator",
    "NonFiniteStateError",
    "NoProgress",
    "RelaxResult",
    "relax",
    "state_norm",
    "vector_field",
    "BoundNetwork",
    "LayeredNetwork",
    "AnalogHardware",
    "AbstractDeviceModel",
    "DEVICE_MODELS",
    "DeviceModel",
    "DeviceState",
    "get_device_model",
    "quantize_uniform",
    "register_device_model",
    "AbstractNeuronModel",
    "NEURON_MODELS",
    "NeuronModel",
    "get_neuron_model",
    "register_neuron_model",
]

"""The simulated physical substrate: states, maps, activations and relaxation dynamics."""

from .activations import (
    ACTIVATIONS as ACTIVATIONS,
)
from .activations import (
    AbstractActivation as AbstractActivation,
)
from .activations import (
    DSiLU as DSiLU,
)
from .activations import (
    ShiftedSigmoid as ShiftedSigmoid,
)
from .activations import (
    Sigmoid as Sigmoid,
)
from .activations import (
    Tanh as Tanh,
)
from .activations import (
    get_activation as get_activation,
)
from .activations import (
    register_activation as register_activation,
)
from .activations import (
    sigmoid as sigmoid,
)
from .connections import (
    AbstractConnection as AbstractConnection,
)
from .connections import (
    BoundConnection as BoundConnection,
)
from .connections import (
    Conv2d as Conv2d,
)
from .connections import (
    Dense as Dense,
)
from .connections import (
    ModuleConnection as ModuleConnection,
)
from .connections import (
    real_linear as real_linear,
)
from .connections import (
    sincos_deg as sincos_deg,
)
from .dynamics import (
    AbstractIntegrator as AbstractIntegrator,
)
from .dynamics import (
    AbstractProgress as AbstractProgress,
)
from .dynamics import (
    FixedPoint as FixedPoint,
)
from .dynamics import (
    LeakyEuler as LeakyEuler,
)
from .dynamics import (
    NonFiniteStateError as NonFiniteStateError,
)
from .dynamics import (
    NoProgress as NoProgress,
)
from .dynamics import (
    RelaxResult as RelaxResult,
)
from .dynamics import (
    relax as relax,
)
from .dynamics import (
    vector_field as vector_field,
)
from .network import BoundNetwork as BoundNetwork
from .network import LayeredNetwork as LayeredNetwork

__all__ = [
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
    "LeakyEuler",
    "NonFiniteStateError",
    "NoProgress",
    "RelaxResult",
    "relax",
    "vector_field",
    "BoundNetwork",
    "LayeredNetwork",
]

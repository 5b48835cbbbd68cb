"""Learning rules on the substrate: EP estimators, BP references, alignment (DESIGN.md §3)."""

from .adjoint import (
    AbstractAdjoint as AbstractAdjoint,
)
from .adjoint import (
    ImplicitAdjoint as ImplicitAdjoint,
)
from .adjoint import (
    RecurrentAdjoint as RecurrentAdjoint,
)
from .adjoint import (
    parameter_gradients as parameter_gradients,
)
from .alignment import (
    Alignment as Alignment,
)
from .alignment import (
    cosine_similarity as cosine_similarity,
)
from .alignment import (
    delta_alignment as delta_alignment,
)
from .alignment import (
    gradient_alignment as gradient_alignment,
)
from .equilibrium import equilibrium as equilibrium
from .estimators import (
    ESTIMATORS as ESTIMATORS,
)
from .estimators import (
    AbstractEstimator as AbstractEstimator,
)
from .estimators import (
    AbstractProbeEstimator as AbstractProbeEstimator,
)
from .estimators import (
    Centered as Centered,
)
from .estimators import (
    Estimate as Estimate,
)
from .estimators import (
    Exact as Exact,
)
from .estimators import (
    Holomorphic as Holomorphic,
)
from .estimators import (
    NudgedPhase as NudgedPhase,
)
from .estimators import (
    OneSided as OneSided,
)
from .estimators import (
    OnlineHolomorphic as OnlineHolomorphic,
)
from .estimators import (
    get_estimator as get_estimator,
)
from .jacobian import (
    drive_jvp as drive_jvp,
)
from .jacobian import (
    jacobian_symmetry as jacobian_symmetry,
)
from .jacobian import (
    state_jacobian as state_jacobian,
)
from .linear import linear_fixed_point as linear_fixed_point
from .losses import (
    AbstractLoss as AbstractLoss,
)
from .losses import (
    MSELoss as MSELoss,
)
from .losses import (
    SoftmaxCrossEntropy as SoftmaxCrossEntropy,
)
from .rules import (
    BPTT as BPTT,
)
from .rules import (
    AbstractLearningRule as AbstractLearningRule,
)
from .rules import (
    FreePhase as FreePhase,
)
from .rules import (
    GeneralizedEP as GeneralizedEP,
)
from .rules import (
    GradientResult as GradientResult,
)
from .rules import (
    ImplicitBP as ImplicitBP,
)
from .rules import (
    RecurrentBP as RecurrentBP,
)
from .rules import (
    named_parameters as named_parameters,
)

__all__ = [
    "AbstractAdjoint",
    "ImplicitAdjoint",
    "RecurrentAdjoint",
    "parameter_gradients",
    "Alignment",
    "cosine_similarity",
    "delta_alignment",
    "gradient_alignment",
    "equilibrium",
    "ESTIMATORS",
    "AbstractEstimator",
    "AbstractProbeEstimator",
    "Centered",
    "Estimate",
    "Exact",
    "Holomorphic",
    "NudgedPhase",
    "OneSided",
    "OnlineHolomorphic",
    "get_estimator",
    "drive_jvp",
    "jacobian_symmetry",
    "state_jacobian",
    "linear_fixed_point",
    "AbstractLoss",
    "MSELoss",
    "SoftmaxCrossEntropy",
    "BPTT",
    "AbstractLearningRule",
    "FreePhase",
    "GeneralizedEP",
    "GradientResult",
    "ImplicitBP",
    "RecurrentBP",
    "named_parameters",
]

"""Learning rules on the substrate: EP estimators, BP references, alignment (DESIGN.md §3)."""

from .adjoint import (
    AbstractAdjoint as AbstractAdjoint,
    ImplicitAdjoint as ImplicitAdjoint,
    RecurrentAdjoint as RecurrentAdjoint,
    parameter_gradients as parameter_gradients,
)
from .alignment import (
    Alignment as Alignment,
    cosine_similarity as cosine_similarity,
    delta_alignment as delta_alignment,
    gradient_alignment as gradient_alignment,
)
from .equilibrium import equilibrium as equilibrium
from .estimators import (
    ESTIMATORS as ESTIMATORS,
    AbstractEstimator as AbstractEstimator,
    AbstractProbeEstimator as AbstractProbeEstimator,
    Centered as Centered,
    Estimate as Estimate,
    Exact as Exact,
    Holomorphic as Holomorphic,
    NudgedPhase as NudgedPhase,
    OneSided as OneSided,
    OnlineHolomorphic as OnlineHolomorphic,
    get_estimator as get_estimator,
)
from .homeostasis import (
    DEFAULT_ASYMMETRY_TARGET as DEFAULT_ASYMMETRY_TARGET,
    HOMEOSTASIS as HOMEOSTASIS,
    Homeostasis as Homeostasis,
    HomeostasisResult as HomeostasisResult,
    auto_tuner as auto_tuner,
    homeostatic_loss as homeostatic_loss,
    jacobian_asymmetry as jacobian_asymmetry,
)
from .jacobian import (
    drive_jvp as drive_jvp,
    hutchinson_moments as hutchinson_moments,
    jacobian_operator as jacobian_operator,
    jacobian_symmetry as jacobian_symmetry,
    state_jacobian as state_jacobian,
)
from .linear import linear_fixed_point as linear_fixed_point
from .losses import (
    AbstractLoss as AbstractLoss,
    MSELoss as MSELoss,
    SoftmaxCrossEntropy as SoftmaxCrossEntropy,
)
from .rules import (
    BPTT as BPTT,
    AbstractLearningRule as AbstractLearningRule,
    FreePhase as FreePhase,
    GeneralizedEP as GeneralizedEP,
    GradientResult as GradientResult,
    ImplicitBP as ImplicitBP,
    RecurrentBP as RecurrentBP,
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
    "DEFAULT_ASYMMETRY_TARGET",
    "auto_tuner",
    "HOMEOSTASIS",
    "Homeostasis",
    "HomeostasisResult",
    "homeostatic_loss",
    "jacobian_asymmetry",
    "jacobian_operator",
    "drive_jvp",
    "hutchinson_moments",
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

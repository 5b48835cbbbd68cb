"""Soft equivariance: per-symmetry-type regularizers with auto-tuned strengths (docs/design.md §6).

Weight-space form (:func:`equivariant_projector`, :func:`weight_penalty`): the
EMLP projector onto equivariant linear maps, from Lie-algebra and discrete
generators. Function-space form (:func:`equivariance_penalty`): Monte Carlo and
Lie-algebra estimators of :math:`E_{x,g}\\lVert f(g·x) - ρ_{out}(g) f(x)\\rVert^2`
for any model; :func:`confirmed_violation` measures on held-out labels the part of a
model's violation the data support. Symmetry types live in a registry (:func:`get_symmetry`,
:func:`register_symmetry`). Strengths are tuned by the shared tuners of
:mod:`equivariance.strength` (:class:`SoftEquivariance` wires them up).
"""

from ._function import (
    LevelEstimate as LevelEstimate,
    SoftEquivariance as SoftEquivariance,
    confirmed_residuals as confirmed_residuals,
    confirmed_violation as confirmed_violation,
    equivariance_penalty as equivariance_penalty,
    equivariance_residuals as equivariance_residuals,
)
from ._symmetry import (
    SymmetryType as SymmetryType,
    available_symmetries as available_symmetries,
    get_symmetry as get_symmetry,
    register_symmetry as register_symmetry,
)
from ._weight import (
    Representation as Representation,
    equivariant_basis as equivariant_basis,
    equivariant_projector as equivariant_projector,
    linear_penalty as linear_penalty,
    weight_penalty as weight_penalty,
)

__all__ = [
    "SoftEquivariance",
    "LevelEstimate",
    "confirmed_residuals",
    "confirmed_violation",
    "equivariance_penalty",
    "equivariance_residuals",
    "SymmetryType",
    "available_symmetries",
    "get_symmetry",
    "register_symmetry",
    "Representation",
    "equivariant_basis",
    "equivariant_projector",
    "linear_penalty",
    "weight_penalty",
]

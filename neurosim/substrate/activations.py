"""Holomorphic activation functions ρ and their complex derivatives ρ'.

Every activation here is an entire (or meromorphic, away from its poles)
function of a complex argument, so the same formula serves real states and the
complex states that holomorphic EP relaxes. The derivative is written out in
closed form, not taken by autograd: for complex inputs ``torch.autograd``
returns conj(ρ'(z)), whereas the substrate needs ρ'(z) itself (DESIGN.md §3,
D = diag ρ'(u*)).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

import torch
from torch import Tensor

__all__ = [
    "AbstractActivation",
    "Sigmoid",
    "Tanh",
    "ShiftedSigmoid",
    "DSiLU",
    "get_activation",
    "register_activation",
    "ACTIVATIONS",
]


class AbstractActivation(ABC):
    """A holomorphic scalar nonlinearity applied element-wise."""

    name: ClassVar[str]

    @abstractmethod
    def __call__(self, u: Tensor) -> Tensor:
        """ρ(u), element-wise, real or complex."""

    @abstractmethod
    def derivative(self, u: Tensor) -> Tensor:
        """ρ'(u), the complex derivative, element-wise."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class Sigmoid(AbstractActivation):
    r"""Logistic sigmoid :math:`\rho(z) = 1 / (1 + e^{-z})`, :math:`\rho' = \rho(1-\rho)`."""

    name = "sigmoid"

    def __call__(self, u: Tensor) -> Tensor:
        return torch.sigmoid(u)

    def derivative(self, u: Tensor) -> Tensor:
        s = torch.sigmoid(u)
        return s * (1 - s)


class Tanh(AbstractActivation):
    r"""Hyperbolic tangent :math:`\rho(z) = \tanh z`, :math:`\rho' = 1 - \tanh^2 z`."""

    name = "tanh"

    def __call__(self, u: Tensor) -> Tensor:
        return torch.tanh(u)

    def derivative(self, u: Tensor) -> Tensor:
        return 1 - torch.tanh(u) ** 2


class ShiftedSigmoid(AbstractActivation):
    r"""Shifted sigmoid of Laborieux & Zenke (2024), :math:`\rho(z) = 1/(1 + e^{-4z+2})`.

    Equal to σ(4z − 2); :math:`\rho'(z) = 4\rho(1-\rho)`. It maps 0 to σ(−2) ≈ 0.12
    and has slope 1 at z = ½.
    """

    name = "shifted_sigmoid"

    def __call__(self, u: Tensor) -> Tensor:
        return torch.sigmoid(4 * u - 2)

    def derivative(self, u: Tensor) -> Tensor:
        s = torch.sigmoid(4 * u - 2)
        return 4 * s * (1 - s)


class DSiLU(AbstractActivation):
    r"""Derivative of SiLU (Elfwing et al., 2018), :math:`\rho(z) = \sigma(z)(1 + z(1-\sigma(z)))`.

    :math:`\rho'(z) = \sigma(1-\sigma)\,(2 + z(1-2\sigma))`.
    """

    name = "dsilu"

    def __call__(self, u: Tensor) -> Tensor:
        s = torch.sigmoid(u)
        return s * (1 + u * (1 - s))

    def derivative(self, u: Tensor) -> Tensor:
        s = torch.sigmoid(u)
        return s * (1 - s) * (2 + u * (1 - 2 * s))


ACTIVATIONS: dict[str, type[AbstractActivation]] = {}


def register_activation(cls: type[AbstractActivation]) -> type[AbstractActivation]:
    """Add an activation class to the registry under ``cls.name``."""
    ACTIVATIONS[cls.name] = cls
    return cls


for _cls in (Sigmoid, Tanh, ShiftedSigmoid, DSiLU):
    register_activation(_cls)


def get_activation(name: str | AbstractActivation) -> AbstractActivation:
    """Resolve an activation by registry name (or pass an instance through)."""
    if isinstance(name, AbstractActivation):
        return name
    try:
        return ACTIVATIONS[name]()
    except KeyError:
        raise KeyError(
            f"unknown activation {name!r}; allowed: {', '.join(sorted(ACTIVATIONS))}"
        ) from None

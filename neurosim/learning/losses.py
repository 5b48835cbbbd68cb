r"""Costs ℓ(s_L, y) on the output layer and their nudge directions g = ∂ℓ/∂s_L.

Sign convention (docs/design.md §3), fixed once for the whole package: the nudged
fixed point is u* = Φ(θ, x, s*) + β g(s*) with g = +∂ℓ/∂s_L, so β > 0 pushes
the output *up* the cost gradient and δ = ds*/dβ gives dℓ/dθ = Φ_θᵀ δ with no
sign flip. The batch cost is the mean of per-sample costs; g is per sample
(not divided by the batch size).

Both g are written in closed form and are holomorphic in s_L, so complex
probes (holomorphic EP) use the same code.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

import torch
from torch import Tensor, nn

from ..registry import Registry

__all__ = ["AbstractLoss", "LOSSES", "MSELoss", "SoftmaxCrossEntropy", "get_loss", "register_loss"]


class AbstractLoss(nn.Module, ABC):
    """A per-sample cost ℓ(s_L, y) with its holomorphic gradient g(s_L) = ∂ℓ/∂s_L.

    Attributes
    ----------
    name : str
        Registry key (the config's ``workload.loss``).
    classification : bool
        Whether targets are class labels (a classification task then keeps its labels;
        otherwise class labels become one-hot targets).
    affine_nudge : bool
        Whether g(s_L) is affine in s_L (what the compiled backends can run).
    """

    name: ClassVar[str]
    classification: ClassVar[bool] = False
    affine_nudge: ClassVar[bool] = False

    @classmethod
    @abstractmethod
    def for_output(
        cls,
        output_shape: tuple[int, ...],
        n_classes: int | None,
        *,
        generator: torch.Generator | None = None,
        dtype: torch.dtype = torch.float64,
    ) -> AbstractLoss:
        """The cost for an output layer of per-sample ``output_shape`` and ``n_classes``
        classes (None for regression); ``generator`` draws any readout parameters."""

    @abstractmethod
    def per_sample(self, s_out: Tensor, y: Tensor) -> Tensor:
        """ℓ for each sample, shape ``(*lead,)``."""

    @abstractmethod
    def nudge(self, s_out: Tensor, y: Tensor) -> Tensor:
        """g = ∂ℓ/∂s_L, same shape as ``s_out``."""

    def forward(self, s_out: Tensor, y: Tensor) -> Tensor:
        """Batch cost: mean of :meth:`per_sample`."""
        return self.per_sample(s_out, y).mean()


class MSELoss(AbstractLoss):
    r"""ℓ = ½ ‖s_L − y‖², g = s_L − y.

    ``feature_ndim`` trailing axes form one sample (1 for dense outputs,
    3 for a ``(C, H, W)`` convolutional output).
    """

    name = "mse"
    affine_nudge = True

    def __init__(self, feature_ndim: int = 1):
        super().__init__()
        self.feature_ndim = feature_ndim

    @classmethod
    def for_output(cls, output_shape, n_classes, *, generator=None, dtype=torch.float64):
        return cls(feature_ndim=len(output_shape))

    def per_sample(self, s_out: Tensor, y: Tensor) -> Tensor:
        d = s_out - y
        return 0.5 * (d * d).flatten(d.ndim - self.feature_ndim).sum(-1)

    def nudge(self, s_out: Tensor, y: Tensor) -> Tensor:
        return s_out - y


class SoftmaxCrossEntropy(AbstractLoss):
    r"""Cross-entropy through a linear softmax readout (Laborieux & Zenke 2024).

    .. math::

        z = R s_L + c ,\quad ℓ = -\sum_k y_k \log \mathrm{softmax}(z)_k ,\quad
        g = R^\top(\mathrm{softmax}(z) - y)

    ``y`` holds class indices ``(*lead,)`` or one-hot rows ``(*lead, C)``. The
    readout (R, c) is not part of the dynamics: its gradient is local and exact.
    The softmax subtracts max Re z (a constant shift, so still holomorphic).
    """

    name = "cross_entropy"
    classification = True

    def __init__(
        self,
        n_out: int,
        n_classes: int,
        *,
        generator: torch.Generator | None = None,
        dtype: torch.dtype = torch.float64,
    ):
        super().__init__()
        bound = 1.0 / n_out**0.5
        w = torch.empty(n_classes, n_out, dtype=dtype).uniform_(-bound, bound, generator=generator)
        self.weight = nn.Parameter(w)
        self.bias = nn.Parameter(torch.zeros(n_classes, dtype=dtype))

    @classmethod
    def for_output(cls, output_shape, n_classes, *, generator=None, dtype=torch.float64):
        if len(output_shape) != 1 or n_classes is None:
            raise ValueError(
                f"a softmax readout needs a flat output layer and class labels, got output "
                f"shape {tuple(output_shape)} and n_classes = {n_classes}"
            )
        return cls(output_shape[0], n_classes, generator=generator, dtype=dtype)

    def _onehot(self, y: Tensor, like: Tensor) -> Tensor:
        if y.dtype in (torch.int64, torch.int32):
            y = torch.nn.functional.one_hot(y, self.weight.shape[0])
        return y.to(like.dtype)

    def logits(self, s_out: Tensor) -> Tensor:
        if s_out.is_complex():
            return torch.complex(s_out.real @ self.weight.T + self.bias, s_out.imag @ self.weight.T)
        return s_out @ self.weight.T + self.bias

    def per_sample(self, s_out: Tensor, y: Tensor) -> Tensor:
        z = self.logits(s_out)
        z = z - z.real.detach().amax(-1, keepdim=True)
        logp = z - torch.log(torch.exp(z).sum(-1, keepdim=True))
        return -(self._onehot(y, z) * logp).sum(-1)

    def nudge(self, s_out: Tensor, y: Tensor) -> Tensor:
        z = self.logits(s_out)
        z = z - z.real.detach().amax(-1, keepdim=True)
        p = torch.exp(z)
        p = p / p.sum(-1, keepdim=True)
        r = p - self._onehot(y, z)
        if r.is_complex():
            return torch.complex(r.real @ self.weight, r.imag @ self.weight)
        return r @ self.weight

    def predict(self, s_out: Tensor) -> Tensor:
        return self.logits(s_out).argmax(-1)


LOSSES: Registry[type[AbstractLoss]] = Registry("loss")
"""Costs by name: the values ``workload.loss`` accepts."""


def register_loss(cls: type[AbstractLoss]) -> type[AbstractLoss]:
    """Add a cost class under its ``name`` (usable as a class decorator)."""
    return LOSSES.register(cls)


def get_loss(name: str) -> type[AbstractLoss]:
    """The cost class registered as ``name``."""
    return LOSSES.get(name)


for _cls in (MSELoss, SoftmaxCrossEntropy):
    register_loss(_cls)

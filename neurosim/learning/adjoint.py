r"""BP references: the adjoint error vector δ_BP and the parameter gradient Φ_θᵀ δ.

At the free fixed point u* = Φ(θ, x, s*), s* = ρ(u*), implicit differentiation
gives, for a cotangent c = ∂ℓ/∂s* (docs/design.md §3),

.. math::

    δ_{BP} = (I - DΦ_s^\top)^{-1} D c = D λ ,\qquad λ = c + Φ_s^\top D λ ,
    \qquad \frac{dℓ}{dθ} = Φ_θ^\top δ_{BP} .

:class:`ImplicitAdjoint` solves for δ with a dense per-sample linear solve;
:class:`RecurrentAdjoint` iterates the adjoint fixed point with vector–Jacobian
products (recurrent backprop, Almeida 1987 / Pineda 1987).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from ..substrate import AbstractIntegrator, FixedPoint, LayeredNetwork
from .jacobian import state_jacobian
from .linear import linear_fixed_point

__all__ = ["AbstractAdjoint", "ImplicitAdjoint", "RecurrentAdjoint", "parameter_gradients"]


class AbstractAdjoint(ABC):
    """Solves for δ_BP = (I − DΦ_sᵀ)^{-1} D c at a fixed point."""

    @abstractmethod
    def solve(
        self, network: LayeredNetwork, x: Tensor, u: Sequence[Tensor], c: Sequence[Tensor]
    ) -> list[Tensor]:
        """δ_BP per layer, same shapes as ``u``."""


@dataclass(frozen=True)
class ImplicitAdjoint(AbstractAdjoint):
    """Dense per-sample solve (I − DΦ_sᵀ) δ = D c; O(B N³), a reference for small N."""

    def solve(self, network, x, u, c):
        u = [t.detach() for t in u]
        s = network.activate(u)
        jac = state_jacobian(network, x, s)  # (B, N, N), J[i, j] = ∂Φ_i/∂s_j
        d = network.flatten_state(network.activate_derivative(u), 1)
        cf = network.flatten_state(list(c), 1)
        eye = torch.eye(jac.shape[-1], dtype=jac.dtype, device=jac.device)
        lhs = eye - d[:, :, None] * jac.mT
        delta = torch.linalg.solve(lhs, (d * cf)[..., None])[..., 0]
        return network.unflatten_state(delta)


@dataclass(frozen=True)
class RecurrentAdjoint(AbstractAdjoint):
    """Recurrent backprop: λ ← λ + η(c + Φ_sᵀ D λ − λ), δ = D λ; matrix-free."""

    steps: int = 10_000
    tol: float = 1e-12
    integrator: AbstractIntegrator = FixedPoint()
    check_every: int = 10

    def solve(self, network, x, u, c):
        u = [t.detach() for t in u]
        s = network.activate(u)
        d = network.activate_derivative(u)
        bound = network.bind()
        h = [None if t is None else t.detach() for t in bound.static_drive(x)]
        with torch.enable_grad():
            _, vjp_fn = torch.func.vjp(lambda *z: tuple(bound.drive(list(z), h)), *s)

        def apply_a(lam):  # Φ_sᵀ (D λ)
            return list(vjp_fn(tuple(di * li for di, li in zip(d, lam, strict=True))))

        sol = linear_fixed_point(
            apply_a,
            [t.detach() for t in c],
            eta=self.integrator.rate,
            steps=self.steps,
            tol=self.tol,
            n_lead=1,
            check_every=self.check_every,
        )
        if not sol.converged.all():
            raise RuntimeError(
                f"recurrent backprop did not converge in {self.steps} steps "
                f"(max residual {float(sol.residual.max()):.3g} > tol {self.tol:g})"
            )
        return [di * li for di, li in zip(d, sol.v, strict=True)]


def parameter_gradients(
    network: LayeredNetwork,
    x: Tensor,
    s: Sequence[Tensor],
    delta: Sequence[Tensor],
    params: Sequence[Tensor],
    *,
    scale: float = 1.0,
) -> list[Tensor]:
    r"""``scale`` · Φ_θᵀ δ summed over the batch, for each tensor in ``params``.

    Computed as ∂/∂θ ⟨Φ(θ, x, s), δ⟩ with s and δ held fixed (one backward pass
    through a single evaluation of the drive). Parameters Φ does not use get zeros.
    """
    s = [t.detach() for t in s]
    delta = [t.detach() for t in delta]
    with torch.enable_grad():
        phi = network.drive(s, x)
        obj = sum((p * dl).sum() for p, dl in zip(phi, delta, strict=True)) * scale
        grads = torch.autograd.grad(obj, list(params), allow_unused=True)
    return [torch.zeros_like(p) if g is None else g for p, g in zip(params, grads, strict=True)]

r"""The free fixed point as a differentiable function of the parameters.

:func:`equilibrium` returns s*(θ, x) and differentiates it implicitly: the
backward pass solves the adjoint system with an :class:`AbstractAdjoint` and
returns Φ_θᵀ δ and Φ_xᵀ δ. This is what makes the BP references checkable
with ``torch.autograd.gradcheck`` against finite differences of the relaxation.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from ..substrate import LayeredNetwork, relax
from .adjoint import AbstractAdjoint, ImplicitAdjoint

__all__ = ["equilibrium"]


class _Equilibrium(torch.autograd.Function):
    @staticmethod
    def forward(ctx, network, x, adjoint, relax_kwargs, *params):  # noqa: D401
        with torch.no_grad():
            r = relax(network, x, **relax_kwargs)
        if not r.all_converged:
            raise RuntimeError(
                f"equilibrium: relaxation did not converge (max residual "
                f"{float(r.residual.max()):.3g} > tol {r.tol:g}); "
                "implicit gradients need a fixed point"
            )
        ctx.network, ctx.adjoint, ctx.params = network, adjoint, params
        ctx.save_for_backward(x, *r.u)
        return tuple(r.s)

    @staticmethod
    def backward(ctx, *grad_s):
        x, *u = ctx.saved_tensors
        network = ctx.network
        c = [torch.zeros_like(t) if g is None else g for t, g in zip(u, grad_s, strict=True)]
        delta = ctx.adjoint.solve(network, x, u, c)
        s = network.activate(u)
        with torch.enable_grad():
            xg = x.detach().requires_grad_(ctx.needs_input_grad[1])
            phi = network.drive(s, xg)
            inputs = list(ctx.params) + ([xg] if ctx.needs_input_grad[1] else [])
            grads = torch.autograd.grad(phi, inputs, grad_outputs=delta, allow_unused=True)
        g_params = grads[: len(ctx.params)]
        g_x = grads[len(ctx.params)] if ctx.needs_input_grad[1] else None
        return (None, g_x, None, None, *g_params)


def equilibrium(
    network: LayeredNetwork,
    x: Tensor,
    *,
    adjoint: AbstractAdjoint | None = None,
    **relax_kwargs: Any,
) -> list[Tensor]:
    """Activated free fixed point s*(θ, x), differentiable by implicit differentiation.

    ``relax_kwargs`` go to :func:`~neurosim.substrate.relax` (``steps``, ``tol``,
    ``integrator`` …); the relaxation must converge to ``tol`` or this raises.
    """
    adjoint = ImplicitAdjoint() if adjoint is None else adjoint
    params = tuple(network.parameters())
    return list(_Equilibrium.apply(network, x, adjoint, relax_kwargs, *params))

r"""State Jacobians of the drive Φ and the Jacobian-symmetry score.

``state_jacobian`` builds the dense per-sample Jacobian Φ_s = ∂Φ/∂s (a
reference for small networks, cost O(B N²) memory). ``jacobian_symmetry``
measures how far J = Φ_s − I is from symmetric (docs/design.md §3):

.. math::

    \mathrm{score} = \frac{\|J_{sym}\|_F}{\|J_{sym}\|_F + \|J_{anti}\|_F} ,\qquad
    \|J_{anti}\|_F^2 = ½\,\mathbb{E}_ε[\|Jε\|^2 - ε^\top J^2 ε] ,\quad
    \|J_{sym}\|_F^2 = ½\,\mathbb{E}_ε[\|Jε\|^2 + ε^\top J^2 ε] ,

with ε ~ N(0, I); the Hutchinson form needs forward-mode products only
(hardware friendly) and is unbiased for both squared norms.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from ..substrate import LayeredNetwork

__all__ = [
    "state_jacobian",
    "jacobian_symmetry",
    "drive_jvp",
    "jacobian_operator",
    "hutchinson_moments",
]


def _linearized_drive(
    network: LayeredNetwork, x: Tensor, s: Sequence[Tensor]
) -> Callable[[Sequence[Tensor]], list[Tensor]]:
    """v ↦ Φ_s v at ``s`` by forward mode, the maps bound once (one read of the arrays).

    ``v`` holds per-layer tensors ``(*extra, B, *shape_l)`` with any extra leading axes.
    """
    bound = network.bind()
    h = bound.static_drive(x)

    def apply(v: Sequence[Tensor]) -> list[Tensor]:
        extra = v[0].ndim - s[0].ndim
        s_b = [t.expand(*d.shape[:extra], *t.shape).contiguous() for t, d in zip(s, v, strict=True)]
        tangents = tuple(d.contiguous() for d in v)
        _, out = torch.func.jvp(lambda *z: tuple(bound.drive(list(z), h)), tuple(s_b), tangents)
        return list(out)

    return apply


def drive_jvp(
    network: LayeredNetwork, x: Tensor, s: Sequence[Tensor], ds: Sequence[Tensor]
) -> list[Tensor]:
    """Φ_s · ds at ``s`` (forward mode); ``ds`` may carry extra leading axes."""
    return _linearized_drive(network, x, s)(ds)


def jacobian_operator(
    network: LayeredNetwork, x: Tensor, s: Sequence[Tensor]
) -> Callable[[Sequence[Tensor]], list[Tensor]]:
    """v ↦ J v = Φ_s v − v at ``s``, by forward mode (``torch.func.jvp``) only.

    The maps are bound once, so every product sees the same read of the synaptic
    arrays (one read for all probes, as a device measurement would). ``v`` is a
    list of per-layer tensors ``(*extra, B, *shape_l)`` with any extra leading
    probe axes. The products are differentiable w.r.t. the network parameters
    (reverse mode through the forward-mode products); ``s`` and ``x`` are detached.
    """
    phi_s = _linearized_drive(network, x.detach(), [t.detach() for t in s])

    def apply(v: Sequence[Tensor]) -> list[Tensor]:
        return [o - d for o, d in zip(phi_s(v), v, strict=True)]

    return apply


def hutchinson_moments(
    network: LayeredNetwork,
    x: Tensor,
    s: Sequence[Tensor],
    *,
    n_probes: int,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor]:
    r"""Per-sample Hutchinson estimates of ‖J‖_F² = E‖Jε‖² and tr J² = E εᵀJ²ε, ``(B,)`` each.

    ``n_probes`` Gaussian ε per sample, two forward-mode products each (Jε, J(Jε)).
    ‖J_anti‖² = ½(‖J‖² − tr J²) and ‖J_sym‖² = ½(‖J‖² + tr J²); differentiable in the
    network parameters.
    """
    apply_j = jacobian_operator(network, x, s)
    eps = [
        torch.randn(n_probes, *t.shape, dtype=t.dtype, generator=generator, device=t.device)
        for t in s
    ]
    je = apply_j(eps)
    jje = apply_j(je)
    flat = lambda v: network.flatten_state(v, 2)  # noqa: E731  (K, B, N)
    sq = flat(je).square().sum(-1).mean(0)
    cross = (flat(eps) * flat(jje)).sum(-1).mean(0)
    return sq, cross


def state_jacobian(network: LayeredNetwork, x: Tensor, s: Sequence[Tensor]) -> Tensor:
    """Dense Φ_s per sample: ``(B, N, N)`` with ``J[b, i, j] = ∂Φ_i/∂s_j`` (flattened units)."""
    n = network.num_units
    batch = x.shape[0]
    eye = torch.eye(n, dtype=s[0].dtype, device=s[0].device)
    basis = network.unflatten_state(eye[:, None, :].expand(n, batch, n))
    cols = network.flatten_state(drive_jvp(network, x, s, basis), 2)  # (N_j, B, N_i)
    return cols.permute(1, 2, 0)


def jacobian_symmetry(
    network: LayeredNetwork,
    x: Tensor,
    s: Sequence[Tensor],
    *,
    method: str = "exact",
    n_probes: int = 16,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Symmetry score of J = Φ_s − I per sample, ``(B,)``; 1 for symmetric J.

    ``method="exact"`` uses the dense Jacobian; ``"hutchinson"`` uses
    ``n_probes`` Gaussian ε and two forward-mode products each (J ε, J² ε).
    """
    if method == "exact":
        j = state_jacobian(network, x, s)
        j = j - torch.eye(j.shape[-1], dtype=j.dtype, device=j.device)
        sym = torch.linalg.matrix_norm(0.5 * (j + j.mT))
        anti = torch.linalg.matrix_norm(0.5 * (j - j.mT))
    elif method == "hutchinson":
        sq, cross = hutchinson_moments(network, x, s, n_probes=n_probes, generator=generator)
        sym = (0.5 * (sq + cross)).clamp_min(0).sqrt()
        anti = (0.5 * (sq - cross)).clamp_min(0).sqrt()
    else:
        raise ValueError(f"method={method!r}; allowed: 'exact', 'hutchinson'")
    return (sym / (sym + anti)).detach()

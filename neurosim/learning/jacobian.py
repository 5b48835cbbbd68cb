r"""State Jacobians of the drive Φ and the Jacobian-symmetry score.

``state_jacobian`` builds the dense per-sample Jacobian Φ_s = ∂Φ/∂s (a
reference for small networks, cost O(B N²) memory). ``jacobian_symmetry``
measures how far J = Φ_s − I is from symmetric (DESIGN.md §3):

.. math::

    \mathrm{score} = \frac{\|J_{sym}\|_F}{\|J_{sym}\|_F + \|J_{anti}\|_F} ,\qquad
    \|J_{anti}\|_F^2 = ½\,\mathbb{E}_ε[\|Jε\|^2 - ε^\top J^2 ε] ,\quad
    \|J_{sym}\|_F^2 = ½\,\mathbb{E}_ε[\|Jε\|^2 + ε^\top J^2 ε] ,

with ε ~ N(0, I); the Hutchinson form needs forward-mode products only
(hardware friendly) and is unbiased for both squared norms.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from ..substrate import LayeredNetwork

__all__ = ["state_jacobian", "jacobian_symmetry", "drive_jvp"]


def drive_jvp(
    network: LayeredNetwork, x: Tensor, s: Sequence[Tensor], ds: Sequence[Tensor]
) -> list[Tensor]:
    """Φ_s · ds at ``s`` (forward mode); ``ds`` may carry extra leading axes."""
    bound = network.bind()
    h = bound.static_drive(x)
    lead_extra = ds[0].ndim - s[0].ndim
    s_b = [
        t.expand(*d.shape[:lead_extra], *t.shape).contiguous() for t, d in zip(s, ds, strict=True)
    ]
    ds = [d.contiguous() for d in ds]
    _, out = torch.func.jvp(lambda *z: tuple(bound.drive(list(z), h)), tuple(s_b), tuple(ds))
    return list(out)


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
        eps = [
            torch.randn(n_probes, *t.shape, dtype=t.dtype, generator=generator, device=t.device)
            for t in s
        ]

        def apply_j(v: list[Tensor]) -> list[Tensor]:
            return [a - b for a, b in zip(drive_jvp(network, x, s, v), v, strict=True)]

        je = apply_j(eps)
        jje = apply_j(je)
        flat = lambda v: network.flatten_state(v, 2)  # noqa: E731
        sq = flat(je).square().sum(-1).mean(0)
        cross = (flat(eps) * flat(jje)).sum(-1).mean(0)
        sym = (0.5 * (sq + cross)).clamp_min(0).sqrt()
        anti = (0.5 * (sq - cross)).clamp_min(0).sqrt()
    else:
        raise ValueError(f"method={method!r}; allowed: 'exact', 'hutchinson'")
    return (sym / (sym + anti)).detach()

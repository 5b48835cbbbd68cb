r"""Backbones for frame averaging on point clouds: an MLP and a message-passing GNN.

Both take the :class:`~equivariance.frames.FrameAveraging` calling convention
``backbone(x, vectors, scalars)`` with points ``x (B, N, n)``, vector features
``(B, N, n)`` or ``(B, N, c, n)`` (e.g. velocities) and invariant scalars ``(B, N, s)``
(e.g. charges), either feature may be ``None``, and return per-point outputs
``(B, N, n)``; with ``residual=True`` the output is :math:`x_i + \Delta_i` (a predicted
position). Neither is rotation equivariant on its own; the GNN is permutation equivariant.

:class:`MLPBackbone`
    flattens all inputs of a cloud into one vector (fixed ``N``; not permutation equivariant).
:class:`GNNBackbone`
    a message-passing network (Gilmer et al., 2017) on the fully connected graph without
    self-loops, the non-equivariant GNN of the EGNN and FA n-body experiments:

    .. math::  h_i^0 = W_{in}[x_i, v_i, s_i],\quad
               m_{ij} = \phi_e\big(h_i, h_j, s_i \odot s_j, x_i - x_j, |x_i - x_j|^2\big),\quad
               h_i \leftarrow h_i + \phi_h\big(h_i, \textstyle\sum_{j\ne i} m_{ij}\big),

    then :math:`\Delta_i = W_{out} h_i`. The edge features :math:`s_i \odot s_j` are the
    products of the scalars (charge products :math:`q_i q_j` for the n-body task).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["MLPBackbone", "GNNBackbone"]


def _mlp(sizes: list[int], act: type[nn.Module] = nn.SiLU) -> nn.Sequential:
    layers: list[nn.Module] = []
    for a, b in zip(sizes[:-1], sizes[1:], strict=True):
        layers += [nn.Linear(a, b), act()]
    return nn.Sequential(*layers[:-1])


def _node_inputs(x: Tensor, vectors: Tensor | None, scalars: Tensor | None) -> Tensor:
    parts = [x]
    if vectors is not None:
        parts.append(vectors.reshape(*x.shape[:2], -1))
    if scalars is not None:
        parts.append(scalars)
    return torch.cat(parts, -1)


class MLPBackbone(nn.Module):
    """MLP on the flattened cloud: ``N·(n + c·n + s)`` inputs -> ``N·n`` outputs.

    Parameters
    ----------
    n_points, dim : int
        Points per cloud ``N`` and space dimension ``n`` (fixed at construction).
    n_vectors, n_scalars : int
        Vector channels ``c`` and scalar channels ``s`` per point (0 for none).
    hidden, layers : int
        Width and number of hidden layers (SiLU).
    residual : bool
        Return :math:`x + \\Delta` instead of :math:`\\Delta`.
    """

    def __init__(
        self,
        n_points: int,
        *,
        dim: int = 3,
        n_vectors: int = 1,
        n_scalars: int = 1,
        hidden: int = 128,
        layers: int = 3,
        residual: bool = True,
    ) -> None:
        super().__init__()
        self.n_points, self.dim, self.residual = n_points, dim, residual
        n_in = n_points * (dim * (1 + n_vectors) + n_scalars)
        self.net = _mlp([n_in] + [hidden] * layers + [n_points * dim])

    def forward(
        self, x: Tensor, vectors: Tensor | None = None, scalars: Tensor | None = None
    ) -> Tensor:
        """``x (B, N, n)`` -> ``(B, N, n)``."""
        delta = self.net(_node_inputs(x, vectors, scalars).flatten(1)).view_as(x)
        return x + delta if self.residual else delta


class GNNBackbone(nn.Module):
    """Message passing on the fully connected graph (dense ``(B, N, N, ·)`` messages).

    Parameters
    ----------
    dim : int
        Space dimension ``n``.
    n_vectors, n_scalars : int
        Vector and scalar channels per point; scalar products are the edge attributes.
    hidden, layers : int
        Width of ``h`` and of the edge/node MLPs; number of message-passing layers.
    residual : bool
        Return :math:`x + \\Delta` instead of :math:`\\Delta`.
    """

    def __init__(
        self,
        *,
        dim: int = 3,
        n_vectors: int = 1,
        n_scalars: int = 1,
        hidden: int = 64,
        layers: int = 4,
        residual: bool = True,
    ) -> None:
        super().__init__()
        self.dim, self.n_scalars, self.residual = dim, n_scalars, residual
        self.embed = nn.Linear(dim * (1 + n_vectors) + n_scalars, hidden)
        n_edge = n_scalars + dim + 1
        # φ_e's first layer on [h_i, h_j, e_ij], split by block so that the h terms are
        # computed per node (N rows) instead of per edge (N² rows): same function, cheaper
        self.edge_i = nn.ModuleList(nn.Linear(hidden, hidden) for _ in range(layers))
        self.edge_j = nn.ModuleList(nn.Linear(hidden, hidden, bias=False) for _ in range(layers))
        self.edge_e = nn.ModuleList(nn.Linear(n_edge, hidden, bias=False) for _ in range(layers))
        self.edge = nn.ModuleList(
            nn.Sequential(nn.SiLU(), nn.Linear(hidden, hidden)) for _ in range(layers)
        )
        self.node = nn.ModuleList(_mlp([2 * hidden, hidden, hidden]) for _ in range(layers))
        self.out = nn.Linear(hidden, dim)

    def forward(
        self, x: Tensor, vectors: Tensor | None = None, scalars: Tensor | None = None
    ) -> Tensor:
        """``x (B, N, n)`` -> ``(B, N, n)``."""
        N = x.shape[1]
        h = self.embed(_node_inputs(x, vectors, scalars))
        rel = x[:, :, None] - x[:, None]  # (B, N, N, n): x_i - x_j
        geo = [rel, (rel * rel).sum(-1, keepdim=True)]
        if scalars is not None and self.n_scalars:
            geo.insert(0, scalars[:, :, None] * scalars[:, None])
        edge_attr = torch.cat(geo, -1)
        mask = (~torch.eye(N, dtype=torch.bool, device=x.device)).to(h.dtype)[None, :, :, None]
        layers = zip(self.edge_i, self.edge_j, self.edge_e, self.edge, self.node, strict=True)
        for lin_i, lin_j, lin_e, phi_e, phi_h in layers:
            pre = lin_i(h)[:, :, None] + lin_j(h)[:, None] + lin_e(edge_attr)  # (B, N, N, H)
            m = phi_e(pre) * mask
            h = h + phi_h(torch.cat([h, m.sum(2)], -1))
        delta = self.out(h)
        return x + delta if self.residual else delta

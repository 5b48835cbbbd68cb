r"""The ``spherical`` workload: invariant regression on SH-embedded point clouds.

Small-molecule-like clouds of ``n_points`` random atoms (centred, so translation
invariant) embedded as ``C`` radial channels of real spherical harmonics up to degree
``lmax``, :math:`x_{c,lm} = \kappa \sum_i φ_c(|r_i|)\, Y_{lm}(\hat r_i)` (equivariant:
:math:`x(Rr) = D(R)\,x(r)`, permutation invariant). The target is an invariant of a
random teacher :class:`~neurosim.substrate.equivariant.GauntInteraction` (l = 0
output, i.e. a random quadratic invariant of the embedding) squashed into (0.2, 0.8).
The network is :func:`~neurosim.substrate.equivariant.gaunt_network`.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..teacher_student import Dataset
from ._task import EquivariantTask

__all__ = ["spherical_embedding", "spherical_molecules"]


def spherical_embedding(points: Tensor, lmax: int, channels: int, r_max: float = 2.5) -> Tensor:
    r"""Radial-channel SH embedding of clouds ``(N, P, 3)`` → ``(N, channels, (lmax+1)²)``.

    :math:`x_{c,lm} = \frac1P \sum_i φ_c(|r_i|) Y_{lm}(\hat r_i)` with Gaussian radial bumps
    :math:`φ_c(r) = e^{-((r-μ_c)/w)^2}`, μ_c evenly spaced on (0, r_max], w = r_max/channels.
    Equivariant, :math:`x(r R^\top) = x(r) D(R)^\top`, and permutation invariant.
    """
    from equivariance.so3 import spherical_harmonics

    r = torch.linalg.vector_norm(points, dim=-1)  # (N, P)
    y = spherical_harmonics(lmax, points)  # (N, P, n)
    mu = torch.linspace(r_max / channels, r_max, channels, dtype=points.dtype)
    phi = torch.exp(-(((r[..., None] - mu) / (r_max / channels)) ** 2))  # (N, P, C)
    return torch.einsum("npc,npk->nck", phi, y) / points.shape[1]


def spherical_molecules(
    *,
    n_train: int = 512,
    n_test: int = 256,
    lmax: int = 2,
    channels: int = 4,
    n_out: int = 1,
    n_points: int = 6,
    seed: int = 0,
    dtype: torch.dtype = torch.float64,
) -> EquivariantTask:
    """The ``spherical`` task (module docstring).

    x ``(N, channels, (lmax+1)²)`` scaled into [−1, 1], y ``(N, n_out, 1)`` in (0.2, 0.8).
    """
    from ...substrate import GauntInteraction

    gen = torch.Generator().manual_seed(seed)
    n = n_train + n_test
    pts = torch.randn(n, n_points, 3, dtype=torch.float64, generator=gen)
    pts = pts - pts.mean(1, keepdim=True)
    x = spherical_embedding(pts, lmax, channels)
    scale = float(x[:n_train].abs().max())
    x = x / scale
    teacher = GauntInteraction(lmax, 0, channels, n_out, rank=channels, gain=1.0, generator=gen)
    with torch.no_grad():
        pre = teacher(x)  # (N, n_out, 1), invariant
    mu, sd = pre[:n_train].mean(0), pre[:n_train].std(0).clamp_min(1e-12)
    y = 0.2 + 0.6 * torch.sigmoid(2.0 * (pre - mu) / sd)
    x, y = x.to(dtype), y.to(dtype)
    data = Dataset(x[:n_train], y[:n_train], x[n_train:], y[n_train:])
    y_test = data.y_test

    def task_error(s_out: Tensor) -> float:
        return float((s_out.real.to(y_test.dtype) - y_test).square().mean())

    meta = {"lmax": lmax, "channels": channels, "n_points": n_points, "input_scale": scale}
    return EquivariantTask(data, task_error, meta)

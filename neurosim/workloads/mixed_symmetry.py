r"""Mixed approximate symmetries: a synthetic task with planted per-type approximation levels.

In the spirit of the synthetic function-approximation task of Kim, Lee, Yang &
Lee ("Regularizing towards soft equivariance under mixed symmetries", ICML
2023): the target is exactly invariant under every candidate symmetry type
except for one planted breaking term per type, with a known level ε_j.

Inputs are triangles, three points in :math:`\mathbb R^3`, ``x`` of shape
``(N, 3, 3)`` with i.i.d. standard-normal coordinates. Candidate types
(:mod:`equivariance.soft` names, with their sampling distributions): ``so3``
(Haar), ``translation`` (t ~ N(0, I)), ``scaling`` (log-uniform on [1/2, 2]),
``permutation`` (uniform on S_3). The target is

.. math::

    f(x) = f_{inv}(x) + \sum_j ε_j\, b_j(x) ,

with pairwise distances :math:`d_{ik}`, their RMS :math:`\bar d`, normalized
distances :math:`u_{ik} = d_{ik}/\bar d`, centroid c and unit triangle normal
:math:`\hat n`:

* :math:`f_{inv} = 2\sum_{i<k} \sin(4u_{ik})`: invariant
  under all four types (a symmetric function of the similarity-invariant shape);
* :math:`b_{so3} ∝ \hat n_z^2 - 1/3`, :math:`b_{translation} ∝ |c| / \bar d`,
  :math:`b_{scaling} ∝ \log \bar d`, :math:`b_{permutation} ∝ (d_{12} - d_{13})/\bar d`:
  each breaks its own type only and is invariant under the three others.

Each :math:`b_j` is scaled so that :math:`E_{x, g_j}|b_j(g_j·x) - b_j(x)|^2 = 1`
under type j's sampler (estimated once with 2·10⁵ draws from a fixed seed), so
the function-space violation of the target under type j is exactly
:math:`R_j(f) = ε_j^2`: ε_j is type j's **approximation level** in the units of
the regularizer (:func:`equivariance.soft.equivariance_penalty`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache

import torch
from torch import Tensor

__all__ = [
    "MIXED_SYMMETRY_TYPES",
    "DEFAULT_LEVELS",
    "MixedSymmetryDataset",
    "mixed_symmetry",
    "mixed_symmetry_target",
    "breaking_terms",
    "invariant_part",
    "shape_features",
    "symmetry_types",
    "nbody_forecasting",
    "nbody_symmetry_types",
]

MIXED_SYMMETRY_TYPES = ("so3", "translation", "scaling", "permutation")
"""The candidate symmetry types of the synthetic task, in a fixed order."""

DEFAULT_LEVELS = {"so3": 0.0, "translation": 0.1, "scaling": 0.3, "permutation": 0.6}
"""Default planted levels ε_j: one exact symmetry and three increasingly broken ones."""

_SCALING_MAX = 2.0
_TRANSLATION_SIGMA = 1.0


def symmetry_types(n_points: int = 3) -> dict:
    """The task's :class:`~equivariance.soft.SymmetryType` per name (invariant outputs)."""
    from equivariance.soft import get_symmetry

    opts = {
        "so3": {},
        "translation": {"sigma": _TRANSLATION_SIGMA},
        "scaling": {"max_factor": _SCALING_MAX},
        "permutation": {"n_points": n_points},
    }
    return {k: get_symmetry(k, **opts[k]) for k in MIXED_SYMMETRY_TYPES}


def _geometry(x: Tensor):
    diff = x[:, :, None, :] - x[:, None, :, :]
    d2 = diff.pow(2).sum(-1)
    i, k = torch.triu_indices(3, 3, 1)
    d = d2[:, i, k].clamp_min(1e-300).sqrt()  # (N, 3): d12, d13, d23
    dbar = d.pow(2).mean(-1).sqrt()
    return d, dbar


def shape_features(x: Tensor) -> Tensor:
    """Sorted normalized distances ``(N, 3)``: a complete invariant of the four types.

    (Similarity-invariant shape of the triangle, symmetric under relabeling;
    also invariant under reflections.)
    """
    d, dbar = _geometry(x)
    return torch.sort(d / dbar[:, None], dim=-1).values


def invariant_part(x: Tensor) -> Tensor:
    """:math:`f_{inv}(x)` ``(N,)``."""
    d, dbar = _geometry(x)
    u = d / dbar[:, None]
    return 2.0 * torch.sin(4.0 * u).sum(-1)


def _raw_breaking(x: Tensor) -> dict[str, Tensor]:
    d, dbar = _geometry(x)
    n = torch.linalg.cross(x[:, 1] - x[:, 0], x[:, 2] - x[:, 0], dim=-1)
    nz2 = n[:, 2].pow(2) / n.pow(2).sum(-1).clamp_min(1e-300)
    c = x.mean(1)
    return {
        "so3": nz2 - 1.0 / 3.0,
        "translation": c.pow(2).sum(-1).clamp_min(1e-300).sqrt() / dbar,
        "scaling": torch.log(dbar),
        "permutation": (d[:, 0] - d[:, 1]) / dbar,
    }


@cache
def _normalizers() -> dict[str, float]:
    """1 / sqrt(E|b_j(g x) − b_j(x)|²) per type, from 2·10⁵ fixed-seed draws."""
    gen = torch.Generator().manual_seed(20230601)
    n = 200_000
    x = torch.randn(n, 3, 3, generator=gen, dtype=torch.float64)
    raw = _raw_breaking(x)
    out = {}
    for k, sym in symmetry_types().items():
        g = sym.sample(n, gen, torch.float64)
        moved = _raw_breaking(sym.act_in(g, x))[k]
        out[k] = 1.0 / math.sqrt(float((moved - raw[k]).pow(2).mean()))
    return out


def breaking_terms(x: Tensor) -> dict[str, Tensor]:
    """:math:`b_j(x)` ``(N,)`` per type, normalized to unit violation under type j."""
    norm = _normalizers()
    return {k: v * norm[k] for k, v in _raw_breaking(x).items()}


def mixed_symmetry_target(x: Tensor, levels: Mapping[str, float]) -> Tensor:
    """:math:`f(x) = f_{inv}(x) + \\sum_j ε_j b_j(x)` ``(N, 1)`` (differentiable in x)."""
    unknown = set(levels) - set(MIXED_SYMMETRY_TYPES)
    if unknown:
        raise KeyError(f"unknown types {sorted(unknown)}; options: {MIXED_SYMMETRY_TYPES}")
    b = breaking_terms(x)
    f = invariant_part(x)
    for k, eps in levels.items():
        f = f + float(eps) * b[k]
    return f[:, None]


@dataclass(frozen=True)
class MixedSymmetryDataset:
    """Splits of the synthetic task: ``x`` ``(N, 3, 3)``, ``y`` ``(N, 1)``."""

    x_train: Tensor
    y_train: Tensor
    x_test: Tensor
    y_test: Tensor
    levels: dict[str, float] = field(default_factory=dict)
    """The planted approximation levels ε_j (the true R_j of the target is ε_j²)."""
    noise: float = 0.0
    """Standard deviation of the Gaussian label noise on the training targets."""


def mixed_symmetry(
    *,
    n_train: int = 500,
    n_test: int = 2000,
    levels: Mapping[str, float] | None = None,
    noise: float = 0.02,
    seed: int = 0,
    dtype: torch.dtype = torch.float64,
) -> MixedSymmetryDataset:
    """Draw the synthetic mixed-symmetry task from ``seed``.

    Test targets are noise free (the test error measures the function).
    """
    lv = dict(DEFAULT_LEVELS if levels is None else levels)
    for k, v in lv.items():
        if not (math.isfinite(float(v)) and float(v) >= 0):
            raise ValueError(f"level {k!r} = {v}: must be finite and >= 0")
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n_train + n_test, 3, 3, generator=gen, dtype=torch.float64)
    y = mixed_symmetry_target(x, lv)
    y_train = y[:n_train] + noise * torch.randn(n_train, 1, generator=gen, dtype=torch.float64)
    return MixedSymmetryDataset(
        x[:n_train].to(dtype),
        y_train.to(dtype),
        x[n_train:].to(dtype),
        y[n_train:].to(dtype),
        {k: float(v) for k, v in lv.items()},
        float(noise),
    )


# ---------------------------------------------------------------- motion forecasting


def nbody_symmetry_types(n_particles: int = 5) -> dict:
    """Symmetry types of charged n-body forecasting on ``(N, n, 7)`` inputs.

    Inputs are per particle ``[loc (3), vel (3), charge (1)]`` and outputs the
    displacements ``(N, n, 3)`` (target − loc). ``so3`` rotates loc, vel and the
    output; ``translation`` shifts loc only (displacements are invariant);
    ``permutation`` relabels particles in inputs and outputs. Without a field
    all three are exact symmetries of the dynamics; a constant external field E
    breaks ``so3`` (only rotations about E remain) and leaves the other two exact.
    """
    from equivariance.soft import SymmetryType, get_symmetry

    rot = get_symmetry("so3")
    shift = get_symmetry("translation")
    perm = get_symmetry("permutation", n_points=n_particles, output="equivariant")

    def rot_in(R, x):
        R = R.to(x.dtype)
        loc = torch.einsum("bij,bnj->bni", R, x[..., 0:3])
        vel = torch.einsum("bij,bnj->bni", R, x[..., 3:6])
        return torch.cat([loc, vel, x[..., 6:]], -1)

    def rot_out(R, y):
        return torch.einsum("bij,bnj->bni", R.to(y.dtype), y)

    def shift_in(t, x):
        return torch.cat([x[..., 0:3] + t.to(x.dtype)[:, None, :], x[..., 3:]], -1)

    return {
        "so3": SymmetryType(
            name="so3",
            act_in=rot_in,
            act_out=rot_out,
            sample=rot.sample,
            sample_algebra=rot.sample_algebra,
            exp=rot.exp,
        ),
        "translation": SymmetryType(
            name="translation",
            act_in=shift_in,
            act_out=lambda t, y: y,
            sample=shift.sample,
            sample_algebra=shift.sample_algebra,
            exp=shift.exp,
        ),
        "permutation": perm,
    }


def nbody_forecasting(
    *,
    field_strength: float = 0.5,
    seed: int = 0,
    n_train: int = 3000,
    n_test: int = 2000,
    dtype: torch.dtype = torch.float32,
    **nbody_kwargs,
) -> dict[str, Tensor]:
    """Charged n-body forecasting with a constant field ``E = (0, 0, field_strength)``.

    Reuses :func:`neurosim.workloads.nbody.nbody`. Returns ``x_train``/``x_test``
    ``(N, n, 7)`` (loc, vel, charge) and ``y_train``/``y_test`` ``(N, n, 3)``
    displacements; the symmetry types are :func:`nbody_symmetry_types`. The
    approximation level of ``so3`` grows with ``field_strength`` (0: exact);
    ``translation`` and ``permutation`` stay exact.
    """
    from .nbody import nbody

    field = None if field_strength == 0 else (0.0, 0.0, float(field_strength))
    ds = nbody(
        seed=seed,
        n_train=n_train,
        n_valid=0,
        n_test=n_test,
        field=field,
        dtype=dtype,
        **nbody_kwargs,
    )
    out = {}
    for name in ("train", "test"):
        s = ds.split(name)
        out[f"x_{name}"] = torch.cat([s.loc, s.vel, s.charges], -1)
        out[f"y_{name}"] = s.target - s.loc
    return out

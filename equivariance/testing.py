"""Equivariance test kit: random group elements, equivariance error, an assertion.

Modelled on e3nn's ``e3nn/util/test.py`` ``assert_equivariant`` (STYLE.md §5): the
group element is drawn in float64, the group action is applied in float64 and cast
back to the data's dtype, and the tolerance depends on the dtype.

For a map :math:`f` with input action :math:`\\rho_{in}` and output action
:math:`\\rho_{out}`, the reported error is the worst relative defect over draws

.. math:: \\varepsilon = \\max_{g} \\frac{\\lVert f(\\rho_{in}(g)\\,x) - \\rho_{out}(g)\\,f(x)
          \\rVert_\\infty}{\\max(\\lVert \\rho_{out}(g)\\,f(x) \\rVert_\\infty, \\epsilon_{tiny})}.

Example
-------
>>> import torch
>>> from equivariance.so3 import spherical_harmonics
>>> x = torch.randn(10, 3, dtype=torch.float64)
>>> err = assert_equivariant(
...     lambda v: spherical_harmonics(2, v),
...     (x,),
...     act_in=lambda R, v: v @ R.T,
...     act_out=so3_action(2),
... )
>>> err < 1e-10
True
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from .so3 import wigner_D_blocks

__all__ = [
    "FLOAT_TOLERANCE",
    "random_rotation",
    "so3_action",
    "equivariance_error",
    "assert_equivariant",
    "random_orthogonal",
    "random_euclidean",
    "euclidean_sampler",
    "point_action",
    "vector_action",
    "invariant_action",
]

#: Largest accepted relative equivariance error per dtype (issue: f32 1e-5, f64 1e-10).
FLOAT_TOLERANCE: dict[torch.dtype, float] = {torch.float32: 1e-5, torch.float64: 1e-10}

Action = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def random_rotation(
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float64,
    *,
    inversion: bool = False,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """A Haar-uniform rotation matrix ``(3, 3)`` (times ``-1`` if ``inversion``).

    Normalizes a standard-normal 4-vector into a unit quaternion (uniform on
    :math:`S^3`, hence Haar on SO(3)). With ``inversion=True`` returns :math:`-R`,
    an improper element of O(3) (:math:`\\det = -1`), to test parity.
    """
    q = torch.randn(4, generator=generator, dtype=torch.float64)
    w, x, y, z = (q / torch.linalg.vector_norm(q)).unbind()
    R = torch.stack(
        [
            torch.stack([1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)]),
            torch.stack([2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)]),
            torch.stack([2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]),
        ]
    )
    if inversion:
        R = -R
    return R.to(dtype=dtype, device=device)


def so3_action(lmax: int) -> Action:
    """Action :math:`c \\mapsto \\bigoplus_l D_l(R)\\,c` on the last axis (``(lmax+1)²`` wide).

    The layout is that of :func:`equivariance.so3.spherical_harmonics`; ``R`` may be improper.
    """

    def act(R: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        D = wigner_D_blocks(lmax, R.to(device=x.device, dtype=torch.float64))
        return (x.to(torch.float64) @ D.T).to(x.dtype)

    return act


def _as_tuple(x) -> tuple[torch.Tensor, ...]:
    return tuple(x) if isinstance(x, (tuple, list)) else (x,)


def equivariance_error(
    f: Callable[..., torch.Tensor],
    inputs: Sequence[torch.Tensor] | torch.Tensor,
    act_in: Action | Sequence[Action],
    act_out: Action,
    *,
    n_draws: int = 3,
    generator: torch.Generator | None = None,
    inversion: bool | None = None,
    sampler: Callable[..., torch.Tensor] = random_rotation,
) -> float:
    """Worst relative equivariance error of ``f`` over ``n_draws`` random group elements.

    Parameters
    ----------
    f : callable
        ``f(*inputs) -> Tensor``.
    inputs : Tensor or sequence of Tensors
        Example inputs (their dtype sets the precision of the check).
    act_in : callable or sequence of callables
        ``act_in(g, x_i) -> x_i'``; one per input, or one shared by all.
    act_out : callable
        ``act_out(g, y) -> y'``.
    n_draws : int
        Group elements drawn (with ``inversion=None``, alternately proper and improper).
    inversion : bool or None
        ``True``: only improper elements, ``False``: only rotations, ``None``: both.
    sampler : callable
        ``sampler(generator, torch.float64, inversion=...) -> g`` (default :func:`random_rotation`).

    Returns
    -------
    float
        :math:`\\varepsilon` of the module docstring.
    """
    xs = _as_tuple(inputs)
    acts = list(act_in) if isinstance(act_in, (tuple, list)) else [act_in] * len(xs)
    if len(acts) != len(xs):
        raise ValueError(f"{len(acts)} input actions for {len(xs)} inputs")
    y = f(*xs)
    worst = 0.0
    for k in range(n_draws):
        inv = (k % 2 == 1) if inversion is None else inversion
        g = sampler(generator, torch.float64, inversion=inv)
        lhs = f(*(a(g, x) for a, x in zip(acts, xs, strict=True)))
        rhs = act_out(g, y)
        num = (lhs - rhs).abs().max()
        den = rhs.abs().max().clamp_min(torch.finfo(rhs.dtype).tiny)
        worst = max(worst, float((num / den).detach()))
    return worst


def assert_equivariant(
    f: Callable[..., torch.Tensor],
    inputs: Sequence[torch.Tensor] | torch.Tensor,
    act_in: Action | Sequence[Action],
    act_out: Action,
    *,
    tol: float | None = None,
    **kwargs,
) -> float:
    """Raise ``AssertionError`` unless :func:`equivariance_error` ``<= tol``.

    ``tol`` defaults to :data:`FLOAT_TOLERANCE` for the first input's dtype
    (float32: 1e-5, float64: 1e-10). Returns the measured error.
    """
    xs = _as_tuple(inputs)
    if tol is None:
        dt = xs[0].dtype
        if dt not in FLOAT_TOLERANCE:
            raise KeyError(f"no default tolerance for {dt}; options: {list(FLOAT_TOLERANCE)}")
        tol = FLOAT_TOLERANCE[dt]
    err = equivariance_error(f, xs, act_in, act_out, **kwargs)
    if not err <= tol:
        raise AssertionError(f"equivariance error {err:.3e} > tolerance {tol:.1e}")
    return err


def random_orthogonal(
    n: int = 3,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float64,
    *,
    inversion: bool = False,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """A Haar-uniform element ``(n, n)`` of SO(n), or of O(n)∖SO(n) if ``inversion``.

    QR of a standard-normal matrix with the signs of ``diag(R)`` moved into ``Q``
    (Mezzadri, *Notices AMS* 54, 2007) is Haar on O(n); flipping the first column
    sets the determinant to ``-1`` if ``inversion`` else ``+1`` (still Haar on each coset).
    """
    A = torch.randn(n, n, generator=generator, dtype=torch.float64)
    Q, R = torch.linalg.qr(A)
    Q = Q * torch.sign(torch.diagonal(R))
    want = -1.0 if inversion else 1.0
    if torch.linalg.det(Q) * want < 0:
        Q[:, 0] = -Q[:, 0]
    return Q.to(dtype=dtype, device=device)


def random_euclidean(
    n: int = 3,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float64,
    *,
    inversion: bool = False,
    shift: float = 3.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """An element ``(Q, t)`` of E(n), :math:`x \\mapsto Qx + t`: ``Q`` from
    :func:`random_orthogonal`, ``t ~ N(0, shift² I)``."""
    Q = random_orthogonal(n, generator, torch.float64, inversion=inversion)
    t = shift * torch.randn(n, generator=generator, dtype=torch.float64)
    return Q.to(dtype), t.to(dtype)


def euclidean_sampler(n: int = 3, *, translate: bool = True) -> Callable[..., object]:
    """A ``sampler`` for :func:`equivariance_error` drawing ``(Q, t)`` in E(n)
    (``t = 0`` unless ``translate``); pair it with :func:`point_action` /
    :func:`vector_action`."""

    def sample(generator, dtype, *, inversion=False):
        Q, t = random_euclidean(n, generator, dtype, inversion=inversion)
        return Q, (t if translate else torch.zeros_like(t))

    return sample


def point_action(g: tuple[torch.Tensor, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """E(n) acting on points stored as rows ``(..., n)``: :math:`x \\mapsto Qx + t`."""
    Q, t = g
    return (x.to(torch.float64) @ Q.T.to(x.device) + t.to(x.device)).to(x.dtype)


def vector_action(g: tuple[torch.Tensor, torch.Tensor], v: torch.Tensor) -> torch.Tensor:
    """E(n) acting on free vectors (velocities, displacements) ``(..., n)``: :math:`v \\to Qv`."""
    Q, _ = g
    return (v.to(torch.float64) @ Q.T.to(v.device)).to(v.dtype)


def invariant_action(g: object, x: torch.Tensor) -> torch.Tensor:
    """The trivial action (scalars, charges, invariant outputs)."""
    return x

r"""Symmetry types: a group, its action on inputs and outputs, samplers, generators.

A :class:`SymmetryType` describes one candidate symmetry of a map
``f: X -> Y`` by

* ``act_in(g, x)`` / ``act_out(g, y)``: the batched actions (``g`` holds one
  group element per row of ``x``; ``x`` is ``(B, ...)``),
* ``sample(n, generator, dtype)``: ``n`` group elements from the type's
  sampling distribution (Haar for the compact groups),
* optionally ``sample_algebra`` and ``exp``: Lie-algebra elements and the
  exponential map, which give the infinitesimal estimator
  (:func:`~equivariance.soft.equivariance_penalty` with ``estimator="lie"``),
* optionally ``representation(n_points, dim, kind)``: the generators
  :math:`dρ(A_k)` and :math:`ρ(h_j)` of the group on flattened features, used
  by the weight-space projector (:func:`~equivariance.soft.equivariant_projector`).

The built-in types act on point clouds ``x`` of shape ``(B, n, d)`` (``n``
points in :math:`\mathbb R^d`); ``output`` chooses how the output transforms:
``"invariant"`` (``y`` unchanged) or ``"equivariant"`` (``y`` has the layout
of ``x`` and transforms like it; translations then act on ``y`` as positions).

=============  =========================================  ========  ============
name           group element ``g`` (per row)              Lie       weight-space
=============  =========================================  ========  ============
``so2``        rotation matrix ``(2, 2)``, Haar           yes       yes
``so3``        rotation matrix ``(3, 3)``, Haar           yes       yes
``translation``  shift ``(d,)``, N(0, σ²)                 yes       yes (homogeneous)
``scaling``    factor ``()``, log-uniform on [1/s, s]     yes       yes
``reflection`` sign ``()`` ∈ {+1, −1}, flips one axis     no        yes
``permutation``  index ``(n,)``, uniform on S_n           no        yes
=============  =========================================  ========  ============

New types: build a :class:`SymmetryType` and :func:`register_symmetry` it (or a
factory taking keyword options); :func:`get_symmetry` resolves names and raises
a ``KeyError`` that lists the options.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace

import torch

from ._weight import Representation

__all__ = [
    "SymmetryType",
    "register_symmetry",
    "get_symmetry",
    "available_symmetries",
]

Tensor = torch.Tensor


@dataclass(frozen=True)
class SymmetryType:
    """One symmetry type: group sampler and actions on inputs and outputs.

    Attributes
    ----------
    name
        Registry name.
    act_in, act_out
        ``act(g, z) -> z'``, batched over the first axis (one element per row).
    sample
        ``sample(n, generator, dtype) -> g`` (``n`` elements, stacked on axis 0).
    sample_algebra, exp
        Optional: ``sample_algebra(n, generator, dtype) -> A`` draws Lie-algebra
        elements and ``exp(A) -> g`` maps them to the group; both or neither.
        ``exp(0)`` must be the identity.
    representation
        Optional: ``representation(n_points, dim, kind) -> Representation`` with
        the generators on flattened features (``kind`` as in ``output``).
    """

    name: str
    act_in: Callable[[Tensor, Tensor], Tensor]
    act_out: Callable[[Tensor, Tensor], Tensor]
    sample: Callable[[int, torch.Generator | None, torch.dtype], Tensor]
    sample_algebra: Callable[[int, torch.Generator | None, torch.dtype], Tensor] | None = None
    exp: Callable[[Tensor], Tensor] | None = None
    representation: Callable[[int, int, str], Representation] | None = None

    def __post_init__(self):
        if (self.sample_algebra is None) != (self.exp is None):
            raise ValueError(f"{self.name}: give both sample_algebra and exp, or neither")

    @property
    def has_lie_algebra(self) -> bool:
        """Whether the infinitesimal (Lie-algebra) estimator is available."""
        return self.exp is not None

    def sample_near_identity(
        self, n: int, scale: float, generator: torch.Generator | None, dtype: torch.dtype
    ) -> Tensor:
        """``exp(scale · A)`` with ``A`` from :attr:`sample_algebra` (small-angle elements).

        With the same generator state, the ``A`` are those the Lie estimator draws.
        """
        if not self.has_lie_algebra:
            raise ValueError(f"symmetry {self.name!r} has no Lie algebra")
        return self.exp(scale * self.sample_algebra(n, generator, dtype))

    def with_output(self, act_out: Callable[[Tensor, Tensor], Tensor]) -> SymmetryType:
        """The same type with another output action."""
        return replace(self, act_out=act_out)


# ---------------------------------------------------------------- registry

_REGISTRY: dict[str, Callable[..., SymmetryType] | SymmetryType] = {}


def register_symmetry(
    name: str, entry: SymmetryType | Callable[..., SymmetryType], *, overwrite: bool = False
) -> None:
    """Register a :class:`SymmetryType` (or a factory of keyword options) under ``name``."""
    if name in _REGISTRY and not overwrite:
        raise ValueError(f"symmetry {name!r} is already registered (pass overwrite=True)")
    _REGISTRY[name] = entry


def available_symmetries() -> tuple[str, ...]:
    """The registered names, sorted."""
    return tuple(sorted(_REGISTRY))


def get_symmetry(name: str | SymmetryType, **options) -> SymmetryType:
    """The registered type ``name`` (a factory is called with ``options``).

    Raises ``KeyError`` naming the registered options for an unknown name.
    """
    if isinstance(name, SymmetryType):
        return name
    if name not in _REGISTRY:
        raise KeyError(
            f"unknown symmetry {name!r}; registered: {', '.join(available_symmetries())}"
        )
    entry = _REGISTRY[name]
    if isinstance(entry, SymmetryType):
        if options:
            raise TypeError(f"symmetry {name!r} takes no options, got {sorted(options)}")
        return entry
    return entry(**options)


# ---------------------------------------------------------------- helpers


def _check_output(output: str) -> str:
    if output not in ("invariant", "equivariant"):
        raise ValueError(f"output={output!r}; allowed: 'invariant', 'equivariant'")
    return output


def _identity_out(g: Tensor, y: Tensor) -> Tensor:
    return y


def _matmul_points(g: Tensor, x: Tensor) -> Tensor:
    """Rows ``x_b (n, d)`` ↦ ``x_b g_bᵀ`` (``g`` is ``(B, d, d)``)."""
    return torch.einsum("bij,bnj->bni", g.to(x.dtype), x)


def _so_generators(d: int, dtype=torch.float64) -> Tensor:
    """Basis ``(d(d−1)/2, d, d)`` of so(d): E_ij − E_ji for i < j."""
    gens = []
    for i in range(d):
        for j in range(i + 1, d):
            a = torch.zeros(d, d, dtype=dtype)
            a[i, j], a[j, i] = -1.0, 1.0
            gens.append(a)
    return torch.stack(gens)


def _trivial_or(kind: str, n_points: int, dim: int, lie: Tensor, disc: Tensor) -> Representation:
    """``kind="equivariant"``: the given generators; ``"invariant"``: trivial on one channel."""
    if kind == "equivariant":
        return Representation(lie, disc)
    if kind != "invariant":
        raise ValueError(f"kind={kind!r}; allowed: 'invariant', 'equivariant'")
    return Representation(
        torch.zeros(lie.shape[0], 1, 1, dtype=torch.float64),
        torch.ones(disc.shape[0], 1, 1, dtype=torch.float64),
    )


def _rotation_type(name: str, d: int, output: str) -> SymmetryType:
    output = _check_output(output)
    basis = _so_generators(d)

    def sample(n, generator, dtype):
        if d == 2:
            th = 2 * math.pi * torch.rand(n, generator=generator, dtype=torch.float64)
            c, s = torch.cos(th), torch.sin(th)
            R = torch.stack([torch.stack([c, -s], -1), torch.stack([s, c], -1)], -2)
        else:  # unit quaternion, uniform on S³ → Haar on SO(3)
            q = torch.randn(n, 4, generator=generator, dtype=torch.float64)
            w, x, y, z = (q / q.norm(dim=-1, keepdim=True)).unbind(-1)
            xx, yy, zz, xy, xz, yz = x * x, y * y, z * z, x * y, x * z, y * z
            wx, wy, wz = w * x, w * y, w * z
            rows = [
                [1 - 2 * (yy + zz), 2 * (xy - wz), 2 * (xz + wy)],
                [2 * (xy + wz), 1 - 2 * (xx + zz), 2 * (yz - wx)],
                [2 * (xz - wy), 2 * (yz + wx), 1 - 2 * (xx + yy)],
            ]
            R = torch.stack([torch.stack(r, -1) for r in rows], -2)
        return R.to(dtype)

    def sample_algebra(n, generator, dtype):
        c = torch.randn(n, basis.shape[0], generator=generator, dtype=torch.float64)
        return torch.einsum("nk,kij->nij", c, basis).to(dtype)

    def representation(n_points, dim, kind):
        if dim != d:
            raise ValueError(f"{name} acts on {d}-dimensional points, got dim={dim}")
        eye = torch.eye(n_points, dtype=torch.float64)
        lie = torch.stack([torch.kron(eye, a) for a in basis])
        return _trivial_or(kind, n_points, dim, lie, torch.zeros(0, n_points * d, n_points * d))

    return SymmetryType(
        name=name,
        act_in=_matmul_points,
        act_out=_matmul_points if output == "equivariant" else _identity_out,
        sample=sample,
        sample_algebra=sample_algebra,
        exp=torch.linalg.matrix_exp,
        representation=representation,
    )


def so2(*, output: str = "invariant") -> SymmetryType:
    """Rotations of the plane, acting on ``(B, n, 2)`` point clouds (Haar-sampled)."""
    return _rotation_type("so2", 2, output)


def so3(*, output: str = "invariant") -> SymmetryType:
    """Rotations of space, acting on ``(B, n, 3)`` point clouds (Haar-sampled)."""
    return _rotation_type("so3", 3, output)


def translation(*, output: str = "invariant", dim: int = 3, sigma: float = 1.0) -> SymmetryType:
    """Common shifts ``x_i ↦ x_i + t`` of all points, ``t ~ N(0, σ² I_d)``.

    ``output="equivariant"`` shifts the output points too (positions). The
    weight-space representation is the homogeneous one: features
    ``(x_1, …, x_n, 1)`` of size ``n d + 1``.
    """
    output = _check_output(output)

    def sample(n, generator, dtype):
        return (sigma * torch.randn(n, dim, generator=generator, dtype=torch.float64)).to(dtype)

    def act(t, x):
        return x + t.to(x.dtype)[:, None, :]

    def representation(n_points, d, kind):
        if d != dim:
            raise ValueError(f"translation acts on {dim}-dimensional points, got dim={d}")
        D = n_points * d + 1
        lie = torch.zeros(d, D, D, dtype=torch.float64)
        for k in range(d):
            for p in range(n_points):
                lie[k, p * d + k, D - 1] = 1.0
        return _trivial_or(kind, n_points, d, lie, torch.zeros(0, D, D))

    return SymmetryType(
        name="translation",
        act_in=act,
        act_out=act if output == "equivariant" else _identity_out,
        sample=sample,
        sample_algebra=sample,
        exp=lambda a: a,
        representation=representation,
    )


def scaling(*, output: str = "invariant", max_factor: float = 2.0) -> SymmetryType:
    """Uniform scalings ``x ↦ s x``, ``log s ~ U(−log s_max, log s_max)``; algebra a ~ N(0, 1)."""
    output = _check_output(output)
    if not max_factor > 1.0:
        raise ValueError(f"max_factor = {max_factor}: must be > 1")
    half = math.log(max_factor)

    def sample(n, generator, dtype):
        u = torch.rand(n, generator=generator, dtype=torch.float64)
        return torch.exp(half * (2 * u - 1)).to(dtype)

    def sample_algebra(n, generator, dtype):
        return torch.randn(n, generator=generator, dtype=torch.float64).to(dtype)

    def act(s, x):
        return s.to(x.dtype).reshape(-1, *([1] * (x.dim() - 1))) * x

    def representation(n_points, dim, kind):
        D = n_points * dim
        lie = torch.eye(D, dtype=torch.float64)[None]
        return _trivial_or(kind, n_points, dim, lie, torch.zeros(0, D, D))

    return SymmetryType(
        name="scaling",
        act_in=act,
        act_out=act if output == "equivariant" else _identity_out,
        sample=sample,
        sample_algebra=sample_algebra,
        exp=torch.exp,
        representation=representation,
    )


def reflection(*, output: str = "invariant", axis: int = 0) -> SymmetryType:
    """The two-element group {1, σ}, σ flipping coordinate ``axis`` of every point."""
    output = _check_output(output)

    def sample(n, generator, dtype):
        bits = torch.randint(0, 2, (n,), generator=generator)
        return (1 - 2 * bits).to(dtype)

    def act(s, x):
        flip = torch.ones(x.shape[-1], dtype=x.dtype)
        flip = flip.expand(x.shape[0], -1).clone()
        flip[:, axis] = s.to(x.dtype)
        return x * flip.reshape(x.shape[0], *([1] * (x.dim() - 2)), x.shape[-1])

    def representation(n_points, dim, kind):
        diag = torch.ones(dim, dtype=torch.float64)
        diag[axis] = -1.0
        h = torch.kron(torch.eye(n_points, dtype=torch.float64), torch.diag(diag))[None]
        D = n_points * dim
        return _trivial_or(kind, n_points, dim, torch.zeros(0, D, D), h)

    return SymmetryType(
        name="reflection",
        act_in=act,
        act_out=act if output == "equivariant" else _identity_out,
        sample=sample,
        representation=representation,
    )


def permutation(*, output: str = "invariant", n_points: int | None = None) -> SymmetryType:
    """Relabelings of the ``n_points`` points (axis 1 of ``(B, n, d)``), uniform on S_n.

    ``n_points`` is needed to sample (not for the weight-space generators: the
    transposition (0 1) and the cycle (0 1 … n−1), which generate S_n).
    """
    output = _check_output(output)

    def sample(n, generator, dtype):
        if n_points is None:
            raise ValueError("get_symmetry('permutation', n_points=...) to sample permutations")
        keys = torch.rand(n, n_points, generator=generator, dtype=torch.float64)
        return torch.argsort(keys, dim=-1)

    def act(perm, x):
        idx = perm.long().reshape(x.shape[0], x.shape[1], *([1] * (x.dim() - 2)))
        return torch.gather(x, 1, idx.expand_as(x))

    def representation(n, dim, kind):
        eye = torch.eye(n, dtype=torch.float64)
        gens = []
        if n >= 2:
            gens.append(eye[[1, 0, *range(2, n)]])
        if n >= 3:
            gens.append(eye[[*range(1, n), 0]])
        D = n * dim
        h = torch.stack([torch.kron(P, torch.eye(dim, dtype=torch.float64)) for P in gens])
        h = h if gens else torch.zeros(0, D, D, dtype=torch.float64)
        return _trivial_or(kind, n, dim, torch.zeros(0, D, D), h)

    return SymmetryType(
        name="permutation",
        act_in=act,
        act_out=act if output == "equivariant" else _identity_out,
        sample=sample,
        representation=representation,
    )


for _name, _factory in [
    ("so2", so2),
    ("so3", so3),
    ("translation", translation),
    ("scaling", scaling),
    ("reflection", reflection),
    ("permutation", permutation),
]:
    register_symmetry(_name, _factory)

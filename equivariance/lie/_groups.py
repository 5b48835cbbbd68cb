r"""Matrix groups SO(n), SL(n,ℝ), GL⁺(n,ℝ) in polar (Cartan) coordinates :math:`g = k\,e^{s}`.

Mironenco & Forré (ICLR 2024, arXiv:2310.11366) parametrize the non-compact groups through
this decomposition: :math:`k \in \mathrm{SO}(n)` (compact, sampled uniformly) and
:math:`s` symmetric (the submanifold :math:`e^{s}` of SPD matrices, traceless for SL),
which gives a global chart (the group exponential of GL⁺(2) is not surjective) and a
Haar measure that factorizes (:mod:`._haar`). We use the *right* factor :math:`e^{s}`
(the authors use :math:`P R`): left translation by a rotation then only moves
:math:`k`, which the exactness promises of :mod:`._conv` rely on.

.. math::

    s = \tfrac12 \log(g^\top g), \qquad k = g\,e^{-s}, \qquad
    g^{-1} = k^\top e^{-k s k^\top} \;(\text{i.e. } (k, s)^{-1} = (k^\top, -k s k^\top)).

``exp``/``log`` of symmetric matrices go through ``eigh`` (``sym_exp``, ``sym_log``). All
functions are batched over leading axes, keep dtype and device, and never sync the host.

Example
-------
>>> G = GLPlus(2, log_scale=(-0.3, 0.3), max_stretch=0.5)
>>> h = G.sample(4, generator=torch.Generator().manual_seed(0))
>>> k, s = G.decompose(h.g)
>>> bool(torch.allclose(G.compose(k, s), h.g))
True
"""

from __future__ import annotations

import abc
import math

import torch

from ._haar import (
    GroupSamples,
    log_haar_density,
    sample_so,
    sample_traceless_symmetric,
)

__all__ = [
    "AbstractMatrixGroup",
    "GLPlus",
    "SL",
    "SO",
    "rotation2d",
    "sym_exp",
    "sym_log",
]


def sym_exp(s: torch.Tensor) -> torch.Tensor:
    """:math:`e^{s} = Q\\,\\mathrm{diag}(e^{\\lambda})\\,Q^\\top`, symmetric ``s (..., n, n)``."""
    lam, q = torch.linalg.eigh(s)
    return (q * torch.exp(lam).unsqueeze(-2)) @ q.transpose(-1, -2)


def sym_log(p: torch.Tensor) -> torch.Tensor:
    """:math:`\\log p = Q\\,\\mathrm{diag}(\\log\\lambda)\\,Q^\\top`, SPD ``p (..., n, n)``."""
    lam, q = torch.linalg.eigh(p)
    return (q * torch.log(lam).unsqueeze(-2)) @ q.transpose(-1, -2)


def rotation2d(theta: torch.Tensor) -> torch.Tensor:
    """Rotation matrices ``(..., 2, 2)`` by angles ``theta`` ``(...)`` (counter-clockwise)."""
    c, s = torch.cos(theta), torch.sin(theta)
    return torch.stack([torch.stack([c, -s], -1), torch.stack([s, c], -1)], -2)


def _check_angle(n: int, max_angle: float | None) -> float | None:
    if max_angle is None:
        return None
    if n != 2 or not 0 < max_angle <= math.pi:
        raise ValueError(f"max_angle needs n = 2 and 0 < max_angle <= pi, got {n}, {max_angle}")
    return float(max_angle)


def _angle_repr(max_angle: float | None) -> str:
    return "" if max_angle is None else f", max_angle={max_angle:.4g}"


def _sym(x: torch.Tensor) -> torch.Tensor:
    return 0.5 * (x + x.transpose(-1, -2))


class AbstractMatrixGroup(abc.ABC):
    """A connected matrix group :math:`H \\subseteq \\mathrm{GL}^+(n)` with :math:`g = k e^{s}`.

    Subclasses fix which symmetric parts are allowed (none, traceless, all) and how
    the non-compact part is sampled; the decomposition, product, inverse and the
    kernel-network features are shared.

    Attributes
    ----------
    n : int
        Matrix size.
    max_angle : float or None
        Truncation of the compact factor (n = 2 only): :math:`k = R(\\theta)` with
        :math:`|\\theta| \\le` ``max_angle`` (radians) in :meth:`sample`; ``None`` = all of
        SO(2). See :meth:`sample` for what the truncation does to the Haar rule.
    """

    n: int
    max_angle: float | None = None

    @property
    @abc.abstractmethod
    def dim(self) -> int:
        """Manifold dimension of the group."""

    @property
    @abc.abstractmethod
    def volume_preserving(self) -> bool:
        """Whether :math:`\\det g = 1` on the whole group."""

    @abc.abstractmethod
    def _sample_s(self, num, generator, dtype, device) -> tuple[torch.Tensor, torch.Tensor]:
        """Symmetric parts ``(num, n, n)`` and unnormalized log-weights ``(num,)``."""

    # -- decomposition ----------------------------------------------------------------
    def decompose(self, g: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Polar decomposition ``(k, s)`` of ``g`` ``(..., n, n)``: :math:`g = k e^{s}`.

        Computed from the SVD :math:`g = U \\Sigma V^\\top` as :math:`k = U V^\\top`,
        :math:`s = V \\log\\Sigma\\, V^\\top` (equal to :math:`\\tfrac12\\log g^\\top g`, without
        squaring the condition number).
        """
        u, sv, vh = torch.linalg.svd(g)
        s = (vh.transpose(-1, -2) * torch.log(sv).unsqueeze(-2)) @ vh
        return u @ vh, _sym(s)

    def compose(self, k: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        """Inverse of :meth:`decompose`: :math:`k e^{s}`."""
        return k @ sym_exp(s)

    def product(self, g1: torch.Tensor, g2: torch.Tensor) -> torch.Tensor:
        """Group product :math:`g_1 g_2` (broadcast over leading axes)."""
        return g1 @ g2

    def inverse(self, g: torch.Tensor) -> torch.Tensor:
        """:math:`g^{-1} = e^{-s} k^\\top` from the decomposition (no matrix inversion)."""
        k, s = self.decompose(g)
        return sym_exp(-s) @ k.transpose(-1, -2)

    def identity(self, dtype=torch.float64, device=None) -> torch.Tensor:
        """The identity ``(n, n)``."""
        return torch.eye(self.n, dtype=dtype, device=device)

    def contains(self, g: torch.Tensor, tol: float = 1e-8) -> torch.Tensor:
        """Boolean ``(...)``: is ``g`` in the group (to ``tol``)?"""
        det = torch.linalg.det(g)
        if self.volume_preserving:
            return (det > 0) & ((det - 1).abs() <= tol)
        return det > 0

    def log_haar_density(self, s: torch.Tensor) -> torch.Tensor:
        """Log Haar density ``(...)`` w.r.t. :math:`dk\\,ds` at symmetric parts ``s``.

        See :func:`equivariance.lie.log_haar_density` (zero for SO(n)).
        """
        return log_haar_density(torch.linalg.eigvalsh(s))

    # -- kernel coordinates -------------------------------------------------------------
    def features(self, g: torch.Tensor) -> torch.Tensor:
        """Smooth global coordinates ``(..., n_features)`` of ``g`` for kernel networks.

        The entries of :math:`k` (for n = 2: :math:`(\\cos\\theta, \\sin\\theta)`, which
        avoids the branch cut of an angle) followed by the upper triangle of :math:`s`
        (for SL, the trace-free coordinates; nothing for SO).
        """
        k, s = self.decompose(g)
        return self._features(k, s)

    def _features(self, k: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        kf = k[..., :, 0] if self.n == 2 else k.flatten(-2)
        i, j = torch.triu_indices(self.n, self.n, device=s.device)
        return torch.cat([kf, s[..., i, j]], dim=-1)

    @property
    def n_features(self) -> int:
        """Length of :meth:`features`."""
        eye = torch.eye(self.n)
        return self._features(eye, eye).shape[-1]

    # -- sampling -----------------------------------------------------------------------
    def sample(
        self,
        num: int,
        *,
        generator: torch.Generator | None = None,
        dtype: torch.dtype = torch.float64,
        device: torch.device | str | None = None,
        orbit: int = 1,
    ) -> GroupSamples:
        """Draw ``num`` elements of the (truncated) Haar measure with weights.

        :math:`k` is Haar on SO(n); :math:`s` comes from the subclass's (exact or
        importance-weighted) sampler, independently. With ``orbit = m > 1`` only
        ``num / m`` elements are drawn and each is left-multiplied by the rotations
        :math:`R_{2\\pi j/m}` (in the first coordinate plane), ``j = 0..m-1``: the set is
        then mapped onto itself by :math:`R_{2\\pi/m}` (weights depend on :math:`s` only,
        which left rotations leave unchanged), the structure behind the exact
        equivariance promised in :mod:`._conv`. Still an unbiased Haar rule
        (each element is Haar-distributed).

        Returns
        -------
        GroupSamples
            ``g, k, s`` ``(num, n, n)`` and normalized ``weight`` ``(num,)``.
        """
        if orbit < 1 or num % orbit:
            raise ValueError(f"num = {num} must be a positive multiple of orbit = {orbit}")
        base = num // orbit
        if self.max_angle is not None:
            if orbit > 1:
                raise ValueError(f"orbit = {orbit} leaves the arc |theta| <= {self.max_angle}")
            a = self.max_angle
            u = torch.rand(num, generator=generator, dtype=dtype, device=device)
            theta = -a + (torch.arange(num, dtype=dtype, device=device) + u) * (2 * a / num)
            k = rotation2d(theta)
        else:
            k = sample_so(base, self.n, generator=generator, dtype=dtype, device=device)
        s, logw = self._sample_s(base, generator, dtype, device)
        if orbit > 1:
            ang = torch.arange(orbit, dtype=dtype, device=device) * (2 * math.pi / orbit)
            rot = torch.eye(self.n, dtype=dtype, device=device).repeat(orbit, 1, 1)
            rot[:, :2, :2] = rotation2d(ang)
            k = (rot[:, None] @ k[None]).flatten(0, 1)  # j-major: element j*base + i
            s = s.repeat(orbit, 1, 1)
            logw = logw.repeat(orbit)
        weight = torch.softmax(logw, dim=0)
        return GroupSamples(self.compose(k, s), k, s, weight)


class SO(AbstractMatrixGroup):
    """The rotation group SO(n): :math:`s = 0`, Haar = uniform.

    Parameters
    ----------
    n : int
        Matrix size (``n >= 2``).
    max_angle : float or None
        Rotation truncation (radians, n = 2), see :meth:`AbstractMatrixGroup.sample`.
    """

    def __init__(self, n: int = 2, *, max_angle: float | None = None):
        if n < 2:
            raise ValueError(f"SO(n) needs n >= 2, got {n}")
        self.n = n
        self.max_angle = _check_angle(n, max_angle)

    @property
    def dim(self) -> int:
        return self.n * (self.n - 1) // 2

    @property
    def volume_preserving(self) -> bool:
        return True

    def decompose(self, g):
        return g, torch.zeros_like(g)

    def compose(self, k, s):
        return k

    def inverse(self, g):
        return g.transpose(-1, -2)

    def log_haar_density(self, s):
        return torch.zeros(s.shape[:-2], dtype=s.dtype, device=s.device)

    def contains(self, g, tol=1e-8):
        eye = torch.eye(self.n, dtype=g.dtype, device=g.device)
        orth = (g.transpose(-1, -2) @ g - eye).abs().amax((-2, -1)) <= tol
        return super().contains(g, tol) & orth

    def _features(self, k, s):
        return k[..., :, 0] if self.n == 2 else k.flatten(-2)

    def _sample_s(self, num, generator, dtype, device):
        z = torch.zeros(num, self.n, self.n, dtype=dtype, device=device)
        return z, torch.zeros(num, dtype=dtype, device=device)

    def __repr__(self) -> str:
        return f"SO({self.n}{_angle_repr(self.max_angle)})"


class SL(AbstractMatrixGroup):
    """The special linear group SL(n,ℝ): :math:`g = k e^{s_0}`, :math:`\\operatorname{tr} s_0 = 0`.

    Parameters
    ----------
    n : int
        Matrix size (``n >= 2``).
    max_stretch : float
        Sampling truncation ``R``: eigenvalue spread of :math:`s_0` at most ``2R`` (the
        singular values of :math:`g` differ by at most a factor :math:`e^{2R}`). Exact
        for n = 2, importance-weighted for n > 2 (:func:`sample_traceless_symmetric`).
    max_angle : float or None
        Rotation truncation (radians, n = 2), see :meth:`AbstractMatrixGroup.sample`.
    """

    def __init__(self, n: int = 2, *, max_stretch: float = 0.5, max_angle: float | None = None):
        if n < 2 or max_stretch <= 0:
            raise ValueError(f"SL(n) needs n >= 2 and max_stretch > 0, got {n}, {max_stretch}")
        self.n = n
        self.max_stretch = float(max_stretch)
        self.max_angle = _check_angle(n, max_angle)

    @property
    def dim(self) -> int:
        return self.n * self.n - 1

    @property
    def volume_preserving(self) -> bool:
        return True

    def decompose(self, g):
        k, s = super().decompose(g)
        eye = torch.eye(self.n, dtype=s.dtype, device=s.device)
        return k, s - eye * (torch.diagonal(s, dim1=-2, dim2=-1).mean(-1)[..., None, None])

    def _features(self, k, s):  # s_nn = -(s_11 + ... ) is redundant
        return super()._features(k, s)[..., :-1]

    def _sample_s(self, num, generator, dtype, device):
        return sample_traceless_symmetric(
            num, self.n, self.max_stretch, generator=generator, dtype=dtype, device=device
        )

    def __repr__(self) -> str:
        return f"SL({self.n}, max_stretch={self.max_stretch}{_angle_repr(self.max_angle)})"


class GLPlus(AbstractMatrixGroup):
    """GL⁺(n,ℝ): :math:`g = k\\,e^{\\sigma}\\,e^{s_0}`, :math:`s = \\sigma I + s_0`.

    Parameters
    ----------
    n : int
        Matrix size (``n >= 2``).
    log_scale : (float, float)
        Sampling truncation of :math:`\\sigma = \\operatorname{tr}(s)/n = \\log(\\det g)/n`
        (the isotropic log-scale), drawn uniformly (its Haar density is flat).
    max_stretch : float
        Truncation of the traceless part, as for :class:`SL`.
    max_angle : float or None
        Rotation truncation (radians, n = 2), see :meth:`AbstractMatrixGroup.sample`.
    """

    def __init__(
        self,
        n: int = 2,
        *,
        log_scale: tuple[float, float] = (-0.5, 0.5),
        max_stretch: float = 0.5,
        max_angle: float | None = None,
    ):
        lo, hi = log_scale
        if n < 2 or max_stretch <= 0 or not lo < hi:
            raise ValueError(
                f"GL+(n): need n >= 2, max_stretch > 0, lo < hi; got {n}, "
                f"{max_stretch}, {log_scale}"
            )
        self.n = n
        self.log_scale = (float(lo), float(hi))
        self.max_stretch = float(max_stretch)
        self.max_angle = _check_angle(n, max_angle)

    @property
    def dim(self) -> int:
        return self.n * self.n

    @property
    def volume_preserving(self) -> bool:
        return False

    def _sample_s(self, num, generator, dtype, device):
        s0, logw = sample_traceless_symmetric(
            num, self.n, self.max_stretch, generator=generator, dtype=dtype, device=device
        )
        lo, hi = self.log_scale
        sigma = lo + (hi - lo) * torch.rand(num, generator=generator, dtype=dtype, device=device)
        eye = torch.eye(self.n, dtype=dtype, device=device)
        return s0 + sigma[:, None, None] * eye, logw

    def __repr__(self) -> str:
        return (
            f"GLPlus({self.n}, log_scale={self.log_scale}, max_stretch={self.max_stretch}"
            f"{_angle_repr(self.max_angle)})"
        )

r"""Haar measure of GL⁺(n,ℝ) and SL(n,ℝ) in polar coordinates, and its samplers.

Coordinates
    Every :math:`g \in \mathrm{GL}^+(n,\mathbb{R})` is uniquely :math:`g = k\,e^{s}` with
    :math:`k \in \mathrm{SO}(n)` and :math:`s` symmetric (:math:`s = \tfrac12\log g^\top g`);
    for :math:`\mathrm{SL}(n,\mathbb{R})`, :math:`\operatorname{tr} s = 0`.

Haar density (derivation)
    GL⁺(n) is unimodular with Haar measure :math:`|\det g|^{-n}\,dg` (Lebesgue :math:`dg`
    on the entries). Left multiplication by :math:`k'` only moves :math:`k`, so in
    :math:`(k, s)` the measure is :math:`dk \otimes \rho(s)\,ds`. :math:`\rho` is found at
    :math:`k = 1`: the differential of :math:`(A, s) \mapsto e^{A} e^{s}` at :math:`A = 0`
    (:math:`A` skew) is :math:`(\dot A, \dot s) \mapsto (\dot A\,e^{s} + D\exp_s[\dot s])`.
    In the eigenbasis :math:`s = Q\,\mathrm{diag}(\lambda)\,Q^\top`, the Daleckii–Krein
    formula gives :math:`D\exp_s[\dot s]_{ij} = \dot s_{ij}\,(e^{\lambda_i}-e^{\lambda_j})/
    (\lambda_i-\lambda_j)` and :math:`(\dot A e^{s})_{ij} = \dot A_{ij} e^{\lambda_j}`.
    The map splits into the diagonal (factor :math:`\prod_i e^{\lambda_i}`) and one
    :math:`2\times 2` block per pair :math:`i<j` acting on :math:`(\dot A_{ij}, \dot s_{ij})`:

    .. math::

        \det\begin{pmatrix} e^{\lambda_j} & q_{ij} \\ -e^{\lambda_i} & q_{ij}\end{pmatrix}
        = q_{ij}\,(e^{\lambda_i}+e^{\lambda_j}), \qquad
        q_{ij} = \frac{e^{\lambda_i}-e^{\lambda_j}}{\lambda_i-\lambda_j},

    and :math:`q_{ij}(e^{\lambda_i}+e^{\lambda_j}) = e^{\lambda_i+\lambda_j}\,
    2\sinh(\lambda_i-\lambda_j)/(\lambda_i-\lambda_j)`. Multiplying by
    :math:`|\det g|^{-n} = e^{-n\operatorname{tr}s}` cancels every exponential
    (:math:`\prod_i e^{\lambda_i}\prod_{i<j} e^{\lambda_i+\lambda_j} = e^{n \operatorname{tr} s}`),
    leaving

    .. math::

        d\mu(g) \;\propto\; dk\;\prod_{i<j}
        \frac{\sinh|\lambda_i-\lambda_j|}{|\lambda_i-\lambda_j|}\;ds
        \;\propto\; dk\;\prod_{i<j}\sinh|\lambda_i-\lambda_j|\;d\lambda\,dQ ,

    the second form after the eigen-decomposition Jacobian
    :math:`ds \propto \prod_{i<j}|\lambda_i-\lambda_j|\,d\lambda\,dQ`. The trace direction
    :math:`\sigma = \operatorname{tr}(s)/n` (log of the isotropic scale) is flat, and since
    :math:`\mathrm{GL}^+(n) = \mathrm{SL}(n)\times\mathbb{R}_{>0}`, SL(n) has the same density
    on traceless :math:`s`. ``tests/test_lie_groups.py`` checks the formula against the
    numerical Jacobian of :math:`(A, s) \mapsto k_0 e^{A} e^{s}` (n = 2 and 3).

For n = 2, write the traceless part as :math:`s_0 = r\,\bigl(\begin{smallmatrix}\cos\phi &
\sin\phi\\ \sin\phi & -\cos\phi\end{smallmatrix}\bigr)` (eigenvalues :math:`\pm r`): the
density is :math:`\sinh(2r)\,dr\,d\phi`, whose CDF on :math:`[0, R]` inverts in closed form,
:math:`r = \operatorname{arcsinh}(\sqrt{u}\,\sinh R)`; n = 2 is sampled exactly.
For n > 2 the traceless eigenvalues come from a uniform proposal with importance weights.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

__all__ = [
    "GroupSamples",
    "log_haar_density",
    "sample_so",
    "sample_traceless_symmetric",
    "sinhc",
]


@dataclass(frozen=True)
class GroupSamples:
    """A finite set of group elements with quadrature weights (an MC rule for Haar).

    Attributes
    ----------
    g : Tensor, shape (N, n, n)
        The elements :math:`h_j = k_j e^{s_j}`.
    k : Tensor, shape (N, n, n)
        Their rotation factors :math:`k_j \\in \\mathrm{SO}(n)`.
    s : Tensor, shape (N, n, n)
        Their symmetric factors :math:`s_j` (zero for SO(n)).
    weight : Tensor, shape (N,)
        Self-normalized importance weights, :math:`w_j \\ge 0`, :math:`\\sum_j w_j = 1`;
        :math:`\\sum_j w_j f(h_j)` estimates the mean of :math:`f` under the truncated
        Haar measure. Uniform (``1/N``) for exact samplers.
    """

    g: torch.Tensor
    k: torch.Tensor
    s: torch.Tensor
    weight: torch.Tensor

    @property
    def num(self) -> int:
        """Number of elements ``N``."""
        return self.g.shape[0]

    def to(self, *args, **kwargs) -> GroupSamples:
        """``Tensor.to`` applied to every field."""
        return GroupSamples(*(t.to(*args, **kwargs) for t in (self.g, self.k, self.s, self.weight)))


def sinhc(x: torch.Tensor) -> torch.Tensor:
    """:math:`\\sinh(x)/x` with the value 1 (and finite gradients) at ``x = 0``."""
    small = x.abs() < 1e-4
    safe = torch.where(small, torch.ones_like(x), x)
    return torch.where(small, 1 + x * x / 6, torch.sinh(safe) / safe)


def log_haar_density(eigenvalues: torch.Tensor) -> torch.Tensor:
    """Log Haar density of GL⁺(n)/SL(n) w.r.t. :math:`dk\\,ds` at :math:`g = k e^{s}`.

    .. math:: \\log\\rho(s) = \\sum_{i<j} \\log\\frac{\\sinh|\\lambda_i-\\lambda_j|}
              {|\\lambda_i-\\lambda_j|}

    (unnormalized; module docstring for the derivation), with :math:`\\lambda` the
    eigenvalues of :math:`s` and :math:`ds` the Lebesgue measure on the entries
    :math:`s_{ii}, s_{i<j}` (on the traceless subspace for SL).

    Parameters
    ----------
    eigenvalues : Tensor, shape (..., n)

    Returns
    -------
    Tensor, shape (...)
    """
    d = eigenvalues.unsqueeze(-1) - eigenvalues.unsqueeze(-2)
    i, j = torch.triu_indices(d.shape[-1], d.shape[-1], 1, device=d.device)
    return torch.log(sinhc(d[..., i, j])).sum(-1)


def sample_so(
    num: int, n: int, *, generator=None, dtype=torch.float64, device=None
) -> torch.Tensor:
    """Haar-uniform rotations ``(num, n, n)`` of SO(n).

    n = 2: angle uniform on :math:`[0, 2\\pi)`. n > 2: QR of a Gaussian matrix with the
    signs of ``diag(R)`` moved into ``Q`` (Mezzadri 2007, Haar on O(n)), then the first
    column negated where :math:`\\det Q = -1` (a measure-preserving bijection onto SO(n)).
    """
    if n == 2:
        th = 2 * math.pi * torch.rand(num, generator=generator, dtype=dtype, device=device)
        c, s = torch.cos(th), torch.sin(th)
        return torch.stack([torch.stack([c, -s], -1), torch.stack([s, c], -1)], -2)
    x = torch.randn(num, n, n, generator=generator, dtype=dtype, device=device)
    q, r = torch.linalg.qr(x)
    q = q * torch.sign(torch.diagonal(r, dim1=-2, dim2=-1)).unsqueeze(-2)
    flip = torch.where(torch.linalg.det(q) < 0, -1.0, 1.0).to(dtype)
    return torch.cat([q[..., :1] * flip[:, None, None], q[..., 1:]], dim=-1)


def sample_traceless_symmetric(
    num: int,
    n: int,
    max_stretch: float,
    *,
    generator=None,
    dtype=torch.float64,
    device=None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Traceless symmetric :math:`s_0` under the Haar density, truncated to a spread ``R``.

    Truncation: :math:`\\lambda_{max} - \\lambda_{min} \\le 2R`, i.e. the singular values
    of :math:`e^{s_0}` differ by at most a factor :math:`e^{2R}` (``R = max_stretch``).

    n = 2 (exact): :math:`\\phi` uniform, :math:`r` with density :math:`\\propto\\sinh 2r`
    on :math:`[0, R]` by inverting its CDF; weights are uniform.

    n > 2 (importance sampling): eigenvalues :math:`\\lambda = B c` with :math:`B` an
    orthonormal basis of :math:`\\{\\sum\\lambda = 0\\}` and :math:`c` uniform on
    :math:`[-R\\sqrt n, R\\sqrt n]^{n-1}` (which covers the truncated set), eigenvectors
    Haar on SO(n); the proposal density in :math:`d\\lambda\\,dQ` is constant, so the
    log-weight is :math:`\\sum_{i<j}\\log\\sinh|\\lambda_i-\\lambda_j|` inside the truncated
    set and :math:`-\\infty` outside.

    Returns
    -------
    s0 : Tensor, shape (num, n, n)
    log_weight : Tensor, shape (num,)
        Unnormalized log importance weights (zeros for n = 2).
    """
    if n == 2:
        u = torch.rand(num, generator=generator, dtype=dtype, device=device)
        phi = 2 * math.pi * torch.rand(num, generator=generator, dtype=dtype, device=device)
        # CDF (cosh 2r - 1)/(cosh 2R - 1) = sinh²r / sinh²R, inverted stably
        r = torch.asinh(torch.sqrt(u) * math.sinh(max_stretch))
        c, s = r * torch.cos(phi), r * torch.sin(phi)
        s0 = torch.stack([torch.stack([c, s], -1), torch.stack([s, -c], -1)], -2)
        return s0, torch.zeros(num, dtype=dtype, device=device)
    basis = torch.linalg.qr(torch.eye(n, dtype=dtype, device=device) - 1.0 / n).Q[
        :, : n - 1
    ]  # columns span the traceless hyperplane
    half = max_stretch * math.sqrt(n)
    c = (2 * torch.rand(num, n - 1, generator=generator, dtype=dtype, device=device) - 1) * half
    lam = c @ basis.T
    q = sample_so(num, n, generator=generator, dtype=dtype, device=device)
    s0 = (q * lam.unsqueeze(-2)) @ q.transpose(-1, -2)
    d = (lam.unsqueeze(-1) - lam.unsqueeze(-2)).abs()
    i, j = torch.triu_indices(n, n, 1, device=lam.device)
    logw = torch.log(torch.sinh(d[..., i, j]).clamp_min(torch.finfo(dtype).tiny)).sum(-1)
    inside = (lam.amax(-1) - lam.amin(-1)) <= 2 * max_stretch
    return s0, torch.where(inside, logw, torch.full_like(logw, -math.inf))

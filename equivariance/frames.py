r"""Frame averaging (Puny et al., ICLR 2022) for O(n), SO(n), E(n), SE(n) on point clouds.

A *frame* is an input-dependent set :math:`\mathcal F(X) \subset G` that is itself
equivariant, :math:`\mathcal F(g\cdot X) = g\,\mathcal F(X)`. Averaging any backbone
:math:`\phi` over it gives an exactly invariant or equivariant map,

.. math::  \langle\phi\rangle_{\mathcal F}(X)
           = \frac{1}{|\mathcal F(X)|}\sum_{g\in\mathcal F(X)} g\cdot\phi(g^{-1}\cdot X),

with :math:`g\cdot` the output action (trivial for invariant outputs). Here a group element
is :math:`g = (Q, t)`, :math:`g\cdot x = Qx + t`, with :math:`Q\in O(n)` stored with the frame
axes as columns. Point clouds are rows, ``(B, N, n)``: ``B`` clouds, ``N`` points, ``n = 2, 3``.

**PCA frame** (the paper's). With the centroid :math:`t = \frac1N\sum_i x_i` (E(n), SE(n);
:math:`t = 0` for O(n), SO(n)) and :math:`C = \frac1N\sum_i (x_i - t)(x_i - t)^\top
= V\Lambda V^\top`, :math:`\lambda_1 \ge \dots \ge \lambda_n`,

.. math::  \mathcal F(X) = \{(V S,\ t) : S = \mathrm{diag}(\pm1, \dots, \pm1)\}

(:math:`2^n` elements) for O(n)/E(n), and its :math:`\det(VS) = +1` half
(:math:`2^{n-1}`) for SO(n)/SE(n). ``C`` and ``t`` are permutation invariant, so a
permutation-equivariant backbone stays permutation equivariant.

**Degenerate spectra.** With distinct eigenvalues each column of ``V`` is determined up to
its sign and the frame is equivariant. When two eigenvalues tie, any basis of their
eigenspace is an eigenbasis and the PCA frame is no longer equivariant. Spectra are
classified with a relative tolerance ``tol`` (a *tie* is an adjacent gap
:math:`\lambda_i - \lambda_{i+1} < \mathrm{tol}\,\lambda_1`; a *zero* eigenvalue is
:math:`\lambda_i \le \mathrm{tol}^2\lambda_1`) and handled per cloud, with a
:class:`DegenerateFrameWarning`:

* *tie between non-zero eigenvalues* (square, regular tetrahedron, cube, and clouds near
  them): the **point-pair frame** replaces the PCA frame. In 3-D each ordered pair
  :math:`(a, b)` of centred points with :math:`|p_a|^2, |p_b|^2 > \mathrm{tol}\,\mathrm{tr}\,C`
  and :math:`\sin^2\angle(p_a, p_b) > \mathrm{tol}` gives Gram–Schmidt axes
  :math:`e_1 = p_a/|p_a|`, :math:`e_2 \propto p_b - (p_b\cdot e_1)e_1`,
  :math:`e_3 = \pm e_1\times e_2` (both signs for O(3), ``+`` for SO(3)); in 2-D each
  point gives :math:`e_1 = p_a/|p_a|`, :math:`e_2 = \pm J e_1`. It uses no eigenvectors,
  its element set is equivariant and permutation invariant, and the selection depends on
  invariants only, so **equivariance stays exact** (to rounding, amplified by at most
  :math:`1/\sqrt{\mathrm{tol}}`). It is larger (up to :math:`2N(N-1)` elements in 3-D).
* *two or more zero eigenvalues* (3-D collinear clouds, or all points at the centroid /
  origin): no fallback is needed. The stabilizer of the cloud is continuous (rotations
  about the line) and eigh's basis of the null space is arbitrary, but the canonical
  coordinates along null axes are zero whatever that basis is and whatever its signs, so
  :math:`\phi` sees the same input for every sign pattern, and the sign average cancels
  the null-axis components of equivariant outputs: :math:`\frac12\sum_\pm (\pm e)\,y_e = 0`
  (for SO(n) flip two null axes, or a null axis and :math:`e_1`, together). The result is
  the average over the whole continuous stabilizer, **exact** for exactly rank-deficient
  clouds (outputs of collinear clouds lie on their line). For clouds whose null
  eigenvalues are small but not zero (:math:`\le \mathrm{tol}^2\lambda_1`, kind ``NULL``,
  with a warning) the error is of the order of the relative width
  :math:`\sqrt{\lambda_{null}/\lambda_1} \le \mathrm{tol}` times the backbone's
  Lipschitz constant. Invariant outputs behave the same way.

The classification, the point-pair selection and the weights depend only on invariants,
so the wrapper is exactly equivariant on both sides of every threshold; the price is a jump
of the averaged function where a cloud crosses one (a set of measure zero).

Gradients with respect to the input flow through the PCA frames of generic clouds
(:func:`torch.linalg.eigh` is differentiable there); frames of degenerate clouds, where the
eigenvector derivative is undefined, are built from detached inputs.

References
----------
O. Puny, M. Atzmon, H. Ben-Hamu, I. Misra, A. Grover, E. J. Smith, Y. Lipman,
"Frame Averaging for Invariant and Equivariant Network Design", ICLR 2022.
"""

from __future__ import annotations

import itertools
import warnings
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor, nn

__all__ = [
    "GROUPS",
    "OUTPUTS",
    "DegenerateFrameWarning",
    "Frame",
    "pca_frame",
    "FrameAveraging",
]

Group = Literal["O", "SO", "E", "SE"]
Output = Literal["points", "vectors", "scalars"]

#: group name -> (has translations, has reflections)
GROUPS: dict[str, tuple[bool, bool]] = {
    "O": (False, True),
    "SO": (False, False),
    "E": (True, True),
    "SE": (True, False),
}

#: output kinds of :class:`FrameAveraging`: how the last axis of the backbone output transforms
OUTPUTS = ("points", "vectors", "scalars")

GENERIC, PAIRS, NULL = 0, 1, 2
"""Values of :attr:`Frame.kind`: PCA frame, point-pair frame, rank-deficient PCA frame."""


class DegenerateFrameWarning(UserWarning):
    """A cloud's PCA spectrum is (near-)degenerate; a fallback frame was used (see module doc)."""


@dataclass(frozen=True)
class Frame:
    """Frames of a batch of ``B`` clouds, flattened to ``M`` elements in all.

    Element ``m`` belongs to cloud ``index[m]`` and is :math:`g_m = (Q_m, t_{index[m]})`.
    """

    rotation: Tensor
    """``(M, n, n)``: :math:`Q_m \\in O(n)`, frame axes as columns."""
    translation: Tensor
    """``(B, n)``: :math:`t` (centroid for E(n)/SE(n), zero for O(n)/SO(n))."""
    weight: Tensor
    """``(M,)``: :math:`1/|\\mathcal F(X_b)|`; sums to one per cloud."""
    index: Tensor
    """``(M,)`` int64: the cloud each element belongs to."""
    kind: Tensor
    """``(B,)`` int64: ``GENERIC`` (0), ``PAIRS`` (1) or ``NULL`` (2) per cloud."""

    @property
    def n_clouds(self) -> int:
        return self.translation.shape[0]

    def sizes(self) -> Tensor:
        """``(B,)``: number of elements of each cloud's frame."""
        return torch.bincount(self.index, minlength=self.n_clouds)


def _check_group(group: str, dim: int) -> tuple[bool, bool]:
    if group not in GROUPS:
        raise KeyError(f"unknown group {group!r}; options: {list(GROUPS)}")
    if dim not in (2, 3):
        raise ValueError(f"point clouds must be 2-D or 3-D, got n = {dim}")
    return GROUPS[group]


def _sign_patterns(n: int, dtype, device) -> Tensor:
    """``(2^n, n)``: every diagonal of ``S``."""
    return torch.tensor(list(itertools.product((1.0, -1.0), repeat=n)), dtype=dtype, device=device)


def _pca_elements(V: Tensor, reflections: bool) -> tuple[Tensor, Tensor]:
    """``V (b, n, n)`` -> ``Q (b, K, n, n)`` and a validity mask ``(b, K)``."""
    b, n, _ = V.shape
    S = _sign_patterns(n, V.dtype, V.device)  # (K, n)
    Q = V[:, None] * S[None, :, None, :]  # scale columns
    if reflections:
        valid = torch.ones(b, S.shape[0], dtype=torch.bool, device=V.device)
    else:
        det = torch.linalg.det(V)  # ±1
        valid = (S.prod(-1)[None] * det[:, None]) > 0
    return Q, valid


def _pair_elements(P: Tensor, trace: Tensor, tol: float, reflections: bool):
    """Point-pair frames of centred clouds ``P (b, N, n)``: ``Q (b, K, n, n)``, mask ``(b, K)``."""
    b, N, n = P.shape
    sq = (P * P).sum(-1)  # (b, N)
    big = sq > tol * trace[:, None]
    e1 = P / sq.clamp_min(torch.finfo(P.dtype).tiny).sqrt()[..., None]
    signs = (1.0, -1.0) if reflections else (1.0,)
    if n == 2:
        e2 = torch.stack([-e1[..., 1], e1[..., 0]], -1)
        Q = torch.stack([torch.stack([e1, s * e2], -1) for s in signs], 2)  # (b, N, s, 2, 2)
        valid = big[:, :, None].expand(b, N, len(signs))
        return Q.reshape(b, -1, 2, 2), valid.reshape(b, -1)
    # 3-D: ordered pairs (a, b), a != b
    ea = e1[:, :, None, :]  # (b, N, 1, 3) axis from point a
    pb = P[:, None, :, :]  # (b, 1, N, 3)
    u = pb - (pb * ea).sum(-1, keepdim=True) * ea  # (b, N, N, 3)
    usq = (u * u).sum(-1)
    off_diag = ~torch.eye(N, dtype=torch.bool, device=P.device)
    valid = big[:, :, None] & big[:, None, :] & (usq > tol * sq[:, None, :]) & off_diag
    e2 = u / usq.clamp_min(torch.finfo(P.dtype).tiny).sqrt()[..., None]
    ea = ea.expand_as(e2)
    e3 = torch.linalg.cross(ea, e2, dim=-1)
    Q = torch.stack([torch.stack([ea, e2, s * e3], -1) for s in signs], 3)  # (b, N, N, s, 3, 3)
    valid = valid[..., None].expand(b, N, N, len(signs))
    return Q.reshape(b, -1, 3, 3), valid.reshape(b, -1)


def _warn_null(count: int, B: int, tol: float) -> None:
    warnings.warn(
        f"{count} of {B} point clouds are rank-deficient (collinear or coincident, "
        f"eigenvalues <= {tol:g}² λ₁); the sign average covers their continuous stabilizer "
        "exactly only if they are exactly rank-deficient (else error ~ width)",
        DegenerateFrameWarning,
        stacklevel=3,
    )


def pca_frame(x: Tensor, group: Group = "E", *, tol: float = 1e-4, warn: bool = True) -> Frame:
    """The PCA frame of each cloud ``x (B, N, n)``, with the degenerate cases of the module doc.

    Parameters
    ----------
    x : Tensor
        ``(B, N, n)`` points, ``n`` in {2, 3}.
    group : {"O", "SO", "E", "SE"}
        O(n)/SO(n) fix the origin; E(n)/SE(n) add translations (centroid).
    tol : float
        Relative eigenvalue tolerance: ties :math:`\\Delta\\lambda < \\mathrm{tol}\\,\\lambda_1`,
        zeros :math:`\\lambda \\le \\mathrm{tol}^2\\lambda_1`; also the point-pair thresholds.
    warn : bool
        Emit a :class:`DegenerateFrameWarning` when a fallback is used.

    Returns
    -------
    Frame
        ``M = Σ_b |F(X_b)|`` elements; ``2^n`` (O, E) or ``2^{n-1}`` (SO, SE) per generic cloud.
    """
    if x.dim() != 3:
        raise ValueError(f"expected points (B, N, n), got shape {tuple(x.shape)}")
    B, N, n = x.shape
    translations, reflections = _check_group(group, n)
    t = x.mean(1) if translations else x.new_zeros(B, n)
    P = x - t[:, None]
    C = P.mT @ P / N  # (B, n, n)
    lam, V = torch.linalg.eigh(C.detach())
    lam, V = lam.flip(-1), V.flip(-1)  # descending
    lam1 = lam[:, :1]
    zero = lam <= (tol**2 * lam1).clamp_min(torch.finfo(x.dtype).tiny)
    tie = ((lam[:, :-1] - lam[:, 1:]) < tol * lam1) & ~zero[:, 1:]
    kind = torch.full((B,), GENERIC, dtype=torch.long, device=x.device)
    kind[tie.any(-1)] = PAIRS
    kind[zero.sum(-1) >= 2] = NULL

    pca = kind != PAIRS
    if pca.any() and torch.is_grad_enabled() and x.requires_grad:
        generic = kind == GENERIC
        if generic.any():
            V = V.clone()
            V[generic] = torch.linalg.eigh(C[generic])[1].flip(-1)
    ids = torch.arange(B, device=x.device)
    if bool(pca.all()):
        Q, valid = _pca_elements(V, reflections)  # fast path: no fallback in this batch
        if (kind == NULL).any() and warn:
            _warn_null(int((kind == NULL).sum()), B, tol)
        K = Q.shape[1] if reflections else Q.shape[1] // 2
        Q = Q[valid].view(B * K, n, n)  # row-major mask keeps each cloud's K together
        index = ids.repeat_interleave(K)
        weight = x.new_full((B * K,), 1.0 / K)
        return Frame(Q.to(x.dtype), t, weight, index, kind)
    parts: list[tuple[Tensor, Tensor, Tensor]] = []  # (Q, valid, cloud index)
    if pca.any():
        Q, valid = _pca_elements(V[pca], reflections)
        parts.append((Q, valid, ids[pca, None].expand(-1, Q.shape[1])))
    pairs = kind == PAIRS
    if pairs.any():
        Pp = P.detach()[pairs]
        Q, valid = _pair_elements(Pp, lam[pairs].sum(-1), tol, reflections)
        none = ~valid.any(-1)
        if none.any():  # no usable pair: keep the PCA frame (equivariance not guaranteed)
            Qv, vv = _pca_elements(V[pairs][none], reflections)
            Q, valid = Q.clone(), valid.clone()
            Q[none, : Qv.shape[1]], valid[none] = Qv, False
            valid[none, : Qv.shape[1]] = vv
            if warn:
                warnings.warn(
                    f"{int(none.sum())} of {B} point clouds have tied PCA eigenvalues and no "
                    "usable point pair; their frame is the PCA frame with an arbitrary "
                    "eigenbasis, NOT guaranteed equivariant",
                    DegenerateFrameWarning,
                    stacklevel=2,
                )
        parts.append((Q, valid, ids[pairs, None].expand(-1, Q.shape[1])))
    if warn and pairs.any():
        warnings.warn(
            f"{int(pairs.sum())} of {B} point clouds have (near-)tied PCA eigenvalues "
            f"(relative gap < {tol:g}); using the point-pair frame (exactly equivariant, larger)",
            DegenerateFrameWarning,
            stacklevel=2,
        )
    if warn and (kind == NULL).any():
        _warn_null(int((kind == NULL).sum()), B, tol)
    Q = torch.cat([q[v] for q, v, _ in parts])
    index = torch.cat([i[v] for _, v, i in parts])
    order = torch.argsort(index, stable=True)  # group each cloud's elements together
    Q, index = Q[order], index[order]
    sizes = torch.bincount(index, minlength=B)
    weight = (1.0 / sizes.to(x.dtype))[index]
    return Frame(Q.to(x.dtype), t, weight, index, kind)


def _rotate(v: Tensor, Q: Tensor) -> Tensor:
    """Rows ``v (M, ..., n)`` times ``Q (M, n, n)``: the canonical coordinates ``Qᵀ v``."""
    return (v.reshape(v.shape[0], -1, v.shape[-1]) @ Q).reshape(v.shape)


def _unrotate(y: Tensor, Q: Tensor) -> Tensor:
    """Rows ``y (M, ..., n)`` mapped back, :math:`Q y`."""
    return (y.reshape(y.shape[0], -1, y.shape[-1]) @ Q.mT).reshape(y.shape)


class FrameAveraging(nn.Module):
    r"""Frame-averaged wrapper :math:`\langle\phi\rangle_{\mathcal F}` around any backbone.

    The backbone is called once, on all frame elements of the batch stacked along the
    batch axis (``M = Σ_b |F(X_b)|`` rows): ``backbone(x, vectors, scalars)`` with
    canonicalized points :math:`Q^\top(x - t)` ``(M, N, n)``, vector features
    :math:`Q^\top v` ``(M, N, n)`` or ``(M, N, c, n)`` (rotated, never translated), and
    invariant scalars ``(M, N, s)`` unchanged (``None`` passed through).

    Parameters
    ----------
    backbone : nn.Module
        Any map ``(x, vectors, scalars) -> y (M, ...)``.
    group : {"O", "SO", "E", "SE"}
        Symmetry group; ``"E"`` also averages over reflections.
    dim : int
        Space dimension ``n`` (2 or 3).
    output : {"points", "vectors", "scalars"}
        How ``y``'s last axis transforms: ``points`` :math:`y \mapsto Qy + t`,
        ``vectors`` :math:`y \mapsto Qy`, ``scalars`` invariant (any trailing shape).
    tol : float
        Degeneracy tolerance of :func:`pca_frame`.

    Notes
    -----
    Guarantees (module doc): exact G-equivariance for clouds with a non-degenerate PCA
    spectrum and for tied spectra of rank >= 2 (point-pair frame); exact for exactly
    rank-deficient clouds (sign average); permutation equivariance whenever the
    backbone is permutation equivariant. Cost: ``|F|`` backbone rows per cloud
    (8 for E(3), 4 for SE(3), 4 for E(2), 2 for SE(2) on generic clouds).
    """

    def __init__(
        self,
        backbone: nn.Module,
        *,
        group: Group = "E",
        dim: int = 3,
        output: Output = "points",
        tol: float = 1e-4,
    ) -> None:
        super().__init__()
        _check_group(group, dim)
        if output not in OUTPUTS:
            raise KeyError(f"unknown output kind {output!r}; options: {list(OUTPUTS)}")
        if output == "points" and not GROUPS[group][0]:
            raise ValueError(f"output='points' needs translations; group {group!r} has none")
        self.backbone = backbone
        self.group, self.dim, self.output, self.tol = group, dim, output, tol

    def frame(self, x: Tensor) -> Frame:
        return pca_frame(x, self.group, tol=self.tol)

    def forward(
        self, x: Tensor, vectors: Tensor | None = None, scalars: Tensor | None = None
    ) -> Tensor:
        """``x (B, N, n)``, ``vectors (B, N, [c,] n)``, ``scalars (B, N, s)`` -> ``(B, ...)``."""
        if x.shape[-1] != self.dim:
            raise ValueError(f"points have dimension {x.shape[-1]}, wrapper built for {self.dim}")
        f = self.frame(x)
        Q, i = f.rotation, f.index
        xc = _rotate((x - f.translation[:, None])[i], Q)
        vc = None if vectors is None else _rotate(vectors[i], Q)
        sc = None if scalars is None else scalars[i]
        y = self.backbone(xc, vc, sc)
        if self.output != "scalars":
            y = _unrotate(y, Q)
        w = f.weight.view(-1, *([1] * (y.dim() - 1))).to(y.dtype)
        out = y.new_zeros(f.n_clouds, *y.shape[1:]).index_add_(0, i, y * w)
        if self.output == "points":
            out = out + f.translation.view(f.n_clouds, *([1] * (y.dim() - 2)), self.dim)
        return out

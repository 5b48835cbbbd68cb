"""Real spherical harmonics, exact S² quadrature and real Wigner-D matrices.

Conventions used by the whole ``equivariance.so3`` package:

* **Layout.** Coefficients of all degrees ``0..lmax`` are concatenated along the
  last axis, degree ``l`` order ``m`` at index ``l² + l + m`` (``m = -l..l``);
  ``(lmax + 1)²`` entries in all.
* **Normalization.** Orthonormal on the unit sphere, no Condon–Shortley phase:

  .. math::

      Y_{lm}(\\theta, \\varphi) = \\sqrt{2}\\, \\bar P_l^{|m|}(\\cos\\theta)
      \\begin{cases} \\sin(|m|\\varphi) & m < 0 \\\\ 1/\\sqrt{2} & m = 0 \\\\
      \\cos(m\\varphi) & m > 0 \\end{cases},
      \\qquad \\int_{S^2} Y_{lm} Y_{l'm'} \\, d\\Omega = \\delta_{ll'}\\delta_{mm'},

  with :math:`\\bar P_l^m = \\sqrt{\\tfrac{2l+1}{4\\pi}\\tfrac{(l-m)!}{(l+m)!}} P_l^m` and
  :math:`z = \\cos\\theta` the polar axis. So :math:`Y_{1,(-1,0,1)} = \\sqrt{3/4\\pi}\\,(y, z, x)`,
  and :math:`Y_l(-x) = (-1)^l Y_l(x)`.
* **Group action.** For :math:`R \\in O(3)`, :math:`Y_l(Rx) = D_l(R)\\, Y_l(x)` with
  :math:`D_l(R)` orthogonal and :math:`D_l(R_1R_2) = D_l(R_1)D_l(R_2)`
  (:func:`wigner_D`); a coefficient vector :math:`c` of :math:`f = c^\\top Y` transforms as
  :math:`c \\mapsto D_l(R)\\,c` under :math:`f \\mapsto f(R^{-1}\\,\\cdot)`.

e3nn (``o3.spherical_harmonics(..., normalization="integral")``) uses ``y`` as the polar
axis; :func:`e3nn_change_of_basis` gives the orthogonal matrices between the two.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch

__all__ = [
    "spherical_harmonics",
    "s2_quadrature",
    "wigner_D",
    "wigner_D_blocks",
    "e3nn_change_of_basis",
    "degree_index",
]


def degree_index(lmax: int) -> torch.Tensor:
    """Degree ``l`` of each entry of a ``(lmax + 1)²`` coefficient vector, ``((lmax+1)²,)``."""
    return torch.repeat_interleave(torch.arange(lmax + 1), 2 * torch.arange(lmax + 1) + 1)


def spherical_harmonics(lmax: int, x: torch.Tensor, *, normalize: bool = True) -> torch.Tensor:
    """Real orthonormal spherical harmonics of degrees ``0..lmax``.

    Parameters
    ----------
    lmax : int
        Largest degree, ``>= 0``.
    x : Tensor, shape ``(..., 3)``
        Points ``(x, y, z)``; unit vectors unless ``normalize`` (default) divides by the norm.
    normalize : bool
        Project ``x`` onto the unit sphere first. With ``False`` the output is the
        homogeneous-polynomial extension :math:`|x|^l Y_{lm}(x/|x|)`.

    Returns
    -------
    Tensor, shape ``(..., (lmax + 1)²)``
        :math:`Y_{lm}(x)` at index ``l² + l + m`` (module docstring for the convention).

    Notes
    -----
    Uses the stable three-term recurrence for fully normalized associated Legendre
    functions with the factor :math:`\\sin^m\\theta` left out, multiplied by
    :math:`\\operatorname{Re}/\\operatorname{Im}\\,(x + iy)^m
    = \\sin^m\\theta\\,(\\cos, \\sin)(m\\varphi)`:
    polynomial in ``(x, y, z)``, smooth at the poles, differentiable.

    .. math:: \\bar P_l^m = a_{lm}\\,(z\\,\\bar P_{l-1}^m - b_{lm}\\,\\bar P_{l-2}^m),\\quad
              a_{lm} = \\sqrt{\\tfrac{4l^2-1}{l^2-m^2}},\\quad
              b_{lm} = \\sqrt{\\tfrac{(l-1)^2-m^2}{4(l-1)^2-1}}

    Examples
    --------
    >>> y = spherical_harmonics(1, torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64))
    >>> want = torch.tensor([1, 0, 3**0.5, 0], dtype=torch.float64) / (4 * math.pi) ** 0.5
    >>> torch.allclose(y, want)
    True

    See Also
    --------
    s2_quadrature, wigner_D
    """
    if lmax < 0:
        raise ValueError(f"lmax must be >= 0, got {lmax}")
    if x.shape[-1] != 3:
        raise ValueError(f"x must have shape (..., 3), got {tuple(x.shape)}")
    if normalize:
        x = x / torch.linalg.vector_norm(x, dim=-1, keepdim=True)
    px, py, pz = x.unbind(-1)
    r2 = px * px + py * py + pz * pz  # 1 on the sphere; keeps the polynomial extension homogeneous
    # Reduced normalized Legendre functions P[l][..., m], m = 0..l.
    P = [torch.full_like(pz, 1.0 / math.sqrt(4 * math.pi)).unsqueeze(-1)]
    if lmax >= 1:
        P.append(
            torch.stack([math.sqrt(3.0) * pz * P[0][..., 0], math.sqrt(1.5) * P[0][..., 0]], -1)
        )
    for l in range(2, lmax + 1):
        m = torch.arange(l - 1, dtype=torch.float64)
        a = torch.sqrt((4.0 * l * l - 1) / (l * l - m * m)).to(x)
        b = torch.sqrt(((l - 1.0) ** 2 - m * m) / (4.0 * (l - 1) ** 2 - 1)).to(x)
        low = a * (pz.unsqueeze(-1) * P[l - 1][..., : l - 1] - b * r2.unsqueeze(-1) * P[l - 2])
        top = P[l - 1][..., l - 1]
        P.append(
            torch.cat(
                [
                    low,
                    (math.sqrt(2.0 * l + 1) * pz * top).unsqueeze(-1),
                    (math.sqrt((2.0 * l + 1) / (2.0 * l)) * top).unsqueeze(-1),
                ],
                -1,
            )
        )
    # C_m + i S_m = (x + i y)^m
    C, S = [torch.ones_like(px)], [torch.zeros_like(px)]
    for _ in range(lmax):
        c, s = C[-1], S[-1]
        C.append(px * c - py * s)
        S.append(px * s + py * c)
    Cm = torch.stack(C[1:], -1) if lmax else None
    Sm = torch.stack(S[1:], -1) if lmax else None
    out = []
    s2 = math.sqrt(2.0)
    for l in range(lmax + 1):
        if l == 0:
            out.append(P[0])
            continue
        pl = P[l][..., 1:]  # m = 1..l
        out += [
            (s2 * pl * Sm[..., :l]).flip(-1),
            P[l][..., :1],
            s2 * pl * Cm[..., :l],
        ]
    return torch.cat(out, -1)


@functools.lru_cache(maxsize=64)
def _quadrature_np(degree: int) -> tuple[np.ndarray, np.ndarray, int, int]:
    n_theta = degree // 2 + 1
    n_phi = degree + 1
    z, wz = np.polynomial.legendre.leggauss(n_theta)
    phi = 2 * np.pi * np.arange(n_phi) / n_phi
    s = np.sqrt(1 - z * z)
    pts = np.stack(
        [
            s[:, None] * np.cos(phi)[None, :],
            s[:, None] * np.sin(phi)[None, :],
            np.broadcast_to(z[:, None], (n_theta, n_phi)),
        ],
        -1,
    ).reshape(-1, 3)
    w = np.broadcast_to(wz[:, None] * (2 * np.pi / n_phi), (n_theta, n_phi)).reshape(-1)
    return pts, np.ascontiguousarray(w), n_theta, n_phi


def s2_quadrature(
    degree: int, *, dtype: torch.dtype = torch.float64, device: torch.device | str | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact quadrature on S² for polynomials of total degree ``<= degree``.

    Gauss–Legendre in :math:`z = \\cos\\theta` (``degree // 2 + 1`` nodes, exact to
    degree ``2·(degree//2) + 1``) times a uniform grid in :math:`\\varphi`
    (``degree + 1`` nodes, exact for :math:`e^{ik\\varphi}`, ``|k| <= degree``):

    .. math:: \\int_{S^2} f \\, d\\Omega = \\sum_g w_g f(x_g)
              \\quad\\text{for } f \\in \\operatorname{span}\\{Y_{lm} : l \\le \\text{degree}\\}.

    So products :math:`Y_{l_1} Y_{l_2}` (or triple products) are integrated exactly when
    ``degree >= l1 + l2`` (``>= l1 + l2 + l3``).

    Returns
    -------
    points : Tensor, shape ``(G, 3)``
        Unit vectors, ``G = (degree//2 + 1)(degree + 1)``, θ-major.
    weights : Tensor, shape ``(G,)``
        Summing to :math:`4\\pi`.
    """
    if degree < 0:
        raise ValueError(f"degree must be >= 0, got {degree}")
    pts, w, _, _ = _quadrature_np(degree)
    return (
        torch.tensor(pts, dtype=dtype, device=device),
        torch.tensor(w, dtype=dtype, device=device),
    )


def wigner_D(l: int, R: torch.Tensor) -> torch.Tensor:
    """Real Wigner-D matrix of degree ``l`` for (proper or improper) orthogonal ``R``.

    .. math:: Y_l(Rx) = D_l(R)\\, Y_l(x), \\qquad
              D_l(R)_{mn} = \\int_{S^2} Y_{lm}(Rx)\\, Y_{ln}(x)\\, d\\Omega,

    evaluated exactly with :func:`s2_quadrature` of degree ``2l``. For :math:`\\det R = -1`,
    :math:`D_l(R) = (-1)^l D_l(-R)`.

    Parameters
    ----------
    l : int
    R : Tensor, shape ``(..., 3, 3)``

    Returns
    -------
    Tensor, shape ``(..., 2l+1, 2l+1)``, orthogonal.
    """
    pts, w = s2_quadrature(2 * l, dtype=R.dtype, device=R.device)
    y = spherical_harmonics(l, pts)[:, l * l :]  # (G, 2l+1)
    rx = torch.einsum("...ij,gj->...gi", R, pts)
    yr = spherical_harmonics(l, rx, normalize=False)[..., l * l :]  # (..., G, 2l+1)
    return torch.einsum("...gm,g,gn->...mn", yr, w, y)


def wigner_D_blocks(lmax: int, R: torch.Tensor) -> torch.Tensor:
    """Block-diagonal :math:`\\bigoplus_{l \\le lmax} D_l(R)`, ``(..., (lmax+1)², (lmax+1)²)``.

    Acts on the concatenated layout of :func:`spherical_harmonics`:
    ``spherical_harmonics(lmax, x @ R.T) == spherical_harmonics(lmax, x) @ D.T``.
    """
    n = (lmax + 1) ** 2
    out = R.new_zeros(R.shape[:-2] + (n, n))
    for l in range(lmax + 1):
        out[..., l * l : (l + 1) ** 2, l * l : (l + 1) ** 2] = wigner_D(l, R)
    return out


# e3nn uses (x, y, z) -> polar axis y; its l=1 harmonics are ∝ (x, y, z) itself.
_E3NN_AXES = torch.tensor([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], dtype=torch.float64)


def e3nn_change_of_basis(l: int, *, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """Orthogonal ``Q_l`` with ``e3nn.o3.spherical_harmonics(l, x, True, "integral") = Q_l Y_l(x)``.

    e3nn's polar axis is ``y``: its harmonics are ours evaluated at the cyclically
    relabelled point :math:`P x = (z, x, y)`, so :math:`Q_l = D_l(P)` (a proper rotation;
    a signed permutation for ``l <= 1`` only, a general rotation for ``l >= 2``).
    Tested against e3nn in ``tests/test_so3_harmonics.py`` when e3nn is installed.
    """
    return wigner_D(l, _E3NN_AXES.to(dtype))

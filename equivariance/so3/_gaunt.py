"""Gaunt tensor products of real spherical-harmonic coefficient vectors.

For coefficient vectors :math:`x_1, x_2` (layout of :func:`spherical_harmonics`) of the
spherical functions :math:`f_i = \\sum_{lm} x_{i,lm} Y_{lm}`, the Gaunt tensor product is
the projection of the pointwise product onto degrees ``<= lmax_out``:

.. math::

    (x_1 \\otimes_G x_2)_{l_3m_3} = \\int_{S^2} f_1 f_2\\, Y_{l_3m_3}\\, d\\Omega
    = \\sum G^{l_3m_3}_{l_1m_1,l_2m_2}\\, x_{1,l_1m_1}\\, x_{2,l_2m_2},
    \\qquad G^{l_3m_3}_{l_1m_1,l_2m_2} = \\int_{S^2} Y_{l_1m_1} Y_{l_2m_2} Y_{l_3m_3}\\, d\\Omega .

:math:`G` is proportional, per path :math:`(l_1, l_2, l_3)`, to the Clebsch–Gordan
(Wigner-3j) tensor, with factor
:math:`\\sqrt{(2l_1+1)(2l_2+1)(2l_3+1)/4\\pi}\\;\\big(\\begin{smallmatrix}l_1&l_2&l_3\\\\0&0&0
\\end{smallmatrix}\\big)`, which vanishes unless :math:`l_1+l_2+l_3` is even (and the
triangle inequality holds): a Gaunt product only expresses the parity-respecting paths
(Xie et al., 2025). It is O(3)-equivariant with degree-``l`` parity :math:`(-1)^l`.

Three implementations of the same bilinear map (all differentiable, no host syncs;
tables are built once per ``(degrees, dtype, device)`` and cached):

``gaunt_reference``
    Dense contraction with the table :func:`gaunt_coefficients` (exact S² quadrature
    of triple products): :math:`O(L^6)` per product.
``gaunt_grid``
    Synthesize :math:`f_1, f_2` on the exact S² grid of degree :math:`L_1+L_2+L_{out}`
    (:func:`s2_quadrature`), multiply pointwise, project with the quadrature weights
    (the sphere-grid product of Xie et al., 2025): :math:`O(L^4)` per product with dense
    transforms, :math:`O(L^3)` with the separable (Legendre × Fourier) ones used from grid
    degree :data:`SEPARABLE_FROM_DEGREE`.
``gaunt_fourier2d``
    Luo et al. (2024): each :math:`Y_{lm}(\\theta,\\varphi)` is a finite 2D Fourier series
    :math:`\\sum_{|u|,|v| \\le l} y^{lm}_{uv} e^{i(u\\theta + v\\varphi)}` (``y`` nonzero only
    for :math:`|v| = |m|`), so :math:`f_1 f_2` is the 2D convolution of the coefficient
    arrays, done with zero-padded FFTs, :math:`O(L^2 \\log L)`; the result is mapped back
    by the exact projection :math:`Z^{lm}_{uv} = \\int_0^\\pi\\!\\int_0^{2\\pi}
    e^{i(u\\theta+v\\varphi)} Y_{lm} \\sin\\theta\\, d\\varphi\\, d\\theta` (closed form).
    The SH↔Fourier conversions here are dense matrix products with the precomputed
    (sparse: :math:`y^{lm}_{uv} \\ne 0` only for :math:`|v| = |m|`) tables, :math:`O(L^4)`
    per product: on the CPU a CSR sparse product was measured 1.5× slower at ``L = 8``
    and only 2× faster at ``L = 12``, where the grid path is already 15× faster.

References
----------
Luo, Chen, He, Wang. "Enabling Efficient Equivariant Operations in the Fourier Basis via
Gaunt Tensor Products." ICLR 2024. https://arxiv.org/abs/2401.10216

Xie, Daigavane, Kotak, Smidt. "The price of freedom: exploring expressivity and runtime
tradeoffs in equivariant tensor products." ICML 2025. https://arxiv.org/abs/2506.13523
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch

from ._harmonics import _quadrature_np, s2_quadrature, spherical_harmonics

__all__ = [
    "fft_size",
    "gaunt_coefficients",
    "gaunt_reference",
    "gaunt_grid",
    "gaunt_fourier2d",
    "gaunt_power_grid",
    "gaunt_power_fourier2d",
    "lmax_of",
]


def lmax_of(n: int) -> int:
    """``L`` such that ``n == (L + 1)²``; ``ValueError`` otherwise."""
    r = math.isqrt(n)
    if r * r != n or n == 0:
        raise ValueError(f"last dimension {n} is not (lmax + 1)^2")
    return r - 1


# ---------------------------------------------------------------------------- tables
# Built in float64 on the CPU (numpy/torch), cached; moved to (dtype, device) once each.

_DEVICE_CACHE: dict[tuple, torch.Tensor] = {}


def _on(name: str, key: tuple, build, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    k = (name, key, dtype, device)
    t = _DEVICE_CACHE.get(k)
    if t is None:
        t = build(*key).to(device=device, dtype=dtype)
        _DEVICE_CACHE[k] = t
    return t


@functools.lru_cache(maxsize=32)
def _gaunt_table(l1: int, l2: int, l3: int) -> torch.Tensor:
    pts, w = s2_quadrature(l1 + l2 + l3)
    y1 = spherical_harmonics(l1, pts)
    y2 = y1[:, : (l2 + 1) ** 2] if l2 <= l1 else spherical_harmonics(l2, pts)
    y3 = spherical_harmonics(l3, pts) * w[:, None]
    g = torch.einsum("gi,gj,gk->ijk", y1, y2, y3)
    g[g.abs() < 1e-14] = 0.0  # quadrature rounding on structurally zero entries
    return g


def gaunt_coefficients(
    lmax1: int,
    lmax2: int,
    lmax_out: int,
    *,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Real Gaunt coefficients :math:`G_{ijk} = \\int Y_i Y_j Y_k\\, d\\Omega`.

    Computed by exact S² quadrature of degree ``lmax1 + lmax2 + lmax_out``
    (independent of the product implementations).

    Returns
    -------
    Tensor, shape ``((lmax1+1)², (lmax2+1)², (lmax_out+1)²)``
    """
    return _on(
        "gaunt", (lmax1, lmax2, lmax_out), _gaunt_table, dtype, torch.device(device or "cpu")
    )


def _degrees(x1: torch.Tensor, x2: torch.Tensor) -> tuple[int, int]:
    return lmax_of(x1.shape[-1]), lmax_of(x2.shape[-1])


def gaunt_reference(x1: torch.Tensor, x2: torch.Tensor, lmax_out: int) -> torch.Tensor:
    """Gaunt product by dense contraction with :func:`gaunt_coefficients` (slow, obviously right).

    Parameters
    ----------
    x1 : Tensor, shape ``(..., (L1+1)²)``
    x2 : Tensor, shape ``(..., (L2+1)²)`` (broadcast against ``x1``)
    lmax_out : int

    Returns
    -------
    Tensor, shape ``(..., (lmax_out+1)²)``:
    :math:`\\sum_{ij} G_{ijk}\\, x_{1,i}\\, x_{2,j}`.
    """
    l1, l2 = _degrees(x1, x2)
    G = gaunt_coefficients(l1, l2, lmax_out, dtype=x1.dtype, device=x1.device)
    x1, x2 = torch.broadcast_tensors(x1[..., :, None], x2[..., None, :])
    outer = x1 * x2
    return outer.flatten(-2) @ G.flatten(0, 1)


# ---------------------------------------------------------------------------- grid


#: Grid degree :math:`L_1 + L_2 + L_{out}` from which the grid paths synthesize and project
#: with separable transforms (Legendre in θ, Fourier in φ: :math:`O(L^3)` per row) instead
#: of dense ones (:math:`O(L^4)`). Below it the dense matrices win on the CPU (one large
#: GEMM); the crossover was measured in ``benchmarks/gaunt.py`` (parity at ``L = 8``,
#: separable 2–3× faster at ``L = 12…16``).
SEPARABLE_FROM_DEGREE = 30

#: On the CPU the grid paths work through the rows in blocks whose grid values take about
#: this many elements (at least :data:`_MIN_BLOCK_ROWS` rows), so the pointwise stage runs
#: in cache instead of streaming ``rows × G`` arrays through memory (1.7–1.9× at 32k rows,
#: ``L = 8``). GPUs take the whole batch in one launch.
GRID_BLOCK_ELEMENTS = 2**17
_MIN_BLOCK_ROWS = 64


class _DenseGrid:
    """Dense transforms: :math:`f = x\\,S` with :math:`S_{kg} = Y_k(x_g)`, ``(R, G)``;
    projection :math:`c = h\\,(w_g Y_k(x_g))`."""

    def __init__(self, l_in: tuple[int, ...], lmax_out: int, degree: int, dtype, device):
        pts, w = s2_quadrature(degree)
        kw = {"dtype": dtype, "device": device}
        self.synth_tables = [spherical_harmonics(l, pts).T.contiguous().to(**kw) for l in l_in]
        self.proj = (spherical_harmonics(lmax_out, pts) * w[:, None]).contiguous().to(**kw)
        self.grid_size = self.proj.shape[0]

    def synth(self, x: torch.Tensor, i: int) -> torch.Tensor:
        return x @ self.synth_tables[i]

    def project(self, h: torch.Tensor) -> torch.Tensor:
        return h @ self.proj


def _legendre_factors(l: int, degree: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Separation :math:`Y_{jm}(\\theta_t,\\varphi_p)=\\Theta_{jm}(\\theta_t)\\Phi_m(\\varphi_p)`
    on the :func:`s2_quadrature` grid of ``degree``, with :math:`\\Phi_m = \\cos m\\varphi`
    (m > 0), 1 (m = 0), :math:`\\sin |m|\\varphi` (m < 0).

    Returns ``A (2l+1, l+1, T)`` with ``A[m+l, j] = Θ_{jm}`` (zero for ``j < |m|``),
    ``idx (2l+1, l+1)`` the coefficient index ``j² + j + m`` (``(l+1)²`` where ``j < |m|``),
    and ``Phi (2l+1, P)``. Θ is read off the dense table by the exact orthogonality of the
    :math:`\\Phi_m` on the uniform φ grid (``P > 2l``), so both variants share one convention.
    """
    pts, _, n_t, n_p = _quadrature_np(degree)
    phi = 2 * math.pi * torch.arange(n_p, dtype=torch.float64) / n_p
    m = torch.arange(-l, l + 1, dtype=torch.float64)[:, None]
    Phi = torch.where(m > 0, torch.cos(m * phi), torch.where(m < 0, torch.sin(-m * phi), 1.0))
    Y = spherical_harmonics(l, torch.from_numpy(pts)).T.reshape(-1, n_t, n_p)  # (k, T, P)
    A = torch.zeros(2 * l + 1, l + 1, n_t, dtype=torch.float64)
    idx = torch.full((2 * l + 1, l + 1), (l + 1) ** 2, dtype=torch.long)
    for j in range(l + 1):
        for mm in range(-j, j + 1):
            k, tr = j * j + j + mm, Phi[mm + l]
            A[mm + l, j] = (Y[k] @ tr) / (tr @ tr)
            idx[mm + l, j] = k
    return A, idx, Phi


class _SeparableGrid:
    """Separable transforms in a rows-last layout (every step one GEMM or batched GEMM):

    .. math:: f(\\theta_t, \\varphi_p) = \\sum_m \\Phi_m(\\varphi_p)
              \\sum_j \\Theta_{jm}(\\theta_t)\\, x_{jm},
              \\qquad
              c_{jm} = \\sum_t w_t\\, \\Theta_{jm}(\\theta_t) \\sum_p \\tfrac{2\\pi}{P}
              \\Phi_m(\\varphi_p)\\, h(\\theta_t, \\varphi_p),

    :math:`O(L^3)` per row; grid values are ``(P, T·R)``.
    """

    def __init__(self, l_in: tuple[int, ...], lmax_out: int, degree: int, dtype, device):
        kw = {"dtype": dtype, "device": device}
        self.synth_tables = []
        for l in l_in:
            A, idx, Phi = _legendre_factors(l, degree)
            self.synth_tables.append(
                (A.transpose(1, 2).contiguous().to(**kw), idx.flatten().to(device), Phi.T.to(**kw))
            )
        A, idx, Phi = _legendre_factors(lmax_out, degree)
        _, _, n_t, n_p = _quadrature_np(degree)
        wz = torch.from_numpy(np.polynomial.legendre.leggauss(n_t)[1])
        self.n_theta = n_t
        self.grid_size = n_t * n_p
        self.proj_theta = (A * wz).contiguous().to(**kw)  # (M, J, T)
        self.proj_phi = (Phi * (2 * math.pi / n_p)).contiguous().to(**kw)  # (M, P)
        flat = idx.flatten()
        order = torch.argsort(torch.where(flat == (lmax_out + 1) ** 2, flat.numel() + 10**6, flat))
        self.proj_index = order[: (lmax_out + 1) ** 2].to(device)

    def synth(self, x: torch.Tensor, i: int) -> torch.Tensor:
        A_T, idx, PhiT = self.synth_tables[i]
        M, T, J = A_T.shape
        R = x.shape[0]
        xT = torch.cat([x.T, x.new_zeros(1, R)])  # row (l+1)² is the zero padding
        g = torch.bmm(A_T, xT[idx].view(M, J, R))  # (M, T, R)
        return PhiT @ g.view(M, T * R)  # (P, T·R)

    def project(self, h: torch.Tensor) -> torch.Tensor:
        M = self.proj_theta.shape[0]
        R = h.shape[1] // self.n_theta
        c = torch.bmm(self.proj_theta, (self.proj_phi @ h).view(M, self.n_theta, R))
        return c.reshape(-1, R)[self.proj_index].T  # (R, n_out)


def _grid(l_in: tuple[int, ...], lmax_out: int, degree: int, dtype, device):
    key = ("grid", l_in, lmax_out, degree, dtype, device, degree >= SEPARABLE_FROM_DEGREE)
    t = _DEVICE_CACHE.get(key)
    if t is None:
        cls = _SeparableGrid if degree >= SEPARABLE_FROM_DEGREE else _DenseGrid
        t = _DEVICE_CACHE[key] = cls(l_in, lmax_out, degree, dtype, device)
    return t


def _row_blocks(fn, xs: tuple[torch.Tensor, ...], grid_size: int) -> torch.Tensor:
    """``fn`` of the inputs flattened to ``(rows, n_i)`` (leading dimensions broadcast), on
    cache-sized blocks of rows on the CPU. ``torch.split`` keeps autograd cheap (its
    backward is one ``cat``)."""
    lead = torch.broadcast_shapes(*(x.shape[:-1] for x in xs))
    n = math.prod(lead)
    flat = [x.expand(*lead, x.shape[-1]).reshape(n, x.shape[-1]) for x in xs]
    rows = max(_MIN_BLOCK_ROWS, GRID_BLOCK_ELEMENTS // grid_size)
    if xs[0].device.type != "cpu" or n <= rows:
        return fn(*flat).reshape(*lead, -1)
    parts = zip(*(x.split(rows) for x in flat), strict=True)
    return torch.cat([fn(*p) for p in parts]).reshape(*lead, -1)


def gaunt_grid(x1: torch.Tensor, x2: torch.Tensor, lmax_out: int) -> torch.Tensor:
    """Gaunt product on an exact S² grid (sphere-grid product, Xie et al. 2025).

    .. math:: (x_1 \\otimes_G x_2)_k = \\sum_g w_g\\, f_1(x_g)\\, f_2(x_g)\\, Y_k(x_g),

    exact because the integrand has degree :math:`L_1 + L_2 + L_{out}`, the degree of the
    :func:`s2_quadrature` grid used. Shapes as :func:`gaunt_reference`. Synthesis and
    projection are dense matrices below grid degree :data:`SEPARABLE_FROM_DEGREE` and
    separable (Legendre × Fourier) from it; on the CPU rows go in cache-sized blocks
    (:data:`GRID_BLOCK_ELEMENTS`).
    """
    l1, l2 = _degrees(x1, x2)
    tr = _grid((l1, l2), lmax_out, l1 + l2 + lmax_out, x1.dtype, x1.device)
    return _row_blocks(
        lambda a, b: tr.project(tr.synth(a, 0) * tr.synth(b, 1)), (x1, x2), tr.grid_size
    )


def gaunt_power_grid(x: torch.Tensor, nu: int, lmax_out: int) -> torch.Tensor:
    """ν-fold Gaunt self-product :math:`\\int f^{\\nu} Y_k\\, d\\Omega` on an exact S² grid.

    One synthesis, a pointwise power, one projection (grid degree :math:`\\nu L + L_{out}`,
    transforms as in :func:`gaunt_grid`).
    ``x``: ``(..., (L+1)²)`` → ``(..., (lmax_out+1)²)``; ``nu >= 1``.
    """
    if nu < 1:
        raise ValueError(f"nu must be >= 1, got {nu}")
    l = lmax_of(x.shape[-1])
    tr = _grid((l,), lmax_out, nu * l + lmax_out, x.dtype, x.device)
    return _row_blocks(lambda a: tr.project(tr.synth(a, 0).pow(nu)), (x,), tr.grid_size)


# ---------------------------------------------------------------------------- Fourier 2D


@functools.lru_cache(maxsize=64)
def _sh_to_fourier(lmax: int) -> torch.Tensor:
    """``T[k, u+L, v+L]``: :math:`Y_k(\\theta,\\varphi) = \\sum_{uv} T e^{i(u\\theta+v\\varphi)}`.

    Exact: :math:`Y_k` on the torus is a trigonometric polynomial of degree ``<= L`` in each
    angle, so the FFT of ``(2L+1)²`` samples recovers its coefficients.
    """
    n = 2 * lmax + 1
    ang = 2 * math.pi * torch.arange(n, dtype=torch.float64) / n
    th, ph = torch.meshgrid(ang, ang, indexing="ij")
    pts = torch.stack([th.sin() * ph.cos(), th.sin() * ph.sin(), th.cos()], -1)
    y = spherical_harmonics(lmax, pts, normalize=False).permute(2, 0, 1)  # (k, θ, φ)
    c = torch.fft.fftshift(torch.fft.fft2(y) / (n * n), dim=(-2, -1))
    c.real[c.real.abs() < 1e-15] = 0.0
    c.imag[c.imag.abs() < 1e-15] = 0.0
    return c


def _theta_integral(k: np.ndarray) -> np.ndarray:
    """:math:`\\int_0^\\pi e^{ik\\theta} d\\theta` for integer arrays ``k``."""
    out = np.zeros(k.shape, dtype=np.complex128)
    out[k == 0] = math.pi
    odd = k % 2 == 1
    out[odd] = 2j / k[odd]
    return out


@functools.lru_cache(maxsize=64)
def _fourier_to_sh(lmax_out: int, lmax_prod: int) -> torch.Tensor:
    """``Z[k, u+Lp, v+Lo]`` with :math:`c_k = \\operatorname{Re}\\sum_{uv} Z_{k,uv} H_{uv}` for
    :math:`f = \\sum_{uv} H_{uv} e^{i(u\\theta+v\\varphi)}`,
    :math:`|u| \\le L_p`, :math:`|v| \\le L_o`.

    :math:`Z_{k,uv} = 2\\pi \\sum_{u'} T_{k,u',-v}\\, J(u+u')` with
    :math:`J(n) = \\int_0^\\pi \\sin\\theta\\, e^{in\\theta} d\\theta = (I(n+1) - I(n-1))/2i`.
    """
    T = _sh_to_fourier(lmax_out).numpy()  # (k, u', v') with index offset lmax_out
    u = np.arange(-lmax_prod, lmax_prod + 1)
    up = np.arange(-lmax_out, lmax_out + 1)
    n = u[:, None] + up[None, :]
    J = (_theta_integral(n + 1) - _theta_integral(n - 1)) / 2j  # (u, u')
    Tm = T[:, :, ::-1]  # v' -> -v
    Z = 2 * math.pi * np.einsum("kav,ua->kuv", Tm, J)
    return torch.from_numpy(np.ascontiguousarray(Z))


def _complex(dtype: torch.dtype) -> torch.dtype:
    return {torch.float32: torch.complex64, torch.float64: torch.complex128}.get(
        dtype, torch.complex64
    )


def _fourier(name: str, key: tuple, dtype, device) -> torch.Tensor:
    build = _sh_to_fourier if name == "T" else _fourier_to_sh
    return _on("fourier_" + name, key, build, _complex(dtype), device)


def _to_fourier(x: torch.Tensor, lmax: int) -> torch.Tensor:
    T = _fourier("T", (lmax,), x.dtype, x.device)
    n = 2 * lmax + 1
    return (x.to(T.dtype) @ T.flatten(1)).unflatten(-1, (n, n))


def _from_fourier(h: torch.Tensor, lmax_prod: int, lmax_out: int, dtype) -> torch.Tensor:
    """``h``: coefficients of the product, ``(..., 2Lp+1, 2Lp+1)``, centred."""
    if lmax_out > lmax_prod:  # degrees above L1 + L2 are exactly zero
        y = _from_fourier(h, lmax_prod, lmax_prod, dtype)
        return torch.nn.functional.pad(y, (0, (lmax_out + 1) ** 2 - y.shape[-1]))
    Z = _fourier("Z", (lmax_out, lmax_prod), dtype, h.device)
    hv = h[..., lmax_prod - lmax_out : lmax_prod + lmax_out + 1]  # |v| <= lmax_out
    return (hv.flatten(-2) @ Z.flatten(1).T).real


def fft_size(n: int) -> int:
    """Smallest 2^a 3^b 5^c >= n (prime FFT lengths such as 41 are several times slower)."""
    m = n
    while True:
        k = m
        for p in (2, 3, 5):
            while k % p == 0:
                k //= p
        if k == 1:
            return m
        m += 1


def gaunt_fourier2d(x1: torch.Tensor, x2: torch.Tensor, lmax_out: int) -> torch.Tensor:
    """Gaunt product in the 2D Fourier basis with FFT convolution (Luo et al., ICLR 2024).

    1. :math:`F_i = x_i \\cdot T_{L_i}`: coefficients of :math:`f_i(\\theta, \\varphi)`,
       ``(..., 2L_i+1, 2L_i+1)``;
    2. :math:`H = F_1 * F_2` (2D linear convolution) via zero-padded ``fft2``/``ifft2``
       of size :math:`2(L_1+L_2)+1`;
    3. :math:`c_k = \\operatorname{Re} \\sum_{uv} Z_{k,uv} H_{uv}` (exact projection onto
       :math:`Y_k`, only :math:`|v| \\le L_{out}` needed).

    Shapes as :func:`gaunt_reference`.
    """
    l1, l2 = _degrees(x1, x2)
    lp = l1 + l2
    n = fft_size(2 * lp + 1)  # >= 2lp+1: the circular convolution does not wrap
    a1 = torch.fft.fft2(_to_fourier(x1, l1), s=(n, n))
    a2 = torch.fft.fft2(_to_fourier(x2, l2), s=(n, n))
    h = torch.fft.ifft2(a1 * a2)  # index (u1+l1)+(u2+l2) = u + lp: already centred
    return _from_fourier(h[..., : 2 * lp + 1, : 2 * lp + 1], lp, lmax_out, x1.dtype)


def gaunt_power_fourier2d(x: torch.Tensor, nu: int, lmax_out: int) -> torch.Tensor:
    """ν-fold Gaunt self-product in the 2D Fourier domain: one ``fft2``, a power, one ``ifft2``.

    ``x``: ``(..., (L+1)²)`` → ``(..., (lmax_out+1)²)``, equal to :func:`gaunt_power_grid`.
    """
    if nu < 1:
        raise ValueError(f"nu must be >= 1, got {nu}")
    l = lmax_of(x.shape[-1])
    lp = nu * l
    n = fft_size(2 * lp + 1)
    a = torch.fft.fft2(_to_fourier(x, l), s=(n, n))
    h = torch.fft.ifft2(a.pow(nu))[..., : 2 * lp + 1, : 2 * lp + 1]
    return _from_fourier(h, lp, lmax_out, x.dtype)

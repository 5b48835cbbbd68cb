r"""The compiled relaxation loop (numba): every step of one relaxation in one call.

Layout (chosen for BLAS and SIMD, see ``benchmarks/backends.py`` for the numbers)
---------------------------------------------------------------------------------
States are *unit-major*: one real ``(N, R)`` array per quantity (u, s = ρ(u), Φ, h),
a row per unit and a column per relaxed row, R = K·B (probes × batch). Complex
states are *packed* as torch packs them: R = 2·K·B columns, the real parts in
columns ``0 … M−1`` and the imaginary parts in ``M … 2M−1`` (M = K·B), so every
map stays one real GEMM. The units are ordered by *layer parity*: the even state
layers (0, 2, …) first, then the odd ones. A layered network only couples
neighbouring layers, so with that order

.. math::

    Φ = \begin{pmatrix} Φ_E \\ Φ_O \end{pmatrix}
      = \begin{pmatrix} 0 & M_{EO} \\ M_{OE} & 0 \end{pmatrix}
        \begin{pmatrix} s_E \\ s_O \end{pmatrix} + h ,

and one step is **two** GEMMs (``np.dot`` → BLAS) on contiguous row blocks,
with no zero block computed for three state layers (deeper networks carry the
zero blocks of M_EO/M_OE between layers two apart). Per step (docs/design.md §2):

    s = ρ(g ⊙ u + o)                   (vectorised; exp inlined, see _exp_neg)
    Φ = M s + h (+ β_m (A_b s_L + c_b) on the output layer)
    u ← Φ                              (η = 1, fixed point)
    u ← u + η (Φ − u)                  (leaky Euler, η = dt/τ)
    u ← u + noise[t]                   (thermal, pre-drawn σ √η ξ, real parts; may be empty)

with the convergence check every ``check_every`` steps exactly as
:func:`neurosim.substrate.relax` does it. Two signatures are compiled (float64
and float32 arrays; complex states are packed real arrays), cached on disk
(``cache=True``). ``error_model="numpy"`` (a float division by zero gives inf/NaN
instead of raising: the raise's branch blocked SIMD) and, in the activation loop
only, ``fastmath={"contract"}`` (FMA: one rounding instead of two); no
reassociation anywhere, so NaN/inf keep their meaning and the fixed points stay
within 1e-10 of torch's.

Why not the obvious loop: the previous kernel ran, per row, an axpy over the
receiving layer for every sending unit (inner loops of 4–96 elements, restarted
N times per row, Φ reloaded and stored each time: ~0.5 GFMA/s) and a libm ``exp``
call per unit (4.6 ns, not vectorisable without SVML). Measured per step at
n = 64 state units, B = 64 on the 2-core benchmark machine: maps 3.7 µs here
(OpenBLAS, ~33 GFMA/s) vs ~100 µs; ρ 3.6 µs (0.87 ns per unit) vs 18 µs (4.6 µs
with the degree-13 Taylor exp; with neuron gain/offset 3.9 µs, where an in-place
ρ over a stored ``g u + o`` array ran scalar: 32 µs).
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic, overload

SIGMOID, TANH, SHIFTED_SIGMOID, DSILU = 0, 1, 2, 3

RUNNING, CONVERGED, NON_FINITE = 0, 1, 2

_LOG2E = 1.4426950408889634
_LN2_HI = 6.93147180369123816490e-01  # fdlibm's split of ln 2: k·_LN2_HI is exact for |k| < 2^11
_LN2_LO = 1.90821492927058770002e-10
_SHIFT = 6755399441055744.0  # 1.5·2^52: (t + _SHIFT) − _SHIFT rounds t to the nearest integer
_EXP_MIN = -708.0  # exp(x) for x below this is < 3.3e-308: returned as 0


#: Bit pattern of _SHIFT: bits(t) − _SHIFT_BITS = k for t = k + _SHIFT (|k| < 2^51).
_SHIFT_BITS = 0x4338000000000000
#: e^r ≈ Σ_j _EXP_POLY[j] r^j on |r| ≤ ln2/2: the degree-11 Chebyshev fit
#: (``mpmath.chebyfit(mpmath.exp, [-ln2/2, ln2/2], 12)`` at 40 digits, rounded to
#: float64); max relative error 3.2e-18, below the 1.1e-16 of rounding, two
#: multiply-adds fewer than the degree-13 Taylor series of the same accuracy.
_EXP_POLY = (
    1.0, 1.0, 0.5000000000000019, 0.1666666666666668, 0.0416666666664881,
    0.008333333333319601, 0.0013888888952314775, 0.00019841269890047113,
    2.4801485482328494e-05, 2.755724091857897e-06, 2.763263963904103e-07,
    2.5110037605963777e-08,
)  # fmt: skip
_P0, _P1, _P2, _P3, _P4, _P5, _P6, _P7, _P8, _P9, _P10, _P11 = _EXP_POLY


@intrinsic
def _f64_from_bits(typingctx, bits):
    """Reinterpret an int64 as the float64 with those bits (an LLVM bitcast, vectorisable)."""

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return types.float64(types.int64), codegen


@intrinsic
def _bits_from_f64(typingctx, x):
    """Reinterpret a float64 as the int64 with its bits (an LLVM bitcast, vectorisable)."""

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(64))

    return types.int64(types.float64), codegen


@njit(cache=True, error_model="numpy", inline="always")
def _exp_neg(x):
    """e^x for x ≤ 0 (NaN → NaN, x < −708 → 0) in branch-free arithmetic LLVM vectorises.

    x = k ln 2 + r with k = round(x / ln 2) and |r| ≤ ln2/2 (Cody–Waite, two-part
    ln 2); e^r by the polynomial :data:`_EXP_POLY`; 2^k from the exponent bits, k
    read from the bits of the rounded sum ``t = x/ln2 + 1.5·2^52`` (no float → int
    conversion; a NaN's garbage k is harmless, p carries the NaN). Within 1 ulp of
    libm's ``exp`` over [−708, 0] (tested); libm's scalar call
    cannot be vectorised without SVML, which is not available.
    """
    xc = _EXP_MIN if x < _EXP_MIN else x  # NaN compares false and stays NaN
    t = xc * _LOG2E + _SHIFT
    kf = t - _SHIFT
    r = (xc - kf * _LN2_HI) - kf * _LN2_LO
    p = r * _P11 + _P10  # Horner
    p = p * r + _P9
    p = p * r + _P8
    p = p * r + _P7
    p = p * r + _P6
    p = p * r + _P5
    p = p * r + _P4
    p = p * r + _P3
    p = p * r + _P2
    p = p * r + _P1
    p = p * r + _P0
    k = _bits_from_f64(t) - _SHIFT_BITS
    e = p * _f64_from_bits((k + 1023) << 52)
    return 0.0 if x < _EXP_MIN else e


@njit(cache=True, error_model="numpy", inline="always")
def _sigmoid_real(z):
    """σ(z) = 1/(1 + e^{−z}), as e^{−|z|} / (1 + e^{−|z|}) for z < 0 (stable on both tails)."""
    e = _exp_neg(-abs(z))
    return (1.0 if z >= 0 else e) / (1.0 + e)


def _sigmoid(z):
    """σ(z) for complex z (compiled through the overload below)."""
    raise NotImplementedError("compiled only")


@overload(_sigmoid)
def _sigmoid_impl(z):
    def impl(z):  # the real-arithmetic form of neurosim.substrate.sigmoid
        a, b = z.real, z.imag
        t = np.exp(-abs(a))
        tc = np.cos(b) * t
        tt = t * t
        q = 1.0 / (tt + 2.0 * tc + 1.0)
        re = ((1.0 if a >= 0 else tt) + tc) * q
        return complex(re, np.sin(b) * t * q)

    return impl


@njit(cache=True, error_model="numpy")
def _rho_complex(z, act):
    if act == SIGMOID:
        return _sigmoid(z)
    if act == TANH:
        return 2.0 * _sigmoid(2.0 * z) - 1.0  # as the torch activation computes it
    if act == SHIFTED_SIGMOID:
        return _sigmoid(4.0 * z - 2.0)
    s = _sigmoid(z)  # DSILU
    return s * (1.0 + z * (1.0 - s))


@njit(cache=True, error_model="numpy", fastmath={"contract"})
def _activate_real(z, s, act):
    """s = ρ(z) elementwise over flat contiguous arrays; one loop per activation (SIMD)."""
    n = z.shape[0]
    if act == SIGMOID:
        for i in range(n):
            s[i] = _sigmoid_real(z[i])
    elif act == TANH:
        for i in range(n):
            s[i] = np.tanh(z[i])
    elif act == SHIFTED_SIGMOID:
        for i in range(n):
            s[i] = _sigmoid_real(4.0 * z[i] - 2.0)
    else:  # DSILU
        for i in range(n):
            zi = z[i]
            si = _sigmoid_real(zi)
            s[i] = si * (1.0 + zi * (1.0 - si))


@njit(cache=True, error_model="numpy", fastmath={"contract"})
def _activate_scaled(u, gain, offset, act, s):
    """s = ρ(g_i u + o_i) row by row (real ``(N, R)`` arrays; one loop nest per activation).

    z is never stored: an in-place ``ρ`` over a ``g u + o`` array made LLVM's
    runtime alias check fail and run the loop scalar (8× slower, measured).
    """
    n, cols = u.shape
    for i in range(n):
        g, o = gain[i], offset[i]
        if act == SIGMOID:
            for r in range(cols):
                s[i, r] = _sigmoid_real(g * u[i, r] + o)
        elif act == TANH:
            for r in range(cols):
                s[i, r] = np.tanh(g * u[i, r] + o)
        elif act == SHIFTED_SIGMOID:
            for r in range(cols):
                s[i, r] = _sigmoid_real(4.0 * (g * u[i, r] + o) - 2.0)
        else:  # DSILU
            for r in range(cols):
                z = g * u[i, r] + o
                si = _sigmoid_real(z)
                s[i, r] = si * (1.0 + z * (1.0 - si))


@njit(cache=True, error_model="numpy")
def _activate(u, gain, offset, scaled, act, cplx, m, s):
    """s = ρ(g ⊙ u + o) on the ``(N, R)`` state (packed Re | Im columns when ``cplx``)."""
    n, r_cols = u.shape
    if cplx:
        for i in range(n):
            g, o = gain[i], offset[i]
            for r in range(m):
                v = _rho_complex(complex(g * u[i, r] + o, g * u[i, m + r]), act)
                s[i, r] = v.real
                s[i, m + r] = v.imag
        return
    if scaled:
        _activate_scaled(u, gain, offset, act, s)
    else:
        _activate_real(u.ravel(), s.ravel(), act)


@njit(cache=True, error_model="numpy")
def _drive(u, m_eo, m_oe, n_even, gain, offset, scaled, act, cplx, m, out_lo, out_hi,
           beta_re, beta_im, a, a_ident, c, nudged, s, phi):  # fmt: skip
    """s = ρ(g u + o) and Φ − h = M s (+ β g(s_L)) for every column (h is added by the caller)."""
    _activate(u, gain, offset, scaled, act, cplx, m, s)
    n = u.shape[0]
    if n_even < n:
        np.dot(m_eo, s[n_even:], phi[:n_even])
        np.dot(m_oe, s[:n_even], phi[n_even:])
    else:  # a single state layer: no state-to-state map
        phi[:, :] = 0.0
    if not nudged:
        return
    batch = c.shape[0]
    k = out_hi - out_lo
    for r in range(m):
        b = r % batch
        br, bi = beta_re[r], beta_im[r]
        for i in range(k):
            if a_ident:
                g_re = s[out_lo + i, r] + c[b, i]
                g_im = s[out_lo + i, m + r] if cplx else 0.0
            else:
                g_re, g_im = c[b, i], 0.0
                for j in range(k):
                    g_re += a[b, i, j] * s[out_lo + j, r]
                    if cplx:
                        g_im += a[b, i, j] * s[out_lo + j, m + r]
            if cplx:
                phi[out_lo + i, r] += br * g_re - bi * g_im
                phi[out_lo + i, m + r] += br * g_im + bi * g_re
            else:
                phi[out_lo + i, r] += br * g_re


@njit(cache=True, error_model="numpy")
def _residual(u, phi, h, m, cplx, res):
    """res[r] = ‖Φ − u‖₂ (Φ = phi + h) over all units and both packed parts of logical row r."""
    n = u.shape[0]
    res[:] = 0.0
    for i in range(n):
        for r in range(m):
            d = (phi[i, r] + h[i, r]) - u[i, r]
            res[r] += d * d
        if cplx:
            for r in range(m, 2 * m):
                d = (phi[i, r] + h[i, r]) - u[i, r]
                res[r - m] += d * d
    for r in range(m):
        res[r] = np.sqrt(res[r])


@njit(cache=True, error_model="numpy")
def _update(u, phi, h, eta, noise_t, m):
    """u ← Φ or u + η (Φ − u), Φ = phi + h, then + noise on the first ``m`` columns."""
    n, r_cols = u.shape
    if eta == 1.0:
        for i in range(n):
            for r in range(r_cols):
                u[i, r] = phi[i, r] + h[i, r]
    else:
        for i in range(n):
            for r in range(r_cols):
                u[i, r] += eta * ((phi[i, r] + h[i, r]) - u[i, r])
    if noise_t.shape[0] > 0:
        for i in range(n):
            for r in range(m):
                u[i, r] += noise_t[i, r]


@njit(cache=True, error_model="numpy")
def relax_kernel(
    u, h, m_eo, m_oe, n_even, gain, offset, scaled, act, cplx, out_lo, out_hi,
    beta_re, beta_im, a, a_ident, c, nudged, eta, t0, t1, final, check_every, tol, noise,
    s, phi, res,
):  # fmt: skip
    """Run steps ``t0 … t1−1`` in place on ``u`` ``(N, R)``; returns (steps, status).

    status CONVERGED: stopped at a check with max residual ≤ tol (``u``, ``s``,
    ``res`` describe the state at that step, steps = t). NON_FINITE: a check saw
    a non-finite residual. RUNNING: the chunk ended; with ``final`` set, ``s`` and
    ``res`` are evaluated at the returned state (steps = t1). ``noise`` is
    ``(T, N, M)`` for the real parts (or ``(0, 0, 0)``: noise-free).
    """
    r_cols = u.shape[1]
    m = r_cols // 2 if cplx else r_cols
    for t in range(t0, t1):
        _drive(u, m_eo, m_oe, n_even, gain, offset, scaled, act, cplx, m, out_lo, out_hi,
               beta_re, beta_im, a, a_ident, c, nudged, s, phi)  # fmt: skip
        if (t + 1) % check_every == 0:
            _residual(u, phi, h, m, cplx, res)
            rmax = 0.0
            finite = True
            for r in range(m):
                if not np.isfinite(res[r]):
                    finite = False
                elif res[r] > rmax:
                    rmax = res[r]
            if not finite:
                return t, NON_FINITE
            if rmax <= tol:
                return t, CONVERGED
        _update(u, phi, h, eta, noise[t - t0] if noise.shape[0] > 0 else u[:0], m)
    if final:
        _drive(u, m_eo, m_oe, n_even, gain, offset, scaled, act, cplx, m, out_lo, out_hi,
               beta_re, beta_im, a, a_ident, c, nudged, s, phi)  # fmt: skip
        _residual(u, phi, h, m, cplx, res)
        for r in range(m):
            if not np.isfinite(res[r]):
                return t1, NON_FINITE
    return t1, RUNNING

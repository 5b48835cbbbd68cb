r"""The compiled relaxation loop (numba): every step of one relaxation in one call.

States are rows of a ``(M, N)`` array, M = K·B (probes × batch), the L layers
side by side in N = Σ n_l columns. Per step and row (DESIGN.md §2):

    s = ρ(g ⊙ u + o)
    Φ_l = h_l + W_l s_{l-1} + B_l s_{l+1}   (+ β_m (A_b s_L + c_b) on the output layer)
    u ← Φ                      (η = 1, fixed point)
    u ← u + η (Φ − u)          (leaky Euler, η = dt/τ)
    u ← u + noise[t]           (thermal, pre-drawn σ √η ξ; may be empty)

with the convergence check every ``check_every`` steps exactly as
:func:`neurosim.substrate.relax` does it. Three signatures are compiled
(float64, float32 and complex128 states; weights are always real), cached on
disk (``cache=True``). ``fastmath`` allows reassociation and contraction only:
NaN and inf keep their meaning, so a diverging relaxation is still caught.
"""

from __future__ import annotations

import numpy as np
from numba import njit, types
from numba.extending import overload

_FASTMATH = {"reassoc", "contract", "nsz", "arcp"}

SIGMOID, TANH, SHIFTED_SIGMOID, DSILU = 0, 1, 2, 3

RUNNING, CONVERGED, NON_FINITE = 0, 1, 2


def _sigmoid(z):
    """σ(z) = 1/(1 + e^{-z}) (compiled through the overloads below)."""
    raise NotImplementedError("compiled only")


def _tanh(z):
    """tanh z (compiled through the overloads below)."""
    raise NotImplementedError("compiled only")


@overload(_sigmoid)
def _sigmoid_impl(z):
    if isinstance(z, types.Complex):

        def impl(z):  # the real-arithmetic form of neurosim.substrate.sigmoid
            a, b = z.real, z.imag
            t = np.exp(-abs(a))
            tc = np.cos(b) * t
            tt = t * t
            q = 1.0 / (tt + 2.0 * tc + 1.0)
            re = ((1.0 if a >= 0 else tt) + tc) * q
            return complex(re, np.sin(b) * t * q)

        return impl

    def impl(z):  # stable on both tails
        if z >= 0:
            return 1.0 / (1.0 + np.exp(-z))
        e = np.exp(z)
        return e / (1.0 + e)

    return impl


@overload(_tanh)
def _tanh_impl(z):
    if isinstance(z, types.Complex):
        return lambda z: 2.0 * _sigmoid(2.0 * z) - 1.0  # as the torch activation computes it
    return lambda z: np.tanh(z)


@njit(cache=True)
def _rho(z, act):
    if act == SIGMOID:
        return _sigmoid(z)
    if act == TANH:
        return _tanh(z)
    if act == SHIFTED_SIGMOID:
        return _sigmoid(4.0 * z - 2.0)
    s = _sigmoid(z)  # DSILU
    return s * (1.0 + z * (1.0 - s))


@njit(cache=True, fastmath=_FASTMATH)
def _drive(u, h, w, w_off, fb, fb_off, sizes, offs, beta, a, c, nudged, gain, offset, act, s, phi):
    """s = ρ(g u + o) and φ = Φ(s) + β g(s) for every row.

    The maps are stored transposed (``w``: W_lᵀ, ``fb``: B_lᵀ, row-major, flat) so
    the inner loop is an axpy over the receiving layer: contiguous, no reduction,
    vectorised by LLVM.
    """
    m_rows, n = u.shape
    n_layers = sizes.shape[0]
    batch = c.shape[0]
    for m in range(m_rows):
        um, sm, pm, hm = u[m], s[m], phi[m], h[m]
        for i in range(n):
            sm[i] = _rho(gain[i] * um[i] + offset[i], act)
        for i in range(n):
            pm[i] = hm[i]
        for l in range(n_layers):
            o, k = offs[l], sizes[l]
            if l > 0:
                kp, op = sizes[l - 1], offs[l - 1]
                for j in range(kp):
                    sj = sm[op + j]
                    base = w_off[l - 1] + j * k
                    for i in range(k):
                        pm[o + i] += w[base + i] * sj
            if l + 1 < n_layers:
                kn, on = sizes[l + 1], offs[l + 1]
                for j in range(kn):
                    sj = sm[on + j]
                    base = fb_off[l] + j * k
                    for i in range(k):
                        pm[o + i] += fb[base + i] * sj
        if nudged:
            b = m % batch
            o, k = offs[n_layers - 1], sizes[n_layers - 1]
            for i in range(k):
                g = c[b, i] + 0.0 * sm[o]
                for j in range(k):
                    g += a[b, i, j] * sm[o + j]
                pm[o + i] += beta[m] * g


@njit(cache=True, fastmath=_FASTMATH)
def relax_kernel(
    u, h, w, w_off, fb, fb_off, sizes, beta, a, c, nudged, gain, offset, act, eta,
    t0, t1, final, check_every, tol, noise, s, phi, res,
):  # fmt: skip
    """Run steps ``t0 … t1−1`` in place on ``u``; returns (steps, status).

    status CONVERGED: stopped at a check with max residual ≤ tol (``u``, ``s``,
    ``res`` describe the state at that step, steps = t). NON_FINITE: a check saw
    a non-finite residual. RUNNING: the chunk ended; with ``final`` set, ``s`` and
    ``res`` are evaluated at the returned state (steps = t1).
    """
    m_rows, n = u.shape
    n_layers = sizes.shape[0]
    offs = np.zeros(n_layers, dtype=np.int64)
    for l in range(1, n_layers):
        offs[l] = offs[l - 1] + sizes[l - 1]
    has_noise = noise.shape[0] > 0
    for t in range(t0, t1):
        _drive(u, h, w, w_off, fb, fb_off, sizes, offs, beta, a, c, nudged, gain, offset, act,
               s, phi)  # fmt: skip
        if (t + 1) % check_every == 0:
            rmax = 0.0
            finite = True
            for m in range(m_rows):
                acc = 0.0
                for i in range(n):
                    d = phi[m, i] - u[m, i]
                    acc += d.real * d.real + d.imag * d.imag
                r = np.sqrt(acc)
                res[m] = r
                if not np.isfinite(r):
                    finite = False
                elif r > rmax:
                    rmax = r
            if not finite:
                return t, NON_FINITE
            if rmax <= tol:
                return t, CONVERGED
        tn = t - t0
        for m in range(m_rows):
            for i in range(n):
                if eta == 1.0:
                    v = phi[m, i]
                else:
                    v = u[m, i] + eta * (phi[m, i] - u[m, i])
                if has_noise:
                    v += noise[tn, m, i]
                u[m, i] = v
    if final:
        _drive(u, h, w, w_off, fb, fb_off, sizes, offs, beta, a, c, nudged, gain, offset, act,
               s, phi)  # fmt: skip
        for m in range(m_rows):
            acc = 0.0
            for i in range(n):
                d = phi[m, i] - u[m, i]
                acc += d.real * d.real + d.imag * d.imag
            res[m] = np.sqrt(acc)
        for m in range(m_rows):
            if not np.isfinite(res[m]):
                return t1, NON_FINITE
    return t1, RUNNING

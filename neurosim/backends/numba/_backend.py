r"""The numba backend: a dense layered relaxation compiled into one call.

:class:`NumbaBackend.relax` is :func:`neurosim.substrate.relax` for dense
layered networks: same arguments, same :class:`~neurosim.substrate.RelaxResult`
(states ``(*lead, n_l)``, lead = ``(B,)`` or ``(K, B)``), the same step, check
and early-stop rule, so the EP estimators run on it unchanged through their
relaxation hook. Hardware enters exactly as in torch: the arrays are read once
(``network.bind()``, device effects and per-read noise included), the DAC in
the static drive, neuron gain/offset inside ρ, thermal noise σ √η ξ per step
(drawn in advance from the hardware's own thermal stream, in chunks of at most
:data:`NOISE_CHUNK_BYTES`). Not supported (:class:`UnsupportedError`):
non-dense layers, per-step read noise, activations other than sigmoid, tanh,
shifted sigmoid and dsilu, nudges that are not affine in s_L, and relaxations
that autograd must record (BPTT).

Complex probes relax complex states at the network's precision, packed as
torch packs them (real and imaginary parts as separate real columns, so the maps
stay real GEMMs); the result is complex64 or complex128 as torch returns it.
The kernel's layout (unit-major, units ordered by layer parity, two GEMMs per
step) is described in ``_kernel.py``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import torch

from ...substrate import FixedPoint, NonFiniteStateError, RelaxResult
from .._base import AbstractBackend, UnsupportedError
from .._dense import (
    activation_code,
    affine_nudge,
    check_affine_nudge,
    check_dense,
    dense_engine_refusal,
    dense_system,
)

__all__ = ["NumbaBackend", "NOISE_CHUNK_BYTES"]

NOISE_CHUNK_BYTES = 64 * 2**20
"""Largest block of pre-drawn thermal noise held at once (steps are run in chunks)."""

_ENGINE = "numba"


@dataclass(frozen=True)
class NumbaBackend(AbstractBackend):
    """Compiled relaxation of dense layered networks (real and complex states)."""

    name = "numba"
    complex_states = True

    @classmethod
    def refusal(cls, needs):
        return dense_engine_refusal(cls.name, needs)

    def unsupported(self, network, x, *, beta=None, nudge=None, integrator=None, drive_offset=None):
        try:
            check_dense(network, x, _ENGINE)
            check_affine_nudge(network, x, beta, nudge, _ENGINE)
        except UnsupportedError as exc:
            return str(exc)
        if _needs_graph(network, x, drive_offset):
            return "autograd must record this relaxation (BPTT); the numba backend cannot"
        return None

    def relax(
        self,
        network,
        x,
        *,
        steps,
        u0=None,
        beta=None,
        nudge=None,
        integrator=None,
        tol=0.0,
        check_every=10,
        progress=None,
        bound=None,
        drive_offset=None,
    ) -> RelaxResult:
        from ._kernel import NON_FINITE, relax_kernel

        integrator = FixedPoint() if integrator is None else integrator
        if _needs_graph(network, x, drive_offset):
            raise UnsupportedError(
                "autograd must record this relaxation (BPTT); the numba backend cannot"
            )
        act = activation_code(network, _ENGINE)
        system = dense_system(network, x, _ENGINE, bound=bound, drive_offset=drive_offset)
        batch = system.h.shape[0]
        rdtype = system.h.dtype
        np_real = np.float32 if rdtype == torch.float32 else np.float64
        lead: tuple[int, ...] = (batch,)
        cplx = False
        if beta is not None:
            if nudge is None:
                raise ValueError("relax: a nudge function g(s_L) is required with beta")
            beta = torch.as_tensor(beta)
            if beta.ndim != 1:
                raise ValueError(
                    f"relax: beta must be a 1-d tensor of probes, got shape {tuple(beta.shape)}"
                )
            lead = (beta.shape[0], batch)
            cplx = beta.is_complex()
        k = lead[0] if len(lead) == 2 else 1
        m = k * batch  # logical rows; packed complex states have 2m columns
        layout = _Layout.of(system.sizes)
        n_total = layout.n_total

        def par(t) -> np.ndarray:
            return t.detach().cpu().numpy().astype(np_real, copy=False)

        m_eo, m_oe = layout.maps(system, par, np_real)
        scaled = system.gain is not None or system.offset is not None
        gain = np.ones(n_total, np_real) if system.gain is None else par(system.gain)[layout.perm]
        offset = (
            np.zeros(n_total, np_real) if system.offset is None else par(system.offset)[layout.perm]
        )
        cols = 2 * m if cplx else m
        h = np.zeros((n_total, cols), np_real)
        h[:, :m] = np.tile(par(system.h).T[layout.perm], (1, k))
        n_out = system.sizes[-1]
        out_lo = layout.pos[-1]
        if beta is not None:
            a_t, c_t = affine_nudge(nudge, torch.zeros(batch, n_out, dtype=rdtype), _ENGINE)
            a_ident = bool(torch.equal(a_t, torch.eye(n_out, dtype=rdtype).expand_as(a_t)))
            a = np.zeros((1, 1, 1), np_real) if a_ident else np.ascontiguousarray(par(a_t))
            c = np.ascontiguousarray(par(c_t))
            b_np = beta.detach().cpu().numpy()
            beta_re = np.ascontiguousarray(np.repeat(b_np.real.astype(np_real), batch))
            beta_im = np.ascontiguousarray(np.repeat(b_np.imag.astype(np_real), batch))
        else:
            a_ident, a = True, np.zeros((1, 1, 1), np_real)
            c = np.zeros((1, n_out), np_real)
            beta_re = beta_im = np.zeros(m, np_real)
        u = np.zeros((n_total, cols), np_real)
        if u0 is not None:
            for t, n, pos in zip(u0, system.sizes, layout.pos, strict=True):
                v = t.detach().expand(*lead, n).reshape(m, n).cpu().numpy().T
                u[pos : pos + n, :m] = v.real
                if cplx and np.iscomplexobj(v):
                    u[pos : pos + n, m:] = v.imag
        s = np.empty_like(u)
        phi = np.empty_like(u)
        res = np.zeros(m, np_real)
        eta = float(integrator.rate)
        hw = network.hardware
        noisy = hw.state_noise([torch.empty(1, dtype=rdtype)], eta) is not None
        empty_noise = np.zeros((0, 0, 0), np_real)
        if noisy:
            per_step = m * n_total * np.dtype(np_real).itemsize
            chunk = max(1, NOISE_CHUNK_BYTES // per_step)
            chunk = max(check_every, chunk // check_every * check_every)
        else:
            chunk = max(steps, 1)
        t0, status, t_stop = 0, 0, steps
        while True:
            t1 = min(steps, t0 + chunk)
            noise = empty_noise
            if noisy and t1 > t0:
                like = [torch.empty(t1 - t0, k, batch, n, dtype=rdtype) for n in system.sizes]
                drawn = hw.state_noise(like, eta)
                noise = layout.unit_major([par(d).reshape(t1 - t0, m, -1) for d in drawn])
            t_stop, status = relax_kernel(
                u, h, m_eo, m_oe, layout.n_even, gain, offset, scaled, act, cplx, out_lo,
                out_lo + n_out, beta_re, beta_im, a, a_ident, c, beta is not None, eta, t0, t1,
                t1 >= steps, check_every, float(tol), noise, s, phi, res,
            )  # fmt: skip
            if status != 0 or t1 >= steps:
                break
            t0 = t1
        if status == NON_FINITE:
            raise NonFiniteStateError(
                f"relaxation diverged: non-finite state by step {t_stop} (numba backend)"
            )

        def split(arr: np.ndarray) -> list[torch.Tensor]:
            rows = arr[layout.inverse]  # network unit order, (N, R)
            t = torch.from_numpy(np.ascontiguousarray(rows[:, :m].T))
            if cplx:
                t = torch.complex(t, torch.from_numpy(np.ascontiguousarray(rows[:, m:].T)))
            return list(torch.split(t.reshape(*lead, n_total), system.sizes, dim=-1))

        residual = torch.from_numpy(res).reshape(lead)
        if progress is not None:
            progress.update(t_stop, float(residual.max()) if residual.numel() else 0.0)
        hw.elapse(eta, int(t_stop))  # the substrate's clock, as the torch relaxation moves it
        return RelaxResult(split(u), split(s), int(t_stop), residual, residual <= tol, tol)


@dataclass(frozen=True)
class _Layout:
    """The kernel's unit order: even state layers (0, 2, …) first, then odd ones.

    Attributes
    ----------
    sizes : tuple of int
        (n_1, …, n_L) in network order.
    pos : tuple of int
        Row of layer l's first unit in the kernel's ``(N, R)`` arrays.
    n_even : int
        Units in the even layers (the rows of Φ_E).
    perm : ndarray
        ``(N,)`` network-order unit index of each kernel row.
    inverse : ndarray
        ``(N,)`` kernel row of each network-order unit (``perm``'s inverse).
    """

    sizes: tuple[int, ...]
    pos: tuple[int, ...]
    n_even: int
    perm: np.ndarray
    inverse: np.ndarray

    @property
    def n_total(self) -> int:
        return sum(self.sizes)

    @staticmethod
    @functools.lru_cache(maxsize=256)
    def of(sizes: tuple[int, ...]) -> _Layout:
        sizes = tuple(int(n) for n in sizes)
        order = list(range(0, len(sizes), 2)) + list(range(1, len(sizes), 2))
        natural = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        pos = [0] * len(sizes)
        row = 0
        for l in order:
            pos[l] = row
            row += sizes[l]
        perm = np.concatenate([np.arange(natural[l], natural[l + 1]) for l in order])
        n_even = sum(sizes[0::2])
        return _Layout(sizes, tuple(pos), n_even, perm, np.argsort(perm))

    def maps(self, system, par, np_real) -> tuple[np.ndarray, np.ndarray]:
        """(M_EO, M_OE): the even rows' map from the odd units and the odd rows' from the even.

        W_l (forward, layer l−1 → l) and B_l (feedback, l+1 → l) land in the block of
        their receiving layer's rows and sending layer's columns.
        """
        ne, n = self.n_even, self.n_total
        m_eo = np.zeros((ne, n - ne), np_real)
        m_oe = np.zeros((n - ne, ne), np_real)

        def place(recv: int, send: int, w) -> None:
            target, r0, c0 = (m_eo, 0, ne) if recv % 2 == 0 else (m_oe, ne, 0)
            r, c = self.pos[recv] - r0, self.pos[send] - c0
            target[r : r + self.sizes[recv], c : c + self.sizes[send]] = par(w)

        for l, w in enumerate(system.forward, start=1):
            place(l, l - 1, w)
        for l, b in enumerate(system.feedback):
            place(l, l + 1, b)
        return m_eo, m_oe

    def unit_major(self, parts) -> np.ndarray:
        """Per-layer ``(T, M, n_l)`` arrays → one ``(T, N, M)`` array in kernel row order."""
        t, m = parts[0].shape[:2]
        out = np.empty((t, self.n_total, m), parts[0].dtype)
        for part, pos, n in zip(parts, self.pos, self.sizes, strict=True):
            out[:, pos : pos + n] = part.transpose(0, 2, 1)
        return out


def _needs_graph(network, x, drive_offset) -> bool:
    """True when a caller asks autograd to differentiate through the steps (BPTT's offsets)."""
    return (
        torch.is_grad_enabled()
        and drive_offset is not None
        and any(t.requires_grad for t in drive_offset)
    )

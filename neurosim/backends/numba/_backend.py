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

Complex probes relax complex128 states (float32 networks too; the result is
cast to complex64 as torch would return it).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ...substrate import FixedPoint, NonFiniteStateError, RelaxResult
from .._base import AbstractBackend, UnsupportedError
from .._dense import activation_code, affine_nudge, check_dense, dense_system

__all__ = ["NumbaBackend", "NOISE_CHUNK_BYTES"]

NOISE_CHUNK_BYTES = 64 * 2**20
"""Largest block of pre-drawn thermal noise held at once (steps are run in chunks)."""

_ENGINE = "numba"


def _flat(ts) -> np.ndarray:
    return np.ascontiguousarray(np.concatenate([t.reshape(-1) for t in ts])) if ts else None


def _offsets(mats) -> np.ndarray:
    off = [0]
    for m in mats:
        off.append(off[-1] + m.numel())
    return np.asarray(off[:-1] if mats else [0], dtype=np.int64)


@dataclass(frozen=True)
class NumbaBackend(AbstractBackend):
    """Compiled relaxation of dense layered networks (real and complex states)."""

    name = "numba"
    complex_states = True

    def unsupported(self, network, x, *, beta=None, nudge=None, integrator=None, drive_offset=None):
        try:
            check_dense(network, x, _ENGINE)
            if beta is not None and nudge is not None:
                affine_nudge(nudge, torch.zeros(x.shape[0], network.shapes[-1][0],
                             dtype=network.dtype), _ENGINE)  # fmt: skip
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
        batch, n_total = system.h.shape
        rdtype = network.dtype
        np_real = np.float32 if rdtype == torch.float32 else np.float64
        lead: tuple[int, ...] = (batch,)
        complex_out = None
        if beta is not None:
            if nudge is None:
                raise ValueError("relax: a nudge function g(s_L) is required with beta")
            beta = torch.as_tensor(beta)
            if beta.ndim != 1:
                raise ValueError(
                    f"relax: beta must be a 1-d tensor of probes, got shape {tuple(beta.shape)}"
                )
            lead = (beta.shape[0], batch)
            if beta.is_complex():
                complex_out = torch.promote_types(rdtype, torch.complex64)
        # kernel dtypes: real states at the network's precision, complex states in complex128
        state_np = np.complex128 if complex_out is not None else np_real
        par_np = np.float64 if complex_out is not None else np_real
        k = lead[0] if len(lead) == 2 else 1
        rows = k * batch

        def par(t) -> np.ndarray:
            return np.ascontiguousarray(t.detach().cpu().numpy().astype(par_np, copy=False))

        sizes = np.asarray(system.sizes, dtype=np.int64)
        # transposed (sending × receiving) for the kernel's axpy inner loop
        w = _flat([par(m.T) for m in system.forward]) if system.forward else np.zeros(0, par_np)
        fb = _flat([par(m.T) for m in system.feedback]) if system.feedback else np.zeros(0, par_np)
        w_off, fb_off = _offsets(system.forward), _offsets(system.feedback)
        gain = np.ones(n_total, par_np) if system.gain is None else par(system.gain)
        offset = np.zeros(n_total, par_np) if system.offset is None else par(system.offset)
        h = np.ascontiguousarray(
            np.broadcast_to(par(system.h), (k, batch, n_total)).reshape(rows, n_total),
            dtype=state_np,
        )
        n_out = system.sizes[-1]
        if beta is not None:
            a_t, c_t = affine_nudge(nudge, torch.zeros(batch, n_out, dtype=rdtype), _ENGINE)
            a, c = par(a_t), par(c_t)
            b_np = beta.detach().cpu().numpy().astype(state_np)
            beta_rows = np.ascontiguousarray(np.repeat(b_np, batch))
        else:
            a = np.zeros((1, n_out, n_out), par_np)
            c = np.zeros((1, n_out), par_np)
            beta_rows = np.zeros(rows, state_np)
        if u0 is None:
            u = np.zeros((rows, n_total), state_np)
        else:
            parts = [
                t.detach().expand(*lead, *shape).reshape(rows, -1)
                for t, shape in zip(u0, network.shapes, strict=True)
            ]
            u0_t = torch.cat(parts, dim=-1)
            u0_np = u0_t.cpu().numpy()
            u = np.ascontiguousarray(u0_np.astype(state_np))
        s = np.empty_like(u)
        phi = np.empty_like(u)
        res = np.zeros(rows, np.float64)
        eta = float(integrator.rate)
        hw = network.hardware
        noisy = hw.state_noise([torch.empty(1, dtype=rdtype)], eta) is not None
        empty_noise = np.zeros((0, rows, n_total), par_np)
        if noisy:
            per_step = rows * n_total * np.dtype(par_np).itemsize
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
                noise = par(torch.cat(drawn, dim=-1).reshape(t1 - t0, rows, n_total))
            t_stop, status = relax_kernel(
                u, h, w, w_off, fb, fb_off, sizes, beta_rows, a, c, beta is not None,
                gain, offset, act, eta, t0, t1, t1 >= steps, check_every, float(tol),
                noise, s, phi, res,
            )  # fmt: skip
            if status != 0 or t1 >= steps:
                break
            t0 = t1
        if status == NON_FINITE:
            raise NonFiniteStateError(
                f"relaxation diverged: non-finite state by step {t_stop} (numba backend)"
            )

        out_dtype = complex_out if complex_out is not None else rdtype
        res_dtype = rdtype if complex_out is None else torch.float64
        if complex_out == torch.complex64:
            res_dtype = torch.float32

        def split(arr: np.ndarray) -> list[torch.Tensor]:
            t = torch.from_numpy(arr).to(out_dtype).reshape(*lead, n_total)
            return list(torch.split(t, list(system.sizes), dim=-1))

        residual = torch.from_numpy(res).to(res_dtype).reshape(lead)
        if progress is not None:
            progress.update(t_stop, float(residual.max()) if residual.numel() else 0.0)
        return RelaxResult(split(u), split(s), int(t_stop), residual, residual <= tol, tol)


def _needs_graph(network, x, drive_offset) -> bool:
    """True when a caller asks autograd to differentiate through the steps (BPTT's offsets)."""
    return (
        torch.is_grad_enabled()
        and drive_offset is not None
        and any(t.requires_grad for t in drive_offset)
    )

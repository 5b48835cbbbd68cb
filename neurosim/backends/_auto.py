r"""``auto``: the numba engine where it runs and is measured faster, torch elsewhere.

The choice is made per relaxation by a **one-time micro-calibration**: the first
time a relaxation *shape* is seen (state layer sizes and input width, batch B,
probes K, real or complex states, dtype, activation), both engines relax a
synthetic network of that shape (same sizes and activation, its own seeded
weights and input; the caller's network, hardware and random streams are never
touched) for T₁ = 2 and T₂ = 22 steps, ``repeats`` times each, interleaved, and
the minimum times give each engine's cost model

.. math::

    t(T) = t_0 + T\,t_1 ,\qquad t_1 = \frac{t(T_2) - t(T_1)}{T_2 - T_1},\quad
    t_0 = t(T_1) - T_1 t_1 ,

kept for the life of the process. Every relaxation of that shape then goes to the
engine with the smaller predicted ``t(steps)`` (``steps``: the relaxation's
budget). This measures the machine it runs on (BLAS, SIMD width, thread counts,
load at calibration time) instead of a threshold fitted on another one.

Cost: 2 warm-up and ``4 · repeats`` relaxations of at most 22 steps per shape,
paid once: 7–20 ms per shape for n ≤ 128 state units and B ≤ 64, 40 ms at n = 256,
B = 64 on the benchmark machine (one to two 100-step torch relaxations). Shapes
whose per-step work exceeds :data:`CALIBRATION_MAX_WORK` go to torch untimed.

Determinism: *which* engine runs can differ between processes (it depends on
timings), but both engines compute the same relaxation (fixed points within
1e-10 of each other in float64, identical EP gradients, tested in
``tests/test_backend_numba.py``), so the choice never changes a result beyond that.
Relaxations that autograd may record (grad mode on and a parameter, the input or a
drive offset requiring grad) and those numba cannot run always go to torch, with no
calibration. ``AutoBackend(calibrate=False)`` replaces the timing by the static rule
``w <= max_work`` (see :data:`AUTO_MAX_WORK`), which is deterministic but fitted on
one machine.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import torch

from ..substrate import LayeredNetwork, RelaxResult, relax
from ._base import AbstractBackend
from .numba import NumbaBackend

__all__ = ["AutoBackend", "AUTO_MAX_WORK", "CALIBRATION_MAX_WORK", "Calibration", "step_work"]

AUTO_MAX_WORK = 2_000_000
"""Largest per-step work w given to numba by the static rule (``calibrate=False``).

w = K·B · 2 Σ_l n_l n_{l+1} multiply–adds of the state-to-state maps per step (see
:func:`step_work`). Measured with ``python -m benchmarks.backends`` on the shared
2-core benchmark machine (float64, 100 fixed-point steps, one thread, networks
[n/4, 3n/8, 3n/8, n/4] of n = 16…256 state units, batch 1…64, w = 120 … 1.97M):
numba was faster in every cell (1.4× at the largest, w = 1.97M). The threshold is
the largest measured w: beyond it the rule does not extrapolate and picks torch.
The calibration (the default) measures instead of assuming.
"""

CALIBRATION_MAX_WORK = 32_000_000
"""Above this per-step work (16× the largest benchmark cell) ``auto`` picks torch untimed.

Both engines are then GEMM-bound (numba's lead fell to 1.4× at w = 2M and shrinks
with w), so the choice stops mattering while a calibration (~150 steps of each
engine) would cost about a second or more; torch, the reference, is kept.
"""

CALIBRATION_STEPS = (2, 22)
"""The two step budgets T₁, T₂ each engine is timed at to fit t(T) = t₀ + T t₁."""


def step_work(sizes, rows: int) -> int:
    """w = rows · 2 Σ n_l n_{l+1} over consecutive state layers ``sizes`` = (n_1 … n_L)."""
    return rows * 2 * sum(a * b for a, b in zip(sizes[:-1], sizes[1:], strict=False))


@dataclass(frozen=True)
class Calibration:
    """One engine's measured cost of relaxing one shape: t(T) = ``fixed`` + T · ``per_step``.

    Attributes
    ----------
    fixed : float
        Seconds per relaxation independent of the step count (t₀, ≥ 0).
    per_step : float
        Seconds per step (t₁, ≥ 0).
    """

    fixed: float
    per_step: float

    def cost(self, steps: int) -> float:
        """Predicted seconds for a relaxation of ``steps`` steps."""
        return self.fixed + steps * self.per_step


_CALIBRATIONS: dict[tuple, dict[str, Calibration]] = {}
"""Process-wide cache: shape key → {"torch": …, "numba": …}."""


def _shape_key(network, x, beta) -> tuple:
    k = 0 if beta is None else int(torch.as_tensor(beta).shape[0])
    cplx = beta is not None and torch.as_tensor(beta).is_complex()
    sizes = (network.input_shape[0], *(s[0] for s in network.shapes))
    return (sizes, int(x.shape[0]), k, cplx, network.dtype, type(network.activation).__name__)


def _synthetic(key: tuple, activation):
    """A network, input, probes and nudge of the key's shape, from a fixed seed."""
    sizes, batch, k, cplx, dtype, _ = key
    gen = torch.Generator().manual_seed(0)
    net = LayeredNetwork.dense(sizes, activation=activation, gain=0.5, generator=gen, dtype=dtype)
    x = torch.rand(batch, sizes[0], dtype=dtype, generator=gen)
    kw: dict = {}
    if k:
        y = torch.rand(batch, sizes[-1], dtype=dtype, generator=gen)
        beta = torch.linspace(-0.1, 0.1, k, dtype=dtype)
        kw = dict(beta=beta * (1 + 1j) if cplx else beta, nudge=lambda s: s - y)
    return net, x, kw


def _calibrate(key: tuple, activation, numba: NumbaBackend, repeats: int) -> dict:
    net, x, kw = _synthetic(key, activation)
    engines = {"torch": relax, "numba": numba.relax}
    t_lo, t_hi = CALIBRATION_STEPS
    best = {(e, t): float("inf") for e in engines for t in (t_lo, t_hi)}
    with torch.no_grad():
        for fn in engines.values():  # warm-up: numba's kernel load, torch's allocator
            fn(net, x, steps=1, **kw)
        for _ in range(repeats):
            for e, fn in engines.items():
                for t in (t_lo, t_hi):
                    t0 = time.perf_counter()
                    fn(net, x, steps=t, tol=-1.0, **kw)  # tol < 0: the full budget
                    best[e, t] = min(best[e, t], time.perf_counter() - t0)
    out = {}
    for e in engines:
        per_step = max(0.0, (best[e, t_hi] - best[e, t_lo]) / (t_hi - t_lo))
        out[e] = Calibration(max(0.0, best[e, t_lo] - t_lo * per_step), per_step)
    return out


@dataclass(frozen=True)
class AutoBackend(AbstractBackend):
    """Numba where it runs and its calibrated cost is lower, torch otherwise.

    Parameters
    ----------
    calibrate : bool
        Time both engines once per relaxation shape (module docstring); ``False``:
        the static rule ``step_work <= max_work``.
    max_work : int
        The static rule's threshold (used only with ``calibrate=False``).
    repeats : int
        Timed runs per engine and step budget in a calibration (the minimum is kept).
    """

    calibrate: bool = True
    max_work: int = AUTO_MAX_WORK
    repeats: int = 3
    numba: NumbaBackend = field(default_factory=NumbaBackend)
    name = "auto"
    complex_states = True

    def calibration(self, network, x, *, beta=None) -> dict[str, Calibration]:
        """Both engines' cost models for this relaxation's shape (measured once, then cached)."""
        key = _shape_key(network, x, beta)
        cal = _CALIBRATIONS.get(key)
        if cal is None:
            cal = _CALIBRATIONS[key] = _calibrate(key, network.activation, self.numba, self.repeats)
        return cal

    def choose(
        self,
        network,
        x,
        *,
        steps: int = 100,
        beta=None,
        nudge=None,
        integrator=None,
        drive_offset=None,
    ) -> str:
        """``"numba"`` or ``"torch"`` for a relaxation of ``steps`` steps."""
        if torch.is_grad_enabled() and (
            x.requires_grad
            or any(p.requires_grad for p in network.parameters())
            or (drive_offset is not None and any(t.requires_grad for t in drive_offset))
        ):
            return "torch"
        why = self.numba.unsupported(
            network, x, beta=beta, nudge=nudge, integrator=integrator, drive_offset=drive_offset
        )
        if why:
            return "torch"
        sizes = [s[0] for s in network.shapes]
        rows = x.shape[0] * (1 if beta is None else int(torch.as_tensor(beta).shape[0]))
        if not self.calibrate:
            return "numba" if step_work(sizes, rows) <= self.max_work else "torch"
        if step_work(sizes, rows) > CALIBRATION_MAX_WORK:
            return "torch"
        cal = self.calibration(network, x, beta=beta)
        return "numba" if cal["numba"].cost(steps) < cal["torch"].cost(steps) else "torch"

    def unsupported(self, network, x, **kwargs) -> str | None:
        return None

    def relax(self, network, x, **kwargs) -> RelaxResult:
        keys = ("steps", "beta", "nudge", "integrator", "drive_offset")
        pick = self.choose(network, x, **{k: kwargs[k] for k in keys if k in kwargs})
        if pick == "numba":
            return self.numba.relax(network, x, **kwargs)
        return relax(network, x, **kwargs)

r"""``auto``: the numba engine where it runs and is measured faster, torch elsewhere.

The choice is made per relaxation from the work of one step,

.. math::

    w = K B \cdot 2 \sum_{l=1}^{L-1} n_l n_{l+1}

(multiply–adds of the state-to-state maps, forward and feedback, for K probes ×
B samples): numba when :meth:`NumbaBackend.unsupported` has no objection and
``w <= AUTO_MAX_WORK``. The crossover was measured with ``benchmarks/backends.py``
(see :data:`AUTO_MAX_WORK` for the numbers). Relaxations that autograd may
record (grad mode on and a parameter, the input or a drive offset requiring
grad) always go to torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from ..substrate import RelaxResult, relax
from ._base import AbstractBackend
from .numba import NumbaBackend

__all__ = ["AutoBackend", "AUTO_MAX_WORK", "step_work"]

AUTO_MAX_WORK = 60_000
"""Largest per-step work w (multiply–adds, see the module docstring) given to numba.

Measured with ``python -m benchmarks.backends`` (float64, fixed point, 100 steps,
one thread, networks [n/4, 3n/8, 3n/8, n/4] of n = 16…256 state units, batch
1…64; torch time / numba time, on a shared 2-core machine): numba was faster in
every cell with w ≤ 7.7k (4.6–26×); at w = 30.7k in three of four (n=32/B=64
1.8×, n=64/B=16 6.1×, n=256/B=1 6.3×; n=128/B=4 0.65×); at w = 123k in one of
three (n=64/B=64 0.63×, n=256/B=4 0.92×, n=128/B=16 2.1×) and never beyond
(0.10–0.53×). A threshold between 30.7k and 123k misplaces two of twenty cells,
the fewest of any single threshold on that grid.
"""


def step_work(sizes, rows: int) -> int:
    """w = rows · 2 Σ n_l n_{l+1} over consecutive state layers ``sizes`` = (n_1 … n_L)."""
    return rows * 2 * sum(a * b for a, b in zip(sizes[:-1], sizes[1:], strict=False))


@dataclass(frozen=True)
class AutoBackend(AbstractBackend):
    """Numba for small supported relaxations (``w <= max_work``), torch otherwise."""

    max_work: int = AUTO_MAX_WORK
    numba: NumbaBackend = field(default_factory=NumbaBackend)
    name = "auto"
    complex_states = True

    def choose(
        self, network, x, *, beta=None, nudge=None, integrator=None, drive_offset=None
    ) -> str:
        """``"numba"`` or ``"torch"`` for this relaxation."""
        if torch.is_grad_enabled() and (
            x.requires_grad
            or any(p.requires_grad for p in network.parameters())
            or (drive_offset is not None and any(t.requires_grad for t in drive_offset))
        ):
            return "torch"
        sizes = [s[0] if len(s) == 1 else 0 for s in network.shapes]
        rows = x.shape[0] * (1 if beta is None else int(torch.as_tensor(beta).shape[0]))
        if step_work(sizes, rows) > self.max_work:
            return "torch"
        why = self.numba.unsupported(
            network, x, beta=beta, nudge=nudge, integrator=integrator, drive_offset=drive_offset
        )
        return "torch" if why else "numba"

    def unsupported(self, network, x, **kwargs) -> str | None:
        return None

    def relax(self, network, x, **kwargs) -> RelaxResult:
        keys = ("beta", "nudge", "integrator", "drive_offset")
        pick = self.choose(network, x, **{k: kwargs.get(k) for k in keys})
        if pick == "numba":
            return self.numba.relax(network, x, **kwargs)
        return relax(network, x, **kwargs)

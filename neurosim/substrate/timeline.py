r"""Physical time on the substrate: the ``[timing]`` description and the clock of a run.

Every training step follows a timeline of phases, each with a start time and a
duration in seconds (docs/design.md §4.1):

==============  ============================================================
phase           what runs
==============  ============================================================
``free``        the free relaxation, T₁ steps (or until converged)
``nudged``      the nudged relaxations: all probes at once on copies of the
                hardware (``nudged = "parallel"``), or one after the other
                (``"sequential"``: phases ``nudged.0``, ``nudged.1``, …)
``readout``     the ADC integration window, averaging the state
``write``       programming the weight update into the devices
==============  ============================================================

One relaxation step of rate η = dt/τ (η = 1 for the fixed-point iteration) lasts
η·τ_s seconds, with the neurons' physical time constant τ_s = C/G_leak: the node
capacitance C discharging through the leak conductance G_leak (docs/hardware_sources.md
§C3: 1 pF through 128 × 1 µS is 7.8 ns). A phase's duration is its steps × η·τ_s
plus the settling time before it, so durations follow convergence (the steps a
relaxation actually took), not the budget.

The dimensionless model has the same clock: it changes nothing unless a process
that depends on time (noise, drift) reads it, so ideal results are unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal

from ..schema import Schema, param

__all__ = ["Clock", "PhaseRecord", "Timing"]


class Timing(Schema):
    r"""How long the phases of a training step take on the substrate (``[timing]``).

    τ_s = C/G_leak sets the length of a relaxation step (η·τ_s); the other fields add
    the time the circuit spends outside the relaxations.
    """

    node_capacitance: float = param(1e-12, gt=0, units="F")
    """Neuron node capacitance C in farads (> 0; 1 pF, docs/hardware_sources.md §C3)."""

    leak_conductance: float = param(1.28e-4, gt=0, units="S")
    """Conductance G_leak that discharges the node, in siemens (> 0): with τ_s = C/G_leak
    the neuron's time constant (1.28e-4 S = 128 devices of 1 µS, §C3)."""

    nudged: Literal["parallel", "sequential"] = param("parallel", units="")
    """How the nudged relaxations of one step are laid out in time: ``"parallel"``, all
    probes at once, at the same time stamps on the same devices (an idealization: copies
    of the hardware would carry noise of their own; here time-dependent noise is common
    to the probes); ``"sequential"``, one after the other on one set of devices."""

    settle: float = param(0.0, ge=0, units="s")
    """Idle time before each relaxation phase, in seconds (≥ 0): switching the nudge,
    precharging; the devices keep drifting and fluctuating meanwhile."""

    readout_window: float = param(0.0, ge=0, units="s")
    """ADC integration window in seconds (≥ 0): the learning rule reads the state
    averaged over the last readout_window of each relaxation (0 = the final state)."""

    write_time: float = param(0.0, ge=0, units="s")
    """Duration of the write phase of each training step, in seconds (≥ 0)."""

    step_interval: float = param(0.0, ge=0, units="s")
    """Idle time after each training step, in seconds (≥ 0): loading the next batch, the
    digital controller; devices drift meanwhile (e.g. 1e-3 for a 1 kHz training loop)."""

    @property
    def tau(self) -> float:
        """The neurons' physical time constant τ_s = C/G_leak in seconds."""
        return self.node_capacitance / self.leak_conductance

    def step_seconds(self, rate: float) -> float:
        """Seconds per relaxation step of rate η = dt/τ: η·τ_s."""
        return float(rate) * self.tau

    def window_steps(self, rate: float) -> int:
        """Relaxation steps the readout window spans (0 when there is no window)."""
        if self.readout_window == 0:
            return 0
        return max(1, round(self.readout_window / self.step_seconds(rate)))


@dataclass
class PhaseRecord:
    """One phase of the timeline: name, start time and duration (s), relaxation steps."""

    name: str
    start: float
    duration: float = 0.0
    steps: int = 0


class Clock:
    """The substrate's time in seconds, and the phases run since the last :meth:`reset`.

    Parameters
    ----------
    timing
        Step length, settling and window times (:class:`Timing`).
    """

    def __init__(self, timing: Timing | None = None):
        self.timing = Timing() if timing is None else timing
        self.now = 0.0
        self.records: list[PhaseRecord] = []
        self._open: PhaseRecord | None = None

    def __repr__(self) -> str:
        return f"Clock(now={self.now!r}, phases={len(self.records)})"

    @contextmanager
    def phase(self, name: str) -> Iterator[PhaseRecord]:
        """Run a phase: settle, then record its start and, on exit, its duration.

        Phases do not nest: a phase opened inside another is part of it.
        """
        if self._open is not None:
            yield self._open
            return
        self.now += self.timing.settle
        record = PhaseRecord(name, self.now)
        self._open = record
        try:
            yield record
        finally:
            record.duration = self.now - record.start
            self.records.append(record)
            self._open = None

    @contextmanager
    def side_by_side(self, parallel: bool = True) -> Iterator[Callable[[], None]]:
        """Run several relaxations at once: ``with clock.side_by_side() as branch:``.

        Call ``branch()`` before each; every branch starts at the time (and step count)
        the block started at, and the block ends when the longest branch ends. With
        ``parallel = False`` branches run one after the other (``branch`` does nothing).
        """
        start = self.now
        steps0 = None if self._open is None else self._open.steps
        end, end_steps = start, steps0

        def branch() -> None:
            nonlocal end, end_steps
            if not parallel:
                return
            end = max(end, self.now)
            if steps0 is not None:
                end_steps = max(end_steps, self._open.steps)
                self._open.steps = steps0
            self.now = start

        try:
            yield branch
        finally:
            if parallel:
                branch()
                self.now = end
                if steps0 is not None:
                    self._open.steps = end_steps

    @property
    def phase_start(self) -> float:
        """The start time of the open phase, or :attr:`now` outside phases."""
        return self.now if self._open is None else self._open.start

    def step(self, rate: float, steps: int = 1) -> None:
        """Advance by ``steps`` relaxation steps of rate η (each η·τ_s seconds)."""
        self.now += steps * self.timing.step_seconds(rate)
        if self._open is not None:
            self._open.steps += steps

    def wait(self, seconds: float) -> None:
        """Advance by ``seconds`` ≥ 0 (idle time, a write)."""
        if seconds < 0:
            raise ValueError(f"time does not run backwards: wait({seconds})")
        self.now += float(seconds)

    def reset(self) -> list[PhaseRecord]:
        """The phases recorded so far, and forget them (the time runs on)."""
        out, self.records = self.records, []
        return out

    def state_dict(self) -> dict:
        return {"now": self.now}

    def load_state_dict(self, state: dict) -> None:
        self.now = float(state["now"])
        self.records = []

r"""The hardware interface: where device and neuron non-idealities enter the substrate.

A :class:`LayeredNetwork` carries one :class:`AbstractHardware`. The ideal
substrate (:class:`IdealHardware`, the default) leaves every hook an identity,
so the math of docs/design.md §2–3 is untouched. A non-ideal substrate changes

* what a *read* of the synaptic arrays returns — :meth:`read_params`, called
  when the maps are bound for a relaxation (static device effects, read noise
  per read), or at every relaxation step when :attr:`per_step_read` is set;
* the neurons — per-unit gain g and offset o, s = ρ(g ⊙ u + o)
  (:meth:`neuron_gain`, :meth:`neuron_offset`), and thermal state noise added at
  every step, u ← u + η F(u) + σ √η ξ (:meth:`state_noise`);
* the periphery — the input DAC (:meth:`dac`) and the ADC through which the
  learning rule reads states (:meth:`adc`);
* writes — :meth:`write` turns the update an optimizer proposed into what the
  devices accept (write noise, soft bounds, clipping, stuck devices);
* time — every substrate has a :class:`~neurosim.substrate.timeline.Clock`: the
  relaxation advances it by one step's duration per step (:meth:`elapse`), the
  learning rules name the phases they run (:meth:`phase`), and reads of processes
  that depend on time (noise, drift) are evaluated at :attr:`Clock.now`.

Because the BP references bind the same network, they see the same device
realisation as the EP estimators (docs/design.md §4).
"""

from __future__ import annotations

from abc import ABC
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager

from torch import Tensor

from .timeline import Clock, PhaseRecord

__all__ = ["AbstractHardware", "IdealHardware"]


class AbstractHardware(ABC):  # noqa: B024 - every hook has an ideal default
    """Hooks through which a simulated substrate departs from the ideal math.

    Every method defaults to the ideal (identity) behaviour; a model overrides
    the hooks it needs. Randomness comes from generators the model owns, so a
    fixed seed gives the same trajectory.
    """

    per_step_read: bool = False
    """True when synaptic read noise is redrawn at every relaxation step (not per bind)."""

    @property
    def clock(self) -> Clock:
        """The substrate's clock (created on first use; ``[timing]`` defaults)."""
        clock = self.__dict__.get("_clock")
        if clock is None:
            clock = self.__dict__["_clock"] = Clock()
        return clock

    @clock.setter
    def clock(self, clock: Clock) -> None:
        self.__dict__["_clock"] = clock

    def phase(self, name: str) -> AbstractContextManager[PhaseRecord]:
        """``with hw.phase("free"):`` — record a phase of the timeline (:meth:`Clock.phase`)."""
        return self.clock.phase(name)

    def readout_steps(self, rate: float) -> int:
        """Steps the readout ADC integrates over (0: it reads the final state)."""
        return self.clock.timing.window_steps(rate)

    def elapse(self, rate: float, steps: int = 1) -> None:
        """Advance the clock by ``steps`` relaxation steps of rate η = dt/τ."""
        self.clock.step(rate, steps)

    def read_params(self, layer: int, role: str, params: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """Effective parameters of connection ``layer`` (0-based) for one read.

        ``role`` is ``"forward"`` (θ) or ``"feedback"`` (θ_fb(α)): two physical arrays.
        """
        return dict(params)

    def neuron_gain(self, layer: int) -> Tensor | None:
        """Per-unit gain g of layer ``layer`` (shape of the layer), or None for 1."""
        return None

    def neuron_offset(self, layer: int) -> Tensor | None:
        """Per-unit offset o of layer ``layer``, or None for 0."""
        return None

    def state_noise(self, like: Sequence[Tensor], eta: float) -> list[Tensor] | None:
        """Real noise to add to each layer's state at one step (shapes of ``like``), or None."""
        return None

    def dac(self, x: Tensor) -> Tensor:
        """The input as the DAC drives it."""
        return x

    def adc(self, s: Sequence[Tensor]) -> list[Tensor]:
        """States as the learning rule reads them (real and imaginary parts separately)."""
        return list(s)

    def write(self, params: Mapping[str, Tensor], before: Mapping[str, Tensor]) -> None:
        """Turn an optimizer's update (``before`` → ``params``) into device writes, in place."""
        return None

    def state_dict(self) -> dict:
        """The clock and the random-stream states (for bit-identical checkpoint/resume);
        fixed realisations are derived from the seed and need no saving."""
        return {"clock": self.clock.state_dict()}

    def load_state_dict(self, state: Mapping) -> None:
        """Restore what :meth:`state_dict` returned."""
        if "clock" in state:
            self.clock.load_state_dict(state["clock"])

    @property
    def is_ideal(self) -> bool:
        return False


class IdealHardware(AbstractHardware):
    """The ideal substrate: every hook is the identity."""

    @property
    def is_ideal(self) -> bool:
        return True

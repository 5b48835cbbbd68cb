r"""The backend interface: one relaxation function, several engines.

A backend is an object whose :meth:`AbstractBackend.relax` has exactly the
signature and the return value of :func:`neurosim.substrate.relax`, so the
learning rules take it as their relaxation hook
(``FreePhase(relax=backend.relax)``, ``NudgedPhase(..., relax=backend.relax)``)
and every estimator that only needs relaxations (one-sided, centered,
holomorphic) runs unchanged on it.

=============  ===============================================================
name           engine
=============  ===============================================================
``torch``      :func:`neurosim.substrate.relax` (any layer, autograd, GPU)
``numba``      one compiled call per relaxation, dense layers, real + complex
``brian2``     brian2 equations (continuous time, Euler–Maruyama), real only
``auto``       ``numba`` where it is supported and measured faster, else ``torch``
=============  ===============================================================
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from torch import Tensor

from ..substrate import (
    AbstractIntegrator,
    AbstractProgress,
    BoundNetwork,
    LayeredNetwork,
    Nudge,
    RelaxResult,
    relax,
)

__all__ = ["AbstractBackend", "RelaxationNeeds", "TorchBackend", "UnsupportedError"]


class UnsupportedError(NotImplementedError):
    """A backend cannot run this relaxation (the message says why and what is allowed)."""


@dataclass(frozen=True)
class RelaxationNeeds:
    """What a run's relaxations ask of an engine, known before anything is built.

    The config describes the run by name (its ``workload.task``, ``network.activation``,
    ``nudge.estimator``, ``workload.loss``); :meth:`AbstractBackend.refusal` says
    from this alone whether the engine can run it, so ``neurosim validate`` refuses
    what the engine would refuse at run time.

    Attributes
    ----------
    dense : bool
        Every connection of the network is a dense layer.
    activation : str
        The activation, by registry name.
    nudged : bool
        The learning rule runs nudged relaxations on the engine.
    complex_states : bool
        Those nudged relaxations relax complex states (complex probes).
    affine_nudge : bool
        The nudge g(s_L) is affine in s_L (the squared error).
    per_step_reads : bool
        The arrays are re-read at every relaxation step.
    task, estimator, loss : str
        The names, for the messages.
    """

    dense: bool
    activation: str
    nudged: bool
    complex_states: bool
    affine_nudge: bool
    per_step_reads: bool
    task: str = ""
    estimator: str = ""
    loss: str = ""


class AbstractBackend(ABC):
    """An engine that relaxes a :class:`~neurosim.substrate.LayeredNetwork`.

    Attributes
    ----------
    name : str
        Registry key (the config's ``substrate.backend``).
    complex_states : bool
        Whether complex probes (holomorphic estimators) can be relaxed.
    """

    name: ClassVar[str]
    complex_states: ClassVar[bool]

    @classmethod
    def from_seed(cls, seed: int) -> AbstractBackend:
        """The engine for a run whose engine stream is seeded with ``seed``
        (engines that draw their own randomness take it; the others ignore it)."""
        return cls()

    @classmethod
    def refusal(cls, needs: RelaxationNeeds) -> str | None:
        """Why this engine cannot run relaxations with these ``needs``, or None.

        One line, in the config's terms, naming what is allowed; the default engine
        runs everything.
        """
        return None

    @abstractmethod
    def unsupported(
        self,
        network: LayeredNetwork,
        x: Tensor,
        *,
        beta: Tensor | None = None,
        nudge: Nudge | None = None,
        integrator: AbstractIntegrator | None = None,
        drive_offset: Sequence[Tensor] | None = None,
    ) -> str | None:
        """Why this backend cannot run the relaxation, or None when it can."""

    @abstractmethod
    def relax(
        self,
        network: LayeredNetwork,
        x: Tensor,
        *,
        steps: int,
        u0: Sequence[Tensor] | None = None,
        beta: Tensor | None = None,
        nudge: Nudge | None = None,
        integrator: AbstractIntegrator | None = None,
        tol: float = 0.0,
        check_every: int = 10,
        progress: AbstractProgress | None = None,
        bound: BoundNetwork | None = None,
        drive_offset: Sequence[Tensor] | None = None,
    ) -> RelaxResult:
        """:func:`neurosim.substrate.relax` on this engine (same arguments, same result).

        Raises
        ------
        UnsupportedError
            When :meth:`unsupported` gives a reason.
        """


@dataclass(frozen=True)
class TorchBackend(AbstractBackend):
    """The reference engine, :func:`neurosim.substrate.relax` itself."""

    name = "torch"
    complex_states = True

    def unsupported(self, network, x, **kwargs) -> str | None:
        return None

    def relax(self, network, x, **kwargs) -> RelaxResult:
        return relax(network, x, **kwargs)

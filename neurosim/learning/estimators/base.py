"""The estimator interface: ds*/dβ at β = 0 from nudged relaxations."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor

from ...registry import Registry
from ...schema import Schema, param
from ...substrate import AbstractIntegrator, LayeredNetwork, Nudge, RelaxResult, relax

__all__ = [
    "AbstractEstimator",
    "AbstractProbeEstimator",
    "ESTIMATORS",
    "Estimate",
    "NudgedPhase",
    "RealNudge",
    "CircleNudge",
    "get_estimator",
    "register_estimator",
]


@dataclass(frozen=True)
class NudgedPhase:
    """How nudged relaxations run: step budget T2, integrator, tolerance, probe noise.

    ``amplitude_noise`` σ_a and ``phase_noise`` σ_φ (radians) perturb each applied
    probe, β_k → β_k (1 + σ_a ξ) e^{i σ_φ ξ'}, while the estimator combines the states
    with the nominal weights c_k — the error of a nudge generator that does not
    hit its set point. Phase noise needs complex probes; real probes get amplitude
    noise only. Draws come from ``generator``.

    ``relax`` is the relaxation the probes run on: :func:`neurosim.substrate.relax`
    (torch) by default, or any function with its signature and result, such as a
    :mod:`neurosim.backends` engine's ``backend.relax``.
    """

    steps: int
    integrator: AbstractIntegrator
    tol: float = 0.0
    check_every: int = 10
    amplitude_noise: float = 0.0
    phase_noise: float = 0.0
    generator: torch.Generator | None = None
    relax: Callable[..., RelaxResult] = relax

    def perturb(self, beta: Tensor) -> Tensor:
        """The probes as applied: nominal ``beta`` with amplitude and phase noise."""
        if self.amplitude_noise > 0:
            xi = torch.randn(beta.shape, dtype=torch.float64, generator=self.generator)
            beta = beta * (1 + self.amplitude_noise * xi).to(beta.device)
        if self.phase_noise > 0 and beta.is_complex():
            xi = torch.randn(beta.shape, dtype=torch.float64, generator=self.generator)
            beta = beta * torch.polar(torch.ones_like(xi), self.phase_noise * xi).to(beta.device)
        return beta


@dataclass
class Estimate:
    """δ = ds*/dβ per layer, ``(B, *shape_l)``, real; plus the nudged-phase diagnostics."""

    delta: list[Tensor]
    steps: int
    residual: Tensor | None
    converged: Tensor | None
    relaxations: int


class AbstractEstimator(Schema):
    """An estimator of δ_EP = ds*/dβ |_{β=0} (docs/design.md §3).

    An estimator is a :class:`~neurosim.schema.Schema`: its fields (the nudge size,
    the number of probes, …) are keys of the config's ``[nudge]`` section, defined
    here once.

    Attributes
    ----------
    name : str
        Registry key (the config's ``nudge.estimator``).
    bias_order : int or None
        Order p of the bias in the nudge size, error = O(β^p); ``None`` when
        the estimator is exact or its bias is not a power of β.
    complex_states : bool
        Whether it relaxes complex states (complex probes), which a real-only
        relaxation backend cannot run.
    nudged_relax : bool
        Whether its nudged relaxations run through the phase's relaxation hook (a
        backend's ``relax``); False for estimators that step the dynamics themselves.
    """

    name: ClassVar[str]
    bias_order: ClassVar[int | None]
    complex_states: ClassVar[bool] = False
    nudged_relax: ClassVar[bool] = True

    @abstractmethod
    def estimate(
        self,
        network: LayeredNetwork,
        x: Tensor,
        free: RelaxResult,
        nudge: Nudge,
        phase: NudgedPhase,
    ) -> Estimate:
        """δ from the free fixed point ``free`` and the nudge direction g = ``nudge(s_L)``."""


class RealNudge(Schema):
    """The real nudge strength β of the finite-difference estimators (one definition)."""

    beta: float = param(0.1, gt=0)
    """Real nudge strength β of ``one_sided`` and ``centered`` (dimensionless loss factor, > 0)."""


class CircleNudge(Schema):
    """The radius r of the complex nudges β = r e^{iφ} (one definition)."""

    r: float = param(0.1, gt=0)
    """Radius r = |β| of the complex nudge of ``holomorphic`` / ``online_holomorphic`` (> 0)."""


class AbstractProbeEstimator(AbstractEstimator):
    """Estimators that relax K probes β_k side by side and combine the K states linearly.

    δ = Re Σ_k c_k (ADC(s(β_k)) − ADC(s_free)): subclasses give the probes β_k and weights
    c_k; the states are read through the substrate's ADC (identity when ideal).
    """

    @abstractmethod
    def probes(self) -> tuple[Tensor, Tensor]:
        """(β_k, c_k), each ``(K,)`` float64 or complex128."""

    def estimate(self, network, x, free, nudge, phase) -> Estimate:
        beta, coef = self.probes()
        beta = phase.perturb(beta).to(x.device)
        adc = network.hardware.adc  # the learning rule reads states through the ADC
        s0 = adc(free.readout)
        # Real probes of a complex set (±r for even N) keep real states: relax them as a
        # real batch, so they cost one real GEMM row-block each instead of two. On the
        # substrate's clock the probes run side by side ("parallel": every group starts
        # at the phase's start; reads that depend on time keep all probes in one
        # relaxation, so they share each step's time stamp) or one after the other.
        hw = network.hardware
        clock = hw.clock
        sequential = clock.timing.nudged == "sequential"
        groups = [torch.arange(beta.shape[0], device=x.device)]
        if sequential:
            groups = [torch.tensor([k], device=x.device) for k in range(beta.shape[0])]
        elif beta.is_complex() and not hw.per_step_read:
            real = beta.imag == 0
            groups = [torch.nonzero(m).flatten() for m in (real, ~real) if bool(m.any())]
        delta = [0.0] * len(free.s)
        residual = torch.empty(beta.shape[0], *free.residual.shape, device=x.device)
        converged = torch.empty(residual.shape, dtype=torch.bool, device=x.device)
        steps = 0
        with clock.side_by_side(parallel=not sequential) as branch:
            for idx in groups:  # parallel: at most two groups (real, complex)
                branch()
                b = beta[idx]
                b = b.real if b.is_complex() and bool((b.imag == 0).all()) else b
                r = phase.relax(
                    network,
                    x,
                    steps=phase.steps,
                    u0=free.u,
                    beta=b,
                    nudge=nudge,
                    integrator=phase.integrator,
                    tol=phase.tol,
                    check_every=phase.check_every,
                )
                c = coef.to(x.device)[idx].to(torch.promote_types(r.s[0].dtype, coef.dtype))
                for l, (s_k, s_0) in enumerate(zip(adc(r.readout), s0, strict=True)):
                    d = torch.tensordot(c, (s_k - s_0).to(c.dtype), dims=([0], [0]))
                    delta[l] = delta[l] + (d.real if d.is_complex() else d)
                residual[idx], converged[idx] = r.residual.to(residual.dtype), r.converged
                steps = max(steps, r.steps)
        return Estimate(delta, steps, residual, converged, int(beta.shape[0]))


ESTIMATORS: Registry[type[AbstractEstimator]] = Registry("estimator")
"""Estimators by name: the values ``nudge.estimator`` accepts."""


def register_estimator(cls: type[AbstractEstimator]) -> type[AbstractEstimator]:
    """Add an estimator class under its ``name`` (usable as a class decorator)."""
    return ESTIMATORS.register(cls)


def get_estimator(kind: str, **kwargs) -> AbstractEstimator:
    """Build an estimator from its registry name and keyword parameters."""
    return ESTIMATORS.build(kind, **kwargs)

r"""Learning rules: generalized EP and the three BP references, one interface.

Every rule turns a batch (x, y) into the per-sample error vectors δ (one per
layer) and the gradient of the batch-mean cost for every parameter of the
network and of the cost (the readout). :meth:`AbstractLearningRule.backward`
accumulates them into ``.grad`` so any ``torch.optim`` optimizer applies them.

=============================  ==============================================
rule                           δ
=============================  ==============================================
:class:`GeneralizedEP`         δ_EP = ds*/dβ from an estimator (Φ_θᵀ δ_EP)
:class:`ImplicitBP`            δ_BP from a dense adjoint solve
:class:`RecurrentBP`           δ_BP from the adjoint fixed-point iteration
:class:`BPTT`                  dℓ/db_l per sample, backprop through T steps
=============================  ==============================================
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import ClassVar

import torch
from torch import Tensor

from ..registry import Registry
from ..substrate import AbstractIntegrator, FixedPoint, LayeredNetwork, RelaxResult, relax
from .adjoint import AbstractAdjoint, ImplicitAdjoint, RecurrentAdjoint, parameter_gradients
from .estimators import AbstractEstimator, Estimate, Holomorphic, NudgedPhase
from .losses import AbstractLoss

__all__ = [
    "FreePhase",
    "GradientResult",
    "AbstractLearningRule",
    "GeneralizedEP",
    "ImplicitBP",
    "RecurrentBP",
    "BPTT",
    "RULES",
    "get_rule",
    "named_parameters",
    "register_rule",
]


@dataclass(frozen=True)
class FreePhase:
    """Free relaxation budget: T1 steps, integrator, tolerance; ``relax`` runs it.

    ``relax`` is :func:`neurosim.substrate.relax` (torch) by default, or a
    :mod:`neurosim.backends` engine's ``backend.relax`` (same signature and result).
    """

    steps: int = 150
    integrator: AbstractIntegrator = FixedPoint()
    tol: float = 0.0
    check_every: int = 10
    relax: Callable[..., RelaxResult] = relax

    def run(self, network: LayeredNetwork, x: Tensor) -> RelaxResult:
        with torch.no_grad(), network.hardware.phase("free"):
            return self.relax(
                network,
                x,
                steps=self.steps,
                integrator=self.integrator,
                tol=self.tol,
                check_every=self.check_every,
            )


@dataclass
class GradientResult:
    """What a learning rule computed for one batch.

    Attributes
    ----------
    loss : Tensor
        Batch-mean cost at the free state (scalar).
    delta : list of Tensor
        Per-sample error vectors, ``(B, *shape_l)``.
    grads : dict
        Parameter name (``named_parameters``) → gradient of the batch-mean cost.
    free : RelaxResult
        Free-phase diagnostics.
    estimate : Estimate or None
        Nudged-phase diagnostics (EP rules only).
    """

    loss: Tensor
    delta: list[Tensor]
    grads: dict[str, Tensor]
    free: RelaxResult
    estimate: Estimate | None = None


def named_parameters(network: LayeredNetwork, loss: AbstractLoss) -> dict[str, Tensor]:
    """Network parameters by name, then the cost's (readout) as ``loss.<name>``."""
    out = dict(network.named_parameters())
    out.update({f"loss.{k}": v for k, v in loss.named_parameters()})
    return out


def _output_cotangent(network: LayeredNetwork, loss: AbstractLoss, s, y) -> list[Tensor]:
    return [torch.zeros_like(t) for t in s[:-1]] + [loss.nudge(s[-1], y)]


class AbstractLearningRule(ABC):
    """δ and parameter gradients for a batch (docs/design.md §3).

    Attributes
    ----------
    name : str
        Registry key (the config's ``training.rule``).
    uses_nudge : bool
        Whether the rule runs nudged relaxations (its estimator's needs then apply).
    """

    name: ClassVar[str]
    uses_nudge: ClassVar[bool] = False

    @classmethod
    @abstractmethod
    def from_phases(
        cls, free: FreePhase, nudged: NudgedPhase, estimator: AbstractEstimator
    ) -> AbstractLearningRule:
        """The rule for a run whose relaxations are ``free`` (T1) and ``nudged`` (T2 each).

        A rule takes what it needs: EP all three, the adjoint references the free
        phase, BPTT a relaxation of T1 + T2 steps differentiated over the last T2.
        """

    @abstractmethod
    def compute(
        self,
        network: LayeredNetwork,
        loss: AbstractLoss,
        x: Tensor,
        y: Tensor,
        *,
        free: RelaxResult | None = None,
    ) -> GradientResult:
        """Gradients for one batch; ``free`` reuses an already relaxed free phase."""

    def backward(self, network, loss, x, y, *, free=None) -> GradientResult:
        """:meth:`compute`, then accumulate the gradients into each parameter's ``.grad``."""
        result = self.compute(network, loss, x, y, free=free)
        for name, p in named_parameters(network, loss).items():
            g = result.grads[name]
            p.grad = g.clone() if p.grad is None else p.grad + g
        return result


def _gradients_from_delta(network, loss, x, y, free: RelaxResult, delta) -> tuple[Tensor, dict]:
    params = named_parameters(network, loss)
    net_names = [n for n in params if not n.startswith("loss.")]
    batch = free.s[0].shape[0]
    g_net = parameter_gradients(
        network, x, free.s, delta, [params[n] for n in net_names], scale=1.0 / batch
    )
    grads = dict(zip(net_names, g_net, strict=True))
    loss_names = [n for n in params if n.startswith("loss.")]
    with torch.enable_grad():
        value = loss(free.s[-1].detach(), y)
        if loss_names:
            g_loss = torch.autograd.grad(value, [params[n] for n in loss_names])
            grads.update(zip(loss_names, g_loss, strict=True))
    return value.detach(), grads


@dataclass(frozen=True)
class GeneralizedEP(AbstractLearningRule):
    """Generalized EP: δ_EP from ``estimator``, gradient Φ_θᵀ δ_EP (Laborieux & Zenke 2024).

    Equals the true gradient when Φ_s is symmetric and the estimator is exact;
    otherwise biased by the asymmetry (δ_EP ≠ δ_BP) and by the finite nudge.
    """

    estimator: AbstractEstimator = field(default_factory=lambda: Holomorphic(r=0.1, n=4))
    free_phase: FreePhase = FreePhase()
    nudged_phase: NudgedPhase = NudgedPhase(steps=20, integrator=FixedPoint())
    name = "ep"
    uses_nudge = True

    @classmethod
    def from_phases(cls, free, nudged, estimator):
        return cls(estimator, free, nudged)

    def compute(self, network, loss, x, y, *, free=None):
        free = self.free_phase.run(network, x) if free is None else free
        with torch.no_grad(), network.hardware.phase("nudged"):
            est = self.estimator.estimate(
                network, x, free, lambda s: loss.nudge(s, y), self.nudged_phase
            )
        # the local update reads the free states through the ADC, as the estimator does
        read = replace(free, s=network.hardware.adc(free.readout))
        value, grads = _gradients_from_delta(network, loss, x, y, read, est.delta)
        return GradientResult(value, est.delta, grads, free, est)


@dataclass(frozen=True)
class _AdjointRule(AbstractLearningRule):
    free_phase: FreePhase = FreePhase()

    @property
    @abstractmethod
    def adjoint(self) -> AbstractAdjoint: ...

    @classmethod
    def from_phases(cls, free, nudged, estimator):
        return cls(free)

    def compute(self, network, loss, x, y, *, free=None):
        free = self.free_phase.run(network, x) if free is None else free
        with torch.no_grad():
            delta = self.adjoint.solve(
                network, x, free.u, _output_cotangent(network, loss, free.s, y)
            )
        value, grads = _gradients_from_delta(network, loss, x, y, free, delta)
        return GradientResult(value, delta, grads, free)


@dataclass(frozen=True)
class ImplicitBP(_AdjointRule):
    """BP by implicit differentiation at the free fixed point (dense adjoint solve)."""

    name = "implicit"

    @property
    def adjoint(self) -> AbstractAdjoint:
        return ImplicitAdjoint()


@dataclass(frozen=True)
class RecurrentBP(_AdjointRule):
    """Recurrent backprop: the adjoint fixed-point iteration at the free fixed point."""

    solver: RecurrentAdjoint = RecurrentAdjoint()
    name = "rbp"

    @property
    def adjoint(self) -> AbstractAdjoint:
        return self.solver


@dataclass(frozen=True)
class BPTT(AbstractLearningRule):
    r"""Backprop through time over the last ``grad_steps`` of a ``steps``-step relaxation.

    The first ``steps − grad_steps`` steps run without a graph (as Laborieux &
    Zenke's BPTT baseline does); memory grows linearly in ``grad_steps``. The
    per-sample δ is dℓ/db_l for a per-sample bias added at every step, which is
    δ_BP at convergence. The free phase is the relaxation itself: a ``free``
    argument only supplies the starting state.
    """

    steps: int = 150
    grad_steps: int | None = None
    integrator: AbstractIntegrator = FixedPoint()
    name = "bptt"

    @classmethod
    def from_phases(cls, free, nudged, estimator):
        return cls(free.steps + nudged.steps, nudged.steps, free.integrator)

    def compute(self, network, loss, x, y, *, free=None):
        k = self.steps if self.grad_steps is None else self.grad_steps
        warm = self.steps - k
        with torch.no_grad():
            u0 = None if free is None else free.u
            start = relax(network, x, steps=warm, u0=u0, integrator=self.integrator)
        params = named_parameters(network, loss)
        names = list(params)
        lead = network.lead_shape(x)
        probes = [
            torch.zeros(*lead, *sh, dtype=network.dtype, device=x.device, requires_grad=True)
            for sh in network.shapes
        ]
        with torch.enable_grad():  # the same relax as everywhere, recorded for autograd
            window = relax(
                network,
                x,
                steps=k,
                u0=start.u,
                integrator=self.integrator,
                check_every=k + 1,
                drive_offset=probes,
            )
            value = loss(window.s[-1], y)
            grads = torch.autograd.grad(
                value, [params[n] for n in names] + probes, allow_unused=True
            )
        batch = lead[0]
        g_params = [
            torch.zeros_like(params[n]) if g is None else g
            for n, g in zip(names, grads, strict=False)
        ]
        # a layer farther than grad_steps from the output gets no gradient inside the window
        delta = [
            torch.zeros_like(pr) if g is None else batch * g
            for pr, g in zip(probes, grads[len(names) :], strict=True)
        ]
        free_out = window.detach()
        return GradientResult(
            value.detach(), delta, dict(zip(names, g_params, strict=True)), free_out
        )


RULES: Registry[type[AbstractLearningRule]] = Registry("learning rule")
"""Learning rules by name: the values ``training.rule`` accepts."""


def register_rule(cls: type[AbstractLearningRule]) -> type[AbstractLearningRule]:
    """Add a learning-rule class under its ``name`` (usable as a class decorator)."""
    return RULES.register(cls)


def get_rule(name: str) -> type[AbstractLearningRule]:
    """The learning-rule class registered as ``name``."""
    return RULES.get(name)


for _cls in (GeneralizedEP, BPTT, RecurrentBP, ImplicitBP):
    register_rule(_cls)

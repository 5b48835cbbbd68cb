r"""Jacobian homeostasis (Laborieux & Zenke, ICLR 2024): a penalty on the asymmetry of J.

Generalized EP computes δ_EP = (I − DΦ_s)^{-1} D g, which equals the BP error
δ_BP only when Φ_s is symmetric (docs/design.md §3). Homeostasis makes the
*functional* Jacobian at the free fixed point s* symmetric, rather than the
weights: with

.. math::

    J = Φ_s − I ,\qquad Φ_s = ∂Φ/∂s\,\big|_{s^*}

(the Jacobian of s ↦ Φ(s) − s; state dependent for max pooling or nonlinear
maps, plain weight asymmetry Σ_l ‖W_{l+1} − B_lᵀ‖² for dense nets), the
per-sample homeostatic loss is

.. math::

    L_{homeo} = ½ \|J − J^\top\|_F^2 = \|J\|_F^2 − \mathrm{tr}(J^2)
              = \mathbb E_ε\big[\|Jε\|^2 − ε^\top J (Jε)\big] ,\qquad ε \sim N(0, I) ,

since 𝔼[εᵀAε] = tr A. The identity cancels in J − Jᵀ, so L_homeo = ½‖Φ_s − Φ_sᵀ‖².
The Hutchinson estimate with K probes,

.. math::

    \hat L = \frac1K \sum_{k=1}^K \big(\|Jε_k\|^2 − ε_k^\top J(Jε_k)\big) ,

needs only two forward-mode Jacobian–vector products per probe, Jε and
J(Jε) — what a physical substrate can measure by perturbing its own state
and watching the response, with no transpose (no backward pass) of the
network. It is unbiased for L_homeo and, the probes being independent of θ,
∇_θ L̂ is unbiased for ∇_θ L_homeo. It may be negative for finite K.

The parameter gradient is computed in simulation by reverse-mode autograd
*through* the forward-mode products (``torch.func.jvp``), with s* and x held
fixed (detached): θ enters only through the maps of Φ. The estimator itself
never transposes Φ_s (no vector–Jacobian product of the drive; a connection
whose *feedback* map is defined as a VJP of its forward map uses one inside Φ,
which is the substrate's physics, not the estimator), and
:func:`homeostatic_loss` evaluates under ``torch.no_grad()`` exactly as with
gradients enabled.

:class:`Homeostasis` adds λ ∇_θ L_homeo to every parameter's ``.grad`` (after
a learning rule's ``backward``), with λ fixed or tuned on line from the
normalized asymmetry

.. math::

    a = \frac{\|J_{anti}\|_F^2}{\|J\|_F^2} = \frac{½ (\|J\|_F^2 − \mathrm{tr}\,J^2)}{\|J\|_F^2}
      = \frac{\mathbb E[\|Jε\|^2 − ε^\top J^2 ε]}{2\, \mathbb E\|Jε\|^2} \in [0, 1] ,

(J_anti = ½(J − Jᵀ), ‖J‖² = ‖J_sym‖² + ‖J_anti‖²), computed from the same two
products. It is a monotone function of the symmetry score
σ = ‖J_sym‖/(‖J_sym‖ + ‖J_anti‖) of :func:`~neurosim.learning.jacobian_symmetry`:
a = r²/(1 + r²) with r = ‖J_anti‖/‖J_sym‖ = 1/σ − 1.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor

from equivariance.strength import AbstractStrengthTuner, DualAscent

from ..substrate import LayeredNetwork
from .jacobian import hutchinson_moments, state_jacobian

__all__ = [
    "HOMEOSTASIS",
    "DEFAULT_ASYMMETRY_TARGET",
    "auto_tuner",
    "homeostatic_loss",
    "jacobian_asymmetry",
    "Homeostasis",
    "HomeostasisResult",
]

HOMEOSTASIS = "homeostasis"
"""The regularizer's name in a strength tuner."""

DEFAULT_ASYMMETRY_TARGET = 0.05
r"""Target normalized asymmetry a = ‖J_anti‖²/‖J‖² of ``Homeostasis(strength="auto")``.

a = 0.05 is r = ‖J_anti‖/‖J_sym‖ ≈ 0.23, a symmetry score σ ≈ 0.81: the
anti-symmetric part carries 5 % of the Jacobian's energy. For reference, dense
networks of the test suite (the leak −I included in J) have a ≈ 0.02 at α = 30°,
0.07 at 60° and 0.15 at 90° (independent feedback), so the target asks for
roughly the symmetry of a 45° network: well inside the regime where δ_EP is
close to δ_BP, without forcing the weights to mirror each other exactly."""


def _terms(
    network: LayeredNetwork,
    x: Tensor,
    s: Sequence[Tensor],
    *,
    n_probes: int,
    generator: torch.Generator | None,
    exact: bool,
) -> tuple[Tensor, Tensor]:
    """Per-sample ``(L_homeo, ‖J‖²)``, both ``(B,)``; L differentiable in the parameters."""
    if any(t.is_complex() for t in s):
        raise TypeError("Jacobian homeostasis works on the real free fixed point")
    if exact:
        phi = state_jacobian(network, x, [t.detach() for t in s])
        j = phi - torch.eye(phi.shape[-1], dtype=phi.dtype, device=phi.device)
        loss = 0.5 * (j - j.mT).square().sum((-2, -1))
        return loss, j.detach().square().sum((-2, -1))
    if n_probes < 1:
        raise ValueError(f"n_probes = {n_probes}: must be >= 1")
    sq, cross = hutchinson_moments(network, x, s, n_probes=n_probes, generator=generator)
    return sq - cross, sq.detach()


def homeostatic_loss(
    network: LayeredNetwork,
    x: Tensor,
    s: Sequence[Tensor],
    *,
    n_probes: int = 4,
    generator: torch.Generator | None = None,
    exact: bool = False,
    reduction: str = "mean",
) -> Tensor:
    r"""L_homeo = ½‖J − Jᵀ‖_F² at the free fixed point ``s``, mean over the batch.

    Parameters
    ----------
    network, x, s
        The network, its input ``(B, *in)`` and the free fixed point (activated
        states ``(B, *shape_l)``; detached here).
    n_probes
        K Gaussian probes per sample for the Hutchinson estimate
        (1/K Σ_k ‖Jε_k‖² − ε_kᵀJ(Jε_k)); forward-mode products only.
    generator
        Source of the probes.
    exact
        Use the dense Jacobian of :func:`~neurosim.learning.state_jacobian`
        instead (½‖J − Jᵀ‖² exactly; O(B N²) memory, N products): a reference
        for small networks.
    reduction
        ``"mean"`` (scalar) or ``"none"`` (per sample, ``(B,)``).

    Returns
    -------
    Tensor
        Differentiable w.r.t. the network parameters (reverse mode through the
        forward-mode products) when gradients are enabled.
    """
    loss, _ = _terms(network, x, s, n_probes=n_probes, generator=generator, exact=exact)
    if reduction == "mean":
        return loss.mean()
    if reduction == "none":
        return loss
    raise ValueError(f"reduction={reduction!r}; allowed: 'mean', 'none'")


def _asymmetry(loss: Tensor, sq: Tensor) -> float:
    """a = Σ_b ½ L_b / Σ_b ‖J‖²_b (batch-pooled), clipped to [0, 1]."""
    total = float(sq.sum())
    if not total > 0:
        return 0.0
    return min(max(0.5 * float(loss.detach().sum()) / total, 0.0), 1.0)


def jacobian_asymmetry(
    network: LayeredNetwork,
    x: Tensor,
    s: Sequence[Tensor],
    *,
    n_probes: int = 4,
    generator: torch.Generator | None = None,
    exact: bool = False,
) -> float:
    r"""Normalized asymmetry a = ‖J_anti‖²/‖J‖² ∈ [0, 1] of J = Φ_s − I (0: symmetric).

    Pooled over the batch: a = Σ_b ‖J_anti‖²_b / Σ_b ‖J‖²_b, each estimated as in
    :func:`homeostatic_loss` (‖J_anti‖² = ½ L_homeo, ‖J‖² = 𝔼‖Jε‖²) and clipped to
    [0, 1]. No gradient.
    """
    with torch.no_grad():
        loss, sq = _terms(network, x, s, n_probes=n_probes, generator=generator, exact=exact)
    return _asymmetry(loss, sq)


@dataclass(frozen=True)
class HomeostasisResult:
    """What one :meth:`Homeostasis.apply` did.

    Attributes
    ----------
    loss : float
        L_homeo (batch mean; a Hutchinson estimate unless ``exact``).
    strength : float
        The λ whose multiple of ∇L_homeo was added to ``.grad``.
    asymmetry : float
        Normalized asymmetry a = ‖J_anti‖²/‖J‖² (batch-pooled estimate).
    next_strength : float
        λ for the next step (equal to ``strength`` unless auto-tuned).
    """

    loss: float
    strength: float
    asymmetry: float
    next_strength: float


def auto_tuner(target: float = DEFAULT_ASYMMETRY_TARGET, strength: float = 1e-2) -> DualAscent:
    """The tuner of ``Homeostasis(strength="auto")``: multiplicative dual ascent on the
    constraint a ≤ ``target``, starting at λ = ``strength``."""
    return DualAscent(
        {HOMEOSTASIS: target},
        strengths=strength,
        lr=0.05,
        ema=0.9,
        mode="multiplicative",
        lambda_min=1e-6,
        lambda_max=1e3,
        max_step=0.5,
    )


@dataclass(frozen=True)
class Homeostasis:
    r"""Jacobian homeostasis as an extra gradient term: ``.grad += λ ∇_θ L_homeo``.

    Parameters
    ----------
    strength
        λ ≥ 0, or ``"auto"`` to let ``tuner`` set it from the measured
        normalized asymmetry a (see the module docstring) at every step.
    n_probes
        Gaussian probes per sample (two forward-mode products each).
    tuner
        An :class:`~equivariance.strength.AbstractStrengthTuner` with the
        regularizer name ``"homeostasis"``; only with ``strength="auto"``.
        Default: multiplicative :class:`~equivariance.strength.DualAscent` on
        the constraint a ≤ :data:`DEFAULT_ASYMMETRY_TARGET` (0.05), from
        λ⁰ = 0.01, λ ← λ exp(clip(0.05 (ā/0.05 − 1), ±0.5)) with an EMA
        ā (β = 0.9) of a, λ ∈ [1e-6, 1e3]. The multiplicative form because the
        scale of λ that balances the task gradient is unknown a priori and
        spans decades across networks; the EMA because a is a noisy
        minibatch / Hutchinson estimate.
    exact
        Use the dense Jacobian (small networks, references) instead of probes.

    The tuner is the object's mutable state: save it with :meth:`state_dict`.
    """

    strength: float | str = 0.0
    n_probes: int = 4
    tuner: AbstractStrengthTuner | None = None
    exact: bool = False
    _auto: bool = field(init=False, repr=False, compare=False, default=False)

    def __post_init__(self):
        if isinstance(self.strength, str):
            if self.strength != "auto":
                raise ValueError(f"strength={self.strength!r}; a float >= 0 or 'auto'")
            tuner = auto_tuner() if self.tuner is None else self.tuner
            if HOMEOSTASIS not in tuner.names:
                raise ValueError(
                    f"the tuner has no regularizer {HOMEOSTASIS!r}: {list(tuner.names)}"
                )
            object.__setattr__(self, "tuner", tuner)
            object.__setattr__(self, "_auto", True)
        else:
            lam = float(self.strength)
            if not (math.isfinite(lam) and lam >= 0):
                raise ValueError(f"strength = {self.strength}: must be finite and >= 0")
            if self.tuner is not None:
                raise ValueError("a tuner is used only with strength='auto'")
            object.__setattr__(self, "strength", lam)
        if int(self.n_probes) < 1:
            raise ValueError(f"n_probes = {self.n_probes}: must be >= 1")

    @property
    def current_strength(self) -> float:
        """The λ the next :meth:`apply` uses."""
        if self._auto:
            return self.tuner.strengths[HOMEOSTASIS]
        return float(self.strength)

    def apply(
        self,
        network: LayeredNetwork,
        x: Tensor,
        free_s: Sequence[Tensor],
        generator: torch.Generator | None = None,
        *,
        step: int = 0,
    ) -> HomeostasisResult:
        r"""Add λ ∇_θ L_homeo to each network parameter's ``.grad``; update λ if auto.

        Call after the learning rule's ``backward`` and before the optimizer
        step, with the same batch ``x`` and its free fixed point
        ``free_s`` (``GradientResult.free.s``). Gradients accumulate like
        :meth:`~neurosim.learning.AbstractLearningRule.backward`: a parameter
        whose ``.grad`` is None gets λ ∇L (zeros where L does not depend on
        it, e.g. biases and the input weights). With λ = 0 no backward pass
        runs (L is still measured). ``step`` is passed to the tuner.
        """
        lam = self.current_strength
        params = list(network.parameters())
        with torch.set_grad_enabled(lam > 0):
            loss, sq = _terms(
                network,
                x,
                free_s,
                n_probes=int(self.n_probes),
                generator=generator,
                exact=self.exact,
            )
            value = loss.mean()
            if lam > 0:
                grads = torch.autograd.grad(value, params, allow_unused=True)
        if lam > 0:
            with torch.no_grad():
                for p, g in zip(params, grads, strict=True):
                    g = torch.zeros_like(p) if g is None else lam * g
                    p.grad = g if p.grad is None else p.grad + g
        asym = _asymmetry(loss, sq)
        nxt = lam
        if self._auto:
            nxt = self.tuner.update({HOMEOSTASIS: asym}, step)[HOMEOSTASIS]
        return HomeostasisResult(float(value.detach()), lam, asym, nxt)

    def state_dict(self) -> dict:
        """The tuner's state (empty for a fixed strength)."""
        return {} if not self._auto else {"tuner": self.tuner.state_dict()}

    def load_state_dict(self, state) -> None:
        """Restore what :meth:`state_dict` returned."""
        if self._auto:
            self.tuner.load_state_dict(state["tuner"])

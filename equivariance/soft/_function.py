r"""Function-space soft equivariance: Monte Carlo and Lie-algebra estimators.

For a model ``f`` and a symmetry type with actions :math:`g·x` and
:math:`ρ_{out}(g)`, the function-space regularizer is

.. math::

    R(f) = \mathbb E_{x}\,\mathbb E_{g \sim μ}
           \big\lVert f(g·x) - ρ_{out}(g)\, f(x) \big\rVert^2 ,

with μ the type's sampling distribution (Haar for compact groups). It needs
nothing of ``f`` but evaluations, so it fits any model.

Estimators (``(S, B)`` = samples, batch; every row of the batch gets its own
``S`` group elements, drawn as one tensor, never in a Python loop):

* ``"mc"``: :math:`\hat R = \frac{1}{SB}\sum_{s,b} \lVert f(g_{sb}·x_b) -
  ρ_{out}(g_{sb}) f(x_b)\rVert^2`, unbiased for R given the batch.
* ``"mc"`` with ``scale=t``: elements :math:`g = \exp(tA)` near the identity,
  A from the type's Lie-algebra sampler, and the value divided by t²: its
  small-angle limit is the Lie estimator (same ``A`` for the same generator state).
* ``"lie"`` (infinitesimal): :math:`\frac{1}{SB}\sum \lVert J_f(x_b)\,
  dρ_{in}(A_{sb}) x_b - dρ_{out}(A_{sb}) f(x_b)\rVert^2` with the tangent
  actions :math:`dρ(A) z = \frac{d}{ds} ρ(\exp(sA)) z |_{s=0}` and
  :math:`J_f v` by forward mode (``torch.func.jvp``): one JVP per row, no
  Jacobian. It is zero iff f is equivariant under the identity component of
  the group (for connected groups, iff equivariant), and is
  :math:`\lim_{t\to0} R_{mc}(t)/t^2`.

References: Kim, Lee, Yang & Lee, "Regularizing towards soft equivariance under
mixed symmetries", ICML 2023; Finzi, Benton & Wilson, "Residual pathway priors
for soft equivariance constraints", NeurIPS 2021; Otto et al., "A unified
framework to enforce, discover, and promote symmetry in machine learning", 2023
(Lie-derivative penalties).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch
from torch.func import jvp

from ..strength import AbstractStrengthTuner
from ._symmetry import SymmetryType, get_symmetry

__all__ = ["equivariance_residuals", "equivariance_penalty", "SoftEquivariance"]

Tensor = torch.Tensor
ESTIMATORS = ("mc", "lie")


def _repeat(z: Tensor, S: int) -> Tensor:
    return z.repeat(S, *([1] * (z.dim() - 1)))


def _sq(r: Tensor, S: int, B: int) -> Tensor:
    return r.pow(2).reshape(S * B, -1).sum(-1).reshape(S, B)


def _tangent(act: Callable, sym: SymmetryType, A: Tensor, z: Tensor) -> Tensor:
    """:math:`\\frac{d}{ds} act(\\exp(sA), z)` at s = 0 (forward mode)."""
    s0 = torch.zeros((), dtype=A.dtype)

    def curve(s):
        return act(sym.exp(s * A), z)

    _, t = jvp(curve, (s0,), (torch.ones_like(s0),))
    return t


def equivariance_residuals(
    f: Callable[[Tensor], Tensor],
    x: Tensor,
    symmetry: SymmetryType | str,
    *,
    n_samples: int = 1,
    generator: torch.Generator | None = None,
    estimator: str = "mc",
    scale: float | None = None,
) -> Tensor:
    """Squared residual norms ``(S, B)`` of the estimator (see the module docstring).

    Parameters
    ----------
    f
        The model, batched on axis 0: ``f(x) -> y``.
    x
        ``(B, ...)`` inputs (the type's input layout, e.g. ``(B, n, d)``).
    symmetry
        A :class:`SymmetryType` or a registered name.
    n_samples
        S, group (or algebra) elements per input.
    estimator
        ``"mc"`` or ``"lie"``.
    scale
        ``"mc"`` only: sample ``exp(scale·A)`` and divide by ``scale²``.
    """
    sym = get_symmetry(symmetry)
    if estimator not in ESTIMATORS:
        raise KeyError(f"unknown estimator {estimator!r}; options: {', '.join(ESTIMATORS)}")
    S, B = int(n_samples), int(x.shape[0])
    if S < 1:
        raise ValueError(f"n_samples = {n_samples}: must be >= 1")
    xs = _repeat(x, S)
    if estimator == "mc":
        if scale is None:
            g = sym.sample(S * B, generator, x.dtype)
            norm = 1.0
        else:
            g = sym.sample_near_identity(S * B, float(scale), generator, x.dtype)
            norm = float(scale) ** 2
        y = _repeat(f(x), S)
        return _sq(f(sym.act_in(g, xs)) - sym.act_out(g, y), S, B) / norm
    if scale is not None:
        raise ValueError("scale is for the 'mc' estimator")
    if not sym.has_lie_algebra:
        raise ValueError(f"symmetry {sym.name!r} has no Lie algebra: use estimator='mc'")
    A = sym.sample_algebra(S * B, generator, x.dtype)
    v_in = _tangent(sym.act_in, sym, A, xs)
    fx, jv = jvp(f, (xs,), (v_in,))
    v_out = _tangent(sym.act_out, sym, A, fx)
    return _sq(jv - v_out, S, B)


def equivariance_penalty(
    f: Callable[[Tensor], Tensor],
    x: Tensor,
    symmetry: SymmetryType | str,
    **kwargs,
) -> Tensor:
    """The scalar estimate :math:`\\hat R` (mean of :func:`equivariance_residuals`).

    Differentiable in the parameters of ``f``; keyword arguments as there.
    """
    return equivariance_residuals(f, x, symmetry, **kwargs).mean()


class SoftEquivariance:
    r"""One function-space regularizer per symmetry type, weighted by a shared strength tuner.

    The training objective is :math:`L_{task} + \sum_j λ_j \hat R_j` with
    :math:`λ_j` read from ``tuner`` (any
    :class:`~equivariance.strength.AbstractStrengthTuner` with the same names:
    :class:`~equivariance.strength.FixedStrength`,
    :class:`~equivariance.strength.KimRescale`,
    :class:`~equivariance.strength.DualAscent`). After each step, :meth:`report`
    hands the measured violations to the tuner.

    Parameters
    ----------
    symmetries
        ``{name: SymmetryType}`` (the regularizer names).
    tuner
        The strengths' owner.
    estimator, n_samples
        As in :func:`equivariance_residuals`.
    normalize
        Report :math:`\hat R_j / \overline{\lVert f(x)\rVert^2}` (scale-free) to the tuner.
    """

    def __init__(
        self,
        symmetries: Mapping[str, SymmetryType],
        tuner: AbstractStrengthTuner,
        *,
        estimator: str = "mc",
        n_samples: int = 1,
        normalize: bool = False,
    ):
        self.symmetries = dict(symmetries)
        if set(self.symmetries) != set(tuner.names):
            raise KeyError(
                f"tuner regularizers {list(tuner.names)} != symmetries {list(self.symmetries)}"
            )
        self.tuner, self.estimator, self.n_samples = tuner, estimator, int(n_samples)
        self.normalize = bool(normalize)

    def penalties(
        self, f: Callable[[Tensor], Tensor], x: Tensor, generator: torch.Generator | None = None
    ) -> dict[str, Tensor]:
        """:math:`\\hat R_j` per type (differentiable scalars)."""
        return {
            k: equivariance_penalty(
                f, x, s, n_samples=self.n_samples, generator=generator, estimator=self.estimator
            )
            for k, s in self.symmetries.items()
        }

    def regularizer(self, penalties: Mapping[str, Tensor]) -> Tensor:
        """:math:`\\sum_j λ_j \\hat R_j` with the tuner's current strengths."""
        lam = self.tuner.strengths
        return sum(lam[k] * v for k, v in penalties.items())

    def report(
        self, penalties: Mapping[str, Tensor], step: int, scale: float | Tensor = 1.0
    ) -> dict[str, float]:
        """Send the violations (divided by ``scale`` if ``normalize``) to the tuner; new λ."""
        den = float(scale) if self.normalize else 1.0
        return self.tuner.update({k: float(v.detach()) / den for k, v in penalties.items()}, step)

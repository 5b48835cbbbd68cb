r"""Automatic tuning of regularizer strengths λ_j from measured violations v_j.

One mechanism shared by every regularized objective of the form

.. math::

    L(θ) = L_{task}(θ) + \sum_j λ_j\, R_j(θ) ,

where each regularizer ``j`` (a soft-equivariance penalty of Kim et al., ICML
2023, Jacobian homeostasis of Laborieux & Zenke, ICLR 2024, …) comes with a
scalar *violation* v_j ≥ 0 measured during training (an equivariance error, a
normalized Jacobian asymmetry). A tuner owns the strengths: the training loop
reads :attr:`~AbstractStrengthTuner.strengths`, scales each regularizer's
gradient by its λ_j, and then reports the step's violations to
:meth:`~AbstractStrengthTuner.update`, which returns the strengths for the next
step. Tuners work on plain Python floats (no tensors, no neurosim), so their
state is a small dictionary that :meth:`~AbstractStrengthTuner.state_dict` /
:meth:`~AbstractStrengthTuner.load_state_dict` save and restore exactly (a
checkpointed run resumes bit-identically).

=======================  =====================================================
tuner                    rule
=======================  =====================================================
:class:`FixedStrength`   λ_j constant
:class:`KimRescale`      once, after a warm-up: λ_j ← λ_j / (R̄_j / min_k R̄_k)^p
:class:`DualAscent`      projected dual ascent on the Lagrangian, every step
:class:`EmpiricalBayes`  every step, log λ_j moves toward c / v̄_j (prior precision)
=======================  =====================================================

Robustness contract (all tuners): every strength is always a finite float
≥ 0. A NaN violation is ignored (the step does not count for that
regularizer), ±inf and huge violations are clipped to ±:data:`VIOLATION_CLIP`
before use, and every update is projected onto ``[0, λ_max]`` (or
``[λ_min, λ_max]``).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping

__all__ = [
    "VIOLATION_CLIP",
    "AbstractStrengthTuner",
    "FixedStrength",
    "KimRescale",
    "DualAscent",
    "EmpiricalBayes",
]

VIOLATION_CLIP = 1e150
"""Violations are clipped to ``[-VIOLATION_CLIP, VIOLATION_CLIP]``: large enough never to
matter for a meaningful measure, small enough that sums and products of two of them stay
finite in float64."""


def _sanitize(v: float) -> float | None:
    """A violation as a finite float, or None for NaN (to be ignored)."""
    v = float(v)
    if math.isnan(v):
        return None
    return min(max(v, -VIOLATION_CLIP), VIOLATION_CLIP)


def _check_strengths(strengths: Mapping[str, float]) -> dict[str, float]:
    out = {}
    for k, v in strengths.items():
        v = float(v)
        if not (math.isfinite(v) and v >= 0.0):
            raise ValueError(f"strength {k!r} = {v}: must be finite and >= 0")
        out[str(k)] = v
    if not out:
        raise ValueError("a strength tuner needs at least one regularizer")
    return out


def _as_mapping(strengths: Mapping[str, float] | float, name: str) -> dict[str, float]:
    if isinstance(strengths, Mapping):
        return _check_strengths(strengths)
    return _check_strengths({name: float(strengths)})


class AbstractStrengthTuner(ABC):
    """Owns the strengths λ_j of named regularizers and updates them from violations.

    Subclasses keep all their mutable state in plain floats, ints and bools so
    that :meth:`state_dict` is exact and JSON/pickle serializable.
    """

    @property
    @abstractmethod
    def strengths(self) -> dict[str, float]:
        """Current λ_j by regularizer name (a copy; finite, ≥ 0)."""

    @property
    def names(self) -> tuple[str, ...]:
        """The regularizer names, in a fixed order."""
        return tuple(self.strengths)

    @abstractmethod
    def update(self, violations: Mapping[str, float], step: int) -> dict[str, float]:
        """Report the violations v_j measured at training step ``step``; return the new λ.

        ``violations`` may hold a subset of :attr:`names` (the others are not
        updated); an unknown name raises ``KeyError``.
        """

    @abstractmethod
    def state_dict(self) -> dict:
        """The mutable state (plain Python values) for a checkpoint."""

    @abstractmethod
    def load_state_dict(self, state: Mapping) -> None:
        """Restore what :meth:`state_dict` returned (same regularizer names)."""

    def _check_names(self, violations: Mapping[str, float]) -> None:
        unknown = set(violations) - set(self.names)
        if unknown:
            raise KeyError(
                f"unknown regularizer(s) {sorted(unknown)}; known: {', '.join(self.names)}"
            )

    def _check_state_names(self, names) -> None:
        if tuple(names) != self.names:
            raise ValueError(f"state for regularizers {list(names)}, tuner has {list(self.names)}")

    def __repr__(self) -> str:
        lam = ", ".join(f"{k}={v:.4g}" for k, v in self.strengths.items())
        return f"{type(self).__name__}({lam})"


class FixedStrength(AbstractStrengthTuner):
    """Constant strengths: :meth:`update` never changes λ.

    Parameters
    ----------
    strengths
        λ_j by name, or one float for a single regularizer called ``name``.
    name
        The name used when ``strengths`` is a float.
    """

    def __init__(self, strengths: Mapping[str, float] | float, *, name: str = "default"):
        self._lam = _as_mapping(strengths, name)

    @property
    def strengths(self) -> dict[str, float]:
        return dict(self._lam)

    def update(self, violations: Mapping[str, float], step: int) -> dict[str, float]:
        self._check_names(violations)
        return self.strengths

    def state_dict(self) -> dict:
        return {"strengths": dict(self._lam)}

    def load_state_dict(self, state: Mapping) -> None:
        self._check_state_names(state["strengths"])
        self._lam = _check_strengths(state["strengths"])


class KimRescale(AbstractStrengthTuner):
    r"""One-time rescaling of the strengths after a warm-up (Kim et al., ICML 2023).

    During the warm-up (training steps ``0 … warmup−1``) the strengths stay at
    their initial values λ_j⁰ and the tuner accumulates the running mean of each
    regularizer's violation over the steps from ``average_from`` on,

    .. math::

        \bar R_j = \frac{1}{|S_j|} \sum_{t \in S_j} v_j(t) ,\qquad
        S_j = \{\mathrm{average\_from} \le t < \mathrm{warmup} :
                 v_j(t) \text{ reported and not NaN}\} .

    (``average_from > 0`` leaves out the first steps, where the violations
    describe the network at initialization rather than the data: measured on
    the mixed-symmetry task, the so3 violation of an MLP *grows* during the
    first few hundred steps while the others settle, so a mean over the whole
    warm-up mixes the two.)

    At the end of the warm-up (the first :meth:`update` with
    ``step ≥ warmup − 1``, after that step's violation has been added) it
    rescales **once**

    .. math::

        λ_j \leftarrow λ_j^0 \Big/ \Big(\frac{\max(\bar R_j, ε)}
                                         {\min_k \max(\bar R_k, ε)}\Big)^{p} ,

    and never changes λ again. With ``rescale_to = λ*`` the reference
    strength is λ* instead of λ_j⁰ (λ_j ← λ* / (R̄_j / min_k R̄_k)^p): the
    warm-up can then run at a weak common strength, so that the data can show
    their violations, and the tuned strengths start from a stronger scale. The
    minimum runs over the regularizers with at
    least one observation; a regularizer without any keeps λ_j⁰. The
    regularizer whose violation is smallest keeps its strength and the others
    are weakened: a symmetry the data nearly has (small equivariance error
    R̄_j) gets the strongest prior, relative to the ones it breaks. With p = 1
    and equal λ⁰, the rescaled contributions λ_j R̄_j are all equal to
    λ⁰ min_k R̄_k. The ratio is computed in log space, so it cannot overflow;
    ε (default 1e-12) guards zero violations.

    Parameters
    ----------
    strengths
        Initial λ_j⁰ by name (or one float for ``name``).
    warmup
        Number of warm-up steps (≥ 1).
    power
        The exponent p ≥ 0.
    eps
        Floor ε > 0 on the mean violations.
    average_from
        First step whose violation enters R̄ (0 ≤ ``average_from`` < ``warmup``).
    rescale_to
        λ* (finite, ≥ 0), or None for each regularizer's own λ_j⁰ (the paper's rule).
    """

    def __init__(
        self,
        strengths: Mapping[str, float] | float,
        *,
        warmup: int,
        power: float = 1.0,
        eps: float = 1e-12,
        average_from: int = 0,
        rescale_to: float | None = None,
        name: str = "default",
    ):
        if int(warmup) < 1:
            raise ValueError(f"warmup = {warmup}: must be >= 1")
        if not (0 <= int(average_from) < int(warmup)):
            raise ValueError(f"average_from = {average_from}: must be in [0, warmup)")
        if rescale_to is not None and not (math.isfinite(rescale_to) and rescale_to >= 0):
            raise ValueError(f"rescale_to = {rescale_to}: must be finite and >= 0")
        self.average_from = int(average_from)
        self.rescale_to = None if rescale_to is None else float(rescale_to)
        if not (math.isfinite(power) and power >= 0):
            raise ValueError(f"power = {power}: must be finite and >= 0")
        if not (math.isfinite(eps) and eps > 0):
            raise ValueError(f"eps = {eps}: must be finite and > 0")
        self.warmup, self.power, self.eps = int(warmup), float(power), float(eps)
        self._lam = _as_mapping(strengths, name)
        self._sum = dict.fromkeys(self._lam, 0.0)
        self._count = dict.fromkeys(self._lam, 0)
        self._rescaled = False

    @property
    def strengths(self) -> dict[str, float]:
        return dict(self._lam)

    @property
    def rescaled(self) -> bool:
        """Whether the one-time rescaling has happened."""
        return self._rescaled

    @property
    def mean_violations(self) -> dict[str, float]:
        """R̄_j over the warm-up so far (NaN where nothing was observed)."""
        return {k: self._sum[k] / self._count[k] if self._count[k] else math.nan for k in self._sum}

    def update(self, violations: Mapping[str, float], step: int) -> dict[str, float]:
        self._check_names(violations)
        if self._rescaled:
            return self.strengths
        if self.average_from <= step < self.warmup:
            for k, v in violations.items():
                v = _sanitize(v)
                if v is not None:
                    # a running sum of clipped values: ≤ warmup · 1e150, finite
                    self._sum[k] += v
                    self._count[k] += 1
        if step >= self.warmup - 1:
            self._rescale()
        return self.strengths

    def _rescale(self) -> None:
        log_r = {
            k: math.log(max(self._sum[k] / self._count[k], self.eps))
            for k in self._sum
            if self._count[k]
        }
        if log_r:
            ref = min(log_r.values())
            for k, lr in log_r.items():
                # λ / (R/R_min)^p = λ · exp(−p (log R − log R_min)), exponent ≤ 0: no overflow
                base = self._lam[k] if self.rescale_to is None else self.rescale_to
                self._lam[k] = base * math.exp(-self.power * (lr - ref))
        self._rescaled = True

    def state_dict(self) -> dict:
        return {
            "strengths": dict(self._lam),
            "sum": dict(self._sum),
            "count": dict(self._count),
            "rescaled": self._rescaled,
        }

    def load_state_dict(self, state: Mapping) -> None:
        self._check_state_names(state["strengths"])
        self._lam = _check_strengths(state["strengths"])
        self._sum = {k: float(state["sum"][k]) for k in self._lam}
        self._count = {k: int(state["count"][k]) for k in self._lam}
        self._rescaled = bool(state["rescaled"])


class AbstractSmoothedTuner(AbstractStrengthTuner):
    """Shared state of the every-step tuners: λ_j projected onto ``[λ_min, λ_max]`` and
    the smoothed violations v̄_j ← β v̄_j + (1 − β) v_j (v̄_j = v_j at its first report).

    Subclasses set ``lambda_min``, ``lambda_max`` and ``ema`` before calling
    :meth:`_init_state`, and implement :meth:`_proposal`, the new λ_j from v̄_j;
    :meth:`update` smooths each finite report, asks for the proposal and projects it.
    """

    lambda_min: float
    lambda_max: float
    ema: float

    def _init_state(self, names, strengths: Mapping[str, float] | float) -> None:
        init = (
            {k: float(strengths[k]) for k in names}
            if isinstance(strengths, Mapping)
            else dict.fromkeys(names, float(strengths))
        )
        self._lam = {k: self._project(v, v) for k, v in _check_strengths(init).items()}
        self._vbar: dict[str, float | None] = dict.fromkeys(names)

    def _project(self, value: float, previous: float) -> float:
        if math.isnan(value):
            return previous
        return min(max(value, self.lambda_min), self.lambda_max)

    def _smooth(self, name: str, v: float) -> float:
        prev = self._vbar[name]
        vbar = v if prev is None else self.ema * prev + (1.0 - self.ema) * v
        self._vbar[name] = vbar
        return vbar

    def update(self, violations: Mapping[str, float], step: int) -> dict[str, float]:
        self._check_names(violations)
        for k, v in violations.items():
            v = _sanitize(v)
            if v is None:
                continue
            vbar = self._smooth(k, v)
            self._lam[k] = self._project(self._proposal(k, vbar), self._lam[k])
        return self.strengths

    @abstractmethod
    def _proposal(self, name: str, vbar: float) -> float:
        """λ_j before projection, given the smoothed violation v̄_j (already stored)."""

    @property
    def strengths(self) -> dict[str, float]:
        return dict(self._lam)

    @property
    def smoothed_violations(self) -> dict[str, float]:
        """v̄_j (NaN before the first observation)."""
        return {k: math.nan if v is None else v for k, v in self._vbar.items()}

    def state_dict(self) -> dict:
        return {"strengths": dict(self._lam), "vbar": dict(self._vbar)}

    def load_state_dict(self, state: Mapping) -> None:
        self._check_state_names(state["strengths"])
        self._lam = _check_strengths(state["strengths"])
        self._vbar = {
            k: None if state["vbar"][k] is None else float(state["vbar"][k]) for k in self._lam
        }


class DualAscent(AbstractSmoothedTuner):
    r"""Strengths as Lagrange multipliers of violation constraints, by projected dual ascent.

    Each regularizer is a constraint ``v_j(θ) ≤ t_j`` (``targets``) on the
    saddle-point problem

    .. math::

        \min_θ \max_{λ \ge 0}\; \mathcal L(θ, λ) = L_{task}(θ) + \sum_j λ_j\,(v_j(θ) - t_j) .

    The training loop descends in θ (with λ_j scaling regularizer j's
    gradient, ∇R_j being ∇v_j or a surrogate with the same zero set) and this
    tuner ascends in λ, since ∂𝓛/∂λ_j = v_j − t_j. No rescaling epoch is
    picked by hand: λ_j grows while its constraint is violated and shrinks
    once it is satisfied, settling where the regularizer's pull balances the
    task (the KKT point; λ_j → 0 for a constraint that is inactive).

    The violation is smoothed by an exponential moving average (the measured
    v_j is a noisy minibatch / Hutchinson estimate):

    .. math::

        \bar v_j \leftarrow β \bar v_j + (1-β)\, v_j

    (v̄_j = v_j at its first observation), then, with step size η (``lr``), either

    * ``mode="additive"`` (projected gradient ascent in λ):

      .. math::

          λ_j \leftarrow \Pi_{[0, λ_{max}]}\big(λ_j + \mathrm{clip}(η (\bar v_j - t_j), ±Δ)\big)

    * ``mode="multiplicative"`` (ascent in log λ, scale free; needs t_j > 0):

      .. math::

          λ_j \leftarrow \Pi_{[λ_{min}, λ_{max}]}
                     \big(λ_j \exp \mathrm{clip}(η (\bar v_j / t_j - 1), ±Δ)\big)

    where Δ (``max_step``) bounds one step's change of λ (additive) or of
    log λ (multiplicative). The multiplicative form suits a strength whose
    scale is unknown a priori (it moves through decades at a constant rate)
    and needs the floor λ_min > 0 (zero is absorbing for it).

    Why λ stays finite and non-negative: violations are NaN-filtered and
    clipped to ±:data:`VIOLATION_CLIP`, so v̄_j (a convex combination of
    clipped values) and the step are finite floats or +inf at worst; the
    projection onto ``[0, λ_max]`` (``[λ_min, λ_max]``) with a finite λ_max maps
    any of them, ±inf included, to a finite value ≥ 0; and a result that is
    somehow not finite keeps the previous λ.

    Parameters
    ----------
    targets
        t_j by name (or one float for ``name``); λ is tuned for these names.
    strengths
        Initial λ_j⁰ (a float for all, or by name; default 0, or ``lambda_min``
        in multiplicative mode).
    lr
        Dual step size η > 0.
    ema
        Smoothing β ∈ [0, 1) of the violations (0: no smoothing).
    mode
        ``"additive"`` or ``"multiplicative"``.
    lambda_max, lambda_min
        The projection interval (``lambda_min`` is 0 in additive mode unless given).
    max_step
        Δ, the largest change of λ (additive) or log λ (multiplicative) in one update.
    """

    def __init__(
        self,
        targets: Mapping[str, float] | float,
        *,
        strengths: Mapping[str, float] | float | None = None,
        lr: float = 0.1,
        ema: float = 0.0,
        mode: str = "additive",
        lambda_max: float = 1e6,
        lambda_min: float | None = None,
        max_step: float = math.inf,
        name: str = "default",
    ):
        if mode not in ("additive", "multiplicative"):
            raise ValueError(f"mode={mode!r}; allowed: 'additive', 'multiplicative'")
        if isinstance(targets, Mapping):
            tg = {str(k): float(v) for k, v in targets.items()}
        else:
            tg = {name: float(targets)}
        if not tg:
            raise ValueError("a strength tuner needs at least one regularizer")
        for k, t in tg.items():
            if not math.isfinite(t):
                raise ValueError(f"target {k!r} = {t}: must be finite")
            if mode == "multiplicative" and t <= 0:
                raise ValueError(f"target {k!r} = {t}: multiplicative mode needs targets > 0")
        if not (math.isfinite(lr) and lr > 0):
            raise ValueError(f"lr = {lr}: must be finite and > 0")
        if not (0.0 <= ema < 1.0):
            raise ValueError(f"ema = {ema}: must be in [0, 1)")
        if not (math.isfinite(lambda_max) and lambda_max > 0):
            raise ValueError(f"lambda_max = {lambda_max}: must be finite and > 0")
        if lambda_min is None:
            lambda_min = 1e-8 if mode == "multiplicative" else 0.0
        if not (math.isfinite(lambda_min) and 0.0 <= lambda_min <= lambda_max):
            raise ValueError(f"lambda_min = {lambda_min}: must be in [0, lambda_max]")
        if mode == "multiplicative" and lambda_min <= 0:
            raise ValueError("multiplicative mode needs lambda_min > 0 (zero is absorbing)")
        if not (max_step > 0):
            raise ValueError(f"max_step = {max_step}: must be > 0")
        self.targets = tg
        self.lr, self.ema, self.mode = float(lr), float(ema), mode
        self.lambda_min, self.lambda_max = float(lambda_min), float(lambda_max)
        self.max_step = float(max_step)
        if strengths is None:
            strengths = self.lambda_min
        self._init_state(tg, strengths)

    def _proposal(self, name: str, vbar: float) -> float:
        lam, t, d = self._lam[name], self.targets[name], self.max_step
        if self.mode == "additive":
            return lam + min(max(self.lr * (vbar - t), -d), d)
        expo = min(max(self.lr * (vbar / t - 1.0), -d), d)
        # exp of a clipped exponent: at worst +inf (huge max_step), projected by update
        return lam * math.exp(expo) if expo < 709.0 else math.inf


class EmpiricalBayes(AbstractSmoothedTuner):
    r"""Strengths as prior precisions set from the violations the data support (every step).

    Objective. Read :math:`L_{task} + \sum_j λ_j R_j` as a negative log posterior:
    squared-error likelihood with residual variance σ², and for each regularizer a
    Gaussian prior of scale τ_j² on the quantity R_j measures (for soft equivariance,
    the model's equivariance residual under symmetry type j). Up to a factor,

    .. math::

        \frac{L_{task}}{σ^2} + \sum_j \frac{R_j}{τ_j^2}
        \quad\Longrightarrow\quad λ_j = \frac{σ^2}{τ_j^2} .

    Empirical Bayes (type-II maximum likelihood, the EM fixed point for a prior
    variance) sets τ_j² to the level the data support, τ_j² = v_j; the caller
    reports v_j **already divided by σ²** (e.g. a held-out level estimate over the
    held-out error), so the target strength is dimensionless,

    .. math::

        λ_j^\star = \Pi_{[λ_{min}, λ_{max}]}\big(c / \max(\bar v_j, ε)\big) ,

    and each update moves log λ_j a fraction η of the way to it:

    .. math::

        \bar v_j \leftarrow β \bar v_j + (1-β) v_j ,\qquad
        \log λ_j \leftarrow \log λ_j
            + \mathrm{clip}\big(η (\log λ_j^\star - \log λ_j), ±Δ\big) .

    Its fixed point λ_j = c / v_j *decreases* with the violation, like the
    one-time rescale of :class:`KimRescale` (p = 1), with no rescaling epoch picked
    by hand: a symmetry the data keep exactly (v_j → 0) goes to λ_max, a broken one
    settles at c / v_j. Contrast :class:`DualAscent`, whose multiplier is the
    *price* of a constraint and grows with the violation.

    The reported v_j must not shrink because λ_j grows (a raw regularizer value
    does: a stronger prior makes the model more equivariant, which would raise λ_j
    again, a positive feedback). Report a level estimate corrected for the
    regularizer's shrinkage, as
    :meth:`equivariance.soft.SoftEquivariance.estimate_levels` returns.

    Robustness: as for :class:`DualAscent` (NaN ignored, violations clipped, λ
    projected onto ``[λ_min, λ_max]``, a non-finite result keeps the previous λ).

    Parameters
    ----------
    names
        The regularizer names (or one name as a string).
    strengths
        Initial λ_j⁰ (a float for all, or by name).
    scale
        c > 0: the target is c / v̄_j (1 for v normalized by σ²).
    rate
        η ∈ (0, 1]: the fraction of the log-distance moved per update (1: jump).
    ema
        β ∈ [0, 1) for the violations.
    lambda_min, lambda_max
        Projection interval, 0 < λ_min ≤ λ_max < ∞.
    eps
        Floor ε > 0 on v̄_j.
    max_step
        Δ > 0, the largest change of log λ in one update.
    """

    def __init__(
        self,
        names: tuple[str, ...] | list[str] | str,
        *,
        strengths: Mapping[str, float] | float = 1.0,
        scale: float = 1.0,
        rate: float = 0.1,
        ema: float = 0.0,
        lambda_min: float = 1e-6,
        lambda_max: float = 1e3,
        eps: float = 1e-12,
        max_step: float = math.inf,
    ):
        names = (names,) if isinstance(names, str) else tuple(str(n) for n in names)
        if not names:
            raise ValueError("a strength tuner needs at least one regularizer")
        if not (math.isfinite(scale) and scale > 0):
            raise ValueError(f"scale = {scale}: must be finite and > 0")
        if not (0.0 < rate <= 1.0):
            raise ValueError(f"rate = {rate}: must be in (0, 1]")
        if not (0.0 <= ema < 1.0):
            raise ValueError(f"ema = {ema}: must be in [0, 1)")
        if not (0.0 < lambda_min <= lambda_max and math.isfinite(lambda_max)):
            raise ValueError(
                f"need 0 < lambda_min <= lambda_max < inf, got {lambda_min}, {lambda_max}"
            )
        if not (math.isfinite(eps) and eps > 0):
            raise ValueError(f"eps = {eps}: must be finite and > 0")
        if not (max_step > 0):
            raise ValueError(f"max_step = {max_step}: must be > 0")
        self.scale, self.rate, self.ema = float(scale), float(rate), float(ema)
        self.lambda_min, self.lambda_max = float(lambda_min), float(lambda_max)
        self.eps, self.max_step = float(eps), float(max_step)
        self._init_state(names, strengths)

    def target(self, name: str) -> float:
        """λ_j⋆ for the current v̄_j (λ_j itself before the first observation)."""
        vbar = self._vbar[name]
        if vbar is None:
            return self._lam[name]
        # c / max(v̄, ε) with v̄ ≤ 1e150 and ε > 0: finite or +inf, projected
        return self._project(self.scale / max(vbar, self.eps), self._lam[name])

    def _proposal(self, name: str, vbar: float) -> float:
        lam = self._lam[name]
        # both logs finite: λ and λ⋆ (from the stored v̄) lie in [λ_min, λ_max] ⊂ (0, ∞)
        move = self.rate * (math.log(self.target(name)) - math.log(lam))
        return lam * math.exp(min(max(move, -self.max_step), self.max_step))

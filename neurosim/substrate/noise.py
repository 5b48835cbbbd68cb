r"""Noise as stochastic processes in time, streamed per device and evaluated at each read.

An analog relaxation reads the same devices hundreds of times per training step,
so *when* the noise changes matters as much as how large it is: white noise
averages out over a readout window, 1/f noise is correlated across phases that
are close in time, telegraph noise is neither (docs/hardware_sources.md §A).
Each model here is a stationary process x(t) per device, with

* a state per device (never a stored series), started from the stationary law
  (:meth:`AbstractNoiseProcess.init`);
* an **exact** transition over any interval Δ ≥ 0 (:meth:`AbstractNoiseProcess.advance`),
  so a read at time stamp t costs one update, however long ago the last read was;
* its one-sided power spectral density S(f) (:meth:`psd`, ∫₀^∞ S df = Var x),
  stationary variance, and the variance of the average over a window
  (:meth:`window_variance`), the tests' and the studies' analytic references.

Processes
---------
:class:`WhiteNoise`
    First-order band-limited white noise of std σ and bandwidth B: an
    Ornstein–Uhlenbeck (OU) process with correlation time τ = 1/(2πB),
    S(f) = 4σ²τ / (1 + (2πfτ)²) (flat, 2σ²/(πB), below B). ``bandwidth = inf``
    is the white limit: every read at a new time stamp is an independent N(0, σ²)
    draw; neurosim's dimensionless ``per_step`` and ``per_read`` read noise are
    this process read at every relaxation step or once per relaxation.
:class:`FlickerNoise`
    1/f^γ noise over a band [f_lo, f_hi], generated as a sum of M independent OU
    (Lorentzian) components with corner frequencies f_k log-spaced over the band
    and variances v_k ∝ f_k^{1−γ} (Keshner 1982; docs/hardware_sources.md §A4).
    The level is a Hooge-style density, S(f) = K / f^γ (K in units²·Hz^{γ−1};
    for relative conductance noise S_G/G² = K/f^γ), or the std σ over a reference
    read (integration time t_int observed for T_obs: σ² = ∫ K f^{−γ} df from
    1/T_obs to 1/(2 t_int), docs/hardware_sources.md §A1).
:class:`TelegraphNoise`
    Random telegraph noise: a two-state Markov chain per device, up with mean
    dwell τ_up, down with τ_down, value A·(s − p) (zero mean; p = τ_up/(τ_up + τ_down)
    the fraction of time up). Its PSD is Machlup's Lorentzian,
    S(f) = 4A² / ((τ_up + τ_down)((1/τ_up + 1/τ_down)² + (2πf)²)).

The conductance dependence of the amplitude (σ ∝ ĝ^{−0.65} for PCM, aihwkit's
form, docs/hardware_sources.md §4a) multiplies a process's value at read time:
:func:`amplitude_scale`.

Spectral error of the OU sum
----------------------------
With m components per decade and v_k = c f_k^{1−γ}, the comb of Lorentzians
approaches K/f^γ with c = K sin(πγ/2) ln(10)/m (the continuum limit, valid for
0 < γ < 2). Inside the band, away from its edges, the ripple is periodic in
log f; :func:`flicker_spectral_error` computes it: for γ = 1 the largest relative
deviation of S(f) from K/f is 52 % at one component every two decades, 5.6 % at one
per decade, 0.65 % at 1.5, 0.076 % at two and 0.001 % at three (γ = 0.5 and 1.5:
3.9 %, 0.46 %, 0.054 % at 1, 1.5, 2 per decade). Near the edges the spectrum rolls
off: it flattens below f_lo and falls as f^{−2} above f_hi. The components missing
beyond the edges lower S(f) by at most (:func:`flicker_edge_error`, the continuum
estimate, about twice the true deficit)

    (2 sin(πγ/2)/(πγ))·(f/f_hi)^γ + (2 sin(πγ/2)/(π(2−γ)))·(f_lo/f)^{2−γ} ,

so the band should reach beyond the frequencies that matter by a margin that grows
as γ moves away from 1: one decade for 6 % at γ = 1, three decades at γ = 0.5
(high side) or γ = 1.5 (low side) for 3 %.

Holding slow components
-----------------------
A relaxation reads every device at every step (Δ ≈ 8 ns), while most components of a
1/f band are far slower than that: advancing a component with τ_k ≫ Δ at every read
draws a normal that barely moves it. :class:`FlickerNoise` therefore updates
component k at a read at time t only when t − u_k > h·τ_k, u_k the time of its last
update (``hold`` = h), with the exact transition over the whole t − u_k; otherwise the
read returns the held x_k(u_k). h = 0 is the every-read process bit for bit. Since
every held value is an exact sample of the stationary law and t − u_k ≤ h·τ_k,

* each read's marginal law is exact;
* the error of the held value against the exact path is E(x_k(u_k) − x_k(t))² =
  2v_k(1 − e^{−(t−u_k)/τ_k}) ≤ 2(1 − e^{−h}) v_k ≤ 2h·v_k;
* the covariance of any two reads (any read times) is off by at most
  (1 − e^{−h})·Σ_held v_k ≤ h·Var x (the lags move by at most h·τ_k each), so is the
  variance of any average of reads;
* on a grid of reads every Δ (component k then updates every n_k = ⌊hτ_k/Δ⌋ + 1
  reads), the held sequence's spectrum (:meth:`FlickerNoise.read_psd`) differs from the
  every-read one only through the f^{−2} tails of the components held for n_kΔ > 1/f,
  those with f_k ≲ h f/π; summing their share of K/f^γ over the comb
  (:func:`flicker_hold_error`),

  .. math::

      \Big|\frac{S_h(f)}{S_0(f)} - 1\Big| \le ε(γ, m, h) =
      \frac{2\sin(πγ/2)\ln 10}{π m}\,
      \frac{(h/π)^{2−γ}}{1 − 10^{−(2−γ)/m}}

  for f_lo ≤ f ≤ min(f_hi, 1/(4Δ)) (checked against the exact held spectrum for
  γ ∈ [0.5, 1.8], m = 1 … 3, h ≤ 0.3: at most 0.75 ε; up to 2.4 ε in the octave
  below the Nyquist frequency 1/(2Δ)).

The default h = 0.05 gives ε = 1.7 % for γ = 1 at two components per decade (2.6 % at
one, 0.13 % for γ = 0.5, 15 % for γ = 1.5, where the tails weigh more: lower h there),
and on the Table-1 timing (Δ = 7.8 ns, 8 components over 1 Hz … 64 MHz) it cuts the
normals drawn per device and read from 8 to 2.4 (:meth:`FlickerNoise.update_fractions`):
the components with h·τ_k < Δ still update at every read, and those cannot be held.

Randomness and checkpoints
--------------------------
Every draw comes from a caller-supplied :class:`torch.Generator`; a state is a
:class:`NoiseState` (tensors, the time stamp of its last read and, with a hold, each
component's last update) whose :meth:`NoiseState.state_dict` and the generator's state
are all a resumed run needs to continue bit for bit. The normals of one read come
from one draw in the state's dtype (each number used once); white noise of infinite
bandwidth is drawn straight into its state.
"""

from __future__ import annotations

import math
from abc import abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import ClassVar, Literal

import numpy as np
import torch
from pydantic import model_validator
from torch import Tensor

from ..registry import Registry
from ..schema import FieldError, Schema, param

__all__ = [
    "NOISE_PROCESSES",
    "AbstractNoiseProcess",
    "FlickerNoise",
    "NoiseState",
    "TelegraphNoise",
    "WhiteNoise",
    "amplitude_scale",
    "flicker_edge_error",
    "flicker_hold_error",
    "flicker_spectral_error",
    "ou_transition",
    "ou_window_variance",
    "register_noise_process",
]


@dataclass
class NoiseState:
    """The streamed state of one process over an array of devices.

    Attributes
    ----------
    x
        Process state, shape ``(components, *shape)`` (OU components, or the
        telegraph's 0/1 state as the real dtype).
    t
        Time stamp of the last read (or advance) in seconds.
    shape
        The devices' shape.
    t_k
        Time stamp of each component's last update, when a hold left some behind
        (:class:`FlickerNoise` ``hold``); None: every component is at ``t``.
    split
        Components ``[0, split)`` are summed once and their sum kept until one of them
        is updated (0: none); a read then adds only the others.
    """

    x: Tensor
    t: float = 0.0
    shape: tuple[int, ...] = field(default=())
    t_k: list[float] | None = None
    split: int = 0
    _held: Tensor | None = field(default=None, repr=False, compare=False)

    def state_dict(self) -> dict:
        """Plain tensors and numbers, enough to resume bit for bit."""
        t_k = None if self.t_k is None else list(self.t_k)
        return {
            "x": self.x.clone(),
            "t": self.t,
            "shape": tuple(self.shape),
            "t_k": t_k,
            "split": self.split,
        }

    @classmethod
    def from_state_dict(cls, state: dict) -> NoiseState:
        t_k = state.get("t_k")
        return cls(
            x=state["x"].clone(),
            t=float(state["t"]),
            shape=tuple(state["shape"]),
            t_k=None if t_k is None else [float(u) for u in t_k],
            split=int(state.get("split", 0)),
        )

    def held_sum(self) -> Tensor:
        """Σ_{k < split} x_k, computed on first use after the last change of those rows.

        Not part of :meth:`state_dict`: recomputed from the same rows by the same
        reduction, it is the same bits.
        """
        if self._held is None:
            self._held = self.x[: self.split].sum(0)
        return self._held

    def forget_held(self) -> None:
        """Drop the held sum (a row below ``split`` changed)."""
        self.split, self._held = 0, None

    def nbytes(self) -> int:
        """Bytes held between reads: the state and the held sum (O(devices × components))."""
        held = 0 if self._held is None else self._held.numel() * self._held.element_size()
        return self.x.numel() * self.x.element_size() + held


class AbstractNoiseProcess(Schema):
    """A stationary noise process per device, with exact transitions over any interval."""

    kind: str
    name: ClassVar[str]

    # -- streaming -----------------------------------------------------------------------
    @abstractmethod
    def init(
        self,
        shape: Sequence[int],
        generator: torch.Generator,
        *,
        t: float = 0.0,
        dtype: torch.dtype = torch.float64,
        device: torch.device | str | None = None,
    ) -> NoiseState:
        """A state of ``shape`` devices drawn from the stationary law, time-stamped ``t``."""

    @abstractmethod
    def advance(self, state: NoiseState, dt: float, generator: torch.Generator) -> None:
        """Move ``state`` forward by ``dt`` ≥ 0 seconds in place, exactly (no discretisation)."""

    @abstractmethod
    def value(self, state: NoiseState) -> Tensor:
        """x(t) per device, shape ``state.shape`` (a new tensor)."""

    def at(self, state: NoiseState, t: float, generator: torch.Generator) -> Tensor:
        """The value at time stamp ``t`` ≥ ``state.t``: advance to ``t``, then read."""
        dt = float(t) - state.t
        if dt < 0:
            raise ValueError(f"reads must not go back in time: t = {t} < state.t = {state.t}")
        if dt > 0:
            self.advance(state, dt, generator)
        return self.value(state)

    # -- statistics ------------------------------------------------------------------------
    @abstractmethod
    def psd(self, f: np.ndarray) -> np.ndarray:
        """One-sided power spectral density S(f), units²/Hz, ∫₀^∞ S df = :meth:`variance`."""

    @abstractmethod
    def variance(self) -> float:
        """Stationary variance of x(t)."""

    @abstractmethod
    def window_variance(self, window: float, samples: int | None = None) -> float:
        """Variance of the average of x over a window of ``window`` seconds.

        ``samples = None``: the continuous average (1/T)∫₀^T x dt; otherwise the mean
        of ``samples`` reads spaced ``window / samples`` apart (what an ADC that
        averages one read per relaxation step over the window returns).
        """


NOISE_PROCESSES: Registry[type[AbstractNoiseProcess]] = Registry("noise process", key="kind")
"""Noise processes by ``kind``."""


def register_noise_process(cls: type[AbstractNoiseProcess]) -> type[AbstractNoiseProcess]:
    """Add a noise process class under its ``kind``."""
    return NOISE_PROCESSES.register(cls)


# ------------------------------------------------------------------------ OU machinery


def ou_window_variance(v: float, tau: float, window: float, samples: int | None = None) -> float:
    r"""Variance of the window average of a stationary OU process (variance v, time τ).

    Continuous: (1/T²)∫∫ v e^{−|t−s|/τ} = 2vτ²/T² · (T/τ − 1 + e^{−T/τ}).
    n reads spaced Δ = T/n apart, with a = e^{−Δ/τ}:
    (v/n²)·(n + 2 Σ_{k=1}^{n−1} (n − k) aᵏ) = (v/n²)·(n(1+a)/(1−a) − 2a(1−aⁿ)/(1−a)²).
    τ = 0 (white): 0 for the continuous average, v/n for n reads.
    """
    if window <= 0:
        raise ValueError(f"window must be > 0, got {window}")
    if samples is None:
        if tau == 0:
            return 0.0
        r = window / tau
        # -expm1(-r) = 1 - e^{-r}; for small r use the series to avoid cancellation
        core = r - (-math.expm1(-r)) if r > 1e-4 else r * r / 2 - r**3 / 6 + r**4 / 24
        return 2.0 * v * core / (r * r)
    n = int(samples)
    if n < 1:
        raise ValueError(f"samples must be >= 1, got {samples}")
    if tau == 0:
        return v / n
    a = math.exp(-window / n / tau)
    if a == 1.0:
        return v
    total = n * (1 + a) / (1 - a) - 2 * a * (1 - a**n) / (1 - a) ** 2
    return v * total / (n * n)


def _ou_psd(f: np.ndarray, v: np.ndarray, tau: np.ndarray) -> np.ndarray:
    """Σ_k 4 v_k τ_k / (1 + (2π f τ_k)²), one-sided."""
    f = np.asarray(f, dtype=float)[..., None]
    return (4 * v * tau / (1 + (2 * np.pi * f * tau) ** 2)).sum(-1)


def ou_transition(v: np.ndarray, tau: np.ndarray, dt: float) -> tuple[np.ndarray, np.ndarray]:
    r"""Exact OU transition over Δ per component: x ← a x + s ξ, a = e^{−Δ/τ}, s = √(v(1 − a²)).

    τ = 0 components are white (a = 0, s = √v: a fresh draw).
    """
    v, tau = np.asarray(v, dtype=float), np.asarray(tau, dtype=float)
    white = tau == 0
    ratio = dt / np.where(white, 1.0, tau)
    a = np.where(white, 0.0, np.exp(-ratio))
    s = np.sqrt(np.where(white, v, v * -np.expm1(-2 * ratio)))
    return a, s


class _OUSum(AbstractNoiseProcess):
    """A process that is a sum of independent OU components (variances v_k, times τ_k).

    Subclasses with a ``hold`` h > 0 (:class:`FlickerNoise`) advance a component at a
    read only when the time since its last update exceeds h·τ_k (module docstring,
    "Holding slow components"); h = 0 advances every component at every read.
    """

    def _components(self) -> tuple[np.ndarray, np.ndarray]:
        """(v_k, τ_k) as float64 arrays."""
        raise NotImplementedError

    @property
    def _hold(self) -> float:
        """The hold h (0: every component at every read)."""
        return 0.0

    @cached_property
    def _table(self) -> tuple[list[float], list[float], list[float]]:
        """(v_k, τ_k, h·τ_k) as Python floats, for the per-read bookkeeping."""
        v, tau = self._components()
        return v.tolist(), tau.tolist(), (self._hold * tau).tolist()

    @cached_property
    def _steps(self) -> dict:
        """Transition coefficients by (Δ, dtype, device), computed once each."""
        return {}

    def _step(self, dt: float, x: Tensor) -> tuple[Tensor, Tensor, bool]:
        key = (dt, x.dtype, x.device)
        step = self._steps.get(key)
        if step is None:
            a, s = ou_transition(*self._components(), dt)
            view = (-1, *[1] * (x.dim() - 1))
            step = (
                torch.as_tensor(a, dtype=x.dtype, device=x.device).view(view),
                torch.as_tensor(s, dtype=x.dtype, device=x.device).view(view),
                bool((a == 0).all()),
            )
            if len(self._steps) > 64:  # irregular read times: keep the cache small
                self._steps.clear()
            self._steps[key] = step
        return step

    def init(self, shape, generator, *, t=0.0, dtype=torch.float64, device=None) -> NoiseState:
        v, _ = self._components()
        shape = tuple(int(n) for n in shape)
        x = torch.randn((len(v), *shape), generator=generator, dtype=dtype, device=device)
        std = torch.as_tensor(np.sqrt(v), dtype=dtype, device=x.device)
        return NoiseState(x.mul_(std.view(-1, *[1] * len(shape))), float(t), shape)

    def advance(self, state: NoiseState, dt: float, generator: torch.Generator) -> None:
        """Every component to ``state.t + dt``, exactly, held ones from their own update times."""
        if dt < 0:
            raise ValueError(f"dt must be >= 0, got {dt}")
        if dt == 0:
            return
        state.forget_held()
        if state.t_k is not None:  # a hold left components behind: each its own interval
            t = state.t + float(dt)
            self._update(state, list(range(state.x.shape[0])), t, generator)
            state.t, state.t_k = t, None
            return
        x = state.x
        a, s, white = self._step(float(dt), x)
        if white:  # a fresh draw: straight into the state (the same numbers as a randn)
            x.normal_(generator=generator).mul_(s)
        else:
            xi = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
            x.mul_(a).add_(xi.mul_(s))
        state.t += float(dt)

    def at(self, state: NoiseState, t: float, generator: torch.Generator) -> Tensor:
        """The value at time stamp ``t`` ≥ ``state.t``, updating only the components due.

        Component k is due when ``t − t_k > hold·τ_k`` (t_k its last update); with no
        hold every component is due at every new time stamp, as :meth:`advance`.
        """
        t = float(t)
        dt = t - state.t
        if dt < 0:
            raise ValueError(f"reads must not go back in time: t = {t} < state.t = {state.t}")
        if dt > 0:
            if self._hold == 0 and state.t_k is None:
                self.advance(state, dt, generator)
            else:
                self._read(state, t, generator)
        return self.value(state)

    def _read(self, state: NoiseState, t: float, generator: torch.Generator) -> None:
        """Advance the components due at ``t`` (one draw for all of them); hold the rest."""
        _, _, threshold = self._table
        m = len(threshold)
        t_k = state.t_k if state.t_k is not None else [state.t] * m
        due = [k for k, (u, h) in enumerate(zip(t_k, threshold, strict=True)) if t - u > h]
        if len(due) == m and state.t_k is None:
            self.advance(state, t - state.t, generator)  # all due, in step: the shared Δ
            return
        if due and due[0] < state.split:
            state.forget_held()
        if state.split == 0:
            # hold the sum of the components updated at most once every m reads at this
            # interval (thresholds fall with k: τ_k decreases)
            interval = m * (t - state.t)
            state.split = sum(1 for h in threshold if h >= interval)
        if due:
            state.t_k = list(t_k)
            self._update(state, due, t, generator)
        else:
            state.t_k = t_k
        state.t = t

    def _update(self, state: NoiseState, due: list[int], t: float, gen: torch.Generator) -> None:
        r"""Components ``due`` to time ``t`` from their own t_k: x ← a x + s ξ, exactly.

        a = e^{−(t − t_k)/τ_k}, s = √(v_k(1 − a²)); the ξ of all of them come from one
        draw, in the state's dtype.
        """
        v, tau, _ = self._table
        x, t_k = state.x, state.t_k
        xi = torch.randn((len(due), *x.shape[1:]), generator=gen, dtype=x.dtype, device=x.device)
        for i, k in enumerate(due):
            if tau[k] == 0:
                a, s = 0.0, math.sqrt(v[k])
            else:
                r = (t - t_k[k]) / tau[k]
                a, s = math.exp(-r), math.sqrt(v[k] * -math.expm1(-2.0 * r))
            x[k].mul_(a).add_(xi[i], alpha=s)
            t_k[k] = t

    def value(self, state: NoiseState) -> Tensor:
        """Σ_k x_k: one reduction, or the held sum of the slow rows plus the others."""
        x, split = state.x, state.split
        if split == 0:
            return x.sum(0)
        if split == x.shape[0]:
            return state.held_sum().clone()
        return x[split:].sum(0).add_(state.held_sum())

    def update_fractions(self, interval: float) -> np.ndarray:
        """Fraction of reads, one every ``interval`` s, at which each component is updated.

        Component k is updated every n_k = ⌊h·τ_k/Δ⌋ + 1 reads (1 without a hold); the
        normals drawn per device and read are Σ_k 1/n_k.
        """
        return 1.0 / self._periods(interval)

    def _periods(self, interval: float, hold: float | None = None) -> np.ndarray:
        """n_k = ⌊h·τ_k/Δ⌋ + 1, the reads between updates of component k on a grid."""
        if interval <= 0:
            raise ValueError(f"interval must be > 0, got {interval}")
        h = self._hold if hold is None else float(hold)
        _, tau = self._components()
        return np.floor(h * tau / interval) + 1.0

    def read_psd(self, f: np.ndarray, interval: float, hold: float | None = None) -> np.ndarray:
        r"""One-sided PSD of the reads taken every Δ = ``interval`` s, hold included.

        The spectrum a Welch estimate of the read sequence converges to (aliasing
        included), for 0 < f ≤ 1/(2Δ). Component k, updated every n = n_k reads
        (:meth:`update_fractions`) with b = e^{−nΔ/τ_k}, is a sample-and-hold of an
        AR(1) sequence; averaged over the phase of its updates,

        .. math::

            S_k(f) = 2Δ\,\frac{1}{n}\frac{\sin^2(nω/2)}{\sin^2(ω/2)}\,
                \frac{v_k(1 − b^2)}{|1 − b\,e^{−inω}|^2},\qquad ω = 2πfΔ ,

        and n = 1 (``hold = 0``) is the AR(1) spectrum of exact reads.
        ``hold = None`` uses the process's own.
        """
        f = np.asarray(f, dtype=float)
        v, tau = self._components()
        n = self._periods(interval, hold)
        w = 2 * np.pi * f[..., None] * interval
        with np.errstate(divide="ignore", invalid="ignore"):
            b = np.where(tau == 0, 0.0, np.exp(-n * interval / np.where(tau == 0, 1.0, tau)))
            box = np.where(
                np.abs(np.sin(w / 2)) < 1e-300, n, np.sin(n * w / 2) ** 2 / np.sin(w / 2) ** 2 / n
            )
        ar = v * (1 - b * b) / np.abs(1 - b * np.exp(-1j * n * w)) ** 2
        return (2 * interval * box * ar).sum(-1)

    def psd(self, f: np.ndarray) -> np.ndarray:
        v, tau = self._components()
        return _ou_psd(f, v, tau)

    def variance(self) -> float:
        return float(self._components()[0].sum())

    def window_variance(self, window: float, samples: int | None = None) -> float:
        v, tau = self._components()
        return float(
            sum(ou_window_variance(vk, tk, window, samples) for vk, tk in zip(v, tau, strict=True))
        )


# ----------------------------------------------------------------------------- white


@register_noise_process
class WhiteNoise(_OUSum):
    r"""Band-limited white noise: an OU process of std σ and bandwidth B (τ = 1/(2πB)).

    .. math::

        x(t+Δ) = e^{−Δ/τ} x(t) + σ \sqrt{1 − e^{−2Δ/τ}}\, ξ ,\qquad
        S(f) = \frac{4σ²τ}{1 + (2πfτ)²}

    ``bandwidth = inf`` is the white limit: each read at a new time stamp is an
    independent N(0, σ²) draw (σξ exactly, bit for bit the dimensionless read noise).
    """

    kind: Literal["white"] = "white"
    """The process: ``"white"``, first-order band-limited white noise."""

    std: float = param(0.0, ge=0, units="signal")
    """Standard deviation σ of one read (≥ 0), in the units of the signal it perturbs."""

    bandwidth: float = param(math.inf, gt=0, allow_inf_nan=True, units="Hz")
    """Bandwidth B in Hz (> 0; the −3 dB corner of the first-order roll-off).

    ``inf`` = white: reads at distinct times are independent.
    """

    @property
    def tau(self) -> float:
        """Correlation time τ = 1/(2πB) in seconds (0 for B = inf)."""
        return 0.0 if math.isinf(self.bandwidth) else 1.0 / (2 * math.pi * self.bandwidth)

    def _components(self):
        return np.array([self.std**2]), np.array([self.tau])

    def psd(self, f: np.ndarray) -> np.ndarray:
        if self.tau == 0:  # white to infinity: no finite one-sided density; 0 in any finite band
            raise ValueError("bandwidth = inf has no finite PSD; sample it at an interval Δ")
        return super().psd(f)


# ----------------------------------------------------------------------------- flicker


@register_noise_process
class FlickerNoise(_OUSum):
    r"""1/f^γ noise over [f_lo, f_hi] as a sum of OU components (docs/hardware_sources.md §A4).

    Components k = 0..M−1 have corner frequencies f_k log-spaced from f_lo to f_hi
    (τ_k = 1/(2π f_k)) and variances v_k = c f_k^{1−γ}, c = K sin(πγ/2) ln(10)/m with
    m = (M − 1)/log₁₀(f_hi/f_lo) components per decade, so that inside the band

    .. math::

        S(f) = Σ_k \frac{4 v_k τ_k}{1 + (2π f τ_k)²} ≈ \frac{K}{f^γ}

    to the ripple of :func:`flicker_spectral_error`. K is ``density``; or, with
    ``level = "std"``, K is set so that a read of integration time t_int observed over
    T_obs (``reference_window = [t_int, T_obs]``) has std σ:
    σ² = ∫_{1/T_obs}^{1/(2 t_int)} K f^{−γ} df (K ln(T_obs/(2 t_int)) for γ = 1;
    docs/hardware_sources.md §A1). aihwkit's PCM read noise Q_s = 0.0088 at ĝ = 1 is
    K = Q_s² = 7.7e-5 with γ = 1 (relative units).

    A read at t advances only the components due, t − t_k > h·τ_k (``hold`` = h, t_k
    the component's last update), each exactly over t − t_k; the others keep their
    value (module docstring, "Holding slow components": marginals exact, covariances
    within (1 − e^{−h})·Var, spectrum within :func:`flicker_hold_error`).
    """

    kind: Literal["flicker"] = "flicker"
    """The process: ``"flicker"``, 1/f^γ noise from a sum of OU components."""

    gamma: float = param(1.0, gt=0, lt=2, units="1")
    """Spectral exponent γ in (0, 2): S(f) ∝ f^{−γ} (1 = pink; 1.5 = diffusive RRAM at
    high bias, docs/hardware_sources.md §A1)."""

    f_lo: float = param(1e-3, gt=0, units="Hz")
    """Lower band edge f_lo in Hz (> 0): the slowest component's corner; below it the
    spectrum flattens (typically 1/(length of the run))."""

    f_hi: float = param(1e6, gt=0, units="Hz")
    """Upper band edge f_hi in Hz (> f_lo): the fastest component's corner; above it
    the spectrum falls as f^{−2} (typically 1/(2·read time))."""

    components: int = param(19, ge=2, le=256, units="1")
    """Number M of OU components (2 … 256), log-spaced over the band; ≥ 2 per decade
    keeps the ripple below 0.08 % (:func:`flicker_spectral_error`)."""

    level: Literal["density", "std"] = param("density", units="")
    """How the amplitude is given: ``"density"``, K = S(1 Hz)·(1 Hz)^γ; ``"std"``, the std
    of a reference read (``std`` over ``reference_window``)."""

    density: float = param(0.0, ge=0, units="signal^2 Hz^(gamma-1)")
    """Hooge-style density K (≥ 0): S(f) = K/f^γ (used when level = "density")."""

    std: float = param(0.0, ge=0, units="signal")
    """Std σ of a reference read (≥ 0; used when level = "std")."""

    reference_window: tuple[float, float] = param(
        (250e-9, 1.0), units="s", allowed="[t_int, T_obs], 0 < 2 t_int < T_obs"
    )
    """[t_int, T_obs]: the reference read's integration time and observation time in
    seconds (aihwkit's PCM t_read = 250 ns; used when level = "std")."""

    hold: float = param(0.05, ge=0, le=1, units="1")
    """Hold h in [0, 1]: a read advances component k (exactly, over the time since its
    last update) only when that time exceeds h·τ_k, else returns the held value; 0 =
    every component at every read. Reads keep their exact law; covariances move by at
    most (1 − e^{−h})·Var, the in-band spectrum by at most flicker_hold_error(γ, m, h)
    (1.7 % at h = 0.05, γ = 1, two components per decade)."""

    @model_validator(mode="before")
    @classmethod
    def _lists_to_tuples(cls, data):
        if isinstance(data, dict) and isinstance(data.get("reference_window"), list):
            data = {**data, "reference_window": tuple(data["reference_window"])}
        return data

    @model_validator(mode="after")
    def _consistent(self) -> FlickerNoise:
        if not self.f_lo < self.f_hi:
            raise FieldError(
                "f_hi", f"{self.f_hi!r} is not above f_lo = {self.f_lo!r}; allowed: f_hi > f_lo"
            )
        t_int, t_obs = self.reference_window
        if not (0 < 2 * t_int < t_obs):
            raise FieldError(
                "reference_window",
                f"[{t_int!r}, {t_obs!r}] is not a read inside its observation time; "
                "allowed: [t_int, T_obs] with 0 < 2 t_int < T_obs",
            )
        return self

    @property
    def K(self) -> float:
        """The density K = S(f)·f^γ the components are scaled to."""
        if self.level == "density":
            return self.density
        t_int, t_obs = self.reference_window
        lo, hi = 1.0 / t_obs, 1.0 / (2.0 * t_int)
        g = self.gamma
        band = math.log(hi / lo) if g == 1 else (hi ** (1 - g) - lo ** (1 - g)) / (1 - g)
        return self.std**2 / band

    @property
    def _hold(self) -> float:
        return self.hold

    @property
    def per_decade(self) -> float:
        """Components per decade m = (M − 1)/log₁₀(f_hi/f_lo)."""
        return (self.components - 1) / math.log10(self.f_hi / self.f_lo)

    def corner_frequencies(self) -> np.ndarray:
        """f_k, log-spaced from f_lo to f_hi, in Hz."""
        return np.logspace(math.log10(self.f_lo), math.log10(self.f_hi), self.components)

    def _components(self):
        f = self.corner_frequencies()
        c = self.K * math.sin(math.pi * self.gamma / 2) * math.log(10) / self.per_decade
        return c * f ** (1 - self.gamma), 1.0 / (2 * math.pi * f)


def flicker_spectral_error(gamma: float = 1.0, per_decade: float = 2.0) -> float:
    r"""Largest relative deviation of the OU comb's PSD from K/f^γ, far inside the band.

    The comb is infinite in both directions (no edges) with ``per_decade`` components
    per decade and the normalization of :class:`FlickerNoise`; the deviation is
    periodic in log f, so one spacing is scanned (1000 points).
    """
    m = float(per_decade)
    k = np.arange(-40 * m, 40 * m + 1)
    f_k = 10 ** (k / m)
    c = math.sin(math.pi * gamma / 2) * math.log(10) / m
    v, tau = c * f_k ** (1 - gamma), 1 / (2 * np.pi * f_k)
    f = 10 ** np.linspace(0, 1 / m, 1000)
    return float(np.max(np.abs(_ou_psd(f, v, tau) * f**gamma - 1)))


def flicker_hold_error(gamma: float = 1.0, per_decade: float = 2.0, hold: float = 0.05) -> float:
    r"""Bound ε on the relative change of the reads' PSD that a hold h makes, inside the band.

    On a grid of reads every Δ, component k is held for D_k = n_kΔ < 2hτ_k
    (:meth:`FlickerNoise.update_fractions`; n_k ≥ 2 needs hτ_k ≥ Δ), so at frequency f
    the sample-and-hold reshapes the Lorentzian tails of the components with
    1/D_k ≤ f, those with f_k ≤ h f/π. A tail, 4v_kτ_k/(2πfτ_k)² = 2v_k f_k/(πf²), is
    a share (2 sin(πγ/2) ln 10/(πm))·(f_k/f)^{2−γ} of K/f^γ; summed over the comb,
    a geometric series from f_k = h f/π down in steps of 10^{−1/m},

    .. math::

        ε(γ, m, h) = \frac{2\sin(πγ/2)\ln 10}{π m}\,
            \frac{(h/π)^{2−γ}}{1 − 10^{−(2−γ)/m}} .

    The exact held spectrum (:meth:`FlickerNoise.read_psd`) stays within ε of the
    every-read one for f_lo ≤ f ≤ min(f_hi, 1/(4Δ)) (tested); above f_hi there is no
    power-law to compare with, and in the octave below 1/(2Δ) the deviation reaches
    about 2.4 ε. ε → 0 as h → 0; for γ = 1, ε ≈ 0.34 h at two components per decade.
    """
    g, m, h = float(gamma), float(per_decade), float(hold)
    if not 0 < g < 2:
        raise ValueError(f"gamma must be in (0, 2), got {gamma}")
    if m <= 0 or h < 0:
        raise ValueError(f"need per_decade > 0 and hold >= 0, got {per_decade}, {hold}")
    share = 2 * math.sin(math.pi * g / 2) * math.log(10) / (math.pi * m)
    return share * (h / math.pi) ** (2 - g) / (1 - 10 ** (-(2 - g) / m))


def flicker_edge_error(gamma: float, f: np.ndarray, f_lo: float, f_hi: float) -> np.ndarray:
    r"""Bound on the relative PSD deficit at f caused by the band edges of :class:`FlickerNoise`.

    The components a band [f_lo, f_hi] leaves out would add, in the continuum limit,

    .. math::

        \frac{2\sin(πγ/2)}{πγ}\Big(\frac{f}{f_{hi}}\Big)^{γ}
        + \frac{2\sin(πγ/2)}{π(2−γ)}\Big(\frac{f_{lo}}{f}\Big)^{2−γ}

    times K/f^γ (each Lorentzian beyond f_hi contributes its flat part, each one below
    f_lo its f^{−2} tail); the discrete comb ends half a spacing beyond each edge, so
    the true deficit is smaller (about half at two components per decade).
    """
    f = np.asarray(f, dtype=float)
    s = math.sin(math.pi * gamma / 2)
    high = 2 * s / (math.pi * gamma) * (f / f_hi) ** gamma
    low = 2 * s / (math.pi * (2 - gamma)) * (f_lo / f) ** (2 - gamma)
    return high + low


# ----------------------------------------------------------------------------- telegraph


@register_noise_process
class TelegraphNoise(AbstractNoiseProcess):
    r"""Random telegraph noise: a two-state Markov chain per device (docs/hardware_sources.md §A3).

    State s ∈ {0, 1}; it leaves 1 at rate 1/τ_up and 0 at rate 1/τ_down, so
    p = P(s = 1) = τ_up/(τ_up + τ_down). The value is A (s − p) (zero mean, variance
    A² p(1 − p)). Over an interval Δ, with λ = 1/τ_up + 1/τ_down and e = e^{−λΔ}, exactly:

    .. math::

        P(1 \to 1) = p + (1 − p)\,e ,\qquad P(0 \to 1) = p\,(1 − e) ,

    and the PSD is Machlup's Lorentzian, S(f) = 4A² / ((τ_up + τ_down)(λ² + (2πf)²)).
    """

    kind: Literal["telegraph"] = "telegraph"
    """The process: ``"telegraph"``, two-state random telegraph noise."""

    amplitude: float = param(0.0, ge=0, units="signal")
    """Step height A between the two states (≥ 0), in the units of the signal."""

    tau_up: float = param(1e-3, gt=0, units="s")
    """Mean dwell time τ_up in the upper state, seconds (> 0)."""

    tau_down: float = param(1e-3, gt=0, units="s")
    """Mean dwell time τ_down in the lower state, seconds (> 0)."""

    @property
    def p_up(self) -> float:
        """Fraction of time in the upper state, τ_up/(τ_up + τ_down)."""
        return self.tau_up / (self.tau_up + self.tau_down)

    @property
    def rate(self) -> float:
        """λ = 1/τ_up + 1/τ_down in 1/s (the Lorentzian corner is λ/2π)."""
        return 1.0 / self.tau_up + 1.0 / self.tau_down

    def init(self, shape, generator, *, t=0.0, dtype=torch.float64, device=None) -> NoiseState:
        shape = tuple(int(n) for n in shape)
        u = torch.rand((1, *shape), generator=generator, dtype=dtype, device=device)
        return NoiseState((u < self.p_up).to(dtype), float(t), shape)

    def advance(self, state: NoiseState, dt: float, generator: torch.Generator) -> None:
        if dt < 0:
            raise ValueError(f"dt must be >= 0, got {dt}")
        if dt == 0:
            return
        e = math.exp(-self.rate * dt)
        p = self.p_up
        stay, enter = p + (1 - p) * e, p * (1 - e)
        u = torch.rand(
            state.x.shape, generator=generator, dtype=state.x.dtype, device=state.x.device
        )
        prob = state.x * (stay - enter) + enter  # s·P(1→1) + (1 − s)·P(0→1)
        state.x.copy_((u < prob).to(state.x.dtype))
        state.t += float(dt)

    def value(self, state: NoiseState) -> Tensor:
        return (state.x[0] - self.p_up) * self.amplitude

    def psd(self, f: np.ndarray) -> np.ndarray:
        f = np.asarray(f, dtype=float)
        lam = self.rate
        return (
            4
            * self.amplitude**2
            / ((self.tau_up + self.tau_down) * (lam**2 + (2 * np.pi * f) ** 2))
        )

    def variance(self) -> float:
        return self.amplitude**2 * self.p_up * (1 - self.p_up)

    def window_variance(self, window: float, samples: int | None = None) -> float:
        # the telegraph's autocovariance is A² p(1−p) e^{−λ|t|}: that of an OU process
        return ou_window_variance(self.variance(), 1.0 / self.rate, window, samples)


# ------------------------------------------------------------------ conductance dependence


def amplitude_scale(
    g_norm: Tensor,
    law: Literal["constant", "aihwkit_pcm"] = "constant",
    *,
    exponent: float = -0.65,
    cap: float = 0.2 / 0.0088,
) -> Tensor | None:
    r"""Multiplier of a noise amplitude as a function of ĝ = G/G_max (None: constant).

    ``"aihwkit_pcm"``: aihwkit's PCM read-noise law Q_s(ĝ) = min(0.0088 ĝ^{−0.65}, 0.2),
    as a multiplier of the ĝ = 1 amplitude: min(ĝ^{exponent}, cap), cap = 0.2/0.0088
    (docs/hardware_sources.md §4a). ĝ = 0 (an unused device of a pair) gets the cap;
    in relative units the product σ·G then vanishes with G.
    """
    if law == "constant":
        return None
    if law != "aihwkit_pcm":
        raise ValueError(f"unknown amplitude law {law!r}; allowed: constant, aihwkit_pcm")
    g = g_norm.abs()
    # one pass of pow over every device (no gather/scatter of the positive ones: 5x faster
    # on a 784x256 array); ĝ = 0 and NaN take the cap through the mask
    return torch.where(g > 0, g.pow(exponent).clamp_(max=float(cap)), float(cap))

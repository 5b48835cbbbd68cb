r"""The normalized device model: aihwkit-style weights in dimensionless units.

Weights live in normalized units (aihwkit's convention, docs/hardware_sources.md §0):
a conductance pair maps to a dimensionless weight in ``[w_min, w_max]``
(typically ``[-1, 1]``). The circuit sees the *effective* weight of a read,

.. math::

    \tilde w = \mathrm{stuck}\Big(g \odot Q_K\big(\mathrm{clip}_{[w_{min}, w_{max}]}(w)\big)\Big)
               + σ_{read}\, ξ ,

and a write turns an optimizer's proposal w_new into the stored value (pulse
rounding, asymmetric and soft-bounded steps, write noise, clipping, stuck
devices; :meth:`DeviceModel.write`).

Every non-ideality is exactly the identity at its default: no random draw and
no floating-point operation happens for it, so an ideal :class:`DeviceModel`
reproduces ideal results bit for bit.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import torch
from pydantic import field_validator, model_validator
from torch import Tensor

from ...schema import FieldError, param
from ._base import (
    FAULT_NONE,
    FAULT_W_MAX,
    FAULT_W_MIN,
    FAULT_ZERO,
    AbstractDeviceModel,
    DeviceState,
    quantize_uniform,
    register_device_model,
    straight_through,
)

__all__ = ["DeviceModel"]


def _fmt(x: float) -> str:
    return ("inf" if x > 0 else "-inf") if math.isinf(x) else repr(x)


@register_device_model
class DeviceModel(AbstractDeviceModel):
    r"""Synaptic arrays in normalized weight units, as in aihwkit (docs/hardware_sources.md §0).

    Weights are dimensionless, with a device range of about [-1, 1]; standard
    deviations are absolute in those units unless marked relative; ξ ~ N(0, 1).
    All defaults are ideal: an ideal model's :meth:`read` returns the weight
    tensor itself and :meth:`write` the proposed tensor itself.
    """

    kind: Literal["normalized"] = "normalized"
    """The device model: ``"normalized"``, aihwkit-style weights in dimensionless units."""

    w_min: float = param(
        -math.inf, allow_inf_nan=True, allowed="a number or -inf/inf, with w_min < w_max"
    )
    """Lower weight bound w_min (weight units); reads and writes are clipped to [w_min, w_max].

    ``-inf`` = unbounded (ideal); must be < w_max.
    """

    w_max: float = param(
        math.inf, allow_inf_nan=True, allowed="a number or -inf/inf, with w_min < w_max"
    )
    """Upper weight bound w_max (weight units), > w_min; ``inf`` = unbounded (ideal)."""

    levels: int = param(0, ge=0, allowed="0 (analog) or an integer >= 2")
    """Number K of programmable levels, uniform on [w_min, w_max]; reads round to them.

    0 = analog (continuous); otherwise K ≥ 2, which needs a finite range.
    """

    d2d_std: float = param(0.0, ge=0)
    """Device-to-device variation σ_d2d, relative (≥ 0).

    Each device's read gain is 1 + σ_d2d ξ, drawn once at construction (like
    aihwkit's ``*_dtod``); it scales what a read returns, not the update step.
    Keep it ≪ 1 (a Gaussian gain can change sign).
    """

    read_noise_std: float = param(0.0, ge=0)
    """Read noise σ_read, absolute (weight units, ≥ 0): a read returns w + σ_read ξ.

    aihwkit's ``w_noise`` with ``ADDITIVE_CONSTANT``; the stored weight is unchanged.
    """

    read_noise_mode: Literal["per_read", "per_step"] = param("per_read", units="")
    """When read noise is redrawn: ``"per_read"`` once per relaxation (each time the
    arrays are bound), ``"per_step"`` at every relaxation step."""

    stuck_zero_prob: float = param(0.0, ge=0, le=1)
    """Probability p_0 that a device is stuck at 0 and ignores writes, drawn once (in [0, 1]).

    aihwkit's corrupt devices with ``corrupt_devices_range = 0``.
    """

    stuck_bound_prob: float = param(0.0, ge=0, le=1)
    """Probability p_b that a device is stuck at w_min or w_max (½ each), drawn once (in [0, 1]).

    Needs a finite range; p_0 + p_b ≤ 1.
    """

    write_noise_std: float = param(0.0, ge=0)
    """Write noise σ_w, absolute (weight units, ≥ 0).

    Gaussian noise σ_w ξ added to every device a write changes; it accumulates
    over writes like aihwkit's cycle-to-cycle noise (aihwkit's ``write_noise_std``
    is redrawn per write on top of a hidden weight and is in units of ``dw_min``:
    convert before citing it here).
    """

    update: Literal["ideal", "soft_bounds"] = param("ideal", units="")
    """Update model.

    ``"ideal"``: the proposed Δw, then clipping to [w_min, w_max];
    ``"soft_bounds"``: steps shrink toward the bounds, Δw⁺ ∝ 1 - w/w_max and
    Δw⁻ ∝ 1 - w/w_min (aihwkit ``SoftBoundsDevice``); needs finite w_min < 0 < w_max.
    """

    dw_min: float = param(0.0, ge=0)
    """Pulse granularity Δw_min (weight units, ≥ 0): writes move w by whole pulses.

    The requested change over Δw_min is rounded stochastically (unbiased); nominal
    states (w_max - w_min)/Δw_min; 0 = continuous writes.
    """

    up_down: float = param(0.0, gt=-1, lt=1)
    """Up/down step asymmetry a in (-1, 1) (aihwkit ``up_down``; 0 = symmetric).

    Up steps are scaled by 1 + a, down steps by 1 - a (the form of aihwkit's
    ``PulsedDevice.up_down`` docstring; aihwkit's C++ puts the whole bias on one
    side instead: up ×(1 + min(a, 0)), down ×(1 − max(a, 0))).
    """

    @field_validator("levels")
    @classmethod
    def _levels(cls, value: int) -> int:
        if value == 1:
            raise ValueError("1 is out of range; allowed: 0 (analog) or an integer >= 2")
        return value

    @field_validator("w_min", "w_max")
    @classmethod
    def _not_nan(cls, value: float) -> float:
        if math.isnan(value):
            raise ValueError("nan is not a weight bound; allowed: a number or inf/-inf")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> DeviceModel:
        lo, hi = self.w_min, self.w_max
        rng = f"[{_fmt(lo)}, {_fmt(hi)}]"
        finite = math.isfinite(lo) and math.isfinite(hi)
        if not lo < hi:
            raise FieldError(
                "w_min", f"w_min = {_fmt(lo)} >= w_max = {_fmt(hi)}; allowed: w_min < w_max"
            )
        if self.levels and not finite:
            raise FieldError(
                "levels",
                f"levels = {self.levels} needs a finite weight range, got {rng}; "
                "allowed: levels = 0 (analog) or finite devices.w_min < devices.w_max",
            )
        if self.update == "soft_bounds" and not (finite and lo < 0 < hi):
            raise FieldError(
                "update",
                f'update = "soft_bounds" needs a finite range around 0, got {rng}; '
                "allowed: finite devices.w_min < 0 < devices.w_max",
            )
        if self.stuck_bound_prob > 0 and not finite:
            raise FieldError(
                "stuck_bound_prob",
                f"devices stuck at a bound need a finite range, got {rng}; "
                "allowed: stuck_bound_prob = 0 or finite devices.w_min < devices.w_max",
            )
        total = self.stuck_zero_prob + self.stuck_bound_prob
        if total > 1:
            raise FieldError(
                "stuck_bound_prob",
                f"stuck_zero_prob + stuck_bound_prob = {_fmt(total)} > 1; allowed: a sum in [0, 1]",
            )
        return self

    # -- which effects are active -------------------------------------------------------
    @property
    def bounded(self) -> bool:
        """True when at least one bound is finite (reads and writes clip)."""
        return math.isfinite(self.w_min) or math.isfinite(self.w_max)

    @property
    def has_static(self) -> bool:
        """True when devices carry fixed per-device randomness (d2d gain or stuck faults)."""
        return self.d2d_std > 0 or self.stuck_zero_prob > 0 or self.stuck_bound_prob > 0

    @property
    def read_is_identity(self) -> bool:
        """True when :meth:`read` returns its input unchanged."""
        return not (self.bounded or self.levels or self.has_static or self.read_noise_std > 0)

    @property
    def write_is_identity(self) -> bool:
        """True when :meth:`write` returns the proposed weights unchanged."""
        return not (
            self._shapes_steps
            or self.write_noise_std > 0
            or self.bounded
            or self.stuck_zero_prob > 0
            or self.stuck_bound_prob > 0
        )

    @property
    def noisy_reads(self) -> bool:
        """True when reads add noise (σ_read > 0)."""
        return self.read_noise_std > 0

    @property
    def per_step_read(self) -> bool:
        """True when read noise is on and redrawn at every relaxation step."""
        return self.read_noise_mode == "per_step" and self.read_noise_std > 0

    @property
    def _shapes_steps(self) -> bool:
        return self.update != "ideal" or self.dw_min > 0 or self.up_down != 0

    # -- the model ------------------------------------------------------------------
    def realize(
        self,
        shape: Sequence[int],
        generator: torch.Generator,
        *,
        dtype: torch.dtype = torch.float64,
        device: torch.device | str | None = None,
    ) -> DeviceState:
        r"""Draw the fixed per-device randomness of an array of ``shape``.

        * d2d gain: g_ij = 1 + d2d_std·ξ_ij, ξ ~ N(0, 1);
        * faults: with u_ij ~ U(0, 1), stuck at 0 if u < p_0, stuck at a bound if
          p_0 ≤ u < p_0 + p_b, the bound w_max or w_min with probability ½ each.

        Draws happen on the CPU in float64 from ``generator`` (a CPU generator),
        then are cast, so a float32 and a float64 array share one realization.
        The gains and the faults come from two sub-streams seeded from
        ``generator``, so switching one effect on or off leaves the other's
        realization unchanged. Nothing is drawn when no static effect is active.
        """
        shape = tuple(int(n) for n in shape)
        if not self.has_static:
            return DeviceState(shape)
        seeds = torch.randint(0, 2**62, (2,), generator=generator).tolist()
        gain = fault = stuck = value = None
        f64 = torch.float64
        if self.d2d_std > 0:
            g = torch.Generator().manual_seed(seeds[0])
            gain = torch.randn(shape, dtype=f64, generator=g).mul_(self.d2d_std).add_(1.0)
        p0, pb = self.stuck_zero_prob, self.stuck_bound_prob
        if p0 > 0 or pb > 0:
            g = torch.Generator().manual_seed(seeds[1])
            u = torch.rand(shape, dtype=f64, generator=g)
            upper = torch.rand(shape, dtype=f64, generator=g) < 0.5
            at_bound = (u >= p0) & (u < p0 + pb)
            fault = torch.full(shape, FAULT_NONE, dtype=torch.int8)
            fault[u < p0] = FAULT_ZERO
            fault[at_bound & upper] = FAULT_W_MAX
            fault[at_bound & ~upper] = FAULT_W_MIN
            stuck = fault != FAULT_NONE
            value = torch.zeros(shape, dtype=f64)
            if pb > 0:
                value[fault == FAULT_W_MAX] = self.w_max
                value[fault == FAULT_W_MIN] = self.w_min
        return DeviceState(shape, gain, fault, stuck, value).to(dtype, device)

    def read(
        self, w: Tensor, state: DeviceState | None, generator: torch.Generator | None = None
    ) -> Tensor:
        r"""The effective weights one read of the array returns.

        .. math::

            \tilde w = \mathrm{where}\big(\mathrm{stuck},\ w_{stuck},\
                g \odot Q_K(\mathrm{clip}_{[w_{min}, w_{max}]}(w))\big) + σ_{read} ξ

        in this order: clip to the range, quantize to the nearest of K levels,
        multiply by the device gain, replace stuck devices by their stuck
        value, add read noise (only when ``generator`` is given and
        ``read_noise_std > 0``; ``generator`` must live on ``w``'s device).
        Each step is skipped when its parameter is ideal, and an ideal model
        returns ``w`` itself. The gradient passes straight through (∂w̃/∂w = I).

        Parameters
        ----------
        w
            Programmed weights, real, any shape.
        state
            The array's realization (:meth:`realize`, shape of ``w``); may be
            ``None`` when no static effect is active.
        generator
            Source of read noise; ``None`` reads without noise.
        """
        noisy = generator is not None and self.read_noise_std > 0
        if not (self.bounded or self.levels or self.has_static or noisy):
            return w
        if self.has_static:
            if state is None:
                raise ValueError("this DeviceModel has per-device randomness: pass its state")
            if state.shape != tuple(w.shape):
                raise ValueError(
                    f"device state of shape {state.shape} read with weights {tuple(w.shape)}"
                )
        with torch.no_grad():
            eff = w.detach()
            if self.bounded:
                eff = eff.clamp(self.w_min, self.w_max)
            if self.levels:
                eff = quantize_uniform(eff, self.w_min, self.w_max, self.levels)
            if state is not None and state.gain is not None:
                eff = eff * state.gain.to(eff)
            if state is not None and state.stuck is not None:
                eff = torch.where(state.stuck, state.stuck_value.to(eff), eff)
            if noisy:
                xi = torch.randn(eff.shape, dtype=eff.dtype, device=eff.device, generator=generator)
                eff = eff + self.read_noise_std * xi
        return straight_through(w, eff)

    def write(
        self,
        w_old: Tensor,
        w_new: Tensor,
        state: DeviceState | None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        r"""The programmed weights after an optimizer proposed ``w_new`` (from ``w_old``).

        With the requested change Δ = w_new − w_old:

        1. pulses (``dw_min > 0``): n = ⌊Δ/dw_min + U⌋ with U ~ U(0, 1)
           (stochastic rounding, E[n] = Δ/dw_min), Δ ← n·dw_min;
        2. asymmetry: Δ ← Δ(1 + β) if Δ > 0, Δ(1 − β) if Δ < 0;
        3. soft bounds: Δ ← Δ·max(1 − w_old/w_max, 0) if Δ > 0,
           Δ·max(1 − w_old/w_min, 0) if Δ < 0 (the device response at w_old,
           for the whole update);
        4. w = w_old + Δ (w = w_new exactly when 1–3 are all ideal);
        5. write noise: w ← w + σ_write ξ on every written device (n ≠ 0, or
           Δ ≠ 0 for continuous writes);
        6. clip to [w_min, w_max];
        7. stuck devices keep w_old.

        Each step is skipped when its parameter is ideal; an ideal model returns
        ``w_new`` itself. ``generator`` (on the weights' device) is needed for
        pulse rounding and write noise.
        """
        if self.write_is_identity:
            return w_new
        stochastic = self.dw_min > 0 or self.write_noise_std > 0
        if stochastic and generator is None:
            raise ValueError("this DeviceModel's writes are stochastic: pass a generator")
        if self.stuck_zero_prob > 0 or self.stuck_bound_prob > 0:
            if state is None or state.stuck is None:
                raise ValueError("this DeviceModel has stuck devices: pass its state")
            if state.shape != tuple(w_new.shape):
                raise ValueError(
                    f"device state of shape {state.shape} written with weights {tuple(w_new.shape)}"
                )
        with torch.no_grad():
            old, new = w_old.detach(), w_new.detach()
            written = None
            w = new
            if self._shapes_steps:
                delta = new - old
                if self.dw_min > 0:
                    n = delta / self.dw_min
                    floor = torch.floor(n)
                    u = torch.rand(n.shape, dtype=n.dtype, device=n.device, generator=generator)
                    n = floor + (u < n - floor).to(n.dtype)
                    written = n != 0
                    delta = n * self.dw_min
                up = delta > 0
                if self.up_down != 0:
                    delta = delta * torch.where(up, 1.0 + self.up_down, 1.0 - self.up_down)
                if self.update == "soft_bounds":
                    factor = torch.where(up, 1 - old / self.w_max, 1 - old / self.w_min)
                    delta = delta * factor.clamp_min(0.0)
                w = old + delta
            if self.write_noise_std > 0:
                if written is None:
                    written = new != old
                xi = torch.randn(w.shape, dtype=w.dtype, device=w.device, generator=generator)
                w = w + torch.where(written, self.write_noise_std * xi, 0.0)
            if self.bounded:
                w = w.clamp(self.w_min, self.w_max)
            if state is not None and state.stuck is not None:
                w = torch.where(state.stuck, old, w)
        return w

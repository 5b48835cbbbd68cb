r"""Synaptic device model: what one read of an analog array returns, and what a write stores.

Weights live in normalized units (aihwkit's convention, HARDWARE_SOURCES.md §0):
a conductance pair maps to a dimensionless weight in ``[w_min, w_max]``
(typically ``[-1, 1]``). The parameter an optimizer updates is the *programmed*
weight w (aihwkit's hidden weight); the circuit sees the *effective* weight of
a read,

.. math::

    \tilde w = \mathrm{stuck}\Big(g \odot Q_K\big(\mathrm{clip}_{[w_{min}, w_{max}]}(w)\big)\Big)
               + σ_{read}\, ξ ,

and a write turns an optimizer's proposal w_new into the stored value (pulse
rounding, asymmetric and soft-bounded steps, write noise, clipping, stuck
devices; :meth:`DeviceModel.write`).

Every non-ideality is exactly the identity at its default: no random draw and
no floating-point operation happens for it, so an ideal :class:`DeviceModel`
reproduces ideal results bit for bit.

Gradients pass straight through a read (∂w̃/∂w := I): a learning rule computes
∂ℓ/∂w̃, the outer-product update a local rule measures on the physical states,
and :meth:`DeviceModel.write` applies it to the programmed weights.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

__all__ = [
    "DeviceModel",
    "DeviceState",
    "quantize_uniform",
    "straight_through",
    "FAULT_NONE",
    "FAULT_ZERO",
    "FAULT_W_MIN",
    "FAULT_W_MAX",
]

FAULT_NONE, FAULT_ZERO, FAULT_W_MIN, FAULT_W_MAX = 0, 1, 2, 3
"""Fault codes of :attr:`DeviceState.fault`: healthy, stuck at 0, at w_min, at w_max."""


class _StraightThrough(torch.autograd.Function):
    """Returns ``value``; the gradient goes to ``source`` unchanged."""

    @staticmethod
    def forward(ctx, source: Tensor, value: Tensor) -> Tensor:  # noqa: D401
        return value

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None]:
        return grad, None


def straight_through(source: Tensor, value: Tensor) -> Tensor:
    """``value`` in the forward pass, identity Jacobian to ``source`` in the backward pass.

    Returns ``value`` itself when no graph is being recorded for ``source``.
    """
    if torch.is_grad_enabled() and source.requires_grad:
        return _StraightThrough.apply(source, value)
    return value


def quantize_uniform(x: Tensor, lo: float, hi: float, n_levels: int) -> Tensor:
    r"""Round a real tensor to the nearest of ``n_levels`` uniform levels on ``[lo, hi]``.

    .. math::

        Q(x) = \mathrm{lerp}\big(lo, hi, k / (K-1)\big),\qquad
        k = \mathrm{round}\big((\mathrm{clip}(x, lo, hi) - lo) / Δ\big),\quad Δ = \frac{hi-lo}{K-1},

    so the levels are exactly ``lo`` and ``hi`` at the ends (ties round to the even k).
    No gradient is defined here; wrap with :func:`straight_through`.
    """
    if n_levels < 2:
        raise ValueError(f"quantize_uniform needs n_levels >= 2, got {n_levels}")
    step = (hi - lo) / (n_levels - 1)
    k = torch.round((x.clamp(lo, hi) - lo) / step)
    lo_t = torch.tensor(lo, dtype=x.dtype, device=x.device)
    hi_t = torch.tensor(hi, dtype=x.dtype, device=x.device)
    return torch.lerp(lo_t, hi_t, k / (n_levels - 1))


@dataclass(frozen=True)
class DeviceState:
    """The fixed per-device randomness of one physical array (drawn once by ``realize``).

    Attributes
    ----------
    shape : tuple of int
        Shape of the array (that of the weight tensor it stores).
    gain : Tensor or None
        Device-to-device read gain g_ij = 1 + d2d_std·ξ_ij; ``None`` when d2d_std = 0.
    fault : Tensor or None
        int8 fault code per device (:data:`FAULT_NONE`, :data:`FAULT_ZERO`,
        :data:`FAULT_W_MIN`, :data:`FAULT_W_MAX`); ``None`` when no device can be stuck.
    stuck : Tensor or None
        bool mask, ``fault != FAULT_NONE``.
    stuck_value : Tensor or None
        The weight a stuck device reads (0, w_min or w_max); 0 where not stuck.
    """

    shape: tuple[int, ...]
    gain: Tensor | None = None
    fault: Tensor | None = None
    stuck: Tensor | None = None
    stuck_value: Tensor | None = None

    def to(self, dtype: torch.dtype, device: torch.device | str | None = None) -> DeviceState:
        """The same realization with floating tensors cast to ``dtype`` on ``device``."""

        def cast(t: Tensor | None, float_: bool) -> Tensor | None:
            if t is None:
                return None
            return t.to(dtype=dtype, device=device) if float_ else t.to(device=device)

        return DeviceState(
            self.shape,
            cast(self.gain, True),
            cast(self.fault, False),
            cast(self.stuck, False),
            cast(self.stuck_value, True),
        )


@dataclass(frozen=True)
class DeviceModel:
    r"""A synaptic device model in normalized weight units (aihwkit conventions).

    All defaults are ideal: an ideal model's :meth:`read` returns the weight
    tensor itself and :meth:`write` the proposed tensor itself.

    Parameters
    ----------
    w_min, w_max
        Conductance range in weight units. Reads and writes clip to it; ±inf: unbounded.
    levels
        0: analog. K ≥ 2: a read returns the nearest of K uniform levels on
        ``[w_min, w_max]`` (needs finite bounds).
    d2d_std
        Device-to-device variation: each device has a fixed multiplicative read
        gain g_ij = 1 + d2d_std·ξ_ij (relative, like aihwkit's ``*_dtod``), drawn once.
        Keep it ≪ 1 (a Gaussian gain can change sign).
    read_noise_std
        Absolute std (weight units) of Gaussian noise added to every device at every read.
    read_noise_mode
        ``"per_read"``: redrawn each time the arrays are bound (once per relaxation);
        ``"per_step"``: redrawn at every relaxation step.
    stuck_zero_prob
        Probability that a device is stuck at 0 (aihwkit's corrupt devices with
        ``corrupt_devices_range = 0``).
    stuck_bound_prob
        Probability that a device is stuck at a bound, w_max or w_min with equal odds
        (needs finite bounds).
    write_noise_std
        Absolute std (weight units) of Gaussian noise added to every written device
        (one that received a non-zero update). It accumulates over writes, like
        aihwkit's cycle-to-cycle noise; aihwkit's ``write_noise_std`` instead is
        redrawn per write on top of a hidden weight and is in units of ``dw_min``.
    update
        ``"ideal"``: the device takes the step it is given. ``"soft_bounds"``
        (aihwkit ``SoftBoundsDevice``): the step shrinks linearly to 0 at the bound
        it moves towards, Δ⁺ ← Δ⁺(1 − w/w_max), Δ⁻ ← Δ⁻(1 − w/w_min)
        (needs w_min < 0 < w_max).
    dw_min
        0: continuous writes. > 0: weight change of one pulse; a write fires an
        integer number of pulses, the requested change over ``dw_min`` rounded
        stochastically (unbiased).
    up_down
        Up/down asymmetry β (aihwkit ``PulsedDevice.up_down`` docstring form):
        up steps are scaled by (1 + β), down steps by (1 − β). aihwkit's C++
        puts the whole bias on one side instead (up ×(1 + min(β, 0)),
        down ×(1 − max(β, 0))). Needs |β| < 1.
    """

    w_min: float = -math.inf
    w_max: float = math.inf
    levels: int = 0
    d2d_std: float = 0.0
    read_noise_std: float = 0.0
    read_noise_mode: Literal["per_read", "per_step"] = "per_read"
    stuck_zero_prob: float = 0.0
    stuck_bound_prob: float = 0.0
    write_noise_std: float = 0.0
    update: Literal["ideal", "soft_bounds"] = "ideal"
    dw_min: float = 0.0
    up_down: float = 0.0

    def __post_init__(self) -> None:
        finite = math.isfinite(self.w_min) and math.isfinite(self.w_max)
        if math.isnan(self.w_min) or math.isnan(self.w_max) or not self.w_min < self.w_max:
            raise ValueError(f"DeviceModel needs w_min < w_max, got [{self.w_min}, {self.w_max}]")
        if int(self.levels) != self.levels or self.levels < 0 or self.levels == 1:
            raise ValueError(f"levels must be 0 (analog) or >= 2, got {self.levels}")
        if self.levels and not finite:
            raise ValueError("quantized devices (levels >= 2) need finite w_min and w_max")
        for name in ("d2d_std", "read_noise_std", "write_noise_std", "dw_min"):
            value = getattr(self, name)
            if not (value >= 0 and math.isfinite(value)):
                raise ValueError(f"{name} must be finite and >= 0, got {value}")
        for name in ("stuck_zero_prob", "stuck_bound_prob"):
            value = getattr(self, name)
            if not 0 <= value <= 1:
                raise ValueError(f"{name} must lie in [0, 1], got {value}")
        if self.stuck_zero_prob + self.stuck_bound_prob > 1:
            raise ValueError("stuck_zero_prob + stuck_bound_prob must not exceed 1")
        if self.stuck_bound_prob > 0 and not finite:
            raise ValueError("stuck-at-bound faults need finite w_min and w_max")
        if self.read_noise_mode not in ("per_read", "per_step"):
            raise ValueError(
                f"read_noise_mode={self.read_noise_mode!r}; allowed: 'per_read', 'per_step'"
            )
        if self.update not in ("ideal", "soft_bounds"):
            raise ValueError(f"update={self.update!r}; allowed: 'ideal', 'soft_bounds'")
        if self.update == "soft_bounds" and not (finite and self.w_min < 0 < self.w_max):
            raise ValueError("soft bounds need finite bounds with w_min < 0 < w_max")
        if not abs(self.up_down) < 1:
            raise ValueError(f"up_down must satisfy |up_down| < 1, got {self.up_down}")

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
    def is_ideal(self) -> bool:
        return self.read_is_identity and self.write_is_identity

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

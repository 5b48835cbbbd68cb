r"""Data converters (DAC/ADC) beyond uniform rounding: offset, gain error, saturation, INL.

A converter instance i (one per output unit or column: the last axis of the signal)
maps an input x to

.. math::

    y = g_i x + o_i,\qquad
    k = \mathrm{round}\big((\mathrm{clip}(y, lo, hi) - lo) / Δ\big),\qquad
    \mathrm{out} = lo + \big(k + \mathrm{INL}_i(k / (K-1))\big)\, Δ ,

with K = 2^bits levels, Δ = (hi − lo)/(K − 1) the LSB, and

* gain g_i = 1 + gain_error + gain_std·ξ and offset o_i = offset + offset_std·ξ,
  fixed per instance (drawn once by :meth:`ConverterModel.realize`);
* saturation: y is clipped to [lo, hi], so inputs beyond the range give the end
  codes 0 and K − 1, whose outputs are exactly lo and hi;
* a fixed integral nonlinearity per instance, in LSB, a smooth curve of the
  normalized code c = k/(K − 1) ∈ [0, 1] that is zero at both end codes (the
  endpoint-fit convention):

  .. math::

      \mathrm{INL}_i(c) = \sum_{h=1}^{H} a_{ih} \sin(π h c),\qquad
      a_{ih} ∝ ξ_{ih} / h ,

  scaled so that its maximum of |INL_i| *over the K codes* is exactly inl_lsb.

The INL is a deviation of each code's reconstructed level (output-referred, as a
DAC's level or an ADC's output read as a number in input units); the code
transition levels depend on gain and offset only (:meth:`ConverterModel.transition_levels`).
The differential nonlinearity of code k is then DNL_k = INL_k − INL_{k−1}, so the
curve is strictly increasing when inl_lsb < 0.5.

With bits = 0 there is no quantization and no saturation (the range is used only
when bits > 0, as for the DAC/ADC of the rate neuron model), only y = g_i x + o_i.
Complex inputs: Re and Im are converted separately, by the same instance.
Gradients pass straight through (∂out/∂x := 1), as for every quantizer here.
With only bits and range set, :meth:`ConverterModel.transfer` is bit for bit
:func:`~neurosim.substrate.devices.quantize_uniform` with 2^bits levels.
Every effect is exactly the identity at its default (no draw, no float op).

Typical periphery: 7–9 bit DACs and ADCs in aihwkit's preset configs, with
output noise of 0.5–1.3 LSB (docs/hardware_sources.md §3); conversion energies
in docs/hardware_sources.md §D1–D2.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Annotated, Any

import torch
from pydantic import AfterValidator, BeforeValidator, model_validator
from torch import Tensor

from ..schema import FieldError, Schema, param
from .devices import straight_through

__all__ = ["RANGE_ALLOWED", "ConverterModel", "ConverterState", "Range", "measured_inl"]

RANGE_ALLOWED = "[lo, hi], two finite numbers with lo < hi"


def _as_tuple(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def _increasing(value: tuple[float, float]) -> tuple[float, float]:
    if not value[0] < value[1]:
        lo, hi = repr(value[0]), repr(value[1])
        raise ValueError(f"[{lo}, {hi}] is not increasing; allowed: {RANGE_ALLOWED}")
    return value


Range = Annotated[tuple[float, float], BeforeValidator(_as_tuple), AfterValidator(_increasing)]
"""A converter's full-scale range [lo, hi]: a TOML list of two finite numbers, lo < hi."""
_MAX_HARMONICS = 32
_COARSE_SAMPLES = 1025  # codes sampled first when the INL maximum is searched
_ZOOM_SAMPLES = 129  # codes sampled per zoomed interval


@dataclass(frozen=True)
class ConverterState:
    """The fixed per-instance randomness of n converters (drawn once by ``realize``).

    Attributes
    ----------
    n : int
        Number of converter instances (the size of the signal's last axis).
    offset : Tensor or None
        Offsets o_i, shape (n,), input units; ``None`` when offset = offset_std = 0.
    gain : Tensor or None
        Gains g_i, shape (n,); ``None`` when gain_error = gain_std = 0.
    inl : Tensor or None
        INL coefficients a_ih in LSB, shape (n, H): INL_i(c) = Σ_h a_ih sin(π h c);
        ``None`` when inl_lsb = 0.
    """

    n: int
    offset: Tensor | None = None
    gain: Tensor | None = None
    inl: Tensor | None = None

    def to(self, dtype: torch.dtype, device: torch.device | str | None = None) -> ConverterState:
        """The same realization with its tensors cast to ``dtype`` on ``device``."""

        def cast(t: Tensor | None) -> Tensor | None:
            return None if t is None else t.to(dtype=dtype, device=device)

        return type(self)(self.n, cast(self.offset), cast(self.gain), cast(self.inl))


class ConverterModel(Schema):
    r"""A DAC or ADC: gain and offset error, saturation, 2^bits levels, a fixed INL curve.

    Defaults are ideal: :meth:`transfer` returns its input itself.

    Notes
    -----
    Per-instance draws are float64 on the CPU generator given to :meth:`realize`, in
    the order offset (n), gain (n), INL coefficients (n × inl_harmonics); an effect
    that is off draws nothing. A Gaussian gain can change sign: keep gain_std ≪ 1.
    """

    bits: int = param(0, ge=0, le=32, units="bit")
    """Resolution b in bits (0 … 32): K = 2^b levels over ``range``; 0 = no quantization
    (and no saturation)."""

    range: Range = param((-1.0, 1.0), units="input", allowed=RANGE_ALLOWED)
    """[lo, hi] full-scale range in input units, lo < hi (used when bits > 0): y is clipped
    to it and its ends are the levels of codes 0 and K − 1."""

    offset: float = param(0.0, units="input")
    """Systematic offset error o in input units (any finite number): y = g x + o, so the code
    transition levels move by −o/g."""

    offset_std: float = param(0.0, ge=0, units="input")
    """Offset mismatch σ_o in input units (≥ 0): instance i has o_i = o + σ_o ξ_i, drawn once."""

    gain_error: float = param(0.0, gt=-1)
    """Systematic relative gain error ε_g (> −1): the gain is g = 1 + ε_g."""

    gain_std: float = param(0.0, ge=0)
    """Gain mismatch σ_g, relative (≥ 0): instance i has g_i = 1 + ε_g + σ_g ξ_i, drawn once."""

    inl_lsb: float = param(0.0, ge=0, units="LSB", allowed="0, or > 0 when bits >= 2")
    """Peak integral nonlinearity in LSB (≥ 0): max over the K codes of |INL_i| = inl_lsb for
    every instance; needs bits ≥ 2 (end codes have INL 0). Below 0.5 the curve is monotone."""

    inl_harmonics: int = param(3, ge=1, le=_MAX_HARMONICS)
    """Number H of sine harmonics of each INL curve (1 … 32): INL_i(c) = Σ_h a_ih sin(π h c),
    a_ih ∝ ξ_ih / h (1 gives the same bow, of random sign, for all instances)."""

    @model_validator(mode="after")
    def _inl_needs_levels(self) -> ConverterModel:
        if self.inl_lsb > 0 and self.bits < 2:
            raise FieldError(
                "inl_lsb",
                f"inl_lsb = {self.inl_lsb!r} needs interior codes, got bits = {self.bits}; "
                "allowed: 0, or > 0 when bits >= 2",
            )
        return self

    # -- properties ---------------------------------------------------------------------
    @property
    def is_ideal(self) -> bool:
        """True when :meth:`transfer` is the identity (it then returns its input itself)."""
        return not (self.bits or self.offset or self.offset_std or self.gain_error or self.gain_std)

    @property
    def needs_realization(self) -> bool:
        """True when instances differ (offset_std, gain_std or INL): ``transfer`` needs a state."""
        return self.offset_std > 0 or self.gain_std > 0 or self.inl_lsb > 0

    @property
    def n_levels(self) -> int:
        """K = 2^bits, or 0 when bits = 0 (no quantization)."""
        return 2**self.bits if self.bits else 0

    @property
    def lsb(self) -> float:
        """Δ = (hi − lo)/(2^bits − 1) in input units; 0.0 when bits = 0 (no quantization)."""
        if not self.bits:
            return 0.0
        lo, hi = self.range
        return (hi - lo) / (2**self.bits - 1)

    # -- fixed per-instance randomness --------------------------------------------------
    def realize(self, n: int, generator: torch.Generator | None = None) -> ConverterState:
        """Draw the offsets, gains and INL curves of ``n`` instances (float64, CPU).

        ``generator`` is a CPU generator (``None``: torch's default one). Effects that
        are off draw nothing; a systematic offset or gain error alone is stored
        without a draw.
        """
        if not (isinstance(n, int) and n >= 1):
            raise ValueError(f"realize needs n >= 1 converter instances, got {n!r}")
        f64 = torch.float64
        offset = gain = inl = None
        if self.offset_std > 0:
            offset = torch.randn(n, dtype=f64, generator=generator)
            offset.mul_(self.offset_std).add_(self.offset)
        elif self.offset:
            offset = torch.full((n,), self.offset, dtype=f64)
        if self.gain_std > 0:
            gain = torch.randn(n, dtype=f64, generator=generator)
            gain.mul_(self.gain_std).add_(1.0 + self.gain_error)
        elif self.gain_error:
            gain = torch.full((n,), 1.0 + self.gain_error, dtype=f64)
        if self.inl_lsb > 0:
            harmonic = torch.arange(1, self.inl_harmonics + 1, dtype=f64)
            xi = torch.randn(n, self.inl_harmonics, dtype=f64, generator=generator)
            inl = xi / harmonic
            peak = _grid_max_abs(inl, 2**self.bits - 1)
            if not bool((peak > 0).all()):  # pragma: no cover - probability 0
                raise RuntimeError("an INL curve drawn is zero on every code; redraw")
            inl.mul_((self.inl_lsb / peak).unsqueeze(-1))
        return ConverterState(n, offset, gain, inl)

    # -- the transfer curve -------------------------------------------------------------
    def transfer(self, x: Tensor, state: ConverterState | None = None) -> Tensor:
        """``x`` as the converters convert it; instance i converts ``x[..., i]``.

        ``state`` is a realization for ``x.shape[-1]`` instances; it may be omitted
        when instances do not differ (no offset_std, gain_std or INL). Complex ``x``:
        Re and Im are converted separately by the same instance. The gradient passes
        straight through. Returns ``x`` itself when the model is ideal.
        """
        if self.is_ideal:
            return x
        if state is None:
            if self.needs_realization:
                raise ValueError(
                    "this converter has per-instance effects (offset_std, gain_std or "
                    "inl_lsb): pass the state from realize(n)"
                )
            gain: Tensor | float | None = 1.0 + self.gain_error if self.gain_error else None
            offset: Tensor | float | None = self.offset if self.offset else None
            inl = None
        else:
            if x.shape[-1:] != (state.n,):
                raise ValueError(
                    f"the state is for {state.n} converter instances (the last axis), "
                    f"got a signal of shape {tuple(x.shape)}"
                )
            real = x.real.dtype if x.is_complex() else x.dtype
            s = state.to(real, x.device)
            gain, offset, inl = s.gain, s.offset, s.inl
        with torch.no_grad():
            if x.is_complex():
                q = torch.complex(
                    self._convert(x.real, gain, offset, inl),
                    self._convert(x.imag, gain, offset, inl),
                )
            else:
                q = self._convert(x.detach(), gain, offset, inl)
        return straight_through(x, q)

    def _convert(self, y: Tensor, gain: Any, offset: Any, inl: Tensor | None) -> Tensor:
        # no new float op for an effect that is off: bits + range alone is quantize_uniform
        if gain is not None:
            y = y * gain
        if offset is not None:
            y = y + offset
        if not self.bits:
            return y
        lo, hi = self.range
        last = 2**self.bits - 1
        step = (hi - lo) / last
        k = torch.round((y.clamp(lo, hi) - lo) / step)
        lo_t = torch.tensor(lo, dtype=y.dtype, device=y.device)
        hi_t = torch.tensor(hi, dtype=y.dtype, device=y.device)
        if inl is None:
            return torch.lerp(lo_t, hi_t, k / last)
        return torch.lerp(lo_t, hi_t, (k + _inl_eval(k, inl, last)) / last)

    # -- analytic helpers (tests, documentation) ----------------------------------------
    def transition_levels(self, state: ConverterState | None = None, i: int = 0) -> Tensor:
        """The K − 1 inputs at which instance i's code steps from k − 1 to k (k = 1 … K−1).

        T_k = (lo + (k − ½) Δ − o_i) / g_i, float64, increasing when g_i > 0 (the
        floating-point transfer agrees to rounding; an exact tie rounds to the even
        code). Needs bits ≥ 1; ``state`` as for :meth:`transfer`.
        """
        if not self.bits:
            raise ValueError("transition_levels needs bits >= 1 (bits = 0 has no codes)")
        offset, gain = self._instance(state, i)
        lo = self.range[0]
        k = torch.arange(1, 2**self.bits, dtype=torch.float64)
        return (lo + (k - 0.5) * self.lsb - offset) / gain

    def code_centers(self, state: ConverterState | None = None, i: int = 0) -> Tensor:
        """The K inputs (float64) that put instance i's y exactly on the ideal level of code k."""
        if not self.bits:
            raise ValueError("code_centers needs bits >= 1 (bits = 0 has no codes)")
        offset, gain = self._instance(state, i)
        lo = self.range[0]
        k = torch.arange(2**self.bits, dtype=torch.float64)
        return (lo + k * self.lsb - offset) / gain

    def inl_curve(self, state: ConverterState | None = None, i: int | None = None) -> Tensor:
        """The realized INL in LSB at every code: shape (K,) for instance i, (n, K) for all.

        Zero when inl_lsb = 0 (a state is then needed only for i = None, for n).
        """
        if not self.bits:
            raise ValueError("inl_curve needs bits >= 1 (bits = 0 has no codes)")
        last = 2**self.bits - 1
        k = torch.arange(last + 1, dtype=torch.float64)
        if state is None or state.inl is None:
            if i is None and state is None:
                raise ValueError("inl_curve(i=None) needs a state (for the number of instances)")
            shape = (last + 1,) if i is not None else (state.n, last + 1)
            return torch.zeros(shape, dtype=torch.float64)
        coef = state.inl.to(torch.float64)
        if i is not None:
            return _inl_eval(k, coef[i], last)
        return _inl_eval(k.unsqueeze(-1), coef, last).T.contiguous()

    def _instance(self, state: ConverterState | None, i: int) -> tuple[float, float]:
        if state is None:
            if self.offset_std > 0 or self.gain_std > 0:
                raise ValueError("per-instance offset or gain: pass the state from realize(n)")
            return self.offset, 1.0 + self.gain_error
        offset = float(state.offset[i]) if state.offset is not None else 0.0
        gain = float(state.gain[i]) if state.gain is not None else 1.0
        return offset, gain


def measured_inl(model: ConverterModel, state: ConverterState | None = None) -> Tensor:
    """INL as measured from the outputs, in LSB, shape (n, K) (n = 1 without a state).

    Each instance is driven at its code centers (:meth:`ConverterModel.code_centers`)
    and (output − ideal level lo + kΔ)/Δ is returned for every code k.
    """
    n = 1 if state is None else state.n
    x = torch.stack([model.code_centers(state, i) for i in range(n)], dim=-1)  # (K, n)
    out = model.transfer(x, state)
    lo, hi = model.range
    last = 2**model.bits - 1
    k = torch.arange(last + 1, dtype=torch.float64).unsqueeze(-1)
    ideal = torch.lerp(torch.tensor(lo, dtype=x.dtype), torch.tensor(hi, dtype=x.dtype), k / last)
    return ((out - ideal) / model.lsb).T.contiguous()


# -- the INL curve -------------------------------------------------------------------------
def _inl_eval(k: Tensor, coef: Tensor, last: int) -> Tensor:
    """Σ_h coef[..., h] sin(π h k/last), exactly 0 at k = 0 and k = last.

    ``k`` holds integer codes; ``coef[..., h]`` broadcasts against ``k``. The sines are
    taken at min(k, last − k), sin(π h (last − m)/last) = (−1)^(h+1) sin(π h m/last),
    so both end codes give sin(0) = 0 exactly.
    """
    rev = last - k
    flip = k > rev
    theta = torch.minimum(k, rev) * (math.pi / last)
    out = torch.zeros_like(theta)
    for h in range(coef.shape[-1]):
        s = torch.sin(theta * (h + 1))
        if h % 2 == 1:  # even harmonic number: odd about c = ½
            s = torch.where(flip, -s, s)
        out = out + coef[..., h] * s
    return out


def _grid_max_abs(coef: Tensor, last: int) -> Tensor:
    """max over the codes k = 0 … last of |Σ_h coef[i, h] sin(π h k/last)|, per row i.

    Exact on the code grid: every code when there are few; otherwise every local
    maximum of |INL| on 1025 evenly spaced codes is zoomed in on (the interval
    between its two neighbouring samples, resampled at 129 codes, around the
    largest sample) until the interval holds at most 129 codes, which are all
    evaluated. With at most 32 harmonics a bump of |INL| spans far more than two
    coarse samples, so |INL| is unimodal on each interval and every zoom keeps
    the bump's maximum.
    """
    n = coef.shape[0]
    cf = coef.unsqueeze(1)  # (n, 1, H): broadcasts against codes (n, S)
    if last + 1 <= _COARSE_SAMPLES:
        k = torch.arange(last + 1, dtype=coef.dtype).expand(n, -1)
        return _inl_eval(k, cf, last).abs().amax(-1)
    k0 = torch.linspace(0, last, _COARSE_SAMPLES, dtype=torch.float64).round().to(coef.dtype)
    v = _inl_eval(k0.expand(n, -1), cf, last).abs()
    coarse = v.amax(-1)  # a lower bound; it covers rows whose samples have no interior peak
    peak = (v[:, 1:-1] >= v[:, :-2]) & (v[:, 1:-1] >= v[:, 2:])
    rows, j = peak.nonzero(as_tuple=True)
    lo_k, hi_k = k0[j], k0[j + 2]  # the neighbours of sample j + 1
    m = _ZOOM_SAMPLES
    frac = torch.linspace(0, 1, m, dtype=coef.dtype)
    while bool(((hi_k - lo_k + 1) > m).any()):
        k = torch.minimum(lo_k[:, None] + torch.round(frac * (hi_k - lo_k)[:, None]), hi_k[:, None])
        a = _inl_eval(k, cf[rows], last).abs().argmax(-1)
        lo_k = k.gather(1, (a - 1).clamp(min=0)[:, None]).squeeze(1)
        hi_k = k.gather(1, (a + 1).clamp(max=m - 1)[:, None]).squeeze(1)
    k = torch.minimum(lo_k[:, None] + torch.arange(m, dtype=coef.dtype), hi_k[:, None])
    best = _inl_eval(k, cf[rows], last).abs().amax(-1)
    return coarse.scatter_reduce(0, rows, best, reduce="amax")

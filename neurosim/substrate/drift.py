r"""Conductance drift and post-write relaxation: per-device processes in physical time.

A programmed device does not keep the conductance it was written to. Two slow
effects are modelled here, both deterministic functions of the time since the
device's last write once their per-device randomness has been drawn at that write
(docs/hardware_sources.md §B):

:class:`PowerLawDrift`
    PCM-style structural-relaxation drift, a power law in the time since the write,

    .. math::

        G(t) = G(t_w)\,\Big(\frac{t - t_w}{t_0}\Big)^{-ν}\quad (t - t_w ≥ t_0),\qquad
        G(t) = G(t_w)\quad (t - t_w < t_0),

    with ν drawn per device at every write, ν ~ N(ν̄(ĝ), σ_ν(ĝ)²) kept ≥ 0, ĝ = |G|/G_max
    the normalized programmed conductance (aihwkit's ``PCMLikeNoiseModel``,
    docs/hardware_sources.md §4a).
:class:`ExponentialRelaxation`
    ReRAM/CMO-style short-term relaxation toward a shifted level,

    .. math::

        G(t) = G_{prog} + Δ\,\big(1 - e^{-(t - t_w)/τ}\big),

    with Δ drawn per device at every write (docs/hardware_sources.md §4d, §B).

:class:`DriftState` is the streamed state that evaluates both at any later time:
per device the write time t_w, the programmed conductance G_prog, ν and Δ — never a
time series. :func:`on_write` resets the devices that a write touches,
:func:`conductance` evaluates

.. math::

    G(t) = \big[G_{prog} + Δ\,(1 - e^{-(t - t_w)/τ})\big]\,
           \Big(\max\big(\tfrac{t - t_w}{t_0}, 1\big)\Big)^{-ν} .

Time scales (docs/hardware_sources.md §B): over one relaxation step Δt at time t after
programming, |ΔG/G| ≈ ν·Δt/t (1e-6 for ν = 0.1, t = 1 s, Δt = 10 µs), so drift is
applied on the wall-clock schedule of a training run (between epochs, after
re-programming), not per relaxation step.

Units. Times are in seconds (the substrate clock's :attr:`Timeline.now`).
Conductances are in whatever units the caller passes (neurosim's normalized devices:
weight units; the sources: µS); :attr:`PowerLawDrift.g_max` and an absolute
:attr:`ExponentialRelaxation.mean_shift` are in those same units.

Randomness and checkpoints
--------------------------
Every draw is float64 on the CPU from a caller-supplied CPU :class:`torch.Generator`,
then moved to the state's device, so the realization does not depend on where the
state lives. A write that draws anything takes two seeds from the generator and draws
ν and Δ from two sub-streams seeded by them, so switching one effect on or off leaves
the other's draws unchanged. Nothing is drawn (the generator is not advanced) when no
effect draws: both effects off, or only deterministic ones (σ_ν = 0 with the constant
law, Δ with ``shift_std = 0``). :meth:`DriftState.state_dict` plus the generator's
state are all a resumed run needs to continue bit for bit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import torch
from pydantic import model_validator
from torch import Tensor

from ..schema import FieldError, Schema, borrow, build_prefixed, param

__all__ = [
    "AIHWKIT_PCM_G_CLIP",
    "Drift",
    "DriftState",
    "ExponentialRelaxation",
    "PowerLawDrift",
    "conductance",
    "on_write",
]

AIHWKIT_PCM_G_CLIP = 1e-7
"""Smallest ĝ entering aihwkit's ν(ĝ) law (its ``_ZERO_CLIP``: ĝ = max(|g|/g_max, 1e-7))."""

_F64 = torch.float64
_CPU = torch.device("cpu")


def _cpu64(x: Tensor | float) -> Tensor:
    return torch.as_tensor(x).detach().to(device=_CPU, dtype=_F64)


class PowerLawDrift(Schema):
    r"""PCM-style conductance drift, a power law in the time since the last write.

    .. math::

        \frac{G(t)}{G(t_w)} = f(t - t_w) =
        \Big(\max\big(\tfrac{t - t_w}{t_0}, 1\big)\Big)^{-ν},\qquad
        ν = \max\big(ν̄(ĝ) + σ_ν(ĝ)\,ξ,\ 0\big),\quad ξ \sim N(0, 1),

    with ĝ = |G(t_w)|/G_max the normalized programmed conductance.

    Conventions
    -----------
    * **Time origin.** t − t_w is the time since the write; t₀ is the time of the first
      (reference) read after programming, and G(t_w) — the programmed conductance
      stored at the write — is the value that read returns. The law is fitted for
      t − t_w ≥ t₀ only; before t₀ the factor is exactly 1 (the device reads its
      programmed value), so G(t) is continuous at t₀ and never rises above G(t_w).
      This is the sheet's reading of aihwkit (docs/hardware_sources.md §4a: "t is
      the time since programming, t = t_inference + t₀"), i.e. aihwkit's code with
      t_inference = (t − t_w) − t₀. Read with aihwkit's docstring instead (t_inference
      from the end of programming), aihwkit's factor is ((t − t_w + t₀)/t₀)^{−ν};
      the two agree for t − t_w ≫ t₀.
    * **ν per write.** ν is redrawn at every write of a device, as aihwkit redraws it
      at programming: it depends on ĝ at programming, which a write changes.
    * **ν ≥ 0.** A negative draw is clipped to 0 (``nu_floor = "clip"``, the default:
      a rectified normal) or reflected, ν = |ν̄ + σ_ν ξ| (``"fold"``, what aihwkit's
      ``generate_drift_coefficients`` does: ``abs(...)`` then a no-op ``clamp(min=0)``).
      The two differ only in the lower tail: on the aihwkit law ν̄/σ_ν ≥ 1.94 (its
      minimum, at ĝ ≈ 0.017), so at most 2.6 % of the draws are negative and the mean
      of ν differs between the two by at most 0.5 % (derived here).

    Laws (``nu_law``)
    -----------------
    ``"constant"``
        ν̄ = ``nu_mean``, σ_ν = ``nu_std`` for every device.
    ``"aihwkit_pcm"``
        aihwkit ``PCMLikeNoiseModel`` (Nandakumar et al., ICECS 2019; calibrated on
        ≈1 M devices, Joshi et al., Nat. Commun. 2020), docs/hardware_sources.md §4a:

        .. math::

            ν̄(ĝ) = \mathrm{clip}(-0.0155 \ln ĝ + 0.0244,\ 0.049,\ 0.1),\qquad
            σ_ν(ĝ) = \mathrm{clip}(-0.0125 \ln ĝ - 0.0059,\ 0.008,\ 0.045),

        with ĝ = max(|G|/G_max, 1e-7) (aihwkit's clip, :data:`AIHWKIT_PCM_G_CLIP`).
        ν̄ is 0.049 for ĝ ≥ 0.2045, 0.060 at 0.1, 0.096 at 0.01, 0.1 below 0.0076;
        σ_ν is 0.008 for ĝ ≥ 0.329, 0.023 at ĝ = 0.1, 0.045 below 0.017.
        Pair with t₀ = 20 s, aihwkit's value for this fit.
        ``nu_mean`` and ``nu_std`` are then set by the law and must stay 0.

    Numbers from the sources (docs/hardware_sources.md §B, §4a, §4e): ν "commonly
    ~0.1" for amorphous GST (0.07–0.11 in the dark, 0.05 under illumination, Khan
    et al.); aihwkit PCM ν(ĝ) 0.049–0.1 with σ_ν 0.008–0.045 and t₀ = 20 s; aihwkit's
    generic ``StateIndependentNoiseModel`` ν̄ = 0.1, σ_ν = 0.05, t₀ = 20 s; IBM HERMES
    t₀ = 300 s (§4b); MemTorch ν = 0.1 with t₀ = 1e-12 s (with which the factor is
    already 0.063 at 1 s). Derived drift factors: 0.775 (ν = 0.049) and 0.595
    (ν = 0.1) at 1 h with t₀ = 20 s.

    Off by default (ν̄ = σ_ν = 0, constant law): :attr:`is_ideal`, nothing is drawn
    and the factor is exactly 1.
    """

    nu_law: Literal["constant", "aihwkit_pcm"] = param("constant", units="")
    """Conductance dependence of ν: ``"constant"`` (``nu_mean``, ``nu_std``) or
    ``"aihwkit_pcm"`` (ν̄(ĝ), σ_ν(ĝ) of aihwkit's PCM model, docs/hardware_sources.md §4a)."""

    nu_mean: float = param(0.0, ge=0, units="1")
    """Mean drift exponent ν̄ with the constant law (≥ 0; 0 = off; PCM ≈ 0.1 "commonly",
    0.049–0.1 in aihwkit's PCM fit, docs/hardware_sources.md §B). 0 with ``aihwkit_pcm``."""

    nu_std: float = param(0.0, ge=0, units="1")
    """Device-to-device (per write) std σ_ν of ν with the constant law (≥ 0; aihwkit PCM
    0.008–0.045, generic model 0.05, docs/hardware_sources.md §4a, §4e). 0 with
    ``aihwkit_pcm``."""

    t0: float = param(20.0, gt=0, units="s")
    """Reference time t₀ after a write, in seconds (> 0): the first read, at which
    G = G_prog; the factor is 1 before it (aihwkit PCM 20 s, HERMES 300 s,
    docs/hardware_sources.md §4a–4b)."""

    nu_floor: Literal["clip", "fold"] = param("clip", units="")
    """How ν is kept ≥ 0: ``"clip"``, max(ν, 0); ``"fold"``, |ν| (aihwkit's choice)."""

    g_max: float = param(1.0, gt=0, units="weight")
    """The conductance G_max (> 0), in the units of the conductances written, for
    ĝ = |G|/G_max in the ``aihwkit_pcm`` law (aihwkit: 25 µS)."""

    @model_validator(mode="after")
    def _law_sets_moments(self) -> PowerLawDrift:
        if self.nu_law == "aihwkit_pcm":
            for name in ("nu_mean", "nu_std"):
                if getattr(self, name) != 0:
                    raise FieldError(
                        name,
                        f'{name} = {getattr(self, name)!r} with nu_law = "aihwkit_pcm", which '
                        f"sets ν's moments from ĝ; allowed: 0 (unset) with that law",
                    )
        return self

    @property
    def is_ideal(self) -> bool:
        """True when there is no drift (constant law with ν̄ = σ_ν = 0): factor ≡ 1."""
        return self.nu_law == "constant" and self.nu_mean == 0 and self.nu_std == 0

    @property
    def draws(self) -> bool:
        """True when :meth:`realize_nu` draws random numbers (ν is not deterministic)."""
        return self.nu_law == "aihwkit_pcm" or self.nu_std > 0

    def nu_moments(self, g_norm: Tensor) -> tuple[Tensor, Tensor]:
        """(ν̄(ĝ), σ_ν(ĝ)) per device, float64 on the CPU, before the ≥ 0 floor.

        Parameters
        ----------
        g_norm
            ĝ = G/G_max at programming (the sign is ignored: ĝ → |ĝ|).
        """
        g = _cpu64(g_norm)
        if self.nu_law == "constant":
            return torch.full_like(g, self.nu_mean), torch.full_like(g, self.nu_std)
        log_g = g.abs().clamp(min=AIHWKIT_PCM_G_CLIP).log()
        mean = (-0.0155 * log_g + 0.0244).clamp(min=0.049, max=0.1)
        std = (-0.0125 * log_g - 0.0059).clamp(min=0.008, max=0.045)
        return mean, std

    def realize_nu(self, g_norm: Tensor, generator: torch.Generator) -> Tensor:
        """Draw ν ≥ 0 per device for devices programmed to ĝ = ``g_norm``.

        Parameters
        ----------
        g_norm
            ĝ = G/G_max at programming, any shape.
        generator
            CPU generator; one N(0, 1) per device is drawn from it in float64, unless
            ν is deterministic (:attr:`draws` false: nothing is drawn).

        Returns
        -------
        Tensor
            ν, float64, shape and device of ``g_norm``.
        """
        device = g_norm.device
        if self.is_ideal:
            return torch.zeros(g_norm.shape, dtype=_F64, device=device)
        mean, std = self.nu_moments(g_norm)
        if not self.draws:
            nu = mean
        else:
            xi = torch.randn(mean.shape, dtype=_F64, generator=generator)
            nu = mean + std * xi
        nu = nu.abs() if self.nu_floor == "fold" else nu.clamp(min=0.0)
        return nu.to(device)

    def factor(self, elapsed: Tensor | float, nu: Tensor) -> Tensor:
        r"""The drift factor G(t)/G(t_w) = max((t − t_w)/t₀, 1)^{−ν}.

        Parameters
        ----------
        elapsed
            t − t_w per device in seconds (≥ 0), broadcastable with ``nu``.
        nu
            Drift exponents ν ≥ 0 (:meth:`realize_nu`).

        Returns
        -------
        Tensor
            float64 on ``nu``'s device; exactly 1 where t − t_w ≤ t₀ (1^{−ν} = 1 in IEEE
            arithmetic) and everywhere when :attr:`is_ideal`.
        """
        elapsed = torch.as_tensor(elapsed, dtype=_F64, device=nu.device)
        if self.is_ideal:
            return torch.ones(
                torch.broadcast_shapes(elapsed.shape, nu.shape), dtype=_F64, device=nu.device
            )
        ratio = (elapsed / self.t0).clamp(min=1.0)
        return ratio.pow(-nu.to(_F64))


class ExponentialRelaxation(Schema):
    r"""Post-write relaxation toward a shifted level with one time constant τ.

    .. math::

        G(t) = G_{prog} + Δ\,\big(1 - e^{-(t - t_w)/τ}\big),\qquad
        Δ = (μ_Δ + σ_Δ ξ)\cdot s,\quad ξ \sim N(0, 1),

    with s = 1 (``scale = "absolute"``: Δ in conductance units) or s = G_prog
    (``"relative"``: Δ a fraction of the programmed value). Δ is redrawn at every
    write of a device; G(t_w) = G_prog and G → G_prog + Δ for t − t_w ≫ τ.

    Conventions and sources
    -----------------------
    * **Absolute by default**, the form the source gives: for analog CMO/HfOx ReRAM
      the relaxation is independent of the target conductance (aihwkit
      ``ReRamCMONoiseModel``: mean g_prog − 0.089·ln t µS, std 0.042·ln t + 0.412 µS,
      docs/hardware_sources.md §4d), "significant conductance relaxation …
      immediately after programming (within few seconds)", slower afterwards, and a
      mean error of −0.68 µS after 1 h over 10–90 µS (docs/hardware_sources.md §B).
    * **One exponential, not a logarithm.** The source's mean keeps growing as ln t
      (−0.73 µS at 1 h, −1.01 µS at 1 day from its formula); one exponential
      saturates at Δ. Choose τ ≈ a few seconds (the "within few seconds" phase) and Δ
      the shift at the time scale of interest, e.g. μ_Δ ≈ −0.68 µS (1 h). For the
      spread, the source's std grows from 0.41 µS (1 s) to 0.76 µS (1 h); if the
      programming error is the 1 s part, the relaxation adds
      sqrt(0.76² − 0.41²) ≈ 0.64 µS at 1 h (derived here, assuming independence).

    Off by default (μ_Δ = σ_Δ = 0): :attr:`is_ideal`, nothing is drawn and G = G_prog.
    """

    tau: float = param(1.0, gt=0, units="s")
    """Relaxation time constant τ in seconds (> 0; CMO ReRAM relaxes "within few
    seconds" of programming, docs/hardware_sources.md §B)."""

    mean_shift: float = param(0.0, units="weight")
    """Mean final shift μ_Δ (any sign): conductance units with ``scale = "absolute"``
    (CMO ReRAM ≈ −0.68 µS after 1 h, docs/hardware_sources.md §B), a fraction of G_prog
    with ``"relative"``. 0 with ``shift_std = 0`` = off."""

    shift_std: float = param(0.0, ge=0, units="weight")
    """Device-to-device (per write) std σ_Δ of the shift (≥ 0), in the units of
    ``mean_shift``."""

    scale: Literal["absolute", "relative"] = param("absolute", units="")
    """What the shift is: ``"absolute"``, Δ = μ_Δ + σ_Δ ξ in conductance units
    (level-independent, as measured on CMO ReRAM); ``"relative"``, Δ = G_prog·(μ_Δ + σ_Δ ξ)."""

    @property
    def is_ideal(self) -> bool:
        """True when there is no relaxation (μ_Δ = σ_Δ = 0): G = G_prog."""
        return self.mean_shift == 0 and self.shift_std == 0

    @property
    def draws(self) -> bool:
        """True when :meth:`realize_shift` draws random numbers (σ_Δ > 0)."""
        return self.shift_std > 0

    def realize_shift(self, g_prog: Tensor, generator: torch.Generator) -> Tensor:
        """Draw the final shift Δ per device for devices programmed to ``g_prog``.

        Parameters
        ----------
        g_prog
            Programmed conductances G_prog, any shape.
        generator
            CPU generator; one N(0, 1) per device is drawn from it in float64 when
            σ_Δ > 0, nothing otherwise.

        Returns
        -------
        Tensor
            Δ, float64, shape and device of ``g_prog``.
        """
        device = g_prog.device
        if self.is_ideal:
            return torch.zeros(g_prog.shape, dtype=_F64, device=device)
        g = _cpu64(g_prog)
        if self.draws:
            xi = torch.randn(g.shape, dtype=_F64, generator=generator)
            shift = self.mean_shift + self.shift_std * xi
        else:
            shift = torch.full_like(g, self.mean_shift)
        if self.scale == "relative":
            shift = shift * g
        return shift.to(device)

    def value(self, g_prog: Tensor, shift: Tensor, elapsed: Tensor | float) -> Tensor:
        r"""G_prog + Δ·(1 − e^{−(t − t_w)/τ}) per device (float64).

        Parameters
        ----------
        g_prog
            Programmed conductances G_prog.
        shift
            Final shifts Δ (:meth:`realize_shift`), broadcastable with ``g_prog``.
        elapsed
            t − t_w per device in seconds (≥ 0). 1 − e^{−x} is computed as −expm1(−x).

        Returns
        -------
        Tensor
            float64; G_prog itself (a copy, bit for bit) when :attr:`is_ideal`.
        """
        g = g_prog.to(_F64)
        if self.is_ideal:
            return g.clone()
        return g + self.offset(shift, elapsed)

    def offset(self, shift: Tensor, elapsed: Tensor | float) -> Tensor:
        r"""The relaxed part Δ·(1 − e^{−(t − t_w)/τ}) per device (float64, ``shift``'s device)."""
        elapsed = torch.as_tensor(elapsed, dtype=_F64, device=shift.device)
        return shift.to(_F64) * torch.expm1(-elapsed / self.tau).neg()


@dataclass
class DriftState:
    """The streamed per-device state of drift and relaxation over one array.

    Everything is float64 on the array's device. The models are configuration, not
    state: a resumed run builds a state from the same config and loads
    :meth:`state_dict` into it.

    Attributes
    ----------
    drift, relaxation
        The models (either may be ideal).
    t_w
        Time of each device's last write, seconds.
    g_prog
        Conductance programmed at that write, G_prog (= G(t_w), the value read at t₀).
    nu
        Drift exponent drawn at that write (0 where drift is off).
    shift
        Relaxation shift Δ drawn at that write (0 where relaxation is off).
    """

    drift: PowerLawDrift
    relaxation: ExponentialRelaxation
    t_w: Tensor
    g_prog: Tensor
    nu: Tensor
    shift: Tensor
    t_last: float = field(default=-math.inf)
    """Latest write time over all devices (derived from ``t_w``; guards the clock)."""

    _KEYS = ("t_w", "g_prog", "nu", "shift")

    @classmethod
    def new(
        cls,
        g: Tensor,
        t_now: float,
        generator: torch.Generator,
        *,
        drift: PowerLawDrift | None = None,
        relaxation: ExponentialRelaxation | None = None,
    ) -> DriftState:
        """A state in which every device was just written to ``g`` at time ``t_now``.

        ``drift``/``relaxation`` default to the ideal models. Draws as :func:`on_write`
        with every device written.
        """
        z = torch.zeros(g.shape, dtype=_F64, device=g.device)
        state = cls(
            drift=PowerLawDrift() if drift is None else drift,
            relaxation=ExponentialRelaxation() if relaxation is None else relaxation,
            t_w=z.clone(),
            g_prog=z.clone(),
            nu=z.clone(),
            shift=z,
        )
        on_write(state, None, g, t_now, generator)
        return state

    @classmethod
    def from_state_dict(
        cls, state: dict[str, Tensor], drift: PowerLawDrift, relaxation: ExponentialRelaxation
    ) -> DriftState:
        """The state saved by :meth:`state_dict`, for the models of the same config."""
        z = torch.zeros(tuple(state["t_w"].shape), dtype=_F64, device=state["t_w"].device)
        out = cls(drift, relaxation, z, z.clone(), z.clone(), z.clone())
        out.load_state_dict(state)
        return out

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.t_w.shape)

    def state_dict(self) -> dict[str, Tensor]:
        """Copies of the per-device tensors ``t_w``, ``g_prog``, ``nu``, ``shift``."""
        return {k: getattr(self, k).clone() for k in self._KEYS}

    def load_state_dict(self, state: dict[str, Tensor]) -> None:
        """Restore from :meth:`state_dict` (copies; onto this state's device, float64)."""
        missing = set(self._KEYS) - set(state)
        if missing:
            raise KeyError(f"DriftState.load_state_dict: missing {sorted(missing)}")
        shape = tuple(state["t_w"].shape)
        for k in self._KEYS:
            if tuple(state[k].shape) != shape:
                raise ValueError(
                    f"DriftState.load_state_dict: {k} has shape {tuple(state[k].shape)}, "
                    f"t_w has {shape}"
                )
        device = self.t_w.device
        for k in self._KEYS:
            setattr(self, k, state[k].to(device=device, dtype=_F64, copy=True))
        self.t_last = float(self.t_w.max()) if self.t_w.numel() else -math.inf


def on_write(
    state: DriftState,
    mask: Tensor | None,
    g_new: Tensor,
    t_now: float,
    generator: torch.Generator,
) -> None:
    """Record a write at time ``t_now``: reset and redraw the written devices, in place.

    For each device with ``mask`` true: t_w ← t_now, G_prog ← ``g_new``, ν ← a new draw
    from ĝ = |g_new|/G_max (:meth:`PowerLawDrift.realize_nu`), Δ ← a new draw
    (:meth:`ExponentialRelaxation.realize_shift`). Other devices are left untouched.

    Parameters
    ----------
    state
        The array's drift state.
    mask
        bool, shape ``state.shape``: the devices written; ``None``: all of them.
    g_new
        The newly programmed conductances, shape ``state.shape`` (only the masked
        entries are used).
    t_now
        Time of the write in seconds (not before the previous write).
    generator
        CPU generator. When some effect draws, two seeds are taken from it and ν and
        Δ are drawn (float64, CPU) from sub-streams seeded by them, one number per
        written device in row-major order; otherwise it is not used.
    """
    t_now = float(t_now)
    if t_now < state.t_last:
        raise ValueError(f"writes must not go back in time: t = {t_now} < {state.t_last}")
    if tuple(g_new.shape) != state.shape:
        raise ValueError(f"on_write: g_new has shape {tuple(g_new.shape)}, state {state.shape}")
    if mask is not None:
        if mask.dtype != torch.bool or tuple(mask.shape) != state.shape:
            raise ValueError(
                f"on_write: mask must be a bool tensor of shape {state.shape}, got "
                f"{mask.dtype} {tuple(mask.shape)}"
            )
        mask = mask.to(state.t_w.device)
    g_new = g_new.detach().to(device=state.t_w.device, dtype=_F64)
    g_sel = g_new if mask is None else g_new[mask]

    drift, relax = state.drift, state.relaxation
    if drift.draws or relax.draws:
        seeds = torch.randint(0, 2**62, (2,), generator=generator).tolist()
        gen_nu = torch.Generator().manual_seed(seeds[0])
        gen_shift = torch.Generator().manual_seed(seeds[1])
    else:
        gen_nu = gen_shift = generator  # not drawn from
    nu = drift.realize_nu(g_sel / drift.g_max, gen_nu)
    shift = relax.realize_shift(g_sel, gen_shift)

    if mask is None:
        state.t_w.fill_(t_now)
        state.g_prog.copy_(g_sel)
        state.nu.copy_(nu)
        state.shift.copy_(shift)
    else:
        state.t_w[mask] = t_now
        state.g_prog[mask] = g_sel
        state.nu[mask] = nu
        state.shift[mask] = shift
    state.t_last = t_now


def conductance(state: DriftState, t_now: float) -> Tensor:
    r"""Every device's conductance at time ``t_now`` ≥ the last write (float64, a new tensor).

    .. math::

        G(t) = \big[G_{prog} + Δ\,(1 - e^{-(t - t_w)/τ})\big]\,
               \max\big(\tfrac{t - t_w}{t_0}, 1\big)^{-ν} ,

    drift multiplying the relaxed level. With both models ideal this is G_prog bit
    for bit.
    """
    t_now = float(t_now)
    if t_now < state.t_last:
        raise ValueError(f"reads must not go back in time: t = {t_now} < last write {state.t_last}")
    elapsed = t_now - state.t_w
    g = state.relaxation.value(state.g_prog, state.shift, elapsed)
    if not state.drift.is_ideal:
        g = g * state.drift.factor(elapsed, state.nu)
    return g


class Drift(Schema):
    r"""Drift and post-write relaxation of every synaptic device (the ``[drift]`` section).

    Keys without a prefix are :class:`PowerLawDrift`'s, ``relax_*`` are
    :class:`ExponentialRelaxation`'s, each defined there once; ĝ = G/G_max with G_max
    the ``[array]`` section's ``g_max``. Both off by default.

    On the substrate every device is written at the first read of its array and at
    every write that changes it (:meth:`AnalogHardware.write`); its conductance then
    follows :func:`conductance` on the clock. The factor is evaluated at the start of
    each phase and held through it: within a phase of duration T the held value is off
    by at most |ΔG/G| ≤ ν·T/t₀ (drift: d ln G/d ln t = −ν with t − t_w ≥ t₀ where it
    acts) plus |Δ|·T/τ (relaxation), e.g. 1e-8 for ν = 0.1, T = 2 µs, t₀ = 20 s.
    """

    nu_law: Literal["constant", "aihwkit_pcm"] = borrow(PowerLawDrift, "nu_law", note="Drift:")
    nu_mean: float = borrow(PowerLawDrift, "nu_mean", note="Drift:")
    nu_std: float = borrow(PowerLawDrift, "nu_std", note="Drift:")
    t0: float = borrow(PowerLawDrift, "t0", note="Drift:")
    nu_floor: Literal["clip", "fold"] = borrow(PowerLawDrift, "nu_floor", note="Drift:")

    relax_tau: float = borrow(ExponentialRelaxation, "tau", note="Relaxation:")
    relax_mean_shift: float = borrow(ExponentialRelaxation, "mean_shift", note="Relaxation:")
    relax_shift_std: float = borrow(ExponentialRelaxation, "shift_std", note="Relaxation:")
    relax_scale: Literal["absolute", "relative"] = borrow(
        ExponentialRelaxation, "scale", note="Relaxation:"
    )

    @model_validator(mode="after")
    def _models_valid(self) -> Drift:
        """The two models check their own rules; blame the key here."""
        self.models()
        return self

    def models(self, g_max: float = 1.0) -> tuple[PowerLawDrift, ExponentialRelaxation]:
        """The two models of these keys, with ĝ = G/``g_max``."""
        drift = build_prefixed(PowerLawDrift, self, "")
        if g_max != drift.g_max:
            drift = drift.model_copy(update={"g_max": float(g_max)})
        return drift, build_prefixed(ExponentialRelaxation, self, "relax_")

    @property
    def is_ideal(self) -> bool:
        """True when neither drift nor relaxation acts."""
        drift, relax = self.models()
        return drift.is_ideal and relax.is_ideal

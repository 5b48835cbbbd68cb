r"""Relaxation dynamics: integrators and :func:`relax` with convergence diagnostics.

Both integrators advance the state along the (optionally nudged) vector field

.. math::

    F(u) = Φ(θ, x, ρ(u)) + β\, g(ρ(u)) - u ,

with g non-zero on the output layer only:

    fixed point (discrete)  u_{t+1} = u_t + F(u_t) = Φ(ρ(u_t)) + β g
    leaky Euler             u_{t+1} = u_t + (dt/τ) F(u_t)     (τ du/dt = F)

``β`` is a tensor of K probes (real or complex): the states gain a leading
probe axis, ``(K, B, *shape)``, and all probes relax in one batched call.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import ClassVar

import torch
from pydantic import model_validator
from torch import Tensor

from ..registry import Registry
from ..schema import FieldError, Schema, param
from .network import BoundNetwork, LayeredNetwork

__all__ = [
    "AbstractIntegrator",
    "FixedPoint",
    "INTEGRATORS",
    "LeakyEuler",
    "get_integrator",
    "register_integrator",
    "RelaxResult",
    "NonFiniteStateError",
    "AbstractProgress",
    "NoProgress",
    "Nudge",
    "relax",
    "vector_field",
    "state_norm",
]

Nudge = Callable[[Tensor], Tensor]
"""g(s_L): the output-layer nudge direction, ∂ℓ/∂s_L (holomorphic in s_L)."""


class NonFiniteStateError(FloatingPointError):
    """A relaxation produced NaN or inf."""


class AbstractIntegrator(Schema):
    """One explicit step u ← u + η F(u) of the relaxation dynamics.

    An integrator is a :class:`~neurosim.schema.Schema` registered in
    :data:`INTEGRATORS` under its ``name``; its fields are keys of the config's
    ``[dynamics]`` section (``dt``, ``tau``).
    """

    name: ClassVar[str]

    @property
    @abstractmethod
    def rate(self) -> float:
        """η, the fraction of F applied per step."""

    def step(self, u: Sequence[Tensor], f: Sequence[Tensor]) -> list[Tensor]:
        eta = self.rate
        return [ui + eta * fi for ui, fi in zip(u, f, strict=True)]


INTEGRATORS: Registry[type[AbstractIntegrator]] = Registry("integrator")
"""Integrators by name: the values ``[dynamics] integrator`` accepts."""


def register_integrator(cls: type[AbstractIntegrator]) -> type[AbstractIntegrator]:
    """Add an integrator class under its ``name`` (usable as a class decorator)."""
    return INTEGRATORS.register(cls)


def get_integrator(name: str, **params: float) -> AbstractIntegrator:
    """The integrator ``name`` built from those of ``params`` it has as fields.

    ``get_integrator("leaky_euler", dt=0.5, tau=1.0)``; keys the integrator does not
    have are ignored (the fixed-point iteration has no step size), so a config's
    ``[dynamics]`` keys can be passed whichever integrator it names.
    """
    cls = INTEGRATORS.get(name)
    return cls(**{k: v for k, v in params.items() if k in cls.model_fields})


@register_integrator
class FixedPoint(AbstractIntegrator):
    """Synchronous fixed-point iteration u ← Φ(ρ(u)) + β g (Laborieux & Zenke's dynamics)."""

    name: ClassVar[str] = "fixed_point"

    @property
    def rate(self) -> float:
        return 1.0


@register_integrator
class LeakyEuler(AbstractIntegrator):
    """Forward Euler for τ du/dt = −u + Φ(ρ(u)) + β g, step ``dt``, time constant ``tau``."""

    name: ClassVar[str] = "leaky_euler"

    dt: float = param(1.0, gt=0, units="time")
    """Euler time step dt in the substrate's time units (> 0; ≤ τ for ``leaky_euler``)."""

    tau: float = param(1.0, gt=0, units="time")
    """Neuron time constant τ, in the same time units as dt (> 0)."""

    @model_validator(mode="after")
    def _stable_step(self) -> LeakyEuler:
        if self.dt > self.tau:
            raise FieldError(
                "dt",
                f'dt = {self.dt!r} > tau = {self.tau!r} with integrator "leaky_euler" '
                "(unstable explicit Euler); allowed: 0 < dt <= tau",
            )
        return self

    @property
    def rate(self) -> float:
        return self.dt / self.tau


class AbstractProgress(ABC):
    """Receives progress reports from long relaxations."""

    @abstractmethod
    def update(self, step: int, max_residual: float) -> None: ...


class NoProgress(AbstractProgress):
    def update(self, step: int, max_residual: float) -> None:
        return None


@dataclass
class RelaxResult:
    """Outcome of a relaxation.

    Attributes
    ----------
    u : list of Tensor
        Final pre-activation states, each ``(*lead, *shape_l)``.
    s : list of Tensor
        Activated states ρ(u).
    steps : int
        Steps taken (early stop once every sample's residual ≤ ``tol``).
    residual : Tensor
        ``(*lead,)`` — ‖F(u)‖₂ at the returned state, over all units of a sample.
    converged : Tensor
        ``(*lead,)`` bool — ``residual <= tol``.
    tol : float
    window : list of Tensor or None
        The activated states averaged over the ADC's integration window, the last W
        steps of the relaxation (``[timing] readout_window``); None without a window.
    """

    u: list[Tensor]
    s: list[Tensor]
    steps: int
    residual: Tensor
    converged: Tensor
    tol: float
    window: list[Tensor] | None = None

    @property
    def readout(self) -> list[Tensor]:
        """What the readout ADC integrates: the window average, else the final states."""
        return self.s if self.window is None else self.window

    @property
    def all_converged(self) -> bool:
        return bool(self.converged.all())

    def detach(self) -> RelaxResult:
        return RelaxResult(
            [t.detach() for t in self.u],
            [t.detach() for t in self.s],
            self.steps,
            self.residual,
            self.converged,
            self.tol,
            None if self.window is None else [t.detach() for t in self.window],
        )


def vector_field(
    network: LayeredNetwork,
    bound: BoundNetwork,
    h: Sequence[Tensor | None],
    u: Sequence[Tensor],
    beta: Tensor | None = None,
    nudge: Nudge | None = None,
) -> tuple[list[Tensor], list[Tensor]]:
    """(F(u), s) with F = Φ(ρ(u)) + β g(ρ(u)) − u; ``beta`` already shaped to broadcast."""
    s = network.activate(u)
    phi = bound.drive(s, h)
    if beta is not None:
        phi[-1] = phi[-1] + beta * nudge(s[-1])
    return [p - t for p, t in zip(phi, u, strict=True)], s


def state_norm(f: Sequence[Tensor], n_lead: int, packed: bool = False) -> Tensor:
    """‖f‖₂ per sample over all layers, shape ``(*lead,)`` (detached).

    ``packed``: tensors are ``(2, *lead, ...)`` = (Re, Im) and the norm sums |Re|² + |Im|².
    """
    if packed:
        sq = sum(
            v.detach().square().sum(0).reshape(*v.shape[1 : 1 + n_lead], -1).sum(-1) for v in f
        )
    else:
        sq = sum(v.detach().abs().square().reshape(*v.shape[:n_lead], -1).sum(-1) for v in f)
    return sq.sqrt()


def _pack(t: Tensor, n_lead: int, feature_ndim: int) -> Tensor:
    """Real or complex ``(*lead', *shape)`` → packed real ``(2, 1…, *lead', *shape)``.

    Probe axes missing from ``t`` (up to ``n_lead`` lead axes) are inserted as size 1.
    """
    re, im = (t.real, t.imag) if t.is_complex() else (t, torch.zeros_like(t))
    p = torch.stack((re, im))
    missing = n_lead - (t.ndim - feature_ndim)
    return p.reshape(2, *([1] * missing), *t.shape)


def relax(
    network: LayeredNetwork,
    x: Tensor,
    *,
    steps: int,
    u0: Sequence[Tensor] | None = None,
    beta: Tensor | None = None,
    nudge: Nudge | None = None,
    integrator: AbstractIntegrator | None = None,
    tol: float = 0.0,
    check_every: int = 10,
    progress: AbstractProgress | None = None,
    bound: BoundNetwork | None = None,
    drive_offset: Sequence[Tensor] | None = None,
) -> RelaxResult:
    r"""Relax the network from ``u0`` for at most ``steps`` steps.

    Parameters
    ----------
    network, x
        The substrate and its clamped input ``(B, *shape_0)``.
    steps
        Step budget (T1 for a free phase, T2 for a nudged one).
    u0
        Initial states, ``(B, *shape_l)`` or already ``(K, B, *shape_l)``; zeros if omitted.
    beta
        ``(K,)`` nudge strengths, real or complex; adds the probe axis K. ``None``: free phase.
        Complex probes relax complex states at the network's precision (complex64
        for float32).
    nudge
        g(s_L) = ∂ℓ/∂s_L, required with ``beta``.
    tol
        Early stop once every sample has ‖F(u)‖₂ ≤ tol (checked every
        ``check_every`` steps; each check is one host sync). ``tol = 0`` stops
        only at an exact fixed point (residual 0.0, reachable in floating point);
        ``tol < 0`` always runs the full budget.
    drive_offset
        Real tensors added to each layer's drive at every step (per-sample
        biases); BPTT differentiates through them to read δ per sample.

    Returns
    -------
    RelaxResult
        States plus diagnostics; ``converged`` flags samples with residual ≤ tol.

    Raises
    ------
    NonFiniteStateError
        If a state becomes NaN or inf (checked every ``check_every`` steps).

    Notes
    -----
    Complex states on a network whose maps are all real-linear in the state
    (:attr:`AbstractConnection.packable`: dense, conv, average pooling) are
    relaxed *packed*: stored as real ``(2, *lead, *shape)`` = (Re, Im), so
    every map is one real GEMM over twice the rows and the activation works on
    the two parts directly (:meth:`AbstractActivation.packed`). Same math,
    no complex GEMMs and no per-map conversions.
    """
    integrator = FixedPoint() if integrator is None else integrator
    progress = NoProgress() if progress is None else progress
    bound = network.bind() if bound is None else bound
    lead = network.lead_shape(x)
    dtype = network.dtype
    if beta is not None:
        if nudge is None:
            raise ValueError("relax: a nudge function g(s_L) is required with beta")
        beta = torch.as_tensor(beta, device=x.device)
        if beta.ndim != 1:
            raise ValueError(
                f"relax: beta must be a 1-d tensor of probes, got shape {tuple(beta.shape)}"
            )
        if beta.is_complex():  # complex states at the network's own precision
            dtype = torch.promote_types(dtype, torch.complex64)
        lead = (beta.shape[0], *lead)
        beta = beta.to(dtype).reshape(-1, *([1] * (len(lead) - 1 + len(network.shapes[-1]))))
    if u0 is None:
        u = network.zero_state(lead, dtype)
    else:
        u = [
            t.to(dtype).expand(*lead, *shape).clone()
            for t, shape in zip(u0, network.shapes, strict=True)
        ]
    n_lead = len(lead)
    packed = dtype.is_complex and all(c.packable for c in network.connections)
    act = network.activate_packed if packed else network.activate
    hw = network.hardware
    if packed:
        u = [_pack(v, n_lead, len(sh)) for v, sh in zip(u, network.shapes, strict=True)]
        if beta is not None:
            b_re, b_im = beta.real, beta.imag

    def static(bound: BoundNetwork) -> list[Tensor | None]:
        """W_1 DAC(x) + b_1, b_l (+ drive_offset), packed when the states are."""
        h = bound.static_drive(x)
        if drive_offset is not None:
            h = [o if v is None else v + o for v, o in zip(h, drive_offset, strict=True)]
        if packed:
            h = [
                None if v is None else _pack(v, n_lead, len(sh))
                for v, sh in zip(h, network.shapes, strict=True)
            ]
        return h

    h = static(bound)

    def drive(u: list[Tensor]) -> tuple[list[Tensor], list[Tensor]]:
        """(Φ(ρ(u)) + βg, ρ(u))."""
        s = act(u)
        if hw.per_step_read:  # a new read of every array, the input array's included
            b = network.bind()
            phi = b.drive(s, static(b))
        else:
            phi = bound.drive(s, h)
        if beta is not None:
            if packed:
                g = nudge(torch.complex(s[-1][0], s[-1][1]))
                g_re, g_im = g.real, g.imag
                phi[-1] = phi[-1] + torch.stack(
                    (b_re * g_re - b_im * g_im, b_re * g_im + b_im * g_re)
                )
            else:
                phi[-1] = phi[-1] + beta * nudge(s[-1])
        return phi, s

    n_window = hw.readout_steps(integrator.rate)
    recent: deque[list[Tensor]] = deque(maxlen=max(n_window, 1))

    def finish(u: list[Tensor], s: list[Tensor], n_steps: int, res: Tensor) -> RelaxResult:
        window = None
        if n_window:  # the ADC integrates ρ(u) over the last W steps (fewer if stopped early)
            window = [sum(layer) / len(recent) for layer in zip(*recent, strict=True)]
        if packed:
            u = [torch.complex(v[0], v[1]) for v in u]
            s = [torch.complex(v[0], v[1]) for v in s]
            if window is not None:
                window = [torch.complex(v[0], v[1]) for v in window]
        return RelaxResult(u, s, n_steps, res, res <= tol, tol, window)

    eta = integrator.rate

    def add_noise(u: list[Tensor]) -> list[Tensor]:
        """Thermal state noise (Euler–Maruyama increment), on the real part of each state."""
        noise = hw.state_noise([v[0] if packed else v.real for v in u], eta)
        if noise is None:
            return u
        if packed:
            return [torch.stack((v[0] + n, v[1])) for v, n in zip(u, noise, strict=True)]
        return [v + n for v, n in zip(u, noise, strict=True)]

    for t in range(steps):
        if t:  # step t reads the arrays at t0 + t·η·τ_s on the substrate's clock
            hw.elapse(eta)
        phi, s = drive(u)
        if n_window:
            recent.append(s)
        if eta == 1.0 and (t + 1) % check_every:  # u ← Φ + βg without forming F
            u = add_noise(phi)
            continue
        f = [p - v for p, v in zip(phi, u, strict=True)]
        if (t + 1) % check_every == 0:
            res = state_norm(f, n_lead, packed)
            rmax = float(res.max())
            if not torch.isfinite(res).all():
                raise NonFiniteStateError(
                    f"relaxation diverged: non-finite state at step {t} (max |F| = {rmax})"
                )
            progress.update(t, rmax)
            if rmax <= tol:
                return finish(u, s, t, res)
        u = add_noise(integrator.step(u, f))
    if steps:
        hw.elapse(eta)
    phi, s = drive(u)
    if n_window:
        recent.append(s)
    res = state_norm([p - v for p, v in zip(phi, u, strict=True)], n_lead, packed)
    if not torch.isfinite(res).all():
        raise NonFiniteStateError(f"relaxation diverged: non-finite state after {steps} steps")
    return finish(u, s, steps, res)

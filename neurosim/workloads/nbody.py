r"""Charged-particle n-body systems (Kipf et al., NRI 2018; Satorras et al., EGNN 2021).

``n`` particles of unit mass with charges :math:`q_i = \pm1` (probability ½ each) move in
3-D under Coulomb-like pair forces and an optional constant external field :math:`E`,

.. math::  m\ddot x_i = F_i = \sum_{j\ne i} c\,q_i q_j \frac{x_i - x_j}{|x_i - x_j|^3}
           \;+\; q_i E ,

(like charges repel; :math:`c` = ``interaction_strength`` = 1). Initial positions
:math:`x_i \sim \mathcal N(0, \sigma^2 I)`, :math:`\sigma` = ``loc_std`` = 1; initial
velocities of norm ``vel_norm`` = 0.5 in uniformly random directions (EGNN's settings,
as in its ``n_body_system/dataset/synthetic_sim.py``, which follows NRI's
``data/synthetic_sim.py`` ``ChargedParticlesSim`` with ``dim = 3`` and the walls off).

Integration (NRI's "leapfrog", a kick–drift symplectic Euler step), step ``dt`` = 0.001:

.. math::  v_{k+1} = v_k + \Delta t\,F(x_k),\qquad x_{k+1} = x_k + \Delta t\,v_{k+1},

and frame ``f`` of the output holds :math:`(x_k, v_k)` at step :math:`k = f\cdot`
``sample_every`` (frame 0 = the initial state; :math:`v_k` is the velocity that moved
:math:`x_{k-1}` to :math:`x_k`, the quantity NRI/EGNN store).

Departures from the reference code, both so that the simulator is *exactly* E(3)-,
permutation- and momentum-conserving (tests check all three):

* NRI clips each Cartesian component of the *total* force to ``±0.1/dt`` = ±100, which
  depends on the axes; here the magnitude of each *pair* force is capped,
  :math:`|f_{ij}| \le` ``max_force`` = 100, i.e. the Coulomb force is continued by a
  constant-magnitude force inside :math:`r_c = \sqrt{c/\mathrm{max\_force}} = 0.1`
  (potential :math:`c q_i q_j (2/r_c - r/r_c^2)` there). Central and antisymmetric, it
  conserves momentum and the energy of that potential.
* Reflecting walls (NRI's ``_clamp`` at ``box_size`` = 5) are off by default (``box=None``),
  as EGNN comments them out; EGNN still applies the clamp once to the initial state,
  which moves the rare initial positions beyond ±5 (5σ), and that is not done here.

Dataset (:func:`nbody`): EGNN's ``nbody_small`` task. EGNN stores frames every 100 steps
but overwrites the initial one, so its frame ``f`` is step :math:`100(f+1)`; it maps frame
30 (step 3100) to frame 40 (step 4100). Here the input is the state at step
``input_step`` = 3100 and the target the positions at ``target_step`` = 4100, 1000 steps
(1.0 time units) ahead, for 3000 / 2000 / 2000 train / valid / test systems drawn from
three independent child seeds of ``seed`` (so a split does not change with another's size).

References
----------
T. Kipf, E. Fetaya, K.-C. Wang, M. Welling, R. Zemel, "Neural Relational Inference for
Interacting Systems", ICML 2018. V. G. Satorras, E. Hoogeboom, M. Welling, "E(n)
Equivariant Graph Neural Networks", ICML 2021. O. Puny et al., "Frame Averaging for
Invariant and Equivariant Network Design", ICLR 2022 (FA-GNN on the same task).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field as dc_field

import numpy as np
import torch
from torch import Tensor

__all__ = ["simulate_charged", "charged_energy", "NBodySplit", "NBodyDataset", "nbody"]

SPLITS = ("train", "valid", "test")


def _pairs(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pair indices ``i < j`` and the incidence matrix ``(n, n_pairs)`` (+1 at i, -1 at j)."""
    i, j = np.triu_indices(n, 1)
    inc = np.zeros((n, i.size))
    inc[i, np.arange(i.size)] = 1.0
    inc[j, np.arange(i.size)] = -1.0
    return i, j, inc


def _forces(x, qq, inc, i, j, strength, max_force, qE):
    """Total force ``(3, n, S)`` on states ``x (3, n, S)`` (axes last: contiguous vector ops).

    Pair forces :math:`f_{ij} = c q_i q_j r_{ij}/|r_{ij}|^3` (on i; :math:`-f_{ij}` on j),
    magnitude capped at ``max_force``, summed with the incidence matrix; plus ``q E``.
    """
    r = x[:, i] - x[:, j]  # (3, P, S)
    d2 = r[0] * r[0] + r[1] * r[1] + r[2] * r[2]
    mag = strength * qq / (d2 * np.sqrt(d2))  # |f| / |r|
    if max_force is not None:  # |f| = c |qq| / d2 <= max_force
        mag *= np.minimum(1.0, max_force * d2 / (strength * np.abs(qq)))
    F = inc @ (mag * r)  # (n, P) @ (3, P, S) -> (3, n, S)
    return F if qE is None else F + qE


def _reflect(x: np.ndarray, v: np.ndarray, box: float) -> tuple[np.ndarray, np.ndarray]:
    """Elastic walls at ±box (NRI's ``_clamp``): mirror positions, point velocities inwards."""
    over, under = x > box, x < -box
    x = np.where(over, 2 * box - x, np.where(under, -2 * box - x, x))
    v = np.where(over, -np.abs(v), np.where(under, np.abs(v), v))
    return x, v


def simulate_charged(
    n_sims: int,
    *,
    n_particles: int = 5,
    n_steps: int,
    sample_every: int,
    dt: float = 0.001,
    box: float | None = None,
    field: np.ndarray | tuple[float, float, float] | None = None,
    seed: int | np.random.SeedSequence,
    loc_std: float = 1.0,
    vel_norm: float = 0.5,
    interaction_strength: float = 1.0,
    max_force: float | None = 100.0,
    initial: dict[str, np.ndarray] | None = None,
) -> dict[str, np.ndarray]:
    """Simulate ``n_sims`` charged systems at once (vectorized over systems, float64).

    Parameters
    ----------
    n_sims, n_particles : int
        Systems ``S`` and particles ``n`` per system.
    n_steps, sample_every : int
        Integration steps, and the stride of the recorded frames (``n_steps`` must be a
        multiple); ``T = n_steps // sample_every + 1`` frames including the initial state.
    dt : float
        Time step (NRI/EGNN: 0.001).
    box : float or None
        Half-width of reflecting walls :math:`[-b, b]^3` (NRI's ``_clamp``, also applied to
        the initial state, as NRI does); ``None``: no walls.
    field : array (3,) or None
        Constant external field :math:`E`, force :math:`q_i E`. Breaks O(3) down to the
        rotations (and reflections) that fix :math:`E`; translations stay symmetries.
    seed : int or SeedSequence
        Seed of the ``numpy.random.Generator`` that draws charges and initial states.
    loc_std, vel_norm, interaction_strength, max_force : float
        :math:`\\sigma`, initial speed, :math:`c`, the pair-force cap (``None``: no cap).
    initial : dict or None
        ``loc (S, n, 3)``, ``vel (S, n, 3)``, ``charges (S, n)`` to start from instead of
        random draws (used to test equivariance).

    Returns
    -------
    dict
        ``loc``, ``vel`` ``(S, T, n, 3)``; ``charges`` ``(S, n)``; ``time`` ``(T,)``.
    """
    if n_steps % sample_every:
        raise ValueError(f"n_steps={n_steps} is not a multiple of sample_every={sample_every}")
    rng = np.random.default_rng(seed)
    if initial is None:
        q = rng.choice(np.array([-1.0, 1.0]), size=(n_sims, n_particles))
        x = rng.standard_normal((n_sims, n_particles, 3)) * loc_std
        v = rng.standard_normal((n_sims, n_particles, 3))
        v *= vel_norm / np.linalg.norm(v, axis=-1, keepdims=True)
    else:
        x, v, q = (np.array(initial[k], dtype=np.float64) for k in ("loc", "vel", "charges"))
        n_sims, n_particles = q.shape
    i, j, inc = _pairs(n_particles)
    qq = np.ascontiguousarray((q[:, i] * q[:, j]).T)  # (P, S)
    qE = None if field is None else np.asarray(field, dtype=np.float64)[:, None, None] * q.T
    T = n_steps // sample_every + 1
    loc = np.empty((n_sims, T, n_particles, 3))
    vel = np.empty_like(loc)
    x, v = (np.ascontiguousarray(a.transpose(2, 1, 0)) for a in (x, v))  # (3, n, S)
    if box is not None:
        x, v = _reflect(x, v, box)
    loc[:, 0], vel[:, 0] = x.transpose(2, 1, 0), v.transpose(2, 1, 0)
    for k in range(1, n_steps + 1):
        v += dt * _forces(x, qq, inc, i, j, interaction_strength, max_force, qE)
        x += dt * v
        if box is not None:
            x, v = _reflect(x, v, box)
        if k % sample_every == 0:
            loc[:, k // sample_every] = x.transpose(2, 1, 0)
            vel[:, k // sample_every] = v.transpose(2, 1, 0)
    return {"loc": loc, "vel": vel, "charges": q, "time": dt * sample_every * np.arange(T)}


def charged_energy(
    loc: np.ndarray,
    vel: np.ndarray,
    charges: np.ndarray,
    *,
    interaction_strength: float = 1.0,
    max_force: float | None = 100.0,
    field: np.ndarray | None = None,
) -> np.ndarray:
    """Total energy ``(...)`` of states ``loc, vel (..., n, 3)``, ``charges (S, n)``.

    Kinetic :math:`\\frac12\\sum|v_i|^2` plus the pair potential of :func:`simulate_charged`
    (Coulomb :math:`c q_i q_j/r` outside :math:`r_c`, linear inside) plus
    :math:`-\\sum_i q_i E\\cdot x_i`; ``loc`` may carry a time axis after the system axis.
    """
    n = loc.shape[-2]
    i, j, _ = _pairs(n)
    q = charges.reshape(charges.shape[0], *([1] * (loc.ndim - 3)), n)
    cqq = interaction_strength * q[..., i] * q[..., j]
    r = np.linalg.norm(loc[..., i, :] - loc[..., j, :], axis=-1)
    U = cqq / r
    if max_force is not None:
        rc = np.sqrt(np.abs(cqq) / max_force)
        U = np.where(r < rc, cqq * (2 / rc - r / rc**2), U)
    E = 0.5 * (vel**2).sum((-1, -2)) + U.sum(-1)
    if field is not None:
        E = E - (q * (loc @ np.asarray(field, dtype=np.float64))).sum(-1)
    return E


@dataclass(frozen=True)
class NBodySplit:
    """One split: the state at the input step and the positions ``1000`` steps later."""

    loc: Tensor
    """``(N, n, 3)`` positions at ``input_step``."""
    vel: Tensor
    """``(N, n, 3)`` velocities at ``input_step``."""
    charges: Tensor
    """``(N, n, 1)`` charges ±1."""
    target: Tensor
    """``(N, n, 3)`` positions at ``target_step``."""

    def __len__(self) -> int:
        return self.loc.shape[0]

    @classmethod
    def from_simulation(
        cls, sim: dict[str, np.ndarray], input_frame: int, target_frame: int, dtype: torch.dtype
    ) -> NBodySplit:
        """Convert the float64 arrays of :func:`simulate_charged` to torch tensors."""

        def t(a: np.ndarray) -> Tensor:
            return torch.from_numpy(np.ascontiguousarray(a)).to(dtype)

        return cls(
            t(sim["loc"][:, input_frame]),
            t(sim["vel"][:, input_frame]),
            t(sim["charges"][..., None]),
            t(sim["loc"][:, target_frame]),
        )

    def batches(self, batch: int, generator: torch.Generator):
        """One epoch of shuffled ``(loc, vel, charges, target)`` mini-batches (last partial
        batch dropped)."""
        order = torch.randperm(len(self), generator=generator)
        for s in range(0, order.numel() - batch + 1, batch):
            idx = order[s : s + batch]
            yield self.loc[idx], self.vel[idx], self.charges[idx], self.target[idx]


@dataclass(frozen=True)
class NBodyDataset:
    """Train / valid / test splits of the charged n-body task and how they were made."""

    train: NBodySplit
    valid: NBodySplit
    test: NBodySplit
    seed: int
    n_particles: int
    input_step: int
    target_step: int
    dt: float
    box: float | None
    field: tuple[float, float, float] | None
    generation_seconds: float = dc_field(default=float("nan"), compare=False)

    def split(self, name: str) -> NBodySplit:
        if name not in SPLITS:
            raise KeyError(f"unknown split {name!r}; options: {list(SPLITS)}")
        return getattr(self, name)

    def metadata(self) -> dict[str, object]:
        """NetCDF-safe description of the task (for provenance attrs)."""
        return {
            "nbody_seed": self.seed,
            "nbody_n_particles": self.n_particles,
            "nbody_input_step": self.input_step,
            "nbody_target_step": self.target_step,
            "nbody_dt": self.dt,
            "nbody_box": "none" if self.box is None else self.box,
            "nbody_field": "none" if self.field is None else list(self.field),
            "nbody_sizes": [len(self.train), len(self.valid), len(self.test)],
        }


def nbody(
    *,
    seed: int = 0,
    n_train: int = 3000,
    n_valid: int = 2000,
    n_test: int = 2000,
    field: np.ndarray | tuple[float, float, float] | None = None,
    n_particles: int = 5,
    input_step: int = 3100,
    target_step: int = 4100,
    dt: float = 0.001,
    box: float | None = None,
    dtype: torch.dtype = torch.float32,
) -> NBodyDataset:
    """The charged n-body task (EGNN's ``nbody_small`` protocol, see module doc).

    Simulates ``target_step`` steps of ``n_train + n_valid + n_test`` systems (12 s for the
    default 7000 on one shared core, measured; nothing is cached) and returns the input state at
    ``input_step`` with the target positions at ``target_step``.
    """
    if not 0 <= input_step < target_step:
        raise ValueError(f"need 0 <= input_step < target_step, got {input_step}, {target_step}")
    stride = math.gcd(input_step, target_step)
    t0 = time.perf_counter()
    children = np.random.SeedSequence(seed).spawn(len(SPLITS))
    splits = {}
    for name, size, child in zip(SPLITS, (n_train, n_valid, n_test), children, strict=True):
        sim = simulate_charged(
            size,
            n_particles=n_particles,
            n_steps=target_step,
            sample_every=stride,
            dt=dt,
            box=box,
            field=field,
            seed=child,
        )
        splits[name] = NBodySplit.from_simulation(
            sim, input_step // stride, target_step // stride, dtype
        )
    return NBodyDataset(
        **splits,
        seed=seed,
        n_particles=n_particles,
        input_step=input_step,
        target_step=target_step,
        dt=dt,
        box=box,
        field=None if field is None else tuple(float(e) for e in np.asarray(field)),
        generation_seconds=time.perf_counter() - t0,
    )

r"""The brian2 backend: the continuous-time relaxation written as brian2 equations.

Each state unit of each (probe, sample) row is one neuron of a single
:class:`brian2.NeuronGroup`; it integrates

.. math::

    τ \frac{du}{dt} = -u + φ + h + σ \sqrt{τ}\, ξ(t),\qquad s = ρ(g u + o),

with φ = Σ_j M_ij s_j summed over :class:`brian2.Synapses` (``(summed)``
variable) and h = W_1 DAC(x) + b (+ β_k c_b on the output units), where M is
the network's block matrix (W and B as read from the hardware at bind time,
plus β_k A_b on the output block for an affine nudge g(s_L) = A_b s_L + c_b;
see :mod:`neurosim.backends._dense`). Brian2's ``euler`` method is
Euler–Maruyama for this additive noise: u ← u + η (φ + h − u) + σ √η ξ with
η = dt/τ, the step :class:`~neurosim.substrate.LeakyEuler` takes (the
fixed-point iteration is the case dt = τ).

Why synapses, not a matrix product in a ``network_operation``: the summed
variable is brian2's own (code-generated, target-independent) way of
expressing a weighted sum over inputs, it is scheduled in the ``groups``
slot *before* the state update (so φ is evaluated at the state of the step
start, as explicit Euler needs), and it keeps the model a pure brian2 model
(runnable on the cython or standalone targets). Each row is an independent
copy of the network (block-diagonal synapses), so the cost grows with
K·B·nnz(M): this backend is a cross-check of the torch dynamics, not a fast path.

Real states only: complex probes (the holomorphic estimators) raise
:class:`~neurosim.backends.UnsupportedError` naming the estimators that work.
Noise comes from brian2's generator, seeded (``brian2.seed``) per relaxation
from ``seed`` and a call counter, so a backend object replays its sequence.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np
import torch

from ...seeds import derive_seed
from ...substrate import FixedPoint, NonFiniteStateError, RelaxResult
from .._base import AbstractBackend, UnsupportedError
from .._dense import (
    activation_code,
    affine_nudge,
    check_affine_nudge,
    check_dense,
    dense_engine_refusal,
    dense_system,
)

__all__ = ["Brian2Backend", "real_estimators"]

_ENGINE = "brian2"

_SIG = "1 / (1 + exp(-({z})))"
_RHO = {
    0: _SIG,
    1: "tanh({z})",
    2: _SIG.replace("{z}", "4 * ({z}) - 2"),
    3: "(" + _SIG + ") * (1 + ({z}) * (1 - " + _SIG + "))",
}


def real_estimators() -> list[str]:
    """Names of the registered estimators that relax real states only."""
    from ...learning import ESTIMATORS

    return sorted(
        name for name, cls in ESTIMATORS.items() if not (cls.complex_states and cls.nudged_relax)
    )


def complex_error() -> UnsupportedError:
    return UnsupportedError(
        "the brian2 backend relaxes real states only; complex probes (holomorphic "
        f"estimators) need substrate.backend = 'torch', 'numba' or 'auto'; estimators "
        f"allowed with brian2: {', '.join(real_estimators())}"
    )


@dataclass(frozen=True)
class Brian2Backend(AbstractBackend):
    """Brian2 simulation of the relaxation (real states, thermal noise as ``xi``).

    Parameters
    ----------
    target
        Brian2 code-generation target: ``"numpy"`` (default: no compiler needed)
        or ``"cython"``.
    seed
        Root of the per-relaxation ``brian2.seed``.
    """

    target: str = "numpy"
    seed: int = 0
    _calls: itertools.count = field(
        default_factory=itertools.count, compare=False, repr=False, hash=False
    )
    name = "brian2"
    complex_states = False

    @classmethod
    def from_seed(cls, seed: int) -> Brian2Backend:
        return cls(seed=seed)

    @classmethod
    def refusal(cls, needs):
        if needs.nudged and needs.complex_states:
            allowed = ", ".join(f'"{n}"' for n in real_estimators())
            return (
                f'"brian2" relaxes real states only and nudge.estimator = "{needs.estimator}" '
                f"needs complex ones; allowed with brian2: nudge.estimator one of {allowed}"
            )
        return dense_engine_refusal(cls.name, needs)

    def __post_init__(self) -> None:
        if self.target not in ("numpy", "cython"):
            raise ValueError(f"brian2 target {self.target!r}; allowed: 'numpy', 'cython'")

    def unsupported(self, network, x, *, beta=None, nudge=None, integrator=None, drive_offset=None):
        try:
            check_dense(network, x, _ENGINE)
            if beta is not None and torch.as_tensor(beta).is_complex():
                raise complex_error()
            check_affine_nudge(network, x, beta, nudge, _ENGINE)
        except UnsupportedError as exc:
            return str(exc)
        return None

    def relax(self, network, x, **kwargs) -> RelaxResult:
        result = self.simulate(network, x, **kwargs)[0]
        integrator = kwargs.get("integrator") or FixedPoint()
        network.hardware.elapse(integrator.rate, result.steps)  # the substrate's clock
        return result

    def simulate(
        self,
        network,
        x,
        *,
        steps,
        u0=None,
        beta=None,
        nudge=None,
        integrator=None,
        tol=0.0,
        check_every=10,
        progress=None,
        bound=None,
        drive_offset=None,
        record: bool = False,
    ) -> tuple[RelaxResult, torch.Tensor | None]:
        """:meth:`relax`, plus the trajectory ``(T+1, *lead, N)`` of u when ``record``.

        The trajectory holds u after 0 … T steps (T = the steps taken), the layers
        concatenated along the last axis.
        """
        import brian2 as b2

        integrator = FixedPoint() if integrator is None else integrator
        act = activation_code(network, _ENGINE)
        rdtype = network.dtype
        batch = x.shape[0]
        lead: tuple[int, ...] = (batch,)
        if beta is not None:
            if nudge is None:
                raise ValueError("relax: a nudge function g(s_L) is required with beta")
            beta = torch.as_tensor(beta)
            if beta.is_complex():
                raise complex_error()
            lead = (beta.shape[0], batch)
        system = dense_system(network, x, _ENGINE, bound=bound, drive_offset=drive_offset)
        n = system.num_units
        k = lead[0] if len(lead) == 2 else 1
        rows = k * batch
        f64 = torch.float64
        m_blk = system.block_matrix().to(f64)
        h = system.h.to(f64).expand(k, batch, n).clone()  # (K, B, N)
        n_out = system.sizes[-1]
        out = slice(n - n_out, n)
        mats = m_blk.expand(k, batch, n, n).clone()  # (K, B, N, N): one block per row
        if beta is not None:
            a, c = affine_nudge(nudge, torch.zeros(batch, n_out, dtype=rdtype), _ENGINE)
            bk = beta.to(f64).reshape(k, 1, 1, 1)
            mats[:, :, out, out] += bk * a.to(f64)
            h[..., out] += bk[..., 0] * c.to(f64)
        if u0 is None:
            u_init = torch.zeros(rows, n, dtype=f64)
        else:
            parts = [
                t.detach().expand(*lead, *shape).reshape(rows, -1)
                for t, shape in zip(u0, network.shapes, strict=True)
            ]
            u_init = torch.cat(parts, dim=-1).to(f64)

        # -- the brian2 model ---------------------------------------------------------------
        eta = float(integrator.rate)
        tau = 1.0 * b2.second
        dt = eta * tau
        hw = network.hardware
        noisy = hw.state_noise([torch.empty(1, dtype=rdtype)], eta) is not None
        sigma = float(hw.neurons.thermal_std) if noisy else 0.0
        b2.prefs.codegen.target = self.target
        b2.defaultclock.dt = dt
        b2.seed(derive_seed(self.seed, "brian2", next(self._calls)) % (2**32))
        z = "gain * u + offset"
        eqs = (
            "du/dt = (-u + phi + h) / tau"
            + (" + sigma * xi * tau**-0.5" if sigma > 0 else "")
            + " : 1\n"
            + f"s = {_RHO[act].format(z=z)} : 1\n"
            + "phi : 1\nh : 1 (constant)\ngain : 1 (constant)\noffset : 1 (constant)\n"
        )
        ns = {"tau": tau, "sigma": sigma}
        group = b2.NeuronGroup(rows * n, eqs, method="euler", dt=dt, namespace=ns)
        group.u = u_init.reshape(-1).numpy()
        group.h = h.reshape(-1).numpy()
        gain = torch.ones(n, dtype=f64) if system.gain is None else system.gain.to(f64)
        offset = torch.zeros(n, dtype=f64) if system.offset is None else system.offset.to(f64)
        group.gain = gain.repeat(rows).numpy()
        group.offset = offset.repeat(rows).numpy()
        flat = mats.reshape(rows, n, n)
        r_idx, post, pre = torch.nonzero(flat, as_tuple=True)
        syn = b2.Synapses(group, group, "w : 1\nphi_post = w * s_pre : 1 (summed)", dt=dt)
        if r_idx.numel():
            syn.connect(i=(r_idx * n + pre).numpy(), j=(r_idx * n + post).numpy())
            syn.w = flat[r_idx, post, pre].numpy()
        else:
            group.phi = 0.0
        objects = [group, syn]
        mon = None
        if record:
            mon = b2.StateMonitor(group, "u", record=True, dt=dt, when="start")
            objects.append(mon)
        net = b2.Network(*objects)

        def state() -> torch.Tensor:
            return torch.from_numpy(np.asarray(group.u[:]).copy()).reshape(rows, n)

        def residual(u: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            su = network.activate(list(torch.split(u.to(rdtype), list(system.sizes), dim=-1)))
            s = torch.cat(su, dim=-1).to(f64)
            phi = torch.einsum("rij,rj->ri", flat, s) + h.reshape(rows, n)
            return (phi - u).norm(dim=-1), s

        done = 0
        stop = steps
        if tol > 0:
            next_check = check_every - 1
            while next_check < steps:
                if next_check > done:
                    net.run((next_check - done) * dt)
                    done = next_check
                res, _ = residual(state())
                if not torch.isfinite(res).all():
                    raise NonFiniteStateError(
                        f"relaxation diverged: non-finite state at step {done} (brian2 backend)"
                    )
                if float(res.max()) <= tol:
                    stop = done
                    break
                next_check += check_every
        if stop > done:
            net.run((stop - done) * dt)
            done = stop
        u = state()
        res, s = residual(u)
        if not torch.isfinite(res).all():
            raise NonFiniteStateError(f"relaxation diverged after {done} steps (brian2 backend)")
        traj = None
        if mon is not None:
            rec = torch.from_numpy(np.asarray(mon.u[:]).T.copy())  # (T, rows·N): u at step starts
            traj = torch.cat([rec, u.reshape(1, -1)]).reshape(-1, *lead, n).to(rdtype)
        if progress is not None:
            progress.update(done, float(res.max()))

        def split(t: torch.Tensor) -> list[torch.Tensor]:
            t = t.to(rdtype).reshape(*lead, n)
            return list(torch.split(t, list(system.sizes), dim=-1))

        residual_out = res.to(rdtype).reshape(lead)
        result = RelaxResult(split(u), split(s), done, residual_out, residual_out <= tol, tol)
        return result, traj

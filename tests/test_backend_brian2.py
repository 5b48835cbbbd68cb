"""The brian2 backend against the torch one: trajectories, the noise law, real-only probes.

Brian2 runs with the ``numpy`` code-generation target (no compiler); every test is
marked ``brian2``.
"""

from __future__ import annotations

import pytest
import torch
from conftest import _same_moments, make_problem
from torch.testing import assert_close

from neurosim.backends import Brian2Backend, UnsupportedError
from neurosim.experiment.config import Config, ConfigError
from neurosim.learning import Centered, FreePhase, GeneralizedEP, Holomorphic, NudgedPhase
from neurosim.substrate import (
    AnalogHardware,
    DeviceModel,
    FixedPoint,
    LayeredNetwork,
    LeakyEuler,
    NeuronModel,
    relax,
)

pytestmark = [
    pytest.mark.brian2,
    # brian2 2.9 calls pyparsing's camelCase names, deprecated in pyparsing 3.3
    pytest.mark.filterwarnings("ignore:'.*' deprecated - use:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:'parseAll' argument is deprecated:DeprecationWarning"),
]

B2 = Brian2Backend()


def _net(sizes=(8, 12, 10, 5), batch=6, alpha=30.0, activation="shifted_sigmoid"):
    g = torch.Generator().manual_seed(0)
    net = LayeredNetwork.dense(sizes, activation=activation, alpha=alpha, generator=g)
    with torch.no_grad():
        for b in net.biases:
            b.copy_(0.3 * torch.randn(b.shape, dtype=torch.float64, generator=g))
    x = torch.rand(batch, sizes[0], dtype=torch.float64, generator=g)
    y = torch.rand(batch, sizes[-1], dtype=torch.float64, generator=g)
    return net, x, y


def _torch_trajectory(net, x, steps, **kw):
    """u after 0 … steps steps of torch's relax, layers concatenated: (steps + 1, *lead, N)."""
    out, u = [], kw.pop("u0", None)
    lead = None
    for _ in range(steps):
        r = relax(net, x, steps=1, u0=u, **kw)
        if lead is None:
            lead = r.u[0].shape[:-1]
            first = u if u is not None else [torch.zeros_like(t) for t in r.u]
            out.append(torch.cat([t.expand(*lead, t.shape[-1]) for t in first], -1))
        u = r.u
        out.append(torch.cat(u, dim=-1))
    return torch.stack(out)


@pytest.mark.parametrize("activation", ["shifted_sigmoid", "tanh"])
def test_noise_free_trajectories_match_torch_leaky_euler(activation):
    net, x, y = _net(activation=activation)
    integ = LeakyEuler(dt=0.1, tau=1.0)
    with torch.no_grad():
        res, traj = B2.simulate(net, x, steps=60, integrator=integ, record=True)
        ref = _torch_trajectory(net, x, 60, integrator=integ)
        assert traj.shape == ref.shape == (61, 6, 27)
        assert float((traj - ref).abs().max()) < 1e-6
        # nudged phase (two real probes) from the free state, same step and sign convention
        beta = torch.tensor([0.2, -0.2], dtype=torch.float64)
        kw = dict(integrator=integ, beta=beta, nudge=lambda s: s - y)
        nres, ntraj = B2.simulate(net, x, steps=30, u0=res.u, record=True, **kw)
        nref = _torch_trajectory(net, x, 30, u0=res.u, **kw)
        assert ntraj.shape == nref.shape == (31, 2, 6, 27)
        assert float((ntraj - nref).abs().max()) < 1e-6
        t = relax(net, x, steps=30, u0=res.u, **kw)
        assert_close(nres.residual, t.residual, rtol=1e-6, atol=1e-9)


def test_fixed_point_iteration_and_early_stop_match_torch():
    net, x, _ = _net()
    with torch.no_grad():
        ref = relax(net, x, steps=500, integrator=FixedPoint(), tol=1e-9)
        got = B2.relax(net, x, steps=500, integrator=FixedPoint(), tol=1e-9)
    assert got.steps == ref.steps and got.all_converged
    assert max(float((a - b).abs().max()) for a, b in zip(got.u, ref.u, strict=True)) < 1e-6


def test_thermal_noise_stationary_moments_match_the_torch_sde_path():
    """Mean and variance per unit after the transient, within 3 standard errors."""
    net, _, _ = _net(sizes=(4, 6, 3), batch=1)
    sigma, integ = 0.2, LeakyEuler(dt=0.2, tau=1.0)
    net.hardware = AnalogHardware.for_network(net, DeviceModel(), NeuronModel(noise_std=sigma), 1)
    x = torch.full((1500, 4), 0.5, dtype=torch.float64)
    with torch.no_grad():
        a = torch.cat(relax(net, x, steps=60, integrator=integ).u, dim=-1)
        b = torch.cat(B2.relax(net, x, steps=60, integrator=integ).u, dim=-1)
    assert float(b.var(0).mean()) > 0.5 * sigma**2 * integ.rate  # the noise is really there
    _same_moments(a, b)


def test_centered_ep_gradient_matches_torch():
    p = make_problem(0.0, batch=3)
    integ = LeakyEuler(dt=0.5, tau=1.0)
    est = Centered(beta=0.05)
    mk = lambda r: GeneralizedEP(  # noqa: E731
        est, FreePhase(400, integ, relax=r), NudgedPhase(200, integ, relax=r)
    )
    ref = mk(relax).compute(p.network, p.loss, p.x, p.y)
    got = mk(B2.relax).compute(p.network, p.loss, p.x, p.y)
    for name, g in ref.grads.items():
        assert_close(got.grads[name], g, rtol=1e-6, atol=1e-8)


def test_complex_estimator_raises_naming_backend_and_allowed_estimators():
    p = make_problem(0.0, batch=2)
    rule = GeneralizedEP(
        Holomorphic(r=0.1, n=4), p.free_phase, NudgedPhase(50, FixedPoint(), relax=B2.relax)
    )
    with pytest.raises(UnsupportedError) as exc:
        rule.compute(p.network, p.loss, p.x, p.y, free=p.free)
    msg = str(exc.value)
    assert "brian2 backend relaxes real states only" in msg
    assert "centered, exact, one_sided" in msg
    with pytest.raises(ConfigError) as exc:
        Config().with_updates({"substrate.backend": "brian2"})  # default estimator: holomorphic
    assert str(exc.value).startswith('substrate.backend: "brian2" relaxes real states only')
    assert '"centered", "exact", "one_sided"' in str(exc.value)
    Config().with_updates({"substrate.backend": "brian2", "nudge.estimator": "centered"})


def test_codegen_target_is_configurable():
    assert Brian2Backend(target="cython").target == "cython"
    with pytest.raises(ValueError, match="allowed: 'numpy', 'cython'"):
        Brian2Backend(target="cuda")

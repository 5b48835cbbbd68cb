"""Jacobian homeostasis: L = ½‖J − Jᵀ‖² by forward-mode Hutchinson probes, its gradient, apply()."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from conftest import make_problem
from torch import nn

from equivariance.strength import DualAscent, FixedStrength
from neurosim.learning import (
    DEFAULT_ASYMMETRY_TARGET,
    FreePhase,
    Homeostasis,
    homeostatic_loss,
    jacobian_asymmetry,
    jacobian_symmetry,
    state_jacobian,
)
from neurosim.substrate import Conv2d, LayeredNetwork, ModuleConnection


def dense_phi_s(net: LayeredNetwork) -> torch.Tensor:
    """Φ_s of a dense network by hand (as tests/test_estimators.py builds it), differentiable."""
    sizes = [s[0] for s in net.shapes]
    offs = np.cumsum([0, *sizes])
    blocks = [[torch.zeros(a, b, dtype=torch.float64) for b in sizes] for a in sizes]
    for l, conn in enumerate(net.connections):
        if l == 0:
            continue
        blocks[l][l - 1] = conn.weight  # Φ_l gets W_l s_{l-1}
        blocks[l - 1][l] = conn.feedback_params()["weight"].T  # Φ_{l-1} gets B s_l
    phi = torch.cat([torch.cat(row, 1) for row in blocks], 0)
    assert phi.shape == (offs[-1], offs[-1])
    return phi


def weight_asymmetry(net: LayeredNetwork) -> torch.Tensor:
    """Σ_l ‖W_{l+1} − B_lᵀ‖_F², B_l = (sin α W0 + cos α W)ᵀ the feedback matrix."""
    return sum(
        (c.weight - c.feedback_params()["weight"]).square().sum() for c in list(net.connections)[1:]
    )


def nonlinear_problem(alpha: float, seed: int = 0):
    """Conv → conv + max pooling → MLP module: a Jacobian Φ_s that depends on the state."""
    g = torch.Generator().manual_seed(seed)
    c0 = Conv2d((1, 6, 6), 2, 3, padding=1, alpha=alpha, generator=g)
    c1 = Conv2d((2, 6, 6), 3, 3, padding=1, pool="max", alpha=alpha, generator=g)
    torch.manual_seed(seed)
    mod = nn.Sequential(nn.Flatten(), nn.Linear(27, 5, dtype=torch.float64), nn.Tanh())
    c2 = ModuleConnection(mod, (3, 3, 3), (5,), alpha=alpha, generator=g)
    net = LayeredNetwork([c0, c1, c2], activation="sigmoid")
    x = torch.rand(3, 1, 6, 6, dtype=torch.float64, generator=g)
    free = FreePhase(steps=3000, tol=1e-13).run(net, x)
    assert free.all_converged
    return net, x, free.s


def _asym_from_dense(j: torch.Tensor) -> torch.Tensor:
    return 0.5 * (j - j.mT).square().sum((-2, -1))


# -- the value ------------------------------------------------------------------------


@pytest.mark.parametrize("alpha", [30.0, 90.0])
def test_dense_exact_loss_is_weight_asymmetry(alpha):
    p = make_problem(alpha)
    net = p.network
    exact = homeostatic_loss(net, p.x, p.free.s, exact=True, reduction="none")
    phi = dense_phi_s(net).detach()
    by_hand = 0.5 * (phi - phi.T).square().sum()
    torch.testing.assert_close(exact, by_hand.expand(p.x.shape[0]), rtol=1e-13, atol=0)
    torch.testing.assert_close(by_hand, weight_asymmetry(net).detach(), rtol=1e-13, atol=0)


@pytest.mark.parametrize("alpha", [60.0, 90.0])
def test_hutchinson_estimate_is_unbiased(alpha):
    p = make_problem(alpha)
    exact = homeostatic_loss(p.network, p.x, p.free.s, exact=True).item()
    gen = torch.Generator().manual_seed(11)
    chunks = torch.stack(
        [
            homeostatic_loss(p.network, p.x, p.free.s, n_probes=50, generator=gen).detach()
            for _ in range(200)
        ]
    )
    se = float(chunks.std()) / math.sqrt(len(chunks))
    assert abs(float(chunks.mean()) - exact) < 3 * se
    assert se < 0.02 * exact  # the test has power: 3 SE is a tight band


def test_symmetric_network_has_zero_loss():
    p = make_problem(0.0)
    gen = torch.Generator().manual_seed(0)
    for kw in (dict(exact=True), dict(n_probes=16, generator=gen)):
        loss = homeostatic_loss(p.network, p.x, p.free.s, reduction="none", **kw)
        assert float(loss.detach().abs().max()) < 1e-12
        assert jacobian_asymmetry(p.network, p.x, p.free.s, **kw) < 1e-12
    net, x, s = nonlinear_problem(0.0)  # the energy-gradient structure survives nonlinear maps
    assert homeostatic_loss(net, x, s, exact=True).item() < 1e-12


def test_state_dependent_jacobian():
    net, x, s = nonlinear_problem(90.0)
    j = state_jacobian(net, x, s)
    j = j - torch.eye(j.shape[-1], dtype=j.dtype)
    ref = _asym_from_dense(j)
    exact = homeostatic_loss(net, x, s, exact=True, reduction="none")
    torch.testing.assert_close(exact, ref, rtol=1e-12, atol=0)
    # the Jacobian, hence the loss, depends on where it is taken
    moved = [t + 0.3 * torch.randn(t.shape, dtype=t.dtype) for t in s]
    moved_loss = homeostatic_loss(net, x, moved, exact=True, reduction="none")
    assert float((moved_loss - exact).detach().abs().min()) > 1e-3
    # and the forward-mode Hutchinson estimate is unbiased for it
    gen = torch.Generator().manual_seed(5)
    with torch.no_grad():
        chunks = torch.stack(
            [homeostatic_loss(net, x, s, n_probes=50, generator=gen) for _ in range(20)]
        )
    se = float(chunks.std()) / math.sqrt(len(chunks))
    assert abs(float(chunks.mean()) - float(ref.detach().mean())) < 3 * se


def test_asymmetry_is_the_normalized_antisymmetric_energy():
    p = make_problem(90.0)
    j = state_jacobian(p.network, p.x, p.free.s).detach()
    j = j - torch.eye(j.shape[-1], dtype=j.dtype)
    anti = (0.5 * (j - j.mT)).square().sum()
    expected = float(anti / j.square().sum())
    assert jacobian_asymmetry(p.network, p.x, p.free.s, exact=True) == pytest.approx(
        expected, rel=1e-12
    )
    gen = torch.Generator().manual_seed(2)
    est = jacobian_asymmetry(p.network, p.x, p.free.s, n_probes=4000, generator=gen)
    assert est == pytest.approx(expected, rel=0.03)
    # a monotone map of the symmetry score: a = r²/(1+r²), r = 1/σ − 1 (per sample)
    sigma = jacobian_symmetry(p.network, p.x, p.free.s)
    r = 1 / sigma - 1
    per_sample = (0.5 * (j - j.mT)).square().sum((-2, -1)) / j.square().sum((-2, -1))
    torch.testing.assert_close(per_sample, r**2 / (1 + r**2), rtol=1e-10, atol=0)


# -- the gradient ---------------------------------------------------------------------


@pytest.mark.parametrize("alpha", [45.0, 90.0])
def test_exact_gradient_matches_hand_built_formula(alpha):
    p = make_problem(alpha)
    net = p.network
    params = dict(net.named_parameters())
    ours = torch.autograd.grad(
        homeostatic_loss(net, p.x, p.free.s, exact=True), list(params.values()), allow_unused=True
    )
    ref = torch.autograd.grad(weight_asymmetry(net), list(params.values()), allow_unused=True)
    for name, a, b in zip(params, ours, ref, strict=True):
        if b is None:  # biases and the input weights do not enter Φ_s
            assert a is None or float(a.abs().max()) == 0.0, name
        else:
            torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-14, msg=name)


def test_hutchinson_gradient_is_unbiased():
    p = make_problem(90.0)
    net = p.network
    params = [q for q in net.parameters()]
    exact = torch.autograd.grad(
        homeostatic_loss(net, p.x, p.free.s, exact=True), params, allow_unused=True
    )
    keep = [i for i, g in enumerate(exact) if g is not None]
    gen = torch.Generator().manual_seed(7)
    reps = []
    for _ in range(64):
        loss = homeostatic_loss(net, p.x, p.free.s, n_probes=64, generator=gen)
        g = torch.autograd.grad(loss, [params[i] for i in keep])
        reps.append(torch.cat([t.reshape(-1) for t in g]))
    reps = torch.stack(reps)
    ref = torch.cat([exact[i].reshape(-1) for i in keep])
    z = (reps.mean(0) - ref) / (reps.std(0) / math.sqrt(len(reps)) + 1e-15)
    assert float(z.abs().max()) < 5.0


def test_gradient_matches_finite_differences_on_state_dependent_network():
    net, x, s = nonlinear_problem(60.0)
    s = [t.detach() for t in s]
    named = dict(net.named_parameters())
    grads = dict(
        zip(
            named,
            torch.autograd.grad(
                homeostatic_loss(net, x, s, exact=True), list(named.values()), allow_unused=True
            ),
            strict=True,
        )
    )
    gen = torch.Generator().manual_seed(0)
    h = 1e-6
    checked = 0
    for name in [
        "connections.1.weight",
        "connections.1.weight_b0",
        "connections.2.module.1.weight",
        "connections.2.module_b0.1.bias",
    ]:
        p = named[name]
        for _ in range(3):
            i = int(torch.randint(p.numel(), (1,), generator=gen))
            with torch.no_grad():
                old = p.view(-1)[i].item()
                p.view(-1)[i] = old + h
                up = homeostatic_loss(net, x, s, exact=True).item()
                p.view(-1)[i] = old - h
                down = homeostatic_loss(net, x, s, exact=True).item()
                p.view(-1)[i] = old
            fd = (up - down) / (2 * h)
            assert float(grads[name].reshape(-1)[i]) == pytest.approx(fd, rel=1e-5, abs=1e-8)
            checked += 1
    assert checked == 12


def test_estimator_uses_forward_mode_products_only(monkeypatch):
    p = make_problem(90.0)
    with_grad = homeostatic_loss(
        p.network, p.x, p.free.s, n_probes=8, generator=torch.Generator().manual_seed(3)
    )
    calls = {"jvp": 0}
    real_jvp = torch.func.jvp

    def counting_jvp(*args, **kwargs):
        calls["jvp"] += 1
        return real_jvp(*args, **kwargs)

    def forbidden(*args, **kwargs):
        raise AssertionError("reverse mode used by the estimator")

    monkeypatch.setattr(torch.func, "jvp", counting_jvp)
    for mod, name in [
        (torch.func, "vjp"),
        (torch.func, "grad"),
        (torch.func, "jacrev"),
        (torch.autograd, "grad"),
        (torch.autograd, "backward"),
        (torch.autograd.functional, "vjp"),
        (torch.Tensor, "backward"),
    ]:
        monkeypatch.setattr(mod, name, forbidden)
    with torch.no_grad():  # no graph is recorded: the value needs no reverse pass
        value = homeostatic_loss(
            p.network, p.x, p.free.s, n_probes=8, generator=torch.Generator().manual_seed(3)
        )
        asym = jacobian_asymmetry(
            p.network, p.x, p.free.s, n_probes=8, generator=torch.Generator().manual_seed(3)
        )
    assert calls["jvp"] == 4  # J ε and J (J ε), twice
    torch.testing.assert_close(value, with_grad.detach(), rtol=1e-12, atol=1e-12)
    assert 0.0 < asym < 1.0


# -- Homeostasis ----------------------------------------------------------------------


def test_apply_accumulates_lambda_times_gradient():
    p = make_problem(90.0)
    net = p.network
    params = list(net.parameters())
    ref_loss = homeostatic_loss(
        net, p.x, p.free.s, n_probes=4, generator=torch.Generator().manual_seed(9)
    )
    ref = torch.autograd.grad(ref_loss, params, allow_unused=True)
    before = [torch.full_like(q, 0.25) for q in params]
    for q, b in zip(params, before, strict=True):
        q.grad = b.clone()
    homeo = Homeostasis(strength=0.3, n_probes=4)
    res = homeo.apply(net, p.x, p.free.s, torch.Generator().manual_seed(9))
    assert res.strength == res.next_strength == 0.3
    assert res.loss == pytest.approx(ref_loss.item(), rel=1e-13)
    assert 0.0 < res.asymmetry < 1.0
    for q, b, g in zip(params, before, ref, strict=True):
        expected = b if g is None else b + 0.3 * g
        torch.testing.assert_close(q.grad, expected, rtol=1e-13, atol=1e-15)
    # λ = 0: measured, nothing accumulated
    for q in params:
        q.grad = None
    res0 = Homeostasis(strength=0.0).apply(net, p.x, p.free.s, torch.Generator().manual_seed(9))
    assert res0.loss == pytest.approx(ref_loss.item(), rel=1e-13)
    assert all(q.grad is None for q in params)


def test_gradient_descent_on_homeostasis_increases_symmetry():
    p = make_problem(90.0)
    net = p.network
    homeo = Homeostasis(strength=1.0, n_probes=8)
    opt = torch.optim.SGD(net.parameters(), lr=0.05)
    gen = torch.Generator().manual_seed(0)
    scores = [float(jacobian_symmetry(net, p.x, p.free.s).mean())]
    losses = []
    for _ in range(5):
        opt.zero_grad(set_to_none=True)
        free = FreePhase(steps=2000, tol=1e-13).run(net, p.x)  # s* moves with θ
        losses.append(homeo.apply(net, p.x, free.s, gen).loss)
        opt.step()
        scores.append(float(jacobian_symmetry(net, p.x, free.s).mean()))
    assert all(b > a for a, b in zip(scores, scores[1:], strict=False)), scores
    assert scores[-1] > scores[0] + 0.05


def test_gradient_descent_symmetrizes_state_dependent_network():
    net, x, s = nonlinear_problem(90.0)
    homeo = Homeostasis(strength=1.0, exact=True)
    opt = torch.optim.SGD(net.parameters(), lr=0.02)
    scores = [float(jacobian_symmetry(net, x, s).mean())]
    for _ in range(4):
        opt.zero_grad(set_to_none=True)
        homeo.apply(net, x, s)
        opt.step()
        scores.append(float(jacobian_symmetry(net, x, s).mean()))
    assert all(b > a for a, b in zip(scores, scores[1:], strict=False)), scores


def test_auto_strength_follows_the_asymmetry_target():
    homeo = Homeostasis(strength="auto")
    assert isinstance(homeo.tuner, DualAscent)
    assert homeo.tuner.targets == {"homeostasis": DEFAULT_ASYMMETRY_TARGET}
    asym = make_problem(90.0)  # a ≈ 0.15 > 0.05: λ grows
    lam0 = homeo.current_strength
    gen = torch.Generator().manual_seed(0)
    for step in range(3):
        res = homeo.apply(asym.network, asym.x, asym.free.s, gen, step=step)
        assert res.next_strength > res.strength
    assert homeo.current_strength > lam0
    sym = make_problem(0.0)  # a = 0 < 0.05: λ shrinks once the EMA (β = 0.9) passes the target
    before = homeo.current_strength
    for step in range(3, 30):
        res = homeo.apply(sym.network, sym.x, sym.free.s, gen, step=step)
        assert res.asymmetry < 1e-12
    assert res.next_strength < res.strength and homeo.current_strength < before
    # the tuner's state is the checkpoint
    again = Homeostasis(strength="auto")
    again.load_state_dict(homeo.state_dict())
    assert again.current_strength == homeo.current_strength
    assert again.tuner.state_dict() == homeo.tuner.state_dict()


def test_homeostasis_configuration_is_validated():
    with pytest.raises(ValueError, match="'auto'"):
        Homeostasis(strength="sometimes")
    with pytest.raises(ValueError, match="finite"):
        Homeostasis(strength=-1.0)
    with pytest.raises(ValueError, match="only with strength='auto'"):
        Homeostasis(strength=1.0, tuner=FixedStrength(1.0, name="homeostasis"))
    with pytest.raises(ValueError, match="no regularizer 'homeostasis'"):
        Homeostasis(strength="auto", tuner=FixedStrength(1.0, name="other"))
    with pytest.raises(ValueError, match="n_probes"):
        Homeostasis(strength=1.0, n_probes=0)
    fixed = Homeostasis(strength="auto", tuner=FixedStrength(0.5, name="homeostasis"))
    assert fixed.current_strength == 0.5
    assert Homeostasis(strength=2).state_dict() == {}

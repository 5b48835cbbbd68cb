"""BP references (implicit, recurrent, BPTT) against a dense solve, each other and gradcheck."""

from __future__ import annotations

import pytest
import torch
from conftest import make_problem
from test_estimators import _estimate, dense_ep_reference

from neurosim.learning import (
    BPTT,
    Exact,
    GeneralizedEP,
    Holomorphic,
    ImplicitBP,
    RecurrentAdjoint,
    RecurrentBP,
    SoftmaxCrossEntropy,
    delta_alignment,
    equilibrium,
    gradient_alignment,
    jacobian_symmetry,
    named_parameters,
)
from neurosim.substrate import Conv2d, Dense, LayeredNetwork, ModuleConnection


def _rules(p):
    return {
        "implicit": ImplicitBP(p.free_phase),
        "rbp": RecurrentBP(p.free_phase, RecurrentAdjoint(tol=1e-14)),
        "bptt": BPTT(steps=600),
    }


@pytest.mark.parametrize("alpha", [0.0, 90.0])
def test_bp_references_equal_dense_adjoint_solve_and_each_other(alpha):
    p = make_problem(alpha)
    ep_ref, bp_ref, _ = dense_ep_reference(p)
    results = {k: r.compute(p.network, p.loss, p.x, p.y, free=p.free) for k, r in _rules(p).items()}
    for name, res in results.items():
        for a, b in zip(res.delta, bp_ref, strict=True):
            torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12, msg=name)
    for name in ("rbp", "bptt"):
        for pname, g in results[name].grads.items():
            torch.testing.assert_close(g, results["implicit"].grads[pname], rtol=1e-9, atol=1e-12)
    # the EP estimate is the *other* solve; at 90° the two differ
    ep = _estimate(p, Holomorphic(r=0.1, n=10)).delta
    for a, b in zip(ep, ep_ref, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-9)
    if alpha == 90.0:
        assert max(float((a - b).abs().max()) for a, b in zip(ep_ref, bp_ref, strict=True)) > 1e-3


@pytest.mark.parametrize("adjoint", ["implicit", "rbp"])
def test_equilibrium_passes_gradcheck(adjoint):
    p = make_problem(60.0, sizes=(3, 4, 3), batch=2)
    from neurosim.learning import ImplicitAdjoint

    solver = ImplicitAdjoint() if adjoint == "implicit" else RecurrentAdjoint(tol=1e-14)
    params = tuple(p.network.parameters())

    def f(x, *_):
        s = equilibrium(p.network, x, adjoint=solver, steps=5000, tol=1e-14)
        return p.loss(s[-1], p.y)

    x = p.x.clone().requires_grad_(True)
    assert torch.autograd.gradcheck(f, (x, *params), eps=1e-6, atol=1e-7, rtol=1e-5)


def test_equilibrium_gradient_equals_rules_and_bptt():
    p = make_problem(30.0)
    s = equilibrium(p.network, p.x, steps=5000, tol=1e-14)
    value = p.loss(s[-1], p.y)
    params = dict(p.network.named_parameters())
    grads = torch.autograd.grad(value, list(params.values()), allow_unused=True)
    bptt = BPTT(steps=600).compute(p.network, p.loss, p.x, p.y)
    for (name, _), g in zip(params.items(), grads, strict=True):
        ref = bptt.grads[name]
        torch.testing.assert_close(
            torch.zeros_like(ref) if g is None else g, ref, rtol=1e-9, atol=1e-12
        )


def test_alignment_is_one_when_symmetric_and_below_one_when_not():
    out = {}
    for alpha in (0.0, 45.0, 90.0):
        p = make_problem(alpha)
        ep = GeneralizedEP(Exact(), p.free_phase, p.nudged_phase).compute(
            p.network, p.loss, p.x, p.y, free=p.free
        )
        bp = ImplicitBP(p.free_phase).compute(p.network, p.loss, p.x, p.y, free=p.free)
        out[alpha] = (delta_alignment(ep.delta, bp.delta), gradient_alignment(ep.grads, bp.grads))
        sym = jacobian_symmetry(p.network, p.x, p.free.s)
        if alpha == 0.0:
            torch.testing.assert_close(sym, torch.ones_like(sym), rtol=0, atol=1e-14)
        else:
            assert (sym < 0.99).all()
    d0, g0 = out[0.0]
    torch.testing.assert_close(d0.cosine, torch.ones_like(d0.cosine), rtol=0, atol=1e-12)
    torch.testing.assert_close(d0.norm_ratio, torch.ones_like(d0.norm_ratio), rtol=0, atol=1e-10)
    assert abs(g0.total_cosine - 1) < 1e-12
    for alpha in (45.0, 90.0):
        d, g = out[alpha]
        assert (d.cosine[:-1] < 1 - 1e-3).all() and g.total_cosine < 1 - 1e-3
    assert out[90.0][1].total_cosine < out[45.0][1].total_cosine


def test_hutchinson_symmetry_score_is_unbiased():
    p = make_problem(70.0)
    exact = jacobian_symmetry(p.network, p.x, p.free.s)
    gen = torch.Generator().manual_seed(3)
    est = jacobian_symmetry(
        p.network, p.x, p.free.s, method="hutchinson", n_probes=4000, generator=gen
    )
    torch.testing.assert_close(est, exact, rtol=0, atol=0.01)


def test_backward_writes_grad_for_torch_optim():
    p = make_problem(0.0)
    loss = SoftmaxCrossEntropy(5, 3, generator=torch.Generator().manual_seed(1))
    y = torch.tensor([0, 1, 2, 0, 1, 2])
    rule = GeneralizedEP(Holomorphic(r=0.1, n=6), p.free_phase, p.nudged_phase)
    res = rule.backward(p.network, loss, p.x, y)
    params = named_parameters(p.network, loss)
    for name, prm in params.items():
        assert torch.equal(prm.grad, res.grads[name]), name
    before = {k: v.detach().clone() for k, v in params.items()}
    opt = torch.optim.SGD(list(params.values()), lr=0.5)
    opt.step()
    assert any(not torch.equal(before[k], v) for k, v in params.items() if k.endswith("weight"))
    after = rule.compute(p.network, loss, p.x, y).loss
    assert after < res.loss


def test_cross_entropy_nudge_and_readout_gradient_match_autograd():
    gen = torch.Generator().manual_seed(5)
    loss = SoftmaxCrossEntropy(6, 4, generator=gen)
    s = torch.rand(5, 6, dtype=torch.float64, generator=gen).requires_grad_(True)
    y = torch.tensor([0, 3, 1, 2, 3])
    (g_auto,) = torch.autograd.grad(loss.per_sample(s, y).sum(), s)
    torch.testing.assert_close(loss.nudge(s, y), g_auto, rtol=1e-12, atol=1e-14)
    # holomorphic: the complex nudge at a real point equals the real one
    sc = s.detach().to(torch.complex128)
    torch.testing.assert_close(loss.nudge(sc, y).real, g_auto, rtol=1e-12, atol=1e-14)
    assert float(loss.nudge(sc, y).imag.abs().max().detach()) == 0.0
    # readout gradient from a rule equals the implicit-BP gradient (readout is local)
    p = make_problem(0.0, sizes=(8, 12, 6), batch=5)
    ep = GeneralizedEP(Exact(), p.free_phase, p.nudged_phase).compute(
        p.network, loss, p.x, y, free=p.free
    )
    bp = BPTT(steps=600).compute(p.network, loss, p.x, y)
    for name in ("loss.weight", "loss.bias"):
        torch.testing.assert_close(ep.grads[name], bp.grads[name], rtol=1e-9, atol=1e-12)


def _conv_network(alpha, pool):
    gen = torch.Generator().manual_seed(11)
    c1 = Conv2d((1, 6, 6), 3, 3, padding=1, pool=pool, alpha=alpha, gain=0.8, generator=gen)
    c2 = Conv2d(c1.out_shape, 2, 3, padding=1, alpha=alpha, gain=0.8, generator=gen)
    x = torch.rand(3, 1, 6, 6, dtype=torch.float64, generator=gen)
    y = torch.rand(3, *c2.out_shape, dtype=torch.float64, generator=gen)
    return LayeredNetwork([c1, c2], activation="sigmoid"), x, y


def _module_network(alpha):
    gen = torch.Generator().manual_seed(12)
    torch.manual_seed(12)
    lin = torch.nn.Linear(7, 9, dtype=torch.float64)
    conns = [
        ModuleConnection(lin, (7,), (9,), alpha=alpha, generator=gen),
        Dense(9, 4, alpha=alpha, generator=gen),
    ]
    x = torch.rand(4, 7, dtype=torch.float64, generator=gen)
    y = torch.rand(4, 4, dtype=torch.float64, generator=gen)
    return LayeredNetwork(conns, activation="sigmoid"), x, y


@pytest.mark.parametrize(
    "build",
    [lambda a: _conv_network(a, None), lambda a: _conv_network(a, "avg"), _module_network],
    ids=["conv", "conv-avgpool", "module"],
)
@pytest.mark.parametrize("alpha", [0.0, 90.0])
def test_ep_and_bp_on_conv_and_module_layers(build, alpha):
    from neurosim.learning import FreePhase, MSELoss, NudgedPhase
    from neurosim.substrate import FixedPoint

    net, x, y = build(alpha)
    loss = MSELoss(feature_ndim=len(net.shapes[-1]))
    fp = FreePhase(steps=5000, tol=1e-13)
    free = fp.run(net, x)
    assert free.all_converged
    nudged = NudgedPhase(steps=5000, integrator=FixedPoint(), tol=1e-13)
    ep = GeneralizedEP(Holomorphic(r=0.1, n=10), fp, nudged).compute(net, loss, x, y, free=free)
    ex = GeneralizedEP(Exact(), fp, nudged).compute(net, loss, x, y, free=free)
    imp = ImplicitBP(fp).compute(net, loss, x, y, free=free)
    bptt = BPTT(steps=800).compute(net, loss, x, y)
    for a, b in zip(ep.delta, ex.delta, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-9)
    for name, g in bptt.grads.items():
        torch.testing.assert_close(g, imp.grads[name], rtol=1e-8, atol=1e-11)
    cos = gradient_alignment(ex.grads, imp.grads).total_cosine
    hidden_cos = delta_alignment(ex.delta, imp.delta).cosine[:-1]
    if alpha == 0.0:
        assert abs(cos - 1) < 1e-10
    else:  # independent feedback: the hidden error vectors are misaligned
        assert (hidden_cos < 0.9).all(), hidden_cos

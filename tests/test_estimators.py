"""δ_EP estimators against the exact derivative and a dense linear solve (docs/design.md §3)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from conftest import make_problem

from neurosim.learning import (
    ESTIMATORS,
    Centered,
    Exact,
    GeneralizedEP,
    Holomorphic,
    ImplicitBP,
    OneSided,
    OnlineHolomorphic,
    get_estimator,
    gradient_alignment,
)


def _estimate(p, estimator):
    with torch.no_grad():
        return estimator.estimate(
            p.network, p.x, p.free, lambda s: p.loss.nudge(s, p.y), p.nudged_phase
        )


def _rel_err(delta, ref):
    num = math.sqrt(sum(float((a - b).square().sum()) for a, b in zip(delta, ref, strict=True)))
    den = math.sqrt(sum(float(b.square().sum()) for b in ref))
    return num / den


def dense_ep_reference(p):
    """(I − DΦ_s)^{-1} D g from a hand-built block matrix Φ_s (dense layers)."""
    net, u = p.network, p.free.u
    sizes = [s[0] for s in net.shapes]
    offs = np.cumsum([0, *sizes])
    n = offs[-1]
    phi_s = torch.zeros(n, n, dtype=torch.float64)
    for l, conn in enumerate(net.connections):
        if l == 0:
            continue
        w = conn.weight.detach()
        fb = conn.feedback_params()["weight"].detach()
        # Φ_l gets W_l s_{l-1}; Φ_{l-1} gets B s_l with B = fbᵀ
        phi_s[offs[l] : offs[l + 1], offs[l - 1] : offs[l]] = w
        phi_s[offs[l - 1] : offs[l], offs[l] : offs[l + 1]] = fb.T
    d = torch.cat([net.activation.derivative(t) for t in u], -1)  # (B, N)
    g = torch.cat(
        [torch.zeros_like(t) for t in p.free.s[:-1]] + [p.loss.nudge(p.free.s[-1], p.y)], -1
    )
    eye = torch.eye(n, dtype=torch.float64)
    ep = torch.linalg.solve(eye - d[:, :, None] * phi_s, (d * g)[..., None])[..., 0]
    bp = torch.linalg.solve(eye - d[:, :, None] * phi_s.T, (d * g)[..., None])[..., 0]
    split = lambda v: [v[:, offs[i] : offs[i + 1]] for i in range(len(sizes))]  # noqa: E731
    return split(ep), split(bp), phi_s


def test_registry_resolves_every_estimator_and_rejects_unknown():
    assert set(ESTIMATORS) == {
        "one_sided",
        "centered",
        "holomorphic",
        "online_holomorphic",
        "exact",
    }
    assert isinstance(get_estimator("holomorphic", r=0.2, n=6), Holomorphic)
    with pytest.raises(KeyError, match="allowed: centered, exact"):
        get_estimator("twosided")


@pytest.mark.parametrize("alpha", [0.0, 90.0])
def test_exact_estimator_equals_dense_solve(alpha):
    p = make_problem(alpha)
    ep_ref, _, _ = dense_ep_reference(p)
    est = _estimate(p, Exact())
    for a, b in zip(est.delta, ep_ref, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-13)


def test_holomorphic_reaches_exact_derivative_on_symmetric_network():
    p = make_problem(0.0)
    exact = _estimate(p, Exact()).delta
    found = None
    for n in range(2, 17):
        err = _rel_err(_estimate(p, Holomorphic(r=0.1, n=n)).delta, exact)
        if err < 1e-6:
            found = n
            break
    print(f"holomorphic r=0.1 reaches rel. error {err:.2e} < 1e-6 at N = {found}")
    assert found is not None and found <= 16
    rule = GeneralizedEP(Holomorphic(r=0.1, n=found), p.free_phase, p.nudged_phase)
    ep = rule.compute(p.network, p.loss, p.x, p.y, free=p.free)
    bp = ImplicitBP(p.free_phase).compute(p.network, p.loss, p.x, p.y, free=p.free)
    cos = gradient_alignment(ep.grads, bp.grads).total_cosine
    assert cos > 0.99999, cos


@pytest.mark.parametrize(("estimator", "order"), [(OneSided, 1), (Centered, 2)])
@pytest.mark.parametrize("alpha", [0.0, 90.0])
def test_finite_nudge_bias_order_is_measured(estimator, order, alpha):
    p = make_problem(alpha)
    exact = _estimate(p, Exact()).delta
    betas = np.logspace(-3, -1, 7)
    errs = [_rel_err(_estimate(p, estimator(beta=float(b))).delta, exact) for b in betas]
    slope = np.polyfit(np.log(betas), np.log(errs), 1)[0]
    print(f"{estimator.name} alpha={alpha}: slope {slope:.3f}, errors {errs}")
    assert estimator.bias_order == order
    assert abs(slope - order) < 0.2


@pytest.mark.parametrize("alpha", [0.0, 90.0])
def test_holomorphic_error_falls_geometrically_with_n(alpha):
    p = make_problem(alpha)
    exact = _estimate(p, Exact()).delta
    r = 0.3
    ns = [2, 3, 4, 5, 6, 7, 8]
    errs = np.array([_rel_err(_estimate(p, Holomorphic(r=r, n=n)).delta, exact) for n in ns])
    print(f"alpha={alpha}: holomorphic r={r} errors {errs}")
    assert (errs > 1e-12).all(), "errors hit round-off: choose a larger r"
    rate = np.polyfit(ns, np.log(errs), 1)[0]
    # O(r^N) aliasing: log error falls about linearly in N with slope ≈ log r (or faster)
    assert rate < 0.5 * math.log(r), rate
    assert (np.diff(np.log(errs)) < 0).all()


def test_holomorphic_uses_conjugate_symmetry():
    for n, k in [(2, 2), (3, 2), (4, 3), (5, 3), (8, 5)]:
        beta, coef = Holomorphic(r=0.1, n=n).probes()
        assert beta.shape == (k,) == coef.shape
        # the weighted sum reproduces the full N-point Cauchy sum for s(β) = β (derivative 1)
        assert abs(complex((coef * beta).sum()).real - 1.0) < 1e-14
        # and annihilates constants and β^2 … β^{N-1}
        for m in [0, *range(2, n)]:
            assert abs(complex((coef * beta**m).sum()).real) < 1e-12


def test_online_holomorphic_bias_falls_with_period():
    p = make_problem(0.0)
    exact = _estimate(p, Exact()).delta
    periods = [25, 50, 100, 200, 400]
    errs = np.array(
        [_rel_err(_estimate(p, OnlineHolomorphic(r=0.1, period=t)).delta, exact) for t in periods]
    )
    print("online holomorphic errors vs period", dict(zip(periods, errs, strict=True)))
    slope = np.polyfit(np.log(periods), np.log(errs), 1)[0]
    assert (np.diff(errs) < 0).all()
    # The lag's O(1/T) term is imaginary for a real substrate; the real part keeps O(1/T²).
    assert -2.3 < slope < -1.7, slope


def test_ep_gradients_identical_across_real_and_complex_estimators_for_symmetric_net():
    """Real (centered, tiny β) and complex (holomorphic) paths give the same real gradient."""
    p = make_problem(0.0)
    c = GeneralizedEP(Centered(beta=1e-4), p.free_phase, p.nudged_phase).compute(
        p.network, p.loss, p.x, p.y, free=p.free
    )
    h = GeneralizedEP(Holomorphic(r=0.05, n=12), p.free_phase, p.nudged_phase).compute(
        p.network, p.loss, p.x, p.y, free=p.free
    )
    for name in c.grads:
        assert not c.grads[name].is_complex() and not h.grads[name].is_complex()
        torch.testing.assert_close(c.grads[name], h.grads[name], rtol=1e-7, atol=1e-10)


def test_ep_gradient_is_bitwise_reproducible():
    grads = []
    for _ in range(2):
        p = make_problem(45.0, seed=7)
        r = GeneralizedEP(Holomorphic(r=0.1, n=4), p.free_phase, p.nudged_phase).compute(
            p.network, p.loss, p.x, p.y
        )
        grads.append(r.grads)
    for name in grads[0]:
        assert torch.equal(grads[0][name], grads[1][name]), name

"""Layered networks, the drive Φ, relaxation dynamics and state Jacobians (docs/design.md §2-3).

The references are written out by hand from the parameters: for dense layers
Φ_l = W_l s_{l-1} + B_l s_{l+1} + b_l with B_l = (sin α W0_{l+1} + cos α W_{l+1})ᵀ;
for conv layers the feedback is an autograd vector–Jacobian product of
F.conv2d / pooling, independent of the connection code.
"""

from __future__ import annotations

import copy
import math

import pytest
import torch
import torch.nn.functional as F
from torch.testing import assert_close

from neurosim.learning import state_jacobian
from neurosim.substrate import (
    Conv2d,
    FixedPoint,
    LayeredNetwork,
    LeakyEuler,
    NonFiniteStateError,
    relax,
    vector_field,
)

F64 = torch.float64
C128 = torch.complex128
SIZES = (6, 7, 5, 3)
BATCH = 4


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def make_dense(alpha=0.0, *, seed=0, dtype=F64, activation="sigmoid", sizes=SIZES):
    """A seeded dense network with non-zero biases, plus an input batch."""
    g = _gen(seed)
    net = LayeredNetwork.dense(sizes, activation=activation, alpha=alpha, generator=g, dtype=dtype)
    with torch.no_grad():
        for b in net.biases:
            b.copy_(0.5 * torch.randn(b.shape, dtype=dtype, generator=g))
    x = torch.rand(BATCH, sizes[0], dtype=dtype, generator=g)
    return net, x


def dense_blocks(net):
    """(W_l, B_l) per layer, by hand from the raw parameters."""
    sin_a, cos_a = math.sin(math.radians(net.alpha)), math.cos(math.radians(net.alpha))
    if net.alpha % 90 == 0:  # avoid 6e-17 residues: compare against the exact mix
        sin_a, cos_a = round(sin_a), round(cos_a)
    ws = [c.weight.detach() for c in net.connections]
    w0s = [c.weight_b0.detach() for c in net.connections]
    bs = [(sin_a * w0s[l + 1] + cos_a * ws[l + 1]).T for l in range(len(ws) - 1)]
    return ws, bs


def dense_drive(net, s, x):
    """Φ_l = W_l s_{l-1} + B_l s_{l+1} + b_l, written out; s may carry a probe axis."""
    ws, bs = dense_blocks(net)
    n = len(ws)
    below = [x, *s[:-1]]
    out = []
    dt = s[0].dtype
    for l in range(n):
        p = below[l].to(dt) @ ws[l].T.to(dt) + net.biases[l].detach()
        if l + 1 < n:
            p = p + s[l + 1] @ bs[l].T.to(dt)
        out.append(p)
    return out


def dense_block_matrix(net):
    """Φ_s as one (N, N) matrix: [[0, B_1, 0], [W_2, 0, B_2], [0, W_3, 0]]."""
    ws, bs = dense_blocks(net)
    sizes = [w.shape[0] for w in ws]
    offs = [0]
    for n in sizes:
        offs.append(offs[-1] + n)
    m = torch.zeros(offs[-1], offs[-1], dtype=ws[0].dtype)
    for l in range(len(ws)):
        if l > 0:
            m[offs[l] : offs[l + 1], offs[l - 1] : offs[l]] = ws[l]
        if l + 1 < len(ws):
            m[offs[l] : offs[l + 1], offs[l + 1] : offs[l + 2]] = bs[l]
    return m


def sigmoid(u):
    return 1 / (1 + torch.exp(-u))


def residual_by_hand(net, x, u, beta=None, nudge=None):
    """‖Φ(ρ(u)) + β g − u‖₂ per sample, over all units (dense nets, sigmoid)."""
    s = [sigmoid(t) for t in u]
    phi = dense_drive(net, s, x)
    if beta is not None:
        phi[-1] = phi[-1] + beta.reshape(-1, 1, 1) * nudge(s[-1])
    sq = sum((p - t).abs().square().sum(-1) for p, t in zip(phi, u, strict=True))
    return sq.sqrt()


def _target(net, seed=99):
    return torch.rand(BATCH, net.shapes[-1][0], dtype=net.dtype, generator=_gen(seed))


# -- the drive Φ -------------------------------------------------------------------------------


@pytest.mark.parametrize("alpha", [0.0, 37.0, 90.0])
def test_dense_drive_matches_explicit_formula(alpha):
    net, x = make_dense(alpha)
    g = _gen(1)
    s = [torch.rand(BATCH, n, dtype=F64, generator=g) for (n,) in net.shapes]
    assert_close(net.drive(s, x), dense_drive(net, s, x), rtol=1e-14, atol=1e-14)


def test_dense_drive_feedback_really_depends_on_alpha():
    net, x = make_dense(0.0)
    s = [torch.rand(BATCH, n, dtype=F64, generator=_gen(2)) for (n,) in net.shapes]
    phi0 = [t.detach() for t in net.drive(s, x)]
    net.alpha = 90.0
    phi90 = [t.detach() for t in net.drive(s, x)]
    assert float((phi0[0] - phi90[0]).abs().max()) > 1e-3  # feedback into layer 1 changed
    assert torch.equal(phi0[-1], phi90[-1])  # top layer has no feedback


def test_dense_drive_broadcasts_over_probe_axis():
    net, x = make_dense(37.0)
    g = _gen(3)
    s = [torch.rand(2, BATCH, n, dtype=F64, generator=g) for (n,) in net.shapes]
    phi = net.drive(s, x)
    assert [tuple(p.shape) for p in phi] == [(2, BATCH, n) for (n,) in net.shapes]
    for k in range(2):
        ref = dense_drive(net, [t[k] for t in s], x)
        assert_close([p[k] for p in phi], ref, rtol=1e-14, atol=1e-14)


def test_network_geometry_and_state_flattening():
    net, _ = make_dense()
    assert net.shapes == [(7,), (5,), (3,)]
    assert net.input_shape == (6,)
    assert net.num_units == 15
    u = [torch.randn(2, BATCH, n, dtype=F64, generator=_gen(4)) for (n,) in net.shapes]
    flat = net.flatten_state(u, 2)
    assert flat.shape == (2, BATCH, 15)
    assert_close(flat, torch.cat(u, dim=-1), rtol=0, atol=0)
    for a, b in zip(net.unflatten_state(flat), u, strict=True):
        assert torch.equal(a, b)


def test_network_rejects_shape_mismatch_and_empty():
    from neurosim.substrate import Dense

    with pytest.raises(ValueError, match="shape mismatch"):
        LayeredNetwork([Dense(3, 4), Dense(5, 2)])
    with pytest.raises(ValueError):
        LayeredNetwork([])


# -- free relaxation ---------------------------------------------------------------------------


def test_fixed_point_relaxation_converges_to_a_true_fixed_point():
    net, x = make_dense(37.0)
    budget = 2000
    res = relax(net, x, steps=budget, tol=1e-13, check_every=1, integrator=FixedPoint())
    assert res.all_converged and bool(res.converged.all())
    assert res.converged.shape == (BATCH,) and res.residual.shape == (BATCH,)
    assert float(res.residual.max()) <= 1e-13
    assert res.steps < budget
    # u = Φ(ρ(u)) with Φ written out by hand
    assert_close(res.s, [sigmoid(t) for t in res.u], rtol=1e-15, atol=1e-15)
    assert_close(dense_drive(net, res.s, x), res.u, rtol=0, atol=1e-12)
    assert_close(res.residual, residual_by_hand(net, x, res.u), rtol=0, atol=1e-14)


def test_leaky_euler_reaches_the_same_fixed_point():
    net, x = make_dense(37.0)
    fp = relax(net, x, steps=2000, tol=1e-13, check_every=1)
    le = relax(net, x, steps=5000, tol=1e-13, integrator=LeakyEuler(dt=0.2), check_every=5)
    assert le.all_converged
    assert le.steps > fp.steps  # a damped integrator takes more steps
    assert_close(le.u, fp.u, rtol=0, atol=1e-11)
    assert_close(dense_drive(net, le.s, x), le.u, rtol=0, atol=1e-12)


def test_single_steps_match_the_update_rules():
    """FixedPoint: u₁ = Φ(ρ(u₀)); LeakyEuler: u₁ = u₀ + (dt/τ)(Φ(ρ(u₀)) − u₀)."""
    net, x = make_dense(37.0)
    g = _gen(5)
    u0 = [torch.randn(BATCH, n, dtype=F64, generator=g) for (n,) in net.shapes]
    phi = dense_drive(net, [sigmoid(t) for t in u0], x)
    assert FixedPoint().rate == 1.0 and LeakyEuler(dt=0.3, tau=1.5).rate == pytest.approx(0.2)
    fast = relax(net, x, steps=1, u0=u0)  # fast path (no check this step)
    checked = relax(net, x, steps=1, u0=u0, check_every=1)  # u + 1·F path
    assert_close(fast.u, phi, rtol=1e-14, atol=1e-14)
    assert_close(checked.u, phi, rtol=1e-14, atol=1e-14)
    le = relax(net, x, steps=1, u0=u0, integrator=LeakyEuler(dt=0.3, tau=1.5))
    ref = [a + 0.2 * (p - a) for a, p in zip(u0, phi, strict=True)]
    assert_close(le.u, ref, rtol=1e-14, atol=1e-14)
    # u0 is not modified in place
    assert torch.equal(u0[0], torch.randn(BATCH, 7, dtype=F64, generator=_gen(5)))


@pytest.mark.parametrize("dt, tau", [(0.0, 1.0), (-0.1, 1.0), (1.5, 1.0)])
def test_leaky_euler_rejects_bad_step(dt, tau):
    with pytest.raises(ValueError):
        LeakyEuler(dt=dt, tau=tau)


def test_reported_steps_is_the_number_of_updates():
    net, x = make_dense(37.0)
    early = relax(net, x, steps=2000, tol=1e-10, check_every=1)
    assert early.all_converged and 0 < early.steps < 2000
    full = relax(net, x, steps=early.steps, tol=0.0, check_every=1)
    for a, b in zip(early.u, full.u, strict=True):
        assert torch.equal(a, b)
    assert torch.equal(early.residual, full.residual)


def test_too_small_budget_is_flagged_not_silently_fine():
    net, x = make_dense(37.0)
    res = relax(net, x, steps=3, tol=1e-12)
    assert res.steps == 3
    assert not res.all_converged
    assert not bool(res.converged.any())
    assert bool((res.residual > 1e-12).all())
    assert_close(res.residual, residual_by_hand(net, x, res.u), rtol=1e-12, atol=1e-15)


def test_tol_zero_runs_the_full_budget():
    net, x = make_dense(0.0)
    res = relax(net, x, steps=9, tol=0.0, check_every=1)
    assert res.steps == 9
    assert float(res.residual.min()) > 0.0
    assert not res.all_converged  # residual > tol = 0 is reported as not converged


@pytest.mark.parametrize("steps", [5, 50])  # caught at the final check, and by an in-loop check
@pytest.mark.parametrize("how", ["huge_weights", "bias_inf", "bias_nan"])
def test_non_finite_states_raise(how, steps):
    net, x = make_dense(0.0)
    with torch.no_grad():
        if how == "huge_weights":
            for c in net.connections:
                c.weight.mul_(1e200)
                c.weight_b0.mul_(1e200)
        elif how == "bias_inf":
            net.biases[1][0] = math.inf
        else:
            net.biases[1][0] = math.nan
    with pytest.raises(NonFiniteStateError):
        relax(net, x, steps=steps, tol=1e-12)
    assert issubclass(NonFiniteStateError, FloatingPointError)


def test_bitwise_reproducible_from_seed():
    results = []
    for _ in range(2):
        net, x = make_dense(37.0, seed=11)
        y = _target(net)
        free = relax(net, x, steps=300, tol=1e-12, check_every=3)
        nudged = relax(
            net,
            x,
            steps=100,
            u0=free.u,
            beta=torch.tensor([0.1, -0.1], dtype=F64),
            nudge=lambda s, y=y: s - y,
        )
        results.append((free, nudged))
    (f1, n1), (f2, n2) = results
    assert f1.steps == f2.steps
    for a, b in zip(f1.u + n1.u, f2.u + n2.u, strict=True):
        assert torch.equal(a, b)
    assert torch.equal(f1.residual, f2.residual) and torch.equal(n1.residual, n2.residual)


def test_float32_relaxation_converges():
    net, x = make_dense(37.0, dtype=torch.float32)
    res = relax(net, x, steps=500, tol=1e-5, check_every=5)
    assert res.all_converged
    assert all(t.dtype == torch.float32 for t in res.u + res.s)
    assert res.residual.dtype == torch.float32
    # close to the float64 fixed point of the same parameters
    net64 = copy.deepcopy(net).double()
    ref = relax(net64, x.double(), steps=2000, tol=1e-13, check_every=1)
    assert ref.all_converged
    assert_close([t.double() for t in res.u], ref.u, rtol=0, atol=1e-4)


# -- nudged relaxation with probes -------------------------------------------------------------


def _free_and_nudge(alpha=37.0):
    net, x = make_dense(alpha)
    y = _target(net)
    free = relax(net, x, steps=2000, tol=1e-13, check_every=1)
    assert free.all_converged
    return net, x, free, (lambda s: s - y)


def test_probes_relax_side_by_side_like_separate_relaxations():
    net, x, free, g = _free_and_nudge()
    betas = torch.tensor([0.3, -0.2], dtype=F64)
    both = relax(net, x, steps=200, u0=free.u, beta=betas, nudge=g)
    assert [tuple(t.shape) for t in both.u] == [(2, BATCH, n) for (n,) in net.shapes]
    assert both.residual.shape == (2, BATCH) and both.converged.shape == (2, BATCH)
    for k in range(2):
        one = relax(net, x, steps=200, u0=free.u, beta=betas[k : k + 1], nudge=g)
        assert one.u[0].shape == (1, BATCH, 7)
        assert_close([t[k] for t in both.u], [t[0] for t in one.u], rtol=0, atol=1e-14)
        assert_close(both.residual[k], one.residual[0], rtol=0, atol=1e-14)
    # the nudged fixed point satisfies u = Φ(ρ(u)) + β g(ρ(u)), residual reported correctly
    assert_close(both.residual, residual_by_hand(net, x, both.u, betas, g), rtol=0, atol=1e-14)
    assert float(both.residual.max()) < 1e-12
    # and the two probes moved the output in opposite directions
    d0, d1 = both.u[-1][0] - free.u[-1], both.u[-1][1] - free.u[-1]
    assert float((d0 * d1).sum().detach()) < 0


def test_zero_beta_probe_stays_at_the_free_fixed_point():
    net, x, free, g = _free_and_nudge()
    res = relax(net, x, steps=50, u0=free.u, beta=torch.zeros(3, dtype=F64), nudge=g)
    for a, b in zip(res.u, free.u, strict=True):
        assert_close(a, b.expand_as(a), rtol=0, atol=1e-13)


def test_complex_beta_with_zero_imaginary_part_matches_real():
    net, x, free, g = _free_and_nudge()
    betas = torch.tensor([0.3, -0.2], dtype=F64)
    real = relax(net, x, steps=300, u0=free.u, beta=betas, nudge=g)
    cplx = relax(net, x, steps=300, u0=free.u, beta=betas.to(C128), nudge=g)
    assert all(t.dtype == C128 for t in cplx.u + cplx.s)
    assert cplx.residual.dtype == F64
    assert_close([t.real for t in cplx.u], real.u, rtol=0, atol=1e-13)
    for t in cplx.u:
        assert float(t.imag.detach().abs().max()) <= 1e-13
    assert_close(cplx.residual, real.residual, rtol=0, atol=1e-13)


def test_complex_conjugate_probes_give_conjugate_states():
    """Real systems satisfy s(β̄) = conj s(β) (docs/design.md §3)."""
    net, x, free, g = _free_and_nudge()
    b = 0.2 * complex(math.cos(1.0), math.sin(1.0))
    res = relax(
        net,
        x,
        steps=400,
        u0=free.u,
        beta=torch.tensor([b, b.conjugate()], dtype=C128),
        nudge=g,
        tol=1e-13,
        check_every=4,
    )
    assert res.all_converged
    for t in res.u:
        assert float(t[0].imag.detach().abs().max()) > 1e-4  # genuinely complex
        assert_close(t[1], t[0].conj(), rtol=0, atol=1e-13)
    # the complex nudged fixed point satisfies the holomorphic equation u = Φ(ρ(u)) + β g
    betas = torch.tensor([b, b.conjugate()], dtype=C128)
    assert float(residual_by_hand(net, x, res.u, betas, g).detach().max()) < 1e-12


def test_relax_argument_validation():
    net, x = make_dense()
    with pytest.raises(ValueError, match="nudge"):
        relax(net, x, steps=3, beta=torch.tensor([0.1]))
    with pytest.raises(ValueError, match="1-d"):
        relax(net, x, steps=3, beta=torch.tensor([[0.1]]), nudge=lambda s: s)


def test_vector_field_is_drive_minus_state():
    net, x = make_dense(37.0)
    g = _gen(6)
    u = [torch.randn(BATCH, n, dtype=F64, generator=g) for (n,) in net.shapes]
    bound = net.bind()
    f, s = vector_field(net, bound, bound.static_drive(x), u)
    ref = [p - t for p, t in zip(dense_drive(net, [sigmoid(t) for t in u], x), u, strict=True)]
    assert_close(f, ref, rtol=1e-14, atol=1e-14)
    assert_close(s, [sigmoid(t) for t in u], rtol=1e-15, atol=1e-15)


# -- state Jacobian (dense) --------------------------------------------------------------------


@pytest.mark.parametrize("alpha", [0.0, 37.0, 90.0])
def test_dense_state_jacobian_is_the_block_matrix(alpha):
    net, x = make_dense(alpha)
    ref = dense_block_matrix(net)
    for seed in (7, 8):  # independent of the state for dense nets
        s = [torch.rand(BATCH, n, dtype=F64, generator=_gen(seed)) for (n,) in net.shapes]
        jac = state_jacobian(net, x, s)
        assert jac.shape == (BATCH, net.num_units, net.num_units)
        assert_close(jac, ref.expand_as(jac), rtol=0, atol=1e-14)
    sym_err = float((ref - ref.T).abs().max())
    assert (sym_err < 1e-15) if alpha == 0.0 else (sym_err > 1e-2)


# -- conv networks -----------------------------------------------------------------------------


def make_conv(alpha=0.0, pool2=None, seed=0):
    g = _gen(seed)
    c1 = Conv2d((1, 6, 6), 2, 3, padding=1, pool="avg", alpha=alpha, generator=g)
    c2 = Conv2d((2, 3, 3), 2, 3, padding=1, pool=pool2, alpha=alpha, generator=g)
    net = LayeredNetwork([c1, c2], activation="sigmoid")
    with torch.no_grad():
        for b in net.biases:
            b.copy_(0.3 * torch.randn(b.shape, dtype=F64, generator=g))
    x = torch.rand(3, 1, 6, 6, dtype=F64, generator=g)
    return net, x


def conv_drive_by_hand(net, s, x):
    """Φ_1 = avgpool(K₁ ⋆ x) + J_{f₂}(s₁)ᵀ s₂ + b₁ (by autograd of F.conv2d), Φ₂ = f₂(s₁) + b₂."""
    c1, c2 = net.connections
    k1 = c1.weight.detach()
    sin_a, cos_a = math.sin(math.radians(c2.alpha)), math.cos(math.radians(c2.alpha))
    if c2.alpha % 90 == 0:
        sin_a, cos_a = round(sin_a), round(cos_a)
    k2_fb = sin_a * c2.weight_b0.detach() + cos_a * c2.weight.detach()

    def f2(z, k):
        y = F.conv2d(z, k, padding=1)
        if c2.pool == "avg":
            y = F.avg_pool2d(y, 2)
        elif c2.pool == "max":
            y = F.max_pool2d(y, 2)
        return y

    s1 = s[0].detach().requires_grad_(True)
    (fb,) = torch.autograd.grad((f2(s1, k2_fb) * s[1]).sum(), s1)
    phi1 = F.avg_pool2d(F.conv2d(x, k1, padding=1), 2) + fb + net.biases[0].detach()
    phi2 = f2(s[0], c2.weight.detach()) + net.biases[1].detach()
    return [phi1, phi2]


@pytest.mark.parametrize("pool2", [None, "avg", "max"])
@pytest.mark.parametrize("alpha", [0.0, 37.0])
def test_conv_network_drive_matches_hand_reference(pool2, alpha):
    net, x = make_conv(alpha, pool2)
    g = _gen(9)
    s = [torch.rand(3, *shape, dtype=F64, generator=g) for shape in net.shapes]
    got = [t.detach() for t in net.drive(s, x)]
    assert_close(got, conv_drive_by_hand(net, s, x), rtol=1e-13, atol=1e-14)


@pytest.mark.parametrize("pool2", [None, "avg", "max"])
def test_conv_network_relaxes_to_a_fixed_point(pool2):
    net, x = make_conv(37.0, pool2)
    with torch.no_grad():
        res = relax(net, x, steps=1000, tol=1e-13, check_every=2)
    assert res.all_converged and res.steps < 1000
    assert [tuple(t.shape[1:]) for t in res.u] == net.shapes
    phi = conv_drive_by_hand(net, res.s, x)
    assert_close(phi, res.u, rtol=0, atol=1e-12)


@pytest.mark.parametrize("pool2", [None, "avg", "max"])
def test_conv_network_phi_s_symmetric_iff_alpha_zero(pool2):
    sym_errs = {}
    for alpha in (0.0, 90.0):
        net, x = make_conv(alpha, pool2)
        with torch.no_grad():
            res = relax(net, x, steps=1000, tol=1e-13, check_every=2)
        assert res.all_converged
        jac = state_jacobian(net, x, res.s).detach()
        assert jac.shape == (3, net.num_units, net.num_units)
        assert float(jac.abs().max()) > 1e-2
        sym_errs[alpha] = float((jac - jac.mT).abs().max())
        if alpha == 0.0:
            assert_close(jac, jac.mT, rtol=0, atol=1e-12)
        # the forward block ∂Φ₂/∂s₁ is the Jacobian of the forward map, per sample
        n1 = math.prod(net.shapes[0])
        c2 = net.connections[1]
        w2 = c2.weight.detach()
        for b in range(3):

            def f2(z, w2=w2, c2=c2):
                y = F.conv2d(z[None], w2, padding=1)
                y = (
                    F.avg_pool2d(y, 2)
                    if c2.pool == "avg"
                    else F.max_pool2d(y, 2)
                    if c2.pool == "max"
                    else y
                )
                return y[0]

            ref = torch.autograd.functional.jacobian(f2, res.s[0][b].detach())
            ref = ref.reshape(-1, n1)
            assert_close(jac[b, n1:, :n1], ref, rtol=0, atol=1e-13)
    assert sym_errs[90.0] > 1e-2


def test_conv_network_complex_beta_zero_imag_matches_real():
    net, x = make_conv(37.0, "avg")
    y = torch.rand(3, *net.shapes[-1], dtype=F64, generator=_gen(10))
    betas = torch.tensor([0.2, -0.1], dtype=F64)
    with torch.no_grad():
        real = relax(net, x, steps=150, beta=betas, nudge=lambda s: s - y)
        cplx = relax(net, x, steps=150, beta=betas.to(C128), nudge=lambda s: s - y)
    assert_close([t.real for t in cplx.u], real.u, rtol=0, atol=1e-13)
    for t in cplx.u:
        assert float(t.imag.detach().abs().max()) <= 1e-13

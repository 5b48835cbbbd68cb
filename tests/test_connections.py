"""Connections: forward maps, their plain-transpose adjoints and the feedback angle mix.

References: dense Jacobians of ``map`` built by ``torch.autograd.functional.jacobian``
(float64), torch.nn.functional written out, and the angle formula
θ_fb = sin α θ_0 + cos α θ by hand (docs/design.md §2, §4).
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.testing import assert_close

from neurosim.substrate import (
    AbstractConnection,
    BoundConnection,
    Conv2d,
    Dense,
    LayeredNetwork,
    ModuleConnection,
    real_linear,
    sincos_deg,
)

F64 = torch.float64
C128 = torch.complex128
LEAD = (2, 3)  # (K probes, B samples): adjoints must broadcast over both


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# -- connection factories ------------------------------------------------------------------


def _dense(alpha=0.0, seed=0):
    return Dense(5, 4, alpha=alpha, generator=_gen(seed))


def _conv(in_shape=(2, 7, 7), stride=1, padding=0, pool=None, alpha=0.0, seed=0):
    return Conv2d(
        in_shape, 3, 3, stride=stride, padding=padding, pool=pool, alpha=alpha, generator=_gen(seed)
    )


def _linear_module(seed=0):
    torch.manual_seed(seed)
    return nn.Linear(5, 4, dtype=F64)


def _module_linear(alpha=0.0, seed=0):
    return ModuleConnection(
        _linear_module(seed), (5,), (4,), alpha=alpha, generator=_gen(seed + 100)
    )


def _module_linear_nobias(alpha=0.0, seed=0):
    torch.manual_seed(seed)
    mod = nn.Linear(5, 4, bias=False, dtype=F64)
    return ModuleConnection(mod, (5,), (4,), alpha=alpha, generator=_gen(seed + 100))


def _module_tanh(alpha=0.0, seed=0):
    torch.manual_seed(seed)
    mod = nn.Sequential(nn.Linear(5, 4, dtype=F64), nn.Tanh())
    return ModuleConnection(mod, (5,), (4,), alpha=alpha, generator=_gen(seed + 100))


CONV_CASES = [
    pytest.param(
        dict(in_shape=hw, stride=st, padding=pd, pool=pl), id=f"conv-{hw[1]}-s{st}-p{pd}-{pl}"
    )
    for hw in [(2, 6, 6), (2, 7, 7)]
    for st in (1, 2)
    for pd in (0, 1)
    for pl in (None, "avg", "max")
]

REAL_CASES = [
    pytest.param(lambda **kw: _dense(**kw), id="dense"),
    *[
        pytest.param((lambda c: lambda **kw: _conv(**c, **kw))(p.values[0]), id=p.id)
        for p in CONV_CASES
    ],
    pytest.param(lambda **kw: _module_linear(**kw), id="module-linear"),
    pytest.param(lambda **kw: _module_tanh(**kw), id="module-linear-tanh"),
]


def _rand(shape, seed, dtype=F64):
    g = _gen(seed)
    if dtype.is_complex:
        re = torch.randn(shape, dtype=F64, generator=g)
        im = torch.randn(shape, dtype=F64, generator=g)
        return torch.complex(re, im)
    return torch.randn(shape, dtype=dtype, generator=g)


def _jacobian_transpose_apply(conn, params, s_in, s_out):
    """Jᵀ s_out with J the dense Jacobian of map(·, params) at s_in (all lead dims flattened)."""
    params = {k: v.detach() for k, v in params.items()}
    jac = torch.autograd.functional.jacobian(lambda z: conn.map(z, params), s_in, vectorize=True)
    jac = jac.reshape(s_out.numel(), s_in.numel())
    return (jac.T @ s_out.reshape(-1)).reshape(s_in.shape)


# -- real states: adjoint is the transpose Jacobian ---------------------------------------


@pytest.mark.parametrize("make", REAL_CASES)
def test_adjoint_is_transpose_jacobian_of_map(make):
    conn = make()
    s_in = _rand((*LEAD, *conn.in_shape), 1)
    s_out = _rand((*LEAD, *conn.out_shape), 2)
    params = conn.forward_params()
    got = conn.adjoint(s_out, s_in, params).detach()
    ref = _jacobian_transpose_apply(conn, params, s_in, s_out)
    assert got.shape == s_in.shape
    assert_close(got, ref, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("make", REAL_CASES)
def test_bound_feedback_is_transpose_jacobian_of_angle_mixed_map(make):
    """BoundConnection.feedback uses θ_fb(α), forward uses θ; α = 30."""
    conn = make(alpha=30.0)
    bound = conn.bind()
    assert isinstance(bound, BoundConnection)
    s_in = _rand((*LEAD, *conn.in_shape), 3)
    s_out = _rand((*LEAD, *conn.out_shape), 4)
    fb = conn.feedback_params()
    ref = _jacobian_transpose_apply(conn, fb, s_in, s_out)
    assert_close(bound.feedback(s_out, s_in).detach(), ref, rtol=1e-12, atol=1e-13)
    assert_close(
        bound.forward(s_in).detach(), conn.map(s_in, conn.forward_params()).detach(), rtol=0, atol=0
    )
    # and feedback is not the forward-parameter adjoint (θ_fb ≠ θ at 30°)
    ref_fwd = _jacobian_transpose_apply(conn, conn.forward_params(), s_in, s_out)
    assert float((ref - ref_fwd).abs().max()) > 1e-3


def test_dense_map_and_adjoint_explicit():
    conn = _dense()
    w = conn.weight.detach()
    s_in = _rand((*LEAD, 5), 5)
    s_out = _rand((*LEAD, 4), 6)
    assert_close(conn.map(s_in, conn.forward_params()).detach(), s_in @ w.T, rtol=1e-15, atol=1e-15)
    assert_close(
        conn.adjoint(s_out, s_in, conn.forward_params()).detach(), s_out @ w, rtol=1e-15, atol=1e-15
    )


@pytest.mark.parametrize("case", CONV_CASES)
def test_conv_map_matches_functional_reference(case):
    conn = _conv(**case)
    k = conn.weight.detach()
    s_in = _rand((*LEAD, *conn.in_shape), 7)
    ref = F.conv2d(
        s_in.reshape(-1, *conn.in_shape), k, stride=case["stride"], padding=case["padding"]
    )
    if case["pool"] == "avg":
        ref = F.avg_pool2d(ref, 2)
    elif case["pool"] == "max":
        ref = F.max_pool2d(ref, 2)
    ref = ref.reshape(*LEAD, *ref.shape[1:])
    got = conn.map(s_in, conn.forward_params()).detach()
    assert tuple(ref.shape[len(LEAD) :]) == conn.out_shape
    assert_close(got, ref, rtol=1e-14, atol=1e-14)


def test_conv_rejects_unknown_pool():
    with pytest.raises(ValueError, match="pool"):
        Conv2d((1, 4, 4), 2, 3, pool="median")


def test_max_pool_adjoint_is_state_dependent():
    """The max-pool feedback routes through the argmax of the state below."""
    conn = _conv(pool="max")
    s_out = _rand((*LEAD, *conn.out_shape), 8)
    p = conn.forward_params()
    a = conn.adjoint(s_out, _rand((*LEAD, *conn.in_shape), 9), p).detach()
    b = conn.adjoint(s_out, _rand((*LEAD, *conn.in_shape), 10), p).detach()
    assert float((a - b).abs().max()) > 1e-3


# -- complex states ------------------------------------------------------------------------

COMPLEX_LINEAR_CASES = [
    pytest.param(lambda: _dense(), id="dense"),
    *[
        pytest.param((lambda c: lambda: _conv(**c))(p.values[0]), id=p.id)
        for p in CONV_CASES
        if p.values[0]["pool"] != "max"
    ],
    pytest.param(lambda: _module_linear(), id="module-linear"),  # affine: Linear has a bias
    pytest.param(lambda: _module_linear_nobias(), id="module-linear-nobias"),
]


@pytest.mark.parametrize("make", COMPLEX_LINEAR_CASES)
def test_complex_map_splits_into_real_and_imaginary(make):
    """map(a + ib) = map(a) + i (map(b) − map(0)) for real-coefficient affine maps.

    map(0) = 0 for the linear ones; nn.Linear with a bias is affine.
    """
    conn = make()
    p = conn.forward_params()
    a = _rand((*LEAD, *conn.in_shape), 11, C128)
    got = conn.map(a, p).detach()
    offset = conn.map(torch.zeros_like(a.real), p).detach()
    ref = torch.complex(conn.map(a.real, p).detach(), conn.map(a.imag, p).detach() - offset)
    assert got.dtype == C128
    assert_close(got, ref, rtol=1e-14, atol=1e-14)


@pytest.mark.parametrize("make", COMPLEX_LINEAR_CASES)
def test_complex_adjoint_is_plain_transpose(make):
    """<map(a) − map(0), b> == <a, adjoint(b)> for the bilinear (non-conjugated) product."""
    conn = make()
    p = conn.forward_params()
    a = _rand((*LEAD, *conn.in_shape), 12, C128)
    b = _rand((*LEAD, *conn.out_shape), 13, C128)
    adj = conn.adjoint(b, a, p).detach()
    assert adj.dtype == C128
    offset = conn.map(torch.zeros_like(a), p).detach()
    lhs = ((conn.map(a, p).detach() - offset) * b).sum()
    rhs = (a * adj).sum()
    assert_close(lhs, rhs, rtol=1e-13, atol=1e-12)
    # the adjoint is not conjugated on the way out
    assert float((lhs - (a * adj.conj()).sum()).abs()) > 1e-3
    # and it is linear with real coefficients: adjoint(b) = adjoint(Re b) + i adjoint(Im b)
    split = torch.complex(
        conn.adjoint(b.real, a.real, p).detach(), conn.adjoint(b.imag, a.real, p).detach()
    )
    assert_close(adj, split, rtol=1e-13, atol=1e-13)


def test_module_connection_nonlinear_complex_adjoint_is_plain_transpose():
    """tanh(W z + c) as a ModuleConnection at complex z: Jᵀ b = Wᵀ(diag(1 − tanh²(W z + c)) b)."""
    conn = _module_tanh(alpha=30.0)
    fb = conn.feedback_params()
    w, c = fb["0.weight"].detach(), fb["0.bias"].detach()
    z = 0.5 * _rand((*LEAD, 5), 35, C128)
    b = _rand((*LEAD, 4), 36, C128)
    pre = z @ w.T.to(C128) + c
    assert_close(conn.map(z, fb).detach(), torch.tanh(pre), rtol=1e-14, atol=1e-14)
    ref = ((1 - torch.tanh(pre) ** 2) * b) @ w.to(C128)
    got = conn.bind().feedback(b, z).detach()
    assert_close(got, ref, rtol=1e-13, atol=1e-13)
    herm = ((1 - torch.tanh(pre) ** 2).conj() * b) @ w.to(C128)
    assert float((got - herm).abs().max()) > 1e-3


class _TanhDense(Dense):
    """A nonlinear holomorphic map tanh(W s): exercises the default (vjp) adjoint."""

    def map(self, s_in, params):
        return torch.tanh(real_linear(lambda z: F.linear(z, params["weight"]), s_in))

    adjoint = AbstractConnection.adjoint  # the default vector-Jacobian product


def test_default_adjoint_of_nonlinear_map_is_plain_transpose_at_complex_states():
    """J(s)ᵀ b with J = diag(1 − tanh²(W s)) W written out; complex s makes J complex."""
    conn = _TanhDense(5, 4, generator=_gen(30))
    p = conn.forward_params()
    w = conn.weight.detach()
    s_in = 0.5 * _rand((*LEAD, 5), 31, C128)
    b = _rand((*LEAD, 4), 32, C128)
    wc = w.to(C128)
    d = 1 - torch.tanh(s_in @ wc.T) ** 2
    ref = (d * b) @ wc
    got = conn.adjoint(b, s_in, p).detach()
    assert_close(got, ref, rtol=1e-13, atol=1e-13)
    # the Hermitian vector-Jacobian product (what torch.func.vjp returns) is different
    herm = (d.conj() * b) @ wc
    assert float((got - herm).abs().max()) > 1e-3
    # real states: the same formula, real
    x = _rand((*LEAD, 5), 33)
    br = _rand((*LEAD, 4), 34)
    ref_r = ((1 - torch.tanh(x @ w.T) ** 2) * br) @ w
    assert_close(conn.adjoint(br, x, p).detach(), ref_r, rtol=1e-13, atol=1e-14)
    # a real state below with a complex s_out (nudged probe above a real layer) is promoted
    got_mixed = conn.adjoint(b, x, p).detach()
    ref_mixed = ((1 - torch.tanh(x @ w.T) ** 2).to(C128) * b) @ wc
    assert_close(got_mixed, ref_mixed, rtol=1e-13, atol=1e-13)


def test_max_pool_rejects_complex_states():
    conn = _conv(pool="max")
    p = conn.forward_params()
    with pytest.raises(TypeError, match="holomorphic"):
        conn.map(_rand((*LEAD, *conn.in_shape), 14, C128), p)
    with pytest.raises(TypeError, match="holomorphic"):
        conn.adjoint(
            _rand((*LEAD, *conn.out_shape), 15, C128), _rand((*LEAD, *conn.in_shape), 16), p
        )


def test_real_linear_stacks_real_and_imaginary_parts():
    g = _gen(17)
    m = torch.randn(4, 6, dtype=F64, generator=g)
    z = _rand((3, 6), 18, C128)
    calls = []

    def fn(v):
        calls.append(v.shape)
        return v @ m.T

    got = real_linear(fn, z)
    assert calls == [(6, 6)]  # one stacked real call
    assert_close(got, z @ m.T.to(C128), rtol=1e-14, atol=1e-14)
    x = torch.randn(3, 6, dtype=F64, generator=g)
    assert_close(real_linear(fn, x), x @ m.T, rtol=0, atol=0)


# -- the feedback angle mix -------------------------------------------------------------------


@pytest.mark.parametrize(
    "alpha, expected",
    [
        (0, (0.0, 1.0)),
        (90, (1.0, 0.0)),
        (180, (0.0, -1.0)),
        (270, (-1.0, 0.0)),
        (360, (0.0, 1.0)),
        (450, (1.0, 0.0)),
        (-90, (-1.0, 0.0)),
        (90.0, (1.0, 0.0)),
    ],
)
def test_sincos_deg_exact_at_right_angles(alpha, expected):
    s, c = sincos_deg(alpha)
    assert (s, c) == expected  # exact, no 6e-17 residue
    assert math.copysign(1.0, c) == math.copysign(1.0, expected[1]) or c == 0.0


@pytest.mark.parametrize("alpha", [30, 37, 45, 123.5, -20])
def test_sincos_deg_generic_angles(alpha):
    s, c = sincos_deg(alpha)
    assert s == pytest.approx(math.sin(math.radians(alpha)), abs=1e-16)
    assert c == pytest.approx(math.cos(math.radians(alpha)), abs=1e-16)
    assert s * s + c * c == pytest.approx(1.0, abs=1e-15)


ANGLE_CASES = [
    pytest.param(lambda a: _dense(alpha=a), id="dense"),
    pytest.param(lambda a: _conv(alpha=a, pool="avg"), id="conv"),
    pytest.param(lambda a: _module_linear(alpha=a), id="module-linear"),
]


@pytest.mark.parametrize("make", ANGLE_CASES)
def test_feedback_params_at_30_degrees(make):
    conn = make(30.0)
    fwd, fb0, fb = conn.forward_params(), conn.feedback0_params(), conn.feedback_params()
    assert set(fb) == set(fwd) == set(fb0)
    for k in fwd:
        ref = 0.5 * fb0[k].detach() + (math.sqrt(3) / 2) * fwd[k].detach()
        assert_close(fb[k].detach(), ref, rtol=1e-15, atol=1e-15)


@pytest.mark.parametrize("make", ANGLE_CASES)
def test_feedback_params_exact_at_0_and_90(make):
    conn = make(0.0)
    fwd, fb0 = conn.forward_params(), conn.feedback0_params()
    fb = conn.feedback_params()
    for k in fwd:
        assert fb[k] is fwd[k]  # the very same parameter tensors
    conn.alpha = 90.0
    fb = conn.feedback_params()
    for k in fwd:
        assert fb[k] is fb0[k]
    # the two parameter sets are genuinely different
    for k in fwd:
        assert not torch.equal(fwd[k], fb0[k])


@pytest.mark.parametrize("make", ANGLE_CASES)
def test_feedback_params_at_180_and_270_are_negated(make):
    conn = make(180.0)
    fwd, fb0 = conn.forward_params(), conn.feedback0_params()
    for k, v in conn.feedback_params().items():
        assert torch.equal(v.detach(), -fwd[k].detach())
    conn.alpha = 270.0
    for k, v in conn.feedback_params().items():
        assert torch.equal(v.detach(), -fb0[k].detach())


def test_bind_materialises_forward_and_feedback():
    conn = _dense(alpha=37.0)
    bound = conn.bind()
    s, c = math.sin(math.radians(37)), math.cos(math.radians(37))
    assert bound.params["weight"] is conn.weight
    assert_close(
        bound.feedback_params["weight"].detach(),
        s * conn.weight_b0.detach() + c * conn.weight.detach(),
        rtol=1e-15,
        atol=1e-15,
    )


def test_network_alpha_setter_updates_every_connection():
    net = LayeredNetwork.dense([4, 5, 3], alpha=0.0, generator=_gen(19))
    assert net.alpha == 0.0
    net.alpha = 90
    assert all(c.alpha == 90.0 for c in net.connections)
    assert net.connections[1].feedback_params()["weight"] is net.connections[1].weight_b0
    net.connections[0].alpha = 10.0
    with pytest.raises(ValueError):
        _ = net.alpha


# -- initialisation ---------------------------------------------------------------------------


def test_dense_init_bound_and_reproducibility():
    a = Dense(16, 8, gain=2.0, generator=_gen(20))
    b = Dense(16, 8, gain=2.0, generator=_gen(20))
    c = Dense(16, 8, gain=2.0, generator=_gen(21))
    bound = 2.0 / math.sqrt(16)
    for t in (a.weight.detach(), a.weight_b0.detach()):
        assert t.dtype == F64
        assert float(t.abs().max()) <= bound
        assert float(t.abs().max()) > 0.5 * bound
    assert torch.equal(a.weight, b.weight) and torch.equal(a.weight_b0, b.weight_b0)
    assert not torch.equal(a.weight, c.weight)
    assert not torch.equal(a.weight, a.weight_b0)


def test_module_connection_feedback_copy_independent_and_reproducible():
    base = _linear_module(0)
    before = {k: v.detach().clone() for k, v in base.named_parameters()}
    rng_before = torch.random.get_rng_state()
    c1 = ModuleConnection(base, (5,), (4,), generator=_gen(42))
    assert torch.equal(torch.random.get_rng_state(), rng_before)  # global RNG untouched
    c2 = ModuleConnection(_linear_module(0), (5,), (4,), generator=_gen(42))
    c3 = ModuleConnection(_linear_module(0), (5,), (4,), generator=_gen(43))
    # the forward module is the one passed in, unchanged
    assert c1.module is base
    for k, v in c1.forward_params().items():
        assert torch.equal(v, before[k])
    f0_1, f0_2, f0_3 = c1.feedback0_params(), c2.feedback0_params(), c3.feedback0_params()
    assert set(f0_1) == set(before)
    for k in before:
        assert f0_1[k].dtype == F64 and f0_1[k].shape == before[k].shape
        assert f0_1[k] is not c1.forward_params()[k]
        assert not torch.equal(f0_1[k], before[k])  # independent init
        assert torch.equal(f0_1[k], f0_2[k])  # reproducible from the generator seed
        assert not torch.equal(f0_1[k], f0_3[k])

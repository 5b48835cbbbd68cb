"""Neuron model: mismatch, thermal noise, DAC/ADC, and how the substrate uses them."""

from __future__ import annotations

import math

import pytest
import torch
from conftest import _gen, _z3, make_problem
from test_estimators import _estimate

from neurosim.learning import Exact, GeneralizedEP, Holomorphic
from neurosim.substrate import (
    AnalogHardware,
    DeviceModel,
    FixedPoint,
    LayeredNetwork,
    LeakyEuler,
    NeuronModel,
    relax,
)

N = 100_000


def _hw(neurons: NeuronModel, shapes=((N,),), seed: int = 0, **kw) -> AnalogHardware:
    return AnalogHardware(DeviceModel(), neurons, seed=seed, layer_shapes=shapes, **kw)


def test_ideal_neurons_are_identity():
    nm = NeuronModel()
    assert nm.is_ideal
    x = torch.rand(4, 3, dtype=torch.float64)
    z = torch.randn(4, 3, dtype=torch.complex128)
    assert nm.dac(x) is x and nm.adc(z) is z
    assert nm.thermal_noise([x], 0.1, None) is None
    hw = AnalogHardware(DeviceModel(), nm, seed=0)
    assert hw.neuron_gain(0) is None and hw.neuron_offset(0) is None
    assert hw.state_noise([x], 0.5) is None
    assert hw.dac(x) is x
    s = [x, z]
    assert all(a is b for a, b in zip(hw.adc(s), s, strict=True))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"gain_std": -0.1},
        {"noise_std": math.inf},
        {"dac_bits": 2.5},
        {"adc_bits": -1},
        {"dac_range": (1.0, 0.0)},
        {"adc_range": (0.0, math.inf)},
    ],
)
def test_invalid_neuron_models_raise(kwargs):
    with pytest.raises(ValueError):
        NeuronModel(**kwargs)


def test_mismatch_without_layer_shapes_raises():
    with pytest.raises(ValueError, match="for_network"):
        AnalogHardware(DeviceModel(), NeuronModel(gain_std=0.1), seed=0)


def test_gain_and_offset_statistics_fixed_and_independent():
    gs, os_ = 0.1, 0.05
    hw = _hw(NeuronModel(gain_std=gs, offset_std=os_))
    g, o = hw.neuron_gain(0), hw.neuron_offset(0)
    assert g.shape == o.shape == (N,)
    assert abs(float(g.std()) / gs - 1) < 0.05 and abs(float(o.std()) / os_ - 1) < 0.05
    _z3(float(g.mean()), 1.0, gs / math.sqrt(N))
    _z3(float(o.mean()), 0.0, os_ / math.sqrt(N))
    assert hw.neuron_gain(0) is g  # fixed per unit
    # turning the offset off leaves the gains unchanged; another seed changes them
    assert torch.equal(_hw(NeuronModel(gain_std=gs)).neuron_gain(0), g)
    assert _hw(NeuronModel(gain_std=gs)).neuron_offset(0) is None
    assert not torch.equal(_hw(NeuronModel(gain_std=gs), seed=1).neuron_gain(0), g)
    assert float((g - o).abs().min()) > 0  # gains and offsets are different draws


def _mismatched_net(dtype=torch.float64, activation="sigmoid"):
    net = LayeredNetwork.dense([5, 7, 3], activation=activation, generator=_gen(0), dtype=dtype)
    neurons = NeuronModel(gain_std=0.2, offset_std=0.3)
    net.hardware = AnalogHardware.for_network(net, DeviceModel(), neurons, seed=4)
    return net


@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "shifted_sigmoid", "dsilu"])
def test_activate_derivative_is_the_derivative_of_activate(activation):
    net = _mismatched_net(activation=activation)
    u = [torch.randn(6, *sh, dtype=torch.float64, generator=_gen(1)) for sh in net.shapes]
    d = net.activate_derivative(u)
    for l, v in enumerate(u):
        v = v.clone().requires_grad_(True)
        (grad,) = torch.autograd.grad(net.activate([*u[:l], v, *u[l + 1 :]])[l].sum(), v)
        torch.testing.assert_close(d[l], grad, rtol=1e-12, atol=1e-14)
    # the mismatch is really there: the ideal derivative differs
    ideal = [net.activation.derivative(v) for v in u]
    assert not torch.allclose(d[0], ideal[0])
    # complex states: a central difference of the holomorphic ρ(g u + o), any direction
    z = [v + 0.3j * torch.randn_like(v) for v in u]
    dz = net.activate_derivative(z)
    h = 1e-6
    for step in (h, 1j * h):
        plus = net.activate([v + step for v in z])
        minus = net.activate([v - step for v in z])
        for a, b, c in zip(plus, minus, dz, strict=True):
            torch.testing.assert_close((a - b) / (2 * step), c, rtol=1e-7, atol=1e-9)


def test_packed_activation_matches_complex_activation_with_mismatch():
    net = _mismatched_net()
    z = [
        torch.complex(torch.randn(4, *sh, dtype=torch.float64), torch.randn(4, *sh).double())
        for sh in net.shapes
    ]
    direct = net.activate(z)
    packed = net.activate_packed([torch.stack((v.real, v.imag)) for v in z])
    for a, p in zip(direct, packed, strict=True):
        torch.testing.assert_close(torch.complex(p[0], p[1]), a, rtol=1e-12, atol=1e-14)


def test_mismatch_keeps_the_network_dtype():
    net = _mismatched_net(dtype=torch.float32)
    assert net.hardware.neuron_gain(1).dtype == torch.float32
    x = torch.rand(3, 5)
    r = relax(net, x, steps=20)
    assert all(t.dtype == torch.float32 for t in r.u)
    rc = relax(net, x, steps=20, beta=torch.tensor([0.1j]), nudge=lambda s: s)
    assert all(t.dtype == torch.complex64 for t in rc.u)
    # thermal noise on (K, B, ...) probe states, packed and float32
    noisy = NeuronModel(gain_std=0.2, offset_std=0.3, noise_std=0.05)
    net.hardware = AnalogHardware.for_network(net, DeviceModel(), noisy, seed=4)
    beta = torch.tensor([0.1, 0.1j, -0.1])
    rn = relax(net, x, steps=20, beta=beta, nudge=lambda s: s)
    assert all(t.dtype == torch.complex64 and t.shape[:2] == (3, 3) for t in rn.u)
    quiet = relax(net, x, steps=20, beta=beta, nudge=lambda s: s, u0=None)
    assert not torch.equal(rn.u[0], quiet.u[0])  # fresh noise per relaxation


# -- thermal noise --------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_state_noise_shapes_dtypes_and_scale(dtype):
    sigma, eta = 0.2, 0.1
    hw = AnalogHardware(DeviceModel(), NeuronModel(noise_std=sigma), seed=0)
    like = [torch.zeros(4, 50, 100, dtype=dtype), torch.zeros(2, 4, 50, 20, dtype=dtype)]
    noise = hw.state_noise(like, eta)
    for n, v in zip(noise, like, strict=True):
        assert n.shape == v.shape and n.dtype == dtype
    flat = torch.cat([n.double().flatten() for n in noise])
    scale = sigma * math.sqrt(eta)
    _z3(float(flat.std()), scale, scale / math.sqrt(2 * (flat.numel() - 1)))
    again = hw.state_noise(like, eta)
    assert not torch.equal(again[0], noise[0])  # fresh draws every step


def _zero_weight_net(sigma: float) -> LayeredNetwork:
    net = LayeredNetwork.dense([4, 50, 50], generator=_gen(0))
    with torch.no_grad():
        for p in net.parameters():
            p.zero_()
    net.hardware = AnalogHardware.for_network(net, DeviceModel(), NeuronModel(noise_std=sigma), 0)
    return net


def test_thermal_noise_per_step_increment_and_stationary_variance():
    """u_{t+1} = (1 − η) u_t + σ √η ξ on a zero-weight network (Φ = 0)."""
    sigma = 0.3
    integ = LeakyEuler(dt=0.1, tau=1.0)
    eta = integ.rate
    net = _zero_weight_net(sigma)
    x = torch.rand(400, 4, dtype=torch.float64)
    one = relax(net, x, steps=1, integrator=integ)
    inc = torch.cat([t.detach().flatten() for t in one.u])
    scale = sigma * math.sqrt(eta)
    _z3(float(inc.mean()), 0.0, scale / math.sqrt(inc.numel()))
    _z3(float(inc.std()), scale, scale / math.sqrt(2 * (inc.numel() - 1)))
    r = relax(net, x, steps=300, integrator=integ)
    u = torch.cat([t.detach().flatten() for t in r.u])
    var = sigma**2 * eta / (1 - (1 - eta) ** 2)
    n = u.numel()
    _z3(float(u.var()), var, var * math.sqrt(2 / (n - 1)))
    # the fixed-point iteration (η = 1) adds σ ξ per step: stationary variance σ²
    rf = relax(net, x, steps=5, integrator=FixedPoint(), check_every=2)
    uf = torch.cat([t.detach().flatten() for t in rf.u])
    _z3(float(uf.var()), sigma**2, sigma**2 * math.sqrt(2 / (n - 1)))


# -- converters -----------------------------------------------------------------------------
@pytest.mark.parametrize("bits", [1, 2, 4])
def test_dac_and_adc_levels_clipping_and_complex_parts(bits):
    lo, hi = -0.5, 1.5
    nm = NeuronModel(dac_bits=bits, dac_range=(lo, hi), adc_bits=bits, adc_range=(lo, hi))
    k = 2**bits
    x = torch.linspace(-2, 3, 20001, dtype=torch.float64)
    for q in (nm.dac(x), nm.adc(x)):
        vals = q.unique()
        assert vals.numel() == k
        torch.testing.assert_close(vals, torch.linspace(lo, hi, k, dtype=torch.float64))
        assert bool((q[x <= lo] == lo).all() and (q[x >= hi] == hi).all())
        assert float((q - x.clamp(lo, hi)).abs().max()) <= (hi - lo) / (k - 1) / 2 + 1e-12
    re = torch.linspace(-1, 2, 101, dtype=torch.float64)
    im = torch.linspace(2, -1, 101, dtype=torch.float64)
    qz = nm.adc(torch.complex(re, im))
    assert qz.is_complex()
    assert torch.equal(qz.real, nm.adc(re)) and torch.equal(qz.imag, nm.adc(im))
    hw = AnalogHardware(DeviceModel(), nm, seed=0)
    assert torch.equal(hw.adc([x, torch.complex(re, im)])[1], qz)
    assert torch.equal(hw.dac(x), nm.dac(x))
    # straight-through gradient
    xg = x.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(nm.dac(xg).sum(), xg)
    assert torch.equal(g, torch.ones_like(x))


def test_dac_quantizes_the_network_input():
    net = LayeredNetwork.dense([6, 8, 4], generator=_gen(0))
    x = torch.rand(5, 6, dtype=torch.float64, generator=_gen(1))
    coarse = NeuronModel(dac_bits=2, dac_range=(0.0, 1.0))
    ref = relax(net, torch.round(x * 3) / 3, steps=50)
    net.hardware = AnalogHardware(DeviceModel(), coarse, seed=0)
    r = relax(net, x, steps=50)
    for a, b in zip(r.u, ref.u, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-14, atol=1e-15)


def test_ep_reads_states_through_the_adc():
    p = make_problem(0.0, sizes=(6, 8, 4), batch=4)
    exact = _estimate(p, Exact()).delta
    rule = GeneralizedEP(Holomorphic(r=0.1, n=6), p.free_phase, p.nudged_phase)
    deltas = {}
    for bits in (0, 24, 4):
        p.network.hardware = AnalogHardware(
            DeviceModel(), NeuronModel(adc_bits=bits), seed=0
        )  # range (−1, 1): imaginary parts of probe states are signed
        deltas[bits] = rule.compute(p.network, p.loss, p.x, p.y, free=p.free).delta
    err = lambda d, ref: max(  # noqa: E731
        float((a - b).abs().max()) for a, b in zip(d, ref, strict=True)
    )
    scale = max(float(t.abs().max()) for t in exact)
    assert err(deltas[0], exact) < 1e-4 * scale  # ideal ADC: the Cauchy estimate
    # 24 bits: a quantization step 2^-24 perturbs δ by ~ step / r, no more
    assert 0 < err(deltas[24], deltas[0]) < 10 * 2.0**-24 / 0.1
    assert err(deltas[4], deltas[0]) > 0.1 * scale  # 4 bits cannot resolve O(r) responses

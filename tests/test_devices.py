"""Synaptic device model and the analog substrate: statistics under fixed seeds, exactness."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from conftest import _gen, _z3, make_problem
from test_estimators import _estimate

from neurosim.learning import BPTT, Exact, GeneralizedEP, ImplicitBP, MSELoss
from neurosim.substrate import (
    AnalogHardware,
    DeviceModel,
    LayeredNetwork,
    NeuronModel,
    relax,
)
from neurosim.substrate.analog import array_key, derive_seed
from neurosim.substrate.devices import FAULT_W_MAX, FAULT_W_MIN, FAULT_ZERO

N = 100_000


# -- ideal defaults are exactly the identity -----------------------------------------------
def test_ideal_device_is_identity_and_draws_nothing():
    dev = DeviceModel()
    assert dev.is_ideal and dev.read_is_identity and dev.write_is_identity
    gen = _gen(1)
    before = gen.get_state()
    w = torch.randn(5, 7, dtype=torch.float64)
    w_new = torch.randn(5, 7, dtype=torch.float64)
    state = dev.realize(w.shape, gen)
    assert state.gain is None and state.stuck is None
    assert dev.read(w, state, gen) is w
    assert dev.write(w, w_new, state, gen) is w_new
    assert torch.equal(gen.get_state(), before)


def test_each_effect_leaves_the_others_untouched():
    """An effect at its default adds no op: read-only effects leave writes bitwise alone."""
    w = torch.randn(50, dtype=torch.float64)
    w_new = w + 1e-3 * torch.randn(50, dtype=torch.float64)
    for dev in (DeviceModel(d2d_std=0.2), DeviceModel(read_noise_std=0.1), DeviceModel(levels=0)):
        assert dev.write(w, w_new, dev.realize(w.shape, _gen()), _gen()) is w_new
    # writes that only round pulses: read is the identity
    dev = DeviceModel(dw_min=0.01)
    assert dev.read(w, None, _gen()) is w


@pytest.mark.parametrize(
    "kwargs",
    [
        {"w_min": 1.0, "w_max": 1.0},
        {"levels": 1, "w_min": -1, "w_max": 1},
        {"levels": 4},
        {"levels": 2.5, "w_min": -1, "w_max": 1},
        {"d2d_std": -0.1},
        {"stuck_zero_prob": 0.7, "stuck_bound_prob": 0.5, "w_min": -1, "w_max": 1},
        {"stuck_bound_prob": 0.1},
        {"read_noise_mode": "per_bind"},
        {"update": "soft_bounds", "w_min": 0.0, "w_max": 1.0},
        {"update": "linear"},
        {"up_down": 1.0},
    ],
)
def test_invalid_device_models_raise(kwargs):
    with pytest.raises(ValueError):
        DeviceModel(**kwargs)


# -- reads ----------------------------------------------------------------------------------
@pytest.mark.parametrize("k", [2, 3, 16])
def test_quantization_gives_k_levels_nearest(k):
    dev = DeviceModel(w_min=-0.75, w_max=1.25, levels=k)
    w = torch.empty(N, dtype=torch.float64).uniform_(-1.5, 2.0, generator=_gen(k))
    q = dev.read(w, None)
    vals = torch.unique(q)
    assert vals.numel() == k
    levels = torch.linspace(-0.75, 1.25, k, dtype=torch.float64)
    torch.testing.assert_close(vals, levels, rtol=0, atol=1e-15)
    assert float(vals[0]) == -0.75 and float(vals[-1]) == 1.25
    # nearest level of the clipped weight (brute force)
    c = w.clamp(-0.75, 1.25)
    nearest = levels[(c[:, None] - levels[None, :]).abs().argmin(1)]
    torch.testing.assert_close(q, nearest, rtol=0, atol=1e-15)


def test_d2d_variation_statistics_and_fixed_realization():
    dev = DeviceModel(d2d_std=0.1)
    state = dev.realize((N,), _gen(3))
    w = torch.full((N,), 0.5, dtype=torch.float64)
    eff = dev.read(w, state)
    rel = eff / w
    assert abs(float(rel.std()) / 0.1 - 1) < 0.05
    assert abs(float(rel.mean()) - 1) < 3 * 0.1 / math.sqrt(N)
    assert torch.equal(dev.read(w, state), eff)  # a fixed realization
    assert torch.equal(dev.realize((N,), _gen(3)).gain, state.gain)
    assert not torch.equal(dev.realize((N,), _gen(4)).gain, state.gain)
    # the hardware realizes per (seed, layer, role, name), independent of call order
    a = AnalogHardware(dev, NeuronModel(), seed=0)
    b = AnalogHardware(dev, NeuronModel(), seed=0)
    c = AnalogHardware(dev, NeuronModel(), seed=1)
    w2 = torch.ones(20, 30, dtype=torch.float64)
    ra = [a.read_params(0, "forward", {"weight": w2})["weight"]]
    ra.append(a.read_params(1, "feedback", {"weight": w2})["weight"])
    rb1 = b.read_params(1, "feedback", {"weight": w2})["weight"]
    rb0 = b.read_params(0, "forward", {"weight": w2})["weight"]
    assert torch.equal(ra[0], rb0) and torch.equal(ra[1], rb1)
    assert not torch.equal(ra[0], ra[1])  # forward and feedback are distinct devices
    assert torch.equal(a.read_params(0, "forward", {"weight": w2})["weight"], ra[0])
    assert not torch.equal(c.read_params(0, "forward", {"weight": w2})["weight"], ra[0])
    # float32 arrays see the same realization
    r32 = b.read_params(0, "forward", {"weight": w2.float()})["weight"]
    assert r32.dtype == torch.float32
    torch.testing.assert_close(r32, rb0.float())


def test_stuck_fractions_values_and_writes():
    p0, pb = 0.05, 0.1
    dev = DeviceModel(w_min=-1.0, w_max=1.0, stuck_zero_prob=p0, stuck_bound_prob=pb)
    state = dev.realize((N,), _gen(5))
    f = state.fault
    for frac, p in [
        ((f == FAULT_ZERO).double().mean(), p0),
        (((f == FAULT_W_MAX) | (f == FAULT_W_MIN)).double().mean(), pb),
        ((f == FAULT_W_MAX).double().mean(), pb / 2),
        ((f == FAULT_W_MIN).double().mean(), pb / 2),
    ]:
        _z3(float(frac), p, math.sqrt(p * (1 - p) / N))
    w = torch.empty(N, dtype=torch.float64).uniform_(-0.9, 0.9, generator=_gen(6))
    eff = dev.read(w, state)
    assert (eff[f == FAULT_ZERO] == 0).all()
    assert (eff[f == FAULT_W_MAX] == 1.0).all() and (eff[f == FAULT_W_MIN] == -1.0).all()
    assert torch.equal(eff[~state.stuck], w[~state.stuck])
    w_new = w + 0.05
    out = dev.write(w, w_new, state, _gen(7))
    assert torch.equal(out[state.stuck], w[state.stuck])
    assert torch.equal(out[~state.stuck], w_new[~state.stuck])


def test_read_noise_per_read_statistics():
    sigma = 0.03
    dev = DeviceModel(read_noise_std=sigma)
    w = torch.full((N,), 0.2, dtype=torch.float64)
    gen = _gen(8)
    r1, r2 = dev.read(w, None, gen), dev.read(w, None, gen)
    assert not torch.equal(r1, r2)
    noise = torch.cat([r1, r2]) - 0.2
    n = noise.numel()
    _z3(float(noise.mean()), 0.0, sigma / math.sqrt(n))
    _z3(float(noise.std()), sigma, sigma / math.sqrt(2 * (n - 1)))
    assert dev.read(w, None, None) is w  # no generator: a noiseless read
    hw = AnalogHardware(dev, NeuronModel(), seed=0)
    assert not hw.per_step_read


class _Recording(AnalogHardware):
    """Records the forward read of layer 1 at every bind."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.reads: list[torch.Tensor] = []

    def read_params(self, layer, role, params):
        out = super().read_params(layer, role, params)
        if layer == 1 and role == "forward":
            self.reads.append(out["weight"].clone())
        return out


def test_per_step_read_noise_is_redrawn_at_every_relaxation_step():
    dev = DeviceModel(read_noise_std=0.05, read_noise_mode="per_step")
    net = LayeredNetwork.dense([6, 8, 4], generator=_gen(0))
    hw = _Recording(dev, NeuronModel(), seed=0)
    net.hardware = hw
    assert hw.per_step_read
    x = torch.rand(3, 6, dtype=torch.float64, generator=_gen(1))
    r = relax(net, x, steps=7)
    assert len(hw.reads) >= 7 + 1
    for a, b in zip(hw.reads[:-1], hw.reads[1:], strict=True):
        assert not torch.equal(a, b)
    # and the noise changes the trajectory relative to a noiseless substrate
    ideal = relax(LayeredNetwork.dense([6, 8, 4], generator=_gen(0)), x, steps=7)
    assert not torch.equal(r.u[-1], ideal.u[-1])
    # per-read mode: one read per bind, fixed during the relaxation
    hw2 = _Recording(DeviceModel(read_noise_std=0.05), NeuronModel(), seed=0)
    net.hardware = hw2
    relax(net, x, steps=7)
    assert not hw2.per_step_read and len(hw2.reads) == 1


def test_per_step_read_noise_reaches_the_input_array():
    """A single-layer network has only the input array: per-step reads must still differ."""
    x = torch.rand(3, 6, dtype=torch.float64, generator=_gen(1))
    u = {}
    for mode in ("per_read", "per_step"):
        net = LayeredNetwork.dense([6, 4], generator=_gen(0))
        net.hardware = AnalogHardware.for_network(
            net, DeviceModel(read_noise_std=0.05, read_noise_mode=mode), NeuronModel(), seed=0
        )
        u[mode] = relax(net, x, steps=5).u[0]
    assert not torch.equal(u["per_read"], u["per_step"])


# -- writes ---------------------------------------------------------------------------------
def test_soft_bounds_follow_the_formula():
    dev = DeviceModel(w_min=-0.8, w_max=1.2, update="soft_bounds")
    w = torch.linspace(-0.8, 1.2, 101, dtype=torch.float64)
    step = 1e-3
    up = dev.write(w, w + step, None) - w
    down = dev.write(w, w - step, None) - w
    torch.testing.assert_close(up, step * (1 - w / 1.2), rtol=1e-9, atol=1e-15)
    torch.testing.assert_close(down, -step * (1 - w / -0.8), rtol=1e-9, atol=1e-15)
    assert float(up[-1]) == 0.0 and float(down[0]) == 0.0  # no step at the bound it moves to
    assert abs(float(up[0]) - step * 5 / 3) < 1e-15 and abs(float(down[-1]) + 2.5 * step) < 1e-15


def test_up_down_asymmetry_ratio():
    beta = 0.2
    dev = DeviceModel(up_down=beta)
    w = torch.zeros(10, dtype=torch.float64)
    up = dev.write(w, w + 0.01, None)
    down = dev.write(w, w - 0.01, None)
    torch.testing.assert_close(up, torch.full_like(w, 0.01 * (1 + beta)))
    torch.testing.assert_close(down, torch.full_like(w, -0.01 * (1 - beta)))
    torch.testing.assert_close(up / -down, torch.full_like(w, (1 + beta) / (1 - beta)))


def test_pulse_rounding_is_integer_and_unbiased():
    dw = 0.1
    dev = DeviceModel(dw_min=dw)
    w = torch.zeros(N, dtype=torch.float64)
    frac = 0.37
    out = dev.write(w, w + (2 + frac) * dw, None, _gen(9))
    pulses = out / dw
    torch.testing.assert_close(pulses, pulses.round(), rtol=0, atol=1e-12)
    assert set(pulses.round().unique().tolist()) == {2.0, 3.0}
    _z3(float(out.mean()), (2 + frac) * dw, dw * math.sqrt(frac * (1 - frac) / N))
    # a requested change below one pulse fires with probability Δ/dw_min, either sign
    out = dev.write(w, w - 0.25 * dw, None, _gen(10))
    _z3(float(out.mean()), -0.25 * dw, dw * math.sqrt(0.25 * 0.75 / N))
    with pytest.raises(ValueError, match="generator"):
        dev.write(w, w + 1, None)


def test_write_noise_std_and_clipping():
    sigma = 0.02
    dev = DeviceModel(write_noise_std=sigma)
    w = torch.zeros(N, dtype=torch.float64)
    w_new = torch.full_like(w, 0.1)
    w_new[: N // 10] = 0.0  # not written: no noise
    out = dev.write(w, w_new, None, _gen(11))
    assert torch.equal(out[: N // 10], w[: N // 10])
    noise = (out - w_new)[N // 10 :]
    n = noise.numel()
    _z3(float(noise.mean()), 0.0, sigma / math.sqrt(n))
    _z3(float(noise.std()), sigma, sigma / math.sqrt(2 * (n - 1)))
    bounded = DeviceModel(w_min=-0.5, w_max=0.5, write_noise_std=0.1, dw_min=0.01)
    big = torch.linspace(-3, 3, 1001, dtype=torch.float64)
    out = bounded.write(torch.zeros_like(big), big, None, _gen(12))
    assert float(out.min()) == -0.5 and float(out.max()) == 0.5
    assert bool((out >= -0.5).all() and (out <= 0.5).all())


def test_hardware_write_maps_parameter_names_to_the_read_arrays():
    assert array_key("connections.2.weight") == (2, "forward", "weight")
    assert array_key("connections.2.weight_b0") == (2, "feedback", "weight")
    assert array_key("connections.0.module.0.weight") == (0, "forward", "0.weight")
    assert array_key("connections.0.module_b0.0.weight") == (0, "feedback", "0.weight")
    for name in ("biases.0", "connections.1.module.0.bias", "loss.weight"):
        assert array_key(name) is None
    assert derive_seed(0, "a") != derive_seed(0, "b") and derive_seed(0, "a") == derive_seed(0, "a")

    dev = DeviceModel(w_min=-1, w_max=1, stuck_zero_prob=0.3, write_noise_std=1e-3)
    net = LayeredNetwork.dense([6, 8, 4], alpha=90.0, generator=_gen(0))
    hw = AnalogHardware.for_network(net, dev, NeuronModel(), seed=3)
    net.hardware = hw
    bound = net.bind()  # realizes the arrays through reads
    params = dict(net.named_parameters())
    before = {k: v.detach().clone() for k, v in params.items()}
    with torch.no_grad():
        for p in params.values():
            p.add_(0.01)
    hw.write(params, before)
    for l in range(2):
        fw = hw.device_state(l, "forward", "weight", params[f"connections.{l}.weight"]).stuck
        fb = hw.device_state(l, "feedback", "weight", params[f"connections.{l}.weight_b0"]).stuck
        assert not torch.equal(fw, fb)
        # the stuck devices seen by reads are exactly the ones writes cannot change
        assert (bound.connections[l].params["weight"][fw] == 0).all()
        assert (bound.connections[l].feedback_params["weight"][fb] == 0).all()
        w, b0 = params[f"connections.{l}.weight"], params[f"connections.{l}.weight_b0"]
        assert torch.equal(w[fw], before[f"connections.{l}.weight"][fw])
        assert torch.equal(b0[fb], before[f"connections.{l}.weight_b0"][fb])
        assert not torch.equal(w[~fw], before[f"connections.{l}.weight"][~fw] + 0.01)  # noise
        torch.testing.assert_close(
            w[~fw], before[f"connections.{l}.weight"][~fw] + 0.01, rtol=0, atol=0.01
        )
        # biases are digital
        torch.testing.assert_close(params[f"biases.{l}"], before[f"biases.{l}"] + 0.01)


def test_reads_pass_gradients_straight_through():
    dev = DeviceModel(w_min=-1, w_max=1, levels=5, d2d_std=0.1, stuck_zero_prob=0.2)
    w = torch.randn(40, dtype=torch.float64, requires_grad=True)
    state = dev.realize(w.shape, _gen(2))
    eff = dev.read(w, state)
    (eff * torch.arange(40.0, dtype=torch.float64)).sum().backward()
    torch.testing.assert_close(w.grad, torch.arange(40.0, dtype=torch.float64))


# -- end to end -----------------------------------------------------------------------------
def _pair(alpha: float = 0.0):
    nets = [LayeredNetwork.dense([6, 8, 4], alpha=alpha, generator=_gen(0)) for _ in range(2)]
    nets[1].hardware = AnalogHardware(DeviceModel(), NeuronModel(), seed=0)
    x = torch.rand(5, 6, dtype=torch.float64, generator=_gen(1))
    y = torch.rand(5, 4, dtype=torch.float64, generator=_gen(2))
    return nets, x, y


@pytest.mark.parametrize("alpha", [0.0, 45.0])
def test_ideal_analog_hardware_is_bit_identical(alpha):
    (ideal, analog), x, y = _pair(alpha)
    assert not analog.hardware.is_ideal
    r0, r1 = relax(ideal, x, steps=60), relax(analog, x, steps=60)
    for a, b in zip(r0.u + r0.s, r1.u + r1.s, strict=True):
        assert torch.equal(a, b)
    loss = MSELoss()
    for rule in (GeneralizedEP(), ImplicitBP()):
        g0 = rule.compute(ideal, loss, x, y).grads
        g1 = rule.compute(analog, loss, x, y).grads
        assert g0.keys() == g1.keys()
        for k in g0:
            assert torch.equal(g0[k], g1[k]), (rule.name, k)


def _nonideal_problem(alpha: float):
    p = make_problem(alpha, sizes=(6, 8, 4), batch=4)
    dev = DeviceModel(w_min=-0.6, w_max=0.6, levels=33, d2d_std=0.1, stuck_zero_prob=0.05)
    neurons = NeuronModel(gain_std=0.1, offset_std=0.05)
    p.network.hardware = AnalogHardware.for_network(p.network, dev, neurons, seed=11)
    p.free = p.free_phase.run(p.network, p.x)
    assert p.free.all_converged
    return p


@pytest.mark.parametrize("alpha", [0.0, 90.0])
def test_static_nonidealities_implicit_bp_equals_bptt(alpha):
    p = _nonideal_problem(alpha)
    imp = ImplicitBP(p.free_phase).compute(p.network, p.loss, p.x, p.y, free=p.free)
    bptt = BPTT(steps=600).compute(p.network, p.loss, p.x, p.y)
    for a, b in zip(imp.delta, bptt.delta, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12)
    for k, g in imp.grads.items():
        torch.testing.assert_close(g, bptt.grads[k], rtol=1e-9, atol=1e-12, msg=k)
    # the device model really changed the gradient
    ideal = make_problem(alpha, sizes=(6, 8, 4), batch=4)
    ref = ImplicitBP(ideal.free_phase).compute(ideal.network, ideal.loss, ideal.x, ideal.y)
    assert not torch.allclose(ref.grads["connections.1.weight"], imp.grads["connections.1.weight"])


def _dense_ep_from_reads(p):
    """(I − DΦ_s)^{-1} D g with Φ_s built from the weights one read returns."""
    net, u = p.network, p.free.u
    bound = net.bind()
    sizes = [s[0] for s in net.shapes]
    offs = np.cumsum([0, *sizes])
    n = offs[-1]
    phi_s = torch.zeros(n, n, dtype=torch.float64)
    for l in range(1, len(sizes)):
        w = bound.connections[l].params["weight"].detach()
        fb = bound.connections[l].feedback_params["weight"].detach()
        phi_s[offs[l] : offs[l + 1], offs[l - 1] : offs[l]] = w
        phi_s[offs[l - 1] : offs[l], offs[l] : offs[l + 1]] = fb.T
    d = torch.cat(net.activate_derivative(u), -1)
    g = torch.cat(
        [torch.zeros_like(t) for t in p.free.s[:-1]] + [p.loss.nudge(p.free.s[-1], p.y)], -1
    )
    eye = torch.eye(n, dtype=torch.float64)
    ep = torch.linalg.solve(eye - d[:, :, None] * phi_s, (d * g)[..., None])[..., 0]
    return [ep[:, offs[i] : offs[i + 1]] for i in range(len(sizes))], phi_s


@pytest.mark.parametrize("alpha", [0.0, 90.0])
def test_static_nonidealities_exact_ep_equals_dense_solve_of_read_weights(alpha):
    p = _nonideal_problem(alpha)
    ref, phi_s = _dense_ep_from_reads(p)
    est = _estimate(p, Exact())
    for a, b in zip(est.delta, ref, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-13)
    # two physical arrays: even at α = 0 the read Φ_s is not symmetric
    assert float((phi_s - phi_s.T).abs().max()) > 1e-3
    rule = GeneralizedEP(Exact(), p.free_phase, p.nudged_phase)
    assert rule.compute(p.network, p.loss, p.x, p.y, free=p.free).grads.keys()

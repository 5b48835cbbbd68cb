"""Data converters: ideal identity, uniform rounding, saturation, offset, gain, INL, schema."""

from __future__ import annotations

import math

import pytest
import torch
from pydantic import ValidationError

from neurosim.substrate.converters import ConverterModel, ConverterState, measured_inl
from neurosim.substrate.devices import quantize_uniform

F64 = torch.float64


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _codes(model: ConverterModel, out: torch.Tensor) -> torch.Tensor:
    """Output → code; unambiguous when |INL| < 0.5 LSB."""
    return torch.round((out - model.range[0]) / model.lsb)


def _measure_transitions(model, state, n, span):
    """Transition levels (n, K−1) measured from the outputs: a fine ramp brackets each
    code step, bisection refines it to float resolution (smallest input with code ≥ k)."""
    k_levels = model.n_levels
    ramp = torch.linspace(span[0], span[1], 64 * k_levels, dtype=F64)
    code = _codes(model, model.transfer(ramp[:, None].expand(-1, n).contiguous(), state))
    assert bool((code.diff(dim=0) >= 0).all())
    target = torch.arange(1, k_levels, dtype=F64)
    idx = torch.searchsorted(code.T.contiguous(), target.expand(n, -1).contiguous())
    assert bool((idx > 0).all()) and bool((idx < len(ramp)).all()), "ramp too short"
    a, b = ramp[idx - 1].T, ramp[idx].T  # (K−1, n): code(a) < k <= code(b)
    for _ in range(80):
        mid = (a + b) / 2
        up = _codes(model, model.transfer(mid, state)) >= target[:, None]
        a, b = torch.where(up, a, mid), torch.where(up, mid, b)
    return b.T


# -- ideal and uniform --------------------------------------------------------------------
def test_ideal_default_is_identity_and_draws_nothing():
    model = ConverterModel()
    assert model.is_ideal and not model.needs_realization and model.lsb == 0.0
    x = torch.randn(4, 5, dtype=F64, generator=_gen(0))
    gen = _gen(1)
    before = gen.get_state()
    state = model.realize(5, gen)
    assert torch.equal(gen.get_state(), before)
    assert state == ConverterState(5)
    assert model.transfer(x) is x
    assert model.transfer(x, state) is x
    z = torch.complex(x, -x)
    assert model.transfer(z, state) is z


def test_systematic_errors_alone_draw_nothing():
    gen = _gen(2)
    before = gen.get_state()
    state = ConverterModel(bits=4, offset=0.1, gain_error=-0.2).realize(3, gen)
    assert torch.equal(gen.get_state(), before)
    assert torch.equal(state.offset, torch.full((3,), 0.1, dtype=F64))
    assert torch.equal(state.gain, torch.full((3,), 0.8, dtype=F64))
    assert state.inl is None


@pytest.mark.parametrize("bits", [1, 3, 8, 16])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_bits_and_range_equal_quantize_uniform_bit_for_bit(bits, dtype):
    lo, hi = -0.7, 1.3
    model = ConverterModel(bits=bits, range=(lo, hi))
    assert not model.is_ideal and not model.needs_realization
    assert model.lsb == (hi - lo) / (2**bits - 1)
    step = (hi - lo) / (2**bits - 1)
    ties = lo + (torch.arange(0, 2**bits - 1, max(1, (2**bits - 1) // 50)) + 0.5) * step
    x = torch.cat([torch.randn(3000, dtype=F64, generator=_gen(3)) * 1.5, ties]).to(dtype)
    x = x.reshape(1, -1)
    ref = quantize_uniform(x, lo, hi, 2**bits)
    state = model.realize(x.shape[-1], _gen(4))
    assert torch.equal(model.transfer(x), ref)
    assert torch.equal(model.transfer(x, state), ref)
    z = torch.complex(x, x.flip(-1) * 0.9)
    zref = torch.complex(ref, quantize_uniform(z.imag, lo, hi, 2**bits))
    assert torch.equal(model.transfer(z), zref)
    assert torch.equal(model.transfer(z, state), zref)


def test_gradient_passes_straight_through():
    model = ConverterModel(bits=3, offset=0.2, gain_std=0.1, inl_lsb=0.3)
    state = model.realize(6, _gen(5))
    x = torch.randn(4, 6, dtype=F64, generator=_gen(6), requires_grad=True)
    model.transfer(x, state).pow(2).sum().backward()
    expected = 2 * model.transfer(x.detach(), state)
    assert torch.equal(x.grad, expected)
    z = torch.complex(torch.randn(4, 6, dtype=F64), torch.randn(4, 6, dtype=F64))
    z.requires_grad_(True)
    model.transfer(z, state).real.sum().backward()
    assert torch.equal(z.grad, torch.ones_like(z))


def test_complex_converts_re_and_im_by_the_same_instance():
    model = ConverterModel(bits=5, offset=0.03, offset_std=0.02, gain_std=0.05, inl_lsb=0.7)
    state = model.realize(9, _gen(7))
    re = torch.randn(50, 9, dtype=F64, generator=_gen(8))
    im = torch.randn(50, 9, dtype=F64, generator=_gen(9))
    out = model.transfer(torch.complex(re, im), state)
    assert torch.equal(out.real, model.transfer(re, state))
    assert torch.equal(out.imag, model.transfer(im, state))


def test_float32_signal_keeps_its_dtype():
    model = ConverterModel(bits=6, offset_std=0.01, gain_std=0.01, inl_lsb=0.2)
    state = model.realize(3, _gen(10))
    x = torch.linspace(-1, 1, 30).reshape(10, 3)
    out = model.transfer(x, state)
    assert out.dtype == torch.float32
    ref = model.transfer(x.double(), state)
    assert torch.allclose(out.double(), ref, atol=4 * model.lsb)


def test_bits_zero_is_gain_and_offset_without_saturation():
    model = ConverterModel(bits=0, range=(0.0, 1.0), offset=0.25, gain_error=0.5)
    x = torch.tensor([[-100.0, 0.0, 0.5, 100.0]], dtype=F64)
    assert torch.equal(model.transfer(x), x * 1.5 + 0.25)


def test_transfer_needs_a_matching_state():
    model = ConverterModel(bits=4, offset_std=0.1)
    with pytest.raises(ValueError, match="realize"):
        model.transfer(torch.zeros(3, 4))
    with pytest.raises(ValueError, match="4 converter instances"):
        model.transfer(torch.zeros(3, 5), model.realize(4, _gen(0)))


# -- saturation -----------------------------------------------------------------------------
def test_far_inputs_map_to_the_end_codes_exactly():
    lo, hi = -1.0, 2.0
    model = ConverterModel(
        bits=4,
        range=(lo, hi),
        offset=0.1,
        offset_std=0.05,
        gain_error=0.2,
        gain_std=0.05,
        inl_lsb=1.5,
    )
    state = model.realize(7, _gen(11))
    far = torch.tensor([-1e6, -10.0, 10.0, 1e6], dtype=F64)[:, None].expand(-1, 7)
    out = model.transfer(far, state)
    assert torch.equal(out[:2], torch.full((2, 7), lo, dtype=F64))
    assert torch.equal(out[2:], torch.full((2, 7), hi, dtype=F64))
    out_c = model.transfer(torch.complex(far, -far), state)
    assert torch.equal(out_c.imag, out.flip(0))


def test_monotone_below_half_an_lsb_of_inl():
    ramp = torch.linspace(-1.5, 1.5, 20000, dtype=F64)[:, None].expand(-1, 20)
    common = dict(bits=5, inl_harmonics=8, offset=0.02, offset_std=0.01, gain_std=0.02)
    model = ConverterModel(inl_lsb=0.49, **common)
    state = model.realize(20, _gen(12))
    out = model.transfer(ramp, state)
    assert bool((out.diff(dim=0) >= 0).all())
    for i in range(20):
        assert len(torch.unique(out[:, i])) == model.n_levels
    # the same check fails for a large INL: it is able to fail
    big = ConverterModel(inl_lsb=3.0, **common)
    assert bool((big.transfer(ramp, big.realize(20, _gen(12))).diff(dim=0) < 0).any())


# -- offset ---------------------------------------------------------------------------------
def test_offset_shifts_the_transition_levels_by_minus_offset():
    offset = 0.0371
    ideal = ConverterModel(bits=4)
    model = ConverterModel(bits=4, offset=offset)
    span = (-1.5, 1.5)
    t_ideal = _measure_transitions(ideal, None, 1, span)[0]
    t_off = _measure_transitions(model, None, 1, span)[0]
    k = torch.arange(1, 16, dtype=F64)
    assert torch.allclose(t_ideal, -1 + (k - 0.5) * ideal.lsb, rtol=0, atol=1e-14)
    assert torch.allclose(t_off - t_ideal, torch.full_like(k, -offset), rtol=0, atol=1e-12)
    assert torch.allclose(t_off, model.transition_levels(), rtol=0, atol=1e-12)
    # not a tautology: the ideal converter's levels differ by far more than the tolerance
    assert (t_off - t_ideal).abs().min() > 0.03


def test_offset_std_statistics():
    n, offset, sigma = 4000, 0.01, 0.05
    model = ConverterModel(bits=3, offset=offset, offset_std=sigma)
    state = model.realize(n, _gen(13))
    t = _measure_transitions(model, state, n, (-1.5, 1.5))
    t_ideal = model.transition_levels(ConverterState(n), 0)  # offset 0, gain 1
    o = (t_ideal - t).mean(dim=1)  # measured offset per instance
    assert torch.allclose(o, state.offset, rtol=0, atol=1e-12)
    assert abs(o.mean().item() - offset) < 3 * sigma / math.sqrt(n)
    assert abs(o.std().item() - sigma) < 3 * sigma / math.sqrt(2 * (n - 1))


# -- gain -----------------------------------------------------------------------------------
def test_gain_error_sets_the_code_slope():
    gain_error = 0.13
    model = ConverterModel(bits=5, gain_error=gain_error)
    t = _measure_transitions(model, None, 1, (-1.5, 1.5))[0]
    slope = (model.n_levels - 2) / (t[-1] - t[0])
    assert slope.item() == pytest.approx((1 + gain_error) / model.lsb, rel=1e-12)
    ideal = ConverterModel(bits=5)
    t0 = _measure_transitions(ideal, None, 1, (-1.5, 1.5))[0]
    assert (ideal.n_levels - 2) / (t0[-1] - t0[0]).item() == pytest.approx(1 / ideal.lsb, 1e-12)
    assert torch.allclose(t, model.transition_levels(), rtol=0, atol=1e-12)


def test_gain_std_statistics():
    n, gain_error, sigma = 4000, -0.05, 0.04
    model = ConverterModel(bits=3, gain_error=gain_error, gain_std=sigma)
    state = model.realize(n, _gen(14))
    t = _measure_transitions(model, state, n, (-1.6, 1.6))
    g = (model.n_levels - 2) / (t[:, -1] - t[:, 0]) * model.lsb  # measured gain per instance
    assert torch.allclose(g, state.gain, rtol=1e-12, atol=0)
    assert abs(g.mean().item() - (1 + gain_error)) < 3 * sigma / math.sqrt(n)
    assert abs(g.std().item() - sigma) < 3 * sigma / math.sqrt(2 * (n - 1))


def test_analytic_transitions_with_every_effect_on():
    model = ConverterModel(
        bits=4,
        range=(0.0, 1.0),
        offset=-0.02,
        offset_std=0.03,
        gain_error=0.1,
        gain_std=0.05,
        inl_lsb=0.4,
    )
    n = 6
    state = model.realize(n, _gen(15))
    t = _measure_transitions(model, state, n, (-0.5, 1.5))
    for i in range(n):
        assert torch.allclose(t[i], model.transition_levels(state, i), rtol=0, atol=1e-12)


# -- INL ------------------------------------------------------------------------------------
def test_inl_measured_from_the_output_is_the_realized_curve():
    lo, hi = -1.0, 1.0
    n, inl_lsb = 8, 0.45
    model = ConverterModel(
        bits=6,
        range=(lo, hi),
        inl_lsb=inl_lsb,
        inl_harmonics=5,
        offset=0.01,
        offset_std=0.01,
        gain_std=0.02,
    )
    state = model.realize(n, _gen(16))
    last = model.n_levels - 1
    ramp = torch.linspace(-1.3, 1.3, 40 * model.n_levels, dtype=F64)[:, None].expand(-1, n)
    out = model.transfer(ramp, state)
    code = _codes(model, out)  # |INL| < 0.5: the code is recovered from the output
    ideal = torch.lerp(torch.tensor(lo, dtype=F64), torch.tensor(hi, dtype=F64), code / last)
    dev = (out - ideal) / model.lsb
    measured = torch.full((n, last + 1), math.nan, dtype=F64)
    spread = torch.zeros(n, last + 1, dtype=F64)
    for i in range(n):
        ki = code[:, i].long()
        measured[i].scatter_reduce_(0, ki, dev[:, i], reduce="amax", include_self=False)
        low = torch.full((last + 1,), math.inf, dtype=F64)
        low.scatter_reduce_(0, ki, dev[:, i], reduce="amin", include_self=False)
        spread[i] = measured[i] - low
    assert not bool(measured.isnan().any()), "every code is visited"
    assert float(spread.max()) == 0.0  # one output value per code
    curve = model.inl_curve(state)
    assert curve.shape == (n, last + 1)
    assert torch.allclose(measured, curve, rtol=0, atol=1e-12)
    assert torch.allclose(measured_inl(model, state), curve, rtol=0, atol=1e-12)
    assert torch.allclose(model.inl_curve(state, 3), curve[3], rtol=0, atol=0)
    peak = curve.abs().amax(dim=1)
    assert torch.allclose(peak, torch.full((n,), inl_lsb, dtype=F64), rtol=1e-12, atol=0)
    assert bool((curve[:, 0] == 0).all()) and bool((curve[:, -1] == 0).all())
    assert bool((measured[:, 0] == 0).all()) and bool((measured[:, -1] == 0).all())
    # DNL: the width of each output step in LSB, minus 1, is the first difference of INL
    levels = model.code_centers(state, 0)
    step_out = model.transfer(
        torch.stack([model.code_centers(state, i) for i in range(n)], -1), state
    )
    dnl = (step_out.diff(dim=0) / model.lsb - 1).T
    assert torch.allclose(dnl, curve.diff(dim=1), rtol=0, atol=1e-12)
    assert levels.shape == (last + 1,)
    # the curve is not flat: the INL really moves the output levels
    assert float(dnl.abs().max()) > 0.05


def test_inl_peak_is_exact_on_a_large_code_grid():
    model = ConverterModel(bits=20, inl_lsb=1.5, inl_harmonics=7)
    state = model.realize(3, _gen(17))
    curve = model.inl_curve(state)  # every one of the 2^20 codes
    peak = curve.abs().amax(dim=1)
    assert torch.allclose(peak, torch.full((3,), 1.5, dtype=F64), rtol=1e-12, atol=0)
    big = ConverterModel(bits=3, inl_lsb=2.5, inl_harmonics=4)
    m = measured_inl(big, big.realize(5, _gen(18)))
    assert torch.allclose(m.abs().amax(dim=1), torch.full((5,), 2.5, dtype=F64), rtol=1e-12)


def test_same_seed_same_realization_and_instances_differ():
    model = ConverterModel(bits=8, offset_std=0.02, gain_std=0.03, inl_lsb=1.0)
    a, b = model.realize(10, _gen(19)), model.realize(10, _gen(19))
    for name in ("offset", "gain", "inl"):
        assert torch.equal(getattr(a, name), getattr(b, name))
    c = model.realize(10, _gen(20))
    assert not torch.equal(a.inl, c.inl)
    curve = model.inl_curve(a)
    diff = (curve[:, None, :] - curve[None, :, :]).abs().amax(dim=-1)
    off_diag = diff[~torch.eye(10, dtype=torch.bool)]
    assert float(off_diag.min()) > 0.05
    assert a.offset.dtype == a.gain.dtype == a.inl.dtype == F64


# -- schema ---------------------------------------------------------------------------------
@pytest.mark.parametrize("bits", [0, 1])
def test_inl_needs_interior_codes(bits):
    with pytest.raises(ValidationError, match="inl_lsb") as info:
        ConverterModel(bits=bits, inl_lsb=0.5)
    assert "allowed:" in str(info.value)
    ConverterModel(bits=2, inl_lsb=0.5)  # accepted


@pytest.mark.parametrize(
    "kwargs",
    [
        {"range": (1.0, 1.0)},
        {"range": (2.0, -1.0)},
        {"range": (0.0, math.inf)},
        {"bits": 33},
        {"bits": -1},
        {"gain_error": -1.0},
        {"offset_std": -0.1},
        {"gain_std": -0.1},
        {"inl_lsb": -0.1, "bits": 4},
        {"inl_harmonics": 0},
        {"offset": math.nan},
        {"bits": "8"},
    ],
)
def test_invalid_parameters_are_refused(kwargs):
    with pytest.raises(ValidationError):
        ConverterModel(**kwargs)


def test_range_from_a_toml_list():
    model = ConverterModel.model_validate({"bits": 8, "range": [0, 1]})
    assert model.range == (0.0, 1.0) and isinstance(model.range, tuple)
    with pytest.raises(ValidationError, match="not increasing"):
        ConverterModel.model_validate({"range": [1, 0]})
    with pytest.raises(ValidationError):
        ConverterModel.model_validate({"ranges": [0, 1]})


def test_the_substrate_reads_states_through_one_converter_per_unit():
    from neurosim.substrate import AnalogHardware, DeviceModel, LayeredNetwork, NeuronModel

    gen = torch.Generator().manual_seed(0)
    net = LayeredNetwork.dense([3, 6, 4], activation="shifted_sigmoid", generator=gen)
    neurons = NeuronModel(
        adc_bits=5, adc_offset_std=0.02, adc_gain_std=0.01, adc_inl_lsb=0.4, dac_bits=4
    )
    hw = AnalogHardware.for_network(net, DeviceModel(), neurons, seed=3)
    s = [torch.linspace(-1.2, 1.2, 6, dtype=torch.float64).expand(2, 6), torch.rand(2, 4)]
    s[1] = s[1].to(torch.float64)
    read = hw.adc(s)
    conv = neurons.adc_converter
    for layer, (t, r) in enumerate(zip(s, read, strict=True)):
        state = hw._converters("adc", layer, t.shape[-1])
        assert state is not None and state.n == t.shape[-1]
        assert torch.equal(r, conv.transfer(t, state))  # the converter, unit by unit
    # seeded per (seed, layer): another hardware with the same seed reads the same
    again = AnalogHardware.for_network(net, DeviceModel(), neurons, seed=3).adc(s)
    assert all(torch.equal(a, b) for a, b in zip(read, again, strict=True))
    other = AnalogHardware.for_network(net, DeviceModel(), neurons, seed=4).adc(s)
    assert not torch.equal(read[0], other[0])
    # saturation at the range ends, and the 4-bit input DAC
    assert read[0][0, 0] == -1.0 and read[0][0, -1] == 1.0
    x = torch.linspace(0, 1, 7, dtype=torch.float64).expand(2, 3, 7)[..., :3]
    assert torch.equal(hw.dac(x), quantize_uniform(x, 0.0, 1.0, 16))

"""What acts on the devices' conductances when the substrate reads an array.

Checked against independent references: the physical-units read (differential pair in
µS) is the weight itself up to rounding and saturates at G_max; with line resistance the
read weights reproduce the exact Kirchhoff currents of both crossbars of the pair
(sparse nodal solve, forward and feedback arrays), the first-order read stays within
its stated bound, and zero resistance is the ideal read bit for bit; drift in the read
path is the closed-form G(t) = G(t_w)·((t − t_w)/t₀)^−ν at each phase's start, held
through the phase, reset by a write on exactly the devices the write changed; noise in
physical units acts on each device of the pair with ĝ = G/G_max; the hardware's state
(drift included) round-trips bit for bit; config errors are one line naming the key.
"""

from __future__ import annotations

import math

import pytest
import torch

from neurosim.experiment.config import Config, ConfigError
from neurosim.experiment.runner import build
from neurosim.substrate import (
    AnalogHardware,
    Crossbar,
    DeviceModel,
    Drift,
    LayeredNetwork,
    NeuronModel,
    ReadNoise,
    nodal_solve,
)
from neurosim.substrate.ir_drop import ir_drop_scale

F64 = torch.float64


def _hw(array: Crossbar | None = None, drift: Drift | None = None, noise=None, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    net = LayeredNetwork.dense([6, 9, 4], activation="shifted_sigmoid", generator=gen)
    net.hardware = AnalogHardware.for_network(
        net, DeviceModel(), NeuronModel(), seed=seed, noise=noise, drift=drift, array=array
    )
    return net, net.hardware


def _read(hw, w: torch.Tensor, role: str = "forward", layer: int = 0) -> torch.Tensor:
    return hw.read_params(layer, role, {"weight": w})["weight"]


# ------------------------------------------------------------------------ units and the pair


def test_physical_pair_reads_the_weight_and_saturates_at_g_max():
    xb = Crossbar(units="physical", g_min=2.0, g_max=25.0)
    _, hw = _hw(xb)
    w = torch.linspace(-1.4, 1.4, 57, dtype=F64).reshape(3, 19)
    pair = xb.to_pair(w)
    assert pair.shape == (2, 3, 19)
    assert float(pair.min()) == 2.0 and float(pair.max()) == 25.0  # rest and saturation
    assert torch.allclose(pair[0] - pair[1], 23.0 * w.clamp(-1, 1), rtol=0, atol=1e-13)
    expected = w.clamp(-1, 1)
    assert torch.allclose(_read(hw, w), expected, rtol=0, atol=1e-15)


def test_g_ref_sets_the_weight_of_a_conductance_difference():
    xb = Crossbar(units="physical", g_max=25.0, g_ref=10.0)
    w = torch.tensor([[-2.0, 0.5, 2.5, 3.0]], dtype=F64)
    pair = xb.to_pair(w)
    assert pair[0].tolist() == [[0.0, 5.0, 25.0, 25.0]]
    assert pair[1].tolist() == [[20.0, 0.0, 0.0, 0.0]]
    assert xb.from_pair(pair).tolist() == [[-2.0, 0.5, 2.5, 2.5]]


def test_physical_quantities_need_physical_units():
    with pytest.raises(ValueError, match='g_min = 1.0 with units = "normalized"'):
        Crossbar(g_min=1.0)
    with pytest.raises(ValueError, match="r_row"):
        Crossbar(r_row=1.0)
    with pytest.raises(ValueError, match="g_min = 30.0 must be < g_max"):
        Crossbar(units="physical", g_min=30.0, g_max=25.0)


# ---------------------------------------------------------------------------- IR drop


def _exact_currents(w, s, xb: Crossbar, role: str):
    """Pair currents from the sparse nodal solve, per volt of read: (I⁺ − I⁻)/(G_ref·V)."""
    pair = xb.to_pair(w) * 1e-6
    v = s * xb.read_voltage
    out = 0
    for sign, g in zip((1, -1), pair, strict=True):
        cells = g.T if role == "feedback" else g
        out = out + sign * nodal_solve(cells, v, xb.r_row, xb.r_col)
    return out / (xb.reference * 1e-6 * xb.read_voltage)


@pytest.mark.parametrize("role", ["forward", "feedback"])
@pytest.mark.parametrize("r", [(2.0, 0.0), (0.0, 3.0), (1.5, 4.0)])
def test_exact_ir_drop_in_the_read_is_the_nodal_solve(role, r):
    xb = Crossbar(
        units="physical", g_min=1.0, g_max=25.0, r_row=r[0], r_col=r[1], ir_method="exact"
    )
    _, hw = _hw(xb)
    gen = torch.Generator().manual_seed(3)
    w = torch.rand(9, 6, dtype=F64, generator=gen) * 2 - 1
    read = _read(hw, w, role)
    n_in = w.shape[0] if role == "feedback" else w.shape[1]
    s = torch.rand(5, n_in, dtype=F64, generator=gen)
    ours = s @ read if role == "feedback" else s @ read.T
    ref = _exact_currents(w, s, xb, role)
    assert torch.allclose(ours, ref, rtol=1e-10, atol=1e-13)
    ideal = s @ w if role == "feedback" else s @ w.T
    assert (ours - ideal).abs().max() > 1e-4  # the drop is there


def test_first_order_ir_drop_in_the_read_is_within_its_bound():
    g_max = 25.0
    for r in (0.5, 2.0):
        xb = Crossbar(units="physical", g_max=g_max, r_row=r, r_col=r)
        _, hw = _hw(xb)
        w = torch.rand(16, 16, dtype=F64, generator=torch.Generator().manual_seed(1)) * 2 - 1
        s = torch.ones(1, 16, dtype=F64)
        ours = s @ _read(hw, w).T
        ref = _exact_currents(w, s, xb, "forward")
        eps = ir_drop_scale(16, r, g_max * 1e-6)
        tau = 2 * eps * (1 + 1 / 16)
        full_scale = (xb.to_pair(w).sum(0).sum(-1)) / xb.reference  # Σ_j (G⁺ + G⁻)/G_ref at v = 1
        bound = tau**2 / (1 - tau) * full_scale
        assert ((ours - ref).abs().squeeze(0) <= bound).all()


def test_zero_line_resistance_is_the_ideal_read_bit_for_bit():
    w = torch.rand(9, 6, dtype=F64, generator=torch.Generator().manual_seed(2)) - 0.5
    noise = ReadNoise(white_std=0.02)
    _, a = _hw(Crossbar(units="physical", g_max=25.0, g_min=1.0), noise=noise)
    _, b = _hw(Crossbar(units="physical", g_max=25.0, g_min=1.0, r_row=0.0), noise=noise)
    assert torch.equal(_read(a, w), _read(b, w))


# ------------------------------------------------------------------------------ drift


def test_drift_in_the_read_follows_the_power_law_at_each_phase_start():
    drift = Drift(nu_mean=0.1, t0=1e-6)
    _, hw = _hw(drift=drift)
    w = torch.rand(9, 6, dtype=F64, generator=torch.Generator().manual_seed(4)) - 0.5
    assert torch.equal(_read(hw, w), w)  # first read: the devices are programmed now, t = 0
    for t in (5e-7, 1e-5, 1e-4, 1e-2):
        hw.clock.wait(t - hw.clock.now)
        with hw.phase("free"):
            start = _read(hw, w)
            hw.clock.wait(3e-7)  # later in the same phase: the phase-start value, held
            assert torch.equal(_read(hw, w), start)
        factor = max(t / 1e-6, 1.0) ** -0.1
        assert torch.allclose(start, w * factor, rtol=1e-14, atol=0)


def test_a_write_reprograms_exactly_the_devices_it_changes():
    drift = Drift(nu_mean=0.1, nu_std=0.02, t0=1e-6)
    net, hw = _hw(drift=drift)
    params = dict(net.named_parameters())
    w = params["connections.0.weight"]
    _read(hw, w)  # programmed at t = 0
    hw.clock.wait(1e-3)
    state = hw._drift[(0, "forward", "weight")][0]
    nu_before = state.nu.clone()
    before = {k: v.detach().clone() for k, v in params.items()}
    with torch.no_grad():
        w[0, :3] += 0.1  # three devices change
    hw.write(params, before)
    changed = torch.zeros_like(w, dtype=torch.bool)
    changed[0, :3] = True
    assert torch.equal(state.t_w[changed], torch.full((3,), 1e-3, dtype=F64))
    assert torch.equal(state.t_w[~changed], torch.zeros(int((~changed).sum()), dtype=F64))
    assert torch.equal(state.nu[~changed], nu_before[~changed])
    assert not torch.equal(state.nu[changed], nu_before[changed])
    hw.clock.wait(5e-7)  # 0.5 µs after the write: rewritten devices are fresh, others drift
    read = _read(hw, w).detach()
    assert torch.equal(read[changed], w.detach()[changed])
    old = (1.0005e-3 / 1e-6) ** -nu_before[~changed]
    assert torch.allclose(read[~changed], w.detach()[~changed] * old, rtol=1e-13)


def test_physical_pair_drifts_device_by_device():
    xb = Crossbar(units="physical", g_min=1.0, g_max=25.0)
    _, hw = _hw(xb, drift=Drift(nu_law="aihwkit_pcm", t0=1e-6))
    w = torch.rand(9, 6, dtype=F64, generator=torch.Generator().manual_seed(5)) * 2 - 1
    _read(hw, w)
    hw.clock.wait(1.0)
    state = hw._drift[(0, "forward", "weight")][0]
    assert state.shape == (2, 9, 6)
    pair = xb.to_pair(w)
    # ν of each device from its own ĝ = G/G_max: the resting devices (ĝ = 0.04) drift more
    rest = state.nu[pair == 1.0]
    assert rest.mean() > state.nu[pair > 20].mean()
    factor = (1.0 / 1e-6) ** -state.nu
    expected = xb.from_pair(pair * factor)
    assert torch.allclose(_read(hw, w), expected, rtol=1e-13, atol=1e-15)


def test_physical_noise_acts_on_each_device_with_its_own_level():
    xb = Crossbar(units="physical", g_max=25.0)
    noise = ReadNoise(white_std=0.01, law="aihwkit_pcm")
    _, hw = _hw(xb, noise=noise)
    w = torch.full((400, 50), 0.4, dtype=F64)
    dw = _read(hw, w) - w
    # G⁺ = 10 µS carries δG = 0.01·G·(0.4)^−0.65, G⁻ = 0 carries none
    expected = 0.01 * 10.0 * 0.4**-0.65 / 25.0
    assert dw.std().item() == pytest.approx(expected, rel=3 / math.sqrt(2 * 20000))


def test_hardware_state_with_drift_round_trips_bit_for_bit():
    cfg = {"noise": ReadNoise(flicker_density=1e-4), "drift": Drift(nu_mean=0.05, nu_std=0.01)}
    net, hw = _hw(Crossbar(units="physical", g_max=25.0), **cfg)
    params = dict(net.named_parameters())
    w = params["connections.0.weight"]
    _read(hw, w)
    hw.clock.wait(30.0)
    saved = hw.state_dict()
    first = [_read(hw, w)]
    hw.clock.wait(10.0)
    first.append(_read(hw, w))
    hw.load_state_dict(saved)
    again = [_read(hw, w)]
    hw.clock.wait(10.0)
    again.append(_read(hw, w))
    for a, b in zip(first, again, strict=True):
        assert torch.equal(a, b)


# ----------------------------------------------------------------------------- config


def test_array_and_drift_sections_build_a_substrate():
    cfg = Config().with_updates(
        {
            "network.sizes": [6, 10, 4],
            "array.units": "physical",
            "array.g_max": 25.0,
            "drift.nu_mean": 0.1,
        }
    )
    hw = build(cfg).network.hardware
    assert isinstance(hw, AnalogHardware)
    assert hw.array.physical and hw.drift is not None
    assert hw._drift_models[0].g_max == 25.0  # ĝ = G/G_max of [array]


def test_bad_array_keys_are_one_line_errors():
    with pytest.raises(ConfigError) as err:
        Config().with_updates({"array.g_min": 1.0})
    msg = str(err.value)
    assert "\n" not in msg and "array.g_min" in msg and "physical" in msg
    with pytest.raises(ConfigError, match="drift.nu_mean"):
        Config().with_updates({"drift.nu_law": "aihwkit_pcm", "drift.nu_mean": 0.1})

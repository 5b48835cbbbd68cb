"""The substrate in physical time: the clock, the timeline of a training step, read
noise as processes on the clock, and runs with processes in flight.

Checked: phase durations are steps × η·τ_s (the steps a relaxation actually ran),
phases are ordered and do not overlap; parallel probes take the longest probe's
time, sequential ones the sum; the ideal default is untouched by the clock; a read
noise process is read at every relaxation step at the clock's time; the BP reference
of the metrics sees exactly the noise the free phase saw last; measuring leaves the
substrate's clock and streams as they were; a run with noise processes resumes bit
for bit from a checkpoint.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from neurosim.experiment.config import Config
from neurosim.experiment.runner import _evaluate, build, run
from neurosim.learning import Centered, GeneralizedEP, Holomorphic, MSELoss
from neurosim.substrate import (
    AnalogHardware,
    Clock,
    Crossbar,
    DeviceModel,
    LayeredNetwork,
    NeuronModel,
    ReadNoise,
    Timing,
    relax,
)

TINY = {
    "network.sizes": [6, 10, 4],
    "workload.n_train": 64,
    "workload.n_test": 32,
    "workload.batch": 16,
    "training.steps": 6,
    "training.eval_every": 3,
    "training.probe_batch": 8,
    "dynamics.free_steps": 40,
    "dynamics.nudged_steps": 15,
}
NOISY = {
    "noise.flicker_density": 1e-3,
    "noise.telegraph_amplitude": 0.01,
    "noise.telegraph_tau_up": 1e-7,
    "noise.telegraph_tau_down": 3e-7,
    "noise.white_std": 0.005,
    "noise.white_bandwidth": 1e8,
}


def tiny(**updates) -> Config:
    return Config().with_updates({**TINY, **updates})


def _net(
    noise: ReadNoise | None = None,
    timing: Timing | None = None,
    seed: int = 0,
    array: Crossbar | None = None,
):
    gen = torch.Generator().manual_seed(seed)
    net = LayeredNetwork.dense([5, 8, 3], activation="shifted_sigmoid", generator=gen)
    net.hardware = AnalogHardware.for_network(
        net, DeviceModel(), NeuronModel(), seed=seed, noise=noise, timing=timing, array=array
    )
    return net


# -------------------------------------------------------------------------------- clock


def test_timing_derives_tau_and_step_length():
    t = Timing(node_capacitance=1e-12, leak_conductance=1.28e-4)
    assert t.tau == pytest.approx(7.8125e-9, rel=1e-15)  # docs/hardware_sources.md §C3
    assert t.step_seconds(0.5) == pytest.approx(0.5 * t.tau, rel=1e-15)
    assert Timing(readout_window=1e-8).window_steps(1.0) == 1
    assert Timing(readout_window=1e-7).window_steps(0.5) == round(1e-7 / (0.5 * t.tau))


def test_a_relaxation_advances_the_clock_by_the_steps_it_ran():
    net = _net()
    x = torch.rand(4, 5, dtype=torch.float64)
    for steps, tol in ((25, -1.0), (400, 1e-9)):  # the full budget, and early convergence
        clock = net.hardware.clock
        t0 = clock.now
        with net.hardware.phase("free") as rec:
            r = relax(net, x, steps=steps, tol=tol)
        assert rec.steps == r.steps and rec.start == t0
        assert rec.duration == pytest.approx(r.steps * clock.timing.tau, rel=1e-12)
    assert r.steps < 400  # it converged: the phase lasted what it ran, not the budget


def test_settle_and_nesting():
    clock = Clock(Timing(settle=1e-6))
    with clock.phase("free"):
        clock.step(1.0, 3)
        with clock.phase("inner"):  # part of the open phase
            clock.step(1.0, 2)
    (rec,) = clock.reset()
    assert rec.name == "free" and rec.start == 1e-6 and rec.steps == 5
    assert rec.duration == pytest.approx(5 * clock.timing.tau, rel=1e-12)
    with pytest.raises(ValueError, match="backwards"):
        clock.wait(-1.0)


# ----------------------------------------------------------------------------- timeline


@pytest.mark.parametrize("nudged", ["parallel", "sequential"])
def test_the_timeline_of_a_training_step_is_ordered_and_adds_up(nudged):
    cfg = tiny(
        **{
            "nudge.estimator": "holomorphic",
            "nudge.n": 4,
            "timing.nudged": nudged,
            "timing.settle": 2e-9,
            "timing.write_time": 5e-8,
        }
    )
    ds = run(cfg)
    tau = cfg.timing.tau

    def table(what: str) -> np.ndarray:  # (records after the first, phase)
        return np.stack([ds[f"{p}_{what}"].values[1:] for p in ("free", "nudged", "write")], 1)

    start, dur, steps = table("start"), table("duration"), table("steps")
    free, nud, write = 0, 1, 2
    # durations are steps × η·τ_s (fixed point: η = 1); the write lasts write_time
    assert np.allclose(dur[:, free], steps[:, free] * tau, rtol=1e-12)
    assert np.allclose(dur[:, write], 5e-8, rtol=1e-12)
    # ordered, each after the previous one's end plus the settling time
    assert np.allclose(start[:, free], 0.0)
    assert np.allclose(start[:, nud], start[:, free] + dur[:, free] + 2e-9, rtol=1e-12)
    assert np.all(start[:, write] >= start[:, nud] + dur[:, nud])
    # four probes of at most 15 steps (an exact fixed point, tol = 0, may stop one early):
    # side by side (two relaxations, ±r real and ±ir complex, from the same start) the
    # longest of them; one after the other their sum
    assert np.allclose(dur[:, nud], steps[:, nud] * tau, rtol=1e-12)
    if nudged == "parallel":
        assert np.all(steps[:, nud] <= 15)
    else:
        assert np.all((steps[:, nud] > 15) & (steps[:, nud] <= 60))
    # the substrate's time runs on across steps: 3 steps per record
    per_step = start[:, write] + dur[:, write] + 2e-9  # the first phase settles too
    assert np.allclose(np.diff(ds.time.values), 3 * per_step[0], rtol=1e-9)
    assert ds.free_duration.attrs["units"] == "s"


def test_sequential_probes_give_the_same_gradient_on_an_ideal_substrate():
    # without time-dependent effects the layout in time changes nothing but the time
    a = run(tiny(**{"timing.nudged": "sequential"}))
    b = run(tiny())
    for name in ("loss", "grad_cosine", "delta_cosine"):
        np.testing.assert_allclose(a[name].values, b[name].values, rtol=1e-9, atol=1e-12)


def test_the_ideal_default_is_untouched_by_the_clock():
    # the clock's constants change only the recorded times, never a metric
    a = run(tiny())
    b = run(tiny(**{"timing.node_capacitance": 3e-9, "timing.settle": 1.0}))
    for name in a.data_vars:
        if "timeline" in a[name].attrs or name == "time":
            continue
        np.testing.assert_array_equal(a[name].values, b[name].values, err_msg=name)
    assert not np.array_equal(a.time.values, b.time.values)


# ------------------------------------------------------------------ noise on the clock


def test_a_noise_process_is_read_at_every_step_at_the_clock_time():
    noise = ReadNoise(scale="absolute", flicker_density=1e-2, flicker_f_lo=1e3, flicker_f_hi=1e9)
    net = _net(noise)
    hw = net.hardware
    assert hw.per_step_read
    seen = []
    read = hw.read_params

    def spy(layer, role, params):
        out = read(layer, role, params)
        if layer == 1 and role == "forward":
            seen.append((hw.clock.now, out["weight"].clone()))
        return out

    hw.read_params = spy
    relax(net, torch.rand(3, 5, dtype=torch.float64), steps=10, tol=-1.0)
    times = [t for t, _ in seen]
    assert np.all(np.diff(times) >= 0)
    distinct = sorted(set(times))
    assert len(distinct) == 11  # t0 and after each of the 10 steps
    assert np.allclose(np.diff(distinct), hw.clock.timing.tau, rtol=1e-9)
    # the same time stamp reads the same noise; a later one other noise
    by_time = {}
    for t, w in seen:
        if t in by_time:
            assert torch.equal(by_time[t], w)
        by_time[t] = w
    assert not torch.equal(by_time[distinct[0]], by_time[distinct[-1]])


def test_relative_noise_scales_with_the_weight_and_the_pcm_law():
    def noise_of(g_max: float = 1.0, **kw):
        net = _net(ReadNoise(white_std=0.1, **kw), array=Crossbar(g_max=g_max))
        w = torch.full((2000, 1), 0.3, dtype=torch.float64)
        return net.hardware.process_noise((1, "forward", "weight"), w)

    rel, ab = noise_of(), noise_of(scale="absolute")
    assert torch.allclose(rel, 0.3 * ab, rtol=1e-14)  # same draws, amplitude |w|
    pcm = noise_of(law="aihwkit_pcm", g_max=0.6)
    assert torch.allclose(pcm, rel * min(0.5**-0.65, 0.2 / 0.0088), rtol=1e-14)
    assert ab.std().item() == pytest.approx(0.1, rel=3 * math.sqrt(1 / 2000))


def test_estimators_and_the_reference_see_the_same_noise_at_the_same_times():
    cfg = tiny(
        **NOISY,
        **{"devices.w_min": -1.0, "devices.w_max": 1.0, "nudge.estimator": "centered"},
    )
    exp = build(cfg)
    hw = exp.network.hardware
    exp.free_phase.run(exp.network, exp.data.x_train[:4])  # processes in flight
    log: list[tuple[str, float, torch.Tensor]] = []
    read, tag = hw.read_params, {"who": "free"}

    def spy(layer, role, params):
        out = read(layer, role, params)
        if layer == 0 and role == "forward":
            log.append((tag["who"], hw.clock.now, out["weight"].clone()))
        return out

    hw.read_params = spy
    free_run, rule_compute, ref_compute = (
        exp.free_phase.run,
        exp.rule.compute,
        exp.reference.compute,
    )

    def free(*a, **k):
        tag["who"] = "free"
        return free_run(*a, **k)

    def rule(*a, **k):
        tag["who"] = "rule"
        return rule_compute(*a, **k)

    def reference(*a, **k):
        tag["who"] = "reference"
        return ref_compute(*a, **k)

    object.__setattr__(exp.free_phase, "run", free)
    object.__setattr__(exp.rule, "compute", rule)
    object.__setattr__(exp.reference, "compute", reference)
    before = hw.state_dict()
    _evaluate(exp)
    after = hw.state_dict()
    # the probe-batch free phase is the last "free" before the rule's nudged phases
    free_reads = [(t, w) for who, t, w in log if who == "free"]
    t_free_end, w_free_end = free_reads[-1]
    ref_reads = [(t, w) for who, t, w in log if who == "reference"]
    assert ref_reads and all(t == t_free_end for t, _ in ref_reads)
    assert all(torch.equal(w, w_free_end) for _, w in ref_reads)
    rule_reads = [t for who, t, _ in log if who == "rule"]
    assert min(rule_reads) >= t_free_end and max(rule_reads) > t_free_end
    # measuring left the substrate as it was: clock, processes and streams
    _assert_same_state(after, before)
    assert log and hw.clock.now == before["clock"]["now"]


def _assert_same_state(a, b) -> None:
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        for k in a:
            _assert_same_state(a[k], b[k])
    elif isinstance(a, tuple | list):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            _assert_same_state(x, y)
    elif isinstance(a, torch.Tensor):
        assert torch.equal(a, b)
    else:
        assert a == b


PHYSICAL = {
    "array.units": "physical",
    "array.g_max": 25.0,
    "array.g_min": 0.5,
    "array.r_row": 1.0,
    "array.r_col": 1.0,
    "drift.nu_mean": 0.1,
    "drift.nu_std": 0.02,
    "drift.t0": 1e-6,
    "drift.relax_mean_shift": -0.5,
    "drift.relax_shift_std": 0.2,
    "drift.relax_tau": 1e-4,
    "timing.step_interval": 1e-4,
}


@pytest.mark.parametrize("physical", [False, True], ids=["normalized", "physical+drift+ir"])
def test_a_run_with_noise_processes_resumes_bit_identically(tmp_path, physical):
    extra = PHYSICAL if physical else {}
    cfg = tiny(**NOISY, **extra, **{"training.steps": 8, "training.eval_every": 2})
    full = run(cfg)

    class Stop(Exception):
        pass

    def stop_at_5(done, total):
        if done == 5:
            raise Stop

    ckpt = tmp_path / "run.ckpt"
    with pytest.raises(Stop):
        run(cfg, checkpoint=ckpt, progress=stop_at_5)
    resumed = run(cfg, checkpoint=ckpt)
    for name in full.data_vars:
        np.testing.assert_array_equal(full[name].values, resumed[name].values, err_msg=name)
    # and the noise is doing something: another seed of the processes, other metrics
    other = run(cfg.with_updates({"noise.white_std": 0.0}))
    assert not np.array_equal(full.loss.values, other.loss.values)


def test_online_estimator_reads_the_arrays_at_every_step():
    noise = ReadNoise(white_std=0.01, white_bandwidth=1e9)
    net = _net(noise)
    count = {"n": 0}
    read = net.hardware.read_params

    def spy(layer, role, params):
        count["n"] += 1
        return read(layer, role, params)

    net.hardware.read_params = spy
    from neurosim.learning import OnlineHolomorphic

    est = OnlineHolomorphic(period=8, periods=2, warmup=1)
    rule = GeneralizedEP(est)
    x, y = torch.rand(2, 5, dtype=torch.float64), torch.rand(2, 3, dtype=torch.float64)
    free = rule.free_phase.run(net, x)
    count["n"] = 0
    t0 = net.hardware.clock.now
    with torch.no_grad():
        est.estimate(net, x, free, lambda s: MSELoss().nudge(s, y), rule.nudged_phase)
    total = (1 + 2) * 8
    assert count["n"] >= total * 2  # every array (2 connections) at every step
    assert net.hardware.clock.now - t0 == pytest.approx((total - 1) * net.hardware.clock.timing.tau)


def test_probe_estimators_unchanged_by_parallel_timing_on_an_ideal_network():
    gen = torch.Generator().manual_seed(3)
    net = LayeredNetwork.dense([5, 8, 3], activation="shifted_sigmoid", generator=gen)
    x, y = torch.rand(4, 5, dtype=torch.float64), torch.rand(4, 3, dtype=torch.float64)
    for est in (Centered(beta=0.1), Holomorphic(r=0.1, n=4)):
        a = GeneralizedEP(est).compute(net, MSELoss(), x, y)
        net.hardware.clock = Clock(Timing(nudged="sequential"))
        b = GeneralizedEP(est).compute(net, MSELoss(), x, y)
        net.hardware.clock = Clock()
        for da, db in zip(a.delta, b.delta, strict=True):
            torch.testing.assert_close(da, db, rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("engine", ["numba", "brian2"])
def test_other_engines_move_the_clock_as_the_torch_relaxation_does(engine):
    from neurosim.backends import get_backend

    backend = get_backend(engine, **({"seed": 0} if engine == "brian2" else {}))
    gen = torch.Generator().manual_seed(0)
    net = LayeredNetwork.dense([5, 8, 3], activation="shifted_sigmoid", generator=gen)
    x = torch.rand(3, 5, dtype=torch.float64)
    ref = relax(net, x, steps=12, tol=-1.0)
    t0 = net.hardware.clock.now
    r = backend.relax(net, x, steps=12, tol=-1.0)
    assert r.steps == ref.steps == 12
    assert net.hardware.clock.now - t0 == pytest.approx(12 * net.hardware.clock.timing.tau)


def test_the_readout_adc_integrates_the_state_over_its_window():
    gen = torch.Generator().manual_seed(4)
    net = LayeredNetwork.dense([5, 8, 3], activation="shifted_sigmoid", generator=gen)
    x = torch.rand(3, 5, dtype=torch.float64)
    tau = Timing().tau
    net.hardware.clock = Clock(Timing(readout_window=4 * tau))
    r = relax(net, x, steps=10, tol=-1.0)
    # the plain reference: the states of the last 4 of the 11 drives (u_7 … u_10)
    plain = LayeredNetwork.dense([5, 8, 3], activation="shifted_sigmoid", generator=gen)
    plain.load_state_dict(net.state_dict())
    states = [relax(plain, x, steps=k, tol=-1.0).s for k in range(7, 11)]
    for layer in range(2):
        want = sum(s[layer] for s in states) / 4
        torch.testing.assert_close(r.window[layer], want, rtol=1e-13, atol=1e-15)
    assert r.readout is r.window
    assert relax(plain, x, steps=10, tol=-1.0).window is None  # no window: the final state
    # complex (packed) probes are integrated the same way
    beta = torch.tensor([0.1j, -0.1j], dtype=torch.complex128)
    y = torch.rand(3, 3, dtype=torch.float64)
    rc = relax(net, x, steps=6, beta=beta, nudge=lambda s: MSELoss().nudge(s, y), tol=-1.0)
    assert rc.window[-1].is_complex() and rc.window[-1].shape == rc.s[-1].shape

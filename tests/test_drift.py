"""Conductance drift and post-write relaxation (neurosim.substrate.drift)."""

from __future__ import annotations

import math

import pytest
import torch
from pydantic import ValidationError

from neurosim.substrate.drift import (
    DriftState,
    ExponentialRelaxation,
    PowerLawDrift,
    conductance,
    on_write,
)

N = 100_000


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def phi(x: float) -> float:
    return math.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)


def Phi(x: float) -> float:
    return 0.5 * (1 + math.erf(x / math.sqrt(2)))


def clipped_normal_mean(mu: float, sigma: float) -> float:
    """E[max(X, 0)], X ~ N(mu, sigma²)."""
    r = mu / sigma
    return mu * Phi(r) + sigma * phi(r)


def folded_normal_mean(mu: float, sigma: float) -> float:
    """E|X|, X ~ N(mu, sigma²)."""
    r = mu / sigma
    return mu * (1 - 2 * Phi(-r)) + 2 * sigma * phi(r)


# ------------------------------------------------------------------------------- drift


def test_mean_log_conductance_falls_with_slope_minus_mean_nu():
    t0, t_w = 20.0, 5.0
    drift = PowerLawDrift(nu_mean=0.1, nu_std=0.02, t0=t0)
    g0 = torch.rand(N, generator=gen(1), dtype=torch.float64) * 0.9 + 0.1
    state = DriftState.new(g0, t_w, gen(2), drift=drift)

    x = torch.tensor([math.log(10.0**k) for k in range(5)], dtype=torch.float64)
    log_g = torch.stack([conductance(state, t_w + t0 * 10.0**k).log() for k in range(5)])

    # exact per-device identity: log G(t) - log G(t_w) = -nu log((t - t_w)/t0)
    for k in range(5):
        elapsed = (t_w + t0 * 10.0**k) - state.t_w
        expected = -state.nu * torch.log(elapsed / t0)
        assert torch.allclose(log_g[k] - g0.log(), expected, rtol=0, atol=1e-12)

    # least-squares slope of the device mean of log G against log((t - t_w)/t0);
    # it is the mean of the per-device slopes, whose spread gives its standard error
    xc = x - x.mean()
    per_device = (xc[:, None] * (log_g - log_g.mean(0))).sum(0) / xc.square().sum()
    mean_log = log_g.mean(1)
    slope = float((xc * (mean_log - mean_log.mean())).sum() / xc.square().sum())
    assert slope == pytest.approx(float(per_device.mean()), rel=1e-12)
    se = float(per_device.std()) / math.sqrt(N)
    assert 1e-5 < se < 1e-4  # ≈ 0.02/sqrt(N), measured from the devices
    e_nu = clipped_normal_mean(0.1, 0.02)
    assert abs(slope + e_nu) < 3 * se


def test_aihwkit_pcm_nu_law_matches_published_formula():
    drift = PowerLawDrift(nu_law="aihwkit_pcm")
    g_hat = [1e-9, 0.001, 0.005, 0.01, 0.017, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0, 1.5]

    def mu_ref(g: float) -> float:  # docs/hardware_sources.md §4a
        g = max(g, 1e-7)
        return min(max(-0.0155 * math.log(g) + 0.0244, 0.049), 0.1)

    def sigma_ref(g: float) -> float:
        g = max(g, 1e-7)
        return min(max(-0.0125 * math.log(g) - 0.0059, 0.008), 0.045)

    mean, std = drift.nu_moments(torch.tensor(g_hat, dtype=torch.float64))
    for g, m, s in zip(g_hat, mean.tolist(), std.tolist(), strict=True):
        assert m == pytest.approx(mu_ref(g), rel=1e-12, abs=1e-15)
        assert s == pytest.approx(sigma_ref(g), rel=1e-12, abs=1e-15)
    # the sheet's derived values, to the digits it shows
    assert mean[g_hat.index(0.1)] == pytest.approx(0.060, abs=5e-4)
    assert mean[g_hat.index(0.01)] == pytest.approx(0.096, abs=5e-4)
    assert std[g_hat.index(0.1)] == pytest.approx(0.023, abs=5e-4)
    assert mean[g_hat.index(0.3)] == 0.049 and std[g_hat.index(0.5)] == 0.008
    # the sign of the conductance is ignored, as in aihwkit
    m_neg, _ = drift.nu_moments(torch.tensor([-0.1], dtype=torch.float64))
    assert m_neg.item() == mean[g_hat.index(0.1)].item()


@pytest.mark.parametrize("floor", ["clip", "fold"])
def test_realized_nu_follows_the_floored_normal(floor):
    # at ĝ = 0.05, ν̄/σ_ν ≈ 2.25: 1.2 % of the raw draws are negative
    drift = PowerLawDrift(nu_law="aihwkit_pcm", nu_floor=floor)
    g_hat = torch.full((N,), 0.05, dtype=torch.float64)
    nu = drift.realize_nu(g_hat, gen(3))
    assert nu.dtype == torch.float64 and bool((nu >= 0).all())
    mu = -0.0155 * math.log(0.05) + 0.0244
    sigma = -0.0125 * math.log(0.05) - 0.0059
    ref = clipped_normal_mean(mu, sigma) if floor == "clip" else folded_normal_mean(mu, sigma)
    se = float(nu.std()) / math.sqrt(N)
    assert abs(float(nu.mean()) - ref) < 3 * se
    n_zero = int((nu == 0).sum())
    if floor == "clip":  # binomial count of negative raw draws
        p = Phi(-mu / sigma)
        assert abs(n_zero - N * p) < 3 * math.sqrt(N * p * (1 - p))
    else:
        assert n_zero == 0


def test_factor_is_exactly_one_when_ideal_and_before_t0():
    elapsed = torch.tensor([0.0, 1.0, 19.999, 20.0, 20.001, 1e6], dtype=torch.float64)
    nu = torch.rand(6, generator=gen(4), dtype=torch.float64) * 0.1 + 0.05
    ideal = PowerLawDrift(t0=20.0)
    assert ideal.is_ideal
    assert torch.equal(ideal.factor(elapsed, torch.zeros(6, dtype=torch.float64)), torch.ones(6))

    drift = PowerLawDrift(nu_mean=0.1, t0=20.0)
    assert not drift.is_ideal
    f = drift.factor(elapsed, nu)
    assert torch.equal(f[:4], torch.ones(4, dtype=torch.float64))  # t - t_w <= t0
    assert bool((f[4:] < 1).all())
    assert f[5].item() == pytest.approx((1e6 / 20.0) ** -nu[5].item(), rel=1e-14)

    # ideal models: the conductance is the programmed one, bit for bit, and nothing is drawn
    g0 = torch.rand(1000, generator=gen(5), dtype=torch.float64)
    g = gen(6)
    before = g.get_state()
    state = DriftState.new(g0, 0.0, g)
    on_write(state, g0 > 0.5, g0.flip(0), 3.0, g)
    assert torch.equal(g.get_state(), before)
    expected = torch.where(g0 > 0.5, g0.flip(0), g0)
    for t in (3.0, 50.0, 1e7):
        assert torch.equal(conductance(state, t), expected)


def test_deterministic_nu_draws_nothing():
    drift = PowerLawDrift(nu_mean=0.07)
    g = gen(7)
    before = g.get_state()
    nu = drift.realize_nu(torch.rand(10, dtype=torch.float64), g)
    assert torch.equal(nu, torch.full((10,), 0.07, dtype=torch.float64))
    assert torch.equal(g.get_state(), before)


# -------------------------------------------------------------------------- relaxation


def test_relaxation_recovers_tau_with_deterministic_shift():
    tau, delta = 2.5, -0.07
    relax = ExponentialRelaxation(tau=tau, mean_shift=delta)
    g_prog = torch.rand(1000, generator=gen(8), dtype=torch.float64) * 0.8 + 0.2
    shift = relax.realize_shift(g_prog, gen(9))
    assert torch.equal(shift, torch.full_like(g_prog, delta))
    t = torch.linspace(0.1, 10.0, 25, dtype=torch.float64)
    G = relax.value(g_prog[None, :], shift[None, :], t[:, None])
    y = torch.log(1 - (G - g_prog) / delta)  # = -t/τ
    tc = t - t.mean()
    slope = (tc[:, None] * (y - y.mean(0))).sum(0) / tc.square().sum()
    tau_fit = -1 / slope
    assert torch.allclose(tau_fit, torch.full_like(tau_fit, tau), rtol=1e-10, atol=0)
    # G(t_w) = G_prog, G -> G_prog + Δ
    assert torch.equal(relax.value(g_prog, shift, 0.0), g_prog)
    assert torch.allclose(relax.value(g_prog, shift, 1e4), g_prog + delta, rtol=0, atol=1e-15)


def test_random_relaxation_shift_has_the_configured_mean():
    relax = ExponentialRelaxation(tau=3.0, mean_shift=-0.68, shift_std=0.64)
    g_prog = torch.rand(N, generator=gen(10), dtype=torch.float64) * 80 + 10
    shift = relax.realize_shift(g_prog, gen(11))
    se = float(shift.std()) / math.sqrt(N)
    assert abs(float(shift.mean()) + 0.68) < 3 * se
    assert abs(float(shift.std()) - 0.64) < 3 * 0.64 / math.sqrt(2 * N)  # SE of a normal's std
    # absolute: the same law at every level
    hi = g_prog > 50
    n_hi, n_lo = int(hi.sum()), int((~hi).sum())
    se_diff = float(shift.std()) * math.sqrt(1 / n_hi + 1 / n_lo)
    assert abs(float(shift[hi].mean()) - float(shift[~hi].mean())) < 3 * se_diff


def test_relative_relaxation_scales_with_the_programmed_value():
    relax = ExponentialRelaxation(tau=1.0, mean_shift=-0.01, scale="relative")
    g_prog = torch.rand(100, generator=gen(12), dtype=torch.float64)
    assert torch.equal(relax.realize_shift(g_prog, gen(13)), g_prog * -0.01)


# ------------------------------------------------------------------------------ state


def _models():
    return (
        PowerLawDrift(nu_mean=0.1, nu_std=0.03, t0=20.0),
        ExponentialRelaxation(tau=2.0, mean_shift=-0.05, shift_std=0.02),
    )


def test_on_write_touches_only_masked_devices():
    drift, relax = _models()
    g = gen(14)
    g0 = torch.rand(4, 500, generator=gen(15), dtype=torch.float64)
    state = DriftState.new(g0, 1.0, g, drift=drift, relaxation=relax)
    before = state.state_dict()
    mask = torch.rand(4, 500, generator=gen(16)) < 0.3
    g_new = torch.rand(4, 500, generator=gen(17), dtype=torch.float64)
    on_write(state, mask, g_new, 100.0, g)

    for k in ("t_w", "g_prog", "nu", "shift"):
        assert torch.equal(getattr(state, k)[~mask], before[k][~mask]), k
    assert bool((state.t_w[mask] == 100.0).all())
    assert torch.equal(state.g_prog[mask], g_new[mask])
    assert bool((state.nu[mask] != before["nu"][mask]).all())
    assert bool((state.shift[mask] != before["shift"][mask]).all())

    # the unwritten devices read as if no write had happened
    untouched = DriftState.new(g0, 1.0, gen(14), drift=drift, relaxation=relax)
    assert torch.equal(conductance(state, 1e4)[~mask], conductance(untouched, 1e4)[~mask])
    # a written device read right after the write reads its new value
    assert torch.equal(conductance(state, 100.0)[mask], g_new[mask])


def test_state_dict_round_trip_is_bit_identical():
    drift, relax = _models()
    g = gen(18)
    g0 = torch.rand(300, generator=gen(19), dtype=torch.float64)
    state = DriftState.new(g0, 0.0, g, drift=drift, relaxation=relax)
    on_write(state, g0 > 0.7, 1 - g0, 50.0, g)

    saved, gen_saved = state.state_dict(), g.get_state()

    def run(s: DriftState, gg: torch.Generator) -> list[torch.Tensor]:
        out = [conductance(s, 60.0)]
        on_write(s, g0 < 0.2, g0 * 0.5, 500.0, gg)
        out += [conductance(s, 700.0), conductance(s, 1e5)]
        return out

    first = run(state, g)
    state.nu.zero_()  # state_dict holds copies
    assert not torch.equal(saved["nu"], state.nu)

    resumed = DriftState.new(
        torch.zeros(300, dtype=torch.float64), 0.0, gen(0), drift=drift, relaxation=relax
    )
    resumed.load_state_dict(saved)
    assert resumed.t_last == 50.0
    g2 = torch.Generator()
    g2.set_state(gen_saved)
    for a, b in zip(first, run(resumed, g2), strict=True):
        assert torch.equal(a, b)


def test_same_seed_same_draws_and_independent_substreams():
    drift, relax = _models()
    g0 = torch.rand(1000, generator=gen(20), dtype=torch.float64)
    a = DriftState.new(g0, 0.0, gen(21), drift=drift, relaxation=relax)
    b = DriftState.new(g0, 0.0, gen(21), drift=drift, relaxation=relax)
    c = DriftState.new(g0, 0.0, gen(22), drift=drift, relaxation=relax)
    assert torch.equal(a.nu, b.nu) and torch.equal(a.shift, b.shift)
    assert not torch.equal(a.nu, c.nu) and not torch.equal(a.shift, c.shift)
    # switching relaxation off leaves the drift exponents unchanged, and vice versa
    d = DriftState.new(g0, 0.0, gen(21), drift=drift)
    e = DriftState.new(g0, 0.0, gen(21), relaxation=relax)
    assert torch.equal(a.nu, d.nu) and torch.equal(a.shift, e.shift)
    assert not bool(d.shift.any()) and not bool(e.nu.any())


def test_time_must_not_run_backwards():
    drift, relax = _models()
    g = gen(23)
    state = DriftState.new(
        torch.ones(10, dtype=torch.float64), 10.0, g, drift=drift, relaxation=relax
    )
    with pytest.raises(ValueError, match="back in time"):
        conductance(state, 9.0)
    with pytest.raises(ValueError, match="back in time"):
        on_write(state, None, torch.ones(10, dtype=torch.float64), 5.0, g)


# ----------------------------------------------------------------------------- schema


@pytest.mark.parametrize("t0", [0.0, -1.0])
def test_nonpositive_t0_refused(t0):
    with pytest.raises(ValidationError, match="t0"):
        PowerLawDrift(t0=t0)


def test_schema_refusals():
    with pytest.raises(ValidationError, match="nu_std"):
        PowerLawDrift(nu_std=-0.01)
    with pytest.raises(ValidationError, match="nu_mean"):
        PowerLawDrift(nu_mean=-0.1)
    with pytest.raises(ValidationError, match="nu_mean"):
        PowerLawDrift(nu_law="aihwkit_pcm", nu_mean=0.1)
    with pytest.raises(ValidationError, match="t0"):
        PowerLawDrift(t0="20")  # strict: TOML is typed
    with pytest.raises(ValidationError, match="tau"):
        ExponentialRelaxation(tau=0.0)
    with pytest.raises(ValidationError, match="shift_std"):
        ExponentialRelaxation(shift_std=-1.0)
    with pytest.raises(ValidationError, match="nu_laws"):
        PowerLawDrift(nu_laws="constant")  # extra keys are refused
    assert PowerLawDrift().t0 == 20.0 and PowerLawDrift().is_ideal
    assert ExponentialRelaxation().is_ideal

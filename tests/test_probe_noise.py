"""Nudge-generator noise: amplitude and phase noise on each applied probe."""

from __future__ import annotations

import math

import numpy as np
import torch
from conftest import make_problem
from test_estimators import _rel_err

from neurosim.learning import Exact, Holomorphic, NudgedPhase
from neurosim.substrate import FixedPoint


def test_noise_free_phase_applies_the_nominal_probes():
    beta, _ = Holomorphic(r=0.1, n=6).probes()
    assert NudgedPhase(10, FixedPoint()).perturb(beta) is beta


def test_amplitude_and_phase_noise_statistics():
    n, sa, sp = 100_000, 0.05, 0.2
    beta = torch.full((n,), 0.1 * complex(math.cos(0.3), math.sin(0.3)), dtype=torch.complex128)
    phase = NudgedPhase(
        10,
        FixedPoint(),
        amplitude_noise=sa,
        phase_noise=sp,
        generator=torch.Generator().manual_seed(0),
    )
    b = phase.perturb(beta)
    amp = (b.abs() / 0.1).numpy()
    ang = torch.angle(b / beta).numpy()
    se = 1 / math.sqrt(2 * (n - 1))  # relative standard error of a sample std
    assert abs(amp.std() / sa - 1) < 3 * se * 1.5
    assert abs(ang.std() / sp - 1) < 3 * se * 1.5
    assert abs(amp.mean() - 1) < 3 * sa / math.sqrt(n)
    # real probes get amplitude noise only and stay real
    r = phase.perturb(torch.full((n,), 0.1, dtype=torch.float64))
    assert not r.is_complex() and abs(float((r / 0.1).std()) / sa - 1) < 0.02


def test_probe_noise_biases_the_holomorphic_estimate_in_proportion():
    p = make_problem(0.0)
    with torch.no_grad():
        exact = (
            Exact()
            .estimate(p.network, p.x, p.free, lambda s: p.loss.nudge(s, p.y), p.nudged_phase)
            .delta
        )
    errs = []
    for sigma in (0.0, 0.01, 0.04):
        phase = NudgedPhase(
            p.nudged_phase.steps,
            FixedPoint(),
            p.nudged_phase.tol,
            phase_noise=sigma,
            generator=torch.Generator().manual_seed(1),
        )
        with torch.no_grad():
            est = Holomorphic(r=0.1, n=8).estimate(
                p.network, p.x, p.free, lambda s: p.loss.nudge(s, p.y), phase
            )
        errs.append(_rel_err(est.delta, exact))
    assert errs[0] < 1e-6
    assert errs[0] < errs[1] < errs[2]
    assert 2 < errs[2] / errs[1] < 8  # error ~ linear in the phase-noise std
    assert np.isfinite(errs).all()

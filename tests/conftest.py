"""Shared fixtures: small seeded networks relaxed to tight fixed points (float64)."""

from __future__ import annotations

import importlib.util
import math
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from neurosim.learning import FreePhase, MSELoss, NudgedPhase
from neurosim.substrate import FixedPoint, LayeredNetwork, RelaxResult

TIGHT = 1e-14


@dataclass
class Problem:
    network: LayeredNetwork
    x: torch.Tensor
    y: torch.Tensor
    loss: MSELoss
    free_phase: FreePhase
    nudged_phase: NudgedPhase
    free: RelaxResult


def make_problem(
    alpha: float = 0.0,
    *,
    sizes=(8, 12, 10, 5),
    batch: int = 6,
    seed: int = 0,
    activation: str = "shifted_sigmoid",
    gain: float = 1.0,
) -> Problem:
    gen = torch.Generator().manual_seed(seed)
    net = LayeredNetwork.dense(sizes, activation=activation, alpha=alpha, gain=gain, generator=gen)
    x = torch.rand(batch, sizes[0], dtype=torch.float64, generator=gen)
    y = torch.rand(batch, sizes[-1], dtype=torch.float64, generator=gen)
    free_phase = FreePhase(steps=5000, tol=TIGHT)
    nudged = NudgedPhase(steps=5000, integrator=FixedPoint(), tol=TIGHT)
    free = free_phase.run(net, x)
    assert free.all_converged, f"fixture did not converge: {free.residual.max()}"
    return Problem(net, x, y, MSELoss(), free_phase, nudged, free)


def _gen(seed: int = 0) -> torch.Generator:
    """A fresh CPU generator with a fixed seed."""
    return torch.Generator().manual_seed(seed)


def _z3(x: float, mean: float, se: float) -> None:
    """Assert a statistic lies within 3 standard errors of its expected value."""
    assert abs(x - mean) <= 3 * se, f"{x} not within 3 SE ({se:.3g}) of {mean}"


def _same_moments(a: torch.Tensor, b: torch.Tensor) -> None:
    """Columns of two independent samples ``(n, d)`` share mean and variance within 3 SE."""
    n = a.shape[0]
    for j in range(a.shape[1]):
        va, vb = float(a[:, j].var()), float(b[:, j].var())
        _z3(float(b[:, j].mean()), float(a[:, j].mean()), math.sqrt((va + vb) / n))
        _z3(vb, va, math.sqrt(2 / (n - 1)) * math.hypot(va, vb))


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(1234)


STUDIES = Path(__file__).resolve().parents[1] / "studies"


def _load_study(name: str):
    """Import ``studies/NAME.py`` as a module (the studies are scripts, not a package)."""
    if str(STUDIES) not in sys.path:
        sys.path.insert(0, str(STUDIES))
    spec = importlib.util.spec_from_file_location(f"study_{name}", STUDIES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def load_study():
    """``load_study("name")`` → the study script ``studies/name.py`` as a module."""
    return _load_study

"""Regularizer-strength tuners: robustness, convergence, the one-time rescale, checkpoints."""

from __future__ import annotations

import json
import math
import random
import subprocess
import sys

import pytest

from equivariance.strength import (
    VIOLATION_CLIP,
    AbstractStrengthTuner,
    DualAscent,
    EmpiricalBayes,
    FixedStrength,
    KimRescale,
)

NAMES = ("rot", "refl", "scale")


def _tuners() -> dict[str, AbstractStrengthTuner]:
    return {
        "fixed": FixedStrength(dict.fromkeys(NAMES, 0.3)),
        "kim": KimRescale({"rot": 1.0, "refl": 0.5, "scale": 2.0}, warmup=5, power=1.5),
        "dual_add": DualAscent(dict.fromkeys(NAMES, 0.1), strengths=0.2, lr=0.3, ema=0.8),
        "dual_mul": DualAscent(
            {"rot": 0.1, "refl": 1e-300, "scale": 3.0},
            strengths=0.2,
            lr=2.0,
            ema=0.5,
            mode="multiplicative",
            lambda_min=1e-9,
            lambda_max=1e4,
        ),
        "bayes": EmpiricalBayes(NAMES, strengths=0.5, rate=0.3, ema=0.5, lambda_max=1e4),
        "bayes_jump": EmpiricalBayes(NAMES, rate=1.0, lambda_min=1e-300, lambda_max=1e300),
        "kim_late": KimRescale(dict.fromkeys(NAMES, 1.0), warmup=6, average_from=3, rescale_to=2.0),
        "dual_wild": DualAscent(  # extreme step size, no step cap: only the projection holds λ
            dict.fromkeys(NAMES, 1e-200), lr=1e300, mode="multiplicative", lambda_max=1e300
        ),
    }


ADVERSARIAL = [
    math.nan,
    math.inf,
    -math.inf,
    1e308,
    -1e308,
    1e300,
    5e-324,
    0.0,
    -0.0,
    1.0,
    -1.0,
    1e-300,
]


@pytest.mark.parametrize("kind", list(_tuners()))
def test_strengths_stay_finite_and_nonnegative_under_adversarial_violations(kind):
    tuner = _tuners()[kind]
    rng = random.Random(0)
    for step in range(400):
        v = {k: rng.choice(ADVERSARIAL) for k in NAMES if rng.random() < 0.9}
        lam = tuner.update(v, step)
        assert set(lam) == set(NAMES)
        for x in lam.values():
            assert isinstance(x, float) and math.isfinite(x) and x >= 0.0, (step, v, lam)
        if isinstance(tuner, (DualAscent, EmpiricalBayes)):
            assert all(tuner.lambda_min <= x <= tuner.lambda_max for x in lam.values())
            for vbar in tuner.smoothed_violations.values():
                assert math.isnan(vbar) or abs(vbar) <= VIOLATION_CLIP
    json.dumps(tuner.state_dict(), allow_nan=False)  # nothing non-finite in the state


def test_nan_violations_are_ignored():
    tuner = DualAscent({"a": 0.5}, strengths=1.0, lr=0.1)
    assert tuner.update({"a": math.nan}, 0) == {"a": 1.0}
    assert math.isnan(tuner.smoothed_violations["a"])
    kim = KimRescale({"a": 1.0, "b": 1.0}, warmup=3)
    for step, v in enumerate([(2.0, math.nan), (math.nan, 4.0), (4.0, math.nan)]):
        kim.update(dict(zip("ab", v, strict=True)), step)
    assert kim.mean_violations == {"a": 3.0, "b": 4.0}


def test_fixed_strength_never_changes():
    tuner = FixedStrength(0.7, name="homeo")
    for step, v in enumerate(ADVERSARIAL):
        assert tuner.update({"homeo": v}, step) == {"homeo": 0.7}
    with pytest.raises(ValueError, match="finite"):
        FixedStrength(-1.0)
    with pytest.raises(ValueError, match="finite"):
        FixedStrength(math.inf)


def _descent_ascent(tuner: DualAscent, theta0: float, steps: int, lr: float = 0.05):
    """min (θ−3)² s.t. θ² ≤ 1: θ descends ∇[(θ−3)² + λ θ²], the tuner ascends λ."""
    theta = theta0
    for step in range(steps):
        lam = tuner.strengths["c"]
        theta -= lr * (2 * (theta - 3) + lam * 2 * theta)
        tuner.update({"c": theta**2}, step)
    return theta, tuner.strengths["c"]


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(mode="additive", lr=0.5),
        dict(mode="additive", lr=0.5, ema=0.5),
        dict(mode="multiplicative", lr=0.5, strengths=0.1),
        dict(mode="multiplicative", lr=0.5, strengths=50.0, ema=0.7),
    ],
)
def test_dual_ascent_reaches_the_constrained_optimum(kwargs):
    # KKT: 2(θ−3) + 2λθ = 0 with θ² = 1  →  θ* = 1, λ* = 2
    theta, lam = _descent_ascent(DualAscent({"c": 1.0}, **kwargs), 0.0, 3000)
    assert theta == pytest.approx(1.0, abs=1e-6)
    assert lam == pytest.approx(2.0, abs=1e-5)


def test_dual_ascent_releases_an_inactive_constraint():
    # min (θ−0.5)² s.t. θ² ≤ 1: the constraint is inactive, λ* = 0 (or the floor)
    for kw, floor in [(dict(), 0.0), (dict(mode="multiplicative", lambda_min=1e-6), 1e-6)]:
        tuner = DualAscent({"c": 1.0}, strengths=5.0, lr=0.5, **kw)
        theta = 2.0
        for step in range(3000):
            lam = tuner.strengths["c"]
            theta -= 0.05 * (2 * (theta - 0.5) + lam * 2 * theta)
            tuner.update({"c": theta**2}, step)
        assert theta == pytest.approx(0.5, abs=1e-4)
        assert tuner.strengths["c"] == pytest.approx(floor, abs=1e-5)


def test_dual_ascent_update_formulas():
    add = DualAscent({"a": 0.2}, strengths=1.0, lr=0.5, ema=0.75, max_step=0.1)
    add.update({"a": 0.4}, 0)  # v̄ = 0.4 (first observation): λ = 1 + 0.5·0.2
    assert add.strengths["a"] == pytest.approx(1.1, rel=1e-15)
    add.update({"a": 4.4}, 1)  # v̄ = 0.75·0.4 + 0.25·4.4 = 1.4: step 0.6 capped to 0.1
    assert add.smoothed_violations["a"] == pytest.approx(1.4, rel=1e-15)
    assert add.strengths["a"] == pytest.approx(1.2, rel=1e-15)
    add.update({"a": -100.0}, 2)  # a large decrease is capped too
    assert add.strengths["a"] == pytest.approx(1.1, rel=1e-15)
    free = DualAscent({"a": 0.2}, strengths=1.0, lr=0.5, lambda_max=3.0)
    assert free.update({"a": -100.0}, 0)["a"] == 0.0  # projected onto [0, λ_max]
    assert free.update({"a": 1e9}, 1)["a"] == 3.0
    mul = DualAscent({"a": 0.2}, strengths=1.0, lr=0.5, mode="multiplicative")
    mul.update({"a": 0.6}, 0)  # λ · exp(0.5 (0.6/0.2 − 1))
    assert mul.strengths["a"] == pytest.approx(math.e, rel=1e-15)


def test_kim_rescale_happens_exactly_once_with_the_formula():
    lam0 = {"rot": 1.0, "refl": 0.5, "scale": 2.0}
    p, warmup = 1.5, 4
    tuner = KimRescale(lam0, warmup=warmup, power=p)
    seq = {"rot": [0.2, 0.4, 0.3, 0.1], "refl": [1.0, 2.0, 3.0, 2.0], "scale": [0.5] * 4}
    for step in range(warmup - 1):
        out = tuner.update({k: v[step] for k, v in seq.items()}, step)
        assert out == lam0 and not tuner.rescaled
    out = tuner.update({k: v[warmup - 1] for k, v in seq.items()}, warmup - 1)
    assert tuner.rescaled
    r = {k: sum(v) / len(v) for k, v in seq.items()}
    r_min = min(r.values())
    expected = {k: lam0[k] / (r[k] / r_min) ** p for k in lam0}
    for k in lam0:
        assert out[k] == pytest.approx(expected[k], rel=1e-14)
    assert out["rot"] == lam0["rot"]  # the smallest violation keeps its strength
    for step in range(warmup, warmup + 50):  # never again, whatever is reported
        assert tuner.update({"rot": 1e6, "refl": 1e-9, "scale": math.nan}, step) == out


def test_kim_rescale_zero_violation_and_unobserved_regularizer():
    tuner = KimRescale({"a": 1.0, "b": 1.0, "c": 3.0}, warmup=2, eps=1e-12)
    tuner.update({"a": 0.0, "b": 1.0}, 0)
    out = tuner.update({"a": 0.0, "b": 1.0}, 1)
    assert out["a"] == 1.0
    assert out["b"] == pytest.approx(1e-12, rel=1e-12)  # (1 / ε)^-1
    assert out["c"] == 3.0  # never observed: unchanged


def test_kim_rescale_late_window_and_reference_strength():
    tuner = KimRescale({"a": 0.3, "b": 0.3}, warmup=4, average_from=2, rescale_to=3.0)
    tuner.update({"a": 100.0, "b": 1.0}, 0)  # before the window: not averaged
    tuner.update({"a": 100.0, "b": 1.0}, 1)
    assert tuner.strengths == {"a": 0.3, "b": 0.3}
    tuner.update({"a": 1.0, "b": 4.0}, 2)
    out = tuner.update({"a": 3.0, "b": 4.0}, 3)  # R̄ = (2, 4): λ = 3 · (2 / R̄)
    assert tuner.mean_violations == {"a": 2.0, "b": 4.0}
    assert out["a"] == pytest.approx(3.0, rel=1e-15)
    assert out["b"] == pytest.approx(1.5, rel=1e-15)


def test_empirical_bayes_update_formula_and_fixed_point():
    tuner = EmpiricalBayes(("a", "b"), strengths=1.0, rate=0.5, ema=0.5, scale=2.0, eps=1e-3)
    tuner.update({"a": 0.5, "b": 0.0}, 0)  # λ⋆ = 2/0.5 = 4, and 2/ε = 2000 for b
    assert tuner.strengths["a"] == pytest.approx(2.0, rel=1e-15)  # exp(½ log 4)
    assert tuner.strengths["b"] == pytest.approx(math.sqrt(1000.0), rel=1e-12)  # capped at λ_max
    tuner.update({"a": 1.5}, 1)  # v̄ = 1, λ⋆ = 2: λ = exp(½(log 2 + log 2))
    assert tuner.smoothed_violations["a"] == pytest.approx(1.0, rel=1e-15)
    assert tuner.strengths["a"] == pytest.approx(2.0, rel=1e-15)
    # fixed point λ = c / v, decreasing in the violation, whatever the start
    for start in (1e-3, 1.0, 50.0):
        t = EmpiricalBayes(("x", "y", "z"), strengths=start, rate=0.2, lambda_max=100.0)
        for step in range(300):
            t.update({"x": 0.1, "y": 1.0, "z": 0.0}, step)
        lam = t.strengths
        assert lam["x"] == pytest.approx(10.0, rel=1e-9)
        assert lam["y"] == pytest.approx(1.0, rel=1e-9)
        assert lam["z"] == pytest.approx(100.0, rel=1e-9)  # an exact symmetry: λ_max
    capped = EmpiricalBayes("a", strengths=1.0, rate=1.0, max_step=0.1)
    assert capped.update({"a": 1e-9}, 0)["a"] == pytest.approx(math.exp(0.1), rel=1e-15)


def _stream(seed: int, n: int):
    rng = random.Random(seed)
    return [{k: rng.lognormvariate(-1.0, 1.0) for k in NAMES} for _ in range(n)]


@pytest.mark.parametrize("kind", ["fixed", "kim", "dual_add", "dual_mul", "bayes"])
def test_state_dict_resumes_bit_identically(kind):
    stream = _stream(1, 60)
    ref = _tuners()[kind]
    traj_ref = [ref.update(v, t) for t, v in enumerate(stream)]
    first = _tuners()[kind]
    for t, v in enumerate(stream[:3]):
        first.update(v, t)
    saved = json.loads(json.dumps(first.state_dict()))  # through a text checkpoint
    resumed = _tuners()[kind]
    resumed.load_state_dict(saved)
    assert resumed.state_dict() == first.state_dict()
    traj = traj_ref[:3] + [resumed.update(v, t) for t, v in enumerate(stream) if t >= 3]
    assert traj == traj_ref  # exact float equality


def test_names_are_checked():
    tuner = DualAscent({"a": 0.1, "b": 0.2})
    with pytest.raises(KeyError, match="unknown regularizer"):
        tuner.update({"c": 1.0}, 0)
    assert tuner.update({"a": 1.0}, 0)["b"] == 0.0  # a subset updates only its names
    other = DualAscent({"a": 0.1})
    with pytest.raises(ValueError, match="state for regularizers"):
        other.load_state_dict(tuner.state_dict())


@pytest.mark.parametrize(
    "make",
    [
        lambda: DualAscent(0.1, mode="sideways"),
        lambda: DualAscent(0.0, mode="multiplicative"),
        lambda: DualAscent(0.1, lr=0.0),
        lambda: DualAscent(0.1, ema=1.0),
        lambda: DualAscent(0.1, lambda_max=math.inf),
        lambda: DualAscent(math.nan),
        lambda: DualAscent(0.1, mode="multiplicative", lambda_min=0.0),
        lambda: KimRescale(1.0, warmup=0),
        lambda: KimRescale(1.0, warmup=3, power=-1.0),
        lambda: KimRescale(1.0, warmup=3, average_from=3),
        lambda: KimRescale(1.0, warmup=3, rescale_to=-1.0),
        lambda: EmpiricalBayes("a", rate=0.0),
        lambda: EmpiricalBayes("a", rate=1.5),
        lambda: EmpiricalBayes("a", scale=0.0),
        lambda: EmpiricalBayes("a", lambda_min=0.0),
        lambda: EmpiricalBayes("a", lambda_max=math.inf),
        lambda: EmpiricalBayes(()),
    ],
)
def test_invalid_configurations_are_rejected(make):
    with pytest.raises(ValueError):
        make()


def test_strength_module_does_not_import_neurosim():
    code = (
        "import sys, equivariance.strength; "
        "assert not [m for m in sys.modules if m.split('.')[0] == 'neurosim']"
    )
    subprocess.run([sys.executable, "-c", code], check=True)

"""The synthetic mixed-symmetry task: planted levels are the target's true violations."""

from __future__ import annotations

import math

import pytest
import torch
from conftest import _gen, _z3

from equivariance.soft import equivariance_penalty, equivariance_residuals
from neurosim.workloads.mixed_symmetry import (
    DEFAULT_LEVELS,
    MIXED_SYMMETRY_TYPES,
    breaking_terms,
    invariant_part,
    mixed_symmetry,
    mixed_symmetry_target,
    shape_features,
    symmetry_types,
)


def _x(n=256, seed=0):
    return torch.randn(n, 3, 3, generator=_gen(seed), dtype=torch.float64)


def test_invariant_part_and_shape_features_are_invariant_under_every_type():
    x = _x()
    for name, sym in symmetry_types().items():
        for f in (lambda z: invariant_part(z)[:, None], shape_features):
            v = equivariance_penalty(f, x, sym, n_samples=2, generator=_gen(1))
            assert float(v) < 1e-20, name


@pytest.mark.parametrize("broken", MIXED_SYMMETRY_TYPES)
def test_each_breaking_term_breaks_only_its_own_type(broken):
    x = _x()
    for name, sym in symmetry_types().items():
        v = float(
            equivariance_penalty(
                lambda z: breaking_terms(z)[broken][:, None], x, sym, n_samples=2, generator=_gen(2)
            )
        )
        assert (v > 0.1) if name == broken else (v < 1e-20), (broken, name, v)


@pytest.mark.parametrize("name", MIXED_SYMMETRY_TYPES)
def test_target_violation_equals_planted_level_squared(name):
    levels = {"so3": 0.05, "translation": 0.2, "scaling": 0.4, "permutation": 0.8}
    sym = symmetry_types()[name]
    r = equivariance_residuals(
        lambda z: mixed_symmetry_target(z, levels),
        _x(4000, seed=3),
        sym,
        n_samples=2,
        generator=_gen(4),
    ).reshape(-1)
    _z3(float(r.mean()), levels[name] ** 2, float(r.std()) / math.sqrt(r.numel()))


def test_violation_is_monotone_in_the_planted_level():
    sym, x = symmetry_types()["scaling"], _x()
    vals = [
        float(
            equivariance_penalty(
                lambda z, e=e: mixed_symmetry_target(z, {"scaling": e}), x, sym, generator=_gen(5)
            )
        )
        for e in (0.0, 0.1, 0.3, 1.0)
    ]
    assert vals[0] < 1e-20 and vals == sorted(vals) and len(set(vals)) == 4


def test_dataset_is_seeded_and_checked():
    a, b = (
        mixed_symmetry(seed=3, n_train=50, n_test=20),
        mixed_symmetry(seed=3, n_train=50, n_test=20),
    )
    torch.testing.assert_close(a.x_train, b.x_train, rtol=0, atol=0)
    torch.testing.assert_close(a.y_test, b.y_test, rtol=0, atol=0)
    assert a.x_train.shape == (50, 3, 3) and a.y_test.shape == (20, 1)
    assert a.levels == DEFAULT_LEVELS
    c = mixed_symmetry(seed=4, n_train=50, n_test=20)
    assert not torch.equal(a.x_train, c.x_train)
    torch.testing.assert_close(a.y_test, mixed_symmetry_target(a.x_test, a.levels))
    with pytest.raises(ValueError, match="level"):
        mixed_symmetry(levels={"so3": -1.0})
    with pytest.raises(KeyError, match="options"):
        mixed_symmetry_target(a.x_test, {"lorentz": 0.1})


def test_nbody_forecasting_task_and_its_symmetry_types():
    from neurosim.workloads.mixed_symmetry import nbody_forecasting, nbody_symmetry_types

    d = nbody_forecasting(n_train=8, n_test=4, field_strength=0.5, dtype=torch.float64)
    assert d["x_train"].shape == (8, 5, 7) and d["y_test"].shape == (4, 5, 3)
    assert set(d["x_train"][..., 6].unique().tolist()) <= {-1.0, 1.0}
    syms = nbody_symmetry_types()

    def equivariant(x):  # E(3)- and permutation-equivariant displacement model
        loc, vel, q = x[..., 0:3], x[..., 3:6], x[..., 6:]
        rel = loc[:, :, None] - loc[:, None]
        w = q * q.transpose(1, 2) / (1 + rel.pow(2).sum(-1))
        return vel + torch.einsum("bij,bijd->bid", w, rel)

    def field_aware(x):  # a constant push along z breaks rotations only
        push = torch.zeros_like(x[..., 3:6])
        push[..., 2] = x[..., 6]
        return equivariant(x) + push

    for name, sym in syms.items():
        v = equivariance_penalty(equivariant, d["x_train"], sym, n_samples=2, generator=_gen(6))
        w = equivariance_penalty(field_aware, d["x_train"], sym, n_samples=2, generator=_gen(6))
        assert float(v) < 1e-20, name
        assert (float(w) > 0.1) if name == "so3" else (float(w) < 1e-20), name

"""The equivariance test kit accepts equivariant maps and rejects broken ones."""

from __future__ import annotations

import pytest
import torch

from equivariance.so3 import spherical_harmonics
from equivariance.testing import (
    FLOAT_TOLERANCE,
    assert_equivariant,
    equivariance_error,
    random_rotation,
    so3_action,
)

rotate = lambda R, v: v @ R.T.to(v)


def test_random_rotation_is_special_orthogonal_and_seeded():
    g = torch.Generator().manual_seed(0)
    R = random_rotation(g)
    torch.testing.assert_close(R @ R.T, torch.eye(3, dtype=torch.float64))
    torch.testing.assert_close(torch.linalg.det(R), torch.tensor(1.0, dtype=torch.float64))
    assert torch.linalg.det(random_rotation(g, inversion=True)) < 0
    assert random_rotation(g, torch.float32).dtype == torch.float32
    R1 = random_rotation(torch.Generator().manual_seed(7))
    R2 = random_rotation(torch.Generator().manual_seed(7))
    assert torch.equal(R1, R2)


def test_random_rotation_is_haar_on_average():
    # E[R] = 0 for the Haar measure on SO(3)
    g = torch.Generator().manual_seed(1)
    mean = torch.stack([random_rotation(g) for _ in range(4000)]).mean(0)
    assert mean.abs().max() < 0.05


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_accepts_spherical_harmonics(dtype):
    x = torch.randn(20, 3, dtype=dtype)
    err = assert_equivariant(lambda v: spherical_harmonics(4, v), x, rotate, so3_action(4))
    assert err <= FLOAT_TOLERANCE[dtype]


def test_accepts_vector_cross_product_only_for_rotations():
    a, b = torch.randn(8, 3, dtype=torch.float64), torch.randn(8, 3, dtype=torch.float64)
    cross = lambda u, v: torch.linalg.cross(u, v)
    assert_equivariant(cross, (a, b), rotate, rotate, inversion=False)
    # the cross product is a pseudovector: under inversion it does not flip
    with pytest.raises(AssertionError, match="equivariance error"):
        assert_equivariant(cross, (a, b), rotate, rotate, inversion=True)


def test_rejects_non_equivariant_module():
    torch.manual_seed(0)
    lin = torch.nn.Linear(9, 9, bias=False).double()  # mixes degrees 0, 1, 2 freely
    x = torch.randn(6, 9, dtype=torch.float64)
    act = so3_action(2)
    assert equivariance_error(lin, x, act, act) > 1e-2
    with pytest.raises(AssertionError):
        assert_equivariant(lin, x, act, act)


def test_rejects_slightly_broken_map_in_float64_but_not_float32_tolerance():
    eps = 1e-7
    f = lambda v: spherical_harmonics(2, v) + eps * v[..., :1]
    x = torch.randn(10, 3, dtype=torch.float64)
    with pytest.raises(AssertionError):
        assert_equivariant(f, x, rotate, so3_action(2))
    assert_equivariant(f, x, rotate, so3_action(2), tol=1e-5)


def test_error_paths():
    x = torch.randn(3, 3, dtype=torch.float64)
    with pytest.raises(ValueError, match="input actions"):
        equivariance_error(lambda u, v: u, (x, x), [rotate], rotate)
    with pytest.raises(KeyError, match="no default tolerance"):
        assert_equivariant(lambda v: v, x.half(), rotate, rotate)

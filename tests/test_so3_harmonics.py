"""Real spherical harmonics, S² quadrature and real Wigner-D (equivariance.so3)."""

from __future__ import annotations

import math

import pytest
import torch

from equivariance.so3 import (
    e3nn_change_of_basis,
    s2_quadrature,
    spherical_harmonics,
    wigner_D,
    wigner_D_blocks,
)
from equivariance.testing import random_rotation

F64 = torch.float64


def _points(n=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, generator=g, dtype=F64)


def test_low_degrees_closed_form():
    x = _points(16)
    u = x / x.norm(dim=-1, keepdim=True)
    ux, uy, uz = u.unbind(-1)
    y = spherical_harmonics(2, x)
    c0, c1 = 1 / math.sqrt(4 * math.pi), math.sqrt(3 / (4 * math.pi))
    c2 = math.sqrt(15 / (4 * math.pi))
    expected = torch.stack(
        [
            torch.full_like(ux, c0),
            c1 * uy,
            c1 * uz,
            c1 * ux,
            c2 * ux * uy,
            c2 * uy * uz,
            math.sqrt(5 / (16 * math.pi)) * (3 * uz**2 - 1),
            c2 * ux * uz,
            c2 / 2 * (ux**2 - uy**2),
        ],
        -1,
    )
    torch.testing.assert_close(y, expected, rtol=0, atol=1e-14)


@pytest.mark.parametrize("lmax", [0, 3, 10, 20])
def test_orthonormal_under_exact_quadrature(lmax):
    pts, w = s2_quadrature(2 * lmax)
    torch.testing.assert_close(w.sum(), torch.tensor(4 * math.pi, dtype=F64))
    y = spherical_harmonics(lmax, pts)
    gram = y.T @ (w[:, None] * y)
    torch.testing.assert_close(gram, torch.eye((lmax + 1) ** 2, dtype=F64), rtol=0, atol=1e-12)


def test_quadrature_too_coarse_is_not_exact():
    pts, w = s2_quadrature(2 * 4 - 2)
    y = spherical_harmonics(4, pts)
    gram = y.T @ (w[:, None] * y)
    assert (gram - torch.eye(25, dtype=F64)).abs().max() > 1e-3


def test_parity_and_poles():
    x = _points()
    y, ym = spherical_harmonics(6, x), spherical_harmonics(6, -x)
    sign = torch.cat([torch.full((2 * l + 1,), (-1.0) ** l, dtype=F64) for l in range(7)])
    torch.testing.assert_close(ym, y * sign, rtol=0, atol=1e-13)
    pole = spherical_harmonics(8, torch.tensor([[0.0, 0.0, 1.0]], dtype=F64))
    assert torch.isfinite(pole).all()
    # at the north pole only m = 0 survives, with value sqrt((2l+1)/4π)
    m0 = torch.tensor([l * l + l for l in range(9)])
    torch.testing.assert_close(
        pole[0, m0], torch.sqrt((2 * torch.arange(9.0, dtype=F64) + 1) / (4 * math.pi))
    )
    assert pole[0].abs().sum() - pole[0, m0].abs().sum() < 1e-14


def test_rejects_bad_arguments():
    with pytest.raises(ValueError, match="lmax"):
        spherical_harmonics(-1, _points())
    with pytest.raises(ValueError, match=r"\(\.\.\., 3\)"):
        spherical_harmonics(2, torch.zeros(4, 2))
    with pytest.raises(ValueError, match="degree"):
        s2_quadrature(-1)


@pytest.mark.parametrize("inversion", [False, True])
def test_wigner_D_properties(inversion):
    g = torch.Generator().manual_seed(3)
    R1, R2 = random_rotation(g, inversion=inversion), random_rotation(g)
    lmax = 8
    x = _points()
    D1, D2 = wigner_D_blocks(lmax, R1), wigner_D_blocks(lmax, R2)
    eye = torch.eye(D1.shape[-1], dtype=F64)
    torch.testing.assert_close(D1 @ D1.T, eye, rtol=0, atol=1e-12)
    torch.testing.assert_close(wigner_D_blocks(lmax, R1 @ R2), D1 @ D2, rtol=0, atol=1e-12)
    torch.testing.assert_close(
        spherical_harmonics(lmax, x @ R1.T), spherical_harmonics(lmax, x) @ D1.T, rtol=0, atol=1e-12
    )
    for l in range(lmax + 1):
        torch.testing.assert_close(
            wigner_D(l, -R1), (-1) ** l * wigner_D(l, R1), rtol=0, atol=1e-12
        )


def test_wigner_D_batched():
    g = torch.Generator().manual_seed(4)
    R = torch.stack([random_rotation(g) for _ in range(5)])
    D = wigner_D(3, R)
    assert D.shape == (5, 7, 7)
    torch.testing.assert_close(D[2], wigner_D(3, R[2]), rtol=0, atol=1e-14)


def test_gradcheck_spherical_harmonics():
    x = _points(5).requires_grad_()
    assert torch.autograd.gradcheck(lambda v: spherical_harmonics(4, v), (x,))


@pytest.mark.parametrize("l", [0, 1, 2, 5, 8])
def test_e3nn_convention(l):
    o3 = pytest.importorskip("e3nn.o3")
    x = _points()
    theirs = o3.spherical_harmonics(l, x, normalize=True, normalization="integral")
    Q = e3nn_change_of_basis(l)
    torch.testing.assert_close(Q @ Q.T, torch.eye(2 * l + 1, dtype=F64), rtol=0, atol=1e-13)
    ours = spherical_harmonics(l, x)[:, l * l :]
    torch.testing.assert_close(theirs, ours @ Q.T, rtol=0, atol=1e-12)
    if l <= 1:  # a signed permutation only for l <= 1
        assert torch.allclose(Q.abs().sum(-1), torch.ones(2 * l + 1, dtype=F64))

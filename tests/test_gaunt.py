"""Gaunt tensor products: coefficients, three implementations, equivariance, parity."""

from __future__ import annotations

import math

import pytest
import torch

from equivariance.so3 import (
    GauntSelfProduct,
    GauntTensorProduct,
    auto_method,
    e3nn_change_of_basis,
    gaunt_coefficients,
    gaunt_fourier2d,
    gaunt_grid,
    gaunt_power_fourier2d,
    gaunt_power_grid,
    gaunt_reference,
)
from equivariance.testing import assert_equivariant, so3_action

F64 = torch.float64
METHODS = {"reference": gaunt_reference, "grid": gaunt_grid, "fourier2d": gaunt_fourier2d}


def _coeffs(batch, lmax, *, seed=0, dtype=F64):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(batch, (lmax + 1) ** 2, generator=g, dtype=dtype)


def _block(G, l1, l2, l3):
    return G[l1 * l1 : (l1 + 1) ** 2, l2 * l2 : (l2 + 1) ** 2, l3 * l3 : (l3 + 1) ** 2]


def _three_j_000(l1, l2, l3):
    sympy_wigner = pytest.importorskip("sympy.physics.wigner")
    return float(sympy_wigner.wigner_3j(l1, l2, l3, 0, 0, 0))


def test_coefficients_match_sympy_real_gaunt():
    sympy_wigner = pytest.importorskip("sympy.physics.wigner")
    G = gaunt_coefficients(2, 2, 3)
    for l1, l2, l3 in [(1, 1, 2), (2, 1, 3), (2, 2, 2), (1, 2, 1), (0, 2, 2)]:
        for m1 in range(-l1, l1 + 1):
            for m2 in range(-l2, l2 + 1):
                for m3 in range(-l3, l3 + 1):
                    want = float(sympy_wigner.real_gaunt(l1, l2, l3, m1, m2, m3))
                    got = _block(G, l1, l2, l3)[m1 + l1, m2 + l2, m3 + l3].item()
                    assert abs(got - want) < 1e-13, (l1, l2, l3, m1, m2, m3)


def test_coefficients_vanish_on_odd_and_non_triangle_paths():
    L = 4
    G = gaunt_coefficients(L, L, 2 * L)
    for l1 in range(L + 1):
        for l2 in range(L + 1):
            for l3 in range(2 * L + 1):
                norm = _block(G, l1, l2, l3).norm().item()
                expressible = (l1 + l2 + l3) % 2 == 0 and abs(l1 - l2) <= l3 <= l1 + l2
                if expressible:
                    # Frobenius norm of a normalized 3j tensor is 1
                    c = math.sqrt((2 * l1 + 1) * (2 * l2 + 1) * (2 * l3 + 1) / (4 * math.pi))
                    assert norm == pytest.approx(c * abs(_three_j_000(l1, l2, l3)), abs=1e-12)
                    assert norm > 0
                else:
                    assert norm < 1e-14, (l1, l2, l3)


@pytest.mark.parametrize("path", [(1, 1, 2), (2, 2, 2), (1, 2, 3), (2, 3, 3), (3, 3, 4), (0, 2, 2)])
def test_coefficients_are_cg_times_gaunt_factor(path):
    o3 = pytest.importorskip("e3nn.o3")
    l1, l2, l3 = path
    blk = _block(gaunt_coefficients(l1, l2, l3), l1, l2, l3)
    Q = [e3nn_change_of_basis(l) for l in path]
    in_e3nn = torch.einsum("ijk,ai,bj,ck->abc", blk, *Q)
    w3j = o3.wigner_3j(l1, l2, l3, dtype=F64)
    c = math.sqrt((2 * l1 + 1) * (2 * l2 + 1) * (2 * l3 + 1) / (4 * math.pi))
    c *= _three_j_000(l1, l2, l3)
    sign = torch.sign((in_e3nn * w3j).sum() * c)  # 3j sign conventions differ by path
    torch.testing.assert_close(in_e3nn, sign * c * w3j, rtol=0, atol=1e-13)


@pytest.mark.parametrize("L", [1, 2, 4, 10])
def test_three_implementations_agree_float64(L):
    x1, x2 = _coeffs(5, L, seed=1), _coeffs(5, L, seed=2)
    ref = gaunt_reference(x1, x2, L)
    for name in ("grid", "fourier2d"):
        torch.testing.assert_close(METHODS[name](x1, x2, L), ref, rtol=0, atol=1e-10, msg=name)


@pytest.mark.parametrize("degrees", [(3, 1, 5), (0, 2, 2), (2, 3, 1), (4, 4, 0)])
def test_unequal_degrees_and_broadcasting(degrees):
    l1, l2, lo = degrees
    x1 = _coeffs(4, l1, seed=3)[:, None]  # (4, 1, n1)
    x2 = _coeffs(3, l2, seed=4)  # (3, n2)
    ref = gaunt_reference(x1, x2, lo)
    assert ref.shape == (4, 3, (lo + 1) ** 2)
    for name in ("grid", "fourier2d"):
        torch.testing.assert_close(METHODS[name](x1, x2, lo), ref, rtol=0, atol=1e-12, msg=name)


@pytest.mark.parametrize("method", list(METHODS))
@pytest.mark.parametrize("L", [2, 5, 8])
def test_equivariant_float32_with_parity(method, L):
    x1, x2 = _coeffs(8, L, seed=5, dtype=torch.float32), _coeffs(8, L, seed=6, dtype=torch.float32)
    fn = lambda a, b: METHODS[method](a, b, L)
    # draws alternate proper and improper (det -1) elements: parity (-1)^l is checked too
    err = assert_equivariant(fn, (x1, x2), so3_action(L), so3_action(L), n_draws=4)
    assert err < 1e-5


def test_equivariant_float64():
    L = 4
    x1, x2 = _coeffs(4, L, seed=7), _coeffs(4, L, seed=8)
    assert_equivariant(
        lambda a, b: gaunt_fourier2d(a, b, 2 * L), (x1, x2), so3_action(L), so3_action(2 * L)
    )


@pytest.mark.parametrize("method", list(METHODS))
def test_parity_selection(method):
    L = 4
    deg = torch.cat([torch.full((2 * l + 1,), l) for l in range(L + 1)])
    even, odd = (deg % 2 == 0).to(F64), (deg % 2 == 1).to(F64)
    x = _coeffs(3, L, seed=9)
    f = METHODS[method]
    deg_out = torch.cat([torch.full((2 * l + 1,), l) for l in range(2 * L + 1)])
    for a, b, want_odd in [(even, even, False), (odd, odd, False), (even, odd, True)]:
        y = f(x * a, x.flip(0) * b, 2 * L)
        wrong = (deg_out % 2 == 1) != want_odd
        assert y[:, wrong].abs().max() < 1e-12
        assert y[:, ~wrong].abs().max() > 1e-3


@pytest.mark.parametrize("nu", [1, 2, 3])
def test_self_product_matches_iterated_reference(nu):
    L, lo = 2, 4
    x = _coeffs(3, L, seed=10)
    want = x
    for k in range(1, nu):
        want = gaunt_reference(want, x, k * L + L)
    want = gaunt_reference(want, _one(), lo)
    torch.testing.assert_close(gaunt_power_grid(x, nu, lo), want, rtol=0, atol=1e-12)
    torch.testing.assert_close(gaunt_power_fourier2d(x, nu, lo), want, rtol=0, atol=1e-12)


def _one():
    # the constant function 1 = sqrt(4π) Y_00: projecting by a product with it
    return torch.tensor([math.sqrt(4 * math.pi)], dtype=F64)


def test_gradients_flow_through_all_methods():
    L = 2
    x1, x2 = _coeffs(2, L, seed=11).requires_grad_(), _coeffs(2, L, seed=12).requires_grad_()
    for name, f in METHODS.items():
        assert torch.autograd.gradcheck(lambda a, b, f=f: f(a, b, 3), (x1, x2)), name


def test_error_paths():
    with pytest.raises(ValueError, match=r"\(lmax \+ 1\)\^2"):
        gaunt_grid(torch.zeros(3, 5), torch.zeros(3, 4), 1)
    with pytest.raises(ValueError, match="nu"):
        gaunt_power_grid(torch.zeros(3, 4), 0, 1)
    with pytest.raises(ValueError, match="nu"):
        gaunt_power_fourier2d(torch.zeros(3, 4), 0, 1)


@pytest.mark.gpu
def test_cuda_without_host_syncs():
    if not torch.cuda.is_available():
        pytest.skip("needs CUDA")
    L = 4
    x1, x2 = _coeffs(16, L, seed=13).cuda(), _coeffs(16, L, seed=14).cuda()
    ref = gaunt_reference(x1, x2, L)  # builds and caches the tables
    gaunt_grid(x1, x2, L), gaunt_fourier2d(x1, x2, L)
    torch.cuda.set_sync_debug_mode("error")
    try:
        outs = {name: f(x1, x2, L) for name, f in METHODS.items()}
    finally:
        torch.cuda.set_sync_debug_mode("default")
    for name, y in outs.items():
        assert y.device.type == "cuda"
        torch.testing.assert_close(y, ref, rtol=0, atol=1e-10, msg=name)


# ---------------------------------------------------------------------------- module


def _features(batch, channels, lmax, *, seed, dtype=F64):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(batch, channels, (lmax + 1) ** 2, generator=g, dtype=dtype)


def _randomize(module, seed=0):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=p.dtype))
    return module


@pytest.mark.parametrize("mixing", ["channelwise", "full"])
def test_module_methods_agree(mixing):
    L1, L2, Lo, C = 3, 2, 4, 3
    co = 2 if mixing == "full" else None
    x1, x2 = _features(4, C, L1, seed=1), _features(4, C, L2, seed=2)
    outs = {}
    for method in ("auto", *METHODS):
        tp = GauntTensorProduct(
            L1, L2, Lo, channels=C, channels_out=co, mixing=mixing, method=method, dtype=F64
        )
        outs[method] = _randomize(tp)(x1, x2)
    assert outs["reference"].shape == (4, co or C, (Lo + 1) ** 2)
    for method, y in outs.items():
        torch.testing.assert_close(y, outs["reference"], rtol=0, atol=1e-10, msg=method)


@pytest.mark.parametrize("mixing", ["channelwise", "full"])
def test_module_equivariant_float32(mixing):
    L, C = 4, 3
    tp = _randomize(GauntTensorProduct(L, L, L, channels=C, mixing=mixing))
    x1, x2 = (
        _features(5, C, L, seed=3, dtype=torch.float32),
        _features(5, C, L, seed=4, dtype=torch.float32),
    )
    with torch.no_grad():
        assert_equivariant(tp, (x1, x2), so3_action(L), so3_action(L), n_draws=4)


def test_module_weights_act_per_degree():
    L, C = 2, 2
    tp = GauntTensorProduct(L, L, L, channels=C, dtype=F64)
    x1, x2 = _features(3, C, L, seed=5), _features(3, C, L, seed=6)
    torch.testing.assert_close(tp(x1, x2), gaunt_reference(x1, x2, L))  # weights start at 1
    with torch.no_grad():
        tp.w_out[:, 1] = 0.0
    assert tp(x1, x2)[..., 1:4].abs().max() == 0


@pytest.mark.parametrize("method", list(METHODS))
@pytest.mark.parametrize("mixing", ["channelwise", "full"])
def test_module_gradcheck(method, mixing):
    tp = _randomize(
        GauntTensorProduct(2, 1, 2, channels=2, mixing=mixing, method=method, dtype=F64)
    )
    x1 = _features(1, 2, 2, seed=7).requires_grad_()
    x2 = _features(1, 2, 1, seed=8).requires_grad_()
    params = tuple(tp.parameters())
    names = [n for n, _ in tp.named_parameters()]

    def f(a, b, *ps):
        return torch.func.functional_call(tp, dict(zip(names, ps, strict=True)), (a, b))

    assert torch.autograd.gradcheck(f, (x1, x2, *params))


@pytest.mark.parametrize("nu", [1, 2, 3])
def test_self_product_module_methods_agree_and_are_equivariant(nu):
    L, Lo, C = 2, 3, 2
    x = _features(3, C, L, seed=9)
    outs = {
        m: _randomize(GauntSelfProduct(L, Lo, nu, channels=C, method=m, dtype=F64))(x)
        for m in ("auto", *METHODS)
    }
    for m, y in outs.items():
        torch.testing.assert_close(y, outs["reference"], rtol=0, atol=1e-10, msg=m)
    sp = _randomize(GauntSelfProduct(L, Lo, nu, channels=C, dtype=F64))
    with torch.no_grad():
        assert_equivariant(sp, x, so3_action(L), so3_action(Lo))


def test_self_product_gradcheck():
    sp = _randomize(GauntSelfProduct(2, 2, 2, channels=1, method="fourier2d", dtype=F64))
    x = _features(1, 1, 2, seed=10).requires_grad_()
    assert torch.autograd.gradcheck(sp, (x,))


def test_module_error_paths():
    with pytest.raises(KeyError, match="options"):
        GauntTensorProduct(1, 1, 1, channels=1, method="cg")
    with pytest.raises(KeyError, match="options"):
        GauntTensorProduct(1, 1, 1, channels=1, mixing="pairs")
    with pytest.raises(ValueError, match="channelwise"):
        GauntTensorProduct(1, 1, 1, channels=2, channels_out=3)
    with pytest.raises(ValueError, match="nu"):
        GauntSelfProduct(1, 1, 0, channels=1)
    assert auto_method(6, torch.device("cpu")) in METHODS


@pytest.mark.parametrize("separable", [False, True])
def test_grid_transforms_and_row_blocking_match_reference(monkeypatch, separable):
    """Both grid transforms (dense; separable Legendre × Fourier), on cache-sized CPU row
    blocks (many blocks, a ragged last one), equal the dense reference in value and
    gradient, for real, complex and broadcast inputs."""
    import equivariance.so3._gaunt as gaunt_module

    monkeypatch.setattr(gaunt_module, "GRID_BLOCK_ELEMENTS", 100)
    monkeypatch.setattr(gaunt_module, "_MIN_BLOCK_ROWS", 4)  # a few rows per block
    monkeypatch.setattr(gaunt_module, "SEPARABLE_FROM_DEGREE", 0 if separable else 10**9)
    L = 3
    x1 = torch.randn(7, 5, (L + 1) ** 2, dtype=F64, requires_grad=True)
    x2 = torch.randn(7, 5, (L + 1) ** 2, dtype=F64, requires_grad=True)
    for l1, l2, lo in [(0, 0, 0), (1, 2, 3), (3, 1, 2), (2, 3, 7), (5, 0, 5)]:
        a, b = _coeffs(9, l1, seed=l1), _coeffs(9, l2, seed=10 + l2)
        torch.testing.assert_close(
            gaunt_grid(a, b, lo), gaunt_reference(a, b, lo), rtol=1e-10, atol=1e-12
        )
        za, zb = torch.complex(a, a.flip(0)), torch.complex(b.flip(0), b)
        torch.testing.assert_close(
            gaunt_grid(za, zb, lo), gaunt_reference(za, zb, lo), rtol=1e-10, atol=1e-12
        )
    y, y_ref = gaunt_grid(x1, x2, L), gaunt_reference(x1, x2, L)
    torch.testing.assert_close(y, y_ref, rtol=1e-10, atol=1e-12)
    w = torch.randn_like(y)
    g = torch.autograd.grad((y * w).sum(), (x1, x2))
    g_ref = torch.autograd.grad((y_ref * w).sum(), (x1, x2))
    for a, b in zip(g, g_ref, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
    p = gaunt_power_grid(x1, 3, L)
    torch.testing.assert_close(
        p, gaunt_reference(gaunt_reference(x1, x1, 2 * L), x1, L), rtol=1e-10, atol=1e-12
    )
    torch.testing.assert_close(  # broadcasting
        gaunt_grid(x1[:1], x2, L), gaunt_reference(x1[:1], x2, L), rtol=1e-10, atol=1e-12
    )

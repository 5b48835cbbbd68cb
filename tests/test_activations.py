"""Holomorphic activations ρ and their closed-form derivatives ρ' (docs/design.md §2).

References are independent of the code under test: complex-step and central
finite differences, autograd on real inputs, and the formulas written out.
"""

from __future__ import annotations

import pytest
import torch
from torch.testing import assert_close

from neurosim.substrate import (
    ACTIVATIONS,
    AbstractActivation,
    DSiLU,
    ShiftedSigmoid,
    Sigmoid,
    Tanh,
    get_activation,
)

NAMES = sorted(ACTIVATIONS)
F64 = torch.float64
C128 = torch.complex128


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _real_points(seed: int = 0, n: int = 257) -> torch.Tensor:
    g = _gen(seed)
    return torch.cat(
        [torch.linspace(-6.0, 6.0, n, dtype=F64), 8 * torch.rand(64, dtype=F64, generator=g) - 4]
    )


def _complex_points(seed: int = 1, n: int = 200) -> torch.Tensor:
    # |Im z| <= 0.5 keeps clear of every pole: sigmoid (Im z = ±π), tanh (±π/2),
    # shifted sigmoid (Im z = ±π/4 ≈ 0.785).
    g = _gen(seed)
    re = 6 * torch.rand(n, dtype=F64, generator=g) - 3
    im = torch.rand(n, dtype=F64, generator=g) - 0.5
    return torch.complex(re, im)


def test_registry_holds_the_four_design_activations():
    assert {"sigmoid", "tanh", "shifted_sigmoid", "dsilu"} <= set(ACTIVATIONS)
    assert ACTIVATIONS["sigmoid"] is Sigmoid
    assert ACTIVATIONS["tanh"] is Tanh
    assert ACTIVATIONS["shifted_sigmoid"] is ShiftedSigmoid
    assert ACTIVATIONS["dsilu"] is DSiLU
    for name, cls in ACTIVATIONS.items():
        assert cls.name == name


@pytest.mark.parametrize("name", NAMES)
def test_get_activation_resolves_names_and_passes_instances(name):
    act = get_activation(name)
    assert isinstance(act, ACTIVATIONS[name])
    assert get_activation(act) is act


def test_get_activation_unknown_name_lists_allowed():
    with pytest.raises(KeyError) as info:
        get_activation("relu_but_not_really")
    msg = str(info.value)
    assert "relu_but_not_really" in msg
    for name in ACTIVATIONS:
        assert name in msg


# -- values against explicit formulas --------------------------------------------------


def _reference(name: str, z: torch.Tensor) -> torch.Tensor:
    """ρ written out from docs/design.md / the literature, in terms of exp only."""
    if name == "sigmoid":
        return 1 / (1 + torch.exp(-z))
    if name == "tanh":
        return (torch.exp(z) - torch.exp(-z)) / (torch.exp(z) + torch.exp(-z))
    if name == "shifted_sigmoid":
        return 1 / (1 + torch.exp(-4 * z + 2))
    if name == "dsilu":
        # d/dz [z σ(z)] = σ(z) + z σ(z)(1 − σ(z))
        sig = 1 / (1 + torch.exp(-z))
        return sig + z * sig * (1 - sig)
    pytest.skip(f"no written-out reference for activation {name!r}")


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("kind", ["real", "complex"])
def test_value_matches_written_out_formula(name, kind):
    z = _real_points() if kind == "real" else _complex_points()
    assert_close(get_activation(name)(z), _reference(name, z), rtol=1e-13, atol=1e-15)


def test_shifted_sigmoid_is_literally_laborieux_zenke():
    z = torch.cat([_real_points(), torch.tensor([0.0, 0.5, -1.0, 2.0], dtype=F64)])
    rho = ShiftedSigmoid()
    assert_close(rho(z), 1 / (1 + torch.exp(-4 * z + 2)), rtol=1e-15, atol=1e-16)
    # slope 1 at z = 1/2, value 1/2 there
    half = torch.tensor([0.5], dtype=F64)
    assert_close(rho(half), torch.tensor([0.5], dtype=F64), rtol=0, atol=1e-16)
    assert_close(rho.derivative(half), torch.tensor([1.0], dtype=F64), rtol=0, atol=1e-15)


def test_dsilu_is_the_derivative_of_silu_by_autograd():
    x = _real_points().requires_grad_(True)
    (g,) = torch.autograd.grad((x * torch.sigmoid(x)).sum(), x)
    assert_close(DSiLU()(x.detach()), g, rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize("name", NAMES)
def test_complex_input_with_zero_imaginary_part_matches_real(name):
    act = get_activation(name)
    x = _real_points()
    zc = act(x.to(C128))
    assert_close(zc.real, act(x), rtol=1e-14, atol=1e-15)
    assert_close(zc.imag, torch.zeros_like(x), rtol=0, atol=1e-15)
    dc = act.derivative(x.to(C128))
    # 1 − ρ² style formulas cancel where ρ saturates: 1-ulp differences between the
    # real and complex kernels of ρ show up as ~1e-15 absolute there
    assert_close(dc.real, act.derivative(x), rtol=1e-13, atol=1e-14)
    assert_close(dc.imag, torch.zeros_like(x), rtol=0, atol=1e-15)


# -- derivatives ------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_derivative_matches_complex_step_at_real_points(name):
    act = get_activation(name)
    x = _real_points()
    h = 1e-20
    cs = act(torch.complex(x, torch.full_like(x, h))).imag / h
    assert_close(act.derivative(x), cs, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("name", NAMES)
def test_derivative_matches_central_difference_at_real_points(name):
    act = get_activation(name)
    x = _real_points()
    h = 1e-5
    fd = (act(x + h) - act(x - h)) / (2 * h)
    assert_close(act.derivative(x), fd, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("name", NAMES)
def test_derivative_matches_autograd_at_real_points(name):
    act = get_activation(name)
    x = _real_points().requires_grad_(True)
    (g,) = torch.autograd.grad(act(x).sum(), x)
    assert_close(act.derivative(x.detach()), g, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("name", NAMES)
def test_derivative_is_holomorphic_cauchy_riemann(name):
    """(ρ(z+h) − ρ(z−h))/2h ≈ (ρ(z+ih) − ρ(z−ih))/2ih ≈ ρ'(z) at complex z."""
    act = get_activation(name)
    z = _complex_points()
    h = 1e-5
    d_re = (act(z + h) - act(z - h)) / (2 * h)
    d_im = (act(z + 1j * h) - act(z - 1j * h)) / (2j * h)
    d = act.derivative(z)
    assert d.dtype == C128
    assert_close(d_re, d_im, rtol=1e-8, atol=1e-10)
    assert_close(d, d_re, rtol=1e-8, atol=1e-10)
    assert_close(d, d_im, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("name", NAMES)
def test_derivative_is_not_conjugated(name):
    """At points with Im z ≠ 0, ρ'(z) and conj ρ'(z) differ: the code returns the former."""
    act = get_activation(name)
    z = _complex_points()
    h = 1e-6
    fd = (act(z + h) - act(z - h)) / (2 * h)
    d = act.derivative(z)
    assert float((d - fd).abs().max()) < 1e-7
    assert float((d.conj() - fd).abs().max()) > 1e-3


@pytest.mark.parametrize("name", NAMES)
def test_derivative_accepts_float32(name):
    act = get_activation(name)
    x = _real_points().to(torch.float32)
    d = act.derivative(x)
    assert d.dtype == torch.float32
    assert_close(d, act.derivative(x.double()).float(), rtol=1e-5, atol=1e-6)


# -- torch's complex-autograd convention (why the derivative is written out) ----------------


@pytest.mark.parametrize("name", NAMES)
def test_torch_complex_autograd_returns_conjugate_derivative(name):
    """For holomorphic f and a complex leaf z, grad(f(z), z, ones) == conj(f'(z)).

    This pins the convention the substrate relies on (activations.py docstring;
    connections.AbstractConnection.adjoint conjugates around torch.func.vjp).
    """
    act = get_activation(name)
    z = _complex_points().requires_grad_(True)
    (g,) = torch.autograd.grad(act(z), z, grad_outputs=torch.ones_like(z))
    fd = (act(z.detach() + 1e-5) - act(z.detach() - 1e-5)) / 2e-5
    assert_close(g, torch.conj(fd), rtol=1e-7, atol=1e-8)
    assert_close(g, torch.conj(act.derivative(z.detach())), rtol=1e-13, atol=1e-15)


def test_abstract_activation_cannot_be_instantiated():
    with pytest.raises(TypeError):
        AbstractActivation()  # type: ignore[abstract]

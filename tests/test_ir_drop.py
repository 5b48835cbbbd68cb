"""IR drop in a crossbar: the sparse nodal solve against a hand-built Kirchhoff system,
the first-order model against the exact solve (O(r²) error, derived bound), zero
resistance as the ideal read bit for bit, gradients, and the config schema."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from pydantic import ValidationError

from neurosim.substrate.ir_drop import (
    IRDropModel,
    first_order,
    ir_drop_scale,
    nodal_solve,
    node_voltages,
)

US = 1e-6  # one microsiemens


def _array(shape, seed, lo=1 * US, hi=25 * US, batch=3, v_lo=0.0, v_hi=0.2):
    rng = np.random.default_rng(seed)
    G = rng.uniform(lo, hi, size=shape)
    v = rng.uniform(v_lo, v_hi, size=(batch, shape[1]))
    return G, v


def _hand_reference(G, v, r_row, r_col):
    """Kirchhoff by hand: a netlist of resistors, stamped one by one, solved densely.

    A zero-resistance segment is a short: its two ends get the same node label (a row
    node becomes its driver, a column node the ground), and nothing is stamped for it.
    """
    n_out, n_in = G.shape
    currents = np.zeros((v.shape[0], n_out))
    for s in range(v.shape[0]):

        def row(o, j):
            return ("drv", j) if r_row == 0 else ("R", o, j)

        def col(o, j):
            return "gnd" if r_col == 0 else ("C", o, j)

        resistors = []  # (node, node, conductance)
        for j in range(n_in):
            if r_row > 0:
                resistors.append((("drv", j), row(0, j), 1 / r_row))
                for o in range(n_out - 1):
                    resistors.append((row(o, j), row(o + 1, j), 1 / r_row))
        for o in range(n_out):
            if r_col > 0:
                for j in range(n_in - 1):
                    resistors.append((col(o, j), col(o, j + 1), 1 / r_col))
                resistors.append((col(o, n_in - 1), "gnd", 1 / r_col))
            for j in range(n_in):
                resistors.append((row(o, j), col(o, j), G[o, j]))
        fixed = {"gnd": 0.0, **{("drv", j): v[s, j] for j in range(n_in)}}
        names = sorted({n for a, b, _ in resistors for n in (a, b) if n not in fixed}, key=str)
        index = {name: k for k, name in enumerate(names)}
        A = np.zeros((len(names), len(names)))
        b = np.zeros(len(names))
        for p, q, g in resistors:
            for here, there in ((p, q), (q, p)):
                if here in fixed:
                    continue
                A[index[here], index[here]] += g
                if there in fixed:
                    b[index[here]] += g * fixed[there]
                else:
                    A[index[here], index[there]] -= g
        x = np.linalg.solve(A, b) if names else np.zeros(0)
        volt = {**fixed, **{name: x[k] for name, k in index.items()}}
        for o in range(n_out):
            if r_col > 0:  # the current in the last segment, into the virtual ground
                currents[s, o] = volt[col(o, n_in - 1)] / r_col
            else:  # the column is the ground: the sum of its cell currents
                currents[s, o] = sum(G[o, j] * volt[row(o, j)] for j in range(n_in))
    return currents


def _tau(G, r_row, r_col):
    """The bound τ ≥ ‖T‖_∞ of the module docstring, from ε = ir_drop_scale(n, r, g_max)."""
    n_out, n_in = G.shape
    g_max = float(np.max(G))
    return ir_drop_scale(n_out, r_row, g_max) * (1 + 1 / n_out) + ir_drop_scale(
        n_in, r_col, g_max
    ) * (1 + 1 / n_in)


def _full_scale(G, v):
    """I^fs_o = ‖v‖_∞ Σ_j G_oj per sample: (batch, n_out)."""
    return np.abs(v).max(-1, keepdims=True) * G.sum(1)[None, :]


def _first(G, v, r_row, r_col):
    return first_order(torch.from_numpy(G), torch.from_numpy(v), r_row, r_col).numpy()


def _first_green(G, v, r_row, r_col, extra=1):
    """The first-order currents from the ladders' Green's functions, densely (no cumsum).

    ``extra = 1`` is the geometry (the driver segment counts); 0 is a deliberately
    wrong model that forgets the driver-to-first-crossing segment.
    """
    n_out, n_in = G.shape
    o = np.arange(n_out)
    j = np.arange(n_in)
    a_row = np.minimum(o[:, None], o[None, :]) + extra  # shared row segments of o and o'
    a_col = n_in - np.maximum(j[:, None], j[None, :])  # shared column segments of j and j'
    cells = G[None] * v[:, None, :]  # (batch, n_out, n_in)
    d_row = r_row * np.einsum("pq,bqj->bpj", a_row, cells)
    d_col = r_col * np.einsum("jk,bok->boj", a_col, cells)
    return v @ G.T - np.einsum("oj,boj->bo", G, d_row + d_col)


# -- the exact solve -----------------------------------------------------------------


@pytest.mark.parametrize("shape", [(2, 3), (1, 1), (3, 2)])
@pytest.mark.parametrize(("r_row", "r_col"), [(30.0, 70.0), (50.0, 0.0), (0.0, 40.0)])
def test_nodal_solve_matches_hand_built_kirchhoff(shape, r_row, r_col):
    # mS devices and tens of ohms: a 2-40 % loss, so the drop itself is compared
    G, v = _array(shape, seed=1, lo=1e-3, hi=5e-3, v_lo=-0.3, v_hi=0.5)
    expected = _hand_reference(G, v, r_row, r_col)
    got = nodal_solve(G, v, r_row, r_col)
    assert got.shape == expected.shape and got.dtype == np.float64
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=0)
    loss = np.abs(expected - v @ G.T) / np.abs(v @ G.T)
    assert loss.max() > 0.01  # a non-trivial comparison


def test_nodal_solve_single_sample_and_torch():
    G, v = _array((3, 4), seed=2)
    batched = nodal_solve(G, v, 2.0, 3.0)
    one = nodal_solve(G, v[1], 2.0, 3.0)
    assert one.shape == (3,)
    np.testing.assert_allclose(one, batched[1], rtol=1e-14)
    t = nodal_solve(torch.from_numpy(G), torch.from_numpy(v), 2.0, 3.0)
    assert isinstance(t, torch.Tensor) and t.dtype == torch.float64
    np.testing.assert_allclose(t.numpy(), batched, rtol=1e-14)


@pytest.mark.parametrize(("r_row", "r_col"), [(2.0, 3.0), (4.0, 0.5)])
def test_exact_solve_conserves_current(r_row, r_col):
    G, v = _array((8, 6), seed=3, lo=10 * US, hi=500 * US)
    v_row, v_col = node_voltages(G, v, r_row, r_col)
    assert v_row.shape == v_col.shape == (3, 8, 6)
    from_drivers = ((v - v_row[:, 0, :]) / r_row).sum(-1)
    into_sinks = (v_col[:, :, -1] / r_col).sum(-1)
    np.testing.assert_allclose(from_drivers, into_sinks, rtol=1e-12, atol=0)
    # the reported currents are the currents into the sinks
    np.testing.assert_allclose(nodal_solve(G, v, r_row, r_col), v_col[:, :, -1] / r_col, rtol=1e-12)
    # and every node obeys Kirchhoff's law: row node (o, j) passes its cell current on
    cell = G * (v_row - v_col)
    seg = np.concatenate([v[:, None, :] - v_row[:, :1], v_row[:, :-1] - v_row[:, 1:]], 1) / r_row
    beyond = np.flip(np.cumsum(np.flip(cell, 1), 1), 1)  # Σ_{o' ≥ o} cell currents
    np.testing.assert_allclose(seg, beyond, rtol=1e-10, atol=1e-12 * np.abs(cell).max())


# -- zero resistance is the ideal read -----------------------------------------------


def test_zero_resistance_is_the_ideal_read_bit_for_bit():
    G, v = _array((5, 7), seed=4, v_lo=-0.2)
    np.testing.assert_array_equal(nodal_solve(G, v, 0.0, 0.0), v @ G.T)
    np.testing.assert_array_equal(nodal_solve(G, v[0], 0, 0), v[0] @ G.T)
    np.testing.assert_array_equal(first_order(G, v, 0.0, 0.0), v @ G.T)
    for dtype in (torch.float64, torch.float32):
        Gt, vt = torch.from_numpy(G).to(dtype), torch.from_numpy(v).to(dtype)
        assert torch.equal(first_order(Gt, vt, 0.0, 0.0), vt @ Gt.T)
        assert torch.equal(first_order(Gt, vt[2], 0, 0), vt[2] @ Gt.T)
    Gt, vt = torch.from_numpy(G), torch.from_numpy(v)
    assert torch.equal(nodal_solve(Gt, vt, 0.0, 0.0), vt @ Gt.T)
    assert torch.equal(IRDropModel(method="exact").currents(Gt, vt), vt @ Gt.T)
    assert torch.equal(IRDropModel().currents(Gt, vt), vt @ Gt.T)


# -- limits --------------------------------------------------------------------------


@pytest.mark.parametrize(("kr", "kc"), [(1.0, 1.0), (1.0, 0.0), (0.0, 1.0)])
def test_exact_currents_converge_to_ideal_and_fall_with_resistance(kr, kc):
    G, v = _array((6, 9), seed=5, lo=100 * US, hi=1000 * US, v_lo=0.05)
    ideal = v @ G.T
    fs = _full_scale(G, v)
    previous = ideal
    for r in (1e-8, 1e-6, 1e-4, 1e-2, 1.0, 10.0, 100.0):
        got = nodal_solve(G, v, kr * r, kc * r)
        tau = _tau(G, kr * r, kc * r)
        assert np.all(np.abs(got) < np.abs(previous))  # strictly less current
        if tau < 0.5:  # the loss is at most τ/(1 − τ) of full scale, and it is a loss
            assert np.all(ideal - got <= tau / (1 - tau) * fs)
        previous = got
    tiny = nodal_solve(G, v, kr * 1e-9, kc * 1e-9)
    np.testing.assert_allclose(tiny, ideal, rtol=1e-10)
    assert np.all(tiny < ideal)


# -- first order vs exact --------------------------------------------------------------

SHAPES = [(8, 8), (16, 16), (6, 11)]
RATIOS = [(1.0, 1.0), (1.0, 0.0), (0.0, 1.0), (0.3, 1.7)]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize(("kr", "kc"), RATIOS)
def test_first_order_error_is_second_order(shape, kr, kc):
    G, v = _array(shape, seed=6 + shape[1])
    ideal = v @ G.T
    rs = 5.0 * 0.5 ** np.arange(6)  # 5 Ω … 0.156 Ω, halving
    errors, ratios = [], []
    for r in rs:
        exact = nodal_solve(G, v, kr * r, kc * r)
        first = _first(G, v, kr * r, kc * r)
        errors.append(np.abs(first - exact).max())
        ratios.append(np.abs((first - ideal) / (exact - ideal) - 1).max())
    slope = np.polyfit(np.log(rs), np.log(errors), 1)[0]
    assert abs(slope - 2) < 0.1, slope
    steps = np.array(errors[:-1]) / np.array(errors[1:])
    assert np.all((steps > 3.6) & (steps < 4.4)), steps
    # the first-order term is the first term: the ratio of the corrections → 1 as O(r)
    ratio_slope = np.polyfit(np.log(rs), np.log(ratios), 1)[0]
    assert abs(ratio_slope - 1) < 0.1, ratio_slope
    assert ratios[-1] < 2 * _tau(G, kr * rs[-1], kc * rs[-1])


@pytest.mark.parametrize("shape", SHAPES)
def test_first_order_is_the_green_function_formula(shape):
    G, v = _array(shape, seed=7, v_lo=-0.2)
    np.testing.assert_allclose(
        _first(G, v, 1.3, 2.1), _first_green(G, v, 1.3, 2.1), rtol=1e-14, atol=0
    )


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("shape", [*SHAPES, (32, 24)])
def test_first_order_error_bound(shape, seed):
    """|I¹ − I| ≤ τ²/(1 − τ)·I^fs (derived in the module docstring), at τ ≈ 0.002–0.08."""
    rng = np.random.default_rng(seed)
    G, v = _array(shape, seed=100 + seed, v_lo=-0.2)
    r_row, r_col = rng.uniform(0.1, 5.0, size=2)
    for scale in (1.0, 1e-3 / _tau(G, r_row, r_col)):  # as drawn; scaled to τ = 0.001
        r, c = scale * r_row, scale * r_col
        tau = _tau(G, r, c)
        bound = tau**2 / (1 - tau) * _full_scale(G, v)
        exact = nodal_solve(G, v, r, c)
        assert np.all(np.abs(_first(G, v, r, c) - exact) <= bound)
    # at τ = 0.001 models with the drivers or the sinks on the other side, or without
    # the driver segment, are O(τ) wrong, not O(τ²), and break the bound
    Gt, vt = torch.from_numpy(G), torch.from_numpy(v)
    drivers_flipped = first_order(Gt.flip(0), vt, r, c).flip(-1).numpy()
    sinks_flipped = first_order(Gt.flip(1), vt.flip(-1), r, c).numpy()
    no_driver_segment = _first_green(G, v, r, c, extra=0)
    for wrong in (drivers_flipped, sinks_flipped, no_driver_segment):
        assert np.any(np.abs(wrong - exact) > bound)


@pytest.mark.parametrize("n", [8, 16, 32])
def test_first_order_bound_is_tight_on_a_uniform_array(n):
    """The worst case: uniform G = g_max and v; the error is 0.6-0.8 of the bound."""
    g = 25 * US
    G, v = np.full((n, n), g), np.full((1, n), 0.2)
    eps = 0.01
    r = 2 * eps / (n * n * g)
    assert ir_drop_scale(n, r, g) == pytest.approx(eps, rel=1e-15)
    tau = _tau(G, r, r)
    bound = tau**2 / (1 - tau) * _full_scale(G, v)
    err = np.abs(_first(G, v, r, r) - nodal_solve(G, v, r, r))
    assert 0.6 < (err / bound).max() < 0.8
    # measured constant c of err ≤ c·ε²·I^fs: 3.5 (n = 8) … 2.9 (n = 32)
    assert 2.5 < (err / _full_scale(G, v)).max() / eps**2 < 4.0


def test_first_order_float32_and_batch_shapes():
    G, v = _array((6, 5), seed=8)
    ref = _first(G, v, 1.0, 2.0)
    g32, v32 = torch.from_numpy(G).float(), torch.from_numpy(v).float()
    out = first_order(g32, v32, 1.0, 2.0)
    assert out.dtype == torch.float32 and out.shape == (3, 6)
    np.testing.assert_allclose(out.double().numpy(), ref, rtol=1e-5)
    single = first_order(torch.from_numpy(G), torch.from_numpy(v[0]), 1.0, 2.0)
    np.testing.assert_allclose(single.numpy(), ref[0], rtol=1e-14)
    stacked = torch.from_numpy(np.stack([v, v[::-1]]))
    out = first_order(torch.from_numpy(G), stacked, 1.0, 2.0)
    assert out.shape == (2, 3, 6)
    np.testing.assert_allclose(out[1].numpy(), ref[::-1], rtol=1e-14)


def test_first_order_gradcheck():
    # normalized units (G ~ 1, r ~ 0.05): the O(r) term is a sizeable part of the gradient
    gen = torch.Generator().manual_seed(9)
    G = (0.5 + torch.rand(3, 4, generator=gen, dtype=torch.float64)).requires_grad_()
    v = (torch.rand(2, 4, generator=gen, dtype=torch.float64) * 2 - 1).requires_grad_()
    assert torch.autograd.gradcheck(lambda G, v: first_order(G, v, 0.05, 0.08), (G, v))
    assert torch.autograd.gradcheck(lambda G, v: first_order(G, v, 0.0, 0.08), (G, v))


# -- scale and schema -------------------------------------------------------------------


def test_ir_drop_scale_matches_the_sources():
    # docs/hardware_sources.md §C2: n = 256, r = 1 Ω, G = 25 µS gives ≈ 0.8;
    # aihwkit's r·g_max = 1/5.7e5 gives 0.057 at n = 256
    assert ir_drop_scale(256, 1.0, 25 * US) == pytest.approx(0.8192, rel=1e-12)
    assert ir_drop_scale(256, 1 / 5.7e5, 1.0) == pytest.approx(0.0575, abs=5e-4)
    with pytest.raises(ValueError):
        ir_drop_scale(8, -1.0, 1e-6)


def test_schema():
    model = IRDropModel()
    assert model.is_ideal and model.method == "first_order"
    assert repr(model) == "IRDropModel()"
    assert not IRDropModel(r_col=0.5).is_ideal
    for bad in ({"r_row": -1.0}, {"r_col": -1e-3}, {"method": "spice"}, {"r_row": "1"}):
        with pytest.raises(ValidationError):
            IRDropModel(**bad)
    G, v = _array((4, 5), seed=10)
    exact = IRDropModel(r_row=1.0, r_col=2.0, method="exact")
    np.testing.assert_array_equal(exact.currents(G, v), nodal_solve(G, v, 1.0, 2.0))
    first = IRDropModel(r_row=1.0, r_col=2.0)
    Gt, vt = torch.from_numpy(G), torch.from_numpy(v)
    assert torch.equal(first.currents(Gt, vt), first_order(Gt, vt, 1.0, 2.0))
    for name in ("r_row", "r_col", "method"):
        assert IRDropModel.model_fields[name].description

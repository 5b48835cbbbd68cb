"""Charged n-body simulator: conservation laws, symmetries, convergence to an ODE reference."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.integrate import solve_ivp

from equivariance.testing import random_euclidean
from neurosim.workloads.nbody import charged_energy, nbody, simulate_charged


def _initial(n_sims=20, seed=0, n_particles=5):
    s = simulate_charged(n_sims, n_particles=n_particles, n_steps=0, sample_every=1, seed=seed)
    return {"loc": s["loc"][:, 0], "vel": s["vel"][:, 0], "charges": s["charges"]}


def _euclid(seed, inversion):
    Q, t = random_euclidean(3, torch.Generator().manual_seed(seed), inversion=inversion)
    return Q.numpy(), t.numpy()


def test_shapes_seeding_and_initial_state():
    s = simulate_charged(4, n_steps=200, sample_every=50, seed=1)
    assert s["loc"].shape == s["vel"].shape == (4, 5, 5, 3)
    assert s["charges"].shape == (4, 5) and set(np.unique(s["charges"])) <= {-1.0, 1.0}
    np.testing.assert_allclose(np.linalg.norm(s["vel"][:, 0], axis=-1), 0.5)
    np.testing.assert_allclose(s["time"], [0, 0.05, 0.1, 0.15, 0.2])
    again = simulate_charged(4, n_steps=200, sample_every=50, seed=1)
    assert all(np.array_equal(s[k], again[k]) for k in ("loc", "vel", "charges"))
    other = simulate_charged(4, n_steps=200, sample_every=50, seed=2)
    assert not np.array_equal(s["loc"], other["loc"])
    # frames are the states of a finer run (the stride only subsamples)
    fine = simulate_charged(4, n_steps=200, sample_every=10, seed=1)
    np.testing.assert_array_equal(fine["loc"][:, ::5], s["loc"])
    with pytest.raises(ValueError, match="multiple"):
        simulate_charged(1, n_steps=10, sample_every=3, seed=0)


def test_total_momentum_is_conserved_without_walls_or_field():
    s = simulate_charged(50, n_steps=2000, sample_every=100, seed=2)
    P = s["vel"].sum(-2)  # unit masses
    assert np.abs(P - P[:, :1]).max() < 1e-11


def test_field_changes_momentum_at_the_rate_of_the_total_charge():
    E = np.array([0.3, -0.2, 0.5])
    s = simulate_charged(20, n_steps=1000, sample_every=100, seed=3, field=E)
    P = s["vel"].sum(-2)
    expected = P[:, :1] + s["time"][None, :, None] * s["charges"].sum(-1)[:, None, None] * E
    assert np.abs(P - expected).max() < 1e-10


def test_energy_error_is_first_order_in_dt():
    """Symplectic Euler: the energy error over a fixed time halves with dt (order 1)."""
    init = _initial(40, seed=4)
    errs = []
    for dt in (2e-3, 1e-3):
        n = round(0.5 / dt)
        s = simulate_charged(40, n_steps=n, sample_every=n, dt=dt, seed=0, initial=init)
        E = charged_energy(s["loc"], s["vel"], s["charges"])
        errs.append(np.median(np.abs(E[:, -1] - E[:, 0])))
    assert 1.6 < errs[0] / errs[1] < 2.6
    assert errs[1] < 1e-2


def _reference_rhs(q, strength=1.0, max_force=100.0, field=None):
    """Independent, loop-based right-hand side of the capped Coulomb ODE (one system)."""
    n = len(q)

    def rhs(_, y):
        x, v = y[: 3 * n].reshape(n, 3), y[3 * n :].reshape(n, 3)
        F = np.zeros((n, 3))
        for a in range(n):
            for b in range(n):
                if a != b:
                    r = x[a] - x[b]
                    d = np.linalg.norm(r)
                    f = min(strength * abs(q[a] * q[b]) / d**2, max_force)
                    F[a] += np.sign(q[a] * q[b]) * f * r / d
            if field is not None:
                F[a] += q[a] * np.asarray(field)
        return np.concatenate([v.ravel(), F.ravel()])

    return rhs


@pytest.mark.parametrize("field", [None, (0.5, 0.0, -1.0)])
def test_converges_at_first_order_to_a_dop853_reference(field):
    init = _initial(4, seed=5)
    T = 0.2
    ref = []
    for b in range(4):
        y0 = np.concatenate([init["loc"][b].ravel(), init["vel"][b].ravel()])
        sol = solve_ivp(
            _reference_rhs(init["charges"][b], field=field), (0, T), y0, method="DOP853",
            rtol=1e-12, atol=1e-12,
        )  # fmt: skip
        ref.append(sol.y[:15, -1].reshape(5, 3))
    ref = np.stack(ref)
    errs = []
    for dt in (1e-3, 5e-4):
        n = round(T / dt)
        s = simulate_charged(4, n_steps=n, sample_every=n, dt=dt, seed=0, initial=init, field=field)
        errs.append(np.abs(s["loc"][:, -1] - ref).max())
    assert 1.7 < errs[0] / errs[1] < 2.4
    assert errs[0] < 1e-2


@pytest.mark.parametrize("inversion", [False, True])
def test_simulator_is_e3_equivariant(inversion):
    init = _initial(20, seed=6)
    Q, t = _euclid(7, inversion)
    a = simulate_charged(20, n_steps=1000, sample_every=100, seed=0, initial=init)
    moved = {"loc": init["loc"] @ Q.T + t, "vel": init["vel"] @ Q.T, "charges": init["charges"]}
    b = simulate_charged(20, n_steps=1000, sample_every=100, seed=0, initial=moved)
    scale = np.abs(a["loc"]).max()
    assert np.abs(b["loc"] - (a["loc"] @ Q.T + t)).max() < 1e-10 * scale
    assert np.abs(b["vel"] - a["vel"] @ Q.T).max() < 1e-10 * np.abs(a["vel"]).max()


def test_simulator_is_permutation_equivariant():
    init = _initial(10, seed=8)
    perm = np.random.default_rng(0).permutation(5)
    a = simulate_charged(10, n_steps=1000, sample_every=500, seed=0, initial=init)
    pinit = {"loc": init["loc"][:, perm], "vel": init["vel"][:, perm]}
    pinit["charges"] = init["charges"][:, perm]
    b = simulate_charged(10, n_steps=1000, sample_every=500, seed=0, initial=pinit)
    assert np.abs(b["loc"] - a["loc"][:, :, perm]).max() < 1e-10 * np.abs(a["loc"]).max()


def test_field_leaves_only_the_symmetries_that_fix_it():
    E = np.array([0.0, 0.6, 0.8])
    init = _initial(10, seed=9)

    def run(Q, t, field):
        moved = {"loc": init["loc"] @ Q.T + t, "vel": init["vel"] @ Q.T}
        moved["charges"] = init["charges"]
        return simulate_charged(10, n_steps=1000, sample_every=1000, seed=0, initial=moved,
                                field=field)["loc"]  # fmt: skip

    I, zero = np.eye(3), np.zeros(3)
    base = run(I, zero, E)
    scale = np.abs(base).max()
    # a rotation about E (Rodrigues), plus a translation: still a symmetry
    e = E / np.linalg.norm(E)
    K = np.array([[0, -e[2], e[1]], [e[2], 0, -e[0]], [-e[1], e[0], 0]])
    R = I + np.sin(1.1) * K + (1 - np.cos(1.1)) * K @ K
    t = np.array([1.0, -2.0, 0.5])
    assert np.abs(run(R, t, E) - (base @ R.T + t)).max() < 1e-10 * scale
    # a generic rotation is not, unless the field is rotated with the system
    Q, _ = _euclid(10, False)
    assert np.abs(run(Q, zero, E) - base @ Q.T).max() > 1e-3 * scale
    assert np.abs(run(Q, zero, Q @ E) - base @ Q.T).max() < 1e-10 * scale


def test_walls_keep_particles_in_the_box():
    s = simulate_charged(30, n_steps=3000, sample_every=10, seed=11, box=1.5)
    assert np.abs(s["loc"]).max() <= 1.5
    free = simulate_charged(30, n_steps=3000, sample_every=10, seed=11)
    assert np.abs(free["loc"]).max() > 1.5  # the walls were hit


def test_dataset_splits_and_target():
    ds = nbody(seed=3, n_train=6, n_valid=4, n_test=5, dtype=torch.float64)
    for name, size in (("train", 6), ("valid", 4), ("test", 5)):
        sp = ds.split(name)
        assert sp.loc.shape == sp.vel.shape == sp.target.shape == (size, 5, 3)
        assert sp.charges.shape == (size, 5, 1) and sp.loc.dtype == torch.float64
    # the target is 1000 steps of the simulator from the input state
    init = {"loc": ds.test.loc.numpy(), "vel": ds.test.vel.numpy()}
    init["charges"] = ds.test.charges[..., 0].numpy()
    ahead = simulate_charged(5, n_steps=1000, sample_every=1000, seed=0, initial=init)
    np.testing.assert_allclose(ahead["loc"][:, -1], ds.test.target.numpy(), rtol=0, atol=1e-9)
    # splits use independent streams: the test set does not depend on the train size
    other = nbody(seed=3, n_train=2, n_valid=1, n_test=5, dtype=torch.float64)
    assert torch.equal(other.test.target, ds.test.target)
    assert not torch.equal(nbody(seed=4, n_train=1, n_valid=1, n_test=5).test.loc,
                           ds.test.loc.float())  # fmt: skip
    assert ds.metadata()["nbody_target_step"] - ds.metadata()["nbody_input_step"] == 1000
    with pytest.raises(KeyError, match="options"):
        ds.split("validation")
    batches = list(ds.train.batches(4, torch.Generator().manual_seed(0)))
    assert len(batches) == 1 and batches[0][0].shape == (4, 5, 3)


@pytest.mark.slow
def test_full_dataset_generates_in_well_under_a_minute():
    ds = nbody()
    assert (len(ds.train), len(ds.valid), len(ds.test)) == (3000, 2000, 2000)
    assert ds.generation_seconds < 30

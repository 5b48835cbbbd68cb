"""Equivariant substrates (issue 9): equivariant fixed points, hEP = exact du/dβ, BP references.

Three substrates: the Gaunt relaxation network on irreps states, the frame-averaged dense
network on the n-body task, and the dense network on frozen affine lifting features.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from test_estimators import _estimate, _rel_err

from equivariance.testing import random_euclidean, random_rotation, so3_action
from neurosim.learning import (
    BPTT,
    Exact,
    FreePhase,
    GeneralizedEP,
    Holomorphic,
    ImplicitBP,
    MSELoss,
    NudgedPhase,
    RecurrentAdjoint,
    RecurrentBP,
    delta_alignment,
    jacobian_symmetry,
    state_jacobian,
)
from neurosim.substrate import FixedPoint, LayeredNetwork, relax
from neurosim.substrate.equivariant import GauntInteraction, IrrepsActivation, gaunt_network
from neurosim.workloads.equivariant import (
    AffineLiftingEncoder,
    frame_average,
    frame_rows,
    spherical_embedding,
)

TIGHT = 1e-14
LMAX = 2


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def _relax(net, x):
    r = relax(net, x, steps=5000, tol=TIGHT)
    assert r.all_converged, float(r.residual.max())
    return r


def _act(R, u):
    """Wigner-D on irreps layers, identity on invariant ``(n, 1)`` layers."""
    return u if u.shape[-1] == 1 else so3_action(LMAX)(R, u)


def _gaunt(alpha=0.0, channels=(3, 4, 4, 2), seed=0):
    net = gaunt_network(list(channels), LMAX, alpha=alpha, gain=0.6, generator=_gen(seed))
    with torch.no_grad():  # non-zero invariant biases, so they are exercised too
        for c in net.connections:
            c.module.bias.uniform_(-0.3, 0.3, generator=_gen(seed + 7))
    pts = torch.randn(5, 6, 3, dtype=torch.float64, generator=_gen(seed + 1))
    x = spherical_embedding(pts - pts.mean(1, keepdim=True), LMAX, channels[0])
    x = x / x.abs().max()
    y = 0.2 + 0.6 * torch.rand(5, channels[-1], 1, dtype=torch.float64, generator=_gen(seed + 2))
    return net, x, y


# --------------------------------------------------------------------------- pieces


def test_irreps_activation_commutes_with_wigner_and_has_closed_form_derivative():
    act = IrrepsActivation("tanh")
    u = torch.randn(4, 3, 9, dtype=torch.float64, generator=_gen())
    R = random_rotation(_gen(1), inversion=True)
    torch.testing.assert_close(act(_act(R, u)), _act(R, act(u)), rtol=0, atol=1e-14)
    z = torch.complex(u, 0.3 * u.flip(-1))
    d = act.derivative(z)
    eps = 1e-7
    num = (act(z + eps) - act(z - eps)) / (2 * eps)
    torch.testing.assert_close(d, num, rtol=1e-6, atol=1e-8)
    packed = act.packed(torch.stack((z.real, z.imag)))
    torch.testing.assert_close(torch.complex(packed[0], packed[1]), act(z))
    # nonlinear on the invariant entry only
    assert not torch.allclose(act(u)[..., 0], u[..., 0])
    assert torch.equal(act(u)[..., 1:], u[..., 1:])


@pytest.mark.parametrize("dtype", [torch.float64, torch.complex128])
def test_gaunt_interaction_and_its_feedback_copies_are_equivariant(dtype):
    """θ, θ_0 and their angle mix are equivariant maps, and so is the vjp feedback."""
    net, x, _ = _gaunt(alpha=30.0)
    conn = net.connections[1]
    s_in = torch.randn(5, 4, 9, dtype=torch.float64, generator=_gen(3)).to(dtype)
    s_out = torch.randn(5, 4, 9, dtype=torch.float64, generator=_gen(4)).to(dtype)
    if dtype.is_complex:
        s_in = s_in + 0.2j * s_in.flip(-1)
    R = random_rotation(_gen(5), inversion=True).to(torch.float64)
    D = lambda v: (
        so3_action(LMAX)(R, v.real) + 1j * so3_action(LMAX)(R, v.imag)
        if v.is_complex()
        else so3_action(LMAX)(R, v)
    )  # noqa: E731,E501
    for params in (conn.forward_params(), conn.feedback0_params(), conn.feedback_params()):
        torch.testing.assert_close(
            conn.map(D(s_in), params), D(conn.map(s_in, params)), rtol=1e-10, atol=1e-12
        )
        torch.testing.assert_close(
            conn.adjoint(D(s_out), D(s_in), params),
            D(conn.adjoint(s_out, s_in, params)),
            rtol=1e-10,
            atol=1e-12,
        )
    assert not torch.allclose(
        conn.forward_params()["lin_weight"], conn.feedback0_params()["lin_weight"]
    )


# --------------------------------------------------------------------------- Gaunt substrate


@pytest.mark.parametrize("alpha", [0.0, 45.0, 90.0])
def test_gaunt_fixed_point_is_equivariant(alpha):
    net, x, _ = _gaunt(alpha)
    free = _relax(net, x)
    gen = _gen(11)
    worst = 0.0
    for inversion in (False, True, False):
        R = random_rotation(gen, inversion=inversion)
        moved = _relax(net, _act(R, x))
        for a, b in zip(moved.u, free.u, strict=True):
            err = float(((a - _act(R, b)).abs().max() / b.abs().max()).detach())
            worst = max(worst, err)
    print(f"alpha={alpha}: relative equivariance error of u* {worst:.2e}")
    assert worst < 1e-6
    # the l > 0 states are not trivially zero
    assert float(free.u[0][..., 1:].abs().max().detach()) > 1e-2


def test_gaunt_fixed_point_is_equivariant_from_point_clouds():
    """End to end: rotating and reflecting the atoms rotates the hidden fixed point."""
    net, _, _ = _gaunt(20.0)
    pts = torch.randn(4, 6, 3, dtype=torch.float64, generator=_gen(2))
    Q, _ = random_euclidean(3, _gen(3), inversion=True)
    embed = lambda p: spherical_embedding(p, LMAX, 3)  # noqa: E731
    a = _relax(net, embed(pts))
    b = _relax(net, embed(pts @ Q.T))
    for u, v in zip(b.u, a.u, strict=True):
        torch.testing.assert_close(u, _act(Q, v), rtol=0, atol=1e-10)


def _problem(net, x, y):
    loss = MSELoss(feature_ndim=len(net.shapes[-1]))
    fp = FreePhase(steps=5000, tol=TIGHT)
    nudged = NudgedPhase(steps=5000, integrator=FixedPoint(), tol=TIGHT)
    free = fp.run(net, x)
    assert free.all_converged

    class P:  # the fields test_estimators._estimate reads
        pass

    p = P()
    p.network, p.x, p.y, p.loss, p.free_phase, p.nudged_phase, p.free = (
        net,
        x,
        y,
        loss,
        fp,
        nudged,
        free,
    )
    return p


def _dense_ep_bp(p):
    """(I − DΦ_s)^{-1} D g and (I − DΦ_sᵀ)^{-1} D g from the dense state Jacobian."""
    net = p.network
    jac = state_jacobian(net, p.x, p.free.s)
    d = net.flatten_state(net.activate_derivative(p.free.u), 1)
    cot = [torch.zeros_like(t) for t in p.free.s[:-1]] + [p.loss.nudge(p.free.s[-1], p.y)]
    g = net.flatten_state(cot, 1)
    eye = torch.eye(jac.shape[-1], dtype=jac.dtype)
    ep = torch.linalg.solve(eye - d[:, :, None] * jac, (d * g)[..., None])[..., 0]
    bp = torch.linalg.solve(eye - d[:, :, None] * jac.mT, (d * g)[..., None])[..., 0]
    return net.unflatten_state(ep), net.unflatten_state(bp)


def _check_hep_exact_and_bp(p, *, n_holo=12, holo_tol=1e-6):
    ep_ref, bp_ref = _dense_ep_bp(p)
    exact = _estimate(p, Exact()).delta
    for a, b in zip(exact, ep_ref, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12)
    holo = _estimate(p, Holomorphic(r=0.1, n=n_holo)).delta
    err = _rel_err(holo, exact)
    print(f"hEP (r=0.1, N={n_holo}) vs exact: relative error {err:.2e}")
    assert err < holo_tol
    rules = {
        "implicit": ImplicitBP(p.free_phase),
        "rbp": RecurrentBP(p.free_phase, RecurrentAdjoint(tol=1e-14)),
        "bptt": BPTT(steps=400),
    }
    res = {k: r.compute(p.network, p.loss, p.x, p.y, free=p.free) for k, r in rules.items()}
    for name, r in res.items():
        for a, b in zip(r.delta, bp_ref, strict=True):
            torch.testing.assert_close(a, b, rtol=1e-8, atol=1e-11, msg=name)
    for name in ("rbp", "bptt"):
        for k, g in res[name].grads.items():
            torch.testing.assert_close(g, res["implicit"].grads[k], rtol=1e-8, atol=1e-11)
    return exact, res["implicit"]


@pytest.mark.parametrize("alpha", [0.0, 60.0])
def test_gaunt_hep_equals_exact_and_bp_references_agree(alpha):
    net, x, y = _gaunt(alpha, channels=(3, 4, 2))
    p = _problem(net, x, y)
    exact, bp = _check_hep_exact_and_bp(p)
    al = delta_alignment(exact, bp.delta)
    if alpha == 0.0:  # energy system: EP is BP
        torch.testing.assert_close(al.cosine, torch.ones_like(al.cosine), rtol=0, atol=1e-10)
    else:
        assert float(al.cosine[0]) < 1 - 1e-4


def test_gaunt_jacobian_is_symmetric_at_alpha_zero_only():
    for alpha in (0.0, 60.0):
        net, x, _ = _gaunt(alpha)
        free = _relax(net, x)
        sym = jacobian_symmetry(net, x, free.s)
        if alpha == 0.0:
            torch.testing.assert_close(sym, torch.ones_like(sym), rtol=0, atol=1e-12)
        else:
            assert (sym < 0.999).all()


def test_gaunt_gradients_are_invariant_under_rotations():
    """Invariant targets: δ is equivariant and the parameter gradient is invariant."""
    net, x, y = _gaunt(45.0, channels=(3, 4, 2))
    R = random_rotation(_gen(8), inversion=True)
    rule = GeneralizedEP(
        Exact(), FreePhase(5000, tol=TIGHT), NudgedPhase(5000, FixedPoint(), TIGHT)
    )
    a = rule.compute(net, MSELoss(2), x, y)
    b = rule.compute(net, MSELoss(2), _act(R, x), y)
    for k in a.grads:
        torch.testing.assert_close(b.grads[k], a.grads[k], rtol=1e-8, atol=1e-12)
    for u, v in zip(b.delta, a.delta, strict=True):
        torch.testing.assert_close(u, _act(R, v), rtol=1e-8, atol=1e-12)


# --------------------------------------------------------------------------- frame averaging


def _nbody_batch(n=4, seed=0):
    from neurosim.workloads.nbody import simulate_charged

    sim = simulate_charged(n, n_particles=5, n_steps=10, sample_every=10, seed=seed)
    t = lambda a: torch.from_numpy(a).to(torch.float64)  # noqa: E731
    return t(sim["loc"][:, -1]), t(sim["vel"][:, -1]), t(sim["charges"][..., None])


def _fa_net(alpha):
    return LayeredNetwork.dense(
        [35, 12, 15], activation="shifted_sigmoid", alpha=alpha, generator=_gen(4)
    )


@pytest.mark.parametrize("alpha", [0.0, 90.0])
def test_frame_averaged_relaxation_is_e3_equivariant(alpha):
    net = _fa_net(alpha)
    loc, vel, q = _nbody_batch()

    def predict(loc, vel, q):
        fr = frame_rows(loc, vel, q, 4.0)
        out = _relax(net, fr.rows).s[-1]
        return frame_average(out, fr, loc, 2.0)

    y = predict(loc, vel, q)
    gen = _gen(9)
    for inversion in (False, True):
        Q, t = random_euclidean(3, gen, inversion=inversion)
        moved = predict(loc @ Q.T + t, vel @ Q.T, q)
        torch.testing.assert_close(moved, y @ Q.T + t, rtol=0, atol=1e-10)
    # and a permutation of the particles leaves each particle's... frame (not the net) invariant
    assert torch.isfinite(y).all()


def test_frame_rows_per_row_loss_bounds_averaged_loss():
    """Jensen: the loss of the frame average is at most the mean per-row loss."""
    loc, vel, q = _nbody_batch(6, seed=1)
    fr = frame_rows(loc, vel, q, 4.0)
    out = torch.rand(fr.rows.shape[0], 15, dtype=torch.float64, generator=_gen())
    target = loc + 0.3 * torch.randn(loc.shape, dtype=torch.float64, generator=_gen(1))
    pred = frame_average(out, fr, loc, 2.0)
    row_pred = loc[fr.index] + (4.0 * (out - 0.5)).reshape(-1, 5, 3) @ fr.rotation.mT
    per_row = (row_pred - target[fr.index]).square().sum((-1, -2))
    per_cloud = torch.zeros(loc.shape[0], dtype=torch.float64).index_add_(
        0, fr.index, per_row * fr.weight
    )
    assert ((pred - target).square().sum((-1, -2)) <= per_cloud + 1e-12).all()


def test_frame_averaged_substrate_hep_equals_exact_and_bp_agree():
    net = _fa_net(45.0)
    loc, vel, q = _nbody_batch(1)
    fr = frame_rows(loc, vel, q, 4.0)  # the frame elements are the batch rows
    y = torch.rand(fr.rows.shape[0], 15, dtype=torch.float64, generator=_gen(2))
    _check_hep_exact_and_bp(_problem(net, fr.rows, y))


# --------------------------------------------------------------------------- affine lifting


@pytest.fixture(scope="module")
def encoder():
    return AffineLiftingEncoder(4, kernel_size=5, num_samples=8, max_angle=None, seed=0)


def _images(n=3, size=16):
    g = _gen(5)
    img = torch.zeros(n, 1, size, size, dtype=torch.float64)
    img[:, :, 4:12, 5:10] = torch.rand(n, 1, 8, 5, dtype=torch.float64, generator=g)
    return img


def test_lifted_input_fixed_point_is_invariant_to_quarter_turns(encoder):
    net = LayeredNetwork.dense([8, 10, 6], alpha=30.0, generator=_gen(6))
    img = _images()
    f = encoder(img)
    base = _relax(net, f)
    for k in (1, 2, 3):
        moved = _relax(net, encoder(torch.rot90(img, k, dims=(-2, -1))))
        for a, b in zip(moved.u, base.u, strict=True):
            assert float((a - b).abs().max().detach()) < 1e-6 * float(b.abs().max().detach())
    # a generic affine map is only approximately invariant (Monte Carlo + pixels): finite
    from equivariance.lie import transform_images

    A = torch.tensor([[1.1, 0.2], [0.0, 0.9]], dtype=torch.float64)
    rel = float((encoder(transform_images(img, A)) - f).norm() / f.norm())
    print(f"affine feature error (non-lattice map): {rel:.3f}")
    assert rel < 1.0
    assert not any(p.requires_grad for p in encoder.parameters())


def test_lifted_substrate_hep_equals_exact_and_bp_agree(encoder):
    net = LayeredNetwork.dense([8, 10, 6], alpha=60.0, generator=_gen(6))
    f = encoder(_images(4))
    f = f / f.abs().max()
    y = torch.rand(4, 6, dtype=torch.float64, generator=_gen(2))
    _check_hep_exact_and_bp(_problem(net, f, y))


# --------------------------------------------------------------------------- runner


@pytest.mark.parametrize(
    ("task", "sizes", "loss"),
    [
        ("spherical", [3, 4, 1], "mse"),
        ("nbody_frames", [35, 12, 15], "mse"),
        pytest.param("affine_lifted", [16, 12, 10], "cross_entropy", marks=pytest.mark.slow),
        pytest.param("affine_lifted:trained", [8, 12, 10], "cross_entropy", marks=pytest.mark.slow),
        pytest.param(
            "affine_lifted:pretrained", [8, 12, 10], "cross_entropy", marks=pytest.mark.slow
        ),
    ],
)
def test_runner_trains_each_equivariant_workload(task, sizes, loss):
    from neurosim.experiment import Config
    from neurosim.experiment.runner import run

    task, _, lifting = task.partition(":")
    wl = {"task": task, "n_train": 32, "n_test": 16, "batch": 8, "loss": loss}
    cfg = Config.model_validate(
        {
            "workload": wl | ({"lifting": lifting} if lifting else {}),
            "network": {"sizes": sizes},
            "feedback": {"alpha": 45.0},
            "dynamics": {"tol": 1e-8},
            "homeostasis": {"mode": "fixed", "strength": 0.1},
            "training": {"steps": 2, "eval_every": 2, "probe_batch": 4},
        }
    )
    ds = run(cfg)
    assert ds.task_error.shape == (2,)
    assert all(math.isfinite(float(v)) for v in ds.task_error.values)
    assert float(ds.converged_fraction[-1]) == 1.0


def test_runner_rejects_wrong_sizes_for_nbody_frames():
    from neurosim.experiment import Config
    from neurosim.experiment.runner import build

    with pytest.raises(ValueError, match="35"):  # refused at validation, before build
        cfg = Config.model_validate(
            {
                "workload": {"task": "nbody_frames", "n_train": 8, "n_test": 4},
                "network": {"sizes": [20, 15]},
            }
        )
        build(cfg)


def test_independent_feedback_mode_copies_module_feedback():
    from neurosim.experiment import Config
    from neurosim.experiment.runner import build

    cfg = Config.model_validate(
        {
            "workload": {"task": "spherical", "n_train": 8, "n_test": 4, "batch": 4},
            "network": {"sizes": [2, 3, 1]},
            "feedback": {"alpha": 30.0, "mode": "independent"},
        }
    )
    exp = build(cfg)
    assert exp.network.alpha == 90.0
    assert isinstance(exp.network.connections[0].module, GauntInteraction)


# --------------------------------------------------------------------------- study


@pytest.mark.slow
def test_equivariant_substrate_study_quick(tmp_path, load_study):
    ds, table = load_study("equivariant_substrate").main(["--quick", "--out", str(tmp_path)])
    assert (tmp_path / "equivariant_substrate.png").exists()
    assert (tmp_path / "equivariant_substrate.nc").exists()
    assert set(table.workload) == {"spherical", "nbody_frames", "affine_lifted"}
    # robust facts only: on the ideal substrate at alpha = 0 the energy systems align exactly
    ideal0 = table[(table.preset == "ideal") & (table.alpha == 0.0)]
    assert (ideal0[["dcos_l1", "gcos"]] > 0.999).all().all()
    assert np.isfinite(table.err_ep).all() and np.isfinite(table.err_bp).all()


# --------------------------------------------------------------------------- trained lifting


def _lifted_network(max_angle, alpha=0.0, channels=2, samples=4):
    from neurosim.substrate import Dense, ModuleConnection
    from neurosim.workloads.equivariant import AffineLiftingMap

    enc = AffineLiftingEncoder(
        channels,
        kernel_size=3,
        num_samples=samples,
        hidden=8,
        max_angle=max_angle,
        trainable=True,
        seed=1,
    )
    with torch.no_grad():
        f = enc(_images(6, 12))
    lift = AffineLiftingMap(enc, f.mean(0), f.std(0).clamp_min(1e-12), 5, generator=_gen(3))
    conns = [
        ModuleConnection(lift, (1, 12, 12), (5,), generator=_gen(4)),
        Dense(5, 3, alpha=alpha, generator=_gen(5)),
    ]
    return LayeredNetwork(conns)


def test_trained_lifting_substrate_is_invariant_to_quarter_turns():
    net = _lifted_network(max_angle=None)  # orbit = 4: the sample set is closed under 90°
    img = _images(3, 12)
    base = _relax(net, img)
    for k in (1, 2, 3):
        moved = _relax(net, torch.rot90(img, k, dims=(-2, -1)))
        for a, b in zip(moved.u, base.u, strict=True):
            assert float((a - b).detach().abs().max()) < 1e-10 * float(b.detach().abs().max())
    # the truncated (±45°) encoder is not: quarter turns leave its arc
    trunc = _lifted_network(max_angle=math.pi / 4)
    a = _relax(trunc, img).u[0].detach()
    b = _relax(trunc, torch.rot90(img, 1, dims=(-2, -1))).u[0].detach()
    assert float((a - b).abs().max()) > 1e-6


def test_trained_lifting_ep_gradient_equals_implicit_bp_at_alpha_zero():
    net = _lifted_network(max_angle=math.pi / 4)
    x = _images(4, 12)
    y = torch.rand(4, 3, dtype=torch.float64, generator=_gen(2))
    loss = MSELoss()
    fp = FreePhase(5000, tol=TIGHT)
    free = fp.run(net, x)
    assert free.all_converged
    ep = GeneralizedEP(Exact(), fp, NudgedPhase(5000, FixedPoint(), TIGHT))
    bp = ImplicitBP(fp)
    g_ep = ep.compute(net, loss, x, y, free=free).grads
    g_bp = bp.compute(net, loss, x, y, free=free).grads
    lifting = [k for k in g_bp if "encoder" in k]
    assert lifting and any(float(g_bp[k].abs().max()) > 1e-8 for k in lifting)
    for k, g in g_bp.items():
        torch.testing.assert_close(g_ep[k], g, rtol=1e-8, atol=1e-12, msg=k)
    # the holomorphic estimator reaches the lifting parameters too (finite r: close, not exact)
    holo = GeneralizedEP(Holomorphic(r=0.1, n=12), fp, NudgedPhase(5000, FixedPoint(), TIGHT))
    g_h = holo.compute(net, loss, x, y, free=free).grads
    for k in lifting:
        err = float((g_h[k] - g_bp[k]).norm() / g_bp[k].norm().clamp_min(1e-30))
        assert err < 1e-5, (k, err)

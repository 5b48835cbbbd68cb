"""The numba backend: same fixed points, same EP gradients, same noise law as torch.

Every comparison is against :func:`neurosim.substrate.relax` on the same network
(float64), so the reference is the torch backend itself. One compiled signature per
state dtype (float64, complex128; float32 in one test), cached on disk.
"""

from __future__ import annotations

import math

import pytest
import torch
from conftest import _same_moments, make_problem
from torch.testing import assert_close

from neurosim.backends import (
    AutoBackend,
    NumbaBackend,
    TorchBackend,
    UnsupportedError,
    get_backend,
)
from neurosim.experiment.config import Config, ConfigError
from neurosim.learning import (
    Centered,
    FreePhase,
    GeneralizedEP,
    Holomorphic,
    MSELoss,
    NudgedPhase,
    OneSided,
    SoftmaxCrossEntropy,
)
from neurosim.substrate import (
    AnalogHardware,
    Conv2d,
    DeviceModel,
    FixedPoint,
    LayeredNetwork,
    LeakyEuler,
    NeuronModel,
    NonFiniteStateError,
    relax,
)

NB = NumbaBackend()
TIGHT = 1e-14


def _net(activation="shifted_sigmoid", alpha=0.0, sizes=(8, 12, 10, 5), seed=0, batch=6):
    g = torch.Generator().manual_seed(seed)
    net = LayeredNetwork.dense(sizes, activation=activation, alpha=alpha, generator=g)
    with torch.no_grad():
        for b in net.biases:
            b.copy_(0.3 * torch.randn(b.shape, dtype=torch.float64, generator=g))
    x = torch.rand(batch, sizes[0], dtype=torch.float64, generator=g)
    y = torch.rand(batch, sizes[-1], dtype=torch.float64, generator=g)
    return net, x, y


def _max_diff(a, b) -> float:
    return max(float((p - q).abs().max()) for p, q in zip(a, b, strict=True))


@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "shifted_sigmoid", "dsilu"])
@pytest.mark.parametrize("integrator", [FixedPoint(), LeakyEuler(dt=0.5, tau=1.0)])
def test_free_fixed_point_matches_torch(activation, integrator):
    net, x, _ = _net(activation, alpha=45.0)
    with torch.no_grad():
        ref = relax(net, x, steps=5000, integrator=integrator, tol=TIGHT)
        got = NB.relax(net, x, steps=5000, integrator=integrator, tol=TIGHT)
    assert ref.all_converged and got.all_converged
    assert got.steps == ref.steps  # same step, check and early-stop rule
    assert _max_diff(got.u, ref.u) < 1e-10 and _max_diff(got.s, ref.s) < 1e-10
    assert got.residual.shape == ref.residual.shape == (x.shape[0],)


def test_inlined_exp_and_activations_match_libm():
    """The kernel's vectorisable e^x and ρ against numpy's libm-based reference (float64)."""
    import numpy as np
    from numba import njit

    from neurosim.backends.numba._kernel import _activate_real, _exp_neg

    @njit
    def exp_all(x, out):
        for i in range(x.shape[0]):
            out[i] = _exp_neg(x[i])

    x = -np.concatenate([np.linspace(0.0, 708.0, 100_001), np.random.default_rng(0).random(10_000)])
    got = np.empty_like(x)
    exp_all(x, got)
    assert (np.abs(got - np.exp(x)) <= np.spacing(np.exp(x))).all()  # within 1 ulp
    special = np.array([np.nan, -np.inf, -708.5, -1e4, -0.0])
    exp_all(special, got[:5])
    assert np.isnan(got[0]) and (got[1:4] == 0.0).all() and got[4] == 1.0

    z = np.concatenate([np.linspace(-175.0, 175.0, 70_001), [0.0, -0.0, 1e-300, -1e-300]])

    def sigmoid(v):
        e = np.exp(-np.abs(v))
        return np.where(v >= 0, 1.0, e) / (1.0 + e)

    refs = [sigmoid(z), np.tanh(z), sigmoid(4 * z - 2), sigmoid(z) * (1 + z * (1 - sigmoid(z)))]
    s = np.empty_like(z)
    for code, ref in enumerate(refs):
        _activate_real(z, s, code)
        assert np.abs(s - ref).max() <= 4 * np.finfo(np.float64).eps
    _activate_real(z, s, 0)
    assert (np.abs(s - refs[0]) <= 2 * np.spacing(refs[0])).all()  # sigmoid: 2 ulp, tails too
    edge = np.array([np.nan, np.inf, -np.inf])
    for code in range(3):
        _activate_real(edge, s[:3], code)
        assert np.isnan(s[0]) and s[1] == 1.0 and s[2] == (-1.0 if code == 1 else 0.0)


def test_activation_with_neuron_gain_and_offset_matches_explicit_preactivation():
    """ρ(g_i u + o_i) per row (the fused scaled path) equals ρ of the stored z, every code."""
    import numpy as np

    from neurosim.backends.numba._kernel import _activate, _activate_real

    rng = np.random.default_rng(1)
    u = 3.0 * rng.standard_normal((9, 13))
    gain, offset = rng.uniform(0.5, 1.5, 9), rng.uniform(-0.3, 0.3, 9)
    z = (gain[:, None] * u + offset[:, None]).ravel()
    for code in range(4):
        got, ref = np.empty_like(u), np.empty_like(z)
        _activate(u, gain, offset, True, code, False, u.shape[1], got)
        _activate_real(z, ref, code)
        # the kernel fuses g u + o into one FMA: ≤ 1 rounding of z apart, |ρ'| ≤ 1.1
        assert np.abs(got.ravel() - ref).max() <= 8 * np.finfo(np.float64).eps


def test_fixed_budget_trajectory_and_diagnostics_match_torch():
    net, x, _ = _net()
    with torch.no_grad():
        for steps in (1, 7, 40):
            ref = relax(net, x, steps=steps, check_every=3)
            got = NB.relax(net, x, steps=steps, check_every=3)
            assert got.steps == ref.steps == steps
            assert _max_diff(got.u, ref.u) < 1e-13
            assert_close(got.residual, ref.residual, rtol=1e-10, atol=1e-14)
            assert torch.equal(got.converged, ref.converged)


@pytest.mark.parametrize(
    "beta",
    [
        torch.tensor([0.1, -0.1], dtype=torch.float64),
        0.2 * torch.exp(1j * torch.tensor([0.0, 0.9, 2.0], dtype=torch.float64)),
    ],
    ids=["real", "complex"],
)
def test_nudged_probes_match_torch(beta):
    net, x, y = _net(alpha=30.0)
    nudge = lambda s: s - y  # noqa: E731  the MSE nudge g = s_L − y
    with torch.no_grad():
        free = relax(net, x, steps=5000, tol=TIGHT)
        ref = relax(net, x, steps=3000, u0=free.u, beta=beta, nudge=nudge, tol=TIGHT)
        got = NB.relax(net, x, steps=3000, u0=free.u, beta=beta, nudge=nudge, tol=TIGHT)
    assert got.u[0].dtype == ref.u[0].dtype and got.u[0].shape == ref.u[0].shape
    assert got.steps == ref.steps
    assert _max_diff(got.s, ref.s) < 1e-10


@pytest.mark.parametrize("sizes", [(8, 12, 10, 5), (8, 12, 10, 9, 5), (6, 5)])
def test_general_affine_nudge_depths_and_complex_probes_match_torch(sizes):
    """g(s) = A_b s + c_b with A_b not the identity; 1, 3 and 4 state layers (parity blocks)."""
    net, x, y = _net(alpha=30.0, sizes=sizes)
    n_out = sizes[-1]
    g = torch.Generator().manual_seed(1)
    a = 0.3 * torch.randn(x.shape[0], n_out, n_out, dtype=torch.float64, generator=g)
    nudge = lambda s: torch.einsum("...bij,...bj->...bi", a.to(s.dtype), s - y)  # noqa: E731
    beta = 0.2 * torch.exp(1j * torch.tensor([0.0, 2.0], dtype=torch.float64))
    with torch.no_grad():
        free = relax(net, x, steps=5000, tol=TIGHT)
        got_free = NB.relax(net, x, steps=5000, tol=TIGHT)
        assert _max_diff(got_free.u, free.u) < 1e-10
        for b in (beta, beta.real):
            kw = dict(steps=3000, u0=free.u, beta=b, nudge=nudge, tol=TIGHT)
            ref, got = relax(net, x, **kw), NB.relax(net, x, **kw)
            assert got.steps == ref.steps and got.s[-1].dtype == ref.s[-1].dtype
            assert _max_diff(got.s, ref.s) < 1e-10


@pytest.mark.parametrize(
    "estimator", [OneSided(beta=0.05), Centered(beta=0.05), Holomorphic(r=0.1, n=4)]
)
@pytest.mark.parametrize("alpha", [0.0, 60.0])
def test_ep_gradients_identical_to_torch(estimator, alpha):
    p = make_problem(alpha)
    nudged = NudgedPhase(steps=5000, integrator=FixedPoint(), tol=TIGHT)
    fast = GeneralizedEP(
        estimator,
        FreePhase(steps=5000, tol=TIGHT, relax=NB.relax),
        NudgedPhase(steps=5000, integrator=FixedPoint(), tol=TIGHT, relax=NB.relax),
    )
    ref = GeneralizedEP(estimator, p.free_phase, nudged).compute(p.network, p.loss, p.x, p.y)
    got = fast.compute(p.network, p.loss, p.x, p.y)
    assert got.estimate.relaxations == ref.estimate.relaxations
    for a, b in zip(got.delta, ref.delta, strict=True):
        assert_close(a, b, rtol=0, atol=1e-10)
    for name, g in ref.grads.items():
        assert_close(got.grads[name], g, rtol=0, atol=1e-10)


def test_hardware_read_at_bind_and_neuron_mismatch_match_torch():
    """Static device effects, DAC and neuron gain/offset enter exactly as in torch."""
    net, x, y = _net(sizes=(6, 9, 4))
    devices = DeviceModel(levels=33, w_min=-0.5, w_max=0.5, d2d_std=0.1, stuck_zero_prob=0.05)
    neurons = NeuronModel(gain_std=0.1, offset_std=0.05, dac_bits=4, dac_range=(0.0, 1.0))
    net.hardware = AnalogHardware.for_network(net, devices, neurons, seed=3)
    with torch.no_grad():
        ref = relax(net, x, steps=3000, tol=TIGHT)
        got = NB.relax(net, x, steps=3000, tol=TIGHT)
        assert _max_diff(got.u, ref.u) < 1e-10
        beta = torch.tensor([0.1, -0.1], dtype=torch.float64)
        kw = dict(steps=3000, u0=ref.u, beta=beta, nudge=lambda s: s - y, tol=TIGHT)
        assert _max_diff(NB.relax(net, x, **kw).s, relax(net, x, **kw).s) < 1e-10


def test_thermal_noise_stationary_moments_match_torch():
    """Noise is drawn from the hardware's thermal stream: same law as the torch SDE path."""
    net, _, _ = _net(sizes=(4, 6, 3), batch=1)
    sigma, integ = 0.2, LeakyEuler(dt=0.2, tau=1.0)
    net.hardware = AnalogHardware.for_network(net, DeviceModel(), NeuronModel(noise_std=sigma), 1)
    x = torch.full((2000, 4), 0.5, dtype=torch.float64)
    with torch.no_grad():
        a = torch.cat(relax(net, x, steps=80, integrator=integ).u, dim=-1)
        b = torch.cat(NB.relax(net, x, steps=80, integrator=integ).u, dim=-1)
    _same_moments(a, b)


def test_float32_states_match_torch():
    g = torch.Generator().manual_seed(0)
    net = LayeredNetwork.dense((8, 12, 5), generator=g, dtype=torch.float32)
    x = torch.rand(4, 8, generator=g)
    with torch.no_grad():
        ref = relax(net, x, steps=200, tol=1e-6)
        got = NB.relax(net, x, steps=200, tol=1e-6)
    assert got.u[0].dtype == torch.float32 and got.residual.dtype == torch.float32
    assert _max_diff(got.u, ref.u) < 1e-5


def test_divergence_raises_like_torch():
    net, x, _ = _net(sizes=(4, 6, 3))
    with torch.no_grad():
        net.biases[0].fill_(math.nan)
        with pytest.raises(NonFiniteStateError):
            relax(net, x, steps=20)
        with pytest.raises(NonFiniteStateError, match="numba"):
            NB.relax(net, x, steps=20)


def test_unsupported_relaxations_raise_and_auto_falls_back_to_torch():
    net, x, y = _net(sizes=(4, 6, 3))
    conv = LayeredNetwork([Conv2d((1, 4, 4), 2, 3)], activation="sigmoid")
    xc = torch.rand(2, 1, 4, 4, dtype=torch.float64)
    ce = SoftmaxCrossEntropy(3, 3, generator=torch.Generator().manual_seed(0))
    labels = torch.tensor([0, 1, 2, 0, 1, 2])
    beta = torch.tensor([0.1])
    with torch.no_grad():
        with pytest.raises(UnsupportedError, match="dense layered networks only"):
            NB.relax(conv, xc, steps=3)
        with pytest.raises(UnsupportedError, match="affine"):
            NB.relax(net, x, steps=3, beta=beta, nudge=lambda s: ce.nudge(s, labels))
        auto = AutoBackend()
        assert auto.choose(conv, xc) == "torch"
        assert auto.choose(net, x, beta=beta, nudge=lambda s: ce.nudge(s, labels)) == "torch"
        supported = AutoBackend(calibrate=False).choose(net, x, beta=beta, nudge=lambda s: s - y)
        assert supported == "numba"  # (with calibrate=True: whichever is measured cheaper)
        ref = relax(conv, xc, steps=5)
        assert _max_diff(auto.relax(conv, xc, steps=5).u, ref.u) == 0.0
    # a relaxation autograd may record stays in torch
    assert AutoBackend().choose(net, x) == "torch"
    big = LayeredNetwork.dense((64, 128, 128, 64), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        static = AutoBackend(calibrate=False)
        assert static.choose(big, torch.rand(64, 64, dtype=torch.float64)) == "torch"
        assert static.choose(net, x) == "numba"


def test_auto_calibrates_once_per_shape_and_picks_the_cheaper_engine():
    net, x, y = _net(sizes=(4, 6, 3))
    other, _, _ = _net(sizes=(4, 6, 3), seed=5)  # same shape, other weights: same calibration
    auto = AutoBackend(repeats=1)
    beta = torch.tensor([0.1, -0.1], dtype=torch.float64)
    with torch.no_grad():
        cal = auto.calibration(net, x)
        assert auto.calibration(other, x) is cal  # cached, not re-measured
        assert auto.calibration(net, x, beta=beta) is not cal  # probes: another shape
        assert set(cal) == {"torch", "numba"}
        for c in cal.values():
            assert c.fixed >= 0 and c.per_step >= 0
            assert c.cost(100) == c.fixed + 100 * c.per_step
        for steps in (1, 100, 10_000):
            cheaper = min(cal, key=lambda e: cal[e].cost(steps))
            assert auto.choose(net, x, steps=steps) == cheaper
        huge = LayeredNetwork.dense((4, 1024, 1024), generator=torch.Generator().manual_seed(0))
        assert auto.choose(huge, torch.rand(32, 4, dtype=torch.float64)) == "torch"  # untimed
        # whichever engine runs, the result is the relaxation itself
        kw = dict(steps=300, u0=None, beta=beta, nudge=lambda s: s - y, tol=TIGHT)
        assert _max_diff(auto.relax(net, x, **kw).s, relax(net, x, **kw).s) < 1e-10


def test_registry_and_config_key():
    assert isinstance(get_backend("numba"), NumbaBackend)
    assert isinstance(get_backend("torch"), TorchBackend)
    with pytest.raises(KeyError, match="allowed: auto, brian2, numba, torch"):
        get_backend("jax")
    with pytest.raises(ConfigError) as exc:
        Config().with_updates({"substrate.backend": "jax"})
    assert str(exc.value) == (
        'substrate.backend: invalid choice "jax"; allowed: one of "auto", "brian2", "numba", '
        '"torch"'
    )
    with pytest.raises(ConfigError, match=r'^substrate\.backend: "numba" needs a nudge affine'):
        Config().with_updates({"substrate.backend": "numba", "workload.loss": "cross_entropy"})
    Config().with_updates({"substrate.backend": "auto", "workload.loss": "cross_entropy"})


@pytest.mark.parametrize("content", ['[substrate]\nbackend = "gpu"\n', "[substrate]\nengine = 1\n"])
def test_cli_rejects_bad_backend_in_one_line(tmp_path, capsys, content):
    from neurosim.cli import main

    path = tmp_path / "bad.toml"
    path.write_text(content)
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"{path}: substrate.")
    assert ('allowed: one of "auto", "brian2", "numba", "torch"' in err) or (
        "valid keys in [substrate]: backend" in err
    )


def test_runner_on_numba_reproduces_the_torch_run():
    from neurosim.experiment.runner import run

    base = {
        "network.sizes": [6, 10, 4],
        "workload.n_train": 32,
        "workload.n_test": 16,
        "workload.batch": 8,
        "training.steps": 2,
        "training.eval_every": 2,
        "training.probe_batch": 8,
        "dynamics.free_steps": 40,
        "dynamics.nudged_steps": 20,
    }
    ref = run(Config().with_updates(base))
    for kind in ("numba", "auto"):
        got = run(Config().with_updates({**base, "substrate.backend": kind}))
        for name in ("loss", "delta_cosine", "grad_cosine", "residual"):
            assert_close(
                torch.as_tensor(got[name].values), torch.as_tensor(ref[name].values), atol=1e-9,
                rtol=1e-9,
            )  # fmt: skip


def test_mse_loss_nudge_is_recognised_as_affine():
    from neurosim.backends._dense import affine_nudge

    y = torch.rand(3, 4, dtype=torch.float64)
    a, c = affine_nudge(
        lambda s: MSELoss().nudge(s, y), torch.zeros(3, 4, dtype=torch.float64), "t"
    )
    assert_close(a, torch.eye(4, dtype=torch.float64).expand(3, 4, 4))
    assert_close(c, -y)

"""Lifting + group convolutions: exact 90° equivariance on permuted sample sets, the Monte
Carlo rate of the invariance error, parameter gradients, sampling modes."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch.func import functional_call

from equivariance.lie import (
    SL,
    SO,
    GLPlus,
    GroupCNN,
    GroupConv,
    LiftingConv,
    PlainCNN,
    pool_group,
    transform_images,
)

F64 = torch.float64
R90 = torch.tensor([[0.0, -1.0], [1.0, 0.0]], dtype=F64)  # exact lattice rotation
GROUPS = {
    "GL+(2)": lambda: GLPlus(2, log_scale=(-0.3, 0.3), max_stretch=0.4),
    "SL(2)": lambda: SL(2, max_stretch=0.4),
    "SO(2)": lambda: SO(2),
}


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def _permutation(samples, g):
    """Index map p with g·h_i = h_{p(i)} (asserting the set is closed under g)."""
    moved = g @ samples.g
    dist = (moved[:, None] - samples.g[None]).abs().amax((-2, -1))
    best = dist.min(1)
    assert float(best.values.max()) < 1e-12
    return best.indices


def test_transform_images_is_rot90_and_a_group_action():
    x = torch.rand(2, 3, 8, 8, dtype=F64, generator=_gen())
    assert torch.equal(transform_images(x, R90), torch.rot90(x, -1, dims=(-2, -1)))
    t = torch.tensor([2.0, -1.0], dtype=F64)  # integer shift: exact, zero-filled
    shifted = transform_images(x, torch.eye(2, dtype=F64), t)
    torch.testing.assert_close(shifted[..., :-1, 2:], x[..., 1:, :-2], rtol=0, atol=1e-14)
    # L_A L_B = L_{AB} in the interior for a smooth image and small A, B
    yy, xx = torch.meshgrid(torch.arange(32.0), torch.arange(32.0), indexing="ij")
    blob = torch.exp(-((xx - 15.5) ** 2 + (yy - 15.5) ** 2) / 40).to(F64)[None, None]
    A = torch.tensor([[1.1, 0.2], [-0.1, 0.9]], dtype=F64)
    B = torch.tensor([[0.9, -0.1], [0.3, 1.0]], dtype=F64)
    two = transform_images(transform_images(blob, B), A)
    one = transform_images(blob, A @ B)
    assert float((two - one).abs().max()) < 0.02


@pytest.mark.parametrize("supersample", [1, 2, 3])
@pytest.mark.parametrize("name", list(GROUPS))
def test_layers_exactly_equivariant_on_permuted_samples(name, supersample):
    """With an orbit-closed sample set, Lift/GroupConv(L_R f)(·, R h_i) = L_R(...)(·, h_i);
    sub-pixel supersampling keeps it (its offsets are closed under 90° rotations)."""
    G = GROUPS[name]()
    torch.manual_seed(0)
    lift = LiftingConv(G, 2, 3, 5, hidden=8, supersample=supersample).double()
    gconv = GroupConv(G, 3, 2, 3, hidden=8, supersample=supersample).double()
    smp = G.sample(8, generator=_gen(1), dtype=F64, orbit=4)
    p = _permutation(smp, R90)
    x = torch.rand(2, 2, 10, 10, dtype=F64, generator=_gen(2))
    rot = lambda y: transform_images(y.flatten(1, 2), R90).unflatten(1, y.shape[1:3])  # noqa: E731
    F1, F2 = lift(x, smp), lift(transform_images(x, R90), smp)
    torch.testing.assert_close(F2[:, :, p], rot(F1), rtol=0, atol=1e-12)
    G1, G2 = gconv(torch.tanh(F1), smp), gconv(torch.tanh(F2), smp)
    torch.testing.assert_close(G2[:, :, p], rot(G1), rtol=0, atol=1e-12)
    inv1, inv2 = pool_group(G1, smp).mean((-2, -1)), pool_group(G2, smp).mean((-2, -1))
    torch.testing.assert_close(inv1, inv2, rtol=0, atol=1e-12)
    assert float(inv1.detach().abs().max()) > 1e-3  # not trivially zero


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"supersample": 3, "spatial_pool": "blur", "group_pool": "softmax"},
    ],
    ids=["default", "supersampled-blur-softmax"],
)
@pytest.mark.parametrize("name", list(GROUPS))
def test_model_exactly_invariant_to_90_degrees_with_orbit_samples(name, options):
    torch.manual_seed(0)
    m = GroupCNN(
        GROUPS[name](), channels=(3, 4), num_samples=8, orbit=4, hidden=8, **options
    ).double()
    x = torch.rand(3, 1, 12, 12, dtype=F64, generator=_gen())
    m.train()  # batch statistics: exercise the equivariance of batch norm too
    smp = m.group.sample(8, generator=_gen(5), dtype=F64, orbit=4)
    y1, y2 = m(x, smp), m(transform_images(x, R90), smp)
    torch.testing.assert_close(y1, y2, rtol=0, atol=1e-12)
    m.eval()  # the fixed eval set is orbit-closed too
    torch.testing.assert_close(m(x), m(torch.rot90(x, 2, dims=(-2, -1))), rtol=0, atol=1e-12)


def _invariant(lift, gconv, x, smp):
    y = gconv(torch.tanh(lift(x, smp)), smp)
    return pool_group(torch.tanh(y), smp).mean((-2, -1))


def mc_invariance_errors(name="GL+(2)", sizes=(4, 8, 16, 32, 64), draws=16):
    """Mean relative invariance error under the 90° rotation vs the number of iid samples.

    With iid (not orbit-closed) samples, Φ(L_R f; S) = Φ(f; R⁻¹S) exactly, so the
    error is the difference of two Monte Carlo estimates of the Haar integral.
    """
    G = GROUPS[name]()
    torch.manual_seed(0)
    lift = LiftingConv(G, 1, 3, 5, hidden=8).double()
    gconv = GroupConv(G, 3, 3, 3, hidden=8).double()
    x = torch.rand(1, 1, 12, 12, dtype=F64, generator=_gen())
    xr = transform_images(x, R90)
    errs = []
    with torch.no_grad():
        for n in sizes:
            e = []
            for d in range(draws):
                smp = G.sample(n, generator=_gen(1000 * n + d), dtype=F64)
                a, b = _invariant(lift, gconv, x, smp), _invariant(lift, gconv, xr, smp)
                e.append(float((a - b).norm() / a.norm()))
            errs.append(np.mean(e))
    slope = np.polyfit(np.log(sizes), np.log(errs), 1)[0]
    return np.array(errs), float(slope)


def test_mc_invariance_error_rate():
    errs, slope = mc_invariance_errors()
    print(f"MC invariance error {errs}, log-log slope {slope:.3f} (expected -1/2)")
    assert -0.75 < slope < -0.3, (errs, slope)


def _gradcheck_params(module, inputs):
    names, params = zip(*[(k, v) for k, v in module.named_parameters()], strict=True)

    def f(*ps):
        return functional_call(module, dict(zip(names, ps, strict=True)), inputs)

    assert torch.autograd.gradcheck(f, params, eps=1e-6, atol=1e-6)


@pytest.mark.parametrize("name", ["GL+(2)", "SO(2)"])
def test_gradcheck_parameters_and_input(name):
    G = GROUPS[name]()
    torch.manual_seed(0)
    lift = LiftingConv(G, 1, 2, 3, hidden=4, layers=1).double()
    gconv = GroupConv(G, 2, 1, 3, hidden=4, layers=1).double()
    smp = G.sample(2, generator=_gen(), dtype=F64)
    x = torch.rand(1, 1, 4, 4, dtype=F64, generator=_gen(1), requires_grad=True)
    _gradcheck_params(lift, (x.detach(), smp))
    h = torch.rand(1, 2, 2, 4, 4, dtype=F64, generator=_gen(2))
    _gradcheck_params(gconv, (h, smp))
    assert torch.autograd.gradcheck(lambda z: gconv(lift(z, smp), smp), (x,))


def test_softmax_pooling_between_max_and_mean():
    """T log sum_j w_j exp(F_j / T): -> max as T -> 0, -> weighted mean as T -> inf, and
    never above the max (weights sum to 1)."""
    smp = GLPlus(2).sample(6, generator=_gen(), dtype=F64)
    x = torch.randn(2, 3, 6, 4, 4, dtype=F64, generator=_gen(1))
    mx, mean = pool_group(x, smp, "max"), pool_group(x, smp, "mean")
    cold = pool_group(x, smp, "softmax", temperature=1e-4)
    hot = pool_group(x, smp, "softmax", temperature=1e4)
    torch.testing.assert_close(cold, mx, rtol=0, atol=1e-3)
    torch.testing.assert_close(hot, mean, rtol=0, atol=1e-3)
    soft = pool_group(x, smp, "softmax")
    assert bool((soft <= mx + 1e-12).all()) and bool((soft >= mean - 1e-12).all())


def test_supersampled_kernel_is_the_footprint_mean():
    """S = 1 is point sampling; S = 3 is the mean of the windowed kernel at the 9 sub-pixel
    points h^{-1}(d + delta), computed here directly from the SIREN."""
    from equivariance.lie import kernel_offsets, subpixel_offsets

    G = GLPlus(2, log_scale=(-0.3, 0.3), max_stretch=0.4)
    smp = G.sample(3, generator=_gen(), dtype=F64)
    torch.manual_seed(0)
    one = LiftingConv(G, 2, 3, 5, hidden=8).double()
    three = LiftingConv(G, 2, 3, 5, hidden=8, supersample=3).double()
    three.load_state_dict(one.state_dict())
    hinv = torch.linalg.inv(smp.g)
    d = kernel_offsets(5, dtype=F64)
    inv_det = 1 / torch.linalg.det(smp.g)

    def direct(points):  # (k, k, 2) -> kernel (C_out·N, C_in, k, k)
        u = torch.einsum("nij,abj->nabi", hinv, points)
        win = torch.sigmoid(one.window_slope * (1 - u.norm(dim=-1)))
        psi = one.siren(u) * (win * inv_det[:, None, None] * one.gain)[..., None]
        return psi.reshape(3, 5, 5, 3, 2).permute(3, 0, 4, 1, 2).reshape(9, 2, 5, 5)

    with torch.no_grad():
        torch.testing.assert_close(one.kernel(smp), direct(d), rtol=0, atol=1e-13)
        sub = subpixel_offsets(3, dtype=F64) / 2  # pixel units -> offset units (c = 2)
        assert sub.shape == (9, 2) and float(sub.abs().max()) == pytest.approx(1 / 6)
        mean = torch.stack([direct(d + delta) for delta in sub]).mean(0)
        torch.testing.assert_close(three.kernel(smp), mean, rtol=0, atol=1e-13)


def test_samples_redrawn_in_training_fixed_in_eval():
    m = GroupCNN(GLPlus(2), channels=(2, 2), num_samples=4, hidden=8)
    x = torch.rand(2, 1, 8, 8, generator=_gen())
    m.train()
    assert not torch.equal(m.draw(x).g, m.draw(x).g)
    m.eval()
    assert torch.equal(m.draw(x).g, m.draw(x).g)
    assert torch.equal(m(x), m(x))
    assert m(x).dtype == torch.float32 and m(x).shape == (2, 10)
    m.eval_samples = 12
    assert m.draw(x).num == 12


def test_shape_errors_and_options():
    G = GLPlus(2)
    gconv = GroupConv(G, 2, 2, 3)
    smp = G.sample(3, dtype=torch.float32)
    with pytest.raises(ValueError, match="group samples"):
        gconv(torch.zeros(1, 2, 4, 5, 5), smp)
    with pytest.raises(KeyError, match="options"):
        pool_group(torch.zeros(1, 2, 3, 5, 5), smp, "median")
    with pytest.raises(ValueError, match="odd"):
        LiftingConv(G, 1, 1, 4)
    y = pool_group(torch.rand(1, 2, 3, 5, 5), smp, "max")
    assert y.shape == (1, 2, 5, 5)
    with pytest.raises(ValueError, match="temperature"):
        pool_group(torch.zeros(1, 2, 3, 5, 5), smp, "softmax", temperature=0.0)
    with pytest.raises(ValueError, match="supersample"):
        LiftingConv(G, 1, 1, 3, supersample=0)
    with pytest.raises(KeyError, match="options"):
        GroupCNN(G, channels=(2, 2), num_samples=3, spatial_pool="avg")(torch.rand(1, 1, 8, 8))
    with pytest.raises(ValueError, match="kernel sizes"):
        GroupCNN(G, channels=(2, 2), kernel_size=(5, 3, 3))
    m = GroupCNN(G, channels=(2, 2), kernel_size=(5, 3), num_samples=3, supersample=2)
    assert [c.kernel_size for c in m.convs] == [5, 3] and m(torch.rand(2, 1, 8, 8)).shape == (2, 10)
    assert PlainCNN(channels=(4, 8))(torch.rand(2, 1, 12, 12)).shape == (2, 10)
    assert F.relu is not None


def test_group_model_overfits_a_tiny_batch():
    """Bug check of the whole pipeline (kernel nets, lifting, group conv, norms, pooling,
    gradients): on a fixed sample set the affine model fits 32 digits exactly."""
    from neurosim.workloads import mnist5k

    data = mnist5k(n_train=32, n_test=10, flatten=False)
    x = F.avg_pool2d(F.pad(data.x_train.float(), (6,) * 4), 2)  # 20×20, as in the study
    y = data.y_train
    torch.manual_seed(0)
    G = GLPlus(2, log_scale=(np.log(0.8), np.log(1.25)), max_stretch=0.2, max_angle=np.pi / 4)
    m = GroupCNN(G, channels=(8, 8), num_samples=4, hidden=32)
    smp = G.sample(4, generator=_gen(0), dtype=torch.float32)
    opt = torch.optim.Adam(m.parameters(), lr=1e-2)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small convolutions: threading only adds overhead
    try:
        for _ in range(100):
            loss = F.cross_entropy(m(x, smp), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
    finally:
        torch.set_num_threads(threads)
    m.eval()
    assert float(loss.detach()) < 0.05
    assert float((m(x, smp).argmax(-1) == y).float().mean()) == 1.0

"""Frame averaging: exact E(n)/O(n) equivariance, permutations, degenerate clouds."""

from __future__ import annotations

import itertools
import math
import warnings

import pytest
import torch

from equivariance.backbones import GNNBackbone, MLPBackbone
from equivariance.frames import (
    GENERIC,
    NULL,
    PAIRS,
    DegenerateFrameWarning,
    FrameAveraging,
    pca_frame,
)
from equivariance.testing import (
    assert_equivariant,
    equivariance_error,
    euclidean_sampler,
    invariant_action,
    point_action,
    random_orthogonal,
    vector_action,
)

F64 = torch.float64
N = 5


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def _cloud(B=6, n=3, seed=0, dtype=F64):
    g = _gen(seed)
    x = torch.randn(B, N, n, generator=g, dtype=F64)
    v = torch.randn(B, N, n, generator=g, dtype=F64)
    q = torch.randint(0, 2, (B, N, 1), generator=g).to(F64) * 2 - 1
    return x.to(dtype), v.to(dtype), q.to(dtype)


def _backbone(kind, n, seed=0, dtype=F64, **kw):
    torch.manual_seed(seed)
    net = GNNBackbone(dim=n, hidden=16, layers=2, **kw) if kind == "gnn" else None
    if kind == "mlp":
        net = MLPBackbone(N, dim=n, hidden=32, layers=2, **kw)
    return net.to(dtype)


def _acts(group, output):
    translate = group in ("E", "SE")
    pts = point_action if translate else vector_action
    out = {"points": point_action, "vectors": vector_action, "scalars": invariant_action}[output]
    return translate, [pts, vector_action, invariant_action], out


# ------------------------------------------------------------------------ the frame


@pytest.mark.parametrize("group", ["O", "SO", "E", "SE"])
@pytest.mark.parametrize("n", [2, 3])
def test_pca_frame_elements(group, n):
    x, _, _ = _cloud(n=n)
    f = pca_frame(x, group)
    size = 2**n if group in ("O", "E") else 2 ** (n - 1)
    assert (f.kind == GENERIC).all()
    assert f.sizes().tolist() == [size] * x.shape[0]
    eye = torch.eye(n, dtype=F64).expand_as(f.rotation)
    torch.testing.assert_close(f.rotation.mT @ f.rotation, eye)
    det = torch.linalg.det(f.rotation)
    if group in ("SO", "SE"):
        torch.testing.assert_close(det, torch.ones_like(det))
    else:  # both cosets, equally often
        assert (det > 0).sum() == (det < 0).sum()
    sums = torch.zeros(x.shape[0], dtype=F64).index_add_(0, f.index, f.weight)
    torch.testing.assert_close(sums, torch.ones_like(sums))
    centroid = x.mean(1) if group in ("E", "SE") else torch.zeros_like(x[:, 0])
    torch.testing.assert_close(f.translation, centroid)
    # each axis is an eigenvector of the covariance (an independent check of the frame)
    P = x - f.translation[:, None]
    C = (P.mT @ P / N)[f.index]
    CQ, Q = C @ f.rotation, f.rotation
    lam = (Q * CQ).sum(-2, keepdim=True)
    torch.testing.assert_close(CQ, Q * lam)


def test_pca_frame_is_permutation_invariant():
    x, _, _ = _cloud()
    perm = torch.randperm(N, generator=_gen(3))
    f, fp = pca_frame(x), pca_frame(x[:, perm])
    torch.testing.assert_close(fp.translation, f.translation)
    # the same set of elements per cloud (matched up to order)
    for b in range(x.shape[0]):
        A, Bm = f.rotation[f.index == b], fp.rotation[fp.index == b]
        dist = (A[:, None] - Bm[None]).flatten(2).abs().amax(-1)
        assert dist.amin(1).max() < 1e-12 and dist.amin(0).max() < 1e-12


# ------------------------------------------------------------------------ exact equivariance


@pytest.mark.parametrize("backbone", ["gnn", "mlp"])
@pytest.mark.parametrize("n", [2, 3])
@pytest.mark.parametrize(
    ("group", "output"),
    [("E", "points"), ("E", "scalars"), ("SE", "points"), ("O", "vectors"), ("SO", "scalars")],
)
def test_frame_averaging_is_exactly_equivariant(backbone, n, group, output):
    x, v, q = _cloud(n=n, seed=1)
    fa = FrameAveraging(_backbone(backbone, n), group=group, dim=n, output=output)
    translate, act_in, act_out = _acts(group, output)
    inversion = None if group in ("O", "E") else False
    err = assert_equivariant(
        fa,
        (x, v, q),
        act_in,
        act_out,
        n_draws=4,
        generator=_gen(2),
        inversion=inversion,
        sampler=euclidean_sampler(n, translate=translate),
    )
    assert err < 1e-10
    # the plain backbone is not equivariant: the check has teeth
    plain = equivariance_error(
        fa.backbone,
        (x, v, q),
        act_in,
        point_action if output == "points" else vector_action,
        n_draws=2,
        generator=_gen(2),
        inversion=inversion,
        sampler=euclidean_sampler(n, translate=translate),
    )
    assert plain > 1e-3


@pytest.mark.parametrize("n", [2, 3])
def test_rotation_frames_do_not_cover_reflections(n):
    x, v, q = _cloud(n=n, seed=4)
    fa = FrameAveraging(_backbone("gnn", n), group="SE", dim=n)
    err = equivariance_error(
        fa,
        (x, v, q),
        [point_action, vector_action, invariant_action],
        point_action,
        n_draws=2,
        generator=_gen(5),
        inversion=True,
        sampler=euclidean_sampler(n),
    )
    assert err > 1e-3


def test_float32_equivariance():
    x, v, q = _cloud(seed=6, dtype=torch.float32)
    fa = FrameAveraging(_backbone("gnn", 3, dtype=torch.float32))
    assert_equivariant(
        fa,
        (x, v, q),
        [point_action, vector_action, invariant_action],
        point_action,
        n_draws=4,
        generator=_gen(7),
        sampler=euclidean_sampler(3),
    )


def test_vector_features_with_channels():
    x, v, q = _cloud(seed=8)
    vv = torch.stack([v, torch.randn_like(v)], 2)  # (B, N, 2, 3)
    fa = FrameAveraging(_backbone("gnn", 3, n_vectors=2))
    assert_equivariant(
        fa,
        (x, vv, q),
        [point_action, vector_action, invariant_action],
        point_action,
        n_draws=4,
        generator=_gen(9),
        sampler=euclidean_sampler(3),
    )


# ------------------------------------------------------------------------ permutations


def test_fa_gnn_stays_permutation_equivariant():
    x, v, q = _cloud(seed=10)
    fa = FrameAveraging(_backbone("gnn", 3))
    perm = torch.randperm(N, generator=_gen(11))
    y = fa(x, v, q)
    yp = fa(x[:, perm], v[:, perm], q[:, perm])
    assert (yp - y[:, perm]).abs().max() < 1e-10 * y.abs().max()
    # the MLP backbone is not, and frame averaging does not make it so
    mlp = FrameAveraging(_backbone("mlp", 3))
    ym = mlp(x, v, q)
    assert (mlp(x[:, perm], v[:, perm], q[:, perm]) - ym[:, perm]).abs().max() > 1e-3


# ------------------------------------------------------------------------ degenerate clouds


def _tetrahedron():
    return torch.tensor([[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1.0]], dtype=F64)


def _cube():
    return torch.tensor(list(itertools.product((-1.0, 1.0), repeat=3)), dtype=F64)


def _square3():
    return torch.tensor([[1, 0, 0], [0, 1, 0], [-1, 0, 0], [0, -1, 0.0]], dtype=F64)


def _collinear():
    d = torch.tensor([1.0, 2.0, -0.5], dtype=F64)
    return torch.tensor([0.0, 1.0, 2.5, -1.0, 0.3], dtype=F64)[:, None] * d + 0.7


DEGENERATE_3D = {
    "tetrahedron": (_tetrahedron, PAIRS),
    "cube": (_cube, PAIRS),
    "square": (_square3, PAIRS),
    "near-tetrahedron": (lambda: _tetrahedron() + 1e-7 * torch.randn(4, 3, dtype=F64), PAIRS),
    "collinear": (_collinear, NULL),
    "coincident": (lambda: torch.full((3, 3), 0.25, dtype=F64), NULL),
}


def _fa_for(x, output, n=3, tol=1e-4):
    torch.manual_seed(12)
    net = GNNBackbone(dim=n, n_vectors=0, n_scalars=0, hidden=16, layers=2).to(F64)
    return FrameAveraging(net, group="E", dim=n, output=output, tol=tol)


def _error(fa, x, act_out, n=3, seed=13):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DegenerateFrameWarning)
        return equivariance_error(
            fa, (x,), point_action, act_out, n_draws=6, generator=_gen(seed),
            sampler=euclidean_sampler(n),
        )  # fmt: skip


@pytest.mark.parametrize("name", list(DEGENERATE_3D))
@pytest.mark.parametrize("output", ["points", "scalars"])
def test_degenerate_clouds_warn_and_stay_exactly_equivariant(name, output):
    make, kind = DEGENERATE_3D[name]
    x = make()[None]
    fa = _fa_for(x, output)
    with pytest.warns(DegenerateFrameWarning):
        y = fa(x)
    assert torch.isfinite(y).all()
    assert int(pca_frame(x, warn=False).kind) == kind
    act = point_action if output == "points" else invariant_action
    assert _error(fa, x, act) < 1e-10


@pytest.mark.parametrize("name", ["tetrahedron", "cube", "square"])
def test_without_the_fallback_symmetric_clouds_lose_equivariance(name):
    """tol = 0 disables the degeneracy handling: the plain PCA frame with whatever eigenbasis
    eigh returns is visibly not equivariant on these clouds (what the fallback fixes)."""
    x = DEGENERATE_3D[name][0]()[None]
    fa = _fa_for(x, "points", tol=0.0)
    assert int(pca_frame(x, tol=0.0).kind) == GENERIC
    assert _error(fa, x, point_action) > 1e-4


def test_collinear_outputs_lie_on_the_line():
    """An E(3)-equivariant map sends a collinear cloud to points on the same line
    (its stabilizer fixes exactly that line); the sign average guarantees it."""
    x = _collinear()[None]
    with pytest.warns(DegenerateFrameWarning):
        y = _fa_for(x, "points")(x)
    d = torch.tensor([1.0, 2.0, -0.5], dtype=F64)
    d = d / d.norm()
    off = (y - 0.7) - ((y - 0.7) @ d)[..., None] * d
    assert off.abs().max() < 1e-12


def test_nearly_collinear_cloud_is_approximately_equivariant():
    """Width 1e-9 relative: inside the null tolerance, error of the order of the width."""
    x = _collinear() + 1e-9 * torch.randn(5, 3, dtype=F64, generator=_gen(14))
    fa = _fa_for(x[None], "points")
    assert int(pca_frame(x[None], warn=False).kind) == NULL
    assert _error(fa, x[None], point_action) < 1e-6


@pytest.mark.parametrize(
    ("name", "x", "kind"),
    [
        ("square", torch.tensor([[1, 0], [0, 1], [-1, 0], [0, -1.0]], dtype=F64), PAIRS),
        ("pentagon", None, PAIRS),
        ("coincident", torch.ones(4, 2, dtype=F64), NULL),
    ],
)
def test_degenerate_clouds_2d(name, x, kind):
    if x is None:
        a = 2 * math.pi * torch.arange(5, dtype=F64) / 5
        x = torch.stack([a.cos(), a.sin()], -1)
    x = x[None]
    assert int(pca_frame(x, warn=False).kind) == kind
    fa = _fa_for(x, "points", n=2)
    with pytest.warns(DegenerateFrameWarning):
        fa(x)
    assert _error(fa, x, point_action, n=2) < 1e-10


def test_degenerate_cloud_does_not_change_its_batch_neighbours():
    x, _, _ = _cloud(B=3, seed=15)
    x = x[:, :4]
    fa = _fa_for(x, "points")
    mixed = torch.cat([x, _tetrahedron()[None]])
    with pytest.warns(DegenerateFrameWarning):
        ym = fa(mixed)
    torch.testing.assert_close(ym[:3], fa(x), rtol=0, atol=1e-14)
    assert pca_frame(mixed, warn=False).kind.tolist() == [GENERIC] * 3 + [PAIRS]


# ------------------------------------------------------------------------ gradients, errors


def test_gradients_are_finite_for_generic_and_degenerate_clouds():
    x, v, q = _cloud(B=3, seed=16)
    x = torch.cat([x[:, :4], _tetrahedron()[None], _collinear()[None, :4]])
    v, q = torch.cat([v[:, :4]] * 2)[:5], torch.cat([q[:, :4]] * 2)[:5]
    x = x.requires_grad_(True)
    fa = FrameAveraging(_backbone("gnn", 3))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DegenerateFrameWarning)
        loss = fa(x, v, q).square().sum()
    loss.backward()
    assert torch.isfinite(x.grad).all()
    assert all(torch.isfinite(p.grad).all() for p in fa.parameters())


def test_input_gradient_matches_finite_differences_on_generic_clouds():
    x, v, q = _cloud(B=2, seed=17)
    fa = FrameAveraging(_backbone("gnn", 3))
    torch.autograd.gradcheck(lambda x: fa(x, v, q), (x.requires_grad_(True),))


def test_error_paths():
    net = _backbone("gnn", 3)
    with pytest.raises(KeyError, match="options"):
        FrameAveraging(net, group="GL")
    with pytest.raises(ValueError, match="2-D or 3-D"):
        FrameAveraging(net, dim=4)
    with pytest.raises(ValueError, match="translations"):
        FrameAveraging(net, group="O", output="points")
    with pytest.raises(KeyError, match="options"):
        FrameAveraging(net, output="tensor")
    with pytest.raises(ValueError, match=r"\(B, N, n\)"):
        pca_frame(torch.zeros(5, 3))


@pytest.mark.parametrize("n", [2, 3, 4])
def test_random_orthogonal(n):
    g = _gen(18)
    for inv in (False, True):
        Q = random_orthogonal(n, g, inversion=inv)
        torch.testing.assert_close(Q @ Q.T, torch.eye(n, dtype=F64))
        assert math.copysign(1, float(torch.linalg.det(Q))) == (-1 if inv else 1)
    mean = torch.stack([random_orthogonal(n, g) for _ in range(500)]).mean(0)
    assert mean.abs().max() < 0.15  # E[Q] = 0 for Haar measure on SO(n), n >= 2

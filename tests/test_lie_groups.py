"""GL⁺(n), SL(n), SO(n) in polar coordinates: axioms, round trips, Haar density and sampler."""

from __future__ import annotations

import math

import pytest
import torch
from scipy.stats import ks_2samp, kstest

from equivariance.lie import (
    SL,
    SO,
    GLPlus,
    GroupSamples,
    log_haar_density,
    rotation2d,
    sample_so,
    sym_exp,
    sym_log,
)

F64 = torch.float64
GROUPS = {
    "GL+(2)": lambda: GLPlus(2, log_scale=(-0.7, 0.7), max_stretch=1.0),
    "SL(2)": lambda: SL(2, max_stretch=1.0),
    "SO(2)": lambda: SO(2),
    "GL+(3)": lambda: GLPlus(3, log_scale=(-0.5, 0.5), max_stretch=0.8),
    "SL(3)": lambda: SL(3, max_stretch=0.8),
    "SO(3)": lambda: SO(3),
}


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def _elements(G, num=64, seed=0) -> torch.Tensor:
    """Group elements spread beyond the sampling truncation (random coordinates)."""
    gen = _gen(seed)
    k = sample_so(num, G.n, generator=gen)
    if isinstance(G, SO):
        return k
    a = torch.randn(num, G.n, G.n, generator=gen, dtype=F64)
    s = 0.4 * (a + a.transpose(-1, -2))  # eigenvalues within about ±2
    if isinstance(G, SL):
        s = s - torch.eye(G.n, dtype=F64) * s.diagonal(dim1=-2, dim2=-1).mean(-1)[:, None, None]
    return k @ sym_exp(s)


@pytest.mark.parametrize("name", list(GROUPS))
def test_decomposition_round_trip(name):
    G = GROUPS[name]()
    g = _elements(G)
    k, s = G.decompose(g)
    eye = torch.eye(G.n, dtype=F64).expand_as(k)
    torch.testing.assert_close(k.transpose(-1, -2) @ k, eye, rtol=0, atol=1e-10)
    one = torch.ones(len(g), dtype=F64)
    torch.testing.assert_close(torch.linalg.det(k), one, rtol=0, atol=1e-10)
    torch.testing.assert_close(s, s.transpose(-1, -2), rtol=0, atol=0)
    torch.testing.assert_close(G.compose(k, s), g, rtol=0, atol=1e-10)
    k2, s2 = G.decompose(G.compose(k, s))  # (k, s) -> g -> (k, s)
    torch.testing.assert_close(k2, k, rtol=0, atol=1e-10)
    torch.testing.assert_close(s2, s, rtol=0, atol=1e-10)
    if isinstance(G, SL):
        tr = s.diagonal(dim1=-2, dim2=-1).sum(-1)
        torch.testing.assert_close(tr, torch.zeros_like(tr), rtol=0, atol=1e-10)


@pytest.mark.parametrize("name", list(GROUPS))
def test_group_axioms(name):
    G = GROUPS[name]()
    a, b, c = (_elements(G, 32, seed) for seed in (1, 2, 3))
    e = G.identity().expand_as(a)
    P = G.product
    torch.testing.assert_close(P(P(a, b), c), P(a, P(b, c)), rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(P(a, e), a, rtol=0, atol=1e-12)
    torch.testing.assert_close(P(e, a), a, rtol=0, atol=1e-12)
    inv = G.inverse(a)
    torch.testing.assert_close(P(a, inv), e, rtol=0, atol=1e-10)
    torch.testing.assert_close(P(inv, a), e, rtol=0, atol=1e-10)
    torch.testing.assert_close(inv, torch.linalg.inv(a), rtol=1e-10, atol=1e-10)
    assert bool(G.contains(P(a, b)).all()) and bool(G.contains(inv).all())
    if not isinstance(G, GLPlus):  # a scaled element leaves SL and SO
        assert not bool(G.contains(2.0 * a).any())


def test_sym_exp_log_inverse():
    a = torch.randn(50, 3, 3, generator=_gen(), dtype=F64)
    s = a + a.transpose(-1, -2)
    torch.testing.assert_close(sym_log(sym_exp(s)), s, rtol=0, atol=1e-10)
    torch.testing.assert_close(sym_exp(s), torch.linalg.matrix_exp(s), rtol=1e-10, atol=1e-10)


def _skew(a, n):
    A = torch.zeros(n, n, dtype=F64)
    i, j = torch.triu_indices(n, n, 1)
    A[i, j], A[j, i] = a, -a
    return A


def _sym(v, n):
    S = torch.zeros(n, n, dtype=F64)
    i, j = torch.triu_indices(n, n)
    S[i, j], S[j, i] = v, v
    return S


@pytest.mark.parametrize("n", [2, 3])
def test_haar_density_matches_jacobian(n):
    """|det J| · |det g|^{-n} of (A, s) -> k0 e^A e^s at A = 0 is ∝ exp(log_haar_density)."""
    gen = _gen(n)
    na = n * (n - 1) // 2
    ratios = []
    for _ in range(6):
        k0 = torch.linalg.matrix_exp(_skew(torch.randn(na, generator=gen, dtype=F64), n))
        sv = 0.8 * torch.randn(n * (n + 1) // 2, generator=gen, dtype=F64)

        def f(x, k0=k0):
            e_a = torch.linalg.matrix_exp(_skew(x[:na], n))
            return (k0 @ e_a @ torch.linalg.matrix_exp(_sym(x[na:], n))).flatten()

        x0 = torch.cat([torch.zeros(na, dtype=F64), sv])
        J = torch.autograd.functional.jacobian(f, x0)
        haar = J.det().abs() * f(x0).reshape(n, n).det().abs() ** (-n)
        ratios.append(haar / log_haar_density(torch.linalg.eigvalsh(_sym(sv, n))).exp())
    ratios = torch.stack(ratios)
    torch.testing.assert_close(ratios / ratios[0], torch.ones_like(ratios), rtol=1e-10, atol=0)


def _stretch(g: torch.Tensor) -> torch.Tensor:
    """Half the log ratio of extreme singular values (left-translation sub-additive)."""
    sv = torch.linalg.svdvals(g)
    return 0.5 * (sv[..., 0].log() - sv[..., -1].log())


def _wrong_sl2(num, R, gen):
    """Deliberately wrong: traceless part with radius uniform on [0, R] (not ∝ sinh 2r)."""
    r = R * torch.rand(num, generator=gen, dtype=F64)
    phi = 2 * math.pi * torch.rand(num, generator=gen, dtype=F64)
    c, s = r * torch.cos(phi), r * torch.sin(phi)
    s0 = torch.stack([torch.stack([c, s], -1), torch.stack([s, -c], -1)], -2)
    k = sample_so(num, 2, generator=gen)
    return GroupSamples(k @ sym_exp(s0), k, s0, torch.full((num,), 1 / num, dtype=F64))


def _translation_pvalues(sampler, G, R, r0, num=6000, seed=0):
    """KS p-values: samples X vs left-translated g0·X', both restricted to r <= R - r0.

    The truncated Haar measure is :math:`\\mu|_T`, :math:`T = \\{r \\le R\\}`; its left
    translate is :math:`\\mu|_{g_0 T}` and :math:`\\{r \\le R - r_0\\} \\subseteq T \\cap g_0 T`
    (:math:`r(g_0 g) \\le r(g_0) + r(g)`), so for a correct sampler both restricted
    laws are :math:`\\mu` restricted to that set. Importance weights are honoured by
    multinomial resampling. Statistics: the stretch r and the entry g[0, 0].
    """
    gen = _gen(seed)

    def draw():
        smp = sampler(num, gen)
        if not torch.allclose(smp.weight, smp.weight[:1]):
            idx = torch.multinomial(smp.weight, num // 4, replacement=True, generator=gen)
            return smp.g[idx]
        return smp.g

    th = torch.tensor(0.7, dtype=F64)
    n = G.n
    d = torch.ones(n, dtype=F64)
    d[0], d[-1] = math.exp(r0), math.exp(-r0)
    rot = torch.eye(n, dtype=F64)
    rot[:2, :2] = rotation2d(th)
    g0 = rot @ torch.diag(d) @ rot.T @ rot  # stretch exactly r0, not diagonal
    x, y = draw(), g0 @ draw()
    keep_x, keep_y = _stretch(x) <= R - r0, _stretch(y) <= R - r0
    x, y = x[keep_x], y[keep_y]
    return [ks_2samp(_stretch(x), _stretch(y)).pvalue, ks_2samp(x[:, 0, 0], y[:, 0, 0]).pvalue]


@pytest.mark.parametrize("name", ["SL(2)", "GL+(2)"])
def test_haar_sampler_left_invariance(name):
    R = 1.5
    G = SL(2, max_stretch=R) if name == "SL(2)" else GLPlus(2, log_scale=(-9, 9), max_stretch=R)
    p = _translation_pvalues(lambda m, gen: G.sample(m, generator=gen), G, R, 0.6)
    assert min(p) > 0.01 / len(p), p


def test_wrong_density_fails_left_invariance():
    R = 1.5
    p = _translation_pvalues(lambda m, gen: _wrong_sl2(m, R, gen), SL(2), R, 0.6)
    assert min(p) < 1e-6, p


def test_importance_weighted_sampler_sl3_left_invariance():
    R = 1.0
    G = SL(3, max_stretch=R)
    p = _translation_pvalues(lambda m, gen: G.sample(m, generator=gen), G, R, 0.4, num=40000)
    assert min(p) > 0.01 / len(p), p

    # the same proposal without its weights is not Haar and is caught
    def unweighted(m, gen):
        smp = G.sample(m, generator=gen)
        ok = smp.weight > 0
        w = ok.to(F64) / ok.sum()
        return GroupSamples(smp.g, smp.k, smp.s, w)

    p_bad = _translation_pvalues(unweighted, G, R, 0.4, num=40000)
    assert min(p_bad) < 1e-6, p_bad


def test_sampler_truncation_dtype_seed_and_orbit():
    G = GLPlus(2, log_scale=(-0.2, 0.3), max_stretch=0.4)
    h = G.sample(400, generator=_gen(3), dtype=torch.float32)
    assert h.g.dtype == torch.float32 and h.weight.dtype == torch.float32
    k, s = G.decompose(h.g.double())
    sigma = s.diagonal(dim1=-2, dim2=-1).mean(-1)
    assert float(sigma.min()) >= -0.2 - 1e-5 and float(sigma.max()) <= 0.3 + 1e-5
    assert float(_stretch(h.g.double()).max()) <= 0.4 + 1e-5
    torch.testing.assert_close(h.weight.sum(), torch.tensor(1.0))
    h2 = G.sample(400, generator=_gen(3), dtype=torch.float32)
    assert torch.equal(h.g, h2.g)
    # orbit = 4: left-multiplying by the 90° rotation permutes the set
    o = G.sample(12, generator=_gen(4), orbit=4)
    R90 = torch.tensor([[0.0, -1.0], [1.0, 0.0]], dtype=F64)
    moved = R90 @ o.g
    dist = (moved[:, None] - o.g[None]).abs().amax((-2, -1))
    assert float(dist.min(1).values.max()) < 1e-12
    perm = dist.argmin(1)
    assert sorted(perm.tolist()) == list(range(12))
    torch.testing.assert_close(o.weight[perm], o.weight)
    with pytest.raises(ValueError, match="multiple of orbit"):
        G.sample(10, orbit=4)


def test_features_are_smooth_global_coordinates():
    G = GLPlus(2)
    g = _elements(G, 16)
    f = G.features(g)
    assert f.shape == (16, G.n_features) == (16, 5)
    k, s = G.decompose(g)
    torch.testing.assert_close(f[:, :2], k[:, :, 0])  # (cos θ, sin θ)
    assert SL(2).n_features == 4 and SO(2).n_features == 2 and GLPlus(3).n_features == 15


@pytest.mark.parametrize("name", ["SO(2)", "SL(2)", "GL+(2)"])
def test_rotation_truncation_is_stratified_uniform_on_the_arc(name):
    """``max_angle`` α: θ_j in the j-th of N equal strata of [-α, α] (stratified uniform,
    the Haar measure restricted to the arc), s drawn as without truncation."""
    a = 0.6
    G = {
        "SO(2)": lambda: SO(2, max_angle=a),
        "SL(2)": lambda: SL(2, max_stretch=0.4, max_angle=a),
        "GL+(2)": lambda: GLPlus(2, log_scale=(-0.2, 0.3), max_stretch=0.4, max_angle=a),
    }[name]()
    num, draws = 8, 200
    gen = _gen(11)
    theta = []
    for _ in range(draws):
        k = G.sample(num, generator=gen).k
        theta.append(torch.atan2(k[:, 1, 0], k[:, 0, 0]))
    theta = torch.stack(theta)  # (draws, N)
    h = G.sample(num, generator=gen)
    assert G.contains(h.g).all()
    torch.testing.assert_close(G.decompose(h.g)[0], h.k, rtol=0, atol=1e-12)
    assert float(theta.abs().max()) <= a + 1e-12
    stratum = ((theta + a) / (2 * a / num)).floor()
    assert torch.equal(stratum, torch.arange(num, dtype=F64).expand(draws, num))
    # pooled over draws the angles are uniform on the arc
    u = ((theta.flatten() + a) / (2 * a)).numpy()
    assert kstest(u, "uniform").pvalue > 0.01
    if name != "SO(2)":  # the symmetric part keeps its (truncated Haar) law
        _, s = G.decompose(G.sample(2000, generator=_gen(12)).g)
        _, s_ref = G.decompose(type(G)(2, **_kwargs(G)).sample(2000, generator=_gen(13)).g)
        assert ks_2samp(_stretch_of_s(s), _stretch_of_s(s_ref)).pvalue > 0.01
    with pytest.raises(ValueError, match="leaves the arc"):
        G.sample(8, orbit=4)
    assert "max_angle=0.6" in repr(G)


def _kwargs(G):
    """Constructor arguments of ``G`` without its rotation truncation."""
    kw = {"max_stretch": G.max_stretch}
    if isinstance(G, GLPlus):
        kw["log_scale"] = G.log_scale
    return kw


def _stretch_of_s(s):
    ev = torch.linalg.eigvalsh(s)
    return (ev[:, -1] - ev[:, 0]).numpy() / 2


@pytest.mark.parametrize("bad", [0.0, -0.1, 4.0])
def test_rotation_truncation_validation(bad):
    with pytest.raises(ValueError, match="max_angle"):
        SO(2, max_angle=bad)
    with pytest.raises(ValueError, match="max_angle"):
        GLPlus(3, max_angle=0.5)

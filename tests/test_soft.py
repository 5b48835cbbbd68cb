"""Soft-equivariance regularizers: zero on equivariant maps, monotone in a planted
violation, an orthogonal projector whose range is the equivariant subspace, unbiased
Monte Carlo estimators, and the Lie estimator as their small-angle limit."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from conftest import _gen, _z3

from equivariance.soft import (
    LevelEstimate,
    Representation,
    SoftEquivariance,
    SymmetryType,
    available_symmetries,
    confirmed_residuals,
    equivariance_penalty,
    equivariance_residuals,
    equivariant_basis,
    equivariant_projector,
    get_symmetry,
    register_symmetry,
    weight_penalty,
)
from equivariance.strength import FixedStrength, KimRescale

N_POINTS = 4
TYPES = ("so2", "so3", "translation", "scaling", "reflection", "permutation")


def _dim(name: str) -> int:
    return 2 if name == "so2" else 3


def _sym(name: str, output: str = "invariant"):
    opts = {"n_points": N_POINTS} if name == "permutation" else {}
    return get_symmetry(name, output=output, **opts)


def _invariant_model(x):
    """Invariant under all six types: a function of the normalized pairwise distances."""
    d2 = (x[:, :, None] - x[:, None]).pow(2).sum(-1)
    d = (d2 + 1e-300).sqrt()
    u = d / d2.mean((-1, -2)).sqrt()[:, None, None]
    return torch.stack([torch.sin(u).sum((-1, -2)), u.pow(3).sum((-1, -2))], -1)


def _equivariant_model(x):
    """Equivariant (points → points) under all six types: a similarity-covariant update."""
    c = x.mean(1, keepdim=True)
    r = x - c
    d2 = (x[:, :, None] - x[:, None]).pow(2).sum(-1)
    scale = d2.mean((-1, -2)).sqrt()[:, None, None]
    w = torch.tanh(d2 / scale**2)  # invariant pair weights
    return x + torch.einsum("bij,bjd->bid", w, r) / N_POINTS


def _breaking(name: str):
    """A term invariant under every type but ``name`` (None where none is simple)."""
    d2 = lambda x: (x[:, :, None] - x[:, None]).pow(2).sum(-1)  # noqa: E731
    rms = lambda x: d2(x).mean((-1, -2)).sqrt()  # noqa: E731
    return {
        "so2": lambda x: (x[:, 0] - x[:, 1])[:, 0] ** 2 / d2(x)[:, 0, 1],
        "so3": lambda x: (x[:, 0] - x[:, 1])[:, 2] ** 2 / d2(x)[:, 0, 1],
        "translation": lambda x: x.mean(1).pow(2).sum(-1) / rms(x) ** 2,
        "scaling": lambda x: torch.log(rms(x)),
        "reflection": None,
        "permutation": lambda x: d2(x)[:, 0, 1] / rms(x) ** 2,
    }[name]


def _x(name: str, batch: int = 16, seed: int = 0) -> torch.Tensor:
    return torch.randn(batch, N_POINTS, _dim(name), generator=_gen(seed), dtype=torch.float64)


def test_registry_lists_options_and_accepts_user_types():
    assert set(TYPES) <= set(available_symmetries())
    with pytest.raises(KeyError, match="so3"):
        get_symmetry("lorentz")
    with pytest.raises(ValueError, match="output"):
        get_symmetry("so3", output="sideways")
    # a user type: cyclic shifts of a 1-D signal, invariant output
    shift = SymmetryType(
        name="cyclic",
        act_in=lambda k, x: torch.stack([torch.roll(r, int(s)) for r, s in zip(x, k, strict=True)]),
        act_out=lambda k, y: y,
        sample=lambda n, gen, dtype: torch.randint(0, 8, (n,), generator=gen),
    )
    register_symmetry("test_cyclic", shift, overwrite=True)
    assert get_symmetry("test_cyclic") is shift
    with pytest.raises(ValueError, match="already registered"):
        register_symmetry("test_cyclic", shift)
    x = torch.randn(5, 8, dtype=torch.float64, generator=_gen())
    assert float(equivariance_penalty(lambda z: z.sum(-1, keepdim=True), x, shift)) < 1e-28
    assert float(equivariance_penalty(lambda z: z[:, :1], x, shift, n_samples=8)) > 1e-3


@pytest.mark.parametrize("name", TYPES)
@pytest.mark.parametrize("output", ["invariant", "equivariant"])
def test_function_penalty_zero_for_exactly_equivariant_models(name, output):
    sym = _sym(name, output)
    f = _invariant_model if output == "invariant" else _equivariant_model
    x = _x(name)
    ests = ["mc", "lie"] if sym.has_lie_algebra else ["mc"]
    for est in ests:
        v = equivariance_penalty(f, x, sym, n_samples=4, generator=_gen(1), estimator=est)
        assert float(v) < 1e-10, (est, float(v))


@pytest.mark.parametrize("name", [t for t in TYPES if t != "reflection"])
def test_function_penalty_grows_with_planted_violation(name):
    sym, b = _sym(name), _breaking(name)
    x = _x(name, batch=64)
    ests = ["mc", "lie"] if sym.has_lie_algebra else ["mc"]
    for est in ests:
        vals = []
        for eps in (0.0, 0.01, 0.1, 1.0):
            f = lambda z, e=eps: _invariant_model(z) + e * b(z)[:, None]  # noqa: E731
            vals.append(
                float(
                    equivariance_penalty(f, x, sym, n_samples=8, generator=_gen(2), estimator=est)
                )
            )
        assert vals[0] < 1e-10, (est, vals)
        assert all(a < c for a, c in itertools.pairwise(vals)), (est, vals)
        # exactly quadratic in ε (same draws): R(ε) = ε² R(1)
        assert vals[2] == pytest.approx(1e-2 * vals[3], rel=1e-8)


def test_reflection_penalty_grows_with_planted_violation():
    sym, x = _sym("reflection"), _x("reflection", batch=64)
    vals = [
        float(
            equivariance_penalty(
                lambda z, e=e: _invariant_model(z) + e * z[:, :, 0].sum(-1, keepdim=True),
                x,
                sym,
                n_samples=8,
                generator=_gen(3),
            )
        )
        for e in (0.0, 0.01, 0.1, 1.0)
    ]
    assert vals[0] < 1e-10 and all(a < c for a, c in itertools.pairwise(vals))


# ------------------------------------------------------------------ weight space


def _rep(name: str, kind: str, n_points: int = 2) -> Representation:
    return _sym(name).representation(n_points, _dim(name), kind)


@pytest.mark.parametrize("name", TYPES)
@pytest.mark.parametrize("kinds", [("equivariant", "equivariant"), ("equivariant", "invariant")])
def test_projector_is_orthogonal_and_weight_penalty_vanishes_on_its_range(name, kinds):
    rin, rout = _rep(name, kinds[0]), _rep(name, kinds[1])
    P = equivariant_projector(rin, rout)
    torch.testing.assert_close(P @ P, P, atol=1e-10, rtol=0)
    torch.testing.assert_close(P, P.T, atol=1e-10, rtol=0)
    Q = equivariant_basis(rin, rout)
    shape = (rout.dim, rin.dim)
    gen = _gen(4)
    W0 = (Q @ torch.randn(Q.shape[1], generator=gen, dtype=torch.float64)).reshape(shape)
    assert float(weight_penalty(W0, Q)) < 1e-10
    # every basis map satisfies the group constraints (range ⊆ equivariant subspace)
    for w in Q.T:
        W = w.reshape(shape)
        for Ai, Ao in zip(rin.lie, rout.lie, strict=True):
            assert float((Ao @ W - W @ Ai).abs().max()) < 1e-10
        for Hi, Ho in zip(rin.discrete, rout.discrete, strict=True):
            assert float((Ho @ W @ torch.linalg.inv(Hi) - W).abs().max()) < 1e-10
    # monotone in a planted violation orthogonal to the range
    V = torch.randn(shape, generator=gen, dtype=torch.float64)
    V = V - (P @ V.reshape(-1)).reshape(shape)
    vals = [float(weight_penalty(W0 + e * V, Q)) for e in (0.0, 0.1, 1.0, 3.0)]
    if float(V.norm()) > 1e-8:
        assert all(a < c for a, c in itertools.pairwise(vals)), vals
        assert vals[2] == pytest.approx(0.5 * float(V.pow(2).sum()), rel=1e-10)


def _closure(gens: list[torch.Tensor], limit: int = 200) -> list[torch.Tensor]:
    """All products of the generators (a finite matrix group), by breadth-first search."""
    key = lambda M: tuple(torch.round(M * 1e6).long().reshape(-1).tolist())  # noqa: E731
    eye = torch.eye(gens[0].shape[0], dtype=torch.float64)
    seen, frontier = {key(eye): eye}, [eye]
    while frontier:
        new = []
        for M in frontier:
            for G in gens:
                N = G @ M
                if key(N) not in seen:
                    seen[key(N)] = N
                    new.append(N)
        frontier = new
        assert len(seen) <= limit
    return list(seen.values())


def _reynolds(elems_in, elems_out) -> torch.Tensor:
    """Group average of ρ_out(g) ⊗ ρ_in(g)^{-T} over a finite group (the Reynolds operator)."""
    return sum(
        torch.kron(Go, torch.linalg.inv(Gi).T.contiguous())
        for Gi, Go in zip(elems_in, elems_out, strict=True)
    ) / len(elems_in)


def _rot(axis: torch.Tensor, angle: float) -> torch.Tensor:
    a = axis / axis.norm()
    K = torch.tensor([[0, -a[2], a[1]], [a[2], 0, -a[0]], [-a[1], a[0], 0]], dtype=torch.float64)
    return torch.linalg.matrix_exp(angle * K)


@pytest.mark.parametrize(
    "case", ["permutation", "reflection+permutation", "so2_cyclic", "so3_icosahedral"]
)
def test_projector_equals_reynolds_operator_of_an_independent_group(case):
    """P_G from generators agrees with group averaging over an independently built group.

    SO(2) and SO(3) are replaced by finite subgroups with the same invariants on these
    representations: C_12 for SO(2) on V⊗V (frequencies ≤ 2), the icosahedral group I
    (60 elements) for SO(3) on V⊗V (l ≤ 2; I has no invariant harmonics for 1 ≤ l ≤ 5).
    """
    n = 3
    if case == "permutation":
        rin = rout = _rep("permutation", "equivariant", n)
        elems = [
            torch.kron(torch.eye(n, dtype=torch.float64)[list(p)], torch.eye(3))
            for p in itertools.permutations(range(n))
        ]
        ein = eout = elems
    elif case == "reflection+permutation":
        a, b = _rep("reflection", "equivariant", n), _rep("permutation", "equivariant", n)
        rin = rout = Representation(torch.zeros(0, 9, 9), torch.cat([a.discrete, b.discrete]))
        ein = eout = _closure(list(rin.discrete))
        assert len(ein) == 12
    elif case == "so2_cyclic":
        rin = rout = _rep("so2", "equivariant", n)
        g = torch.kron(
            torch.eye(n, dtype=torch.float64),
            torch.linalg.matrix_exp(
                2 * math.pi / 12 * torch.tensor([[0.0, -1.0], [1.0, 0.0]], dtype=torch.float64)
            ),
        )
        ein = eout = _closure([g])
        assert len(ein) == 12
    else:
        rin = rout = _rep("so3", "equivariant", n)
        phi = (1 + 5**0.5) / 2
        g5 = _rot(torch.tensor([0.0, 1.0, phi], dtype=torch.float64), 2 * math.pi / 5)
        g3 = _rot(torch.tensor([1.0, 1.0, 1.0], dtype=torch.float64), 2 * math.pi / 3)
        I3 = _closure([g5, g3])
        assert len(I3) == 60
        ein = eout = [torch.kron(torch.eye(n, dtype=torch.float64), R) for R in I3]
    P = equivariant_projector(rin, rout)
    R = _reynolds(ein, eout)
    torch.testing.assert_close(P, R, atol=1e-10, rtol=0)


def test_so3_vector_maps_are_multiples_of_identity_and_scalars_vanish():
    Q = equivariant_basis(_rep("so3", "equivariant", 1), _rep("so3", "equivariant", 1))
    assert Q.shape[1] == 1
    torch.testing.assert_close(
        (Q @ Q.T) @ torch.eye(3, dtype=torch.float64).reshape(-1),
        torch.eye(3, dtype=torch.float64).reshape(-1),
    )
    Q0 = equivariant_basis(_rep("so3", "equivariant", 1), _rep("so3", "invariant", 1))
    assert Q0.shape[1] == 0  # no invariant linear functional of a vector


def test_weight_penalty_is_differentiable():
    rin, rout = _rep("so3", "equivariant"), _rep("so3", "equivariant")
    Q = equivariant_basis(rin, rout)
    W = torch.randn(rout.dim, rin.dim, dtype=torch.float64, generator=_gen(), requires_grad=True)
    weight_penalty(W, Q).backward()
    P = Q @ Q.T
    expected = (W - (P @ W.reshape(-1)).reshape(W.shape)).detach()
    torch.testing.assert_close(W.grad, expected)


# ------------------------------------------------------------------ estimators


def _linear_model(name: str, seed: int = 5):
    d = _dim(name)
    w = torch.randn(N_POINTS * d, 2, generator=_gen(seed), dtype=torch.float64)
    return lambda x: torch.tanh(x.reshape(x.shape[0], -1) @ w)


@pytest.mark.parametrize("name", ["so3", "translation", "scaling", "permutation"])
@pytest.mark.parametrize("estimator", ["mc", "lie"])
def test_estimators_are_unbiased(name, estimator):
    sym = _sym(name)
    if estimator == "lie" and not sym.has_lie_algebra:
        pytest.skip("no Lie algebra")
    f, x = _linear_model(name), _x(name, batch=8)
    small = torch.stack(
        [
            equivariance_penalty(
                f, x, sym, n_samples=2, generator=_gen(100 + k), estimator=estimator
            )
            for k in range(100)
        ]
    )
    big = equivariance_residuals(f, x, sym, n_samples=2000, generator=_gen(7), estimator=estimator)
    se_small = float(small.std()) / math.sqrt(small.numel())
    se_big = float(big.mean(-1).std()) / math.sqrt(big.shape[0])
    _z3(float(small.mean()), float(big.mean()), math.hypot(se_small, se_big))


@pytest.mark.parametrize("name", ["so2", "so3", "translation", "scaling"])
def test_lie_estimator_is_the_small_angle_limit_of_monte_carlo(name):
    sym, f, x = _sym(name), _linear_model(name), _x(name, batch=8)
    lie = float(equivariance_penalty(f, x, sym, n_samples=16, generator=_gen(9), estimator="lie"))
    errs = []
    for t in (1e-2, 1e-3, 1e-4):
        mc = float(equivariance_penalty(f, x, sym, n_samples=16, generator=_gen(9), scale=t))
        errs.append(abs(mc - lie) / lie)
    assert errs[-1] < 1e-3, errs
    assert errs[0] > errs[1] > errs[2] or errs[0] < 1e-10  # converges (translations: exact)


def test_lie_estimator_gradients_flow_to_parameters():
    lin = torch.nn.Linear(3 * N_POINTS, 1).double()
    sym, x = _sym("so3"), _x("so3")
    v = equivariance_penalty(lambda z: lin(z.reshape(z.shape[0], -1)), x, sym, estimator="lie")
    v.backward()
    assert float(lin.weight.grad.norm()) > 0


def test_soft_equivariance_combines_penalties_with_the_shared_tuner():
    syms = {k: _sym(k) for k in ("so3", "scaling")}
    with pytest.raises(KeyError, match="tuner"):
        SoftEquivariance(syms, FixedStrength(1.0))
    tuner = KimRescale({"so3": 1.0, "scaling": 1.0}, warmup=2)
    soft = SoftEquivariance(syms, tuner, normalize=True)
    f = lambda z: _invariant_model(z) + 0.1 * torch.log(z.pow(2).sum((-1, -2)))[:, None]  # noqa: E731
    x = _x("so3")
    for step in range(2):
        pen = soft.penalties(f, x, _gen(step))
        assert float(soft.regularizer(pen)) == pytest.approx(float(sum(pen.values())))
        lam = soft.report(pen, step, scale=2.0)
    # so3 is exact, scaling broken: the rescale keeps so3's strength and weakens scaling's
    assert lam["so3"] == 1.0 and lam["scaling"] < 1e-6


@pytest.mark.parametrize("output", ["invariant", "equivariant"])
@pytest.mark.parametrize("name", ["so3", "translation", "scaling", "permutation"])
def test_confirmed_violation_is_half_the_violation_on_noise_free_labels(name, output):
    # y = f(x): the label residual vanishes and every term is ½‖f(gx) − ρ(g)f(x)‖²
    sym, x = _sym(name, output), _x(name)
    f = _linear_model(name) if output == "invariant" else _equivariant_breaking(name)
    c = confirmed_residuals(f, x, f(x), sym, n_samples=3, generator=_gen(11))
    r = equivariance_residuals(f, x, sym, n_samples=3, generator=_gen(11))
    assert float(r.mean()) > 1e-3
    torch.testing.assert_close(c, 0.5 * r, rtol=1e-12, atol=1e-14)


def _equivariant_breaking(name: str):
    """Points → points, equivariant under every type but ``name``."""
    brk = _breaking(name)
    return lambda x: _equivariant_model(x) * (1 + 0.3 * torch.tanh(brk(x)))[:, None, None]


@pytest.mark.parametrize("name", ["so3", "permutation"])
def test_confirmed_violation_ignores_spurious_and_measures_true_violation(name):
    """Labels of an exact symmetry give C = 0 however non-invariant the model; labels that
    break it give C = ½ E‖f* − f̄*‖² (Haar-invariant Gaussian inputs: the unbiased case)."""
    sym = _sym(name)
    x = _x(name, batch=2000, seed=3)
    w = torch.randn(N_POINTS * 3, 2, generator=_gen(4), dtype=torch.float64)
    spurious = lambda z: 0.5 * torch.tanh(z.reshape(z.shape[0], -1) @ w)  # noqa: E731
    brk = _breaking(name)
    broken = lambda z: _invariant_model(z) + brk(z)[:, None]  # noqa: E731
    noise = 0.1 * torch.randn(x.shape[0], 2, generator=_gen(5), dtype=torch.float64)
    # exact labels, non-invariant model: the violation R is large, C is zero
    model = lambda z: _invariant_model(z) + spurious(z)  # noqa: E731
    y = _invariant_model(x) + noise
    c = confirmed_residuals(model, x, y, sym, n_samples=4, generator=_gen(6)).mean(0)
    assert float(equivariance_penalty(model, x, sym, generator=_gen(6))) > 0.05
    _z3(float(c.mean()), 0.0, float(c.std()) / math.sqrt(c.numel()))
    # broken labels, the model equal to the target plus the spurious part
    y = broken(x) + noise
    model = lambda z: broken(z) + spurious(z)  # noqa: E731
    c = confirmed_residuals(model, x, y, sym, n_samples=4, generator=_gen(7)).mean(0)
    truth = equivariance_residuals(broken, x, sym, n_samples=64, generator=_gen(8)).mean(0) / 2
    diff = c - truth
    _z3(float(diff.mean()), 0.0, float(diff.std()) / math.sqrt(diff.numel()))
    assert float(truth.mean()) > 0.01


def test_soft_equivariance_estimates_levels_with_the_shrinkage_factor():
    syms = {k: _sym(k) for k in ("so3", "permutation")}
    tuner = KimRescale({"so3": 0.5, "permutation": 2.0}, warmup=1)
    soft = SoftEquivariance(syms, tuner)
    brk = _breaking("permutation")
    f = lambda z: _invariant_model(z) + brk(z)[:, None]  # noqa: E731
    x = _x("so3", batch=64, seed=9)
    y = f(x) + 0.1 * torch.randn(64, 2, generator=_gen(11), dtype=torch.float64)
    est = soft.estimate_levels(f, x, y, _gen(10), n_samples=4)
    gen = _gen(10)  # the types draw from one generator, in order
    for k, lam in tuner.strengths.items():
        c = confirmed_residuals(f, x, y, syms[k], n_samples=4, generator=gen).mean(0)
        assert est[k].value == pytest.approx(2 * (1 + 2 * lam) * float(c.mean()), rel=1e-12)
        se = 2 * (1 + 2 * lam) * float(c.std()) / math.sqrt(c.numel())
        assert est[k].stderr == pytest.approx(se, rel=1e-12)
    assert abs(est["so3"].value) < 1e-12  # f is exactly so3-invariant: d = round-off
    assert est["permutation"].value > 0.1
    # the report floors each level at its resolution and divides by the scale
    floor = {"so3": (0.0, 0.1), "permutation": (1.0, 0.1)}
    lam = soft.report_levels(
        {k: LevelEstimate(*v) for k, v in floor.items()}, 0, scale=2.0, resolution=2.0
    )
    assert tuner.mean_violations == pytest.approx({"so3": 0.1, "permutation": 0.5})
    assert lam == pytest.approx({"so3": 0.5, "permutation": 2.0 / 5.0})

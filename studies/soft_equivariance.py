"""Soft equivariance under mixed symmetries: fixed vs auto-tuned regularizer strengths.

Synthetic task of :mod:`neurosim.workloads.mixed_symmetry` (triangles in R³;
candidate types so3, translation, scaling, permutation with planted levels ε_j;
the target's function-space violation under type j is ε_j²). Models, 3 seeds:

* ``unconstrained``: MLP on the raw coordinates (9 → 128 → 128 → 1, SiLU);
* ``exact``: MLP on the complete invariant of all four types (sorted normalized
  distances), i.e. the exactly invariant model;
* ``fixed``: the unconstrained MLP + Σ_j λ R̂_j, constant λ (function-space MC
  regularizers of :mod:`equivariance.soft`);
* ``kim``: λ_j tuned by :class:`equivariance.strength.KimRescale` (the paper's
  one-time rescale after a warm-up, p = 1);
* ``dual``: λ_j tuned by :class:`equivariance.strength.DualAscent`
  (multiplicative, constraint R̂_j / Var(y) ≤ target, every step).

Records the test MSE, the final strengths λ_j, the test violations R_j of each
model and the true levels. ``--quick``: 1 seed, fewer steps. Writes
``soft_equivariance.nc`` and ``soft_equivariance.png``.

    python studies/soft_equivariance.py [--quick]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import matplotlib
import numpy as np
import torch
import xarray as xr

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import out_dir, parse_args, save  # noqa: E402

from equivariance.soft import SoftEquivariance, equivariance_penalty  # noqa: E402
from equivariance.strength import DualAscent, FixedStrength, KimRescale  # noqa: E402
from neurosim.workloads.mixed_symmetry import (  # noqa: E402
    MIXED_SYMMETRY_TYPES,
    mixed_symmetry,
    shape_features,
    symmetry_types,
)

MODELS = ("unconstrained", "exact", "fixed", "kim", "dual")
TUNED = ("fixed", "kim", "dual")

FULL = dict(
    seeds=[0, 1, 2],
    n_train=1000,
    n_test=4000,
    steps=3000,
    batch=64,
    lr=3e-3,
    hidden=128,
    n_samples=2,
    lam0=3.0,
    warmup_fraction=0.3,
    power=1.0,
    dual_target=0.02,
    dual_lr=0.05,
    dual_ema=0.9,
    levels={"so3": 0.0, "translation": 0.3, "scaling": 0.6, "permutation": 1.2},
)
"""Full-study settings (``levels`` are the planted ε_j)."""

QUICK = dict(FULL, seeds=[0], n_train=500, n_test=1000, steps=500, hidden=64)
"""``--quick`` settings."""


def _mlp(n_in: int, hidden: int) -> torch.nn.Module:
    return torch.nn.Sequential(
        torch.nn.Linear(n_in, hidden),
        torch.nn.SiLU(),
        torch.nn.Linear(hidden, hidden),
        torch.nn.SiLU(),
        torch.nn.Linear(hidden, 1),
    )


def _tuner(model: str, cfg: dict):
    names = MIXED_SYMMETRY_TYPES
    lam0 = dict.fromkeys(names, cfg["lam0"])
    if model == "fixed":
        return FixedStrength(lam0)
    if model == "kim":
        warmup = max(1, int(cfg["warmup_fraction"] * cfg["steps"]))
        return KimRescale(lam0, warmup=warmup, power=cfg["power"])
    if model == "dual":
        return DualAscent(
            dict.fromkeys(names, cfg["dual_target"]),
            strengths=cfg["lam0"],
            lr=cfg["dual_lr"],
            ema=cfg["dual_ema"],
            mode="multiplicative",
            lambda_min=1e-4,
            lambda_max=1e3,
        )
    return None


def train(model: str, seed: int, cfg: dict) -> dict:
    """Train one model on one seed; test MSE, final λ, test violations, seconds."""
    t0 = time.perf_counter()
    ds = mixed_symmetry(
        seed=seed,
        n_train=cfg["n_train"],
        n_test=cfg["n_test"],
        levels=cfg["levels"],
        dtype=torch.float32,
    )
    torch.manual_seed(seed)
    syms = symmetry_types()
    if model == "exact":
        net = _mlp(3, cfg["hidden"])

        def f(x):
            return net(shape_features(x))
    else:
        net = _mlp(9, cfg["hidden"])

        def f(x):
            return net(x.reshape(x.shape[0], -1))

    tuner = _tuner(model, cfg)
    soft = (
        None
        if tuner is None
        else SoftEquivariance(syms, tuner, n_samples=cfg["n_samples"], normalize=True)
    )
    var_y = float(ds.y_train.var())
    opt = torch.optim.Adam(net.parameters(), lr=cfg["lr"])
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, cfg["steps"])
    gen = torch.Generator().manual_seed(10_000 + seed)
    for step in range(cfg["steps"]):
        idx = torch.randint(0, cfg["n_train"], (cfg["batch"],), generator=gen)
        x, y = ds.x_train[idx], ds.y_train[idx]
        loss = (f(x) - y).pow(2).mean()
        if soft is not None:
            pen = soft.penalties(f, x, gen)
            loss = loss + soft.regularizer(pen)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if soft is not None:
            soft.report(pen, step, scale=var_y)
    with torch.no_grad():
        err = float((f(ds.x_test) - ds.y_test).pow(2).mean())
        vgen = torch.Generator().manual_seed(7)
        viol = {
            k: float(equivariance_penalty(f, ds.x_test, s, n_samples=2, generator=vgen))
            for k, s in syms.items()
        }
    lam = tuner.strengths if tuner is not None else dict.fromkeys(syms, np.nan)
    return dict(error=err, strengths=lam, violations=viol, seconds=time.perf_counter() - t0)


def run(cfg: dict) -> xr.Dataset:
    seeds, names = cfg["seeds"], list(MIXED_SYMMETRY_TYPES)
    err = np.full((len(MODELS), len(seeds)), np.nan)
    lam = np.full((len(MODELS), len(seeds), len(names)), np.nan)
    viol = np.full_like(lam, np.nan)
    secs = np.full_like(err, np.nan)
    for i, m in enumerate(MODELS):
        for j, s in enumerate(seeds):
            r = train(m, s, cfg)
            err[i, j], secs[i, j] = r["error"], r["seconds"]
            lam[i, j] = [r["strengths"][k] for k in names]
            viol[i, j] = [r["violations"][k] for k in names]
            print(f"{m:>13} seed {s}: test MSE {r['error']:.4f} ({r['seconds']:.1f} s)", flush=True)
    levels = np.array([cfg["levels"][k] for k in names])
    dims = ("model", "seed", "symmetry")
    return xr.Dataset(
        {
            "test_error": (
                dims[:2],
                err,
                {"units": "1", "long_name": "test mean squared error"},
            ),
            "strength": (dims, lam, {"units": "1", "long_name": "final strength λ_j"}),
            "violation": (
                dims,
                viol,
                {"units": "1", "long_name": "test violation R_j = E|f(gx) − f(x)|²"},
            ),
            "true_level": (
                ("symmetry",),
                levels,
                {"units": "1", "long_name": "planted level ε_j (true R_j = ε_j²)"},
            ),
            "train_seconds": (dims[:2], secs, {"units": "s", "long_name": "training wall time"}),
        },
        coords={"model": list(MODELS), "seed": seeds, "symmetry": names},
    )


def rank_agreement(ds: xr.Dataset, model: str) -> np.ndarray:
    """Per seed: Spearman correlation between λ_j and ε_j (ties averaged)."""
    eps = ds.true_level.values

    def ranks(a):
        order = np.argsort(a, kind="stable")
        r = np.empty(len(a))
        r[order] = np.arange(len(a))
        for v in np.unique(a):  # average ties
            r[a == v] = r[a == v].mean()
        return r

    out = []
    for s in ds.seed.values:
        lam = ds.strength.sel(model=model, seed=s).values
        out.append(float(np.corrcoef(ranks(lam), ranks(eps))[0, 1]))
    return np.array(out)


def figure(ds: xr.Dataset, path: Path) -> None:
    fig, (a, b, c) = plt.subplots(1, 3, figsize=(14, 3.8), constrained_layout=True)
    m, s = ds.test_error.mean("seed"), ds.test_error.std("seed")
    a.bar(range(len(MODELS)), m, yerr=s if ds.seed.size > 1 else None, color="C0")
    a.set_xticks(range(len(MODELS)), MODELS, rotation=20)
    a.set(ylabel="test MSE", title="test error (mean ± std over seeds)")
    eps = ds.true_level.values
    for ax, model in ((b, "kim"), (c, "dual")):
        for s_ in ds.seed.values:
            lam = ds.strength.sel(model=model, seed=s_).values
            ax.plot(eps, lam, "o-", label=f"seed {s_}")
        for e, name in zip(eps, ds.symmetry.values, strict=True):
            ax.annotate(
                str(name),
                (e, float(ds.strength.sel(model=model).isel(seed=0).sel(symmetry=name))),
                fontsize=7,
            )
        ax.set(
            xlabel="planted level ε_j",
            ylabel="final λ_j",
            yscale="log",
            title=f"{model}: learned strengths vs true levels",
        )
        ax.legend(fontsize=7)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None):
    args = parse_args(__doc__, argv)
    torch.set_num_threads(1)
    folder = out_dir(args, "soft_equivariance")
    cfg = QUICK if args.quick else FULL
    t0 = time.perf_counter()
    ds = run(cfg)
    ds.attrs["wall_seconds"] = time.perf_counter() - t0
    ds.attrs["references"] = (
        "Kim, Lee, Yang, Lee, Regularizing towards soft equivariance under mixed symmetries, "
        "ICML 2023; Finzi, Welling, Wilson, A practical method for constructing equivariant "
        "multilayer perceptrons for arbitrary matrix groups, ICML 2021"
    )
    save(ds, folder, "soft_equivariance", {k: str(v) for k, v in cfg.items()}, cfg["seeds"])
    figure(ds, folder / "soft_equivariance.png")
    print("test MSE, mean (std) over seeds:")
    for model in MODELS:
        e = ds.test_error.sel(model=model)
        print(f"  {model:>13}: {float(e.mean()):.4f} ({float(e.std()):.4f})")
    print("final strengths per seed (symmetries: " + ", ".join(ds.symmetry.values) + ")")
    print("  true levels:", np.round(ds.true_level.values, 3))
    for model in TUNED:
        for s in ds.seed.values:
            print(
                f"  {model:>5} seed {s}:", np.round(ds.strength.sel(model=model, seed=s).values, 4)
            )
        if model != "fixed":
            print(f"  {model} Spearman(λ, ε) per seed:", np.round(rank_agreement(ds, model), 3))
    print(f"wall time {ds.attrs['wall_seconds']:.1f} s")
    return ds


if __name__ == "__main__":
    main()

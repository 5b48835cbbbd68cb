"""Gradient error vs nudge size for each estimator, on symmetric and asymmetric networks.

Separates the two biases of generalized EP (Laborieux & Zenke, ICLR 2024, Fig. 2):
the *finite-nudge* bias (estimate vs the exact EP gradient Φ_θᵀ ds/dβ) and the
*asymmetry* bias (the exact EP gradient vs the true gradient from implicit BP).
One-sided and centered nudges are swept over β; the holomorphic estimator over
N ∈ {2, 4, 6, 8} at radius β. Writes ``nudge_bias.nc`` and ``nudge_bias.png``.

    python studies/nudge_bias.py [--quick]
"""

from __future__ import annotations

import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
import xarray as xr  # noqa: E402

sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parent))
from _common import out_dir, parse_args, save  # noqa: E402

from neurosim.learning import (  # noqa: E402
    Centered,
    Exact,
    FreePhase,
    GeneralizedEP,
    Holomorphic,
    ImplicitBP,
    NudgedPhase,
    OneSided,
    RecurrentBP,
    SoftmaxCrossEntropy,
)
from neurosim.substrate import FixedPoint, LayeredNetwork  # noqa: E402
from neurosim.workloads import digits, mnist5k  # noqa: E402


def _flat(grads: dict) -> torch.Tensor:
    return torch.cat([g.reshape(-1) for k, g in grads.items() if not k.endswith("weight_b0")])


def main(argv=None) -> xr.Dataset:
    args = parse_args(__doc__, argv)
    torch.set_num_threads(1)
    folder = out_dir(args, "nudge_bias")
    if args.quick:
        data, sizes, batch = digits(), [64, 32, 10], 20
        betas = np.logspace(-2.5, -0.5, 5)
    else:
        data, sizes, batch = mnist5k(), [784, 256, 256, 10], 50
        betas = np.logspace(-3, 0, 10)
    estimators = {"one_sided": None, "centered": None} | {
        f"holomorphic_n{n}": n for n in (2, 4, 6, 8)
    }
    alphas = [0.0, 90.0]
    free_phase = FreePhase(steps=2000, tol=1e-11)
    nudged = NudgedPhase(steps=2000, integrator=FixedPoint(), tol=1e-11)
    err_exact = np.full((len(alphas), len(estimators), len(betas)), np.nan)
    err_bp = np.full_like(err_exact, np.nan)
    asym = np.full(len(alphas), np.nan)
    x, y = data.x_train[:batch], data.y_train[:batch]
    for i, alpha in enumerate(alphas):
        gen = torch.Generator().manual_seed(0)
        net = LayeredNetwork.dense(sizes, activation="shifted_sigmoid", alpha=alpha, generator=gen)
        loss = SoftmaxCrossEntropy(sizes[-1], 10, generator=gen)
        free = free_phase.run(net, x)
        assert free.all_converged, float(free.residual.max())
        ref_rule = ImplicitBP(free_phase) if net.num_units <= 2000 else RecurrentBP(free_phase)
        bp = _flat(ref_rule.compute(net, loss, x, y, free=free).grads)
        exact = _flat(
            GeneralizedEP(Exact(), free_phase, nudged).compute(net, loss, x, y, free=free).grads
        )
        asym[i] = float((exact - bp).norm() / bp.norm())
        for j, (name, n) in enumerate(estimators.items()):
            for k, beta in enumerate(betas):
                if name == "one_sided":
                    est = OneSided(beta=float(beta))
                elif name == "centered":
                    est = Centered(beta=float(beta))
                else:
                    est = Holomorphic(r=float(beta), n=n)
                g = _flat(
                    GeneralizedEP(est, free_phase, nudged).compute(net, loss, x, y, free=free).grads
                )
                err_exact[i, j, k] = float((g - exact).norm() / exact.norm())
                err_bp[i, j, k] = float((g - bp).norm() / bp.norm())
            print(f"alpha={alpha:g} {name}: error vs exact EP {err_exact[i, j]}")
    ds = xr.Dataset(
        {
            "error_vs_exact_ep": (
                ("alpha", "estimator", "beta"),
                err_exact,
                {"units": "1", "long_name": "‖g − g_EP,exact‖/‖g_EP,exact‖ (finite-nudge bias)"},
            ),
            "error_vs_bp": (
                ("alpha", "estimator", "beta"),
                err_bp,
                {"units": "1", "long_name": "‖g − g_BP‖/‖g_BP‖ (total bias)"},
            ),
            "asymmetry_bias": (
                ("alpha",),
                asym,
                {"units": "1", "long_name": "‖g_EP,exact − g_BP‖/‖g_BP‖"},
            ),
        },
        coords={"alpha": alphas, "estimator": list(estimators), "beta": betas},
    )
    config = {
        "sizes": sizes,
        "batch": batch,
        "quick": args.quick,
        "activation": "shifted_sigmoid",
        "tol": 1e-11,
    }
    path = save(ds, folder, "nudge_bias", config, seed=0)
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True, sharey=True)
    for ax, alpha in zip(axes, alphas, strict=True):
        for name in estimators:
            ax.loglog(
                betas, ds.error_vs_exact_ep.sel(alpha=alpha, estimator=name), "o-", label=name
            )
        ax.axhline(
            float(ds.asymmetry_bias.sel(alpha=alpha)) + 1e-16,
            color="k",
            ls="--",
            label="asymmetry bias",
        )
        ax.set(
            title=f"α = {alpha:g}°",
            xlabel="β (or radius r)",
            ylabel="relative gradient error vs exact EP",
        )
    axes[0].legend(fontsize=7)
    fig.savefig(folder / "nudge_bias.png", dpi=110)
    plt.close(fig)
    print(f"wrote {path} and {folder / 'nudge_bias.png'}")
    print("asymmetry bias (exact EP vs BP):", dict(zip(alphas, np.round(asym, 4), strict=True)))
    return ds


if __name__ == "__main__":
    main()

"""Jacobian homeostasis at α = 90°: λ = 0, a fixed λ and the auto-tuned λ.

Trains the independent-feedback network (α = 90°) by generalized hEP with the
homeostatic term λ ∇_θ ½‖J − Jᵀ‖² (forward-mode Hutchinson estimate, 4 probes)
off, at a fixed λ, and with λ tuned by multiplicative dual ascent toward a
normalized asymmetry ‖J_anti‖²/‖J‖² = 0.05 (``homeostasis.mode = "auto"``),
3 seeds, and records per epoch the δ alignment with BP, the Jacobian symmetry,
the homeostatic loss, λ and the test accuracy. A BPTT run on the same α = 90°
network is the reference. ``--quick``: digits, 64-32-10, 1 seed, 2 epochs.
Writes ``homeostasis.nc`` (dims mode × seed × step × layer, plus ``bptt``) and a figure.

    python studies/homeostasis.py [--quick] [--workers 2]
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import QUICK_DIGITS, TABLE1_MNIST, out_dir, parse_args, run_study_sweep  # noqa: E402

COMMON_FULL = (
    TABLE1_MNIST
    + """"feedback.alpha" = 90.0
"homeostasis.strength" = 0.1
"""
)

COMMON_QUICK = (
    QUICK_DIGITS
    + """"feedback.alpha" = 90.0
"training.epochs" = 2
"homeostasis.strength" = 0.5
"""
)


def sweep(common: str, seeds: str, rule_axis: bool) -> str:
    axes = (
        '"training.rule" = ["bptt"]'
        if rule_axis
        else '"homeostasis.mode" = ["off", "fixed", "auto"]'
    )
    return f'base = "ideal"\nseeds = {seeds}\n[axes]\n{axes}\n[overrides]\n{common}'


def main(argv=None):
    args = parse_args(__doc__, argv)
    folder = out_dir(args, "homeostasis")
    common, seeds = (COMMON_QUICK, "[0]") if args.quick else (COMMON_FULL, "[0, 1, 2]")
    ds = run_study_sweep(sweep(common, seeds, False), folder, "homeostasis", args.workers)
    bp = run_study_sweep(sweep(common, seeds, True), folder, "homeostasis_bptt", args.workers)
    modes = ds["homeostasis.mode"].values
    fig, axes = plt.subplots(1, 4, figsize=(16, 3.6), constrained_layout=True)
    panels = [
        ("jacobian_symmetry", None, "Jacobian symmetry"),
        ("delta_cosine", 1, "δ alignment, layer 1"),
        ("accuracy", None, "test accuracy"),
        ("homeostasis_strength", None, "λ"),
    ]
    for ax, (var, layer, title) in zip(axes, panels, strict=True):
        for mode in modes:
            d = ds[var].sel({"homeostasis.mode": mode})
            if layer is not None:
                d = d.sel(layer=layer)
            m, s = d.mean("seed"), d.std("seed")
            ax.plot(ds.step, m, label=str(mode))
            ax.fill_between(ds.step, m - s, m + s, alpha=0.2)
        if var == "accuracy":
            b = bp.accuracy.isel({"training.rule": 0}).mean("seed")
            ax.plot(bp.step, b, "k--", label="BPTT")
        ax.set(title=title, xlabel="step")
        ax.legend(fontsize=7)
    fig.savefig(folder / "homeostasis.png", dpi=110)
    plt.close(fig)
    final = ds.isel(step=-1)
    summary = final[["accuracy", "jacobian_symmetry", "grad_cosine", "homeostasis_strength"]]
    print("final values, mean (std) over seeds:")
    print(summary.mean("seed").to_dataframe().round(4).to_string())
    print(summary.std("seed").to_dataframe().round(4).to_string())
    b = bp.accuracy.isel(step=-1)
    print(f"BPTT at alpha=90: accuracy {float(b.mean()):.4f} ± {float(b.std()):.4f}")
    return ds, bp


if __name__ == "__main__":
    main()

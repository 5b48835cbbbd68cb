"""δ alignment and test accuracy vs feedback angle α, generalized hEP next to BP.

For α ∈ {0, 15, …, 90}° (B = sin α B₀ + cos α Wᵀ) a 784-256-256-10 network
(shifted sigmoid, T1 = 150, T2 = 20, holomorphic N = 4, softmax readout, as in
Laborieux & Zenke 2024 Table 1) is trained on MNIST-5k by hEP and, on the same
network, by BPTT; per epoch the per-layer cosine between δ_rule and δ_BP, the
gradient cosine, the Jacobian symmetry and the test accuracy are recorded
(3 seeds). ``--quick``: sklearn digits, 64-32-10, α ∈ {0, 90}, 1 seed, 1 epoch.
Writes ``asymmetry_alignment.nc`` (dims α × rule × seed × step × layer) and a figure.

    python studies/asymmetry_alignment.py [--quick] [--workers 2]
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import QUICK_DIGITS, TABLE1_MNIST, out_dir, parse_args, run_study_sweep  # noqa: E402

FULL = f"""
base = "ideal"
seeds = [0, 1, 2]
[axes]
"feedback.alpha" = [0.0, 15.0, 30.0, 45.0, 60.0, 75.0, 90.0]
"training.rule" = ["ep", "bptt"]
[overrides]
{TABLE1_MNIST}"""

QUICK = f"""
base = "ideal"
seeds = [0]
[axes]
"feedback.alpha" = [0.0, 90.0]
"training.rule" = ["ep", "bptt"]
[overrides]
{QUICK_DIGITS}"training.epochs" = 1
"""


def main(argv=None):
    args = parse_args(__doc__, argv)
    folder = out_dir(args, "asymmetry_alignment")
    ds = run_study_sweep(QUICK if args.quick else FULL, folder, "asymmetry_alignment", args.workers)
    final = ds.isel(step=-1)
    alpha = ds["feedback.alpha"].values
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6), constrained_layout=True)
    for rule, style in (("ep", "o-"), ("bptt", "s--")):
        f = final.sel({"training.rule": rule})
        for layer in ds.layer.values[:-1]:
            d = f.delta_cosine.sel(layer=layer)
            axes[0].errorbar(
                alpha,
                d.mean("seed"),
                d.std("seed"),
                fmt=style,
                capsize=2,
                label=f"{rule} layer {layer}",
            )
        a = f.accuracy
        axes[1].errorbar(alpha, a.mean("seed"), a.std("seed"), fmt=style, capsize=2, label=rule)
        s = f.jacobian_symmetry
        axes[2].errorbar(alpha, s.mean("seed"), s.std("seed"), fmt=style, capsize=2, label=rule)
    axes[0].set(title="δ alignment with BP (final)", xlabel="α (°)", ylabel="cosine")
    axes[1].set(title="test accuracy (final)", xlabel="α (°)")
    axes[2].set(title="Jacobian symmetry (final)", xlabel="α (°)")
    for ax in axes:
        ax.legend(fontsize=7)
    fig.savefig(folder / "asymmetry_alignment.png", dpi=110)
    plt.close(fig)
    table = final.accuracy.mean("seed").to_pandas()
    std = final.accuracy.std("seed").to_pandas()
    print("final test accuracy, mean (std) over seeds:")
    print((table.round(4).astype(str) + " (" + std.round(4).astype(str) + ")").to_string())
    print("final hidden-layer-1 δ cosine (hEP):")
    print(
        final.delta_cosine.sel({"training.rule": "ep", "layer": 1})
        .mean("seed")
        .to_pandas()
        .round(4)
        .to_string()
    )
    return ds


if __name__ == "__main__":
    main()

"""Figures of result datasets (matplotlib, Agg backend, PNG)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import xarray as xr  # noqa: E402

__all__ = ["plot_alignment"]


def plot_alignment(ds: xr.Dataset, path: str | Path) -> Path:
    """δ cosine per hidden layer, gradient cosine and Jacobian symmetry vs α (mean ± std)."""
    layers = [int(v) for v in ds.layer.values[:-1]]
    ncols = len(layers) + 2
    fig, axes = plt.subplots(1, ncols, figsize=(3.6 * ncols, 3.2), constrained_layout=True)
    alpha = ds.alpha.values
    for ax, layer in zip(axes, layers, strict=False):
        for est in ds.estimator.values:
            da = ds.delta_cosine.sel(estimator=est, layer=layer)
            ax.errorbar(alpha, da.mean("seed"), yerr=da.std("seed"), label=str(est), capsize=2)
        ax.set(
            title=f"δ alignment, hidden layer {layer}",
            xlabel="feedback angle α (°)",
            ylabel="cosine",
        )
    ax = axes[-2]
    for est in ds.estimator.values:
        da = ds.grad_cosine.sel(estimator=est)
        ax.errorbar(alpha, da.mean("seed"), yerr=da.std("seed"), label=str(est), capsize=2)
    ax.set(title="weight-gradient alignment", xlabel="feedback angle α (°)", ylabel="cosine")
    ax.legend(fontsize=7)
    ax = axes[-1]
    js = ds.jacobian_symmetry
    ax.errorbar(alpha, js.mean("seed"), yerr=js.std("seed"), color="k", capsize=2)
    ax.set(title="Jacobian symmetry score", xlabel="feedback angle α (°)", ylabel="score")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=120)
    plt.close(fig)
    tmp.replace(path)
    return path

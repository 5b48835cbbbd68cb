"""Figures of result datasets (matplotlib, Agg backend, PNG, written atomically)."""

from __future__ import annotations

import itertools
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import xarray as xr  # noqa: E402

__all__ = ["plot_dataset", "sweep_dims"]

_NON_SWEEP = ("step", "layer", "seed")


def sweep_dims(ds: xr.Dataset) -> list[str]:
    """The swept config keys of a result (every dim but step, layer and seed)."""
    return [d for d in ds.dims if d not in _NON_SWEEP]


def _save(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    tmp.replace(path)
    return path


def _mean_std(da: xr.DataArray) -> tuple[np.ndarray, np.ndarray]:
    if "seed" in da.dims:
        return da.mean("seed").values, da.std("seed").values
    return da.values, np.zeros_like(da.values)


def plot_dataset(ds: xr.Dataset, out_dir: str | Path, *, prefix: str = "") -> list[Path]:
    """One PNG per metric: the final value against the first swept key (one line per
    combination of the other swept keys, mean ± std over seeds, one panel per layer),
    and the metric over training steps. Returns the paths written."""
    out_dir = Path(out_dir)
    sweeps = sweep_dims(ds)
    written = []
    for name, da in ds.data_vars.items():
        if "step" not in da.dims or "timeline" in da.attrs or np.isnan(da.values).all():
            continue  # the timeline ({phase}_start, …) is data, not a metric to plot
        layers = list(da.layer.values) if "layer" in da.dims else [None]
        fig, axes = plt.subplots(
            1,
            len(layers) + 1,
            figsize=(4 * (len(layers) + 1), 3.2),
            squeeze=False,
            constrained_layout=True,
        )
        final = da.isel(step=-1)
        x_dim = sweeps[0] if sweeps else None
        others = sweeps[1:]
        combos = list(itertools.product(*[ds[d].values for d in others])) or [()]
        for ax, layer in zip(axes[0], layers, strict=False):
            sel = final if layer is None else final.sel(layer=layer)
            for combo in combos:
                line = sel.sel(dict(zip(others, combo, strict=True))) if others else sel
                label = ", ".join(
                    f"{d.split('.')[-1]}={v}" for d, v in zip(others, combo, strict=True)
                )
                m, s = _mean_std(line)
                if x_dim is None:
                    ax.bar([0], [float(np.atleast_1d(m)[0])], yerr=[float(np.atleast_1d(s)[0])])
                else:
                    ax.errorbar(
                        ds[x_dim].values, m, yerr=s, capsize=2, marker="o", label=label or None
                    )
            title = f"{name} (final)" + ("" if layer is None else f", layer {layer}")
            ax.set(title=title, xlabel=x_dim or "", ylabel=name)
            if others:
                ax.legend(fontsize=7)
        ax = axes[0][-1]
        curve = da if "layer" not in da.dims else da.isel(layer=0)
        for v in ds[x_dim].values if x_dim else [None]:
            c = curve.sel({x_dim: v}) if x_dim else curve
            for d in others:
                c = c.isel({d: 0})
            m, s = _mean_std(c)
            ax.plot(ds.step.values, m, label=None if v is None else f"{x_dim.split('.')[-1]}={v}")
            ax.fill_between(ds.step.values, m - s, m + s, alpha=0.2)
        ax.set(
            title=f"{name} over training" + (" (layer 1)" if "layer" in da.dims else ""),
            xlabel="step",
        )
        if x_dim:
            ax.legend(fontsize=7)
        written.append(_save(fig, out_dir / f"{prefix}{name}.png"))
    return written

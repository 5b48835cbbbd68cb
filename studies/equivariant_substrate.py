"""EP vs BP on equivariant substrates: δ alignment and task error per workload (issue 9).

Three equivariant workloads (``neurosim.workloads.equivariant``) — ``spherical`` (a Gaunt
relaxation network on SH-embedded point clouds, invariant regression), ``nbody_frames``
(frame-averaged dense relaxation network, charged n-body forecasting) and
``affine_lifted`` (dense relaxation network on frozen GL⁺(2) lifting features, affine
digits; the lifting layer is pretrained by BP on the untransformed training digits) — each trained by generalized hEP (N = 4 probes, r = 0.1) at feedback angles
α ∈ {0°, 45°, 90°}, on two hardware presets (``ideal`` and ``rram``: soft-bounds RRAM
updates, 1 % read noise, 7-bit DAC on [−1, 1], 9-bit ADC), with Jacobian homeostasis off,
at a fixed λ and auto-tuned; implicit BP of the same substrate at each angle and preset
is the reference. Recorded per evaluation: δ alignment with BP (cosine, per layer), the
gradient cosine, the Jacobian symmetry, λ, the test loss and the task error (MSE of the
invariant / frame-averaged prediction; error rate for digits).

Sizes are shrunk to fit about 25 minutes with ``--workers 2`` (one torch thread each):
spherical 3-8-1 channels at L = 2, 128 training clouds, 8 epochs; n-body 35-32-15 on 128
systems (1024 frame rows), 6 epochs; affine digits 32-32-10 (16 lifting channels, rotation
truncated to ±45°, max group pooling, mean + max spatially pooled; pretrained by BP for 5
epochs on the 600 untransformed training digits, then frozen: ``workload.lifting =
"pretrained"``; training the lifting layer through the relaxation, ``"trained"``, costs
about 3× per run) on 600 digits, 5 epochs, lr 0.03; relaxed by damped (leaky Euler,
dt = τ/2) steps, up to 1000 free / 40 nudged: plain fixed-point steps left one of the 16
probe samples at some evaluations on a slowly decaying period-2 mode (residual 3e-4 after
150 steps) or on an oscillation that 1000 steps did not settle (residual 3.2, α = 45°,
fixed λ); damped, every evaluation converged in our check (α = 45° and 90°, fixed λ).
Seeds 0, 1, 2.
``--quick``: a few steps per run, one seed, under a minute.

Writes ``equivariant_substrate.nc`` (dims workload × preset × rule × alpha × homeostasis ×
seed × step × layer; the BP runs have homeostasis "off" only) and
``equivariant_substrate.png``; the printed table is the mean and std over seeds of the final
record.

    python studies/equivariant_substrate.py [--quick] [--workers 2]
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
import xarray as xr  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import out_dir, parse_args, run_study_sweep, save  # noqa: E402

ALPHAS = [0.0, 45.0, 90.0]
PRESETS = ["ideal", "rram"]
HOMEOSTASIS = ["off", "fixed", "auto"]
SEEDS = [0, 1, 2]

COMMON = {
    "neurons.dac_range": [-1.0, 1.0],
    "dynamics.tol": 1e-7,
    "homeostasis.strength": 0.1,
    "training.optimizer": "adamw",
}

WORKLOADS = {
    "spherical": {
        "network.sizes": [3, 8, 1],
        "network.init_gain": 1.0,
        "workload.task": "spherical",
        "workload.lmax": 2,
        "workload.n_train": 128,
        "workload.n_test": 64,
        "workload.batch": 16,
        "training.epochs": 8,
        "training.lr": 0.03,
        "training.probe_batch": 16,
    },
    "nbody_frames": {
        "network.sizes": [35, 32, 15],
        "workload.task": "nbody_frames",
        "workload.n_train": 128,
        "workload.n_test": 64,
        "workload.batch": 32,
        "training.epochs": 6,
        "training.lr": 0.005,
        "training.probe_batch": 16,
    },
    "affine_lifted": {
        "network.sizes": [32, 32, 10],
        "workload.task": "affine_lifted",
        "workload.lifting": "pretrained",
        "workload.loss": "cross_entropy",
        "dynamics.integrator": "leaky_euler",
        "dynamics.dt": 0.5,
        "dynamics.free_steps": 1000,
        "dynamics.nudged_steps": 40,
        "workload.n_train": 600,
        "workload.n_test": 200,
        "workload.batch": 30,
        "training.epochs": 5,
        "training.lr": 0.03,
        "training.probe_batch": 16,
    },
}

QUICK = {
    "spherical": {"workload.n_train": 32, "workload.n_test": 16, "workload.batch": 16},
    "nbody_frames": {"workload.n_train": 8, "workload.n_test": 8, "workload.batch": 32},
    "affine_lifted": {"workload.n_train": 60, "workload.n_test": 30, "workload.batch": 30},
}


def _toml(value) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return repr(value)


def sweep(preset: str, settings: dict, rule: str, seeds=SEEDS) -> str:
    axes = {"feedback.alpha": ALPHAS, "training.rule": [rule]}
    if rule == "ep":
        axes["homeostasis.mode"] = HOMEOSTASIS
    lines = [f'base = "{preset}"', f"seeds = {list(seeds)}", "[axes]"]
    lines += [f'"{k}" = {_toml(v)}' for k, v in axes.items()]
    lines.append("[overrides]")
    lines += [f'"{k}" = {_toml(v)}' for k, v in settings.items()]
    return "\n".join(lines) + "\n"


def _settings(name: str, quick: bool) -> dict:
    s = {**COMMON, **WORKLOADS[name]}
    if quick:
        s.update(QUICK[name])
        s.pop("training.epochs")
        s.update({"training.steps": 1, "training.eval_every": 1, "training.probe_batch": 8})
    return s


def main(argv=None):
    args = parse_args(__doc__, argv)
    torch.set_num_threads(1)
    folder = out_dir(args, "equivariant_substrate")
    parts = []
    for name in WORKLOADS:
        settings = _settings(name, args.quick)
        for preset in PRESETS:
            for rule in ("ep", "implicit"):
                tag = f"{name}_{preset}_{rule}"
                seeds = SEEDS[:1] if args.quick else SEEDS
                text = sweep(preset, settings, rule, seeds)
                ds = run_study_sweep(text, folder, tag, args.workers)
                ds = ds.drop_vars("point_id", errors="ignore")
                if rule == "implicit":
                    ds = ds.expand_dims({"homeostasis.mode": ["off"]})
                ds = ds.assign_coords(layer=np.arange(1, ds.sizes["layer"] + 1))
                ds = ds.assign_coords(step=np.arange(ds.sizes["step"]))  # record index
                parts.append(ds.expand_dims(workload=[name], preset=[preset]))
    ds = xr.combine_by_coords(parts, combine_attrs="drop", join="outer")
    ds = ds.rename({"step": "record"})
    settings = {k: _settings(k, args.quick) for k in WORKLOADS}
    seeds = SEEDS[:1] if args.quick else SEEDS
    path = save(ds, folder, "equivariant_substrate", {"workloads": settings}, seeds)
    table = summary(ds)
    _figure(ds, folder / "equivariant_substrate.png")
    print(f"wrote {path}")
    print(table.to_string())
    return ds, table


def _final(ds: xr.Dataset) -> xr.Dataset:
    """The last record of each workload (workloads have different record counts)."""
    parts = [
        ds.sel(workload=[w]).dropna("record", how="all", subset=["loss"]).isel(record=-1)
        for w in ds.workload.values
    ]
    return xr.concat(parts, dim="workload")


def summary(ds: xr.Dataset):
    """Final-record table over seeds: mean (and ``*_std``) of the δ cosine (layer 1 and
    output), gradient cosine, Jacobian symmetry, λ and the task errors of hEP and BP."""
    final = _final(ds)
    rows = []

    def stats(name, v):
        v = np.asarray(v, dtype=float).reshape(-1)
        return {
            name: float(np.mean(v)),
            f"{name}_std": float(np.std(v, ddof=1)) if v.size > 1 else 0.0,
        }

    for w in final.workload.values:
        for p in final.preset.values:
            for a in final["feedback.alpha"].values:
                sel = {"workload": w, "preset": p, "feedback.alpha": a}
                bp = final.sel(**sel, **{"training.rule": "implicit", "homeostasis.mode": "off"})
                for h in HOMEOSTASIS:
                    ep = final.sel(**sel, **{"training.rule": "ep", "homeostasis.mode": h})
                    dc = ep.delta_cosine.dropna("layer", how="all")
                    rows.append(
                        {
                            "workload": str(w),
                            "preset": str(p),
                            "alpha": float(a),
                            "homeo": h,
                            **stats("dcos_l1", dc.isel(layer=0)),
                            **stats("dcos_out", dc.isel(layer=-1)),
                            **stats("gcos", ep.grad_cosine),
                            "jsym": float(ep.jacobian_symmetry.mean()),
                            "lambda": float(ep.homeostasis_strength.mean()),
                            **stats("err_ep", ep.task_error),
                            **stats("err_bp", bp.task_error),
                        }
                    )
    import pandas as pd

    return pd.DataFrame(rows).round(4)


def _figure(ds: xr.Dataset, path: Path) -> None:
    final = _final(ds).mean("seed")
    fig, axes = plt.subplots(2, 3, figsize=(15, 7), constrained_layout=True)
    x = np.arange(len(ALPHAS))
    width = 0.12
    for j, w in enumerate(final.workload.values):
        for k, (p, h) in enumerate([(p, h) for p in PRESETS for h in HOMEOSTASIS]):
            ep = final.sel(workload=w, preset=p, **{"training.rule": "ep", "homeostasis.mode": h})
            axes[0, j].bar(x + (k - 2.5) * width, ep.grad_cosine, width, label=f"{p}/{h}")
            axes[1, j].bar(x + (k - 2.5) * width, ep.task_error, width, label=f"hEP {p}/{h}")
        for p, style in zip(PRESETS, ("k--", "r:"), strict=True):
            bp = final.sel(
                workload=w, preset=p, **{"training.rule": "implicit", "homeostasis.mode": "off"}
            )
            axes[1, j].plot(x, bp.task_error, style, marker="o", label=f"BP {p}")
        axes[0, j].set(title=f"{w}: gradient cosine hEP vs BP", xticks=x)
        axes[0, j].set_xticklabels([f"{a:g}°" for a in ALPHAS])
        axes[1, j].set(title=f"{w}: task error (final)", xticks=x)
        axes[1, j].set_xticklabels([f"{a:g}°" for a in ALPHAS])
    axes[0, 0].legend(fontsize=7)
    axes[1, 0].legend(fontsize=7)
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    main()

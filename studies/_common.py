"""Shared plumbing of the study scripts: arguments, output folder, sweeps, provenance."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import xarray as xr

from neurosim.experiment import load_sweep, make_executor, provenance_attrs, run_sweep, write_netcdf

__all__ = ["parse_args", "run_study_sweep", "save", "ROOT", "TABLE1_MNIST", "QUICK_DIGITS"]

ROOT = Path(__file__).resolve().parents[1]

TABLE1_MNIST = """
"network.sizes" = [784, 256, 256, 10]
"network.dtype" = "float32"
"workload.task" = "mnist"
"workload.loss" = "cross_entropy"
"workload.batch" = 50
"workload.n_train" = 4000
"workload.n_test" = 1000
"nudge.r" = 0.5
"training.epochs" = 8
"training.lr" = 0.02
"training.schedule" = "cosine"
"training.probe_batch" = 32
"""
"""Sweep overrides for Laborieux & Zenke's Table-1 setting (784-256-256-10, shifted
sigmoid, T1 = 150, T2 = 20, hEP N = 4 by default) on MNIST-5k, 8 epochs."""

QUICK_DIGITS = """
"network.sizes" = [64, 32, 10]
"network.dtype" = "float32"
"workload.task" = "digits"
"workload.loss" = "cross_entropy"
"workload.batch" = 32
"workload.n_train" = 1500
"workload.n_test" = 297
"nudge.r" = 0.5
"dynamics.free_steps" = 60
"training.lr" = 0.05
"training.probe_batch" = 16
"""
"""Sweep overrides of the studies' --quick modes (sklearn digits, seconds per point)."""


def parse_args(doc: str, argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=doc.strip().splitlines()[0])
    p.add_argument("--quick", action="store_true", help="small version, under a minute")
    p.add_argument("--out", default=None, help="output folder (default: results/studies/NAME)")
    p.add_argument("--workers", type=int, default=None, help="worker processes (default serial)")
    return p.parse_args(argv)


def out_dir(args: argparse.Namespace, name: str) -> Path:
    path = Path(args.out) if args.out else ROOT / "results" / "studies" / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def run_study_sweep(sweep_toml: str, folder: Path, name: str, workers: int | None) -> xr.Dataset:
    """Write the study's sweep file into ``folder`` and run it (resumable, with provenance)."""
    path = folder / f"{name}.sweep.toml"
    path.write_text(sweep_toml)
    spec = load_sweep(path, out=folder / f"{name}.nc")
    return run_sweep(
        spec, executor=make_executor(workers, None), progress=True, command=" ".join(sys.argv)
    )


def save(ds: xr.Dataset, folder: Path, name: str, config: dict, seed: object) -> Path:
    """Attach provenance and write ``folder/name.nc`` atomically."""
    ds.attrs.update(provenance_attrs(config, command=" ".join(sys.argv), seed=seed))
    return write_netcdf(ds, folder / f"{name}.nc")


class Timer:
    def __enter__(self):
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.t0

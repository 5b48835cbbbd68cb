"""Sweep execution: process-pool speed-up, and the experiment layer's overhead per point.

(a) Speed-up. An 8-point sweep (4 feedback angles × 2 seeds) whose runner,
:func:`torch_point`, does a fixed CPU-bound torch workload (``x ← tanh(A x)``
with 256×256 float64 matrices, torch pinned to one thread; ≈1.5 s per point,
≈0.15 s with ``--quick``) is run end to end by ``run_sweep`` with
``SerialExecutor`` and with ``ProcessExecutor(2)``. "cold" includes starting the
worker processes (the forkserver imports torch once), as a fresh ``neurosim
sweep --workers 2`` would; "warm" repeats it with the forkserver already up.

(b) Overhead. A 2-point sweep (2 seeds) of ≈10 s points (≈0.5 s with ``--quick``)
runs serially with its progress bar (to a discarded stream). Overhead = wall time
of ``load_sweep`` + ``run_sweep`` (config resolution, storage, progress, combine,
the final write) minus the points' own compute time, which each point measures
around its workload and returns; reported as a fraction of that compute.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import xarray as xr

from neurosim.experiment.executors import ProcessExecutor, SerialExecutor
from neurosim.experiment.sweep import combine_points, load_sweep, run_sweep

from ._common import Report, Summary, format_table, run_main, setup

TITLE = "sweep: ProcessExecutor(2) vs serial, and the experiment layer's overhead"
SPEEDUP_TARGET = 1.7
OVERHEAD_TARGET = 0.05
N = 256  # matrix size of the workload
RUNNER = f"{__name__}:torch_point"


def _work(seed: int, iterations: int) -> float:
    gen = torch.Generator().manual_seed(seed)
    a = torch.randn(N, N, generator=gen, dtype=torch.float64) / N**0.5
    x = torch.randn(N, N, generator=gen, dtype=torch.float64)
    for _ in range(iterations):
        x = torch.tanh(a @ x)
    return float(x.norm())


def torch_point(config) -> xr.Dataset:
    """The benchmark's runner: ``training.steps`` iterations of ``x ← tanh(A x)`` (256², f64).

    Returns the final norm and ``compute_seconds``, this call's own wall time.
    """
    t0 = time.perf_counter()
    norm = _work(config.seed, config.training.steps)
    seconds = time.perf_counter() - t0
    return xr.Dataset(
        {
            "norm": ((), norm, {"units": "1", "long_name": "‖x‖ after the iterations"}),
            "compute_seconds": ((), seconds, {"units": "s", "long_name": "the point's compute"}),
        }
    )


def _iterations_for(seconds: float) -> int:
    _work(0, 5)
    k, dt = 16, 0.0
    while dt < 0.3:
        k *= 2
        t0 = time.perf_counter()
        _work(0, k)
        dt = time.perf_counter() - t0
    return max(1, round(seconds * k / dt))


def _write(folder: Path, name: str, iterations: int, axes: str, seeds: str) -> Path:
    (folder / f"{name}-base.toml").write_text(f"[training]\nsteps = {iterations}\n")
    path = folder / f"{name}.toml"
    path.write_text(
        f'base = "{name}-base.toml"\nseeds = {seeds}\nrunner = "{RUNNER}"\n[axes]\n{axes}\n'
    )
    return path


def _timed_sweep(path: Path, out: Path, executor, *, progress: bool = False):
    t0 = time.perf_counter()
    spec = load_sweep(path, out=out)
    t_load = time.perf_counter() - t0
    sink = io.StringIO()
    with contextlib.redirect_stderr(sink):
        ds = run_sweep(spec, executor=executor, progress=progress)
    wall = time.perf_counter() - t0
    return spec, ds, wall, t_load


def run(quick: bool = False) -> Report:
    setup()
    point_s = 0.15 if quick else 1.5
    long_s = 0.5 if quick else 10.0
    with tempfile.TemporaryDirectory(prefix="neurosim-bench-sweep-") as tmp:
        folder = Path(tmp)
        # one-time costs of the first sweep in a process (lazy imports: netCDF4, pandas, …)
        warmup = _write(folder, "warmup", 1, "", "[0]")
        _timed_sweep(warmup, folder / "warmup.nc", SerialExecutor())

        # (a) speed-up
        iters = _iterations_for(point_s)
        grid = _write(folder, "grid", iters, '"feedback.alpha" = [0, 30, 60, 90]', "[0, 1]")
        _, serial, t_serial, _ = _timed_sweep(grid, folder / "serial.nc", SerialExecutor())
        _, cold, t_cold, _ = _timed_sweep(grid, folder / "cold.nc", ProcessExecutor(2))
        _, warm, t_warm, _ = _timed_sweep(grid, folder / "warm.nc", ProcessExecutor(2))
        np.testing.assert_array_equal(serial.norm.values, cold.norm.values)  # same results
        c_serial = float(serial.compute_seconds.sum())
        c_cold = float(cold.compute_seconds.sum())
        c_warm = float(warm.compute_seconds.sum())
        sp_cold, sp_warm = t_serial / t_cold, t_serial / t_warm
        rows = [
            ("serial", f"{t_serial:.2f}", f"{c_serial / 8:.2f}", "1.00x"),
            ("2 processes, cold", f"{t_cold:.2f}", f"{c_cold / 8:.2f}", f"{sp_cold:.2f}x"),
            ("2 processes, warm", f"{t_warm:.2f}", f"{c_warm / 8:.2f}", f"{sp_warm:.2f}x"),
        ]

        # (b) overhead of the experiment layer around ~10 s points
        iters_long = _iterations_for(long_s)
        long = _write(folder, "long", iters_long, "", "[0, 1]")
        spec, ds, wall, t_load = _timed_sweep(
            long, folder / "long.nc", SerialExecutor(), progress=True
        )
        compute = float(ds.compute_seconds.sum())
        overhead = wall - compute
        t0 = time.perf_counter()
        combine_points(spec)
        t_combine = time.perf_counter() - t0
        frac = overhead / compute

    text = [
        f"(a) 8 points × ≈{point_s:g} s of 256² float64 tanh(A x) ({iters} iterations), "
        f"torch 1 thread per process, {os.cpu_count()} CPUs; end-to-end run_sweep wall time",
        "",
        format_table(["executor", "wall s", "compute s/point", "speed-up"], rows),
        "",
        "cold = the first pool of this process, including worker start-up (the forkserver "
        "imports torch once); warm = a second sweep, forkserver already up",
        f"one-time worker start-up ≈ cold − warm = {t_cold - t_warm:.2f} s; warm parallel "
        f"efficiency = {sp_warm / 2:.0%} of 2 processes",
        "",
        f"(b) 2 points × ≈{long_s:g} s ({iters_long} iterations)"
        + (
            f" — --quick: {long_s:g} s points, not the 10 s the target is stated for"
            if quick
            else ""
        )
        + ", serial, progress bar on",
        f"wall {wall:.3f} s, points' own compute {compute:.3f} s, "
        f"overhead {overhead * 1e3:.0f} ms = {frac:.2%} of compute "
        f"(load_sweep {t_load * 1e3:.0f} ms, combine_points {t_combine * 1e3:.0f} ms)",
    ]
    point_note = f"{long_s:g} s points" + (" (quick)" if quick else "")
    summary = [
        Summary(
            "sweep",
            "ProcessExecutor(2)/serial, cold",
            f"{sp_cold:.2f}x",
            f">= {SPEEDUP_TARGET}x",
            sp_cold >= SPEEDUP_TARGET,
        ),
        Summary(
            "sweep",
            "ProcessExecutor(2)/serial, warm",
            f"{sp_warm:.2f}x",
            f">= {SPEEDUP_TARGET}x",
            sp_warm >= SPEEDUP_TARGET,
        ),
        Summary(
            "sweep",
            f"experiment-layer overhead, {point_note}",
            f"{frac:.2%}",
            f"< {OVERHEAD_TARGET:.0%}",
            frac < OVERHEAD_TARGET,
        ),
    ]
    return Report(TITLE, "\n".join(text), summary)


def main(argv: Sequence[str] | None = None) -> None:
    run_main(run, __doc__, argv)


if __name__ == "__main__":
    main(sys.argv[1:])

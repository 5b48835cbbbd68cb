"""Accuracy and alignment under every hardware preset in hw_configs/, and why.

Each preset (ideal, asymmetric, rram, pcm, ecram, oscillator) is trained with its
own learning-rule settings on the same task and network (3 seeds); the final test
accuracy, gradient cosine with BP of the same simulated substrate, per-layer δ
alignment and Jacobian symmetry are recorded. The presets with read noise in time
(pcm, rram, ecram: 1/f processes read at every relaxation step, drift or relaxation)
are also run with two variants that isolate the noise model (:data:`VARIANTS`):

* ``per-read white`` -- the earlier model: the read noise redrawn once per relaxation
  (``devices.read_noise_std``, pcm 0.0175 and rram 0.01 of the previous presets), the
  processes off;
* ``no read noise`` -- the processes off, everything else the preset's;
* ``sequential probes`` -- the hEP probes one after the other on one set of devices
  (``timing.nudged = "sequential"``) instead of side by side at the same time stamps,
  where noise common to the probes cancels (the default layout, an idealization).

Full: sklearn digits 64-32-10, 3 seeds, 5 epochs (:data:`FULL` says why not MNIST);
``--quick``: 1 seed, 1 epoch. Writes ``hardware_presets.nc`` (dims preset ×
seed × step × layer; the variants are presets named ``"pcm: per-read white"``, …)
and a figure.

    python studies/hardware_presets.py [--quick] [--workers 2]
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import xarray as xr  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import out_dir, parse_args, run_study_sweep, save  # noqa: E402

from neurosim.experiment import list_presets  # noqa: E402

FULL = {
    "seeds": [0, 1, 2],
    "network.sizes": [64, 32, 10],
    "workload.task": "digits",
    "workload.batch": 32,
    "workload.n_train": 1500,
    "workload.n_test": 297,
    "training.epochs": 5,
    "training.lr": 0.05,
    "training.probe_batch": 32,
}
"""sklearn digits, not the MNIST Table-1 network: with every device read at every
relaxation step the 1/f processes cost 13× the ideal step at 784-256-256-10
(``python -m benchmarks.noise``), about 40 min per preset run on one core."""
MNIST = {
    "seeds": [0, 1, 2],
    "network.sizes": [784, 256, 256, 10],
    "workload.task": "mnist",
    "workload.batch": 50,
    "workload.n_train": 4000,
    "workload.n_test": 1000,
    "training.epochs": 3,
    "training.lr": 0.02,
    "training.probe_batch": 32,
}
"""The earlier (MNIST-5k, Table-1) setting, kept for ``main(settings=MNIST)``."""
QUICK = {
    "seeds": [0],
    "network.sizes": [64, 32, 10],
    "workload.task": "digits",
    "workload.batch": 32,
    "workload.n_train": 1500,
    "workload.n_test": 297,
    "dynamics.free_steps": 60,
    "training.epochs": 1,
    "training.lr": 0.05,
    "training.probe_batch": 16,
}


_NO_PROCESSES = {"noise.flicker_density": 0.0}
VARIANTS: dict[str, tuple[str, dict]] = {
    "pcm: per-read white": ("pcm", {**_NO_PROCESSES, "devices.read_noise_std": 0.0175}),
    "pcm: no read noise": ("pcm", _NO_PROCESSES),
    "rram: per-read white": ("rram", {**_NO_PROCESSES, "devices.read_noise_std": 0.01}),
    "rram: no read noise": ("rram", _NO_PROCESSES),
    "ecram: no read noise": ("ecram", _NO_PROCESSES),
    "pcm: sequential probes": ("pcm", {"timing.nudged": "sequential"}),
    "rram: sequential probes": ("rram", {"timing.nudged": "sequential"}),
}
"""Label → (preset, overrides) of the runs that isolate the noise model."""


def _sweep(preset: str, settings: dict, extra: dict | None = None) -> str:
    lines = [f'base = "{preset}"', f"seeds = {settings['seeds']}", "[overrides]"]
    lines += ['"workload.loss" = "cross_entropy"', '"network.dtype" = "float32"']
    for key, value in {**settings, **(extra or {})}.items():
        if key != "seeds":
            lines.append(f'"{key}" = {value!r}'.replace("'", '"'))
    return "\n".join(lines) + "\n"


def main(argv=None, settings: dict | None = None):
    args = parse_args(__doc__, argv)
    folder = out_dir(args, "hardware_presets")
    if settings is None:
        settings = QUICK if args.quick else FULL
    runs = {name: (name, {}) for name, _ in list_presets()} | VARIANTS
    names = list(runs)
    parts = []
    for label, (preset, extra) in runs.items():
        file = "preset_" + label.replace(": ", "_").replace(" ", "_").replace("-", "_")
        ds = run_study_sweep(_sweep(preset, settings, extra), folder, file, args.workers)
        parts.append(ds.drop_vars("point_id", errors="ignore").expand_dims(preset=[label]))
    ds = xr.concat(parts, dim="preset", combine_attrs="drop")
    path = save(ds, folder, "hardware_presets", {"presets": names, **settings}, settings["seeds"])
    final = ds.isel(step=-1)
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2), constrained_layout=True)
    x = np.arange(len(names))
    for ax, var in zip(axes, ("accuracy", "grad_cosine"), strict=True):
        v = final[var]
        ax.bar(x, v.mean("seed"), yerr=v.std("seed"), capsize=3)
        ax.set_xticks(x, names, rotation=40, ha="right", fontsize=8)
        ax.set(title=f"{var} (final)")
    fig.savefig(folder / "hardware_presets.png", dpi=110)
    plt.close(fig)
    table = final[["accuracy", "grad_cosine", "jacobian_symmetry"]].mean("seed").to_dataframe()
    print(f"wrote {path}")
    print(table.round(4).to_string())
    return ds


if __name__ == "__main__":
    main()

"""When the noise changes matters: EP gradients under white, 1/f and telegraph read noise.

Question: at equal read-noise variance, how do the *spectrum* of the noise and the
*timing* of the phases (the idle time between the free and the nudged phases, the
ADC's integration window) change the gradient a learning rule computes on an analog
substrate, and what it learns? And: does the single-relaxation online estimator
(one oscillating nudge, demodulated at its frequency) reject slow noise like a
lock-in amplifier where the two-phase estimators, which subtract a free state read
earlier, do not?

Substrate: the sklearn-digits network 64-32-10 (shifted sigmoid, float64, softmax
readout), ideal devices plus relative read noise δG/G of stationary std σ = 3 % on
every device of every array (forward and feedback), read at every relaxation step
on the clock (τ_s = 7.8 ns per step, docs/hardware_sources.md §C3):

* ``white``: independent at every read;
* ``flicker``: 1/f over [1 Hz, 64 MHz] (2 components per decade; most of its
  variance is slower than a relaxation);
* ``telegraph``: symmetric RTN, dwell 1 µs (≈ one free phase), amplitude 2σ.

Part A (gradients, no training): the cosine between each rule's weight gradient on
the noisy substrate and the BP gradient of the *noise-free* network (implicit BP),
mean and standard error over repeated batches, for one-sided (β = 0.1), centered
(β = 0.1), holomorphic (r = 0.1, N = 4), online holomorphic (r = 0.1, period 16
steps, 2 periods) and implicit BP on the noisy substrate; swept over the idle time
before each phase and over the readout window. Part B (training): test accuracy
after 5 epochs (SGD lr 0.1, T1 = 150) for each spectrum and estimator, 3 seeds,
nudged phases in turn.

"parallel" nudged phases relax all probes at the same time stamps on the same
devices: an idealization (copies of the hardware would carry noise of their own)
under which time-dependent noise is common to the probes and cancels in their
differences; "sequential" runs them one after the other on one set of devices.

    python studies/noise_timing.py [--quick] [--workers 2]
"""

from __future__ import annotations

import math
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
import xarray as xr  # noqa: E402

sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parent))
from _common import out_dir, parse_args, run_study_sweep, save  # noqa: E402

from neurosim.experiment.config import Config  # noqa: E402
from neurosim.experiment.runner import build  # noqa: E402
from neurosim.learning import ImplicitBP, gradient_alignment  # noqa: E402
from neurosim.substrate import IdealHardware  # noqa: E402

SIGMA = 0.03
TAU_STEP = 7.8125e-9
SPECTRA = {
    "none": {},
    "white": {"noise.white_std": SIGMA},
    "flicker": {
        "noise.flicker_density": SIGMA**2 / math.log(64e6 / 1.0),
        "noise.flicker_f_lo": 1.0,
        "noise.flicker_f_hi": 64e6,
        "noise.flicker_components": 17,
    },
    "telegraph": {
        "noise.telegraph_amplitude": 2 * SIGMA,
        "noise.telegraph_tau_up": 1e-6,
        "noise.telegraph_tau_down": 1e-6,
    },
}
RULES = {
    "one_sided": {"nudge.estimator": "one_sided", "nudge.beta": 0.1},
    "centered": {"nudge.estimator": "centered", "nudge.beta": 0.1},
    "holomorphic": {"nudge.estimator": "holomorphic", "nudge.r": 0.1, "nudge.n": 4},
    "online": {
        "nudge.estimator": "online_holomorphic",
        "nudge.r": 0.1,
        "nudge.period": 16,
        "nudge.periods": 2,
    },
    "bp_substrate": {"training.rule": "implicit"},
}
BASE = {
    "network.sizes": [64, 32, 10],
    "workload.task": "digits",
    "workload.loss": "cross_entropy",
    "workload.n_train": 1500,
    "workload.n_test": 297,
    "workload.batch": 32,
    "dynamics.free_steps": 60,
    "dynamics.nudged_steps": 20,
    "noise.scale": "relative",
}


def _config(
    spectrum: str, rule: str, layout: str, gap: float, window: int, seed: int = 0
) -> Config:
    updates = {**BASE, **SPECTRA[spectrum], **RULES[rule], "seed": seed}
    updates["timing.nudged"] = layout
    updates["timing.settle"] = gap
    updates["timing.readout_window"] = window * TAU_STEP
    return Config().with_updates(updates)


def _cosines(cfg: Config, repeats: int, batch: int) -> np.ndarray:
    """Cosine(rule on the substrate, implicit BP of the noise-free network), per repeat."""
    exp = build(cfg)
    net, loss, data = exp.network, exp.loss, exp.data
    gen = torch.Generator().manual_seed(1)
    out = []
    for _ in range(repeats):
        idx = torch.randperm(data.x_train.shape[0], generator=gen)[:batch]
        x, y = data.x_train[idx], data.y_train[idx]
        hw = net.hardware
        net.hardware = IdealHardware()
        ideal = ImplicitBP(exp.free_phase).compute(net, loss, x, y)
        net.hardware = hw
        ours = exp.rule.compute(net, loss, x, y)
        names = [n for n in ideal.grads if n.endswith("weight") and not n.startswith("loss")]
        al = gradient_alignment(
            {n: ours.grads[n] for n in names}, {n: ideal.grads[n] for n in names}
        )
        out.append(al.total_cosine)
    return np.asarray(out)


def part_a(quick: bool) -> xr.Dataset:
    gaps = [0.0, 1e-3] if quick else [0.0, 1e-7, 1e-6, 1e-4, 1e-2]
    windows = [0] if quick else [0, 16]
    repeats = 2 if quick else 6
    layouts = ["parallel", "sequential"]
    shape = (len(SPECTRA), len(RULES), len(layouts), len(gaps), len(windows))
    mean, se = np.full(shape, np.nan), np.full(shape, np.nan)
    for i, spectrum in enumerate(SPECTRA):
        for j, rule in enumerate(RULES):
            for n, layout in enumerate(layouts):
                for k, gap in enumerate(gaps):
                    for m, window in enumerate(windows):
                        cfg = _config(spectrum, rule, layout, gap, window)
                        c = _cosines(cfg, repeats, 32)
                        mean[i, j, n, k, m] = c.mean()
                        se[i, j, n, k, m] = c.std(ddof=1) / math.sqrt(len(c))
            print(f"  {spectrum:9s} {rule:12s} gap 0: {mean[i, j, :, 0, 0].round(3)}", flush=True)
    dims = ("spectrum", "rule", "layout", "gap", "window")
    return xr.Dataset(
        {
            "grad_cosine": (
                dims,
                mean,
                {"units": "1", "long_name": "cosine vs BP of the noise-free network"},
            ),
            "grad_cosine_se": (
                dims,
                se,
                {"units": "1", "long_name": "standard error over batches"},
            ),
        },
        coords={
            "spectrum": list(SPECTRA),
            "rule": list(RULES),
            "layout": ("layout", layouts, {"long_name": "nudged phases side by side or in turn"}),
            "gap": ("gap", gaps, {"units": "s", "long_name": "idle time before each phase"}),
            "window": ("window", windows, {"units": "steps", "long_name": "ADC window"}),
        },
    )


def _sweep_toml(spectrum: str, quick: bool) -> str:
    from neurosim.experiment.config import toml_value

    over = {**BASE, **SPECTRA[spectrum], "training.epochs": 1 if quick else 5}
    over["training.lr"] = 0.1
    over["dynamics.free_steps"] = 150  # 60 steps stop converging as the weights grow
    over["timing.nudged"] = "sequential"  # one set of devices: the physical layout
    if quick:
        over["workload.n_train"] = 96
    lines = [f'"{k}" = {toml_value(v)}' for k, v in over.items()]
    seeds = "[0]" if quick else "[0, 1, 2]"
    return (
        f'base = "ideal"\nseeds = {seeds}\n[axes]\n'
        '"nudge.estimator" = ["centered", "holomorphic", "online_holomorphic"]\n'
        "[overrides]\n" + "\n".join(lines) + "\n"
        '"nudge.beta" = 0.1\n"nudge.r" = 0.1\n"nudge.period" = 16\n"nudge.periods" = 2\n'
    )


def part_b(folder, quick: bool, workers: int | None) -> xr.Dataset:
    runs = []
    for spectrum in SPECTRA:
        ds = run_study_sweep(_sweep_toml(spectrum, quick), folder, f"train_{spectrum}", workers)
        runs.append(ds.accuracy.isel(step=-1).expand_dims(spectrum=[spectrum]))
    return xr.concat(runs, "spectrum").to_dataset(name="accuracy")


def main(argv=None) -> xr.Dataset:
    args = parse_args(__doc__, argv)
    torch.set_num_threads(1)
    folder = out_dir(args, "noise_timing")
    grads = part_a(args.quick)
    acc = part_b(folder, args.quick, args.workers)
    ds = xr.merge([grads, acc.rename({"nudge.estimator": "estimator"})])
    save(ds, folder, "noise_timing", {"sigma": SIGMA, "base": BASE, "spectra": SPECTRA}, 0)
    _figure(ds, folder / "noise_timing.png")
    for spectrum in ds.spectrum.values:
        print(f"{spectrum}:")
        for layout in ds.layout.values:
            print(f"  nudged phases {layout}:")
            sel = ds.grad_cosine.sel(spectrum=spectrum, window=0, layout=layout)
            print(sel.to_pandas().round(3))
    print("test accuracy (mean over seeds):")
    print(acc.accuracy.mean("seed").to_pandas().round(3))
    return ds


def _figure(ds: xr.Dataset, path) -> None:
    fig, axes = plt.subplots(1, len(ds.spectrum), figsize=(4 * len(ds.spectrum), 3.2), sharey=True)
    for ax, spectrum in zip(np.atleast_1d(axes), ds.spectrum.values, strict=True):
        for rule in ds.rule.values:
            sel = ds.sel(spectrum=spectrum, rule=rule, window=0, layout="sequential")
            gaps = np.maximum(ds.gap.values, 1e-9)
            ax.errorbar(
                gaps, sel.grad_cosine, yerr=sel.grad_cosine_se, marker="o", capsize=2, label=rule
            )
        ax.set(
            xscale="log",
            title=f"{spectrum} (σ = {SIGMA})",
            xlabel="idle time before each phase (s)",
        )
    np.atleast_1d(axes)[0].set_ylabel("cosine vs noise-free BP (± SE)")
    np.atleast_1d(axes)[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    main()

"""Affine digits: a GL⁺(2)-equivariant CNN vs an SO(2) variant vs a plain CNN (3 seeds).

Train on untransformed, centred MNIST-5k digits (40×40 canvas), test on the held-out
digits untransformed and under affNIST-style affine maps
(:func:`neurosim.workloads.affine_digits.affine_digits`: rotation ±20°, shear ±0.2, scales
in [0.8, 1.2], in-canvas translation). Models (:mod:`equivariance.lie`):

``affine``   GroupCNN on ℝ² ⋊ GL⁺(2): rotations truncated to ±45°, log-scale in
             [log 0.8, log 1.25], stretch R = 0.2 (singular-value ratio ≤ e^0.4 = 1.5)
``rotation`` the same network on ℝ² ⋊ SO(2), rotations truncated to ±45°
``cnn``      PlainCNN with about the same number of parameters

Why the truncations (measured, 1000 digits, 150 Adam steps; see the issue-7 report):
with all of SO(2) the network must treat 6 and 9 (and every digit and its rotation)
alike and its training loss stalled at 1.7 (clean accuracy 0.38); truncating the
compact part to ±45° (the Haar measure restricted to the arc, which still covers the
test's ±20° plus the ≈6° rotation that shear adds) brought it to 0.42 (0.89). Stretch
R = 0.35 (ratio 2.0, more than affNIST's worst case) left GL⁺(2) at loss 0.87 against
0.50 with R = 0.2 (ratio 1.5 = 1.2/0.8). Group pooling is max (0.42 vs 0.61 for mean).

Differences from Mironenco & Forré's affNIST setting (GResNet: lifting layer, 2 residual
blocks × 40 channels, k = 5, SIREN kernels 2 × 60, LayerNorm, GELU, 10 group samples
redrawn each forward pass with an equidistant rotation grid and log-normal stretches,
MLP head, full MNIST, 50 epochs), forced by a 20-minute budget on one CPU core:
2 plain blocks × 16 channels, k = 5, SIREN 2 × 64, BatchNorm, ReLU, 8 samples redrawn
per training step (rotations stratified on the ±45° arc, s from the truncated Haar
density) and 16 fixed samples at evaluation, images average-pooled 40×40 → 20×20,
4000 training digits, 8 epochs of Adam (one-cycle, peak 5e-3); no augmentation for any
model.

Outcome on this setting (3 seeds, untransformed / translated / affine): GL⁺(2)
0.939 / 0.914 / 0.862, SO(2) 0.961 / 0.943 / 0.890, CNN 0.969 / 0.949 / 0.900: the
group models now fit the data, but all three lose about 5 points from translated to
affine, i.e. the approximate invariance buys no robustness here. Measured on trained
1000-digit models, a 20° rotation moves the SO(2) model's invariant features by 0.41
of the mean between-digit distance (CNN 0.49; untrained: 0.18 on the ±45° arc, 0.10 on
all of SO(2), 0 at 90°): training makes the sampled kernels alias at 20×20 and puts
the group maximum near the ends of the arc.

``--quick``: 500 training / 200 test digits, 4 channels, 4 samples, 1 epoch, 1 seed.
Writes ``affine_digits.nc`` (accuracy per model × seed × test set, losses per epoch,
parameter counts, wall times) and ``affine_digits.png``.

    python studies/affine_digits.py [--quick] [--out DIR]
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path

import matplotlib
import numpy as np
import torch
import torch.nn.functional as F
import xarray as xr

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import out_dir, parse_args, save  # noqa: E402

from equivariance.lie import SO, GLPlus, GroupCNN, PlainCNN  # noqa: E402
from neurosim.workloads.affine_digits import affine_digits  # noqa: E402

FULL = dict(
    n_train=4000,
    n_test=1000,
    channels=16,
    num_samples=8,
    eval_samples=16,
    epochs=8,
    batch=64,
    lr=5e-3,
    seeds=[0, 1, 2],
    cnn_channels=(24, 44),
    hidden=64,
)
QUICK = dict(
    n_train=500,
    n_test=200,
    channels=4,
    num_samples=4,
    eval_samples=8,
    epochs=1,
    batch=50,
    lr=1e-2,
    seeds=[0],
    cnn_channels=(8, 16),
    hidden=32,
)
MODELS = ("affine", "rotation", "cnn")
#: Truncation of the compact part, radians (test rotations ±20°, shear adds ≈ ±6°).
MAX_ANGLE = math.pi / 4
#: ``translated`` is a control: the same held-out digits with only the in-canvas
#: translation (identity linear part), so the loss that no GL⁺(2) invariance can remove
#: (border effects, odd 40-px shifts becoming half-pixel shifts after 2× pooling,
#: stride-2 pooling) is measured apart from the affine part.
SETS = ("untransformed", "translated", "affine")
IDENTITY = {
    "rotation_deg": (0.0, 0.0),
    "shear": (0.0, 0.0),
    "scale_x": (1.0, 1.0),
    "scale_y": (1.0, 1.0),
}


def build(name: str, cfg: dict) -> torch.nn.Module:
    c = cfg["channels"]
    kw = dict(
        channels=(c, c),
        kernel_size=5,
        num_samples=cfg["num_samples"],
        eval_samples=cfg["eval_samples"],
        hidden=cfg["hidden"],
        layers=2,
        omega0=10.0,
        group_pool="max",
    )
    if name == "affine":
        group = GLPlus(
            2, log_scale=(math.log(0.8), math.log(1.25)), max_stretch=0.2, max_angle=MAX_ANGLE
        )
        return GroupCNN(group, **kw)
    if name == "rotation":
        return GroupCNN(SO(2, max_angle=MAX_ANGLE), **kw)
    return PlainCNN(channels=cfg["cnn_channels"], kernel_size=5)


def shrink(x: torch.Tensor) -> torch.Tensor:
    """40×40 → 20×20 (average pooling), for CPU cost."""
    return F.avg_pool2d(x, 2)


@torch.no_grad()
def accuracy(model, x, y, batch=250) -> float:
    model.eval()
    hits = sum(
        int((model(x[i : i + batch]).argmax(-1) == y[i : i + batch]).sum())
        for i in range(0, len(x), batch)
    )
    return hits / len(x)


def train(model, x, y, cfg, seed) -> list[float]:
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=cfg["lr"])
    steps = cfg["epochs"] * (len(x) // cfg["batch"])
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, cfg["lr"], total_steps=steps)
    losses = []
    for _ in range(cfg["epochs"]):
        model.train()
        order, total, count = torch.randperm(len(x), generator=gen), 0.0, 0
        for i in range(0, len(x) - cfg["batch"] + 1, cfg["batch"]):
            idx = order[i : i + cfg["batch"]]
            loss = F.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total, count = total + float(loss.detach()), count + 1
        losses.append(total / count)
    return losses


def main(argv=None):
    args = parse_args(__doc__, argv)
    torch.set_num_threads(1)
    folder = out_dir(args, "affine_digits")
    cfg = QUICK if args.quick else FULL
    data = affine_digits(n_train=cfg["n_train"], n_test=cfg["n_test"], seed=0)
    moved = affine_digits(n_train=cfg["n_train"], n_test=cfg["n_test"], seed=0, ranges=IDENTITY)
    xtr, ytr = shrink(data.x_train), data.y_train
    tests = {
        "untransformed": (shrink(data.x_test), data.y_test),
        "translated": (shrink(moved.x_affine), moved.y_affine),
        "affine": (shrink(data.x_affine), data.y_affine),
    }
    seeds = cfg["seeds"]
    acc = np.full((len(MODELS), len(seeds), len(SETS)), np.nan)
    loss = np.full((len(MODELS), len(seeds), cfg["epochs"]), np.nan)
    wall = np.full((len(MODELS), len(seeds)), np.nan)
    params = np.zeros(len(MODELS), dtype=np.int64)
    for m, name in enumerate(MODELS):
        for s, seed in enumerate(seeds):
            torch.manual_seed(seed)
            model = build(name, cfg)
            params[m] = sum(p.numel() for p in model.parameters())
            t0 = time.perf_counter()
            loss[m, s] = train(model, xtr, ytr, cfg, seed)
            for k, key in enumerate(SETS):
                acc[m, s, k] = accuracy(model, *tests[key])
            wall[m, s] = time.perf_counter() - t0
            print(
                f"{name:9s} seed {seed}: "
                + "  ".join(f"{key} {acc[m, s, k]:.4f}" for k, key in enumerate(SETS))
                + f"  ({wall[m, s]:.0f} s, {params[m]} params, final train loss "
                f"{loss[m, s, -1]:.3f})",
                flush=True,
            )
    ds = xr.Dataset(
        {
            "accuracy": (
                ("model", "seed", "test_set"),
                acc,
                {"units": "1", "long_name": "test accuracy"},
            ),
            "train_loss": (
                ("model", "seed", "epoch"),
                loss,
                {"units": "nats", "long_name": "mean training cross-entropy"},
            ),
            "wall_time": (
                ("model", "seed"),
                wall,
                {"units": "s", "long_name": "training + evaluation time, 1 thread"},
            ),
            "n_params": (("model",), params, {"units": "1", "long_name": "trainable parameters"}),
        },
        coords={
            "model": list(MODELS),
            "seed": seeds,
            "test_set": list(SETS),
            "epoch": np.arange(1, cfg["epochs"] + 1),
        },
    )
    ds.attrs["references"] = (
        "Mironenco & Forre, Lie Group Decompositions for Equivariant Neural Networks, "
        "ICLR 2024, arXiv:2310.11366; affNIST: https://www.cs.toronto.edu/~tijmen/affNIST/"
    )
    save(
        ds,
        folder,
        "affine_digits",
        {
            "study": "affine_digits",
            **{k: (list(v) if isinstance(v, (list, tuple)) else v) for k, v in cfg.items()},
        },
        seeds,
    )

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6), constrained_layout=True)
    mean, std = ds.accuracy.mean("seed"), ds.accuracy.std("seed")
    for k, key in enumerate(SETS):
        axes[0].bar(
            np.arange(len(MODELS)) + 0.27 * k,
            mean.sel(test_set=key),
            0.27,
            yerr=std.sel(test_set=key),
            label=key,
            capsize=3,
        )
    axes[0].set(
        xticks=np.arange(len(MODELS)) + 0.27,
        xticklabels=MODELS,
        ylim=(0, 1),
        title="test accuracy (mean ± std over seeds)",
    )
    axes[0].legend(fontsize=8)
    for name in MODELS:
        axes[1].plot(ds.epoch, ds.train_loss.sel(model=name).mean("seed"), "o-", label=name)
    axes[1].set(xlabel="epoch", ylabel="train loss", title="training")
    axes[1].legend(fontsize=8)
    ex = tests["affine"][0][:8, 0]
    axes[2].imshow(torch.cat(list(ex), dim=1).numpy(), cmap="gray")
    axes[2].set(title="affine test digits (20×20 after pooling)", xticks=[], yticks=[])
    fig.savefig(folder / "affine_digits.png", dpi=110)
    plt.close(fig)
    print("accuracy mean (std) over seeds:")
    print(mean.to_pandas().round(4).to_string())
    print(std.to_pandas().round(4).to_string())
    return ds


if __name__ == "__main__":
    main()

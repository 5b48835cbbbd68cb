"""Frame averaging on the charged n-body task: FA-GNN, FA-MLP, their plain backbones, augmentation.

Models (same optimizer, epochs, batch and learning-rate schedule; 3 seeds of weights and
batch order on one dataset):

``gnn`` / ``mlp``
    the plain backbones of :mod:`equivariance.backbones` on raw coordinates (the GNN is
    permutation equivariant, neither is rotation equivariant);
``fa_gnn`` / ``fa_mlp``
    the same backbones wrapped in :class:`equivariance.frames.FrameAveraging` (E(3), PCA
    frame of the positions, 8 elements; velocities as vectors, charges as scalars);
``aug_gnn`` / ``aug_mlp``
    the plain backbones trained on inputs moved by a fresh random E(3) element per sample
    and step (rotation, reflection, translation ~ N(0, 1)); evaluated on untouched inputs.

Task: :func:`neurosim.workloads.nbody.nbody` (5 charged particles, input at step 3100,
target positions 1000 steps later, 3000 / 2000 / 2000 systems). Loss: MSE of the
positions. The reported test MSE is at the epoch of lowest validation MSE (EGNN's
protocol). Each model's E(3) equivariance error (random element with reflection, float64
copy of the trained model, 200 test systems) is recorded too.

Full run: 40 epochs of batch 100 (EGNN and FA train for thousands; the budget fits one CPU
core in about 13 min). ``--quick``: 240 / 60 / 120 systems, 3 epochs, 1 seed.
Writes ``frame_averaging.nc`` (dims model × seed × epoch) and ``frame_averaging.png``.

    python studies/frame_averaging.py [--quick] [--workers 2]
"""

from __future__ import annotations

import math
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import matplotlib
import numpy as np
import torch
import xarray as xr

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _common import out_dir, parse_args, save  # noqa: E402

from equivariance.backbones import GNNBackbone, MLPBackbone  # noqa: E402
from equivariance.frames import FrameAveraging  # noqa: E402
from equivariance.testing import random_orthogonal  # noqa: E402
from neurosim.workloads.nbody import NBodyDataset, NBodySplit, nbody  # noqa: E402

MODELS = ("fa_gnn", "gnn", "aug_gnn", "fa_mlp", "mlp", "aug_mlp")
FA_PAPER_MSE = 0.0057  # Puny et al. 2022, Table 3, FA-GNN on EGNN's n-body data

FULL = dict(
    seeds=[0, 1, 2], epochs=40, batch=100, lr=1e-3, eval_every=4, gnn_hidden=64,
    gnn_layers=4, mlp_hidden=128, mlp_layers=3, n_train=3000, n_valid=2000, n_test=2000,
    data_seed=0,
)  # fmt: skip
QUICK = dict(FULL, seeds=[0], epochs=3, eval_every=1, n_train=240, n_valid=60, n_test=120)


def build(name: str, cfg: dict) -> torch.nn.Module:
    if name.endswith("gnn"):
        net = GNNBackbone(hidden=cfg["gnn_hidden"], layers=cfg["gnn_layers"])
    else:
        net = MLPBackbone(5, hidden=cfg["mlp_hidden"], layers=cfg["mlp_layers"])
    return FrameAveraging(net, group="E", dim=3, output="points") if name.startswith("fa_") else net


def _augment(batch, gen: torch.Generator):
    """Move each system of a batch by its own random E(3) element (with reflections)."""
    loc, vel, q, target = batch
    B = loc.shape[0]
    Q = torch.stack(
        [random_orthogonal(3, gen, loc.dtype, inversion=bool(k)) for k in torch.randint(
            0, 2, (B,), generator=gen).tolist()]
    )  # fmt: skip
    t = torch.randn(B, 1, 3, generator=gen, dtype=loc.dtype)
    return loc @ Q.mT + t, vel @ Q.mT, q, target @ Q.mT + t


@torch.no_grad()
def mse(model: torch.nn.Module, split: NBodySplit, chunk: int = 500) -> float:
    total = 0.0
    for s in range(0, len(split), chunk):
        sl = slice(s, s + chunk)
        pred = model(split.loc[sl], split.vel[sl], split.charges[sl])
        total += float(((pred - split.target[sl]) ** 2).sum())
    return total / split.target.numel()


@torch.no_grad()
def e3_error(model: torch.nn.Module, split: NBodySplit, seed: int, n: int = 200) -> float:
    """Relative E(3) equivariance error of the trained model (float64 copy)."""
    import copy

    m = copy.deepcopy(model).double()
    gen = torch.Generator().manual_seed(10_000 + seed)
    Q = random_orthogonal(3, gen, inversion=True)
    t = torch.randn(3, generator=gen, dtype=torch.float64)
    x, v, q = (a[:n].double() for a in (split.loc, split.vel, split.charges))
    y = m(x, v, q)
    y2 = m(x @ Q.T + t, v @ Q.T, q)
    return float((y2 - (y @ Q.T + t)).abs().max() / (y @ Q.T + t).abs().max())


def train(name: str, seed: int, data: NBodyDataset, cfg: dict) -> dict:
    """Train one model; per-evaluation train/valid/test MSE, best-valid test MSE, seconds."""
    torch.set_num_threads(1)
    torch.manual_seed(seed)
    model = build(name, cfg)
    opt = torch.optim.Adam(model.parameters(), lr=cfg["lr"])
    steps = cfg["epochs"] * (len(data.train) // cfg["batch"])
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda k: 0.5 * (1 + math.cos(math.pi * min(k, steps) / steps))
    )
    gen = torch.Generator().manual_seed(seed)
    aug_gen = torch.Generator().manual_seed(1000 + seed)
    curves = {"train_mse": [], "valid_mse": [], "test_mse": []}
    t0 = time.perf_counter()
    for epoch in range(1, cfg["epochs"] + 1):
        model.train()
        run, count = 0.0, 0
        for batch in data.train.batches(cfg["batch"], gen):
            if name.startswith("aug_"):
                batch = _augment(batch, aug_gen)
            loc, vel, q, target = batch
            loss = ((model(loc, vel, q) - target) ** 2).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            run, count = run + loss.item(), count + 1
        if epoch % cfg["eval_every"] == 0 or epoch == cfg["epochs"]:
            model.eval()
            curves["train_mse"].append(run / max(count, 1))
            curves["valid_mse"].append(mse(model, data.valid))
            curves["test_mse"].append(mse(model, data.test))
    seconds = time.perf_counter() - t0
    best = int(np.argmin(curves["valid_mse"]))
    return {
        **curves,
        "best_test_mse": curves["test_mse"][best],
        "best_epoch": (best + 1) * cfg["eval_every"] if best + 1 < len(curves["valid_mse"])
        else cfg["epochs"],
        "train_seconds": seconds,
        "e3_error": e3_error(model, data.test, seed),
        "n_params": sum(p.numel() for p in model.parameters()),
    }  # fmt: skip


def _job(args):
    return train(*args)


def run(cfg: dict, workers: int | None = None) -> xr.Dataset:
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    data = nbody(
        seed=cfg["data_seed"], n_train=cfg["n_train"], n_valid=cfg["n_valid"],
        n_test=cfg["n_test"],
    )  # fmt: skip
    print(f"data: {time.perf_counter() - t0:.1f} s")
    jobs = [(m, s, data, cfg) for m in MODELS for s in cfg["seeds"]]
    if workers and workers > 1:
        with ProcessPoolExecutor(workers) as ex:
            results = list(ex.map(_job, jobs))
    else:
        results = []
        for job in jobs:
            results.append(train(*job))
            r = results[-1]
            print(
                f"{job[0]:8s} seed {job[1]}: test MSE {r['best_test_mse']:.5f} "
                f"({r['train_seconds']:.0f} s, E(3) error {r['e3_error']:.1e})",
                flush=True,
            )
    res = {(j[0], j[1]): r for j, r in zip(jobs, results, strict=True)}
    n_eval = len(results[0]["valid_mse"])
    epochs = [min((k + 1) * cfg["eval_every"], cfg["epochs"]) for k in range(n_eval)]
    coords = {"model": list(MODELS), "seed": cfg["seeds"], "epoch": epochs}

    def grid(key, per_epoch):
        a = np.array([[res[(m, s)][key] for s in cfg["seeds"]] for m in MODELS], dtype=float)
        dims = ("model", "seed", "epoch") if per_epoch else ("model", "seed")
        return dims, a

    desc = {
        "train_mse": ("training loss (running mean over the epoch)", True),
        "valid_mse": ("validation MSE of the positions", True),
        "test_mse": ("test MSE of the positions", True),
        "best_test_mse": ("test MSE at the epoch of lowest validation MSE", False),
        "best_epoch": ("epoch of lowest validation MSE", False),
        "train_seconds": ("training wall time, one thread", False),
        "e3_error": ("relative E(3) equivariance error of the trained model (float64)", False),
    }
    ds = xr.Dataset(coords=coords)
    for key, (long_name, per_epoch) in desc.items():
        ds[key] = grid(key, per_epoch)
        ds[key].attrs["long_name"] = long_name
        units = {"train_seconds": "s", "best_epoch": "1", "e3_error": "1"}.get(key, "length^2")
        ds[key].attrs["units"] = units
    ds["n_params"] = ("model", [res[(m, cfg["seeds"][0])]["n_params"] for m in MODELS])
    ds["n_params"].attrs.update(long_name="trainable parameters", units="1")
    ds.attrs.update(data.metadata())
    ds.attrs["fa_paper_fa_gnn_mse"] = FA_PAPER_MSE
    ds.attrs["references"] = (
        "Puny et al., Frame Averaging for Invariant and Equivariant Network Design, ICLR 2022; "
        "Satorras et al., E(n) Equivariant Graph Neural Networks, ICML 2021"
    )
    return ds


def table(ds: xr.Dataset) -> str:
    m, s = ds.best_test_mse.mean("seed"), ds.best_test_mse.std("seed")
    lines = [f"model     test MSE, mean ± std ({ds.sizes['seed']} seeds)   E(3) error   s/run"]
    for name in ds.model.values:
        lines.append(
            f"{name:8s}  {float(m.sel(model=name)):.5f} ± {float(s.sel(model=name)):.5f}"
            f"{float(ds.e3_error.sel(model=name).max()):21.1e}"
            f"{float(ds.train_seconds.sel(model=name).mean()):10.0f}"
        )
    lines.append(f"(FA paper, FA-GNN on EGNN's data: {FA_PAPER_MSE}; data and budget differ)")
    return "\n".join(lines)


def figure(ds: xr.Dataset, path: Path) -> None:
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), constrained_layout=True)
    for name in ds.model.values:
        d = ds.valid_mse.sel(model=name)
        style = "-" if name.startswith("fa_") else ("--" if name.startswith("aug_") else ":")
        axes[0].plot(ds.epoch, d.mean("seed"), style, marker="o", ms=3, label=str(name))
    axes[0].set(xlabel="epoch", ylabel="validation MSE", yscale="log", title="learning curves")
    axes[0].legend(fontsize=7)
    m, s = ds.best_test_mse.mean("seed"), ds.best_test_mse.std("seed")
    x = np.arange(ds.sizes["model"])
    axes[1].bar(x, m, yerr=s, capsize=3, color=["C0" if str(n).startswith("fa_") else "C7"
                                                  for n in ds.model.values])  # fmt: skip
    axes[1].axhline(FA_PAPER_MSE, color="k", ls="--", lw=1, label="FA paper FA-GNN (its data)")
    axes[1].set_xticks(x, [str(n) for n in ds.model.values], rotation=30)
    axes[1].set(ylabel="test MSE (best valid epoch)", yscale="log", title="n-body test MSE")
    axes[1].legend(fontsize=7)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None) -> xr.Dataset:
    args = parse_args(__doc__, argv)
    cfg = QUICK if args.quick else FULL
    folder = out_dir(args, "frame_averaging")
    ds = run(cfg, args.workers)
    save(ds, folder, "frame_averaging", {k: str(v) for k, v in cfg.items()}, cfg["seeds"])
    figure(ds, folder / "frame_averaging.png")
    print(table(ds))
    return ds


if __name__ == "__main__":
    main()

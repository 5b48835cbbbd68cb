"""Affine-group CNNs (:mod:`equivariance.lie`) vs a plain CNN of the same parameter count.

The models of ``studies/affine_digits.py`` at its full setting: ``GroupCNN`` on
ℝ² ⋊ GL⁺(2) and on ℝ² ⋊ SO(2) (rotations truncated to ±45°, 2 blocks × 16 channels,
k = 7 with 3 × 3 sub-pixel kernel supersampling, SIREN 2 × 64, max group pooling) and
``PlainCNN(channels=(24, 44))`` (k = 5), on
20×20 single-channel images, float32, one thread. Per call, after warm-up:

``train`` (fwd+bwd)
    training mode (8 group samples drawn), cross-entropy, ``backward``: one step's cost.
``eval`` (fwd)
    eval mode under ``no_grad`` (16 fixed group samples, as the study evaluates).
``kernels``
    for the group models, the part of a training forward spent building the
    convolution kernels (SIREN evaluation at the transformed offsets), which does not
    depend on the batch size.

Within a cell (batch, mode) the models run in interleaved rounds; times are medians
over rounds and ratios medians of per-round ratios ``t(group) / t(cnn)``. Informational
(no target): the price of the group axis, about ``N`` times the channels of a plain
convolution, against the CNN.
"""

from __future__ import annotations

import math
import statistics
import sys
import time
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from equivariance.lie import SO, GLPlus, GroupCNN, PlainCNN

from ._common import Report, Summary, format_table, interleaved_times, median_ratio, run_main, setup

TITLE = "lie: affine-group CNNs vs a plain CNN (forward, forward+backward)"
MAX_ANGLE = math.pi / 4


def _models(channels: int, hidden: int) -> dict[str, torch.nn.Module]:
    kw = dict(
        channels=(channels, channels),
        kernel_size=7,
        supersample=3,
        num_samples=8,
        eval_samples=16,
        hidden=hidden,
        group_pool="max",
    )
    gl = GLPlus(2, log_scale=(math.log(0.8), math.log(1.25)), max_stretch=0.2, max_angle=MAX_ANGLE)
    return {
        "GL+(2)": GroupCNN(gl, **kw),
        "SO(2)": GroupCNN(SO(2, max_angle=MAX_ANGLE), **kw),
        "cnn": PlainCNN(channels=(24, 44) if channels == 16 else (channels, 2 * channels)),
    }


def _step(model, x, y, mode):
    if mode == "train":
        model.train()

        def fn():
            model.zero_grad(set_to_none=True)
            F.cross_entropy(model(x), y).backward()

    else:
        model.eval()

        def fn():
            with torch.no_grad():
                model(x)

    return fn


def _kernels(model):
    model.train()
    x = torch.zeros(1, 1, 20, 20)

    def fn():
        smp = model.draw(x)
        for conv in model.convs:
            conv.kernel(smp)

    return fn


def run(quick: bool = False) -> Report:
    setup()
    t_start = time.perf_counter()
    channels, hidden = (4, 16) if quick else (16, 64)
    batches = (8,) if quick else (64, 250)
    rounds = 3 if quick else 7
    models = _models(channels, hidden)
    params = {k: sum(p.numel() for p in m.parameters()) for k, m in models.items()}
    gen = torch.Generator().manual_seed(0)
    rows, summary = [], []
    for B in batches:
        x = torch.rand(B, 1, 20, 20, generator=gen)
        y = torch.randint(0, 10, (B,), generator=gen)
        for mode in ("train", "eval"):
            times = interleaved_times(
                {k: _step(m, x, y, mode) for k, m in models.items()}, rounds=rounds
            )
            med = {k: statistics.median(v) for k, v in times.items()}
            ratios = {k: median_ratio(times[k], times["cnn"]) for k in ("GL+(2)", "SO(2)")}
            rows.append(
                (
                    B,
                    mode,
                    *(f"{med[k] * 1e3:.1f}" for k in models),
                    *(f"{ratios[k]:.1f}x" for k in ratios),
                )
            )
            summary.append(
                Summary(
                    "lie",
                    f"GL+(2) GroupCNN / CNN time, B={B}, {mode}",
                    f"{ratios['GL+(2)']:.1f}x",
                    "-",
                    None,
                )
            )
    ktimes = interleaved_times({k: _kernels(models[k]) for k in ("GL+(2)", "SO(2)")}, rounds=rounds)
    text = [
        f"20x20 images, float32, {torch.get_num_threads()} thread; ms per call (median over "
        f"{rounds} interleaved rounds); parameters: "
        + ", ".join(f"{k} {v}" for k, v in params.items()),
        "",
        format_table(["B", "mode", *(f"{k} ms" for k in models), "GL+(2)/cnn", "SO(2)/cnn"], rows),
        "",
        "kernel construction per training forward (batch-independent): "
        + ", ".join(f"{k} {statistics.median(v) * 1e3:.1f} ms" for k, v in ktimes.items()),
        f"\n(total {time.perf_counter() - t_start:.1f} s)",
    ]
    return Report(TITLE, "\n".join(text), summary)


def main(argv: Sequence[str] | None = None) -> None:
    run_main(run, __doc__, argv)


if __name__ == "__main__":
    main(sys.argv[1:])

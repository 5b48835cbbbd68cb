"""Frame averaging: cost of the E(3) FA wrapper relative to its backbone.

Workload: the n-body shapes (clouds of ``N = 5`` points in 3-D with velocities and charges),
batch ``B = 100``, float32, one thread, random inputs. Backbones of
:mod:`equivariance.backbones` at the study's sizes: the GNN (hidden 64, 4 layers) and the
MLP (hidden 128, 3 layers). For each, per call after warm-up:

``fwd``
    forward under ``no_grad``;
``fwd+bwd``
    forward, MSE loss and backward to the parameters.

``backbone`` runs on the ``B`` clouds, ``FA`` is :class:`~equivariance.frames.FrameAveraging`
(group E(3), ``|F| = 8`` elements per generic cloud, one backbone call on ``8B`` rows) and
``frame`` times :func:`~equivariance.frames.pca_frame` alone and ``stacked`` the backbone
alone on ``8B`` rows (the inputs repeated): ``FA / stacked`` is the wrapper's own overhead,
while ``stacked / backbone`` can exceed 8 once the larger activations leave the cache.
Calls run in interleaved rounds; ratios are medians of per-round ratios
``t(FA) / t(backbone)``. Target (issue): ``<= |F|`` = 8x. Printed, never asserted.
"""

from __future__ import annotations

import statistics
import sys
from collections.abc import Callable, Sequence

import torch

from equivariance.backbones import GNNBackbone, MLPBackbone
from equivariance.frames import FrameAveraging, pca_frame

from ._common import (
    Report,
    Summary,
    format_table,
    interleaved_times,
    median_ratio,
    run_main,
    setup,
)

TITLE = "frames: FA wrapper vs its backbone (E(3), |F| = 8)"
FRAME_SIZE = 8


def _calls(model: torch.nn.Module, x, v, q, y, mode: str) -> Callable[[], object]:
    if mode == "fwd":

        def fwd():
            with torch.no_grad():
                return model(x, v, q)

        return fwd

    def fwd_bwd():
        model.zero_grad(set_to_none=True)
        loss = ((model(x, v, q) - y) ** 2).mean()
        loss.backward()
        return loss

    return fwd_bwd


def _repeat(fn: Callable[[], object], k: int) -> Callable[[], None]:
    def many():
        for _ in range(k):
            fn()

    return many


def run(quick: bool = False) -> Report:
    setup()
    B, rounds = (20, 3) if quick else (100, 15)
    gen = torch.Generator().manual_seed(0)
    x, v, y = torch.randn(3, B, 5, 3, generator=gen).unbind(0)
    q = torch.randint(0, 2, (B, 5, 1), generator=gen).float() * 2 - 1
    torch.manual_seed(0)
    backbones = {
        "gnn": GNNBackbone(hidden=64, layers=4),
        "mlp": MLPBackbone(5, hidden=128, layers=3),
    }
    rows, summary = [], []
    for name, net in backbones.items():
        fa = FrameAveraging(net, group="E", dim=3, output="points")
        for mode in ("fwd", "fwd+bwd"):
            base = _calls(net, x, v, q, y, mode)
            wrapped = _calls(fa, x, v, q, y, mode)
            k = 1 if name == "gnn" else 10  # keep MLP samples above timer noise
            big = _calls(net, *(a.repeat(FRAME_SIZE, 1, 1) for a in (x, v, q, y)), mode)
            fns = {
                "backbone": _repeat(base, k),
                "FA": _repeat(wrapped, k),
                "stacked": _repeat(big, k),
            }
            if mode == "fwd":
                fns["frame"] = _repeat(lambda: pca_frame(x, "E"), k)
            t = interleaved_times(fns, rounds=rounds, warmup=2)
            ratio = median_ratio(t["FA"], t["backbone"])
            frame_share = f"{median_ratio(t['frame'], t['FA']) * 100:.1f}%" if "frame" in t else "-"
            rows.append(
                (
                    name,
                    mode,
                    f"{statistics.median(t['backbone']) / k * 1e3:.3f}",
                    f"{statistics.median(t['FA']) / k * 1e3:.3f}",
                    f"{ratio:.2f}x",
                    f"{ratio / FRAME_SIZE:.2f}",
                    f"{statistics.median(t['stacked']) / k * 1e3:.3f}",
                    f"{median_ratio(t['FA'], t['stacked']):.2f}x",
                    frame_share,
                )
            )
            summary.append(
                Summary(
                    "frames",
                    f"FA / backbone, {name}, {mode}, B={B}",
                    f"{ratio:.2f}x",
                    f"<= {FRAME_SIZE}x",
                    ratio <= FRAME_SIZE,
                )
            )
    headers = [
        "backbone",
        "mode",
        "backbone ms",
        "FA ms",
        "FA/backbone",
        "/ |F|",
        "stacked ms",
        "FA/stacked",
        "frame/FA",
    ]
    text = (
        f"B={B} clouds of 5 points, float32, {torch.get_num_threads()} thread; ms per call "
        f"(median over {rounds} interleaved rounds); ratios are medians of per-round ratios; "
        f"'/ |F|' = ratio / {FRAME_SIZE}; 'stacked' = the backbone alone on the {FRAME_SIZE}B "
        "rows FA feeds it (FA/stacked = the wrapper's own overhead); frame/FA = share of "
        "pca_frame in the FA forward\n\n" + format_table(headers, rows)
    )
    return Report(TITLE, text, summary)


def main(argv: Sequence[str] | None = None) -> None:
    run_main(run, __doc__, argv)


if __name__ == "__main__":
    main(sys.argv[1:])

"""Relaxation throughput as a fraction of this machine's own dense-matmul peak.

For a dense ``[n, n, n, n]`` network (float32, sigmoid, gain 0.5: a contraction,
so the run stays finite), time ``relax(net, x, steps=T, tol=0)`` under
``torch.no_grad()`` and convert it to useful GFLOP/s:

    per step   2·B·Σ_l n_{l-1}·n_l over the forward maps of layers 2..L
             + 2·B·Σ_l n_l·n_{l+1} over the feedback maps into layers 1..L-1
    once       2·B·n_0·n_1  (the input drive W_1 x, computed once per relaxation)

The final residual evaluation relax() does after the loop (one more drive) and
the element-wise work (activations, adds) are *not* counted: they are overhead
the fraction has to absorb. ``check_every = steps + 1`` so no host sync happens
inside the loop.

The peak is measured in the same process: ``torch.mm`` on the (B, n)·(n, n)
shapes the relaxation itself multiplies (both layouts it uses, z·W and z·Wᵀ;
best of the two), and a large square 2048³ ``torch.mm``.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence

import torch

from neurosim.substrate import LayeredNetwork, relax

from ._common import Report, Summary, format_table, median_time, run_main, setup

TITLE = "relaxation: throughput vs dense-matmul peak (float32, 1 thread)"
TARGET = 0.50  # fraction of peak at n >= 1024


def relaxation_flops(sizes: Sequence[int], batch: int, steps: int) -> tuple[int, int]:
    """(useful FLOPs per step, FLOPs once per relaxation) for a dense network ``sizes``."""
    n = list(sizes)
    forward = sum(2 * batch * n[l - 1] * n[l] for l in range(2, len(n)))
    feedback = sum(2 * batch * n[l] * n[l + 1] for l in range(1, len(n) - 1))
    return forward + feedback, 2 * batch * n[0] * n[1]


def mm_gflops(m: int, k: int, n: int, *, transposed: bool, repeats: int) -> float:
    """GFLOP/s of ``torch.mm`` for (m, k)·(k, n), B stored as given or as a transpose."""
    gen = torch.Generator().manual_seed(1)
    a = torch.rand(m, k, generator=gen)
    b = torch.rand(n, k, generator=gen).t() if transposed else torch.rand(k, n, generator=gen)
    t = median_time(lambda: torch.mm(a, b), repeats=repeats, warmup=2, min_sample_s=0.05)
    return 2 * m * k * n / t / 1e9


def run(quick: bool = False) -> Report:
    setup()
    sizes_n = [256, 512] if quick else [256, 512, 1024, 2048, 4096]
    batch = 128
    repeats = 3 if quick else 5
    square = 512 if quick else 2048
    flop_budget = 2e8 if quick else 8e9  # useful FLOPs per timed relaxation

    sq_peak = mm_gflops(square, square, square, transposed=False, repeats=repeats)
    rows, fractions = [], {}
    for n in sizes_n:
        sizes = [n, n, n, n]
        gen = torch.Generator().manual_seed(0)
        net = LayeredNetwork.dense(
            sizes, dtype=torch.float32, activation="sigmoid", gain=0.5, generator=gen
        )
        x = torch.rand(batch, n, generator=gen)
        per_step, once = relaxation_flops(sizes, batch, 1)
        steps = int(min(100, max(4 if quick else 16, math.ceil(flop_budget / per_step))))

        def go(net=net, x=x, steps=steps):
            with torch.no_grad():
                return relax(net, x, steps=steps, tol=0.0, check_every=steps + 1)

        res = go()
        if not torch.isfinite(res.residual).all():
            raise FloatingPointError(f"relaxation diverged at n={n}")
        t = median_time(go, repeats=repeats, warmup=1, min_sample_s=0.05)
        achieved = (per_step * steps + once) / t / 1e9
        shape_peak = max(
            mm_gflops(batch, n, n, transposed=False, repeats=repeats),
            mm_gflops(batch, n, n, transposed=True, repeats=repeats),
        )
        f_shape, f_sq = achieved / shape_peak, achieved / sq_peak
        fractions[n] = (f_shape, f_sq)
        rows.append(
            (
                n,
                steps,
                f"{per_step / 1e9:.3f}",
                f"{t / steps * 1e3:.2f}",
                f"{achieved:.1f}",
                f"{shape_peak:.1f}",
                f"{100 * f_shape:.0f}%",
                f"{100 * f_sq:.0f}%",
            )
        )

    headers = [
        "n",
        "steps",
        "GFLOP/step",
        "ms/step",
        "GFLOP/s",
        "mm(B,n,n) GFLOP/s",
        "frac vs mm(B,n,n)",
        f"frac vs mm {square}^3",
    ]
    text = [
        f"network [n, n, n, n] dense, sigmoid, gain 0.5, batch B={batch}, tol=0, "
        f"torch.no_grad(); median of {repeats}",
        f"peak: torch.mm {square}x{square}x{square} = {sq_peak:.1f} GFLOP/s "
        f"(same process, {torch.get_num_threads()} thread)",
        "",
        format_table(headers, rows),
        "",
        f"target: >= {100 * TARGET:.0f}% of peak at n >= 1024 "
        "(useful FLOPs only; last residual drive and element-wise ops uncounted)",
    ]
    big = [n for n in fractions if n >= 1024] or [max(fractions)]
    worst_shape = min(fractions[n][0] for n in big)
    worst_sq = min(fractions[n][1] for n in big)
    label = "n >= 1024" if any(n >= 1024 for n in fractions) else f"n = {big[0]} (quick)"
    summary = [
        Summary(
            "relaxation",
            f"min frac of mm(B,n,n) peak, {label}",
            f"{100 * worst_shape:.0f}%",
            f">= {100 * TARGET:.0f}%",
            worst_shape >= TARGET,
        ),
        Summary(
            "relaxation",
            f"min frac of mm {square}^3 peak, {label}",
            f"{100 * worst_sq:.0f}%",
            f">= {100 * TARGET:.0f}%",
            worst_sq >= TARGET,
        ),
    ]
    return Report(TITLE, "\n".join(text), summary)


def main(argv: Sequence[str] | None = None) -> None:
    run_main(run, __doc__, argv)


if __name__ == "__main__":
    main(sys.argv[1:])

"""Gaunt tensor products: grid and fourier2d vs the dense reference (and e3nn's CG product).

For ``L`` in {2, 4, 6, 8, 10}, time one product of two batches of ``B = 256``
float32 coefficient vectors ``(B, (L+1)²) x (B, (L+1)²) -> (B, (L+1)²)``
(``lmax_out = L``), one thread, interleaved rounds, and report per-round median ratios
``t(method) / t(reference)`` (below 1: faster than the reference). When e3nn is
installed, its ``o3.FullTensorProduct`` restricted to the paths Gaunt can express
(``l1 + l2 + l3`` even, output ``<= L``; all paths with ``irrep_normalization=None``,
no weights) is timed too: a Clebsch–Gordan product of the same inputs.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import torch

from equivariance.so3 import auto_method, gaunt_fourier2d, gaunt_grid, gaunt_reference

from ._common import (
    Report,
    Summary,
    format_table,
    interleaved_times,
    median_ratio,
    parse_args,
    setup,
)

TITLE = "gaunt: Gaunt tensor product, time per product as ratio to the dense reference"
BATCH = 256


def _e3nn_product(L: int):
    """e3nn CG product on the Gaunt-expressible paths (``None`` without e3nn)."""
    try:
        from e3nn import o3
    except ImportError:
        return None
    irreps = o3.Irreps([(1, (l, (-1) ** l)) for l in range(L + 1)])
    out = o3.Irreps([(1, (l, (-1) ** l)) for l in range(L + 1)])
    instr = [
        (i1, i2, i3, "uuu", False)
        for i1, (_, ir1) in enumerate(irreps)
        for i2, (_, ir2) in enumerate(irreps)
        for i3, (_, ir3) in enumerate(out)
        if ir3 in ir1 * ir2
    ]
    return o3.TensorProduct(irreps, irreps, out, instr, irrep_normalization="none")


def run(quick: bool = False) -> Report:
    setup()
    Ls = [2, 4] if quick else [2, 4, 6, 8, 10]
    rounds = 3 if quick else 15
    rows, worst_grid = [], []
    have_e3nn = _e3nn_product(1) is not None
    for L in Ls:
        gen = torch.Generator().manual_seed(L)
        x1 = torch.randn(BATCH, (L + 1) ** 2, generator=gen)
        x2 = torch.randn(BATCH, (L + 1) ** 2, generator=gen)
        fns = {
            "reference": lambda x1=x1, x2=x2, L=L: gaunt_reference(x1, x2, L),
            "grid": lambda x1=x1, x2=x2, L=L: gaunt_grid(x1, x2, L),
            "fourier2d": lambda x1=x1, x2=x2, L=L: gaunt_fourier2d(x1, x2, L),
        }
        if have_e3nn:
            tp = _e3nn_product(L)
            fns["e3nn"] = lambda x1=x1, x2=x2, tp=tp: tp(x1, x2)
        with torch.no_grad():
            times = interleaved_times(fns, rounds=rounds, warmup=2)
        ref = times["reference"]
        ratio = {k: median_ratio(v, ref) for k, v in times.items()}
        t_ref = sorted(ref)[len(ref) // 2]
        worst_grid.append(ratio["grid"])
        rows.append(
            (
                L,
                f"{t_ref * 1e3:.3f}",
                f"{ratio['grid']:.3f}",
                f"{ratio['fourier2d']:.3f}",
                f"{ratio['e3nn']:.3f}" if have_e3nn else "-",
                auto_method(L, torch.device("cpu")),
            )
        )
    headers = ["L", "reference ms", "grid/ref", "fourier2d/ref", "e3nn CG/ref", "auto"]
    text = [
        f"batch B={BATCH}, float32, lmax_out = L, {torch.get_num_threads()} thread, "
        f"median over {rounds} interleaved rounds; e3nn "
        + ("installed: TensorProduct on the l1+l2+l3-even paths" if have_e3nn else "not installed"),
        "",
        format_table(headers, rows),
    ]
    summary = [
        Summary("gaunt", f"max grid/reference time, L in {Ls}", f"{max(worst_grid):.3f}", "-", None)
    ]
    return Report(TITLE, "\n".join(text), summary)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(__doc__.splitlines()[0], argv)
    print(run(quick=args.quick).render())


if __name__ == "__main__":
    main(sys.argv[1:])

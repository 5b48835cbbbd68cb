"""Gaunt tensor products vs e3nn's Clebsch–Gordan products and a dense einsum.

The workload is the full product of two irreps features with all degrees ``0..L`` and
parity ``(-1)^l`` (output degrees ``0..L``), batch ``B = 1024``, ``C`` in {1, 32}
channels, float32, one thread. With ``C`` channels the product is channel-wise
(``x1[c] ⊗ x2[c]``). Per call, after warm-up, forward (``no_grad``) and forward+backward
(``autograd.grad`` of the output w.r.t. both inputs), for ``L`` = 2, 4, …, 12:

``grid``, ``fourier2d``
    the Gaunt products of :mod:`equivariance.so3` on ``(B, C, (L+1)²)`` inputs;
    ``fastest`` is whichever of the two has the smaller median in that cell.
``einsum``
    ``einsum("...i,...j,ijk->...k", x1, x2, G)`` with the dense Gaunt table
    :func:`gaunt_coefficients` (the same bilinear map; table built before timing).
``e3nn-gaunt``
    ``o3.TensorProduct`` on ``C x (0e + 1o + 2e + …)`` with the ``"uuu"`` (channel-wise)
    instructions Gaunt can express (``l1 + l2 + l3`` even, ``l3 <= L``), no weights.
``e3nn-full``
    ``o3.FullTensorProduct`` of the same ``C``-channel irreps, output filtered to
    degrees ``<= L`` (both parities): every CG path, all ``C²`` channel pairs.

The e3nn inputs are random ``(B, C·(L+1)²)`` tensors (same sizes; e3nn's mul-major
layout differs from ``(C, (L+1)²)``, which does not matter for timing).

Timing: within a cell (one ``L``, ``C``, mode) the methods run in interleaved rounds
(a round = each method once, a sub-10 ms call repeated to >= 10 ms); the number of
rounds (3..15) follows a per-cell time budget. Times are medians over rounds, ratios
are medians of per-round ratios ``t(baseline) / t(fastest)`` (above 1: Gaunt faster).
A baseline is skipped (with the reason) where one call exceeds 5 s or the estimated
memory exceeds 4 GB, and at larger ``L`` once it has been skipped at a smaller one.

Scaling: the log–log slope of time vs ``L`` (C = 1, forward) over ``L`` = 4, 6, …, 16
for the fastest Gaunt path, the einsum and the restricted e3nn product (``L`` <= 12 from
the main table, 14 and 16 timed separately). Targets (issue): >= 10x faster than
e3nn-gaunt at ``L = 8``; faster than the einsum for every ``L >= 6``; slope <= 3.5.
They are printed, never asserted.
"""

from __future__ import annotations

import math
import statistics
import sys
import time
from collections.abc import Callable, Sequence

import torch

from equivariance.so3 import (
    fft_size,
    gaunt_coefficients,
    gaunt_fourier2d,
    gaunt_grid,
    s2_quadrature,
)

from ._common import Report, Summary, format_table, run_main, setup

TITLE = "gaunt: Gaunt tensor products vs e3nn CG products and a dense einsum"

GAUNT = {"grid": gaunt_grid, "fourier2d": gaunt_fourier2d}
BASELINES = ("einsum", "e3nn-gaunt", "e3nn-full")
MODES = ("fwd", "fwd+bwd")
CALL_CAP_S = 5.0  # skip a method whose single call exceeds this
MEM_CAP_B = 4 * 2**30  # skip a method whose estimated peak memory exceeds this
MIN_SAMPLE_S = 0.01  # one timed sample repeats a short call until it lasts this long


def _config(quick: bool) -> dict:
    if quick:
        return dict(
            Ls=(2, 4), fit_Ls=(), batch=64, channels=(1,), modes=("fwd",), budget=0.2, rounds=3
        )
    return dict(
        Ls=(2, 4, 6, 8, 10, 12),
        fit_Ls=(4, 6, 8, 10, 12, 14, 16),
        batch=1024,
        channels=(1, 32),
        modes=MODES,
        budget=3.0,
        rounds=15,
    )


# ---------------------------------------------------------------------------- baselines


def _e3nn():
    try:
        from e3nn import o3
    except ImportError:
        return None
    return o3


def _irreps(o3, L: int, C: int):
    return o3.Irreps([(C, (l, (-1) ** l)) for l in range(L + 1)])


def _e3nn_gaunt(o3, L: int, C: int):
    """Channel-wise CG product on the Gaunt-expressible paths (l1 + l2 + l3 even, l3 <= L)."""
    irreps = _irreps(o3, L, C)
    instr = [
        (i1, i2, i3, "uuu", False)
        for i1, (_, ir1) in enumerate(irreps)
        for i2, (_, ir2) in enumerate(irreps)
        for i3, (_, ir3) in enumerate(irreps)
        if ir3 in ir1 * ir2
    ]
    return o3.TensorProduct(irreps, irreps, irreps, instr, irrep_normalization="none")


def _e3nn_full(o3, L: int, C: int):
    """All CG paths, all channel pairs, output degrees <= L (both parities)."""
    irreps = _irreps(o3, L, C)
    keep = [o3.Irrep(l, p) for l in range(L + 1) for p in (1, -1)]
    return o3.FullTensorProduct(irreps, irreps, filter_ir_out=keep)


def _full_out_dim(L: int, C: int) -> int:
    """Output size of :func:`_e3nn_full` (no build needed)."""
    n = sum((2 * l3 + 1) for l1 in range(L + 1) for l2 in range(L + 1)
            for l3 in range(abs(l1 - l2), min(l1 + l2, L) + 1))  # fmt: skip
    return C * C * n


def _mem_estimate(method: str, L: int, B: int, C: int, mode: str) -> int:
    """Rough peak bytes of one call (float32; backward ~ 2-3x the forward intermediates)."""
    n = (L + 1) ** 2
    bwd = mode == "fwd+bwd"
    if method == "grid":
        return 4 * B * C * s2_quadrature(3 * L)[1].numel() * (6 if bwd else 3)
    if method == "fourier2d":
        return 8 * B * C * fft_size(4 * L + 1) ** 2 * (8 if bwd else 4)
    if method in ("einsum", "e3nn-gaunt"):
        return 4 * B * C * n * n * (3 if bwd else 1)
    if method == "e3nn-full":
        return 4 * B * _full_out_dim(L, C) * (4 if bwd else 2)
    raise KeyError(method)


# ---------------------------------------------------------------------------- timing


def _call(f: Callable, args: tuple[torch.Tensor, ...], mode: str) -> Callable[[], object]:
    if mode == "fwd":

        def fwd():
            with torch.no_grad():
                return f(*args)

        return fwd
    leaves = tuple(a.detach().requires_grad_(True) for a in args)
    with torch.no_grad():
        g = torch.randn_like(f(*args))

    def fwd_bwd():
        return torch.autograd.grad(f(*leaves), leaves, g)

    return fwd_bwd


def _time_cell(
    fns: dict[str, Callable[[], object]], budget: float, max_rounds: int
) -> tuple[dict[str, list[float]], dict[str, str]]:
    """Interleaved per-round seconds per call; ``skipped`` maps name -> reason."""
    skipped: dict[str, str] = {}
    reps: dict[str, int] = {}
    cost: dict[str, float] = {}
    for name, fn in fns.items():
        t0 = time.perf_counter()
        fn()  # first call: tables, caches, allocator
        dt = time.perf_counter() - t0
        if dt <= 2 * CALL_CAP_S:
            t0 = time.perf_counter()
            fn()
            dt = time.perf_counter() - t0
        if dt > CALL_CAP_S:
            skipped[name] = f"1 call {dt:.1f} s > {CALL_CAP_S:.0f} s"
            continue
        reps[name] = max(1, math.ceil(MIN_SAMPLE_S / max(dt, 1e-6)))
        cost[name] = reps[name] * dt
    per_round = sum(cost.values())
    rounds = max(3, min(max_rounds, int(budget / max(per_round, 1e-9))))
    out: dict[str, list[float]] = {k: [] for k in reps}
    for _ in range(rounds):
        for name, k in reps.items():
            fn = fns[name]
            t0 = time.perf_counter()
            for _ in range(k):
                fn()
            out[name].append((time.perf_counter() - t0) / k)
    return out, skipped


def _med(xs: Sequence[float]) -> float:
    return statistics.median(xs)


def _ratio(num: Sequence[float], den: Sequence[float]) -> float:
    return statistics.median(a / b for a, b in zip(num, den, strict=True))


def _slope(points: dict[int, float]) -> float | None:
    """Least-squares slope of log t vs log L (None with fewer than 3 points)."""
    if len(points) < 3:
        return None
    xs = [math.log(L) for L in points]
    ys = [math.log(t) for t in points.values()]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum(
        (x - mx) ** 2 for x in xs
    )


# ---------------------------------------------------------------------------- run


class _Baselines:
    """Builds (and caches per ``(L, C)``) the baseline callables; records build times."""

    def __init__(self) -> None:
        self.o3 = _e3nn()
        self.modules: dict[tuple, object] = {}
        self.build_s = 0.0

    def get(self, name: str, L: int, C: int):
        key = (name, L, C)
        if key not in self.modules:
            t0 = time.perf_counter()
            if name == "einsum":
                G = gaunt_coefficients(L, L, L, dtype=torch.float32)
                m = lambda a, b, G=G: torch.einsum("...i,...j,ijk->...k", a, b, G)  # noqa: E731
            elif name == "e3nn-gaunt":
                m = _e3nn_gaunt(self.o3, L, C)
            else:
                m = _e3nn_full(self.o3, L, C)
            self.build_s += time.perf_counter() - t0
            self.modules[key] = m
        return self.modules[key]

    def drop(self, L: int, C: int) -> None:
        for key in [k for k in self.modules if k[1:] == (L, C)]:
            del self.modules[key]


def _measure(
    L: int,
    C: int,
    B: int,
    mode: str,
    methods: Sequence[str],
    bl: _Baselines,
    too_slow: dict,
    cfg: dict,
) -> dict:
    """Time one cell; returns {"times": {...}, "skipped": {...}, "fastest": name}."""
    gen = torch.Generator().manual_seed(1000 * L + C)
    n = (L + 1) ** 2
    x1, x2 = torch.randn(2, B, C, n, generator=gen).unbind(0)
    flat = (x1.reshape(B, C * n), x2.reshape(B, C * n))
    fns, skipped = {}, {}
    for m in methods:
        prev = too_slow.get((m, C, mode))
        if m.startswith("e3nn") and bl.o3 is None:
            skipped[m] = "e3nn not installed"
        elif prev is not None:
            skipped[m] = f"skipped at L={prev}"
        elif (mem := _mem_estimate(m, L, B, C, mode)) > MEM_CAP_B:
            skipped[m] = f"est. memory {mem / 2**30:.0f} GB > {MEM_CAP_B / 2**30:.0f} GB"
        elif m in GAUNT:
            fns[m] = _call(lambda a, b, f=GAUNT[m]: f(a, b, L), (x1, x2), mode)
        elif m == "einsum":
            fns[m] = _call(bl.get(m, L, C), (x1, x2), mode)
        else:
            fns[m] = _call(bl.get(m, L, C), flat, mode)
    times, slow = _time_cell(fns, cfg["budget"], cfg["rounds"])
    skipped.update(slow)
    for m, why in skipped.items():
        if not why.startswith("e3nn not"):
            too_slow.setdefault((m, C, mode), L)
    gaunt = [m for m in GAUNT if m in times]
    fastest = min(gaunt, key=lambda m: _med(times[m]))
    return {"times": times, "skipped": skipped, "fastest": fastest}


def _fmt_ms(cell: dict, m: str) -> str:
    if m in cell["times"]:
        return f"{_med(cell['times'][m]) * 1e3:.3f}"
    return "skip" if m in cell["skipped"] else "-"


def _fmt_ratio(cell: dict, m: str) -> str:
    if m not in cell["times"]:
        return "-"
    return f"{_ratio(cell['times'][m], cell['times'][cell['fastest']]):.2f}x"


def run(quick: bool = False) -> Report:
    setup()
    cfg = _config(quick)
    B = cfg["batch"]
    t_start = time.perf_counter()
    bl = _Baselines()
    methods = (*GAUNT, *BASELINES)
    cells: dict[tuple, dict] = {}
    too_slow: dict = {}
    for C in cfg["channels"]:
        for L in cfg["Ls"]:
            for mode in cfg["modes"]:
                cells[(L, C, mode)] = _measure(L, C, B, mode, methods, bl, too_slow, cfg)
            bl.drop(L, C)

    text = [
        f"batch B={B}, float32, degrees 0..L in and out, {torch.get_num_threads()} thread; "
        f"ms per call (median over interleaved rounds); ratios t(baseline)/t(fastest Gaunt) "
        f"(median of per-round ratios; above 1: Gaunt faster); e3nn "
        + ("installed" if bl.o3 is not None else "NOT installed"),
    ]
    headers = ["L", *(f"{m} ms" for m in methods), "fastest", *(f"{m}/fast" for m in BASELINES)]
    for C in cfg["channels"]:
        for mode in cfg["modes"]:
            rows, notes = [], []
            for L in cfg["Ls"]:
                cell = cells[(L, C, mode)]
                rows.append(
                    (
                        L,
                        *(_fmt_ms(cell, m) for m in methods),
                        cell["fastest"],
                        *(_fmt_ratio(cell, m) for m in BASELINES),
                    )
                )
                notes += [f"  L={L} {m}: skipped ({why})" for m, why in cell["skipped"].items()]
            title = f"C={C} channel{'s' if C > 1 else ''}, {mode}:"
            text += ["", title, format_table(headers, rows)]
            text += notes

    summary: list[Summary] = []
    name = "gaunt"

    def speedup_at(L: int, C: int, mode: str = "fwd") -> float | None:
        cell = cells.get((L, C, mode))
        if cell is None or "e3nn-gaunt" not in cell["times"]:
            return None
        return _ratio(cell["times"]["e3nn-gaunt"], cell["times"][cell["fastest"]])

    for C in cfg["channels"]:
        s = speedup_at(8, C)
        if 8 in cfg["Ls"]:
            summary.append(
                Summary(
                    name,
                    f"e3nn-gaunt / fastest Gaunt, L=8, C={C}, fwd",
                    "-" if s is None else f"{s:.1f}x",
                    ">= 10x",
                    None if s is None else s >= 10,
                )
            )
    big = [(L, C, md) for (L, C, md) in cells if L >= 6]
    einsum_r = {
        k: _ratio(cells[k]["times"]["einsum"], cells[k]["times"][cells[k]["fastest"]])
        for k in big
        if "einsum" in cells[k]["times"]
    }
    if einsum_r:
        k_min = min(einsum_r, key=einsum_r.get)
        summary.append(
            Summary(
                name,
                f"min over L>=6 (all C, modes) einsum / fastest Gaunt (at L={k_min[0]}, "
                f"C={k_min[1]}, {k_min[2]}; {len(einsum_r)}/{len(big)} cells timed)",
                f"{einsum_r[k_min]:.2f}x",
                "> 1x",
                einsum_r[k_min] > 1,
            )
        )

    # ------------------------------------------------------------ scaling (C=1, fwd)
    if cfg["fit_Ls"]:
        fit: dict[str, dict[int, float]] = {m: {} for m in (*GAUNT, "fastest", *BASELINES[:2])}
        for L in cfg["fit_Ls"]:
            cell = cells.get((L, 1, "fwd"))
            if cell is None:
                cell = _measure(L, 1, B, "fwd", (*GAUNT, *BASELINES[:2]), bl, too_slow, cfg)
                cells[(L, 1, "fwd")] = cell
                bl.drop(L, 1)
            for m, ts in cell["times"].items():
                if m in fit:
                    fit[m][L] = _med(ts)
            fit["fastest"][L] = _med(cell["times"][cell["fastest"]])
        rows = []
        for L in cfg["fit_Ls"]:
            cell = cells[(L, 1, "fwd")]
            rows.append(
                (
                    L,
                    *(f"{fit[m][L] * 1e3:.3f}" if L in fit[m] else "skip" for m in fit),
                    cell["fastest"],
                )
            )
        slopes = {m: _slope(pts) for m, pts in fit.items()}
        text += [
            "",
            f"scaling, C=1, fwd, L in {list(cfg['fit_Ls'])} (ms per call; L <= 12 from above):",
            format_table(["L", *(f"{m} ms" for m in fit), "fastest"], rows),
            "log-log slope of time vs L: "
            + ", ".join(f"{m} {s:.2f}" if s is not None else f"{m} -" for m, s in slopes.items()),
        ]
        for m, target in (("fastest", 3.5), ("einsum", None), ("e3nn-gaunt", None)):
            s, Ls = slopes[m], sorted(fit[m])
            rng = f"L={Ls[0]}..{Ls[-1]}" if Ls else "no points"
            summary.append(
                Summary(
                    name,
                    f"scaling exponent, {'fastest Gaunt' if m == 'fastest' else m} "
                    f"({rng}, C=1, fwd)",
                    "-" if s is None else f"{s:.2f}",
                    "<= 3.5" if target else "-",
                    None if (s is None or target is None) else s <= target,
                )
            )

    text.append(
        f"\n(baseline construction {bl.build_s:.1f} s; total {time.perf_counter() - t_start:.1f} s)"
    )
    return Report(TITLE, "\n".join(text), summary)


def main(argv: Sequence[str] | None = None) -> None:
    run_main(run, __doc__, argv)


if __name__ == "__main__":
    main(sys.argv[1:])

"""Shared helpers: thread pinning, median timing, plain-text tables, the summary record."""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch

__all__ = [
    "Report",
    "Summary",
    "format_table",
    "median_time",
    "interleaved_times",
    "median_ratio",
    "parse_args",
    "profile_cpu",
    "run_main",
    "setup",
    "summary_table",
]


def setup() -> None:
    """One intra-op thread: the machine is shared, and ratios must compare like with like."""
    torch.set_num_threads(1)


def parse_args(description: str, argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--quick", action="store_true", help="tiny smoke-sized run (seconds)")
    return p.parse_args(argv)


def median_time(
    fn: Callable[[], object], *, repeats: int = 5, warmup: int = 1, min_sample_s: float = 0.0
) -> float:
    """Median wall time of one call to ``fn`` (seconds) over ``repeats`` samples.

    A sample times ``k`` back-to-back calls, with ``k`` doubled during warm-up
    until one sample lasts at least ``min_sample_s`` (for sub-millisecond calls).
    """
    k = 1
    for _ in range(max(warmup, 1)):
        t0 = time.perf_counter()
        for _ in range(k):
            fn()
        dt = time.perf_counter() - t0
    while dt < min_sample_s:
        k *= 2
        t0 = time.perf_counter()
        for _ in range(k):
            fn()
        dt = time.perf_counter() - t0
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(k):
            fn()
        samples.append((time.perf_counter() - t0) / k)
    return statistics.median(samples)


@contextlib.contextmanager
def _quiet_stderr():
    """Silence fd 2 (the profiler's C++ start/stop chatter), restoring it afterwards."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)


def profile_cpu(fn: Callable[[], object], *, memory: bool = False):
    """Run ``fn`` once under the CPU profiler (optionally recording allocations)."""
    from torch.profiler import ProfilerActivity, profile

    with _quiet_stderr():
        with profile(activities=[ProfilerActivity.CPU], profile_memory=memory) as prof:
            fn()
    return prof


def format_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A left/right-aligned plain-text table (numbers right-aligned)."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    numeric = [
        all(_is_number(r[i]) for r in cells[1:]) if len(cells) > 1 else False
        for i in range(len(headers))
    ]

    def line(r):
        return "  ".join(
            c.rjust(w) if num else c.ljust(w) for c, w, num in zip(r, widths, numeric, strict=True)
        ).rstrip()

    out = [line(cells[0]), "  ".join("-" * w for w in widths)]
    out += [line(r) for r in cells[1:]]
    return "\n".join(out)


def _is_number(s: str) -> bool:
    s = s.rstrip("%x").replace("MB", "").replace("ms", "").strip()
    try:
        float(s)
    except ValueError:
        return s in ("-", "")
    return True


@dataclass
class Summary:
    """One headline number with its target, for the combined table."""

    benchmark: str
    metric: str
    value: str
    target: str
    met: bool | None  # None: no target, informational


@dataclass
class Report:
    """A benchmark's printed section plus its headline numbers."""

    title: str
    text: str
    summary: list[Summary] = field(default_factory=list)

    def render(self) -> str:
        bar = "=" * max(len(self.title), 20)
        return f"{bar}\n{self.title}\n{bar}\n{self.text}"


def met_str(met: bool | None) -> str:
    return "-" if met is None else ("yes" if met else "NO")


def summary_table(summaries: Sequence[Summary]) -> str:
    rows = [(s.benchmark, s.metric, s.value, s.target, met_str(s.met)) for s in summaries]
    return format_table(["benchmark", "metric", "value", "target", "met"], rows)


def interleaved_times(fns: dict[str, Callable[[], object]], *, rounds: int = 15, warmup: int = 1):
    """Per-round wall times of several functions run in turn (A, B, C, A, B, C, …).

    Interleaving exposes every function to the same drift of a shared machine, so
    per-round ratios (then their median) are steadier than ratios of separate medians.
    Returns ``{name: [seconds per round]}``.
    """
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    out: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            out[name].append(time.perf_counter() - t0)
    return out


def median_ratio(num: Sequence[float], den: Sequence[float]) -> float:
    """Median over rounds of num/den (see :func:`interleaved_times`)."""
    return statistics.median(a / b for a, b in zip(num, den, strict=True))


def run_main(run: Callable[..., Report], doc: str, argv: Sequence[str] | None = None) -> None:
    """Command-line entry of one benchmark module: its report, then its summary table."""
    args = parse_args(doc.strip().splitlines()[0], argv)
    report = run(quick=args.quick)
    print(report.render())
    print()
    print(summary_table(report.summary))

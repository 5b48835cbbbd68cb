"""Run every benchmark and print each section, then one summary table of the headline ratios."""

from __future__ import annotations

import importlib
import platform
import sys
import time

import torch

from . import BENCHMARKS
from ._common import parse_args, setup, summary_table


def main(argv=None) -> None:
    args = parse_args("Run all neurosim benchmarks.", argv)
    setup()
    print(
        f"neurosim benchmarks{' (--quick)' if args.quick else ''}: torch {torch.__version__}, "
        f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} thread, "
        f"cuda={'yes' if torch.cuda.is_available() else 'no'}"
    )
    summaries = []
    t_all = time.perf_counter()
    for name in BENCHMARKS:
        module = importlib.import_module(f"{__package__}.{name}")
        t0 = time.perf_counter()
        report = module.run(quick=args.quick)
        print()
        print(report.render())
        print(f"({name}: {time.perf_counter() - t0:.1f} s)")
        summaries += report.summary
    print()
    print("=" * 20)
    print("summary (ratios from this run; targets are informational, never asserted)")
    print("=" * 20)
    print(summary_table(summaries))
    print(f"\ntotal {time.perf_counter() - t_all:.1f} s")


if __name__ == "__main__":
    main(sys.argv[1:])

"""The cost of read noise as processes in time: a hEP training step with 1/f noise vs ideal.

L&Z Table-1 network (784-256-256-10, float32, batch 50, T1 = 150, T2 = 20, hEP
N = 4), one training step (``backward``), on the ideal substrate and with 1/f read
noise from M OU components on every device of every array, read at every
relaxation step on the clock (``ReadNoise(flicker_*)``); also white noise only
(one fresh draw per device and step, the floor of any per-step noise). Interleaved
rounds, median of per-round ratios; the noise state's memory (devices × components ×
bytes) is counted, and it stays flat in the number of steps (the state is streamed).

Target (issue 17): the 8-component 1/f step ≤ 1.5× the ideal step.
"""

from __future__ import annotations

import statistics
import sys
from collections.abc import Sequence

from neurosim.learning import FreePhase, GeneralizedEP, Holomorphic, NudgedPhase
from neurosim.substrate import AnalogHardware, DeviceModel, FixedPoint, NeuronModel, ReadNoise

from ._common import (
    Report,
    Summary,
    format_table,
    interleaved_times,
    median_ratio,
    run_main,
    setup,
)
from .training_step import FULL, QUICK, RADIUS, table1_problem

TITLE = "noise: a hEP step with per-device 1/f read noise (M OU components) vs the ideal step"
TARGET = 1.5


def _noisy(net, noise: ReadNoise):
    hw = AnalogHardware.for_network(net, DeviceModel(), NeuronModel(), seed=0, noise=noise)
    return hw


def run(quick: bool = False) -> Report:
    setup()
    cfg = QUICK if quick else FULL
    net, loss, x, y = table1_problem(cfg)
    rule = GeneralizedEP(
        Holomorphic(r=RADIUS, n=4),
        FreePhase(steps=cfg.t1),
        NudgedPhase(steps=cfg.t2, integrator=FixedPoint()),
    )
    flicker = {
        m: ReadNoise(
            flicker_density=1e-5, flicker_f_lo=1.0, flicker_f_hi=6.4e7, flicker_components=m
        )
        for m in (2, 8)
    }
    variants = {"ideal": None, "white": ReadNoise(white_std=0.01)} | {
        f"1/f M={m}": n for m, n in flicker.items()
    }
    ideal_hw = net.hardware
    hardware = {k: ideal_hw if n is None else _noisy(net, n) for k, n in variants.items()}

    def step(name):
        def go():
            net.hardware = hardware[name]
            net.zero_grad(set_to_none=True)
            loss.zero_grad(set_to_none=True)
            rule.backward(net, loss, x, y)

        return go

    rounds = interleaved_times({k: step(k) for k in variants}, rounds=max(2, cfg.rounds // 3))
    net.hardware = ideal_hw
    rows, ratios = [], {}
    for name in variants:
        ratios[name] = median_ratio(rounds[name], rounds["ideal"])
        hw = hardware[name]
        state_bytes = 0
        if name != "ideal":
            state_bytes = sum(s.x.numel() * s.x.element_size() for s, _ in hw._noise.values())
        rows.append(
            (name, f"{1e3 * statistics.median(rounds[name]):.1f}", f"{ratios[name]:.2f}",
             f"{state_bytes / 2**20:.1f}")
        )  # fmt: skip
    devices = sum(p.numel() for n, p in net.named_parameters() if n.endswith("weight"))
    text = [
        f"{devices} weights, each stored on a forward and a feedback array (distinct devices)",
        format_table(["substrate", "step ms", "× ideal", "noise state MiB"], rows),
        "Per-step reads redraw every component of every device at every relaxation step:",
        "the cost is the random numbers, devices × components × steps, not the GEMMs.",
    ]
    met = ratios["1/f M=8"] <= TARGET
    value = f"{ratios['1/f M=8']:.2f}x"
    summary = [Summary("noise", "1/f M=8 step / ideal step", value, f"<= {TARGET}x", met)]
    return Report(TITLE, "\n".join(text), summary)


def main(argv: Sequence[str] | None = None) -> None:
    run_main(run, __doc__, argv)


if __name__ == "__main__":
    main(sys.argv[1:])

"""Training throughput and the cost of Jacobian homeostasis (L&Z Table-1 network).

    hEP      GeneralizedEP(Holomorphic(r, n=4), FreePhase(150), NudgedPhase(20)).backward
    BPTT     BPTT(steps=170, grad_steps=20).backward
    homeo    Homeostasis(strength=0.1, n_probes=4).apply on the same batch and free state

Training throughput is samples per second of a full optimizer step (gradient
into ``.grad`` plus ``SGD.step``) for hEP and BPTT, measured in interleaved
rounds; the homeostatic term is reported as a fraction of one hEP training step
(target ≤ 20 %).
"""

from __future__ import annotations

import statistics
import sys
from collections.abc import Sequence

import torch

from neurosim.learning import (
    BPTT,
    FreePhase,
    GeneralizedEP,
    Holomorphic,
    Homeostasis,
    NudgedPhase,
)
from neurosim.substrate import FixedPoint

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

TITLE = "training: samples/s of hEP(N=4) vs BPTT steps, and the homeostasis term's share"
TARGET_HOMEO = 0.20


def run(quick: bool = False) -> Report:
    setup()
    cfg = QUICK if quick else FULL
    net, loss, x, y = table1_problem(cfg)
    net.alpha = 90.0  # homeostasis matters for the asymmetric network
    params = list(net.parameters()) + list(loss.parameters())
    opt = torch.optim.SGD(params, lr=1e-3, momentum=0.9)
    ep = GeneralizedEP(
        Holomorphic(r=RADIUS, n=4),
        FreePhase(steps=cfg.t1),
        NudgedPhase(steps=cfg.t2, integrator=FixedPoint()),
    )
    bptt = BPTT(steps=cfg.t1 + cfg.t2, grad_steps=cfg.t2)
    homeo = Homeostasis(strength=0.1, n_probes=4)
    gen = torch.Generator().manual_seed(0)
    state = {}

    def train(rule):
        def go():
            opt.zero_grad(set_to_none=True)
            state["result"] = rule.backward(net, loss, x, y)
            opt.step()

        return go

    def homeostasis():
        homeo.apply(net, x, state["result"].free.s, gen)

    rounds = interleaved_times(
        {"ep": train(ep), "homeo": homeostasis, "bptt": train(bptt)}, rounds=cfg.rounds
    )
    t_ep, t_h, t_bptt = (statistics.median(rounds[k]) for k in ("ep", "homeo", "bptt"))
    share = median_ratio(rounds["homeo"], rounds["ep"])
    rows = [
        ("hEP N=4 step", f"{1e3 * t_ep:.1f}", f"{cfg.batch / t_ep:.0f}"),
        ("BPTT step", f"{1e3 * t_bptt:.1f}", f"{cfg.batch / t_bptt:.0f}"),
        ("homeostasis term (4 probes)", f"{1e3 * t_h:.1f}", "-"),
    ]
    text = [
        f"network {'-'.join(map(str, cfg.sizes))}, batch {cfg.batch}, float32, alpha = 90, "
        f"T1={cfg.t1}, T2={cfg.t2}; {cfg.rounds} interleaved rounds, medians",
        "",
        format_table(["what", "ms", "samples/s"], rows),
        "",
        f"throughput hEP/BPTT = {median_ratio(rounds['bptt'], rounds['ep']):.2f}",
        f"homeostasis / hEP step = {100 * share:.1f} %   (target <= {100 * TARGET_HOMEO:.0f} %)",
    ]
    summary = [
        Summary("training", "hEP(N=4) samples/s", f"{cfg.batch / t_ep:.0f}", "-", None),
        Summary("training", "BPTT samples/s", f"{cfg.batch / t_bptt:.0f}", "-", None),
        Summary(
            "training",
            "homeostasis share of an hEP step",
            f"{100 * share:.1f}%",
            f"<= {100 * TARGET_HOMEO:.0f}%",
            share <= TARGET_HOMEO,
        ),
    ]
    return Report(TITLE, "\n".join(text), summary)


def main(argv: Sequence[str] | None = None) -> None:
    run_main(run, __doc__, argv)


if __name__ == "__main__":
    main(sys.argv[1:])

"""One generalized-hEP training step vs one BPTT step (Laborieux & Zenke 2024, Table 1 config).

Network 784-256-256-10, dense, float32, ``shifted_sigmoid``, batch 50, softmax
cross-entropy readout, integer labels; T1 = 150 free steps, T2 = 20 nudged steps.

    hEP(N)   GeneralizedEP(Holomorphic(r, n=N), FreePhase(150),
                           NudgedPhase(20, FixedPoint())).backward(...)
    BPTT     BPTT(steps=170, grad_steps=20).backward(...): 150 steps without a
             graph, then backprop through the last 20 (L&Z's baseline).

Steps run in interleaved rounds (hEP4, hEP8, BPTT, repeat); each time is the
median wall time of a full ``backward`` (gradients into ``.grad``) and each ratio
the median of per-round ratios; the breakdown times the phases alone, and a profile of one hEP(N=4)
nudged phase names the operators that dominate it.
"""

from __future__ import annotations

import statistics
import sys
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from neurosim.learning import (
    BPTT,
    FreePhase,
    GeneralizedEP,
    Holomorphic,
    NudgedPhase,
    SoftmaxCrossEntropy,
    parameter_gradients,
)
from neurosim.substrate import FixedPoint, LayeredNetwork, relax

from ._common import (
    Report,
    Summary,
    format_table,
    interleaved_times,
    median_ratio,
    median_time,
    profile_cpu,
    run_main,
    setup,
)

TITLE = "training_step: generalized hEP vs BPTT, one step (L&Z Table 1 config, float32, 1 thread)"
TARGET_EP_VS_BPTT = 1.5
TARGET_N8_VS_N4 = 1.6
RADIUS = 0.5


@dataclass
class Config:
    sizes: tuple[int, ...]
    batch: int
    t1: int
    t2: int
    repeats: int
    rounds: int


FULL = Config((784, 256, 256, 10), batch=50, t1=150, t2=20, repeats=7, rounds=15)
QUICK = Config((784, 256, 256, 10), batch=8, t1=10, t2=4, repeats=2, rounds=2)


def table1_problem(cfg: Config, seed: int = 0):
    """(network, loss, x, y) with random inputs in [0, 1) and random labels."""
    gen = torch.Generator().manual_seed(seed)
    net = LayeredNetwork.dense(
        cfg.sizes, dtype=torch.float32, activation="shifted_sigmoid", generator=gen
    )
    n_out = cfg.sizes[-1]
    loss = SoftmaxCrossEntropy(n_out, 10, dtype=torch.float32, generator=gen)
    x = torch.rand(cfg.batch, cfg.sizes[0], generator=gen)
    y = torch.randint(0, 10, (cfg.batch,), generator=gen)
    return net, loss, x, y


def _top_ops(prof, k: int = 4) -> str:
    items = [(e.key, e.self_cpu_time_total) for e in prof.key_averages()]
    total = sum(t for _, t in items) or 1.0
    items.sort(key=lambda kv: -kv[1])
    return ", ".join(f"{name} {100 * t / total:.0f}%" for name, t in items[:k])


def run(quick: bool = False) -> Report:
    setup()
    cfg = QUICK if quick else FULL
    net, loss, x, y = table1_problem(cfg)
    nudged = NudgedPhase(steps=cfg.t2, integrator=FixedPoint())
    free_phase = FreePhase(steps=cfg.t1)
    est4, est8 = Holomorphic(r=RADIUS, n=4), Holomorphic(r=RADIUS, n=8)
    ep4 = GeneralizedEP(est4, free_phase, nudged)
    ep8 = GeneralizedEP(est8, free_phase, nudged)
    bptt = BPTT(steps=cfg.t1 + cfg.t2, grad_steps=cfg.t2)

    def timed(fn):
        return median_time(fn, repeats=cfg.repeats, warmup=1)

    def step(rule):
        def go():
            net.zero_grad(set_to_none=True)
            loss.zero_grad(set_to_none=True)
            rule.backward(net, loss, x, y)

        return go

    rounds = interleaved_times(
        {"ep4": step(ep4), "ep8": step(ep8), "bptt": step(bptt)}, rounds=cfg.rounds
    )
    t_ep4, t_ep8, t_bptt = (statistics.median(rounds[k]) for k in ("ep4", "ep8", "bptt"))
    ratio_4_bptt = median_ratio(rounds["ep4"], rounds["bptt"])
    ratio_8_4 = median_ratio(rounds["ep8"], rounds["ep4"])

    # breakdown ---------------------------------------------------------------------------------
    free = free_phase.run(net, x)
    t_free = timed(lambda: free_phase.run(net, x))

    def nudge(s):
        return loss.nudge(s, y)

    def nudged_only(est):
        def go():
            with torch.no_grad():
                est.estimate(net, x, free, nudge, nudged)

        return go

    t_nudge4, t_nudge8 = timed(nudged_only(est4)), timed(nudged_only(est8))

    def warm_only():
        with torch.no_grad():
            relax(net, x, steps=cfg.t1, integrator=FixedPoint())

    t_warm = timed(warm_only)
    with torch.no_grad():
        delta = est4.estimate(net, x, free, nudge, nudged).delta
    params = list(net.parameters())
    t_grad = timed(lambda: parameter_gradients(net, x, free.s, delta, params, scale=1 / cfg.batch))
    k4, k8 = est4.probes()[0].shape[0], est8.probes()[0].shape[0]
    prof = profile_cpu(nudged_only(est4))
    n_hidden = cfg.sizes[1]
    gen = torch.Generator().manual_seed(2)
    uc = torch.randn(k4, cfg.batch, n_hidden, 2, generator=gen)
    uc = torch.view_as_complex(uc)
    ur = torch.randn(2 * k4, cfg.batch, n_hidden, generator=gen)
    t_sig_c = median_time(lambda: torch.sigmoid(uc), repeats=cfg.repeats, min_sample_s=0.02)
    t_sig_r = median_time(lambda: torch.sigmoid(ur), repeats=cfg.repeats, min_sample_s=0.02)

    free_step = t_free / cfg.t1
    ms = lambda t: f"{t * 1e3:.1f}"  # noqa: E731
    rows = [
        (
            "hEP N=4",
            ms(t_ep4),
            f"{ratio_4_bptt:.2f}x",
            ms(t_free),
            ms(t_nudge4),
            ms(t_grad),
        ),
        (
            "hEP N=8",
            ms(t_ep8),
            f"{median_ratio(rounds['ep8'], rounds['bptt']):.2f}x",
            ms(t_free),
            ms(t_nudge8),
            ms(t_grad),
        ),
        ("BPTT", ms(t_bptt), "1.00x", ms(t_warm), ms(t_bptt - t_warm), "-"),
    ]
    headers = ["step", "total ms", "vs BPTT", "free/warm ms", "nudged/graph ms", "grad ms"]
    mss = lambda t: f"{t * 1e3:.3f}"  # noqa: E731
    step_rows = [
        ("free (real)", 1, mss(free_step), "1.0x", "1x"),
        (
            f"nudged N=4 (K={k4} complex)",
            k4,
            mss(t_nudge4 / cfg.t2),
            f"{t_nudge4 / cfg.t2 / free_step:.1f}x",
            f"{2 * k4}x",
        ),
        (
            f"nudged N=8 (K={k8} complex)",
            k8,
            mss(t_nudge8 / cfg.t2),
            f"{t_nudge8 / cfg.t2 / free_step:.1f}x",
            f"{2 * k8}x",
        ),
    ]
    text = [
        f"network {'-'.join(map(str, cfg.sizes))}, batch {cfg.batch}, float32, shifted_sigmoid, "
        f"softmax CE; T1={cfg.t1}, T2={cfg.t2}; hEP radius r={RADIUS}",
        f"BPTT = BPTT(steps={cfg.t1 + cfg.t2}, grad_steps={cfg.t2}): the first {cfg.t1} steps "
        f"run without a graph, backprop through the last {cfg.t2} (as in L&Z's baseline)",
        f"{cfg.rounds} interleaved rounds of full backward() calls (hEP4, hEP8, BPTT); "
        "times are medians, ratios are medians of per-round ratios",
        "",
        format_table(headers, rows),
        "  free/warm: hEP free phase (FreePhase.run) | BPTT's no-grad warm-up relax "
        f"({cfg.t1} steps)",
        "  nudged/graph: hEP estimator.estimate alone | BPTT remainder (graph steps + backward)",
        "  grad: parameter_gradients (Φ_θᵀδ through one drive evaluation) alone",
        "",
        format_table(
            ["relaxation step", "probes K", "ms/step", "vs free step", "real-GEMM work"], step_rows
        ),
        "  real-GEMM work: a complex probe costs 2 real GEMMs per map (real_linear), so a",
        "  GEMM-bound nudged step should cost about 2K free steps",
        f"  hEP N=4 nudged phase, top ops by self CPU time: {_top_ops(prof)}",
        f"  torch.sigmoid on complex64 ({k4}, {cfg.batch}, {n_hidden}): {mss(t_sig_c)} ms, "
        f"{t_sig_c / t_sig_r:.0f}x a real float32 sigmoid over the same {2 * k4}x{cfg.batch}"
        f"x{n_hidden} floats",
        "",
        f"hEP(N=4)/BPTT = {ratio_4_bptt:.2f}   (target <= {TARGET_EP_VS_BPTT})",
        f"hEP(N=8)/hEP(N=4) = {ratio_8_4:.2f}   (target <= {TARGET_N8_VS_N4})",
    ]
    summary = [
        Summary(
            "training_step",
            "hEP(N=4) / BPTT step time",
            f"{ratio_4_bptt:.2f}x",
            f"<= {TARGET_EP_VS_BPTT}x",
            ratio_4_bptt <= TARGET_EP_VS_BPTT,
        ),
        Summary(
            "training_step",
            "hEP(N=8) / hEP(N=4) step time",
            f"{ratio_8_4:.2f}x",
            f"<= {TARGET_N8_VS_N4}x",
            ratio_8_4 <= TARGET_N8_VS_N4,
        ),
        Summary(
            "training_step",
            "hEP(N=4) / BPTT / free phase ms",
            f"{ms(t_ep4)}/{ms(t_bptt)}/{ms(t_free)}",
            "-",
            None,
        ),
    ]
    return Report(TITLE, "\n".join(text), summary)


def main(argv: Sequence[str] | None = None) -> None:
    run_main(run, __doc__, argv)


if __name__ == "__main__":
    main(sys.argv[1:])

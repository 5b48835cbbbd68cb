"""Peak memory of one EP step vs one BPTT step as the nudged/graph length T2 grows.

Table-1 network (784-256-256-10, float32, shifted_sigmoid, batch 50, softmax CE),
T1 = 150. For each T2:

    EP     GeneralizedEP(Holomorphic(r, n=4), FreePhase(150), NudgedPhase(T2)).compute(...)
    BPTT   BPTT(steps=150 + T2, grad_steps=T2).compute(...)

Peak = the most bytes allocated *during* the call above what was live before it
(parameters and the batch are not counted). On CUDA that is
``torch.cuda.max_memory_allocated`` minus the allocation at entry. On CPU torch
keeps no such counter, so the call runs once under ``torch.profiler`` with
``profile_memory=True`` and the allocator's alloc/free records (signed byte
counts, in time order) are summed into a running total whose maximum is the
peak. EP relaxes without a graph, so its peak should not depend on T2; BPTT
stores every graph step for the backward pass, so its peak grows linearly.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import replace

import torch
from torch.autograd import DeviceType

from neurosim.learning import (
    BPTT,
    FreePhase,
    GeneralizedEP,
    Holomorphic,
    NudgedPhase,
    parameter_gradients,
)
from neurosim.substrate import FixedPoint

from ._common import (
    Report,
    Summary,
    format_table,
    profile_cpu,
    run_main,
    setup,
)
from .training_step import FULL, QUICK, RADIUS, table1_problem

TITLE = "memory: peak bytes of one EP step vs one BPTT step as T2 grows (float32)"


def _cpu_peak_bytes(fn: Callable[[], object]) -> int:
    prof = profile_cpu(fn, memory=True)
    # Raw allocator records: one per alloc (+bytes) and per free (-bytes) of every tensor.
    records = [
        (e.start_ns(), e.nbytes())
        for e in prof.profiler.kineto_results.events()
        if e.name() == "[memory]" and e.device_type() == DeviceType.CPU
    ]
    if not records:
        raise RuntimeError("the profiler recorded no allocations; cannot measure CPU peak memory")
    records.sort(key=lambda r: r[0])
    live = peak = 0
    for _, nbytes in records:
        live += nbytes
        peak = max(peak, live)
    return peak


def _cuda_peak_bytes(fn: Callable[[], object]) -> int:
    torch.cuda.synchronize()
    base = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    fn()
    torch.cuda.synchronize()
    return torch.cuda.max_memory_allocated() - base


def peak_bytes(fn: Callable[[], object], device: torch.device) -> int:
    """Peak bytes allocated while ``fn`` runs, above what was live at entry."""
    fn()  # warm-up: lazy initialisation and allocator caches are not the step's cost
    if device.type == "cuda":
        return _cuda_peak_bytes(fn)
    return _cpu_peak_bytes(fn)


def run(quick: bool = False) -> Report:
    setup()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    cfg = replace(QUICK, batch=FULL.batch) if quick else FULL
    t2s = [10, 20, 40] if quick else [10, 20, 40, 80, 160]
    net, loss, x, y = table1_problem(cfg)
    net, loss, x, y = net.to(device), loss.to(device), x.to(device), y.to(device)
    est = Holomorphic(r=RADIUS, n=4)
    free_phase = FreePhase(steps=cfg.t1)

    rows, ep_peaks, bp_peaks = [], [], []
    for t2 in t2s:
        ep = GeneralizedEP(est, free_phase, NudgedPhase(steps=t2, integrator=FixedPoint()))
        bptt = BPTT(steps=cfg.t1 + t2, grad_steps=t2)
        p_ep = peak_bytes(lambda ep=ep: ep.compute(net, loss, x, y), device)
        p_bp = peak_bytes(lambda bptt=bptt: bptt.compute(net, loss, x, y), device)
        ep_peaks.append(p_ep)
        bp_peaks.append(p_bp)
        rows.append((t2, f"{p_ep / 2**20:.2f}", f"{p_bp / 2**20:.2f}", f"{p_bp / p_ep:.2f}x"))

    # where the EP peak comes from, at the largest T2
    free = free_phase.run(net, x)
    nudged = NudgedPhase(steps=t2s[-1], integrator=FixedPoint())

    def nudged_only():
        with torch.no_grad():
            return est.estimate(net, x, free, lambda s: loss.nudge(s, y), nudged)

    delta = nudged_only().delta
    params = list(net.parameters())
    phase_peaks = {
        "free phase": peak_bytes(lambda: free_phase.run(net, x), device),
        "nudged phase": peak_bytes(nudged_only, device),
        "gradient Φ_θᵀδ": peak_bytes(
            lambda: parameter_gradients(net, x, free.s, delta, params, scale=1 / cfg.batch),
            device,
        ),
    }
    param_bytes = sum(p.numel() * p.element_size() for p in params)

    state_bytes = cfg.batch * sum(cfg.sizes[1:]) * 4  # one float32 copy of all layer states
    slope = (bp_peaks[-1] - bp_peaks[0]) / (t2s[-1] - t2s[0])
    ep_growth = ep_peaks[-1] / ep_peaks[0]
    bp_growth = bp_peaks[-1] / bp_peaks[0]
    how = (
        "torch.cuda.max_memory_allocated"
        if device.type == "cuda"
        else "torch.profiler(profile_memory=True): running sum of alloc/free records"
    )
    text = [
        f"network {'-'.join(map(str, cfg.sizes))}, batch {cfg.batch}, float32, T1={cfg.t1}; "
        f"EP = hEP N=4, r={RADIUS}; BPTT = BPTT(steps=T1+T2, grad_steps=T2)",
        f"device {device.type}; peak = max bytes allocated during one compute() above entry, "
        f"via {how}",
        "",
        format_table(["T2", "EP peak MiB", "BPTT peak MiB", "BPTT/EP"], rows),
        "",
        f"EP peak, T2={t2s[-1]} vs T2={t2s[0]}: {ep_growth:.2f}x (expected flat: no graph)",
        f"BPTT peak, T2={t2s[-1]} vs T2={t2s[0]}: {bp_growth:.2f}x; "
        f"slope {slope / 1024:.0f} KiB per graph step = {slope / state_bytes:.1f}x one copy of "
        f"the layer states ({state_bytes / 1024:.0f} KiB)",
        f"EP peak by phase at T2={t2s[-1]}: "
        + ", ".join(f"{k} {v / 2**20:.2f} MiB" for k, v in phase_peaks.items())
        + f" (network parameters: {param_bytes / 2**20:.2f} MiB, one gradient per parameter)",
    ]
    summary = [
        Summary(
            "memory",
            f"EP peak growth T2 {t2s[0]}->{t2s[-1]}",
            f"{ep_growth:.2f}x",
            "flat (~1x)",
            ep_growth <= 1.1,
        ),
        Summary(
            "memory",
            f"BPTT/EP peak at T2={t2s[-1]}",
            f"{bp_peaks[-1] / ep_peaks[-1]:.2f}x",
            "-",
            None,
        ),
        Summary(
            "memory", "BPTT peak slope per graph step", f"{slope / 1024:.0f} KiB", "linear", None
        ),
    ]
    return Report(TITLE, "\n".join(text), summary)


def main(argv: Sequence[str] | None = None) -> None:
    run_main(run, __doc__, argv)


if __name__ == "__main__":
    main(sys.argv[1:])

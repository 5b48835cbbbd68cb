"""Benchmarks for neurosim: ratios measured in one run on this machine, never asserted.

Run all of them with ``python -m benchmarks`` (``--quick`` for a smoke-sized
run), or one alone, e.g. ``python -m benchmarks.relaxation``:

relaxation
    Relaxation throughput as a fraction of the same process's dense-matmul peak.
training_step
    One generalized-hEP step (N = 4, 8) vs one BPTT step, L&Z Table-1 config,
    with a free/nudged-phase breakdown.
memory
    Peak memory of one EP step vs one BPTT step as T2 grows.
training
    Samples/s of hEP(N=4) and BPTT training steps; the homeostasis term's share.
sweep
    An 8-point sweep with ProcessExecutor(2) vs serial, and the experiment
    layer's overhead (config resolution, storage, progress, combine) per point.
gaunt
    Gaunt tensor products (grid, fourier2d) vs the dense reference and e3nn's CG
    product, over L.
frames
    The frame-averaging wrapper vs its backbone (E(3), frame size 8), and vs the
    backbone on the same stacked rows.
lie
    Affine-group CNNs (GL+(2), SO(2)) vs a plain CNN of the same size: forward and
    forward+backward cost.
noise
    A hEP step with per-device 1/f read noise (M OU components, read every step) vs
    the ideal step, and the noise state's memory.
backends
    Numba and brian2 relaxations vs torch eager over network size x batch, and
    whether the automatic backend choice ever picks the slower engine.

Every benchmark pins torch to one intra-op thread.
"""

BENCHMARKS = (
    "relaxation",
    "training_step",
    "training",
    "memory",
    "sweep",
    "gaunt",
    "frames",
    "lie",
    "backends",
    "noise",
)

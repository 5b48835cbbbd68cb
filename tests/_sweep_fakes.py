"""Picklable fake runners for the sweep tests: deterministic functions of the config.

Import paths for sweep files: ``"_sweep_fakes:metrics"`` etc. (``tests/`` is on
``sys.path`` under pytest; subprocesses and dask workers get it via PYTHONPATH).

Environment variables (inherited by worker processes):

SWEEP_FAKE_LOG
    A file to which every computation appends ``"start <point id> <pid>"`` and
    ``"end <point id> <pid>"`` lines (O_APPEND, one write per line).
SWEEP_FAKE_SLEEP
    Seconds :func:`slow_metrics` sleeps per point (default 0.3).
"""

from __future__ import annotations

import os
import signal
import time

import numpy as np
import xarray as xr

from neurosim.experiment.sweep import point_id

ESTIMATOR_CODE = {"one_sided": 1, "centered": 2, "holomorphic": 3, "online_holomorphic": 4}
N_STEPS = 3


def _log(event: str, config) -> None:
    path = os.environ.get("SWEEP_FAKE_LOG")
    if path:
        line = f"{event} {point_id(config)} {os.getpid()}\n".encode()
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)


def expected(config) -> dict[str, np.ndarray]:
    """The values :func:`metrics` returns for ``config``."""
    step = np.arange(N_STEPS)
    n_layers = len(config.network.sizes) - 1
    offset = (
        config.seed
        + config.feedback.alpha / 1000
        + 10 * ESTIMATOR_CODE.get(config.nudge.estimator, 0)
        + config.training.lr
    )
    loss = offset + 0.01 * step
    layer = np.arange(1, n_layers + 1)
    cosine = np.cos(np.deg2rad(config.feedback.alpha)) / layer[None, :] + 0 * step[:, None]
    return {"loss": loss, "delta_cosine": cosine, "step": step, "layer": layer}


def _dataset(config) -> xr.Dataset:
    v = expected(config)
    return xr.Dataset(
        {
            "loss": ("step", v["loss"], {"units": "1", "long_name": "fake loss"}),
            "delta_cosine": (
                ("step", "layer"),
                v["delta_cosine"],
                {"units": "1", "long_name": "fake cosine"},
            ),
            "steps_done": ((), np.int64(N_STEPS), {"units": "1", "long_name": "fake count"}),
        },
        coords={"step": v["step"], "layer": v["layer"]},
        attrs={"fake": "yes"},
    )


def metrics(config) -> xr.Dataset:
    _log("start", config)
    ds = _dataset(config)
    _log("end", config)
    return ds


def slow_metrics(config) -> xr.Dataset:
    _log("start", config)
    time.sleep(float(os.environ.get("SWEEP_FAKE_SLEEP", "0.3")))
    ds = _dataset(config)
    _log("end", config)
    return ds


def failing_metrics(config) -> xr.Dataset:
    """Raises for feedback.alpha == 45."""
    _log("start", config)
    if config.feedback.alpha == 45:
        raise ValueError("fake failure at alpha 45\nsecond line of the message")
    ds = _dataset(config)
    _log("end", config)
    return ds


def dying_metrics(config) -> xr.Dataset:
    """SIGKILLs its own process for feedback.alpha == 45 (use only in worker processes).

    With SWEEP_FAKE_LOG set, the dying point first waits (up to 10 s) until another
    point has started, so that one (alpha 0, which takes 1.5 s) is in flight when
    the pool breaks.
    """
    _log("start", config)
    if config.feedback.alpha == 45:
        log = os.environ.get("SWEEP_FAKE_LOG")
        deadline = time.monotonic() + 10
        while log and time.monotonic() < deadline:
            with open(log) as f:
                if sum(line.startswith("start") for line in f) >= 2:
                    break
            time.sleep(0.01)
        os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(1.5 if config.feedback.alpha == 0 else 0.05)  # 0: in flight when 45 dies
    ds = _dataset(config)
    _log("end", config)
    return ds


def not_a_dataset(config):
    return {"loss": 1.0}

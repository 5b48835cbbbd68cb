r"""One run: config → substrate, task, learning rule → metrics over training steps.

``run(config)`` builds the network (with its hardware), the task, the cost, the
learning rule and the optimizer, trains for ``training.steps`` optimizer steps,
and every ``training.eval_every`` steps (and before the first) records

=====================  ===============  ============================================
variable               dims             meaning
=====================  ===============  ============================================
loss                   step             test cost (mean over the test set)
accuracy               step             test accuracy (classification; NaN for MSE)
task_error             step             the task's own test error (equivariant workloads:
                                        MSE of the frame-averaged / invariant prediction),
                                        else 1 − accuracy; NaN for other MSE tasks
train_loss             step             mean training cost since the last record
delta_cosine           step, layer      cos(δ_rule, δ_BP) on the probe batch
delta_norm_ratio       step, layer      ‖δ_rule‖ / ‖δ_BP‖ on the probe batch
grad_cosine            step             cosine of the rule's and BP's gradients
jacobian_symmetry      step             ‖J_sym‖/(‖J_sym‖+‖J_anti‖) at the free state
residual               step             max ‖F(u)‖ of the free phase (probe batch)
converged_fraction     step             fraction of probe samples with ‖F‖ ≤ tol
=====================  ===============  ============================================

The BP reference is implicit differentiation of the *same* simulated substrate
(same device realisation), recurrent BP for networks above 2000 units.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import xarray as xr

from ..backends import BACKENDS
from ..learning import (
    BPTT,
    AbstractLearningRule,
    AbstractLoss,
    FreePhase,
    Homeostasis,
    ImplicitBP,
    NudgedPhase,
    RecurrentBP,
    SoftmaxCrossEntropy,
    delta_alignment,
    get_rule,
    gradient_alignment,
    homeostatic_loss,
    jacobian_symmetry,
    named_parameters,
)
from ..seeds import derive_seed, stream
from ..substrate import AnalogHardware, Clock, LayeredNetwork, PhaseRecord
from ..workloads import Dataset
from .config import Config, revalidate
from .optimizers import get_optimizer
from .provenance import provenance_attrs
from .tasks import get_task

__all__ = ["Experiment", "build", "run"]

_DTYPES = {"float32": torch.float32, "float64": torch.float64}
EXACT_JACOBIAN_MAX_UNITS = 600
IMPLICIT_REFERENCE_MAX_UNITS = 2000


@dataclass(kw_only=True)
class Experiment:
    """Everything one run needs, built from a :class:`Config` (:func:`build`).

    The random streams are named (:mod:`neurosim.seeds`): ``"batches"`` (the order of
    the training examples), ``"nudge"`` (probe amplitude and phase noise),
    ``"homeostasis"`` (its probes), besides those the task and the hardware own.
    """

    config: Config
    network: LayeredNetwork
    loss: AbstractLoss
    data: Dataset
    rule: AbstractLearningRule
    reference: AbstractLearningRule
    """The BP reference the rule is compared with (implicit BP, recurrent BP when large)."""
    free_phase: FreePhase
    optimizer: torch.optim.Optimizer
    data_generator: torch.Generator
    nudge_generator: torch.Generator
    homeostasis: Homeostasis | None
    homeostasis_generator: torch.Generator
    task_error: Callable[[torch.Tensor], float] | None = None
    """Test-set output states → the task's own error (equivariant workloads), else None."""


def build(config: Config) -> Experiment:
    """Instantiate the substrate, task, cost, rule and optimizer of ``config`` (seeded).

    ``config`` is validated again first, so a config made by hand is refused with the
    same one-line :class:`~neurosim.experiment.config.ConfigError` as a loaded one,
    and nothing below can fail on a value validation accepted.
    """
    config = revalidate(config)
    seed = config.seed
    dtype = _DTYPES[config.network.dtype]
    dyn, nud, tr = config.dynamics, config.nudge, config.training
    task = get_task(config.workload.task).build(config, dtype)
    network = task.network
    if config.feedback.mode == "independent":  # B becomes its own array, starting at angle α
        network.untie_feedback()
    ideal = (config.devices, config.neurons, config.noise, config.drift, config.array)
    if not all(part.is_ideal for part in ideal):
        network.hardware = AnalogHardware.for_network(
            network,
            config.devices,
            config.neurons,
            seed=seed,
            noise=config.noise,
            timing=config.timing,
            drift=config.drift,
            array=config.array,
        )
    else:
        network.hardware.clock = Clock(config.timing)
    integrator = dyn.build_integrator()
    backend = BACKENDS.get(config.substrate.backend).from_seed(derive_seed(seed, "backend"))
    free_phase = FreePhase(dyn.free_steps, integrator, dyn.tol, dyn.check_every, backend.relax)
    nudge_generator = stream(seed, "nudge")
    nudged = NudgedPhase(
        dyn.nudged_steps,
        integrator,
        dyn.tol,
        dyn.check_every,
        amplitude_noise=nud.amplitude_noise,
        phase_noise=nud.phase_noise,
        generator=nudge_generator,
        relax=backend.relax,
    )
    rule = get_rule(tr.rule).from_phases(free_phase, nudged, nud.build_estimator())
    reference = (
        ImplicitBP(free_phase)
        if network.num_units <= IMPLICIT_REFERENCE_MAX_UNITS
        else RecurrentBP(free_phase)
    )
    params = list(named_parameters(network, task.loss).values())
    return Experiment(
        config=config,
        network=network,
        loss=task.loss,
        data=task.data,
        rule=rule,
        reference=reference,
        free_phase=free_phase,
        optimizer=get_optimizer(tr.optimizer, params, tr),
        data_generator=stream(seed, "batches"),
        nudge_generator=nudge_generator,
        homeostasis=config.homeostasis.build(),
        homeostasis_generator=stream(seed, "homeostasis"),
        task_error=task.task_error,
    )


def _evaluate(exp: Experiment) -> dict[str, object]:
    """Metrics of the current network (see the module docstring).

    Measuring leaves the substrate as it was: its clock, noise processes and random
    streams are restored afterwards, so training continues as if unobserved. The BP
    reference runs on the substrate as the free phase left it (the same clock time,
    noise state and streams), so it sees the noise realization the rule's free phase
    saw last.
    """
    hw = exp.network.hardware
    before = hw.state_dict()
    try:
        return _metrics(exp)
    finally:
        hw.load_state_dict(before)


def _metrics(exp: Experiment) -> dict[str, object]:
    net, loss, data, cfg = exp.network, exp.loss, exp.data, exp.config
    with torch.no_grad():
        test = exp.free_phase.run(net, data.x_test)
        test_loss = float(loss(test.s[-1], data.y_test))
        acc = math.nan
        if isinstance(loss, SoftmaxCrossEntropy):
            acc = float((loss.predict(test.s[-1]) == data.y_test).double().mean())
        task_error = math.nan if exp.task_error is None else exp.task_error(test.s[-1])
        if math.isnan(task_error) and not math.isnan(acc):
            task_error = 1.0 - acc
    n = min(cfg.training.probe_batch, data.x_train.shape[0])
    xp, yp = data.x_train[:n], data.y_train[:n]
    free = exp.free_phase.run(net, xp)
    after_free = net.hardware.state_dict()
    ours = exp.rule.compute(net, loss, xp, yp, free=None if isinstance(exp.rule, BPTT) else free)
    net.hardware.load_state_dict(after_free)
    ref = exp.reference.compute(net, loss, xp, yp, free=free)
    da = delta_alignment(ours.delta, ref.delta)
    ga = gradient_alignment(ours.grads, ref.grads)
    method = "exact" if net.num_units <= EXACT_JACOBIAN_MAX_UNITS else "hutchinson"
    sym = jacobian_symmetry(
        net,
        xp,
        free.s,
        method=method,
        n_probes=8,
        generator=stream(cfg.seed, "metrics", "symmetry"),
    )
    homeo = exp.homeostasis
    h_probe = homeostatic_loss(
        net,
        xp,
        free.s,
        exact=method == "exact",
        n_probes=8,
        generator=stream(cfg.seed, "metrics", "homeostasis"),
    )
    return {
        "homeostatic_loss": float(h_probe.detach()),
        "homeostasis_strength": 0.0 if homeo is None else homeo.current_strength,
        "loss": test_loss,
        "accuracy": acc,
        "task_error": task_error,
        "delta_cosine": da.cosine.detach().cpu().numpy(),
        "delta_norm_ratio": da.norm_ratio.detach().cpu().numpy(),
        "grad_cosine": ga.total_cosine,
        "jacobian_symmetry": float(sym.mean()),
        "residual": float(free.residual.max()),
        "converged_fraction": float(free.converged.double().mean()),
    }


_ATTRS = {
    "loss": ("1", "test cost (mean over the test set)"),
    "accuracy": ("1", "test accuracy"),
    "task_error": ("1", "task error on the test set: the task's own measure, else 1 − accuracy"),
    "train_loss": ("1", "mean training cost since the previous record"),
    "delta_cosine": ("1", "cosine(δ_rule, δ_BP) on the probe batch, mean over samples"),
    "delta_norm_ratio": ("1", "‖δ_rule‖/‖δ_BP‖ on the probe batch, mean over samples"),
    "grad_cosine": ("1", "cosine between the rule's and BP's parameter gradients"),
    "jacobian_symmetry": ("1", "‖J_sym‖/(‖J_sym‖+‖J_anti‖) at the free fixed point"),
    "residual": ("1", "max ‖F(u)‖ at the end of the free phase (probe batch)"),
    "converged_fraction": ("1", "fraction of probe samples with ‖F(u)‖ ≤ tol"),
    "homeostatic_loss": ("1", "½‖J − Jᵀ‖² at the free fixed point (probe batch mean)"),
    "homeostasis_strength": ("1", "homeostasis strength λ in use (0 when off)"),
}


@dataclass
class _Progress:
    """Where a run stands: what a checkpoint saves besides the modules and generators."""

    step: int = 0
    steps: list[int] = field(default_factory=list)
    records: list[dict[str, object]] = field(default_factory=list)
    running: list[float] = field(default_factory=list)
    order: torch.Tensor | None = None
    pos: int = 0
    timeline: list[PhaseRecord] = field(default_factory=list)
    """The phases of the latest training step (start times on the substrate's clock)."""


def _save_checkpoint(path: Path, exp: Experiment, prog: _Progress, scheduler) -> None:
    state = {
        "config_toml": exp.config.to_toml(),
        "progress": prog,
        "network": exp.network.state_dict(),
        "loss": exp.loss.state_dict(),
        "optimizer": exp.optimizer.state_dict(),
        "scheduler": None if scheduler is None else scheduler.state_dict(),
        "data_generator": exp.data_generator.get_state(),
        "nudge_generator": exp.nudge_generator.get_state(),
        "hardware": exp.network.hardware.state_dict(),
        "homeostasis": None if exp.homeostasis is None else exp.homeostasis.state_dict(),
        "homeostasis_generator": exp.homeostasis_generator.get_state(),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def _load_checkpoint(path: Path, exp: Experiment, scheduler) -> _Progress:
    state = torch.load(path, weights_only=False)
    if state["config_toml"] != exp.config.to_toml():
        raise ValueError(
            f"{path}: checkpoint of a different config; delete it or choose another path"
        )
    exp.network.load_state_dict(state["network"])
    exp.loss.load_state_dict(state["loss"])
    exp.optimizer.load_state_dict(state["optimizer"])
    if scheduler is not None:
        scheduler.load_state_dict(state["scheduler"])
    exp.data_generator.set_state(state["data_generator"])
    exp.nudge_generator.set_state(state["nudge_generator"])
    exp.network.hardware.load_state_dict(state["hardware"])
    if exp.homeostasis is not None:
        exp.homeostasis.load_state_dict(state["homeostasis"])
    exp.homeostasis_generator.set_state(state["homeostasis_generator"])
    return state["progress"]


def run(
    config: Config,
    *,
    progress: Callable[[int, int], None] | None = None,
    checkpoint: str | os.PathLike | None = None,
) -> xr.Dataset:
    """Train as ``config`` says and return the metrics over steps as a labelled dataset.

    With ``training.epochs`` > 0 the run lasts that many epochs and records after
    each; otherwise ``training.steps`` steps, recording every ``eval_every``. With a
    ``checkpoint`` path, the full state (parameters, optimizer, schedule, every
    random stream, metrics so far) is saved atomically after each record, and a run
    started with an existing checkpoint of the same config continues from it and
    ends bit-identical to an uninterrupted run.
    """
    exp = build(config)
    config = exp.config
    tr = config.training
    net, loss, opt = exp.network, exp.loss, exp.optimizer
    n_train, batch = exp.data.x_train.shape[0], config.workload.batch  # batch <= rows: checked
    per_epoch = n_train // batch
    total = tr.epochs * per_epoch if tr.epochs > 0 else tr.steps
    eval_every = per_epoch if tr.epochs > 0 else tr.eval_every
    scheduler = (
        torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=total)
        if tr.schedule == "cosine"
        else None
    )
    params = named_parameters(net, loss)
    hw = net.hardware
    ckpt = None if checkpoint is None else Path(checkpoint)

    def record(prog: _Progress) -> None:
        m = _evaluate(exp)
        m["time"] = hw.clock.now
        m["timeline"] = list(prog.timeline)
        m["train_loss"] = float(np.mean(prog.running)) if prog.running else math.nan
        prog.running.clear()
        prog.records.append(m)
        prog.steps.append(prog.step)
        if ckpt is not None:
            _save_checkpoint(ckpt, exp, prog, scheduler)

    if ckpt is not None and ckpt.exists():
        prog = _load_checkpoint(ckpt, exp, scheduler)
    else:
        prog = _Progress()
        record(prog)
    while prog.step < total:
        if prog.order is None or prog.pos + batch > n_train:  # a new epoch
            prog.order = torch.randperm(n_train, generator=exp.data_generator)
            prog.pos = 0
        idx = prog.order[prog.pos : prog.pos + batch]
        prog.pos += batch
        x, y = exp.data.x_train[idx], exp.data.y_train[idx]
        opt.zero_grad(set_to_none=True)
        before = None if hw.is_ideal else {k: v.detach().clone() for k, v in params.items()}
        result = exp.rule.backward(net, loss, x, y)
        if exp.homeostasis is not None:
            exp.homeostasis.apply(net, x, result.free.s, exp.homeostasis_generator, step=prog.step)
        opt.step()
        if scheduler is not None:
            scheduler.step()
        with hw.phase("write"):
            if before is not None:
                with torch.no_grad():
                    hw.write(params, before)
            hw.clock.wait(config.timing.write_time)
        hw.clock.wait(config.timing.step_interval)
        prog.timeline = hw.clock.reset()
        prog.running.append(float(result.loss))
        prog.step += 1
        if prog.step % eval_every == 0 or prog.step == total:
            record(prog)
        if progress is not None:
            progress(prog.step, total)
    return _dataset(config, prog)


PHASES = ("free", "nudged", "write")
"""The phases of a training step recorded in the results (docs/design.md §4.1)."""


def _timeline_vars(records: list[dict]) -> dict[str, tuple]:
    """``{phase}_start``, ``{phase}_duration``, ``{phase}_steps`` per record (NaN/0 if the
    phase did not run), for the training step before each record.

    Starts are relative to the start of that training step's first phase.
    """
    n = len(records)
    out: dict[str, tuple] = {}
    for phase in PHASES:
        start, duration = np.full(n, np.nan), np.full(n, np.nan)
        steps = np.zeros(n, dtype=np.int64)
        for i, r in enumerate(records):
            phases = r["timeline"]
            t0 = phases[0].start if phases else 0.0
            for p in phases:
                if p.name == phase:
                    start[i], duration[i], steps[i] = p.start - t0, p.duration, p.steps
        attrs = {"timeline": phase}
        out[f"{phase}_start"] = (
            ("step",),
            start,
            {**attrs, "units": "s", "long_name": f"start of the {phase} phase in its step"},
        )
        out[f"{phase}_duration"] = (
            ("step",),
            duration,
            {**attrs, "units": "s", "long_name": f"duration of the {phase} phase"},
        )
        out[f"{phase}_steps"] = (
            ("step",),
            steps,
            {**attrs, "units": "1", "long_name": f"relaxation steps of the {phase} phase"},
        )
    return out


def _dataset(config: Config, prog: _Progress) -> xr.Dataset:
    n_layers = len(config.network.sizes) - 1
    data_vars = {}
    for key, (units, long_name) in _ATTRS.items():
        values = np.asarray([r[key] for r in prog.records], dtype=np.float64)
        dims = ("step", "layer") if values.ndim == 2 else ("step",)
        data_vars[key] = (dims, values, {"units": units, "long_name": long_name})
    data_vars["time"] = (
        ("step",),
        np.asarray([r["time"] for r in prog.records], dtype=np.float64),
        {
            "units": "s",
            "long_name": "substrate time at the record (its clock)",
            "timeline": "clock",
        },
    )
    data_vars.update(_timeline_vars(prog.records))
    ds = xr.Dataset(
        data_vars,
        coords={"step": np.asarray(prog.steps), "layer": np.arange(1, n_layers + 1)},
    )
    ds.attrs.update(provenance_attrs(config.to_toml(), command="neurosim run", seed=config.seed))
    return ds

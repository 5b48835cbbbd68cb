"""One run: metrics over training, determinism, and the hardware path's exactness."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from neurosim.experiment.config import Config
from neurosim.experiment.runner import run

TINY = {
    "network.sizes": [6, 10, 4],
    "workload.n_train": 64,
    "workload.n_test": 32,
    "workload.batch": 16,
    "training.steps": 8,
    "training.eval_every": 4,
    "training.probe_batch": 8,
    "dynamics.free_steps": 60,
    "dynamics.nudged_steps": 30,
}


def tiny(**updates) -> Config:
    return Config().with_updates({**TINY, **updates})


def test_run_returns_labelled_metrics_over_steps():
    ds = run(tiny())
    assert list(ds.step.values) == [0, 4, 8]
    assert list(ds.layer.values) == [1, 2]
    for name in (
        "loss",
        "train_loss",
        "delta_cosine",
        "grad_cosine",
        "jacobian_symmetry",
        "residual",
    ):
        assert name in ds and "units" in ds[name].attrs and "long_name" in ds[name].attrs
    assert ds.delta_cosine.dims == ("step", "layer")
    assert "config_toml" in ds.attrs and "git_revision" in ds.attrs
    # symmetric network, holomorphic EP: aligned with BP throughout
    assert float(ds.grad_cosine.min()) > 0.999
    assert float(ds.jacobian_symmetry.min()) > 1 - 1e-12


def test_same_seed_same_result_and_different_seed_differs():
    a, b = run(tiny(seed=3)), run(tiny(seed=3))
    xr.testing.assert_identical(a.drop_attrs(), b.drop_attrs())
    c = run(tiny(seed=4))
    assert not np.array_equal(a.loss.values, c.loss.values)


@pytest.mark.parametrize("rule", ["ep", "bptt", "rbp", "implicit"])
def test_every_rule_lowers_the_cost_on_the_symmetric_network(rule):
    ds = run(tiny(**{"training.rule": rule, "training.steps": 40, "training.eval_every": 40}))
    assert float(ds.loss[-1]) < float(ds.loss[0])


def test_asymmetric_feedback_misaligns_hidden_deltas():
    ds = run(tiny(**{"feedback.alpha": 90.0}))
    assert float(ds.delta_cosine.sel(layer=1).max()) < 0.95
    assert float(ds.jacobian_symmetry.max()) < 0.95


def test_noise_free_hardware_path_reproduces_ideal_bit_for_bit():
    """A config that differs from the ideal one only in noise *settings* with zero noise
    runs through the analog hardware model and must give the ideal numbers exactly."""
    ideal = run(tiny(**{"feedback.alpha": 30.0}))
    noise_free = run(
        tiny(
            **{
                "feedback.alpha": 30.0,
                "devices.read_noise_mode": "per_step",
                "neurons.adc_range": [0.0, 2.0],
            }
        )
    )
    for name in ideal.data_vars:
        np.testing.assert_array_equal(ideal[name].values, noise_free[name].values, err_msg=name)


def test_cross_entropy_reports_accuracy():
    ds = run(
        tiny(**{"workload.loss": "cross_entropy", "training.steps": 20, "training.eval_every": 20})
    )
    acc = ds.accuracy.values
    assert np.isfinite(acc).all() and ((0 <= acc) & (acc <= 1)).all()


def test_epochs_record_once_per_epoch():
    ds = run(tiny(**{"training.epochs": 2}))  # 64 samples, batch 16: 4 steps per epoch
    assert list(ds.step.values) == [0, 4, 8]


def test_cosine_schedule_anneals_the_learning_rate_to_zero():
    from neurosim.experiment.runner import build

    exp = build(tiny(**{"training.schedule": "cosine"}))
    import torch

    sched = torch.optim.lr_scheduler.CosineAnnealingLR(exp.optimizer, T_max=8)
    lrs = []
    for _ in range(8):
        exp.optimizer.step()
        sched.step()
        lrs.append(exp.optimizer.param_groups[0]["lr"])
    assert lrs[-1] < 1e-12 and all(a >= b for a, b in zip(lrs, lrs[1:], strict=False))
    # and a cosine run differs from a constant one
    a = run(tiny(**{"training.schedule": "cosine"}))
    b = run(tiny())
    assert not np.array_equal(a.loss.values, b.loss.values)


class _Stop(Exception):
    pass


@pytest.mark.parametrize("extra", [{}, {"devices.read_noise_std": 0.02, "nudge.phase_noise": 0.05}])
def test_checkpoint_resume_is_bit_identical(tmp_path, extra):
    cfg = tiny(
        **{"training.steps": 12, "training.eval_every": 3, "training.schedule": "cosine", **extra}
    )
    full = run(cfg)

    def stop_at_7(done, total):
        if done == 7:
            raise _Stop

    ckpt = tmp_path / "run.ckpt"
    with pytest.raises(_Stop):
        run(cfg, checkpoint=ckpt, progress=stop_at_7)
    assert ckpt.exists()
    resumed = run(cfg, checkpoint=ckpt)
    for name in full.data_vars:
        np.testing.assert_array_equal(full[name].values, resumed[name].values, err_msg=name)
    # a checkpoint of another config is refused
    with pytest.raises(ValueError, match="different config"):
        run(cfg.with_updates({"seed": 9}), checkpoint=ckpt)


def test_homeostasis_raises_jacobian_symmetry_at_90_degrees():
    """Same seed, α = 90°: a short run with homeostasis ends more symmetric than without."""
    base = {"feedback.alpha": 90.0, "training.steps": 30, "training.eval_every": 10}
    off = run(tiny(**base))
    on = run(tiny(**base, **{"homeostasis.mode": "fixed", "homeostasis.strength": 0.5}))
    assert float(on.jacobian_symmetry[-1]) > float(off.jacobian_symmetry[-1])
    assert float(on.homeostatic_loss[-1]) < float(off.homeostatic_loss[-1])
    assert (off.homeostasis_strength.values == 0).all()


def test_auto_homeostasis_keeps_lambda_finite_and_nonnegative(tmp_path):
    cfg = tiny(
        **{
            "feedback.alpha": 90.0,
            "training.steps": 30,
            "training.eval_every": 5,
            "homeostasis.mode": "auto",
            "homeostasis.strength": 0.01,
        }
    )
    ds = run(cfg)
    lam = ds.homeostasis_strength.values
    assert np.isfinite(lam).all() and (lam >= 0).all()
    assert lam[-1] != lam[0]  # the tuner moved λ
    # and the tuner's state survives a checkpoint: resumed == uninterrupted
    ckpt = tmp_path / "h.ckpt"

    def stop(done, total):
        if done == 17:
            raise _Stop

    with pytest.raises(_Stop):
        run(cfg, checkpoint=ckpt, progress=stop)
    resumed = run(cfg, checkpoint=ckpt)
    np.testing.assert_array_equal(
        ds.homeostasis_strength.values, resumed.homeostasis_strength.values
    )
    np.testing.assert_array_equal(ds.loss.values, resumed.loss.values)


def test_hep_follows_bp_loss_curve_on_the_symmetric_network():
    """α = 0, holomorphic N = 4, r = 0.1: hEP's gradient bias is ~r⁴, so over 40 SGD
    steps its test-loss curve stays within 0.1 % of implicit BP's (same seed, same data)."""
    base = {"training.steps": 40, "training.eval_every": 5}
    ep = run(tiny(**base, **{"training.rule": "ep"}))
    bp = run(tiny(**base, **{"training.rule": "implicit"}))
    rel = np.abs(ep.loss.values - bp.loss.values) / bp.loss.values
    assert rel.max() < 1e-3, rel
    assert float(bp.loss[-1]) < 0.9 * float(bp.loss[0])  # and the curve actually moves


def test_write_netcdf_is_atomic_and_gets_ordinary_file_permissions(tmp_path):
    """A result file has 0666 less the umask (not mkstemp's 0600); no temporary is left."""
    import os
    import stat

    import numpy as np
    import xarray as xr

    from neurosim.experiment import write_netcdf

    ds = xr.Dataset({"a": ("x", np.arange(3.0))})
    old = os.umask(0o022)
    try:
        path = write_netcdf(ds, tmp_path / "sub" / "out.nc")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert sorted(p.name for p in path.parent.iterdir()) == ["out.nc"]
    with xr.open_dataset(path) as back:
        np.testing.assert_array_equal(back.a.values, ds.a.values)

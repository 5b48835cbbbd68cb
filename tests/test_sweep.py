"""Sweeps: spec validation, the combined dataset, resuming after SIGKILL, and every executor."""

from __future__ import annotations

import collections
import hashlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import _sweep_fakes
import numpy as np
import pytest
import xarray as xr

from neurosim.experiment.config import ConfigError
from neurosim.experiment.executors import (
    DaskExecutor,
    ProcessExecutor,
    SerialExecutor,
    make_executor,
)
from neurosim.experiment.sweep import SweepError, load_sweep, point_id, run_sweep

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
FAKES = _sweep_fakes.__name__  # "_sweep_fakes" (tests/ is on sys.path)

BASE = """\
name = "sweep-test-base"
[network]
sizes = [4, 6, 3]
"""

SWEEP = """\
base = "base.toml"
seeds = [0, 1]
runner = "{runner}"
out = "results/{name}.nc"

[axes]
"feedback.alpha" = [0, 45, 90]
"nudge.estimator" = ["centered", "holomorphic"]

[overrides]
"training.lr" = 0.01
"""


def sweep_text(runner: str = "metrics", name: str = "grid") -> str:
    return SWEEP.format(runner=f"{FAKES}:{runner}", name=name)


def write_sweep(folder: Path, text: str | None = None, name: str = "grid") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "base.toml").write_text(BASE)
    path = folder / f"{name}.toml"
    path.write_text(sweep_text(name=name) if text is None else text)
    return path


def fake_env(log: Path | None = None, sleep: float | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(TESTS), str(ROOT), env.get("PYTHONPATH", "")])
    if log is not None:
        env["SWEEP_FAKE_LOG"] = str(log)
    if sleep is not None:
        env["SWEEP_FAKE_SLEEP"] = str(sleep)
    return env


def starts(log: Path) -> collections.Counter:
    if not log.exists():
        return collections.Counter()
    lines = [line.split() for line in log.read_text().splitlines()]
    return collections.Counter(parts[1] for parts in lines if parts[0] == "start")


def assert_same_sweep(a: xr.Dataset, b: xr.Dataset) -> None:
    """Data variables, coords and variable attrs identical; dataset attrs equal but history."""
    strip = lambda ds: {k: v for k, v in ds.attrs.items() if k != "history"}
    assert strip(a) == strip(b)
    xr.testing.assert_identical(
        a.assign_attrs(history="").drop_attrs(deep=False),
        b.assign_attrs(history="").drop_attrs(deep=False),
    )


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SWEEP_FAKE_LOG", raising=False)
    return tmp_path


# --------------------------------------------------------------------------- validation

ERRORS = [
    # (replace this, with this, expected key, words in the message)
    ('base = "base.toml"', 'base = "base.toml"\nbsae = 1', "bsae", "unknown key"),
    ('"feedback.alpha" = [0, 45, 90]', '"feedback.alpha" = []', "axes.feedback.alpha", "empty"),
    ('"feedback.alpha" = [0, 45, 90]', '"feedback.alpha" = 45', "axes.feedback.alpha", "list"),
    ('"feedback.alpha" = [0, 45, 90]', '"feedback.alpah" = [0, 1]', "axes.feedback.alpah", "alpha"),
    ('"feedback.alpha" = [0, 45, 90]', '"feedbak.alpha" = [0, 1]', "axes.feedbak.alpha", "unknown"),
    (
        '"feedback.alpha" = [0, 45, 90]',
        '"feedback.alpha" = [0, 45, 0]',
        "axes.feedback.alpha",
        "duplicate",
    ),
    (
        '"feedback.alpha" = [0, 45, 90]',
        '"feedback.alpha" = [0, 0.0]',
        "axes.feedback.alpha",
        "duplicate",
    ),
    (
        '"feedback.alpha" = [0, 45, 90]',
        '"feedback.alpha" = [0, 90, 200]',
        "axes.feedback.alpha",
        "200",
    ),
    (
        '"nudge.estimator" = ["centered", "holomorphic"]',
        '"nudge.estimator" = ["centered", "nope"]',
        "axes.nudge.estimator",
        "nope",
    ),
    ('"feedback.alpha" = [0, 45, 90]', '"seed" = [1, 2]', "axes.seed", "seeds"),
    (
        '"feedback.alpha" = [0, 45, 90]',
        '"training.lr" = [0.1, 0.2]',
        "axes.training.lr",
        "overrides",
    ),
    ("seeds = [0, 1]", "seeds = []", "seeds", "empty"),
    ("seeds = [0, 1]", "seeds = [0, -1]", "seeds", "-1"),
    ("seeds = [0, 1]", "seeds = [1, 1]", "seeds", "duplicate"),
    ("seeds = [0, 1]", 'seeds = "0"', "seeds", "list"),
    ('base = "base.toml"', 'base = "no_such_preset"', "base", "preset"),
    ('base = "base.toml"', 'base = "missing.toml"', "base", "not found"),
    ('base = "base.toml"', "base = 3", "base", "type"),
    ('"training.lr" = 0.01', '"training.lr" = -1.0', "overrides.training.lr", "range"),
    ('"training.lr" = 0.01', '"training.lrr" = 0.1', "overrides.training.lrr", "unknown"),
    ('"training.lr" = 0.01', 'training.steps = "many"', "overrides.training.steps", "type"),
    ('runner = "_sweep_fakes:metrics"', 'runner = "no_colon"', "runner", "module:function"),
    ('runner = "_sweep_fakes:metrics"', 'runner = "_sweep_fakes:nothing"', "runner", "nothing"),
    (
        'runner = "_sweep_fakes:metrics"',
        'runner = "no_such_module_x:run"',
        "runner",
        "no_such_module_x",
    ),
    ('out = "results/grid.nc"', 'out = "results/grid.txt"', "out", ".nc"),
    ('"training.lr" = 0.01', '"training.lr" = 0.01\n[axes2]', "axes2", "unknown key"),
    ("[axes]", "[axes]]", "", "invalid TOML"),
]


@pytest.mark.parametrize(
    ("old", "new", "key", "words"), ERRORS, ids=[e[2] or "toml" for e in ERRORS]
)
def test_bad_sweep_files_fail_with_one_line_naming_file_and_key(in_tmp, old, new, key, words):
    good = sweep_text()
    assert old in good
    path = write_sweep(in_tmp, good.replace(old, new))
    with pytest.raises(ConfigError) as info:
        load_sweep(path)
    msg = str(info.value)
    assert "\n" not in msg
    assert info.value.file == str(path) and info.value.key == key, msg
    assert msg.startswith(f"{path}: {key}: " if key else f"{path}: "), msg
    assert words in msg, msg
    assert not (in_tmp / "results").exists()  # nothing written


def test_a_bad_value_in_any_point_fails_before_anything_is_computed(in_tmp):
    # every value is fine alone, but devices.levels > 0 needs finite bounds: not at w_min = -inf
    text = (
        sweep_text()
        .replace('"training.lr" = 0.01', '"devices.levels" = 16')
        .replace(
            '"nudge.estimator" = ["centered", "holomorphic"]', '"devices.w_min" = [-1.0, -inf]'
        )
        .replace("[overrides]", '"devices.w_max" = [1.0]\n[overrides]')
    )
    path = write_sweep(in_tmp, text)
    with pytest.raises(ConfigError) as info:
        load_sweep(path)
    msg = str(info.value)
    assert info.value.key == "overrides.devices.levels" and "finite weight range" in msg, msg
    assert "(at point feedback.alpha=0, devices.w_min=-inf, devices.w_max=1.0, seed=0)" in msg, msg
    assert not (in_tmp / "results").exists()


def test_unquoted_dotted_keys_and_defaults(in_tmp):
    text = f'runner = "{FAKES}:metrics"\n[axes]\nfeedback.alpha = [0, 30]\n'
    path = write_sweep(in_tmp, text + "[overrides]\ntraining.steps = 5\n", name="plain")
    spec = load_sweep(path)
    assert spec.dims == ("feedback.alpha", "seed")
    assert spec.seeds == (0,)  # the base config's seed
    assert spec.out == in_tmp / "results" / "plain.nc"
    assert spec.points_dir == in_tmp / "results" / "plain.nc.points"
    assert [p.config.training.steps for p in spec.points] == [5, 5]
    assert [p.config.feedback.alpha for p in spec.points] == [0.0, 30.0]
    p = spec.points[1]
    assert (
        p.id == hashlib.sha256(p.config.to_toml().encode()).hexdigest()[:16] == point_id(p.config)
    )
    assert p.label == "feedback.alpha=30, seed=0"
    assert load_sweep(path, out="elsewhere/x.nc").out == in_tmp / "elsewhere" / "x.nc"


# --------------------------------------------------------------------------- serial


def test_serial_sweep_dims_values_and_provenance(in_tmp, capsys):
    path = write_sweep(in_tmp)
    spec = load_sweep(path)
    assert len(spec.points) == 12
    ds = run_sweep(spec, executor=SerialExecutor(), progress=True)
    err = capsys.readouterr().err
    assert "sweep grid" in err and "done 12" in err and "failed 0" in err

    assert ds.loss.dims == ("feedback.alpha", "nudge.estimator", "seed", "step")
    assert ds.delta_cosine.dims == ("feedback.alpha", "nudge.estimator", "seed", "step", "layer")
    assert ds.steps_done.dims == ("feedback.alpha", "nudge.estimator", "seed")
    assert list(ds["feedback.alpha"].values) == [0, 45, 90]
    assert list(ds["nudge.estimator"].values) == ["centered", "holomorphic"]
    assert list(ds.seed.values) == [0, 1]
    assert list(ds.layer.values) == [1, 2]
    assert ds.loss.attrs["units"] == "1" and ds.loss.attrs["long_name"] == "fake loss"
    for p in spec.points:
        sel = {k: v for k, v in p.values}
        want = _sweep_fakes.expected(p.config)
        np.testing.assert_array_equal(ds.loss.sel(sel).values, want["loss"])
        np.testing.assert_array_equal(ds.delta_cosine.sel(sel).values, want["delta_cosine"])
        assert ds.point_id.sel(sel).item() == p.id
        assert (spec.points_dir / f"{p.id}.nc").is_file()
    for key in ("config_toml", "sweep_toml", "git_revision", "history", "seed", "version_torch"):
        assert key in ds.attrs, key
    assert ds.attrs["sweep_toml"] == path.read_text()
    assert ds.attrs["seed"] == "[0, 1]"
    assert 'name = "sweep-test-base"' in ds.attrs["config_toml"]
    assert "lr = 0.05" in ds.attrs["config_toml"]  # the base; overrides are in sweep_toml
    on_disk = xr.load_dataset(spec.out)
    xr.testing.assert_identical(on_disk, ds)


def test_rerun_and_extended_axis_reuse_finished_points(in_tmp, monkeypatch):
    log = in_tmp / "log.txt"
    monkeypatch.setenv("SWEEP_FAKE_LOG", str(log))
    path = write_sweep(in_tmp)
    first = run_sweep(load_sweep(path), progress=False)
    assert sum(starts(log).values()) == 12
    again = run_sweep(load_sweep(path), progress=False)
    assert sum(starts(log).values()) == 12  # nothing recomputed
    assert_same_sweep(first, again)
    path.write_text(path.read_text().replace("[0, 45, 90]", "[0, 45, 90, 135]"))
    wider = run_sweep(load_sweep(path), progress=False)
    assert sum(starts(log).values()) == 16 and max(starts(log).values()) == 1
    assert list(wider["feedback.alpha"].values) == [0, 45, 90, 135]
    xr.testing.assert_equal(wider.loss.sel({"feedback.alpha": [0, 45, 90]}), first.loss)


def test_failed_points_are_reported_and_only_they_are_redone(in_tmp, monkeypatch):
    log = in_tmp / "log.txt"
    monkeypatch.setenv("SWEEP_FAKE_LOG", str(log))
    path = write_sweep(in_tmp, sweep_text("failing_metrics"))
    spec = load_sweep(path)
    with pytest.raises(SweepError) as info:
        run_sweep(spec, progress=False)
    msg = str(info.value)
    bad = [p for p in spec.points if p.config.feedback.alpha == 45]
    assert len(info.value.failures) == len(bad) == 4
    lines = msg.splitlines()
    assert len(lines) == 1 + 4 and "4 of 12 sweep points failed" in lines[0]
    for p in bad:
        assert any(
            p.id in line and "ValueError: fake failure at alpha 45" in line for line in lines
        )
        assert not spec.point_path(p).exists()
        assert "second line" in (spec.points_dir / f"{p.id}.err").read_text()
    assert len(list(spec.points_dir.glob("*.nc"))) == 8
    assert not spec.out.exists()

    path.write_text(path.read_text().replace("failing_metrics", "metrics"))
    ds = run_sweep(load_sweep(path), progress=False)
    counts = starts(log)
    assert all(counts[p.id] == (2 if p in bad else 1) for p in spec.points)
    assert not list(spec.points_dir.glob("*.err"))
    assert ds.loss.notnull().all()


def test_a_runner_returning_no_dataset_is_a_failed_point(in_tmp):
    path = write_sweep(in_tmp, sweep_text("not_a_dataset"))
    with pytest.raises(SweepError, match="not an xarray.Dataset"):
        run_sweep(load_sweep(path), progress=False)


# --------------------------------------------------------------------------- resume


RUN_SCRIPT = """
import sys
from neurosim.experiment.sweep import load_sweep, run_sweep
run_sweep(load_sweep(sys.argv[1]), progress=False)
"""


def test_sigkilled_sweep_resumes_without_recomputing_finished_points(in_tmp, monkeypatch):
    log = in_tmp / "log.txt"
    path = write_sweep(in_tmp, sweep_text("slow_metrics"))
    spec = load_sweep(path)
    proc = subprocess.Popen(
        [sys.executable, "-c", RUN_SCRIPT, str(path)],
        cwd=in_tmp,
        env=fake_env(log, sleep=0.25),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 40
        while len(list(spec.points_dir.glob("*.nc"))) < 2:
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
            assert time.monotonic() < deadline, "the sweep wrote no points in 40 s"
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL

    ids = {p.id for p in spec.points}
    finished = {}
    for entry in spec.points_dir.iterdir():
        if entry.name.startswith("."):  # a write cut short: a hidden temporary, never a result
            assert entry.name.endswith(".tmp"), entry.name
            continue
        assert entry.suffix == ".nc" and entry.stem in ids, entry.name
        xr.load_dataset(entry)  # complete and readable
        st = entry.stat()
        finished[entry.stem] = (st.st_ino, st.st_mtime_ns)
    assert 2 <= len(finished) < len(ids)
    assert not spec.out.exists()

    monkeypatch.setenv("SWEEP_FAKE_LOG", str(log))
    monkeypatch.setenv("SWEEP_FAKE_SLEEP", "0")
    resumed = run_sweep(load_sweep(path), progress=False)
    for pid, stat in finished.items():
        st = (spec.points_dir / f"{pid}.nc").stat()
        assert (st.st_ino, st.st_mtime_ns) == stat, "a finished point was rewritten"
    counts = starts(log)
    assert set(counts) == ids
    assert all(counts[pid] == 1 for pid in finished)
    twice = [pid for pid, n in counts.items() if n > 1]
    assert len(twice) <= 1 and all(counts[pid] == 2 for pid in twice)  # the one killed mid-way

    monkeypatch.delenv("SWEEP_FAKE_LOG")
    straight = run_sweep(load_sweep(path, out="results/straight.nc"), progress=False)
    assert_same_sweep(resumed, straight)
    assert_same_sweep(xr.load_dataset(spec.out), xr.load_dataset(in_tmp / "results/straight.nc"))


# --------------------------------------------------------------------------- executors


def test_process_executor_matches_serial(in_tmp):
    path = write_sweep(in_tmp)
    serial = run_sweep(load_sweep(path, out="results/serial.nc"), progress=False)
    parallel = run_sweep(
        load_sweep(path, out="results/parallel.nc"), executor=ProcessExecutor(2), progress=False
    )
    assert_same_sweep(serial, parallel)


def test_a_point_that_kills_its_worker_fails_alone(in_tmp, monkeypatch):
    log = in_tmp / "log.txt"
    monkeypatch.setenv("SWEEP_FAKE_LOG", str(log))
    text = (
        sweep_text("dying_metrics")
        .replace("seeds = [0, 1]", "seeds = [0]")
        .replace('"nudge.estimator" = ["centered", "holomorphic"]\n', "")
        .replace("[0, 45, 90]", "[0, 45, 90, 135]")
    )
    path = write_sweep(in_tmp, text)
    spec = load_sweep(path)
    with pytest.raises(SweepError) as info:
        run_sweep(spec, executor=ProcessExecutor(2), progress=False)
    ((point, exc),) = info.value.failures
    assert point.config.feedback.alpha == 45 and "died" in str(exc)
    assert "WorkerDied" in str(info.value)
    assert len(list(spec.points_dir.glob("*.nc"))) == 3
    # the pool broke with alpha 0 in flight too: both were retried alone, and only 45 failed
    counts = starts(log)
    assert counts[point.id] == 2 and sorted(counts.values()) == [1, 1, 2, 2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_dask_executor_on_a_real_scheduler_matches_serial(in_tmp):
    pytest.importorskip("distributed", reason="dask.distributed is not installed")
    from distributed import Client

    dask = Path(sys.executable).parent / "dask"
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = fake_env()
    procs = []
    logs = []
    try:
        for args in (
            ["scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
            [
                "worker",
                address,
                "--nworkers",
                "1",
                "--nthreads",
                "1",
                "--no-dashboard",
                "--host",
                "127.0.0.1",
            ],
        ):
            out = open(in_tmp / f"dask-{args[0]}.log", "wb")
            logs.append(out)
            procs.append(
                subprocess.Popen(
                    [str(dask), *args],
                    cwd=in_tmp,
                    env=env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
        with Client(address, timeout=15, set_as_default=False) as client:
            client.wait_for_workers(1, timeout=20)
        path = write_sweep(in_tmp)
        serial = run_sweep(load_sweep(path, out="results/serial.nc"), progress=False)
        distributed = run_sweep(
            load_sweep(path, out="results/dask.nc"), executor=DaskExecutor(address), progress=False
        )
        assert_same_sweep(serial, distributed)
    except Exception:
        for out in logs:  # shown by pytest with the failure
            out.flush()
            print(f"--- {out.name}\n{Path(out.name).read_text(errors='replace')[-3000:]}")
        raise
    finally:
        for proc in reversed(procs):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in reversed(procs):
            try:
                proc.wait(8)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)
        for out in logs:
            out.close()


def test_make_executor_maps_cli_flags():
    assert isinstance(make_executor(), SerialExecutor)
    ex = make_executor(workers=3)
    assert isinstance(ex, ProcessExecutor) and ex.workers == 3
    assert ex.start_method in ("forkserver", "spawn")
    with pytest.raises(ValueError):
        make_executor(workers=0)
    pytest.importorskip("distributed")
    ex = make_executor(scheduler="tcp://10.0.0.1:8786")
    assert isinstance(ex, DaskExecutor) and ex.address == "tcp://10.0.0.1:8786"
    ex = make_executor(workers=2, scheduler="local")
    assert isinstance(ex, DaskExecutor) and ex.address is None and ex.workers == 2
    with pytest.raises(ValueError, match="own workers"):
        make_executor(workers=2, scheduler="tcp://10.0.0.1:8786")


# --------------------------------------------------------------------------- the real runner


def test_real_runner_on_a_tiny_sweep(in_tmp):
    try:
        import neurosim.experiment.runner  # noqa: F401
    except ImportError as exc:
        pytest.skip(f"neurosim.experiment.runner is not importable yet: {exc}")
    (in_tmp / "tiny.toml").write_text(
        "[network]\nsizes = [4, 6, 3]\n"
        "[workload]\nn_train = 32\nn_test = 16\nbatch = 8\n"
        "[training]\nsteps = 2\neval_every = 1\nprobe_batch = 4\n"
        "[dynamics]\nfree_steps = 30\nnudged_steps = 10\n"
    )
    path = in_tmp / "real.toml"
    path.write_text('base = "tiny.toml"\nseeds = [0, 1]\n[axes]\n"feedback.alpha" = [0, 90]\n')
    ds = run_sweep(load_sweep(path), progress=False)
    assert ds.loss.dims == ("feedback.alpha", "seed", "step")
    assert ds.delta_cosine.dims == ("feedback.alpha", "seed", "step", "layer")
    assert ds.sizes["step"] == 3 and ds.sizes["layer"] == 2
    assert ds.loss.notnull().all()
    # symmetric feedback aligns with BP, independent random feedback does not
    assert float(ds.grad_cosine.sel({"feedback.alpha": 0}).min()) > 0.99
    assert (in_tmp / "results" / "real.nc").is_file()

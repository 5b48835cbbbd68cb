"""The guide docs/guides/custom_device.md, executed as written, from outside the package.

Its Python blocks become a plugin module and its TOML block a config file in a fresh
folder; a new process runs ``neurosim validate`` and ``neurosim run`` on it (so the
device model and the task are registered only through the config's ``plugins``), and
a sweep over the plugin's key runs on worker processes.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import xarray as xr

ROOT = Path(__file__).resolve().parents[1]
GUIDE = ROOT / "docs" / "guides" / "custom_device.md"


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", GUIDE.read_text(encoding="utf-8"), re.S)


@pytest.fixture(scope="module")
def guide_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("guide")
    (folder / "my_devices.py").write_text("\n\n".join(_blocks("python")), encoding="utf-8")
    (toml,) = _blocks("toml")
    (folder / "my_run.toml").write_text(toml, encoding="utf-8")
    yield folder
    # tests that load the config in this process registered the plugin: take it back
    from neurosim.experiment.tasks import TASKS
    from neurosim.substrate import DEVICE_MODELS

    for registry, name in ((DEVICE_MODELS, "multiplicative"), (TASKS, "linear_teacher")):
        if name in registry:
            registry.unregister(name)
    sys.modules.pop("my_devices", None)
    if str(folder) in sys.path:
        sys.path.remove(str(folder))


def _cli(folder: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "neurosim.cli", *args],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_guide_has_its_parts():
    assert len(_blocks("python")) == 2 and len(_blocks("toml")) == 1


def test_guide_validates_and_runs_through_the_cli(guide_dir):
    check = _cli(guide_dir, "validate", "my_run.toml")
    assert check.returncode == 0, check.stderr
    assert check.stdout.startswith("OK: multiplicative-demo")
    assert 'devices.kind           = "multiplicative"' in check.stdout
    assert "devices.read_noise_rel = 0.02  (not in the defaults)" in check.stdout

    out = guide_dir / "out" / "demo.nc"
    done = _cli(guide_dir, "run", "my_run.toml", "--out", str(out), "--no-plot")
    assert done.returncode == 0, done.stderr
    ds = xr.load_dataset(out)
    assert 'kind = "multiplicative"' in ds.attrs["config_toml"]
    assert 'task = "linear_teacher"' in ds.attrs["config_toml"]
    assert list(ds.step.values) == [0, 2, 4]
    assert np.all(np.isfinite(ds.loss.values)) and np.all(np.isfinite(ds.grad_cosine.values))


def test_guide_bad_value_is_one_line_exit_2(guide_dir):
    bad = guide_dir / "bad.toml"
    text = (guide_dir / "my_run.toml").read_text()
    bad.write_text(text.replace("read_noise_rel = 0.02", "read_noise_rel = -1.0"))
    res = _cli(guide_dir, "validate", "bad.toml")
    assert res.returncode == 2 and res.stdout == ""
    assert res.stderr == (
        "bad.toml: devices.read_noise_rel: -1.0 is out of range; allowed: a number >= 0\n"
    )


def test_guide_sweep_runs_the_plugin_on_worker_processes(guide_dir, monkeypatch):
    from neurosim.experiment import ProcessExecutor, load_sweep, run_sweep

    monkeypatch.chdir(guide_dir)
    sweep = guide_dir / "sweep.toml"
    sweep.write_text(
        'base = "my_run.toml"\nout = "sweep.nc"\n[axes]\n"devices.read_noise_rel" = [0.0, 0.05]\n'
    )
    spec = load_sweep(sweep)
    ds = run_sweep(spec, executor=ProcessExecutor(2), progress=False)
    assert ds.sizes["devices.read_noise_rel"] == 2
    assert np.all(np.isfinite(ds.loss.values))


def test_guide_device_reads_have_the_documented_statistics(guide_dir, monkeypatch):
    """Var[w̃] = σ² w² within 3 standard errors (10 000 reads), clipping at ±w_max."""
    from neurosim.experiment.config import load_config

    monkeypatch.chdir(guide_dir)
    dev = load_config("my_run.toml").devices
    w = torch.tensor([0.5, -0.25, 2.0], dtype=torch.float64)
    gen = torch.Generator().manual_seed(0)
    reads = torch.stack([dev.read(w, None, gen) for _ in range(10_000)])
    clipped = w.clamp(-1.0, 1.0)
    sigma2 = (0.02 * clipped) ** 2
    var = reads.var(0)
    se = sigma2 * (2 / (reads.shape[0] - 1)) ** 0.5
    assert torch.all((var - sigma2).abs() < 3 * se)
    assert torch.allclose(reads.mean(0), clipped, atol=1e-3)
    assert torch.equal(dev.write(w, w * 3, None), (w * 3).clamp(-1.0, 1.0))

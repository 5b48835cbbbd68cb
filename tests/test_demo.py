"""`neurosim demo`: the embedded default sweep writes a labelled dataset and figures."""

from __future__ import annotations

import subprocess
import sys

import xarray as xr

from neurosim.cli import main


def test_demo_quick_writes_dataset_and_figures(tmp_path, capsys):
    assert main(["demo", "--quick", "--workers", "1", "--out", str(tmp_path)]) == 0
    ds = xr.open_dataset(tmp_path / "demo_quick.nc")
    assert set(ds.dims) == {"feedback.alpha", "nudge.estimator", "seed", "step", "layer"}
    for key in ("config_toml", "sweep_toml", "git_revision", "version_torch", "history"):
        assert key in ds.attrs, key
    final = ds.grad_cosine.isel(step=-1)
    # α = 0 is the symmetric network: EP aligned with BP; α = 90: not
    assert float(final.sel({"feedback.alpha": 0.0}).min()) > 0.999
    assert float(final.sel({"feedback.alpha": 90.0}).max()) < 0.99
    figures = sorted(p.name for p in (tmp_path / "demo_quick").glob("*.png"))
    assert "grad_cosine.png" in figures and "delta_cosine.png" in figures
    assert not list(tmp_path.rglob("*.tmp*")), "temporary files left behind"
    assert "final gradient cosine" in capsys.readouterr().out


def test_cli_bad_usage_exits_2():
    r = subprocess.run(
        [sys.executable, "-m", "neurosim.cli", "nosuchcommand"], capture_output=True, text=True
    )
    assert r.returncode == 2
    assert "invalid choice" in r.stderr

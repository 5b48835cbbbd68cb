"""The embedded demo writes a complete, provenance-carrying NetCDF and a PNG."""

from __future__ import annotations

import subprocess
import sys

import xarray as xr

from neurosim.cli import main


def test_demo_quick_writes_dataset_and_figure(tmp_path, capsys):
    assert main(["demo", "--quick", "--out", str(tmp_path)]) == 0
    ds = xr.open_dataset(tmp_path / "alignment_demo.nc")
    assert set(ds.dims) == {"alpha", "estimator", "seed", "layer"}
    assert ds.sizes["alpha"] == 3
    for key in ("config_toml", "git_revision", "version_torch", "seed", "history"):
        assert key in ds.attrs, key
    # α = 0 is the symmetric network: every estimator is aligned with BP
    assert float(ds.grad_cosine.sel(alpha=0.0, estimator="exact").min()) > 1 - 1e-9
    assert float(ds.grad_cosine.sel(alpha=90.0, estimator="exact").max()) < 0.99
    assert (tmp_path / "alignment_demo.png").stat().st_size > 10_000
    assert not list(tmp_path.glob("*.tmp*")), "temporary files left behind"
    assert "weight-gradient cosine" in capsys.readouterr().out


def test_cli_bad_usage_exits_2():
    r = subprocess.run(
        [sys.executable, "-m", "neurosim.cli", "nosuchcommand"], capture_output=True, text=True
    )
    assert r.returncode == 2
    assert "invalid choice" in r.stderr

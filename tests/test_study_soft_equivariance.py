"""The soft-equivariance study's --quick mode runs end to end; only robust facts are checked."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import xarray as xr

STUDIES = Path(__file__).resolve().parents[1] / "studies"


def _load():
    sys.path.insert(0, str(STUDIES))
    path = STUDIES / "soft_equivariance.py"
    spec = importlib.util.spec_from_file_location("study_soft_equivariance", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_soft_equivariance_quick(tmp_path):
    ds = _load().main(["--quick", "--out", str(tmp_path)])
    assert (tmp_path / "soft_equivariance.png").exists()
    on_disk = xr.open_dataset(tmp_path / "soft_equivariance.nc")
    assert "config_toml" in on_disk.attrs and "git_revision" in on_disk.attrs
    assert set(on_disk.model.values) == {"unconstrained", "exact", "fixed", "kim", "dual"}
    np.testing.assert_allclose(on_disk.true_level.values, ds.true_level.values)
    assert np.isfinite(ds.test_error.values).all()
    # the exactly invariant model has no violation of any type (float32 round-off only)
    assert float(ds.violation.sel(model="exact").max()) < 1e-8
    lam = ds.strength.sel(model=["fixed", "kim", "dual"]).values
    assert np.isfinite(lam).all() and (lam >= 0).all()
    # every regularized model is more equivariant than the unconstrained one, type by type
    free = ds.violation.sel(model="unconstrained")
    for model in ("fixed", "kim", "dual"):
        assert (ds.violation.sel(model=model) < free).all(), model

"""The soft-equivariance study's --quick mode runs end to end; only robust facts are checked."""

from __future__ import annotations

import numpy as np
import xarray as xr


def test_soft_equivariance_quick(tmp_path, load_study):
    sets = load_study("soft_equivariance").main(["--quick", "--out", str(tmp_path)])
    assert (tmp_path / "soft_equivariance.png").exists()
    models = {"unconstrained", "exact", "fixed", "kim", "bayes"}
    for task, name in (("synthetic", "soft_equivariance"), ("nbody", "soft_equivariance_nbody")):
        ds = sets[task]
        on_disk = xr.open_dataset(tmp_path / f"{name}.nc")
        assert "config_toml" in on_disk.attrs and "git_revision" in on_disk.attrs
        assert set(on_disk.model.values) == models
        assert np.isfinite(ds.test_error.values).all()
        lam = ds.strength.sel(model=["fixed", "kim", "bayes"]).values
        assert np.isfinite(lam).all() and (lam >= 0).all()
        # the tuned models measured a level for every type
        assert np.isfinite(ds.level_estimate.sel(model=["kim", "bayes"]).values).all()
        # the exactly equivariant model has no violation of any type (float32 round-off only)
        scale = float(ds.violation.sel(model="unconstrained").max())
        assert float(ds.violation.sel(model="exact").max()) < 1e-6 * max(scale, 1.0), task
    np.testing.assert_allclose(
        xr.open_dataset(tmp_path / "soft_equivariance.nc").true_level.values,
        sets["synthetic"].true_level.values,
    )
    # a constant strong prior makes every type more equivariant than no prior
    free = sets["synthetic"].violation.sel(model="unconstrained")
    assert (sets["synthetic"].violation.sel(model="fixed") < free).all()

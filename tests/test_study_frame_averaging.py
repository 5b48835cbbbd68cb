"""The frame-averaging study's --quick mode runs and writes NetCDF with provenance and a figure."""

from __future__ import annotations

import numpy as np
import xarray as xr


def test_frame_averaging_quick(tmp_path, load_study):
    study = load_study("frame_averaging")
    ds = study.main(["--quick", "--out", str(tmp_path)])
    assert (tmp_path / "frame_averaging.png").exists()
    on_disk = xr.open_dataset(tmp_path / "frame_averaging.nc")
    for key in ("config_toml", "git_revision", "history", "seed", "nbody_target_step"):
        assert key in on_disk.attrs
    assert set(on_disk.model.values) == set(study.MODELS)
    assert on_disk.best_test_mse.dims == ("model", "seed")
    assert np.isfinite(on_disk.best_test_mse.values).all()
    assert on_disk.best_test_mse.attrs["units"] and on_disk.best_test_mse.attrs["long_name"]
    # frame-averaged models are E(3) equivariant after training, the others are not
    err = ds.e3_error.max("seed")
    for name in ds.model.values:
        if str(name).startswith("fa_"):
            assert float(err.sel(model=name)) < 1e-10
        else:
            assert float(err.sel(model=name)) > 1e-4

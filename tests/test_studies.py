"""Each study's --quick mode runs end to end and writes its dataset and figure."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr


def test_nudge_bias_quick(tmp_path, load_study):
    ds = load_study("nudge_bias").main(["--quick", "--out", str(tmp_path)])
    assert (tmp_path / "nudge_bias.png").exists()
    on_disk = xr.open_dataset(tmp_path / "nudge_bias.nc")
    assert "config_toml" in on_disk.attrs and "git_revision" in on_disk.attrs
    sym = ds.error_vs_exact_ep.sel(alpha=0.0)
    betas = ds.beta.values
    # the finite-nudge bias orders are visible: one-sided ~β, centered ~β², holomorphic N=4 ~β⁴
    for name, order in (("one_sided", 1), ("centered", 2), ("holomorphic_n4", 4)):
        err = sym.sel(estimator=name).values
        use = err > 1e-8  # above the relaxation-tolerance floor
        slope = np.polyfit(np.log(betas[use]), np.log(err[use]), 1)[0]
        assert abs(slope - order) < 0.35, (name, slope)
    # asymmetry bias: zero at α = 0, order one at α = 90°, and no nudge removes it
    assert float(ds.asymmetry_bias.sel(alpha=0.0)) < 1e-9
    assert float(ds.asymmetry_bias.sel(alpha=90.0)) > 0.1
    assert float(ds.error_vs_bp.sel(alpha=90.0).min()) > 0.5 * float(
        ds.asymmetry_bias.sel(alpha=90.0)
    )


@pytest.mark.parametrize("name", ["asymmetry_alignment", "hardware_presets"])
def test_training_studies_quick(tmp_path, name, load_study):
    ds = load_study(name).main(["--quick", "--out", str(tmp_path)])
    assert (tmp_path / f"{name}.png").exists() and (tmp_path / f"{name}.nc").exists()
    final = ds.isel(step=-1)
    assert np.isfinite(final.accuracy.values).all()
    if name == "asymmetry_alignment":
        ep = final.sel({"training.rule": "ep"}).delta_cosine.sel(layer=1)
        assert float(ep.sel({"feedback.alpha": 0.0}).min()) > 0.99
        assert float(ep.sel({"feedback.alpha": 90.0}).max()) < 0.9
    else:
        assert set(ds.preset.values) >= {
            "ideal",
            "asymmetric",
            "rram",
            "pcm",
            "ecram",
            "oscillator",
        }
        assert float(final.grad_cosine.sel(preset="ideal").min()) > 0.99


def test_homeostasis_quick(tmp_path, load_study):
    ds, bp = load_study("homeostasis").main(["--quick", "--out", str(tmp_path)])
    assert (tmp_path / "homeostasis.png").exists()
    final = ds.isel(step=-1)
    sym = final.jacobian_symmetry.mean("seed")
    assert float(sym.sel({"homeostasis.mode": "fixed"})) > float(
        sym.sel({"homeostasis.mode": "off"})
    )
    assert float(sym.sel({"homeostasis.mode": "auto"})) > float(
        sym.sel({"homeostasis.mode": "off"})
    )
    lam = ds.homeostasis_strength.sel({"homeostasis.mode": "auto"}).values
    assert np.isfinite(lam).all() and (lam >= 0).all()
    assert np.isfinite(bp.accuracy.values).all()


def test_noise_timing_quick(tmp_path, load_study):
    ds = load_study("noise_timing").main(["--quick", "--out", str(tmp_path)])
    assert (tmp_path / "noise_timing.png").exists() and (tmp_path / "noise_timing.nc").exists()
    cos = ds.grad_cosine.sel(window=0, gap=0.0)
    # without noise every rule agrees with noise-free BP (finite-nudge bias only)
    assert float(cos.sel(spectrum="none").min()) > 0.99
    # white noise redrawn per read: a one-sided estimate, which subtracts a free state
    # read at other times, loses the gradient; probes side by side on the same devices
    # share the noise and cancel it; one after the other they do not
    white = cos.sel(spectrum="white")
    assert float(white.sel(rule="one_sided", layout="sequential")) < 0.5
    assert float(white.sel(rule="centered", layout="parallel")) > 0.99
    assert float(white.sel(rule="centered", layout="sequential")) < 0.9
    assert np.isfinite(ds.accuracy.values).all()

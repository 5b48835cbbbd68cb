"""The affine-digits workload (affNIST ranges, seeded, held-out digits) and its study."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
import xarray as xr

from equivariance.lie import transform_images
from neurosim.workloads.affine_digits import AFFNIST_RANGES, affine_digits, random_affine

STUDIES = Path(__file__).resolve().parents[1] / "studies"


def _params(A: torch.Tensor):
    """Recover (θ, γ, a, b) from A = R(θ) [[1, γ], [0, 1]] diag(a, b) (QR-like)."""
    th = torch.atan2(A[:, 1, 0], A[:, 0, 0])
    c, s = torch.cos(th), torch.sin(th)
    Rt = torch.stack([torch.stack([c, s], -1), torch.stack([-s, c], -1)], -2)
    U = Rt @ A  # upper triangular [[a, γ b], [0, b]]
    a, b = U[:, 0, 0], U[:, 1, 1]
    return torch.rad2deg(th), U[:, 0, 1] / b, a, b


def test_random_affine_within_affnist_ranges():
    A = random_affine(4000, torch.Generator().manual_seed(0))
    th, gam, a, b = _params(A)
    for v, key in ((th, "rotation_deg"), (gam, "shear"), (a, "scale_x"), (b, "scale_y")):
        lo, hi = AFFNIST_RANGES[key]
        assert lo - 1e-9 <= float(v.min()) and float(v.max()) <= hi + 1e-9, key
        span = hi - lo  # uniform: fills the range
        assert float(v.min()) < lo + 0.01 * span and float(v.max()) > hi - 0.01 * span, key
    assert math.isclose(float(torch.linalg.det(A).min()), 0.64, rel_tol=0.1)


def test_affine_digits_split_seed_and_canvas():
    d = affine_digits(n_train=100, n_test=50, copies=2, seed=3)
    assert d.x_train.shape == (100, 1, 40, 40) and d.x_affine.shape == (100, 1, 40, 40)
    assert d.x_train.dtype == torch.float32
    assert torch.equal(d.y_affine, d.y_test.repeat(2))
    assert torch.bincount(d.y_test).tolist() == [5] * 10  # class-balanced held-out digits
    # training digits are centred and untransformed: 6-pixel empty border
    border = d.x_train.clone()
    border[..., 6:34, 6:34] = 0
    assert float(border.abs().max()) == 0
    # held out: no test digit appears among the training digits
    diff = (d.x_test[:, None] - d.x_train[None]).abs().flatten(2).amax(-1)
    assert float(diff.min()) > 0.1
    # seeded and reproducible; a different seed gives different maps
    again = affine_digits(n_train=100, n_test=50, copies=2, seed=3)
    assert torch.equal(again.x_affine, d.x_affine) and torch.equal(again.A, d.A)
    assert not torch.equal(affine_digits(n_train=100, n_test=50, seed=4).A, d.A[:50])
    # each affine image is its test digit under A_i and shift t_i (up to resampling)
    src = d.x_test.double().repeat(2, 1, 1, 1)
    ref = transform_images(src, d.A, d.t).clamp(0, 1)
    err = (ref - d.x_affine.double()).abs().amax((1, 2, 3))
    assert float(err.max()) < 1e-5
    # mass roughly scales with det A (bilinear resampling blurs a little)
    ratio = d.x_affine.sum((1, 2, 3)) / src.sum((1, 2, 3))
    det = torch.linalg.det(d.A)
    assert float(np.corrcoef(ratio.numpy(), det.numpy())[0, 1]) > 0.8


def test_affine_digits_study_quick(tmp_path, load_study):
    ds = load_study("affine_digits").main(["--quick", "--out", str(tmp_path)])
    assert (tmp_path / "affine_digits.png").exists()
    on_disk = xr.open_dataset(tmp_path / "affine_digits.nc")
    assert "config_toml" in on_disk.attrs and "git_revision" in on_disk.attrs
    assert set(on_disk.model.values) == {"affine", "rotation", "cnn"}
    acc = ds.accuracy.values
    assert np.isfinite(acc).all() and (acc >= 0).all() and (acc <= 1).all()
    assert np.isfinite(ds.train_loss.values).all()
    n = ds.n_params.to_series()
    assert 0.5 < n["cnn"] / n["affine"] < 2.0  # comparable parameter counts

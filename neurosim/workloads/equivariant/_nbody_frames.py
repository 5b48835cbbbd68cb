r"""The ``nbody_frames`` workload: charged n-body forecasting, frame-averaged.

The charged n-body task (:func:`~neurosim.workloads.nbody`): predict positions 1.0 time
unit ahead. Each system is canonicalized into every element of its E(3) PCA frame
(:func:`equivariance.frames.pca_frame`; 8 elements for a generic cloud), inputs *and*
targets, so the frame elements become rows of the batch: row (b, f) holds
:math:`Q_f^\top(x - t)`, :math:`Q_f^\top v`, the charges, and its target the canonical
displacement :math:`Q_f^\top(y - x)`. A plain dense relaxation network is trained on
these rows with the per-row MSE. The prediction averages the rows back,

.. math:: \hat y = x + \frac{1}{|\mathcal F|}\sum_f Q_f\, d_f ,

exactly E(3)-equivariant (the frame set is equivariant and the average does not
depend on the order of its elements) and permutation invariant in the frame
(not in the network, which reads particles in order). Since
:math:`\|\frac1{|F|}\sum_f Q_f e_f\|^2 \le \frac1{|F|}\sum_f \|e_f\|^2` (Jensen, Q_f
orthogonal), the per-row training loss upper-bounds the loss of the averaged
prediction; ``task_error`` reports the latter (MSE over coordinates, position units).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import torch
from torch import Tensor

from ..teacher_student import Dataset
from ._task import EquivariantTask

__all__ = ["FrameRows", "frame_average", "frame_rows", "nbody_frames"]


@dataclass(frozen=True)
class FrameRows:
    """Canonicalized rows of a batch of systems: ``rows (M, 7P)`` and the frame that made them."""

    rows: Tensor
    rotation: Tensor
    """``(M, 3, 3)`` Q_m (frame axes as columns)."""
    index: Tensor
    """``(M,)`` the system of each row."""
    weight: Tensor
    """``(M,)`` 1/|F(X_b)|."""


def frame_rows(loc: Tensor, vel: Tensor, charges: Tensor, input_scale: float) -> FrameRows:
    r"""Rows :math:`[Q^\top(x - t), Q^\top v, q] / κ` for every frame element, ``(M, 7P)``.

    ``loc, vel (B, P, 3)``, ``charges (B, P, 1)``; ``input_scale`` κ divides coordinates and
    velocities (charges ±1 are left as they are).
    """
    from equivariance.frames import pca_frame

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        f = pca_frame(loc, "E")
    Q, i = f.rotation, f.index
    xc = (loc - f.translation[:, None])[i] @ Q
    vc = vel[i] @ Q
    rows = torch.cat(
        (xc.flatten(1) / input_scale, vc.flatten(1) / input_scale, charges[i].flatten(1)), 1
    )
    return FrameRows(rows, Q, i, f.weight)


def frame_average(out: Tensor, fr: FrameRows, loc: Tensor, target_scale: float) -> Tensor:
    r"""Averaged prediction :math:`x + \sum_f w_f Q_f d_f`, ``(B, P, 3)``.

    ``out (M, 3P)`` are the network's outputs s_L; the canonical displacement is
    :math:`d_f = 2κ_y (s_L − ½)`.
    """
    d = (2.0 * target_scale * (out - 0.5)).reshape(out.shape[0], -1, 3)
    d = d @ fr.rotation.mT  # Q_f d_f (rows are vectors)
    w = fr.weight.to(d.dtype)[:, None, None]
    avg = torch.zeros_like(loc, dtype=d.dtype).index_add_(0, fr.index, d * w)
    return loc.to(d.dtype) + avg


def nbody_frames(
    *,
    n_train: int = 256,
    n_test: int = 128,
    seed: int = 0,
    dtype: torch.dtype = torch.float64,
) -> EquivariantTask:
    """The ``nbody_frames`` task (module docstring): rows ``(M, 35)`` → ``(M, 15)`` for 5 particles.

    ``n_train``/``n_test`` count systems; the dataset holds one row per frame element
    (8 per generic system). Targets are :math:`½ + Q^\\top(y − x)/(2κ_y)` ∈ (0, 1).
    """
    from ..nbody import nbody

    ds = nbody(seed=seed, n_train=n_train, n_valid=1, n_test=n_test, dtype=torch.float64)
    tr, te = ds.train, ds.test
    fr_tr = frame_rows(tr.loc, tr.vel, tr.charges, 1.0)
    kx = float(fr_tr.rows[:, : 6 * ds.n_particles].abs().max())
    fr_tr = frame_rows(tr.loc, tr.vel, tr.charges, kx)
    fr_te = frame_rows(te.loc, te.vel, te.charges, kx)

    def targets(split, fr: FrameRows) -> Tensor:
        return ((split.target - split.loc)[fr.index] @ fr.rotation).flatten(1)

    d_tr = targets(tr, fr_tr)
    ky = float(d_tr.abs().max())
    y_tr = 0.5 + d_tr / (2 * ky)
    y_te = 0.5 + targets(te, fr_te) / (2 * ky)
    data = Dataset(fr_tr.rows.to(dtype), y_tr.to(dtype), fr_te.rows.to(dtype), y_te.to(dtype))

    def task_error(s_out: Tensor) -> float:
        pred = frame_average(s_out.real.double(), fr_te, te.loc, ky)
        return float((pred - te.target).square().mean())

    meta = {
        "input_scale": kx,
        "target_scale": ky,
        "rows_train": int(fr_tr.rows.shape[0]),
        "rows_test": int(fr_te.rows.shape[0]),
        **ds.metadata(),
    }
    return EquivariantTask(data, task_error, meta)

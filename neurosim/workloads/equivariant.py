r"""Equivariant workloads for the relaxation substrate (issue 9).

Three tasks, each with its own route to a symmetric relaxation network
(:mod:`neurosim.substrate.equivariant` has the general argument):

``spherical``  (:func:`spherical_molecules`, Gaunt substrate)
    Small-molecule-like clouds of ``n_points`` random atoms (centred, so translation
    invariant) embedded as ``C`` radial channels of real spherical harmonics up to degree
    ``lmax``, :math:`x_{c,lm} = \kappa \sum_i φ_c(|r_i|)\, Y_{lm}(\hat r_i)` (equivariant:
    :math:`x(Rr) = D(R)\,x(r)`, permutation invariant). The target is an invariant of a
    random teacher :class:`~neurosim.substrate.equivariant.GauntInteraction` (l = 0
    output, i.e. a random quadratic invariant of the embedding) squashed into (0.2, 0.8).
    The network is :func:`~neurosim.substrate.equivariant.gaunt_network`.

``nbody_frames``  (:func:`nbody_frames`, frame averaging)
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

``affine_lifted``  (:func:`affine_lifted`, affine lifting input layer)
    Affine digits (:func:`~neurosim.workloads.affine_digits`): train on centred MNIST-5k
    digits, test on affNIST-style affine copies. The clamped input of the relaxation
    network is :class:`AffineLiftingEncoder`: a GL⁺(2) lifting convolution
    (:class:`equivariance.lie.LiftingConv`) on a fixed sample set closed under 90°
    rotations, ReLU, the group mean (:func:`equivariance.lie.pool_group`) and spatial
    mean/max pooling, so the features are exactly invariant to 90° rotations of the
    canvas and approximately (Monte Carlo + pixel discretization) to other affine maps.
    **The lifting parameters are frozen** (a seeded random SIREN kernel; random features):
    the features are computed once per dataset, standardized per feature with train
    statistics, and the dense relaxation network on top is what EP/BP train. Training
    them through the drive instead is possible with a
    :class:`~neurosim.substrate.ModuleConnection` around the encoder plus a linear map
    (Φ_θᵀ δ reaches every parameter of Φ by autograd), at ~100× the cost per step.

Inputs are scaled into [−1, 1] by one global constant (a scalar, so equivariance is kept):
with a DAC (``neurons.dac_bits > 0``) set ``neurons.dac_range = [-1, 1]``, otherwise the
default [0, 1] clips negative coordinates and breaks the symmetry.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from .teacher_student import Dataset

__all__ = [
    "EquivariantTask",
    "EQUIVARIANT_TASKS",
    "spherical_embedding",
    "spherical_molecules",
    "frame_rows",
    "frame_average",
    "nbody_frames",
    "AffineLiftingEncoder",
    "affine_lifted",
]

EQUIVARIANT_TASKS = ("spherical", "nbody_frames", "affine_lifted")
"""Values of ``workload.task`` built by this module."""


@dataclass(frozen=True)
class EquivariantTask:
    """A dataset plus the task's own error measure on the test set.

    ``task_error(s_out)`` takes the relaxed output states of ``data.x_test`` (all rows) and
    returns the task error: MSE over target coordinates (regression, averaged over frames
    for ``nbody_frames``) or the error rate (classification).
    """

    data: Dataset
    task_error: Callable[[Tensor], float]
    metadata: dict[str, object] = field(default_factory=dict)


# ----------------------------------------------------------------------- spherical


def spherical_embedding(points: Tensor, lmax: int, channels: int, r_max: float = 2.5) -> Tensor:
    r"""Radial-channel SH embedding of clouds ``(N, P, 3)`` → ``(N, channels, (lmax+1)²)``.

    :math:`x_{c,lm} = \frac1P \sum_i φ_c(|r_i|) Y_{lm}(\hat r_i)` with Gaussian radial bumps
    :math:`φ_c(r) = e^{-((r-μ_c)/w)^2}`, μ_c evenly spaced on (0, r_max], w = r_max/channels.
    Equivariant, :math:`x(r R^\top) = x(r) D(R)^\top`, and permutation invariant.
    """
    from equivariance.so3 import spherical_harmonics

    r = torch.linalg.vector_norm(points, dim=-1)  # (N, P)
    y = spherical_harmonics(lmax, points)  # (N, P, n)
    mu = torch.linspace(r_max / channels, r_max, channels, dtype=points.dtype)
    phi = torch.exp(-(((r[..., None] - mu) / (r_max / channels)) ** 2))  # (N, P, C)
    return torch.einsum("npc,npk->nck", phi, y) / points.shape[1]


def spherical_molecules(
    *,
    n_train: int = 512,
    n_test: int = 256,
    lmax: int = 2,
    channels: int = 4,
    n_out: int = 1,
    n_points: int = 6,
    seed: int = 0,
    dtype: torch.dtype = torch.float64,
) -> EquivariantTask:
    """The ``spherical`` task (module docstring).

    x ``(N, channels, (lmax+1)²)`` scaled into [−1, 1], y ``(N, n_out, 1)`` in (0.2, 0.8).
    """
    from ..substrate.equivariant import GauntInteraction

    gen = torch.Generator().manual_seed(seed)
    n = n_train + n_test
    pts = torch.randn(n, n_points, 3, dtype=torch.float64, generator=gen)
    pts = pts - pts.mean(1, keepdim=True)
    x = spherical_embedding(pts, lmax, channels)
    scale = float(x[:n_train].abs().max())
    x = x / scale
    teacher = GauntInteraction(lmax, 0, channels, n_out, rank=channels, gain=1.0, generator=gen)
    with torch.no_grad():
        pre = teacher(x)  # (N, n_out, 1), invariant
    mu, sd = pre[:n_train].mean(0), pre[:n_train].std(0).clamp_min(1e-12)
    y = 0.2 + 0.6 * torch.sigmoid(2.0 * (pre - mu) / sd)
    x, y = x.to(dtype), y.to(dtype)
    data = Dataset(x[:n_train], y[:n_train], x[n_train:], y[n_train:])
    y_test = data.y_test

    def task_error(s_out: Tensor) -> float:
        return float((s_out.real.to(y_test.dtype) - y_test).square().mean())

    meta = {"lmax": lmax, "channels": channels, "n_points": n_points, "input_scale": scale}
    return EquivariantTask(data, task_error, meta)


# ----------------------------------------------------------------------- n-body frames


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
    from .nbody import nbody

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


# ----------------------------------------------------------------------- affine digits


class AffineLiftingEncoder(nn.Module):
    r"""Invariant features of one GL⁺(2) lifting convolution: ``(B, 1, H, W)`` → ``(B, C(K+1))``.

    .. math:: φ(f)_c = \big[\mathrm{mean}_{x \in \text{ring}_1}, …,
              \mathrm{mean}_{x \in \text{ring}_K},\ \mathrm{max}_x\big]
              \sum_j w_j\, \mathrm{ReLU}\big([f \star ψ_c](x, h_j)\big) ,

    with K = ``rings`` concentric rings about the canvas centre (a 90° rotation of the
    lattice maps each ring onto itself; K = 1, the default, is the global mean and is also
    invariant to translations away from the border, which K > 1 is not)
    on a fixed sample set of ``num_samples`` group elements drawn with ``orbit = 4``
    (closed under 90° rotations), so φ is exactly invariant to 90° rotations of square
    images, and approximately to other affine maps (:mod:`equivariance.lie._conv`).
    Parameters are initialised from ``seed`` and frozen (``requires_grad = False``).
    """

    def __init__(
        self,
        channels: int = 16,
        *,
        kernel_size: int = 7,
        num_samples: int = 8,
        rings: int = 1,
        seed: int = 0,
        dtype: torch.dtype = torch.float64,
    ):
        super().__init__()
        self.rings = rings
        from equivariance.lie import GLPlus, LiftingConv

        group = GLPlus(2)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.conv = LiftingConv(group, 1, channels, kernel_size).to(dtype)
        gen = torch.Generator().manual_seed(seed + 1)
        self.samples = group.sample(num_samples, generator=gen, dtype=dtype, orbit=4)
        for p in self.parameters():
            p.requires_grad_(False)

    def forward(self, images: Tensor) -> Tensor:
        from equivariance.lie import pool_group

        y = torch.relu(self.conv(images, self.samples))
        y = pool_group(y, self.samples, "mean")  # (B, C, H, W)
        h, w = y.shape[-2:]
        r = torch.hypot(
            torch.arange(h, dtype=y.dtype)[:, None] - (h - 1) / 2,
            torch.arange(w, dtype=y.dtype)[None, :] - (w - 1) / 2,
        )
        edges = torch.linspace(0, float(r.max()) + 1e-9, self.rings + 1, dtype=y.dtype)
        bins = zip(edges[:-1], edges[1:], strict=True)
        ring = torch.stack([(r >= a) & (r < b) for a, b in bins]).to(y.dtype)
        means = torch.einsum("bchw,khw->bck", y, ring / ring.sum((-2, -1), keepdim=True))
        return torch.cat((means.flatten(1), y.amax((-2, -1))), dim=-1)


def affine_lifted(
    *,
    n_train: int = 1000,
    n_test: int = 250,
    channels: int = 16,
    seed: int = 0,
    dtype: torch.dtype = torch.float64,
    batch: int = 250,
) -> EquivariantTask:
    """The ``affine_lifted`` task: features ``(N, 2·channels)`` (mean + max), class labels.

    Train on centred digits, test on one affNIST-style copy of each held-out digit.
    Features are standardized per entry with the training mean and std, divided by 3 and
    clipped to [−1, 1].
    """
    from .affine_digits import affine_digits

    raw = affine_digits(n_train=n_train, n_test=n_test, copies=1, seed=seed, dtype=torch.float64)
    enc = AffineLiftingEncoder(channels, seed=seed)

    def features(images: Tensor) -> Tensor:
        with torch.no_grad():
            return torch.cat([enc(images[i : i + batch]) for i in range(0, len(images), batch)])

    f_tr, f_te = features(raw.x_train), features(raw.x_affine)
    mu, sd = f_tr.mean(0), f_tr.std(0).clamp_min(1e-12)
    z_tr, z_te = (f_tr - mu) / sd, (f_te - mu) / sd
    k = 3.0  # three training standard deviations map to ±1; beyond is clipped (per entry)
    scale = lambda z: (z / k).clamp(-1.0, 1.0).to(dtype)  # noqa: E731
    data = Dataset(scale(z_tr), raw.y_train, scale(z_te), raw.y_affine, raw.n_classes)
    meta = {"lifting_channels": channels, "feature_scale": k, "lifting": "frozen"}
    return EquivariantTask(data, _unset_error, meta)


def _unset_error(s_out: Tensor) -> float:  # classification: the runner reports accuracy
    return math.nan

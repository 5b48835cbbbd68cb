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
    (:class:`equivariance.lie.LiftingConv`) on a fixed group sample set, ReLU, pooling over
    the samples (:func:`equivariance.lie.pool_group`) and spatial mean/max pooling, so the
    features are approximately (Monte Carlo + pixel discretization) invariant to affine
    maps, and exactly to 90° rotations of the canvas when the sample set is closed under
    them.
    The lifting layer's rotation part is truncated to ±45° by default (not 90°-closed;
    ``max_angle = None`` restores the exact 90° invariance) and its group pooling is a max.
    ``workload.lifting`` picks how its parameters are set: ``"frozen"``, a seeded random
    SIREN kernel (random features, computed once per dataset, standardized per feature
    with train statistics; the dense relaxation network on top is what EP/BP train);
    ``"pretrained"``, the same but first trained by BP on the untransformed training
    digits only (:func:`pretrained_lifting_encoder`); ``"trained"``, trained by the
    learning rule itself through the drive: the clamped input is the image and the first
    connection a :class:`~neurosim.substrate.ModuleConnection` around
    :class:`AffineLiftingMap` (encoder + standardization + linear map; Φ_θᵀ δ reaches
    every lifting parameter by autograd), about 3× the cost of a frozen run.
    Linear-probe test errors (600/200 digits, 16 channels, 8 samples; logistic
    regression on the standardized features; untransformed / affine test digits): random
    encoder with full SO(2) on a 90°-closed set and mean pooling (the old default)
    0.40 / 0.68; truncated ±45°, max, R = 0.2, SIREN 64 (the new default) 0.285 / 0.47;
    the same pretrained 0.10 / 0.345.

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
    "AffineLiftingMap",
    "affine_lifting_map",
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
              \ \mathrm{pool}_j\, \mathrm{ReLU}\big([f \star ψ_c](x, h_j)\big) ,

    with K = ``rings`` concentric rings about the canvas centre (a 90° rotation of the
    lattice maps each ring onto itself; K = 1, the default, is the global mean and is also
    invariant to translations away from the border, which K > 1 is not) and ``pool`` the
    max (default) or the Haar-weighted mean over a fixed sample set of ``num_samples``
    group elements of :math:`GL^+(2)` with isotropic scale in [0.8, 1.25] and stretch
    :math:`R` = ``max_stretch`` (0.2).

    ``max_angle`` (radians) truncates the rotation part to :math:`|θ| \le` ``max_angle``
    (default 45°, stratified on the arc): the features are then invariant only
    approximately, to rotations well inside the arc, but digits that differ by a large
    rotation (6/9) stay distinguishable. ``max_angle = None`` draws all of SO(2) with
    ``orbit = 4`` (the sample set is closed under 90° rotations), so φ is *exactly*
    invariant to 90° rotations of square images (:mod:`equivariance.lie._conv`).
    These defaults follow the ``equivariance.lie`` affine-digits measurements (commit
    a3a9b77: full SO(2) invariance stalled training; max pooling, R = 0.2, SIREN width
    64 trained faster).

    ``trainable = False`` (default) freezes the parameters (``requires_grad = False``):
    random features. With ``trainable = True`` they are trained, e.g. through the
    relaxation by :class:`AffineLiftingMap` in a
    :class:`~neurosim.substrate.ModuleConnection`.
    """

    def __init__(
        self,
        channels: int = 16,
        *,
        kernel_size: int = 7,
        num_samples: int = 8,
        rings: int = 1,
        max_angle: float | None = math.pi / 4,
        max_stretch: float = 0.2,
        hidden: int = 64,
        group_pool: str = "max",
        trainable: bool = False,
        seed: int = 0,
        dtype: torch.dtype = torch.float64,
    ):
        super().__init__()
        self.rings = rings
        self.group_pool = group_pool
        from equivariance.lie import GLPlus, LiftingConv

        group = GLPlus(
            2,
            log_scale=(math.log(0.8), math.log(1.25)),
            max_stretch=max_stretch,
            max_angle=max_angle,
        )
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.conv = LiftingConv(group, 1, channels, kernel_size, hidden=hidden).to(dtype)
        gen = torch.Generator().manual_seed(seed + 1)
        orbit = 4 if max_angle is None else 1
        self.samples = group.sample(num_samples, generator=gen, dtype=dtype, orbit=orbit)
        for p in self.parameters():
            p.requires_grad_(trainable)

    @property
    def num_features(self) -> int:
        return self.conv.out_channels * (self.rings + 1)

    def forward(self, images: Tensor) -> Tensor:
        from equivariance.lie import pool_group

        y = torch.relu(self.conv(images, self.samples))
        y = pool_group(y, self.samples, self.group_pool)  # (B, C, H, W)
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


FEATURE_SCALE = 3.0
"""Standardized lifting features are divided by this (3 training σ → ±1) and clipped to ±1."""


class AffineLiftingMap(nn.Module):
    r"""A trainable forward map image → layer 1: :math:`W\,\mathrm{clip}((φ(f) − μ)/(3σ)) + b`.

    ``encoder`` (:class:`AffineLiftingEncoder`, trainable) gives the invariant features φ;
    μ and σ are fixed buffers (training-set statistics at initialisation, so the drive
    starts at the frozen encoder's scale); ``W (n_out, n_features)`` is drawn like a
    :class:`~neurosim.substrate.Dense` weight, uniform on ±gain/√n_features. As a
    :class:`~neurosim.substrate.ModuleConnection` from the clamped image to layer 1 the
    whole map is a normal forward map: generalized EP's Φ_θᵀδ reaches the SIREN kernel's
    parameters by autograd (:func:`neurosim.learning.adjoint.parameter_gradients`), and
    its feedback (a vjp into the image) is never used because the input is clamped.
    The map is real: it reads the real part of a complex input, which is the clamped
    image itself (real) in every phase.
    """

    def __init__(
        self,
        encoder: AffineLiftingEncoder,
        mean: Tensor,
        std: Tensor,
        n_out: int,
        *,
        gain: float = 1.0,
        generator: torch.Generator | None = None,
    ):
        super().__init__()
        self.encoder = encoder
        dtype = mean.dtype
        self.register_buffer("mean", mean.clone())
        self.register_buffer("std", std.clone())
        n_in = mean.numel()
        bound = gain / math.sqrt(n_in)
        w = (2 * torch.rand(n_out, n_in, generator=generator, dtype=dtype) - 1) * bound
        self.weight = nn.Parameter(w)

    def features(self, images: Tensor) -> Tensor:
        """The scaled features ``(B, n_features)`` in [−1, 1] (the frozen workload's inputs)."""
        z = (self.encoder(images) - self.mean) / (FEATURE_SCALE * self.std)
        return z.clamp(-1.0, 1.0)

    def forward(self, images: Tensor) -> Tensor:
        if images.is_complex():
            images = images.real
        return self.features(images) @ self.weight.mT


def affine_lifting_map(
    x_train: Tensor,
    n_out: int,
    *,
    channels: int = 16,
    num_samples: int = 8,
    seed: int = 0,
    gain: float = 1.0,
    generator: torch.Generator | None = None,
    batch: int = 250,
) -> AffineLiftingMap:
    """A trainable :class:`AffineLiftingMap` whose buffers are the statistics on ``x_train``."""
    enc = AffineLiftingEncoder(
        channels, num_samples=num_samples, trainable=True, seed=seed, dtype=x_train.dtype
    )
    with torch.no_grad():
        f = torch.cat([enc(x_train[i : i + batch]) for i in range(0, len(x_train), batch)])
    return AffineLiftingMap(
        enc, f.mean(0), f.std(0).clamp_min(1e-12), n_out, gain=gain, generator=generator
    )


PRETRAIN_EPOCHS = 5


_PRETRAINED: dict[tuple, dict[str, Tensor]] = {}


def _pretrained_state(key: tuple, x_train: Tensor, y_train: Tensor) -> dict[str, Tensor]:
    channels, num_samples, seed = key
    torch.manual_seed(seed + 2)  # forked by the caller
    enc = AffineLiftingEncoder(
        channels, num_samples=num_samples, trainable=True, seed=seed, dtype=torch.float32
    )
    head = nn.Linear(enc.num_features, 10)
    opt = torch.optim.Adam([*enc.parameters(), *head.parameters()], lr=3e-3)
    x = x_train.to(torch.float32)
    gen = torch.Generator().manual_seed(seed + 3)
    for _ in range(PRETRAIN_EPOCHS):
        perm = torch.randperm(len(x), generator=gen)
        for i in range(0, len(x), 30):
            idx = perm[i : i + 30]
            f = enc(x[idx])
            f = (f - f.mean(0)) / (f.std(0) + 1e-3)
            loss = nn.functional.cross_entropy(head(f), y_train[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return {k: v.detach().clone() for k, v in enc.state_dict().items()}


def pretrained_lifting_encoder(
    x_train: Tensor, y_train: Tensor, channels: int, num_samples: int, seed: int
) -> AffineLiftingEncoder:
    """A frozen :class:`AffineLiftingEncoder` pretrained by BP on ``(x_train, y_train)``.

    Encoder + batch-standardized features + a linear head, softmax cross-entropy, Adam
    (lr 3e-3, batch 30, :data:`PRETRAIN_EPOCHS` epochs) in float32; only the untransformed
    training digits are seen. Deterministic in ``seed`` and cached per process (the
    study's runs at one seed share it). Measured (600 training / 200 test digits,
    16 channels, 8 samples, a logistic-regression probe on the standardized features):
    test error 0.10 untransformed / 0.345 affine vs 0.285 / 0.47 for the random encoder.
    """
    key = (channels, num_samples, seed)
    data_key = (*key, len(x_train), float(x_train.sum()), int(y_train.sum()))
    if data_key not in _PRETRAINED:
        with torch.random.fork_rng(devices=[]):
            _PRETRAINED.clear()  # one at a time: a study process runs one seed after another
            _PRETRAINED[data_key] = _pretrained_state(key, x_train, y_train)
    state = _PRETRAINED[data_key]
    enc = AffineLiftingEncoder(channels, num_samples=num_samples, seed=seed, dtype=x_train.dtype)
    enc.load_state_dict({k: v.to(x_train.dtype) for k, v in state.items()})
    return enc


def affine_lifted(
    *,
    n_train: int = 1000,
    n_test: int = 250,
    channels: int = 16,
    num_samples: int = 8,
    lifting: str = "frozen",
    seed: int = 0,
    dtype: torch.dtype = torch.float64,
    batch: int = 250,
) -> EquivariantTask:
    """The ``affine_lifted`` task: class labels of centred (train) / affine (test) digits.

    ``lifting = "frozen"``: x are the features ``(N, 2·channels)`` (mean + max) of a frozen
    random :class:`AffineLiftingEncoder`; ``"pretrained"``: the same of an encoder first
    trained by BP on the *untransformed training digits only*
    (:func:`pretrained_lifting_encoder`), then frozen; both standardized per entry with the
    training mean and std, divided by 3 and clipped to [−1, 1]. ``lifting = "trained"``: x are the
    images ``(N, 1, 40, 40)`` themselves (values in [0, 1]); the network's first
    connection is an :func:`affine_lifting_map` (built by the runner) that computes the
    same features inside the drive, with trainable lifting parameters.
    """
    from .affine_digits import affine_digits

    raw = affine_digits(n_train=n_train, n_test=n_test, copies=1, seed=seed, dtype=torch.float64)
    meta = {"lifting_channels": channels, "feature_scale": FEATURE_SCALE, "lifting": lifting}
    if lifting == "trained":
        x_tr, x_te = raw.x_train.to(dtype), raw.x_affine.to(dtype)
        data = Dataset(x_tr, raw.y_train, x_te, raw.y_affine, raw.n_classes)
        return EquivariantTask(data, _unset_error, meta)
    if lifting == "frozen":
        enc = AffineLiftingEncoder(channels, num_samples=num_samples, seed=seed)
    elif lifting == "pretrained":
        enc = pretrained_lifting_encoder(raw.x_train, raw.y_train, channels, num_samples, seed)
    else:
        raise KeyError(f"unknown lifting {lifting!r}; options: ['frozen', 'pretrained', 'trained']")

    def features(images: Tensor) -> Tensor:
        with torch.no_grad():
            return torch.cat([enc(images[i : i + batch]) for i in range(0, len(images), batch)])

    f_tr, f_te = features(raw.x_train), features(raw.x_affine)
    mu, sd = f_tr.mean(0), f_tr.std(0).clamp_min(1e-12)
    z_tr, z_te = (f_tr - mu) / sd, (f_te - mu) / sd
    k = FEATURE_SCALE  # three training standard deviations map to ±1; beyond is clipped
    scale = lambda z: (z / k).clamp(-1.0, 1.0).to(dtype)  # noqa: E731
    data = Dataset(scale(z_tr), raw.y_train, scale(z_te), raw.y_affine, raw.n_classes)
    return EquivariantTask(data, _unset_error, meta)


def _unset_error(s_out: Tensor) -> float:  # classification: the runner reports accuracy
    return math.nan

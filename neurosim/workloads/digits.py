r"""scikit-learn's 8×8 handwritten digits (UCI optdigits test set), shipped in the package.

``sklearn.datasets.load_digits()`` reads a file inside scikit-learn: 1797 images
of 8×8 pixels, each pixel a count 0–16 of set pixels in a 4×4 block of a 32×32
bitmap. Classes are interleaved in the file but not equal in size (174–183 per
digit).
"""

from __future__ import annotations

import functools

import numpy as np
import torch

from .mnist import split_rows, stratified_order, to_dataset
from .teacher_student import Dataset

__all__ = ["DIGITS_SIZE", "digits"]

DIGITS_SIZE = 1797


@functools.cache
def _raw() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x, y = bunch.data, bunch.target
    x.setflags(write=False)
    y.setflags(write=False)
    return x, y


def digits(
    *,
    n_train: int = 1500,
    n_test: int = 297,
    dtype: torch.dtype = torch.float64,
    flatten: bool = True,
) -> Dataset:
    """scikit-learn's 1797 8×8 digit images, with a fixed class-balanced split.

    Source
        ``sklearn.datasets.load_digits()``, a copy of the test set of the UCI ML
        "Optical Recognition of Handwritten Digits" data; nothing is downloaded.
        1797 images of 8×8 pixels, 174–183 per digit 0–9.
    Split
        As for :func:`~neurosim.workloads.mnist5k`: rows in
        :func:`~neurosim.workloads.mnist.stratified_order` (constant seed), the
        **test set the first** ``n_test`` rows and the training set the next
        ``n_train`` (default: all the other 1500). The default test set has 29 or
        30 images of each class (30 of digits 0–6, 29 of 7–9); the default training
        set is the rest, 145–153 per class.
    Scaling
        Pixel values 0–16 (integers) divided by 16, so ``x ∈ [0, 1]``.

    Parameters
    ----------
    n_train : int
        Training images, ``1 ≤ n_train`` and ``n_train + n_test ≤ 1797``.
    n_test : int
        Test images, ``n_test ≥ 1``.
    dtype : torch.dtype
        Floating dtype of the images.
    flatten : bool
        Images as ``(N, 64)`` rows (row-major 8×8) if true, else ``(N, 1, 8, 8)``.

    Returns
    -------
    Dataset
        ``x_train (n_train, 64)`` or ``(n_train, 1, 8, 8)``, ``y_train (n_train,)``
        int64 class indices, likewise ``x_test`` and ``y_test``; ``n_classes = 10``.

    Raises
    ------
    ValueError
        If the requested sizes do not fit in the 1797 images.
    """
    train, test = split_rows(DIGITS_SIZE, n_train, n_test, "digits")
    x, y = _raw()
    return to_dataset(x, y, stratified_order(y), train, test, 16.0, 8, dtype, flatten)

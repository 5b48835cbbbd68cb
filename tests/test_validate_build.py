"""``validate`` and ``build`` agree on every config: both accept, or both refuse in one line.

Every field of every section (read from the schema, so a new field is walked without
editing this file) is set at and just beyond each of its bounds, to each of its choices,
and to a value of the wrong type; every cross-field rule is set on both sides of its
boundary. For each case the config is validated (``Config.with_updates``, what
``neurosim validate`` runs) and, separately, assembled *without* validation
(``model_construct``) and handed to ``build`` (what ``neurosim run`` runs). Both must
accept, or both must raise :class:`ConfigError` with a one-line message; any other
exception from ``build`` fails the test. (Before the single schema, ``adc_bits = 64``
passed validation and made ``build`` raise a ``ValueError``.)
"""

from __future__ import annotations

import math
from typing import Any, Literal, get_args, get_origin

import annotated_types as at
import pytest

from neurosim.experiment.config import Config, ConfigError
from neurosim.experiment.runner import build

# build() re-validates its config from a dump; dumping the deliberately mistyped values
# of an unvalidated config makes pydantic warn before the validation refuses them.
pytestmark = pytest.mark.filterwarnings("ignore:Pydantic serializer warnings:UserWarning")

BASE = {"workload.n_train": 64, "workload.n_test": 32, "workload.batch": 16}
"""The walk's starting point: the defaults with small data, so every build is cheap."""


def _models() -> list[tuple[str, type, dict]]:
    """(key prefix, model, updates selecting it) for the top level and every section model."""
    out = [("", Config, {})]
    for section in Config.SECTIONS:
        if section in Config.KINDS:
            for kind, model in Config.KINDS[section].items():
                out.append((f"{section}.", model, {f"{section}.kind": kind}))
        else:
            out.append((f"{section}.", Config.section_model(section), {}))
    return out


def _step(value: float, integer: bool) -> float:
    return 1 if integer else 1e-9 * max(1.0, abs(value))


def _values(info) -> list[Any]:
    """Values of a field at and just beyond its bounds, its choices, and a wrong type."""
    ann = info.annotation
    origin = get_origin(ann)
    if origin is Literal:
        return [*get_args(ann), "no_such_choice"]
    if ann is bool:
        return [True, False, "yes"]
    if ann is str:
        return ["x", "two\nlines", 3]
    if origin is tuple:
        args = get_args(ann)
        if args[-1] is Ellipsis and args[0] is str:
            return [[], ["no_such_plugin_module_zz"], "not-a-list"]
        if args[-1] is Ellipsis:  # layer sizes
            n = next(m.min_length for m in info.metadata if isinstance(m, at.MinLen))
            return [[4] * (n - 1), [4, 0, 4], [4, 1, 4], [4, 3.5, 4], 4]
        return [[0.0, 1.0], [1.0, 0.0], [0.5, 0.5], [0.0, 0.5, 1.0], [0.0, math.inf], 1.0]
    integer = ann is int
    out: list[Any] = ["1"]
    for m in info.metadata:
        if isinstance(m, at.Ge):
            out += [m.ge, m.ge - _step(m.ge, integer)]
        elif isinstance(m, at.Gt):
            out += [m.gt, m.gt + _step(m.gt, integer)]
        elif isinstance(m, at.Le):
            out += [m.le, m.le + _step(m.le, integer)]
        elif isinstance(m, at.Lt):
            out += [m.lt, m.lt - _step(m.lt, integer)]
    if len(out) == 1:  # unbounded: a plain value, and the non-finite ones
        out += [0.5 if not integer else 2, math.inf, -math.inf, math.nan]
    if not integer:
        out.append(math.nan)
    return out


def _field_cases():
    for prefix, model, select in _models():
        for name, info in model.model_fields.items():
            if prefix == "" and name in Config.SECTIONS:
                continue
            for value in _values(info):
                key = f"{prefix}{name}"
                yield pytest.param({**select, key: value}, id=f"{key}={value!r}")


# (updates, id): both sides of every rule that involves more than one field
CROSS = [
    ({"dynamics.integrator": "leaky_euler", "dynamics.dt": 0.5, "dynamics.tau": 0.5}, "dt=tau"),
    ({"dynamics.integrator": "leaky_euler", "dynamics.dt": 0.51, "dynamics.tau": 0.5}, "dt>tau"),
    ({"dynamics.integrator": "fixed_point", "dynamics.dt": 2.0}, "dt>tau-fixed-point"),
    ({"devices.w_min": -1.0, "devices.w_max": -1.0}, "wmin=wmax"),
    ({"devices.w_min": -1.0, "devices.w_max": -0.999}, "wmin<wmax"),
    ({"devices.levels": 2, "devices.w_min": -1.0, "devices.w_max": 1.0}, "levels-finite"),
    ({"devices.levels": 2, "devices.w_min": -1.0}, "levels-half-infinite"),
    ({"devices.update": "soft_bounds", "devices.w_min": -1.0, "devices.w_max": 1.0}, "soft-ok"),
    ({"devices.update": "soft_bounds", "devices.w_min": 0.0, "devices.w_max": 1.0}, "soft-0"),
    ({"devices.update": "soft_bounds", "devices.w_max": 1.0}, "soft-infinite"),
    (
        {
            "devices.w_min": -1.0,
            "devices.w_max": 1.0,
            "devices.stuck_zero_prob": 0.5,
            "devices.stuck_bound_prob": 0.5,
        },
        "stuck-sum-1",
    ),
    (
        {
            "devices.w_min": -1.0,
            "devices.w_max": 1.0,
            "devices.stuck_zero_prob": 0.5,
            "devices.stuck_bound_prob": 0.5000001,
        },
        "stuck-sum>1",
    ),
    ({"devices.stuck_bound_prob": 0.1}, "stuck-bound-infinite"),
    ({"workload.batch": 64}, "batch=n_train"),
    ({"workload.batch": 65}, "batch>n_train"),
    ({"workload.task": "digits", "network.sizes": [64, 8, 10]}, "digits-64"),
    ({"workload.task": "digits", "network.sizes": [63, 8, 10]}, "digits-63"),
    ({"workload.task": "digits", "network.sizes": [64, 8, 9]}, "digits-mse-9-outputs"),
    (
        {"workload.task": "digits", "network.sizes": [64, 8, 9], "workload.loss": "cross_entropy"},
        "digits-ce-9-outputs",
    ),
    (
        {"workload.task": "digits", "network.sizes": [64, 8, 10], "workload.n_train": 1765},
        "digits-1797",
    ),
    (
        {"workload.task": "digits", "network.sizes": [64, 8, 10], "workload.n_train": 1766},
        "digits-1798",
    ),
    ({"workload.task": "mnist", "network.sizes": [784, 8, 10]}, "mnist-784"),
    ({"workload.task": "mnist", "network.sizes": [64, 8, 10]}, "mnist-64"),
    (
        {"workload.task": "mnist", "network.sizes": [784, 8, 10], "workload.n_test": 4937},
        "mnist-5001",
    ),
    ({"workload.task": "spherical", "network.sizes": [3, 4, 1]}, "spherical-mse"),
    (
        {
            "workload.task": "spherical",
            "network.sizes": [3, 4, 1],
            "workload.loss": "cross_entropy",
        },
        "spherical-ce",
    ),
    (
        {"workload.task": "nbody_frames", "network.sizes": [35, 8, 15], "workload.n_train": 2},
        "nbody-2-systems",
    ),
    (
        {
            "workload.task": "nbody_frames",
            "network.sizes": [35, 8, 15],
            "workload.n_train": 2,
            "workload.batch": 17,
        },
        "nbody-batch>rows",
    ),
    ({"workload.task": "nbody_frames", "network.sizes": [34, 8, 15]}, "nbody-34"),
    ({"workload.task": "affine_lifted", "network.sizes": [8, 8, 10]}, "affine-8"),
    ({"workload.task": "affine_lifted", "network.sizes": [7, 8, 10]}, "affine-odd"),
    ({"workload.task": "affine_lifted", "network.sizes": [8, 8, 9]}, "affine-mse-9"),
    ({"substrate.backend": "brian2", "nudge.estimator": "centered"}, "brian2-centered"),
    ({"substrate.backend": "brian2", "nudge.estimator": "holomorphic"}, "brian2-holomorphic"),
    (
        {"substrate.backend": "brian2", "nudge.estimator": "holomorphic", "training.rule": "bptt"},
        "brian2-bptt",
    ),
    ({"substrate.backend": "numba", "workload.loss": "cross_entropy"}, "numba-ce"),
    (
        {
            "substrate.backend": "numba",
            "workload.loss": "cross_entropy",
            "nudge.estimator": "exact",
        },
        "numba-ce-exact",
    ),
    (
        {"substrate.backend": "numba", "devices.read_noise_std": 0.01},
        "numba-per-read",
    ),
    (
        {
            "substrate.backend": "numba",
            "devices.read_noise_std": 0.01,
            "devices.read_noise_mode": "per_step",
        },
        "numba-per-step",
    ),
    (
        {"substrate.backend": "numba", "workload.task": "spherical", "network.sizes": [3, 4, 1]},
        "numba-gaunt",
    ),
    ({"substrate.backend": "auto", "workload.loss": "cross_entropy"}, "auto-ce"),
    ({"homeostasis.mode": "auto", "homeostasis.strength": 0.0}, "homeostasis-auto-0"),
    ({"feedback.mode": "independent", "feedback.alpha": 30.0}, "independent-30"),
]


def _unvalidated(updates: dict[str, Any]) -> Config:
    """The config ``updates`` describe, assembled with no validation at all."""
    data = Config().model_dump()
    for key, value in {**BASE, **updates}.items():
        value = tuple(value) if isinstance(value, list) else value
        head, _, rest = key.partition(".")
        if rest:
            data[head][rest] = value
        else:
            data[head] = value
    sections = {}
    for name in Config.SECTIONS:
        table = data[name]
        model = type(getattr(Config(), name))
        if name in getattr(Config, "KINDS", {}):
            model = Config.KINDS[name].get(table.get("kind"), model)
        sections[name] = model.model_construct(**table)
    top = {k: v for k, v in data.items() if k not in Config.SECTIONS}
    return Config.model_construct(**top, **sections)


def _validate(updates: dict[str, Any]) -> str | None:
    try:
        Config().with_updates({**BASE, **updates})
    except ConfigError as exc:
        return str(exc)
    return None


def _build(updates: dict[str, Any]) -> str | None:
    try:
        build(_unvalidated(updates))
    except ConfigError as exc:
        return str(exc)
    return None


def _agree(updates: dict[str, Any]) -> None:
    validated, built = _validate(updates), _build(updates)
    assert (validated is None) == (built is None), (
        f"validate: {validated or 'accepted'} / build: {built or 'accepted'}"
    )
    for message in (validated, built):
        assert message is None or "\n" not in message, message


@pytest.mark.parametrize("updates", list(_field_cases()))
def test_every_field_at_its_bounds(updates):
    _agree(updates)


@pytest.mark.parametrize(("updates", "case"), CROSS, ids=[c for _, c in CROSS])
def test_every_cross_field_rule_on_both_sides(updates, case):
    _agree(updates)


def test_the_walk_covers_every_field_and_both_outcomes():
    walked = {
        next(iter(p.values[0].keys() - {"devices.kind", "neurons.kind"}), "")
        for p in _field_cases()
    }
    for prefix, model, _ in _models():
        for name in model.model_fields:
            if prefix or name not in Config.SECTIONS:
                assert f"{prefix}{name}" in walked or name == "kind", f"{prefix}{name} not walked"
    outcomes = {_validate(u) is None for u, _ in CROSS}
    assert outcomes == {True, False}


def test_rules_are_refused_with_the_key_that_breaks_them():
    cases = {
        "neurons.adc_bits": {"neurons.adc_bits": 64},
        "dynamics.dt": CROSS[1][0],
        "workload.batch": {"workload.batch": 65},
        "network.sizes": {"workload.task": "digits", "network.sizes": [63, 8, 10]},
        "workload.n_train": {
            "workload.task": "mnist",
            "network.sizes": [784, 8, 10],
            "workload.n_test": 4937,
        },
        "workload.loss": {
            "workload.task": "spherical",
            "network.sizes": [3, 4, 1],
            "workload.loss": "cross_entropy",
        },
        "substrate.backend": {
            "substrate.backend": "numba",
            "workload.task": "spherical",
            "network.sizes": [3, 4, 1],
        },
    }
    for key, updates in cases.items():
        message = _validate(updates)
        assert message is not None and message.startswith(f"{key}: "), (key, message)
        assert "allowed" in message or "needs" in message, message

"""Every extensible choice is a :class:`~neurosim.registry.Registry` with one pattern.

A registry refuses an unknown name with :class:`UnknownNameError` (a ``KeyError`` and a
``ValueError`` whose ``str`` is one line listing the registered names in order); the
config's allowed values *are* the registries' names, so registering an entry makes the
config accept it and the generated reference list it, and unregistering undoes both.
"""

from __future__ import annotations

import pickle

import pytest
import torch

from neurosim.backends import BACKENDS
from neurosim.experiment.config import Config, ConfigError, config_reference
from neurosim.experiment.optimizers import OPTIMIZERS, get_optimizer, register_optimizer
from neurosim.experiment.tasks import TASKS
from neurosim.learning import ESTIMATORS, LOSSES, RULES
from neurosim.registry import Registry, UnknownNameError
from neurosim.substrate import (
    ACTIVATIONS,
    DEVICE_MODELS,
    INTEGRATORS,
    NEURON_MODELS,
    ShiftedSigmoid,
    register_activation,
)

# (registry, config key whose allowed values are its names)
REGISTRIES = [
    (ACTIVATIONS, "network.activation"),
    (INTEGRATORS, "dynamics.integrator"),
    (BACKENDS, "substrate.backend"),
    (ESTIMATORS, "nudge.estimator"),
    (TASKS, "workload.task"),
    (LOSSES, "workload.loss"),
    (RULES, "training.rule"),
    (OPTIMIZERS, "training.optimizer"),
    (DEVICE_MODELS, "devices.kind"),
    (NEURON_MODELS, "neurons.kind"),
]
IDS = [key for _, key in REGISTRIES]


@pytest.mark.parametrize(("registry", "key"), REGISTRIES, ids=IDS)
def test_an_unknown_name_is_one_line_listing_the_names(registry: Registry, key: str) -> None:
    with pytest.raises(UnknownNameError) as info:
        registry.get("no_such_entry")
    exc = info.value
    assert isinstance(exc, KeyError) and isinstance(exc, ValueError)
    names = list(registry)
    assert names == sorted(names) and len(names) >= 1
    assert str(exc) == (f"unknown {registry.kind} 'no_such_entry'; allowed: {', '.join(names)}")
    assert "\n" not in str(exc)
    assert str(pickle.loads(pickle.dumps(exc))) == str(exc)  # crosses process boundaries
    assert registry.get("no_such_entry", None) is None


@pytest.mark.parametrize(("registry", "key"), REGISTRIES, ids=IDS)
def test_the_config_allows_exactly_the_registered_names(registry: Registry, key: str) -> None:
    for name in registry:  # every name is a valid choice (the defaults' other settings
        try:  # may still rule a combination out, in words, as a cross-field rule)
            Config().with_updates({key: name})
        except ConfigError as exc:
            assert "invalid choice" not in str(exc), str(exc)
    with pytest.raises(ConfigError) as info:
        Config().with_updates({key: "no_such_entry"})
    choices = ", ".join(f'"{name}"' for name in registry)
    assert str(info.value) == f'{key}: invalid choice "no_such_entry"; allowed: one of {choices}'


def test_a_registered_activation_is_accepted_and_documented_until_unregistered() -> None:
    class Softish(ShiftedSigmoid):
        name = "softish_test_only"

    before = config_reference()
    with pytest.raises(ConfigError, match="network.activation"):
        Config().with_updates({"network.activation": "softish_test_only"})
    register_activation(Softish)
    try:
        config = Config().with_updates({"network.activation": "softish_test_only"})
        assert config.network.activation == "softish_test_only"
        assert '"softish_test_only"' in config_reference()
        assert ACTIVATIONS.get("softish_test_only") is Softish
    finally:
        ACTIVATIONS.unregister("softish_test_only")
    with pytest.raises(ConfigError, match="network.activation"):
        Config().with_updates({"network.activation": "softish_test_only"})
    assert config_reference() == before


def test_a_registered_optimizer_builds_from_its_training_section() -> None:
    register_optimizer("plain_sgd_test_only", lambda p, tr: torch.optim.SGD(p, lr=tr.lr))
    try:
        config = Config().with_updates(
            {"training.optimizer": "plain_sgd_test_only", "training.lr": 0.25}
        )
        opt = get_optimizer(
            config.training.optimizer, [torch.zeros(2, requires_grad=True)], config.training
        )
        assert isinstance(opt, torch.optim.SGD) and opt.param_groups[0]["lr"] == 0.25
    finally:
        OPTIMIZERS.unregister("plain_sgd_test_only")
    with pytest.raises(UnknownNameError):
        OPTIMIZERS.get("plain_sgd_test_only")


def test_registering_notifies_and_replaces() -> None:
    registry: Registry[int] = Registry("number")
    calls = []
    registry.subscribe(lambda: calls.append(sorted(registry)))
    registry.register(1, name="b")
    registry.register(2, name="a")
    registry.register(3, name="b")  # a second registration shadows the first
    assert dict(registry) == {"a": 2, "b": 3} and list(registry) == ["a", "b"]
    assert registry.unregister("a") == 2
    assert calls == [["b"], ["a", "b"], ["a", "b"], ["b"]]
    with pytest.raises(UnknownNameError, match="unknown number 'a'; allowed: b"):
        registry.unregister("a")
    with pytest.raises(TypeError, match="declares no number name"):
        registry.register(object())

"""The config schema, the hw_configs presets, TOML round trips, updates and inheritance."""

from __future__ import annotations

import math
import pickle
import re
import tomllib
from typing import get_args

import numpy as np
import pytest
from pydantic import BaseModel, ValidationError

from neurosim.experiment.config import (
    Config,
    ConfigError,
    DeviceConfig,
    NetworkConfig,
    NudgeConfig,
    load_config,
)
from neurosim.experiment.presets import PRESET_DIR, list_presets, preset_path
from neurosim.learning.estimators import ESTIMATORS
from neurosim.substrate.activations import ACTIVATIONS

PRESETS = ["ideal", "asymmetric", "rram", "pcm", "ecram", "oscillator"]
TRAINING_PRESETS = ["rram", "pcm", "ecram"]


def _models(model: type[BaseModel] = Config):
    yield model
    for info in model.model_fields.values():
        if isinstance(info.annotation, type) and issubclass(info.annotation, BaseModel):
            yield from _models(info.annotation)


# --------------------------------------------------------------------------- schema


def test_every_model_is_frozen_strict_documented():
    for model in _models():
        cfg = model.model_config
        assert cfg["frozen"] and cfg["extra"] == "forbid" and cfg["use_attribute_docstrings"]
        for name, info in model.model_fields.items():
            assert info.description and len(info.description) > 15, f"{model.__name__}.{name}"


def test_defaults_are_frozen_and_hashable():
    cfg = Config()
    with pytest.raises(ValidationError):
        cfg.seed = 3
    with pytest.raises(ValidationError):
        cfg.feedback.alpha = 3.0
    assert hash(cfg) == hash(Config())
    assert cfg.network.sizes == (20, 32, 32, 10)
    assert cfg.devices.w_min == -math.inf and cfg.devices.w_max == math.inf


def test_choices_follow_the_registries():
    assert set(get_args(NudgeConfig.model_fields["estimator"].annotation)) == set(ESTIMATORS)
    assert set(get_args(NetworkConfig.model_fields["activation"].annotation)) == set(ACTIVATIONS)


def test_valid_keys_and_flat_dict_agree():
    keys = Config.valid_keys()
    assert keys[:3] == ["seed", "name", "description"]
    assert "devices.w_min" in keys and "training.probe_batch" in keys
    flat = Config().to_flat_dict()
    assert list(flat) == keys
    assert flat["network.sizes"] == [20, 32, 32, 10]  # plain lists
    assert flat["neurons.adc_range"] == [-1.0, 1.0]


def test_int_accepted_for_float_but_not_str_or_bool():
    cfg = Config().with_updates({"feedback.alpha": 30})
    assert cfg.feedback.alpha == 30.0 and isinstance(cfg.feedback.alpha, float)
    for bad in ("30", True, [30]):
        with pytest.raises(ConfigError, match=r"^feedback\.alpha: wrong type"):
            Config().with_updates({"feedback.alpha": bad})


# --------------------------------------------------------------------------- presets


def test_presets_are_listed():
    listed = dict(list_presets())
    assert set(PRESETS) <= set(listed)
    for name in PRESETS:
        assert listed[name] and "\n" not in listed[name]
        assert preset_path(name) == PRESET_DIR / f"{name}.toml"


@pytest.mark.parametrize("name", PRESETS)
def test_preset_loads(name):
    cfg = load_config(name)
    assert cfg.name == name
    assert cfg.description and len(cfg.description) < 120
    assert load_config(preset_path(name)) == cfg  # by path, too


def test_ideal_is_the_defaults():
    cfg = load_config("ideal")
    assert cfg.with_updates({"name": "custom", "description": ""}) == Config()
    assert set(cfg.diff_from_defaults()) == {"name", "description"}


def test_preset_specifics():
    assert load_config("asymmetric").feedback.alpha == 90.0
    osc = load_config("oscillator")
    assert osc.nudge.estimator == "online_holomorphic" and osc.nudge.phase_noise > 0
    text = (PRESET_DIR / "oscillator.toml").read_text().lower()
    assert "algorithm-paper settings, not device measurements" in text
    for name in TRAINING_PRESETS:  # HARDWARE_SOURCES §3: 7-bit DAC / 9-bit ADC
        cfg = load_config(name)
        assert (cfg.neurons.dac_bits, cfg.neurons.adc_bits) == (7, 9), name


_ASSIGN = re.compile(r"^\s*([A-Za-z0-9_\-]+)\s*=")
_SECTION = re.compile(r"^\s*\[([A-Za-z0-9_\-]+)\]")


@pytest.mark.parametrize("name", PRESETS)
def test_preset_numbers_carry_source_comments(name):
    """Every line that sets a non-default value has a comment naming where it comes from."""
    path = PRESET_DIR / f"{name}.toml"
    cfg = load_config(name)
    changed = set(cfg.diff_from_defaults()) - {"name", "description"}
    section, seen = "", set()
    for line in path.read_text(encoding="utf-8").splitlines():
        if m := _SECTION.match(line):
            section = m.group(1) + "."
            continue
        if line.lstrip().startswith("#") or not (m := _ASSIGN.match(line)):
            continue
        key = section + m.group(1)
        value_text = line.split("=", 1)[1]
        # the value must parse on its own: the comment starts after it
        tomllib.loads(f"x = {value_text}")
        if key in changed:
            seen.add(key)
            assert "#" in value_text, f"{name}: {key} has no source comment"
            comment = value_text.split("#", 1)[1]
            assert len(comment.strip()) > 20, f"{name}: {key} comment too short: {comment!r}"
    assert seen == changed, f"{name}: non-default values not set on a line of their own"


# --------------------------------------------------------------------------- TOML round trip


def _roundtrip(cfg: Config, tmp_path) -> Config:
    path = tmp_path / "rt.toml"
    path.write_text(cfg.to_toml(), encoding="utf-8")
    return load_config(path)


@pytest.mark.parametrize("name", PRESETS)
def test_to_toml_round_trip_presets(name, tmp_path):
    cfg = load_config(name)
    assert _roundtrip(cfg, tmp_path) == cfg


def test_to_toml_round_trip_edge_values(tmp_path):
    cfg = Config().with_updates(
        {
            "name": 'quote " and ünïcode \\ back',
            "description": "tab\there",
            "seed": 2**40,
            "devices.w_max": 1e-7,
            "devices.w_min": -1e300,
            "dynamics.tol": 1e-12,
            "network.sizes": (3, 1),
            "neurons.dac_range": [-0.5, 0.5],
            "feedback.alpha": 1 / 3,
        }
    )
    assert _roundtrip(cfg, tmp_path) == cfg
    text = Config().to_toml()
    assert "w_min = -inf" in text and "w_max = inf" in text
    assert tomllib.loads(text)["devices"]["w_min"] == -math.inf


# --------------------------------------------------------------------------- updates and diffs


def test_with_updates_and_diff():
    base = Config()
    cfg = base.with_updates({"feedback.alpha": 30, "seed": 2, "devices": {"w_min": -1, "w_max": 1}})
    assert (cfg.feedback.alpha, cfg.seed, cfg.devices.w_min, cfg.devices.w_max) == (30.0, 2, -1, 1)
    assert base == Config(), "the original changed"
    assert cfg.diff_from_defaults() == {
        "seed": 2,
        "feedback.alpha": 30.0,
        "devices.w_min": -1.0,
        "devices.w_max": 1.0,
    }
    assert Config().diff_from_defaults() == {}
    assert cfg.with_updates({}) == cfg


def test_with_updates_accepts_numpy_values():
    cfg = Config().with_updates(
        {"feedback.alpha": np.float32(45.0), "seed": np.int64(7), "network.sizes": np.array([4, 3])}
    )
    assert (cfg.feedback.alpha, cfg.seed, cfg.network.sizes) == (45.0, 7, (4, 3))
    assert type(cfg.seed) is int


@pytest.mark.parametrize(
    ("updates", "key", "expected"),
    [
        (
            {"feedback.alpah": 3},
            "feedback.alpah",
            ['did you mean "alpha"', "valid keys in [feedback]: alpha, mode"],
        ),
        ({"feedbak.alpha": 3}, "feedbak.alpha", ["did you mean [feedback]", "sections:"]),
        ({"seed.x": 1}, "seed.x", ["not a section"]),
        ({"devices": 3}, "devices", ["a mapping of keys of [devices]"]),
        ({"devices": {"wmax": 1}}, "devices.wmax", ["valid keys in [devices]"]),
        ({"feedback.alpha": 200}, "feedback.alpha", ["[0, 180]"]),
        ({"nudge.estimator": "twosided"}, "nudge.estimator", ['"holomorphic"']),
        ({"devices.levels": 8}, "devices.levels", ["finite"]),
        ({"network.sizes.0": 3}, "network.sizes.0", ["valid keys in [network]"]),
    ],
)
def test_with_updates_errors_name_the_key(updates, key, expected):
    with pytest.raises(ConfigError) as exc:
        Config().with_updates(updates)
    err = exc.value
    assert err.file is None and err.key == key
    assert str(err).startswith(f"{key}: ") and "\n" not in str(err)
    for text in expected:
        assert text in str(err)


# --------------------------------------------------------------------------- inheritance


def test_base_preset_inheritance(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text('base = "rram"\nseed = 4\n[feedback]\nalpha = 30\n[devices]\nlevels = 64\n')
    cfg = load_config(path)
    rram = load_config("rram")
    expected = rram.with_updates(
        {"name": "custom", "description": "", "seed": 4, "feedback.alpha": 30, "devices.levels": 64}
    )
    assert cfg == expected
    assert cfg.devices.d2d_std == rram.devices.d2d_std != 0  # deep merge kept it


def test_base_relative_path_chain(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.toml").write_text('base = "ecram"\n[nudge]\nn = 8\n')
    (tmp_path / "sub" / "b.toml").write_text('base = "../a.toml"\nname = "b"\n[nudge]\nr = 0.2\n')
    cfg = load_config(tmp_path / "sub" / "b.toml")
    assert (cfg.name, cfg.nudge.n, cfg.nudge.r) == ("b", 8, 0.2)
    assert cfg.devices == load_config("ecram").devices


def test_base_merge_can_break_cross_field_rules(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text('base = "rram"\n[devices]\nw_min = 0.5\n')  # soft bounds need w_min < 0
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    assert exc.value.file == str(path) and exc.value.key == "devices.update"


# --------------------------------------------------------------------------- loading and errors


def test_empty_file_and_path_forms(tmp_path):
    path = tmp_path / "empty.toml"
    path.write_text("")
    assert load_config(path) == Config()
    assert load_config(str(path)) == Config()


def test_config_error_format_and_pickle():
    err = ConfigError("a.toml", "devices.w_min", "bad\nthing")
    assert str(err) == "a.toml: devices.w_min: bad thing"
    assert str(ConfigError(None, "", "only")) == "only"
    assert str(ConfigError("f.toml", "", "m")) == "f.toml: m"
    assert isinstance(err, ValueError)
    again = pickle.loads(pickle.dumps(err))
    assert (again.file, again.key, again.message) == (err.file, err.key, err.message)


def test_load_errors_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="file not found"):
        load_config(tmp_path / "nope.toml")
    with pytest.raises(ConfigError, match="available presets: .*rram"):
        load_config("nope")
    with pytest.raises(ConfigError, match="is a directory"):
        load_config(tmp_path)
    bad = tmp_path / "bad.toml"
    bad.write_text("[devices]\nlevels = 1\nw_min = 2.0\n")
    with pytest.raises(ConfigError) as exc:
        load_config(bad)
    assert exc.value.key == "devices.levels"
    assert "also invalid" not in str(exc.value)  # the cross-field check runs only on valid fields


def test_device_config_rules_directly():
    assert DeviceConfig(w_min=-1.0, w_max=1.0, levels=2, update="soft_bounds").levels == 2
    with pytest.raises(ValidationError):
        DeviceConfig(stuck_zero_prob=0.5, stuck_bound_prob=0.6, w_min=-1.0, w_max=1.0)


def test_repr_shows_only_differences_from_defaults():
    assert repr(Config()) == "Config()"
    cfg = Config().with_updates({"feedback.alpha": 30, "devices.levels": 0})
    assert repr(cfg) == "Config(feedback=FeedbackConfig(alpha=30.0))"
    assert str(cfg) == repr(cfg)

"""The run configuration: schema, TOML loading with base chains, errors, the reference.

=====================  ===========================================================
module                 what it holds
=====================  ===========================================================
``_schema``            :class:`Config` and its sections (the one definition of
                       every key; runtime objects define their own sections)
``_loader``            :func:`load_config` (files, presets, ``base`` chains),
                       updates, :func:`validate_data` (the single validation path)
``_toml``              TOML reading and writing helpers shared with sweep files
``_errors``            :class:`ConfigError` and the generic translation of
                       validation errors into one line naming file, key, allowed
``_plugins``           importing the modules a config's ``plugins`` lists
``reference``          the config reference generated from the schema
=====================  ===========================================================

TOML layout (sections map to the sub-models)::

    base = "rram"          # optional: start from a preset (or a path relative to this file)
    name = "my-run"
    seed = 3

    [feedback]
    alpha = 30.0           # degrees

    [devices]
    levels = 64

Every problem with a file (missing, malformed, unknown key, wrong type,
out-of-range value, inconsistent settings) raises :class:`ConfigError`, whose
``str`` is one line naming the file, the dotted key and what is allowed.
"""

from ._errors import ConfigError as ConfigError
from ._loader import (
    config_from_toml as config_from_toml,
    load_config as load_config,
    merge_data as merge_data,
    revalidate as revalidate,
    validate_data as validate_data,
)
from ._schema import (
    Config as Config,
    DeviceConfig as DeviceConfig,
    DynamicsConfig as DynamicsConfig,
    FeedbackConfig as FeedbackConfig,
    HomeostasisConfig as HomeostasisConfig,
    NetworkConfig as NetworkConfig,
    NeuronConfig as NeuronConfig,
    NudgeConfig as NudgeConfig,
    SubstrateConfig as SubstrateConfig,
    TrainingConfig as TrainingConfig,
    WorkloadConfig as WorkloadConfig,
)
from ._toml import (
    base_path as base_path,
    looks_like_path as looks_like_path,
    read_toml as read_toml,
    toml_type as toml_type,
    toml_value as toml_value,
)
from .reference import config_reference as config_reference

__all__ = [
    "Config",
    "ConfigError",
    "DeviceConfig",
    "DynamicsConfig",
    "FeedbackConfig",
    "HomeostasisConfig",
    "NetworkConfig",
    "NeuronConfig",
    "NudgeConfig",
    "SubstrateConfig",
    "TrainingConfig",
    "WorkloadConfig",
    "base_path",
    "config_from_toml",
    "config_reference",
    "load_config",
    "looks_like_path",
    "merge_data",
    "read_toml",
    "revalidate",
    "toml_type",
    "toml_value",
    "validate_data",
]

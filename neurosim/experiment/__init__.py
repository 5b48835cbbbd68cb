"""Experiments: configs, runs, sweeps, results with provenance, figures (all I/O lives here)."""

from .config import Config as Config, ConfigError as ConfigError, load_config as load_config
from .executors import (
    AbstractExecutor as AbstractExecutor,
    DaskExecutor as DaskExecutor,
    ProcessExecutor as ProcessExecutor,
    SerialExecutor as SerialExecutor,
    make_executor as make_executor,
)
from .figures import plot_dataset as plot_dataset, sweep_dims as sweep_dims
from .presets import list_presets as list_presets, preset_path as preset_path
from .provenance import (
    git_revision as git_revision,
    package_versions as package_versions,
    provenance_attrs as provenance_attrs,
    to_toml as to_toml,
)
from .runner import build as build, run as run
from .storage import write_netcdf as write_netcdf, write_text as write_text
from .sweep import (
    SweepError as SweepError,
    SweepSpec as SweepSpec,
    load_sweep as load_sweep,
    run_sweep as run_sweep,
)

__all__ = [
    "Config",
    "ConfigError",
    "load_config",
    "plot_dataset",
    "sweep_dims",
    "list_presets",
    "preset_path",
    "git_revision",
    "package_versions",
    "provenance_attrs",
    "to_toml",
    "build",
    "run",
    "write_netcdf",
    "write_text",
    "AbstractExecutor",
    "SerialExecutor",
    "ProcessExecutor",
    "DaskExecutor",
    "make_executor",
    "SweepSpec",
    "SweepError",
    "load_sweep",
    "run_sweep",
]

"""Experiments: jobs, results with provenance, storage and figures (all I/O lives here)."""

from .alignment_demo import (
    AlignmentDemoConfig as AlignmentDemoConfig,
    run_alignment_demo as run_alignment_demo,
)
from .figures import plot_alignment as plot_alignment
from .provenance import (
    git_revision as git_revision,
    package_versions as package_versions,
    provenance_attrs as provenance_attrs,
    to_toml as to_toml,
)
from .storage import write_netcdf as write_netcdf

__all__ = [
    "AlignmentDemoConfig",
    "run_alignment_demo",
    "plot_alignment",
    "git_revision",
    "package_versions",
    "provenance_attrs",
    "to_toml",
    "write_netcdf",
]

"""Provenance attributes for results: versions, git revision, time, resolved config."""

from __future__ import annotations

import datetime as _dt
import json
import platform
import subprocess
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path

__all__ = ["package_versions", "git_revision", "provenance_attrs", "to_toml"]

_PACKAGES = ("neurosim", "torch", "numpy", "scipy", "xarray", "netCDF4")


def package_versions() -> dict[str, str]:
    """Installed versions of the packages a result depends on."""
    out = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def git_revision(path: Path | None = None) -> str:
    """``git describe --always --dirty`` of the source tree, or ``"unknown"``."""
    root = Path(__file__).resolve().parents[2] if path is None else path
    try:
        out = subprocess.run(
            ["git", "describe", "--always", "--dirty", "--abbrev=40"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() or "unknown"


def to_toml(config: Mapping[str, object]) -> str:
    """A flat or one-level-nested mapping of scalars and lists as TOML text."""
    lines, tables = [], []
    for key, value in config.items():
        if isinstance(value, Mapping):
            tables.append((key, value))
        else:
            lines.append(f"{key} = {json.dumps(value)}")
    for name, table in tables:
        lines.append(f"\n[{name}]")
        lines.extend(f"{k} = {json.dumps(v)}" for k, v in table.items())
    return "\n".join(lines) + "\n"


def provenance_attrs(
    config: Mapping[str, object] | str, *, command: str, seed: int | list[int]
) -> dict:
    """NetCDF-safe attrs: resolved config (TOML text, or a mapping to render), versions,
    git revision, seed, history."""
    now = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
    versions = package_versions()
    return {
        "config_toml": config if isinstance(config, str) else to_toml(config),
        "git_revision": git_revision(),
        "seed": json.dumps(seed),
        "history": f"[{now}] {command} - neurosim {versions['neurosim']}",
        **{f"version_{k}": v for k, v in versions.items()},
    }

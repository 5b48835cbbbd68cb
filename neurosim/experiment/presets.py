"""Hardware presets: the TOML files at the top of the repository's ``hw_configs/`` folder.

A preset's name is its file stem (``hw_configs/rram.toml`` → ``"rram"``). Only
top-level ``*.toml`` files are presets; sweep files belong in a subfolder.
"""

from __future__ import annotations

import difflib
import tomllib
from pathlib import Path

from .config import ConfigError

__all__ = ["PRESET_DIR", "available_presets", "list_presets", "preset_path"]

PRESET_DIR: Path = Path(__file__).resolve().parents[2] / "hw_configs"
"""The repository's ``hw_configs/`` folder."""


def available_presets() -> list[str]:
    """Sorted preset names (file stems of ``hw_configs/*.toml``)."""
    if not PRESET_DIR.is_dir():
        return []
    return sorted(p.stem for p in PRESET_DIR.glob("*.toml") if p.is_file())


def preset_path(name: str) -> Path:
    """The file of preset ``name``; :class:`ConfigError` listing the available names if unknown."""
    names = available_presets()
    if name not in names:
        listing = ", ".join(names) if names else f"none (no *.toml in {PRESET_DIR})"
        close = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
        hint = f' (did you mean "{close[0]}"?)' if close else ""
        raise ConfigError(
            None,
            "",
            f'unknown preset "{name}"{hint}; available presets: {listing}; '
            "or give the path to a .toml file",
        )
    return PRESET_DIR / f"{name}.toml"


def list_presets() -> list[tuple[str, str]]:
    """``(name, one-line description)`` of every preset, sorted by name.

    The description is read from the file's ``description`` key without
    validating the rest (``neurosim validate NAME`` does that); an unreadable
    file is listed with the reason.
    """
    out = []
    for name in available_presets():
        try:
            data = tomllib.loads((PRESET_DIR / f"{name}.toml").read_text(encoding="utf-8"))
            description = str(data.get("description", ""))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            description = f"(unreadable: {' '.join(str(exc).split())})"
        out.append((name, " ".join(description.split())))
    return out

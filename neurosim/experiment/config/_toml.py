"""TOML helpers shared by config and sweep files: reading, writing values, naming types.

Reading a file (:func:`read_toml`) and resolving a ``base = "…"`` value
(:func:`base_path`) happen here once, for configs and sweeps alike; every
problem is a one-line :class:`~neurosim.experiment.config.ConfigError` naming
the file (and the key).
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ._errors import ConfigError

__all__ = [
    "base_path",
    "deep_merge",
    "format_number",
    "looks_like_path",
    "plain",
    "read_toml",
    "toml_type",
    "toml_value",
]


def plain(value: Any) -> Any:
    """Numpy scalars/arrays and tuples → plain Python (lists for sequences)."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, tuple | list):
        return [plain(v) for v in value]
    if isinstance(value, Mapping):
        return {k: plain(v) for k, v in value.items()}
    return value


def format_number(x: float) -> str:
    """A number as TOML writes it (``inf``, ``-inf``, ``nan``, else the shortest repr)."""
    if isinstance(x, float):
        if math.isinf(x):
            return "inf" if x > 0 else "-inf"
        if math.isnan(x):
            return "nan"
    return repr(x)


def toml_value(value: Any) -> str:
    """A TOML literal for a scalar, (nested) list or inline table; for writing and messages."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return format_number(value)
    if isinstance(value, str):  # JSON escapes are TOML escapes; TOML also forbids a raw DEL
        return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(value, _dt.date | _dt.time):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + "}"
    return repr(value)


def toml_type(value: Any) -> str:
    """The TOML type of a value, in words (``"integer"``, ``"array"``, ``"table"``, …)."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "array"
    if isinstance(value, Mapping):
        return "table"
    if isinstance(value, _dt.date | _dt.time):
        return "date/time"
    return type(value).__name__


def looks_like_path(text: str) -> bool:
    """True for text that names a file rather than a preset (``.toml``, a separator, ``~``)."""
    seps = {"/", os.sep} | ({os.altsep} if os.altsep else set())
    return text.lower().endswith(".toml") or any(s in text for s in seps) or text.startswith("~")


_TOML_POS = re.compile(r"\s*\(at (line \d+, column \d+|end of document)\)\s*$")


def read_toml(path: Path, shown: str, *, what: str = "TOML file") -> tuple[dict, str]:
    """The table and the text of the TOML file ``path`` (``shown`` as the user named it).

    Raises :class:`ConfigError` for a missing file, a folder, unreadable or non-UTF-8
    bytes and invalid TOML (with its line and column).
    """
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(shown, "", "file not found") from None
    except IsADirectoryError:
        raise ConfigError(shown, "", f"is a directory, not a {what}") from None
    except OSError as exc:
        raise ConfigError(shown, "", f"cannot read file: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            shown, "", f"not UTF-8 text (byte {exc.start}); TOML files are UTF-8"
        ) from None
    try:
        return tomllib.loads(text), text
    except tomllib.TOMLDecodeError as exc:
        msg = str(exc)
        where = _TOML_POS.search(msg)
        if where:
            msg = f"invalid TOML at {where.group(1)}: {msg[: where.start()]}"
        else:
            msg = f"invalid TOML: {msg}"
        raise ConfigError(shown, "", msg) from None


def base_path(base: object, relative_to: Path, shown: str) -> Path:
    """The config file a ``base = …`` value names: a preset, or a path relative to ``relative_to``.

    Raises :class:`ConfigError` at key ``base`` of ``shown`` when the value is not a
    non-empty string, the file does not exist or the preset is unknown.
    """
    from ..presets import available_presets, preset_path

    if not isinstance(base, str) or not base.strip():
        presets = ", ".join(available_presets()) or "none installed"
        raise ConfigError(
            shown,
            "base",
            f"wrong type: got {toml_value(base)} ({toml_type(base)}); allowed: a preset name "
            f"({presets}) or a path to a .toml file relative to this file",
        )
    if looks_like_path(base):
        path = relative_to / Path(base).expanduser()
        if not path.is_file():
            raise ConfigError(shown, "base", f"base file not found: {path}")
        return path
    try:
        return preset_path(base)
    except ConfigError as exc:
        raise ConfigError(shown, "base", exc.message) from None


def deep_merge(base: Mapping, override: Mapping) -> dict:
    """``override`` merged into ``base`` table by table (values of ``override`` win)."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out

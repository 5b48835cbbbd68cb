"""Loading configs: TOML files, base chains, dotted-key updates — all into one validation.

Every path into a :class:`~neurosim.experiment.config.Config` — a file
(:func:`load_config`), in-memory updates (:meth:`Config.with_updates`), a
re-check before building (:func:`revalidate`) — ends in :func:`validate_data`,
which imports the config's plugins and translates any problem into a one-line
:class:`~neurosim.experiment.config.ConfigError`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ._errors import ConfigError, key_listing, to_config_error, unknown_key_message
from ._plugins import load_plugins, resolve_plugin_paths
from ._schema import Config
from ._toml import base_path, looks_like_path, plain, read_toml, toml_type, toml_value

__all__ = [
    "apply_updates",
    "config_from_toml",
    "load_config",
    "merge_data",
    "revalidate",
    "validate_data",
]


def validate_data(data: Mapping[str, Any], file: str | None) -> Config:
    """``data`` (a TOML table) as a :class:`Config`, its plugins imported first.

    ``file`` names the source in errors (None for in-memory updates).
    """
    plugins = data.get("plugins", ())
    if isinstance(plugins, list | tuple) and all(isinstance(p, str) for p in plugins):
        try:
            load_plugins(plugins)
        except ImportError as exc:
            raise ConfigError(
                file, "plugins", f"{exc}; allowed: importable module names or .py files"
            ) from None
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        raise to_config_error(exc, file, data) from None


def revalidate(config: Config) -> Config:
    """``config`` validated again (a config made with ``model_construct`` or by hand is
    checked like a loaded one); :class:`ConfigError` if it is not valid."""
    return validate_data(config.model_dump(), None)


def config_from_toml(text: str) -> Config:
    """The config a resolved TOML text (:meth:`Config.to_toml`) describes, validated."""
    import tomllib

    return validate_data(tomllib.loads(text), None)


def merge_data(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """``override`` merged into ``base`` (both config tables), section by section.

    Keys of ``override`` win. A section whose ``kind`` changes is replaced, not merged
    (the keys of one device model mean nothing to another); ``plugins`` accumulate.
    """
    out = dict(base)
    for key, value in override.items():
        old = out.get(key)
        if key == "plugins" and isinstance(old, list | tuple) and isinstance(value, list | tuple):
            out[key] = [*old, *(v for v in value if v not in old)]
        elif isinstance(value, Mapping) and isinstance(old, Mapping):
            new_kind = value.get("kind", old.get("kind"))
            if key in Config.KINDS and new_kind != old.get("kind"):
                out[key] = dict(value)
            else:
                out[key] = {**old, **value}
        else:
            out[key] = value
    return out


# --------------------------------------------------------------------------- files


def load_config(source: str | os.PathLike) -> Config:
    """Load and validate a config from a TOML file path or a preset name.

    ``source`` is a path (anything ending in ``.toml``, containing a path
    separator, or naming an existing file) or the stem of a file in
    ``hw_configs/`` (``"rram"``). A file may say ``base = "<preset or path>"``
    (a path is relative to the file) to start from that config and override
    some keys (tables are merged key by key); ``name`` and ``description``
    describe the file itself and are not inherited. ``plugins`` (paths relative
    to the file) are imported before validation. An empty file gives the
    defaults. Every problem raises :class:`ConfigError`.
    """
    if isinstance(source, os.PathLike):
        return _load_file(Path(source), os.fspath(source), ())
    if not isinstance(source, str):
        raise ConfigError(
            None, "", f"expected a path or a preset name, got {type(source).__name__}"
        )
    if looks_like_path(source) or Path(source).expanduser().is_file():
        return _load_file(Path(source).expanduser(), source, ())
    from ..presets import preset_path

    path = preset_path(source)
    return _load_file(path, str(path), ())


def _load_file(path: Path, shown: str, chain: tuple[Path, ...]) -> Config:
    resolved = path.resolve()
    if resolved in chain:
        loop = " -> ".join(p.name for p in (*chain, resolved))
        raise ConfigError(shown, "base", f"base chain loops: {loop}")
    data, _ = read_toml(path, shown)
    if "plugins" in data:
        data["plugins"] = resolve_plugin_paths(data["plugins"], path.parent)
    base = data.pop("base", None)
    if base is not None:
        parent = base_path(base, path.parent, shown)
        inherited = _load_file(parent, str(parent), (*chain, resolved))
        data = merge_data(inherited.model_dump(exclude={"name", "description"}), data)
    return validate_data(data, shown)


# --------------------------------------------------------------------------- updates


def apply_updates(config: Config, updates: Mapping[str, object]) -> Config:
    """:meth:`Config.with_updates`: dotted keys (or section tables) → a new validated config."""
    override: dict[str, Any] = {}
    for dotted, value in updates.items():
        key = str(dotted)
        head, _, rest = key.partition(".")
        if head not in Config.model_fields:
            raise ConfigError(None, key, unknown_key_message(head, None, files=False))
        if head not in Config.SECTIONS:
            if rest:
                raise ConfigError(
                    None,
                    key,
                    f'"{head}" is a top-level key, not a section; ' + key_listing(files=False),
                )
            override[head] = plain(value)
        elif not rest:
            if not isinstance(value, Mapping):
                fields = Config.section_model(head, {head: override.get(head, {})}).model_fields
                raise ConfigError(
                    None,
                    key,
                    f"wrong type: got {toml_value(value)} ({toml_type(value)}); allowed: "
                    f"a mapping of keys of [{head}]: {', '.join(fields)}",
                )
            override.setdefault(head, {}).update({str(k): plain(v) for k, v in value.items()})
        else:
            override.setdefault(head, {})[rest] = plain(value)
    data = merge_data(config.model_dump(), override)
    for section, table in override.items():  # keys are checked against the section's model
        if section not in Config.SECTIONS:
            continue
        fields = Config.section_model(section, data).model_fields
        for k in table:
            if k not in fields:
                raise ConfigError(None, f"{section}.{k}", unknown_key_message(k, section, data))
    return validate_data(data, None)

"""Config errors: one line naming the file, the dotted key and what is allowed.

:func:`to_config_error` turns a pydantic :class:`~pydantic.ValidationError` of any
schema into a :class:`ConfigError`. It is generic: what a field allows is read
from the field itself (its annotation, bounds, ``Literal`` choices, or the
``allowed`` text :func:`neurosim.schema.param` attached), and a rule broken
across fields names the field its :class:`~neurosim.schema.FieldError` blames.
"""

from __future__ import annotations

import difflib
import json
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any, Literal, get_args, get_origin

import annotated_types as at
from pydantic import BaseModel, ValidationError

from ...schema import FieldError

if TYPE_CHECKING:
    from ._schema import Config

__all__ = ["ConfigError", "to_config_error", "unknown_key_message"]


class ConfigError(ValueError):
    """A bad configuration: one line ``"{file}: {key}: {message}"`` (missing parts omitted).

    Attributes
    ----------
    file : str or None
        The file the problem is in, as the user named it (None for in-memory updates).
    key : str
        Dotted key path (``"devices.w_min"``, ``"network.sizes[2]"``); ``""`` for the whole file.
    message : str
        What is wrong and what is allowed (valid choices, range or keys).
    """

    def __init__(self, file: str | os.PathLike | None, key: str, message: str):
        self.file = None if file is None else str(file)
        self.key = key
        self.message = " ".join(str(message).split())  # always one line
        super().__init__(str(self))

    def __str__(self) -> str:
        return ": ".join(part for part in (self.file, self.key, self.message) if part)

    def __reduce__(self):  # picklable across processes (executors)
        return type(self), (self.file, self.key, self.message)


def _root() -> type[Config]:
    from ._schema import Config

    return Config


# --------------------------------------------------------------------------- translation


def to_config_error(
    exc: ValidationError, file: str | None, data: Mapping[str, Any] | None = None
) -> ConfigError:
    """The first root-cause error of ``exc`` as a :class:`ConfigError` (others listed).

    ``data`` is the mapping that was validated; it tells which model a section with a
    ``kind`` was validated into. ``file`` None means in-memory updates (no ``base`` key).
    """
    files = file is not None
    data = data or {}
    errors = exc.errors(include_url=False)
    # a bad item also makes pydantic report a too-short container: keep the root cause
    locs = [tuple(e["loc"]) for e in errors]
    real = [
        e
        for e, loc in zip(errors, locs, strict=True)
        if not any(other[: len(loc)] == loc and other != loc for other in locs)
    ]
    key, message = _describe(real[0], data, files=files)
    if len(real) > 1:
        others = sorted({_format_loc(e["loc"]) for e in real[1:]} - {key})
        if others:
            message += f" (also invalid: {', '.join(others)})"
    return ConfigError(file, key, message)


def _format_loc(loc: tuple) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _describe(err: Mapping[str, Any], data: Mapping, *, files: bool) -> tuple[str, str]:
    from ._toml import toml_type, toml_value

    root = _root()
    loc = tuple(err["loc"])
    kind = err["type"]
    value = err.get("input")
    ctx = err.get("ctx") or {}
    key = _format_loc(loc)

    if kind == "extra_forbidden":
        section = loc[0] if len(loc) == 2 else None
        return key, unknown_key_message(str(loc[-1]), section, data, files=files, value=value)
    if kind == "value_error" and isinstance(ctx.get("error"), FieldError):
        bad = ctx["error"]
        return ".".join(p for p in (_format_loc(loc), bad.field) if p), str(bad)

    model, field = _field_at(loc, data)
    if field is None:  # a whole section of the wrong type
        if loc and loc[0] in root.SECTIONS:
            keys = ", ".join(root.section_model(loc[0], data).model_fields)
            return key, (
                f"wrong type: got {toml_value(value)} ({toml_type(value)}); "
                f"allowed: a table [{loc[0]}] with keys {keys}"
            )
        return key, f"invalid configuration ({err['msg']})"
    allowed = allowed_values(model, field)
    if kind == "value_error":
        msg = str(ctx.get("error", err["msg"]))
        return key, msg if "allowed:" in msg else f"{msg}; allowed: {allowed}"
    if kind == "literal_error":
        return key, f"invalid choice {toml_value(value)}; allowed: {allowed}"
    if kind in {"greater_than", "greater_than_equal", "less_than", "less_than_equal"}:
        return key, f"{toml_value(value)} is out of range; allowed: {allowed}"
    if kind == "finite_number":
        return key, f"{toml_value(value)} is not a finite number; allowed: {allowed}"
    if kind in {"too_short", "too_long"}:
        n = ctx.get("actual_length", len(value) if hasattr(value, "__len__") else "?")
        return key, f"wrong length ({n} item{'' if n == 1 else 's'}); allowed: {allowed}"
    if kind == "missing":
        return key, f"missing item; allowed: {allowed}"
    return key, f"wrong type: got {toml_value(value)} ({toml_type(value)}); allowed: {allowed}"


def _field_at(loc: tuple, data: Mapping) -> tuple[type[BaseModel] | None, str | None]:
    """The (model, field name) a loc points into, ignoring list indices."""
    root = _root()
    names = [p for p in loc if isinstance(p, str)]
    if not names:
        return None, None
    if names[0] in root.SECTIONS:
        if len(names) < 2:
            return None, None
        model = root.section_model(names[0], data)
        return (model, names[1]) if names[1] in model.model_fields else (None, None)
    return (root, names[0]) if names[0] in root.model_fields else (None, None)


_KIND = {int: "an integer", float: "a number", str: "a string"}
_PLURAL = {int: "integers", float: "numbers", str: "strings"}


def allowed_values(model: type[BaseModel], field: str) -> str:
    """What a field accepts, in words: its ``allowed`` text, else from its type and bounds."""
    info = model.model_fields[field]
    extra = info.json_schema_extra
    if isinstance(extra, dict) and "allowed" in extra:
        return str(extra["allowed"])
    ann = info.annotation
    origin = get_origin(ann)
    if origin is Literal:
        return "one of " + ", ".join(json.dumps(a) for a in get_args(ann))
    if ann is bool:
        return "true or false"
    if origin is tuple:
        args = get_args(ann)
        if len(args) == 2 and args[1] is Ellipsis:
            item = args[0]
            base = get_args(item)[0] if get_origin(item) is Annotated else item
            lo = _bounds(getattr(item, "__metadata__", ()))
            n = next((m.min_length for m in info.metadata if isinstance(m, at.MinLen)), 0)
            return f"a list of >= {n} {_PLURAL.get(base, 'values')}" + (
                f", each {lo}" if lo else ""
            )
        return f"a list of {len(args)} values"
    kind = _KIND.get(ann, "a value")
    return f"{kind} {_bounds(info.metadata)}".strip()


def _bounds(metadata) -> str:
    from ._toml import format_number

    lo = hi = None
    for m in metadata:
        if isinstance(m, at.Ge):
            lo = ("[", m.ge)
        elif isinstance(m, at.Gt):
            lo = ("(", m.gt)
        elif isinstance(m, at.Le):
            hi = ("]", m.le)
        elif isinstance(m, at.Lt):
            hi = (")", m.lt)
        elif hasattr(m, "metadata"):  # FieldInfo inside Annotated
            return _bounds(m.metadata)
    if lo and hi:
        return f"in {lo[0]}{format_number(lo[1])}, {format_number(hi[1])}{hi[0]}"
    if lo:
        return f"{'>=' if lo[0] == '[' else '>'} {format_number(lo[1])}"
    if hi:
        return f"{'<=' if hi[0] == ']' else '<'} {format_number(hi[1])}"
    return ""


# --------------------------------------------------------------------------- unknown keys


def _top_keys(files: bool) -> list[str]:
    root = _root()
    return [k for k in root.model_fields if k not in root.SECTIONS] + (["base"] if files else [])


def key_listing(*, files: bool) -> str:
    """``"valid top-level keys: …; sections: [network], …"``."""
    sections = ", ".join(f"[{s}]" for s in _root().SECTIONS)
    return f"valid top-level keys: {', '.join(_top_keys(files))}; sections: {sections}"


def _closest(name: str, options: list[str]) -> str | None:
    close = difflib.get_close_matches(name, options, n=1, cutoff=0.7)
    return close[0] if close else None


def _home(name: str) -> str | None:
    """The section whose default model has a leaf key ``name``, if any."""
    root = _root()
    return next((s for s in root.SECTIONS if name in root.section_model(s).model_fields), None)


def unknown_key_message(
    name: str,
    section: str | None,
    data: Mapping | None = None,
    *,
    files: bool = True,
    value: object = None,
) -> str:
    """An unknown key's message: a guess at what was meant, and the valid keys of its section."""
    root = _root()
    top = _top_keys(files)
    sections = list(root.SECTIONS)
    hint = None
    if section is not None:
        valid = list(root.section_model(section, data).model_fields)
        if close := _closest(name, valid):
            hint = f'did you mean "{close}"?'
        elif home := _home(name):
            hint = f'"{name}" belongs in [{home}]'
        elif name in top:
            hint = f'"{name}" is a top-level key: put it before the first [section]'
        head = "unknown key" + (f" ({hint})" if hint else "")
        return f"{head}; valid keys in [{section}]: {', '.join(valid)}"
    if isinstance(value, Mapping):
        close = _closest(name, sections)
        head = "unknown section" + (f" (did you mean [{close}]?)" if close else "")
        return f"{head}; {key_listing(files=files)}"
    if close := _closest(name, top):
        hint = f'did you mean "{close}"?'
    elif close := _closest(name, sections):
        hint = f"did you mean [{close}]?"
    elif home := _home(name):
        hint = f'"{name}" belongs in [{home}]'
    head = "unknown key" + (f" ({hint})" if hint else "")
    return f"{head}; {key_listing(files=files)}"

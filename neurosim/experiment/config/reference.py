"""The config reference, generated from the schema: every key, its type, default, what is
allowed, its units and its docstring.

``neurosim reference`` prints it; ``docs/config_reference.md`` is its output (a test
keeps the file equal to what the schema says). Nothing here is written by hand:
a field's docstring, bounds and units are read from the field itself, so the
reference cannot drift from what validation accepts.
"""

from __future__ import annotations

import inspect
from typing import Annotated, Literal, get_args, get_origin

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from ...schema import field_units
from ._errors import allowed_values
from ._schema import Config
from ._toml import toml_value

__all__ = ["config_reference"]

_TYPES = {int: "integer", float: "float", str: "string", bool: "boolean"}


def _type_name(annotation) -> str:
    origin = get_origin(annotation)
    if origin is Literal:
        return "string"
    if origin is Annotated:
        return _type_name(get_args(annotation)[0])
    if origin is tuple:
        args = get_args(annotation)
        items = {_type_name(a) for a in args if a is not Ellipsis}
        noun = items.pop() if len(items) == 1 else "value"
        return f"array of {noun}s" if args[-1] is Ellipsis else f"array of {len(args)} {noun}s"
    return _TYPES.get(annotation, getattr(annotation, "__name__", str(annotation)))


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def _doc(info: FieldInfo) -> str:
    return _cell(info.description or "")


def _table(model: type[BaseModel], prefix: str) -> list[str]:
    rows = [
        "| key | type | default | allowed | units | meaning |",
        "|---|---|---|---|---|---|",
    ]
    for name, info in model.model_fields.items():
        default = info.get_default(call_default_factory=True)
        units = field_units(info)
        rows.append(
            f"| `{prefix}{name}` | {_type_name(info.annotation)} | `{_cell(toml_value(default))}` "
            f"| {_cell(allowed_values(model, name))} | {_cell(units or '')} | {_doc(info)} |"
        )
    return rows


def _heading_doc(model: type[BaseModel]) -> str:
    text = inspect.cleandoc(model.__doc__ or "")
    first = text.split("\n\n", 1)[0].replace("\n", " ")
    return first.split("] ", 1)[1] if first.startswith("[") and "] " in first else first


def config_reference() -> str:
    """The reference of every config key as Markdown (deterministic)."""
    out = [
        "# Config reference",
        "",
        "Generated from the schema by `neurosim reference` (`neurosim.experiment.config."
        "config_reference`); do not edit by hand. Units `1` mean dimensionless; an empty "
        "units cell means the key is not a number. A config file may also say "
        '`base = "<preset or path>"` to start from another config.',
        "",
        "## Top-level keys",
        "",
    ]
    top = [n for n in Config.model_fields if n not in Config.SECTIONS]
    rows = _table(Config, "")
    out += rows[:2] + [r for r, n in zip(rows[2:], Config.model_fields, strict=True) if n in top]
    for section in Config.SECTIONS:
        if section in Config.KINDS:
            registry = Config.KINDS[section]
            out += [
                "",
                f"## [{section}]",
                "",
                f"The section is the {registry.kind} its `kind` key names "
                f'(default `"{Config.default_kind(section)}"`; registered: '
                + ", ".join(f"`{k}`" for k in registry)
                + "); each has its own keys.",
            ]
            for kind, model in registry.items():
                out += ["", f'### [{section}] kind = "{kind}"', "", _heading_doc(model), ""]
                out += _table(model, f"{section}.")
        else:
            model = Config.section_model(section)
            out += ["", f"## [{section}]", "", _heading_doc(model), ""]
            out += _table(model, f"{section}.")
    return "\n".join(out) + "\n"

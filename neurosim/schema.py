r"""The base of every object a config section describes: frozen, strict, documented.

A runtime object that a TOML section configures (a device model, a neuron model,
an integrator, an estimator) is a :class:`Schema`: a frozen pydantic model whose
fields — with their defaults, bounds, units and docstrings — are the *single*
definition of that section's keys. The config validates a section directly into
it, so what ``neurosim validate`` accepts is what the object accepts.

Conventions
-----------
* ``frozen``: instances are immutable and hashable; ``extra = "forbid"``: a
  misspelt key is an error, never silently dropped; ``strict``: TOML is typed
  (``"100"`` is not an integer, ``true`` not a number; an integer is accepted
  for a float); no inf/nan unless a field says so.
* Every field has a docstring (the attribute docstring below it): meaning,
  symbol, units, what is allowed.
* :func:`param` attaches the field's *units* and, where the bounds do not say
  it all, the *allowed* values in words; both appear in error messages and in
  the generated config reference (``docs/config_reference.md``).
* A rule that involves several fields raises :class:`FieldError` naming the
  field to blame, with a one-line message that ends in ``allowed: …``.
* ``repr`` shows only the fields that differ from the defaults.
"""

from __future__ import annotations

import copy
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.fields import FieldInfo

__all__ = [
    "SCHEMA_CONFIG",
    "FieldError",
    "Schema",
    "borrow",
    "build_prefixed",
    "field_units",
    "param",
]

SCHEMA_CONFIG = ConfigDict(
    frozen=True,
    extra="forbid",
    strict=True,
    allow_inf_nan=False,
    use_attribute_docstrings=True,
    # ``model`` names nothing here; device and neuron models have a ``kind`` field
    protected_namespaces=(),
)


class FieldError(ValueError):
    """A rule broken by a field's value: raised in a validator to blame ``field``.

    ``field`` is a field of the model being validated (``"dt"``), or a dotted path
    below it (``"substrate.backend"`` from the top-level config). The message is one
    line and says what is allowed.
    """

    def __init__(self, field: str, message: str):
        self.field = field
        super().__init__(" ".join(str(message).split()))

    def __reduce__(self):
        return type(self), (self.field, str(self))


class Schema(BaseModel):
    """Frozen, strict, documented; ``repr`` shows only the fields that differ from the defaults."""

    model_config = SCHEMA_CONFIG

    def __repr_args__(self):
        for name, info in type(self).model_fields.items():
            value = getattr(self, name)
            if info.is_required() or value != info.get_default(call_default_factory=True):
                yield name, value

    def __str__(self) -> str:
        return repr(self)


def param(default: Any, *, units: str = "1", allowed: str | None = None, **kwargs: Any) -> Any:
    """A :func:`pydantic.Field` with ``units`` (``"1"``: dimensionless; ``""``: not a number)
    and optionally ``allowed``, the accepted values in words when the bounds alone do
    not say it (``"0 (analog) or an integer >= 2"``)."""
    extra = {"units": units}
    if allowed is not None:
        extra["allowed"] = allowed
    return Field(default, json_schema_extra=extra, **kwargs)


def field_units(info: FieldInfo) -> str | None:
    """The units :func:`param` attached to a field, or None."""
    extra = info.json_schema_extra
    return extra.get("units") if isinstance(extra, dict) else None


def borrow(model: type[BaseModel], name: str, *, note: str | None = None) -> Any:
    """Field ``name`` of ``model`` (default, bounds, units, docstring) for another model.

    A config section that passes a key on to a runtime object declares the key with
    the object's own definition, ``dt: float = borrow(LeakyEuler, "dt")``, so it is
    defined once. ``note`` is put in front of the docstring (``"ADC:"``) when the key
    appears under a prefixed name.
    """
    field = copy.deepcopy(model.model_fields[name])
    if note is not None:
        field.description = f"{note} {field.description or ''}"
    return field


def build_prefixed(model: type[BaseModel], owner: BaseModel, prefix: str) -> Any:
    """``model`` built from the keys ``prefix + field`` of ``owner`` (those it has).

    The counterpart of :func:`borrow` under a prefix (``adc_offset`` → ``offset``): a
    rule ``model`` breaks is raised as a :class:`FieldError` blaming ``owner``'s key, so
    a validator of ``owner`` can call this to check the nested object.
    """
    keys = {f: getattr(owner, prefix + f) for f in model.model_fields if hasattr(owner, prefix + f)}
    try:
        return model(**keys)
    except ValidationError as exc:
        err = exc.errors()[0]
        cause = err.get("ctx", {}).get("error")
        name = cause.field if isinstance(cause, FieldError) else str(err["loc"][-1])
        raise FieldError(prefix + name, str(cause or err["msg"])) from None

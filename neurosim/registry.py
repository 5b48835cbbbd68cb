r"""Name → class registries: one pattern for every extensible choice.

Every concept a config names by a string (an activation, an estimator, an
integrator, a device or neuron model, a learning rule, a task, a backend) has
one :class:`Registry`. It is the *only* place that name is resolved: the config
schema takes its allowed values from it, and a user who registers a class of
their own (``register_device_model(MyDevice)``) can name it in a TOML file at
once::

    DEVICE_MODELS = Registry("device model")

    @DEVICE_MODELS.register
    class MyDevice(AbstractDeviceModel):
        kind: Literal["mine"] = "mine"
        ...

    DEVICE_MODELS.get("mine")       # -> MyDevice
    DEVICE_MODELS.get("yours")      # UnknownNameError: unknown device model 'yours'; allowed: …

A registry is a :class:`~collections.abc.Mapping` from names to what was
registered, in sorted name order, changed only by :meth:`Registry.register` and
:meth:`Registry.unregister`. Listeners (:meth:`Registry.subscribe`) are called
after each change; the config schema uses this to refresh its choices.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any, Generic, TypeVar

__all__ = ["Registry", "UnknownNameError"]

T = TypeVar("T")


class UnknownNameError(KeyError, ValueError):
    """A name that is not in a registry; ``str`` is one line listing the registered names.

    A :class:`KeyError` (a failed lookup) and a :class:`ValueError` (a bad value), whose
    message is printed as written rather than as a quoted key.
    """

    def __init__(self, message: str):
        self.message = " ".join(str(message).split())
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message

    def __reduce__(self):  # picklable across processes
        return type(self), (self.message,)


class Registry(Mapping[str, T], Generic[T]):
    """A named collection of registered classes (or factories).

    Parameters
    ----------
    kind
        What the entries are, in words (``"estimator"``, ``"device model"``); used in errors.
    key
        How an entry gives its name: the attribute read by :meth:`register` when no name
        is passed (default ``"name"``). A string attribute, or for pydantic models a
        field whose default is the name (``kind: Literal["mine"] = "mine"``).
    """

    def __init__(self, kind: str, *, key: str = "name"):
        self.kind = kind
        self.key = key
        self._entries: dict[str, T] = {}
        self._listeners: list[Callable[[], None]] = []

    # -- Mapping -----------------------------------------------------------------------
    def __getitem__(self, name: str) -> T:
        return self.get(name)

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._entries))

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}: {', '.join(self)})"

    # -- the pattern -------------------------------------------------------------------
    def name_of(self, entry: Any) -> str:
        """The registry name an entry declares (its ``key`` attribute or field default)."""
        fields = getattr(entry, "model_fields", None)
        if fields is not None and self.key in fields:
            name = fields[self.key].default
        else:
            name = getattr(entry, self.key, None)
        if not isinstance(name, str) or not name:
            raise TypeError(f"{entry!r} declares no {self.kind} name (attribute {self.key!r})")
        return name

    def register(self, entry: T | None = None, *, name: str | None = None):
        """Add ``entry`` under ``name`` (default: the name it declares); returns ``entry``.

        Usable as a decorator, bare or with a name. Registering a name again replaces
        the previous entry (a user's class may shadow a built-in on purpose).
        """

        def add(obj: T) -> T:
            self._entries[name if name is not None else self.name_of(obj)] = obj
            for listener in list(self._listeners):
                listener()
            return obj

        return add if entry is None else add(entry)

    def unregister(self, name: str) -> T:
        """Remove the entry ``name`` and return it (listeners are told)."""
        entry = self.get(name)
        del self._entries[name]
        for listener in list(self._listeners):
            listener()
        return entry

    def get(self, name: str, default: Any = ...) -> T:  # type: ignore[override]
        """The entry called ``name``; :class:`UnknownNameError` listing the names if none."""
        try:
            return self._entries[name]
        except (KeyError, TypeError):
            if default is not ...:
                return default
            raise UnknownNameError(
                f"unknown {self.kind} {name!r}; allowed: {', '.join(self)}"
            ) from None

    def build(self, name: str, /, **kwargs: Any) -> Any:
        """``self.get(name)(**kwargs)``: an instance of the entry called ``name``."""
        return self.get(name)(**kwargs)

    def subscribe(self, listener: Callable[[], None]) -> None:
        """Call ``listener()`` after every future registration."""
        self._listeners.append(listener)

"""Relaxation engines behind one interface: torch (reference), numba, brian2, auto.

``get_backend(name)`` resolves the config's ``substrate.backend``; a backend's
``relax`` plugs into :class:`~neurosim.learning.FreePhase` and
:class:`~neurosim.learning.NudgedPhase` as their relaxation hook.
"""

from __future__ import annotations

from ._auto import (
    AUTO_MAX_WORK as AUTO_MAX_WORK,
    AutoBackend as AutoBackend,
    Calibration as Calibration,
)
from ._base import (
    AbstractBackend as AbstractBackend,
    TorchBackend as TorchBackend,
    UnsupportedError as UnsupportedError,
)
from .brian2 import Brian2Backend as Brian2Backend
from .numba import NumbaBackend as NumbaBackend

BACKENDS: dict[str, type[AbstractBackend]] = {
    cls.name: cls for cls in (TorchBackend, NumbaBackend, Brian2Backend, AutoBackend)
}


def get_backend(name: str, **kwargs) -> AbstractBackend:
    """Build a backend from its registry name and keyword parameters."""
    try:
        cls = BACKENDS[name]
    except KeyError:
        raise KeyError(
            f"unknown backend {name!r}; allowed: {', '.join(sorted(BACKENDS))}"
        ) from None
    return cls(**kwargs)


__all__ = [
    "AbstractBackend",
    "AutoBackend",
    "AUTO_MAX_WORK",
    "BACKENDS",
    "Brian2Backend",
    "Calibration",
    "NumbaBackend",
    "TorchBackend",
    "UnsupportedError",
    "get_backend",
]

"""Relaxation engines behind one interface: torch (reference), numba, brian2, auto.

``get_backend(name)`` resolves the config's ``substrate.backend``; a backend's
``relax`` plugs into :class:`~neurosim.learning.FreePhase` and
:class:`~neurosim.learning.NudgedPhase` as their relaxation hook.
"""

from __future__ import annotations

from ..registry import Registry
from ._auto import (
    AUTO_MAX_WORK as AUTO_MAX_WORK,
    AutoBackend as AutoBackend,
    Calibration as Calibration,
    step_work as step_work,
)
from ._base import (
    AbstractBackend as AbstractBackend,
    RelaxationNeeds as RelaxationNeeds,
    TorchBackend as TorchBackend,
    UnsupportedError as UnsupportedError,
)
from .brian2 import Brian2Backend as Brian2Backend
from .numba import NumbaBackend as NumbaBackend

BACKENDS: Registry[type[AbstractBackend]] = Registry("backend")
"""Relaxation engines by name: the values ``substrate.backend`` accepts."""


def register_backend(cls: type[AbstractBackend]) -> type[AbstractBackend]:
    """Add a backend class under its ``name`` (usable as a class decorator)."""
    return BACKENDS.register(cls)


for _cls in (TorchBackend, NumbaBackend, Brian2Backend, AutoBackend):
    register_backend(_cls)


def get_backend(name: str, **kwargs) -> AbstractBackend:
    """Build a backend from its registry name and keyword parameters."""
    return BACKENDS.build(name, **kwargs)


__all__ = [
    "AbstractBackend",
    "AutoBackend",
    "AUTO_MAX_WORK",
    "BACKENDS",
    "Brian2Backend",
    "Calibration",
    "NumbaBackend",
    "RelaxationNeeds",
    "TorchBackend",
    "UnsupportedError",
    "get_backend",
    "register_backend",
    "step_work",
]

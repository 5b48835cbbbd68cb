"""Brian2 simulation of the continuous-time relaxation; see :class:`Brian2Backend`."""

from ._backend import Brian2Backend as Brian2Backend, real_estimators as real_estimators

__all__ = ["Brian2Backend", "real_estimators"]

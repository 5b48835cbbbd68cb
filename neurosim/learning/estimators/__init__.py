"""Estimators of δ_EP = ds*/dβ, one per file, resolved by name from :data:`ESTIMATORS`."""

from __future__ import annotations

from .base import (
    AbstractEstimator as AbstractEstimator,
    AbstractProbeEstimator as AbstractProbeEstimator,
    Estimate as Estimate,
    NudgedPhase as NudgedPhase,
)
from .centered import Centered as Centered
from .exact import Exact as Exact
from .holomorphic import Holomorphic as Holomorphic
from .one_sided import OneSided as OneSided
from .online import OnlineHolomorphic as OnlineHolomorphic

ESTIMATORS: dict[str, type[AbstractEstimator]] = {
    cls.name: cls for cls in (OneSided, Centered, Holomorphic, OnlineHolomorphic, Exact)
}


def get_estimator(kind: str, **kwargs) -> AbstractEstimator:
    """Build an estimator from its registry name and keyword parameters."""
    try:
        cls = ESTIMATORS[kind]
    except KeyError:
        raise KeyError(
            f"unknown estimator {kind!r}; allowed: {', '.join(sorted(ESTIMATORS))}"
        ) from None
    return cls(**kwargs)


__all__ = [
    "AbstractEstimator",
    "AbstractProbeEstimator",
    "Estimate",
    "NudgedPhase",
    "Centered",
    "Exact",
    "Holomorphic",
    "OneSided",
    "OnlineHolomorphic",
    "ESTIMATORS",
    "get_estimator",
]

"""Estimators of δ_EP = ds*/dβ, one per file, resolved by name from :data:`ESTIMATORS`."""

from __future__ import annotations

from .base import (
    ESTIMATORS as ESTIMATORS,
    AbstractEstimator as AbstractEstimator,
    AbstractProbeEstimator as AbstractProbeEstimator,
    CircleNudge as CircleNudge,
    Estimate as Estimate,
    NudgedPhase as NudgedPhase,
    RealNudge as RealNudge,
    get_estimator as get_estimator,
    register_estimator as register_estimator,
)
from .centered import Centered as Centered
from .exact import Exact as Exact
from .holomorphic import Holomorphic as Holomorphic
from .one_sided import OneSided as OneSided
from .online import OnlineHolomorphic as OnlineHolomorphic

__all__ = [
    "AbstractEstimator",
    "AbstractProbeEstimator",
    "CircleNudge",
    "Estimate",
    "NudgedPhase",
    "RealNudge",
    "Centered",
    "Exact",
    "Holomorphic",
    "OneSided",
    "OnlineHolomorphic",
    "ESTIMATORS",
    "get_estimator",
    "register_estimator",
]

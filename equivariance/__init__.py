"""equivariance: PyTorch equivariant layers used as neurosim workloads (DESIGN.md §6)."""

from . import so3 as so3
from .strength import (
    VIOLATION_CLIP as VIOLATION_CLIP,
    AbstractStrengthTuner as AbstractStrengthTuner,
    DualAscent as DualAscent,
    FixedStrength as FixedStrength,
    KimRescale as KimRescale,
)

__version__ = "0.1.0"

__all__ = [
    "so3",
    "VIOLATION_CLIP",
    "AbstractStrengthTuner",
    "DualAscent",
    "FixedStrength",
    "KimRescale",
]

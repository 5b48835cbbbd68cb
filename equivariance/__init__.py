"""equivariance: PyTorch equivariant layers used as neurosim workloads (docs/design.md §6)."""

from . import lie as lie, so3 as so3, soft as soft
from .backbones import GNNBackbone as GNNBackbone, MLPBackbone as MLPBackbone
from .frames import (
    DegenerateFrameWarning as DegenerateFrameWarning,
    Frame as Frame,
    FrameAveraging as FrameAveraging,
    pca_frame as pca_frame,
)
from .strength import (
    VIOLATION_CLIP as VIOLATION_CLIP,
    AbstractStrengthTuner as AbstractStrengthTuner,
    DualAscent as DualAscent,
    EmpiricalBayes as EmpiricalBayes,
    FixedStrength as FixedStrength,
    KimRescale as KimRescale,
)

__version__ = "0.1.0"

__all__ = [
    "lie",
    "so3",
    "soft",
    "GNNBackbone",
    "MLPBackbone",
    "DegenerateFrameWarning",
    "Frame",
    "FrameAveraging",
    "pca_frame",
    "VIOLATION_CLIP",
    "AbstractStrengthTuner",
    "DualAscent",
    "EmpiricalBayes",
    "FixedStrength",
    "KimRescale",
]

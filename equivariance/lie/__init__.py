"""Affine Lie groups: GL⁺(n,ℝ), SL(n,ℝ) via g = k·exp(s), Haar sampling, lifting and group
convolutions with SIREN kernels (Mironenco & Forré, ICLR 2024; docs/design.md §6)."""

from ._conv import (
    SIREN as SIREN,
    GroupConv as GroupConv,
    LiftingConv as LiftingConv,
    kernel_offsets as kernel_offsets,
    pool_group as pool_group,
    subpixel_offsets as subpixel_offsets,
    transform_images as transform_images,
)
from ._groups import (
    SL as SL,
    SO as SO,
    AbstractMatrixGroup as AbstractMatrixGroup,
    GLPlus as GLPlus,
    rotation2d as rotation2d,
    sym_exp as sym_exp,
    sym_log as sym_log,
)
from ._haar import (
    GroupSamples as GroupSamples,
    log_haar_density as log_haar_density,
    sample_so as sample_so,
    sample_traceless_symmetric as sample_traceless_symmetric,
    sinhc as sinhc,
)
from ._models import GroupCNN as GroupCNN, PlainCNN as PlainCNN

__all__ = [
    "AbstractMatrixGroup",
    "GLPlus",
    "GroupCNN",
    "GroupConv",
    "GroupSamples",
    "LiftingConv",
    "PlainCNN",
    "SIREN",
    "SL",
    "SO",
    "kernel_offsets",
    "log_haar_density",
    "pool_group",
    "rotation2d",
    "sample_so",
    "sample_traceless_symmetric",
    "sinhc",
    "subpixel_offsets",
    "sym_exp",
    "sym_log",
    "transform_images",
]

r"""Equivariant workloads for the relaxation substrate, one module per workload.

Each returns an :class:`EquivariantTask` (data + the task's own test error); the
route to a symmetric relaxation network is described in
:mod:`neurosim.substrate.equivariant`:

``spherical`` (:func:`spherical_molecules`)
    invariant regression on spherical-harmonic embeddings of point clouds, for a
    Gaunt relaxation network;
``nbody_frames`` (:func:`nbody_frames`)
    charged n-body forecasting canonicalized into every element of a PCA frame,
    averaged back (exactly E(3)-equivariant);
``affine_lifted`` (:func:`affine_lifted`)
    affine digits through a GL⁺(2) lifting layer (frozen, pretrained or trained
    through the relaxation).

The config's ``workload.task`` names them through the task registry of
:mod:`neurosim.experiment.tasks`.
"""

from ._affine_lifted import (
    FEATURE_SCALE as FEATURE_SCALE,
    PRETRAIN_EPOCHS as PRETRAIN_EPOCHS,
    AffineLiftingEncoder as AffineLiftingEncoder,
    AffineLiftingMap as AffineLiftingMap,
    affine_lifted as affine_lifted,
    affine_lifting_map as affine_lifting_map,
    pretrained_lifting_encoder as pretrained_lifting_encoder,
)
from ._nbody_frames import (
    FrameRows as FrameRows,
    frame_average as frame_average,
    frame_rows as frame_rows,
    nbody_frames as nbody_frames,
)
from ._spherical import (
    spherical_embedding as spherical_embedding,
    spherical_molecules as spherical_molecules,
)
from ._task import EquivariantTask as EquivariantTask

__all__ = [
    "EquivariantTask",
    "spherical_embedding",
    "spherical_molecules",
    "FrameRows",
    "frame_rows",
    "frame_average",
    "nbody_frames",
    "AffineLiftingEncoder",
    "AffineLiftingMap",
    "FEATURE_SCALE",
    "PRETRAIN_EPOCHS",
    "affine_lifting_map",
    "affine_lifted",
    "pretrained_lifting_encoder",
]

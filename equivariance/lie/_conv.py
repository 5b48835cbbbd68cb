r"""Lifting and group convolutions on :math:`\mathbb{R}^2 \rtimes H`, :math:`H \subseteq GL^+(2)`.

Continuous layers (correlation form, :math:`|\det h|^{-1}` keeps them exactly equivariant):

.. math::

    \text{lifting:}\quad [f \star \psi](x, h) = \int_{\mathbb{R}^2} f(x + d)\,
        \psi(h^{-1} d)\,\frac{dd}{|\det h|},

    \text{group:}\quad [F \star \Psi](x, h) = \int_H \int_{\mathbb{R}^2} F(x + d, h')\,
        \Psi(h^{-1} d,\; h^{-1} h')\,\frac{dd}{|\det h|}\, d\mu(h'),

so that with :math:`(L_{t,g} f)(y) = f(g^{-1}(y - t))`,
:math:`[L_{t,g} f \star \psi](x, h) = [f \star \psi](g^{-1}(x - t), g^{-1} h)` and likewise
for the group layer. Kernels are SIREN networks (Sitzmann et al. 2020) of continuous
coordinates, evaluated directly at the transformed offsets :math:`h^{-1}d` (no
interpolation) and, for the group layer, at the smooth global coordinates
:meth:`~AbstractMatrixGroup.features` of :math:`h^{-1}h'` (Mironenco & Forré, ICLR 2024).

Discretization
    :math:`d` runs over the ``k × k`` pixel offsets (unit = half the kernel width, so
    offsets lie in :math:`[-1, 1]^2`; a smooth radial window :math:`\sigma(a(1-|u|))`
    on :math:`u = h^{-1} d` makes the kernel decay inside the box; with ``supersample =
    S > 1`` each pixel's value is the mean over :math:`S \times S` sub-pixel points
    :math:`h^{-1}(d + \delta)`, the integral over the pixel footprint, which low-passes
    the learned kernel before it is sampled), the integral over
    :math:`H` is the weighted sum over a :class:`GroupSamples` set :math:`\{(h_j, w_j)\}`
    (Monte Carlo, :math:`\sum_j w_j = 1`), and outputs are computed at the same
    :math:`h_i`. Each layer is one ``conv2d`` with a kernel of shape
    ``(C_out·N, C_in·N, k, k)`` (group) or ``(C_out·N, C_in, k, k)`` (lifting).

Image coordinates
    Pixel ``(row i, col j)`` of an ``H × W`` image is the point
    :math:`(x, y) = (j - (W-1)/2,\; i - (H-1)/2)` (pixel units, centred);
    :func:`transform_images` applies :math:`(L_{t,A} f)(p) = f(A^{-1}(p - t))` in these
    coordinates.

What is exact (the promise tested in ``tests/test_lie_conv.py``)
    Let :math:`R` be the rotation by 90° and the sample set be closed under
    :math:`h \mapsto R h` (``group.sample(..., orbit=4)``; weights depend on :math:`s`
    only, which left rotations keep). :math:`R` maps the pixel lattice, the ``k × k``
    box, zero "same" padding and (for even sizes) 2×2 pooling blocks onto
    themselves, so for square images the discrete layers satisfy
    :math:`\mathrm{Lift}(L_R f)(\cdot, R h_i) = L_R\,\mathrm{Lift}(f)(\cdot, h_i)` and the
    same for the group layer *exactly* (to float rounding), and the weighted mean over
    :math:`H` followed by spatial pooling is exactly invariant. Integer translations
    are exact away from the border. Any other :math:`g` (non-lattice rotations, scalings,
    shears) is equivariant only up to the pixel discretization, the finite kernel box,
    and the Monte Carlo error of an unpermuted sample set, :math:`O(N^{-1/2})`.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ._groups import AbstractMatrixGroup, sym_exp
from ._haar import GroupSamples

__all__ = [
    "SIREN",
    "LiftingConv",
    "GroupConv",
    "kernel_offsets",
    "pool_group",
    "subpixel_offsets",
    "transform_images",
]


class SIREN(nn.Module):
    """Sine-activated MLP :math:`\\mathbb{R}^{m} \\to \\mathbb{R}^{p}` (Sitzmann et al. 2020).

    .. math:: z_1 = \\sin(\\omega_0 (W_1 u + b_1)),\\quad z_{l+1} = \\sin(\\omega_0(W_{l+1} z_l
              + b_{l+1})),\\quad y = W_{out} z_L + b_{out}

    with SIREN's initialization (first layer :math:`U(-1/m, 1/m)`, later ones
    :math:`U(-\\sqrt{6/h}/\\omega_0, \\sqrt{6/h}/\\omega_0)`). :math:`\\omega_0` sets the
    kernel's spatial frequency: 30 in the SIREN paper; smaller values give smoother
    kernels, which interpolate better between group samples.

    Parameters
    ----------
    in_features, out_features : int
    hidden : int
        Width of the sine layers.
    layers : int
        Number of sine layers (``>= 1``).
    omega0 : float
        Frequency factor :math:`\\omega_0`.
    generator : torch.Generator, optional
        Draws every parameter (weights as above, biases and the output layer as
        :class:`torch.nn.Linear` does); ``None`` uses torch's global generator.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        hidden: int = 32,
        layers: int = 2,
        omega0: float = 10.0,
        generator: torch.Generator | None = None,
    ):
        super().__init__()
        if layers < 1:
            raise ValueError(f"SIREN needs at least one sine layer, got {layers}")
        self.omega0 = float(omega0)
        dims = [in_features] + [hidden] * layers
        self.sines = nn.ModuleList(
            nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:], strict=True)
        )
        self.out = nn.Linear(hidden, out_features)
        with torch.no_grad():
            if generator is not None:  # nn.Linear's own initialization, from ``generator``
                for lin in (*self.sines, self.out):
                    bound = 1.0 / math.sqrt(lin.in_features)
                    lin.weight.uniform_(-bound, bound, generator=generator)
                    lin.bias.uniform_(-bound, bound, generator=generator)
            for i, lin in enumerate(self.sines):
                bound = 1.0 / lin.in_features if i == 0 else math.sqrt(6 / lin.in_features) / omega0
                lin.weight.uniform_(-bound, bound, generator=generator)

    def hidden_features(self, u: torch.Tensor) -> torch.Tensor:
        """Last sine layer :math:`z_L`, ``(..., in_features) -> (..., hidden)``."""
        for lin in self.sines:
            u = torch.sin(self.omega0 * lin(u))
        return u

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        """``(..., in_features) -> (..., out_features)``."""
        return self.out(self.hidden_features(u))

    def footprint_mean(self, u: torch.Tensor, window: torch.Tensor) -> torch.Tensor:
        r""":math:`\frac1S\sum_s \sigma_s\,y(u_s)` over the second-to-last axis of ``u``.

        ``u (..., S, in_features)``, ``window (..., S)`` → ``(..., out_features)``. The
        read-out is affine, so the mean is taken on the hidden layer:
        :math:`W_{out}\overline{\sigma z} + b_{out}\bar\sigma` (``S`` times cheaper).
        """
        z = (self.hidden_features(u) * window[..., None]).mean(-2)
        return F.linear(z, self.out.weight) + self.out.bias * window.mean(-1)[..., None]


def subpixel_offsets(supersample: int, dtype=torch.float32, device=None) -> torch.Tensor:
    r"""Centres ``(S², 2)`` of an ``S × S`` split of the unit pixel, relative to its centre.

    :math:`\delta_{ab} = ((b - (S-1)/2)/S,\; (a - (S-1)/2)/S)` in pixel units; the set is
    closed under 90° rotations (and reflections), so supersampled kernels keep the
    exact lattice equivariance of the module docstring.
    """
    if supersample < 1:
        raise ValueError(f"supersample must be >= 1, got {supersample}")
    t = torch.arange(supersample, dtype=dtype, device=device)
    t = (t - (supersample - 1) / 2) / supersample
    yy, xx = torch.meshgrid(t, t, indexing="ij")
    return torch.stack([xx, yy], dim=-1).reshape(-1, 2)


def kernel_offsets(kernel_size: int, dtype=torch.float32, device=None) -> torch.Tensor:
    """Offsets ``(k, k, 2)`` of a ``k × k`` box as points :math:`(x, y)` in :math:`[-1, 1]^2`.

    Entry ``[a, b]`` is the offset of kernel row ``a``, column ``b``:
    :math:`((b - c)/c,\\; (a - c)/c)` with :math:`c = (k-1)/2` (``k`` odd).
    """
    if kernel_size < 3 or kernel_size % 2 == 0:
        raise ValueError(f"kernel_size must be odd and >= 3, got {kernel_size}")
    c = (kernel_size - 1) / 2
    t = (torch.arange(kernel_size, dtype=dtype, device=device) - c) / c
    yy, xx = torch.meshgrid(t, t, indexing="ij")
    return torch.stack([xx, yy], dim=-1)


def _inverse(samples: GroupSamples) -> torch.Tensor:
    """:math:`h^{-1} = e^{-s} k^\\top` for every sample ``(N, 2, 2)``."""
    return sym_exp(-samples.s) @ samples.k.transpose(-1, -2)


def _inv_det(samples: GroupSamples) -> torch.Tensor:
    """:math:`|\\det h|^{-1} = e^{-\\operatorname{tr} s}` ``(N,)``."""
    return torch.exp(-samples.s.diagonal(dim1=-2, dim2=-1).sum(-1))


class _KernelLayer(nn.Module):
    """What lifting and group layers share: the SIREN kernel, its window and sub-pixel
    offsets, the bias. Subclasses say how many coordinates the SIREN reads
    (:meth:`_kernel_inputs`) and build the conv2d kernel."""

    def __init__(
        self,
        group: AbstractMatrixGroup,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 5,
        *,
        hidden: int = 32,
        layers: int = 2,
        omega0: float = 10.0,
        window_slope: float = 4.0,
        bias: bool = True,
        supersample: int = 1,
        generator: torch.Generator | None = None,
    ):
        super().__init__()
        if group.n != 2:
            raise ValueError(f"image convolutions need a group of 2x2 matrices, got {group}")
        self.group = group
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size = kernel_size
        self.window_slope = float(window_slope)
        self.siren = SIREN(
            self._kernel_inputs(group),
            out_channels * in_channels,
            hidden=hidden,
            layers=layers,
            omega0=omega0,
            generator=generator,
        )
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        self.supersample = int(supersample)
        # float64 buffers (cast to the samples' dtype in _coords): 1/3 and (a - 3)/3 are not
        # float32 numbers, so a float32 buffer would blur float64 layers at 1e-8
        f64 = torch.float64
        c = (kernel_size - 1) / 2
        self.register_buffer("offsets", kernel_offsets(kernel_size, f64), persistent=False)
        self.register_buffer(
            "sub_offsets", subpixel_offsets(self.supersample, f64) / c, persistent=False
        )
        self.gain = 1.0 / math.sqrt(in_channels * kernel_size**2)

    @staticmethod
    def _kernel_inputs(group: AbstractMatrixGroup) -> int:
        """Number of coordinates the kernel SIREN reads."""
        raise NotImplementedError

    def _coords(self, samples: GroupSamples) -> torch.Tensor:
        r"""Transformed offsets :math:`h_i^{-1} (d + \delta_s)` ``(N, k, k, S², 2)`` and their
        window ``(N, k, k, S²)``."""
        dtype = samples.g.dtype
        d = self.offsets.to(dtype)[:, :, None] + self.sub_offsets.to(dtype)
        u = torch.einsum("nij,absj->nabsi", _inverse(samples), d)
        window = torch.sigmoid(self.window_slope * (1 - torch.linalg.vector_norm(u, dim=-1)))
        return u, window

    def _finish(self, y: torch.Tensor, n: int) -> torch.Tensor:
        b, _, h, w = y.shape
        y = y.reshape(b, self.out_channels, n, h, w)
        if self.bias is not None:
            y = y + self.bias.view(1, -1, 1, 1, 1)
        return y

    def extra_repr(self) -> str:
        return (
            f"{self.group}, {self.in_channels} -> {self.out_channels}, "
            f"kernel_size={self.kernel_size}"
        )


class LiftingConv(_KernelLayer):
    """Lifting convolution: images ``(B, C_in, H, W)`` → functions ``(B, C_out, N, H, W)`` on
    :math:`\\mathbb{R}^2 \\rtimes H` sampled at the ``N`` elements of a :class:`GroupSamples`.

    .. math:: F(x, h_i) = \\frac{1}{|\\det h_i|} \\sum_{d} f(x + d)\\,\\psi(h_i^{-1} d)

    with :math:`\\psi` a SIREN :math:`\\mathbb{R}^2 \\to \\mathbb{R}^{C_{out} C_{in}}` times a
    radial window (module docstring for the equivariance that holds exactly).

    Parameters
    ----------
    group : AbstractMatrixGroup
        :math:`H` (2×2 matrices); only used for its dimension checks here.
    in_channels, out_channels, kernel_size : int
    hidden, layers, omega0 : SIREN width, depth and frequency.
    window_slope : float
        Slope ``a`` of the window :math:`\\sigma(a(1 - |h^{-1}d|))`.
    bias : bool
    supersample : int
        ``S``: each kernel pixel is the mean of the windowed kernel at ``S × S`` sub-pixel
        points :math:`h^{-1}(d + \\delta_s)` (:func:`subpixel_offsets`), i.e. the
        integral of :math:`\\psi(h^{-1}\\cdot)` over the pixel footprint by the midpoint
        rule, an anti-aliasing box filter that follows :math:`h`. ``1`` = point sampling.
    generator : torch.Generator, optional
        Draws the SIREN's parameters (:class:`SIREN`); ``None``: torch's global generator.
    """

    @staticmethod
    def _kernel_inputs(group: AbstractMatrixGroup) -> int:
        return 2  # the transformed offset h^{-1} d

    def kernel(self, samples: GroupSamples) -> torch.Tensor:
        """Kernel ``(C_out·N, C_in, k, k)`` for ``samples`` (out-channel major)."""
        u, window = self._coords(samples)  # (N, k, k, S², 2), (N, k, k, S²)
        psi = self.siren.footprint_mean(u, window)  # (N, k, k, C_out·C_in)
        psi = psi * (_inv_det(samples)[:, None, None] * self.gain)[..., None]
        n, k = samples.num, self.kernel_size
        psi = psi.reshape(n, k, k, self.out_channels, self.in_channels)
        return psi.permute(3, 0, 4, 1, 2).reshape(self.out_channels * n, self.in_channels, k, k)

    def forward(self, x: torch.Tensor, samples: GroupSamples) -> torch.Tensor:
        """``x (B, C_in, H, W)`` → ``(B, C_out, N, H, W)``."""
        y = F.conv2d(x, self.kernel(samples).to(x.dtype), padding=self.kernel_size // 2)
        return self._finish(y, samples.num)


class GroupConv(_KernelLayer):
    """Group convolution on :math:`\\mathbb{R}^2 \\rtimes H`, ``(B, C_in, N, H, W)`` to ``C_out``.

    .. math:: \\Phi(x, h_i) = \\frac{1}{|\\det h_i|} \\sum_j w_j \\sum_d F(x + d, h_j)\\,
              \\Psi\\bigl(h_i^{-1} d,\\; \\xi(h_i^{-1} h_j)\\bigr)

    with :math:`\\xi` = :meth:`~AbstractMatrixGroup.features` (for n = 2:
    :math:`\\cos\\theta, \\sin\\theta` and the entries of :math:`s`), :math:`w_j` the
    sample weights (the Monte Carlo rule of the Haar integral) and :math:`\\Psi` a SIREN
    :math:`\\mathbb{R}^{2 + \\dim\\xi} \\to \\mathbb{R}^{C_{out} C_{in}}` times the radial
    window on :math:`h_i^{-1} d`. Input and output live on the same sample set.

    Parameters are those of :class:`LiftingConv`.
    """

    @staticmethod
    def _kernel_inputs(group: AbstractMatrixGroup) -> int:
        return 2 + group.n_features  # h_i^{-1} d and the coordinates of h_i^{-1} h_j

    def kernel(self, samples: GroupSamples) -> torch.Tensor:
        """Kernel ``(C_out·N, C_in·N, k, k)`` (output sample ``i``, input sample ``j``)."""
        n, k = samples.num, self.kernel_size
        u, window = self._coords(samples)  # (N_out, k, k, S², 2), (N_out, k, k, S²)
        m = u.shape[-2]
        rel = _inverse(samples)[:, None] @ samples.g[None]  # h_i^{-1} h_j, (N_out, N_in, 2, 2)
        xi = self.group.features(rel)  # (N_out, N_in, F)
        inp = torch.cat(
            [
                u[:, None].expand(n, n, k, k, m, 2),
                xi[:, :, None, None, None].expand(n, n, k, k, m, -1),
            ],
            -1,
        )
        psi = self.siren.footprint_mean(inp, window[:, None].expand(n, n, k, k, m))
        scale = (samples.weight[None, :] * _inv_det(samples)[:, None])[..., None, None]
        psi = psi * (scale * self.gain)[..., None]  # (N_out, N_in, k, k, C_out·C_in)
        psi = psi.reshape(n, n, k, k, self.out_channels, self.in_channels)
        return psi.permute(4, 0, 5, 1, 2, 3).reshape(
            self.out_channels * n, self.in_channels * n, k, k
        )

    def forward(self, x: torch.Tensor, samples: GroupSamples) -> torch.Tensor:
        """``x (B, C_in, N, H, W)`` → ``(B, C_out, N, H, W)``."""
        b, c, n, h, w = x.shape
        if n != samples.num or c != self.in_channels:
            raise ValueError(
                f"input has {c} channels x {n} group samples; layer expects "
                f"{self.in_channels} x {samples.num}"
            )
        y = F.conv2d(
            x.reshape(b, c * n, h, w),
            self.kernel(samples).to(x.dtype),
            padding=self.kernel_size // 2,
        )
        return self._finish(y, n)


def pool_group(
    x: torch.Tensor, samples: GroupSamples, mode: str = "mean", *, temperature: float = 1.0
) -> torch.Tensor:
    """Invariant pooling over :math:`H`: ``(B, C, N, H, W)`` → ``(B, C, H, W)``.

    ``"mean"``: :math:`\\sum_j w_j F(\\cdot, h_j)`, the Monte Carlo estimate of the
    normalized Haar integral (its invariance error is :math:`O(N^{-1/2})`);
    ``"max"``: :math:`\\max_j F(\\cdot, h_j)`;
    ``"softmax"``: :math:`T \\log \\sum_j w_j e^{F(\\cdot, h_j)/T}` (``T`` =
    ``temperature``), the Monte Carlo estimate of :math:`T\\log\\int_H e^{F/T}\\,d\\mu`,
    between the mean (:math:`T \\to \\infty`) and the max (:math:`T \\to 0`); smooth in
    :math:`h`, so a rotated input moves it continuously rather than by whichever sample
    of a truncated set happens to be largest. All three are exactly invariant under left
    translations that permute the sample set.
    """
    if mode == "mean":
        return torch.einsum("bcnhw,n->bchw", x, samples.weight.to(x.dtype))
    if mode == "max":
        return x.amax(dim=2)
    if mode == "softmax":
        if not temperature > 0:
            raise ValueError(f"softmax pooling needs temperature > 0, got {temperature}")
        logw = samples.weight.to(x.dtype).log().view(1, 1, -1, 1, 1)
        return temperature * torch.logsumexp(x / temperature + logw, dim=2)
    raise KeyError(f"unknown group pooling {mode!r}; options: ['mean', 'max', 'softmax']")


def transform_images(
    x: torch.Tensor, A: torch.Tensor, t: torch.Tensor | None = None, *, mode: str = "bilinear"
) -> torch.Tensor:
    """:math:`(L_{t,A} f)(p) = f(A^{-1}(p - t))` for images ``x (B, C, H, W)``.

    ``A`` is ``(2, 2)`` or ``(B, 2, 2)`` and ``t`` ``(2,)`` or ``(B, 2)`` (pixel units), in
    the centred pixel coordinates :math:`(x, y) = (\\text{col}, \\text{row})` of the module
    docstring; zero outside the image. Implemented with ``affine_grid``/``grid_sample``
    (``align_corners=False``), so lattice-preserving maps (90° rotations, integer shifts)
    are reproduced exactly.
    """
    b, _, h, w = x.shape
    A = A.to(x.dtype).expand(b, 2, 2)
    D = torch.tensor([w / 2, h / 2], dtype=x.dtype, device=x.device)
    Ainv = torch.linalg.inv(A)
    theta_lin = Ainv * D[None, None, :] / D[None, :, None]  # D^{-1} A^{-1} D
    if t is None:
        shift = torch.zeros(b, 2, dtype=x.dtype, device=x.device)
    else:
        shift = -(Ainv @ t.to(x.dtype).expand(b, 2)[..., None])[..., 0] / D
    theta = torch.cat([theta_lin, shift[..., None]], dim=-1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode=mode, padding_mode="zeros", align_corners=False)

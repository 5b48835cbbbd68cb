r"""Equivariant layers as substrate connections (issue 9; docs/design.md §2, §6).

How an equivariance layer becomes a layer of the relaxation network
--------------------------------------------------------------------
Any torch module ``f_θ : (N, *in_shape) → (N, *out_shape)`` is the forward map of a
:class:`~neurosim.substrate.ModuleConnection`. Its feedback is the plain-transpose
vector–Jacobian product of the *angle-mixed* copy,

.. math::

    \text{feedback}(s_{out}; s_{in}) = J_{f_{θ_{fb}}}(s_{in})^\top s_{out},\qquad
    θ_{fb}(α) = \sin α\, θ_0 + \cos α\, θ ,

so α = 0 is the transpose (adjoint) of the forward map, α = 90° an independent copy θ_0
(the module deep-copied and re-initialised with its ``reset_parameters``), and the angle mix
in between. It is holomorphic for complex states when ``f`` is (real parameters act on a
complex input through the module's holomorphic extension), so the complex-probe estimators
run unchanged. At α = 0 the drive is the gradient of one scalar,
:math:`Φ(s) = \nabla_s H(s)` with :math:`H = \sum_l s_l^\top f_{θ_l}(s_{l-1}) + b^\top s`,
so :math:`Φ_s = \nabla^2 H` is symmetric even for *nonlinear* (e.g. bilinear Gaunt) maps:
the substrate is an energy system and EP is exact there.

Equivariance of every piece
    A group G acts on layer l by an **orthogonal** representation :math:`D_l(g)` (Wigner-D
    blocks of real spherical harmonics, permutations, rotations of frame coordinates). If
    :math:`f_θ(D_{l-1} s) = D_l f_θ(s)` for *every* θ (equivariance by weight sharing, as
    for the per-degree weights below), then

    * the feedback is equivariant: :math:`J_f(D s) = D_l J_f(s) D_{l-1}^{-1}`, hence
      :math:`J_f(Ds)^\top D_l v = D_{l-1}^{-\top} J_f(s)^\top D_l^\top D_l v
      = D_{l-1} J_f(s)^\top v` because :math:`D^\top = D^{-1}` (this is where orthogonality
      is used; the plain transpose keeps it for complex states since D is real);
    * the independent copy θ_0 is itself a parameter value of the same layer, hence
      equivariant, and so is every mix sin α θ_0 + cos α θ (the parameter space of an
      equivariant layer family is a vector space of equivariant maps);
    * device non-idealities that act on *parameter values* (quantization, clipping,
      device-to-device gain, read noise on weights, write noise) give another parameter
      value, so they preserve equivariance exactly. Non-idealities that act on *states*
      element-wise (neuron gain/offset mismatch, thermal noise, DAC/ADC rounding of l > 0
      coefficients) break it; the study measures what that costs.

The activation is the subtle part
    The network applies ONE element-wise ρ to every state. An element-wise nonlinearity
    commutes with :math:`D(g)` only when D is a permutation (frame rows, group samples,
    pixels) or on invariant components (l = 0, where :math:`D_0 = 1`); ρ(Dx) ≠ Dρ(x) for a
    nonlinear ρ on an l ≥ 1 vector. :class:`IrrepsActivation` therefore applies the
    nonlinearity to the invariant entry (index 0 of the last, spherical-harmonic axis) and
    the identity to the l > 0 entries. It is still element-wise, so D = diag ρ'(u) stays
    diagonal and holomorphic, and :class:`~neurosim.learning.Exact`, the adjoints and the
    Jacobian tools work unchanged. The nonlinearity on l > 0 features enters through the
    **Gaunt bilinear interaction** of :class:`GauntInteraction` (a product of two irreps
    features, Luo et al. 2024), and through the gating of l = 0 by ρ. (The other sound
    design, frame averaging, canonicalizes the input so that the backbone needs no
    equivariance at all: see :mod:`neurosim.workloads.equivariant`.)

Why the relaxed fixed point is equivariant
    With equivariant maps, an equivariant activation and an invariant bias, the drive and
    the vector field satisfy :math:`F(Du;\, g\cdot x) = D\,F(u;\, x)` and so does every step
    of the relaxation, :math:`u_{t+1} = u_t + η F(u_t)`. Starting from an equivariant
    initial state (u_0 = 0 is invariant) the trajectory for input g·x is
    :math:`D u_t(x)` at every step t (exactly, not only in the limit), so the state reached
    is equivariant, converged or not. Conversely, if u* is a fixed point for x then
    :math:`F(Du^*; g\cdot x) = D F(u^*; x) = 0`: :math:`Du^*` is a fixed point for g·x, and
    when the attracting fixed point is unique (a contractive field, which the small-gain
    initialisations here give) it *is* the fixed point reached from g·x. The nudged
    fixed points are equivariant too when the nudge g = ∂ℓ/∂s_L is (invariant targets on
    an invariant output layer), so are δ_EP, δ_BP and the parameter gradients invariant.

Shapes: spherical states are ``(*lead, C, (L+1)²)`` (C channels of real-SH coefficients in
the layout of :func:`equivariance.so3.spherical_harmonics`); an invariant output layer is
``(*lead, n_out, 1)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from equivariance.so3 import degree_index, gaunt_grid

from .activations import AbstractActivation, get_activation
from .connections import ModuleConnection
from .hardware import AbstractHardware
from .network import LayeredNetwork

__all__ = ["IrrepsActivation", "GauntInteraction", "gaunt_network", "irreps_width"]


def irreps_width(lmax: int) -> int:
    """(lmax + 1)², the length of a degree-``lmax`` real-SH coefficient vector."""
    return (lmax + 1) ** 2


class IrrepsActivation(AbstractActivation):
    r"""ρ on the invariant entry of the last axis, identity on the others.

    For states ``(..., C, (L+1)²)`` of real-SH coefficients, entry 0 of the last axis is the
    l = 0 (invariant) coefficient: :math:`s_{c,00} = ρ(u_{c,00})` and
    :math:`s_{c,lm} = u_{c,lm}` for l ≥ 1, which commutes with every Wigner-D block. An
    invariant layer of shape ``(..., n, 1)`` gets ρ everywhere. ρ' is ``base.derivative``
    on entry 0 and 1 elsewhere (still a diagonal D, holomorphic).

    Parameters
    ----------
    base
        The nonlinearity on invariant entries (registry name or instance).
    """

    name = "irreps"

    def __init__(self, base: str | AbstractActivation = "shifted_sigmoid"):
        self.base = get_activation(base)

    def __call__(self, u: Tensor) -> Tensor:
        return torch.cat((self.base(u[..., :1]), u[..., 1:]), dim=-1)

    def derivative(self, u: Tensor) -> Tensor:
        return torch.cat((self.base.derivative(u[..., :1]), torch.ones_like(u[..., 1:])), dim=-1)

    def packed(self, u: Tensor) -> Tensor:
        return torch.cat((self.base.packed(u[..., :1]), u[..., 1:]), dim=-1)

    def __repr__(self) -> str:
        return f"IrrepsActivation({self.base!r})"


def _mix(x: Tensor, w: Tensor, deg: Tensor) -> Tensor:
    """Per-degree channel mixing: ``x (..., C, n)``, ``w (L+1, D, C)`` → ``(..., D, n)``."""
    return torch.einsum("...cn,ndc->...dn", x, w[deg])


class GauntInteraction(nn.Module):
    r"""Equivariant map of irreps features: per-degree linear part plus a Gaunt bilinear term.

    .. math::

        y_{d,lm} = \sum_c W^{(l)}_{dc}\, x_{c,lm}
                 + \sum_k O^{(l)}_{dk}\,\big[(A x)_k \otimes_G (B x)_k\big]_{lm}
                 + b_d\,[l = 0] ,\qquad (A x)_{k,lm} = \sum_c A^{(l)}_{kc} x_{c,lm} ,

    with :math:`\otimes_G` the Gaunt product (:func:`equivariance.so3.gaunt_grid`, exact on
    the S² grid; only paths with l₁ + l₂ + l₃ even, so O(3)-equivariant with parity
    :math:`(-1)^l`). Weights are shared over m, so the map commutes with
    :math:`\bigoplus_l D_l(R)` for every parameter value (hardware reads included); the
    bias acts on l = 0 only. Polynomial in x with real coefficients, hence holomorphic.

    Parameter names end in ``weight`` so :class:`~neurosim.substrate.AnalogHardware` stores
    them in device arrays; the bias is digital.

    Shapes: ``(N, c_in, (lmax_in+1)²)`` → ``(N, c_out, (lmax_out+1)²)``.

    Parameters
    ----------
    lmax_in, lmax_out, c_in, c_out
        Degrees and channel counts.
    rank
        Channels k of the bilinear term (default ``c_out``; 0 disables it).
    gain
        Scale of the uniform initialisation U(±gain/√c_in) of W and O (A, B: U(±1/√c_in)).
    """

    def __init__(
        self,
        lmax_in: int,
        lmax_out: int,
        c_in: int,
        c_out: int,
        *,
        rank: int | None = None,
        gain: float = 1.0,
        bias: bool = True,
        generator: torch.Generator | None = None,
        dtype: torch.dtype = torch.float64,
    ):
        super().__init__()
        self.lmax_in, self.lmax_out, self.c_in, self.c_out = lmax_in, lmax_out, c_in, c_out
        self.rank = c_out if rank is None else rank
        self.gain = float(gain)
        lmin = min(lmax_in, lmax_out)
        kw = {"dtype": dtype}
        self.lin_weight = nn.Parameter(torch.empty(lmin + 1, c_out, c_in, **kw))
        k = self.rank
        self.left_weight = nn.Parameter(torch.empty(lmax_in + 1, k, c_in, **kw))
        self.right_weight = nn.Parameter(torch.empty(lmax_in + 1, k, c_in, **kw))
        self.out_weight = nn.Parameter(torch.empty(lmax_out + 1, c_out, k, **kw))
        self.bias = nn.Parameter(torch.zeros(c_out, **kw)) if bias else None
        self.register_buffer("deg_in", degree_index(lmax_in), persistent=False)
        self.register_buffer("deg_min", degree_index(lmin), persistent=False)
        self.register_buffer("deg_out", degree_index(lmax_out), persistent=False)
        self.reset_parameters(generator)

    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """Redraw every weight (the bias to zero): the independent copy θ_0 is drawn this way."""
        b_w = self.gain / math.sqrt(self.c_in)
        b_ab = 1.0 / math.sqrt(self.c_in)
        b_o = self.gain / math.sqrt(max(self.rank, 1))
        with torch.no_grad():
            for p, b in (
                (self.lin_weight, b_w),
                (self.left_weight, b_ab),
                (self.right_weight, b_ab),
                (self.out_weight, b_o),
            ):
                p.uniform_(-b, b, generator=generator)
            if self.bias is not None:
                self.bias.zero_()

    def forward(self, x: Tensor) -> Tensor:
        n_min = self.deg_min.numel()
        y_lin = _mix(x[..., :n_min], self.lin_weight, self.deg_min)
        n_out = self.deg_out.numel()
        if n_out > n_min:
            y_lin = torch.cat((y_lin, y_lin.new_zeros(*y_lin.shape[:-1], n_out - n_min)), -1)
        y = y_lin
        if self.rank > 0:
            a = _mix(x, self.left_weight, self.deg_in)
            b = _mix(x, self.right_weight, self.deg_in)
            y = y + _mix(gaunt_grid(a, b, self.lmax_out), self.out_weight, self.deg_out)
        if self.bias is not None:
            y = torch.cat((y[..., :1] + self.bias[:, None], y[..., 1:]), dim=-1)
        return y

    def extra_repr(self) -> str:
        return (
            f"lmax=({self.lmax_in} -> {self.lmax_out}), channels=({self.c_in} -> {self.c_out}), "
            f"rank={self.rank}"
        )


def gaunt_network(
    channels: Sequence[int],
    lmax: int,
    *,
    activation: str | AbstractActivation = "shifted_sigmoid",
    alpha: float = 0.0,
    gain: float = 0.5,
    rank: int | None = None,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float64,
    hardware: AbstractHardware | None = None,
) -> LayeredNetwork:
    r"""A relaxation network of :class:`GauntInteraction` layers with an invariant output.

    ``channels = [C_0, C_1, …, C_{L-1}, n_out]``: the clamped input ``(C_0, (lmax+1)²)``,
    hidden layers ``(C_l, (lmax+1)²)`` and the invariant output layer ``(n_out, 1)``.
    Connection l is a :class:`~neurosim.substrate.ModuleConnection` around a
    :class:`GauntInteraction` (l = 0 output degree for the last one), with feedback angle
    ``alpha``; the activation is :class:`IrrepsActivation` of ``activation``; biases live
    inside the maps on l = 0 only (the network has no per-unit bias, which would break
    equivariance on l > 0 entries once trained). E(3)/O(3)-equivariant for every θ and α
    (module docstring); at α = 0 an energy system (Φ_s symmetric).
    """
    if len(channels) < 2:
        raise ValueError(f"channels needs at least input and output, got {list(channels)}")
    width = irreps_width(lmax)
    conns = []
    for i, (a, b) in enumerate(zip(channels[:-1], channels[1:], strict=False)):
        last = i == len(channels) - 2
        l_out = 0 if last else lmax
        mod = GauntInteraction(
            lmax, l_out, a, b, rank=rank, gain=gain, generator=generator, dtype=dtype
        )
        conns.append(
            ModuleConnection(
                mod, (a, width), (b, irreps_width(l_out)), alpha=alpha, generator=generator
            )
        )
    return LayeredNetwork(
        conns, activation=IrrepsActivation(activation), bias=False, hardware=hardware
    )

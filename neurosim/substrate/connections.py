r"""Connections: a forward map and its feedback counterpart between two layers.

A connection from layer l−1 to layer l contributes

    forward   f_θ(s_{l-1})          to Φ_l
    feedback  J_{f_θfb}(s_{l-1})ᵀ s_l  to Φ_{l-1}

where θ are the forward parameters and θ_fb the feedback parameters

    θ_fb(α) = sin α · θ_0 + cos α · θ ,            α in degrees,

with θ_0 an independently initialised copy (docs/design.md §4). For a dense layer
f_θ(s) = W s, so the feedback is B = (sin α B_0 + cos α W)ᵀ: α = 0 gives the
symmetric network B_l = W_{l+1}ᵀ (Φ_s symmetric, EP exact), α = 90 an
independent feedback path. The feedback is the *plain* transpose Jᵀ (not the
Hermitian one), so that complex relaxations stay holomorphic.

Any map with a feedback counterpart can be a layer: subclass
:class:`AbstractConnection` and implement :meth:`~AbstractConnection.map`; the
adjoint defaults to a vector–Jacobian product, exact for nonlinear maps too
(the feedback of a nonlinear map then depends on the state below).
"""

from __future__ import annotations

import copy
import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "AbstractConnection",
    "BoundConnection",
    "Dense",
    "Conv2d",
    "ModuleConnection",
    "sincos_deg",
    "real_linear",
]


ReadHook = Callable[[str, dict[str, Tensor]], dict[str, Tensor]]
"""(role, params) → params as one read of the physical array returns them."""


def sincos_deg(alpha: float) -> tuple[float, float]:
    """(sin α, cos α) for α in degrees, exact at multiples of 90°."""
    q, r = divmod(float(alpha), 90.0)
    if r == 0.0:
        return [(0.0, 1.0), (1.0, 0.0), (0.0, -1.0), (-1.0, 0.0)][int(q) % 4]
    rad = math.radians(alpha)
    return math.sin(rad), math.cos(rad)


def real_linear(fn: Callable[[Tensor], Tensor], s: Tensor) -> Tensor:
    """Apply a map with real coefficients that is linear in ``s`` to a real or complex ``s``.

    For complex ``s`` the real and imaginary parts go through ``fn`` as one
    stacked real batch (two real GEMMs instead of one complex GEMM with
    four), using fn(a + ib) = fn(a) + i fn(b).
    """
    if not s.is_complex():
        return fn(s)
    n = s.shape[0]
    y = fn(torch.cat((s.real, s.imag), dim=0))
    return torch.complex(y[:n], y[n:])


def _flatten_lead(s: Tensor, ndim: int) -> tuple[Tensor, tuple[int, ...]]:
    lead = s.shape[: s.ndim - ndim]
    return s.reshape(-1, *s.shape[s.ndim - ndim :]), lead


@dataclass(frozen=True)
class BoundConnection:
    """A connection with its forward and feedback parameters materialised once.

    Built by :meth:`AbstractConnection.bind` at the start of a relaxation so the
    angle mix θ_fb(α) is not recomputed at every step.
    """

    connection: AbstractConnection
    params: dict[str, Tensor]
    feedback_params: dict[str, Tensor]

    def forward(self, s_in: Tensor) -> Tensor:
        """f_θ(s_in): (*lead, *in_shape) → (*lead, *out_shape)."""
        return self.connection.map(s_in, self.params)

    def feedback(self, s_out: Tensor, s_in: Tensor) -> Tensor:
        """J_{f_θfb}(s_in)ᵀ s_out: (*lead, *out_shape) → (*lead, *in_shape)."""
        return self.connection.adjoint(s_out, s_in, self.feedback_params)

    def forward_into(self, acc: Tensor, s_in: Tensor) -> Tensor:
        """acc + f_θ(s_in), accumulated in place into ``acc`` (a fresh buffer) where possible."""
        return self.connection.map_into(acc, s_in, self.params)

    def feedback_into(self, acc: Tensor, s_out: Tensor, s_in: Tensor) -> Tensor:
        """acc + J_{f_θfb}(s_in)ᵀ s_out, accumulated in place into ``acc`` where possible."""
        return self.connection.adjoint_into(acc, s_out, s_in, self.feedback_params)


class AbstractConnection(nn.Module, ABC):
    """Forward map f_θ between consecutive layers, plus its angle-mixed feedback.

    Parameters
    ----------
    in_shape, out_shape
        Per-sample shapes of the layer below and the layer above.
    alpha
        Feedback-asymmetry angle in degrees (0 symmetric, 90 independent).
    """

    packable: bool = False
    """True when the map is linear in the state with real coefficients, so it may be applied to
    a complex state stored as stacked real and imaginary parts (see ``relax``'s packed path)."""

    def __init__(self, in_shape: Sequence[int], out_shape: Sequence[int], alpha: float = 0.0):
        super().__init__()
        self.in_shape = tuple(in_shape)
        self.out_shape = tuple(out_shape)
        self.alpha = float(alpha)

    @abstractmethod
    def forward_params(self) -> dict[str, Tensor]:
        """The forward parameters θ, by name."""

    @abstractmethod
    def feedback0_params(self) -> dict[str, Tensor]:
        """The independent feedback parameters θ_0 (same names and shapes as θ)."""

    @abstractmethod
    def map(self, s_in: Tensor, params: dict[str, Tensor]) -> Tensor:
        """f_params(s_in), holomorphic in ``s_in``, broadcasting over leading dims."""

    def adjoint(self, s_out: Tensor, s_in: Tensor, params: dict[str, Tensor]) -> Tensor:
        r"""Plain-transpose vector–Jacobian product :math:`J_{f}(s_{in})^\top s_{out}`.

        The default differentiates :meth:`map`. ``torch.func.vjp`` returns the
        Hermitian product :math:`J^H v` for complex tensors; the holomorphic
        transpose is :math:`J^\top v = \overline{J^H \bar v}`.
        """
        dtype = torch.promote_types(s_in.dtype, s_out.dtype)
        s_in, s_out = s_in.to(dtype), s_out.to(dtype)  # a real s_out may meet a complex s_in
        with torch.enable_grad():
            _, vjp_fn = torch.func.vjp(lambda z: self.map(z, params), s_in)
            if s_out.is_complex():
                return vjp_fn(s_out.conj())[0].conj()
            return vjp_fn(s_out)[0]

    def map_into(self, acc: Tensor, s_in: Tensor, params: dict[str, Tensor]) -> Tensor:
        """``acc + map(s_in)``; subclasses may accumulate in place (``acc`` is a scratch buffer)."""
        return acc + self.map(s_in, params)

    def adjoint_into(
        self, acc: Tensor, s_out: Tensor, s_in: Tensor, params: dict[str, Tensor]
    ) -> Tensor:
        """``acc + adjoint(s_out, s_in)``; subclasses may accumulate in place."""
        return acc + self.adjoint(s_out, s_in, params)

    def feedback_params(self) -> dict[str, Tensor]:
        """θ_fb(α) = sin α θ_0 + cos α θ (exact at multiples of 90°)."""
        sin_a, cos_a = sincos_deg(self.alpha)
        fwd = self.forward_params()
        if sin_a == 0.0:
            return fwd if cos_a == 1.0 else {k: cos_a * v for k, v in fwd.items()}
        fb0 = self.feedback0_params()
        if cos_a == 0.0:
            return fb0 if sin_a == 1.0 else {k: sin_a * v for k, v in fb0.items()}
        return {k: sin_a * fb0[k] + cos_a * fwd[k] for k in fwd}

    def untie_feedback(self) -> None:
        r"""Make the feedback an array of its own, equal to the current one.

        θ_0 ← θ_fb(α), then α = 90°: the feedback map is unchanged now, but from here
        on it is the independent copy θ_0, trained (or not) on its own instead of
        following θ through the angle mix (the config's ``feedback.mode = "independent"``).
        """
        with torch.no_grad():
            fb = self.feedback_params()
            for name, p in self.feedback0_params().items():
                p.copy_(fb[name])
        self.alpha = 90.0

    def bind(self, read: ReadHook | None = None) -> BoundConnection:
        """Materialise θ and θ_fb(α) for one relaxation, as ``read`` returns them."""
        fwd, fb = self.forward_params(), self.feedback_params()
        if read is not None:
            fwd, fb = read("forward", fwd), read("feedback", fb)
        return BoundConnection(self, fwd, fb)

    def extra_repr(self) -> str:
        return f"in_shape={self.in_shape}, out_shape={self.out_shape}, alpha={self.alpha:g}"


def _uniform_(t: Tensor, bound: float, generator: torch.Generator | None) -> Tensor:
    with torch.no_grad():
        return t.uniform_(-bound, bound, generator=generator)


class Dense(AbstractConnection):
    r"""Dense map :math:`f_W(s) = W s` with feedback :math:`B = (\sin α B_0 + \cos α W)^\top`.

    Weights are drawn U(−g/√n_in, g/√n_in) (PyTorch's ``nn.Linear`` scale times
    ``gain``); ``B_0`` is drawn from the same law, so ‖B‖ ≈ ‖W‖ at every angle.
    """

    def __init__(
        self,
        n_in: int,
        n_out: int,
        *,
        alpha: float = 0.0,
        gain: float = 1.0,
        generator: torch.Generator | None = None,
        dtype: torch.dtype = torch.float64,
    ):
        super().__init__((n_in,), (n_out,), alpha)
        self.packable = True
        bound = gain / math.sqrt(n_in)
        self.weight = nn.Parameter(
            _uniform_(torch.empty(n_out, n_in, dtype=dtype), bound, generator)
        )
        self.weight_b0 = nn.Parameter(
            _uniform_(torch.empty(n_out, n_in, dtype=dtype), bound, generator)
        )

    def forward_params(self) -> dict[str, Tensor]:
        return {"weight": self.weight}

    def feedback0_params(self) -> dict[str, Tensor]:
        return {"weight": self.weight_b0}

    def map(self, s_in: Tensor, params: dict[str, Tensor]) -> Tensor:
        w = params["weight"]
        return real_linear(lambda z: F.linear(z, w), s_in)

    def adjoint(self, s_out: Tensor, s_in: Tensor, params: dict[str, Tensor]) -> Tensor:
        if "weight_t" in params:  # materialised by bind(): the faster GEMM layout
            w_t = params["weight_t"]
            return real_linear(lambda z: F.linear(z, w_t), s_out)
        w = params["weight"]
        return real_linear(lambda z: torch.matmul(z, w), s_out)

    @staticmethod
    def _gemm_into(acc: Tensor, s: Tensor, w_t: Tensor) -> Tensor | None:
        """acc += s @ w_t as one fused GEMM when all are real and laid out as matrices."""
        if acc.is_complex() or s.is_complex() or acc.shape[:-1] != s.shape[:-1]:
            return None
        if torch.is_grad_enabled() and (acc.requires_grad or s.requires_grad or w_t.requires_grad):
            return None  # recording a graph (BPTT): out-of-place is cheaper to differentiate
        if not acc.is_contiguous():
            return None
        acc.view(-1, acc.shape[-1]).addmm_(s.reshape(-1, s.shape[-1]), w_t)
        return acc

    def map_into(self, acc: Tensor, s_in: Tensor, params: dict[str, Tensor]) -> Tensor:
        out = self._gemm_into(acc, s_in, params["weight"].T)
        return acc + self.map(s_in, params) if out is None else out

    def adjoint_into(self, acc, s_out, s_in, params):
        w_t = params["weight_t"].T if "weight_t" in params else params["weight"]
        out = self._gemm_into(acc, s_out, w_t)
        return acc + self.adjoint(s_out, s_in, params) if out is None else out

    def bind(self, read: ReadHook | None = None) -> BoundConnection:
        """θ and θ_fb(α) as read, with the feedback matrix also stored transposed and contiguous."""
        b = super().bind(read)
        fb = b.feedback_params
        return BoundConnection(self, b.params, {**fb, "weight_t": fb["weight"].T.contiguous()})


class Conv2d(AbstractConnection):
    r"""Convolutional forward map :math:`f_K(s) = P(K \star s)` with optional pooling P.

    The feedback of the plain convolution is the transposed convolution with the
    angle-mixed kernel (its exact adjoint). With pooling (``"avg"`` or ``"max"``,
    as in the Laborieux & Zenke CIFAR networks) the adjoint is the
    vector–Jacobian product, state-dependent for max pooling. Max pooling is not
    holomorphic: it accepts real states only.
    """

    def __init__(
        self,
        in_shape: Sequence[int],
        out_channels: int,
        kernel_size: int,
        *,
        stride: int = 1,
        padding: int = 0,
        pool: str | None = None,
        pool_size: int = 2,
        alpha: float = 0.0,
        gain: float = 1.0,
        generator: torch.Generator | None = None,
        dtype: torch.dtype = torch.float64,
    ):
        if pool not in (None, "avg", "max"):
            raise ValueError(f"pool={pool!r}; allowed: None, 'avg', 'max'")
        c_in, h, w = in_shape
        self.stride, self.padding, self.pool, self.pool_size = stride, padding, pool, pool_size
        self.kernel_size = kernel_size
        h_c = (h + 2 * padding - kernel_size) // stride + 1
        w_c = (w + 2 * padding - kernel_size) // stride + 1
        self.conv_shape = (out_channels, h_c, w_c)
        out_shape = (
            self.conv_shape if pool is None else (out_channels, h_c // pool_size, w_c // pool_size)
        )
        super().__init__(in_shape, out_shape, alpha)
        self.packable = pool != "max"
        shape = (out_channels, c_in, kernel_size, kernel_size)
        bound = gain / math.sqrt(c_in * kernel_size**2)
        self.weight = nn.Parameter(_uniform_(torch.empty(shape, dtype=dtype), bound, generator))
        self.weight_b0 = nn.Parameter(_uniform_(torch.empty(shape, dtype=dtype), bound, generator))

    def forward_params(self) -> dict[str, Tensor]:
        return {"weight": self.weight}

    def feedback0_params(self) -> dict[str, Tensor]:
        return {"weight": self.weight_b0}

    def map(self, s_in: Tensor, params: dict[str, Tensor]) -> Tensor:
        z, lead = _flatten_lead(s_in, 3)
        k = params["weight"]
        y = real_linear(lambda v: F.conv2d(v, k, stride=self.stride, padding=self.padding), z)
        if self.pool == "avg":
            y = real_linear(lambda v: F.avg_pool2d(v, self.pool_size), y)
        elif self.pool == "max":
            if y.is_complex():
                raise TypeError("max pooling is not holomorphic: use pool='avg' for complex states")
            y = F.max_pool2d(y, self.pool_size)
        return y.reshape(*lead, *self.out_shape)

    def adjoint(self, s_out: Tensor, s_in: Tensor, params: dict[str, Tensor]) -> Tensor:
        if self.pool is not None:
            return super().adjoint(s_out, s_in, params)
        z, lead = _flatten_lead(s_out, 3)
        h, w = self.in_shape[1:]
        k = self.kernel_size
        out_pad = (
            h - ((self.conv_shape[1] - 1) * self.stride - 2 * self.padding + k),
            w - ((self.conv_shape[2] - 1) * self.stride - 2 * self.padding + k),
        )
        y = real_linear(
            lambda v: F.conv_transpose2d(
                v,
                params["weight"],
                stride=self.stride,
                padding=self.padding,
                output_padding=out_pad,
            ),
            z,
        )
        return y.reshape(*lead, *self.in_shape)


class ModuleConnection(AbstractConnection):
    """Any torch module as a forward map; its feedback is the vector–Jacobian product.

    ``module`` maps ``(N, *in_shape) → (N, *out_shape)`` and must be holomorphic in
    its input if complex estimators are used. The independent feedback copy θ_0
    is a deep copy whose submodules are re-initialised with ``reset_parameters``
    under a generator-derived seed.
    """

    def __init__(
        self,
        module: nn.Module,
        in_shape: Sequence[int],
        out_shape: Sequence[int],
        *,
        alpha: float = 0.0,
        generator: torch.Generator | None = None,
    ):
        super().__init__(in_shape, out_shape, alpha)
        self.module = module
        self.module_b0 = copy.deepcopy(module)
        seed = int(torch.randint(0, 2**62, (1,), generator=generator))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            for sub in self.module_b0.modules():
                if hasattr(sub, "reset_parameters"):
                    sub.reset_parameters()

    def forward_params(self) -> dict[str, Tensor]:
        return dict(self.module.named_parameters())

    def feedback0_params(self) -> dict[str, Tensor]:
        return dict(self.module_b0.named_parameters())

    def map(self, s_in: Tensor, params: dict[str, Tensor]) -> Tensor:
        z, lead = _flatten_lead(s_in, len(self.in_shape))
        if z.is_complex():  # the module's holomorphic extension: real parameters, complex input
            params = {k: v if v.is_complex() else v.to(z.dtype) for k, v in params.items()}
        y = torch.func.functional_call(self.module, params, (z,))
        return y.reshape(*lead, *self.out_shape)

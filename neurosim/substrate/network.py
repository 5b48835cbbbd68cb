r"""Layered relaxation networks: the drive Φ and the vector field F.

State :math:`u = (u_1, …, u_L)` with activated states :math:`s_l = ρ(u_l)`; the
input :math:`s_0 = x` is clamped. The drive of layer l is (docs/design.md §2)

.. math::

    Φ_l(θ, x, s) = f_{θ_l}(s_{l-1}) + J_{f_{θ_{l+1}}^{fb}}(s_l)^\top s_{l+1} + b_l ,

(for dense layers :math:`W_l s_{l-1} + B_l s_{l+1} + b_l`) and the vector field
is :math:`F(u) = Φ(ρ(u)) - u`; the free fixed point solves F = 0.

Shapes: every state tensor is ``(*lead, *shape_l)`` where ``lead`` holds the
named batch axes, ``(B,)`` for a free relaxation and ``(K, B)`` when K nudge
probes run side by side. The input is ``(B, *shape_0)`` and broadcasts.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from .activations import AbstractActivation, get_activation
from .connections import AbstractConnection, BoundConnection, Dense
from .hardware import AbstractHardware, IdealHardware

__all__ = ["LayeredNetwork", "BoundNetwork"]


@dataclass(frozen=True)
class BoundNetwork:
    """A network's maps with their parameters materialised for one relaxation."""

    connections: tuple[BoundConnection, ...]
    biases: tuple[Tensor | None, ...]
    hardware: AbstractHardware

    def static_drive(self, x: Tensor) -> list[Tensor | None]:
        """The parts of Φ that do not depend on the state: W_1 DAC(x) + b_1, then b_l."""
        h: list[Tensor | None] = list(self.biases)
        x_drive = self.connections[0].forward(self.hardware.dac(x))
        h[0] = x_drive if h[0] is None else x_drive + h[0]
        return h

    def drive(self, s: Sequence[Tensor], h: Sequence[Tensor | None]) -> list[Tensor]:
        """Φ(s) given the activated states ``s`` and the static drive ``h``."""
        n = len(s)
        phi = []
        for l in range(n):
            p = None
            if h[l] is not None:  # a fresh buffer the maps accumulate into (fused GEMMs)
                dtype = torch.promote_types(h[l].dtype, s[l].dtype)
                p = torch.empty(s[l].shape, dtype=dtype, device=s[l].device)
                p.copy_(h[l])
            if l > 0:
                conn = self.connections[l]
                p = conn.forward(s[l - 1]) if p is None else conn.forward_into(p, s[l - 1])
            if l + 1 < n:
                conn = self.connections[l + 1]
                if p is None:
                    p = conn.feedback(s[l + 1], s[l])
                else:
                    p = conn.feedback_into(p, s[l + 1], s[l])
            phi.append(p)
        return phi


class LayeredNetwork(nn.Module):
    """A layered relaxation network (docs/design.md §2).

    Parameters
    ----------
    connections
        ``L`` connections; connection ``l`` maps layer ``l−1`` (layer 0 = input)
        to layer ``l``, and consecutive shapes must match.
    activation
        Name in :data:`~neurosim.substrate.ACTIVATIONS` or an instance.
    bias
        Whether each layer has a learnable bias b_l (initialised to zero).
    hardware
        The substrate's non-idealities (:class:`~neurosim.substrate.AbstractHardware`);
        ideal when omitted.
    """

    def __init__(
        self,
        connections: Sequence[AbstractConnection],
        *,
        activation: str | AbstractActivation = "sigmoid",
        bias: bool = True,
        hardware: AbstractHardware | None = None,
    ):
        super().__init__()
        self.hardware = IdealHardware() if hardware is None else hardware
        if not connections:
            raise ValueError("a LayeredNetwork needs at least one connection")
        for a, b in zip(connections[:-1], connections[1:], strict=False):
            if a.out_shape != b.in_shape:
                raise ValueError(
                    f"shape mismatch between connections: {a.out_shape} → {b.in_shape}"
                )
        self.connections = nn.ModuleList(connections)
        self.activation = get_activation(activation)
        dtype = next(iter(connections[0].parameters())).dtype
        self.biases = nn.ParameterList(
            [nn.Parameter(torch.zeros(c.out_shape, dtype=dtype)) for c in connections]
            if bias
            else []
        )

    @classmethod
    def dense(
        cls,
        sizes: Sequence[int],
        *,
        activation: str | AbstractActivation = "sigmoid",
        alpha: float = 0.0,
        gain: float = 1.0,
        bias: bool = True,
        generator: torch.Generator | None = None,
        dtype: torch.dtype = torch.float64,
        hardware: AbstractHardware | None = None,
    ) -> LayeredNetwork:
        """A dense network ``sizes = [n_in, n_1, …, n_L]`` with feedback angle ``alpha``."""
        conns = [
            Dense(a, b, alpha=alpha, gain=gain, generator=generator, dtype=dtype)
            for a, b in zip(sizes[:-1], sizes[1:], strict=False)
        ]
        return cls(conns, activation=activation, bias=bias, hardware=hardware)

    # -- geometry -----------------------------------------------------------------
    @property
    def shapes(self) -> list[tuple[int, ...]]:
        """Per-sample shapes of layers 1..L."""
        return [c.out_shape for c in self.connections]

    @property
    def input_shape(self) -> tuple[int, ...]:
        return self.connections[0].in_shape

    @property
    def num_units(self) -> int:
        """Total number of state units Σ_l |s_l|."""
        return sum(math.prod(s) for s in self.shapes)

    @property
    def dtype(self) -> torch.dtype:
        """Real dtype of the parameters."""
        return next(self.parameters()).dtype

    @property
    def alpha(self) -> float:
        """The feedback angle (degrees) when all connections share one."""
        angles = {c.alpha for c in self.connections}
        if len(angles) != 1:
            raise ValueError(f"connections have different angles: {sorted(angles)}")
        return angles.pop()

    @alpha.setter
    def alpha(self, value: float) -> None:
        for c in self.connections:
            c.alpha = float(value)

    def untie_feedback(self) -> None:
        """Untie every connection's feedback from its forward map
        (:meth:`AbstractConnection.untie_feedback`): same maps now, independent arrays
        from here on, α = 90°."""
        for c in self.connections:
            c.untie_feedback()

    def lead_shape(self, x: Tensor) -> tuple[int, ...]:
        """Leading (batch) dims of an input ``x``."""
        return tuple(x.shape[: x.ndim - len(self.input_shape)])

    # -- maps ---------------------------------------------------------------------
    def bind(self) -> BoundNetwork:
        """Materialise every map's parameters (θ_fb(α) included) as one read of the arrays."""
        biases = tuple(self.biases) if len(self.biases) else (None,) * len(self.connections)
        hw = self.hardware
        if hw.is_ideal:
            return BoundNetwork(tuple(c.bind() for c in self.connections), biases, hw)
        bound = tuple(
            c.bind(lambda role, p, l=l: hw.read_params(l, role, p))
            for l, c in enumerate(self.connections)
        )
        return BoundNetwork(bound, biases, hw)

    # -- neurons ------------------------------------------------------------------
    def activate(self, u: Sequence[Tensor]) -> list[Tensor]:
        """s_l = ρ(g_l ⊙ u_l + o_l) per layer (g = 1, o = 0 for ideal neurons)."""
        hw = self.hardware
        if hw.is_ideal:
            return [self.activation(v) for v in u]
        return [self.activation(self._pre(l, v)) for l, v in enumerate(u)]

    def activate_derivative(self, u: Sequence[Tensor]) -> list[Tensor]:
        """ds_l/du_l = g_l ⊙ ρ'(g_l ⊙ u_l + o_l), element-wise (the diagonal D)."""
        hw = self.hardware
        if hw.is_ideal:
            return [self.activation.derivative(v) for v in u]
        out = []
        for l, v in enumerate(u):
            d = self.activation.derivative(self._pre(l, v))
            g = hw.neuron_gain(l)
            out.append(d if g is None else g * d)
        return out

    def activate_packed(self, u: Sequence[Tensor]) -> list[Tensor]:
        """:meth:`activate` on complex states packed as real ``(2, ...)`` = (Re, Im)."""
        hw = self.hardware
        if hw.is_ideal:
            return [self.activation.packed(v) for v in u]
        out = []
        for l, v in enumerate(u):
            g, o = hw.neuron_gain(l), hw.neuron_offset(l)
            if g is not None:
                v = g * v
            if o is not None:
                v = torch.stack((v[0] + o, v[1]))
            out.append(self.activation.packed(v))
        return out

    def _pre(self, l: int, v: Tensor) -> Tensor:
        g, o = self.hardware.neuron_gain(l), self.hardware.neuron_offset(l)
        if g is not None:
            v = g * v
        return v if o is None else v + o

    def drive(
        self, s: Sequence[Tensor], x: Tensor, bound: BoundNetwork | None = None
    ) -> list[Tensor]:
        """Φ(θ, x, s) for activated states ``s``."""
        bound = self.bind() if bound is None else bound
        return bound.drive(s, bound.static_drive(x))

    def zero_state(self, lead: Sequence[int], dtype: torch.dtype | None = None) -> list[Tensor]:
        """u = 0 with leading dims ``lead``."""
        dtype = self.dtype if dtype is None else dtype
        dev = next(self.parameters()).device
        return [torch.zeros(*lead, *shape, dtype=dtype, device=dev) for shape in self.shapes]

    def flatten_state(self, u: Sequence[Tensor], n_lead: int) -> Tensor:
        """Concatenate per-layer states into ``(*lead, N)``, N = :attr:`num_units`."""
        return torch.cat([t.reshape(*t.shape[:n_lead], -1) for t in u], dim=-1)

    def unflatten_state(self, v: Tensor) -> list[Tensor]:
        """Inverse of :meth:`flatten_state`."""
        out, i = [], 0
        for shape in self.shapes:
            n = math.prod(shape)
            out.append(v[..., i : i + n].reshape(*v.shape[:-1], *shape))
            i += n
        return out

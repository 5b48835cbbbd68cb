r"""A dense layered network as plain arrays, for engines outside torch.

For dense connections the drive is linear in the activated states,

.. math::

    Φ(s) = M s + h ,\qquad
    M = \begin{pmatrix} 0 & B_1 & & \\ W_2 & 0 & B_2 & \\ & W_3 & 0 & \ddots \end{pmatrix},
    \qquad h = (W_1\,\mathrm{DAC}(x) + b_1,\ b_2,\ …) ,

with W and B *as read from the hardware at bind time* (device effects included),
and the output nudge of every loss whose g is affine in s_L (the squared error,
g = s_L − y) is g(s_L) = A s_L + c per sample. :func:`dense_system` and
:func:`affine_nudge` extract these once per relaxation; the engines then never
call back into torch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from ..substrate import (
    BoundNetwork,
    Dense,
    DSiLU,
    LayeredNetwork,
    Nudge,
    ShiftedSigmoid,
    Sigmoid,
    Tanh,
)
from ._base import RelaxationNeeds, UnsupportedError

__all__ = [
    "DenseSystem",
    "dense_engine_refusal",
    "check_dense",
    "dense_system",
    "affine_nudge",
    "check_affine_nudge",
    "ACTIVATION_CODES",
    "activation_code",
]

ACTIVATION_CODES: dict[type, int] = {Sigmoid: 0, Tanh: 1, ShiftedSigmoid: 2, DSiLU: 3}
"""Activations the compiled engines implement, by class (exact type), with their kernel code."""


def activation_code(network: LayeredNetwork, engine: str) -> int:
    """The kernel code of the network's activation; raises for any other activation."""
    code = ACTIVATION_CODES.get(type(network.activation))
    if code is None:
        names = ", ".join(sorted(c.name for c in ACTIVATION_CODES))
        raise UnsupportedError(
            f"the {engine} backend implements the activations {names}; "
            f"got {network.activation!r} (use substrate.backend = 'torch')"
        )
    return code


def dense_engine_refusal(engine: str, needs: RelaxationNeeds) -> str | None:
    """What a compiled dense engine cannot run, in the config's terms (see :func:`check_dense`
    and :func:`check_affine_nudge` for the same rules on built objects)."""
    other = '"torch" or "auto"'
    if not needs.dense:
        return (
            f'"{engine}" relaxes dense layered networks only and workload.task = '
            f'"{needs.task}" builds other connections; allowed: {other}'
        )
    names = sorted(c.name for c in ACTIVATION_CODES)
    if needs.activation not in names:
        listed = ", ".join(f'"{n}"' for n in names)
        return (
            f'"{engine}" implements the activations {listed}, got network.activation = '
            f'"{needs.activation}"; allowed: {other}'
        )
    if needs.nudged and not needs.affine_nudge:
        return (
            f'"{engine}" needs a nudge affine in the output (workload.loss = "mse"), '
            f'got workload.loss = "{needs.loss}"; allowed: {other}'
        )
    if needs.per_step_reads:
        return f'"{engine}" reads the arrays once per relaxation; per-step read noise needs {other}'
    return None


@dataclass(frozen=True)
class DenseSystem:
    """Φ(s) = M s + h for one batch, with the neurons' gain and offset.

    Attributes
    ----------
    sizes : tuple of int
        State layer widths (n_1, …, n_L); N = Σ n_l.
    forward : list of Tensor
        W_l, ``(n_l, n_{l-1})``, for l = 2 … L (the maps between state layers).
    feedback : list of Tensor
        B_l, ``(n_l, n_{l+1})``, for l = 1 … L−1.
    h : Tensor
        ``(B, N)`` static drive: W_1 DAC(x) + b (+ drive offsets).
    gain, offset : Tensor or None
        ``(N,)`` per-unit neuron gain g and offset o, s = ρ(g u + o) (None: 1 and 0).
    """

    sizes: tuple[int, ...]
    forward: list[Tensor]
    feedback: list[Tensor]
    h: Tensor
    gain: Tensor | None
    offset: Tensor | None

    @property
    def num_units(self) -> int:
        return sum(self.sizes)

    def block_matrix(self) -> Tensor:
        """M as one dense ``(N, N)`` matrix (rows: receiving unit, columns: sending unit)."""
        n = self.num_units
        off = [0]
        for k in self.sizes:
            off.append(off[-1] + k)
        m = torch.zeros(n, n, dtype=self.h.dtype)
        for l, w in enumerate(self.forward, start=1):  # W_{l+1}: layer l-1 → layer l (0-based)
            m[off[l] : off[l + 1], off[l - 1] : off[l]] = w
        for l, b in enumerate(self.feedback):  # B_{l+1}: layer l+1 → layer l
            m[off[l] : off[l + 1], off[l + 1] : off[l + 2]] = b
        return m


def check_dense(network: LayeredNetwork, x: Tensor, engine: str) -> None:
    """Raise :class:`UnsupportedError` unless ``engine`` can relax ``network`` on ``x``.

    Dense layers only, one batch axis, arrays read once per relaxation, and an
    activation in :data:`ACTIVATION_CODES`. Reads nothing (no random draw).
    """
    if not all(isinstance(c, Dense) for c in network.connections):
        kinds = sorted({type(c).__name__ for c in network.connections})
        raise UnsupportedError(
            f"the {engine} backend relaxes dense layered networks only; got {', '.join(kinds)}"
        )
    if network.hardware.per_step_read:
        raise UnsupportedError(
            f"the {engine} backend reads the arrays once per relaxation; per-step read noise "
            "(devices.read_noise_mode = 'per_step') needs substrate.backend = 'torch'"
        )
    if x.device.type != "cpu":
        raise UnsupportedError(f"the {engine} backend runs on the CPU; got x on {x.device}")
    if x.ndim != 2:
        raise UnsupportedError(
            f"the {engine} backend takes inputs (B, n_0); got shape {tuple(x.shape)}"
        )
    activation_code(network, engine)


def dense_system(
    network: LayeredNetwork,
    x: Tensor,
    engine: str,
    *,
    bound: BoundNetwork | None = None,
    drive_offset: Sequence[Tensor] | None = None,
) -> DenseSystem:
    """Read the arrays once (``network.bind()``) and return Φ as matrices for batch ``x``.

    Raises :class:`UnsupportedError` for non-dense layers, inputs with more than one
    batch axis, or hardware that re-reads its arrays at every step.
    """
    check_dense(network, x, engine)
    bound = network.bind() if bound is None else bound
    with torch.no_grad():
        h = bound.static_drive(x)
        if drive_offset is not None:
            h = [o if v is None else v + o for v, o in zip(h, drive_offset, strict=True)]
        batch = x.shape[0]
        dtype = network.dtype
        shapes = network.shapes  # (a property that rebuilds its list: read once)
        h_full = torch.cat(
            [
                torch.zeros(batch, n, dtype=dtype) if v is None else v.detach().expand(batch, n)
                for v, (n,) in zip(h, shapes, strict=True)
            ],
            dim=-1,
        )
        conns = bound.connections
        forward = [c.params["weight"].detach() for c in conns[1:]]
        feedback = [c.feedback_params["weight"].detach().T for c in conns[1:]]
        hw = network.hardware
        gains = [hw.neuron_gain(l) for l in range(len(conns))]
        offsets = [hw.neuron_offset(l) for l in range(len(conns))]

        def cat(parts, fill):
            if all(p is None for p in parts):
                return None
            return torch.cat(
                [
                    torch.full((n,), fill, dtype=dtype) if p is None else p.to(dtype).reshape(n)
                    for p, (n,) in zip(parts, shapes, strict=True)
                ]
            )

        return DenseSystem(
            tuple(s[0] for s in shapes),
            forward,
            feedback,
            h_full,
            cat(gains, 1.0),
            cat(offsets, 0.0),
        )


def affine_nudge(nudge: Nudge, like: Tensor, engine: str) -> tuple[Tensor, Tensor]:
    """(A, c) with g(s) = A_b s_b + c_b for every sample b, checked at a random point.

    ``like`` is a real ``(B, n_L)`` output state. ``A`` is ``(B, n_L, n_L)``, ``c``
    ``(B, n_L)``. Raises :class:`UnsupportedError` when g is not affine in s_L
    (the softmax cross-entropy nudge, for instance).
    """
    batch, n = like.shape
    dtype = like.dtype
    with torch.no_grad():
        basis = torch.zeros(n + 1, batch, n, dtype=dtype)
        idx = torch.arange(n)
        basis[idx + 1, :, idx] = 1.0
        g = nudge(basis)
        if g.is_complex() or g.shape != basis.shape:
            raise UnsupportedError(f"the {engine} backend needs a real nudge g(s_L) of s_L's shape")
        c = g[0]
        a = (g[1:] - c).permute(1, 2, 0).contiguous()  # (B, i, j) = ∂g_i/∂s_j
        probe = torch.rand(batch, n, dtype=dtype, generator=torch.Generator().manual_seed(0))
        want = nudge(probe)
        got = torch.einsum("bij,bj->bi", a, probe) + c
        scale = 1.0 + float(want.abs().max())
        eps = 1e-9 if dtype == torch.float64 else 1e-4
        if not bool(((want - got).abs() <= eps * scale).all()):
            raise UnsupportedError(
                f"the {engine} backend needs a nudge g(s_L) affine in s_L (e.g. workload.loss "
                "= 'mse'); this one is not (use substrate.backend = 'torch' or 'auto')"
            )
    return a, c


def check_affine_nudge(
    network: LayeredNetwork, x: Tensor, beta: Tensor | None, nudge: Nudge | None, engine: str
) -> None:
    """Raise :class:`UnsupportedError` when a nudged relaxation's g(s_L) is not affine
    (:func:`affine_nudge` on a zero output state; nothing to check for a free phase)."""
    if beta is not None and nudge is not None:
        like = torch.zeros(x.shape[0], network.shapes[-1][0], dtype=network.dtype)
        affine_nudge(nudge, like, engine)

r"""The arrays in physical units: conductance pairs, read voltage and line resistance (``[array]``).

A weight is stored on a differential pair of devices and read as

.. math::

    w = \frac{G^+ - G^-}{G_{ref}},\qquad
    G^\pm = \min\big(G_{min} + G_{ref}\,[\pm w]_+,\ G_{max}\big) ,

the device that is not needed resting at G_min (aihwkit and HERMES keep it at 0;
CrossSim's balanced core subtracts the two currents in the array,
docs/hardware_sources.md §C1). G_ref defaults to G_max − G_min, so |w| ≤ 1 spans the
device's range and larger weights saturate at G_max. With ``units = "normalized"`` (the
default) there is one device per weight and its conductance *is* the weight, in weight
units (aihwkit's convention, docs/hardware_sources.md §0); ``g_max`` is then the weight
of a device at full scale.

Everything that happens to a device in time (drift, read-noise processes) acts on its
conductance — on each of G⁺ and G⁻ separately in physical units — and the line
resistance acts on the whole array: the read of array G± is the effective matrix
M(G±) of :func:`neurosim.substrate.ir_drop.effective_conductance` (the circuit is
linear, so I = M v for every input), one crossbar per sign.

The read voltage sets the currents (I = G·V: 25 µS at 0.2 V is 5 µA) that the
periphery and the energy model see; in this linear circuit model it does not change
the weight a read returns, IR drop included (a fraction of the signal at every V).
"""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import model_validator
from torch import Tensor

from ..schema import FieldError, Schema, borrow, param
from .ir_drop import IRDropModel

__all__ = ["Crossbar"]

SIEMENS_PER_MICROSIEMENS = 1e-6


class Crossbar(Schema):
    r"""How the synaptic arrays map weights to conductances (the ``[array]`` section).

    ``units = "normalized"``: one device per weight, in weight units. ``"physical"``:
    a differential pair G± in µS, w = (G⁺ − G⁻)/G_ref, read at ``read_voltage``, with
    optional line resistance. Defaults: normalized, no line resistance (ideal reads).
    """

    units: Literal["normalized", "physical"] = param("normalized", units="")
    """``"normalized"``: the conductance of a device is its weight (weight units);
    ``"physical"``: each weight is a device pair G± in µS, w = (G⁺ − G⁻)/G_ref."""

    g_max: float = param(1.0, gt=0, units="weight or µS")
    """Conductance of a device at full scale (> 0): the weight |w| of a device at G_max
    with normalized units; G_max in µS with physical units (aihwkit PCM 25 µS,
    docs/hardware_sources.md §C1). Sets ĝ = G/G_max of the conductance-dependent
    noise and drift laws."""

    g_min: float = param(0.0, ge=0, units="µS")
    """Physical units: the conductance G_min < G_max of a device at rest (≥ 0; aihwkit 0,
    CrossSim PCM_Joshi 0.25 µS, docs/hardware_sources.md §C1). 0 with normalized units."""

    g_ref: float = param(0.0, ge=0, units="µS")
    """Physical units: the conductance difference G_ref of the weight w = 1 (> 0), or 0 for
    G_max − G_min. 0 with normalized units."""

    read_voltage: float = param(0.2, gt=0, units="V")
    """Read voltage V_read at full input (> 0; aihwkit ±0.2 V, CrossSim 0.1 V, NeuroSim
    0.25–0.58 V, docs/hardware_sources.md §C1): the currents I = G·V (the weight a read
    returns does not depend on it in this linear model)."""

    r_row: float = borrow(IRDropModel, "r_row", note="Physical units, line resistance:")
    r_col: float = borrow(IRDropModel, "r_col", note="Physical units, line resistance:")
    ir_method: Literal["first_order", "exact"] = borrow(
        IRDropModel, "method", note="Physical units, IR drop:"
    )

    @model_validator(mode="after")
    def _units_consistent(self) -> Crossbar:
        if self.units == "normalized":
            for name in ("g_min", "g_ref", "r_row", "r_col"):
                value = getattr(self, name)
                if value != 0:
                    raise FieldError(
                        name,
                        f'{name} = {value!r} with units = "normalized"; allowed: 0 '
                        f'(a physical quantity: set units = "physical")',
                    )
        elif self.g_min >= self.g_max:
            raise FieldError(
                "g_min", f"g_min = {self.g_min!r} must be < g_max = {self.g_max!r} (µS)"
            )
        return self

    @property
    def physical(self) -> bool:
        """True with ``units = "physical"`` (a device pair per weight, µS)."""
        return self.units == "physical"

    @property
    def reference(self) -> float:
        """G_ref in µS (physical units; ``g_ref``, or G_max − G_min when 0)."""
        return self.g_ref if self.g_ref > 0 else self.g_max - self.g_min

    @property
    def ir_drop(self) -> IRDropModel:
        """The line-resistance model (ideal unless physical with r_row or r_col > 0)."""
        return IRDropModel(r_row=self.r_row, r_col=self.r_col, method=self.ir_method)

    @property
    def is_ideal(self) -> bool:
        """True when reads are the weights themselves: normalized units (no line resistance).

        Physical units without anything acting on the devices map w → G± → w, which
        rounds; they are not ideal."""
        return not self.physical

    # -- the pair mapping -----------------------------------------------------------------
    def to_pair(self, w: Tensor) -> Tensor:
        r"""(G⁺, G⁻) in µS of weights ``w``, stacked on a new leading axis: (2, *w.shape).

        G^± = min(G_min + G_ref [±w]₊, G_max); differentiable in w (zero gradient where
        a device saturates).
        """
        ref = self.reference
        pos = (self.g_min + ref * torch.relu(w)).clamp(max=self.g_max)
        neg = (self.g_min + ref * torch.relu(-w)).clamp(max=self.g_max)
        return torch.stack((pos, neg))

    def from_pair(self, g: Tensor) -> Tensor:
        """w = (G⁺ − G⁻)/G_ref of a stacked pair ``g`` (2, …) in µS."""
        return (g[0] - g[1]) / self.reference

    def effective(self, g: Tensor, role: str) -> Tensor:
        r"""The IR-drop factor S = M(G)/G per device of a stacked pair ``g`` (2, …) in µS.

        Each sign is its own crossbar of the array's shape (n_out, n_in); a forward
        array is driven on its inputs (rows j), a feedback array (read as Bᵀ) on its
        outputs, so its crossbar is the transpose. Where G = 0 the factor is 1. Detached.
        """
        model = self.ir_drop
        if model.is_ideal:
            return torch.ones_like(g)
        if g.dim() != 3:
            raise ValueError(
                f"IR drop needs dense (2-D) arrays; this array has shape {tuple(g.shape[1:])}"
            )
        with torch.no_grad():
            out = []
            for half in g:
                cells = half.T if role == "feedback" else half
                siemens = cells * SIEMENS_PER_MICROSIEMENS
                m = model.matrix(siemens)
                ratio = torch.where(siemens > 0, m / siemens.where(siemens > 0, 1.0), 1.0)
                out.append(ratio.T if role == "feedback" else ratio)
            return torch.stack(out)

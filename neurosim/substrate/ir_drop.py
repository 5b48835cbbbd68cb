r"""IR drop in a resistive crossbar: an exact sparse nodal solve and a fast first-order model.

Layout
------
A crossbar holds conductances ``G`` of shape ``(n_out, n_in)`` in siemens (the torch
convention of ``y = W x``: the ideal read is ``I = G v``). Device (o, j) connects input
*row* line j to output *column* line o (● is a crossing: device G_oj between the
row node R_oj and the column node C_oj)::

              o = 0         o = 1               o = n_out-1
    v_0 ─r_row─●────r_row────●──── … ──r_row──────●    row 0, open after the last crossing
               |             |                    |
             r_col         r_col                r_col
               |             |                    |
    v_1 ─r_row─●────r_row────●──── … ──r_row──────●    row 1
               ⋮             ⋮                    ⋮
             r_col         r_col                r_col
               ↓ I_0         ↓ I_1                ↓ I_(n_out-1)   virtual grounds, 0 V

* Row line j is driven by an ideal voltage source v_j (volts) on the o = 0 side. It
  crosses the columns o = 0, …, n_out − 1 in that order; the wire from the driver to
  crossing 0, and each wire between consecutive crossings, is one segment of
  resistance ``r_row`` (ohm). The row ends open after crossing n_out − 1.
* Column line o crosses the rows j = 0, …, n_in − 1 in that order and ends, after
  crossing n_in − 1, at a virtual ground held at 0 V (the sense amplifier / ADC
  input). Each segment between crossings, and the last one from crossing n_in − 1 to
  the sink, has resistance ``r_col`` (ohm). The column is open before crossing 0.
* The output current I_o is the current into column o's virtual ground.

There are 2·n_in·n_out unknown node voltages: the row node R_oj and the column node
C_oj at each crossing. With a = 1/r_row, b = 1/r_col, Kirchhoff's current law reads

.. math::

    a(R_{oj} - R_{o-1,j}) + a(R_{oj} - R_{o+1,j})\,[o < n_{out}-1]
        + G_{oj}(R_{oj} - C_{oj}) = 0, \qquad R_{-1,j} = v_j ,

    b(C_{oj} - C_{o,j-1})\,[j > 0] + b(C_{oj} - C_{o,j+1})
        + G_{oj}(C_{oj} - R_{oj}) = 0, \qquad C_{o,n_{in}} = 0 ,

a sparse symmetric positive-definite system (a Laplacian with Dirichlet nodes on every
line; G ≥ 0). :func:`nodal_solve` solves it for the deviations from the ideal,
R = v_j + x, C = y, whose right-hand side is the ideal cell currents ∓G_oj v_j, and
returns I_o = Σ_j G_oj (v_j + x_oj − y_oj) = (G v)_o + Σ_j G_oj (x_oj − y_oj); the
O(r) correction is then computed to the solver's relative accuracy instead of being
the difference of two nearly equal numbers. A zero-resistance segment merges its
nodes: with r_row = 0 the row nodes are the drivers (R = v_j, x is eliminated), with
r_col = 0 the column nodes are the virtual ground (C = 0, y is eliminated).

Exact form and the first-order model
------------------------------------
Each line is a resistive ladder, so its node voltages follow from the cell currents
i_oj = G_oj u_oj (u = R − C, the cell voltage) by superposition: a current injected at
row node o' flows from the driver through segments 0…o', a current injected at column
node j' flows to the sink through segments j'…n_in − 1, so

.. math::

    R_{oj} = v_j - r_{row} \sum_{o'} (\min(o, o') + 1)\, i_{o'j}, \qquad
    C_{oj} = r_{col} \sum_{j'} (n_{in} - \max(j, j'))\, i_{oj'} .

Hence u = v̄ − T u exactly, with v̄_oj = v_j and T the linear map
u ↦ (v̄ − R + C)[i = G ⊙ u], and u = (1 + T)^{-1} v̄ = v̄ − T v̄ + T² v̄ − …
:func:`first_order` keeps the first two terms: the ideal cell currents
i⁰_oj = G_oj v_j give the line currents, and hence the drops

.. math::

    ΔV^{row}_{oj} = r_{row} \sum_{k \le o} \sum_{o' \ge k} i^0_{o'j}, \qquad
    ΔV^{col}_{oj} = r_{col} \sum_{k \ge j} \sum_{j' \le k} i^0_{oj'}

(cumulative sums along the lines: the current in row segment k is the sum of the
cell currents beyond it, the current in column segment k the sum of those before
it), and

.. math::

    I^{(1)}_o = \sum_j G_{oj} \big(v_j - ΔV^{row}_{oj} - ΔV^{col}_{oj}\big)
              = (G v)_o - \sum_j G_{oj} (T v̄)_{oj} ,

which is exactly the O(r) term of the expansion of the exact currents in r.

Error bound and when to trust the first-order model
---------------------------------------------------
The dimensionless figure of docs/hardware_sources.md §C2 is
ε = :func:`ir_drop_scale` (n, r, g) = n²·r·g/2 for n cells on a line of segment
resistance r carrying devices of conductance g. With g_max = max G, the map T has
∞-norm (max over cells of the summed couplings)

.. math::

    τ = \|T\|_∞ \le g_{max}\Big(r_{row}\frac{n_{out}(n_{out}+1)}{2}
        + r_{col}\frac{n_{in}(n_{in}+1)}{2}\Big)
      = ε_{row}(1 + 1/n_{out}) + ε_{col}(1 + 1/n_{in}) ,

with ε_row = ir_drop_scale(n_out, r_row, g_max), ε_col = ir_drop_scale(n_in, r_col,
g_max). For τ < 1 the remainder of the series, T²(1 + T)^{-1} v̄, bounds the error of
every output against its full-scale current I^fs_o = ‖v‖_∞ Σ_j G_oj:

.. math::

    |I^{(1)}_o - I_o| \le \frac{τ^2}{1 - τ}\, I^{fs}_o \qquad(\approx 4ε^2
    \text{ for a square array with } r_{row} = r_{col}),

while the loss itself is at most τ/(1 − τ)·I^fs_o. Measured (tests/test_ir_drop.py checks
n ≤ 32):

* uniform G = g_max and v (the case closest to the bound), square arrays, r_row = r_col, ε = 0.01:
  the worst output's error is 3.51·ε² (n = 8), 3.06·ε² (16), 2.86·ε² (32),
  2.76·ε² (64) of full scale, i.e. 0.65–0.68 of the bound; its loss is ≈ 1.7·ε
  (→ 5/3·ε: ε from the row, 2ε/3 from the column);
* random arrays (G 1–25 µS, v of both signs, r 0.1–5 Ω, τ 0.002–0.07, up to 32×24):
  the error is ≤ 0.13 of the bound;
* halving r divides the error by 4: fitted log–log slope 1.996–2.000.

So the first-order model is trustworthy for ε ≲ 0.05 (error ≲ 1 % of full scale,
≈ 2ε of the loss it models) and useless once τ ≳ 1 (e.g. n = 256, r = 1 Ω,
G = 25 µS: ε ≈ 0.8, where the first-order loss overshoots and the true loss
saturates); use ``method = "exact"`` there.

Typical values: docs/hardware_sources.md §C2 (0.4–6 Ω per cell pitch, G in the µS
range, arrays tiled at 128–512 cells).
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import scipy.sparse as sp
import torch
from scipy.sparse.linalg import splu
from torch import Tensor

from ..schema import Schema, param

__all__ = [
    "IRDropModel",
    "effective_conductance",
    "first_order",
    "first_order_matrix",
    "ir_drop_scale",
    "node_voltages",
    "nodal_solve",
]


def ir_drop_scale(n: int, r: float, g: float) -> float:
    """ε = n²·r·g/2, the first-order relative IR drop of a line (docs/hardware_sources.md §C2).

    ``n`` cells per line, ``r`` ohm per segment, ``g`` siemens per device. The
    first-order model's error is ≲ 4ε² of full scale (the module docstring gives the
    bound); it is trustworthy for ε ≲ 0.05 and meaningless for ε ≳ 0.5.
    """
    if n < 0 or r < 0 or g < 0:
        raise ValueError(f"n, r, g must be >= 0, got n={n!r}, r={r!r}, g={g!r}")
    return n * n * r * g / 2


# -- exact nodal solve ----------------------------------------------------------------


def _check_resistance(r_row: float, r_col: float) -> tuple[float, float]:
    r_row, r_col = float(r_row), float(r_col)
    if not (np.isfinite(r_row) and np.isfinite(r_col) and r_row >= 0 and r_col >= 0):
        raise ValueError(f"r_row, r_col must be finite and >= 0, got {r_row!r}, {r_col!r}")
    return r_row, r_col


def _as_float64(G: Any, v: Any) -> tuple[np.ndarray, np.ndarray, bool, torch.device | None]:
    """(G, v) as float64 numpy, whether the result is torch, and its device."""
    is_torch = isinstance(G, Tensor) or isinstance(v, Tensor)
    device = G.device if isinstance(G, Tensor) else v.device if isinstance(v, Tensor) else None
    g = G.detach().cpu().numpy() if isinstance(G, Tensor) else np.asarray(G)
    x = v.detach().cpu().numpy() if isinstance(v, Tensor) else np.asarray(v)
    g, x = g.astype(np.float64, copy=False), x.astype(np.float64, copy=False)
    if g.ndim != 2 or x.ndim < 1 or x.shape[-1] != g.shape[1]:
        raise ValueError(f"G must be (n_out, n_in) and v (..., n_in); got {g.shape}, {x.shape}")
    if not (np.isfinite(g).all() and np.isfinite(x).all()):
        raise ValueError("G and v must be finite")
    if (g < 0).any():
        raise ValueError("G must be >= 0 (physical conductances)")
    return g, x, is_torch, device


def _deviations(g: np.ndarray, x: np.ndarray, r_row: float, r_col: float):
    """(dR, dC), each (n_out, n_in, B) or None: R = v_j + dR, C = dC (None: eliminated)."""
    n_out, n_in = g.shape
    rows_free, cols_free = r_row > 0, r_col > 0
    n_r = n_out * n_in if rows_free else 0
    n = n_r + (n_out * n_in if cols_free else 0)
    # row node (o, j) -> j·n_out + o (contiguous along its row line); column node -> o·n_in + j
    idx_r = np.arange(n_out * n_in).reshape(n_in, n_out).T
    idx_c = n_r + np.arange(n_out * n_in).reshape(n_out, n_in)
    diag = np.zeros(n)
    i_off, j_off, v_off = [], [], []
    cells = g[:, :, None] * x.T[None, :, :]  # i⁰_oj per sample: (n_out, n_in, B)
    rhs = np.empty((n, x.shape[0]))
    if rows_free:
        a = 1.0 / r_row
        d = np.full((n_out, n_in), 2 * a)
        d[-1, :] = a  # the row is open after its last crossing
        diag[idx_r] += d + g
        i_off += [idx_r[:-1].ravel(), idx_r[1:].ravel()]
        j_off += [idx_r[1:].ravel(), idx_r[:-1].ravel()]
        v_off += [np.full(2 * (n_out - 1) * n_in, -a)]
        rhs[idx_r.ravel()] = -cells.reshape(n_out * n_in, -1)
    if cols_free:
        b = 1.0 / r_col
        d = np.full((n_out, n_in), 2 * b)
        d[:, 0] = b  # the column is open before its first crossing
        diag[idx_c] += d + g
        i_off += [idx_c[:, :-1].ravel(), idx_c[:, 1:].ravel()]
        j_off += [idx_c[:, 1:].ravel(), idx_c[:, :-1].ravel()]
        v_off += [np.full(2 * n_out * (n_in - 1), -b)]
        rhs[idx_c.ravel()] = cells.reshape(n_out * n_in, -1)
    if rows_free and cols_free:  # the devices couple the two nodes of each crossing
        i_off += [idx_r.ravel(), idx_c.ravel()]
        j_off += [idx_c.ravel(), idx_r.ravel()]
        v_off += [-g.ravel(), -g.ravel()]
    ii = np.concatenate([np.arange(n), *i_off])
    jj = np.concatenate([np.arange(n), *j_off])
    vv = np.concatenate([diag, *v_off])
    matrix = sp.csc_matrix((vv, (ii, jj)), shape=(n, n))
    sol = splu(matrix).solve(rhs)  # one factorization, all samples at once
    d_r = sol[idx_r.ravel()].reshape(n_out, n_in, -1) if rows_free else None
    d_c = sol[idx_c.ravel()].reshape(n_out, n_in, -1) if cols_free else None
    return d_r, d_c


def _back(a: np.ndarray, is_torch: bool, device) -> Any:
    return torch.from_numpy(np.ascontiguousarray(a)).to(device) if is_torch else a


def node_voltages(G: Any, v: Any, r_row: float, r_col: float) -> tuple[Any, Any]:
    """The exact node voltages (V_row, V_col), each ``(..., n_out, n_in)``, float64.

    ``V_row[..., o, j]`` is the row-line node R_oj at crossing (o, j), ``V_col`` the
    column-line node C_oj (volts); the geometry is the module docstring's. Torch in
    (``G`` or ``v``) gives torch out, on ``G``'s device (not differentiable).
    """
    r_row, r_col = _check_resistance(r_row, r_col)
    g, x, is_torch, device = _as_float64(G, v)
    lead, n_in = x.shape[:-1], x.shape[-1]
    x2 = x.reshape(-1, n_in)
    shape = (*lead, *g.shape)
    v_bar = np.broadcast_to(x2[:, None, :], (x2.shape[0], *g.shape))
    if r_row == 0 and r_col == 0:
        v_row, v_col = v_bar.copy(), np.zeros_like(v_bar)
    else:
        d_r, d_c = _deviations(g, x2, r_row, r_col)
        v_row = v_bar + d_r.transpose(2, 0, 1) if d_r is not None else v_bar.copy()
        v_col = d_c.transpose(2, 0, 1) if d_c is not None else np.zeros_like(v_bar)
    return _back(v_row.reshape(shape), is_torch, device), _back(
        v_col.reshape(shape), is_torch, device
    )


def nodal_solve(G: Any, v: Any, r_row: float, r_col: float) -> Any:
    """The exact output currents of the crossbar with line resistance (Kirchhoff, sparse LU).

    Parameters
    ----------
    G : array or Tensor, (n_out, n_in)
        Conductances in siemens, ≥ 0.
    v : array or Tensor, (..., n_in)
        Driver voltages in volts (one sample per leading index; usually (batch, n_in)).
    r_row, r_col : float
        Segment resistance of the row and column lines in ohm, ≥ 0 (0 merges the
        line's nodes into its driver or its virtual ground).

    Returns
    -------
    I : (..., n_out), float64, amperes
        Currents into the columns' virtual grounds; torch in (``G`` or ``v``) gives torch
        out, on ``G``'s device (not differentiable). With r_row = r_col = 0 it is
        ``v @ G.T`` in float64, the ideal read, bit for bit.

    The conductance matrix is assembled in CSC and factored once (``splu``); all samples
    are solved as one multi-column right-hand side.
    """
    r_row, r_col = _check_resistance(r_row, r_col)
    g, x, is_torch, device = _as_float64(G, v)
    if is_torch:  # the ideal read in the caller's library: torch's matmul, on its device
        gt = torch.as_tensor(G).detach().to(device=device, dtype=torch.float64)
        ideal = torch.as_tensor(v).detach().to(device=device, dtype=torch.float64) @ gt.T
    else:
        ideal = x @ g.T
    if r_row == 0 and r_col == 0:
        return ideal
    lead, n_in = x.shape[:-1], x.shape[-1]
    d_r, d_c = _deviations(g, x.reshape(-1, n_in), r_row, r_col)
    du = d_r if d_c is None else -d_c if d_r is None else d_r - d_c  # (n_out, n_in, B)
    correction = np.einsum("oj,ojb->bo", g, du).reshape(*lead, g.shape[0])
    return ideal + _back(correction, is_torch, device)


# -- first-order model ---------------------------------------------------------------


def _rcumsum(t: Tensor, dim: int) -> Tensor:
    """Σ_{k' ≥ k} along ``dim``."""
    return t.flip(dim).cumsum(dim).flip(dim)


def first_order(G: Any, v: Any, r_row: float, r_col: float) -> Any:
    """The output currents to first order in the line resistance (cumulative sums, torch).

    Parameters
    ----------
    G : Tensor, (n_out, n_in)
        Conductances in siemens (≥ 0 for the physics; any sign computes).
    v : Tensor, (..., n_in)
        Driver voltages in volts, same dtype as ``G`` (float32 or float64).
    r_row, r_col : float
        Segment resistances in ohm, ≥ 0; the geometry is the module docstring's.

    Returns
    -------
    I : Tensor, (..., n_out)
        I_o = Σ_j G_oj (v_j − ΔV^row_oj − ΔV^col_oj) with the drops of the ideal cell
        currents; differentiable in ``G`` and ``v``. With r_row = r_col = 0 it is
        ``v @ G.T`` itself (the ideal read, bit for bit). Error ≤ τ²/(1 − τ) of full
        scale, ≈ 4ε² (module docstring). NumPy in gives NumPy out.
    """
    r_row, r_col = _check_resistance(r_row, r_col)
    is_numpy = not isinstance(G, Tensor) and not isinstance(v, Tensor)
    if r_row == 0 and r_col == 0:
        return np.asarray(v) @ np.asarray(G).T if is_numpy else v @ G.T
    G, v = torch.as_tensor(G), torch.as_tensor(v)
    ideal = v @ G.T
    cells = G * v.unsqueeze(-2)  # i⁰_oj: (..., n_out, n_in)
    drop = None
    if r_row > 0:  # row segment k carries Σ_{o' ≥ k} i⁰; the drop at o sums segments 0..o
        drop = r_row * _rcumsum(cells, -2).cumsum(-2)
    if r_col > 0:  # column segment k carries Σ_{j' ≤ k} i⁰; node j sits above segments j..
        d_col = r_col * _rcumsum(cells.cumsum(-1), -1)
        drop = d_col if drop is None else drop + d_col
    out = ideal - (G * drop).sum(-1)
    return out.numpy() if is_numpy else out


def first_order_matrix(G: Tensor, r_row: float, r_col: float) -> Tensor:
    r"""The matrix M of the first-order read, I⁽¹⁾ = M v for every v (torch, differentiable).

    The circuit is linear, so the first-order currents of :func:`first_order` are a
    linear map of the drivers. Collecting the coefficient of v_j in I⁽¹⁾_o,

    .. math::

        M_{oj} = G_{oj}\big(1 - r_{row}\,A_{oj} - r_{col}\,B_{oj}\big),\qquad
        A_{oj} = \sum_{k \le o} \sum_{o' \ge k} G_{o'j},\qquad
        B_{oj} = \sum_{k \ge j} \sum_{j' \le k} G_{oj'} ,

    (A: the row drop per volt at crossing (o, j); B: how strongly input j's current
    loads the column segments that the other cells of column o share). O(n_out·n_in),
    against O(batch·n_out·n_in) for :func:`first_order` itself; ``v @ M.T`` equals
    ``first_order(G, v, r_row, r_col)`` up to rounding. With r_row = r_col = 0, M is
    ``G`` itself.
    """
    r_row, r_col = _check_resistance(r_row, r_col)
    if r_row == 0 and r_col == 0:
        return G
    loss = None
    if r_row > 0:
        loss = r_row * _rcumsum(G, -2).cumsum(-2)
    if r_col > 0:
        b = r_col * _rcumsum(G.cumsum(-1), -1)
        loss = b if loss is None else loss + b
    return G * (1 - loss)


EXACT_MAX_CELLS = 1 << 16
"""Largest array (n_out·n_in) :func:`effective_conductance` solves exactly: the solve has
2·n_out·n_in unknowns and n_in right-hand sides."""


def effective_conductance(
    G: Tensor, r_row: float, r_col: float, method: Literal["first_order", "exact"]
) -> Tensor:
    """The matrix M with I = M v of the crossbar ``G`` (S) with line resistance.

    ``"first_order"``: :func:`first_order_matrix` (differentiable). ``"exact"``: the
    columns of M are the exact currents of the unit drivers e_j (:func:`nodal_solve`,
    one factorization, n_in right-hand sides; float64, not differentiable; arrays of at
    most :data:`EXACT_MAX_CELLS` cells). Same dtype and device as ``G``; ``G`` itself
    when both resistances are 0.
    """
    if method == "first_order":
        return first_order_matrix(G, r_row, r_col)
    if method != "exact":
        raise ValueError(f'method must be "first_order" or "exact", got {method!r}')
    r_row, r_col = _check_resistance(r_row, r_col)
    if r_row == 0 and r_col == 0:
        return G
    n_out, n_in = G.shape
    if n_out * n_in > EXACT_MAX_CELLS:
        raise ValueError(
            f"the exact IR-drop solve is for small arrays (≤ {EXACT_MAX_CELLS} cells); this "
            f'array has {n_out}×{n_in}: use method = "first_order"'
        )
    eye = torch.eye(n_in, dtype=torch.float64)
    m = nodal_solve(G.detach().to(torch.float64), eye, r_row, r_col)  # (n_in, n_out)
    return m.T.to(dtype=G.dtype, device=G.device)


# -- config schema -------------------------------------------------------------------


class IRDropModel(Schema):
    r"""Line resistance of the synaptic arrays and how the read accounts for it.

    A crossbar ``G`` (n_out, n_in) with row lines driven from the o = 0 side and column
    lines ending at virtual grounds after the last row (layout in
    :mod:`neurosim.substrate.ir_drop`) reads

    .. math::

        I_o = \sum_j G_{oj}\,(v_j - ΔV^{row}_{oj} - ΔV^{col}_{oj}) ,

    with the drops solved exactly from Kirchhoff's laws (``method = "exact"``,
    :func:`nodal_solve`) or taken to first order in r from the ideal cell currents
    (``"first_order"``, :func:`first_order`; error ≲ 4ε² of full scale with
    ε = n²·r·g/2, docs/hardware_sources.md §C2). Both zero (the default): the ideal
    read ``v @ G.T``.
    """

    r_row: float = param(0.0, ge=0, units="ohm")
    """Row-line segment resistance r_row in ohm per segment (driver to the first crossing,
    and between neighbouring crossings); ≥ 0, 0 = ideal row wires."""

    r_col: float = param(0.0, ge=0, units="ohm")
    """Column-line segment resistance r_col in ohm per segment (between neighbouring
    crossings, and the last crossing to the virtual ground); ≥ 0, 0 = ideal column wires."""

    method: Literal["first_order", "exact"] = param("first_order", units="")
    """How the drops are computed: ``"first_order"`` (fast, differentiable torch, error
    O(ε²)) or ``"exact"`` (sparse nodal solve, float64, not differentiable)."""

    @property
    def is_ideal(self) -> bool:
        """True when both resistances are 0: :meth:`currents` is then ``v @ G.T``."""
        return self.r_row == 0 and self.r_col == 0

    def currents(self, G: Any, v: Any) -> Any:
        """The output currents I (..., n_out) of conductances ``G`` (S) read at ``v`` (V)."""
        if self.method == "exact":
            return nodal_solve(G, v, self.r_row, self.r_col)
        return first_order(G, v, self.r_row, self.r_col)

    def matrix(self, G: Tensor) -> Tensor:
        """The effective conductance matrix M (I = M v) of ``G`` (:func:`effective_conductance`)."""
        return effective_conductance(G, self.r_row, self.r_col, self.method)

r"""Alignment metrics between an estimate (EP) and a reference (BP).

Per layer, over samples b:

.. math::

    \cos_l = \frac{1}{B}\sum_b
        \frac{⟨δ^{EP}_{l,b}, δ^{BP}_{l,b}⟩}{\|δ^{EP}_{l,b}\|\,\|δ^{BP}_{l,b}\|},
    \qquad ρ_l = \frac{1}{B}\sum_b \frac{\|δ^{EP}_{l,b}\|}{\|δ^{BP}_{l,b}\|} ,

and the same cosine and norm ratio between whole parameter gradients.
A perfect estimate has cos = 1 and ρ = 1.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = ["Alignment", "cosine_similarity", "delta_alignment", "gradient_alignment"]


@dataclass
class Alignment:
    """Cosine and norm ratio, one entry per layer (or per parameter); ``total`` over all."""

    names: list[str]
    cosine: Tensor
    norm_ratio: Tensor
    total_cosine: float
    total_norm_ratio: float


def cosine_similarity(a: Tensor, b: Tensor, dim: int = -1) -> Tensor:
    """⟨a, b⟩ / (‖a‖ ‖b‖) along ``dim``."""
    return (a * b).sum(dim) / (a.norm(dim=dim) * b.norm(dim=dim))


def delta_alignment(delta: Sequence[Tensor], reference: Sequence[Tensor]) -> Alignment:
    """Per-layer alignment of per-sample error vectors ``(B, *shape_l)``, mean over samples."""
    cos, ratio = [], []
    for a, b in zip(delta, reference, strict=True):
        a2, b2 = a.reshape(a.shape[0], -1), b.reshape(b.shape[0], -1)
        cos.append(cosine_similarity(a2, b2).mean())
        ratio.append((a2.norm(dim=-1) / b2.norm(dim=-1)).mean())
    fa = torch.cat([t.reshape(t.shape[0], -1) for t in delta], -1)
    fb = torch.cat([t.reshape(t.shape[0], -1) for t in reference], -1)
    return Alignment(
        [f"layer{l + 1}" for l in range(len(cos))],
        torch.stack(cos),
        torch.stack(ratio),
        float(cosine_similarity(fa, fb).mean()),
        float((fa.norm(dim=-1) / fb.norm(dim=-1)).mean()),
    )


def gradient_alignment(
    grads: Mapping[str, Tensor], reference: Mapping[str, Tensor], *, skip_zero: bool = True
) -> Alignment:
    """Alignment of parameter gradients by name; parameters with a zero reference are skipped."""
    names = [n for n in reference if not (skip_zero and not reference[n].any())]
    a = [grads[n].reshape(-1) for n in names]
    b = [reference[n].reshape(-1) for n in names]
    cos = torch.stack([cosine_similarity(x, y, 0) for x, y in zip(a, b, strict=True)])
    ratio = torch.stack([x.norm() / y.norm() for x, y in zip(a, b, strict=True)])
    fa, fb = torch.cat(a), torch.cat(b)
    return Alignment(
        names, cos, ratio, float(cosine_similarity(fa, fb, 0)), float(fa.norm() / fb.norm())
    )

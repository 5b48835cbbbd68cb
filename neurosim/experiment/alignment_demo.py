r"""The embedded default job: EP-vs-BP alignment across feedback-asymmetry angles.

For each angle α, seed and estimator, a dense network is relaxed to its free
fixed point on a random batch, δ_EP is estimated, δ_BP is computed by implicit
differentiation, and the per-layer cosine / norm ratio between them, the
weight-gradient cosine and the Jacobian symmetry score are recorded.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
import xarray as xr

from ..learning import (
    FreePhase,
    GeneralizedEP,
    ImplicitBP,
    MSELoss,
    NudgedPhase,
    delta_alignment,
    get_estimator,
    gradient_alignment,
    jacobian_symmetry,
)
from ..substrate import FixedPoint, LayeredNetwork

__all__ = ["AlignmentDemoConfig", "run_alignment_demo"]


@dataclass(frozen=True)
class AlignmentDemoConfig:
    """Settings of the alignment demo (all serialised into the result's attrs)."""

    sizes: tuple[int, ...] = (20, 32, 32, 10)
    activation: str = "shifted_sigmoid"
    batch: int = 32
    angles: tuple[float, ...] = (0.0, 15.0, 30.0, 45.0, 60.0, 75.0, 90.0)
    seeds: tuple[int, ...] = (0, 1, 2)
    free_steps: int = 500
    nudged_steps: int = 500
    tol: float = 1e-10
    estimators: dict[str, dict] = field(
        default_factory=lambda: {
            "one_sided": {"kind": "one_sided", "beta": 0.1},
            "centered": {"kind": "centered", "beta": 0.1},
            "holomorphic_n4": {"kind": "holomorphic", "r": 0.1, "n": 4},
            "exact": {"kind": "exact"},
        }
    )

    def to_dict(self) -> dict:
        d = asdict(self)
        d["sizes"], d["angles"], d["seeds"] = list(self.sizes), list(self.angles), list(self.seeds)
        return d


def run_alignment_demo(
    config: AlignmentDemoConfig, *, progress: Callable[[str], None] | None = None
) -> xr.Dataset:
    """Compute the alignment dataset ``(alpha, estimator, seed[, layer])``."""
    names = list(config.estimators)
    n_layers = len(config.sizes) - 1
    shape = (len(config.angles), len(names), len(config.seeds))
    cos = np.full((*shape, n_layers), np.nan)
    ratio = np.full((*shape, n_layers), np.nan)
    gcos = np.full(shape, np.nan)
    sym = np.full((len(config.angles), len(config.seeds)), np.nan)
    resid = np.full((len(config.angles), len(config.seeds)), np.nan)
    free_phase = FreePhase(steps=config.free_steps, tol=config.tol)
    nudged = NudgedPhase(steps=config.nudged_steps, integrator=FixedPoint(), tol=config.tol)
    loss = MSELoss()
    for j, seed in enumerate(config.seeds):
        for i, alpha in enumerate(config.angles):
            gen = torch.Generator().manual_seed(seed)
            net = LayeredNetwork.dense(
                config.sizes, activation=config.activation, alpha=alpha, generator=gen
            )
            x = torch.rand(config.batch, config.sizes[0], dtype=torch.float64, generator=gen)
            y = torch.rand(config.batch, config.sizes[-1], dtype=torch.float64, generator=gen)
            free = free_phase.run(net, x)
            resid[i, j] = float(free.residual.max())
            sym[i, j] = float(jacobian_symmetry(net, x, free.s).mean())
            bp = ImplicitBP(free_phase).compute(net, loss, x, y, free=free)
            for k, name in enumerate(names):
                spec = dict(config.estimators[name])
                est = get_estimator(spec.pop("kind"), **spec)
                ep = GeneralizedEP(est, free_phase, nudged).compute(net, loss, x, y, free=free)
                da = delta_alignment(ep.delta, bp.delta)
                cos[i, k, j] = da.cosine.numpy()
                ratio[i, k, j] = da.norm_ratio.numpy()
                gcos[i, k, j] = gradient_alignment(ep.grads, bp.grads).total_cosine
            if progress is not None:
                progress(f"seed {seed} alpha {alpha:g}")
    coords = {
        "alpha": (
            "alpha",
            np.asarray(config.angles),
            {"units": "degree", "long_name": "feedback angle α"},
        ),
        "estimator": ("estimator", names),
        "seed": ("seed", np.asarray(config.seeds)),
        "layer": ("layer", np.arange(1, n_layers + 1)),
    }
    dims4 = ("alpha", "estimator", "seed", "layer")
    return xr.Dataset(
        {
            "delta_cosine": (
                dims4,
                cos,
                {"units": "1", "long_name": "cosine(δ_EP, δ_BP), mean over samples"},
            ),
            "delta_norm_ratio": (
                dims4,
                ratio,
                {"units": "1", "long_name": "‖δ_EP‖/‖δ_BP‖, mean over samples"},
            ),
            "grad_cosine": (
                dims4[:3],
                gcos,
                {"units": "1", "long_name": "cosine of EP and BP weight gradients"},
            ),
            "jacobian_symmetry": (
                ("alpha", "seed"),
                sym,
                {"units": "1", "long_name": "‖J_sym‖/(‖J_sym‖+‖J_anti‖)"},
            ),
            "free_residual": (
                ("alpha", "seed"),
                resid,
                {"units": "1", "long_name": "max ‖F(u*)‖ of the free phase"},
            ),
        },
        coords=coords,
    )

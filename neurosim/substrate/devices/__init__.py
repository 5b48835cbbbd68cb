"""Synaptic device models: what a read of an analog array returns and what a write stores.

:class:`AbstractDeviceModel` is the interface, :data:`DEVICE_MODELS` the registry of
models by ``kind`` (the config's ``[devices] kind``), one model per module:
:class:`DeviceModel` (``"normalized"``, aihwkit-style dimensionless weights).
"""

from ._base import (
    DEVICE_MODELS as DEVICE_MODELS,
    FAULT_NONE as FAULT_NONE,
    FAULT_W_MAX as FAULT_W_MAX,
    FAULT_W_MIN as FAULT_W_MIN,
    FAULT_ZERO as FAULT_ZERO,
    AbstractDeviceModel as AbstractDeviceModel,
    DeviceState as DeviceState,
    get_device_model as get_device_model,
    quantize_uniform as quantize_uniform,
    register_device_model as register_device_model,
    straight_through as straight_through,
)
from ._normalized import DeviceModel as DeviceModel

__all__ = [
    "AbstractDeviceModel",
    "DEVICE_MODELS",
    "DeviceModel",
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

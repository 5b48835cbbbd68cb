r"""An analog substrate: synaptic device arrays plus non-ideal neurons and converters.

:class:`AnalogHardware` implements every hook of
:class:`~neurosim.substrate.hardware.AbstractHardware` from a device model
(:class:`~neurosim.substrate.devices.AbstractDeviceModel`: the synaptic arrays) and a
neuron model (:class:`~neurosim.substrate.neurons.AbstractNeuronModel`: neurons, DAC, ADC).

Physical arrays. Connection l has two arrays: ``"forward"`` stores θ (read as
W_l) and ``"feedback"`` stores θ_fb(α) (read as B); at α = 0 they hold the same
values but are distinct devices with their own realization. An array is a
parameter tensor whose name ends with ``weight``; biases are digital and
pass through reads and writes untouched. The network's parameter names map to
arrays as

====================================  =====================================
parameter name                        array (layer, role, name in the read)
====================================  =====================================
``connections.{l}.weight``            (l, ``"forward"``, ``"weight"``)
``connections.{l}.weight_b0``         (l, ``"feedback"``, ``"weight"``)
``connections.{l}.module.{p}``        (l, ``"forward"``, ``p``)
``connections.{l}.module_b0.{p}``     (l, ``"feedback"``, ``p``)
====================================  =====================================

Conductances. After the device model's read (gains, levels, faults) each array is
a set of devices in the units of ``array`` (:class:`~neurosim.substrate.crossbar.Crossbar`):
the weights themselves (normalized units) or a pair G± per weight in µS (physical).
On the devices act, in this order,

.. math::

    G \;\to\; \underbrace{G f(t) + c(t)}_{\text{drift, relaxation}}
      \;\to\; {} + a(G)\textstyle\sum_p x_p(t) \;\to\; {}\odot S(G)
      \;\to\; w = (G^+ - G^-)/G_{ref},

drift and post-write relaxation (:class:`~neurosim.substrate.drift.Drift`: f, c
evaluated at each phase's start), the read-noise processes at the read's time
stamp, and the IR-drop factor S = M(G)/G of the noise-free conductances (held with
f and c, :meth:`Crossbar.effective`). f, c and S are detached: gradients pass as
∂w̃/∂w = f·S. In normalized units a signed weight is one device (G = w, ĝ = |w|/G_max,
a relaxation shift moves |w|).

Time. Read noise configured as processes (:class:`~neurosim.substrate.read_noise.ReadNoise`)
is a state per device and process, evaluated at the clock's time at every read; the
arrays are then re-read at every relaxation step. Each (array, process) has its own
generator seeded by a hash of (seed, "noise", kind, layer, role, name); each array's
drift (its devices' write times, ν and Δ) by (seed, "drift", layer, role, name). A
device is written at the first read of its array (at the clock's time then) and at
every :meth:`AnalogHardware.write` that changes it.

Randomness. Each array's realization (d2d gains, faults) comes from a CPU
generator seeded by a hash of (seed, layer, role, name), so it does not depend
on the order in which arrays are first read or written; each layer's neuron
gains and offsets likewise from (seed, layer). Read noise, write randomness and
thermal noise each have their own stream seeded from ``seed`` (one generator
per torch device), so switching one effect on leaves the others' draws unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch
from torch import Tensor

from ..seeds import derive_seed
from .crossbar import Crossbar
from .devices import AbstractDeviceModel, DeviceState
from .drift import Drift, DriftState, on_write
from .hardware import AbstractHardware
from .network import LayeredNetwork
from .neurons import AbstractNeuronModel
from .noise import NoiseState, amplitude_scale
from .read_noise import ReadNoise
from .timeline import Clock, Timing

__all__ = ["AnalogHardware", "derive_seed", "array_key"]


def _is_array(name: str) -> bool:
    return name.rsplit(".", 1)[-1].endswith("weight")


def array_key(name: str) -> tuple[int, str, str] | None:
    """(layer, role, name in the read) of a network parameter stored in an array, else None."""
    parts = name.split(".", 2)
    if len(parts) != 3 or parts[0] != "connections" or not parts[1].isdigit():
        return None
    layer, rest = int(parts[1]), parts[2]
    if rest == "weight_b0":
        return layer, "feedback", "weight"
    if rest.startswith("module_b0."):
        role, rest = "feedback", rest[len("module_b0.") :]
    elif rest.startswith("module."):
        role, rest = "forward", rest[len("module.") :]
    else:
        role = "forward"
    return (layer, role, rest) if _is_array(rest) else None


class AnalogHardware(AbstractHardware):
    r"""Analog substrate built from a device model and a neuron model.

    Parameters
    ----------
    devices
        The synaptic device model, shared by every array.
    neurons
        Neuron mismatch, thermal noise, DAC and ADC.
    seed
        Seeds every realization and noise stream.
    layer_shapes
        Per-sample shapes of layers 1..L (:attr:`LayeredNetwork.shapes`);
        required when neurons have gain or offset mismatch.
    dtype, device
        Where the per-unit neuron gains and offsets live; they must match the
        network's real dtype (a float64 gain would promote float32 states).
        :meth:`for_network` fills these in.
    noise
        Read noise as processes in time (None or ideal: none).
    timing
        The clock's step length and phase layout (:class:`Timing`; defaults if None).
    drift
        Drift and post-write relaxation of every device (None or ideal: none).
    array
        Units of the devices, differential pair and line resistance (None: normalized).

    Notes
    -----
    ``per_step_read`` is True when read noise is on and redrawn per step; the
    relaxation then rebinds (re-reads) the arrays at every step. Per-read noise
    is redrawn at each bind: every relaxation, and every evaluation of the
    drive by a learning rule, sees a fresh read.
    """

    def __init__(
        self,
        devices: AbstractDeviceModel,
        neurons: AbstractNeuronModel,
        *,
        seed: int,
        layer_shapes: Sequence[tuple[int, ...]] | None = None,
        dtype: torch.dtype = torch.float64,
        device: torch.device | str | None = None,
        noise: ReadNoise | None = None,
        timing: Timing | None = None,
        drift: Drift | None = None,
        array: Crossbar | None = None,
    ):
        if neurons.mismatched and layer_shapes is None:
            raise ValueError(
                "neuron gain/offset mismatch needs layer_shapes "
                "(use AnalogHardware.for_network(network, ...))"
            )
        if dtype.is_complex or not dtype.is_floating_point:
            raise ValueError(f"dtype must be a real floating dtype, got {dtype}")
        self.devices = devices
        self.neurons = neurons
        self.seed = int(seed)
        self.layer_shapes = None if layer_shapes is None else [tuple(s) for s in layer_shapes]
        self.dtype = dtype
        self.device = None if device is None else torch.device(device)
        self.noise = None if noise is None or noise.is_ideal else noise
        self._processes = () if self.noise is None else self.noise.processes()
        self.clock = Clock(timing)
        self.array = Crossbar() if array is None else array
        self.drift = None if drift is None or drift.is_ideal else drift
        self._drift_models = None if self.drift is None else self.drift.models(self.array.g_max)
        self.per_step_read = devices.per_step_read or bool(self._processes)
        self._noise: dict[tuple, tuple[NoiseState, torch.Generator]] = {}
        self._drift: dict[tuple[int, str, str], tuple[DriftState, torch.Generator]] = {}
        self._held: dict[tuple[int, str, str], tuple] = {}
        self._writes = 0
        self._states: dict[tuple[int, str, str], DeviceState] = {}
        self._cast: dict[tuple, DeviceState] = {}
        self._units: dict[tuple[str, int], Tensor | None] = {}
        self._generators: dict[tuple[str, torch.device], torch.Generator] = {}

    @classmethod
    def for_network(
        cls,
        network: LayeredNetwork,
        devices: AbstractDeviceModel,
        neurons: AbstractNeuronModel,
        seed: int,
        noise: ReadNoise | None = None,
        timing: Timing | None = None,
        drift: Drift | None = None,
        array: Crossbar | None = None,
    ) -> AnalogHardware:
        """Hardware sized for ``network`` (its layer shapes, dtype and device); not attached."""
        return cls(
            devices,
            neurons,
            seed=seed,
            layer_shapes=network.shapes,
            dtype=network.dtype,
            device=next(network.parameters()).device,
            noise=noise,
            timing=timing,
            drift=drift,
            array=array,
        )

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(devices={self.devices!r}, neurons={self.neurons!r}, "
            f"noise={self.noise!r}, drift={self.drift!r}, array={self.array!r}, seed={self.seed})"
        )

    @property
    def is_ideal(self) -> bool:
        return False

    # -- randomness -------------------------------------------------------------------
    def _generator(self, stream: str, device: torch.device) -> torch.Generator:
        key = (stream, device)
        gen = self._generators.get(key)
        if gen is None:
            gen = torch.Generator(device=device).manual_seed(derive_seed(self.seed, stream))
            self._generators[key] = gen
        return gen

    def state_dict(self) -> dict:
        """States of the random streams (``"stream@device"``), of the noise processes
        (``"noise"``: per array and process, the state and its generator) and the clock."""
        out: dict = {f"{s}@{d}": g.get_state() for (s, d), g in self._generators.items()}
        out["noise"] = {
            key: (state.state_dict(), gen.get_state(), str(gen.device))
            for key, (state, gen) in self._noise.items()
        }
        out["drift"] = {
            key: (state.state_dict(), gen.get_state()) for key, (state, gen) in self._drift.items()
        }
        out["clock"] = self.clock.state_dict()
        return out

    def load_state_dict(self, state: Mapping) -> None:
        """Restore the streams, noise processes, drift and clock saved by :meth:`state_dict`."""
        self._generators.clear()
        self._noise.clear()
        self._drift.clear()
        self._held.clear()
        for key, value in state.items():
            if key == "drift":
                for dkey, (dstate, gstate) in value.items():
                    gen = torch.Generator()
                    gen.set_state(gstate)
                    entry = DriftState.from_state_dict(dstate, *self._drift_models)
                    self._drift[tuple(dkey)] = (entry, gen)
            elif key == "noise":
                for nkey, (nstate, gstate, device) in value.items():
                    gen = torch.Generator(device=device)
                    gen.set_state(gstate)
                    self._noise[tuple(nkey)] = (NoiseState.from_state_dict(nstate), gen)
            elif key == "clock":
                self.clock.load_state_dict(value)
            else:
                stream, device = key.split("@")
                self._generator(stream, torch.device(device)).set_state(value)

    def device_state(self, layer: int, role: str, name: str, like: Tensor) -> DeviceState:
        """The realization of array (``layer``, ``role``, ``name``), cast like ``like``.

        Drawn on first use from a generator seeded by (seed, layer, role, name).
        """
        key = (layer, role, name)
        state = self._states.get(key)
        if state is None:
            gen = torch.Generator().manual_seed(derive_seed(self.seed, "device", *key))
            state = self.devices.realize(like.shape, gen)
            self._states[key] = state
        elif state.shape != tuple(like.shape):
            raise ValueError(
                f"array {key} was realized with shape {state.shape}, now read as "
                f"{tuple(like.shape)}"
            )
        ckey = (key, like.dtype, like.device)
        cast = self._cast.get(ckey)
        if cast is None:
            cast = state.to(like.dtype, like.device)
            self._cast[ckey] = cast
        return cast

    # -- synapses ---------------------------------------------------------------------
    def read_params(self, layer: int, role: str, params: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """Each array tensor (name ending in ``weight``) as one read at the clock's time.

        The device model's read (:meth:`DeviceModel.read`), then what acts on the
        devices' conductances (module docstring): drift, noise processes, IR drop.
        """
        out = dict(params)
        dev = self.devices
        on_devices = bool(self._processes) or self.drift is not None or self.array.physical
        if dev.read_is_identity and not on_devices:
            return out
        for name, w in params.items():
            if not _is_array(name):
                continue
            if not dev.read_is_identity:
                state = self.device_state(layer, role, name, w) if dev.has_static else None
                gen = self._generator("read", w.device) if dev.noisy_reads else None
                out[name] = dev.read(w, state, gen)
            if on_devices:
                out[name] = self._conductance_read((layer, role, name), out[name], w)
        return out

    def _devices_of(self, w: Tensor) -> Tensor:
        """The devices' conductances of weights ``w``: |w| (normalized) or G± (physical, µS)."""
        return self.array.to_pair(w) if self.array.physical else w.abs()

    def _conductance_read(self, key: tuple[int, str, str], w: Tensor, stored: Tensor) -> Tensor:
        """Drift, noise and IR drop on the devices of array ``key`` read as ``w``."""
        xb = self.array
        g = xb.to_pair(w) if xb.physical else w
        factor, offset, ir, amp = self._held_terms(key, g, stored)
        if factor is not None:
            # normalized: a signed weight is one device; its shift moves |w|
            shift = offset if xb.physical else offset * torch.sign(w.detach())
            g = g * factor + shift
        if self._processes:
            x = self._process_sum(key, g)
            g = g + x if amp is None else torch.addcmul(g, x, amp)
        if ir is not None:
            g = g * ir
        return xb.from_pair(g) if xb.physical else g

    def _held_terms(
        self, key: tuple[int, str, str], g: Tensor, stored: Tensor
    ) -> tuple[Tensor | None, Tensor | None, Tensor | None, Tensor | None]:
        """(f, c, S, a) of array ``key`` at the open phase's start, held through the phase.

        a is the noise amplitude of the noise-free conductances G·f + c (None: 1). Held
        while the phase, the writes and the stored tensor (its storage and version) are
        the same; weights do not change within a phase, so a read in it equals one with
        the terms recomputed.
        """
        when = (self.clock.phase_start, self._writes, stored.data_ptr(), stored._version)
        held = self._held.get(key)
        if held is not None and held[0] == when and held[5] == tuple(g.shape):
            return held[1:5]
        factor = offset = ir = amp = None
        with torch.no_grad():
            clean = g.detach()
            if self.drift is not None:
                state = self._drift_state(key, stored)
                elapsed = self.clock.phase_start - state.t_w
                drift, relax = self._drift_models
                f = drift.factor(elapsed, state.nu)
                c = relax.offset(state.shift, elapsed) * f
                factor, offset = f.to(g.dtype), c.to(g.dtype)
                shift = offset if self.array.physical else offset * torch.sign(clean)
                clean = clean * factor + shift
            if not self.array.ir_drop.is_ideal:
                ir = self.array.effective(clean, key[1]).to(g.dtype)
            if self._processes:
                amp = self._amplitude(clean)
        self._held[key] = (when, factor, offset, ir, amp, tuple(g.shape))
        return factor, offset, ir, amp

    def _amplitude(self, w: Tensor) -> Tensor | None:
        """a(w) = 1 (None), |w| or |w|·m(|w|/G_max) of the ``[noise]`` section."""
        noise = self.noise
        if noise.scale == "absolute" and noise.law == "constant":
            return None
        mag = w.detach().abs()
        amp = (
            None if noise.law == "constant" else amplitude_scale(mag / self.array.g_max, noise.law)
        )
        if noise.scale == "relative":
            amp = mag if amp is None else mag * amp
        return amp

    def _drift_state(self, key: tuple[int, str, str], stored: Tensor) -> DriftState:
        """The drift state of array ``key`` (its devices written now, on first use)."""
        entry = self._drift.get(key)
        if entry is None:
            gen = torch.Generator().manual_seed(derive_seed(self.seed, "drift", *key))
            drift, relax = self._drift_models
            g = self._devices_of(stored.detach())
            state = DriftState.new(g, self.clock.now, gen, drift=drift, relaxation=relax)
            entry = self._drift[key] = (state, gen)
        return entry[0]

    def process_noise(self, key: tuple[int, str, str], w: Tensor) -> Tensor:
        r"""The read noise of the devices ``w`` of array ``key`` at the clock's time.

        a(w)·Σ_p x_p(t) with a = 1 (absolute) or |w|·m(|w|/G_max) (relative;
        :mod:`neurosim.substrate.read_noise`); ``w`` are the weights (normalized units)
        or the stacked pair G± (physical). Detached: gradients pass straight through.
        (A read holds a for the phase, from the noise-free conductances.)
        """
        total = self._process_sum(key, w)
        amp = self._amplitude(w)
        return total if amp is None else total * amp

    def _process_sum(self, key: tuple[int, str, str], w: Tensor) -> Tensor:
        """Σ_p x_p(t) over the processes of array ``key`` (devices shaped like ``w``)."""
        now = self.clock.now
        total = None
        for proc in self._processes:
            pkey = (*key, proc.kind)
            entry = self._noise.get(pkey)
            if entry is None:
                gen = torch.Generator(device=w.device).manual_seed(
                    derive_seed(self.seed, "noise", proc.kind, *key)
                )
                state = proc.init(w.shape, gen, t=now, dtype=w.dtype, device=w.device)
                entry = self._noise[pkey] = (state, gen)
            state, gen = entry
            if tuple(state.shape) != tuple(w.shape):
                raise ValueError(f"array {key} was read with shape {state.shape}, now {w.shape}")
            value = proc.at(state, now, gen)
            total = value if total is None else total + value
        return total

    def write(self, params: Mapping[str, Tensor], before: Mapping[str, Tensor]) -> None:
        """Apply :meth:`DeviceModel.write` in place to every array parameter in ``params``.

        ``params`` are the network's parameters after an optimizer step (by
        :meth:`~torch.nn.Module.named_parameters` name), ``before`` their values
        before it. Names that are not arrays (biases, ``loss.*``) are left alone. With
        drift, every device whose conductance the write changed is written at the
        clock's time (:func:`~neurosim.substrate.drift.on_write`: t_w, ν and Δ redrawn).
        """
        dev = self.devices
        if dev.write_is_identity and self.drift is None:
            return None
        self._writes += 1
        for name, p in params.items():
            key = array_key(name)
            if key is None or name not in before:
                continue
            if not dev.write_is_identity:
                state = self.device_state(*key, p) if dev.has_static else None
                gen = self._generator("write", p.device)
                new = dev.write(before[name], p, state, gen)
                if new is not p:
                    with torch.no_grad():
                        p.copy_(new)
            if self.drift is not None:
                self._record_write(key, before[name], p)
        return None

    def _record_write(self, key: tuple[int, str, str], old: Tensor, new: Tensor) -> None:
        """Reset the drift of the devices of array ``key`` that the write changed."""
        with torch.no_grad():
            g_new = self._devices_of(new.detach())
            entry = self._drift.get(key)
            if entry is None:  # never read: every device is programmed now
                self._drift_state(key, new)
                return
            state, gen = entry
            mask = g_new != self._devices_of(old.detach())
            if bool(mask.any()):
                on_write(state, mask, g_new, self.clock.now, gen)

    # -- neurons ----------------------------------------------------------------------
    def _unit(self, kind: str, layer: int) -> Tensor | None:
        key = (kind, layer)
        if key not in self._units:
            shape = self.layer_shapes[layer]
            gen = torch.Generator().manual_seed(derive_seed(self.seed, "neuron", kind, layer))
            realize = self.neurons.realize_gain if kind == "gain" else self.neurons.realize_offset
            t = realize(shape, gen)
            self._units[key] = None if t is None else t.to(dtype=self.dtype, device=self.device)
        return self._units[key]

    def neuron_gain(self, layer: int) -> Tensor | None:
        """The neuron model's per-unit gains of layer ``layer`` (0-based); None for 1."""
        return self._unit("gain", layer) if self.neurons.mismatched else None

    def neuron_offset(self, layer: int) -> Tensor | None:
        """The neuron model's per-unit offsets of layer ``layer``; None for 0."""
        return self._unit("offset", layer) if self.neurons.mismatched else None

    def state_noise(self, like: Sequence[Tensor], eta: float) -> list[Tensor] | None:
        """One step's thermal noise per layer, shaped like ``like`` (any lead axes); None: off."""
        if self.neurons.thermal_std == 0 or not like:
            return None
        return self.neurons.thermal_noise(like, eta, self._generator("thermal", like[0].device))

    # -- periphery --------------------------------------------------------------------
    def _converters(self, which: str, layer: int, n: int):
        """The per-unit converter draws of ``which`` at ``layer`` (seeded; None if uniform)."""
        key = (which, layer)
        if key not in self._units:
            gen = torch.Generator().manual_seed(derive_seed(self.seed, "converter", which, layer))
            self._units[key] = self.neurons.realize_converters(which, n, gen)
        return self._units[key]

    def dac(self, x: Tensor) -> Tensor:
        """The input through one DAC per input unit (the last axis)."""
        return self.neurons.dac(x, self._converters("dac", 0, x.shape[-1]))

    def adc(self, s: Sequence[Tensor]) -> list[Tensor]:
        """Each layer's states through one ADC per unit (units flattened per sample)."""
        if self.neurons.adc_is_identity:
            return list(s)
        out = []
        for layer, t in enumerate(s):
            shape = self.layer_shapes[layer] if self.layer_shapes else tuple(t.shape[-1:])
            lead = t.shape[: t.dim() - len(shape)]
            flat = t.reshape(*lead, math.prod(shape))
            state = self._converters("adc", layer, flat.shape[-1])
            out.append(self.neurons.adc(flat, state).reshape(t.shape))
        return out

"""neurosim: hardware simulation of neuromorphic learning.

=============================  ==========================================================
subpackage / module            what it holds
=============================  ==========================================================
:mod:`neurosim.substrate`      the physical system: layers as maps with feedback, activations,
                               integrators and ``relax``, device and neuron models, hardware hooks
:mod:`neurosim.learning`       generalized EP (estimators of ds*/dβ), the BP references
                               (implicit, recurrent, BPTT), costs, homeostasis, alignment
:mod:`neurosim.workloads`      data: shipped datasets, seeded synthetic tasks, equivariant workloads
:mod:`neurosim.backends`       relaxation engines behind one interface (torch, numba, brian2, auto)
:mod:`neurosim.experiment`     configs (schema, TOML, errors), tasks, runs, sweeps, executors,
                               provenance, NetCDF results, figures — all the I/O
:mod:`neurosim.registry`       :class:`~neurosim.registry.Registry`, the name → class pattern
                               of every extensible choice
:mod:`neurosim.schema`         :class:`~neurosim.schema.Schema`, the base of every configured object
:mod:`neurosim.seeds`          named random streams from one root seed
:mod:`neurosim.cli`            the ``neurosim`` command
=============================  ==========================================================

Pure math (substrate, learning, workloads, backends) does no I/O. Imports go one way:
:mod:`~neurosim.experiment` uses the others, :mod:`~neurosim.substrate` none of them, and
``registry``, ``schema`` and ``seeds`` import nothing of neurosim.
The design and its math: ``docs/design.md``; every config key: ``docs/config_reference.md``.
"""

__version__ = "0.1.0"

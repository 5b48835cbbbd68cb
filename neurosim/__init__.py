"""neurosim: hardware simulation of neuromorphic learning.

Subpackages: :mod:`neurosim.substrate` (the physical system and its
relaxation), :mod:`neurosim.learning` (generalized EP, BP references,
alignment), :mod:`neurosim.experiment` (runs, results with provenance).
"""

__version__ = "0.1.0"

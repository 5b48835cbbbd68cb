"""equivariance: PyTorch equivariant layers used as neurosim workloads (DESIGN.md §6)."""

__version__ = "0.1.0"

"""Compiled (numba) relaxation of dense layered networks; see :class:`NumbaBackend`."""

from ._backend import NOISE_CHUNK_BYTES as NOISE_CHUNK_BYTES, NumbaBackend as NumbaBackend

__all__ = ["NumbaBackend", "NOISE_CHUNK_BYTES"]

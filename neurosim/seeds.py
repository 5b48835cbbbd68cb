r"""Named random streams: every generator a run uses is derived from its root seed and a name.

.. math:: \mathrm{seed}(s, k_1, …, k_n) = \mathrm{BLAKE2b}_{64}(``s/k_1/…/k_n``) \gg 1 ,

a 63-bit integer that depends only on the root seed and the key, so streams are
independent of one another, of the order in which they are first used, and of
the platform. Switching one effect on never changes another's draws. No code
in neurosim seeds torch's or numpy's global generators.
"""

from __future__ import annotations

import hashlib

import torch

__all__ = ["derive_seed", "stream"]


def derive_seed(seed: int, *parts: object) -> int:
    """A 63-bit seed from ``seed`` and a key, stable across runs and platforms."""
    text = "/".join(str(p) for p in (seed, *parts))
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big") >> 1


def stream(seed: int, *parts: object, device: torch.device | str | None = None) -> torch.Generator:
    """A :class:`torch.Generator` on ``device`` seeded by :func:`derive_seed` (seed, parts)."""
    gen = torch.Generator() if device is None else torch.Generator(device=device)
    return gen.manual_seed(derive_seed(seed, *parts))

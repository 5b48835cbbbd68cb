"""Atomic NetCDF writes: a result file is either complete or absent."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import xarray as xr

__all__ = ["write_netcdf"]


def _file_mode() -> int:
    """Permissions of a new file under the process umask (what ``open(path, "w")`` gives)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def write_netcdf(ds: xr.Dataset, path: str | os.PathLike) -> Path:
    """Write ``ds`` to ``path`` via a temporary file in the same folder and an atomic rename.

    The file gets the permissions of an ordinary new file (0666 less the umask), not
    the owner-only 0600 of :func:`tempfile.mkstemp`.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        ds.to_netcdf(tmp)
        os.chmod(tmp, _file_mode())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path

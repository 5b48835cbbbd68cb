"""Atomic writes: a result file is either complete or absent."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import xarray as xr

__all__ = ["write_netcdf", "write_text"]


def write_netcdf(ds: xr.Dataset, path: str | os.PathLike) -> Path:
    """Write ``ds`` to ``path`` via a temporary file in the same folder and an atomic rename.

    The temporary name is unique to this process and call; the netCDF library creates
    the file itself, so it gets the permissions of any new file (0666 less the umask),
    not the owner-only 0600 of :func:`tempfile.mkstemp`, and the umask is never touched
    (changing it would race with other threads creating files).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{os.getpid()}.{secrets.token_hex(6)}.tmp"
    try:
        ds.to_netcdf(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically, like :func:`write_netcdf`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{os.getpid()}.{secrets.token_hex(6)}.tmp"
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path

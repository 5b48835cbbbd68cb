"""Plugins: the modules a config imports so that what they register can be named in it.

A config's top-level ``plugins = ["my_devices.py", "mypackage.tasks"]`` lists Python
modules to import before the rest of the file is validated. An entry ending in
``.py`` (or containing a path separator) is a file, relative to the config file;
its folder is put on ``sys.path`` and it is imported under its file stem, so the
classes it defines pickle by name (sweep workers import it again the same way).
Any other entry is a module name importable as it is.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Iterable
from pathlib import Path

__all__ = ["is_plugin_path", "load_plugins", "resolve_plugin_paths"]


def is_plugin_path(entry: str) -> bool:
    """True for an entry naming a file rather than a module."""
    seps = {"/", os.sep} | ({os.altsep} if os.altsep else set())
    return entry.endswith(".py") or any(s in entry for s in seps)


def resolve_plugin_paths(entries: object, relative_to: Path) -> object:
    """``entries`` with relative ``.py`` paths made absolute (relative to ``relative_to``).

    Anything that is not a list of strings is returned unchanged (validation names it).
    """
    if not isinstance(entries, list) or not all(isinstance(e, str) for e in entries):
        return entries
    return [
        str((relative_to / Path(e).expanduser()).resolve()) if is_plugin_path(e) else e
        for e in entries
    ]


def load_plugins(entries: Iterable[str]) -> None:
    """Import every plugin (once); :class:`ImportError` naming the entry if one fails.

    Errors raised while a plugin module runs are re-raised as ImportError with the
    entry and the original message.
    """
    for entry in entries:
        try:
            if is_plugin_path(entry):
                path = Path(entry).expanduser().resolve()
                if not path.is_file():
                    raise ImportError(f"plugin file not found: {path}")
                folder = str(path.parent)
                if folder not in sys.path:
                    sys.path.insert(0, folder)
                module = sys.modules.get(path.stem)
                loaded = getattr(module, "__file__", None)
                if module is not None and loaded and Path(loaded).resolve() != path:
                    raise ImportError(
                        f"plugin {path.name}: a different module {path.stem!r} is already "
                        f"imported from {loaded}; rename the file"
                    )
                importlib.import_module(path.stem)
            else:
                importlib.import_module(entry)
        except ImportError as exc:
            raise ImportError(f"cannot import plugin {entry!r}: {exc}") from exc
        except Exception as exc:  # the plugin's own code failed
            raise ImportError(
                f"cannot import plugin {entry!r}: {type(exc).__name__}: {exc}"
            ) from exc

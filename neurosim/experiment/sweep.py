r"""Sweeps: a grid of configs × seeds → one labelled ``xarray.Dataset``, resumable point by point.

A sweep file (TOML)::

    base = "asymmetric"          # preset name, or a config file relative to this file
    seeds = [0, 1, 2]            # default: [the base config's seed]
    out = "results/alpha.nc"     # default: results/<sweep file stem>.nc (relative to the cwd)
    runner = "neurosim.experiment.runner:run"   # the default

    [axes]                       # dotted config key → the values to sweep (a cartesian grid)
    "feedback.alpha" = [0, 45, 90]
    "nudge.estimator" = ["centered", "holomorphic"]

    [overrides]                  # dotted config key → one value, applied to every point
    "training.steps" = 200

A *point* is one cell of ``axes × seeds``: the base config with the overrides,
the point's axis values and its seed applied (all validated by
:meth:`Config.with_updates <neurosim.experiment.config.Config.with_updates>`
when the sweep is loaded, before anything is computed). Its identity is the
SHA-256 of its resolved config TOML (16 hex digits), so a point is found again
by any sweep that resolves to the same config.

:func:`run_sweep` stores each point's result as ``<out>.points/<id>.nc`` (an
atomic write) as soon as it arrives, skips points whose file exists, and when
every point is done combines them into one Dataset with dims ``(*axes, "seed",
*runner dims)``, coordinates named by the dotted keys, and provenance attrs,
written atomically to ``out``.
"""

from __future__ import annotations

import difflib
import hashlib
import itertools
import json
import math
import os
import sys
import traceback
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from .config import Config, ConfigError, base_path, load_config, read_toml, toml_type
from .executors import AbstractExecutor, SerialExecutor, load_runner
from .provenance import provenance_attrs
from .storage import write_netcdf

__all__ = [
    "DEFAULT_RUNNER",
    "Point",
    "SweepError",
    "SweepSpec",
    "combine_points",
    "load_sweep",
    "point_id",
    "run_sweep",
]

DEFAULT_RUNNER = "neurosim.experiment.runner:run"
"""The runner a sweep uses unless its file says ``runner = "module:function"``."""

_TOP_KEYS = ("base", "seeds", "axes", "overrides", "out", "runner")


def point_id(config: Config) -> str:
    """A point's identity: the first 16 hex digits of the SHA-256 of its resolved config TOML."""
    return hashlib.sha256(config.to_toml().encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True)
class Point:
    """One cell of the sweep grid.

    Attributes
    ----------
    id : str
        :func:`point_id` of ``config``; its result file is ``<out>.points/<id>.nc``.
    index : tuple of int
        Position in the grid, one index per swept key and then the seed's.
    values : tuple of (str, object)
        ``(dotted key, value)`` of every swept key as written in the sweep file, then
        ``("seed", seed)``.
    config : Config
        The fully resolved config of this point.
    """

    id: str
    index: tuple[int, ...]
    values: tuple[tuple[str, Any], ...]
    config: Config

    @property
    def label(self) -> str:
        """``"feedback.alpha=45, nudge.estimator=centered, seed=1"``."""
        return ", ".join(f"{k}={_show(v)}" for k, v in self.values)


@dataclass(frozen=True)
class SweepSpec:
    """A validated sweep: the grid, its resolved point configs, and where results go.

    Build one with :func:`load_sweep`. ``axes`` and ``overrides`` keep the order of
    the file; ``coords`` holds each axis's coordinate labels (the values themselves
    for numbers, booleans and strings; JSON text for lists and tables).
    """

    path: Path
    text: str
    base: str | None
    base_config: Config
    """The resolved base config (preset or file), before overrides, axes and seeds."""
    seeds: tuple[int, ...]
    axes: dict[str, tuple[Any, ...]]
    coords: dict[str, tuple[Any, ...]]
    overrides: dict[str, Any]
    out: Path
    runner: str
    points: tuple[Point, ...]

    @property
    def dims(self) -> tuple[str, ...]:
        """The sweep's own dimensions: the swept keys in file order, then ``"seed"``."""
        return (*self.axes, "seed")

    @property
    def shape(self) -> tuple[int, ...]:
        return (*(len(v) for v in self.axes.values()), len(self.seeds))

    @property
    def points_dir(self) -> Path:
        """``<out>.points/``: one ``<id>.nc`` per finished point."""
        return self.out.with_name(self.out.name + ".points")

    def point_path(self, point: Point) -> Path:
        return self.points_dir / f"{point.id}.nc"

    def pending(self) -> list[Point]:
        """The points without a result file yet."""
        return [p for p in self.points if not self.point_path(p).exists()]


class SweepError(RuntimeError):
    """Some points of a sweep failed; the finished ones are on disk.

    ``failures`` holds ``(point, exception)`` pairs; ``str`` lists one line per failed point.
    """

    def __init__(self, spec: SweepSpec, failures: list[tuple[Point, BaseException]]):
        self.spec = spec
        self.failures = failures
        n, total = len(failures), len(spec.points)
        folder = spec.points_dir
        lines = [
            f"{spec.path}: {n} of {total} sweep point{'s' if total != 1 else ''} failed; "
            f"the {total - n} finished ones are kept in {folder}/ and a re-run computes only "
            f"the failed ones (tracebacks: {folder}/<id>.err):"
        ]
        lines += [f"  {p.id} [{p.label}]: {_one_line(exc)}" for p, exc in failures]
        super().__init__("\n".join(lines))


# --------------------------------------------------------------------------- loading


def load_sweep(path: str | os.PathLike, *, out: str | os.PathLike | None = None) -> SweepSpec:
    """Read and validate a sweep file; every point's config is resolved here.

    ``out`` (e.g. a CLI ``--out``) replaces the file's ``out``. Relative ``out``
    paths are relative to the current directory; ``base`` paths to the sweep
    file. Every problem raises a one-line :class:`ConfigError` naming the sweep
    file and the key (``axes.feedback.alpha``, ``overrides.training.steps``,
    ``seeds``, …). Nothing is written.
    """
    shown = os.fspath(path)
    file = Path(path)
    data, text = read_toml(file, shown, what="sweep TOML file")

    def error(key: str, message: str) -> ConfigError:
        return ConfigError(shown, key, message)

    for key in data:
        if key not in _TOP_KEYS:
            close = difflib.get_close_matches(key, _TOP_KEYS, n=1, cutoff=0.6)
            hint = f' (did you mean "{close[0]}"?)' if close else ""
            raise error(key, f"unknown key{hint}; allowed: {', '.join(_TOP_KEYS)}")

    base_name, base = _load_base(data.get("base"), file, shown)

    runner = data.get("runner", DEFAULT_RUNNER)
    if not isinstance(runner, str):
        raise error("runner", f"wrong type ({toml_type(runner)}); allowed: a string")
    try:
        load_runner(runner)
    except (ImportError, AttributeError, TypeError, ValueError) as exc:
        raise error("runner", f"{_one_line(exc)}; allowed: 'package.module:function'") from None

    out_value = data.get("out") if out is None else os.fspath(out)
    if out_value is None:
        out_path = Path("results") / f"{file.stem}.nc"
    elif not isinstance(out_value, str) or not out_value.strip():
        raise error("out", "wrong type or empty; allowed: a path ending in .nc")
    else:
        out_path = Path(out_value).expanduser()
    if out_path.suffix != ".nc":
        raise error("out", f"{os.fspath(out_path)!r} does not end in .nc; allowed: a .nc path")
    out_path = Path.cwd() / out_path if not out_path.is_absolute() else out_path

    # overrides: every point gets them (checked with the points: they may depend on the axes)
    overrides = data.get("overrides", {})
    if not isinstance(overrides, Mapping):
        raise error("overrides", f"wrong type ({toml_type(overrides)}); allowed: a table")
    overrides = _flatten(overrides)
    for key in overrides:
        if key == "seed":
            raise error("overrides.seed", "the seed is set by the top-level seeds = [...] list")

    seeds = _check_seeds(data.get("seeds", [base.seed]), error)
    for s in seeds:
        try:
            base.with_updates({"seed": s})
        except ConfigError as exc:
            raise error("seeds", f"seed {s}: {exc.message}") from None

    # axes: their structure here; their values with the points below
    axes_raw = data.get("axes", {})
    if not isinstance(axes_raw, Mapping):
        raise error("axes", f"wrong type ({toml_type(axes_raw)}); allowed: a table")
    axes: dict[str, tuple[Any, ...]] = {}
    coords: dict[str, tuple[Any, ...]] = {}
    for key, values in _flatten(axes_raw).items():
        where = f"axes.{key}"
        if key == "seed":
            raise error(where, "the seed is swept by the top-level seeds = [...] list")
        if key in overrides:
            raise error(where, "also set in [overrides]; a key is either swept or overridden")
        if not isinstance(values, list):
            raise error(where, f"wrong type ({toml_type(values)}); allowed: a non-empty list")
        if not values:
            raise error(where, "empty list; allowed: a non-empty list of values")
        labels = _coordinate(values)
        seen: dict[Any, int] = {}
        for i, label in enumerate(labels):
            if label in seen:
                a, b = values[seen[label]], values[i]
                raise error(
                    where, f"duplicate value {_show(b)} (same as {_show(a)}); values must differ"
                )
            seen[label] = i
        axes[key] = tuple(values)
        coords[key] = tuple(labels)

    # every point, the first one (the first value of every axis) first: an unknown key or a
    # bad value anywhere in the grid fails here, before anything is computed
    owners = {**{k: "overrides" for k in overrides}, **{k: "axes" for k in axes}, "seed": "seeds"}
    points = []
    seen_ids: dict[str, Point] = {}
    ranges = [range(len(v)) for v in axes.values()] + [range(len(seeds))]
    for index in itertools.product(*ranges):
        values = tuple((k, axes[k][i]) for k, i in zip(axes, index[:-1], strict=True)) + (
            ("seed", seeds[index[-1]]),
        )
        try:
            resolved = base.with_updates({**overrides, **dict(values)})
        except ConfigError as exc:
            label = ", ".join(f"{k}={_show(v)}" for k, v in values)
            at = "" if exc.message.startswith("unknown key") else f" (at point {label})"
            raise _blame(exc, shown, owners, at) from None
        point = Point(point_id(resolved), tuple(index), values, resolved)
        if point.id in seen_ids:
            other = seen_ids[point.id]
            differ = [
                k for (k, a), (_, b) in zip(point.values, other.values, strict=True) if a != b
            ]
            raise error(
                f"axes.{differ[0]}" if differ and differ[0] != "seed" else "axes",
                f"points [{other.label}] and [{point.label}] resolve to the same configuration",
            )
        seen_ids[point.id] = point
        points.append(point)

    return SweepSpec(
        path=file,
        text=text,
        base=base_name,
        base_config=base,
        seeds=seeds,
        axes=axes,
        coords=coords,
        overrides=overrides,
        out=out_path,
        runner=runner,
        points=tuple(points),
    )


def _load_base(base: object, file: Path, shown: str) -> tuple[str | None, Config]:
    """The sweep's base config: the defaults, a preset or a config file (relative to it)."""
    if base is None:
        return None, Config()
    return base, load_config(base_path(base, file.parent, shown))  # errors name their file


def _check_seeds(seeds: object, error) -> tuple[int, ...]:
    if not isinstance(seeds, list):
        raise error("seeds", f"wrong type ({toml_type(seeds)}); allowed: a list of integers")
    if not seeds:
        raise error("seeds", "empty list; allowed: a non-empty list of integers >= 0")
    for s in seeds:
        if isinstance(s, bool) or not isinstance(s, int):
            raise error("seeds", f"{_show(s)} is not an integer; allowed: integers >= 0")
    dupes = sorted({s for s in seeds if seeds.count(s) > 1})
    if dupes:
        raise error("seeds", f"duplicate seed {dupes[0]}; seeds must differ")
    return tuple(seeds)


def _flatten(table: Mapping, prefix: str = "") -> dict[str, Any]:
    """``{"feedback": {"alpha": x}}`` (unquoted dotted TOML keys) → ``{"feedback.alpha": x}``."""
    out: dict[str, Any] = {}
    for key, value in table.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(_flatten(value, dotted + "."))
        else:
            out[dotted] = value
    return out


def _blame(exc: ConfigError, file: str, owners: Mapping[str, str], suffix: str = "") -> ConfigError:
    """Re-attribute a ``with_updates`` error to the sweep file's key that caused it."""
    key = exc.key
    for k, table in owners.items():
        if key == k or key.startswith(k + "["):
            where = "seeds" if table == "seeds" else f"{table}.{key}"
            return ConfigError(file, where, exc.message + suffix)
    # a consistency check blamed a key the sweep does not set: name a key it sets in the
    # same section (a swept one first), else the first swept/overridden key
    section = key.partition(".")[0]
    ranked = sorted(owners, key=lambda k: (k.partition(".")[0] != section, owners[k] != "axes"))
    first = ranked[0] if ranked else ""
    table = owners.get(first, "")
    where = "seeds" if table == "seeds" else (f"{table}.{first}" if first else "")
    return ConfigError(file, where, f"{key}: {exc.message}{suffix}" if key else exc.message)


def _coordinate(values: list) -> list:
    """Coordinate labels of an axis: numbers, booleans or strings as such, else JSON text."""
    if all(isinstance(v, bool) for v in values):
        return list(values)
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return list(values)
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        return [float(v) for v in values]
    if all(isinstance(v, str) for v in values):
        return list(values)
    return [json.dumps(v, sort_keys=True, default=str) for v in values]


def _show(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else str(value)  # inf, -inf, nan
    try:
        return json.dumps(value, default=str)
    except (TypeError, ValueError):
        return repr(value)


def _one_line(exc: BaseException) -> str:
    msg = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {msg}" if msg else type(exc).__name__


# --------------------------------------------------------------------------- running


def run_sweep(
    spec: SweepSpec,
    *,
    executor: AbstractExecutor | None = None,
    progress: bool = True,
    command: str | None = None,
) -> xr.Dataset:
    """Compute the missing points of ``spec``, then combine all of them into ``spec.out``.

    Finished points (``<out>.points/<id>.nc``) are skipped, never recomputed. Each
    new result is written atomically as it arrives, so an interrupted sweep loses
    at most the points in flight. A point that raises is recorded (traceback in
    ``<out>.points/<id>.err``) and the others go on; at the end :class:`SweepError`
    lists the failures and nothing is combined. ``executor`` defaults to
    :class:`~neurosim.experiment.executors.SerialExecutor`; ``progress`` shows a
    tqdm bar over points on stderr; ``command`` is recorded in the ``history``
    attr. Returns the combined Dataset (as written).
    """
    from tqdm import tqdm

    executor = SerialExecutor() if executor is None else executor
    todo = spec.pending()
    skipped = len(spec.points) - len(todo)
    counts = {"done": 0, "skipped": skipped, "failed": 0}
    failures: list[tuple[Point, BaseException]] = []

    def status(last: str = "") -> str:
        tally = ", ".join(f"{k} {v}" for k, v in counts.items())
        return f"{tally} | {last}" if last else tally

    with tqdm(
        total=len(spec.points),
        initial=skipped,
        desc=f"sweep {spec.path.stem}",
        unit="point",
        file=sys.stderr,
        disable=not progress,
        dynamic_ncols=True,
    ) as bar:
        bar.set_postfix_str(status(), refresh=False)
        if todo:
            results = executor.run(spec.runner, todo)
            try:
                for point, result in results:
                    if not isinstance(result, BaseException):
                        try:
                            _store_point(spec, point, result)
                        except Exception as exc:  # e.g. attrs NetCDF cannot hold
                            result = exc
                    if isinstance(result, BaseException):
                        failures.append((point, result))
                        _write_traceback(spec, point, result)
                        counts["failed"] += 1
                        last = f"failed: {point.label}"
                    else:
                        counts["done"] += 1
                        last = f"done: {point.label}"
                    bar.set_postfix_str(status(last), refresh=False)
                    bar.update()
            finally:
                close = getattr(results, "close", None)
                if close is not None:
                    close()
    if failures:
        order = {p.id: i for i, p in enumerate(spec.points)}
        failures.sort(key=lambda f: order[f[0].id])
        raise SweepError(spec, failures)
    ds = combine_points(spec, command=command)
    write_netcdf(ds, spec.out)
    return ds


def _store_point(spec: SweepSpec, point: Point, ds: xr.Dataset) -> None:
    if not isinstance(ds, xr.Dataset):
        raise TypeError(f"the runner returned {type(ds).__name__}, not an xarray.Dataset")
    clash = [d for d in spec.dims if d in ds.dims or d in ds.data_vars]
    if clash:
        raise ValueError(
            f"the runner's result already has a dimension or variable named {clash[0]!r}, "
            "which the sweep uses as a dimension"
        )
    ds = ds.drop_vars([d for d in spec.dims if d in ds.coords])  # scalar copies of swept keys
    ds.attrs = {
        **ds.attrs,
        "sweep_point_id": point.id,
        "sweep_point": point.label,
        "sweep_runner": spec.runner,
    }
    ds.attrs.setdefault("config_toml", point.config.to_toml())
    write_netcdf(ds, spec.point_path(point))
    spec.points_dir.joinpath(f"{point.id}.err").unlink(missing_ok=True)


def _write_traceback(spec: SweepSpec, point: Point, exc: BaseException) -> None:
    text = "".join(traceback.format_exception(exc))
    try:
        spec.points_dir.mkdir(parents=True, exist_ok=True)
        spec.points_dir.joinpath(f"{point.id}.err").write_text(
            f"point {point.id} [{point.label}]\n\n{text}", encoding="utf-8"
        )
    except OSError:
        pass  # the failure itself is still reported by SweepError


def combine_points(spec: SweepSpec, *, command: str | None = None) -> xr.Dataset:
    """Combine the stored results of every point into one Dataset with provenance attrs.

    Dims are ``(*swept keys, "seed", *runner dims)``; each swept key and ``seed``
    is a coordinate (named by the dotted key), and ``point_id`` (sweep dims) names
    each cell's point file. Points are read back from disk, so the result does not
    depend on which points were computed in which run. Raises ``FileNotFoundError``
    if a point is missing.
    """
    missing = spec.pending()
    if missing:
        raise FileNotFoundError(
            f"{len(missing)} sweep point(s) have no result in {spec.points_dir}/, "
            f"e.g. {missing[0].id} [{missing[0].label}]"
        )
    dims = spec.dims
    labels = [*spec.coords.values(), spec.seeds]
    grid = np.empty(spec.shape, dtype=object)
    ids = np.empty(spec.shape, dtype=object)
    for point in spec.points:
        ds = xr.load_dataset(spec.point_path(point))
        ds.attrs = {}
        ds = ds.drop_encoding().expand_dims(
            {d: [lab[i]] for d, lab, i in zip(dims, labels, point.index, strict=True)}
        )
        grid[point.index] = ds
        ids[point.index] = point.id
    combined = xr.combine_nested(
        grid.tolist(),
        concat_dim=list(dims),
        data_vars="all",
        coords="different",
        compat="no_conflicts",
        join="outer",
        combine_attrs="drop_conflicts",
    )
    for key in spec.axes:
        combined[key].attrs = {"long_name": f"swept config key {key}"}
    combined["seed"].attrs = {"long_name": "random seed (config key seed)"}
    combined = combined.assign_coords(
        point_id=(
            dims,
            ids.astype(str),
            {"long_name": "point id: SHA-256 of its resolved config TOML, 16 hex digits"},
        )
    )
    combined = combined.transpose(*dims, ...)
    attrs = provenance_attrs(
        {}, command=command or f"neurosim sweep {spec.path.name}", seed=list(spec.seeds)
    )
    attrs["config_toml"] = spec.base_config.to_toml()  # the base; sweep_toml holds the rest
    attrs.update(
        {
            "title": f"sweep {spec.path.stem}",
            "sweep_toml": spec.text,
            "sweep_dims": json.dumps(list(dims)),
            "sweep_base": spec.base or "defaults",
            "sweep_runner": spec.runner,
            "sweep_points": len(spec.points),
        }
    )
    combined.attrs = attrs
    return combined

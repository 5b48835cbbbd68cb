r"""Executors: where a sweep's points are computed (this process, local processes or dask).

Every executor takes a runner — an import path ``"package.module:function"``
whose function maps a :class:`~neurosim.experiment.config.Config` to an
``xarray.Dataset`` — and the points to compute, and yields ``(point, result)``
pairs *as they complete*, where ``result`` is the Dataset or the exception the
point raised. Storing results is the caller's job (:func:`run_sweep
<neurosim.experiment.sweep.run_sweep>` writes each one atomically in this
process as it arrives), so workers need no access to the results folder.

Worker processes never fork a parent that has used torch: local processes use
the ``forkserver`` start method (``spawn`` where there is none), and every
worker pins torch to one intra-op thread (one point per core).
"""

from __future__ import annotations

import abc
import importlib
import multiprocessing
import os
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import TYPE_CHECKING, Any

import xarray as xr

if TYPE_CHECKING:
    from .sweep import Point

__all__ = [
    "AbstractExecutor",
    "DaskExecutor",
    "ProcessExecutor",
    "SerialExecutor",
    "WorkerDied",
    "load_runner",
    "make_executor",
    "run_point",
]

Result = tuple["Point", "xr.Dataset | BaseException"]


class WorkerDied(RuntimeError):
    """The process computing a point died (killed, crashed, out of memory)."""


def load_runner(path: str) -> Callable[..., xr.Dataset]:
    """The function named by ``"package.module:function"``; ValueError/ImportError if none."""
    module, sep, name = path.partition(":")
    if not sep or not module.strip() or not name.strip():
        raise ValueError(f"runner {path!r} is not of the form 'package.module:function'")
    obj: Any = importlib.import_module(module.strip())
    for part in name.strip().split("."):
        obj = getattr(obj, part)
    if not callable(obj):
        raise TypeError(f"runner {path!r} is a {type(obj).__name__}, not a function")
    return obj


def run_point(runner: str, config_toml: str) -> xr.Dataset:
    """Compute one point: import ``runner``, call it on the config, return the loaded Dataset.

    The config travels as its resolved TOML (``Config.to_toml``) and is validated again
    here, which imports its plugins first: a worker process can then unpickle and build
    device models and tasks that a plugin registers.
    """
    from .config import config_from_toml

    ds = load_runner(runner)(config_from_toml(config_toml))
    if not isinstance(ds, xr.Dataset):
        raise TypeError(f"runner {runner!r} returned {type(ds).__name__}, not an xarray.Dataset")
    return ds.load()


def _pin_threads() -> None:
    """One torch intra-op thread per worker: the workers already use every core."""
    import torch

    if torch.get_num_threads() != 1:
        torch.set_num_threads(1)


def run_point_pinned(runner: str, config_toml: str) -> xr.Dataset:
    """:func:`run_point` with torch pinned to one thread (for dask workers)."""
    _pin_threads()
    return run_point(runner, config_toml)


class AbstractExecutor(abc.ABC):
    """Computes points and yields ``(point, Dataset | exception)`` in completion order.

    ``run`` is a generator: resources (pools, clusters) live while it is iterated
    and are released when it is exhausted or closed. An exception raised *by the
    executor itself* (e.g. no scheduler at the address) propagates; exceptions
    raised by a point are yielded as its result.
    """

    @abc.abstractmethod
    def run(self, runner: str, points: Iterable[Point]) -> Iterator[Result]:
        """Submit every point and yield each ``(point, result)`` as it completes."""

    def describe(self) -> str:
        """One line for logs, e.g. ``"2 local processes (forkserver)"``."""
        return type(self).__name__


class SerialExecutor(AbstractExecutor):
    """Points one after another in this process (torch threads as the caller set them)."""

    def run(self, runner: str, points: Iterable[Point]) -> Iterator[Result]:
        for point in points:
            try:
                result: xr.Dataset | BaseException = run_point(runner, point.config.to_toml())
            except Exception as exc:
                result = exc
            yield point, result

    def describe(self) -> str:
        return "serial (this process)"


def _start_method() -> str:
    methods = multiprocessing.get_all_start_methods()
    return "forkserver" if "forkserver" in methods else "spawn"


def _init_worker(environ: dict[str, str]) -> None:
    # a forkserver child inherits the server's environment, from when it started: give
    # it the parent's current one, as spawn would (variables that libraries read when
    # imported, such as OMP_NUM_THREADS, are already fixed in preloaded modules)
    if environ != os.environ:
        os.environ.clear()
        os.environ.update(environ)
    _pin_threads()


def _noop() -> None:
    return None


_WATCHDOG_S = 0.5


class ProcessExecutor(AbstractExecutor):
    """``workers`` local processes (``concurrent.futures``, forkserver/spawn, never fork).

    At most ``workers`` points are in flight. If a worker dies (a signal, a crash,
    out of memory) the pool is rebuilt, and the points that were in flight are
    retried one at a time, so that only the point that kills its worker is
    reported (as :class:`WorkerDied`) and the others complete.

    Workers start from a forkserver that has imported torch, xarray and the
    runner's module, and get the parent's environment as it is at :meth:`run`.
    As with any non-fork start method, a script that uses this executor needs
    an ``if __name__ == "__main__":`` guard (workers import the main module).
    """

    def __init__(self, workers: int):
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise ValueError(f"workers must be an integer >= 1, got {workers!r}")
        self.workers = workers
        self.start_method = _start_method()

    def describe(self) -> str:
        return (
            f"{self.workers} local process{'es' if self.workers > 1 else ''} ({self.start_method})"
        )

    def _pool(self, runner: str) -> ProcessPoolExecutor:
        ctx = multiprocessing.get_context(self.start_method)
        if self.start_method == "forkserver":
            # The server imports these once (none of them starts a thread) and every
            # worker forks from it warm. dask.array and scipy.sparse are what xarray
            # imports lazily on its first Dataset when they are installed (~0.4 s per
            # fresh process otherwise); missing ones are skipped. A server started
            # earlier in this process keeps its first list.
            module = runner.partition(":")[0].strip()
            ctx.set_forkserver_preload(
                ["torch", "xarray", "dask.array", "scipy.sparse", "netCDF4", __name__, module]
            )
        return ProcessPoolExecutor(
            self.workers,
            mp_context=ctx,
            initializer=_init_worker,
            initargs=(dict(os.environ),),
        )

    def run(self, runner: str, points: Iterable[Point]) -> Iterator[Result]:
        todo: deque[Point] = deque(points)
        isolate: deque[Point] = deque()  # in flight when a worker died: retried one by one
        pool: ProcessPoolExecutor | None = None
        clean = False
        try:
            while todo or isolate:
                if pool is None:
                    pool = self._pool(runner)
                single = bool(isolate)
                source, limit = (isolate, 1) if single else (todo, self.workers)
                inflight: dict[Future, Point] = {}
                lost: list[Point] = []
                broken = False
                poke: Future | None = None
                while (source or inflight) and not broken:
                    while source and len(inflight) < limit:
                        point = source.popleft()
                        try:
                            inflight[pool.submit(run_point, runner, point.config.to_toml())] = point
                        except BrokenProcessPool:
                            source.appendleft(point)
                            broken = True
                            break
                    if not inflight:
                        break
                    done, _ = wait(inflight, timeout=_WATCHDOG_S, return_when=FIRST_COMPLETED)
                    if not done and (poke is None or poke.done()):
                        # The pool's manager thread watches the workers it knew of when it
                        # last woke; one started by a later submit can die unnoticed until
                        # something else wakes it (CPython issue with dynamically started
                        # workers). A no-op submit wakes it; a broken pool then shows up.
                        try:
                            poke = pool.submit(_noop)
                        except BrokenProcessPool:
                            pass  # the in-flight futures are failing: the next wait sees it
                    for fut in done:
                        point = inflight.pop(fut)
                        exc = fut.exception()
                        if isinstance(exc, BrokenProcessPool):
                            lost.append(point)
                            broken = True
                        else:
                            yield point, (exc if exc is not None else fut.result())
                if broken:
                    # the other futures of a broken pool fail at once; some may have finished
                    for fut in wait(inflight).done:
                        point = inflight.pop(fut)
                        exc = fut.exception()
                        if isinstance(exc, BrokenProcessPool):
                            lost.append(point)
                        else:
                            yield point, (exc if exc is not None else fut.result())
                    pool.shutdown(wait=True, cancel_futures=True)
                    pool = None
                    if len(lost) == 1:
                        yield (
                            lost[0],
                            WorkerDied(
                                "the worker process computing this point died "
                                "(killed by a signal, crashed, or out of memory)"
                            ),
                        )
                    else:
                        isolate.extend(lost)
            clean = True
        finally:
            if pool is not None:
                if not clean:  # interrupted (e.g. Ctrl-C): stop the workers' computations
                    for proc in list(getattr(pool, "_processes", {}).values()):
                        if proc.is_alive():
                            proc.terminate()
                pool.shutdown(wait=clean, cancel_futures=True)


class DaskExecutor(AbstractExecutor):
    """Points as tasks on a dask.distributed cluster.

    ``address`` is a scheduler (``"tcp://host:8786"``) or a scheduler file
    (``*.json``, as written by dask-jobqueue / dask-mpi); ``None`` starts a
    ``LocalCluster`` of ``workers`` single-threaded worker processes for the
    duration of one :meth:`run`. A worker that dies is replaced and its task
    retried by dask (``distributed.scheduler.allowed-failures``), after which
    the point fails with ``KilledWorker``. Workers must be able to import
    neurosim and the runner's module.
    """

    def __init__(self, address: str | None = None, workers: int | None = None):
        if address is not None and workers is not None:
            raise ValueError(
                "workers applies to a local cluster only; a scheduler at an address "
                "has its own workers"
            )
        if workers is not None and (
            isinstance(workers, bool) or not isinstance(workers, int) or workers < 1
        ):
            raise ValueError(f"workers must be an integer >= 1, got {workers!r}")
        self.address = address
        self.workers = workers if workers is not None else (os.cpu_count() or 1)

    def describe(self) -> str:
        if self.address is None:
            return f"dask LocalCluster ({self.workers} single-threaded worker processes)"
        return f"dask scheduler {self.address}"

    def _client(self):
        from distributed import Client, LocalCluster

        if self.address is None:
            cluster = LocalCluster(
                n_workers=self.workers,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
            )
            return Client(cluster, set_as_default=False), cluster
        if self.address.endswith(".json") and Path(self.address).is_file():
            return Client(scheduler_file=self.address, set_as_default=False), None
        return Client(self.address, set_as_default=False), None

    def run(self, runner: str, points: Iterable[Point]) -> Iterator[Result]:
        from distributed import as_completed

        points = list(points)
        if not points:
            return
        client, cluster = self._client()
        try:
            tag = uuid.uuid4().hex[:8]
            futures = {
                client.submit(
                    run_point_pinned, runner, p.config.to_toml(), key=f"neurosim-point-{p.id}-{tag}"
                ): p
                for p in points
            }
            for fut in as_completed(list(futures), loop=client.loop):
                point = futures.pop(fut)
                try:
                    result: xr.Dataset | BaseException = fut.result()
                except Exception as exc:
                    result = exc
                fut.release()
                yield point, result
        finally:
            client.close()
            if cluster is not None:
                cluster.close()


def make_executor(workers: int | None = None, scheduler: str | None = None) -> AbstractExecutor:
    """The executor for the CLI flags ``--workers N`` and ``--scheduler ADDR|local``.

    ==================================  =====================================
    flags                               executor
    ==================================  =====================================
    (none)                              :class:`SerialExecutor`
    ``--workers N``                     :class:`ProcessExecutor` ``(N)``
    ``--scheduler local [--workers N]`` :class:`DaskExecutor` on a LocalCluster of N
                                        (default: the number of CPUs)
    ``--scheduler ADDR``                :class:`DaskExecutor` ``(ADDR)`` (a
                                        ``--workers`` is an error: the cluster
                                        has its own)
    ==================================  =====================================

    Raises ``ValueError`` (one line) for a bad combination or a worker count < 1.
    """
    if scheduler is None:
        return SerialExecutor() if workers is None else ProcessExecutor(workers)
    scheduler = scheduler.strip()
    if not scheduler:
        raise ValueError(
            "--scheduler needs an address (tcp://host:port), a scheduler file or 'local'"
        )
    try:
        import distributed  # noqa: F401
    except ImportError:
        raise ValueError(
            "--scheduler needs dask.distributed: pip install 'dask[distributed]'"
        ) from None
    if scheduler == "local":
        return DaskExecutor(None, workers)
    if workers is not None:
        raise ValueError(
            "--workers applies to local processes or --scheduler local; a scheduler "
            "at an address has its own workers"
        )
    return DaskExecutor(scheduler)

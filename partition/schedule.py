"""Scheduling of ``pucha partition``: one task per 居/村, on one machine or a Dask cluster.

Every 居/村 is solved independently (:func:`pucha.partition.engine.solve_village`), so
the work is one task per 居/村, submitted largest first (most buildings) so that no
worker is left idle while another holds a big one, and merged in code order: the
result is the serial one whatever ran it.

- ``jobs`` = local processes (a pool of ``jobs`` workers; 1 = in this process).
  SIGTERM and SIGINT stop every pool worker (:func:`stop_on_sigterm`, and each
  worker dies with its parent), and the project is not touched.
- ``scheduler="distributed"``: the current ``dask.distributed`` client. Inputs go by
  reference: the client writes each 居/村's inputs once, signed, into the run's folder
  beside the project (:class:`InputStore`); a task carries its path and reads its own
  居/村 there, so the task graph holds no data and a worker's memory is bounded by
  the largest 居/村, not by the city. The folder and the resume cache must be on a
  filesystem every worker mounts at the same path (README "City scale").
- A task that raises is retried (``retries``), then reported after every other
  task has finished (:class:`TaskFailed`); the finished ones stay in the resume cache.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import sys
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
import shapely

from pucha.errors import PuchaError
from pucha.partition.cache import (
    ResumeCache, _as_cache, _cache_key, _cache_load, _cache_store, dump_signed, load_signed,
)

__all__ = ["InputStore", "TaskFailed", "VillageTask", "make_tasks", "run_tasks", "solve_all", "solve_task",
           "stop_on_sigterm"]

log = logging.getLogger("pucha.partition.run")

RETRIES = 2


class TaskFailed(PuchaError, RuntimeError):
    """Some 居/村 failed after their retries; the others are kept for a resumed run."""

    exit_code = 1


class InputStore(NamedTuple):
    """The inputs of a run's 居/村, one signed file each, in an absolute folder."""
    path: Path
    secret: bytes

    def put(self, code: str, args: tuple) -> None:
        dump_signed(self.path / f"{code}.pkl", args, self.secret)

    def get(self, code: str) -> tuple:
        return load_signed(self.path / f"{code}.pkl", self.secret)


class VillageTask(NamedTuple):
    """One 居/村 to solve: its inputs inline (``args``) or by reference (``store``)."""
    code: str
    size: int                       # buildings: larger first
    args: tuple | None              # (code, name, polygon, buildings, barriers, settings,
    store: InputStore | None        #  pinned, crs, previous)
    cache: ResumeCache | None


def _village_inputs(villages, buildings, barriers, codes):
    bsorted = buildings.sort_values("building_id")
    groups = {k: v for k, v in bsorted.groupby("village_code", sort=True)}
    btree = shapely.STRtree(barriers.geometry.values) if len(barriers) else None
    for code in codes:
        v = villages[villages["village_code"] == code].iloc[0]
        poly = v.geometry
        b = groups.get(code, bsorted.iloc[:0])
        if btree is not None and poly is not None:
            idx = np.sort(btree.query(poly.buffer(2)))
            bar = barriers.iloc[idx]
        else:
            bar = barriers.iloc[:0]
        yield code, str(v["name"]), poly, pd.DataFrame(b), pd.DataFrame(bar)


def _solve_cached(args: tuple, cache) -> object:
    """Solve one 居/村 (``args`` as :class:`VillageTask`), through the resume cache."""
    from pucha.partition import engine

    code, name, poly, b, bar, settings, pinned, crs, previous = args[:9]
    cache = _as_cache(cache)
    key = None
    if cache is not None:
        key = _cache_key(args)
        hit = _cache_load(cache, code, key)
        if hit is not None:
            hit.resumed = True
            return hit
    res = engine.solve_village(code, name, poly, b, bar, settings=settings, pinned=pinned, crs=crs,
                            previous=previous)
    if cache is not None:
        _cache_store(cache, code, key, res)
    return res


def _solve_args(args):
    """Solve ``(code, name, polygon, buildings, barriers, settings, pinned, crs, previous,
    cache)`` (``cache``: a folder, a :class:`ResumeCache` or None)."""
    return _solve_cached(args[:9], args[9])


def solve_task(task: VillageTask):
    """Run one :class:`VillageTask` (on a worker: reads its inputs by reference)."""
    args = task.args if task.args is not None else task.store.get(task.code)
    return _solve_cached(args, task.cache)


def make_tasks(inputs: Iterable[tuple], *, cache: ResumeCache | None = None,
               store: InputStore | None = None) -> list[VillageTask]:
    """One task per input tuple; with ``store`` the inputs are written there (once) and
    the task only names them."""
    tasks = []
    for args in inputs:
        code, size = args[0], len(args[3])
        if store is not None:
            store.put(code, args)
            tasks.append(VillageTask(code, size, None, store, cache))
        else:
            tasks.append(VillageTask(code, size, args, None, cache))
    return tasks


def largest_first(tasks: Sequence[VillageTask]) -> list[VillageTask]:
    """Most buildings first (ties: code order), so no worker idles at the end."""
    return sorted(tasks, key=lambda t: (-t.size, t.code))


# --------------------------------------------------------------------------- clean stops

@contextlib.contextmanager
def stop_on_sigterm():
    """SIGTERM raises ``SystemExit(143)`` in the main thread, as Ctrl-C raises
    KeyboardInterrupt: ``finally`` blocks run, pool workers are stopped and no output
    is written. (Outside the main thread this does nothing.)"""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def _raise(signum, _frame):
        raise SystemExit(128 + signum)

    old = signal.signal(signal.SIGTERM, _raise)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


def _pool_worker_init(parent: int) -> None:
    """A pool worker: Ctrl-C and SIGTERM are for the parent, which stops us; and we die
    with the parent if it is killed outright (Linux: PR_SET_PDEATHSIG)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if sys.platform.startswith("linux"):
        with contextlib.suppress(Exception):
            import ctypes

            ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG
    if os.getppid() != parent:  # the parent died before prctl
        os._exit(1)


def _stop_pool(ex) -> None:
    """Stop a ProcessPoolExecutor now: cancel what waits, kill its workers."""
    procs = list(getattr(ex, "_processes", {}).values())
    ex.shutdown(wait=False, cancel_futures=True)
    for p in procs:
        with contextlib.suppress(Exception):
            p.kill()
    for p in procs:
        with contextlib.suppress(Exception):
            p.join(5)


# --------------------------------------------------------------------------- runners

def _bar(n: int, progress: bool):
    from tqdm import tqdm

    return tqdm(total=n, disable=not progress, desc="居/村", unit="居/村", file=sys.stderr,
                dynamic_ncols=True)


def _failed(errors: dict[str, BaseException], n: int) -> PuchaError:
    """The error that reports failed 居/村 (one user-fixable error: that error itself)."""
    if len(errors) == 1:
        [exc] = errors.values()
        if isinstance(exc, PuchaError):
            return exc
    lines = [f"  居/村 {c}: {type(e).__name__}: {e}" for c, e in sorted(errors.items())]
    return TaskFailed(f"{len(errors)} of {n} 居/村 failed; the {n - len(errors)} others are "
                      "kept in the resume cache, so a re-run solves only these:\n" + "\n".join(lines))


def _run_pool(tasks: list[VillageTask], jobs: int, progress: bool, retries: int) -> list:
    """``tasks`` in a pool of ``jobs`` processes (a new pool if a worker dies)."""
    import multiprocessing as mp
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    results, errors, tries = [], {}, {t.code: 0 for t in tasks}
    todo = list(tasks)

    def again(t: VillageTask, exc: BaseException) -> bool:
        tries[t.code] += 1
        if tries[t.code] <= retries and not isinstance(exc, PuchaError):
            log.warning("居/村 %s failed (%s: %s); retrying", t.code, type(exc).__name__, exc)
            return True
        errors[t.code] = exc
        bar.update(1)
        return False

    with stop_on_sigterm(), _bar(len(tasks), progress) as bar:
        while todo:
            ex = ProcessPoolExecutor(max_workers=min(jobs, len(todo)), mp_context=mp.get_context("fork"),
                                     initializer=_pool_worker_init, initargs=(os.getpid(),))
            try:
                pending = {ex.submit(solve_task, t): t for t in todo}
                todo = []
                while pending:
                    done, _ = wait(pending, return_when=FIRST_COMPLETED)
                    broken = False
                    for f in done:
                        t = pending.pop(f)
                        try:
                            results.append(f.result())
                            bar.update(1)
                        except BrokenProcessPool as exc:  # a worker died (OOM-killed)
                            broken = True
                            if again(t, exc):
                                todo.append(t)
                        except Exception as exc:  # noqa: BLE001 - retried, then reported
                            if again(t, exc):
                                pending[ex.submit(solve_task, t)] = t
                    if broken:  # the rest starts again in a new pool
                        todo.extend(pending.values())
                        break
            finally:
                _stop_pool(ex)
    if errors:
        raise _failed(errors, len(tasks))
    return results


def _run_distributed(tasks: list[VillageTask], progress: bool, retries: int) -> list:
    """Every task on the current dask.distributed client, largest first, as they finish."""
    from distributed import as_completed, get_client

    client = get_client()
    ranked = largest_first(tasks)
    futures = {}
    for rank, t in enumerate(ranked):
        f = client.submit(solve_task, t, key=f"pucha-solve-{t.code}-{os.getpid()}-{id(tasks)}",
                          priority=len(ranked) - rank, retries=retries, pure=False)
        futures[f] = t
    results, errors = [], {}
    with stop_on_sigterm(), _bar(len(tasks), progress) as bar:
        try:
            for f in as_completed(list(futures)):
                t = futures.pop(f)
                if f.status == "error":
                    errors[t.code] = f.exception()
                else:
                    results.append(f.result())
                f.release()
                bar.update(1)
        finally:
            if futures:
                client.cancel(list(futures))
    if errors:
        raise _failed(errors, len(tasks))
    return results


def solve_all(inputs: Iterable[tuple], *, cache=None, jobs: int = 1, scheduler: str = "processes",
              progress: bool = False, retries: int = RETRIES) -> list:
    """Solve every 居/村 of ``inputs`` (tuples as :class:`VillageTask` ``args``).

    ``cache``: the resume cache (a folder or :class:`ResumeCache`). With
    ``scheduler="distributed"`` and a cache, the inputs go by reference: written once,
    signed, into ``<cache>/inputs/`` (removed at the end, whatever happens)."""
    cache = _as_cache(cache)
    store = None
    if scheduler == "distributed" and cache is not None:
        store = InputStore(cache.path / "inputs", cache.secret)
    try:
        tasks = make_tasks(inputs, cache=cache, store=store)
        return run_tasks(tasks, jobs=jobs, scheduler=scheduler, progress=progress, retries=retries)
    finally:
        if store is not None:
            shutil.rmtree(store.path, ignore_errors=True)


def run_tasks(tasks: list[VillageTask], *, jobs: int = 1, scheduler: str = "processes",
              progress: bool = False, retries: int = RETRIES) -> list:
    """Solve every task: serially, in a pool of ``jobs`` local processes, with a dask
    bag (``"dask"``: the local process or synchronous scheduler) or on the current
    ``dask.distributed`` client (``"distributed"``); the results in any order."""
    if scheduler == "distributed":
        return _run_distributed(tasks, progress, retries)
    if scheduler == "dask":
        import dask.bag as db

        bag = db.from_sequence(largest_first(tasks), npartitions=max(1, len(tasks))).map(solve_task)
        return bag.compute(scheduler="processes" if jobs > 1 else "synchronous")
    if jobs > 1 and len(tasks) > 1:
        return _run_pool(largest_first(tasks), min(jobs, len(tasks)), progress, retries)
    results = []
    with stop_on_sigterm(), _bar(len(tasks), progress) as bar:
        for t in tasks:
            results.append(solve_task(t))
            bar.update(1)
    return results


# --------------------------------------------------------------------------- clusters

@contextlib.contextmanager
def dask_client(address: str, *, jobs: int = 1, dashboard: bool = False,
                say=lambda msg: print(msg, file=sys.stderr)):
    """A ``dask.distributed`` Client for ``--dask ADDRESS`` (made current while open).

    ``address``: a scheduler (``tcp://10.0.0.5:8786``) or ``local``: a LocalCluster of
    ``jobs`` worker processes on this machine (closed with the client, so its workers
    stop with the run). ``dashboard``: print the dashboard's link (``say``)."""
    try:
        from distributed import Client, LocalCluster
    except ImportError as exc:
        from pucha.errors import ConfigError

        raise ConfigError("--dask needs dask.distributed: pip install 'pucha[dask]'") from exc
    logging.getLogger("distributed").setLevel(logging.WARNING)
    current = _current_client(address)
    if current is not None:  # e.g. pucha run --dask: one cluster for every step
        yield current
        return
    with stop_on_sigterm(), contextlib.ExitStack() as stack:
        if address == "local":
            cluster = stack.enter_context(LocalCluster(
                n_workers=max(1, jobs), threads_per_worker=1, processes=True,
                dashboard_address="127.0.0.1:0" if dashboard else None,
                silence_logs=logging.WARNING, host="127.0.0.1"))
            client = stack.enter_context(Client(cluster))
        else:
            client = stack.enter_context(Client(address, timeout="30s"))
        if dashboard:
            link = None
            with contextlib.suppress(Exception):
                if "dashboard" in client.scheduler_info().get("services", {}):
                    link = client.dashboard_link
            say(f"Dask dashboard: {link}" if link else
                "Dask dashboard: none (the scheduler runs without one: --no-dashboard, or "
                "bokeh is not installed)")
        n = len(client.scheduler_info().get("workers", {}))
        log.info("Dask: %s, %d worker(s)", address, n)
        yield client


def _current_client(address: str):
    """The current client if it is connected to ``address`` (any, for ``local``)."""
    from distributed import get_client

    try:
        c = get_client()
    except ValueError:
        return None
    if address == "local" and getattr(c, "cluster", None) is not None:
        return c
    return c if c.scheduler is not None and c.scheduler.address == address else None

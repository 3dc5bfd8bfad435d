"""Scheduling of ``pucha partition``: the per-居/村 inputs and the task that solves one.

Moved out of :mod:`pucha.partition.run` (no behaviour change).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import shapely

from pucha.partition.cache import _cache_key, _cache_load, _cache_store

__all__ = []


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


def _solve_args(args):
    code, name, poly, b, bar, settings, pinned, crs, previous, cache = args
    key = None
    if cache is not None:
        key = _cache_key(args)
        hit = _cache_load(cache, code, key)
        if hit is not None:
            hit.resumed = True
            return hit
    from pucha.partition import run

    res = run.solve_village(code, name, poly, b, bar, settings=settings, pinned=pinned, crs=crs,
                            previous=previous)
    if cache is not None:
        _cache_store(cache, code, key, res)
    return res


def run_tasks(inputs: list[tuple], *, jobs: int = 1, scheduler: str = "processes",
              progress: bool = False) -> list:
    """Solve every input tuple (see :func:`_solve_args`) serially, in a process pool
    (``jobs`` > 1) or with dask; the results in any order."""
    results = []
    if scheduler in ("dask", "distributed"):
        import dask.bag as db

        bag = db.from_sequence(inputs, npartitions=max(1, min(len(inputs), jobs * 4))).map(_solve_args)
        if scheduler == "distributed":
            results = bag.compute()  # the active dask.distributed Client
        else:
            results = bag.compute(scheduler="processes" if jobs > 1 else "synchronous")
    elif jobs > 1:
        from concurrent.futures import ProcessPoolExecutor

        from tqdm import tqdm
        with ProcessPoolExecutor(max_workers=jobs) as ex:
            results = list(tqdm(ex.map(_solve_args, inputs), total=len(inputs), disable=not progress,
                                desc="居/村", unit="居/村"))
    else:
        from tqdm import tqdm
        for a in tqdm(inputs, disable=not progress, desc="居/村", unit="居/村"):
            results.append(_solve_args(a))
    return results

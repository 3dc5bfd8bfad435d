"""The map pack on a Dask cluster: ``pucha maps --dask`` (and ``pucha run --dask``).

:func:`make_pack_dask` is :func:`pucha.outputs.pack.make_pack` with its drawing tasks
sent to a ``dask.distributed`` cluster instead of a local process pool
(:func:`dask_runner`): one task per 居/村 (its area maps; then its overview and atlas),
largest first, retried when a worker dies or a task fails, with a progress bar fed
by the cluster. Each worker loads the project once (per project file and version)
and writes the files itself, so the project and the pack folder must be on a
filesystem every worker mounts at the same path; paths are made absolute here, on
the client. Registers, the index and the manifest are written by the client.
"""

from __future__ import annotations

import logging
import os
import sys
from collections import defaultdict
from pathlib import Path

__all__ = ["dask_runner", "make_pack_dask"]

log = logging.getLogger(__name__)

_LOADED: tuple | None = None  # (gpkg, mtime_ns, size, attribution) loaded in this worker


def _ensure_project(gpkg: str, attribution: str | None) -> None:
    """Load the project into this worker once per project file version."""
    global _LOADED
    from pucha.outputs import pack

    st = os.stat(gpkg)
    key = (gpkg, st.st_mtime_ns, st.st_size, attribution)
    if _LOADED != key or pack._PROJECT is None:
        pack._init(gpkg, attribution)
        _LOADED = key


def _batch(fn, gpkg: str, attribution: str | None, tasks: list[tuple]) -> list:
    """Run ``fn`` over one 居/村's tasks on a worker."""
    _ensure_project(gpkg, attribution)
    return [fn(*t) for t in tasks]


def dask_runner(client=None, *, retries: int = 2):
    """A task runner for :func:`pucha.outputs.pack.make_pack` on ``client`` (default: the
    current ``dask.distributed`` client): the tasks of each 居/村 (the first field of a
    task is an area code, whose first 12 digits are the 居/村's, or a 居/村 code) go as
    one task, the 居/村 with the most tasks first."""

    def run(tasks: list[tuple], fn, *, gpkg: str, attribution: str | None, progress: bool,
            desc: str) -> list:
        from distributed import as_completed, get_client
        from tqdm import tqdm

        c = client or get_client()
        groups: dict[str, list[tuple]] = defaultdict(list)
        for t in tasks:
            groups[str(t[0])[:12]].append(t)
        order = sorted(groups, key=lambda v: (-len(groups[v]), v))
        futures = {}
        for rank, v in enumerate(order):
            f = c.submit(_batch, fn, os.path.abspath(gpkg), attribution, groups[v],
                         key=f"pucha-maps-{fn.__name__}-{v}-{os.getpid()}-{id(tasks)}",
                         priority=len(order) - rank, retries=retries, pure=False)
            futures[f] = v
        results, errors = [], {}
        bar = tqdm(total=len(tasks), desc=desc, unit="个", disable=not progress, file=sys.stderr,
                   dynamic_ncols=True)
        try:
            for f in as_completed(list(futures)):
                v = futures.pop(f)
                if f.status == "error":
                    errors[v] = f.exception()
                else:
                    results.extend(f.result())
                f.release()
                bar.update(len(groups[v]))
        finally:
            bar.close()
            if futures:
                c.cancel(list(futures))
        if errors:
            from pucha.errors import PuchaError

            lines = [f"  居/村 {v}: {type(e).__name__}: {e}" for v, e in sorted(errors.items())]
            raise PuchaError(f"maps of {len(errors)} 居/村 failed after {retries + 1} attempts "
                             "(the others are written):\n" + "\n".join(lines))
        return results

    return run


def make_pack_dask(gpkg: str | os.PathLike, out_dir: str | os.PathLike, *, client=None, **kw):
    """:func:`pucha.outputs.pack.make_pack` on a Dask cluster (``client``: default the
    current one); ``kw`` as make_pack's (``jobs`` is not used)."""
    from pucha.outputs.pack import make_pack

    kw.pop("jobs", None)
    return make_pack(Path(os.path.abspath(gpkg)), Path(os.path.abspath(out_dir)),
                     runner=dask_runner(client), **kw)

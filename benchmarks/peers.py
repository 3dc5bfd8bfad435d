"""Shared parts of the partition benchmarks: cells per 居/村, the peers, metrics, forked runs.

Used by :mod:`bench_partition` (one synthetic township and the demo) and
:mod:`bench_families` (one table per township family). Peers: gerrychain's
``recursive_tree_part``, spopt's ``MaxPHeuristic`` and ``RegionKMeansHeuristic`` and
METIS (pymetis) with contiguity, each called per 居/村 on pucha's cells and adjacency,
capped at a number of seconds per 居/村 (SIGALRM: a capped 居/村 falls back to one area
per connected part and is counted).
"""

from __future__ import annotations

import resource
import signal
import time
import warnings

import networkx as nx
import numpy as np
import shapely

from pucha.partition.cells import barrier_lines, village_cells
from pucha.partition.graph import cell_graph
from pucha.partition.quality import polsby_popper
from pucha.partition.solver import choose_k

TARGET, VMIN, VMAX = 300, 240, 360

with warnings.catch_warnings():  # import peers up front (never under SIGALRM)
    warnings.simplefilter("ignore")
    import gerrychain.partition  # noqa: F401
    import libpysal.weights  # noqa: F401
    import pymetis  # noqa: F401
    import spopt.region  # noqa: F401


class _Timeout(Exception):
    pass


def _alarm(_s, _f):
    raise _Timeout()


def prepare(layers):
    bar = barrier_lines(layers["roads"], layers.get("railways"), layers.get("water"), layers.get("walls"),
                        crs=layers["villages"].crs)
    out = []
    b_all = layers["buildings"]
    for code in sorted(layers["villages"]["village_code"]):
        v = layers["villages"][layers["villages"]["village_code"] == code].iloc[0]
        b = b_all[b_all["village_code"] == code]
        cells, _ = village_cells(v.geometry, b, bar)
        g, _ = cell_graph(cells, bar)
        out.append((code, cells, g))
    return out


def metrics(cells, g, areas):
    pop = cells["population"].to_numpy()
    geoms = cells.geometry.values
    rows = []
    for a in areas:
        if not a:
            continue
        p = int(pop[a].sum())
        sub = g.subgraph(a)
        cont = nx.is_connected(sub)

        def crossing(classes):
            h = nx.Graph()
            h.add_nodes_from(sub.nodes)
            h.add_edges_from((u, v) for u, v, d in sub.edges(data=True) if d["barrier"] not in classes)
            return sum(1 for c in nx.connected_components(h) if pop[list(c)].sum() > 0) > 1
        poly = shapely.union_all(geoms[a])
        rows.append((p, cont, crossing(("river",)), crossing(("major", "railway")), polsby_popper(poly)))
    return rows




def run_gerrychain(cells, g, k):
    import random

    from gerrychain import Graph
    from gerrychain.partition import recursive_tree_part
    random.seed(0)
    h = g.copy()
    for n in h:
        h.nodes[n]["pop"] = int(cells["population"].iat[n])
    total = sum(h.nodes[n]["pop"] for n in h)
    if k <= 1:
        return [sorted(h.nodes)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        part = recursive_tree_part(Graph.from_networkx(h), range(k), total / k, "pop", 0.2, node_repeats=1)
    return [sorted(n for n, p in part.items() if p == i) for i in range(k)]


def _w(g):
    from libpysal.weights import W
    nb = {n: sorted(g.neighbors(n)) for n in g}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return W(nb, silence_warnings=True)


def run_maxp(cells, g, k):
    from spopt.region import MaxPHeuristic
    df = cells[["population", "geometry"]].copy()
    rp = shapely.point_on_surface(df.geometry.values)
    df["x"], df["y"] = shapely.get_x(rp), shapely.get_y(rp)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # 2 constructions and 1 annealing run: its defaults (99 and 10) take about 90 s for
        # one 居/村 of 374 cells here, so every 居/村 would hit the cap
        m = MaxPHeuristic(df, _w(g), ["x", "y"], "population", VMIN, top_n=2, max_iterations_construction=2,
                          max_iterations_sa=1)
        m.solve()
    lab = np.asarray(m.labels_)
    return [sorted(np.where(lab == v)[0].tolist()) for v in sorted(set(lab.tolist()))]


def run_kmeans(cells, g, k):
    from spopt.region import RegionKMeansHeuristic
    rp = shapely.point_on_surface(cells.geometry.values)
    data = np.column_stack([shapely.get_x(rp), shapely.get_y(rp)])
    data = (data - data.mean(0)) / (data.std(0) + 1e-9)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = RegionKMeansHeuristic(data, k, _w(g))
        m.solve()
    lab = np.asarray(m.labels_)
    return [sorted(np.where(lab == v)[0].tolist()) for v in sorted(set(lab.tolist()))]


def run_metis(cells, g, k):
    import pymetis
    if k <= 1:
        return [sorted(g.nodes)]
    adj = [sorted(g.neighbors(n)) for n in range(len(cells))]
    vw = [max(1, int(p)) for p in cells["population"]]
    opts = pymetis.Options(contig=True, seed=0)
    _, parts = pymetis.part_graph(k, adjacency=adj, vweights=vw, options=opts)
    parts = np.asarray(parts)
    return [sorted(np.where(parts == i)[0].tolist()) for i in range(k)]


PEERS = {"gerrychain recursive_tree_part": run_gerrychain, "spopt MaxPHeuristic": run_maxp,
         "spopt RegionKMeansHeuristic": run_kmeans, "pymetis (contig)": run_metis}


def barriers_of(layers):
    """The barrier lines of a township's layers (roads, railways, water, walls)."""
    return barrier_lines(layers["roads"], layers.get("railways"), layers.get("water"), layers.get("walls"),
                         crs=layers["villages"].crs)


def run_per_village(fn, prepared, cap, *, capped_ok=True):
    """``fn(cells, g, k)`` per 居/村 under a ``cap``-second alarm (0: none).

    Returns (wall s, CPU s, [(cells, g, areas, fell_back)], capped, notes); a 居/村 where
    ``fn`` timed out or failed gets one area per connected part (``fell_back``).
    """
    notes, capped, results = [], 0, []
    t0, c0 = time.perf_counter(), time.process_time()
    for code, cells, g in prepared:
        k = choose_k(int(cells["population"].sum()), target=TARGET, vmin=VMIN, vmax=VMAX)
        signal.signal(signal.SIGALRM, _alarm)
        if cap:
            signal.alarm(int(cap))
        fell_back = True
        try:
            areas = fn(cells, g, k)
            fell_back = False
        except _Timeout:
            capped += 1
            areas = [sorted(c) for c in nx.connected_components(g)]
        except Exception as exc:  # a peer failing on a 居/村 is reported, not fatal
            capped += 1
            notes.append(f"failed on {code}: {type(exc).__name__}: {str(exc)[:80]}")
            areas = [sorted(c) for c in nx.connected_components(g)]
        finally:
            signal.alarm(0)
        results.append((cells, g, areas, fell_back))
    return time.perf_counter() - t0, time.process_time() - c0, results, capped, notes


def in_child(target, *args):
    """``target(*args)`` in a forked process; its result and the child's peak RSS (MB)."""
    import multiprocessing as mp
    ctx = mp.get_context("fork")
    q = ctx.Queue()

    def body():
        out = target(*args)
        q.put((out, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))
    proc = ctx.Process(target=body)
    proc.start()
    import queue
    while True:  # a child that dies (an import error, the OOM killer) must not hang the run
        try:
            out = q.get(timeout=5.0)
            break
        except queue.Empty:
            if not proc.is_alive():
                raise RuntimeError(f"the benchmark child running {getattr(target, '__name__', target)} died "
                                   f"(exit code {proc.exitcode})") from None
    proc.join()
    return out


def summary_cols(rows) -> str:
    """±10%, ±20%, outside the band, non-contiguous, river, major road, mean PP of metric rows."""
    if not rows:
        return f"{0:6d} {'—':>6s} {'—':>6s} {0:7d} {0:7d} {0:6d} {0:6d} {'—':>6s}"
    p = np.array([r[0] for r in rows], dtype=float)
    dev = np.abs(p - TARGET) / TARGET
    return (f"{len(rows):6d} {np.mean(dev <= .1):6.1%} {np.mean(dev <= .2):6.1%} "
            f"{int(np.sum((p < VMIN) | (p > VMAX))):7d} {sum(not r[1] for r in rows):7d} "
            f"{sum(r[2] for r in rows):6d} {sum(r[3] for r in rows):6d} {np.mean([r[4] for r in rows]):6.3f}")


SUMMARY_HEADER = (f"{'areas':>6s} {'±10%':>6s} {'±20%':>6s} {'outband':>7s} {'noncont':>7s} {'river':>6s} "
                  f"{'major':>6s} {'PP':>6s}")

"""Benchmark: pucha's partition solver against gerrychain, spopt and METIS.

One command (the whole side-by-side table)::

    .venv/bin/python benchmarks/bench_partition.py [--people 160000] [--cap 20] [--no-demo]

``--methods pucha`` (comma-separated name prefixes) runs a subset, e.g. while tuning.

builds the seeded 160k synthetic 盈浦 township (and the bundled Lujiazui/外滩 demo
project when it imports), cuts every 居/村 into cells and ONE adjacency graph per
居/村, and runs every method on those identical inputs, per 居/村, with the same
number of areas k (pucha's choice for pucha; round(pop/target) fitted to the band
for peers; MaxP chooses its own). Every peer call per 居/村 is capped at ``--cap``
seconds (SIGALRM); a capped 居/村 falls back to one area per connected part and is
counted in the ``capped`` column (with a second row over the 居/村 the method solved).
Prints one table per township.
"""

from __future__ import annotations

import argparse
import math
import resource
import signal
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import shapely

from pucha.gis.synthetic import synthetic_township
from pucha.partition.cells import barrier_lines, village_cells
from pucha.partition.graph import cell_graph
from pucha.partition.quality import polsby_popper
from pucha.partition.solver import choose_k, solve_graph

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
        import networkx as nx
        cont = nx.is_connected(sub)

        def crossing(classes):
            h = nx.Graph()
            h.add_nodes_from(sub.nodes)
            h.add_edges_from((u, v) for u, v, d in sub.edges(data=True) if d["barrier"] not in classes)
            return sum(1 for c in nx.connected_components(h) if pop[list(c)].sum() > 0) > 1
        poly = shapely.union_all(geoms[a])
        rows.append((p, cont, crossing(("river",)), crossing(("major", "railway")), polsby_popper(poly)))
    return rows


TIME_LIMIT = 20.0
PROVEN: list[str] = []  # pucha's reasons for rules it proves impossible (filled in the child)


def run_pucha(cells, g, k):
    pop = {int(n): int(p) for n, p in zip(cells["node"], cells["population"])}
    rp = shapely.point_on_surface(cells.geometry.values)
    xy = {int(n): np.array([p.x, p.y]) for n, p in zip(cells["node"], rp)}
    r = solve_graph(g, pop, xy, target=TARGET, vmin=VMIN, vmax=VMAX, time_limit=TIME_LIMIT)
    PROVEN.extend(("band" if i >= 0 else "river") for i, t in sorted(r.reasons.items())
                  if "proven impossible" in t or "too few for an area" in t)
    return r.areas


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


METHODS = {"pucha": run_pucha, "gerrychain recursive_tree_part": run_gerrychain,
           "spopt MaxPHeuristic": run_maxp, "spopt RegionKMeansHeuristic": run_kmeans,
           "pymetis (contig)": run_metis}


def bench(name, prepared, cap, methods=None):
    print(f"\n== {name}: {len(prepared)} 居/村, {sum(len(c) for _, c, _ in prepared)} cells, "
          f"{sum(int(c['population'].sum()) for _, c, _ in prepared)} people")
    hdr = (f"{'method':32s} {'wall s':>8s} {'peak MB':>8s} {'capped':>6s} {'areas':>6s} {'±10%':>6s} {'±20%':>6s} "
           f"{'outband':>7s} {'noncont':>7s} {'river':>6s} {'major':>6s} {'PP':>6s}")
    print(hdr)
    notes = []
    import multiprocessing as mp
    ctx = mp.get_context("fork")
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    for mname in (methods or list(METHODS)):
        q = ctx.Queue()
        proc = ctx.Process(target=_child, args=(q, mname, prepared, cap))
        proc.start()
        wall, peak, rows, capped, nts = q.get()
        proc.join()
        notes.extend(nts)
        _print_row(mname, wall, peak, rows, capped)
        if capped:
            notes.append(f"{mname}: {capped} 居/村 hit the {cap:.0f} s cap or failed (one area per part there)")
    print("Per 居/村 runs on identical cells and adjacency; peers get pucha's k; each method in a forked "
          f"process (peak MB = its max RSS, including ~{base:.0f} MB of shared inputs); load average "
          f"{open('/proc/loadavg').read().split()[0]} on {__import__('os').cpu_count()} cores (shared).")
    for n in notes:
        print("  note:", n)


def _print_row(mname, wall, peak, rows, capped):
    """The method's row over all areas; where it was capped in some 居/村 (one area per
    part there), a second row over the 居/村 it solved, so the fallback areas do not
    stand in for its plans in the PP and crossing columns."""
    def cols(rs):
        if not rs:
            return f"{0:6d} {'—':>6s} {'—':>6s} {0:7d} {0:7d} {0:6d} {0:6d} {'—':>6s}"
        p = np.array([r[0] for r in rs], dtype=float)
        dev = np.abs(p - TARGET) / TARGET
        return (f"{len(rs):6d} {np.mean(dev <= .1):6.1%} {np.mean(dev <= .2):6.1%} "
                f"{int(np.sum((p < VMIN) | (p > VMAX))):7d} {sum(not r[1] for r in rs):7d} "
                f"{sum(r[2] for r in rs):6d} {sum(r[3] for r in rs):6d} {np.mean([r[4] for r in rs]):6.3f}")
    print(f"{mname:32s} {wall:8.1f} {peak:8.0f} {capped:6d} {cols(rows)}", flush=True)
    if capped:
        print(f"{'  (solved 居/村 only)':31s} {'':8s} {'':8s} {'':6s} {cols([r for r in rows if not r[5]])}",
              flush=True)


def _child(q, mname, prepared, cap):
    fn = METHODS[mname]
    notes = []
    rows, capped = [], 0
    t0 = time.perf_counter()
    results = []
    for code, cells, g in prepared:
        k = choose_k(int(cells["population"].sum()), target=TARGET, vmin=VMIN, vmax=VMAX)
        signal.signal(signal.SIGALRM, _alarm)
        if mname != "pucha":
            signal.alarm(int(cap))
        fell_back = True
        try:
            areas = fn(cells, g, k)
            fell_back = False
        except _Timeout:
            capped += 1
            import networkx as nx
            areas = [sorted(c) for c in nx.connected_components(g)]
        except Exception as exc:  # a peer failing on a 居/村 is reported, not fatal
            capped += 1
            notes.append(f"{mname} failed on {code}: {type(exc).__name__}: {str(exc)[:80]}")
            import networkx as nx
            areas = [sorted(c) for c in nx.connected_components(g)]
        finally:
            signal.alarm(0)
        results.append((cells, g, areas, fell_back))
    wall = time.perf_counter() - t0
    for cells, g, areas, fell_back in results:
        rows.extend(r + (fell_back,) for r in metrics(cells, g, areas))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if mname == "pucha":
        for kind in ("band", "river"):
            n = PROVEN.count(kind)
            what = ("areas outside the band" if kind == "band" else
                    "river crossings (a part enclosed by rivers too small for an area)")
            notes.append(f"pucha: {n} {what} proven unavoidable by the structure (see SolveResult.reasons)")
    q.put((wall, peak, rows, capped, notes))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--people", type=int, default=160_000)
    ap.add_argument("--cap", type=float, default=20.0)
    ap.add_argument("--no-demo", action="store_true")
    ap.add_argument("--methods", default="", help="comma-separated name prefixes (default: all)")
    ap.add_argument("--time-limit", type=float, default=TIME_LIMIT, help="pucha's limit per 居/村 (s)")
    args = ap.parse_args(argv)
    globals()["TIME_LIMIT"] = args.time_limit
    methods = [m for m in METHODS if not args.methods
               or any(m.startswith(p.strip()) for p in args.methods.split(",") if p.strip())]
    t = time.perf_counter()
    syn = synthetic_township(seed=0, people=args.people)
    prep = prepare(syn)
    print(f"synthetic township built and cut into cells in {time.perf_counter() - t:.1f} s")
    bench(f"synthetic 盈浦 township (seed 0, {args.people} people)", prep, args.cap, methods)
    if not args.no_demo:
        try:
            from pucha.config import load_config
            from pucha.gis.project import import_project
            from pucha.gis.write import read_layer
            demo = Path(__file__).resolve().parent.parent / "pucha" / "data" / "demo" / "demo.toml"
            with tempfile.TemporaryDirectory() as d:
                res = import_project(load_config(demo), out=Path(d) / "demo.gpkg")
                layers = {n: read_layer(res.gpkg, n) for n in ("villages", "buildings", "roads", "railways",
                                                                "water", "walls")
                          if n in __import__("pucha.gis.write", fromlist=["list_layers"]).list_layers(res.gpkg)}
                bench("Lujiazui/外滩 demo (real OSM)", prepare(layers), args.cap, methods)
        except Exception as exc:
            print(f"\ndemo data not benchmarked: {type(exc).__name__}: {exc}")
    print(f"\npeak RSS of the whole run: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    sys.exit(main())

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
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import shapely

from peers import PEERS, SUMMARY_HEADER, in_child, metrics, prepare, run_per_village, summary_cols
from peers import TARGET, VMAX, VMIN
from pucha.gis.synthetic import synthetic_township
from pucha.partition.solver import solve_graph

TIME_LIMIT = 20.0
PROVEN: list[str] = []  # pucha's reasons for rules it proves impossible (filled in the child)


def run_pucha(cells, g, k):
    pop = {int(n): int(p) for n, p in zip(cells["node"], cells["population"])}
    rp = shapely.point_on_surface(cells.geometry.values)
    xy = {int(n): np.array([p.x, p.y]) for n, p in zip(cells["node"], rp)}
    r = solve_graph(g, pop, xy, target=TARGET, vmin=VMIN, vmax=VMAX, time_limit=TIME_LIMIT)
    PROVEN.extend(("band" if i >= 0 else "river") for i, t in sorted(r.reasons.items())
                  if "proven impossible" in t)
    return r.areas


METHODS = {"pucha": run_pucha, **PEERS}


def bench(name, prepared, cap, methods=None):
    print(f"\n== {name}: {len(prepared)} 居/村, {sum(len(c) for _, c, _ in prepared)} cells, "
          f"{sum(int(c['population'].sum()) for _, c, _ in prepared)} people")
    print(f"{'method':32s} {'wall s':>8s} {'peak MB':>8s} {'capped':>6s} {SUMMARY_HEADER}")
    notes = []
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    for mname in (methods or list(METHODS)):
        (wall, rows, capped, nts), peak = in_child(_child, mname, prepared, cap)
        notes.extend(f"{mname}: {n}" for n in nts)
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
    print(f"{mname:32s} {wall:8.1f} {peak:8.0f} {capped:6d} {summary_cols(rows)}", flush=True)
    if capped:
        print(f"{'  (solved 居/村 only)':31s} {'':8s} {'':8s} {'':6s} {summary_cols([r for r in rows if not r[5]])}",
              flush=True)


def _child(mname, prepared, cap):
    wall, _cpu, results, capped, notes = run_per_village(METHODS[mname], prepared, 0 if mname == "pucha" else cap)
    rows = []
    for cells, g, areas, fell_back in results:
        rows.extend(r + (fell_back,) for r in metrics(cells, g, areas))
    if mname == "pucha":
        for kind in ("band", "river"):
            n = PROVEN.count(kind)
            what = ("areas outside the band" if kind == "band" else
                    "river crossings (a part enclosed by rivers too small for an area)")
            notes.append(f"{n} {what} proven unavoidable by the structure (see SolveResult.reasons)")
    return wall, rows, capped, notes


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

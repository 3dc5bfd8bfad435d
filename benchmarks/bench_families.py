"""Benchmark over township families: pucha and its peers, one table per family.

One command (the whole table; the machine is shared, so it takes a while)::

    .venv/bin/python benchmarks/bench_families.py                  # every family, seeds 0 and 1
    .venv/bin/python benchmarks/bench_families.py --small --seeds 0 --families highrise,village

Families (generators in ``benchmarks/families/``, each its own module): ``yingpu`` (the
project's own synthetic 盈浦, :mod:`pucha.gis.synthetic`), ``highrise``, ``village``,
``oldtown`` and the real OpenStreetMap extracts ``osm-lujiazui`` (the bundled demo) and
``osm-guanggu``. pucha runs as the product does, :func:`pucha.partition.run.solve_village`
per 居/村 (both passes, balance notes); the peers (see :mod:`peers`) run per 居/村 on the
cells of pucha's first pass, with pucha's number of areas, each capped at ``--cap``
seconds per 居/村. Columns: areas within ±10% and ±20% of 300, outside 240-360,
non-contiguous, areas across a river, areas across a major road (or railway), mean
Polsby-Popper, CPU seconds of the method; for pucha also ``nonote``, areas outside ±10%
without a ``balance_note``. Rows pool the seeds.
"""

from __future__ import annotations

import argparse
import sys
import time


from families import FAMILIES
from peers import (PEERS, SUMMARY_HEADER, TARGET, VMAX, VMIN, barriers_of, in_child, metrics, prepare,
                   run_per_village, summary_cols)
from pucha.config import PartitionSettings
from pucha.gis.synthetic import synthetic_township
from pucha.partition.run import _village_inputs, solve_village

REAL = {"osm-lujiazui", "osm-guanggu"}


def make(family: str, seed: int, small: bool) -> dict:
    if family == "yingpu":
        return synthetic_township(seed=seed, people=40_000 if small else 160_000)
    return FAMILIES[family](seed, small=small)


def pucha_rows(layers, time_limit: float):
    """pucha per 居/村 as the product runs it: metric rows (+ balance_note) and CPU seconds."""
    bars = barriers_of(layers)
    vil = layers["villages"]
    st = PartitionSettings(target=TARGET, min=VMIN, max=VMAX, time_limit_s=time_limit)
    c0 = time.process_time()
    rows, proven = [], 0
    for code, name, poly, b, bar in _village_inputs(vil, layers["buildings"], bars,
                                                    sorted(vil["village_code"])):
        res = solve_village(code, name, poly, b, bar, settings=st, crs=vil.crs)
        a = res.areas
        proven += sum("proven impossible" in p["message"] for p in res.problems
                      if p["code"] in ("area_below_band", "area_above_band"))
        proven += sum(p["code"] == "village_below_band" for p in res.problems)  # one area: all it can be
        for r in a.itertuples() if len(a) else ():
            rows.append((int(r.population), bool(r.contiguous), r.river_crossings > 0,
                         r.major_road_crossings > 0, float(r.polsby_popper), False, str(r.balance_note)))
    return rows, time.process_time() - c0, proven


def peer_rows(fn, prepared, cap):
    _wall, cpu, results, capped, notes = run_per_village(fn, prepared, cap)
    rows = []
    for cells, g, areas, fell_back in results:
        rows.extend(r + (fell_back,) for r in metrics(cells, g, areas))
    return rows, cpu, capped, notes


def no_note(rows) -> int:
    return sum(1 for r in rows if abs(r[0] - TARGET) * 10 > TARGET and not r[6])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--families", default="yingpu,highrise,village,oldtown,osm-lujiazui,osm-guanggu")
    ap.add_argument("--seeds", default="0,1", help="seeds of the synthetic families (comma-separated)")
    ap.add_argument("--small", action="store_true", help="reduced townships (quick runs)")
    ap.add_argument("--cap", type=float, default=10.0, help="seconds per 居/村 for each peer")
    ap.add_argument("--methods", default="", help="comma-separated name prefixes (default: all)")
    ap.add_argument("--time-limit", type=float, default=20.0, help="pucha's work limit per 居/村 (s)")
    args = ap.parse_args(argv)
    methods = ["pucha"] + list(PEERS)
    if args.methods:
        methods = [m for m in methods if any(m.startswith(p.strip()) for p in args.methods.split(","))]
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    for fam in [f.strip() for f in args.families.split(",") if f.strip()]:
        fam_seeds = [0] if fam in REAL else seeds
        pooled: dict[str, list] = {m: [] for m in methods}
        cpu = dict.fromkeys(methods, 0.0)
        capped = dict.fromkeys(methods, 0)
        notes: list[str] = []
        n_v = n_b = n_p = 0
        for seed in fam_seeds:
            layers = make(fam, seed, args.small)
            n_v += len(layers["villages"])
            n_b += len(layers["buildings"])
            n_p += int(layers["buildings"]["population"].sum())
            prepared = None
            for m in methods:
                if m == "pucha":
                    (rows, c, proven), _ = in_child(pucha_rows, layers, args.time_limit)
                    notes.append(f"pucha, seed {seed}: {proven} areas outside the band proven unavoidable")
                else:
                    if prepared is None:
                        prepared = prepare(layers)
                    (rows, c, k, nts), _ = in_child(peer_rows, PEERS[m], prepared, args.cap)
                    capped[m] += k
                    notes.extend(f"{m}, seed {seed}: {n}" for n in nts[:3])
                pooled[m].extend(rows)
                cpu[m] += c
        print(f"\n== {fam} (seeds {','.join(map(str, fam_seeds))}{', small' if args.small else ''}): "
              f"{n_v} 居/村, {n_b} buildings, {n_p} people")
        print(f"{'method':32s} {'CPU s':>7s} {'capped':>6s} {SUMMARY_HEADER} {'nonote':>6s}")
        for m in methods:
            rows = pooled[m]
            nn = f"{no_note(rows):6d}" if m == "pucha" else f"{'':6s}"
            print(f"{m:32s} {cpu[m]:7.1f} {capped[m]:6d} {summary_cols(rows)} {nn}", flush=True)
        for n in notes:
            print("  note:", n)
    print(f"\nload average {open('/proc/loadavg').read().split()[0]} (shared machine); peers capped at "
          f"{args.cap:g} s per 居/村 (a capped 居/村 is one area per connected part)")


if __name__ == "__main__":
    sys.exit(main())

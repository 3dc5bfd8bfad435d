"""Load benchmark: peak memory and time of `pucha import` and `pucha partition` at
10,000 / 100,000 / 1,000,000 buildings, plus 100,000 buildings in ONE 居/村.

Each stage runs as its own ``pucha`` process (one worker: ``--jobs 1``); the peak
resident memory is that process's ``ru_maxrss`` read with ``resource.getrusage``
(RUSAGE_CHILDREN) by a fresh measuring interpreter, so sizes never share a heap.

The township is generated (seeded, deterministic) straight to source files:
rectangular 居/村 of about 1,000 buildings each (rows of 25) (or one 居/村 for the single-village row),
on a street grid, each building 12 x 10 m with 3 people (a village-house density, so
one 居/村 of 1,000 buildings holds ~3,000 people = ~10 areas; the single 居/村 row has 2
people per building, 200,000 people, as more than 899 areas cannot be coded), codes
310118002001...
(at most 999 居/村: the 1M row has 999 居/村 of ~1,001 buildings).

Usage::

    python benchmarks/bench_load.py                 # 10k, 100k, 1M and the 100k 居/村
    python benchmarks/bench_load.py --sizes 10000   # one size
    python benchmarks/bench_load.py --keep DIR      # keep the generated projects
    python benchmarks/bench_load.py --sizes 100000 1000000 --single 0 --stages write
                                                    # a partition's write step alone

Prints one table row per size and stage: buildings, 居/村, seconds, peak RSS (MiB),
and µs / MiB per building (the linearity check).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

X0, Y0 = 604000.0, 3448000.0
CRS = "EPSG:4549"
TOWNSHIP = "310118002"


def make_project(folder: Path, n_buildings: int, *, per_village: int = 1000,
                 people: int = 3, seed: int = 0) -> Path:
    """Write township / villages / buildings GeoPackages and a project TOML."""
    import geopandas as gpd
    import pyogrio
    import shapely
    import tomli_w

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    n_v = min(999, max(1, math.ceil(n_buildings / per_village)))   # 3-digit sequence
    per_v = math.ceil(n_buildings / n_v)
    # buildings per row: 25 (4 rows = 100 buildings = 300 people) or a multiple of 100
    side_b = 25 if per_v <= 10_000 else 250 * math.ceil(math.sqrt(per_v) / 250)
    pitch = 30.0                                    # metres per building slot
    v_w = side_b * pitch + 40.0                     # 居/村 rectangle, 20 m street margin
    v_h = math.ceil(per_v / side_b) * pitch + 40.0
    cols = math.ceil(math.sqrt(n_v))
    vi = np.arange(n_v)
    vx, vy = X0 + (vi % cols) * v_w, Y0 + (vi // cols) * v_h
    codes = [f"{TOWNSHIP}{i + 1:03d}" for i in range(n_v)]
    villages = gpd.GeoDataFrame(
        {"code": codes, "name": [f"第{i + 1}社区居委会" for i in range(n_v)]},
        geometry=shapely.box(vx, vy, vx + v_w, vy + v_h), crs=CRS)
    rows = math.ceil(n_v / cols)
    township = gpd.GeoDataFrame({"code": [TOWNSHIP], "name": ["负载测试街道"]},
                                geometry=[shapely.box(X0, Y0, X0 + cols * v_w,
                                                      Y0 + rows * v_h)], crs=CRS)
    # buildings: fill each 居/村 slot by slot
    counts = np.full(n_v, n_buildings // n_v)
    counts[: n_buildings - counts.sum()] += 1
    v_of = np.repeat(vi, counts)
    k = np.concatenate([np.arange(c) for c in counts])
    bx = vx[v_of] + 20 + (k % side_b) * pitch + rng.uniform(0, 6, len(k))
    by = vy[v_of] + 20 + (k // side_b) * pitch + rng.uniform(0, 6, len(k))
    buildings = gpd.GeoDataFrame(
        {"id": [f"B{i:07d}" for i in range(n_buildings)], "floors": 3.0,
         "population": people, "use": "住宅"},
        geometry=shapely.box(bx, by, bx + 12, by + 10), crs=CRS)
    # streets along the 居/村 edges
    xs = X0 + np.arange(cols + 1) * v_w
    ys = Y0 + np.arange(rows + 1) * v_h
    lines = ([shapely.LineString([(x, ys[0]), (x, ys[-1])]) for x in xs]
             + [shapely.LineString([(xs[0], y), (xs[-1], y)]) for y in ys])
    roads = gpd.GeoDataFrame({"id": [f"R{i}" for i in range(len(lines))],
                              "name": [f"{i}号路" for i in range(len(lines))],
                              "kind": "minor"}, geometry=lines, crs=CRS)
    for name, df in (("township", township), ("villages", villages),
                     ("buildings", buildings), ("roads", roads)):
        pyogrio.write_dataframe(df, folder / f"{name}.gpkg", layer=name, driver="GPKG")
    doc = {
        "project": {"name": "负载测试街道", "township_code": TOWNSHIP, "gpkg": "project.gpkg"},
        "layers": {
            "buildings": {"path": "buildings.gpkg", "layer": "buildings",
                          "fields": {"id": "id", "floors": "floors", "population": "population",
                                     "use": "use"}},
            "villages": {"path": "villages.gpkg", "layer": "villages",
                         "fields": {"village_code": "code", "name": "name"}},
            "township": {"path": "township.gpkg", "layer": "township",
                         "fields": {"code": "code", "name": "name"}},
            "roads": {"path": "roads.gpkg", "layer": "roads",
                      "fields": {"road_id": "id", "name": "name", "road_class": "kind"}},
        },
        "partition": {"seed": 0, "jobs": 1},
    }
    toml = folder / "project.toml"
    toml.write_bytes(tomli_w.dumps(doc).encode("utf-8"))
    return toml


_MEASURE = r"""
import json, resource, subprocess, sys, time
t = time.perf_counter()
r = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
dt = time.perf_counter() - t
rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss   # KiB on Linux
print(json.dumps({"rc": r.returncode, "seconds": dt, "peak_kib": rss, "err": r.stderr[-600:]}))
"""


def make_plan(folder: Path, *, people_per_area: int = 300) -> Path:
    """A contract-level partitioned project (no import, no solver) for ``pucha check``.

    Reads the generated sources; each 居/村 is cut into horizontal bands of whole
    building rows holding about ``people_per_area`` people; bands tile the 居/村.
    """
    import geopandas as gpd
    import pandas as pd
    import pyogrio
    import shapely

    from pucha.gis.schema import BUILDING_COLUMNS
    from pucha.gis.write import update_gpkg

    v = pyogrio.read_dataframe(folder / "villages.gpkg")
    b = pyogrio.read_dataframe(folder / "buildings.gpkg")
    t = pyogrio.read_dataframe(folder / "township.gpkg")
    pitch = 30.0
    vb = v.geometry.bounds
    b_v = shapely.STRtree(v.geometry.values).query(b.geometry.centroid.values,
                                                    predicate="within")
    vi = np.empty(len(b), dtype=int)
    vi[b_v[0]] = b_v[1]
    bb = b.geometry.bounds
    row = np.floor((bb["miny"].to_numpy() - vb["miny"].to_numpy()[vi] - 20) / pitch).astype(int)
    col = np.floor((bb["minx"].to_numpy() - vb["minx"].to_numpy()[vi] - 20) / pitch).astype(int)
    side_b = int(col.max()) + 1
    each = max(1, int(np.median(b["population"])))         # people per building
    lo_band, hi_band = 240, 360
    if side_b * each >= lo_band:                           # one row, column chunks
        rpa = 1
        cpa = max([d for d in range(1, side_b + 1) if side_b % d == 0
                   and lo_band <= d * each <= hi_band] or [side_b])
    else:                                                  # whole rows
        cpa = side_b
        rpa = max([r for r in range(1, 1000) if lo_band <= r * side_b * each <= hi_band]
                  or [max(1, people_per_area // (side_b * each))])
    chunks = math.ceil(side_b / cpa)
    last_row = pd.Series(row).groupby(vi).max()
    # a short last row joins the row block before it
    n_blocks = {i: max(1, (int(last_row[i]) + 1) // rpa) for i in last_row.index}
    blk = np.minimum(row // rpa, np.array([n_blocks[i] for i in vi]) - 1)
    area_idx = blk * chunks + col // cpa
    a_rows = []
    for i, vr in v.iterrows():
        if i not in n_blocks:
            continue
        x0, y0, x1, y1 = vb["minx"][i], vb["miny"][i], vb["maxx"][i], vb["maxy"][i]
        for r in range(n_blocks[i]):
            lo = y0 if r == 0 else y0 + 13 + r * rpa * pitch
            hi = y1 if r == n_blocks[i] - 1 else y0 + 13 + (r + 1) * rpa * pitch
            for c in range(chunks):
                left = x0 if c == 0 else x0 + 13 + c * cpa * pitch
                right = x1 if c == chunks - 1 else x0 + 13 + (c + 1) * cpa * pitch
                a = r * chunks + c
                a_rows.append({"area_code": f"{vr['code']}{a + 1:03d}",
                               "village_code": vr["code"], "seq": a + 1,
                               "geometry": shapely.box(left, lo, right, hi)})
    areas = gpd.GeoDataFrame(a_rows, crs=v.crs)
    codes = np.array([f"{c}{a + 1:03d}" for c, a in zip(v["code"].to_numpy()[vi], area_idx)])
    pop = b["population"].to_numpy().astype(int)
    per_area = pd.Series(pop).groupby(codes).sum()
    nb = pd.Series(1, index=range(len(b))).groupby(codes).sum()
    areas["population"] = per_area.reindex(areas["area_code"]).fillna(0).astype(int).values
    areas["dwellings"] = np.nan
    areas["n_buildings"] = nb.reindex(areas["area_code"]).fillna(0).astype(int).values
    areas["locked"] = False
    for col in ("sizhi", "east", "south", "west", "north", "status"):
        areas[col] = ""
    areas["polsby_popper"] = 0.0
    areas["river_crossings"] = 0
    areas["major_road_crossings"] = 0
    buildings = gpd.GeoDataFrame({
        "building_id": b["id"], "village_code": v["code"].to_numpy()[vi], "name": "",
        "address": "", "use": b["use"], "residential": True, "floors": b["floors"],
        "height": np.nan, "dwellings": np.nan, "population": pop, "pop_method": "given",
        "pop_guessed": False, "locked": False, "area_code": codes, "source": "bench"},
        geometry=b.geometry.values, crs=b.crs)[list(BUILDING_COLUMNS) + ["geometry"]]
    building_areas = pd.DataFrame({
        "building_id": b["id"], "area_code": codes, "part": 0, "floor_from": np.nan,
        "floor_to": np.nan, "unit_from": np.nan, "unit_to": np.nan, "population": pop,
        "dwellings": np.nan})
    villages = gpd.GeoDataFrame({"village_code": v["code"], "name": v["name"], "kind": "居委会",
                                 "locked": False}, geometry=v.geometry.values, crs=v.crs)
    township = gpd.GeoDataFrame({"code": t["code"], "name": t["name"]},
                                geometry=t.geometry.values, crs=t.crs)
    out = folder / "plan.gpkg"
    update_gpkg(out, {"township": township, "villages": villages, "buildings": buildings,
                      "areas": areas, "building_areas": building_areas}, fresh=True)
    return out


# The I/O floor every stage pays: read the buildings, write them atomically into a
# project GeoPackage with gis/write.update_gpkg, read the layer back.
_IO = r"""
import sys
from pathlib import Path
from pucha.gis.write import read_layer, update_gpkg
folder = Path(sys.argv[1])
b = read_layer(folder / "buildings.gpkg", "buildings")
update_gpkg(folder / "io.gpkg", {"buildings": b}, fresh=True)
assert len(read_layer(folder / "io.gpkg", "buildings")) == len(b)
"""


# A partition's write step alone: the layers `pucha partition` writes (plan, revision
# snapshot, problems, meta, QGIS styles) written into an existing partitioned project.
_WRITE = r"""
import sys, time
from pathlib import Path
import pandas as pd
from pucha.gis.write import read_layer, update_gpkg
from pucha.gis.styles import write_styles
plan = Path(sys.argv[1])
areas = read_layer(plan, "areas")
ba = pd.DataFrame(read_layer(plan, "building_areas"))
layers = {"areas": areas, "building_areas": ba, "buildings": read_layer(plan, "buildings"),
          "areas_r1": areas, "building_areas_r1": ba}
t = time.perf_counter()
update_gpkg(plan, layers, meta={"bench": {"write": 1}}, finish=write_styles)
print(f"WRITE_SECONDS={time.perf_counter() - t:.2f}", file=sys.stderr)
"""


def measure(cmd: list[str], cwd: Path, timeout: float) -> dict:
    r = subprocess.run([sys.executable, "-c", _MEASURE, *cmd], cwd=cwd, capture_output=True,
                       text=True, timeout=timeout, env=dict(os.environ, PYTHONHASHSEED="0"))
    return json.loads(r.stdout.strip().splitlines()[-1])


def pucha(*args: str) -> list[str]:
    return [sys.executable, "-m", "pucha.scripts.cli", "-qq", *args]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=int, nargs="*", default=[10_000, 100_000, 1_000_000])
    ap.add_argument("--single", type=int, default=100_000,
                    help="buildings in the one-居/村 row (0: skip)")
    ap.add_argument("--stages", nargs="*", default=["io", "import", "partition", "check"],
                    help="io (read + atomic GeoPackage write), import, partition, check "
                         "(on a generated plan of ~300-person bands, see make_plan), write "
                         "(a partition's write step into that plan)")
    ap.add_argument("--keep", type=Path, default=None)
    ap.add_argument("--timeout", type=float, default=3 * 3600)
    a = ap.parse_args(argv)

    # 1,000 buildings per 居/村 (1,200 from 1M on: at most 999 居/村 in a township)
    runs = [(n, 1000 if n < 999_000 else 1200, 3, f"{n:,} buildings") for n in a.sizes]
    if a.single:
        # 2 people per building: 200,000 people = ~670-800 areas, inside the 001-899 codes
        runs.append((a.single, a.single, 2, f"{a.single:,} in one 居/村"))
    root = a.keep or Path(tempfile.mkdtemp(prefix="pucha-bench-load-"))
    print(f"{'case':28s} {'stage':10s} {'居/村':>6s} {'seconds':>9s} {'peak MiB':>9s} "
          f"{'µs/bldg':>8s} {'KiB/bldg':>8s}  status", flush=True)
    try:
        for n, per, people, label in runs:
            folder = root / f"n{n}_v{per}"
            t = time.perf_counter()
            toml = make_project(folder, n, per_village=per, people=people)
            gen = time.perf_counter() - t
            n_v = min(999, max(1, math.ceil(n / per)))
            print(f"{label:28s} {'generate':10s} {n_v:6d} {gen:9.1f} {'':>9s} "
                  f"{gen / n * 1e6:8.1f} {'':>8s}  ok", flush=True)
            gpkg = folder / "project.gpkg"
            for stage in a.stages:
                if stage == "io":
                    cmd = [sys.executable, "-c", _IO, str(folder)]
                elif stage == "import":
                    cmd = pucha("import", str(toml), "-o", str(gpkg))
                elif stage == "partition":
                    cmd = pucha("partition", str(gpkg), "--jobs", "1")
                elif stage == "check":
                    plan = make_plan(folder)
                    cmd = pucha("check", str(plan))
                elif stage == "write":
                    plan = make_plan(folder)
                    cmd = [sys.executable, "-c", _WRITE, str(plan)]
                else:
                    raise SystemExit(f"unknown stage {stage}")
                m = measure(cmd, folder, a.timeout)
                mib = m["peak_kib"] / 1024
                status = "ok" if m["rc"] == 0 else f"exit {m['rc']}: " + \
                    " ".join(m["err"].split())[-160:]
                if stage == "write" and m["rc"] == 0:
                    status = m["err"].strip().splitlines()[-1]   # the write step alone
                print(f"{label:28s} {stage:10s} {n_v:6d} {m['seconds']:9.1f} {mib:9.0f} "
                      f"{m['seconds'] / n * 1e6:8.1f} {m['peak_kib'] / n:8.2f}  {status}",
                      flush=True)

            if not a.keep:
                shutil.rmtree(folder, ignore_errors=True)
    finally:
        if not a.keep:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Load benchmark: peak memory and time of `pucha import` and `pucha partition` at
10,000 / 100,000 / 1,000,000 buildings, plus 100,000 buildings in ONE 居/村.

Each stage runs as its own ``pucha`` process (one worker: ``--jobs 1``); the peak
resident memory is that process's ``ru_maxrss`` read with ``resource.getrusage``
(RUSAGE_CHILDREN) by a fresh measuring interpreter, so sizes never share a heap.

The township is generated (seeded, deterministic) straight to source files:
square 居/村 of about 1,000 buildings each (or one 居/村 for the single-village row),
on a street grid, each building 12 x 10 m with 3 people (a village-house density, so
one 居/村 of 1,000 buildings holds ~3,000 people = ~10 areas), codes 310118002001...
(at most 999 居/村: the 1M row has 999 居/村 of ~1,001 buildings).

Usage::

    python benchmarks/bench_load.py                 # 10k, 100k, 1M and the 100k 居/村
    python benchmarks/bench_load.py --sizes 10000   # one size
    python benchmarks/bench_load.py --keep DIR      # keep the generated projects

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
                 seed: int = 0) -> Path:
    """Write township / villages / buildings GeoPackages and a project TOML."""
    import geopandas as gpd
    import pyogrio
    import shapely
    import tomli_w

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    n_v = min(999, max(1, math.ceil(n_buildings / per_village)))   # 3-digit sequence
    side_b = math.ceil(math.sqrt(math.ceil(n_buildings / n_v)))     # buildings per row
    pitch = 30.0                                    # metres per building slot
    v_side = side_b * pitch + 40.0                  # 居/村 square with a 20 m street margin
    cols = math.ceil(math.sqrt(n_v))
    vi = np.arange(n_v)
    vx, vy = X0 + (vi % cols) * v_side, Y0 + (vi // cols) * v_side
    codes = [f"{TOWNSHIP}{i + 1:03d}" for i in range(n_v)]
    villages = gpd.GeoDataFrame(
        {"code": codes, "name": [f"第{i + 1}社区居委会" for i in range(n_v)]},
        geometry=shapely.box(vx, vy, vx + v_side, vy + v_side), crs=CRS)
    rows = math.ceil(n_v / cols)
    township = gpd.GeoDataFrame({"code": [TOWNSHIP], "name": ["负载测试街道"]},
                                geometry=[shapely.box(X0, Y0, X0 + cols * v_side,
                                                      Y0 + rows * v_side)], crs=CRS)
    # buildings: fill each 居/村 slot by slot
    counts = np.full(n_v, n_buildings // n_v)
    counts[: n_buildings - counts.sum()] += 1
    v_of = np.repeat(vi, counts)
    k = np.concatenate([np.arange(c) for c in counts])
    bx = vx[v_of] + 20 + (k % side_b) * pitch + rng.uniform(0, 6, len(k))
    by = vy[v_of] + 20 + (k // side_b) * pitch + rng.uniform(0, 6, len(k))
    buildings = gpd.GeoDataFrame(
        {"id": [f"B{i:07d}" for i in range(n_buildings)], "floors": 3.0,
         "population": 3, "use": "住宅"},
        geometry=shapely.box(bx, by, bx + 12, by + 10), crs=CRS)
    # streets along the 居/村 edges
    xs = X0 + np.arange(cols + 1) * v_side
    ys = Y0 + np.arange(rows + 1) * v_side
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
    ap.add_argument("--stages", nargs="*", default=["io", "import", "partition"],
                    help="io (read + atomic GeoPackage write), import, partition")
    ap.add_argument("--keep", type=Path, default=None)
    ap.add_argument("--timeout", type=float, default=3 * 3600)
    a = ap.parse_args(argv)

    runs = [(n, 1000, f"{n:,} buildings") for n in a.sizes]
    if a.single:
        runs.append((a.single, a.single, f"{a.single:,} in one 居/村"))
    root = a.keep or Path(tempfile.mkdtemp(prefix="pucha-bench-load-"))
    print(f"{'case':28s} {'stage':10s} {'居/村':>6s} {'seconds':>9s} {'peak MiB':>9s} "
          f"{'µs/bldg':>8s} {'KiB/bldg':>8s}  status", flush=True)
    try:
        for n, per, label in runs:
            folder = root / f"n{n}_v{per}"
            t = time.perf_counter()
            toml = make_project(folder, n, per_village=per)
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
                else:
                    raise SystemExit(f"unknown stage {stage}")
                m = measure(cmd, folder, a.timeout)
                mib = m["peak_kib"] / 1024
                status = "ok" if m["rc"] == 0 else f"exit {m['rc']}: " + \
                    " ".join(m["err"].split())[-160:]
                print(f"{label:28s} {stage:10s} {n_v:6d} {m['seconds']:9.1f} {mib:9.0f} "
                      f"{m['seconds'] / n * 1e6:8.1f} {m['peak_kib'] / n:8.2f}  {status}",
                      flush=True)
                if m["rc"] != 0:
                    break
            if not a.keep:
                shutil.rmtree(folder, ignore_errors=True)
    finally:
        if not a.keep:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

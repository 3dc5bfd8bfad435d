"""Benchmark: the full map pack for a 160,000-person township (~530 areas).

Prints a table: areas, PDF pages, HTML files, total wall time, time per area and
per PDF page, and the CPU time of all processes split by part (numbering/route,
area HTML, area PDF, 居/村 overview HTML, atlas, registers, index, the rest).
Target: <= 0.2 core-seconds per area.

Input: ``--gpkg PROJECT.gpkg`` (a partitioned project, e.g. the synthetic township
of ``pucha.gis.synthetic`` run through ``pucha partition``); without it a
stand-in township is generated here with the same scale as 盈浦街道: 30 居委会
(apartment blocks, ~60 people each) and 5 村委会 (houses, ~3.5 people each),
160,000 people, on a street grid with a river, each 居/村 cut into ~300-person
strips (the partition is not what is measured here).

    python benchmarks/bench_maps.py [--gpkg P.gpkg] [--jobs 2] [--out DIR] [--no-pdf]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
from shapely.geometry import LineString, box

from pucha.gis.write import update_gpkg
from pucha.outputs.pack import make_pack

CRS = "EPSG:4549"
X0, Y0 = 620000.0, 3450000.0


def stand_in_township(path: Path, *, seed: int = 0, people: int = 160_000) -> Path:
    """A 35-village township of ``people`` people, partitioned into ~300-person strips."""
    rng = np.random.default_rng(seed)
    vw, vh = 900.0, 700.0
    codes = [f"310118002{i:03d}" for i in range(1, 31)] + \
        [f"310118002{i:03d}" for i in range(202, 207)]
    per_village = people // len(codes)
    v_rows, b_rows, a_rows, ba_rows = [], [], [], []
    for k, vcode in enumerate(codes):
        gx, gy = k % 7, k // 7
        vx, vy = X0 + gx * vw, Y0 + gy * vh
        village = k >= 30
        name = f"第{k + 1}村委会" if village else f"盈浦第{k + 1}居委会"
        v_rows.append(dict(village_code=vcode, name=name,
                           kind="村委会" if village else "居委会", locked=False,
                           geometry=box(vx, vy, vx + vw, vy + vh)))
        size = 3.5 if village else 60.0
        n = int(per_village / size)
        cols = int(np.ceil(np.sqrt(n * vw / vh)))
        rows_ = int(np.ceil(n / cols))
        dx, dy = (vw - 40) / cols, (vh - 40) / rows_
        pops = rng.poisson(size, n).clip(1)
        pops[-1] += per_village - pops.sum()
        pops = pops.clip(1)
        bx, by = [], []
        for i in range(n):
            cx = vx + 20 + (i % cols + 0.5) * dx + rng.uniform(-0.1, 0.1) * dx
            cy = vy + 20 + (i // cols + 0.5) * dy + rng.uniform(-0.1, 0.1) * dy
            w = min(dx, dy) * (0.35 if village else 0.6)
            bx.append(cx)
            by.append(cy)
            b_rows.append(dict(building_id=f"{vcode}-{i:05d}", village_code=vcode, name="",
                               address=f"{'村' if village else '路'}{k + 1}-{i + 1}号",
                               use="residential", residential=True,
                               floors=2.0 if village else 6.0, height=np.nan,
                               dwellings=float(max(1, round(pops[i] / 2.2))),
                               population=int(pops[i]), pop_method="totals", pop_guessed=True,
                               locked=False, area_code="", source="synthetic",
                               geometry=box(cx - w / 2, cy - w / 2 * 0.6, cx + w / 2,
                                            cy + w / 2 * 0.6)))
        # strips along x holding ~300 people each
        order = np.argsort(np.asarray(bx), kind="stable")
        cum = np.cumsum(pops[order])
        n_areas = max(1, int(round(cum[-1] / 300)))
        cuts = [vx]
        for s in range(1, n_areas):
            j = int(np.searchsorted(cum, s * cum[-1] / n_areas))
            j = min(j, n - 2)
            cuts.append((bx[order[j]] + bx[order[j + 1]]) / 2)
        cuts.append(vx + vw)
        base = len(b_rows) - n
        for s in range(n_areas):
            acode = f"{vcode}{s + 1:03d}"
            sel = [i for i in range(n) if cuts[s] <= bx[i] < cuts[s + 1]]
            for i in sel:
                b_rows[base + i]["area_code"] = acode
                ba_rows.append(dict(building_id=b_rows[base + i]["building_id"], area_code=acode,
                                    part=0, floor_from=np.nan, floor_to=np.nan,
                                    unit_from=np.nan, unit_to=np.nan,
                                    population=int(pops[i]),
                                    dwellings=b_rows[base + i]["dwellings"]))
            a_rows.append(dict(area_code=acode, village_code=vcode, seq=s + 1,
                               population=int(pops[sel].sum()) if sel else 0,
                               dwellings=float(sum(b_rows[base + i]["dwellings"] for i in sel)),
                               n_buildings=len(sel), locked=False,
                               sizhi=f"东至{'路' if s + 1 < n_areas else '界'}，南至界，西至路，北至界",
                               east="", south="", west="", north="", polsby_popper=0.5,
                               river_crossings=0, major_road_crossings=0, status="ok",
                               geometry=box(cuts[s], vy, cuts[s + 1], vy + vh)))
    # roads: minor every 100 m, major on village edges; a river across the middle
    W, H = 7 * vw, 5 * vh
    r_rows = []
    for i, x in enumerate(np.arange(0, W + 1, 100.0)):
        major = abs(x % vw) < 1e-6
        r_rows.append(dict(road_id=f"x{i}", name=f"{'大' if major else ''}{i}号路",
                           road_class="major" if major else "minor",
                           geometry=LineString([(X0 + x, Y0), (X0 + x, Y0 + H)])))
    for j, y in enumerate(np.arange(50, H, 100.0)):
        r_rows.append(dict(road_id=f"y{j}", name=f"{j}号街", road_class="minor",
                           geometry=LineString([(X0, Y0 + y), (X0 + W, Y0 + y)])))
    water = gpd.GeoDataFrame({"feature_id": ["w1"], "name": ["淀浦河"], "water_kind": ["river"]},
                             geometry=[LineString([(X0 - 100, Y0 + H / 2 + 20),
                                                   (X0 + W + 100, Y0 + H / 2 + 20)])], crs=CRS)
    township = gpd.GeoDataFrame({"code": ["310118002"], "name": ["盈浦街道（模拟）"]},
                                geometry=[box(X0, Y0, X0 + W, Y0 + H)], crs=CRS)
    update_gpkg(path, {
        "township": township, "villages": gpd.GeoDataFrame(v_rows, crs=CRS),
        "buildings": gpd.GeoDataFrame(b_rows, crs=CRS), "roads": gpd.GeoDataFrame(r_rows, crs=CRS),
        "water": water, "areas": gpd.GeoDataFrame(a_rows, crs=CRS),
        "building_areas": pd.DataFrame(ba_rows)},
        fresh=True, meta={"project": {"name": "盈浦街道（模拟）", "data_date": "2026-11"}})
    return path


def _cpu() -> float:
    """CPU seconds of this process and its finished children (the pack's workers)."""
    import resource

    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(
        resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gpkg", type=Path, default=None)
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--no-pdf", action="store_true")
    ap.add_argument("--only-village", default=None)
    ap.add_argument("--no-split", action="store_true",
                    help="skip the second, HTML-only run that separates HTML and PDF time")
    args = ap.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="pucha-bench-"))
    gpkg = args.gpkg
    if gpkg is None:
        t = time.perf_counter()
        gpkg = stand_in_township(tmp / "township.gpkg")
        print(f"stand-in township written in {time.perf_counter() - t:.1f} s: {gpkg}")
    out = args.out or tmp / "maps"
    cpu0 = _cpu()
    res = make_pack(gpkg, out, jobs=args.jobs, progress=sys.stderr.isatty(),
                    pdf=not args.no_pdf, only_village=args.only_village)
    cpu_total = _cpu() - cpu0
    html_s = None
    if not args.no_pdf and not args.no_split:
        h = make_pack(gpkg, tmp / "maps-html-only", jobs=args.jobs,
                      progress=sys.stderr.isatty(), pdf=False, only_village=args.only_village)
        html_s = h.seconds
    n_b = len(gpd.read_file(gpkg, layer="building_areas", ignore_geometry=True))
    rows = [
        ("areas", f"{res.n_areas}"), ("居/村", f"{res.n_villages}"),
        ("building parts", f"{n_b}"), ("jobs", f"{args.jobs}"),
        ("HTML files", f"{len(res.html)}"), ("PDF files", f"{len(res.pdf)}"),
        ("PDF pages drawn", f"{res.pages}"),
        ("total wall time", f"{res.seconds:.1f} s ({res.seconds / 60:.2f} min)"),
        ("per area (HTML+PDF)", f"{res.seconds / max(1, res.n_areas):.3f} s"),
        ("per area (HTML+PDF)/core", f"{res.seconds * args.jobs / max(1, res.n_areas):.3f} s"),
        ("per PDF page (all work)", f"{res.seconds / max(1, res.pages):.3f} s"
         if res.pages else "-"),
    ]
    per = max(1, res.n_areas)
    parts = {k: res.cpu.get(k, 0.0) for k in ("route", "html", "pdf", "overview", "atlas",
                                                "registers", "index")}
    rest = cpu_total - sum(parts.values())
    rows += [("CPU, all processes", f"{cpu_total:.1f} s = {cpu_total / per:.3f} core-s per area "
                                    "(target <= 0.2)")]
    rows += [(f"  cpu {k}", f"{v:.1f} s ({v / per:.3f} per area)") for k, v in parts.items()]
    rows += [("  cpu other (read, fonts, workers)", f"{rest:.1f} s ({rest / per:.3f} per area)")]
    if html_s is not None:
        pdf_s = max(0.0, res.seconds - html_s)
        rows += [("HTML-only pack", f"{html_s:.1f} s"),
                 ("PDF share (full - HTML)", f"{pdf_s:.1f} s"),
                 ("per PDF page (PDF share)", f"{pdf_s / max(1, res.pages):.3f} s")]
    rows += [
        ("target", "<= 300 s on 2 cores"),
    ]
    w = max(len(k) for k, _ in rows)
    print(f"{'measure':<{w}} | value")
    print("-" * (w + 1) + "+" + "-" * 30)
    for k, v in rows:
        print(f"{k:<{w}} | {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""A small drawn township for the review-loop tests, made through the real ``pucha import``.

Two 居/村 side by side (EPSG:4549, metres), cut into blocks by minor roads; whole
buildings of 50 people (20 x 15 m), given in the source file::

    y=300 +-------------+-------------+-------------+
          | ▫ ▫ ▫ | ▫ ▫ ▫ | ▫ ▫ ▫ | ▫ ▫ ▫ | ▫ ▫ ▫ ▫ ▫ ▫ |
          | ▫ ▫ ▫ | ▫ ▫ ▫ | ▫ ▫ ▫ | ▫ ▫ ▫ | ▫ ▫ ▫ ▫ ▫ ▫ |
    y=150 +=======+=======+=======+=======+=============+  <- road y=150, roads x=100,200,300
          | ▫ ▫ ▫ | ▫ ▫ ▫ | ▫ ▫ ▫ | ▫ ▫ ▫ | ▫ ▫ ▫ ▫ ▫ ▫ |
          | ▫ ▫ ▫ | ▫ ▫ ▫ | ▫ ▫ ▫ | ▫ ▫ ▫ | ▫ ▫ ▫ ▫ ▫ ▫ |
    y=0   +-------------+-------------+-------------+
          x=0  居/村 A (310118002001)  x=400   B (…002)  x=600

A: 8 blocks of 6 buildings = 2,400 people (8 areas of 300: one block each); B: 24
buildings = 1,200 people (4 areas). ``tower=True`` adds to A a 20-floor tower of
700 people (cut by floors into areas). Import then partition take a few seconds.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import tomli_w
from shapely.geometry import LineString, box

X0, Y0 = 620000.0, 3450000.0
CRS = "EPSG:4549"
TOWN = "310118002"
VA, VB = f"{TOWN}001", f"{TOWN}002"


def _b(x, y, w=20.0, h=15.0):
    return box(X0 + x, Y0 + y, X0 + x + w, Y0 + y + h)


def draw_sources(d: Path, *, tower: bool = False) -> Path:
    """Write the source files and the project TOML into ``d``; return the TOML."""
    d.mkdir(parents=True, exist_ok=True)
    rows = []
    for bx in range(6):                   # 100 m wide blocks: A x<400, B x 400..600
        for by in range(2):
            x0, y0 = bx * 100, by * 150
            for i in range(3):
                for j in range(2):
                    rows.append(dict(编号=f"b{bx}{by}{i}{j}", 人口=50, 层数=3,
                                     geometry=_b(x0 + 10 + i * 30, y0 + 20 + j * 70)))
    if tower:
        rows.append(dict(编号="tower", 人口=700, 层数=20, geometry=_b(300 + 40, 150 + 55, 15, 15)))
    gpd.GeoDataFrame(rows, crs=CRS).to_file(d / "buildings.gpkg", layer="buildings")
    gpd.GeoDataFrame({"居委会代码": [VA, VB], "居委会名称": ["东方居委会", "西湖村委会"]},
                     geometry=[box(X0, Y0, X0 + 400, Y0 + 300),
                               box(X0 + 400, Y0, X0 + 600, Y0 + 300)],
                     crs=CRS).to_file(d / "villages.gpkg", layer="villages")
    gpd.GeoDataFrame({"街道代码": [TOWN], "街道名称": ["盈浦街道"]},
                     geometry=[box(X0, Y0, X0 + 600, Y0 + 300)], crs=CRS
                     ).to_file(d / "township.gpkg", layer="township")
    lines = [LineString([(X0 - 10, Y0 + 150), (X0 + 610, Y0 + 150)])]
    lines += [LineString([(X0 + x, Y0 - 10), (X0 + x, Y0 + 310)]) for x in (100, 200, 300, 500)]
    gpd.GeoDataFrame({"id": [f"r{i}" for i in range(len(lines))],
                      "name": ["横路"] + [f"纵{i}路" for i in range(1, len(lines))],
                      "kind": "minor"}, geometry=lines, crs=CRS
                     ).to_file(d / "roads.gpkg", layer="roads")
    doc = {
        "project": {"name": "测试街道", "township_code": TOWN, "gpkg": "project.gpkg"},
        "layers": {
            "buildings": {"path": "buildings.gpkg", "layer": "buildings",
                          "fields": {"id": "编号", "population": "人口", "floors": "层数"}},
            "villages": {"path": "villages.gpkg", "layer": "villages",
                         "fields": {"village_code": "居委会代码", "name": "居委会名称"}},
            "township": {"path": "township.gpkg", "layer": "township",
                         "fields": {"code": "街道代码", "name": "街道名称"}},
            "roads": {"path": "roads.gpkg", "layer": "roads",
                      "fields": {"road_id": "id", "name": "name", "road_class": "kind"}},
        },
        "population": {"method": "given"},
        "partition": {"target": 300, "min": 240, "max": 360, "seed": 0, "time_limit_s": 2.0},
    }
    toml = d / "project.toml"
    toml.write_text(tomli_w.dumps(doc), encoding="utf-8")
    return toml

"""Project GeoPackages for the outputs/basemaps tests (built in tmp_path).

``make_tiny_project`` draws this township (EPSG:4549, metres from an origin
near Shanghai; two 居/村 side by side, each split into two 普查小区 by a road)::

      y=400 +-------------------+-------------------+
            |  A north  (…002)  |  B north  (…002)  |
            |  ▫ ▫ ▫ ▫ ▫ ▫      |  ▫ ▫ ▫ ▫ ▫ ▫      |
      y=200 +==== 中山路 (major) ====================+   <- roads along y=200
            |  A south  (…001)  |  B south  (…001)  |     and 东街 along x=400
            |  ▫ ▫ ▫ ▫ ▫ ▫  ▣   |  ▫ ▫ ▫ ▫ ▫ ▫      |   ▣ = 高楼, cut in two
      y=0   +-------------------+-------------------+
      ~~~~~~~~~~~~~~~~~ 小河 (river, y=-20) ~~~~~~~~~~~~~~~~~
           x=0                 x=400               x=800

12 buildings of 25 people per area (+ the cut tower: floors 1-10 in A south,
11-20 in A north, 40 people each part). ``hostile=True`` gives village B and a
few buildings names that try to break HTML, JavaScript and file paths.

``make_lujiazui_project`` uses the real OSM roads, water and buildings of
Lujiazui (ODbL), reprojected to EPSG:4549, with two hand-drawn 居/村 split
into strips.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
from shapely.geometry import LineString, box

from pucha.gis.write import update_gpkg

X0, Y0 = 642000.0, 3457000.0
CRS = "EPSG:4549"
TOWNSHIP = "310118002"
VA, VB = "310118002001", "310118002002"

HOSTILE_BUILDING = "<script>alert(1)</script>"
HOSTILE_VILLAGE = "../东风/居委会\n第二"
LONG_NAME = "很长的名字" * 60


def _sq(x: float, y: float, s: float = 20.0):
    return box(X0 + x, Y0 + y, X0 + x + s, Y0 + y + s)


def _area_row(code, vcode, seq, geom, pop, dw, nb, sizhi, e, s, w, n):
    return dict(area_code=code, village_code=vcode, seq=seq, population=pop, dwellings=dw,
                n_buildings=nb, locked=False, sizhi=sizhi, east=e, south=s, west=w, north=n,
                polsby_popper=0.7, river_crossings=0, major_road_crossings=0, status="ok",
                geometry=geom)


def make_tiny_project(path: Path, *, hostile: bool = False, emoji: bool = False) -> Path:
    """Write the tiny two-village project drawn in the module docstring.

    ``emoji=True`` adds an emoji to a building name (no CJK font has it: the PDF
    must refuse it, the HTML must show it).
    """
    villages = gpd.GeoDataFrame(
        {"village_code": [VA, VB],
         "name": ["东方居委会", HOSTILE_VILLAGE if hostile else "西湖村委会"],
         "kind": ["居委会", "居委会" if hostile else "村委会"], "locked": [False, False]},
        geometry=[box(X0, Y0, X0 + 400, Y0 + 400), box(X0 + 400, Y0, X0 + 800, Y0 + 400)],
        crs=CRS)
    township = gpd.GeoDataFrame({"code": [TOWNSHIP], "name": ["盈浦街道"]},
                                geometry=[box(X0, Y0, X0 + 800, Y0 + 400)], crs=CRS)
    b_rows, ba_rows, a_rows = [], [], []
    for vi, vcode in enumerate((VA, VB)):
        for half, (y_lo, ys) in enumerate(((0, (40, 100)), (200, (260, 320)))):
            acode = f"{vcode}{half + 1:03d}"
            k = 0
            for y in ys:
                for xi in range(6):
                    x = vi * 400 + 30 + xi * 55
                    bid = f"b{vi}{half}{k:02d}"
                    name, addr = "", f"{'东方路' if vi == 0 else '西湖路'}{k + 1}号"
                    if hostile and vi == 0 and half == 0 and k == 0:
                        name = HOSTILE_BUILDING
                    if hostile and vi == 0 and half == 0 and k == 1:
                        name, addr = "`${alert(2)}`\\u0022", LONG_NAME
                    if emoji and vi == 0 and half == 0 and k == 2:
                        addr += " 🏠"
                    b_rows.append(dict(building_id=bid, village_code=vcode, name=name,
                                       address=addr, use="residential", residential=True,
                                       floors=6.0, height=18.0, dwellings=10.0, population=25,
                                       pop_method="given", pop_guessed=False, locked=False,
                                       area_code=acode, source="tiny.gpkg",
                                       geometry=_sq(x, y)))
                    ba_rows.append(dict(building_id=bid, area_code=acode, part=0,
                                        floor_from=np.nan, floor_to=np.nan, unit_from=np.nan,
                                        unit_to=np.nan, population=25, dwellings=10.0))
                    k += 1
            pop, nb = 300, 12
            if vi == 0:
                pop, nb = 340, 13
            side = "东至东街" if vi == 0 else "东至边界"
            a_rows.append(_area_row(
                acode, vcode, half + 1,
                box(X0 + vi * 400, Y0 + y_lo, X0 + vi * 400 + 400, Y0 + y_lo + 200),
                pop, 120.0 + (16 if vi == 0 else 0), nb,
                f"{side}，{'南至小河' if half == 0 else '南至中山路'}，西至边界，"
                f"{'北至中山路' if half == 0 else '北至边界'}",
                side[2:], "小河" if half == 0 else "中山路", "边界",
                "中山路" if half == 0 else "边界"))
    # the cut tower: in A south, two parts
    b_rows.append(dict(building_id="tower", village_code=VA, name="高楼", address="东方路99号",
                       use="residential", residential=True, floors=20.0, height=60.0,
                       dwellings=32.0, population=80, pop_method="given", pop_guessed=False,
                       locked=False, area_code=f"{VA}001", source="tiny.gpkg",
                       geometry=_sq(360, 150, 30)))
    for part, (ff, ft, acode) in enumerate(((1, 10, f"{VA}001"), (11, 20, f"{VA}002")), 1):
        ba_rows.append(dict(building_id="tower", area_code=acode, part=part, floor_from=ff,
                            floor_to=ft, unit_from=np.nan, unit_to=np.nan, population=40,
                            dwellings=16.0))
    buildings = gpd.GeoDataFrame(b_rows, crs=CRS)
    areas = gpd.GeoDataFrame(a_rows, crs=CRS)
    roads = gpd.GeoDataFrame(
        {"road_id": ["r1", "r2", "r3"], "name": ["中山路", "东街", ""],
         "road_class": ["major", "minor", "path"]},
        geometry=[LineString([(X0 - 50, Y0 + 200), (X0 + 850, Y0 + 200)]),
                  LineString([(X0 + 400, Y0 - 50), (X0 + 400, Y0 + 450)]),
                  LineString([(X0 + 200, Y0 + 200), (X0 + 200, Y0 + 10)])], crs=CRS)
    water = gpd.GeoDataFrame({"feature_id": ["w1"], "name": ["小河"], "water_kind": ["river"]},
                             geometry=[LineString([(X0 - 50, Y0 - 20), (X0 + 850, Y0 - 20)])],
                             crs=CRS)
    ba = pd.DataFrame(ba_rows)
    neighbours = gpd.GeoDataFrame({"code": ["310118003"], "name": ["香花桥街道"]},
                                  geometry=[box(X0 + 800, Y0 - 100, X0 + 1300, Y0 + 500)],
                                  crs=CRS)
    update_gpkg(path, {"township": township, "villages": villages, "buildings": buildings,
                       "roads": roads, "water": water, "areas": areas, "building_areas": ba,
                       "neighbours": neighbours},
                fresh=True, meta={"maps": {"data_date": "2026-11"},
                                  "project": {"name": "盈浦街道", "data_date": "2026-11"}})
    return path


def make_lujiazui_project(path: Path, osm: Path, *, n_strips: int = 3) -> Path:
    """Real Lujiazui OSM roads/water/buildings in EPSG:4549, two villages in strips."""
    win = box(121.497, 31.228, 121.512, 31.240)
    b = gpd.read_file(osm, layer="buildings", mask=win).to_crs(CRS)
    r = gpd.read_file(osm, layer="roads", mask=win).to_crs(CRS)
    w = gpd.read_file(osm, layer="water", mask=win).to_crs(CRS)
    wb = gpd.GeoSeries([win], crs="EPSG:4326").to_crs(CRS).iloc[0]
    minx, miny, maxx, maxy = wb.bounds
    midx = (minx + maxx) / 2
    vgeoms = [box(minx, miny, midx, maxy), box(midx, miny, maxx, maxy)]
    villages = gpd.GeoDataFrame({"village_code": [VA, VB], "name": ["陆家嘴居委会", "梅园村委会"],
                                 "kind": ["居委会", "村委会"], "locked": [False, False]},
                                geometry=vgeoms, crs=CRS)
    township = gpd.GeoDataFrame({"code": [TOWNSHIP], "name": ["测试街道"]},
                                geometry=[box(minx, miny, maxx, maxy)], crs=CRS)
    b = b[b.geometry.type.isin(["Polygon", "MultiPolygon"])].copy()
    b = b[b.geometry.representative_point().within(box(minx, miny, maxx, maxy))]
    b = b.sort_values("id").reset_index(drop=True)
    height = pd.to_numeric(b.get("height"), errors="coerce")
    floors = np.clip(np.round(height.fillna(9.0) / 3.0), 1, 60)
    pop = np.maximum(1, np.round(b.geometry.area * floors * 0.01)).astype(int)
    pop = np.minimum(pop, 200)
    rp = b.geometry.representative_point()
    vcode = np.where(rp.x < midx, VA, VB)
    buildings = gpd.GeoDataFrame({
        "building_id": [f"osm{int(i)}" for i in b["id"]], "village_code": vcode,
        "name": b["name"].fillna("").astype(str), "address": "", "use": b["kind_detail"].fillna(""),
        "residential": True, "floors": floors.astype(float), "height": height.astype(float),
        "dwellings": np.round(pop / 2.2), "population": pop, "pop_method": "totals",
        "pop_guessed": True, "locked": False, "area_code": "", "source": osm.name,
    }, geometry=b.geometry.values, crs=CRS)
    buildings = buildings.drop_duplicates("building_id").reset_index(drop=True)
    a_rows, ba_rows = [], []
    for vi, vcode_ in enumerate((VA, VB)):
        vx0, _, vx1, _ = vgeoms[vi].bounds
        sel = buildings[buildings["village_code"] == vcode_]
        cuts = np.linspace(miny, maxy, n_strips + 1)
        for s in range(n_strips):
            acode = f"{vcode_}{s + 1:03d}"
            g = box(vx0, cuts[s], vx1, cuts[s + 1])
            ys = sel.geometry.representative_point().y
            inside = sel[(ys >= cuts[s]) & ((ys < cuts[s + 1]) | (s == n_strips - 1))]
            buildings.loc[inside.index, "area_code"] = acode
            for _, row in inside.iterrows():
                ba_rows.append(dict(building_id=row.building_id, area_code=acode, part=0,
                                    floor_from=np.nan, floor_to=np.nan, unit_from=np.nan,
                                    unit_to=np.nan, population=int(row.population),
                                    dwellings=float(row.dwellings)))
            a_rows.append(_area_row(acode, vcode_, s + 1, g, int(inside.population.sum()),
                                    float(inside.dwellings.sum()), len(inside), "", "", "", "",
                                    ""))
    kind = {"major_road": "major", "minor_road": "minor", "path": "path"}
    rr = r[r["kind"].isin(list(kind))].reset_index(drop=True)
    roads = gpd.GeoDataFrame({"road_id": [f"r{int(i)}_{k}" for k, i in enumerate(rr["id"])],
                              "name": rr["name"].fillna("").astype(str),
                              "road_class": rr["kind"].map(kind)},
                             geometry=rr.geometry.values, crs=CRS)
    ww = w[~w.geometry.type.isin(["Point", "MultiPoint"])].reset_index(drop=True)
    water = gpd.GeoDataFrame({"feature_id": [f"w{k}" for k in range(len(ww))],
                              "name": ww["name"].fillna("").astype(str),
                              "water_kind": ww["kind"].fillna("")},
                             geometry=ww.geometry.values, crs=CRS)
    update_gpkg(path, {"township": township, "villages": villages, "buildings": buildings,
                       "roads": roads, "water": water, "areas": gpd.GeoDataFrame(a_rows, crs=CRS),
                       "building_areas": pd.DataFrame(ba_rows)},
                fresh=True, meta={"project": {"name": "测试街道", "data_date": "2024-06"}})
    return path

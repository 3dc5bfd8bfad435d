"""Real OpenStreetMap extracts (../shared/data/osm) with 居/村 and people derived.

- ``osm-lujiazui``: the bundled demo project (pucha/data/demo, built from
  shanghai-lujiazui.gpkg by :mod:`pucha.data.build_demo`), imported as a user would.
- ``osm-guanggu``: wuhan-guanggu.gpkg, treated the way the demo builder treats its
  extract: the township is the buildings' hull grown by 150 m, 居/村 are faces of the
  major roads and water merged by :func:`pucha.data.build_demo.derive_villages`, and the
  people (8,000 per km² of land) are spread over residential floor area
  (floors = height / 3 m, else 3; a house 2 floors).

The seed is not used (real data); ``small`` changes nothing.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from pucha.data import build_demo as bd
from pucha.gis import schema as S

from .common import CRS

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data" / "osm"


def make_lujiazui(seed: int = 0, *, small: bool = False) -> dict:
    from pucha.config import load_config
    from pucha.gis.project import import_project
    from pucha.gis.write import list_layers, read_layer
    demo = Path(__file__).resolve().parents[2] / "pucha" / "data" / "demo" / "demo.toml"
    with tempfile.TemporaryDirectory() as d:
        res = import_project(load_config(demo), out=Path(d) / "demo.gpkg")
        have = list_layers(res.gpkg)
        return {n: read_layer(res.gpkg, n) for n in ("township", "villages", "buildings", "roads", "railways",
                                                      "water", "walls") if n in have}


def make_guanggu(seed: int = 0, *, small: bool = False) -> dict:
    src = SHARED / "wuhan-guanggu.gpkg"
    bld = gpd.read_file(src, layer="buildings").to_crs(CRS)
    bld = bld[bld["kind"] == "building"].reset_index(drop=True)
    roads_all = gpd.read_file(src, layer="roads").to_crs(CRS)
    water_all = gpd.read_file(src, layer="water").to_crs(CRS)
    water_all = water_all[water_all.geom_type.isin(["Polygon", "MultiPolygon"])]
    town = shapely.convex_hull(shapely.union_all(bld.geometry.values)).buffer(150).simplify(10)
    town = shapely.normalize(shapely.intersection(town, shapely.envelope(shapely.union_all(roads_all.geometry.values))))
    major = roads_all[(roads_all["kind"] == "major_road") & roads_all["kind_detail"].isin(bd.MAJOR_DETAILS)]
    water_union = shapely.union_all(water_all.geometry.values) if len(water_all) else shapely.Polygon()
    detail = bld["kind_detail"].fillna("")
    residential = detail.isin(bd.RESIDENTIAL_KINDS) | (detail == "")
    height = pd.to_numeric(bld["height"], errors="coerce")
    floors = bd.floors_of(height.where(height > 0))
    floors = floors.where(detail != "house", 2.0)
    fa = (bld.area * floors).where(residential, 0.0).to_numpy()
    pts = bld.geometry.representative_point()
    inside = pts.within(town).to_numpy()
    vpolys = bd.derive_villages(town, major.geometry, water_union, pts[residential.to_numpy() & inside],
                                fa[residential.to_numpy() & inside], max_villages=4, min_share=0.1, max_share=0.5)
    codes = [f"420111005{i:03d}" for i in range(1, len(vpolys) + 1)]
    villages = gpd.GeoDataFrame({"village_code": codes, "name": [f"光谷演示{i}居委会" for i in range(1, len(codes) + 1)],
                                 "kind": "居委会", "locked": False}, geometry=vpolys, crs=CRS)
    land = town.area - shapely.intersection(water_union, town).area
    total = round(8_000 * land / 1e6)
    pop = bd.largest_remainder(total, np.where(inside, fa, 0.0))
    vidx = np.full(len(bld), -1)
    a, b = shapely.STRtree(vpolys).query(pts.values, predicate="within")
    vidx[a] = b
    keep = vidx >= 0
    buildings = gpd.GeoDataFrame({
        "building_id": bld["id"].astype("int64").astype(str), "village_code": np.array(codes)[np.maximum(vidx, 0)],
        "name": "", "address": "", "use": np.where(residential, "住宅", "商业"), "residential": residential,
        "floors": floors, "height": height, "dwellings": np.nan, "population": pop.astype(np.int64),
        "pop_method": "totals", "pop_guessed": True, "locked": False, "area_code": "", "source": "osm"},
        geometry=bld.geometry.values, crs=CRS)[keep].reset_index(drop=True)
    kind = roads_all["kind"]
    cls = np.where((kind == "major_road") & roads_all["kind_detail"].isin(bd.MAJOR_DETAILS), "major",
                   np.where(kind.isin(["minor_road", "major_road"]), "minor", np.where(kind == "path", "path", "")))
    rd = roads_all.assign(road_class=cls)
    rd = rd[rd["road_class"] != ""]
    roads = gpd.GeoDataFrame({"road_id": rd["id"].astype(str), "name": rd["name"].fillna(""),
                              "road_class": rd["road_class"]}, geometry=rd.geometry.values, crs=CRS)
    rail = roads_all[(kind == "rail") & (roads_all["kind_detail"] != "subway")]
    railways = gpd.GeoDataFrame({"feature_id": rail["id"].astype(str), "name": rail["name"].fillna("")},
                                geometry=rail.geometry.values, crs=CRS)
    water = gpd.GeoDataFrame({"feature_id": water_all["id"].astype(str), "name": water_all["name"].fillna(""),
                              "water_kind": "lake"}, geometry=water_all.geometry.values, crs=CRS)
    empty = railways.iloc[:0].copy()
    township = gpd.GeoDataFrame({"code": ["420111005"], "name": ["关山街道（演示）"]}, geometry=[town], crs=CRS)
    return {S.LAYER_TOWNSHIP: township, S.LAYER_VILLAGES: villages, S.LAYER_BUILDINGS: buildings,
            S.LAYER_ROADS: roads, S.LAYER_RAILWAYS: railways, S.LAYER_WATER: water, S.LAYER_WALLS: empty}

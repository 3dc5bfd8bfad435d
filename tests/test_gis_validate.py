"""pucha.gis.validate: each defect of a 规土所 file becomes one problem row.

Fixture (metres)::

    0         100        200
    +----------+----------+      居/村 310118002001 (west) and 310118002002 (east)
    | b1   b2==|==b3      |      b3 straddles (70% east); b9 lies outside both
    +----------+----------+  b9
"""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import LineString, Point, Polygon, box

from pucha.gis.validate import (assign_villages, check_village_coverage, clean_codes,
                                clean_numbers, keep_geometry_family, normalise_code,
                                parse_number, repair_geometries, unique_ids)

CRS = "EPSG:4549"


def _villages() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"village_code": ["310118002001", "310118002002"]},
                            geometry=[box(0, 0, 100, 100), box(100, 0, 200, 100)], crs=CRS)


def test_invalid_polygon_repaired_and_recorded() -> None:
    bowtie = Polygon([(0, 0), (10, 10), (10, 0), (0, 10)])
    g = gpd.GeoDataFrame({"building_id": ["a", "b"]}, geometry=[bowtie, box(0, 0, 1, 1)], crs=CRS)
    out, probs = repair_geometries(g, "buildings", g["building_id"])
    assert out.geometry.is_valid.all() and len(out) == 2
    assert out.geometry.iloc[0].geom_type in ("Polygon", "MultiPolygon")
    assert [(p["code"], p["feature_ids"]) for p in probs] == [("invalid_geometry", "a")]


def test_empty_and_null_geometries() -> None:
    g = gpd.GeoDataFrame({"building_id": ["a", "b", "c"]},
                         geometry=[None, Polygon(), box(0, 0, 1, 1)], crs=CRS)
    out, probs = repair_geometries(g, "buildings", g["building_id"])
    assert list(out["building_id"]) == ["c"]
    assert probs[0]["code"] == "building_dropped_empty" and probs[0]["feature_ids"] == "a,b"
    out, probs = repair_geometries(g.assign(x=1), "water", g["building_id"])
    assert probs[0]["code"] == "geometry_empty"


def test_mixed_geometry_water_keeps_polygons_and_lines() -> None:
    g = gpd.GeoDataFrame({"feature_id": ["p", "l", "pt"]},
                         geometry=[box(0, 0, 5, 5), LineString([(0, 0), (5, 5)]), Point(1, 1)],
                         crs=CRS)
    out, probs = keep_geometry_family(g, "water", g["feature_id"])
    assert list(out["feature_id"]) == ["p", "l"]
    assert probs[0]["code"] == "geometry_type_dropped" and probs[0]["feature_ids"] == "pt"
    out, probs = keep_geometry_family(g, "buildings", g["feature_id"])
    assert list(out["feature_id"]) == ["p"]
    assert probs[0]["code"] == "building_dropped_geometry_type"
    assert probs[0]["feature_ids"] == "l,pt"


def test_duplicate_ids_also_across_files() -> None:
    seen: set[str] = set()
    ids1, p1 = unique_ids(pd.Series(["1", "2", "2", None]), "buildings", prefix="B", seen=seen)
    assert list(ids1) == ["1", "2", "2-2", "B4"]
    assert p1[0]["code"] == "duplicate_id" and p1[0]["feature_ids"] == "2,2-2"
    ids2, p2 = unique_ids(pd.Series([1.0, 7]), "buildings", seen=seen)   # second file
    assert list(ids2) == ["1-2", "7"] and p2[0]["feature_ids"] == "1,1-2"


@pytest.mark.parametrize("value,expected", [
    (300, (300.0, "")), ("３００", (300.0, "")), ("1,200", (1200.0, "")), ("约300", (None, "text")),
    ("-", (None, "missing")), (math.nan, (None, "missing")), ("", (None, "missing")),
    (None, (None, "missing")), ("1e9", (1e9, "")),
])
def test_parse_number(value: object, expected: tuple) -> None:
    f, why = parse_number(value)
    assert why == expected[1]
    if expected[0] is None:
        assert math.isnan(f)
    else:
        assert f == expected[0]


def test_population_values() -> None:
    df = pd.DataFrame({"population": [30, -5, 12.6, "约300", "约 1百", math.nan, 1e9]})
    ids = pd.Series([f"b{i}" for i in range(7)])
    vals, probs = clean_numbers(df, "population", "buildings", ids)
    assert vals.iloc[0] == 30 and vals.iloc[2] == 13
    assert vals.iloc[[1, 3, 4, 5, 6]].isna().all()
    by = {p["code"]: p["feature_ids"] for p in probs}
    assert by == {"population_invalid": "b3,b4", "population_negative": "b1",
                  "population_fractional": "b2", "population_missing": "b5",
                  "population_implausible": "b6"}
    assert "'约300'" in next(p["message"] for p in probs if "invalid" in p["code"])


def test_floors_zero_and_200() -> None:
    df = pd.DataFrame({"floors": [0, 200, 6]})
    vals, probs = clean_numbers(df, "floors", "buildings", pd.Series(["a", "b", "c"]))
    assert vals.isna().tolist() == [True, True, False]
    assert probs[0]["code"] == "floors_implausible" and probs[0]["feature_ids"] == "a,b"


def test_codes() -> None:
    assert normalise_code("３１０１１８００２００１", length=12) == ("310118002001", ["fullwidth"])
    assert normalise_code(310118002001.0, length=12)[0] == "310118002001"
    assert normalise_code(12345678, length=9) == ("012345678", ["numeric", "zeros"])
    # short TEXT lost no zeros: it stays short (reported as "not 12 digits")
    assert normalise_code("31011800204", length=12) == ("31011800204", [])
    codes, probs = clean_codes(pd.Series(["３１０１１８００２００１", "310118003001", 10118002002]),
                               "villages", pd.Series(["v1", "v2", "v3"]), length=12,
                               parent="310118002")
    assert list(codes) == ["310118002001", "310118003001", "010118002002"]
    by = {p["code"]: p["feature_ids"] for p in probs}
    assert by["code_fullwidth"] == "v1"
    assert by["code_leading_zeros"] == "v3"
    assert by["village_code_prefix"] == "v2,v3"


def test_assign_outside_and_straddling() -> None:
    b = gpd.GeoDataFrame({"building_id": ["b1", "b3", "b9"]},
                         geometry=[box(10, 10, 20, 20), box(90, 10, 110, 20) if False else
                                   box(94, 10, 114, 20), box(300, 10, 310, 20)], crs=CRS)
    codes, probs = assign_villages(b, _villages())
    assert list(codes) == ["310118002001", "310118002002", ""]
    by = {p["code"]: p for p in probs}
    assert by["building_dropped_outside"]["feature_ids"] == "b9"
    assert by["building_dropped_outside"]["severity"] == "error"
    msg = by["building_straddles"]["message"]
    assert "310118002001" in msg and "310118002002" in msg and "70%" in msg


def test_village_overlap_and_gap() -> None:
    v = gpd.GeoDataFrame({"village_code": ["310118002001", "310118002002"]},
                         geometry=[box(0, 0, 110, 100), box(100, 0, 180, 100)], crs=CRS)
    probs = check_village_coverage(v, box(0, 0, 200, 100))
    by = {p["code"]: p for p in probs}
    assert by["villages_overlap"]["feature_ids"] == "310118002001,310118002002"
    assert by["villages_overlap"]["geometry"].area == pytest.approx(1000)
    assert by["villages_gap"]["geometry"].area == pytest.approx(2000)
    assert check_village_coverage(_villages(), box(0, 0, 200, 100)) == []


def test_zero_area_footprint_dropped() -> None:
    flat = Polygon([(0, 0), (5, 0), (10, 0), (0, 0)])
    g = gpd.GeoDataFrame({"building_id": ["z", "ok"]}, geometry=[flat, box(0, 0, 1, 30)], crs=CRS)
    out, probs = repair_geometries(g, "buildings", g["building_id"])
    assert list(out["building_id"]) == ["ok"]
    assert [(p["code"], p["feature_ids"]) for p in probs if p["feature_ids"] == "z"] == [
        ("building_dropped_empty", "z")]

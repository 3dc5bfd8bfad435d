"""Tests for pucha.gis.boundaries on real OSM geometry (浦东新区 / 黄浦区 at Lujiazui)
and on tiny drawn fixtures."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely
from shapely.affinity import translate
from shapely.geometry import LineString, Point, box

from pucha.config import BoundarySettings
from pucha.gis.boundaries import (
    claimed_both, cut_buildings, estimate_shift, exceeds_tolerance, find_conflicts, max_width,
    median_line, near_line_conflicts, village_conflicts,
)
from pucha.gis.faces import assemble_faces
from pucha.gis.gcj02 import wgs84_to_gcj02

CRS = "EPSG:4549"


@pytest.fixture(scope="module")
def districts(shared_data):
    lines = gpd.read_file(shared_data / "osm" / "shanghai-lujiazui.gpkg", layer="boundaries")
    faces = assemble_faces(lines)
    return faces, faces.to_crs(CRS).set_index("name").geometry


def _tw(g, name="浦东新区"):
    return gpd.GeoDataFrame({"code": ["310115000"], "name": [name]}, geometry=[g], crs=CRS)


def _nb(g, name="黄浦区"):
    return gpd.GeoDataFrame({"code": ["310101000"], "name": [name]}, geometry=[g], crs=CRS)


def _border_point(T, N, frac):
    shared = shapely.line_merge(shapely.intersection(T.boundary, N.boundary))
    longest = max(shapely.get_parts(shared), key=lambda g: g.length)
    return longest.interpolate(frac, normalized=True)


def test_same_boundary_no_conflict(districts):
    _, g = districts
    c, _ = find_conflicts(_tw(g["浦东新区"]), None, _nb(g["黄浦区"]))
    assert len(c) == 0
    assert not exceeds_tolerance(c)


def test_simplified_source_gives_only_slivers(districts):
    _, g = districts
    c, _ = find_conflicts(_tw(g["浦东新区"]), None, _nb(g["黄浦区"].simplify(3)))
    assert len(c) >= 1
    assert set(c["kind"]) <= {"overlap_sliver", "gap_sliver"}
    assert (c["max_width_m"] < 5).all()
    assert not exceeds_tolerance(c)


def test_shifted_source_detected_as_shift(districts):
    _, g = districts
    c, _ = find_conflicts(_tw(g["浦东新区"]), None, _nb(translate(g["黄浦区"], 4, 3)))
    shift = c[c["kind"] == "shift"]
    assert len(shift) == 1
    assert shift["max_width_m"].iloc[0] == pytest.approx(5.0, abs=0.5)
    assert "向东北" in shift["message"].iloc[0]
    # the strip itself is a sliver (5 m offset == 5 m tolerance), never a real overlap
    assert "overlap" not in set(c["kind"])


def test_gcj02_source_explained_not_500m_overlap(districts):
    faces, g = districts
    ll = faces.set_index("name").geometry["黄浦区"]
    gcj = shapely.transform(ll, lambda xy: np.column_stack(wgs84_to_gcj02(xy[:, 0], xy[:, 1])))
    nb = gpd.GeoDataFrame({"name": ["黄浦区"]}, geometry=[gcj], crs="EPSG:4326").to_crs(CRS)
    c, _ = find_conflicts(_tw(g["浦东新区"]), None, nb)
    assert c["kind"].tolist() == ["shift_gcj02"]
    msg = c["message"].iloc[0]
    assert "GCJ-02" in msg and "--neighbour-gcj02" in c["suggestion"].iloc[0]
    off = c["max_width_m"].iloc[0]
    assert 400 < off < 560  # the GCJ-02 offset at Shanghai is ~480 m
    assert "东南" in msg


def test_planted_overlap_gap_sliver_areas(districts):
    _, g = districts
    T, N = g["浦东新区"], g["黄浦区"]
    # overlap: a 60 x 40 m block deep inside 浦东 claimed by 黄浦
    p = T.representative_point()
    block = box(p.x - 30, p.y - 20, p.x + 30, p.y + 20)
    assert T.contains(block.buffer(1))
    # gap: a notch cut out of 浦东 along the shared border (nobody's land)
    b1 = _border_point(T, N, 0.3)
    notch = shapely.intersection(T, box(b1.x - 40, b1.y - 40, b1.x + 40, b1.y + 40))
    # sliver: 黄浦 reaches 2 m into 浦东 along ~200 m of border
    b2 = _border_point(T, N, 0.7)
    sliver = shapely.intersection(T, shapely.intersection(
        N.buffer(2.0, quad_segs=32), box(b2.x - 100, b2.y - 100, b2.x + 100, b2.y + 100)))
    T2 = shapely.difference(T, notch)
    N2 = shapely.union_all([N, block, sliver])
    c, lines = find_conflicts(_tw(T2), None, _nb(N2))
    by = {k: c[c["kind"] == k] for k in ("overlap", "gap", "overlap_sliver", "gap_sliver")}
    assert len(by["overlap"]) == 1
    assert by["overlap"]["area_m2"].iloc[0] == pytest.approx(2400, rel=0.01)
    assert by["overlap"]["max_width_m"].iloc[0] == pytest.approx(40, abs=0.5)
    assert len(by["gap"]) == 1
    assert by["gap"]["area_m2"].iloc[0] == pytest.approx(notch.area, rel=0.01)
    assert len(by["overlap_sliver"]) == 1
    assert by["overlap_sliver"]["area_m2"].iloc[0] == pytest.approx(sliver.area, rel=0.01)
    assert by["overlap_sliver"]["max_width_m"].iloc[0] == pytest.approx(2.0, abs=0.2)
    assert exceeds_tolerance(c)
    assert set(c.loc[c["kind"].isin(["overlap", "gap"]), "severity"]) == {"error"}
    # a suggested (median) line for the overlap runs through its middle
    oid = by["overlap"]["conflict_id"].iloc[0]
    ml = lines.set_index("conflict_id").geometry[oid]
    assert ml.length > 10 and block.contains(ml.representative_point())
    ids = c["conflict_id"].tolist()
    assert ids == [f"C{i:03d}" for i in range(1, len(c) + 1)]
    assert ((c["lon"] > 121.4) & (c["lon"] < 121.6)).all()


def test_cut_building_shares(districts):
    """
    A 20 x 10 m building straddles the line x = x0 splitting 浦东 into two 居/村:
         x0-6      x0       x0+14
          +--------|---------+      west 30%, east 70%
    """
    _, g = districts
    T = g["浦东新区"]
    p = T.representative_point()
    west = shapely.intersection(T, box(T.bounds[0] - 1, T.bounds[1] - 1, p.x, T.bounds[3] + 1))
    east = shapely.difference(T, west)
    villages = gpd.GeoDataFrame({"village_code": ["310115000001", "310115000002"],
                                 "name": ["西居委会", "东居委会"]}, geometry=[west, east], crs=CRS)
    bld = gpd.GeoDataFrame({"building_id": ["B1", "B2"], "population": [30, 10]},
                           geometry=[box(p.x - 6, p.y, p.x + 14, p.y + 10),
                                     box(p.x + 50, p.y, p.x + 60, p.y + 10)], crs=CRS)
    rows = cut_buildings(bld, villages, "name")
    assert len(rows) == 1
    assert rows[0]["buildings"] == "B1"
    assert rows[0]["shares"] == [("东居委会", pytest.approx(0.7)), ("西居委会", pytest.approx(0.3))]
    c, _ = find_conflicts(_tw(T), villages, None, buildings=bld)
    cut = c[c["kind"] == "building_cut"]
    assert cut["buildings"].tolist() == ["B1"]
    assert "东居委会 70%" in cut["message"].iloc[0] and "西居委会 30%" in cut["message"].iloc[0]


def test_village_overlap_gap_outside_enclave():
    """
        0    10   20   30
     10 +----+----+----+   township = box(0,0,30,10)
        | A  |A∩B | C  |   A = box(0,0,12,10), B = box(10,0,20,10) (overlap 2x10 = 20 m²)
        |  +--+   |    |   C = box(21,0,32,10) (gap x 20..21 = 10 m², outside 30..32 = 20 m²)
      0 +--+--+---+----+   E = box(3,3,5,5) is an enclave inside A (A has a hole there)
    """
    T = box(0, 0, 30, 10)
    A = box(0, 0, 12, 10).difference(box(3, 3, 5, 5))
    v = gpd.GeoDataFrame({"village_code": ["1", "2", "3", "4"], "name": ["A", "B", "C", "E"]},
                         geometry=[A, box(10, 0, 20, 10), box(21, 0, 32, 10), box(3, 3, 5, 5)],
                         crs=CRS)
    s = BoundarySettings(min_area_m2=0.5)
    rows = village_conflicts(T, v, settings=s)
    kinds = {(r["kind"], round(r["area_m2"], 3)) for r in rows}
    assert ("village_overlap_sliver", 20.0) in kinds  # 2 m wide < 5 m tolerance
    assert ("village_gap", 10.0) in kinds or ("village_gap_sliver", 10.0) in kinds
    assert ("village_outside", 20.0) in kinds or ("village_outside_sliver", 20.0) in kinds
    enc = [r for r in rows if r["kind"] == "enclave"]
    assert len(enc) == 1 and enc[0]["neighbour"] == "E(4)/A(1)"


def test_claimed_both():
    a = gpd.GeoDataFrame({"building_id": ["B1", "B2"], "population": [12, 5]},
                         geometry=[box(0, 0, 10, 10), box(50, 0, 60, 10)], crs=CRS)
    b = gpd.GeoDataFrame({"building_id": ["N7"], "population": [11]},
                         geometry=[box(1, 0, 11, 10)], crs=CRS)
    rows = claimed_both(a, b, "黄浦区")
    assert [(r["buildings"], r["people_township"], r["people_neighbour"]) for r in rows] == [
        ("B1", 12, 11)]


def test_near_line_road(districts):
    _, g = districts
    T = g["浦东新区"]
    b = _border_point(T, g["黄浦区"], 0.5)
    seg = shapely.intersection(T.boundary, b.buffer(60))
    seg = max(shapely.get_parts(shapely.line_merge(seg)), key=lambda x: x.length)
    off = seg.offset_curve(5.0)
    roads = gpd.GeoDataFrame({"name": ["滨江大道", "沿线路"], "road_class": ["major", "minor"]},
                             geometry=[off, seg], crs=CRS)
    rows = near_line_conflicts(T, roads.iloc[[0]], "道路")
    assert len(rows) == 1 and rows[0]["neighbour"] == "滨江大道"
    assert rows[0]["max_width_m"] == pytest.approx(5.0, abs=0.6)
    # a road exactly along the boundary is fine
    assert near_line_conflicts(T, roads.iloc[[1]], "道路") == []
    # an unnamed road is ignored
    assert near_line_conflicts(T, roads.iloc[[0]].assign(name=""), "道路") == []


def test_estimate_shift_and_width():
    sq = box(0, 0, 100, 100)
    dx, dy, med = estimate_shift(sq, translate(sq, 3, -2))
    assert (dx, dy) == (pytest.approx(-3, abs=0.05), pytest.approx(2, abs=0.05))
    assert max_width(box(0, 0, 50, 4)) == pytest.approx(4, abs=0.1)
    ml = median_line(box(0, 0, 50, 4))
    assert ml.length == pytest.approx(46, abs=3)
    assert ml.distance(Point(25, 2)) < 0.1


def test_overlap_suggests_road_both_follow():
    """
    township T = box(0,0,100,100); neighbour N = box(90,0,200,100) overlaps T by a
    10 m strip x 90..100; road "界河路" runs up its middle (x = 95): suggested as the line.
          90 95 100
        +--|--:--|--+
        T  | 界河路 |  N
    """
    T = box(0, 0, 100, 100)
    N = box(90, 0, 200, 100)
    roads = gpd.GeoDataFrame({"road_id": ["r1"], "name": ["界河路"], "road_class": ["minor"]},
                             geometry=[LineString([(95, -50), (95, 150)])], crs=CRS)
    c, lines = find_conflicts(_tw(T), None, _nb(N, "邻镇"), roads=roads)
    ov = c[c["kind"] == "overlap"]
    assert len(ov) == 1 and ov["area_m2"].iloc[0] == pytest.approx(1000)
    assert "界河路" in ov["suggestion"].iloc[0]
    ml = lines.set_index("conflict_id").geometry[ov["conflict_id"].iloc[0]]
    assert ml.hausdorff_distance(LineString([(95, 5), (95, 95)])) < 6


def test_two_sources_of_same_neighbour(districts):
    """The project's neighbours layer and the file the office delivered both hold 黄浦区:
    one is GCJ-02 (explained), one shifted 6 m (systematic shift), one simplified (no row)."""
    from pucha.gis.boundaries import compare_sources

    faces, g = districts
    N = g["黄浦区"]
    ll = faces.set_index("name").geometry["黄浦区"]
    gcj = gpd.GeoSeries([shapely.transform(ll, lambda xy: np.column_stack(
        wgs84_to_gcj02(xy[:, 0], xy[:, 1])))], crs="EPSG:4326").to_crs(CRS).iloc[0]
    r = compare_sources(N, gcj, "黄浦区", crs=CRS, labels=("project", "amap.geojson"))
    assert [x["kind"] for x in r] == ["source_gcj02"]
    assert 400 < r[0]["max_width_m"] < 560
    r = compare_sources(N, translate(N, 0, 6), "黄浦区", crs=CRS)
    assert [x["kind"] for x in r] == ["source_shift"]
    assert r[0]["max_width_m"] == pytest.approx(6, abs=1) and "向北" in r[0]["message"]
    assert compare_sources(N, N.simplify(1), "黄浦区", crs=CRS) == []
    # through find_conflicts: both rows named, the GCJ one explained once
    nbs = gpd.GeoDataFrame({"name": ["黄浦区", "黄浦区"], "source": ["project", "amap.geojson"]},
                           geometry=[N, gcj], crs=CRS)
    c, _ = find_conflicts(_tw(g["浦东新区"]), None, nbs)
    assert sorted(c["kind"]) == ["shift_gcj02", "source_gcj02"]

"""pucha.outputs.sizhi: 四至 described from the data when the partition left none."""

from __future__ import annotations

import geopandas as gpd
from shapely.geometry import LineString, box

from fixture_outputs import VA, make_lujiazui_project, make_tiny_project
from pucha.gis.write import read_layer, update_gpkg
from pucha.outputs.project import load_project
from pucha.outputs.sizhi import describe_sides, sizhi_text


def test_roads_rivers_neighbours_and_edges():
    """A 100 m square: a road along the east side, a river along the south side,
    a neighbour area on the west, nothing on the north. A road crossing the
    north-west corner at right angles must not name the west side."""
    roads = gpd.GeoDataFrame({"name": ["东路", "横路"]},
                             geometry=[LineString([(104, -20), (104, 120)]),
                                       LineString([(-60, 96), (10, 96)])])
    water = gpd.GeoDataFrame({"name": ["小河"]}, geometry=[LineString([(-20, -6), (120, -6)])])
    nb = gpd.GeoDataFrame({"label": ["第002普查小区"]}, geometry=[box(-100, 0, 0, 100)])
    sides = describe_sides(box(0, 0, 100, 100), roads=roads, water=water, neighbours=nb)
    assert sides == {"east": "东路", "south": "小河", "west": "第002普查小区", "north": "普查区界"}
    assert sizhi_text(sides) == "东至东路，南至小河，西至第002普查小区，北至普查区界"


def test_project_uses_stored_sizhi_else_describes(tmp_path):
    p = make_tiny_project(tmp_path / "t.gpkg")
    assert load_project(p).sizhi(f"{VA}001") == "东至东街，南至小河，西至边界，北至中山路"
    areas = read_layer(p, "areas")
    for c in ("sizhi", "east", "south", "west", "north"):
        areas[c] = ""
    update_gpkg(p, {"areas": areas})
    s = load_project(p).sizhi(f"{VA}001")
    assert s.startswith("东至东街") and "南至小河" in s and "北至中山路" in s
    assert load_project(p).sizhi(f"{VA}002").startswith("东至东街，南至中山路")


def test_real_lujiazui_sides_are_named(tmp_path, lujiazui_gpkg):
    p = load_project(make_lujiazui_project(tmp_path / "l.gpkg", lujiazui_gpkg))
    texts = [p.sizhi(c) for c in p.area_codes()]
    assert all(t.count("至") == 4 for t in texts)
    assert any("黄浦江" in t for t in texts)  # the river bounds the western strips

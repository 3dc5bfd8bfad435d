"""Tests for pucha.gis.faces: boundary lines -> labelled faces."""

from __future__ import annotations

import geopandas as gpd
import pytest
from shapely.geometry import LineString

from pucha.gis.faces import assemble_faces


def test_two_faces_from_one_line_and_box():
    """
    (0,10) +-----^-----+ (20,10)     one line x=10 drawn upwards,
           |  A  |  B  |             name:left=A, name:right=B
     (0,0) +-----+-----+ (20,0)
    """
    lines = gpd.GeoDataFrame({"name:left": ["A"], "name:right": ["B"]},
                             geometry=[LineString([(10, 0), (10, 10)])], crs="EPSG:4549")
    faces = assemble_faces(lines, clip=(0, 0, 20, 10))
    assert faces["name"].tolist() == ["A", "B"]
    areas = dict(zip(faces["name"], faces.area))
    assert areas["A"] == pytest.approx(100.0)
    assert areas["B"] == pytest.approx(100.0)
    assert faces.geometry[faces["name"] == "A"].iloc[0].centroid.x < 10


def test_reversed_line_swaps_labels():
    lines = gpd.GeoDataFrame({"name:left": ["A"], "name:right": ["B"]},
                             geometry=[LineString([(10, 10), (10, 0)])], crs="EPSG:4549")
    faces = assemble_faces(lines, clip=(0, 0, 20, 10))
    a = faces.geometry[faces["name"] == "A"].iloc[0]
    assert a.centroid.x > 10


def test_osm_lujiazui_districts(shared_data):
    lines = gpd.read_file(shared_data / "osm" / "shanghai-lujiazui.gpkg", layer="boundaries")
    faces = assemble_faces(lines)
    assert sorted(faces["name"]) == sorted(["浦东新区", "黄浦区", "虹口区", "杨浦区"])
    m = faces.to_crs(32651)
    areas = dict(zip(m["name"], m.area))
    # Lujiazui lies in 浦东新区 (largest face of the extract); 黄浦 is on the west bank.
    assert max(areas, key=areas.get) == "浦东新区"
    # Faces tile the clip box: no overlaps, union == box.
    from shapely.geometry import box
    tot = box(*lines.total_bounds)
    assert faces.union_all().symmetric_difference(tot).area < 1e-9
    import shapely
    assert shapely.area(faces.geometry.values).sum() == pytest.approx(tot.area, rel=1e-9)
    # The Lujiazui ring-road area (121.505, 31.238) is in 浦东; the Bund (121.488, 31.235) in 黄浦.
    from shapely.geometry import Point
    at = {n: g for n, g in zip(faces["name"], faces.geometry)}
    assert at["浦东新区"].contains(Point(121.505, 31.238))
    assert at["黄浦区"].contains(Point(121.484, 31.232))


def test_osm_wuhan_name_split(shared_data):
    lines = gpd.read_file(shared_data / "osm" / "wuhan-guanggu.gpkg", layer="boundaries")
    faces = assemble_faces(lines)
    assert sorted(faces["name"]) == ["关东街道", "关山街道"]

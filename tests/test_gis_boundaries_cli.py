"""``pucha boundaries`` end to end on a small project GeoPackage built from real OSM
Lujiazui data: township = 浦东新区 face, two 居/村, OSM buildings/roads/water, the
project's own ``neighbours`` layer (黄浦区) and neighbour files as delivered."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from click.testing import CliRunner
from shapely.geometry import box

from pucha.gis.faces import assemble_faces
from pucha.gis.gcj02 import wgs84_to_gcj02
from pucha.gis.write import list_layers, read_layer, update_gpkg
from pucha.scripts.cli import cli

CRS = "EPSG:4549"


@pytest.fixture(scope="module")
def world(shared_data, tmp_path_factory):
    src = shared_data / "osm" / "shanghai-lujiazui.gpkg"
    faces = assemble_faces(gpd.read_file(src, layer="boundaries"))
    f = faces.to_crs(CRS).set_index("name").geometry
    T, N = f["浦东新区"], f["黄浦区"]
    p = T.representative_point()
    west = shapely.intersection(T, box(T.bounds[0] - 1, T.bounds[1] - 1, p.x, T.bounds[3] + 1))
    east = shapely.difference(T, west)
    b = gpd.read_file(src, layer="buildings").to_crs(CRS)
    b = b[b.geometry.geom_type.isin(["Polygon", "MultiPolygon"])]
    b = b[shapely.within(shapely.point_on_surface(b.geometry.values), T)].reset_index(drop=True)
    b = gpd.GeoDataFrame({"building_id": [f"B{i:04d}" for i in range(len(b))],
                          "population": 10, "village_code": "", "name": "", "address": "",
                          "use": "", "residential": True, "floors": np.nan, "height": np.nan,
                          "dwellings": np.nan, "pop_method": "given", "pop_guessed": False,
                          "locked": False, "area_code": "", "source": "osm"},
                         geometry=list(b.geometry), crs=CRS)
    # one planted building straddling the 居/村 line, 30% west / 70% east
    b.loc[len(b)] = {**b.iloc[0].to_dict(), "building_id": "BCUT", "population": 40,
                     "geometry": box(p.x - 6, p.y, p.x + 14, p.y + 10)}
    roads = gpd.read_file(src, layer="roads").to_crs(CRS)
    roads = gpd.GeoDataFrame({"road_id": roads["id"].astype(str), "name": roads["name"].fillna(""),
                              "road_class": "minor"}, geometry=list(roads.geometry), crs=CRS)
    water = gpd.read_file(src, layer="water").to_crs(CRS)
    water = gpd.GeoDataFrame({"feature_id": water["id"].astype(str), "name": water["name"].fillna(""),
                              "water_kind": water["kind"].fillna("")}, geometry=list(water.geometry),
                             crs=CRS)
    layers = {
        "township": gpd.GeoDataFrame({"code": ["310115005"], "name": ["浦东新区"]}, geometry=[T], crs=CRS),
        "villages": gpd.GeoDataFrame({"village_code": ["310115005001", "310115005002"],
                                      "name": ["西居委会", "东居委会"], "kind": "居委会",
                                      "locked": False}, geometry=[west, east], crs=CRS),
        "buildings": b, "roads": roads, "water": water,
        "neighbours": gpd.GeoDataFrame({"code": ["310101000"], "name": ["黄浦区"]},
                                       geometry=[N], crs=CRS),
    }
    d = tmp_path_factory.mktemp("bnd")
    ll = faces.set_index("name").geometry["黄浦区"]
    gcj = shapely.transform(ll, lambda xy: np.column_stack(wgs84_to_gcj02(xy[:, 0], xy[:, 1])))
    gpd.GeoDataFrame({"name": ["虹口区"]}, geometry=[faces.set_index("name").geometry["虹口区"]],
                     crs="EPSG:4326").to_file(d / "hongkou.geojson")
    # GCJ-02 coordinates but the file says WGS84 (as AMap exports often do)
    gpd.GeoDataFrame({"name": ["黄浦区"]}, geometry=[gcj], crs="EPSG:4326").to_file(d / "huangpu_amap.geojson")
    # the district lines as delivered (boundary LINES with name:left/name:right)
    gpd.read_file(src, layer="boundaries").to_file(d / "lines.gpkg", layer="boundaries")
    return d, layers, T, N


def _project(world, tmp_path, *, drop=(), extra=None):
    d, layers, _, _ = world
    lay = {k: v for k, v in layers.items() if k not in drop}
    lay.update(extra or {})
    path = tmp_path / "project.gpkg"
    update_gpkg(path, lay, fresh=True)
    return path


def test_clean_border_exit_0_and_outputs(world, tmp_path):
    path = _project(world, tmp_path, drop=("buildings",))
    res = CliRunner().invoke(cli, ["boundaries", str(path), "-o", str(tmp_path / "out"), "--no-pdf"],
                             standalone_mode=False)
    assert res.exception is None, res.output
    assert res.return_value == 0, res.output
    c = read_layer(path, "conflicts")
    assert not (c["severity"] == "error").any()
    assert (tmp_path / "out" / "conflicts.csv").exists()
    assert (tmp_path / "out" / "conflicts.html").exists()
    assert "boundary clean" in res.output


def test_planted_overlap_exit_3_problems_and_cut(world, tmp_path):
    d, layers, T, N = world
    p = T.representative_point()
    block = box(p.x + 200, p.y - 20, p.x + 260, p.y + 20)
    nb = layers["neighbours"].copy()
    nb["geometry"] = [shapely.union(N, block)]
    path = _project(world, tmp_path, extra={"neighbours": nb})
    res = CliRunner().invoke(cli, ["boundaries", str(path), "-o", str(tmp_path / "out")],
                             standalone_mode=False)
    assert res.exception is None, res.output
    assert res.return_value == 3
    c = read_layer(path, "conflicts")
    ov = c[c["kind"] == "overlap"]
    assert len(ov) == 1 and ov["area_m2"].iloc[0] == pytest.approx(2400, rel=0.01)
    assert ov["neighbour"].iloc[0] == "黄浦区"
    cut = c[c["kind"] == "building_cut"]
    assert "BCUT" in cut["buildings"].tolist()
    assert "东居委会 70%" in cut.set_index("buildings").loc["BCUT", "message"]
    probs = read_layer(path, "problems")
    assert (probs["stage"] == "boundaries").sum() == len(c)
    assert "conflict_lines" in list_layers(path)
    assert (tmp_path / "out" / "conflicts.pdf").stat().st_size > 5000
    # a second run replaces (not appends) the boundaries problems
    CliRunner().invoke(cli, ["boundaries", str(path), "-o", str(tmp_path / "out"), "--no-pdf"],
                       standalone_mode=False)
    assert (read_layer(path, "problems")["stage"] == "boundaries").sum() == len(c)


def test_gcj02_neighbour_file_explained(world, tmp_path):
    d, *_ = world
    path = _project(world, tmp_path, drop=("neighbours", "buildings"))
    res = CliRunner().invoke(cli, ["boundaries", str(path), "--neighbour", str(d / "huangpu_amap.geojson"),
                                   "-o", str(tmp_path / "out"), "--no-pdf"], standalone_mode=False)
    assert res.exception is None, res.output
    assert res.return_value == 3
    c = read_layer(path, "conflicts")
    # the neighbour is reported once, as a GCJ-02 shift; no 500 m overlap or gap rows
    # (near_line rows are the township's own outline against OSM roads)
    assert c.loc[c["neighbour"] == "黄浦区", "kind"].tolist() == ["shift_gcj02"]
    assert not set(c["kind"]) & {"overlap", "gap", "overlap_sliver", "gap_sliver"}
    assert "--neighbour-gcj02" in res.output
    res = CliRunner().invoke(cli, ["boundaries", str(path), "--neighbour", str(d / "huangpu_amap.geojson"),
                                   "--neighbour-gcj02", "-o", str(tmp_path / "out"), "--no-pdf"],
                             standalone_mode=False)
    assert res.exception is None, res.output
    c = read_layer(path, "conflicts")
    assert "shift_gcj02" not in set(c["kind"])
    assert not (c["severity"] == "error").any(), c[["kind", "message"]].to_string()


def test_line_layer_neighbours(world, tmp_path):
    d, *_ = world
    path = _project(world, tmp_path, drop=("neighbours", "buildings"))
    res = CliRunner().invoke(cli, ["boundaries", str(path), "--neighbour", f"{d / 'lines.gpkg'}:boundaries",
                                   "--neighbour", str(d / "hongkou.geojson"),
                                   "-o", str(tmp_path / "out"), "--no-pdf"], standalone_mode=False)
    assert res.exception is None, res.output
    assert res.return_value == 0, res.output


def test_bad_neighbour_file_is_clean_error(world, tmp_path):
    path = _project(world, tmp_path, drop=("buildings",))
    res = CliRunner().invoke(cli, ["boundaries", str(path), "--neighbour", str(tmp_path / "nope.shp")],
                             standalone_mode=False)
    from pucha.errors import PuchaError
    assert isinstance(res.exception, PuchaError)
    assert "nope.shp" in str(res.exception)


def test_help_teaches():
    res = CliRunner().invoke(cli, ["boundaries", "--help"])
    assert res.exit_code == 0
    assert "Example" in res.output and "--neighbour-gcj02" in res.output and "default 5" in res.output

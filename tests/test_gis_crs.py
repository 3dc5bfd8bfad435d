"""pucha.gis.crs: working CRS choice and the explained CRS mistakes.

Fixture: two squares in 青浦 (121.10E, 31.15N) written in the wrong ways.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely
from shapely.geometry import box

from pucha.config import LayerSource
from pucha.errors import CRSError
from pucha.gis.crs import check_coordinates, to_crs_checked, working_crs
from pucha.gis.gcj02 import wgs84_to_gcj02
from pucha.gis.read import read_source


def _wgs() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"id": [1, 2]}, geometry=[box(121.10, 31.15, 121.101, 31.151),
                                                       box(121.11, 31.16, 121.111, 31.161)],
                            crs="EPSG:4326")


def test_working_crs() -> None:
    assert working_crs((121.05, 31.1, 121.15, 31.2)).to_epsg() == 4549     # 青浦: inside
    assert working_crs((121.49, 31.22, 121.53, 31.25)).to_epsg() == 32651  # 陆家嘴: east of 121.5
    assert working_crs((114.3, 30.4, 114.5, 30.5)).to_epsg() == 32650      # 武汉光谷
    assert working_crs(_wgs()).to_epsg() == 4549
    assert working_crs(_wgs(), override="EPSG:32651").to_epsg() == 32651
    with pytest.raises(CRSError, match="not a metric"):
        working_crs(_wgs(), override="EPSG:4326")


def test_round_trip_always_xy() -> None:
    g = to_crs_checked(_wgs(), "EPSG:4549")
    assert 300000 < g.total_bounds[0] < 700000 and 3e6 < g.total_bounds[1] < 4e6
    back = to_crs_checked(g, "EPSG:4326")
    assert np.allclose(back.total_bounds, _wgs().total_bounds, atol=1e-8)


def test_no_crs_says_how(tmp_path: Path) -> None:
    g = _wgs().set_crs(None, allow_override=True)
    with pytest.raises(CRSError, match=r'\[layers.buildings\]: crs = "EPSG:4326"'):
        check_coordinates(g, where="b.shp", kind="buildings")


def test_lat_lon_swapped() -> None:
    g = _wgs()
    g = g.set_geometry(shapely.transform(g.geometry.values, lambda xy: xy[:, ::-1]))
    with pytest.raises(CRSError, match="longitude and latitude look swapped"):
        check_coordinates(g, where="b", kind="buildings")


def test_projected_labelled_as_degrees() -> None:
    g = _wgs().to_crs(4549).set_crs(4326, allow_override=True)
    with pytest.raises(CRSError, match="labelled as degrees.*EPSG:4549"):
        check_coordinates(g, where="b", kind="buildings")


def test_northing_easting_swapped() -> None:
    g = _wgs().to_crs(4549)
    g = g.set_geometry(shapely.transform(g.geometry.values, lambda xy: xy[:, ::-1]))
    with pytest.raises(CRSError, match="northing and easting are swapped"):
        check_coordinates(g, where="b", kind="buildings")


def test_zone_prefixed_eastings() -> None:
    g = _wgs().to_crs(4528)   # CGCS2000 3-degree zone 40: eastings 40xxxxxx
    assert g.total_bounds[0] > 4e7
    check_coordinates(g)      # right CRS: fine
    wrong = g.set_crs(4549, allow_override=True)
    with pytest.raises(CRSError, match='zone number 40.*EPSG:4528'):
        check_coordinates(wrong, kind="buildings")
    with pytest.raises(CRSError, match='zone 40.*EPSG:4528'):
        check_coordinates(g.set_crs(4326, allow_override=True), kind="buildings")


def test_gcj02_declared_is_converted(tmp_path: Path) -> None:
    g = _wgs()
    lon, lat = wgs84_to_gcj02(np.array([121.10]), np.array([31.15]))
    shifted = g.set_geometry(shapely.transform(g.geometry.values, lambda xy: np.column_stack(
        wgs84_to_gcj02(xy[:, 0], xy[:, 1]))))
    shifted.to_file(tmp_path / "amap.geojson")
    assert abs(lon[0] - 121.10) > 1e-4   # the offset is hundreds of metres
    back = read_source(LayerSource(path="amap.geojson", gcj02=True), base_dir=tmp_path,
                       kind="buildings")
    assert np.allclose(back.total_bounds, g.total_bounds, atol=1e-6)
    plain = read_source(LayerSource(path="amap.geojson"), base_dir=tmp_path, kind="buildings")
    assert not np.allclose(plain.total_bounds, g.total_bounds, atol=1e-5)

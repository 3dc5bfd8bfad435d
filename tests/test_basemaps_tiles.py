"""pucha.basemaps.tiles: tile specs, relative local URLs, GCJ-02 shift at render time."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
from shapely.geometry import Point, Polygon

from pucha.basemaps.tiles import parse_tile_spec, shift_geoms, shift_lonlat, tile_url_for
from pucha.errors import ConfigError
from pucha.gis.gcj02 import gcj02_to_wgs84


def test_specs(tmp_path):
    assert parse_tile_spec("none") is None and parse_tile_spec("") is None
    (tmp_path / "t" / "15" / "1" ).mkdir(parents=True)
    (tmp_path / "t" / "15" / "1" / "2.jpg").write_bytes(b"x")
    loc = parse_tile_spec(f"local:{tmp_path / 't'}")
    assert loc.name == "local" and loc.urls == ("{z}/{x}/{y}.jpg",) and not loc.gcj02
    td = parse_tile_spec("tianditu:KEY1")
    assert td.urls[0].endswith("tk=KEY1") and "LAYER=vec" in td.urls[0] and "LAYER=cva" in td.urls[1]
    assert parse_tile_spec("amap").gcj02
    for bad in ("tianditu:", "local:", "local:/no/such/dir", "google"):
        with pytest.raises(ConfigError):
            parse_tile_spec(bad)


def test_local_url_is_relative_to_the_html(tmp_path):
    (tmp_path / "tiles").mkdir()
    src = parse_tile_spec(f"local:{tmp_path / 'tiles'}")
    url = tile_url_for(src, src.urls[0], tmp_path / "maps" / "村")
    assert url == "../../tiles/{z}/{x}/{y}.png"
    assert "file:" not in url and not url.startswith("/")


def test_amap_shift_matches_the_inverse():
    """Shift Shanghai points into GCJ-02; gcj02_to_wgs84 must give them back (< 1 cm)."""
    src = parse_tile_spec("amap")
    rng = np.random.default_rng(1)
    lon = rng.uniform(121.0, 122.0, 200)
    lat = rng.uniform(30.7, 31.5, 200)
    glon, glat = shift_lonlat(lon, lat, src)
    shift_m = np.hypot((glon - lon) * 95000, (glat - lat) * 111000)
    assert shift_m.min() > 100 and shift_m.max() < 1000  # the known ~500 m offset
    blon, blat = gcj02_to_wgs84(glon, glat)
    assert np.abs(blon - lon).max() < 1e-7 and np.abs(blat - lat).max() < 1e-7
    # no shift for other sources
    same = shift_lonlat(lon, lat, parse_tile_spec("tianditu:k"))
    assert np.array_equal(same[0], lon)


def test_shift_geoms_copies_and_keeps_crs():
    poly = Polygon([(121.5, 31.24), (121.501, 31.24), (121.501, 31.241)])
    gdf = gpd.GeoDataFrame({"a": [1]}, geometry=[poly], crs=4326)
    out = shift_geoms(gdf, parse_tile_spec("amap"))
    assert out.crs == gdf.crs
    assert gdf.geometry.iloc[0].equals(poly)  # stored data unchanged
    x0, y0 = out.geometry.iloc[0].exterior.coords[0]
    bx, by = gcj02_to_wgs84(np.array([x0]), np.array([y0]))
    assert abs(bx[0] - 121.5) < 1e-7 and abs(by[0] - 31.24) < 1e-7
    p = shift_geoms(Point(121.5, 31.24), parse_tile_spec("amap"))
    assert p.x != 121.5

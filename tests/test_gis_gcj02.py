"""GCJ-02 conversion against the reference package eviltransform (tests only).

eviltransform uses the WGS84 semi-major axis (6378137 m) where the original
algorithm, and pucha, use Krasovsky's (6378245 m); the two differ by under 2 cm
(2e-7 degrees), far below what matters on a census map.
"""



from __future__ import annotations

import eviltransform
import numpy as np
import pytest

TOL_DEG = 2e-7  # Krasovsky vs WGS84 semi-major axis: < 2 cm

from pucha.gis.gcj02 import gcj02_to_wgs84, in_china, wgs84_to_gcj02


@pytest.fixture(scope="module")
def points() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(20201101)
    lon = rng.uniform(73.7, 134.7, 500)
    lat = rng.uniform(18.2, 53.5, 500)
    # plus the demo area (Lujiazui) and 盈浦街道
    lon = np.concatenate([lon, [121.50, 121.48, 121.11]])
    lat = np.concatenate([lat, [31.24, 31.23, 31.15]])
    return lon, lat


def test_forward_matches_eviltransform(points):
    lon, lat = points
    glon, glat = wgs84_to_gcj02(lon, lat)
    for i in range(len(lon)):
        ref_lat, ref_lon = eviltransform.wgs2gcj(lat[i], lon[i])
        assert glon[i] == pytest.approx(ref_lon, abs=TOL_DEG)
        assert glat[i] == pytest.approx(ref_lat, abs=TOL_DEG)


def test_inverse_beats_eviltransform_exact(points):
    lon, lat = points
    glon, glat = wgs84_to_gcj02(lon, lat)
    wlon, wlat = gcj02_to_wgs84(glon, glat)
    assert np.max(np.abs(wlon - lon)) < 1e-7
    assert np.max(np.abs(wlat - lat)) < 1e-7
    for i in range(0, len(lon), 25):
        ref_lat, ref_lon = eviltransform.gcj2wgs_exact(glat[i], glon[i])
        assert wlon[i] == pytest.approx(ref_lon, abs=TOL_DEG + 1e-6)
        assert wlat[i] == pytest.approx(ref_lat, abs=TOL_DEG + 1e-6)


def test_shift_is_hundreds_of_metres_in_shanghai():
    glon, glat = wgs84_to_gcj02(np.array([121.5]), np.array([31.24]))
    dx = (glon[0] - 121.5) * 111_320 * np.cos(np.radians(31.24))
    dy = (glat[0] - 31.24) * 110_574
    assert 300 < np.hypot(dx, dy) < 700


def test_outside_china_unchanged():
    lon, lat = np.array([2.35, -74.0]), np.array([48.85, 40.7])
    assert not in_china(lon, lat).any()
    glon, glat = wgs84_to_gcj02(lon, lat)
    assert np.array_equal(glon, lon) and np.array_equal(glat, lat)

"""GCJ-02 ("Mars coordinates") <-> WGS84, vectorised with numpy.

Chinese web maps (AMap/Gaode, Tencent) publish coordinates in GCJ-02, an
obfuscated datum offset from WGS84 by up to ~700 m. pucha converts declared
GCJ-02 input to WGS84 on import, and shifts overlays into GCJ-02 only at render
time for GCJ-02 tile sources. Outside mainland China the offset is zero.

The forward formula is the public one; the inverse is solved by fixed-point
iteration to better than 1e-7 degrees (about 1 cm).

>>> import numpy as np
>>> lon, lat = wgs84_to_gcj02(np.array([121.5]), np.array([31.24]))
>>> back = gcj02_to_wgs84(lon, lat)
>>> bool(abs(back[0][0] - 121.5) < 1e-7 and abs(back[1][0] - 31.24) < 1e-7)
True
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["wgs84_to_gcj02", "gcj02_to_wgs84", "in_china"]

_A = 6378245.0
_EE = 0.00669342162296594323


def in_china(lon: ArrayLike, lat: ArrayLike) -> NDArray[np.bool_]:
    """True where the point lies in the rough box GCJ-02 applies to."""
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    return (lon >= 72.004) & (lon <= 137.8347) & (lat >= 0.8293) & (lat <= 55.8271)


def _delta(lon: NDArray[np.float64], lat: NDArray[np.float64]) -> tuple[NDArray, NDArray]:
    x = lon - 105.0
    y = lat - 35.0
    dlat = (-100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x))
            + (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
            + (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
            + (160.0 * np.sin(y / 12.0 * np.pi) + 320 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0)
    dlon = (300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x))
            + (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
            + (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
            + (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0)
    radlat = lat / 180.0 * np.pi
    magic = 1 - _EE * np.sin(radlat) ** 2
    sqrtmagic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1 - _EE)) / (magic * sqrtmagic) * np.pi)
    dlon = (dlon * 180.0) / (_A / sqrtmagic * np.cos(radlat) * np.pi)
    inside = in_china(lon, lat)
    return np.where(inside, dlon, 0.0), np.where(inside, dlat, 0.0)


def wgs84_to_gcj02(lon: ArrayLike, lat: ArrayLike) -> tuple[NDArray, NDArray]:
    """Shift WGS84 longitude/latitude arrays into GCJ-02."""
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    dlon, dlat = _delta(lon, lat)
    return lon + dlon, lat + dlat


def gcj02_to_wgs84(lon: ArrayLike, lat: ArrayLike, *, tol: float = 1e-9,
                   max_iter: int = 30) -> tuple[NDArray, NDArray]:
    """Invert :func:`wgs84_to_gcj02` by fixed-point iteration (~1 cm)."""
    glon = np.asarray(lon, dtype=float)
    glat = np.asarray(lat, dtype=float)
    wlon, wlat = glon.copy(), glat.copy()
    for _ in range(max_iter):
        flon, flat = wgs84_to_gcj02(wlon, wlat)
        elon, elat = flon - glon, flat - glat
        wlon = wlon - elon
        wlat = wlat - elat
        if np.all(np.abs(elon) < tol) and np.all(np.abs(elat) < tol):
            break
    return wlon, wlat

"""Optional raster tile sources under pucha's own vector basemap.

The default (``none``) draws no tiles: the maps show the project's own roads,
water and buildings and need no network. Three optional sources:

``local:DIR``
    A folder of tiles ``DIR/{z}/{x}/{y}.png`` (e.g. cut from a licensed base map).
    The HTML refers to it with a *relative* URL, so the maps folder and the tile
    folder can be copied together onto a phone and opened from ``file://``.
``tianditu:KEY``
    天地图 (the national platform) vector tiles and labels, with the user's key.
    Needs the network; tiles are CGCS2000 ~ WGS84, no shift.
``amap``
    AMap/Gaode tiles. They are drawn in GCJ-02, so overlays are shifted into
    GCJ-02 at render time (:func:`shift_lonlat`); the stored data never changes.

>>> parse_tile_spec("none") is None
True
>>> parse_tile_spec("amap").gcj02
True
>>> parse_tile_spec("tianditu:abc123").name
'tianditu'
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from pucha.errors import ConfigError
from pucha.gis.gcj02 import wgs84_to_gcj02

__all__ = ["TileSource", "parse_tile_spec", "tile_url_for", "shift_lonlat", "shift_geoms",
           "TIANDITU_URL", "AMAP_URL"]

TIANDITU_URL = ("https://t{s}.tianditu.gov.cn/{layer}_w/wmts?SERVICE=WMTS&REQUEST=GetTile"
                "&VERSION=1.0.0&LAYER={layer}&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles"
                "&TILEMATRIX={z}&TILEROW={y}&TILECOL={x}&tk={key}")
AMAP_URL = ("https://webrd0{s}.is.autonavi.com/appmaptile?lang=zh_cn&size=1&scale=1&style=8"
            "&x={x}&y={y}&z={z}")


@dataclass(frozen=True)
class TileSource:
    """One tile source.

    Attributes
    ----------
    name
        ``"local"``, ``"tianditu"`` or ``"amap"``.
    urls
        Leaflet URL templates, bottom layer first (天地图 adds a label layer).
    attribution
        Plain-text credit shown on the map.
    subdomains
        Leaflet ``{s}`` values.
    gcj02
        True when the tiles are in GCJ-02 (overlays must be shifted).
    local_dir
        The tile folder of a ``local`` source (URLs are made relative to each HTML).
    hosts
        Network hosts the maps will contact (for the offline scan).
    """

    name: str
    urls: tuple[str, ...]
    attribution: str
    subdomains: str = ""
    gcj02: bool = False
    local_dir: Path | None = None
    max_zoom: int = 19
    hosts: tuple[str, ...] = ()


def parse_tile_spec(spec: str | None, *, tile_url: str = "") -> TileSource | None:
    """Turn ``none|local:DIR|tianditu:KEY|amap`` into a :class:`TileSource` (None = none).

    Raises
    ------
    ConfigError
        On an unknown kind, a missing key or a missing tile folder.
    """
    spec = (spec or "none").strip()
    kind, _, arg = spec.partition(":")
    kind = kind.lower()
    if kind in ("", "none"):
        return None
    if kind == "local":
        if not arg:
            raise ConfigError("--tiles local:DIR needs the tile folder, e.g. local:tiles/ "
                              "holding tiles/{z}/{x}/{y}.png")
        folder = Path(arg).expanduser()
        if not folder.is_dir():
            raise ConfigError(f"tile folder not found: {folder} (expected {folder}/{{z}}/{{x}}/{{y}}.png)")
        ext = "png"
        for p in sorted(folder.glob("*/*/*.*"))[:1]:
            ext = p.suffix.lstrip(".") or "png"
        return TileSource("local", (tile_url or "{z}/{x}/{y}." + ext,), "本地瓦片 / local tiles",
                          local_dir=folder.resolve())
    if kind == "tianditu":
        if not arg:
            raise ConfigError("--tiles tianditu:KEY needs your 天地图 key "
                              "(apply at the 天地图 developer site)")
        urls = tuple(TIANDITU_URL.replace("{layer}", layer).replace("{key}", arg)
                     for layer in ("vec", "cva"))
        return TileSource("tianditu", urls, "天地图 (国家地理信息公共服务平台)",
                          subdomains="01234567", max_zoom=18, hosts=("tianditu.gov.cn",))
    if kind in ("amap", "gaode"):
        return TileSource("amap", (AMAP_URL,), "高德地图 AutoNavi (GCJ-02)", subdomains="1234",
                          gcj02=True, max_zoom=18, hosts=("autonavi.com",))
    raise ConfigError(f"unknown tile source {spec!r}; use one of: none, local:DIR, "
                      "tianditu:KEY, amap")


def tile_url_for(source: TileSource, url: str, html_dir: str | os.PathLike) -> str:
    """The URL template as written into an HTML file saved in ``html_dir``.

    For a local source the folder is given relative to the HTML file
    (forward slashes), so the pair can be moved together.
    """
    if source.local_dir is None:
        return url
    rel = os.path.relpath(source.local_dir, Path(html_dir).resolve())
    rel = rel.replace(os.sep, "/")
    return f"{rel}/{url}" if rel != "." else url


def shift_lonlat(lon: np.ndarray, lat: np.ndarray, source: TileSource | None
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Shift WGS84 lon/lat into the tile source's datum (GCJ-02 for AMap)."""
    if source is None or not source.gcj02:
        return np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    return wgs84_to_gcj02(lon, lat)


def shift_geoms(geoms, source: TileSource | None):
    """Shift an array/GeoSeries of WGS84 geometries for ``source`` (copy; input untouched)."""
    if source is None or not source.gcj02:
        return geoms

    def f(xy: np.ndarray) -> np.ndarray:
        lon, lat = wgs84_to_gcj02(xy[:, 0], xy[:, 1])
        return np.column_stack([lon, lat])

    import geopandas as gpd

    if isinstance(geoms, gpd.GeoDataFrame):
        moved = gpd.GeoSeries(shapely.transform(np.asarray(geoms.geometry.values), f),
                              index=geoms.index, crs=geoms.crs)
        return geoms.set_geometry(moved)
    if isinstance(geoms, gpd.GeoSeries):
        return gpd.GeoSeries(shapely.transform(np.asarray(geoms.values), f), index=geoms.index,
                             crs=geoms.crs)
    if isinstance(geoms, BaseGeometry):
        return shapely.transform(geoms, f)
    return shapely.transform(np.asarray(geoms, dtype=object), f)

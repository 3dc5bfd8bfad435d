"""四至 (what bounds an area on each side), for areas that came without one.

The partition writes ``sizhi`` and ``east``/``south``/``west``/``north`` for
every area. A hand-edited plan may leave them empty; then the maps and
registers describe the sides from the data: for each compass side, the part of
the boundary facing that way is buffered and the named road or river running
longest inside that strip names the side; else the neighbouring area with the
longest shared stretch; else "界" (the edge of the 居/村).

>>> import geopandas as gpd
>>> from shapely.geometry import LineString, box
>>> roads = gpd.GeoDataFrame({"name": ["东路", "南街"]},
...     geometry=[LineString([(105, -50), (105, 150)]), LineString([(-50, -4), (150, -4)])])
>>> describe_sides(box(0, 0, 100, 100), roads=roads)
{'east': '东路', 'south': '南街', 'west': '界', 'north': '界'}
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

__all__ = ["describe_sides", "sizhi_text", "SIDES"]

SIDES = (("east", "东", (1.0, 0.0)), ("south", "南", (0.0, -1.0)),
         ("west", "西", (-1.0, 0.0)), ("north", "北", (0.0, 1.0)))


def _side_strip(area: BaseGeometry, direction: tuple[float, float], *, share: float,
                width: float) -> tuple[BaseGeometry, float, float]:
    """The strip along the side of ``area`` facing ``direction``, and the side's
    extent along it (min, max of the tangent coordinate)."""
    ring = shapely.boundary(area)
    length = ring.length
    n = max(8, int(length / 5))
    pts = shapely.line_interpolate_point(ring, np.linspace(0, length, n, endpoint=False))
    xy = shapely.get_coordinates(pts)
    proj = xy @ np.asarray(direction)
    lo, hi = proj.min(), proj.max()
    keep = proj >= hi - share * (hi - lo)
    tangent = np.asarray((-direction[1], direction[0]))
    t = xy[keep] @ tangent
    return shapely.multipoints(xy[keep]).buffer(width), float(t.min()), float(t.max())


def _longest(gdf: gpd.GeoDataFrame | None, strip: BaseGeometry, column: str,
             direction: tuple[float, float], side: tuple[float, float],
             min_span: float) -> str:
    """The name whose piece inside ``strip`` runs furthest along the side
    (overlap of its tangent extent with the side's extent ``side``)."""
    if gdf is None or len(gdf) == 0 or column not in gdf.columns:
        return ""
    tangent = np.asarray((-direction[1], direction[0]))
    idx = np.sort(gdf.sindex.query(strip, predicate="intersects"))
    best, best_len = "", min_span
    for name, geom in zip(gdf.iloc[idx][column], gdf.iloc[idx].geometry):
        name = str(name or "").strip()
        if not name:
            continue
        part = geom.intersection(strip)
        if part.is_empty:
            continue
        t = shapely.get_coordinates(part) @ tangent
        size = max(0.0, min(float(t.max()), side[1]) - max(float(t.min()), side[0]))
        if size > best_len or (size == best_len and best and name < best):
            best, best_len = name, size
    return best


def describe_sides(area: BaseGeometry, *, roads: gpd.GeoDataFrame | None = None,
                   water: gpd.GeoDataFrame | None = None,
                   neighbours: gpd.GeoDataFrame | None = None, share: float = 0.15,
                   width: float = 25.0) -> dict[str, str]:
    """Name what bounds ``area`` on each side: ``{"east": ..., "south": ..., ...}``.

    ``neighbours`` needs a column ``label`` (e.g. "第002普查小区").
    """
    out = {}
    for key, _zh, d in SIDES:
        strip, t0, t1 = _side_strip(area, d, share=share, width=width)
        need = 0.3 * (t1 - t0)
        side = (t0, t1)
        name = (_longest(roads, strip, "name", d, side, need)
                or _longest(water, strip, "name", d, side, need))
        if not name and neighbours is not None and len(neighbours):
            name = _longest(neighbours, strip.intersection(area.buffer(width)), "label", d,
                            side, need)
        out[key] = name or "界"
    return out


def sizhi_text(sides: dict[str, str]) -> str:
    """``"东至X，南至Y，西至Z，北至W"``."""
    return "，".join(f"{zh}至{sides.get(key, '') or '界'}" for key, zh, _ in SIDES)

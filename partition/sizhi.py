"""四至: what bounds an area on its east, south, west and north sides.

One algorithm serves the partition (which stores ``sizhi`` and ``east`` … ``north`` on
every area), the maps and the registers (which describe a hand-edited area that lost
them). For each compass side, the part of the boundary facing that way (the outermost
``share`` of the outline in that direction) is buffered into a strip; the named road or
river whose piece inside the strip runs furthest *along* the side names it (a road that
crosses a corner at right angles runs along the side only for its width, so it does not
name it); else the neighbouring area sharing the longest stretch of that side; else the
edge of the 居/村 (``edge``, default "普查区界").

>>> import geopandas as gpd
>>> from shapely.geometry import LineString, box
>>> roads = gpd.GeoDataFrame({"name": ["东路", "南街"]},
...     geometry=[LineString([(105, -50), (105, 150)]), LineString([(-50, -4), (150, -4)])])
>>> describe_sides(box(0, 0, 100, 100), roads=roads)
{'east': '东路', 'south': '南街', 'west': '普查区界', 'north': '普查区界'}
>>> sizhi_text(_)
'东至东路，南至南街，西至普查区界，北至普查区界'
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

__all__ = ["describe_sides", "sizhi_text", "sizhi", "SIDES", "EDGE"]

#: (key, Chinese direction, unit vector) of the four sides, in the order 四至 is written
SIDES = (("east", "东", (1.0, 0.0)), ("south", "南", (0.0, -1.0)),
         ("west", "西", (-1.0, 0.0)), ("north", "北", (0.0, 1.0)))
#: what an unnamed side that no other area shares is called: the edge of the 居/村
EDGE = "普查区界"


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
    (overlap of its tangent extent with the side's extent ``side``); ties go to the
    first name in code-point order, so the text does not depend on row order."""
    if gdf is None or len(gdf) == 0 or column not in gdf.columns:
        return ""
    tangent = np.asarray((-direction[1], direction[0]))
    idx = np.sort(gdf.sindex.query(strip, predicate="intersects"))
    best, best_len = "", min_span
    for name, geom in zip(gdf.iloc[idx][column], gdf.iloc[idx].geometry):
        name = str(name or "").strip()
        if not name or geom is None:
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
                   width: float = 25.0, edge: str = EDGE) -> dict[str, str]:
    """Name what bounds ``area`` on each side: ``{"east": ..., "south": ..., ...}``.

    ``roads`` and ``water`` need a column ``name``; ``neighbours`` a column ``label``
    (e.g. "第002普查小区"). A side needs a name running along at least 30 % of it.
    """
    out = {}
    if area is None or area.is_empty:
        return {key: edge for key, _zh, _d in SIDES}
    for key, _zh, d in SIDES:
        strip, t0, t1 = _side_strip(area, d, share=share, width=width)
        need = 0.3 * (t1 - t0)
        side = (t0, t1)
        name = (_longest(roads, strip, "name", d, side, need)
                or _longest(water, strip, "name", d, side, need))
        if not name and neighbours is not None and len(neighbours):
            name = _longest(neighbours, strip.intersection(area.buffer(width)), "label", d,
                            side, need)
        out[key] = name or edge
    return out


def sizhi_text(sides: dict[str, str], *, edge: str = EDGE) -> str:
    """``"东至X，南至Y，西至Z，北至W"``."""
    return "，".join(f"{zh}至{sides.get(key, '') or edge}" for key, zh, _ in SIDES)


def sizhi(poly: BaseGeometry, named: gpd.GeoDataFrame,
          neighbours: list[tuple[str, BaseGeometry]], **_legacy) -> dict[str, str]:
    """The partition's call: sides and the joined text of one area.

    ``named``: the 居/村's named barriers (roads, rivers, railways, walls) with a
    ``name``; ``neighbours``: (area_code, polygon) of the areas around it, labelled
    "第NNN普查小区" from the code's sequence.
    """
    nb = None
    if neighbours:
        nb = gpd.GeoDataFrame({"label": [f"第{str(c)[-3:]}普查小区" for c, _ in neighbours]},
                              geometry=[g for _, g in neighbours])
    out = describe_sides(poly, roads=named, neighbours=nb)
    out["sizhi"] = sizhi_text(out)
    return out

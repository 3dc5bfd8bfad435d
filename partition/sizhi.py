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


class _Named:
    """Named lines or polygons prepared once: names, geometries and a search tree."""

    __slots__ = ("names", "geoms", "tree")

    def __init__(self, names, geoms) -> None:
        keep = [i for i, (n, g) in enumerate(zip(names, geoms))
                if str(n or "").strip() and g is not None and not g.is_empty]
        self.names = [str(names[i]).strip() for i in keep]
        self.geoms = np.asarray([geoms[i] for i in keep], dtype=object)
        self.tree = shapely.STRtree(self.geoms) if keep else None

    @classmethod
    def of(cls, gdf: gpd.GeoDataFrame | None, column: str) -> "_Named | None":
        if gdf is None or len(gdf) == 0 or column not in gdf.columns:
            return None
        return cls(list(gdf[column]), list(gdf.geometry.values))


#: the last frame prepared by :func:`sizhi` (the partition calls it area by area with
#: the same named lines of one 居/村; the frame is held, so its id cannot be reused)
_LAST: list = [None, None]


def _side_strip(ring: BaseGeometry, direction: tuple[float, float], *, share: float,
                width: float) -> tuple[BaseGeometry, float, float]:
    """The strip along the side of the outline ``ring`` facing ``direction`` (the
    outermost ``share`` of it, buffered by ``width``) and the side's extent along it
    (min, max of the tangent coordinate)."""
    xy = shapely.get_coordinates(ring)
    d = np.asarray(direction)
    proj = xy @ d
    lo, hi = float(proj.min()), float(proj.max())
    cut = hi - share * (hi - lo)
    tangent = np.asarray((-direction[1], direction[0]))
    x0, y0, x1, y1 = ring.bounds
    pad = width + 1.0
    if direction[0] > 0:
        half = shapely.box(cut, y0 - pad, x1 + pad, y1 + pad)
    elif direction[0] < 0:
        half = shapely.box(x0 - pad, y0 - pad, -cut, y1 + pad)
    elif direction[1] > 0:
        half = shapely.box(x0 - pad, cut, x1 + pad, y1 + pad)
    else:
        half = shapely.box(x0 - pad, y0 - pad, x1 + pad, -cut)
    side = shapely.intersection(ring, half)
    if side.is_empty:  # degenerate outline: the outermost vertex
        side = shapely.points(xy[int(np.argmax(proj))])
    t = shapely.get_coordinates(side) @ tangent
    return shapely.buffer(side, width, quad_segs=4), float(t.min()), float(t.max())


def _longest(named: _Named | None, strip: BaseGeometry, direction: tuple[float, float],
             side: tuple[float, float], min_span: float) -> str:
    """The name whose piece inside ``strip`` runs furthest along the side
    (overlap of its tangent extent with the side's extent ``side``); ties go to the
    first name in code-point order, so the text does not depend on row order."""
    if named is None or named.tree is None:
        return ""
    tangent = np.asarray((-direction[1], direction[0]))
    idx = np.sort(named.tree.query(strip, predicate="intersects"))
    if not len(idx):
        return ""
    parts = shapely.intersection(named.geoms[idx], strip)
    best, best_len = "", min_span
    for i, part in zip(idx, parts):
        if part.is_empty:
            continue
        t = shapely.get_coordinates(part) @ tangent
        size = max(0.0, min(float(t.max()), side[1]) - max(float(t.min()), side[0]))
        name = named.names[int(i)]
        if size > best_len or (size == best_len and best and name < best):
            best, best_len = name, size
    return best


def _describe(area: BaseGeometry, roads: _Named | None, water: _Named | None,
              neighbours: _Named | None, *, share: float, width: float, edge: str) -> dict:
    out = {}
    if area is None or area.is_empty:
        return {key: edge for key, _zh, _d in SIDES}
    ring = shapely.boundary(area)
    near = None
    for key, _zh, d in SIDES:
        strip, t0, t1 = _side_strip(ring, d, share=share, width=width)
        need = 0.3 * (t1 - t0)
        side = (t0, t1)
        name = _longest(roads, strip, d, side, need) or _longest(water, strip, d, side, need)
        if not name and neighbours is not None and neighbours.tree is not None:
            if near is None:
                near = shapely.buffer(area, width, quad_segs=4)
            name = _longest(neighbours, shapely.intersection(strip, near), d, side, need)
        out[key] = name or edge
    return out


def describe_sides(area: BaseGeometry, *, roads: gpd.GeoDataFrame | None = None,
                   water: gpd.GeoDataFrame | None = None,
                   neighbours: gpd.GeoDataFrame | None = None, share: float = 0.15,
                   width: float = 25.0, edge: str = EDGE) -> dict[str, str]:
    """Name what bounds ``area`` on each side: ``{"east": ..., "south": ..., ...}``.

    ``roads`` and ``water`` need a column ``name``; ``neighbours`` a column ``label``
    (e.g. "第002普查小区"). A side needs a name running along at least 30 % of it.
    """
    return _describe(area, _Named.of(roads, "name"), _Named.of(water, "name"),
                     _Named.of(neighbours, "label"), share=share, width=width, edge=edge)


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
    if _LAST[0] is not named:
        _LAST[0], _LAST[1] = named, _Named.of(named, "name")
    nb = _Named([f"第{str(c)[-3:]}普查小区" for c, _ in neighbours],
                [g for _, g in neighbours]) if neighbours else None
    out = _describe(poly, _LAST[1], None, nb, share=0.15, width=25.0, edge=EDGE)
    out["sizhi"] = sizhi_text(out)
    return out

"""Geometry primitives shared by the tessellation (cells) and the area polygons.

Polygonal parts of GEOS results, repaired and snapped to a grid, one at a time or
vectorised; the length unit of a coordinate system (one metre, or a hundredth of the
extent of a tiny, e.g. degree, geometry).
"""

from __future__ import annotations

import numpy as np
import shapely

__all__ = ["metric_unit", "polygonal", "polygonal_many", "as_objects"]


def metric_unit(polygon) -> float:
    """One metre in a metric CRS; a hundredth of the extent for a tiny (e.g. degree) one."""
    x0, y0, x1, y1 = polygon.bounds
    return min(1.0, max(x1 - x0, y1 - y0, 1e-9) / 100.0)


def polygonal(g, grid: float | None = None):
    """The polygonal part of ``g``, repaired (make_valid) and snapped to ``grid``."""
    if g is None or shapely.is_empty(g):
        return shapely.Polygon()
    if not shapely.is_valid(g):
        g = shapely.make_valid(g)
    if shapely.get_type_id(g) not in (3, 6):
        polys = [p for p in shapely.get_parts(g) if shapely.get_type_id(p) in (3, 6)]
        g = shapely.union_all(polys) if polys else shapely.Polygon()
    if grid and not g.is_empty:
        g = shapely.set_precision(g, grid)
        if shapely.get_type_id(g) not in (3, 6):
            polys = [p for p in shapely.get_parts(g) if shapely.get_type_id(p) in (3, 6)]
            g = shapely.union_all(polys) if polys else shapely.Polygon()
    return g


def as_objects(geoms) -> np.ndarray:
    """A 1-D object array of ``geoms`` (a list, an array or a GeoSeries' values)."""
    if not isinstance(geoms, np.ndarray):
        geoms = np.asarray(geoms, dtype=object) if hasattr(geoms, "__array__") else list(geoms)
    arr = np.empty(len(geoms), dtype=object)
    arr[:] = geoms
    return arr


def polygonal_many(geoms, grid: float | None = None) -> np.ndarray:
    """:func:`polygonal` of each of ``geoms``, vectorised for the common case.

    Valid (multi)polygons are snapped in one array call; only the others (missing,
    empty, invalid, other types, or collapsing on the grid) go through
    :func:`polygonal` one by one, so every element equals ``polygonal(g, grid)``.
    """
    arr = as_objects(geoms)
    out = np.empty(len(arr), dtype=object)
    fast = ~shapely.is_missing(arr)
    fast[fast] = ~shapely.is_empty(arr[fast])
    fast[fast] = np.isin(shapely.get_type_id(arr[fast]), (3, 6))
    fast[fast] = shapely.is_valid(arr[fast])
    idx = np.flatnonzero(fast)
    g = arr[idx]
    if grid and len(idx):
        g = shapely.set_precision(g, grid)
        ok = np.isin(shapely.get_type_id(g), (3, 6))
        idx, g = idx[ok], g[ok]
    out[idx] = g
    rest = np.ones(len(arr), dtype=bool)
    rest[idx] = False
    for i in np.flatnonzero(rest):
        out[i] = polygonal(arr[i], grid)
    return out

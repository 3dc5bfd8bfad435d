"""Area polygons: the dissolved cells of each area (they tile the 居/村).

The cells of a 居/村 are one exact coverage (partition/cells.py: all edges noded
once on a fine grid), so an area is the coverage union of its cells: shared
edges are dropped and nothing else moves, hence areas never overlap and leave no
gap. Should a cell set not be a clean coverage (cells drawn elsewhere), the area
falls back to a snap-rounded union, repaired if GEOS reports a problem.
"""

from __future__ import annotations

import numpy as np
import shapely

from pucha.partition.shapes import metric_unit as _unit
from pucha.partition.shapes import polygonal as _polygonal

__all__ = ["area_polygons", "dissolve", "dissolve_many", "without_slivers"]

#: fallback precision grid for a union of cells that are not an exact coverage (1 mm)
GRID = 1e-3



def without_slivers(geom):
    """``geom`` without the parts smaller than 0.01 m² (in a metric CRS): the hairline
    slivers left where a polygon and the union of polygons drawn from it (locked areas)
    differ in the last digits. A real part (飞地) of a 居/村 is never that small."""
    if geom is None or shapely.is_empty(geom):
        return geom
    parts = shapely.get_parts(geom)
    if len(parts) < 2:
        return geom
    keep = parts[shapely.area(parts) >= 0.01 * _unit(geom) ** 2]
    if len(keep) == len(parts) or not len(keep):
        return geom
    return keep[0] if len(keep) == 1 else shapely.multipolygons(keep)


def _exact(union, total):
    """Whether a coverage union is valid and keeps the summed area of its pieces (array-aware)."""
    return shapely.is_valid(union) & (np.abs(shapely.area(union) - total) <= 1e-6 * np.maximum(total, 1.0))


def dissolve(geoms) -> object:
    """One (multi)polygon: the union of ``geoms`` (cells of one coverage)."""
    arr = np.asarray([g for g in geoms if g is not None and not shapely.is_empty(g)], dtype=object)
    if not len(arr):
        return shapely.Polygon()
    if len(arr) == 1:
        return _polygonal(arr[0])
    total = float(shapely.area(arr).sum())
    try:
        g = shapely.coverage_union_all(arr)
        if _exact(g, total):
            return _polygonal(g)
    except shapely.errors.GEOSException:
        pass
    try:
        g = shapely.union_all(arr, grid_size=GRID)
    except shapely.errors.GEOSException:
        g = shapely.union_all(shapely.make_valid(arr))
    return _polygonal(g)


def dissolve_many(groups: list[list]) -> list:
    """:func:`dissolve` of each group (of non-empty polygons): the coverage unions of the
    groups of one size in one array call; a group whose union fails the checks goes
    through :func:`dissolve` alone."""
    out: list = [None] * len(groups)
    sizes = np.array([len(fs) for fs in groups])
    for size in np.unique(sizes).tolist():
        idx = np.flatnonzero(sizes == size)
        arr = np.empty((len(idx), size), dtype=object)
        for r, k in enumerate(idx.tolist()):
            arr[r, :] = groups[k]
        if size == 1:
            for k, g in zip(idx.tolist(), arr[:, 0]):
                out[k] = _polygonal(g)
            continue
        try:
            res = shapely.coverage_union_all(arr, axis=1)
            ok = _exact(res, shapely.area(arr).sum(axis=1))
        except shapely.errors.GEOSException:
            res, ok = None, np.zeros(len(idx), dtype=bool)
        if res is not None:
            polys = np.isin(shapely.get_type_id(res), (3, 6))  # valid: _polygonal(g) is g
            for k, g, pg in zip(idx[ok].tolist(), res[ok], polys[ok].tolist()):
                out[k] = g if pg else _polygonal(g)
        for k in idx[~ok].tolist():
            out[k] = dissolve(groups[k])
    return out


def area_polygons(cell_geoms, areas: list[list[int]]) -> list:
    """One polygon per area (a MultiPolygon only if its cells do not connect)."""
    return [dissolve([cell_geoms[n] for n in sorted(a)]) for a in areas]

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

from pucha.partition.cells import _polygonal

__all__ = ["area_polygons", "dissolve"]

#: fallback precision grid for a union of cells that are not an exact coverage (1 mm)
GRID = 1e-3



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
        if shapely.is_valid(g) and abs(g.area - total) <= 1e-6 * max(total, 1.0):
            return _polygonal(g)
    except shapely.errors.GEOSException:
        pass
    try:
        g = shapely.union_all(arr, grid_size=GRID)
    except shapely.errors.GEOSException:
        g = shapely.union_all(shapely.make_valid(arr))
    return _polygonal(g)


def area_polygons(cell_geoms, areas: list[list[int]]) -> list:
    """One polygon per area (a MultiPolygon only if its cells do not connect)."""
    return [dissolve([cell_geoms[n] for n in sorted(a)]) for a in areas]

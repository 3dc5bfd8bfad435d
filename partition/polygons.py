"""Area polygons: the dissolved cells of each area (they tile the 居/村)."""

from __future__ import annotations

import shapely

__all__ = ["area_polygons"]


def area_polygons(cell_geoms, areas: list[list[int]]) -> list:
    """One (multi)polygon per area: the union of its cells, snapped to 1 cm."""
    out = []
    for a in areas:
        g = shapely.union_all([cell_geoms[n] for n in a])
        g = shapely.make_valid(g)
        if shapely.get_type_id(g) == 7:
            polys = [p for p in shapely.get_parts(g) if shapely.get_type_id(p) in (3, 6)]
            g = shapely.union_all(polys) if polys else shapely.Polygon()
        out.append(g)
    return out

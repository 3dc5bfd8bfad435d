"""四至: what bounds each area on its east, south, west and north sides."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import shapely

__all__ = ["sizhi"]


def _side(poly, side: str):
    x0, y0, x1, y1 = poly.bounds
    w, h = x1 - x0, y1 - y0
    d = {"east": (x1 - w * 0.15, y0, x1 + 1, y1), "west": (x0 - 1, y0, x0 + w * 0.15, y1),
         "north": (x0, y1 - h * 0.15, x1, y1 + 1), "south": (x0, y0 - 1, x1, y0 + h * 0.15)}[side]
    return shapely.intersection(shapely.boundary(poly), shapely.box(*d))


def sizhi(poly, named: gpd.GeoDataFrame, neighbours: list[tuple[str, object]], *, snap: float = 12.0,
          named_zones=None, neighbour_zones=None) -> dict[str, str]:
    """East/south/west/north descriptions and the joined 四至 text.

    ``named``: lines with a non-empty ``name`` (roads, rivers); ``neighbours``:
    (code, polygon) of adjacent areas. ``named_zones`` (the named lines buffered by
    ``snap``) and ``neighbour_zones`` (each neighbour's boundary buffered by 0.5) may
    be given, computed once for all the areas of a 居/村.
    """
    out = {}
    tree = shapely.STRtree(named.geometry.values) if len(named) else None
    if neighbour_zones is None:
        neighbour_zones = [shapely.buffer(shapely.boundary(g), 0.5) for _, g in neighbours]
    for side, word in (("east", "东至"), ("south", "南至"), ("west", "西至"), ("north", "北至")):
        seg = _side(poly, side)
        label = ""
        if tree is not None and not seg.is_empty:
            idx = np.sort(tree.query(seg, predicate="dwithin", distance=snap))
            if len(idx):
                zone = (named_zones[idx] if named_zones is not None
                        else shapely.buffer(named.geometry.values[idx], snap))
                ln = shapely.length(shapely.intersection(zone, seg))
                k = int(np.argmax(ln))  # the first of the longest, in line order
                if ln[k] > 0:
                    label = named["name"].iat[int(idx[k])]
        if not label and not seg.is_empty:
            best = None
            for (code, _), zone in zip(neighbours, neighbour_zones):
                ln = shapely.intersection(seg, zone).length
                if ln > 0.5 and (best is None or ln > best[0]):
                    best = (ln, code)
            label = f"{best[1]}小区" if best else "普查区界"
        out[side] = label or "普查区界"
    out["sizhi"] = "，".join(f"{w}{out[s]}" for s, w in (("east", "东至"), ("south", "南至"),
                                                        ("west", "西至"), ("north", "北至")))
    return out

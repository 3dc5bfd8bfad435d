"""Shared pieces of the family generators: 居/村 as Voronoi cells, layers in schema shape."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from pucha.gis import schema as S

CRS = "EPSG:4549"
X0, Y0 = 500_000.0, 3_380_000.0


def voronoi_villages(town: shapely.Polygon, n: int, rng: np.random.Generator, *, code0: str,
                     kind: str, name: str) -> gpd.GeoDataFrame:
    """``n`` 居/村 tiling ``town``: Voronoi cells of random seeds (relaxed twice), clipped."""
    x0, y0, x1, y1 = town.bounds
    pts = np.column_stack([rng.uniform(x0, x1, n * 3), rng.uniform(y0, y1, n * 3)])
    pts = pts[shapely.contains_xy(town, pts[:, 0], pts[:, 1])][:n]
    for _ in range(2):  # Lloyd relaxation: cells of more even size
        cells = _cells(town, pts)
        pts = np.array([[c.centroid.x, c.centroid.y] for c in cells])
    cells = _cells(town, pts)
    order = np.lexsort((np.round([c.centroid.x for c in cells]), -np.round([c.centroid.y for c in cells], -2)))
    cells = [cells[i] for i in order]
    codes = [f"{code0}{i + 1:03d}" if kind == "居委会" else f"{code0}{200 + i + 1:03d}" for i in range(len(cells))]
    return gpd.GeoDataFrame({"village_code": codes, "name": [f"{name}{i + 1}{kind}" for i in range(len(cells))],
                             "kind": kind, "locked": False}, geometry=cells, crs=CRS)


def _cells(town, pts):
    vor = shapely.voronoi_polygons(shapely.multipoints(pts), extend_to=town.buffer(100))
    parts = list(shapely.get_parts(vor))
    tree = shapely.STRtree(parts)
    out = []
    for p in pts:
        i = tree.query(shapely.Point(p), predicate="intersects")[0]
        c = shapely.intersection(parts[i], town)
        out.append(max(shapely.get_parts(c), key=lambda g: g.area) if c.geom_type != "Polygon" else c)
    # give the slivers lost by max() back through a coverage: cells cover town exactly
    left = shapely.difference(town, shapely.union_all(out))
    for g in shapely.get_parts(left):
        if g.area <= 0:
            continue
        j = max(range(len(out)), key=lambda k: shapely.length(shapely.intersection(out[k].boundary, g.boundary)))
        out[j] = shapely.union(out[j], g)
    return out


def layers(town, villages, *, bx, by, hw, hh, angle, floors, dwellings, population, use, roads, water,
           source) -> dict[str, gpd.GeoDataFrame]:
    """Project layers from building centres/half sizes/rotation and road/water lists."""
    n = len(bx)
    hw, hh, angle = (np.broadcast_to(np.asarray(v, dtype=float), (n,)) for v in (hw, hh, angle))
    corner = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1], [-1, -1]], dtype=float)
    lx = corner[None, :, 0] * hw[:, None]
    ly = corner[None, :, 1] * hh[:, None]
    c, s = np.cos(angle)[:, None], np.sin(angle)[:, None]
    coords = np.stack([np.asarray(bx)[:, None] + c * lx - s * ly, np.asarray(by)[:, None] + s * lx + c * ly], axis=-1)
    geoms = shapely.polygons(coords)
    vtree = shapely.STRtree(villages.geometry.values)
    pi, vi = vtree.query(shapely.points(bx, by), predicate="within")
    vidx = np.full(n, -1)
    vidx[pi] = vi
    keep = vidx >= 0
    b = gpd.GeoDataFrame({
        "building_id": [f"b{i:07d}" for i in range(n)],
        "village_code": villages["village_code"].to_numpy()[np.maximum(vidx, 0)],
        "name": "", "address": "", "use": use, "residential": np.asarray(use) == "住宅",
        "floors": floors, "height": np.asarray(floors, dtype=float) * 3.0, "dwellings": dwellings,
        "population": np.asarray(population, dtype=np.int64), "pop_method": "dwellings",
        "pop_guessed": False, "locked": False, "area_code": "", "source": source}, geometry=geoms, crs=CRS)
    b = b[keep].reset_index(drop=True)
    r = gpd.GeoDataFrame({"road_id": [f"r{i}" for i in range(len(roads))],
                          "name": [x[1] for x in roads], "road_class": [x[2] for x in roads]},
                         geometry=[x[0] for x in roads], crs=CRS)
    r = r.clip(town.buffer(1)).reset_index(drop=True)
    w = gpd.GeoDataFrame({"feature_id": [f"w{i}" for i in range(len(water))], "name": [x[1] for x in water],
                          "water_kind": [x[2] for x in water]},
                         geometry=[shapely.intersection(x[0], town) for x in water], crs=CRS)
    empty = gpd.GeoDataFrame({"feature_id": pd.Series([], dtype=object), "name": pd.Series([], dtype=object)},
                             geometry=gpd.GeoSeries([], crs=CRS), crs=CRS)
    township = gpd.GeoDataFrame({"code": [villages["village_code"].iat[0][:9]], "name": ["合成街道"]},
                                geometry=[town], crs=CRS)
    return {S.LAYER_TOWNSHIP: township, S.LAYER_VILLAGES: villages, S.LAYER_BUILDINGS: b,
            S.LAYER_ROADS: r, S.LAYER_RAILWAYS: empty, S.LAYER_WATER: w, S.LAYER_WALLS: empty.copy()}


def free_of(px, py, barriers: list, clearance: np.ndarray | float):
    """Mask of the points at least ``clearance`` from every barrier geometry."""
    u = shapely.union_all([shapely.buffer(g, 0.01) for g in barriers]) if barriers else shapely.Polygon()
    d = shapely.distance(u, shapely.points(px, py)) if not u.is_empty else np.full(len(px), np.inf)
    return d >= clearance

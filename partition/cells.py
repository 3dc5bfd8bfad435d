"""Cells: each 居/村 cut into blocks by barriers, then tessellated around buildings.

Blocks are the faces of the 居/村 boundary noded with the roads, water outlines,
railways and walls inside it (water polygons are land to be tiled too). Each block
is cut into Voronoi cells around its buildings' representative points; blocks with
no building become empty cells. Buildings above the band are cut vertically
(纵向切割) into parts whose cells are parallel strips of the building's cell.
The cells of a 居/村 tile it exactly.
"""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

__all__ = ["BARRIER_RANK", "barrier_lines", "village_blocks", "village_cells", "cut_plan"]

#: crossing cost rank of each barrier class
BARRIER_RANK = {"none": 0, "path": 1, "minor": 1, "wall": 1, "major": 3, "railway": 4, "river": 5}


def barrier_lines(roads=None, railways=None, water=None, walls=None, *, crs=None) -> gpd.GeoDataFrame:
    """One line layer of barriers with columns ``barrier`` (class) and ``name``."""
    parts = []
    if roads is not None and len(roads):
        r = roads[roads["road_class"].isin(["major", "minor"])]
        parts.append(pd.DataFrame({"barrier": r["road_class"].astype(str), "name": r["name"].fillna("").astype(str),
                                   "geometry": r.geometry.values}))
    if railways is not None and len(railways):
        parts.append(pd.DataFrame({"barrier": "railway", "name": railways["name"].fillna("").astype(str),
                                   "geometry": railways.geometry.values}))
    if walls is not None and len(walls):
        parts.append(pd.DataFrame({"barrier": "wall", "name": walls["name"].fillna("").astype(str),
                                   "geometry": walls.geometry.values}))
    if water is not None and len(water):
        g = water.geometry.values
        poly = shapely.get_type_id(g) >= 3
        g = np.where(poly, shapely.boundary(g), g)
        parts.append(pd.DataFrame({"barrier": "river", "name": water["name"].fillna("").astype(str),
                                   "geometry": g}))
    if not parts:
        return gpd.GeoDataFrame({"barrier": [], "name": []}, geometry=[], crs=crs)
    df = pd.concat(parts, ignore_index=True)
    df = df[~shapely.is_empty(df["geometry"].values) & df["geometry"].notna()]
    return gpd.GeoDataFrame(df, geometry="geometry", crs=crs).reset_index(drop=True)


def village_blocks(polygon, barriers: gpd.GeoDataFrame) -> list:
    """Faces of ``polygon`` cut by the barrier lines (they tile ``polygon``)."""
    polygon = shapely.make_valid(polygon)
    lines = [shapely.boundary(polygon)]
    if len(barriers):
        tree = shapely.STRtree(barriers.geometry.values)
        idx = tree.query(polygon, predicate="intersects")
        if len(idx):
            clipped = shapely.intersection(barriers.geometry.values[idx], polygon)
            lines.extend(list(clipped))
    noded = shapely.union_all(lines)
    faces = list(shapely.get_parts(shapely.polygonize(list(shapely.get_parts(noded)))))
    faces = [f for f in faces if f.area > 0 and polygon.contains(f.representative_point())]
    covered = shapely.union_all(faces) if faces else shapely.Polygon()
    rest = shapely.difference(polygon, covered)
    for p in shapely.get_parts(rest):
        if p.area > 0.01:
            faces.append(p)
    if not faces:
        faces = list(shapely.get_parts(polygon))
    return faces


def cut_plan(population: float, floors: float, dwellings: float, *, target: int = 300,
             vmax: int = 360, vmin: int = 240) -> tuple[int, str]:
    """How many parts a building is cut into and by what ("floor" | "unit" | "" | "none")."""
    if population <= vmax:
        return 1, ""
    n = max(2, round(population / target))
    while population / n > vmax:
        n += 1
    while n > 2 and population / (n - 1) <= vmax and population / n < vmin:
        n -= 1
    if isinstance(floors, (int, float)) and not math.isnan(floors) and floors >= n:
        return n, "floor"
    if isinstance(dwellings, (int, float)) and not math.isnan(dwellings) and dwellings >= n:
        return n, "unit"
    return 1, "none"


def _strips(cell, n: int) -> list:
    x0, y0, x1, y1 = cell.bounds
    horiz = (x1 - x0) >= (y1 - y0)
    out = []
    for i in range(n):
        if horiz:
            b = shapely.box(x0 + (x1 - x0) * i / n, y0 - 1, x0 + (x1 - x0) * (i + 1) / n, y1 + 1)
            if i == 0:
                b = shapely.box(x0 - 1, y0 - 1, x0 + (x1 - x0) / n, y1 + 1)
            if i == n - 1:
                b = shapely.box(x0 + (x1 - x0) * i / n, y0 - 1, x1 + 1, y1 + 1)
        else:
            b = shapely.box(x0 - 1, y0 + (y1 - y0) * i / n, x1 + 1, y0 + (y1 - y0) * (i + 1) / n)
            if i == 0:
                b = shapely.box(x0 - 1, y0 - 1, x1 + 1, y0 + (y1 - y0) / n)
            if i == n - 1:
                b = shapely.box(x0 - 1, y0 + (y1 - y0) * i / n, x1 + 1, y1 + 1)
        out.append(shapely.intersection(cell, b))
    return out


def _split_range(total: int, n: int) -> list[tuple[int, int]]:
    edges = [round(total * i / n) for i in range(n + 1)]
    return [(edges[i] + 1, edges[i + 1]) for i in range(n)]


def _share(total: int, units: int, ranges: list[tuple[int, int]]) -> list[int]:
    """Integer shares of ``total`` proportional to each unit range (summing to ``total``)."""
    return [round(total * e / units) - round(total * (s - 1) / units) for s, e in ranges]


def _cut_ranges(pop: int, units: int, n: int, *, target: int, vmin: int, vmax: int
                ) -> list[tuple[int, int]]:
    """Floor/unit ranges of the parts of a building cut vertically.

    Equal parts when they land within ±10% of ``target``; otherwise parts of about
    ``target`` people plus one remainder part (joined with neighbouring buildings by
    the solver), as long as every part holds at least one floor/unit.
    """
    equal = _split_range(units, n)
    if abs(pop / n - target) <= 0.1 * target:
        return equal
    per_unit = pop / units
    size = max(1, round(target / per_unit))
    m = pop // target
    if m < 1 or m * size >= units:
        return equal
    edges = [min(units, i * size) for i in range(m + 1)]
    if edges[-1] < units:
        edges.append(units)
    out = [(edges[i] + 1, edges[i + 1]) for i in range(len(edges) - 1) if edges[i + 1] > edges[i]]
    if any(p > vmax for p in _share(pop, units, out)):
        return equal
    return out


def village_cells(polygon, buildings: gpd.GeoDataFrame, barriers: gpd.GeoDataFrame, *,
                  target: int = 300, vmin: int = 240, vmax: int = 360) -> tuple[gpd.GeoDataFrame, list[dict]]:
    """Cells tiling ``polygon``; one per building (or building part), plus empty cells.

    Returns the cells (columns node, building_id, part, floor_from, floor_to, unit_from,
    unit_to, population, dwellings, block, geometry) and problem dicts.
    """
    problems: list[dict] = []
    blocks = village_blocks(polygon, barriers)
    crs = buildings.crs
    b = buildings.sort_values("building_id").reset_index(drop=True)
    rp = shapely.point_on_surface(b.geometry.values) if len(b) else np.array([])
    if len(b):
        inside = shapely.intersects(polygon, rp)
        rp = np.where(inside, rp, shapely.point_on_surface(shapely.intersection(polygon, polygon)))
    btree = shapely.STRtree(blocks)
    block_of = np.zeros(len(b), dtype=int)
    if len(b):
        near = btree.nearest(rp)
        block_of = np.asarray(near, dtype=int)
    rows = []
    for bi, block in enumerate(blocks):
        idx = np.where(block_of == bi)[0]
        if len(idx) == 0:
            rows.append((None, block, bi))
            continue
        if len(idx) == 1:
            rows.append((idx[0], block, bi))
            continue
        x = shapely.get_x(rp[idx]).copy()
        y = shapely.get_y(rp[idx]).copy()
        # de-duplicate coincident points deterministically
        xy = np.round(np.column_stack([x, y]), 2)
        _, inv, cnt = np.unique(xy, axis=0, return_inverse=True, return_counts=True)
        dup = cnt[inv] > 1
        if dup.any():
            k = np.arange(len(idx))[dup]
            x[k] += 0.05 * (k % 7 + 1)
            y[k] += 0.037 * (k % 5 + 1)
        mp = shapely.multipoints(np.column_stack([x, y]))
        vor = shapely.get_parts(shapely.voronoi_polygons(mp, extend_to=block, ordered=True))
        clipped = shapely.intersection(vor, block)
        for j, i in enumerate(idx):
            g = clipped[j]
            parts = shapely.get_parts(g)
            parts = [p for p in parts if shapely.get_type_id(p) == 3 and p.area > 0]
            if not parts:
                rows.append((i, shapely.Polygon(), bi))
                continue
            pt = shapely.points(x[j], y[j])
            main = min(range(len(parts)), key=lambda k: (parts[k].distance(pt), -parts[k].area))
            rows.append((i, parts[main], bi))
            for k, p in enumerate(parts):
                if k != main:
                    rows.append((None, p, bi))
    # leftover slivers (rounding) join as empty cells
    recs = []
    for i, g, bi in rows:
        if i is None:
            recs.append(dict(building_id=None, part=0, floor_from=np.nan, floor_to=np.nan, unit_from=np.nan,
                             unit_to=np.nan, population=0, dwellings=0.0, block=bi, geometry=g))
            continue
        r = b.iloc[i]
        pop = int(r["population"])
        fl = float(r["floors"]) if pd.notna(r["floors"]) else float("nan")
        dw = float(r["dwellings"]) if pd.notna(r["dwellings"]) else float("nan")
        n, how = cut_plan(pop, fl, dw, target=target, vmax=vmax, vmin=vmin)
        if how == "none":
            problems.append(dict(severity="error", code="building_too_big", layer="buildings",
                                 feature_ids=str(r["building_id"]),
                                 message=(f"building {r['building_id']} holds {pop} people and has no "
                                          f"floor or unit data to cut it"), geometry=r.geometry))
        if n == 1:
            recs.append(dict(building_id=str(r["building_id"]), part=0, floor_from=np.nan, floor_to=np.nan,
                             unit_from=np.nan, unit_to=np.nan, population=pop,
                             dwellings=0.0 if math.isnan(dw) else dw, block=bi, geometry=g))
            continue
        units = int(fl if how == "floor" else dw)
        ranges = _cut_ranges(pop, units, n, target=target, vmin=vmin, vmax=vmax)
        n = len(ranges)
        pops = _share(pop, units, ranges)
        dws = [0.0] * n if math.isnan(dw) else [float(v) for v in _share(int(dw), units, ranges)]
        strips = _strips(g, n) if not g.is_empty else [shapely.Polygon()] * n
        for k in range(n):
            f0, f1 = ranges[k]
            recs.append(dict(building_id=str(r["building_id"]), part=k + 1,
                             floor_from=float(f0) if how == "floor" else np.nan,
                             floor_to=float(f1) if how == "floor" else np.nan,
                             unit_from=float(f0) if how == "unit" else np.nan,
                             unit_to=float(f1) if how == "unit" else np.nan,
                             population=pops[k], dwellings=dws[k], block=bi, geometry=strips[k]))
    cells = gpd.GeoDataFrame(recs, geometry="geometry", crs=crs)
    cells["node"] = np.arange(len(cells))
    return cells, problems

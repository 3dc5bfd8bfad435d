"""Cells: each 居/村 cut into blocks by barriers, then tessellated around buildings.

Blocks are the faces of the 居/村 boundary noded with the roads, water outlines,
railways and walls inside it (water polygons are land to be tiled too). Inside the
blocks every building first owns its footprint (overlapping outlines: the smaller
building keeps the overlap), then the empty land is shared out by the Voronoi
regions of points along the footprints (an enclosed tessellation, as momepy does
it). Buildings above the band are cut vertically (纵向切割) into parts whose cells
are parallel strips of the building's cell, each holding a share of its footprint.

All lines (居/村 boundary, barriers, footprints, Voronoi edges, cut lines) are noded
once on a 0.01 mm grid and polygonized: the faces share their edges exactly, so the
cells tile the 居/村 with no overlap and no gap, and each cell is one polygon.
"""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

__all__ = ["BARRIER_RANK", "GRID", "barrier_lines", "village_blocks", "village_cells", "cut_plan"]

#: crossing cost rank of each barrier class
BARRIER_RANK = {"none": 0, "path": 1, "minor": 1, "wall": 1, "major": 3, "railway": 4, "river": 5}

#: precision grid of cells and area polygons (CRS units: 0.01 mm in a metric CRS)
GRID = 1e-5


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


def _grid_size(polygon) -> float:
    """Precision grid of the tessellation: 0.01 mm, finer for small or degree coordinates."""
    x0, y0, x1, y1 = polygon.bounds
    extent = max(x1 - x0, y1 - y0, 1e-9)
    # a power of ten: GEOS snap-rounds reliably only on a grid with an integral scale
    return min(GRID, 10.0 ** math.floor(math.log10(extent * 1e-6)))


def _unit(polygon) -> float:
    """One metre in a metric CRS; a hundredth of the extent for a tiny (e.g. degree) one."""
    x0, y0, x1, y1 = polygon.bounds
    return min(1.0, max(x1 - x0, y1 - y0, 1e-9) / 100.0)


def _polygonal(g, grid: float | None = None):
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


def _faces(region, lines: list, grid: float) -> list:
    """Faces of ``region`` cut by ``lines``: the polygons of one snap-rounded noding.

    All lines are noded together on the ``grid``, so the faces share their edges
    exactly and tile ``region`` (whose boundary is part of the linework).
    """
    lines = [ln for ln in lines if ln is not None and not shapely.is_empty(ln)]
    noded = shapely.union_all(np.asarray([shapely.boundary(region)] + lines, dtype=object), grid_size=grid)
    faces = shapely.get_parts(shapely.polygonize(shapely.get_parts(noded)))
    faces = faces[shapely.area(faces) > 0]
    if len(faces):
        faces = faces[shapely.intersects(region, shapely.point_on_surface(faces))]
    return list(faces)


def village_blocks(polygon, barriers: gpd.GeoDataFrame, *, grid: float | None = None) -> list:
    """Faces of ``polygon`` cut by the barrier lines (they tile ``polygon``)."""
    grid = grid or _grid_size(polygon)
    polygon = _polygonal(polygon, grid)
    if polygon.is_empty:
        return []
    faces = _faces(polygon, _barrier_clip(polygon, barriers, grid), grid)
    return faces or list(shapely.get_parts(polygon))


def _barrier_clip(polygon, barriers, grid: float) -> list:
    if barriers is None or not len(barriers):
        return []
    geoms = barriers.geometry.values
    geoms = geoms[~(shapely.is_missing(geoms) | shapely.is_empty(geoms))]
    if not len(geoms):
        return []
    tree = shapely.STRtree(geoms)
    idx = np.sort(tree.query(polygon, predicate="intersects"))
    if not len(idx):
        return []
    lines = geoms[idx]
    bad = ~shapely.is_valid(lines)
    if bad.any():
        lines = lines.copy()
        lines[bad] = shapely.make_valid(lines[bad])
    clipped = shapely.intersection(lines, polygon, grid_size=grid)
    return [g for g in _lines_of(clipped) if shapely.get_type_id(g) == 1]


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


def _lines_of(geoms) -> list:
    """The line parts (LineString/LinearRing) of ``geoms``."""
    out = []
    for g in geoms:
        if g is None or shapely.is_empty(g):
            continue
        for p in shapely.get_parts(g):
            t = shapely.get_type_id(p)
            if t in (1, 2):
                out.append(p)
            elif t in (3, 6):
                out.extend(_lines_of([shapely.boundary(p)]))
            elif t == 5:
                out.extend(shapely.get_parts(p))
    return out


def _claims(polygon, footprints, seeds_fallback, grid: float) -> list:
    """Non-overlapping footprints inside ``polygon``: smaller buildings first.

    A building whose footprint is wholly covered by others (a duplicate outline, a
    building part) or lies outside the 居/村 gets a small square at its point, so
    every building owns some ground.
    """
    n = len(footprints)
    fp = [_polygonal(f) for f in footprints]
    arr = np.asarray(fp, dtype=object)
    inside = shapely.contains_properly(polygon, arr)
    out = ~inside & ~shapely.is_empty(arr)
    arr[inside] = shapely.set_precision(arr[inside], grid)
    if out.any():
        arr[out] = shapely.intersection(arr[out], polygon, grid_size=grid)
    fp = [_polygonal(g) for g in arr]
    area = np.array([g.area for g in fp])
    order = sorted(range(n), key=lambda i: (area[i], i))
    claims = [shapely.Polygon()] * n
    tree = shapely.STRtree(np.asarray(fp, dtype=object))
    done = np.zeros(n, dtype=bool)
    for i in order:
        g = fp[i]
        if g.is_empty:
            continue
        cand = [j for j in tree.query(g, predicate="intersects") if done[j] and not claims[j].is_empty]
        if cand:
            g = _polygonal(shapely.difference(g, shapely.union_all([claims[j] for j in sorted(cand)]),
                                              grid_size=grid), grid)
        claims[i] = g
        done[i] = True
    # two outlines overlapping in part (neither inside the other): split the overlap at
    # the bisector of their own parts, as long as the smaller keeps half its footprint
    for j in range(n):
        if fp[j].is_empty or claims[j].is_empty or claims[j].area >= 0.5 * fp[j].area:
            continue
        for i in sorted(int(k) for k in tree.query(fp[j], predicate="intersects")):
            if i == j or claims[i].is_empty or claims[j].area >= 0.5 * fp[j].area:
                continue
            o = _polygonal(shapely.intersection(claims[i], fp[j], grid_size=grid), grid)
            if o.area <= 0:
                continue
            ei = _polygonal(shapely.difference(claims[i], fp[j], grid_size=grid), grid)
            if ei.is_empty:
                continue
            ci = np.array(shapely.get_coordinates(shapely.centroid(ei))[0])
            cj = np.array(shapely.get_coordinates(shapely.centroid(claims[j]))[0])
            d = cj - ci
            if not np.hypot(*d):
                continue
            u = d / np.hypot(*d)
            v = np.array([-u[1], u[0]])
            m = (ci + cj) / 2
            x0, y0, x1, y1 = fp[j].bounds
            r = 4 * max(x1 - x0, y1 - y0, 1.0)
            half_j = shapely.Polygon([m + v * r, m + v * r + u * r, m - v * r + u * r, m - v * r])
            give = _polygonal(shapely.intersection(o, half_j, grid_size=grid), grid)
            if give.is_empty or (claims[i].area - give.area) < 0.5 * fp[i].area:
                continue
            claims[i] = _polygonal(shapely.difference(claims[i], give, grid_size=grid), grid)
            claims[j] = _polygonal(shapely.union(claims[j], give, grid_size=grid), grid)
    # buildings left without ground: a small square at their point
    half = 0.5 * _unit(polygon)  # 0.5 m in a metric CRS
    placed: list = []
    for i in range(n):
        if not claims[i].is_empty and claims[i].area > (2 * half) ** 2 * 0.01:
            continue
        base = fp[i] if not fp[i].is_empty else shapely.Polygon()
        p = shapely.point_on_surface(base) if not base.is_empty else seeds_fallback[i]
        if not shapely.intersects(polygon, p):
            p = shapely.point_on_surface(polygon)
        sq = shapely.Polygon()
        for k in range(12):
            q = shapely.points(shapely.get_x(p) + 3 * half * (k % 4), shapely.get_y(p) + 3 * half * (k // 4))
            sq = _polygonal(shapely.intersection(shapely.buffer(q, half, cap_style="square"), polygon,
                                                 grid_size=grid), grid)
            for s in placed:
                sq = _polygonal(shapely.difference(sq, s, grid_size=grid), grid)
            if sq.area > (2 * half) ** 2 * 0.25:
                break
        if sq.is_empty:
            continue
        placed.append(sq)
        for j in tree.query(sq, predicate="intersects"):
            if j != i and not claims[j].is_empty:
                claims[j] = _polygonal(shapely.difference(claims[j], sq, grid_size=grid), grid)
        claims[i] = _polygonal(shapely.union(claims[i], sq, grid_size=grid), grid)
    return claims


def _seed_points(piece, grid: float, unit: float = 1.0) -> np.ndarray:
    """Points along the boundary of a claimed footprint piece (and one inside it)."""
    perim = piece.length
    step = max(perim / 12.0, 2.0 * unit)  # at least 2 m apart in a metric CRS
    ring = shapely.segmentize(shapely.boundary(piece), step)
    xy = shapely.get_coordinates(ring)
    inner = shapely.get_coordinates(shapely.point_on_surface(piece))
    return np.vstack([xy, inner]) if len(xy) else inner


def _block_voronoi(block, seeds: list[tuple[int, np.ndarray]], grid: float):
    """Seeds of the buildings in ``block`` and the Voronoi edges between different buildings.

    Returns (points xy, labels, lines). A face of the final arrangement belongs to the
    building of its nearest seed, so only edges separating two buildings are drawn.
    """
    xy = np.vstack([pts for _, pts in seeds])
    lab = np.concatenate([np.full(len(pts), k) for k, pts in seeds])
    key = np.round(xy / grid).astype(np.int64)
    _, first, inv = np.unique(key, axis=0, return_index=True, return_inverse=True)
    inv = inv.ravel()
    # a point shared by two buildings (a party wall) seeds neither
    lo = np.full(len(first), np.iinfo(np.int64).max)
    hi = np.full(len(first), np.iinfo(np.int64).min)
    np.minimum.at(lo, inv, lab)
    np.maximum.at(hi, inv, lab)
    keep_u = np.flatnonzero(lo == hi)
    pts_xy = key[first[keep_u]] * grid if len(keep_u) else np.zeros((0, 2))
    pts_lab = lo[keep_u].astype(int)
    present = set(pts_lab.tolist())
    for k, pts in seeds:  # every building keeps at least one seed (its inner point)
        if k not in present:
            pts_xy = np.vstack([pts_xy, pts[-1:] + grid * (1 + len(pts_xy) % 7)])
            pts_lab = np.append(pts_lab, k)
            present.add(k)
    if len(set(pts_lab.tolist())) < 2:
        return pts_xy, pts_lab, []
    from scipy.spatial import QhullError, Voronoi

    # four far corners close every Voronoi region of a real seed (label -1)
    x0, y0, x1, y1 = block.bounds
    d = 4.0 * max(x1 - x0, y1 - y0, grid * 1000)
    far = np.array([[x0 - d, y0 - d], [x1 + d, y0 - d], [x1 + d, y1 + d], [x0 - d, y1 + d]])
    origin = np.array([x0, y0])  # Qhull works near the origin (projected metres are large)
    allp = np.vstack([pts_xy, far]) - origin
    alll = np.concatenate([pts_lab, np.full(4, -1)])
    try:
        vor = Voronoi(allp)
    except QhullError:
        vor = Voronoi(allp, qhull_options="Qbb Qc Qz QJ")
    rp = np.asarray(vor.ridge_points)
    rv = np.asarray(vor.ridge_vertices, dtype=np.int64).reshape(-1, 2)  # 2-D: two per ridge
    # ridge_points says exactly which two seeds an edge separates (a k-nearest query
    # cannot, where four seeds are nearly on one circle)
    la, lb = alll[rp[:, 0]], alll[rp[:, 1]]
    keep = (rv[:, 0] >= 0) & (rv[:, 1] >= 0) & (la != lb) & (la >= 0) & (lb >= 0)
    if not keep.any():
        return pts_xy, pts_lab, []
    vv = np.asarray(vor.vertices) + origin
    ends = np.stack([vv[rv[keep, 0]], vv[rv[keep, 1]]], axis=1)
    ends = ends[np.abs(ends[:, 0] - ends[:, 1]).max(axis=1) > 0]
    if not len(ends):
        return pts_xy, pts_lab, []
    edges = shapely.linestrings(ends)
    inside = (shapely.contains_xy(block, ends[:, 0, 0], ends[:, 0, 1])
              & shapely.contains_xy(block, ends[:, 1, 0], ends[:, 1, 1]))
    out = list(edges[inside])
    cross = edges[~inside]
    if len(cross):
        try:  # floating clip: a snapped end would no longer meet the unclipped edges
            clipped = shapely.intersection(cross, block)
        except shapely.errors.GEOSException:
            clipped = cross
        out += [g for g in _lines_of(clipped) if shapely.get_type_id(g) == 1]
    return pts_xy, pts_lab, out


def _cut_positions(piece, n: int) -> tuple[int, np.ndarray]:
    """Axis (0 = x, 1 = y) and n-1 cut positions splitting ``piece`` into n strips of equal area."""
    x0, y0, x1, y1 = piece.bounds
    axis = 0 if (x1 - x0) >= (y1 - y0) else 1
    lo, hi = (x0, x1) if axis == 0 else (y0, y1)
    total = piece.area
    cuts = []
    for k in range(1, n):
        want = total * k / n
        a, b = lo, hi
        for _ in range(24):  # bisection on the area left of the cut
            m = (a + b) / 2
            box = (shapely.box(lo - 1, y0 - 1, m, y1 + 1) if axis == 0 else shapely.box(x0 - 1, lo - 1, x1 + 1, m))
            if shapely.intersection(piece, box).area < want:
                a = m
            else:
                b = m
        cuts.append((a + b) / 2)
    return axis, np.array(cuts)


def _tessellate(polygon, blocks: list, claims: list, seeds_fallback, cuts: dict, grid: float):
    """Label every face of the village's arrangement with a building (and strip) or block.

    Returns a list of (key, geometry) with key = (building index or -1, strip, block).
    """
    btree = shapely.STRtree(np.asarray(blocks, dtype=object))
    n = len(claims)
    carr = np.asarray(claims, dtype=object)
    nonempty = np.array([not c.is_empty for c in claims], dtype=bool)
    # claim pieces and seeds per block
    seeds_by_block: dict[int, list] = {}
    if nonempty.any():
        ci = np.where(nonempty)[0]
        bi, cj = btree.query(carr[ci], predicate="intersects")[::-1]
        whole = shapely.contains_properly(np.asarray(blocks, dtype=object)[bi], carr[ci[cj]])
        for b, j, w in sorted(zip(bi.tolist(), ci[cj].tolist(), whole.tolist())):
            piece = claims[j] if w else _polygonal(shapely.intersection(claims[j], blocks[b], grid_size=grid), grid)
            for p in shapely.get_parts(piece):
                if p.area > 0:
                    seeds_by_block.setdefault(b, []).append((j, _seed_points(p, grid, _unit(polygon))))
    for j in range(n):
        if not nonempty[j]:
            p = seeds_fallback[j]
            b = int(btree.nearest(p))
            xy = shapely.get_coordinates(p)
            seeds_by_block.setdefault(b, []).append((j, xy))
    from scipy.spatial import cKDTree

    lines = _lines_of(blocks) + _lines_of([c for c in claims if not c.is_empty])
    voronoi: dict[int, tuple] = {}
    for b in sorted(seeds_by_block):
        pts, lab, vlines = _block_voronoi(blocks[b], seeds_by_block[b], grid)
        voronoi[b] = (cKDTree(pts), lab)
        lines += vlines
    # vertical cuts: lines across the building's ground and the blocks it has seeds in
    for j in sorted(cuts):
        axis, pos = cuts[j]
        ext = [claims[j]] + [blocks[b] for b in sorted(seeds_by_block)
                             if any(k == j for k, _ in seeds_by_block[b])]
        x0, y0, x1, y1 = shapely.total_bounds(np.asarray([e for e in ext if not e.is_empty], dtype=object))
        for c in pos:
            lines.append(shapely.LineString([(c, y0 - 1), (c, y1 + 1)]) if axis == 0
                         else shapely.LineString([(x0 - 1, c), (x1 + 1, c)]))
    faces = np.asarray(_faces(polygon, lines, grid), dtype=object)
    if not len(faces):
        return []
    rp = shapely.point_on_surface(faces)
    fblock = np.full(len(faces), -1)
    q, k = btree.query(rp, predicate="intersects")
    for a, b in zip(q[::-1], k[::-1]):
        fblock[a] = b
    miss = fblock < 0
    if miss.any():
        fblock[miss] = btree.nearest(rp[miss])
    owner = np.full(len(faces), -1)
    if nonempty.any():
        ci = np.where(nonempty)[0]
        ctree = shapely.STRtree(carr[ci])
        q, k = ctree.query(rp, predicate="intersects")
        for a, b in zip(q[::-1], k[::-1]):
            owner[a] = ci[b]
    free = np.where(owner < 0)[0]
    for b in sorted(set(fblock[free].tolist())):
        if b not in voronoi:
            continue
        sel = free[fblock[free] == b]
        tree, lab = voronoi[b]
        _, nn = tree.query(shapely.get_coordinates(rp[sel]))
        owner[sel] = lab[nn]
    out = []
    for f in range(len(faces)):
        j = int(owner[f])
        strip = 0
        if j >= 0 and j in cuts:
            axis, pos = cuts[j]
            v = shapely.get_x(rp[f]) if axis == 0 else shapely.get_y(rp[f])
            strip = int(np.searchsorted(pos, v)) + 1
        out.append(((j, strip, -1 if j >= 0 else int(fblock[f])), faces[f], int(fblock[f])))
    return out


def _main_part(geom, claim):
    """(main part, other parts): the part holding most of the building's ground."""
    parts = [p for p in shapely.get_parts(geom) if shapely.get_type_id(p) == 3 and p.area > 0]
    if len(parts) <= 1:
        return (parts[0] if parts else shapely.Polygon()), []
    if claim is not None and not claim.is_empty:
        own = shapely.area(shapely.intersection(np.asarray(parts, dtype=object), claim))
    else:
        own = np.zeros(len(parts))
    k = max(range(len(parts)), key=lambda i: (own[i], parts[i].area, -i))
    return parts[k], [p for i, p in enumerate(parts) if i != k]


def _merge_slivers(recs: list[dict], spare: list, *, min_area: float) -> list:
    """Join leftover pieces under ``min_area`` to the cell they share most edge with.

    Returns the spare pieces kept as empty cells; ``recs`` geometries are updated.
    """
    tiny = [g for g in spare if g.area < min_area]
    if not tiny:
        return spare
    keep = [g for g in spare if g.area >= min_area]
    geoms = [r["geometry"] for r in recs] + keep
    for t in sorted(tiny, key=lambda g: -g.area):
        arr = np.asarray(geoms, dtype=object)
        ok = ~shapely.is_empty(arr)
        cand = np.where(ok)[0]
        if not len(cand):
            keep.append(t)
            geoms.append(t)
            continue
        cand = cand[shapely.intersects(arr[cand], t)]
        shared = shapely.length(shapely.intersection(shapely.boundary(arr[cand]), shapely.boundary(t))) \
            if len(cand) else np.zeros(0)
        if not len(cand) or shared.max() <= 0:
            keep.append(t)
            geoms.append(t)
            continue
        k = int(cand[int(np.argmax(shared))])
        geoms[k] = _dissolve([geoms[k], t])
    for i, r in enumerate(recs):
        r["geometry"] = geoms[i]
    return geoms[len(recs):]


def _dissolve(fs):
    """Union of faces/cells of one exact coverage (fallback: snap-rounded union)."""
    from pucha.partition.polygons import dissolve

    return dissolve(fs)


def village_cells(polygon, buildings: gpd.GeoDataFrame, barriers: gpd.GeoDataFrame, *,
                  target: int = 300, vmin: int = 240, vmax: int = 360) -> tuple[gpd.GeoDataFrame, list[dict]]:
    """Cells tiling ``polygon``; one per building (or building part), plus empty cells.

    Returns the cells (columns node, building_id, part, floor_from, floor_to, unit_from,
    unit_to, population, dwellings, block, geometry) and problem dicts. Every cell is
    one polygon on the :data:`GRID`; together they tile ``polygon`` exactly.

    Invalid inputs are repaired (make_valid). Should GEOS fail on the 0.01 mm grid, or
    the cells not add up to the 居/村, the tessellation is redone on a 10x and then a
    100x coarser grid; a 居/村 that still does not tile is reported (``cells_tiling``).
    """
    base = _grid_size(polygon) if polygon is not None and not shapely.is_empty(polygon) else GRID
    err = ""
    for grid in (base, base * 10, base * 100):
        try:
            cells, problems = _village_cells(polygon, buildings, barriers, grid, target=target,
                                             vmin=vmin, vmax=vmax)
        except shapely.errors.GEOSException as exc:
            err = f"GEOS failed on the {grid:g} grid: {exc}"
            continue
        want = _polygonal(polygon, grid).area
        got = float(shapely.area(cells.geometry.values).sum())
        types = set(shapely.get_type_id(g) for g in cells.geometry.values if not shapely.is_empty(g))
        if abs(got - want) <= max(1e-7 * want, 100 * grid * grid / GRID) and types <= {3}:
            return cells, problems
        err = f"cells cover {got:.2f} of {want:.2f} (grid {grid:g})"
    if "cells" not in locals():
        raise shapely.errors.GEOSException(err)
    problems.append(dict(severity="warning", code="cells_tiling", layer="villages", feature_ids="",
                         message=f"the cells do not tile the 居/村 exactly: {err}", geometry=None))
    return cells, problems


def _village_cells(polygon, buildings, barriers, grid: float, *, target: int, vmin: int, vmax: int):
    problems: list[dict] = []
    crs = buildings.crs
    poly = _polygonal(polygon, grid)
    b = buildings.sort_values("building_id").reset_index(drop=True)
    if poly.is_empty:
        blocks = []
    else:
        blocks = village_blocks(poly, barriers, grid=grid)
    # one seed point per building for those with no ground of their own
    fallback = []
    inner = shapely.point_on_surface(poly) if not poly.is_empty else shapely.Point(0, 0)
    for k, g in enumerate(b.geometry.values):
        p = None
        if g is not None and not shapely.is_empty(g):
            p = shapely.point_on_surface(_polygonal(g)) if shapely.get_type_id(g) in (3, 6) else \
                shapely.point_on_surface(g)
        if p is None or shapely.is_empty(p) or not shapely.intersects(poly, p):
            p = shapely.points(shapely.get_x(inner) + grid * (k + 1), shapely.get_y(inner))
            if not shapely.intersects(poly, p):
                p = inner
        fallback.append(p)
    claims = _claims(poly, list(b.geometry.values), fallback, grid) if len(b) and blocks else []
    # vertical cuts (纵向切割)
    plans = []
    cuts: dict[int, tuple[int, np.ndarray]] = {}
    for i, r in enumerate(b.itertuples(index=False)):
        pop = int(r.population)
        fl = float(r.floors) if pd.notna(r.floors) else float("nan")
        dw = float(r.dwellings) if pd.notna(r.dwellings) else float("nan")
        n, how = cut_plan(pop, fl, dw, target=target, vmax=vmax, vmin=vmin)
        if how == "none":
            problems.append(dict(severity="error", code="building_too_big", layer="buildings",
                                 feature_ids=str(r.building_id),
                                 message=(f"building {r.building_id} holds {pop} people and has no "
                                          f"floor or unit data to cut it"), geometry=r.geometry))
        ranges: list[tuple[int, int]] = []
        if n > 1:
            units = int(fl if how == "floor" else dw)
            ranges = _cut_ranges(pop, units, n, target=target, vmin=vmin, vmax=vmax)
            if claims:
                piece, _ = _main_part(claims[i], claims[i])
                if piece.is_empty:
                    piece = shapely.buffer(fallback[i], 1.0)
                cuts[i] = _cut_positions(piece, len(ranges))
        plans.append((pop, fl, dw, how, ranges))
    faces = _tessellate(poly, blocks, claims, fallback, cuts, grid) if blocks else []
    groups: dict[tuple, list] = {}
    for key, f, _ in faces:
        groups.setdefault(key, []).append(f)
    btree = shapely.STRtree(np.asarray(blocks, dtype=object)) if blocks else None

    def block_of(g) -> int:
        if btree is None or g.is_empty:
            return 0
        return int(btree.nearest(shapely.point_on_surface(g)))

    dissolve = _dissolve

    spare: list = []
    recs = []
    for i, r in enumerate(b.itertuples(index=False)):
        pop, fl, dw, how, ranges = plans[i]
        claim = claims[i] if claims else None
        if not ranges:
            fs = groups.pop((i, 0, -1), [])
            g, rest = _main_part(dissolve(fs), claim) if fs else (shapely.Polygon(), [])
            spare += rest
            recs.append(dict(building_id=str(r.building_id), part=0, floor_from=np.nan, floor_to=np.nan,
                             unit_from=np.nan, unit_to=np.nan, population=pop,
                             dwellings=dw, block=block_of(g), geometry=g))  # NaN = unknown
            continue
        n = len(ranges)
        units = int(fl if how == "floor" else dw)
        pops = _share(pop, units, ranges)
        dws = [float("nan")] * n if math.isnan(dw) else [float(v) for v in _share(int(dw), units, ranges)]
        for k in range(n):
            fs = groups.pop((i, k + 1, -1), [])
            g, rest = _main_part(dissolve(fs), claim) if fs else (shapely.Polygon(), [])
            spare += rest
            f0, f1 = ranges[k]
            recs.append(dict(building_id=str(r.building_id), part=k + 1,
                             floor_from=float(f0) if how == "floor" else np.nan,
                             floor_to=float(f1) if how == "floor" else np.nan,
                             unit_from=float(f0) if how == "unit" else np.nan,
                             unit_to=float(f1) if how == "unit" else np.nan,
                             population=pops[k], dwellings=dws[k], block=block_of(g), geometry=g))
    for key in sorted(groups, key=lambda k: (k[2], k[0], k[1])):  # land of no building, leftovers
        spare += [p for p in shapely.get_parts(dissolve(groups[key])) if p.area > 0]
    if not blocks and poly is not None and not poly.is_empty:
        spare += list(shapely.get_parts(poly))
    spare = sorted(spare, key=lambda g: (block_of(g), round(shapely.get_x(shapely.point_on_surface(g)), 3),
                                         round(shapely.get_y(shapely.point_on_surface(g)), 3)))
    spare = _merge_slivers(recs, spare, min_area=_unit(poly) ** 2 if not poly.is_empty else 0.0)
    for g in spare:
        recs.append(dict(building_id=None, part=0, floor_from=np.nan, floor_to=np.nan, unit_from=np.nan,
                         unit_to=np.nan, population=0, dwellings=0.0, block=block_of(g), geometry=g))
    cols = ["building_id", "part", "floor_from", "floor_to", "unit_from", "unit_to", "population",
            "dwellings", "block", "geometry"]
    cells = gpd.GeoDataFrame(pd.DataFrame(recs, columns=cols), geometry="geometry", crs=crs)
    cells["node"] = np.arange(len(cells))
    return cells, problems

"""Cells: each 居/村 cut into blocks by barriers, then tessellated around buildings.

Blocks are the faces of the 居/村 boundary noded with the roads, water outlines,
railways and walls inside it (water polygons are land to be tiled too). Inside the
blocks every building first owns its footprint (overlapping outlines: the smaller
building keeps the overlap), then the empty land is shared out by the Voronoi
regions of points along the footprints (an enclosed tessellation, as momepy does
it). Buildings above the band are cut vertically (纵向切割) into pieces of about a
third of the target (floor or unit ranges) whose cells are wedges of the building's
cell around the centre of its footprint, each holding a share of the footprint and
of the land around it; the solver joins the pieces into areas.

All lines (居/村 boundary, barriers, footprints, Voronoi edges) are noded once on a
0.01 mm grid and polygonized, then the wedges' rays with the faces they cross: the
faces share their edges exactly, so the cells tile the 居/村 with no overlap and no
gap, and each cell is one polygon.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Collection
from typing import NamedTuple

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from pucha.partition.barriers import BARRIER_RANK, barrier_lines
from pucha.partition.shapes import as_objects as _objects
from pucha.partition.shapes import metric_unit as _unit
from pucha.partition.shapes import polygonal as _polygonal
from pucha.partition.shapes import polygonal_many as _polygonal_many

__all__ = ["BARRIER_RANK", "GRID", "barrier_lines", "village_blocks", "village_cells", "cut_plan"]

#: precision grid of cells and area polygons (CRS units: 0.01 mm in a metric CRS)
GRID = 1e-5


def _grid_size(polygon) -> float:
    """Precision grid of the tessellation: 0.01 mm, finer for small or degree coordinates."""
    x0, y0, x1, y1 = polygon.bounds
    extent = max(x1 - x0, y1 - y0, 1e-9)
    # a power of ten: GEOS snap-rounds reliably only on a grid with an integral scale
    return min(GRID, 10.0 ** math.floor(math.log10(extent * 1e-6)))


def _faces(region, lines, grid: float, *, merge: bool = False) -> list:
    """Faces of ``region`` cut by ``lines``: the polygons of one snap-rounded noding.

    All lines are noded together on the ``grid``, so the faces share their edges
    exactly and tile ``region`` (whose boundary is part of the linework). ``merge``
    joins the lines end to end first (the same segments in far fewer strings): GEOS's
    snap-rounding noder pays a fixed cost per input string (it seeds a random number
    generator for each), which dominated the noding of thousands of short Voronoi edges.
    """
    arr = np.empty(len(lines) + 1, dtype=object)
    arr[0] = shapely.boundary(region)
    arr[1:] = lines
    arr = arr[~(shapely.is_missing(arr) | shapely.is_empty(arr))]
    noded = None
    if merge:
        try:
            noded = shapely.union_all(shapely.line_merge(shapely.geometrycollections(arr)), grid_size=grid)
        except shapely.errors.GEOSException:
            noded = None
    if noded is None:
        noded = shapely.union_all(arr, grid_size=grid)
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
             vmax: int = 360, vmin: int = 240, force: bool = False) -> tuple[int, str]:
    """How many parts a building is cut into and by what ("floor" | "unit" | "" | "none").

    A building inside the band is cut only with ``force`` (the 居/村 has no plan inside
    the band without it), and only when its floors or units are known."""
    inside = population <= vmax
    if inside:
        if not (force and population > 1):
            return 1, ""
        n = 2
    else:
        n = max(2, round(population / target))
        while population / n > vmax:
            n += 1
        while n > 2 and population / (n - 1) <= vmax and population / n < vmin:
            n -= 1
    for units, how in ((floors, "floor"), (dwellings, "unit")):
        if isinstance(units, (int, float)) and not math.isnan(units) and units >= n:
            return n, how
    return 1, "" if inside else "none"


def _split_range(total: int, n: int) -> list[tuple[int, int]]:
    edges = [round(total * i / n) for i in range(n + 1)]
    return [(edges[i] + 1, edges[i + 1]) for i in range(n)]


def _share(total: int, units: int, ranges: list[tuple[int, int]]) -> list[int]:
    """Integer shares of ``total`` proportional to each unit range (summing to ``total``)."""
    return [round(total * e / units) - round(total * (s - 1) / units) for s, e in ranges]


#: a building cut vertically is cut into pieces of at most target / PIECES_PER_AREA people
PIECES_PER_AREA = 3


def _cut_ranges(pop: int, units: int, n: int, *, target: int) -> list[tuple[int, int]]:
    """Floor/unit ranges of the pieces of a building cut vertically.

    Pieces of about a third of the target (at least ``n``, the areas the building
    needs; at most one per floor/unit), equal in floors/units: the solver joins the
    pieces into areas, in a row, choosing where the building's areas meet (ranges in
    one area are joined again by :func:`pucha.partition.run.merge_parts`).
    """
    m = max(n, math.ceil(pop / max(1, target // PIECES_PER_AREA)))
    return _split_range(units, min(units, m))


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


def _claims(polygon, footprints, seeds_fallback, grid: float, *, repaired: bool = False) -> list:
    """Non-overlapping footprints inside ``polygon``: smaller buildings first.

    A building whose footprint is wholly covered by others (a duplicate outline, a
    building part) or lies outside the 居/村 gets a small square at its point, so
    every building owns some ground.
    """
    n = len(footprints)
    arr = _objects(footprints) if repaired else _polygonal_many(footprints)  # repaired: _polygonal
    inside = shapely.contains_properly(polygon, arr)
    out = ~inside & ~shapely.is_empty(arr)
    arr[inside] = shapely.set_precision(arr[inside], grid)
    if out.any():
        arr[out] = shapely.intersection(arr[out], polygon, grid_size=grid)
    fparr = _polygonal_many(arr)
    fp = list(fparr)
    fp_area = shapely.area(fparr)
    fp_empty = shapely.is_empty(fparr)
    order = np.argsort(fp_area, kind="stable")  # by (area, index)
    claims = [shapely.Polygon()] * n
    tree = shapely.STRtree(fparr)
    qi, qj = tree.query(fparr, predicate="intersects")
    other = qi != qj
    qi, qj = qi[other], qj[other]
    starts = np.searchsorted(qi, np.arange(n + 1))  # qi is sorted: the neighbours of i
    done = np.zeros(n, dtype=bool)
    for i in order.tolist():
        g = fp[i]
        if fp_empty[i]:
            continue
        cand = [j for j in qj[starts[i]:starts[i + 1]].tolist() if done[j] and not claims[j].is_empty]
        if cand:
            g = _polygonal(shapely.difference(g, shapely.union_all([claims[j] for j in sorted(cand)]),
                                              grid_size=grid), grid)
        claims[i] = g
        done[i] = True
    c_area = shapely.area(_objects(claims)).tolist()  # kept up to date below
    fp_area = fp_area.tolist()
    # two outlines overlapping in part (neither inside the other): split the overlap at
    # the bisector of their own parts, as long as the smaller keeps half its footprint
    for j in range(n):
        if fp_empty[j] or c_area[j] >= 0.5 * fp_area[j] or claims[j].is_empty:
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
            c_area[i], c_area[j] = claims[i].area, claims[j].area
    # buildings left without ground: a small square at their point
    half = 0.5 * _unit(polygon)  # 0.5 m in a metric CRS
    placed: list = []
    for i in range(n):
        if c_area[i] > (2 * half) ** 2 * 0.01:  # (an empty claim has no area)
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
                c_area[j] = claims[j].area
        claims[i] = _polygonal(shapely.union(claims[i], sq, grid_size=grid), grid)
        c_area[i] = claims[i].area
    return claims


def _seed_points_many(pieces: np.ndarray, unit: float = 1.0) -> list:
    """Seeds of each claimed footprint piece (polygons of positive area): points along
    its boundary, then one inside it (an array of xy per piece)."""
    if not len(pieces):
        return []
    step = np.maximum(shapely.length(pieces) / 12.0, 2.0 * unit)  # at least 2 m apart in a metric CRS
    xy, idx = shapely.get_coordinates(shapely.segmentize(shapely.boundary(pieces), step), return_index=True)
    inner = shapely.get_coordinates(shapely.point_on_surface(pieces))
    bounds = np.searchsorted(idx, np.arange(len(pieces) + 1))
    return [np.vstack([xy[bounds[k]:bounds[k + 1]], inner[k:k + 1]]) for k in range(len(pieces))]


def _block_voronoi(block, seeds: list[tuple[int, np.ndarray]], grid: float):
    """Seeds of the buildings in ``block`` and the Voronoi edges between different buildings.

    Returns (points xy, labels, edges): the edges as an (n, 2, 2) array of end points,
    to be clipped to the block by :func:`_voronoi_lines`. A face of the final
    arrangement belongs to the building of its nearest seed, so only edges separating
    two buildings are drawn.
    """
    none = np.zeros((0, 2, 2))
    xy = np.vstack([pts for _, pts in seeds])
    lab = np.concatenate([np.full(len(pts), k) for k, pts in seeds])
    key = np.round(xy / grid).astype(np.int64)
    # the distinct grid points (sorted by x, y), the first seed at each, and each seed's point
    order = np.lexsort((key[:, 1], key[:, 0]))
    ks = key[order]
    new = np.ones(len(ks), dtype=bool)
    new[1:] = (ks[1:] != ks[:-1]).any(axis=1)
    first = order[new]
    inv = np.empty(len(key), dtype=np.int64)
    inv[order] = np.cumsum(new) - 1
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
        return pts_xy, pts_lab, none
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
    rv = np.fromiter(itertools.chain.from_iterable(vor.ridge_vertices), dtype=np.int64,
                     count=2 * len(vor.ridge_vertices)).reshape(-1, 2)  # 2-D: two per ridge
    # ridge_points says exactly which two seeds an edge separates (a k-nearest query
    # cannot, where four seeds are nearly on one circle)
    la, lb = alll[rp[:, 0]], alll[rp[:, 1]]
    keep = (rv[:, 0] >= 0) & (rv[:, 1] >= 0) & (la != lb) & (la >= 0) & (lb >= 0)
    if not keep.any():
        return pts_xy, pts_lab, none
    vv = np.asarray(vor.vertices) + origin
    ends = np.stack([vv[rv[keep, 0]], vv[rv[keep, 1]]], axis=1)
    ends = ends[np.abs(ends[:, 0] - ends[:, 1]).max(axis=1) > 0]
    if not len(ends):
        return pts_xy, pts_lab, none
    return pts_xy, pts_lab, ends


def _voronoi_lines(blocks: np.ndarray, ends: list[np.ndarray]) -> np.ndarray:
    """The Voronoi edges (end points ``ends[k]`` per block ``k``) as lines inside their blocks.

    An edge with both ends in its block is kept whole; one that is not is clipped to
    the block in floating point (a snapped end would no longer meet the unclipped edges).
    """
    eb = np.repeat(np.arange(len(ends)), [len(e) for e in ends])
    if not len(eb):
        return np.zeros(0, dtype=object)
    ends = np.concatenate(ends)
    edges = shapely.linestrings(ends)
    shapely.prepare(blocks)  # point-in-polygon tests against each block (same answers, faster)
    blk = blocks[eb]
    inside = (shapely.contains_xy(blk, ends[:, 0, 0], ends[:, 0, 1])
              & shapely.contains_xy(blk, ends[:, 1, 0], ends[:, 1, 1]))
    cross = np.flatnonzero(~inside)
    if not len(cross):
        return edges
    try:
        clipped = shapely.intersection(edges[cross], blk[cross])
    except shapely.errors.GEOSException:  # block by block: a block that fails keeps its edges unclipped
        clipped = np.empty(len(cross), dtype=object)
        for k in np.unique(eb[cross]).tolist():
            sel = eb[cross] == k
            try:
                clipped[sel] = shapely.intersection(edges[cross[sel]], blocks[k])
            except shapely.errors.GEOSException:
                clipped[sel] = edges[cross[sel]]
    parts = shapely.get_parts(shapely.get_parts(clipped))  # also inside collections
    parts = parts[(shapely.get_type_id(parts) == 1) & ~shapely.is_empty(parts)]
    return np.concatenate([edges[inside], parts])


def _tessellate(polygon, blocks: list, claims: list, seeds_fallback, cuts: dict, grid: float):
    """Label every face of the village's arrangement with a building (and strip) or block.

    Returns (faces, owner, strip, block): per face the building index (-1 for land of
    no building), its strip (0 if the building is not cut) and the block it lies in.
    """
    barr = _objects(blocks)
    btree = shapely.STRtree(barr)
    n = len(claims)
    carr = _objects(claims)
    nonempty = ~shapely.is_empty(carr) if n else np.zeros(0, dtype=bool)
    unit = _unit(polygon)
    # claim pieces and seeds per block
    seeds_by_block: dict[int, list] = {}
    if nonempty.any():
        ci = np.where(nonempty)[0]
        bi, cj = btree.query(carr[ci], predicate="intersects")[::-1]
        cj = ci[cj]
        o = np.lexsort((cj, bi))
        bi, cj = bi[o], cj[o]
        whole = shapely.contains_properly(barr[bi], carr[cj])
        pieces = carr[cj].copy()
        cut = ~whole
        if cut.any():
            pieces[cut] = _polygonal_many(shapely.intersection(carr[cj[cut]], barr[bi[cut]], grid_size=grid), grid)
        parts, pi = shapely.get_parts(pieces, return_index=True)
        ok = shapely.area(parts) > 0
        parts, pi = parts[ok], pi[ok]
        for k, pts in zip(pi.tolist(), _seed_points_many(parts, unit)):
            seeds_by_block.setdefault(int(bi[k]), []).append((int(cj[k]), pts))
    empty = np.flatnonzero(~nonempty)
    if len(empty):
        fb = _objects(seeds_fallback)[empty]
        for j, b, xy in zip(empty.tolist(), btree.nearest(fb).tolist(), shapely.get_coordinates(fb)):
            seeds_by_block.setdefault(int(b), []).append((j, xy[None, :]))
    from scipy.spatial import cKDTree

    lines = [shapely.get_parts(shapely.boundary(shapely.get_parts(barr))),
             shapely.get_parts(shapely.boundary(shapely.get_parts(carr[nonempty])))]
    voronoi: dict[int, tuple] = {}
    vblocks, vends = [], []
    for b in sorted(seeds_by_block):
        pts, lab, ends = _block_voronoi(blocks[b], seeds_by_block[b], grid)
        voronoi[b] = (cKDTree(pts), lab)
        vblocks.append(b)
        vends.append(ends)
    lines.append(_voronoi_lines(barr[np.asarray(vblocks, dtype=int)], vends))
    faces = _objects(_faces(polygon, np.concatenate(lines), grid, merge=True))
    if not len(faces):
        return faces, np.zeros(0, dtype=int), np.zeros(0, dtype=int), np.zeros(0, dtype=int)
    rp = shapely.point_on_surface(faces)
    fblock = np.full(len(faces), -1)
    q, k = btree.query(rp, predicate="intersects")
    _, first = np.unique(q, return_index=True)  # the first block hit by each face
    fblock[q[first]] = k[first]
    miss = fblock < 0
    if miss.any():
        fblock[miss] = btree.nearest(rp[miss])
    owner = np.full(len(faces), -1)
    if nonempty.any():
        ci = np.where(nonempty)[0]
        ctree = shapely.STRtree(carr[ci])
        q, k = ctree.query(rp, predicate="intersects")
        _, first = np.unique(q, return_index=True)
        owner[q[first]] = ci[k[first]]
    free = np.where(owner < 0)[0]
    for b in sorted(set(fblock[free].tolist())):
        if b not in voronoi:
            continue
        sel = free[fblock[free] == b]
        tree, lab = voronoi[b]
        _, nn = tree.query(shapely.get_coordinates(rp[sel]))
        owner[sel] = lab[nn]
    if cuts:
        return _cut_cells(faces, owner, fblock, cuts, claims, grid)
    return faces, owner, np.zeros(len(faces), dtype=int), fblock


#: sample points across a cut building's cell, per side, to share it in equal wedges
WEDGE_SAMPLES = 64


def _wedges(cell, ground, n: int) -> tuple[float, float, np.ndarray]:
    """Apex (x, y) and the n ray angles (radians, increasing from north) that cut a
    building's ``cell`` into n wedges of about equal area around its ``ground``.

    The apex is the centre of the footprint, so every wedge holds a share of the
    building; the wedges reach out over the land around it, so a few of them make a
    compact area (parallel strips of a tower's cell were slivers, and the areas
    holding a few of them as thin). Equal areas come from the angles of a regular
    grid of points inside the cell (deterministic).
    """
    apex = shapely.centroid(ground) if ground is not None and not ground.is_empty else shapely.centroid(cell)
    if not shapely.contains(ground if ground is not None and not ground.is_empty else cell, apex):
        apex = shapely.point_on_surface(ground if ground is not None and not ground.is_empty else cell)
    cx, cy = apex.x, apex.y
    x0, y0, x1, y1 = cell.bounds
    gx, gy = np.meshgrid(np.linspace(x0, x1, WEDGE_SAMPLES), np.linspace(y0, y1, WEDGE_SAMPLES))
    gx, gy = gx.ravel(), gy.ravel()
    inside = shapely.contains_xy(cell, gx, gy)
    start = math.pi / 2
    ang = (np.arctan2(gy[inside] - cy, gx[inside] - cx) - start) % (2 * math.pi)
    if len(ang) < n:
        rays = np.arange(n) * (2 * math.pi / n)
    else:
        rays = np.concatenate([[0.0], np.quantile(np.sort(ang), np.arange(1, n) / n)])
        rays = np.maximum.accumulate(rays)
    return cx, cy, rays + start


def _cut_cells(faces, owner, fblock, cuts, claims, grid: float):
    """Cut the cell of each building cut vertically (纵向切割) into wedges (:func:`_wedges`).

    The faces crossed by a cut ray are noded again with the rays, so the coverage stays
    exact (the faces on the other side of the cell's border get the new vertices too).
    Returns (faces, owner, strip, fblock) as :func:`_tessellate`; strip k is wedge k.
    """
    chords, plans = [], {}
    for j in sorted(cuts):
        n, ground = cuts[j]
        sel = np.flatnonzero(owner == j)
        if not len(sel):
            continue
        cell, _ = _main_part(_dissolve_many([list(faces[sel])])[0] if len(sel) > 1 else faces[sel[0]],
                             claims[j])
        if cell.is_empty:
            continue
        cx, cy, rays = _wedges(cell, ground, n)
        plans[j] = (cx, cy, rays)
        x0, y0, x1, y1 = cell.bounds
        reach = math.hypot(max(x1 - cx, cx - x0), max(y1 - cy, cy - y0)) + 1.0
        for t in rays.tolist():
            chords.append(shapely.LineString([(cx, cy), (cx + reach * math.cos(t), cy + reach * math.sin(t))]))
    strip = np.zeros(len(faces), dtype=int)
    if chords:
        carr = _objects(chords)
        hit = np.unique(shapely.STRtree(faces).query(carr, predicate="intersects")[1])
        old = faces[hit]
        # noded exactly (no snap rounding: it could bend the edges these faces share
        # with faces not noded again); the faces' vertices are already on the grid
        noded = shapely.union_all(np.concatenate([shapely.boundary(old), carr]))
        new = shapely.get_parts(shapely.polygonize(shapely.get_parts(noded)))
        new = new[shapely.area(new) > 0]
        rp = shapely.point_on_surface(new)
        q, k = shapely.STRtree(old).query(rp, predicate="intersects")
        _, first = np.unique(q, return_index=True)
        src = np.full(len(new), -1)
        src[q[first]] = hit[k[first]]
        keep = np.flatnonzero(src >= 0)  # (faces of the linework outside the old ones: none of ours)
        rest = np.setdiff1d(np.arange(len(faces)), hit)
        faces = np.concatenate([faces[rest], new[keep]])
        owner = np.concatenate([owner[rest], owner[src[keep]]])
        fblock = np.concatenate([fblock[rest], fblock[src[keep]]])
        strip = np.zeros(len(faces), dtype=int)
    rxy = shapely.get_coordinates(shapely.point_on_surface(faces)) if plans else None
    for j, (cx, cy, rays) in plans.items():
        sel = np.flatnonzero(owner == j)
        ang = (np.arctan2(rxy[sel, 1] - cy, rxy[sel, 0] - cx) - rays[0]) % (2 * math.pi)
        strip[sel] = np.searchsorted(rays[1:] - rays[0], ang, side="right") + 1
    return faces, owner, strip, fblock


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


def _dissolve_many(groups: list[list]) -> list:
    """:func:`_dissolve` of each group of faces (see :func:`pucha.partition.polygons.dissolve_many`)."""
    from pucha.partition.polygons import dissolve_many

    return dissolve_many(groups)


def village_cells(polygon, buildings: gpd.GeoDataFrame, barriers: gpd.GeoDataFrame, *,
                  target: int = 300, vmin: int = 240, vmax: int = 360,
                  cut: Collection = (), fine: int = 2) -> tuple[gpd.GeoDataFrame, list[dict]]:
    """Cells tiling ``polygon``; one per building (or building part), plus empty cells.

    Buildings above the band are cut vertically into pieces of about a third of the
    target; the buildings in ``cut`` (ids) that have floor or unit data are cut into
    pieces ``fine`` times smaller (never thinner than one floor or unit), even those that
    fit the band.

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
                                             vmin=vmin, vmax=vmax, cut=cut, fine=fine)
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


class _Row(NamedTuple):
    building_id: object
    population: object
    floors: object
    dwellings: object
    geometry: object


def _village_cells(polygon, buildings, barriers, grid: float, *, target: int, vmin: int, vmax: int,
                   cut: Collection = (), fine: int = 2):
    problems: list[dict] = []
    crs = buildings.crs
    poly = _polygonal(polygon, grid)
    b = buildings.sort_values("building_id").reset_index(drop=True)
    if poly.is_empty:
        blocks = []
    else:
        blocks = village_blocks(poly, barriers, grid=grid)
    # one seed point per building for those with no ground of their own
    inner = shapely.point_on_surface(poly) if not poly.is_empty else shapely.Point(0, 0)
    garr = _objects(b.geometry.values)
    fallback = np.empty(len(garr), dtype=object)
    has = ~shapely.is_missing(garr)
    has[has] = ~shapely.is_empty(garr[has])
    fp = _polygonal_many(garr)  # the footprints repaired
    polyg = has & np.isin(shapely.get_type_id(garr), (3, 6))
    src = np.where(polyg, fp, garr)
    fallback[has] = shapely.point_on_surface(src[has])
    bad = ~has
    bad[has] = shapely.is_empty(fallback[has]) | ~shapely.intersects(poly, fallback[has])
    for k in np.flatnonzero(bad).tolist():
        p = shapely.points(shapely.get_x(inner) + grid * (k + 1), shapely.get_y(inner))
        if not shapely.intersects(poly, p):
            p = inner
        fallback[k] = p
    fallback = list(fallback)
    claims = _claims(poly, fp, fallback, grid, repaired=True) if len(b) and blocks else []
    # vertical cuts (纵向切割)
    plans = []
    cuts: dict[int, tuple[int, object]] = {}  # building -> (pieces, its ground)
    rows = [_Row(*r) for r in zip(b["building_id"].tolist(), b["population"].tolist(), b["floors"].tolist(),
                                  b["dwellings"].tolist(), garr)]
    for i, r in enumerate(rows):
        pop = int(r.population)
        fl = float(r.floors) if pd.notna(r.floors) else float("nan")
        dw = float(r.dwellings) if pd.notna(r.dwellings) else float("nan")
        n, how = cut_plan(pop, fl, dw, target=target, vmax=vmax, vmin=vmin, force=r.building_id in cut)
        if how == "none":
            problems.append(dict(severity="error", code="building_too_big", layer="buildings",
                                 feature_ids=str(r.building_id),
                                 message=(f"building {r.building_id} holds {pop} people and has no "
                                          f"floor or unit data to cut it"), geometry=r.geometry))
        ranges: list[tuple[int, int]] = []
        if n > 1:
            units = int(fl if how == "floor" else dw)
            # a building in ``cut`` is cut twice as finely (at most one piece per floor/unit)
            ranges = _cut_ranges(pop, units, n, target=target // fine if r.building_id in cut else target)
            if claims:
                piece, _ = _main_part(claims[i], claims[i])
                if piece.is_empty:
                    piece = shapely.buffer(fallback[i], 1.0)
                cuts[i] = (len(ranges), piece)
        plans.append((pop, fl, dw, how, ranges))
    if blocks:
        faces, owner, strip, fblock = _tessellate(poly, blocks, claims, fallback, cuts, grid)
    else:
        faces, owner, strip, fblock = _objects([]), [], [], []
    groups: dict[tuple, list] = {}
    for f, j, st, fb in zip(faces, np.asarray(owner).tolist(), np.asarray(strip).tolist(),
                            np.asarray(fblock).tolist()):
        groups.setdefault((j, st, -1) if j >= 0 else (-1, 0, fb), []).append(f)
    # the union of each group's faces: most groups are a single face (taken as it is)
    keys = list(groups)
    single = [k for k in keys if len(groups[k]) == 1]
    merged = dict(zip(single, _polygonal_many([groups[k][0] for k in single]))) if single else {}
    multi = [k for k in keys if len(groups[k]) > 1]
    merged.update(zip(multi, _dissolve_many([groups[k] for k in multi])))
    # the main part of each group's union (a polygon of positive area is its own main part)
    marr = _objects([merged[k] for k in keys])
    simple = dict(zip(keys, ((shapely.get_type_id(marr) == 3) & (shapely.area(marr) > 0)).tolist()))

    def main_part(key, claim):
        if key not in groups:
            return shapely.Polygon(), []
        del groups[key]
        g = merged[key]
        return (g, []) if simple[key] else _main_part(g, claim)

    btree = shapely.STRtree(_objects(blocks)) if blocks else None

    def blocks_of(geoms) -> list[int]:
        """The block nearest to a point of each geometry (0 for none)."""
        arr = _objects(geoms)
        out = np.zeros(len(arr), dtype=int)
        if btree is not None and len(arr):
            ok = np.flatnonzero(~shapely.is_empty(arr))
            if len(ok):
                out[ok] = btree.nearest(shapely.point_on_surface(arr[ok]))
        return out.tolist()

    spare: list = []
    recs = []
    for i, r in enumerate(rows):
        pop, fl, dw, how, ranges = plans[i]
        claim = claims[i] if claims else None
        if not ranges:
            g, rest = main_part((i, 0, -1), claim)
            spare += rest
            recs.append(dict(building_id=str(r.building_id), part=0, floor_from=np.nan, floor_to=np.nan,
                             unit_from=np.nan, unit_to=np.nan, population=pop,
                             dwellings=dw, block=0, geometry=g))  # NaN = unknown
            continue
        n = len(ranges)
        units = int(fl if how == "floor" else dw)
        pops = _share(pop, units, ranges)
        dws = [float("nan")] * n if math.isnan(dw) else [float(v) for v in _share(int(dw), units, ranges)]
        for k in range(n):
            g, rest = main_part((i, k + 1, -1), claim)
            spare += rest
            f0, f1 = ranges[k]
            recs.append(dict(building_id=str(r.building_id), part=k + 1,
                             floor_from=float(f0) if how == "floor" else np.nan,
                             floor_to=float(f1) if how == "floor" else np.nan,
                             unit_from=float(f0) if how == "unit" else np.nan,
                             unit_to=float(f1) if how == "unit" else np.nan,
                             population=pops[k], dwellings=dws[k], block=0, geometry=g))
    # the block of each building's cell as drawn (before slivers join it)
    for rec, blk in zip(recs, blocks_of([rec["geometry"] for rec in recs])):
        rec["block"] = blk
    for key in sorted(groups, key=lambda k: (k[2], k[0], k[1])):  # land of no building, leftovers
        spare += [p for p in shapely.get_parts(merged[key]) if p.area > 0]
    if not blocks and poly is not None and not poly.is_empty:
        spare += list(shapely.get_parts(poly))
    if spare:
        sarr = _objects(spare)
        sxy = np.round(shapely.get_coordinates(shapely.point_on_surface(sarr)), 3).tolist()
        skey = [(blk, x, y) for blk, (x, y) in zip(blocks_of(sarr), sxy)]
        spare = [spare[k] for k in sorted(range(len(spare)), key=lambda k: skey[k])]
    spare = _merge_slivers(recs, spare, min_area=_unit(poly) ** 2 if not poly.is_empty else 0.0)
    for g, blk in zip(spare, blocks_of(spare)):
        recs.append(dict(building_id=None, part=0, floor_from=np.nan, floor_to=np.nan, unit_from=np.nan,
                         unit_to=np.nan, population=0, dwellings=0.0, block=blk, geometry=g))
    cols = ["building_id", "part", "floor_from", "floor_to", "unit_from", "unit_to", "population",
            "dwellings", "block", "geometry"]
    cells = gpd.GeoDataFrame(pd.DataFrame(recs, columns=cols), geometry="geometry", crs=crs)
    cells["node"] = np.arange(len(cells))
    return cells, problems

"""Barrier-aware adjacency graph of cells (networkx).

Nodes carry ``population``, ``dwellings``, ``area`` (m²) and ``perimeter`` (m) of
the cell, so the solver can compute each area's exact Polsby–Popper compactness.
Edges carry ``length`` (shared boundary, m) and ``barrier`` (the class crossed:
"none", "minor", "major", "railway", "river", "wall", "gap") and ``rank`` (crossing cost),
and ``building`` (True between two parts of one building cut vertically; only
parts with consecutive floor/unit ranges are linked, so an area's floors of a tower
run in one range).
Parts of the graph that touch nothing (islands, exclaves) are joined to the nearest
cell by a ``gap`` link (as costly to cross as a river, but not a river: its ``gap``
attribute holds the distance in metres) and reported.
"""

from __future__ import annotations

import geopandas as gpd
import networkx as nx
import numpy as np
import shapely

from pucha.partition.barriers import BARRIER_RANK

__all__ = ["cell_graph"]


def _shared_edges(geoms, *, grid: float = 1e-6):
    """Pairs of cells sharing an edge: (i, j, shared length, a point on the shared edge).

    The cells of a 居/村 are one noded coverage, so two neighbours' common edge is made of
    the same segments in both: segments are matched on their (grid-rounded) end points.
    Pairs that touch but match no segment (a vertex on one side only) are measured with
    a GEOS intersection, so no neighbour is missed.
    """
    rings, owner = shapely.get_rings(geoms, return_index=True)
    xy, ring = shapely.get_coordinates(rings, return_index=True)
    same = ring[:-1] == ring[1:]
    p, q, cell = xy[:-1][same], xy[1:][same], owner[ring[:-1][same]]
    seg_len = np.hypot(*(q - p).T)
    keep = seg_len > 0
    p, q, cell, seg_len = p[keep], q[keep], cell[keep], seg_len[keep]
    ip, iq = np.round(p / grid).astype(np.int64), np.round(q / grid).astype(np.int64)
    swap = (ip[:, 0] > iq[:, 0]) | ((ip[:, 0] == iq[:, 0]) & (ip[:, 1] > iq[:, 1]))
    lo, hi = np.where(swap[:, None], iq, ip), np.where(swap[:, None], ip, iq)
    key = np.column_stack([lo, hi])
    order = np.lexsort(key.T[::-1])
    key, cell, seg_len, p, q = key[order], cell[order], seg_len[order], p[order], q[order]
    dup = np.all(key[1:] == key[:-1], axis=1) & (cell[1:] != cell[:-1])
    i0, i1 = cell[:-1][dup], cell[1:][dup]
    pa, pb = np.minimum(i0, i1), np.maximum(i0, i1)
    ln = seg_len[:-1][dup]
    mids = (p[:-1][dup] + q[:-1][dup]) / 2
    pairs: dict[tuple[int, int], list] = {}
    for x, y, w, m in zip(pa.tolist(), pb.tolist(), ln.tolist(), mids.tolist()):
        e = pairs.get((x, y))
        if e is None:
            pairs[(x, y)] = [w, w, m]
        else:
            e[0] += w
            if w > e[1]:
                e[1], e[2] = w, m
    # touching pairs without a matched segment: measure them exactly
    tree = shapely.STRtree(geoms)
    qa, qb = tree.query(geoms, predicate="intersects")
    sel = [(x, y) for x, y in zip(qa.tolist(), qb.tolist()) if x < y and (x, y) not in pairs]
    if sel:
        sa, sb = np.array(sel).T
        shared = shapely.intersection(shapely.boundary(geoms[sa]), shapely.boundary(geoms[sb]))
        slen = shapely.length(shared)
        spt = shapely.get_coordinates(shapely.point_on_surface(shared[slen > 0])) if (slen > 0).any() \
            else np.zeros((0, 2))
        for (x, y), w, m in zip([t for t, ok in zip(sel, slen > 0) if ok], slen[slen > 0].tolist(),
                                spt.tolist()):
            pairs[(x, y)] = [w, w, m]
    out = sorted((k, v) for k, v in pairs.items() if v[0] > 0.01)
    if not out:
        return (np.zeros(0, dtype=int), np.zeros(0, dtype=int), np.zeros(0), shapely.points(np.zeros((0, 2))))
    a = np.array([k[0] for k, _ in out])
    b = np.array([k[1] for k, _ in out])
    length = np.array([v[0] for _, v in out])
    mid = shapely.points(np.array([v[2] for _, v in out]))
    return a, b, length, mid


def cell_graph(cells: gpd.GeoDataFrame, barriers: gpd.GeoDataFrame, *, snap: float = 1.0
               ) -> tuple[nx.Graph, list[dict]]:
    """Build the adjacency graph of ``cells`` (node = cells.node)."""
    g = nx.Graph()
    nodes = cells["node"].to_numpy()
    geoms = cells.geometry.values
    area = shapely.area(geoms)
    perim = shapely.length(geoms)
    dw = (cells["dwellings"].to_numpy(dtype=float) if "dwellings" in cells
          else np.zeros(len(cells)))
    for n, p, ar, pe, d in zip(nodes, cells["population"].to_numpy(), area, perim, dw):
        g.add_node(int(n), population=int(p), area=float(ar), perimeter=float(pe),
                   dwellings=0.0 if np.isnan(d) else float(d))
    problems: list[dict] = []
    if len(cells) < 2:
        return g, problems
    a, b, length, mid = _shared_edges(geoms)
    blk = cells["block"].to_numpy()
    cls = np.array(["none"] * len(a), dtype=object)
    cross = blk[a] != blk[b]
    if cross.any() and len(barriers):
        btree = shapely.STRtree(barriers.geometry.values)
        mid = mid[cross]
        qi, bi = btree.query(mid, predicate="dwithin", distance=snap)
        kinds = barriers["barrier"].to_numpy(dtype=object)
        ranks = np.array([BARRIER_RANK.get(c, 1) for c in kinds])
        best = np.full(len(mid), -1)
        bestc = np.array(["minor"] * len(mid), dtype=object)
        for q, k in zip(qi.tolist(), bi.tolist()):
            if ranks[k] > best[q]:
                best[q] = ranks[k]
                bestc[q] = kinds[k]
        cls[cross] = bestc
    elif cross.any():
        cls[cross] = "minor"
    bid = cells["building_id"].to_numpy(dtype=object) if "building_id" in cells else np.full(len(cells), None)
    part = cells["part"].to_numpy() if "part" in cells else np.zeros(len(cells), dtype=int)
    for i, j, ln, c in zip(a, b, length, cls):
        # two parts of one building cut vertically: the solver keeps them together if it can
        same = bid[i] is not None and bid[i] == bid[j]
        if same and abs(int(part[i]) - int(part[j])) > 1:
            continue  # the first and last wedges meet, but their floors are not consecutive
        g.add_edge(int(nodes[i]), int(nodes[j]), length=float(ln), barrier=str(c),
                   rank=BARRIER_RANK.get(str(c), 1), building=bool(same))
    comps = sorted((sorted(c) for c in nx.connected_components(g)), key=lambda c: (-len(c), c[0]))
    if len(comps) > 1:
        main = set(comps[0])
        for comp in comps[1:]:
            # join through the nearest cell outside the component
            others = np.array(sorted(main))
            t = shapely.STRtree(geoms[others])
            best = None
            for n in comp:
                k = t.nearest(geoms[n])
                d = shapely.distance(geoms[n], geoms[others[k]])
                if best is None or d < best[0]:
                    best = (d, n, int(others[k]))
            g.add_edge(best[1], best[2], length=0.0, barrier="gap", rank=BARRIER_RANK["gap"], gap=float(best[0]))
            pop = int(cells["population"].to_numpy()[comp].sum())
            problems.append(dict(severity="warning", code="island", layer="villages", feature_ids="",
                                 message=(f"part of the 居/村 with {len(comp)} cells and {pop} people touches "
                                          f"no other part; joined to the nearest cell {best[0]:.0f} m away"),
                                 geometry=shapely.union_all(geoms[comp])))
            main |= set(comp)
    return g, problems

"""Barrier-aware adjacency graph of cells (networkx).

Nodes carry ``population``, ``dwellings``, ``area`` (m²) and ``perimeter`` (m) of
the cell, so the solver can compute each area's exact Polsby–Popper compactness.
Edges carry ``length`` (shared boundary, m) and ``barrier`` (the class crossed:
"none", "minor", "major", "railway", "river", "wall") and ``rank`` (crossing cost),
and ``building`` (True between two parts of one building cut vertically).
Parts of the graph that touch nothing (islands, enclaves) are joined to the nearest
cell through the cheapest crossing and reported.
"""

from __future__ import annotations

import geopandas as gpd
import networkx as nx
import numpy as np
import shapely

from pucha.partition.cells import BARRIER_RANK

__all__ = ["cell_graph"]


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
    tree = shapely.STRtree(geoms)
    a, b = tree.query(geoms, predicate="intersects")
    m = a < b
    a, b = a[m], b[m]
    shared = shapely.intersection(shapely.boundary(geoms[a]), shapely.boundary(geoms[b]))
    length = shapely.length(shared)
    ok = length > 0.01
    a, b, shared, length = a[ok], b[ok], shared[ok], length[ok]
    blk = cells["block"].to_numpy()
    cls = np.array(["none"] * len(a), dtype=object)
    cross = blk[a] != blk[b]
    if cross.any() and len(barriers):
        btree = shapely.STRtree(barriers.geometry.values)
        mid = shapely.point_on_surface(shared[cross])
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
    for i, j, ln, c in zip(a, b, length, cls):
        # two parts of one building cut vertically: the solver keeps them together if it can
        same = bid[i] is not None and bid[i] == bid[j]
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
            g.add_edge(best[1], best[2], length=0.0, barrier="river", rank=BARRIER_RANK["river"])
            pop = int(cells["population"].to_numpy()[comp].sum())
            problems.append(dict(severity="warning", code="island", layer="villages", feature_ids="",
                                 message=(f"part of the 居/村 with {len(comp)} cells and {pop} people touches "
                                          f"no other part; joined to the nearest cell {best[0]:.0f} m away"),
                                 geometry=shapely.union_all(geoms[comp])))
            main |= set(comp)
    return g, problems

"""The enumerator's walking route: in which order to visit an area's buildings.

The route is an *open* tour (it need not come back) that starts at the corner of
the area nearest its entrance road (the major road nearest the area, else any
road) and visits every building once. Distances run along the street network
built from the project's ``roads`` layer where buildings lie near a road, and
fall back to straight lines where there is none (or where the street detour is
absurd, e.g. two houses in one courtyard). The tour is built by nearest
neighbour from the start and improved by 2-opt and or-opt moves until no move
shortens it; everything is deterministic (ties break on the lower index).

Building numbers on both the HTML and the PDF map follow this order.

>>> import numpy as np
>>> pts = np.array([[0, 0], [30, 0], [10, 0], [20, 0]], dtype=float)
>>> walking_route(pts).order
[0, 2, 3, 1]
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from numpy.typing import NDArray
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import dijkstra
from shapely.geometry import LineString, Point
from shapely.geometry.base import BaseGeometry

__all__ = ["Route", "walking_route", "route_area", "number_area", "entrance_corner", "tour_length",
           "open_tour", "holds_people"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Route:
    """A visiting order and the lines to draw.

    Attributes
    ----------
    order
        Indices of the input points in visiting order (building no. k is
        ``order[k - 1]``).
    legs
        One line per step: ``legs[0]`` runs from the start corner to the first
        building, ``legs[k]`` from stop k to stop k+1 (along streets when used).
    start
        The start point (the corner nearest the entrance road), or None.
    length_m
        Length of the route in metres (sum of the leg costs).
    along_roads
        True if at least one leg follows the street network.
    """

    order: list[int]
    legs: list[LineString] = field(default_factory=list)
    start: Point | None = None
    length_m: float = 0.0
    along_roads: bool = False


# ----------------------------------------------------------------------------
# tour improvement on a distance matrix


def tour_length(d: NDArray[np.float64], order: list[int]) -> float:
    """Length of an open path through ``order`` under matrix ``d``."""
    if len(order) < 2:
        return 0.0
    idx = np.asarray(order)
    return float(d[idx[:-1], idx[1:]].sum())


def _nearest_neighbour(d: NDArray[np.float64], start: int) -> list[int]:
    n = len(d)
    seen = np.zeros(n, dtype=bool)
    order = [start]
    seen[start] = True
    cur = start
    for _ in range(n - 1):
        row = np.where(seen, np.inf, d[cur])
        nxt = int(np.argmin(row))  # argmin returns the lowest index on ties
        order.append(nxt)
        seen[nxt] = True
        cur = nxt
    return order


def _two_opt(d: NDArray[np.float64], p: list[int], eps: float) -> tuple[list[int], bool]:
    """One sweep of 2-opt for an open path with a fixed first stop."""
    n = len(p)
    improved = False
    arr = np.asarray(p)
    for i in range(1, n - 1):
        a = arr[i - 1]
        b = arr[i]
        js = np.arange(i + 1, n)
        c = arr[js]
        nxt = np.where(js < n - 1, arr[np.minimum(js + 1, n - 1)], -1)
        has_next = nxt >= 0
        old = d[a, b] + np.where(has_next, d[c, np.maximum(nxt, 0)], 0.0)
        new = d[a, c] + np.where(has_next, d[b, np.maximum(nxt, 0)], 0.0)
        delta = new - old
        k = int(np.argmin(delta))
        if delta[k] < -eps:
            j = int(js[k])
            arr[i:j + 1] = arr[i:j + 1][::-1].copy()
            improved = True
    return arr.tolist(), improved


def _or_opt(d: NDArray[np.float64], p: list[int], eps: float) -> tuple[list[int], bool]:
    """Move a run of 1-3 stops (possibly reversed) elsewhere; first stop fixed."""
    n = len(p)
    for seg in (1, 2, 3):
        for i in range(1, n - seg + 1):
            run = p[i:i + seg]
            prev, nxt = p[i - 1], (p[i + seg] if i + seg < n else None)
            remove_gain = d[prev, run[0]] + (d[run[-1], nxt] if nxt is not None else 0.0) \
                - (d[prev, nxt] if nxt is not None else 0.0)
            rest = p[:i] + p[i + seg:]
            best = (eps, -1, False)
            for k in range(len(rest)):  # insert after rest[k]
                u = rest[k]
                v = rest[k + 1] if k + 1 < len(rest) else None
                for rev in (False, True):
                    r0, r1 = (run[-1], run[0]) if rev else (run[0], run[-1])
                    add = d[u, r0] + (d[r1, v] if v is not None else 0.0) \
                        - (d[u, v] if v is not None else 0.0)
                    gain = remove_gain - add
                    if gain > best[0]:
                        best = (gain, k, rev)
            if best[1] >= 0:
                k, rev = best[1], best[2]
                ins = run[::-1] if rev else run
                return rest[:k + 1] + ins + rest[k + 1:], True
    return p, False


def open_tour(d: NDArray[np.float64], start: int = 0, *, max_rounds: int = 200) -> list[int]:
    """A short open path through all nodes of ``d`` starting at ``start``.

    Nearest neighbour, then 2-opt and or-opt until neither improves (or
    ``max_rounds``). Deterministic.
    """
    n = len(d)
    if n == 0:
        return []
    if n <= 2:
        return [start] + [i for i in range(n) if i != start]
    d = np.asarray(d, dtype=float)
    order = _nearest_neighbour(d, start)
    eps = 1e-9 * max(1.0, float(np.nanmax(d[np.isfinite(d)])) if np.isfinite(d).any() else 1.0)
    or_opt = n <= 400  # or-opt is O(n^2) Python work per move
    for _ in range(max_rounds):
        order, a = _two_opt(d, order, eps)
        b = False
        if or_opt:
            order, b = _or_opt(d, order, eps)
        if not (a or b):
            break
    return order


# ----------------------------------------------------------------------------
# street network


@dataclass
class _Network:
    coords: NDArray[np.float64]          # node xy
    access: NDArray[np.int64]            # node of each stop (-1: not snapped)
    access_len: NDArray[np.float64]      # stop -> its node (straight)
    dist: NDArray[np.float64]            # stops x nodes shortest distances
    pred: NDArray[np.int64]              # stops x nodes predecessors


def _segments(lines: list[BaseGeometry]) -> NDArray[np.float64]:
    """All straight segments (x0, y0, x1, y1) of the noded linework."""
    if not lines:
        return np.empty((0, 4))
    merged = shapely.union_all(np.asarray(lines, dtype=object))  # nodes crossings
    parts = shapely.get_parts(merged)
    segs = []
    for ln in parts:
        if ln.geom_type != "LineString" or ln.is_empty:
            continue
        xy = np.asarray(ln.coords)[:, :2]
        if len(xy) >= 2:
            segs.append(np.hstack([xy[:-1], xy[1:]]))
    if not segs:
        return np.empty((0, 4))
    s = np.vstack(segs)
    keep = np.hypot(s[:, 2] - s[:, 0], s[:, 3] - s[:, 1]) > 1e-6
    return s[keep]


def _build_network(stops: NDArray[np.float64], lines: list[BaseGeometry], *,
                   max_snap: float) -> _Network | None:
    segs = _segments(lines)
    if len(segs) == 0:
        return None
    # project every stop on its nearest segment
    seg_geoms = shapely.linestrings(segs.reshape(-1, 2, 2))
    tree = shapely.STRtree(seg_geoms)
    pts = shapely.points(stops)
    hit_pts, hit_seg = tree.query_nearest(pts, max_distance=max_snap, all_matches=False)
    seg_of = np.full(len(stops), -1)
    seg_of[hit_pts] = hit_seg
    # node table: rounded endpoints + snapped points
    key_to_node: dict[tuple[float, float], int] = {}
    coords: list[tuple[float, float]] = []

    def node(x: float, y: float) -> int:
        k = (round(x, 1), round(y, 1))
        idx = key_to_node.get(k)
        if idx is None:
            idx = len(coords)
            key_to_node[k] = idx
            coords.append((x, y))
        return idx

    splits: dict[int, list[tuple[float, int]]] = {}
    access = np.full(len(stops), -1, dtype=np.int64)
    access_len = np.zeros(len(stops))
    for i in range(len(stops)):
        s = int(seg_of[i])
        if s < 0:
            continue
        x0, y0, x1, y1 = segs[s]
        dx, dy = x1 - x0, y1 - y0
        t = ((stops[i, 0] - x0) * dx + (stops[i, 1] - y0) * dy) / (dx * dx + dy * dy)
        t = min(1.0, max(0.0, t))
        px, py = x0 + t * dx, y0 + t * dy
        nid = node(px, py)
        access[i] = nid
        access_len[i] = float(np.hypot(stops[i, 0] - px, stops[i, 1] - py))
        splits.setdefault(s, []).append((t, nid))
    rows, cols, w = [], [], []
    for s in range(len(segs)):
        x0, y0, x1, y1 = segs[s]
        chain = [(0.0, node(x0, y0))] + sorted(splits.get(s, [])) + [(1.0, node(x1, y1))]
        for (ta, na), (tb, nb) in zip(chain[:-1], chain[1:]):
            if na == nb:
                continue
            ln = float(np.hypot(coords[nb][0] - coords[na][0], coords[nb][1] - coords[na][1]))
            rows += [na, nb]
            cols += [nb, na]
            w += [max(ln, 1e-6)] * 2
    n = len(coords)
    graph = coo_matrix((w, (rows, cols)), shape=(n, n)).tocsr()
    snapped = np.flatnonzero(access >= 0)
    if len(snapped) == 0:
        return None
    dist = np.full((len(stops), n), np.inf)
    pred = np.full((len(stops), n), -9999, dtype=np.int64)
    uniq, inv = np.unique(access[snapped], return_inverse=True)
    dd, pp = dijkstra(graph, directed=False, indices=uniq, return_predecessors=True)
    dist[snapped] = dd[inv]
    pred[snapped] = pp[inv]
    return _Network(np.asarray(coords), access, access_len, dist, pred)


def _path_nodes(net: _Network, i: int, j: int) -> list[int]:
    target = int(net.access[j])
    src = int(net.access[i])
    path = [target]
    cur = target
    while cur != src:
        cur = int(net.pred[i, cur])
        if cur < 0:
            return []
        path.append(cur)
    return path[::-1]


# ----------------------------------------------------------------------------
# public API


def entrance_corner(area: BaseGeometry, roads: gpd.GeoDataFrame | None, *,
                    simplify: float = 5.0) -> Point | None:
    """The corner of ``area`` nearest its entrance road.

    The entrance road is the nearest road of class ``major`` (else of any
    class). The corner is the vertex of the (simplified) area outline nearest
    that road; without roads, the south-west-most vertex.
    """
    if area is None or area.is_empty:
        return None
    poly = area
    if poly.geom_type == "MultiPolygon":
        poly = max(poly.geoms, key=lambda g: (g.area, g.bounds))
    outline = poly.exterior.simplify(simplify)
    verts = np.asarray(outline.coords)[:-1, :2]
    road = None
    if roads is not None and len(roads):
        for cls in ("major", None):
            if cls is not None and "road_class" not in roads.columns:
                continue
            cand = roads if cls is None else roads[roads["road_class"] == cls]
            if len(cand) == 0:
                continue
            dist = cand.geometry.distance(poly)
            # nearest road; tie -> lowest road_id (then input order)
            keys = ["_d", "road_id"] if "road_id" in cand.columns else ["_d"]
            best = cand.assign(_d=dist.values).sort_values(keys, kind="stable").iloc[0]
            if best["_d"] <= 1000.0:
                road = best.geometry
                break
    if road is None:
        k = np.lexsort((verts[:, 0], verts[:, 1] + verts[:, 0]))[0]
        return Point(verts[k])
    d = shapely.distance(shapely.points(verts), road)
    k = int(np.lexsort((verts[:, 1], verts[:, 0], np.round(d, 3)))[0])
    return Point(verts[k])


def walking_route(points: NDArray[np.float64], *, roads: gpd.GeoDataFrame | None = None,
                  area: BaseGeometry | None = None, start: Point | None = None,
                  max_snap: float = 80.0, detour: float = 3.0,
                  clip_margin: float = 300.0, populated=None) -> Route:
    """Visiting order of ``points`` (N x 2, working CRS metres).

    Parameters
    ----------
    points
        One point per building (e.g. representative points), in metres.
    roads
        The project's ``roads`` layer (road_id, name, road_class, geometry); None
        or empty: straight lines.
    area
        The area polygon: used for the start corner and to clip the roads.
    start
        Start point; default :func:`entrance_corner` of ``area`` (or the first
        point when neither is given).
    max_snap
        A building farther than this from every road is reached in a straight line.
    detour
        Use the street distance unless it exceeds ``detour`` x the straight line.
    clip_margin
        Roads within this distance of the area are used.
    populated
        Optional booleans, one per point: True for a building that holds people.
        Where any does, the route's first stop is one of them (the nearest to the
        start), never an empty building.
    """
    pts = np.asarray(points, dtype=float).reshape(-1, 2)
    n = len(pts)
    if start is None and area is not None:
        start = entrance_corner(area, roads)
    if n == 0:
        return Route(order=[], legs=[], start=start)
    lines: list[BaseGeometry] = []
    if roads is not None and len(roads):
        r = roads
        if area is not None:
            idx = r.sindex.query(area.buffer(clip_margin), predicate="intersects")
            r = r.iloc[np.sort(idx)]
        lines = [g for g in r.geometry if g is not None and not g.is_empty]
    # stop 0 .. n-1 are buildings; stop n is the start corner (if any)
    stops = pts if start is None else np.vstack([pts, [[start.x, start.y]]])
    m = len(stops)
    eu = np.hypot(stops[:, None, 0] - stops[None, :, 0], stops[:, None, 1] - stops[None, :, 1])
    net = _build_network(stops, lines, max_snap=max_snap) if lines else None
    use_net = np.zeros((m, m), dtype=bool)
    d = eu.copy()
    if net is not None:
        ok = net.access >= 0
        nd = np.full((m, m), np.inf)
        idx = np.flatnonzero(ok)
        if len(idx):
            sub = net.dist[np.ix_(idx, net.access[idx])]
            nd[np.ix_(idx, idx)] = sub + net.access_len[idx][:, None] + net.access_len[idx][None, :]
        use_net = np.isfinite(nd) & (nd <= detour * eu) & (nd < eu + 1e12)
        np.fill_diagonal(use_net, False)
        d = np.where(use_net, nd, eu)
    pop = np.asarray(populated, dtype=bool).reshape(-1) if populated is not None else None
    has_pop = pop is not None and len(pop) == n and bool(pop.any()) and not bool(pop.all())
    if start is None:
        first = int(np.flatnonzero(pop)[0]) if has_pop else 0
        order = open_tour(d, first)
        tour = order
    else:
        d_tour = d
        if has_pop:
            # leaving the start corner for an empty building costs a detour no tour
            # takes: the first stop holds people (2-opt/or-opt keep it first too)
            d_tour = d.copy()
            d_tour[n, :n][~pop] += 1e9
        tour = open_tour(d_tour, n)  # start corner is node n
        order = [i for i in tour if i != n]

    legs: list[LineString] = []
    along = False
    total = 0.0
    for a, b in zip(tour[:-1], tour[1:]):
        total += float(d[a, b])
        if net is not None and use_net[a, b]:
            nodes = _path_nodes(net, a, b)
            if nodes:
                xy = [tuple(stops[a])] + [tuple(net.coords[k]) for k in nodes] + [tuple(stops[b])]
                legs.append(LineString(_dedupe(xy)))
                along = True
                continue
        legs.append(LineString([tuple(stops[a]), tuple(stops[b])]))
    if start is None:
        legs.insert(0, LineString([tuple(pts[order[0]]), tuple(pts[order[0]])]))
    return Route(order=order, legs=legs, start=start, length_m=total, along_roads=along)


def _dedupe(xy: list[tuple[float, float]]) -> list[tuple[float, float]]:
    out = [xy[0]]
    for p in xy[1:]:
        if abs(p[0] - out[-1][0]) > 1e-6 or abs(p[1] - out[-1][1]) > 1e-6:
            out.append(p)
    if len(out) == 1:
        out.append(out[0])
    return out


def route_area(buildings: gpd.GeoDataFrame, area: BaseGeometry, roads: gpd.GeoDataFrame | None,
               **kwargs) -> tuple[gpd.GeoDataFrame, Route]:
    """Number an area's buildings in walking order.

    Returns a copy of ``buildings`` sorted by visiting order with a ``number``
    column (1..n), and the :class:`Route`. Buildings are sorted by
    ``building_id`` first, so the result does not depend on input order.
    """
    b = buildings.sort_values("building_id").reset_index(drop=True)
    pts = shapely.get_coordinates(b.geometry.representative_point().values)
    if "holds_people" in b.columns and "populated" not in kwargs:
        kwargs["populated"] = b["holds_people"].to_numpy(dtype=bool)
    route = walking_route(pts, roads=roads, area=area, **kwargs)
    out = b.iloc[route.order].reset_index(drop=True)
    out["number"] = np.arange(1, len(out) + 1)
    return out, route


def holds_people(b: pd.DataFrame) -> pd.Series:
    """True for a building that may hold people: people counted in it, or residential.

    >>> holds_people(pd.DataFrame({"population": [0, 5, 0], "residential": [False, False, True]})).tolist()
    [False, True, True]
    """
    pop = pd.to_numeric(b.get("population", pd.Series(0, index=b.index)), errors="coerce")
    res = b.get("residential", pd.Series(False, index=b.index))
    res = res.map(lambda v: bool(v) if v is not None and v == v else False)
    return (pop.fillna(0) > 0) | res.astype(bool)


def number_area(project, area_code: str, *, residential_only: bool = False,
                **kwargs) -> tuple[gpd.GeoDataFrame, Route]:
    """The buildings of ``area_code`` of a :class:`~pucha.outputs.project.MapProject`,
    numbered in walking order (column ``number``), and the route.

    Every building that may hold people (:func:`holds_people`, column
    ``holds_people``) is numbered and on the route, whose first stop holds
    people where any does; the others are numbered too (maps draw them hollow)
    unless ``residential_only``, which leaves them out of the numbering and the
    route (they stay on the map as other buildings).
    """
    b = project.area_buildings(area_code)
    b["holds_people"] = holds_people(b).to_numpy(dtype=bool)
    if residential_only:
        b = b[b["holds_people"]].reset_index(drop=True)
    return route_area(b, project.area_geometry(area_code), project.roads, **kwargs)

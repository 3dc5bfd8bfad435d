"""The census office's staff plan: workload per area and supervisors' districts (指导区).

Workload (:func:`area_workload`) is estimated from the plan itself, per 普查小区:
buildings to confirm, dwellings to visit (given, else people / persons per dwelling),
floors to climb (the top floor of each residential building or cut range, minus one)
and the walking route (a nearest-neighbour tour over the buildings improved by 2-opt,
straight lines x ``route_detour``), all turned into minutes with the parameters of
:class:`~pucha.config.StaffSettings`::

    minutes = dwellings x minutes_per_dwelling + buildings x minutes_per_building
              + floors x minutes_per_floor + route_m / (walking_speed_kmh x 1000 / 60)

Supervisors' districts (:func:`plan_groups`): inside each 居/村 its areas are grouped
into contiguous groups of about ``areas_per_supervisor`` areas (between
``min_group_areas`` and ``max_group_areas`` wherever the 居/村 has that many), balanced
on workload and compact; each group has one supervisor (普查指导员) who also
enumerates its lightest area (``supervisor_area``). A group's code is its 居/村 code,
``Z`` and two digits, e.g. ``310118002001Z01`` (:data:`GROUP_CODE_FORMAT`). Codes are
stable: a 居/村 whose areas did not change keeps its groups as they were; elsewhere a
new group takes the code of the old group whose areas it holds most of, and other
groups get a number never used before in that 居/村.

Everything iterates in sorted code order: the same plan gives the same groups.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import shapely

from pucha.config import StaffSettings
from pucha.partition.codes import serpentine_order

__all__ = [
    "GROUP_CODE_FORMAT", "GROUP_CODE_RE", "group_code", "area_workload", "workload_warnings",
    "n_groups", "plan_groups", "GroupPlan", "tour_length_m", "WORKLOAD_COLUMNS",
    "LAYER_SUPERVISOR_GROUPS", "LAYER_STAFF", "AREA_STAFF_COLUMNS", "GROUP_COLUMNS",
    "StaffPlanResult", "staff_plan_project", "previous_groups", "staff_settings_of",
]

log = logging.getLogger(__name__)

GROUP_CODE_FORMAT = "{village_code}Z{number:02d}"
GROUP_CODE_RE = re.compile(r"^(\d{12})Z(\d{2,3})$")
WORKLOAD_COLUMNS = ("dwellings_est", "floors_climbed", "route_m", "workload_min", "workload_note")
_STARTS = 6  # initial solutions tried per 居/村
LAYER_SUPERVISOR_GROUPS = "supervisor_groups"
LAYER_STAFF = "staff"
# columns `pucha staff plan` adds to the areas layer (after the partition's own)
AREA_STAFF_COLUMNS = ("supervisor_group", "supervisor_area") + WORKLOAD_COLUMNS
GROUP_COLUMNS = ("group_code", "village_code", "n_areas", "area_codes", "supervisor_area",
                 "population", "dwellings_est", "workload_min", "max_area_workload_min",
                 "contiguous")


def group_code(village_code: str, number: int) -> str:
    """``310118002001Z01``: the 居/村 code, ``Z`` (指导区) and the group number.

    >>> group_code("310118002001", 3)
    '310118002001Z03'
    """
    return GROUP_CODE_FORMAT.format(village_code=village_code, number=number)


# -- workload -----------------------------------------------------------------

def tour_length_m(xy: np.ndarray, *, max_rounds: int = 30) -> float:
    """Length of an open tour over the points ``xy`` (n x 2): nearest neighbour from the
    north-west-most point, then 2-opt until no move shortens it (at most ``max_rounds``).

    >>> tour_length_m(np.array([[0.0, 0.0], [30.0, 0.0], [10.0, 0.0], [20.0, 0.0]]))
    30.0
    """
    n = len(xy)
    if n < 2:
        return 0.0
    d = np.hypot(xy[:, None, 0] - xy[None, :, 0], xy[:, None, 1] - xy[None, :, 1])
    start = int(np.lexsort((xy[:, 0], -xy[:, 1]))[0])
    seen = np.zeros(n, bool)
    order = [start]
    seen[start] = True
    for _ in range(n - 1):
        row = np.where(seen, np.inf, d[order[-1]])
        nxt = int(np.argmin(row))
        order.append(nxt)
        seen[nxt] = True
    p = np.array(order)
    for _ in range(max_rounds):
        improved = False
        for i in range(1, n - 1):
            # reverse p[i..j]: edges (i-1,i) and (j,j+1) -> (i-1,j) and (i,j+1); j+1 may be past the end
            a, b = p[i - 1], p[i]
            js = np.arange(i + 1, n)
            c = p[js]
            old = d[a, b] + np.where(js + 1 < n, d[c, p[np.minimum(js + 1, n - 1)]], 0.0)
            new = d[a, c] + np.where(js + 1 < n, d[b, p[np.minimum(js + 1, n - 1)]], 0.0)
            gain = old - new
            k = int(np.argmax(gain))
            if gain[k] > 1e-9:
                j = int(js[k])
                p[i:j + 1] = p[i:j + 1][::-1].copy()
                improved = True
        if not improved:
            break
    return float(d[p[:-1], p[1:]].sum())


def area_workload(areas: gpd.GeoDataFrame, buildings: gpd.GeoDataFrame,
                  building_areas: pd.DataFrame, *,
                  settings: StaffSettings | None = None) -> pd.DataFrame:
    """The estimated enumeration effort of every area (one row per area_code, sorted).

    Columns: area_code, village_code, n_buildings, dwellings_est, floors_climbed,
    route_m, walk_min, visit_min, workload_min (see the module docstring).
    """
    st = settings or StaffSettings()
    ba = pd.DataFrame(building_areas)[["building_id", "area_code", "part", "floor_from",
                                       "floor_to", "population", "dwellings"]].copy()
    ba["building_id"] = ba["building_id"].astype(str)
    ba["area_code"] = ba["area_code"].astype(str)
    b = buildings[["building_id", "floors", "geometry"]].copy()
    b["building_id"] = b["building_id"].astype(str)
    pts = b.geometry.representative_point()
    b = pd.DataFrame({"building_id": b["building_id"].values,
                      "floors": pd.to_numeric(b["floors"], errors="coerce").values,
                      "x": shapely.get_x(pts.values), "y": shapely.get_y(pts.values)})
    ba = ba.merge(b.drop_duplicates("building_id"), on="building_id", how="left")
    pop = pd.to_numeric(ba["population"], errors="coerce").fillna(0.0)
    dw = pd.to_numeric(ba["dwellings"], errors="coerce")
    ba["dw"] = dw.where(dw.notna(), pop / max(st.persons_per_dwelling, 1e-9))
    top = pd.to_numeric(ba["floor_to"], errors="coerce")
    top = top.where(top.notna(), ba["floors"]).fillna(1.0)
    ba["climb"] = np.where((pop > 0) | (ba["dw"] > 0), np.maximum(top - 1.0, 0.0), 0.0)
    speed = max(st.walking_speed_kmh, 1e-6) * 1000.0 / 60.0
    rows = []
    vcode = dict(zip(areas["area_code"].astype(str), areas["village_code"].astype(str)))
    for code in sorted(vcode):
        grp = ba[ba["area_code"] == code]
        one = grp.drop_duplicates("building_id").sort_values("building_id")
        xy = one[["x", "y"]].to_numpy(float)
        xy = xy[np.isfinite(xy).all(axis=1)]
        route = tour_length_m(xy) * st.route_detour
        nb, dws, climb = len(one), float(grp["dw"].sum()), float(grp["climb"].sum())
        visit = dws * st.minutes_per_dwelling + nb * st.minutes_per_building \
            + climb * st.minutes_per_floor
        rows.append(dict(area_code=code, village_code=vcode[code], n_buildings=nb,
                         dwellings_est=round(dws, 1), floors_climbed=round(climb, 1),
                         route_m=round(route, 1), walk_min=round(route / speed, 1),
                         visit_min=round(visit, 1), workload_min=round(visit + route / speed, 1)))
    return pd.DataFrame(rows, columns=["area_code", "village_code", "n_buildings", "dwellings_est",
                                       "floors_climbed", "route_m", "walk_min", "visit_min",
                                       "workload_min"])


_PARTS = (("dwellings_est", "住房 {v:.0f} 套", "minutes_per_dwelling"),
          ("n_buildings", "建筑 {v:.0f} 栋", "minutes_per_building"),
          ("floors_climbed", "爬楼 {v:.0f} 层", "minutes_per_floor"),
          ("route_m", "路线 {v_km:.1f} km", None))


def workload_warnings(wl: pd.DataFrame, *, settings: StaffSettings | None = None
                      ) -> dict[str, str]:
    """Areas above ``workload_warning_factor`` x their 居/村's median workload.

    Returns area_code -> a Chinese note naming the cause: the part of the workload
    (dwellings, buildings, floors, route) furthest above its own 居/村 median, in minutes.
    """
    st = settings or StaffSettings()
    speed = max(st.walking_speed_kmh, 1e-6) * 1000.0 / 60.0
    out: dict[str, str] = {}
    for vcode, grp in wl.groupby("village_code", sort=True):
        med = float(grp["workload_min"].median())
        if len(grp) < 2 or med <= 0:
            continue
        minutes = {}
        for col, _label, factor in _PARTS:
            per = getattr(st, factor) if factor else 1.0 / speed
            minutes[col] = grp[col].astype(float) * per
        for idx in grp.index[grp["workload_min"] > st.workload_warning_factor * med]:
            excess = {c: float(minutes[c][idx] - minutes[c].median()) for c in minutes}
            cause = max(sorted(excess), key=lambda c: excess[c])
            col, label, _f = next(p for p in _PARTS if p[0] == cause)
            v = float(grp.at[idx, col])
            text = label.format(v=v, v_km=v / 1000.0)
            medv = float(grp[col].median())
            ratio = f"，本居/村中位数的 {v / medv:.1f} 倍" if medv > 0 else ""
            out[str(grp.at[idx, "area_code"])] = (
                f"工作量约 {grp.at[idx, 'workload_min'] / 60:.1f} 小时，为本居/村中位数"
                f"（{med / 60:.1f} 小时）的 {grp.at[idx, 'workload_min'] / med:.1f} 倍；"
                f"主要原因：{text}{ratio}")
    return out


# -- supervisors' groups ------------------------------------------------------

def n_groups(n_areas: int, st: StaffSettings) -> int:
    """How many groups ``n_areas`` areas of one 居/村 form.

    About n / areas_per_supervisor, within [ceil(n / max), floor(n / min)] when n >= min.

    >>> [n_groups(n, StaffSettings()) for n in (1, 2, 3, 7, 8, 12, 13, 20, 533)]
    [1, 1, 1, 1, 2, 2, 3, 4, 107]
    """
    if n_areas <= 0:
        return 0
    k = max(1, int(math.floor(n_areas / max(st.areas_per_supervisor, 1) + 0.5)))
    if n_areas >= st.min_group_areas:
        lo = math.ceil(n_areas / st.max_group_areas)
        hi = max(1, n_areas // st.min_group_areas)
        k = min(max(k, lo), max(hi, lo))
    return k


def _adjacency(codes: list[str], geoms: list, *, min_shared_m: float = 2.0) -> nx.Graph:
    g = nx.Graph()
    g.add_nodes_from(range(len(codes)))
    arr = np.asarray(geoms, dtype=object)
    tree = shapely.STRtree(arr)
    for i, geom in enumerate(geoms):
        if geom is None or geom.is_empty:
            continue
        grown = geom.buffer(0.5)
        for j in sorted(int(x) for x in tree.query(grown, predicate="intersects")):
            if j <= i or geoms[j] is None or geoms[j].is_empty:
                continue
            if shapely.length(shapely.intersection(grown, geoms[j].boundary)) >= min_shared_m:
                g.add_edge(i, j)
    return g


@dataclass
class GroupPlan:
    """The groups of a plan: area_code -> group code, the supervisor's area per group,
    and problem rows (dicts with severity, code, feature_ids, message)."""

    group_of: dict[str, str] = field(default_factory=dict)
    supervisor_area: dict[str, str] = field(default_factory=dict)
    kept: list[str] = field(default_factory=list)
    problems: list[dict] = field(default_factory=list)
    next_number: dict[str, int] = field(default_factory=dict)


class _Grouper:
    """Local search over the groups of one 居/村 (indices into its sorted areas)."""

    def __init__(self, real: nx.Graph, links: nx.Graph, xy: np.ndarray, w: np.ndarray,
                 scale: float, st: StaffSettings, k: int, enforce_size: bool):
        self.real, self.links, self.xy, self.w = real, links, xy, w
        self.scale, self.st, self.k, self.enforce = max(scale, 1e-9), st, k, enforce_size
        self.wmean = max(float(w.sum()) / k, 1e-9)

    def group_cost(self, members: list[int]) -> float:
        if not members:
            return 1e6
        st = self.st
        s = len(members)
        size = (max(0, st.min_group_areas - s) + max(0, s - st.max_group_areas)) \
            if self.enforce else 0
        pieces = nx.number_connected_components(self.real.subgraph(members)) - 1
        bal = (float(self.w[members].sum()) / self.wmean - 1.0) ** 2
        pts = self.xy[members]
        compact = float(((pts - pts.mean(axis=0)) ** 2).sum()) / self.scale / len(self.w)
        return 1000.0 * size + 100.0 * pieces + bal + 0.2 * compact

    def total(self, label: np.ndarray) -> float:
        return sum(self.group_cost(np.flatnonzero(label == g).tolist()) for g in range(self.k))

    def improve(self, label: np.ndarray, *, max_rounds: int = 200) -> np.ndarray:
        label = label.copy()
        groups = {g: sorted(np.flatnonzero(label == g).tolist()) for g in range(self.k)}
        cost = {g: self.group_cost(m) for g, m in groups.items()}
        for _ in range(max_rounds):
            best = self._best_move(label, groups, cost)
            if best is None:
                best = self._best_swap(label, groups, cost)
            if best is None:
                break
            _gain, changes = best
            touched = {int(label[v]) for v, _g in changes} | {g for _v, g in changes}
            for v, gnew in changes:
                label[v] = gnew
            for g in sorted(touched):
                groups[g] = sorted(np.flatnonzero(label == g).tolist())
                cost[g] = self.group_cost(groups[g])
        return label

    def _connected_without(self, members: list[int], v: int) -> bool:
        rest = [m for m in members if m != v]
        return bool(rest) and nx.is_connected(self.links.subgraph(rest))

    def _best_move(self, label, groups, cost):
        best = None
        for v in range(len(label)):
            a = int(label[v])
            targets = sorted({int(label[u]) for u in self.links.neighbors(v)} - {a})
            if not targets or not self._connected_without(groups[a], v):
                continue
            ca = self.group_cost([m for m in groups[a] if m != v])
            for b in targets:
                gain = cost[a] + cost[b] - ca - self.group_cost(sorted(groups[b] + [v]))
                if gain > 1e-9 and (best is None or gain > best[0] + 1e-12):
                    best = (gain, [(v, b)])
        return best

    def _best_swap(self, label, groups, cost):
        best = None
        n = len(label)
        for v in range(n):
            a = int(label[v])
            for u in sorted(set(self.links.neighbors(v))):
                b = int(label[u])
                if b == a or u < v:
                    continue
                ma = sorted([m for m in groups[a] if m != v] + [u])
                mb = sorted([m for m in groups[b] if m != u] + [v])
                if not (nx.is_connected(self.links.subgraph(ma))
                        and nx.is_connected(self.links.subgraph(mb))):
                    continue
                gain = cost[a] + cost[b] - self.group_cost(ma) - self.group_cost(mb)
                if gain > 1e-9 and (best is None or gain > best[0] + 1e-12):
                    best = (gain, [(v, b), (u, a)])
        return best


def _link_components(real: nx.Graph, xy: np.ndarray) -> nx.Graph:
    """The adjacency plus one link between the nearest areas of separate pieces of the 居/村."""
    links = real.copy()
    comps = sorted((sorted(c) for c in nx.connected_components(real)), key=lambda c: c[0])
    while len(comps) > 1:
        base, best = comps[0], None
        for ci in range(1, len(comps)):
            for i in base:
                dd = np.hypot(*(xy[comps[ci]] - xy[i]).T)
                j = int(np.argmin(dd))
                cand = (float(dd[j]), i, comps[ci][j], ci)
                if best is None or cand < best:
                    best = cand
        _, i, j, ci = best
        links.add_edge(i, j)
        comps[0] = sorted(base + comps[ci])
        del comps[ci]
    return links


def _grow(links: nx.Graph, xy: np.ndarray, w: np.ndarray, k: int,
          seeded: dict[int, int] | None = None, first: int = 0) -> np.ndarray:
    """Initial groups: from ``seeded`` (index -> group) or from k far-apart seeds starting
    at area ``first``; each group (smallest first) claims its nearest unassigned
    neighbour until all are taken."""
    n = len(xy)
    label = np.full(n, -1)
    if seeded:
        for i, g in seeded.items():
            label[i] = g
    else:
        seeds = [first]
        while len(seeds) < k:
            dmin = np.min(np.hypot(xy[:, None, 0] - xy[None, seeds, 0],
                                   xy[:, None, 1] - xy[None, seeds, 1]), axis=1)
            dmin[seeds] = -1
            seeds.append(int(np.argmax(dmin)))
        for g, s in enumerate(seeds):
            label[s] = g
    cap = math.ceil(n / k)
    centre = np.array([xy[label == g].mean(axis=0) if (label == g).any() else xy.mean(axis=0)
                       for g in range(k)])
    while (label < 0).any():
        options = []
        for g in range(k):
            members = np.flatnonzero(label == g)
            frontier = sorted({u for m in members for u in links.neighbors(int(m)) if label[u] < 0})
            if frontier:
                options.append((len(members) >= cap, len(members), float(w[members].sum()), g,
                                frontier))
        if not options:  # pieces not linked to any group (cannot happen after _link_components)
            i = int(np.flatnonzero(label < 0)[0])
            label[i] = int(np.argmin([np.sum(label == g) for g in range(k)]))
            continue
        *_, g, frontier = min(options, key=lambda o: o[:4])
        d = np.hypot(*(xy[frontier] - centre[g]).T)
        label[frontier[int(np.argmin(d))]] = g
    return label


def _village_groups(codes: list[str], geoms: list, w: np.ndarray, st: StaffSettings,
                    previous: Mapping[str, str]) -> tuple[np.ndarray, nx.Graph, nx.Graph]:
    """Group labels 0..k-1 for the sorted ``codes`` of one 居/村 (virtual areas excluded)."""
    n = len(codes)
    k = n_groups(n, st)
    pts = shapely.point_on_surface(np.asarray(geoms, dtype=object))
    xy = np.column_stack([shapely.get_x(pts), shapely.get_y(pts)])
    real = _adjacency(codes, geoms)
    links = _link_components(real, xy)
    if k <= 1:
        return np.zeros(n, int), real, links
    scale = float(np.mean(shapely.area(np.asarray(geoms, dtype=object)))) or 1.0
    seeded = None
    old = sorted({previous[c] for c in codes if c in previous})
    if len(old) == k:  # start from the old groups: a few changed areas move few others
        seeded = {i: old.index(previous[c]) for i, c in enumerate(codes) if c in previous}
        for g in range(k):  # an old group whose areas are no longer connected: re-grow it
            members = [i for i, lab in seeded.items() if lab == g]
            if not nx.is_connected(links.subgraph(members)):
                seeded = None
                break
    enforce = n >= st.min_group_areas
    if seeded is not None:  # keep the old groups unless that breaks a rule
        grouper = _Grouper(real, links, xy, w, scale, st, k, enforce_size=enforce)
        label = grouper.improve(_grow(links, xy, w, k, seeded))
        if grouper.total(label) < 100.0:
            return label, real, links
    # several starts (spread along the serpentine order): the search is local; where no
    # start brings every group to min..max areas, one group fewer (never below n / max)
    order = serpentine_order(list(geoms))
    starts = sorted({order[round(i * (n - 1) / max(1, min(n, _STARTS) - 1))]
                     for i in range(min(n, _STARTS))}, key=order.index)
    best = None
    for kk in range(k, max(1, math.ceil(n / st.max_group_areas)) - 1, -1):
        grouper = _Grouper(real, links, xy, w, scale, st, kk, enforce_size=enforce)
        for first in starts:
            label = grouper.improve(_grow(links, xy, w, kk, None, first))
            cost = grouper.total(label)
            if best is None or cost < best[0] - 1e-9 and (cost < 1000.0 or kk == k):
                best = (cost, label)
        if best[0] < 1000.0 or kk == 1:
            break
    return best[1], real, links


def _serpentine_groups(label: np.ndarray, geoms: list) -> list[int]:
    k = int(label.max()) + 1
    unions = [shapely.union_all(np.asarray([geoms[i] for i in np.flatnonzero(label == g)],
                                           dtype=object)) for g in range(k)]
    return serpentine_order(unions)


def _number_groups(vcode: str, members: list[list[str]], previous: Mapping[str, str],
                   next_free: int) -> tuple[list[str], int]:
    """Codes for the new groups (``members`` in serpentine order): the old code of the
    group most of whose surviving areas it holds, else a number never used before."""
    old_sets: dict[str, set[str]] = {}
    for c, g in previous.items():
        if c[:12] == vcode:
            old_sets.setdefault(g, set()).add(c)
    pairs = []
    for gi, m in enumerate(members):
        for oc, os_ in old_sets.items():
            ov = len(os_ & set(m))
            if ov:
                pairs.append((-ov, gi, oc))
    codes: list[str | None] = [None] * len(members)
    used: set[str] = set()
    for _neg, gi, oc in sorted(pairs):
        if codes[gi] is None and oc not in used:
            codes[gi] = oc
            used.add(oc)
    for gi in range(len(members)):
        if codes[gi] is None:
            codes[gi] = group_code(vcode, next_free)
            next_free += 1
    return [str(c) for c in codes], next_free


def plan_groups(areas: gpd.GeoDataFrame, workload: Mapping[str, float], *,
                settings: StaffSettings | None = None,
                previous: Mapping[str, str] | None = None,
                next_number: Mapping[str, int] | None = None) -> GroupPlan:
    """Supervisors' groups of every 居/村 (see the module docstring).

    Parameters
    ----------
    areas
        The ``areas`` layer (area_code, village_code, geometry).
    workload
        area_code -> workload in minutes (:func:`area_workload`).
    previous
        area_code -> group code of the earlier staff plan (kept where the 居/村's areas are
        unchanged; matched by overlap elsewhere).
    next_number
        居/村 code -> the lowest group number never issued in it (so a retired code
        never comes back for a different group).
    """
    st = settings or StaffSettings()
    previous = {str(k): str(v) for k, v in (previous or {}).items()}
    plan = GroupPlan()
    for vcode, grp in areas.groupby(areas["village_code"].astype(str), sort=True):
        grp = grp.sort_values("area_code")
        codes = [str(c) for c in grp["area_code"]]
        old_nums = [int(m.group(2)) for g in previous.values()
                    if (m := GROUP_CODE_RE.match(g)) and m.group(1) == vcode]
        next_free = max([int((next_number or {}).get(vcode, 1))] + [x + 1 for x in old_nums])
        old_codes = sorted(c for c in previous if c[:12] == vcode)
        if old_codes == codes and all(GROUP_CODE_RE.match(previous[c]) for c in codes):
            for c in codes:
                plan.group_of[c] = previous[c]
            plan.kept.append(vcode)
        else:
            land = [c for c, g in zip(codes, grp.geometry) if g is not None and not g.is_empty]
            geoms = [g for g in grp.geometry if g is not None and not g.is_empty]
            w = np.array([float(workload.get(c, 0.0)) for c in land])
            if land:
                label, real, _links = _village_groups(land, geoms, w, st, previous)
                order = _serpentine_groups(label, geoms)
                members = [[land[i] for i in np.flatnonzero(label == g)] for g in order]
            else:
                members, real = [[]], nx.Graph()
            gcodes, next_free = _number_groups(vcode, members, previous, next_free)
            for gc, m in zip(gcodes, members):
                for c in m:
                    plan.group_of[c] = gc
            for c in codes:  # virtual areas (no land): the group with the least workload
                if c not in plan.group_of:
                    loads = {gc: sum(float(workload.get(x, 0.0)) for x in m)
                             for gc, m in zip(gcodes, members)}
                    gc = min(sorted(loads), key=lambda g: loads[g])
                    plan.group_of[c] = gc
                    members[gcodes.index(gc)].append(c)
            _check_village(plan, vcode, codes, gcodes, members, land, real, st)
        plan.next_number[vcode] = next_free
    by_group: dict[str, list[str]] = {}
    for c, g in sorted(plan.group_of.items()):
        by_group.setdefault(g, []).append(c)
    for g, m in sorted(by_group.items()):
        plan.supervisor_area[g] = min(m, key=lambda c: (float(workload.get(c, 0.0)), c))
    return plan


def _check_village(plan: GroupPlan, vcode: str, codes: list[str], gcodes: list[str],
                   members: list[list[str]], land: list[str], real: nx.Graph,
                   st: StaffSettings) -> None:
    """Problem rows for a group outside the size range or in more than one piece."""
    index = {c: i for i, c in enumerate(land)}
    for gc, m in zip(gcodes, members):
        if len(codes) >= st.min_group_areas and not \
                st.min_group_areas <= len(m) <= st.max_group_areas:
            plan.problems.append(dict(
                severity="warning", code="supervisor_group_size", feature_ids=",".join(m),
                message=f"指导区 {gc}: {len(m)} 个普查小区，超出 {st.min_group_areas}-"
                        f"{st.max_group_areas} 个（居/村 {vcode} 的小区相邻关系不允许更均匀的分组）"))
        idx = [index[c] for c in m if c in index]
        if len(idx) > 1 and not nx.is_connected(real.subgraph(idx)):
            plan.problems.append(dict(
                severity="warning", code="supervisor_group_not_contiguous",
                feature_ids=",".join(m),
                message=f"指导区 {gc} 不连片：居/村 {vcode} 由互不相连的几块组成（河流、飞地），"
                        f"较小的一块不足 {st.min_group_areas} 个小区，并入最近的指导区"))


# -- the project GeoPackage ---------------------------------------------------

@dataclass
class StaffPlanResult:
    """What :func:`staff_plan_project` wrote: the areas (with their group and workload),
    the groups layer, the problem rows and the 居/村 whose groups were kept unchanged."""

    areas: gpd.GeoDataFrame
    groups: gpd.GeoDataFrame
    problems: pd.DataFrame
    kept: list[str]
    settings: StaffSettings


def staff_settings_of(meta: Mapping[str, object], **overrides) -> StaffSettings:
    """The ``[staff]`` settings ``pucha import`` stored with the project (defaults when
    none), with ``overrides`` (those not None) on top, for this run only."""
    import dataclasses

    from pucha.gis.settings import stored_settings_dict

    stored = (stored_settings_dict(dict(meta)) or {}).get("staff")
    names = {f.name for f in dataclasses.fields(StaffSettings)}
    kw = {k: v for k, v in (stored if isinstance(stored, dict) else {}).items() if k in names}
    kw.update({k: v for k, v in overrides.items() if v is not None})
    return StaffSettings(**kw)


def previous_groups(gpkg_path, names: Sequence[str]) -> dict[str, str]:
    """area_code -> group code of the earlier staff plan (the supervisor_groups layer)."""
    from pucha.gis.write import read_layer

    if LAYER_SUPERVISOR_GROUPS not in names:
        return {}
    g = read_layer(gpkg_path, LAYER_SUPERVISOR_GROUPS)
    out = {}
    for gc, codes in zip(g["group_code"].astype(str), g["area_codes"].fillna("").astype(str)):
        for c in codes.split(","):
            if c.strip():
                out[c.strip()] = gc
    return out


def _groups_layer(areas: gpd.GeoDataFrame, plan: GroupPlan, real_pieces: Mapping[str, bool]
                  ) -> gpd.GeoDataFrame:
    rows, geoms = [], []
    for gc in sorted(plan.supervisor_area):
        a = areas[areas["supervisor_group"] == gc]
        land = [g for g in a.geometry if g is not None and not g.is_empty]
        geoms.append(shapely.union_all(np.asarray(land, dtype=object)) if land else None)
        rows.append(dict(group_code=gc, village_code=gc[:12], n_areas=len(a),
                         area_codes=",".join(sorted(a["area_code"].astype(str))),
                         supervisor_area=plan.supervisor_area[gc],
                         population=int(pd.to_numeric(a["population"]).fillna(0).sum()),
                         dwellings_est=round(float(a["dwellings_est"].sum()), 1),
                         workload_min=round(float(a["workload_min"].sum()), 1),
                         max_area_workload_min=round(float(a["workload_min"].max()), 1),
                         contiguous=bool(real_pieces.get(gc, True))))
    return gpd.GeoDataFrame(pd.DataFrame(rows, columns=list(GROUP_COLUMNS)),
                            geometry=gpd.GeoSeries(geoms, crs=areas.crs), crs=areas.crs)


def staff_plan_project(gpkg_path, *, settings: StaffSettings | None = None) -> StaffPlanResult:
    """Workload per area and supervisors' groups for a partitioned project; written into it.

    Adds :data:`AREA_STAFF_COLUMNS` to ``areas``, writes ``supervisor_groups`` (one
    polygon per group, :data:`GROUP_COLUMNS`), replaces the ``problems`` rows of stage
    ``staff`` and stores the settings and the next free group number per 居/村 in
    ``pucha_meta`` (key ``staff``), in one atomic update.
    """
    import time
    from pathlib import Path

    from pucha.errors import InputError
    from pucha.gis import schema as S
    from pucha.gis.write import list_layers, read_layer, read_meta, update_gpkg

    path = Path(gpkg_path)
    if not path.exists():
        raise InputError(f"project GeoPackage not found: {path}")
    names = list_layers(path)
    for need in (S.LAYER_AREAS, S.LAYER_BUILDING_AREAS, S.LAYER_BUILDINGS):
        if need not in names:
            raise InputError(f"{path}: layer {need!r} is missing; run `pucha partition "
                             f"{path.name}` before `pucha staff plan`")
    meta = read_meta(path)
    st = settings or staff_settings_of(meta)
    areas = read_layer(path, S.LAYER_AREAS)
    if len(areas) == 0:
        raise InputError(f"{path}: layer 'areas' is empty; run `pucha partition {path.name}`")
    areas = areas.drop(columns=[c for c in AREA_STAFF_COLUMNS if c in areas.columns])
    areas["area_code"] = areas["area_code"].astype(str)
    areas["village_code"] = areas["village_code"].astype(str)
    ba = pd.DataFrame(read_layer(path, S.LAYER_BUILDING_AREAS))
    bld = read_layer(path, S.LAYER_BUILDINGS)
    wl = area_workload(areas, bld, ba, settings=st).set_index("area_code")
    notes = workload_warnings(wl.reset_index(), settings=st)
    sm = meta.get("staff") if isinstance(meta.get("staff"), dict) else {}
    plan = plan_groups(areas, wl["workload_min"].to_dict(), settings=st,
                       previous=previous_groups(path, names),
                       next_number=sm.get("next_group_number") or {})
    codes = areas["area_code"]
    areas["supervisor_group"] = [plan.group_of[c] for c in codes]
    areas["supervisor_area"] = [plan.supervisor_area[plan.group_of[c]] == c for c in codes]
    for col in ("dwellings_est", "floors_climbed", "route_m", "workload_min"):
        areas[col] = [float(wl.at[c, col]) for c in codes]
    areas["workload_note"] = [notes.get(c, "") for c in codes]
    pieces = {gc: not any(p["code"] == "supervisor_group_not_contiguous"
                          and gc in p["message"] for p in plan.problems)
              for gc in plan.supervisor_area}
    groups = _groups_layer(areas, plan, pieces)
    rows = [dict(severity=p["severity"], code=p["code"], layer=LAYER_SUPERVISOR_GROUPS,
                 feature_ids=p["feature_ids"], message=p["message"], stage="staff")
            for p in plan.problems]
    rows += [dict(severity="warning", code="workload_high", layer=S.LAYER_AREAS, feature_ids=c,
                  message=f"普查小区 {c}: {n}", stage="staff") for c, n in sorted(notes.items())]
    new = gpd.GeoDataFrame(pd.DataFrame(rows, columns=list(S.PROBLEM_COLUMNS)),
                           geometry=gpd.GeoSeries([None] * len(rows), crs=areas.crs),
                           crs=areas.crs)
    out = {S.LAYER_AREAS: areas, LAYER_SUPERVISOR_GROUPS: groups}
    if S.LAYER_PROBLEMS in names:
        old = read_layer(path, S.LAYER_PROBLEMS)
        old = old[old["stage"].astype(str) != "staff"]
        problems = gpd.GeoDataFrame(pd.concat([old, new], ignore_index=True),
                                    geometry="geometry", crs=areas.crs)
    else:
        problems = new
    out[S.LAYER_PROBLEMS] = problems
    import dataclasses

    info = {"settings": dataclasses.asdict(st), "next_group_number": plan.next_number,
            "kept_villages": plan.kept, "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    update_gpkg(path, out, meta={"staff": info})
    log.info("指导区 %d 个，普查小区 %d 个（%d 个居/村未变，沿用原指导区）", len(groups), len(areas),
             len(plan.kept))
    return StaffPlanResult(areas=areas, groups=groups, problems=new, kept=plan.kept, settings=st)

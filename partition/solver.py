"""Assign cells to 普查小区: contiguous, inside the band, borders along barriers.

Design: recursive balanced bisection by barrier-aware region growing. For a set of
cells to be split into ``k`` areas, a region is grown from an extreme cell (along
the principal axis or its orthogonal, from either end) always taking the frontier
cell reached through the cheapest barrier first, then the one furthest back along
the axis. The grown prefix is connected by construction; the cut is the prefix
whose population is closest to ``k_left/k`` of the total (ties: cheaper barriers
cut). Disconnected leftovers join the grown side. A deterministic local search then
moves boundary cells between neighbouring areas (keeping both connected) to bring
areas into the band and closer to the target. Pinned nodes (label -> same area)
are honoured by only cutting where no label is split.
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import networkx as nx
import numpy as np

__all__ = ["SolveResult", "choose_k", "solve_graph"]


@dataclass
class SolveResult:
    """Areas as lists of nodes (sorted), problems, and the label each area carries."""
    areas: list[list[int]]
    problems: list[dict] = field(default_factory=list)
    labels: dict[int, str] = field(default_factory=dict)
    seconds: float = 0.0


def choose_k(pop: int, *, target: int = 300, vmin: int = 240, vmax: int = 360) -> int:
    """Number of areas: round(pop/target), moved so that pop/k is inside the band if possible."""
    if pop <= 0:
        return 1
    k = max(1, round(pop / target))
    for cand in sorted({k, k - 1, k + 1, k - 2, k + 2}, key=lambda c: (abs(c - k), c)):
        if cand >= 1 and vmin <= pop / cand <= vmax:
            return cand
    return k


def _grow(g, nodes, pop, xy, axis, start_max, goal, labels):
    sub = set(nodes)
    proj = {n: float(xy[n] @ axis) for n in nodes}
    sign = -1.0 if start_max else 1.0
    start = min(nodes, key=lambda n: (sign * proj[n], n))
    seen = {start}
    heap = [(0, sign * proj[start], start)]
    order, cuts = [], []
    cum = 0
    lab_total: dict[str, int] = {}
    for n in nodes:
        if n in labels:
            lab_total[labels[n]] = lab_total.get(labels[n], 0) + 1
    lab_left: dict[str, int] = {}
    split = 0
    while heap:
        r, _, n = heapq.heappop(heap)
        order.append(n)
        cum += pop[n]
        if n in labels:
            lb = labels[n]
            before = lab_left.get(lb, 0)
            lab_left[lb] = before + 1
            if before == 0:
                split += 1
            if lab_left[lb] == lab_total[lb]:
                split -= 1
        cuts.append((cum, split == 0, r))
        for m, r2 in g.graph["_radj"][n]:
            if m in sub and m not in seen:
                seen.add(m)
                heapq.heappush(heap, (r2, sign * proj[m], m))
    return order, cuts


def _cut_cost(g, left, nodes_set):
    """Barrier-aware cost of the cut between ``left`` and the rest (lower = better border)."""
    c = 0.0
    wadj = g.graph["_wadj"]
    for n in left:
        for m, w in wadj[n]:
            if m in nodes_set and m not in left:
                c += w
    return c


def _components(g, nodes) -> list[list[int]]:
    """Connected components of ``nodes`` (a set) in ``g``, each sorted, by smallest node."""
    adj = g.graph["_adj"]
    seen: set = set()
    out = []
    for s0 in sorted(nodes):
        if s0 in seen:
            continue
        comp = [s0]
        seen.add(s0)
        stack = [s0]
        while stack:
            n = stack.pop()
            for m in adj[n]:
                if m in nodes and m not in seen:
                    seen.add(m)
                    comp.append(m)
                    stack.append(m)
        out.append(sorted(comp))
    return out


def _bisect(g, nodes, k, pop, xy, labels, target):
    if k <= 1 or len(nodes) <= 1:
        return [sorted(nodes)]
    kl = k // 2
    total = sum(pop[n] for n in nodes)
    goal = total * kl / k
    pts = np.array([xy[n] for n in nodes])
    c = pts - pts.mean(axis=0)
    if len(nodes) > 2 and np.abs(c).sum() > 0:
        w, v = np.linalg.eigh(c.T @ c)
        ax1 = v[:, 1]
    else:
        ax1 = np.array([1.0, 0.0])
    if ax1[0] < 0 or (ax1[0] == 0 and ax1[1] < 0):
        ax1 = -ax1
    ax2 = np.array([-ax1[1], ax1[0]])
    nodes_set = set(nodes)
    m = total / k
    cands = []
    for axis in (ax1, ax2):
        for start_max in (False, True):
            order, cuts = _grow(g, nodes, pop, xy, axis, start_max, goal, labels)
            cum = np.array([c[0] for c in cuts], dtype=float)
            ok = np.array([c[1] for c in cuts], dtype=bool)
            ok[len(nodes) - 1:] = False
            picked = set()
            for j in range(1, k):
                near = np.argsort(np.abs(cum - j * m) + np.where(ok, 0, 1e12), kind="stable")[:3]
                picked.update(int(i) for i in near if ok[i])
            for i in sorted(picked):
                cands.append((order, i))
    best = None
    for order, i in cands:
        left = set(order[: i + 1])
        right = nodes_set - left
        comps = sorted(_components(g, right), key=lambda cc: (-sum(pop[n] for n in cc), cc[0]))
        for cc in comps[1:]:
            left |= set(cc)
            right -= set(cc)
        if not right or not left:
            continue
        pl = sum(pop[n] for n in left)
        jl = min(range(1, k), key=lambda j: (max(abs(pl / j - m), abs((total - pl) / (k - j) - m)),
                                             abs(j - k / 2)))
        err = max(abs(pl / jl - m), abs((total - pl) / (k - jl) - m))
        bal = abs(jl - k / 2) / k
        cut = _cut_cost(g, left, nodes_set)
        score = (round(err / (0.03 * target)), cut * (1 + bal) + 2.0 * err)
        if best is None or score < best[0]:
            best = (score, left, right, jl)
    if best is None:
        return [sorted(nodes)]
    left, right, kl = best[1], best[2], best[3]
    return (_bisect(g, sorted(left), kl, pop, xy, labels, target)
            + _bisect(g, sorted(right), k - kl, pop, xy, labels, target))


# cost of cutting an edge of each barrier rank (cheap along rivers and major roads)
_EDGE_W = {0: 4.0, 1: 1.5, 2: 1.0, 3: 0.4, 4: 0.3, 5: 0.1}


def _local_search(g, assign, areas_pop, pop, target, vmin, vmax, deadline, labels):
    """Move boundary cells between areas while it lowers squared deviation and keeps contiguity."""
    def cost(p):
        d = (p - target) ** 2
        if p < vmin:
            d += 50.0 * (vmin - p) ** 2 + 1e6
        if p > vmax:
            d += 50.0 * (p - vmax) ** 2 + 1e6
        return d

    members: dict[int, set] = {}
    for n, a in assign.items():
        members.setdefault(a, set()).add(n)
    improved = True
    rounds = 0
    while improved and time.monotonic() < deadline and rounds < 200:
        improved = False
        rounds += 1
        for a in sorted(members):
            if time.monotonic() > deadline:
                break
            arts = None
            for n in sorted(members[a]):
                if len(members[a]) <= 1:
                    break
                if n in labels:
                    continue
                nb = sorted({assign[m] for m in g.neighbors(n)} - {a})
                if not nb:
                    continue
                if arts is None:
                    arts = set(nx.articulation_points(g.subgraph(members[a])))
                if n in arts:
                    continue
                best = None
                for b in nb:
                    pa, pb, pn = areas_pop[a], areas_pop[b], pop[n]
                    delta = cost(pa - pn) + cost(pb + pn) - cost(pa) - cost(pb)
                    link = min(g.edges[n, q]["rank"] for q in g.neighbors(n) if assign[q] == b)
                    # never join an area across a river; across a major road only to fix the band
                    if pn > 0 and (link >= 5 or (link >= 3 and delta > -1e5)):
                        continue
                    bar = 0.0
                    for q in g.neighbors(n):
                        d = g.edges[n, q]
                        w = _EDGE_W[d["rank"]] * min(d["length"], 30.0) / 10.0
                        if assign[q] == a:
                            bar += w
                        elif assign[q] == b:
                            bar -= w
                    delta += bar
                    if delta < -1e-9 and (best is None or (delta, b) < best):
                        best = (delta, b)
                if best is not None:
                    b = best[1]
                    members[a].discard(n)
                    members[b].add(n)
                    assign[n] = b
                    areas_pop[a] -= pop[n]
                    areas_pop[b] += pop[n]
                    improved = True
                    arts = None
    return assign


def _fits(p: float, *, target: int, vmin: int, vmax: int, tol: float | None) -> bool:
    if p <= 0:
        return False
    k = choose_k(int(p), target=target, vmin=vmin, vmax=vmax)
    if tol is None:
        return vmin <= p / k <= vmax
    return abs(p / k - target) <= tol * target


def _regions(g, nodes, pop, min_rank, *, target, vmin, vmax, tol, labels):
    """Groups of ``nodes`` separated by barriers of rank >= ``min_rank``.

    A group that cannot be cut into areas inside the band (or within ``tol`` of the
    target) is merged with the neighbouring group it shares the longest barrier with,
    until every group fits or one group is left.
    """
    nodes = set(nodes)
    adj = g.graph["_adj"]
    gid: dict[int, int] = {}
    groups: dict[int, set] = {}
    for s0 in sorted(nodes):
        if s0 in gid:
            continue
        i = len(groups)
        stack, comp = [s0], {s0}
        gid[s0] = i
        while stack:
            n = stack.pop()
            for m in adj[n]:
                if m in nodes and m not in gid and g.edges[n, m]["rank"] < min_rank:
                    gid[m] = i
                    comp.add(m)
                    stack.append(m)
        groups[i] = comp
    # pinned labels may not straddle groups
    while True:
        changed = False
        for lab in sorted(set(labels.values())):
            gs = sorted({gid[n] for n in nodes if labels.get(n) == lab})
            for other in gs[1:]:
                for n in groups.pop(other):
                    gid[n] = gs[0]
                    groups[gs[0]].add(n)
                changed = True
        if not changed:
            break
    while len(groups) > 1:
        gp = {i: sum(pop[n] for n in grp) for i, grp in groups.items()}
        bad = sorted((i for i in groups if not _fits(gp[i], target=target, vmin=vmin, vmax=vmax, tol=tol)),
                     key=lambda i: (gp[i], min(groups[i])))
        if not bad:
            break
        i = bad[0]
        shared: dict[int, float] = {}
        for n in groups[i]:
            for m in adj[n]:
                j = gid.get(m)
                if j is not None and j != i:
                    shared[j] = shared.get(j, 0.0) + g.edges[n, m]["length"] + 1e-3
        if not shared:
            # no neighbour: leave it (reported by the caller as its own part)
            if len(bad) == 1 or all(not any(gid.get(m, i) != i for n in groups[b] for m in adj[n])
                                    for b in bad):
                break
            bad_rest = [b for b in bad if b != i]
            i = bad_rest[0]
            continue
        j = max(sorted(shared), key=lambda t: (shared[t], -t))
        for n in groups.pop(i):
            gid[n] = j
            groups[j].add(n)
    return [sorted(grp) for _, grp in sorted(groups.items(), key=lambda t: min(t[1]))]


def solve_graph(g: nx.Graph, pop: Mapping[int, int], xy: Mapping[int, np.ndarray], *,
                target: int = 300, vmin: int = 240, vmax: int = 360, seed: int = 0,
                time_limit: float = 20.0, pinned: Mapping[int, str] | None = None,
                name: str = "") -> SolveResult:
    """Partition the graph ``g`` into contiguous areas inside the band when possible."""
    t0 = time.monotonic()
    g = g.copy()
    g.graph["_adj"] = {n: sorted(g.neighbors(n)) for n in g}
    g.graph["_radj"] = {n: [(m, g.edges[n, m]["rank"]) for m in g.graph["_adj"][n]] for n in g}
    g.graph["_wadj"] = {n: [(m, g.edges[n, m]["length"] / (1 + g.edges[n, m]["rank"]) ** 2)
                            for m in g.graph["_adj"][n]] for n in g}
    labels = {int(k): str(v) for k, v in sorted((pinned or {}).items()) if int(k) in g}
    nodes = sorted(g.nodes)
    total = int(sum(pop[n] for n in nodes))
    problems: list[dict] = []
    if not nodes:
        return SolveResult([], problems)
    k = choose_k(total, target=target, vmin=vmin, vmax=vmax)
    nlab = len(set(labels.values()))
    k = max(k, nlab)
    def plan(kk):
        if kk != k:
            return _bisect(g, nodes, max(1, kk), pop, xy, labels, target)
        out = []
        for river_grp in _regions(g, nodes, pop, 5, target=target, vmin=vmin, vmax=vmax, tol=None,
                                  labels=labels):
            for grp in _regions(g, river_grp, pop, 3, target=target, vmin=vmin, vmax=vmax, tol=0.1,
                                labels=labels):
                gp = sum(pop[n] for n in grp)
                kk2 = choose_k(gp, target=target, vmin=vmin, vmax=vmax)
                out.extend(_bisect(g, grp, max(1, kk2), pop, xy, labels, target))
        return out

    def badness(areas):
        out = 0
        band = 0
        for a in areas:
            p = sum(pop[n] for n in a)
            band += not (vmin <= p <= vmax)
            sub = g.subgraph(a)
            for cls, w in (("river", 1000), ("major", 10)):
                h = nx.Graph()
                h.add_nodes_from(sub.nodes)
                h.add_edges_from((u, v) for u, v, d in sub.edges(data=True) if d["barrier"] != cls)
                parts = sum(1 for c in nx.connected_components(h) if any(pop[x] > 0 for x in c))
                out += w * max(0, parts - 1)
        return (band, out)

    areas = plan(k)
    bad = badness(areas)
    if bad[1] > 0:
        # another number of areas (still inside the band on average) may let the
        # borders follow the rivers and major roads: keep the better plan
        for kk in (k + 1, k - 1):
            if kk >= max(1, nlab) and vmin <= total / kk <= vmax:
                alt = plan(kk)
                b2 = badness(alt)
                if b2 < bad:
                    areas, bad = alt, b2
    assign = {n: i for i, a in enumerate(areas) for n in a}
    areas_pop = {i: sum(pop[n] for n in a) for i, a in enumerate(areas)}
    assign = _local_search(g, assign, areas_pop, pop, target, vmin, vmax, t0 + time_limit, labels)
    out: dict[int, list[int]] = {}
    for n in nodes:
        out.setdefault(assign[n], []).append(n)
    areas = [sorted(v) for _, v in sorted(out.items()) if v]
    area_labels: dict[int, str] = {}
    for i, a in enumerate(areas):
        labs = sorted({labels[n] for n in a if n in labels})
        if labs:
            area_labels[i] = labs[0]
        if len(labs) > 1:
            problems.append(dict(severity="warning", code="pins_merged", layer="buildings", feature_ids="",
                                 message=f"{name}: pinned groups {', '.join(labs)} ended in one area"))
    for lab in sorted(set(labels.values())):
        holders = sorted({i for i, a in enumerate(areas) for n in a if labels.get(n) == lab})
        if len(holders) > 1:
            problems.append(dict(severity="warning", code="pins_split", layer="buildings", feature_ids="",
                                 message=f"{name}: pinned group {lab} could not be kept in one area"))
    return SolveResult(areas, problems, area_labels, time.monotonic() - t0)

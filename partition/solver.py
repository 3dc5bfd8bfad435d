"""Assign cells to 普查小区: contiguous, inside the band, borders along barriers.

Design (per 居/村, on the barrier-aware cell graph):

1. **Coarsen** a very large graph (thousands of cells) by merging neighbouring cells
   of one block (edges that cross no barrier) into small clusters, METIS-style
   heavy-edge matching, so that the initial plan is cheap; the local search then
   runs on the original cells.
2. **Initial plan**: the cells are grouped by rivers, then by major roads (a group
   whose people cannot be cut into areas inside the band is merged with the
   neighbouring group it shares the longest barrier with), and each group is cut by
   recursive balanced bisection. Each bisection grows a region from an extreme cell
   along the principal axis (or its orthogonal), taking the frontier cell reached
   through the cheapest barrier first, and keeps the prefix whose population fits
   the areas on both sides best.
3. **Local search** on one objective per area: a hard band (1e6 per area outside),
   a river crossed inside the area (1e5 per extra part), the ±10% window, a major
   road/railway crossed inside the area, squared deviation, Polsby–Popper
   compactness (exact, from cell areas and shared boundary lengths) and, when set,
   the households target. Moves, cheapest first: a boundary cell to a neighbouring
   area (keeping both contiguous); re-splitting the union of two neighbouring areas
   by region growing from many seeds; ejection chains (pull a cell into an area
   short of people from a neighbour, which pulls from its neighbour, ...; or push);
   handing the part of an area that lies across a river / major road to a
   neighbour there; re-planning a bad area together with the areas around it.
   The first rounds weigh a river above the band (an area is first brought into
   the band without crossing a river), the later ones the band above the river.
   The last rounds are for compactness: every pair of neighbouring areas, then the
   pairs around the least compact areas, is re-split by grown regions and by
   straight sweeps across the pair in eight directions (a sweep still fills a block
   before it crosses a road, so the cut runs straight through the last block).
   A search that failed is not tried again while the areas it worked on hold the
   same cells (a content key, unchanged by a move and its undo).
4. **Rivers as separate problems**: the parts between rivers that can each be cut
   into areas inside the band are solved one by one (no area can cross a river
   there); the joint problem is solved too, and kept if better, only when that
   leaves an area outside the band or across a river without a proof.
5. **Other starts** (a plan that ignores barriers, k±1, k±2) when areas stay
   outside the band without a structural proof, within half the time limit.
6. **Reasons**: every area left outside the band, or across a river, gets a reason;
   "proven impossible" when the structure forces it (a building part above the
   band, a 居/村 too small, a 居/村 whose people no number of areas holds inside the
   band (475 with 240-360: recognised before the search, which then takes the count
   that misses the band by the least and stops there), cells hanging off one large
   cell, a cell that no contiguous group inside the band can hold, a part enclosed by
   rivers too small for an area of its own or holding a number no count of areas
   fits). A part of the 居/村 that touches no other (an exclave) is joined by a "gap"
   link, as costly as a river but not reported as one.

Everything iterates in sorted order with an explicit seed, and the time limit per
居/村 is a budget of work (see the work clock below), so the same input and seed give
the same plan under any PYTHONHASHSEED, on any machine and under any load. When the
budget runs out the best plan so far is returned, with the rules it could not meet; no
wall-clock stop changes a plan (a solve far slower than its budget is only reported).
"""

from __future__ import annotations

import heapq
import math
import random
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import networkx as nx
import numpy as np

from pucha.partition.proofs import RIVER_RANK, _reasons, band_admits, band_proof

__all__ = ["SolveResult", "band_admits", "band_proof", "choose_k", "solve_graph"]

MAJOR_RANKS = (3, 4)  # major road, railway

# objective weights (per area)
BAND_W = 1e6       # outside the hard band
BAND_SLOPE = 1e4   # per target of distance outside the band
RIVER_W = 1e5      # per extra populated part across a river
RIVER_STRICT_W = 1e7  # the same in the first rounds, where rivers come before the band
DEV10_W = 1000.0   # outside ±10% of the target
DEV10_SLOPE = 3000.0
MAJOR_W = 2500.0   # per extra populated part across a major road / railway (above the ±10% window:
#                    an area leaves the window before it crosses a major road; 1000 before)
DEV_W = 300.0      # times squared relative deviation
PP_W = 250.0       # times (1 - Polsby-Popper)
HH_W = 400.0       # times squared relative households deviation (when a target is set)
SPLIT_W = 600.0   # per link between two parts of one cut building in different areas
CUT_W = 0.01       # compactness without geometry: per metre of border

COARSE_ABOVE = 2500  # coarsen graphs with more cells than this
REPAIR_ROUNDS = 4    # local rounds after re-planning a neighbourhood
REPAIR_POP_ONLY = True  # re-plan neighbourhoods only around areas off in people or across a river
PART_CHAIN = 2
#: compactness rounds at the end: the first re-splits every pair of neighbouring areas, the
#: others only the pairs around an area less compact than POLISH_BELOW (Polsby-Popper)
FINAL_ROUNDS = 3
POLISH_BELOW = 0.5
FINAL_SEEDS = 16  # grown regions tried per pair in those rounds
#: directions of the straight sweeps across a pair of areas that those rounds try besides
#: grown regions, and the cuts tried along each sweep
SWEEPS = tuple((math.cos(k * math.pi / 4), math.sin(k * math.pi / 4)) for k in range(8))
SWEEP_CUTS = 10
RESTART_BELOW = 3000  # other starts for 居/村 up to this many cells with unforced band misses
_DEBUG = False


@dataclass
class SolveResult:
    """Areas as lists of nodes (sorted), problems, and the label each area carries."""
    areas: list[list[int]]
    problems: list[dict] = field(default_factory=list)
    labels: dict[int, str] = field(default_factory=dict)
    seconds: float = 0.0
    #: why an area misses a rule: key i (area index) for the band, key -1-i for a river
    #: crossing; "proven impossible" in the text when the structure forces it
    reasons: dict[int, str] = field(default_factory=dict)
    #: work done, in seconds of the reference core (what the time limit budgets)
    work: float = 0.0


def choose_k(pop: int, *, target: int = 300, vmin: int = 240, vmax: int = 360) -> int:
    """Number of areas: round(pop/target), moved so that pop/k is inside the band if possible.

    When no number of areas holds ``pop`` inside the band (475 people with 240-360), the
    number whose one area outside the band misses it by the least (475: two areas, one of
    240 and one of 235, rather than one of 475).
    """
    if pop <= 0:
        return 1
    k = max(1, round(pop / target))
    # among the counts whose mean is inside the band, the one whose mean is nearest the
    # target (1,645 people: 6 areas of 274 on average rather than 5 of 329, which leaves
    # a building's worth of room on each side of the ±10% window)
    fit = [c for c in (k - 2, k - 1, k, k + 1, k + 2) if c >= 1 and vmin <= pop / c <= vmax]
    if fit:
        return min(fit, key=lambda c: (abs(pop / c - target), c))
    if pop > vmax and not band_admits(pop, vmin=vmin, vmax=vmax):
        hi = -(-pop // vmax)  # the fewest areas that hold pop below the band maximum
        # hi areas: hi-1 at vmin, one short by hi*vmin - pop; hi-1 areas: one over by pop - (hi-1)*vmax
        return hi if hi * vmin - pop <= pop - (hi - 1) * vmax else hi - 1
    return k


def _ecls(rank: int) -> int:
    """Edge class for the crossing rules: 2 river, 1 major road/railway, 0 other."""
    return 2 if rank >= RIVER_RANK else (1 if rank in MAJOR_RANKS else 0)


class _Net:
    """Index-based graph: adjacency with barrier rank/class and shared length, cell attributes."""

    def __init__(self, pop, dw, ca, cp, xy, nbr, rk, ln, has_geom, sb=None):
        self.n = len(pop)
        self.pop, self.dw, self.ca, self.cp, self.xy = pop, dw, ca, cp, xy
        self.nbr, self.rk, self.ln = nbr, rk, ln
        self.cl = [[_ecls(r) for r in rr] for rr in rk]
        self.has_geom = has_geom
        #: per edge, how many links between parts of one cut building it stands for
        self.sb = sb if sb is not None else [[0] * len(x) for x in nbr]
        self.any_sb = any(any(x) for x in self.sb)
        #: per cell, its links to other parts of its cut building: (neighbour, links)
        self.sbl = [tuple((v, b) for v, b in zip(n, bb) if b) for n, bb in zip(nbr, self.sb)]
        self.sb_cells = frozenset(u for u, x in enumerate(self.sbl) if x)
        # the same links zipped once per cell (the searches' inner loops run over these):
        # (neighbour, class, length) and (neighbour, rank)
        self.adj = [tuple(zip(n, c, w)) for n, c, w in zip(nbr, self.cl, ln)]
        self.adjk = [tuple(zip(n, rr)) for n, rr in zip(nbr, rk)]
        #: (neighbour, border length weighed by the barrier: w / (1 + rank)²) for cut costs
        self.adjw = [tuple((v, w / (1 + r) ** 2) for v, r, w in zip(n, rr, ww)) for n, rr, ww in zip(nbr, rk, ln)]

    @classmethod
    def from_nx(cls, g, nodes, pop, xy, dwellings):
        idx = {n: i for i, n in enumerate(nodes)}
        nbr, rk, ln, sb = [], [], [], []
        for n in nodes:
            ms = sorted(g.neighbors(n))
            nbr.append([idx[m] for m in ms])
            rk.append([int(g.edges[n, m].get("rank", 0)) for m in ms])
            ln.append([float(g.edges[n, m].get("length", 1.0)) for m in ms])
            sb.append([1 if g.edges[n, m].get("building") else 0 for m in ms])
        has_geom = all("area" in g.nodes[n] and "perimeter" in g.nodes[n] for n in nodes) and len(nodes) > 0
        if has_geom:
            ca = [float(g.nodes[n]["area"]) for n in nodes]
            cp = [float(g.nodes[n]["perimeter"]) for n in nodes]
        else:
            ca = [1.0] * len(nodes)
            cp = [float(sum(x)) for x in ln]
        if dwellings is not None:
            dw = [float(dwellings.get(n, 0.0) or 0.0) for n in nodes]
        else:
            dw = [float(g.nodes[n].get("dwellings", 0.0) or 0.0) for n in nodes]
        dw = [0.0 if math.isnan(v) else v for v in dw]
        return cls([int(pop[n]) for n in nodes], dw, ca, cp,
                   [np.asarray(xy[n], dtype=float) for n in nodes], nbr, rk, ln, has_geom, sb)


# ---------------------------------------------------------------- the work clock
#
# The time limit is a budget of work, not of wall-clock time: the solver counts what
# it does (cell moves weighed, areas re-measured, regions grown) and converts it to
# seconds at WORK_RATE units per second (about one core of an office PC of 2024).
# So the same input and seed give the same plan on any machine and under any load:
# nothing that decides the plan reads the wall clock. The wall clock is only watched:
# a solve that takes more than HARD_FACTOR times its limit of wall-clock time (a
# machine far slower than the reference, or starved by other work) gets a ``slow_solve``
# row in ``problems`` saying so; its plan is the one any machine would find.

WORK_RATE = 40_000.0
#: wall-clock seconds per second of limit past which a solve is reported as slow (only reported)
HARD_FACTOR = 20.0
_CLOCK = threading.local()


def _start_clock(time_limit: float) -> None:
    _CLOCK.work = 0.0
    _CLOCK.wall0 = time.monotonic()


def _work(units: float) -> None:
    _CLOCK.work = getattr(_CLOCK, "work", 0.0) + units


def _now() -> float:
    """Seconds of work done since :func:`_start_clock` (never the wall clock)."""
    return getattr(_CLOCK, "work", 0.0) / WORK_RATE


def _wall() -> float:
    """Wall-clock seconds since :func:`_start_clock` (for reports only)."""
    return time.monotonic() - getattr(_CLOCK, "wall0", time.monotonic())


# ---------------------------------------------------------------- coarsening

def _coarsen(net: _Net, locked: set, cap: int, goal: int, rng: random.Random):
    """Merge cells along barrier-free edges into clusters of at most ``cap`` people.

    Returns the coarse net and, per fine node, its coarse node.
    """
    comp = list(range(net.n))
    cur = net
    while cur.n > goal:
        match = [-1] * cur.n
        order = list(range(cur.n))
        rng.shuffle(order)
        order.sort(key=lambda i: cur.pop[i])
        for u in order:
            if match[u] >= 0 or u in locked:
                continue
            best = None
            for v, r, w in zip(cur.nbr[u], cur.rk[u], cur.ln[u]):
                if r != 0 or match[v] >= 0 or v == u or v in locked:
                    continue
                if cur.pop[u] + cur.pop[v] > cap:
                    continue
                key = (w / (1.0 + cur.pop[v]), -v)
                if best is None or key > best[0]:
                    best = (key, v)
            if best is not None:
                match[u] = best[1]
                match[best[1]] = u
        newid = [-1] * cur.n
        k = 0
        for u in range(cur.n):
            if newid[u] >= 0:
                continue
            newid[u] = k
            if match[u] >= 0:
                newid[match[u]] = k
            k += 1
        if k > 0.95 * cur.n:
            break
        pop = [0] * k
        dw = [0.0] * k
        ca = [0.0] * k
        cp = [0.0] * k
        sxy = [np.zeros(2) for _ in range(k)]
        cnt = [0.0] * k
        edges: dict[tuple[int, int], list] = {}
        for u in range(cur.n):
            c = newid[u]
            pop[c] += cur.pop[u]
            dw[c] += cur.dw[u]
            ca[c] += cur.ca[u]
            cp[c] += cur.cp[u]
            wgt = cur.ca[u] if cur.has_geom else 1.0
            sxy[c] = sxy[c] + cur.xy[u] * wgt
            cnt[c] += wgt
            for v, r, w, b in zip(cur.nbr[u], cur.rk[u], cur.ln[u], cur.sb[u]):
                d = newid[v]
                if d == c:
                    if u < v:
                        cp[c] -= 2 * w
                    continue
                key = (c, d)
                e = edges.get(key)
                if e is None:
                    edges[key] = [r, w, b]
                else:
                    e[0] = min(e[0], r)
                    e[1] += w
                    e[2] += b
        nbr = [[] for _ in range(k)]
        rk = [[] for _ in range(k)]
        ln = [[] for _ in range(k)]
        sb = [[] for _ in range(k)]
        for (c, d), (r, w, b) in sorted(edges.items()):
            nbr[c].append(d)
            rk[c].append(r)
            ln[c].append(w)
            sb[c].append(b)
        xy = [sxy[c] / cnt[c] if cnt[c] > 0 else sxy[c] for c in range(k)]
        locked = {newid[u] for u in locked}
        comp = [newid[c] for c in comp]
        cur = _Net(pop, dw, ca, cp, xy, nbr, rk, ln, net.has_geom, sb)
    return cur, comp


# ---------------------------------------------------------------- initial plan

def _components(net: _Net, nodes: set) -> list[list[int]]:
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
            for m in net.nbr[n]:
                if m in nodes and m not in seen:
                    seen.add(m)
                    comp.append(m)
                    stack.append(m)
        out.append(sorted(comp))
    return out


def _grow(net: _Net, nodes, axis, start_max, labels, pts=None):
    sub = set(nodes)
    if pts is None:
        pts = np.array([net.xy[n] for n in nodes])
    proj = dict(zip(nodes, (pts @ axis).tolist()))
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
        cum += net.pop[n]
        if n in labels:
            lb = labels[n]
            before = lab_left.get(lb, 0)
            lab_left[lb] = before + 1
            if before == 0:
                split += 1
            if lab_left[lb] == lab_total[lb]:
                split -= 1
        cuts.append((cum, split == 0))
        for m, r2 in net.adjk[n]:
            if m in sub and m not in seen:
                seen.add(m)
                heapq.heappush(heap, (r2, sign * proj[m], m))
    return order, cuts


def _cut_cost(net: _Net, left: set, nodes_set: set) -> float:
    c = 0.0
    adjw = net.adjw
    for n in left:
        for m, cw in adjw[n]:
            if m in nodes_set and m not in left:
                c += cw
    return c


def _bisect(net: _Net, nodes, k, labels, target):
    if k <= 1 or len(nodes) <= 1:
        return [sorted(nodes)]
    pop = net.pop
    total = sum(pop[n] for n in nodes)
    pts = np.array([net.xy[n] for n in nodes])
    c = pts - pts.mean(axis=0)
    if len(nodes) > 2 and np.abs(c).sum() > 0:
        _, v = np.linalg.eigh(c.T @ c)
        ax1 = v[:, 1]
    else:
        ax1 = np.array([1.0, 0.0])
    if ax1[0] < 0 or (ax1[0] == 0 and ax1[1] < 0):
        ax1 = -ax1
    ax2 = np.array([-ax1[1], ax1[0]])
    nodes_set = set(nodes)
    m = total / k
    big = len(nodes) > 2000
    js = sorted(range(1, k), key=lambda j: (abs(j - k / 2), j))[:2 if big else 4]
    cands = []
    for axis in ((ax1,) if big else (ax1, ax2)):
        for start_max in (False, True):
            order, cuts = _grow(net, nodes, axis, start_max, labels, pts)
            cum = np.array([c[0] for c in cuts], dtype=float)
            ok = np.array([c[1] for c in cuts], dtype=bool)
            ok[len(nodes) - 1:] = False
            picked = set()
            for j in js:
                near = np.argsort(np.abs(cum - j * m) + np.where(ok, 0, 1e12), kind="stable")[:2]
                picked.update(int(i) for i in near if ok[i])
            for i in sorted(picked):
                cands.append((order, i))
    best = None
    for order, i in cands:
        left = set(order[: i + 1])
        right = nodes_set - left
        comps = sorted(_components(net, right), key=lambda cc: (-sum(pop[n] for n in cc), cc[0]))
        for cc in comps[1:]:
            left |= set(cc)
            right -= set(cc)
        if not right or not left:
            continue
        if labels and {labels[n] for n in left if n in labels} & {labels[n] for n in right if n in labels}:
            continue  # a pinned group cut by the pieces of one side joined to the other
        pl = sum(pop[n] for n in left)
        jl = min(range(1, k), key=lambda j: (max(abs(pl / j - m), abs((total - pl) / (k - j) - m)),
                                             abs(j - k / 2)))
        err = max(abs(pl / jl - m), abs((total - pl) / (k - jl) - m))
        bal = abs(jl - k / 2) / k
        cut = _cut_cost(net, left, nodes_set)
        score = (round(err / (0.03 * target)), cut * (1 + bal) + 2.0 * err)
        if best is None or score < best[0]:
            best = (score, left, right, jl)
    if best is None:
        return [sorted(nodes)]
    left, right, kl = best[1], best[2], best[3]
    return (_bisect(net, sorted(left), kl, labels, target)
            + _bisect(net, sorted(right), k - kl, labels, target))


def _fits(p: float, *, target: int, vmin: int, vmax: int, tol: float | None) -> bool:
    if p <= 0:
        return False
    k = choose_k(int(p), target=target, vmin=vmin, vmax=vmax)
    if tol is None:
        return vmin <= p / k <= vmax
    return abs(p / k - target) <= tol * target


def _regions(net: _Net, nodes, min_rank, *, target, vmin, vmax, tol, labels):
    """Groups of ``nodes`` separated by barriers of rank >= ``min_rank``.

    A group that cannot be cut into areas inside the band (or within ``tol`` of the
    target) is merged with the neighbouring group it shares the longest barrier with,
    until every group fits or one group is left.
    """
    nodes = set(nodes)
    pop = net.pop
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
            for m, r in zip(net.nbr[n], net.rk[n]):
                if m in nodes and m not in gid and r < min_rank:
                    gid[m] = i
                    comp.add(m)
                    stack.append(m)
        groups[i] = comp
    while True:  # pinned labels may not straddle groups
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
        merged = False
        for i in bad:
            shared: dict[int, float] = {}
            for n in groups[i]:
                for m, w in zip(net.nbr[n], net.ln[n]):
                    j = gid.get(m)
                    if j is not None and j != i:
                        shared[j] = shared.get(j, 0.0) + w + 1e-3
            if not shared:
                continue
            j = max(sorted(shared), key=lambda t: (shared[t], -t))
            for n in groups.pop(i):
                gid[n] = j
                groups[j].add(n)
            merged = True
            break
        if not merged:
            break
    return [sorted(grp) for _, grp in sorted(groups.items(), key=lambda t: min(t[1]))]


def _initial(net: _Net, nodes, k, labels, *, target, vmin, vmax, by_barriers=True):
    """Initial plan of about ``k`` areas: groups between rivers / major roads, each bisected
    into a number of areas whose average stays inside the band."""
    if not by_barriers:
        return _bisect(net, nodes, max(1, k), labels, target)
    groups = []
    for river_grp in _regions(net, nodes, RIVER_RANK, target=target, vmin=vmin, vmax=vmax, tol=None,
                              labels=labels):
        groups.extend(_regions(net, river_grp, MAJOR_RANKS[0], target=target, vmin=vmin, vmax=vmax, tol=0.1,
                               labels=labels))
    gp = [sum(net.pop[n] for n in grp) for grp in groups]
    ks = [max(1, choose_k(p, target=target, vmin=vmin, vmax=vmax)) if p > 0 else 1 for p in gp]
    # share ``k`` areas out between the groups where every group keeps its average in the band
    while sum(ks) != k:
        step = 1 if sum(ks) < k else -1
        opts = [i for i in range(len(groups))
                if gp[i] > 0 and ks[i] + step >= 1 and vmin <= gp[i] / (ks[i] + step) <= vmax]
        if not opts:
            break
        ks[min(opts, key=lambda i: (abs(gp[i] / (ks[i] + step) - target) - abs(gp[i] / ks[i] - target), i))] += step
    out = []
    for grp, kk in zip(groups, ks):
        out.extend(_bisect(net, grp, kk, labels, target))
    return out


# ---------------------------------------------------------------- local search

class _Search:
    """Areas of a net with cached statistics and the per-area objective."""

    def __init__(self, net: _Net, areas, *, target, vmin, vmax, hh_target, labels, rng, deadline):
        self.net = net
        self.target, self.vmin, self.vmax = target, vmin, vmax
        self.hh = hh_target
        self.labels = labels
        self.rng = rng
        self.deadline = deadline
        self.px = [float(v[0]) for v in net.xy]
        self.py = [float(v[1]) for v in net.xy]
        self.assign = [0] * net.n
        self.members: list[set] = []
        for i, a in enumerate(areas):
            self.members.append(set(a))
            for n in a:
                self.assign[n] = i
        self._cache: dict = {}
        self._failed: set = set()
        self.ver = [0] * len(self.members)
        self._clock = 0
        self._keys: dict[int, tuple[int, int]] = {}
        self.river_w = RIVER_W
        self.stats = [self._stats(m) for m in self.members]
        self.cost = [self._cost(s) for s in self.stats]

    # -- statistics of a set of nodes: pop, dw, area, perimeter, river edges, major edges
    def _stats(self, S):
        _work(0.05 * len(S))
        net = self.net
        p = dw = A = P = 0.0
        nr = nm = 0
        pops, dws, cas, cps, adj = net.pop, net.dw, net.ca, net.cp, net.adj
        for u in S:
            p += pops[u]
            dw += dws[u]
            A += cas[u]
            P += cps[u]
            for v, c, w in adj[u]:
                if v in S:
                    P -= w  # each internal edge is seen twice: 2*w in total
                    if u < v:
                        if c == 2:
                            nr += 1
                        elif c == 1:
                            nm += 1
        rc = self._parts(S, 2) if nr else (1 if p > 0 else 0)
        mc = self._parts(S, 1) if nm else (1 if p > 0 else 0)
        bx = 0
        if net.any_sb:
            for u in net.sb_cells.intersection(S):
                for v, b in net.sbl[u]:
                    if v not in S:
                        bx += b
        return [int(p), dw, A, P, nr, nm, rc, mc, len(S), bx]

    def _parts(self, S, cls):
        """Populated connected parts of S once edges of class ``cls`` are removed."""
        return self._populated_pieces(S, S, cls)

    def _populated_pieces(self, starts, members, cls):
        """Connected pieces of ``members`` holding people, searched from ``starts``,
        through edges not of class ``cls``."""
        net = self.net
        adj = net.adj
        seen: set = set()
        k = 0
        for s in starts:
            if s in seen:
                continue
            seen.add(s)
            stack = [s]
            has = net.pop[s] > 0
            while stack:
                u = stack.pop()
                for v, c, _ in adj[u]:
                    if c != cls and v in members and v not in seen:
                        seen.add(v)
                        has = has or net.pop[v] > 0
                        stack.append(v)
            k += has
        return k

    def _cost(self, s):
        p, dw, A, P, _, _, rc, mc, cnt, bx = s
        if cnt == 0:
            return 0.0
        t = self.target
        dev = abs(p - t) / t
        c = DEV_W * dev * dev
        if abs(p - t) * 10 > t:
            c += DEV10_W + DEV10_SLOPE * (dev - 0.1)
        if p < self.vmin:
            c += BAND_W + BAND_SLOPE * (self.vmin - p) / t
        elif p > self.vmax:
            c += BAND_W + BAND_SLOPE * (p - self.vmax) / t
        if rc > 1:
            c += self.river_w * (rc - 1)
        if mc > 1:
            c += MAJOR_W * (mc - 1)
        if bx:
            c += 0.5 * SPLIT_W * bx  # each link is counted by the areas on both sides
        if self.net.has_geom:
            if P > 0:
                c += PP_W * (1.0 - min(1.0, 4 * math.pi * A / (P * P)))
        else:
            c += CUT_W * P
        if self.hh:
            c += HH_W * ((dw - self.hh) / self.hh) ** 2
        return c

    def total(self):
        return sum(self.cost)

    def bad(self, a) -> bool:
        """Area ``a`` misses the ±10% window (or the band) or crosses a river or major road."""
        st = self.stats[a]
        return abs(st[0] - self.target) * 10 > self.target or st[6] > 1 or st[7] > 1

    def set_river_weight(self, w: float) -> None:
        """Weigh a river crossed inside an area by ``w`` (above BAND_W: rivers before the band)."""
        self.river_w = w
        self.cost = [self._cost(st) for st in self.stats]
        self._failed.clear()

    def _connected_without(self, a, n):
        net = self.net
        S = self.members[a]
        inner = [m for m in net.nbr[n] if m in S]
        if len(inner) <= 1:
            return True
        want = set(inner)
        start = inner[0]
        want.discard(start)
        seen = {start, n}
        stack = [start]
        while stack:
            u = stack.pop()
            for v in net.nbr[u]:
                if v in S and v not in seen:
                    if v in want:
                        want.discard(v)
                        if not want:
                            return True
                    seen.add(v)
                    stack.append(v)
        return not want

    def _cc(self, a, cls):
        """Cached parts of area ``a`` without edges of class ``cls``: (label of node, pop of part, nodes)."""
        key = (a, cls)
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        net = self.net
        S = self.members[a]
        lab: dict[int, int] = {}
        cpop: list[int] = []
        cnodes: list[list[int]] = []
        for s in sorted(S):
            if s in lab:
                continue
            i = len(cpop)
            lab[s] = i
            stack = [s]
            nodes = [s]
            p = net.pop[s]
            while stack:
                u = stack.pop()
                for v, c, _ in net.adj[u]:
                    if c != cls and v in S and v not in lab:
                        lab[v] = i
                        p += net.pop[v]
                        nodes.append(v)
                        stack.append(v)
            cpop.append(p)
            cnodes.append(nodes)
        hit = (lab, cpop, cnodes)
        self._cache[key] = hit
        return hit

    def _parts_after(self, a, n, sign, cls, old):
        """Populated parts of area ``a`` without class-``cls`` edges once ``n`` leaves/joins it."""
        net = self.net
        S = self.members[a]
        lab, cpop, cnodes = self._cc(a, cls)
        if sign > 0:
            touched = {lab[v] for v, c, _ in net.adj[n] if c != cls and v in S}
            merged_pop = net.pop[n] + sum(cpop[c] for c in touched)
            return old - sum(1 for c in touched if cpop[c] > 0) + (1 if merged_pop > 0 else 0)
        c0 = lab[n]
        inner = [v for v, c, _ in net.adj[n] if c != cls and v in S]
        was = 1 if cpop[c0] > 0 else 0
        after = 1 if cpop[c0] - net.pop[n] > 0 else 0
        if len(inner) <= 1:
            return old - was + after
        rest = set(cnodes[c0])
        rest.discard(n)
        # quick test: the part stays in one piece
        want = set(inner)
        start = inner[0]
        want.discard(start)
        seen = {start}
        stack = [start]
        while stack and want:
            u = stack.pop()
            for v, c, _ in net.adj[u]:
                if c != cls and v in rest and v not in seen:
                    seen.add(v)
                    want.discard(v)
                    stack.append(v)
        if not want:
            return old - was + after
        # n held its part together: count the populated pieces left
        return old - was + self._populated_pieces(inner, rest, cls)

    def _moved_stats(self, a, n, sign):
        """Stats of area ``a`` without (sign=-1) or with (sign=+1) node ``n``."""
        _work(1.0)
        net = self.net
        s = self.stats[a]
        S = self.members[a]
        sh = 0.0
        r = m = 0
        for v, c, w in net.adj[n]:
            if v in S:
                sh += w
                if c == 2:
                    r += 1
                elif c == 1:
                    m += 1
        p = s[0] + sign * net.pop[n]
        dw = s[1] + sign * net.dw[n]
        A = s[2] + sign * net.ca[n]
        P = s[3] + sign * net.cp[n] - sign * 2 * sh
        nr = s[4] + sign * r
        nm = s[5] + sign * m
        one = 1 if p > 0 else 0
        # (an area stays connected, so with no such edge inside it is one part)
        rc = self._parts_after(a, n, sign, 2, s[6]) if nr else one
        mc = self._parts_after(a, n, sign, 1, s[7]) if nm else one
        bx = s[9]
        if net.any_sb:
            inner = outer = 0
            for v, b in net.sbl[n]:
                if v in S:
                    inner += b
                else:
                    outer += b
            bx += (outer - inner) if sign > 0 else (inner - outer)
        return [p, dw, A, P, nr, nm, rc, mc, s[8] + sign, bx]

    def _tick(self, a):
        self._clock += 1
        self.ver[a] = self._clock

    def _key(self, a) -> int:
        """What area ``a`` holds (a hash of its cells, cached per version): the same again
        after a move and its undo, so a failed search is not retried on the same areas."""
        v, h = self._keys.get(a, (None, 0))
        if v != self.ver[a]:
            _work(0.01 * len(self.members[a]))
            h = hash(frozenset(self.members[a]))
            self._keys[a] = (self.ver[a], h)
        return h

    def _apply_move(self, n, a, b, sa, sb):
        self._tick(a)
        self._tick(b)
        for key in ((a, 1), (a, 2), (b, 1), (b, 2)):
            self._cache.pop(key, None)
        self.members[a].discard(n)
        self.members[b].add(n)
        self.assign[n] = b
        self.stats[a], self.stats[b] = sa, sb
        self.cost[a], self.cost[b] = self._cost(sa), self._cost(sb)

    def cell_moves(self, max_sweeps=50, nodes=None, allowed=None) -> bool:
        """Move boundary cells to a neighbouring area while the objective drops."""
        net = self.net
        any_change = False
        todo = range(net.n) if nodes is None else sorted(nodes)
        dirty: set | None = None  # areas changed in the last sweep (None: the first sweep)
        for _ in range(max_sweeps):
            changed = False
            touched: set = set()
            for j, n in enumerate(todo):
                if (j & 63) == 0 and _now() > self.deadline:
                    return any_change
                a = self.assign[n]
                nbs = {self.assign[m] for m in net.nbr[n]}
                if dirty is not None and a not in dirty and nbs.isdisjoint(dirty):
                    continue  # nothing it depends on changed since it was last looked at
                nbs.discard(a)
                if allowed is not None:
                    nbs &= allowed
                if not nbs or n in self.labels or len(self.members[a]) <= 1:
                    continue
                if not self._connected_without(a, n):
                    continue
                sa = self._moved_stats(a, n, -1)
                ca = self._cost(sa)
                best = None
                for b in sorted(nbs):
                    sb = self._moved_stats(b, n, +1)
                    d = ca + self._cost(sb) - self.cost[a] - self.cost[b]
                    if d < -1e-9 and (best is None or d < best[0]):
                        best = (d, b, sb)
                if best is not None:
                    self._apply_move(n, a, best[1], sa, best[2])
                    touched.update((a, best[1]))
                    changed = any_change = True
            if not changed:
                break
            dirty = touched
        return any_change

    # -- large-neighbourhood repair: re-plan a bad area with the areas around it
    def _set_areas(self, ids, sets):
        for a in ids:
            for key in ((a, 1), (a, 2)):
                self._cache.pop(key, None)
            self._tick(a)
        for a, S in zip(ids, sets):
            self.members[a] = set(S)
            for u in S:
                self.assign[u] = a
            self.stats[a] = self._stats(self.members[a])
            self.cost[a] = self._cost(self.stats[a])

    def repair(self, a, big_fixed) -> bool:
        net = self.net
        region = {a}
        frontier = [a]
        for _ring in range(3):
            nxt = []
            for x in frontier:
                for b in self.neighbours(x):
                    if b not in region and b not in big_fixed:
                        region.add(b)
                        nxt.append(b)
            frontier = nxt
            PR = sum(self.stats[x][0] for x in region)
            kr = choose_k(PR, target=self.target, vmin=self.vmin, vmax=self.vmax)
            if len(region) >= 4 and self.vmin <= PR / kr <= self.vmax:
                break
            if len(region) >= 12:
                break
        ids = sorted(region)
        if len(ids) < 2:
            return False
        memo = tuple((x, self._key(x)) for x in ids)
        if memo in self._failed:
            return False
        U = set().union(*(self.members[x] for x in ids))
        PR = sum(self.stats[x][0] for x in ids)
        kr = choose_k(PR, target=self.target, vmin=self.vmin, vmax=self.vmax)
        kr = max(kr, len({self.labels[u] for u in U if u in self.labels}), 1)
        old_cost = sum(self.cost[x] for x in ids)
        old_sets = [set(self.members[x]) for x in ids]
        labs = {u: lb for u, lb in self.labels.items() if u in U}
        best = None
        extras: list[int] = []
        for variant in (True, False):
            if _now() > self.deadline:
                break
            init = _initial(net, sorted(U), kr, labs, target=self.target, vmin=self.vmin, vmax=self.vmax,
                            by_barriers=variant)
            while len(ids) + len(extras) < len(init):
                extras.append(self._new_area())
            use = ids + extras
            sets = [set(x) for x in init] + [set() for _ in range(len(use) - len(init))]
            self._set_areas(use, sets)
            allowed = set(use)
            for _ in range(REPAIR_ROUNDS):
                m1 = self.cell_moves(nodes=U, allowed=allowed)
                m2 = False
                for x in sorted(use, key=lambda x: (-self.cost[x], x)):
                    if self.members[x] and self.bad(x):
                        for b in self.neighbours(x):
                            if b in allowed and self.resplit(x, b):
                                m2 = True
                                break
                if not (m1 or m2):
                    break
            c = sum(self.cost[x] for x in use)
            if c < old_cost - 1e-6 and (best is None or c < best[0]):
                best = (c, [set(self.members[x]) for x in use])
            if best is not None and not any(self.bad(x) for x in use):
                break
        use = ids + extras
        if best is None:
            self._set_areas(use, old_sets + [set() for _ in extras])
            self._drop_empty_tail()
            self._failed.add(memo)
            return False
        self._set_areas(use, best[1])
        self._drop_empty_tail()
        return True

    def _new_area(self):
        self.members.append(set())
        self.ver.append(0)
        self._tick(len(self.ver) - 1)
        self.stats.append([0, 0.0, 0.0, 0.0, 0, 0, 0, 0, 0, 0])
        self.cost.append(0.0)
        return len(self.members) - 1

    def _drop_empty_tail(self):
        while self.members and not self.members[-1]:
            self.members.pop()
            self.ver.pop()
            self.stats.pop()
            self.cost.pop()
            for key in ((len(self.members), 1), (len(self.members), 2)):
                self._cache.pop(key, None)

    # -- ejection chains: pull cells into an area short of people, push them out of a full one
    def _try(self, n, y, x):
        """Delta of moving ``n`` from area ``y`` to ``x`` (None if ``y`` would fall apart)."""
        if n in self.labels or len(self.members[y]) <= 1 or not self._connected_without(y, n):
            return None
        sy = self._moved_stats(y, n, -1)
        sx = self._moved_stats(x, n, +1)
        return self._cost(sy) + self._cost(sx) - self.cost[y] - self.cost[x], sy, sx

    def _undo(self, n, frm, to):
        sf = self._moved_stats(frm, n, -1)
        st = self._moved_stats(to, n, +1)
        self._apply_move(n, frm, to, sf, st)

    def _chain(self, x, pull, depth, gain, visited, width=5):
        net = self.net
        cands = []
        seen: set = set()
        for u in sorted(self.members[x]):
            for v in net.nbr[u]:
                y = self.assign[v]
                if y == x or y in visited:
                    continue
                n, frm, to = (v, y, x) if pull else (u, x, y)
                if (n, to) in seen:
                    continue
                seen.add((n, to))
                r = self._try(n, frm, to)
                if r is not None:
                    cands.append((r[0], n, frm, to, r[1], r[2]))
        cands.sort(key=lambda t: (t[0], t[1], t[3]))
        cands = cands[:width]
        for d, n, frm, to, sf, st in cands:
            if gain + d < -1e-6:
                self._apply_move(n, frm, to, sf, st)
                return True
        if depth <= 1:
            return False
        for d, n, frm, to, sf, st in cands:
            if _now() > self.deadline:
                return False
            if n not in self.members[frm]:
                continue
            self._apply_move(n, frm, to, sf, st)
            nxt = frm if pull else to
            if self._chain(nxt, pull, depth - 1, gain + d, visited | {nxt}, width):
                return True
            self._undo(n, to, frm)
        return False

    def part_moves(self) -> bool:
        """Hand a part of an area that lies across a river (or major road) to a neighbour there.

        The receiving area may leave the band for a moment: an ejection chain from it
        must then bring the total cost down, or the move is undone.
        """
        net = self.net
        changed = False
        for a in range(len(self.members)):
            if _now() > self.deadline:
                break
            if a >= len(self.members) or (self.stats[a][6] <= 1 and self.stats[a][7] <= 1):
                continue
            memo = ("part", a, self._key(a), tuple((b, self._key(b)) for b in self.neighbours(a)))
            if memo in self._failed:
                continue
            hit = False
            for cls, idx in ((2, 6), (1, 7)):
                if a >= len(self.members) or self.stats[a][idx] <= 1:
                    continue
                lab, cpop, cnodes = self._cc(a, cls)
                main = max(range(len(cpop)), key=lambda i: (cpop[i], -min(cnodes[i])))
                moved = False
                for ci in sorted(range(len(cpop)), key=lambda i: (cpop[i], min(cnodes[i]))):
                    if ci == main or cpop[ci] <= 0 or moved:
                        continue
                    P = set(cnodes[ci])
                    if any(u in self.labels for u in P):
                        continue
                    rest = self.members[a] - P
                    if not rest or not self._connected(rest):
                        continue
                    recv = sorted({self.assign[v] for u in P for v in net.nbr[u]} - {a})
                    old_a = set(self.members[a])
                    for b in recv:
                        old_b = set(self.members[b])
                        before = self.cost[a] + self.cost[b]
                        self._set_areas([a, b], [rest, old_b | P])
                        gain = self.cost[a] + self.cost[b] - before
                        if gain < -1e-6 or self._chain(b, False, PART_CHAIN, gain, frozenset({a, b})):
                            moved = changed = hit = True
                            break
                        self._set_areas([a, b], [old_a, old_b])
                    if moved:
                        break
            if not hit:
                self._failed.add(memo)
        return changed

    def chain_pass(self, depth=3) -> bool:
        changed = False
        order = sorted(range(len(self.members)), key=lambda a: (-self.cost[a], a))
        for a in order:
            if _now() > self.deadline:
                break
            if a >= len(self.members) or not self.members[a] or not self.bad(a):
                continue
            if abs(self.stats[a][0] - self.target) * 10 <= self.target:
                continue  # across a major road only: part moves hand such a part over
            if any(self.net.pop[u] > self.vmax for u in self.members[a]):
                continue
            pull = self.stats[a][0] < self.target
            memo = ("chain", a, self._key(a), tuple((b, self._key(b)) for b in self.neighbours(a)))
            if memo in self._failed:
                continue
            if self._chain(a, pull, depth, 0.0, frozenset({a})):
                changed = True
            else:
                self._failed.add(memo)
        return changed

    def _big(self) -> set:
        """Areas holding a cell above the band (re-planning cannot help them)."""
        return {a for a in range(len(self.members)) if any(self.net.pop[u] > self.vmax for u in self.members[a])}

    def polsby_popper(self, a) -> float:
        _, _, A, P = self.stats[a][:4]
        return 4 * math.pi * A / (P * P) if P > 0 else 1.0

    def repair_pass(self) -> bool:
        big = self._big()
        changed = False
        order = sorted(range(len(self.members)), key=lambda a: (-self.cost[a], a))
        for a in order:
            if _now() > self.deadline:
                break
            if a >= len(self.members) or a in big or not self.members[a] or not self.bad(a):
                continue
            if REPAIR_POP_ONLY and abs(self.stats[a][0] - self.target) * 10 <= self.target \
                    and self.stats[a][6] <= 1:
                continue
            if self.repair(a, big):
                changed = True
        return changed

    # -- re-split the union of two neighbouring areas
    def _grow_order(self, U, s, stop=math.inf, axis=None):
        """Cells of ``U`` in growth order from ``s`` (cheapest barrier, then nearest first;
        with ``axis``, lowest projection on it first: a straight sweep across a block),
        until the people taken exceed ``stop``."""
        net = self.net
        pops = net.pop
        px, py = self.px, self.py
        if axis is not None:
            ax, ay = axis
            s = min(U, key=lambda u: (px[u] * ax + py[u] * ay, u))
        x0, y0 = px[s], py[s]
        seen = {s}
        heap = [(0, 0.0, s)]
        order = []
        cum = 0
        push, pop_ = heapq.heappush, heapq.heappop
        adjk = net.adjk
        _work(0.05 * len(U))
        while heap:
            _, _, u = pop_(heap)
            order.append(u)
            cum += pops[u]
            if cum > stop:
                break
            for v, r in adjk[u]:
                if v in U and v not in seen:
                    seen.add(v)
                    if axis is None:
                        dx, dy = px[v] - x0, py[v] - y0
                        key = dx * dx + dy * dy
                    else:
                        key = px[v] * ax + py[v] * ay
                    push(heap, (r if r < 3 else 3, key, v))
        return order

    def _labels_ok(self, left, U):
        labs: dict[str, int] = {}
        for u in U:
            lb = self.labels.get(u)
            if lb is None:
                continue
            side = 1 if u in left else 2
            if labs.get(lb, side) != side:
                return False
            labs[lb] = side
        return True

    def _connected(self, S):
        if not S:
            return False
        _work(0.02 * len(S))
        net = self.net
        s = next(iter(S))
        seen = {s}
        stack = [s]
        while stack:
            u = stack.pop()
            for v in net.nbr[u]:
                if v in S and v not in seen:
                    seen.add(v)
                    stack.append(v)
        return len(seen) == len(S)

    def resplit(self, a, b, n_seeds=10, per_seed=5, sweeps=()) -> bool:
        key = (min(a, b), max(a, b), self._key(min(a, b)), self._key(max(a, b)), bool(sweeps))
        if key in self._failed:
            return False
        U = self.members[a] | self.members[b]
        if len(U) < 2:
            return False
        net = self.net
        t, lo_b, hi_b = self.target, self.vmin, self.vmax
        PU = self.stats[a][0] + self.stats[b][0]
        lo, hi = max(math.ceil(0.9 * t), PU - math.floor(1.1 * t)), min(math.floor(1.1 * t), PU - math.ceil(0.9 * t))
        if lo > hi:
            lo, hi = max(lo_b, PU - hi_b), min(hi_b, PU - lo_b)
        if lo > hi:
            lo, hi = PU / 2 - 0.1 * t, PU / 2 + 0.1 * t
        cur = self.cost[a] + self.cost[b]
        Us = sorted(U)
        seeds = Us if len(Us) <= n_seeds else sorted(self.rng.sample(Us, n_seeds))
        best = None
        tried: set = set()
        for axis, seed in [(None, x) for x in seeds] + [(ax, None) for ax in sweeps]:
            if _now() > self.deadline:
                break
            order = self._grow_order(U, seed, hi, axis=axis)
            cum = 0
            cands = []
            for i, u in enumerate(order[:-1]):
                cum += net.pop[u]
                if lo <= cum <= hi and (i + 1 == len(order) - 1 or net.pop[order[i + 1]] > 0
                                        or len(cands) == 0):
                    cands.append(i)
                elif cum > hi:
                    break
            ps = per_seed if axis is None else SWEEP_CUTS
            if len(cands) > ps:
                step = len(cands) / ps
                cands = [cands[int(j * step)] for j in range(ps)]
            for i in cands:
                left = frozenset(order[: i + 1])
                if left in tried:
                    continue
                tried.add(left)
                right = U - left
                if not self._connected(right):
                    continue
                if self.labels and not self._labels_ok(left, U):
                    continue
                sl, sr = self._stats(left), self._stats(set(right))
                c = self._cost(sl) + self._cost(sr)
                if c < cur - 1e-6 and (best is None or c < best[0]):
                    best = (c, left, right, sl, sr)
        if best is None:
            self._failed.add(key)
            return False
        _, left, right, sl, sr = best
        # keep the area index whose old members overlap most
        if len(left & self.members[a]) + len(right & self.members[b]) < \
                len(left & self.members[b]) + len(right & self.members[a]):
            left, right, sl, sr = right, left, sr, sl
        for key in ((a, 1), (a, 2), (b, 1), (b, 2)):
            self._cache.pop(key, None)
        self._tick(a)
        self._tick(b)
        self.members[a] = set(left)
        self.members[b] = set(right)
        for u in left:
            self.assign[u] = a
        for u in right:
            self.assign[u] = b
        self.stats[a], self.stats[b] = sl, sr
        self.cost[a], self.cost[b] = self._cost(sl), self._cost(sr)
        return True

    def neighbours(self, a):
        net = self.net
        out = set()
        for u in self.members[a]:
            for v in net.nbr[u]:
                out.add(self.assign[v])
        out.discard(a)
        return sorted(out)

    def pair_pass(self, only_bad=True, n_seeds=10, sweeps=(), below=None) -> bool:
        changed = False
        order = sorted(range(len(self.members)), key=lambda a: (-self.cost[a], a))
        done: set = set()
        for a in order:
            if _now() > self.deadline:
                break
            if only_bad and not self.bad(a):
                continue
            if below is not None and not (self.members[a] and self.polsby_popper(a) < below):
                continue
            for b in self.neighbours(a):
                key = (min(a, b), max(a, b))
                if key in done:
                    continue
                done.add(key)
                if self.resplit(a, b, n_seeds=n_seeds, sweeps=sweeps):
                    changed = True
                    break
        return changed

    def areas(self):
        return [sorted(m) for m in self.members if m]


def _optimise(net, areas, *, target, vmin, vmax, hh_target, labels, seed, deadline, rounds=8,
              strict=True):
    s = _Search(net, areas, target=target, vmin=vmin, vmax=vmax, hh_target=hh_target, labels=labels,
                rng=random.Random(seed), deadline=deadline)
    if strict and any(c == 2 for cc in net.cl for c in cc):
        # first every river stays between areas (the band is met without crossing one);
        # only if some area is then outside the band does the band come first again
        s.set_river_weight(RIVER_STRICT_W)
        _rounds(s, rounds, deadline)
        if all(st[8] == 0 or vmin <= st[0] <= vmax for st in s.stats) or _now() > deadline \
                or not _unforced(net, s):
            s.set_river_weight(RIVER_W)
            return s
        s.set_river_weight(RIVER_W)
    _rounds(s, rounds, deadline)
    return s


def _rounds(s: _Search, rounds: int, deadline: float) -> None:
    """The local search: cell moves and re-splits, chains and part moves, repairs, compactness."""
    for _ in range(rounds):
        moved = s.cell_moves()
        split = s.pair_pass(only_bad=True)
        if not (moved or split) or _now() > deadline:
            break
    for _ in range(rounds):
        if not (s.chain_pass() | s.part_moves()) or _now() > deadline:
            break
    for _ in range(rounds):
        if not (s.repair_pass() | s.chain_pass()) or _now() > deadline:
            break
    for k in range(FINAL_ROUNDS):
        if _now() > deadline:
            break
        split = s.pair_pass(only_bad=False, n_seeds=FINAL_SEEDS, sweeps=SWEEPS,
                            below=None if k == 0 else POLISH_BELOW)
        moved = s.cell_moves()
        if not (split or moved):
            break


def _score(s: _Search):
    """Comparable quality of plans with different numbers of areas (lower is better)."""
    band = river = out10 = major = 0
    for st in s.stats:
        if st[8] == 0:
            continue
        p = st[0]
        band += not (s.vmin <= p <= s.vmax)
        river += st[6] > 1
        major += st[7] > 1
        out10 += abs(p - s.target) * 10 > s.target
    return (band, river, out10 + major, s.total())


def solve_graph(g: nx.Graph, pop: Mapping[int, int], xy: Mapping[int, np.ndarray], *,
                target: int = 300, vmin: int = 240, vmax: int = 360, seed: int = 0,
                time_limit: float = 20.0, pinned: Mapping[int, str] | None = None,
                name: str = "", households_target: float | None = None,
                dwellings: Mapping[int, float] | None = None) -> SolveResult:
    """Partition the graph ``g`` into contiguous areas inside the band when possible.

    Node attributes ``area`` and ``perimeter`` (m², m; set by :func:`cell_graph`)
    make the compactness term exact Polsby–Popper; ``dwellings`` (attribute or
    mapping) is balanced towards ``households_target`` when that is set.
    """
    wall0 = time.monotonic()
    _start_clock(time_limit)
    t0 = _now()
    deadline = t0 + max(0.05, time_limit)
    nodes = sorted(g.nodes)
    problems: list[dict] = []
    if not nodes:
        return SolveResult([], problems)
    net = _Net.from_nx(g, nodes, pop, xy, dwellings)
    labels = {i: str(pinned[n]) for i, n in enumerate(nodes) if pinned and n in pinned}
    total = int(sum(net.pop))
    hh = float(households_target) if households_target else None

    kw = dict(target=target, vmin=vmin, vmax=vmax, hh=hh, seed=seed, labels=labels)
    # rivers first: the parts between rivers that can each be cut into areas inside the
    # band are solved as separate problems (no area can cross a river there); the joint
    # problem is solved too only if that leaves areas outside the band without a proof
    split = _river_split(net, labels, target=target, vmin=vmin, vmax=vmax)
    if split is not None:
        all_areas = _solve_all(split, t0, deadline, **kw)
        plan = _plan_search(net, all_areas, target=target, vmin=vmin, vmax=vmax)
        if _unforced(net, plan, rivers=True) and _now() < deadline:
            joint = _solve_all(net, _now(), deadline, strict=False, **kw)
            if _score(_plan_search(net, joint, target=target, vmin=vmin, vmax=vmax)) < _score(plan):
                all_areas = joint
    else:
        all_areas = _solve_all(net, t0, deadline, **kw)
    areas = [sorted(nodes[i] for i in a) for a in all_areas if a]
    areas.sort(key=lambda a: a[0])
    if _now() > deadline:
        problems.append(dict(severity="warning", code="time_limit", layer="villages", feature_ids="",
                             message=f"{name}: the work budget of the {time_limit:g} s time limit was "
                                     "used up; the best plan found so far is kept (the same on any machine)"))
    wall = _wall()
    if wall > HARD_FACTOR * max(0.05, time_limit) + 1.0:
        problems.append(dict(severity="info", code="slow_solve", layer="villages", feature_ids="",
                             message=f"{name}: solving took {wall:.0f} s of wall-clock time for a work "
                                     f"budget of {time_limit:g} s (a slow or busy machine); the plan does "
                                     "not depend on it"))
    area_labels: dict[int, str] = {}
    lab_of = {nodes[i]: lb for i, lb in labels.items()}
    for i, a in enumerate(areas):
        labs = sorted({lab_of[n] for n in a if n in lab_of})
        if labs:
            area_labels[i] = labs[0]
        if len(labs) > 1:
            problems.append(dict(severity="warning", code="pins_merged", layer="buildings", feature_ids="",
                                 message=f"{name}: pinned groups {', '.join(labs)} ended in one area"))
    for lab in sorted(set(labels.values())):
        holders = sorted({i for i, a in enumerate(areas) for n in a if lab_of.get(n) == lab})
        if len(holders) > 1:
            problems.append(dict(severity="warning", code="pins_split", layer="buildings", feature_ids="",
                                 message=f"{name}: pinned group {lab} could not be kept in one area"))
    reasons = _reasons(g, areas, pop, target=target, vmin=vmin, vmax=vmax, total=total)
    return SolveResult(areas, problems, area_labels, time.monotonic() - wall0, reasons, _now() - t0)


def _solve_all(net, t0, deadline, *, target, vmin, vmax, hh, seed, labels, strict=True) -> list[list[int]]:
    """Solve every connected piece of ``net``; the time left is shared out by people and cells."""
    pieces = _components(net, set(range(net.n)))
    total = sum(net.pop) + net.n
    span = max(0.0, deadline - t0)
    out: list[list[int]] = []
    for piece in pieces:
        dl = t0 + span * (sum(net.pop[n] for n in piece) + len(piece)) / total if len(pieces) > 1 else deadline
        out.extend(_solve_piece(net, piece, labels, target=target, vmin=vmin, vmax=vmax, hh=hh, seed=seed,
                                strict=strict,
                                deadline=max(dl, t0 + 0.05)))
    return [a for a in out if a]


def _river_split(net: _Net, labels, *, target, vmin, vmax) -> _Net | None:
    """``net`` without the river links areas need not cross (None: there are none).

    The parts between rivers that can each be cut into areas inside the band lose
    every river link: those between parts, and those inside a part (a canal that ends
    inside it, whose two banks join around its end). Parts too small stay joined to a
    neighbour across their river.
    """
    gid: dict[int, int] = {}
    inner: set[int] = set()  # cells whose river links to each other are dropped
    n_groups = 0
    for piece in _components(net, set(range(net.n))):
        for grp in _regions(net, piece, RIVER_RANK, target=target, vmin=vmin, vmax=vmax, tol=None,
                            labels=labels):
            for n in grp:
                gid[n] = n_groups
            # a group with one populated piece without its river links (other pieces:
            # empty land such as the water itself): no area need cross a river inside it
            members = set(grp)
            comp: dict[int, int] = {}
            for s0 in grp:
                if s0 in comp:
                    continue
                comp[s0] = s0
                stack = [s0]
                while stack:
                    u = stack.pop()
                    for v, c, _ in net.adj[u]:
                        if c != 2 and v in members and v not in comp:
                            comp[v] = s0
                            stack.append(v)
            populated = {comp[n] for n in grp if net.pop[n] > 0}
            if len(populated) == 1:
                root = populated.pop()
                inner.update(n for n in grp if comp[n] == root)
            n_groups += 1

    def keep(u, i):
        v = net.nbr[u][i]
        if gid[v] != gid[u]:
            return False
        return not (net.cl[u][i] == 2 and u in inner and v in inner)

    flags = [[keep(u, i) for i in range(len(net.nbr[u]))] for u in range(net.n)]
    if all(all(f) for f in flags):
        return None
    nbr, rk, ln, sb = [], [], [], []
    for u in range(net.n):
        kk = [i for i, f in enumerate(flags[u]) if f]
        nbr.append([net.nbr[u][i] for i in kk])
        rk.append([net.rk[u][i] for i in kk])
        ln.append([net.ln[u][i] for i in kk])
        sb.append([net.sb[u][i] for i in kk])
    # perimeters stay those of the cells: the compactness term is unchanged
    return _Net(net.pop, net.dw, net.ca, net.cp, net.xy, nbr, rk, ln, net.has_geom, sb)


def _plan_search(net, areas, *, target, vmin, vmax) -> _Search:
    return _Search(net, areas, target=target, vmin=vmin, vmax=vmax, hh_target=None, labels={},
                   rng=random.Random(0), deadline=0.0)


def _solve_piece(net, piece, labels, *, target, vmin, vmax, hh, seed, deadline, strict=True):
    pp = sum(net.pop[n] for n in piece)
    if len(piece) == 1 or pp <= 0:
        return [piece]
    k0 = choose_k(pp, target=target, vmin=vmin, vmax=vmax)
    nlab = len({labels[n] for n in piece if n in labels})
    k0 = max(k0, nlab)
    if k0 <= 1:
        return [piece]
    # coarse net for the initial plan of a large graph
    sub_labels = {n: lb for n, lb in labels.items() if n in set(piece)}
    work, comp = net, None
    if len(piece) > COARSE_ABOVE and len(piece) == net.n:
        goal = max(COARSE_ABOVE // 2, 4 * k0)
        work, comp = _coarsen(net, set(sub_labels), max(1, target // 4), goal, random.Random(seed))
        members: dict[int, list[int]] = {}
        for u, c in enumerate(comp):
            members.setdefault(c, []).append(u)
        wl = {comp[u]: lb for u, lb in sub_labels.items()}
        wpiece = list(range(work.n))
    else:
        wl = sub_labels
        wpiece = piece
    start = _now()
    budget = max(0.0, deadline - start)

    def run(k, by_barriers, dl):
        t1 = _now()
        init = _initial(work, wpiece, k, wl, target=target, vmin=vmin, vmax=vmax, by_barriers=by_barriers)
        t2 = _now()
        if comp is not None:
            s0 = _optimise(work, init, target=target, vmin=vmin, vmax=vmax, hh_target=hh, labels=wl, strict=strict,
                           seed=seed, deadline=t2 + 0.5 * max(0.0, dl - t2), rounds=4)
            init = [sorted(u for c in a for u in members[c]) for a in s0.areas()]
        t3 = _now()
        s = _optimise(net, init, target=target, vmin=vmin, vmax=vmax, hh_target=hh, labels=labels, strict=strict,
                      seed=seed, deadline=dl)
        if _DEBUG:
            print(f"n={net.n} coarse={work.n} initial {t2 - t1:.1f}s coarse-opt {t3 - t2:.1f}s "
                  f"fine-opt {_now() - t3:.1f}s score {_score(s)}")
        return s

    best = run(k0, True, deadline)
    if comp is not None or len(piece) > RESTART_BELOW:
        return best.areas()
    # areas outside the band that the structure does not force: try other starts
    sc = _score(best)
    tries = [(k0, False, seed), (k0 + 1, True, seed), (k0 - 1, True, seed), (k0 + 1, False, seed),
             (k0 - 1, False, seed), (k0 + 2, True, seed), (k0 - 2, True, seed)]
    for kk, byb, sd in tries:
        if sc[0] == 0 or _unforced(net, best) == 0 or _now() > start + 0.5 * budget:
            break
        if kk < max(1, nlab) or not (vmin <= pp / kk <= vmax):
            continue
        init = _initial(net, piece, kk, labels, target=target, vmin=vmin, vmax=vmax, by_barriers=byb)
        alt = _optimise(net, init, target=target, vmin=vmin, vmax=vmax, hh_target=hh, labels=labels, strict=strict,
                        seed=sd, deadline=deadline)
        s2 = _score(alt)
        if _DEBUG:
            print("restart", kk, byb, sd, sc[:3], s2[:3])
        if s2 < sc:
            best, sc = alt, s2
    return best.areas()


def _unforced(net: _Net, s: _Search, rivers: bool = False) -> int:
    """Areas outside the band (or, with ``rivers``, across a river) without a structural
    proof (see :func:`_reasons`)."""
    areas = s.areas()
    river = [i for i, st in enumerate(s.stats) if st[8] and st[6] > 1] if rivers else []
    if not river and not any(not (s.vmin <= sum(net.pop[u] for u in a) <= s.vmax) for a in areas):
        return 0
    held = sorted(set().union(*map(set, areas)))  # the piece of the net these areas cover
    g = nx.Graph()
    g.add_nodes_from(held)
    for u in held:
        for v, r in zip(net.nbr[u], net.rk[u]):
            if u < v:
                g.add_edge(u, v, rank=r)
    why = _reasons(g, areas, net.pop, target=s.target, vmin=s.vmin, vmax=s.vmax,
                   total=sum(net.pop[u] for u in held))
    band = sum(1 for i, t in why.items() if i >= 0 and "(proven impossible)" not in t)
    # the areas of s.areas() are those of s.stats without the empty ones, in order
    idx = [i for i, st in enumerate(s.stats) if st[8]]
    return band + sum(1 for i in river if "proven impossible" not in why.get(-1 - idx.index(i), ""))

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

The rooms of the package: :mod:`~pucha.partition.solver.params` (weights and limits,
:class:`SolveResult`, :func:`choose_k`), :mod:`~pucha.partition.solver.clock` (the work
clock), :mod:`~pucha.partition.solver.network` (the index-based cell network),
:mod:`~pucha.partition.solver.initial` (coarsening, grown regions, bisection),
:mod:`~pucha.partition.solver.search` (the local search and its per-area statistics),
:mod:`pucha.partition.proofs` (reasons and proofs); this module runs them per 居/村.
"""

from __future__ import annotations

import random
import time
from collections.abc import Mapping

import networkx as nx
import numpy as np

from pucha.partition.solver.clock import HARD_FACTOR, _now, _start_clock, _wall
from pucha.partition.solver.initial import _coarsen, _components, _initial, _regions
from pucha.partition.solver.network import _Net
from pucha.partition.solver.params import (_DEBUG, COARSE_ABOVE, FINAL_ROUNDS, FINAL_SEEDS,
                                          POLISH_BELOW, RESTART_BELOW, RIVER_STRICT_W, RIVER_W,
                                          SWEEPS, SolveResult, choose_k)
from pucha.partition.solver.search import _Search
from pucha.partition.proofs import RIVER_RANK, _reasons, band_admits, band_proof

__all__ = ["SolveResult", "band_admits", "band_proof", "choose_k", "solve_graph"]


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

"""Proofs: why an area is outside the band or across a river, when the structure forces it.

The solver (:mod:`pucha.partition.solver`) calls :func:`_reasons` on its plan; the
arithmetic of :func:`band_admits` / :func:`band_proof` is also used for the ±10%
window (:mod:`pucha.partition.quality`). Nothing here searches: each proof is a
count (people against the band) or a small enumeration with a budget.
"""

from __future__ import annotations

from collections.abc import Mapping

import networkx as nx

__all__ = ["band_admits", "band_proof"]

RIVER_RANK = 5


def band_admits(pop: int, *, vmin: int = 240, vmax: int = 360) -> bool:
    """Whether some number of areas holds ``pop`` people with every area inside ``vmin``-``vmax``.

    >>> band_admits(475), band_admits(480), band_admits(200)
    (False, True, False)
    """
    if pop <= 0:
        return True
    k = -(-pop // vmax)
    return k * vmin <= pop


def band_proof(pop: int, *, vmin: int = 240, vmax: int = 360) -> str:
    """Why ``pop`` people admit no plan with every area inside the band (see :func:`band_admits`).

    >>> band_proof(475)
    '475 people: 1 area holds at most 360, 2 areas need at least 480, so one area at least is outside 240-360'
    """
    k = -(-pop // vmax)
    few = (f"{k - 1} area{'s hold' if k > 2 else ' holds'} at most {(k - 1) * vmax}") if k > 1 else ""
    many = f"{k} areas need at least {k * vmin}"
    return f"{pop} people: {few + ', ' if few else ''}{many}, so one area at least is outside {vmin}-{vmax}"


def _reasons(g, areas, pop, *, target, vmin, vmax, total):
    """Why an area is outside the band or crosses a river, with a proof when the cause is structural.

    Proofs: a cell above the band; a 居/村 below the band or between one area and two;
    a cluster of cells that hangs off a single cell (a cut vertex) and holds fewer than
    ``vmin`` people while cluster + cell hold more than ``vmax``; a part of the 居/村
    enclosed by rivers with fewer than ``vmin`` people (it must join an area across
    the river).
    """
    out: dict[int, str] = {}
    if vmax < total < 2 * vmin and len(areas) == 1:
        out[0] = (f"the 居/村 has {total} people: one area is above {vmax} and two areas would "
                  f"each need at least {vmin} (proven impossible)")
    if len(areas) == 1:
        if total < vmin:
            out[0] = f"the whole 居/村 has {total} people (proven impossible)"
        if any(_is_river(d) for _, _, d in g.edges(data=True)):
            out[-1] = ("the 居/村 is one area, so it holds both sides of its river "
                       "(too few people for two areas: proven impossible)")
        return out
    where = {n: i for i, a in enumerate(areas) for n in a}
    bad = [i for i, a in enumerate(areas) if not (vmin <= sum(pop[n] for n in a) <= vmax)]
    if bad and total > vmax and not band_admits(total, vmin=vmin, vmax=vmax):
        # one area outside the band is forced: the one missing it by the least carries the proof
        i0 = min(bad, key=lambda i: (_miss(sum(pop[n] for n in areas[i]), vmin, vmax), i))
        out[i0] = f"the 居/村 has {band_proof(total, vmin=vmin, vmax=vmax)} (proven impossible)"
        bad = [i for i in bad if i != i0]
    pendant: dict[int, str] = {}
    if bad and g.number_of_nodes() <= 20000:
        bad_set = set(bad)
        for d in sorted(nx.articulation_points(g)):
            if pop[d] <= vmax - vmin:
                continue
            h = g.subgraph([n for n in g if n != d])
            for comp in nx.connected_components(h):
                pc = sum(pop[n] for n in comp)
                if not (0 < pc < vmin and pc + pop[d] > vmax):
                    continue
                # any plan breaks the band here: the part alone is too small, with the cell too big
                hit = sorted({where[n] for n in comp} | {where[d]} & bad_set)
                hit = [i for i in hit if i in bad_set]
                if hit:
                    pendant.setdefault(hit[0], (
                        f"{len(comp)} cell(s) with {pc} people reach the rest of the 居/村 only through one "
                        f"cell (building or part) of {pop[d]} people: alone they are below {vmin}, "
                        f"together above {vmax} (proven impossible)"))
    for i in bad:
        a = areas[i]
        p = sum(pop[n] for n in a)
        big = [n for n in a if pop[n] > vmax]
        if big:
            out[i] = (f"one cell (building or building part) alone holds {max(pop[n] for n in big)} people "
                      f"(proven impossible)")
        elif total < vmin:
            out[i] = f"the whole 居/村 has {total} people (proven impossible)"
        elif i in pendant:
            out[i] = pendant[i]
        elif (x := _isolated_cell(g, pop, a, vmin=vmin, vmax=vmax)) is not None:
            out[i] = (f"every contiguous group of cells holding the cell of {pop[x]} people (node {x}) has "
                      f"fewer than {vmin} or more than {vmax} people: its neighbours are too large "
                      f"(proven impossible)")
        else:
            out[i] = (f"{p} people: the solver found no contiguous plan along the roads and rivers that "
                      f"brings it inside {vmin}-{vmax} without pushing a neighbouring area out (the "
                      f"buildings around it are large; there is no proof that it is impossible)")
    _river_reasons(g, areas, pop, out, vmin=vmin, vmax=vmax)
    return out


def _is_river(d: Mapping) -> bool:
    """Whether an edge of the cell graph crosses a river (not a gap between exclaves)."""
    if "barrier" in d:
        return d["barrier"] == "river"
    return d.get("rank", 0) >= RIVER_RANK


def _river_reasons(g, areas, pop, out: dict, *, vmin, vmax) -> None:
    """A reason (key -1-i) for every area ``i`` whose people lie on both sides of a river.

    Proven when the structure forces it: a part enclosed by rivers holds fewer than
    ``vmin`` people (it can only join an area across the river, or be an area below the
    band), or a number that no count of areas holds inside the band.
    """
    h = nx.Graph()
    h.add_nodes_from(g.nodes)
    h.add_edges_from((u, v) for u, v, d in g.edges(data=True) if not _is_river(d))
    if h.number_of_edges() == g.number_of_edges():
        return
    side: dict = {}
    side_pop: list[int] = []
    for k, comp in enumerate(sorted(nx.connected_components(h), key=min)):
        for n in comp:
            side[n] = k
        side_pop.append(int(sum(pop[n] for n in comp)))
    for i, a in enumerate(areas):
        parts = [c for c in nx.connected_components(h.subgraph(a)) if any(pop[n] > 0 for n in c)]
        if len(parts) <= 1 or -1 - i in out:
            continue
        held = sorted({side[min(c)] for c in parts})
        small = [side_pop[k] for k in held if 0 < side_pop[k] < vmin]
        odd = [side_pop[k] for k in held if side_pop[k] > vmax and not band_admits(side_pop[k], vmin=vmin,
                                                                                    vmax=vmax)]
        if small:
            out[-1 - i] = (f"a part enclosed by rivers holds only {min(small)} people, too few for an area of "
                           f"its own: it joins an area across the river (proven impossible otherwise)")
        elif odd:
            out[-1 - i] = (f"the part between rivers holds {band_proof(odd[0], vmin=vmin, vmax=vmax)} unless an "
                           f"area crosses the river (proven impossible otherwise)")
        elif len(held) == 1:
            out[-1 - i] = ("the river ends inside the 居/村 and the area holds both its banks, joined around "
                           "its end (no proof that this is needed)")
        else:
            here = sorted(int(sum(pop[n] for n in c)) for c in parts)
            out[-1 - i] = (f"the area holds {' + '.join(map(str, here))} people on the sides of the river "
                           f"(of {', '.join(str(side_pop[k]) for k in held)} there): the solver found no plan "
                           f"inside {vmin}-{vmax} that keeps the river between areas (no proof that it is "
                           f"impossible)")


def _miss(p: int, vmin: int, vmax: int) -> int:
    """People by which ``p`` is outside ``vmin``-``vmax`` (0 inside)."""
    return max(0, vmin - p, p - vmax)


def _isolated_cell(g, pop, area, *, vmin, vmax, budget=5000):
    """A populated cell of ``area`` that no contiguous group of cells inside the band can hold.

    Enumerates the connected groups of populated cells holding the cell, with at most
    ``vmax`` people, two cells being neighbours when they touch or are joined through
    empty cells (a relaxation: any real area is such a group, so finding none inside
    the band proves the cell can never be in an area inside the band). Gives up after
    ``budget`` groups per cell (None: no proof).
    """
    zero = {n for n in g if pop[n] <= 0}

    def nbrs(u):
        out, seen, stack = set(), {u}, [u]
        while stack:
            w = stack.pop()
            for v in g.neighbors(w):
                if v in seen:
                    continue
                seen.add(v)
                if v in zero:
                    stack.append(v)
                else:
                    out.add(v)
        return out

    memo: dict = {}

    def nb(u):
        if u not in memo:
            memo[u] = nbrs(u)
        return memo[u]

    for x in sorted((n for n in area if pop[n] > 0), key=lambda n: (pop[n], n)):
        if pop[x] > vmax:
            continue
        seen_sets = {frozenset([x])}
        stack = [(frozenset([x]), pop[x])]
        found = False
        while stack and not found:
            if len(seen_sets) > budget:
                found = True  # gave up: no proof
                break
            S, p = stack.pop()
            if p >= vmin:
                found = True
                break
            frontier = set().union(*(nb(u) for u in S)) - S
            for v in sorted(frontier):
                q = p + pop[v]
                if q > vmax:
                    continue
                T = S | {v}
                if T not in seen_sets:
                    seen_sets.add(T)
                    stack.append((T, q))
        if not found:
            return x
    return None

"""The per-居/村 engine: one 居/村 (its polygon, buildings and barriers) into 普查小区.

:func:`solve_village` is a pure function of picklable inputs: cells around the
buildings (towers cut by floors or units), the barrier-aware cell graph, the solver,
a second pass that cuts buildings for the band or the ±10% window where that helps,
then area polygons, per-area quality and 四至. :mod:`pucha.partition.schedule` maps it
over the 居/村 (serially, in a process pool or on Dask); :mod:`pucha.partition.run`
reads the project and writes the plan.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping
from typing import NamedTuple

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import shapely

from pucha.config import PartitionSettings
from pucha.gis import schema as S
from pucha.partition.cells import village_cells
from pucha.partition.codes import MAX_SEQ, CodeMemory, assign_codes, village_stable_codes
from pucha.partition.graph import cell_graph
from pucha.partition.polygons import area_polygons, without_slivers
from pucha.partition.quality import (balance_note, deviation, known_sum, part_people,
                                     polsby_popper)
from pucha.partition.results import VillageResult
from pucha.partition.sizhi import sizhi
from pucha.partition.solver import band_admits, solve_graph

__all__ = ["solve_village", "merge_parts"]

log = logging.getLogger(__name__)


def _problem(severity, code, layer, ids, message, geometry=None):
    return dict(severity=severity, code=code, layer=layer, feature_ids=",".join(map(str, ids)),
                message=message, stage="partition", geometry=geometry)


def _crossings(sub: nx.Graph, pop: Mapping[int, int], classes: tuple[str, ...]) -> int:
    """How many times an area's peopled parts are joined across ``classes`` barriers.

    Removing the area's links of those classes splits it into parts; the count is
    the number of parts holding people, minus one (0 = the barrier is not crossed).
    """
    h = nx.Graph()
    h.add_nodes_from(sub.nodes)
    h.add_edges_from((a, b) for a, b, d in sub.edges(data=True) if d["barrier"] not in classes)
    n = sum(1 for c in nx.connected_components(h) if any(pop[x] > 0 for x in c))
    return max(0, n - 1)


def _gap_links(sub: nx.Graph, pop: Mapping[int, int]) -> list[tuple[int, float]]:
    """The separate parts (飞地, islands) an area joins across a gap: (their people, metres).

    Per ``gap`` link inside the area whose removal leaves people on both sides, the
    people of the smaller side and the gap's width.
    """
    out = []
    for u, v, d in sorted(sub.edges(data=True)):
        if d.get("barrier") != "gap":
            continue
        h = sub.copy()
        h.remove_edge(u, v)
        if nx.has_path(h, u, v):
            continue
        side = [sum(pop[n] for n in nx.node_connected_component(h, x)) for x in (u, v)]
        if min(side) > 0:
            out.append((int(min(side)), float(d.get("gap", 0.0))))
    return out


def solve_village(village_code: str, name: str, polygon, buildings: pd.DataFrame,
                  barriers: pd.DataFrame, *, settings: PartitionSettings | None = None,
                  pinned: Mapping[str, str] | None = None, crs=None,
                  previous: CodeMemory | None = None) -> VillageResult:
    """Partition one 居/村 (pure function of picklable inputs).

    Parameters
    ----------
    village_code, name : str
        The 普查区 code (12 digits) and name.
    polygon : shapely geometry
        The 居/村 polygon (excluded/locked parts already removed).
    buildings : DataFrame
        Its buildings (schema columns, geometry).
    barriers : DataFrame
        Lines with ``barrier`` (class), ``name``, ``geometry`` (see cells.barrier_lines).
    settings : PartitionSettings
        target/min/max/seed/time_limit_s.
    pinned : mapping building_id -> label
        Buildings sharing a label end in one area; the result says which area carries it.
    previous : CodeMemory, optional
        The 居/村's earlier plan and every sequence ever issued in it: a materially
        unchanged area keeps its code, a new one gets a sequence never issued before
        (:func:`pucha.partition.revision.assign_codes`). Without it the codes are
        001... in serpentine order.

    More than 899 areas (or more people than 899 areas can hold at the band maximum)
    cannot be coded (sequences 001-899; 900+ are virtual areas): the 居/村 is then left
    without areas and one ``village_too_many_areas`` error says so.
    """
    st = settings or PartitionSettings()
    t0 = time.monotonic()
    problems: list[dict] = []
    buildings = gpd.GeoDataFrame(buildings, geometry="geometry", crs=crs)
    barriers = gpd.GeoDataFrame(barriers, geometry="geometry", crs=crs)
    if polygon is None or polygon.is_empty:
        problems.append(_problem("error", "village_empty", "villages", [village_code],
                                 f"居/村 {village_code} {name} has no polygon"))
        return VillageResult(village_code, pd.DataFrame(), pd.DataFrame(), problems)
    polygon = without_slivers(polygon)
    if len(shapely.get_parts(polygon)) > 1:
        problems.append(_problem("info", "village_parts", "villages", [village_code],
                                 f"居/村 {village_code} {name} has {len(shapely.get_parts(polygon))} "
                                 f"separate parts (飞地); each area stays in one part where possible",
                                 polygon))
    if len(buildings) == 0:
        problems.append(_problem("warning", "village_no_buildings", "villages", [village_code],
                                 f"居/村 {village_code} {name} has no buildings: one empty area", polygon))
    people = int(pd.to_numeric(buildings["population"], errors="coerce").fillna(0).sum()) \
        if len(buildings) else 0
    if people > MAX_SEQ * st.max:
        problems.append(_too_many(village_code, name, -(-people // st.max), people, st, polygon))
        return VillageResult(village_code, pd.DataFrame(), pd.DataFrame(), problems,
                             seconds=time.monotonic() - t0)
    plan = _cut_and_solve(village_code, name, polygon, buildings, barriers, st, pinned)
    plan = _second_pass(plan, village_code, name, polygon, buildings, barriers, st, pinned)
    problems.extend(plan.problems)
    cells, g, pop, sol = plan.cells, plan.g, plan.pop, plan.sol
    if len(sol.areas) > MAX_SEQ:
        problems.append(_too_many(village_code, name, len(sol.areas),
                                  int(cells["population"].sum()), st, polygon))
        return VillageResult(village_code, pd.DataFrame(), pd.DataFrame(), problems,
                             seconds=time.monotonic() - t0)
    geoms = cells.geometry.values
    polys = area_polygons(geoms, sol.areas)
    codes = assign_codes(village_code, polys)
    # the assignment: parts of a cut building in one area, floors in a row, are one part
    key = np.empty(len(cells), dtype=object)
    for i, a in enumerate(sol.areas):
        key[np.asarray(list(a), dtype=int)] = i
    c = cells[cells["building_id"].notna()].copy()
    c["area_code"] = [codes[k] for k in key[c["node"].to_numpy(dtype=int)]]
    ba = merge_parts(c[list(S.BUILDING_AREA_COLUMNS)])
    if previous is not None:
        new = village_stable_codes(village_code, codes, ba, previous)
        ba["area_code"] = ba["area_code"].map(dict(zip(codes, new)))
        codes = new
    total = int(cells["population"].sum())
    if total < st.min:
        problems.append(_problem("warning", "village_below_band", "villages", [village_code],
                                 f"居/村 {village_code} {name} has {total} people: one area below the band"))
    # per-area attributes
    bids = cells["building_id"].to_numpy()
    has_b = cells["building_id"].notna().to_numpy()
    cell_dw = cells["dwellings"].to_numpy(dtype=float)
    parts = cells["part"].to_numpy(dtype=int)
    # a cut building's pieces: their people in floor/unit order
    per_piece = cells[has_b & (parts > 0)].groupby(["building_id", "part"])["population"].sum()
    pieces = {b: [int(v) for v in s] for b, s in per_piece.groupby(level=0)}
    # per area, the people of the part between rivers (between major roads and rivers) it lies in
    in_river = part_people(g, pop, sol.areas, ("river",))
    in_road = part_people(g, pop, sol.areas, ("river", "major", "railway"))
    rows = []
    for i, a in enumerate(sol.areas):
        sub = g.subgraph(a)
        river = _crossings(sub, pop, ("river",))
        major = _crossings(sub, pop, ("major", "railway"))
        p = int(sum(pop[n] for n in a))
        dw = known_sum(cell_dw[a][has_b[a]])  # of its buildings (empty land holds none)
        nb = len({b for b in bids[a] if b is not None})
        status = "ok" if st.min <= p <= st.max else ("below_band" if p < st.min else "above_band")
        contiguous = nx.is_connected(sub) if len(a) else False
        rows.append(dict(area_code=codes[i], village_code=village_code, seq=int(codes[i][-3:]),
                         population=p, deviation=deviation(p, st.target), dwellings=dw, n_buildings=nb,
                         locked=False,
                         polsby_popper=polsby_popper(polys[i]), river_crossings=river,
                         major_road_crossings=major, status=status, contiguous=contiguous,
                         balance_note=balance_note(p, [(bids[n], parts[n], pop[n]) for n in a if has_b[n]],
                                                   pieces, st, total, n_areas=len(sol.areas),
                                                   river_part=in_river[i], road_part=in_road[i]),
                         geometry=polys[i]))
        if status != "ok" and total >= st.min:
            big = [c for c in a if pop[c] > st.max]
            why = sol.reasons.get(i) or (f"building part(s) alone hold more than {st.max}" if big else
                                         "no contiguous split along the roads and rivers brings it inside the band")
            problems.append(_problem("warning", f"area_{status}", "areas", [codes[i]],
                                     f"普查小区 {codes[i]} has {p} people, outside {st.min}-{st.max}: {why}",
                                     polys[i]))
        if river:
            problems.append(_problem("info", "area_crosses_river", "areas", [codes[i]],
                                     f"普查小区 {codes[i]} crosses a river/canal inside ({river} cell links)"
                                     + (f": {sol.reasons[-1 - i]}" if -1 - i in sol.reasons else "")))
        if gaps := _gap_links(sub, pop):
            problems.append(_problem("info", "area_exclave_link", "areas", [codes[i]], (
                f"普查小区 {codes[i]} joins a separate part of the 居/村 (飞地 or island: "
                + ", ".join(f"{n} people, {d:.0f} m away" for n, d in gaps)
                + ") to its other cells across the gap"), polys[i]))
    areas = gpd.GeoDataFrame(pd.DataFrame(rows), geometry="geometry", crs=crs) if rows else pd.DataFrame()
    # 四至
    named = barriers[barriers["name"].astype(str) != ""]
    if len(areas):
        ag = areas.geometry.values
        tree = shapely.STRtree(ag)
        named_zones = shapely.buffer(named.geometry.values, 12.0)
        edge_zones = shapely.buffer(shapely.boundary(ag), 0.5)
        texts = []
        for i, poly in enumerate(ag):
            js = [j for j in sorted(tree.query(poly, predicate="intersects")) if j != i]
            texts.append(sizhi(poly, named, [(areas["area_code"].iat[j], ag[j]) for j in js], snap=12.0,
                               named_zones=named_zones, neighbour_zones=[edge_zones[j] for j in js]))
        for k in ("east", "south", "west", "north", "sizhi"):
            areas[k] = [t[k] for t in texts]
    if len(areas) and len(ba):  # buildings counted as the register counts them
        from pucha.partition.figures import area_figures

        nb_of = area_figures(ba)["n_buildings"]
        areas["n_buildings"] = [int(nb_of.get(c, 0)) for c in areas["area_code"]]
    labels = {codes[i]: lab for i, lab in sol.labels.items()}
    return VillageResult(village_code, areas, ba.reset_index(drop=True), problems, labels,
                         time.monotonic() - t0)


class _Plan(NamedTuple):
    """Cells, graph, people per cell, solver result and problems of one 居/村."""
    cells: pd.DataFrame
    g: nx.Graph
    pop: dict
    sol: object
    problems: list

    def band_misses(self, st: PartitionSettings) -> int:
        return sum(not (st.min <= sum(self.pop[n] for n in a) <= st.max) for a in self.sol.areas)

    def window_misses(self, st: PartitionSettings) -> int:
        """Areas outside ±10% of the target."""
        return sum(abs(sum(self.pop[n] for n in a) - st.target) * 10 > st.target for a in self.sol.areas)


def _cut_and_solve(village_code, name, polygon, buildings, barriers, st: PartitionSettings, pinned, *,
                   cut: frozenset = frozenset(), time_limit: float | None = None, fine: int = 2) -> _Plan:
    """Cells, graph and plan of one 居/村 (``cut``: buildings to cut more finely, see
    :func:`village_cells`; ``time_limit``: the solver's, default the settings')."""
    problems = []
    cells, cprob = village_cells(polygon, buildings, barriers, target=st.target, vmin=st.min, vmax=st.max,
                                 cut=cut, fine=fine)
    for p in cprob:
        problems.append(_problem(p["severity"], p["code"], p["layer"], [p["feature_ids"]], p["message"],
                                 p.get("geometry")))
    g, gprob = cell_graph(cells, barriers)
    for p in gprob:
        problems.append(_problem(p["severity"], p["code"], p["layer"], [village_code],
                                 f"居/村 {village_code} {name}: {p['message']}", p.get("geometry")))
    pop = {int(n): int(p) for n, p in zip(cells["node"], cells["population"])}
    rp = shapely.point_on_surface(cells.geometry.values)
    xy = {int(n): np.array([shapely.get_x(p), shapely.get_y(p)]) for n, p in zip(cells["node"], rp)}
    pin_nodes: dict[int, str] = {}
    if pinned:
        bid = cells["building_id"].to_numpy()
        for n, b in zip(cells["node"], bid):
            if b is not None and b in pinned:
                pin_nodes[int(n)] = str(pinned[b])
    sol = solve_graph(g, pop, xy, target=st.target, vmin=st.min, vmax=st.max, seed=st.seed,
                      time_limit=st.time_limit_s if time_limit is None else time_limit, pinned=pin_nodes,
                      name=f"居/村 {village_code}",
                      households_target=st.households_target)
    for p in sol.problems:
        problems.append(_problem(p["severity"], p["code"], p["layer"], [village_code], p["message"]))
    return _Plan(cells, g, pop, sol, problems)


def _second_pass(plan: _Plan, village_code, name, polygon, buildings, barriers, st: PartitionSettings,
                 pinned) -> _Plan:
    """Areas left outside the band, or else outside ±10%: cut the large buildings in and
    around them more finely by floors or units (even those that fit the band; the
    solver's cost per split keeps a building whole where balance allows) and keep that
    plan if fewer areas are outside the band, or as many and fewer outside ±10%."""
    band = True
    extra = _cuts_for_band(plan, st)
    if not extra:
        band, extra = False, _cuts_for_band(plan, st, window=True)
    extra = frozenset(x for x in extra if x in _cuttable(buildings))  # (else the same cells again)
    left = st.time_limit_s - plan.sol.work  # (both passes share the 居/村's time limit)
    if not extra or left < 0.1 * st.time_limit_s:
        return plan
    # for ±10% the pieces are about a ninth of the target (33 of 300: the window is 60 wide)
    alt = _cut_and_solve(village_code, name, polygon, buildings, barriers, st, pinned, cut=extra,
                         time_limit=left, fine=2 if band else 3)
    if (alt.band_misses(st), alt.window_misses(st)) >= (plan.band_misses(st), plan.window_misses(st)):
        return plan
    cut_ids = _split_buildings(alt.cells, alt.sol, extra)
    if cut_ids:
        why = (f"the solver found no plan inside {st.min}-{st.max} otherwise" if band else
               f"that brings more areas within ±10% of {st.target}")
        alt.problems.append(_problem(
            "info", "building_cut_for_band" if band else "building_cut_for_balance", "buildings", cut_ids,
            f"居/村 {village_code} {name}: building(s) {', '.join(cut_ids)} are cut by floor or "
            f"unit ranges (纵向切割) into more areas than their size needs, because {why}; the "
            f"register lists the floors of each area"))
    return alt


def _cuttable(buildings: pd.DataFrame) -> set:
    """Ids of the buildings with at least two floors or dwellings (units) known."""
    if not len(buildings):
        return set()
    fl = pd.to_numeric(buildings["floors"], errors="coerce").fillna(0).to_numpy()
    dw = pd.to_numeric(buildings["dwellings"], errors="coerce").fillna(0).to_numpy()
    return set(buildings["building_id"].to_numpy()[(fl >= 2) | (dw >= 2)].tolist())


def _cuts_for_band(plan: _Plan, st: PartitionSettings, *, window: bool = False) -> frozenset:
    """Buildings (or pieces of cut ones) of more than a sixth of the target in and next to
    the areas left outside the band (``window``: outside ±10% of the target), which a
    finer vertical cut may help balance; none where cutting cannot help: no number of
    areas fits the 居/村's people, or the area holds a part above the band (the window)
    that could not be cut."""
    cells, g, pop, sol = plan.cells, plan.g, plan.pop, plan.sol
    lo, hi = (math.ceil(0.9 * st.target), math.floor(1.1 * st.target)) if window else (st.min, st.max)
    total = sum(pop.values())
    if not band_admits(total, vmin=lo, vmax=hi):
        return frozenset()
    off = [i for i, a in enumerate(sol.areas) if not (lo <= sum(pop[n] for n in a) <= hi)
           and all(pop[n] <= hi for n in a)]
    if not off:
        return frozenset()
    area_of = {n: i for i, a in enumerate(sol.areas) for n in a}
    near = set(off)
    for i in off:
        near.update(area_of[v] for u in sol.areas[i] for v in g.neighbors(u))
    c = cells[cells["node"].isin([n for i in near for n in sol.areas[i]])]
    c = c[c["building_id"].notna() & (c["population"] > st.target // 6)]
    return frozenset(c["building_id"].tolist())


def _split_buildings(cells, sol, ids) -> list[str]:
    """The buildings of ``ids`` whose pieces ended in more than one area."""
    area_of = {n: i for i, a in enumerate(sol.areas) for n in a}
    c = cells[cells["building_id"].isin(ids)]
    held = c.groupby("building_id")["node"].agg(lambda ns: len({area_of[int(n)] for n in ns}))
    return sorted(str(b) for b, k in held.items() if k > 1)


def _too_many(village_code, name, n_areas, people, st, polygon) -> dict:
    return _problem("error", "village_too_many_areas", "villages", [village_code],
                    f"居/村 {village_code} {name}: {people} people need about {n_areas} 普查小区 "
                    f"of {st.min}-{st.max}, more than the {MAX_SEQ} codes a 普查区 has "
                    f"(sequences 001-{MAX_SEQ:03d}; 900+ are virtual areas). It was not "
                    "partitioned: split it into several 普查区 (居/村 codes) or raise the "
                    "band (--target/--max)", polygon)


def merge_parts(ba: pd.DataFrame) -> pd.DataFrame:
    """One row per run of a cut building's parts that lie in one area, floors (units) in a row.

    The cells of a building cut vertically are small floor (unit) ranges; the solver
    puts them in areas. Consecutive ranges in one area become one part (floors
    ``floor_from``-``floor_to``), numbered 1, 2, ... from the lowest; a building all
    of whose ranges land in one area is whole again (part 0). People and dwellings
    are summed, so the totals are unchanged.
    """
    ba = ba.reset_index(drop=True)
    whole = ba[ba["part"] <= 0]
    cut = ba[ba["part"] > 0].sort_values(["building_id", "part"], kind="stable")
    if not len(cut):
        return ba
    rows = []
    for bid, grp in cut.groupby("building_id", sort=True):
        runs: list[list] = []
        for r in grp.itertuples(index=False):
            if runs and runs[-1][0].area_code == r.area_code:
                runs[-1].append(r)
            else:
                runs.append([r])
        for k, run in enumerate(runs):
            first, last = run[0], run[-1]
            one = len(runs) == 1
            rows.append(dict(building_id=bid, area_code=first.area_code, part=0 if one else k + 1,
                             floor_from=np.nan if one else first.floor_from,
                             floor_to=np.nan if one else last.floor_to,
                             unit_from=np.nan if one else first.unit_from,
                             unit_to=np.nan if one else last.unit_to,
                             population=int(sum(x.population for x in run)),
                             dwellings=known_sum([x.dwellings for x in run])))
    merged = pd.DataFrame(rows, columns=list(ba.columns))
    out = pd.concat([whole, merged], ignore_index=True) if len(whole) else merged
    return out.sort_values(["building_id", "part"], kind="stable").reset_index(drop=True)

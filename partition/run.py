"""Partition a project GeoPackage: every 居/村 into 普查小区 (the engine's entry point).

:func:`solve_village` is a pure function of picklable inputs (one 居/村); it is mapped
over the 居/村 serially, with a process pool (``jobs``) or with dask
(``scheduler="dask"``). :func:`partition_project` reads the project, solves, and
writes ``areas``, ``building_areas``, ``quality``, ``problems`` (stage partition)
and ``buildings.area_code`` atomically.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import shutil
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple
from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import shapely

from pucha.config import PartitionSettings
from pucha.errors import InputError
from pucha.gis import schema as S
from pucha.gis.write import list_layers, read_layer, update_gpkg
from pucha.partition.cache import (  # noqa: F401 - re-exported (tests, revision.py)
    _MAGIC, _cache_key, _cache_load, _cache_store, _secret, resume_dir,
)
from pucha.partition.cells import barrier_lines, village_cells
from pucha.partition.codes import assign_codes
from pucha.partition.revision import MAX_SEQ
from pucha.partition.schedule import _solve_args, _village_inputs, solve_all  # noqa: F401
from pucha.partition.graph import cell_graph
from pucha.partition.polygons import area_polygons, without_slivers
from pucha.partition.quality import (balance_note, deviation, fill_area_quality, known_sum, part_people,
                                     polsby_popper, summary)
from pucha.partition.sizhi import sizhi
from pucha.partition.solver import band_admits, solve_graph

__all__ = ["PartitionResult", "VillageResult", "CodeMemory", "solve_village", "partition_project",
           "partition_frames", "resume_dir"]

log = logging.getLogger(__name__)


@dataclass
class VillageResult:
    """One 居/村 solved: areas (GeoDataFrame rows), building_areas rows, problems, labels."""
    village_code: str
    areas: pd.DataFrame
    building_areas: pd.DataFrame
    problems: list[dict]
    labels: dict[str, str] = field(default_factory=dict)  # area_code -> pinned label
    seconds: float = 0.0
    resumed: bool = False  # taken from an interrupted run's cache


@dataclass
class PartitionResult:
    """Everything :func:`partition_project` produced."""
    areas: gpd.GeoDataFrame
    building_areas: pd.DataFrame
    quality: pd.DataFrame
    problems: gpd.GeoDataFrame
    labels: dict[str, str]
    timings: dict[str, float]
    resumed: list[str] = field(default_factory=list)  # 居/村 taken from an interrupted run


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
        new = _stable_codes(village_code, codes, ba, previous)
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


@dataclass(frozen=True)
class CodeMemory:
    """A 居/村's earlier plan, for stable codes: its ``building_areas`` rows
    (building_id, area_code, part, population), its area codes, and every sequence
    ever issued in it (``code_history``)."""
    assignment: pd.DataFrame
    codes: tuple[str, ...] = ()
    used_seqs: frozenset[int] = frozenset()


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


def _stable_codes(village_code: str, codes: list[str], ba: pd.DataFrame, previous: CodeMemory) -> list[str]:
    """Replace the serpentine codes by stable ones (see :class:`CodeMemory`); ``ba`` is the
    assignment under the serpentine codes."""
    from pucha.partition.revision import assign_codes as stable

    new = ba[["building_id", "area_code", "part", "population"]]
    old = previous.assignment
    old = old[old["area_code"].astype(str).str.startswith(village_code)]
    old = old[["building_id", "area_code", "part", "population"]]
    used = set(previous.used_seqs)
    out = (stable(village_code, new, old, labels={}, used_seqs=used, reserved=set())
           if len(new) else {})
    # areas without buildings (empty land): the old empty areas' codes, else new ones
    empty = [c for c in codes if c not in out]
    given = set(out.values())
    old_empty = [c for c in sorted(previous.codes) if c.startswith(village_code)
                 and c not in set(old["area_code"]) and c not in given]
    for k, c in zip(empty, old_empty):
        out[k] = c
    rest = [k for k in empty if k not in out]
    if rest:
        pseudo = pd.DataFrame({"building_id": [f"\0{k}" for k in rest], "area_code": rest,
                               "part": 0, "population": 0})
        out.update(stable(village_code, pseudo, old.iloc[:0], labels={},
                          used_seqs=used | {int(c[12:]) for c in out.values()},
                          reserved=set(out.values())))
    return [out[c] for c in codes]


def _code_memory(gpkg_path: Path, names: set[str], codes: Sequence[str]
                 ) -> dict[str, CodeMemory]:
    """The earlier plan of each 居/村 in ``codes`` (empty when the project has none)."""
    from pucha.partition.revision import LAYER_CODE_HISTORY

    used: dict[str, set[int]] = {}
    area_codes: list[str] = []
    if S.LAYER_AREAS in names:
        area_codes = [str(c) for c in read_layer(gpkg_path, S.LAYER_AREAS)["area_code"]]
    hist = ([str(c) for c in read_layer(gpkg_path, LAYER_CODE_HISTORY)["area_code"]]
            if LAYER_CODE_HISTORY in names else [])
    for c in area_codes + hist:
        if len(c) == 15 and c[12:].isdigit():
            used.setdefault(c[:12], set()).add(int(c[12:]))
    if not used:
        return {}
    cols = ["building_id", "area_code", "part", "population"]
    ba = (pd.DataFrame(read_layer(gpkg_path, S.LAYER_BUILDING_AREAS))
          if S.LAYER_BUILDING_AREAS in names else pd.DataFrame({c: [] for c in cols}))
    ba = ba[cols].copy()
    ba["part"] = pd.to_numeric(ba["part"], errors="coerce").fillna(0).astype(int)
    ba["population"] = pd.to_numeric(ba["population"], errors="coerce").fillna(0)
    ba["_v"] = ba["area_code"].astype(str).str[:12]
    by_v = {v: g.drop(columns="_v").reset_index(drop=True) for v, g in ba.groupby("_v")}
    out = {}
    for vc in codes:
        if vc not in used:
            continue
        out[vc] = CodeMemory(by_v.get(vc, ba.drop(columns="_v").iloc[:0]),
                             tuple(sorted(c for c in area_codes if c[:12] == vc)),
                             frozenset(used[vc]))
    return out


def partition_frames(layers: Mapping[str, gpd.GeoDataFrame], *, settings: PartitionSettings | None = None,
                     jobs: int = 1, progress: bool = False, villages: Sequence[str] | None = None,
                     pinned: Mapping[str, str] | None = None, excluded: Sequence[str] | None = None,
                     scheduler: str = "processes", previous: Mapping[str, CodeMemory] | None = None,
                     cache_dir: str | os.PathLike | None = None) -> PartitionResult:
    """Partition in-memory layers (schema shape); see :func:`partition_project`.

    ``scheduler``: ``"processes"`` (a process pool when ``jobs`` > 1), ``"dask"`` (a
    dask bag: the local process scheduler when ``jobs`` > 1, else synchronous) or
    ``"distributed"`` (the current ``dask.distributed`` client, e.g. a LocalCluster).
    ``previous``: per-居/村 earlier plan for stable codes. ``cache_dir``: per-居/村
    results kept for a resumed run (a folder, see :func:`resume_dir`, or a
    :class:`~pucha.partition.cache.ResumeCache`); on a cluster the inputs then go by
    reference through it (:mod:`pucha.partition.schedule`).
    """
    st = settings or PartitionSettings()
    t0 = time.monotonic()
    vil = layers[S.LAYER_VILLAGES]
    crs = vil.crs
    bld = layers[S.LAYER_BUILDINGS]
    if excluded:
        bld = bld[~bld["building_id"].isin(set(excluded))]
    bar = barrier_lines(layers.get(S.LAYER_ROADS), layers.get(S.LAYER_RAILWAYS), layers.get(S.LAYER_WATER),
                        layers.get(S.LAYER_WALLS), crs=crs)
    codes = sorted(str(c) for c in vil["village_code"])
    if villages:
        unknown = sorted(set(villages) - set(codes))
        if unknown:
            raise InputError(f"居/村 code(s) {', '.join(unknown)} not in the villages layer; "
                             f"valid codes: {', '.join(codes[:5])}...")
        codes = sorted(set(villages))
    pins = {str(k): str(v) for k, v in (pinned or {}).items()}
    previous = previous or {}
    inputs = ((c, n, p, b, br, st, {k: pins[k] for k in sorted(set(b["building_id"]) & set(pins))},
               crs, previous.get(c))
              for c, n, p, b, br in _village_inputs(vil, bld, bar, codes))
    results = solve_all(inputs, cache=cache_dir, jobs=jobs, scheduler=scheduler, progress=progress)
    results = sorted(results, key=lambda r: r.village_code)
    frames = [r.areas for r in results if len(r.areas)]
    area_cols = list(S.AREA_COLUMNS) + ["geometry"]
    if frames:
        areas = gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), geometry="geometry", crs=crs)
    else:
        areas = gpd.GeoDataFrame({c: [] for c in area_cols[:-1]}, geometry=[], crs=crs)
    ba_frames = [r.building_areas for r in results if len(r.building_areas)]
    ba = (pd.concat(ba_frames, ignore_index=True) if ba_frames
          else pd.DataFrame({c: [] for c in S.BUILDING_AREA_COLUMNS}))
    quality = summary(areas, target=st.target, vmin=st.min, vmax=st.max) if len(areas) else pd.DataFrame()
    probs = [p for r in results for p in r.problems]
    pg = gpd.GeoDataFrame({c: [p[c] for p in probs] for c in list(S.PROBLEM_COLUMNS)},
                          geometry=[p.get("geometry") for p in probs], crs=crs)
    labels = {k: v for r in results for k, v in sorted(r.labels.items())}
    timings = {r.village_code: round(r.seconds, 3) for r in results}
    timings["total"] = round(time.monotonic() - t0, 3)
    resumed = sorted(r.village_code for r in results if r.resumed)
    return PartitionResult(areas, ba, quality, pg, labels, timings, resumed)


def partition_project(gpkg_path: str | os.PathLike, *, settings: PartitionSettings | None = None,
                      jobs: int = 1, progress: bool = True, villages: Sequence[str] | None = None,
                      pinned: Mapping[str, str] | None = None, excluded: Sequence[str] | None = None,
                      scheduler: str = "processes", fresh: bool = False, renumber: bool = False,
                      resume: bool = True) -> PartitionResult:
    """Partition the project GeoPackage ``gpkg_path`` and write the plan into it.

    When the GeoPackage already holds a plan (and ``fresh`` is false), the plan is
    revised instead: locks and hand edits are kept and only what changed is re-solved
    (:func:`pucha.partition.revision.repartition_project`).

    ``fresh`` solves every 居/村 anew, ignoring locks and hand edits, but the codes
    stay stable: an area materially the same as one of the current plan keeps its
    code, every other area gets a sequence never issued before in its 居/村
    (``code_history``), so a retired code never comes back for a different area.
    ``renumber`` (implies ``fresh``) restarts the numbering at 001 in serpentine
    order and starts ``code_history`` again; only for a plan whose codes were never
    issued to enumerators (docs/review.md).

    ``resume``: keep every solved 居/村 in :func:`resume_dir` until the plan is
    written, so a killed run resumes where it stopped (same result).

    Writes ``areas``, ``building_areas``, ``quality``, ``problems`` (import rows kept,
    earlier partition rows replaced), ``buildings.area_code``, the new revision
    (``revisions``, ``areas_r{N}``, ``building_areas_r{N}``, ``code_history``), the
    QGIS styles and ``pucha_meta`` (settings, seed, timings), all in ONE atomic
    update: a run killed at any moment leaves the project as it was or complete.
    """
    from pucha.partition.revision import has_plan, repartition_project, revision_layers, store_styles

    st = settings or PartitionSettings()
    fresh = fresh or renumber
    if not fresh and not villages and not pinned and not excluded:
        if has_plan(gpkg_path):  # a plan exists: keep locks and hand edits (partition/revision.py)
            return repartition_project(gpkg_path, settings=st, jobs=jobs, progress=progress,
                                       cache_dir=resume_dir(gpkg_path) if resume else None)
    names = set(list_layers(gpkg_path))
    for need in (S.LAYER_VILLAGES, S.LAYER_BUILDINGS):
        if need not in names:
            raise InputError(f"{gpkg_path}: no layer {need!r}; run pucha import first")
    layers = {n: read_layer(gpkg_path, n) for n in (S.LAYER_VILLAGES, S.LAYER_BUILDINGS, S.LAYER_ROADS,
                                                   S.LAYER_RAILWAYS, S.LAYER_WATER, S.LAYER_WALLS)
              if n in names}
    vcodes = sorted(set(villages)) if villages else sorted(str(c) for c in layers[S.LAYER_VILLAGES]["village_code"])
    previous = {} if renumber else _code_memory(Path(gpkg_path), names, vcodes)
    cache = resume_dir(gpkg_path) if resume else None
    res = partition_frames(layers, settings=st, jobs=jobs, progress=progress, villages=villages,
                           pinned=pinned, excluded=excluded, scheduler=scheduler,
                           previous=previous, cache_dir=cache)
    if res.resumed:
        log.info("resumed: %d 居/村 taken from the interrupted run (%s)", len(res.resumed),
                 ", ".join(res.resumed))
    bld = layers[S.LAYER_BUILDINGS].copy()
    ba = res.building_areas
    first = ba.sort_values(["building_id", "part"]).drop_duplicates("building_id")
    amap = dict(zip(first["building_id"], first["area_code"]))
    bld["area_code"] = [amap.get(b, a if villages else "") for b, a in zip(bld["building_id"], bld["area_code"])]
    areas = res.areas
    ba_out = ba.copy()
    qual = res.quality
    if villages:  # keep other 居/村' plan rows
        if S.LAYER_AREAS in names:
            old = read_layer(gpkg_path, S.LAYER_AREAS)
            old = old[~old["village_code"].isin(set(villages))]
            areas = gpd.GeoDataFrame(pd.concat([old, areas], ignore_index=True), geometry="geometry", crs=bld.crs)
            fill_area_quality(areas, st.target)  # (areas of an older plan may lack some)
        if S.LAYER_BUILDING_AREAS in names:
            oldb = pd.DataFrame(read_layer(gpkg_path, S.LAYER_BUILDING_AREAS))
            oldb = oldb[~oldb["building_id"].isin(set(ba["building_id"]))]
            ba_out = pd.concat([oldb, ba_out], ignore_index=True)
    problems = res.problems
    if S.LAYER_PROBLEMS in names:
        old = read_layer(gpkg_path, S.LAYER_PROBLEMS)
        old = old[old["stage"].astype(str) != "partition"] if not villages else old
        problems = gpd.GeoDataFrame(pd.concat([old, problems], ignore_index=True), geometry="geometry",
                                    crs=bld.crs)
    meta = {"partition": {"settings": dataclasses.asdict(st), "seed": st.seed, "timings": res.timings,
                          "resumed": res.resumed,
                          "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}}
    out = {S.LAYER_AREAS: areas, S.LAYER_BUILDING_AREAS: ba_out, S.LAYER_QUALITY: qual,
           S.LAYER_PROBLEMS: problems, S.LAYER_BUILDINGS: bld}
    kind = "renumber" if renumber else "partition"
    rev, rev_layers = revision_layers(gpkg_path, areas, ba_out, villages=layers[S.LAYER_VILLAGES],
                                      buildings=bld, settings=st, kind=kind, renumber=renumber)
    out.update(rev_layers)
    update_gpkg(gpkg_path, out, meta=meta, finish=store_styles)  # one atomic step
    log.info("修订 revision %d (%s): %d areas", rev, kind, len(areas))
    if cache is not None:
        shutil.rmtree(cache, ignore_errors=True)
    return res

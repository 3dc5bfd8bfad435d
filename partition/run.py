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
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import shapely

from pucha.config import PartitionSettings
from pucha.errors import InputError
from pucha.gis import schema as S
from pucha.gis.write import list_layers, read_layer, update_gpkg
from pucha.partition.cells import barrier_lines, village_cells
from pucha.partition.codes import assign_codes
from pucha.partition.graph import cell_graph
from pucha.partition.polygons import area_polygons
from pucha.partition.quality import polsby_popper, summary
from pucha.partition.sizhi import sizhi
from pucha.partition.solver import solve_graph

__all__ = ["PartitionResult", "VillageResult", "solve_village", "partition_project", "partition_frames"]

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


@dataclass
class PartitionResult:
    """Everything :func:`partition_project` produced."""
    areas: gpd.GeoDataFrame
    building_areas: pd.DataFrame
    quality: pd.DataFrame
    problems: gpd.GeoDataFrame
    labels: dict[str, str]
    timings: dict[str, float]


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


def solve_village(village_code: str, name: str, polygon, buildings: pd.DataFrame,
                  barriers: pd.DataFrame, *, settings: PartitionSettings | None = None,
                  pinned: Mapping[str, str] | None = None, crs=None) -> VillageResult:
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
    if len(shapely.get_parts(polygon)) > 1:
        problems.append(_problem("info", "village_parts", "villages", [village_code],
                                 f"居/村 {village_code} {name} has {len(shapely.get_parts(polygon))} "
                                 f"separate parts (飞地); each area stays in one part where possible",
                                 polygon))
    if len(buildings) == 0:
        problems.append(_problem("warning", "village_no_buildings", "villages", [village_code],
                                 f"居/村 {village_code} {name} has no buildings: one empty area", polygon))
    cells, cprob = village_cells(polygon, buildings, barriers, target=st.target, vmin=st.min, vmax=st.max)
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
                      time_limit=st.time_limit_s, pinned=pin_nodes, name=f"居/村 {village_code}")
    for p in sol.problems:
        problems.append(_problem(p["severity"], p["code"], p["layer"], [village_code], p["message"]))
    geoms = cells.geometry.values
    polys = area_polygons(geoms, sol.areas)
    codes = assign_codes(village_code, polys)
    total = int(cells["population"].sum())
    if total < st.min:
        problems.append(_problem("warning", "village_below_band", "villages", [village_code],
                                 f"居/村 {village_code} {name} has {total} people: one area below the band"))
    # per-area attributes
    node_area = {}
    for i, a in enumerate(sol.areas):
        for n in a:
            node_area[n] = i
    rows = []
    for i, a in enumerate(sol.areas):
        sub = g.subgraph(a)
        river = _crossings(sub, pop, ("river",))
        major = _crossings(sub, pop, ("major", "railway"))
        p = int(sum(pop[n] for n in a))
        dw = float(cells["dwellings"].to_numpy()[a].sum())
        nb = len({b for b in cells["building_id"].to_numpy()[a] if b is not None})
        status = "ok" if st.min <= p <= st.max else ("below_band" if p < st.min else "above_band")
        contiguous = nx.is_connected(sub) if len(a) else False
        rows.append(dict(area_code=codes[i], village_code=village_code, seq=int(codes[i][-3:]),
                         population=p, dwellings=dw, n_buildings=nb, locked=False,
                         polsby_popper=polsby_popper(polys[i]), river_crossings=river,
                         major_road_crossings=major, status=status, contiguous=contiguous,
                         geometry=polys[i]))
        if status != "ok" and total >= st.min:
            big = [c for c in a if pop[c] > st.max]
            why = (f"building part(s) alone hold more than {st.max}" if big else
                   "no contiguous split along the roads and rivers brings it inside the band")
            problems.append(_problem("warning", f"area_{status}", "areas", [codes[i]],
                                     f"普查小区 {codes[i]} has {p} people, outside {st.min}-{st.max}: {why}",
                                     polys[i]))
        if river:
            problems.append(_problem("info", "area_crosses_river", "areas", [codes[i]],
                                     f"普查小区 {codes[i]} crosses a river/canal inside ({river} cell links)"))
    areas = gpd.GeoDataFrame(pd.DataFrame(rows), geometry="geometry", crs=crs) if rows else pd.DataFrame()
    # 四至
    named = barriers[barriers["name"].astype(str) != ""]
    if len(areas):
        tree = shapely.STRtree(areas.geometry.values)
        texts = []
        for i, poly in enumerate(areas.geometry.values):
            nbr = [(areas["area_code"].iat[j], areas.geometry.values[j])
                   for j in sorted(tree.query(poly, predicate="intersects")) if j != i]
            texts.append(sizhi(poly, named, nbr))
        for k in ("east", "south", "west", "north", "sizhi"):
            areas[k] = [t[k] for t in texts]
    c = cells[cells["building_id"].notna()].copy()
    c["area_code"] = [codes[node_area[int(n)]] for n in c["node"]]
    ba = c[list(S.BUILDING_AREA_COLUMNS)].copy()
    labels = {codes[i]: lab for i, lab in sol.labels.items()}
    return VillageResult(village_code, areas, ba.reset_index(drop=True), problems, labels,
                         time.monotonic() - t0)


def _village_inputs(villages, buildings, barriers, codes):
    bsorted = buildings.sort_values("building_id")
    groups = {k: v for k, v in bsorted.groupby("village_code", sort=True)}
    btree = shapely.STRtree(barriers.geometry.values) if len(barriers) else None
    for code in codes:
        v = villages[villages["village_code"] == code].iloc[0]
        poly = v.geometry
        b = groups.get(code, bsorted.iloc[:0])
        if btree is not None and poly is not None:
            idx = np.sort(btree.query(poly.buffer(2)))
            bar = barriers.iloc[idx]
        else:
            bar = barriers.iloc[:0]
        yield code, str(v["name"]), poly, pd.DataFrame(b), pd.DataFrame(bar)


def _solve_args(args):
    code, name, poly, b, bar, settings, pinned, crs = args
    return solve_village(code, name, poly, b, bar, settings=settings, pinned=pinned, crs=crs)


def partition_frames(layers: Mapping[str, gpd.GeoDataFrame], *, settings: PartitionSettings | None = None,
                     jobs: int = 1, progress: bool = False, villages: Sequence[str] | None = None,
                     pinned: Mapping[str, str] | None = None, excluded: Sequence[str] | None = None,
                     scheduler: str = "processes") -> PartitionResult:
    """Partition in-memory layers (schema shape); see :func:`partition_project`."""
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
    inputs = [(c, n, p, b, br, st, dict(pinned or {}), crs)
              for c, n, p, b, br in _village_inputs(vil, bld, bar, codes)]
    results: list[VillageResult] = []
    if scheduler == "dask":
        import dask.bag as db

        results = db.from_sequence(inputs, npartitions=max(1, min(len(inputs), jobs * 4))).map(
            _solve_args).compute(scheduler="processes" if jobs > 1 else "synchronous")
    elif jobs > 1:
        from concurrent.futures import ProcessPoolExecutor

        from tqdm import tqdm
        with ProcessPoolExecutor(max_workers=jobs) as ex:
            results = list(tqdm(ex.map(_solve_args, inputs), total=len(inputs), disable=not progress,
                                desc="居/村", unit="居/村"))
    else:
        from tqdm import tqdm
        for a in tqdm(inputs, disable=not progress, desc="居/村", unit="居/村"):
            results.append(_solve_args(a))
    results = sorted(results, key=lambda r: r.village_code)
    frames = [r.areas for r in results if len(r.areas)]
    area_cols = list(S.AREA_COLUMNS) + ["contiguous", "geometry"]
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
    return PartitionResult(areas, ba, quality, pg, labels, timings)


def partition_project(gpkg_path: str | os.PathLike, *, settings: PartitionSettings | None = None,
                      jobs: int = 1, progress: bool = True, villages: Sequence[str] | None = None,
                      pinned: Mapping[str, str] | None = None, excluded: Sequence[str] | None = None,
                      scheduler: str = "processes", fresh: bool = False) -> PartitionResult:
    """Partition the project GeoPackage ``gpkg_path`` and write the plan into it.

    When the GeoPackage already holds a plan (and ``fresh`` is false), the plan is
    revised instead: locks and hand edits are kept and only what changed is re-solved
    (:func:`pucha.partition.revision.repartition_project`).

    Writes ``areas``, ``building_areas``, ``quality``, ``problems`` (import rows kept,
    earlier partition rows replaced), ``buildings.area_code`` and ``pucha_meta``
    (settings, seed, timings), all in one atomic update.
    """
    st = settings or PartitionSettings()
    if not fresh and not villages and not pinned and not excluded:
        from pucha.partition.revision import has_plan, repartition_project

        if has_plan(gpkg_path):  # a plan exists: keep locks and hand edits (partition/revision.py)
            return repartition_project(gpkg_path, settings=st, jobs=jobs, progress=progress)
    names = set(list_layers(gpkg_path))
    for need in (S.LAYER_VILLAGES, S.LAYER_BUILDINGS):
        if need not in names:
            raise InputError(f"{gpkg_path}: no layer {need!r}; run pucha import first")
    layers = {n: read_layer(gpkg_path, n) for n in (S.LAYER_VILLAGES, S.LAYER_BUILDINGS, S.LAYER_ROADS,
                                                   S.LAYER_RAILWAYS, S.LAYER_WATER, S.LAYER_WALLS)
              if n in names}
    res = partition_frames(layers, settings=st, jobs=jobs, progress=progress, villages=villages,
                           pinned=pinned, excluded=excluded, scheduler=scheduler)
    bld = layers[S.LAYER_BUILDINGS].copy()
    ba = res.building_areas
    first = ba.sort_values(["building_id", "part"]).drop_duplicates("building_id")
    amap = dict(zip(first["building_id"], first["area_code"]))
    bld["area_code"] = [amap.get(b, a if villages else "") for b, a in zip(bld["building_id"], bld["area_code"])]
    areas = res.areas.drop(columns=["contiguous"], errors="ignore")
    ba_out = ba.copy()
    qual = res.quality
    if villages:  # keep other 居/村' plan rows
        if S.LAYER_AREAS in names:
            old = read_layer(gpkg_path, S.LAYER_AREAS)
            old = old[~old["village_code"].isin(set(villages))]
            areas = gpd.GeoDataFrame(pd.concat([old, areas], ignore_index=True), geometry="geometry", crs=bld.crs)
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
                          "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}}
    update_gpkg(gpkg_path, {S.LAYER_AREAS: areas, S.LAYER_BUILDING_AREAS: ba_out,
                            S.LAYER_QUALITY: qual, S.LAYER_PROBLEMS: problems,
                            S.LAYER_BUILDINGS: bld}, meta=meta)
    from pucha.partition.revision import record_revision

    record_revision(gpkg_path, settings=st)  # revisions, code_history, QGIS styles
    return res

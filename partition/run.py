"""Partition a project GeoPackage: every 居/村 into 普查小区 (the entry point).

The rooms: :mod:`~pucha.partition.engine` solves one 居/村 (:func:`solve_village`, a
pure function of picklable inputs); :mod:`~pucha.partition.schedule` maps it over the
居/村 (serially, a process pool of ``jobs`` or Dask) through the resume cache
(:mod:`~pucha.partition.cache`); :mod:`~pucha.partition.codes` numbers the areas;
:mod:`~pucha.partition.revision` re-solves a plan that exists. Here,
:func:`partition_project` reads the project, solves, and writes ``areas``,
``building_areas``, ``quality``, ``problems`` (stage partition) and
``buildings.area_code`` in one transaction.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import geopandas as gpd
import pandas as pd

from pucha.config import PartitionSettings
from pucha.errors import InputError
from pucha.gis import schema as S
from pucha.gis.write import list_layers, read_layer, update_gpkg
from pucha.partition.cache import _MAGIC, resume_dir  # noqa: F401 - re-exported
from pucha.partition.cells import barrier_lines
from pucha.partition.codes import CodeMemory
from pucha.partition.engine import merge_parts, solve_village  # noqa: F401 - re-exported
from pucha.partition.quality import balance_note, fill_area_quality, summary  # noqa: F401
from pucha.partition.results import PartitionResult, VillageResult  # noqa: F401 - re-exported
from pucha.partition.schedule import _village_inputs, solve_all  # noqa: F401 - re-exported

__all__ = ["PartitionResult", "VillageResult", "CodeMemory", "solve_village", "partition_project",
           "partition_frames", "resume_dir"]

log = logging.getLogger(__name__)

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

"""Re-partition around locks and hand edits, with stable codes and kept revisions.

The census office reviews the automatic plan, edits it in QGIS and re-runs
``pucha partition``. :func:`repartition_project` (which ``pucha partition``
calls when the project GeoPackage already has areas) then:

* keeps every **locked area** (``areas.locked``) as it is: its buildings, its
  boundary and its code; a **locked 居/村** (``villages.locked``) keeps all its
  areas;
* keeps every **building a person moved** where it was put: a building whose
  ``buildings.area_code`` differs from the last solved ``building_areas`` (a
  QGIS edit or ``pucha move``), or whose ``buildings.locked`` is set, is pinned
  to that area code. A move that is kept marks the building ``locked`` so later
  runs keep it too (clear with ``pucha lock --unlock --building ID``); a move no
  plan inside the band can keep is an error row ``move_not_honoured``;
* re-solves **only what changed**, per 居/村:

  1. nothing changed since the last revision (same buildings, people, outline,
     band settings) and no edit -> the 居/村 is kept as it is;
  2. the input changed (people re-estimated, buildings added or demolished) but
     no edit, the outline is the same and every area stays inside the band with
     every building assigned (a new building joins the area it stands in) ->
     kept, with the counts updated;
  3. otherwise the **unlocked remainder** of the 居/村 (its outline minus the
     locked areas, its buildings minus theirs) is solved again by the partition
     engine with the same rules, the moved buildings pinned to their areas.

  When the remainder cannot meet the rules, the problem names the lock that
  makes it so (e.g. "locked area ...003 and ...004 leave 120 people in the rest
  of 居/村 ...: below the band 240; unlock one of them").

Stable codes
------------
Only the areas a change touches are re-solved (:mod:`pucha.partition.resolve`);
every other area keeps its buildings, boundary and code. A re-solved area keeps
the code of the old area that is *the same area*
(:func:`pucha.partition.diff.match_areas`: a maximum-weight matching by shared
people, more than half of the people both ways, against the plan as the user left
it, hand moves applied). Every other new area gets the **next free sequence after
the largest ever used** in its 居/村, so no other area is renumbered and a
retired code is never reused. ``pucha check`` accepts the gaps left by retired
codes (they are recorded). Past 899 (the last sequence; 900+ are virtual areas)
the lowest sequence never issued is used; when none is left,
:class:`CodesExhausted` (a clear error). ``pucha partition --fresh`` keeps codes
the same way (``pucha.partition.run.CodeMemory``); only ``--renumber`` restarts
at 001 and starts ``code_history`` again. Hand-typed codes that name no area of
the building's 居/村 stop the run before anything is solved
(:mod:`pucha.partition.edits`).

A re-run that finds nothing to do (every 居/村 kept, no edit, same settings but
``jobs``) writes nothing and records no revision.

What is kept in the GeoPackage
------------------------------
``revisions``          revision, date (UTC ISO), kind ("partition" | "repartition"),
                       settings (JSON), summary (JSON), fingerprints (JSON: one hash per
                       居/村 of its buildings, people and outline)
``areas_r{N}``         the areas of revision N (snapshot)
``building_areas_r{N}`` the assignment of revision N (snapshot)
``code_history``       area_code, village_code, seq, created_revision, retired_revision
                       (0 while in use): every code ever issued
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import shutil
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from pucha.config import PartitionSettings
from pucha.errors import InputError
from pucha.gis import schema as S
from pucha.gis.write import list_layers, read_layer, update_gpkg

__all__ = [
    "RevisionResult", "repartition_project", "record_revision", "list_revisions",
    "has_plan", "village_fingerprints", "assign_codes", "edited_buildings", "revision_layers",
    "store_styles", "CodesExhausted", "MAX_SEQ",
    "LAYER_REVISIONS", "LAYER_CODE_HISTORY", "VillageSolution", "engine_solver",
]

logger = logging.getLogger(__name__)

LAYER_REVISIONS = "revisions"
LAYER_CODE_HISTORY = "code_history"
_HIST_COLS = ["area_code", "village_code", "seq", "created_revision", "retired_revision"]
_REV_COLS = ["revision", "date", "kind", "settings", "summary", "fingerprints"]


# --------------------------------------------------------------------------- small readers


def has_plan(gpkg: str | os.PathLike) -> bool:
    """True when the GeoPackage already holds a partition (``areas`` with rows)."""
    path = Path(gpkg)
    if S.LAYER_AREAS not in list_layers(path):
        return False
    return len(read_layer(path, S.LAYER_AREAS)) > 0


def list_revisions(gpkg: str | os.PathLike) -> list[int]:
    """The revision numbers kept in the GeoPackage, ascending."""
    path = Path(gpkg)
    if LAYER_REVISIONS not in list_layers(path):
        return []
    df = read_layer(path, LAYER_REVISIONS)
    return sorted(int(r) for r in df["revision"])


def _read_table(path: Path, name: str, cols: list[str]) -> pd.DataFrame:
    if name not in list_layers(path):
        return pd.DataFrame({c: pd.Series(dtype=object) for c in cols})
    return pd.DataFrame(read_layer(path, name))


def _settings_dict(settings: PartitionSettings | None) -> dict:
    return dataclasses.asdict(settings or PartitionSettings())


def village_fingerprints(villages: gpd.GeoDataFrame, buildings: gpd.GeoDataFrame,
                         settings: PartitionSettings | None = None) -> dict[str, str]:
    """One SHA-256 per 居/村 of what its partition depends on: its outline, its
    buildings (ids, footprints to the centimetre, people, floors, dwellings) and
    the band settings. Equal fingerprints mean nothing changed."""
    s = _settings_dict(settings)
    band = json.dumps({k: s[k] for k in ("target", "min", "max", "households_target")},
                      sort_keys=True)
    out = {}
    b = buildings.sort_values("building_id")
    groups = {vc: g for vc, g in b.groupby("village_code", sort=True)}
    for vc, vg in sorted(zip(villages["village_code"], villages.geometry)):
        h = hashlib.sha256(band.encode())
        if vg is not None and not vg.is_empty:
            h.update(shapely.to_wkb(shapely.set_precision(vg, 0.01)))
        g = groups.get(vc)
        if g is not None:
            geoms = shapely.to_wkb(shapely.set_precision(np.asarray(g.geometry.values), 0.01))
            for bid, pop, fl, dw, wkb in zip(g["building_id"], g["population"],
                                            g.get("floors", pd.Series(np.nan, index=g.index)),
                                            g.get("dwellings", pd.Series(np.nan, index=g.index)),
                                            geoms):
                h.update(f"{bid}|{int(pop)}|{fl}|{dw}|".encode())
                h.update(wkb or b"")
        out[str(vc)] = h.hexdigest()
    return out


# --------------------------------------------------------------------------- recording


def _next_revision(path: Path) -> int:
    revs = list_revisions(path)
    return (revs[-1] + 1) if revs else 1


def _history_update(history: pd.DataFrame, codes: list[tuple[str, str]], rev: int
                    ) -> pd.DataFrame:
    """Add new codes, retire codes no longer in use (``codes``: (area_code, village))."""
    h = history.copy()
    for c in _HIST_COLS:
        if c not in h.columns:
            h[c] = pd.Series(dtype=object)
    h["retired_revision"] = pd.to_numeric(h["retired_revision"], errors="coerce"
                                          ).fillna(0).astype(int)
    h["created_revision"] = pd.to_numeric(h["created_revision"], errors="coerce"
                                          ).fillna(0).astype(int)
    live = {c for c, _ in codes}
    known = set(h["area_code"].astype(str))
    retire = (~h["area_code"].astype(str).isin(live)) & (h["retired_revision"] == 0)
    h.loc[retire, "retired_revision"] = rev
    add = [dict(area_code=c, village_code=v, seq=int(c[12:]) if c[12:].isdigit() else 0,
                created_revision=rev, retired_revision=0)
           for c, v in sorted(codes) if c not in known]
    if add:
        h = pd.concat([h, pd.DataFrame(add)], ignore_index=True)
    h["seq"] = pd.to_numeric(h["seq"], errors="coerce").fillna(0).astype(int)
    return h[_HIST_COLS].sort_values("area_code").reset_index(drop=True)


def _revision_layers(path: Path, rev: int, areas: gpd.GeoDataFrame, ba: pd.DataFrame,
                     history: pd.DataFrame, *, kind: str, settings: PartitionSettings | None,
                     summary: Mapping[str, object], fingerprints: Mapping[str, str],
                     date: str | None = None) -> dict[str, pd.DataFrame]:
    revisions = _read_table(path, LAYER_REVISIONS, _REV_COLS)
    row = dict(revision=rev,
               date=date or datetime.now(timezone.utc).isoformat(timespec="seconds"),
               kind=kind, settings=json.dumps(_settings_dict(settings), sort_keys=True),
               summary=json.dumps(dict(summary), ensure_ascii=False, sort_keys=True,
                                  default=str),
               fingerprints=json.dumps(dict(fingerprints), sort_keys=True))
    revisions = pd.concat([revisions[[c for c in _REV_COLS if c in revisions.columns]],
                           pd.DataFrame([row])], ignore_index=True)
    revisions["revision"] = revisions["revision"].astype(int)
    codes = [(str(c), str(v)) for c, v in zip(areas["area_code"], areas["village_code"])]
    return {
        LAYER_REVISIONS: revisions[_REV_COLS],
        f"areas_r{rev}": areas,
        f"building_areas_r{rev}": pd.DataFrame(ba)[list(S.BUILDING_AREA_COLUMNS)],
        LAYER_CODE_HISTORY: _history_update(history, codes, rev),
    }


def revision_layers(gpkg: str | os.PathLike, areas: gpd.GeoDataFrame, building_areas: pd.DataFrame,
                    *, villages: gpd.GeoDataFrame, buildings: gpd.GeoDataFrame,
                    settings: PartitionSettings | None = None, kind: str = "partition",
                    summary: Mapping[str, object] | None = None, renumber: bool = False,
                    date: str | None = None) -> tuple[int, dict[str, pd.DataFrame]]:
    """The layers that keep the plan ``areas``/``building_areas`` as a new revision of
    ``gpkg`` (not written): ``revisions`` (one more row), ``areas_r{N}``,
    ``building_areas_r{N}`` and ``code_history``. Returns ``(N, layers)``.

    ``renumber``: the numbering was restarted on purpose (``pucha partition --fresh
    --renumber``): ``code_history`` starts again from this plan's codes (the earlier
    revisions and their snapshots are kept for the audit).
    """
    path = Path(gpkg)
    history = (pd.DataFrame({c: pd.Series(dtype=object) for c in _HIST_COLS}) if renumber
               else _read_table(path, LAYER_CODE_HISTORY, _HIST_COLS))
    rev = _next_revision(path)
    ba = pd.DataFrame(building_areas)
    summ = dict(summary or {})
    summ.setdefault("areas", len(areas))
    summ.setdefault("population", int(pd.to_numeric(ba["population"]).sum()) if len(ba) else 0)
    if renumber:
        summ["renumbered"] = True
    return rev, _revision_layers(path, rev, areas, ba, history, kind=kind, settings=settings,
                                 summary=summ, date=date,
                                 fingerprints=village_fingerprints(villages, buildings, settings))


def store_styles(tmp: Path) -> None:
    """``update_gpkg(..., finish=store_styles)``: the QGIS default styles of the plan
    being written, inside the same atomic step."""
    from pucha.gis.styles import write_styles

    write_styles(tmp)


def record_revision(gpkg: str | os.PathLike, *, settings: PartitionSettings | None = None,
                    kind: str = "partition", summary: Mapping[str, object] | None = None
                    ) -> int:
    """Keep the plan now in ``gpkg`` as a new revision; return its number.

    It snapshots ``areas`` and ``building_areas`` (``areas_r{N}``,
    ``building_areas_r{N}``), records the codes in ``code_history`` and the
    per-居/村 fingerprints, and writes the QGIS default styles
    (:func:`pucha.gis.styles.write_styles`), in one atomic update. (``pucha
    partition`` writes its plan and the revision together through
    :func:`revision_layers`.)
    """
    path = Path(gpkg)
    areas = read_layer(path, S.LAYER_AREAS)
    ba = pd.DataFrame(read_layer(path, S.LAYER_BUILDING_AREAS))
    villages = read_layer(path, S.LAYER_VILLAGES)
    buildings = read_layer(path, S.LAYER_BUILDINGS)
    rev, layers = revision_layers(path, areas, ba, villages=villages, buildings=buildings,
                                  settings=settings, kind=kind, summary=summary)
    update_gpkg(path, layers, finish=store_styles)
    logger.info("修订 revision %d kept (%s): %d areas", rev, kind, len(areas))
    return rev


# --------------------------------------------------------------------------- codes

from pucha.partition.codes import (  # noqa: E402,F401 (re-exported)
    MAX_SEQ, VIRTUAL_SEQ, CodesExhausted, stable_codes)


def assign_codes(village_code: str, new_assign: pd.DataFrame, old_assign: pd.DataFrame, *,
                 labels: Mapping[str, str] | None = None, used_seqs: set[int],
                 reserved: set[str], keys=None) -> dict[str, str]:
    """Codes for the new areas of one 居/村 (provisional key -> 15-digit code):
    :func:`pucha.partition.codes.stable_codes` (the same area keeps its code, every
    other gets a sequence never issued). ``labels`` is accepted for older callers and
    not used: the old plan with its hand edits decides which area a code names."""
    return stable_codes(village_code, new_assign, old_assign, used_seqs=used_seqs,
                        reserved=reserved, keys=keys, exhausted=CodesExhausted)


def edited_buildings(buildings: pd.DataFrame, building_areas: pd.DataFrame) -> dict[str, str]:
    """Buildings a person put somewhere: building_id -> area code.

    A building whose ``area_code`` differs from ``building_areas`` (moved), or
    that is ``locked`` with a whole-building assignment.
    """
    from pucha.partition.check import _bool, effective_assignment

    eff = effective_assignment(buildings, building_areas)
    pins = {str(b): str(c) for b, c in zip(eff.loc[eff["edited"], "building_id"],
                                           eff.loc[eff["edited"], "area_code"])}
    whole = eff[eff["part"] == 0].drop_duplicates("building_id")
    code_of = dict(zip(whole["building_id"], whole["area_code"]))
    for bid, lk in zip(buildings["building_id"], buildings["locked"]):
        if _bool(lk) and bid in code_of and bid not in pins:
            pins[str(bid)] = str(code_of[bid])
    return dict(sorted(pins.items()))


# --------------------------------------------------------------------------- solving


@dataclass
class VillageSolution:
    """What a per-居/村 solver returns for the unlocked remainder.

    ``areas``: one row per new area with a provisional ``area_code`` (any unique
    text), the :data:`~pucha.gis.schema.AREA_COLUMNS` the engine fills and the
    polygon; ``building_areas``: the assignment keyed by the same provisional
    codes; ``labels``: provisional code -> pinned label carried by that area;
    ``problems``: rows for the ``problems`` layer.
    """

    areas: gpd.GeoDataFrame
    building_areas: pd.DataFrame
    labels: dict[str, str] = field(default_factory=dict)
    problems: list[dict] = field(default_factory=list)


SolveFn = Callable[..., VillageSolution]


@dataclass
class RevisionResult:
    """What :func:`repartition_project` did."""

    revision: int
    kept: list[str] = field(default_factory=list)          # 居/村 kept as they were
    updated: list[str] = field(default_factory=list)       # kept, counts updated
    resolved: list[str] = field(default_factory=list)      # remainder re-solved
    locked_areas: list[str] = field(default_factory=list)
    pinned: dict[str, str] = field(default_factory=dict)
    new_codes: list[str] = field(default_factory=list)
    retired_codes: list[str] = field(default_factory=list)
    problems: list[dict] = field(default_factory=list)
    unmet_moves: list[str] = field(default_factory=list)   # hand moves not kept (error rows)
    attempts: dict[str, str] = field(default_factory=dict)  # 居/村 -> local/neighbours/village
    moves: dict[str, list[str]] = field(default_factory=dict)  # building -> [from, to]
    quality: pd.DataFrame = field(default_factory=pd.DataFrame)
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def summary(self) -> dict[str, object]:
        return {"revision": self.revision, "villages_kept": len(self.kept),
                "villages_updated": len(self.updated), "villages_resolved": len(self.resolved),
                "locked_areas": len(self.locked_areas), "pinned_buildings": len(self.pinned),
                "new_codes": self.new_codes, "retired_codes": self.retired_codes,
                "problems": len(self.problems), "moves": self.moves,
                "unmet_moves": self.unmet_moves, "attempts": self.attempts}


def _problem(severity: str, code: str, layer: str, ids, message: str, geometry=None) -> dict:
    return dict(severity=severity, code=code, layer=layer,
                feature_ids=",".join(str(i) for i in ids), message=message, stage="partition",
                geometry=geometry if geometry is not None else shapely.Polygon())


def _area_stats(areas: gpd.GeoDataFrame, ba: pd.DataFrame, lo: int, hi: int, target: int
                ) -> gpd.GeoDataFrame:
    from pucha.partition.quality import fill_area_quality

    pop = ba.groupby("area_code")["population"].sum().round().astype(int)
    dw = pd.to_numeric(ba["dwellings"], errors="coerce").groupby(ba["area_code"]).sum(min_count=1)
    from pucha.partition.figures import area_figures

    nb = area_figures(ba)["n_buildings"]
    a = areas.copy()
    a["population"] = [int(pop.get(c, 0)) for c in a["area_code"]]
    fill_area_quality(a, target)  # (locked areas keep the balance note of the run that drew them)
    a["dwellings"] = [float(dw.get(c, np.nan)) for c in a["area_code"]]
    a["n_buildings"] = [int(nb.get(c, 0)) for c in a["area_code"]]
    a["seq"] = [int(c[12:]) if str(c)[12:].isdigit() else 0 for c in a["area_code"]]
    a["status"] = ["below_band" if p < lo else "above_band" if p > hi else "ok"
                   for p in a["population"]]
    return a


def engine_solver(gpkg: str | os.PathLike, *, cache_dir: str | os.PathLike | None = None
                  ) -> SolveFn:
    """A solver calling the partition engine's :func:`pucha.partition.run.solve_village`
    on the remainder, with the barrier lines (roads, railways, water, walls) of the
    project read once. ``cache_dir``: keep each solved remainder there so a killed run
    resumes (:func:`pucha.partition.run.resume_dir`)."""
    from pucha.partition.cells import barrier_lines
    from pucha.partition.schedule import _solve_args

    path = Path(gpkg)
    names = set(list_layers(path))
    lay = {n: read_layer(path, n) for n in (S.LAYER_ROADS, S.LAYER_RAILWAYS, S.LAYER_WATER,
                                            S.LAYER_WALLS) if n in names}
    villages = read_layer(path, S.LAYER_VILLAGES)
    crs = villages.crs
    vname = dict(zip(villages["village_code"], villages["name"].fillna("").astype(str)))
    bars = barrier_lines(lay.get(S.LAYER_ROADS), lay.get(S.LAYER_RAILWAYS),
                         lay.get(S.LAYER_WATER), lay.get(S.LAYER_WALLS), crs=crs)
    tree = shapely.STRtree(bars.geometry.values) if len(bars) else None

    calls: dict[str, int] = {}

    def solve(village_code, *, polygon, buildings, pinned, gpkg, settings, excluded=None):
        # the re-solve of a 居/村 may take several attempts (partition/resolve.py), in the
        # same order every run: each keeps its own resume file
        n = calls[village_code] = calls.get(village_code, -1) + 1
        cache = None if cache_dir is None else (Path(cache_dir) if n == 0
                                                else Path(cache_dir) / f"attempt{n}")
        if tree is not None and polygon is not None and not polygon.is_empty:
            bar = bars.iloc[np.sort(tree.query(polygon.buffer(2)))]
        else:
            bar = bars.iloc[:0]
        r = _solve_args((village_code, vname.get(village_code, ""), polygon,
                         pd.DataFrame(buildings.sort_values("building_id")), pd.DataFrame(bar),
                         settings, dict(pinned), crs, None, cache))
        areas = (gpd.GeoDataFrame(r.areas, geometry="geometry", crs=crs) if len(r.areas)
                 else gpd.GeoDataFrame({"area_code": []}, geometry=[], crs=crs))
        ba = pd.DataFrame(r.building_areas)
        if not len(ba):
            ba = pd.DataFrame({c: [] for c in S.BUILDING_AREA_COLUMNS})
        return VillageSolution(areas=areas.drop(columns=["contiguous"], errors="ignore"),
                               building_areas=ba, labels=dict(r.labels),
                               problems=[dict(p, geometry=p.get("geometry") if p.get("geometry")
                                              is not None else shapely.Polygon())
                                         for p in r.problems])

    return solve


def _used_seqs(codes) -> dict[str, set[int]]:
    """Every sequence issued per 居/村 (12-digit prefix) among ``codes``."""
    used: dict[str, set[int]] = {}
    for c in codes:
        if len(c) == 15 and c[12:].isdigit():
            used.setdefault(c[:12], set()).add(int(c[12:]))
    return used


def _by_prefix(codes) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for c in codes:
        out.setdefault(c[:12], set()).add(c)
    return out


def _read_plan(path: Path):
    """villages, buildings, areas and building_areas of the project, numbers as numbers."""
    villages = read_layer(path, S.LAYER_VILLAGES)
    buildings = read_layer(path, S.LAYER_BUILDINGS)
    buildings["population"] = pd.to_numeric(buildings["population"], errors="coerce"
                                            ).fillna(0).astype(int)
    areas = read_layer(path, S.LAYER_AREAS)
    ba = pd.DataFrame(read_layer(path, S.LAYER_BUILDING_AREAS))
    for c in ("population", "dwellings", "floor_from", "floor_to", "unit_from", "unit_to"):
        ba[c] = pd.to_numeric(ba[c], errors="coerce")
    ba["part"] = pd.to_numeric(ba["part"], errors="coerce").fillna(0).astype(int)
    return villages, buildings, areas, ba


def _assemble(out_areas, out_ba, crs, a_locked, lo, hi, target):
    """The township's areas (with their statistics) and assignment, from the 居/村."""
    all_areas = gpd.GeoDataFrame(pd.concat(out_areas, ignore_index=True), geometry="geometry",
                                 crs=crs)
    all_ba = pd.concat(out_ba, ignore_index=True)
    all_ba = all_ba[list(S.BUILDING_AREA_COLUMNS)].sort_values(
        ["building_id", "part"]).reset_index(drop=True)
    all_ba["part"] = all_ba["part"].astype(int)
    all_areas = _area_stats(all_areas, all_ba, lo, hi, target)
    all_areas["locked"] = [c in a_locked for c in all_areas["area_code"]]
    all_areas = all_areas[[c for c in S.AREA_COLUMNS if c in all_areas.columns] + ["geometry"]]
    return all_areas.sort_values("area_code").reset_index(drop=True), all_ba


def _buildings_after(buildings, all_ba, keep_typed: set[str], honoured: set[str]):
    """``buildings`` with area_code = the assignment (the first part's area for a cut
    building; a move not applied keeps what was typed) and kept moves locked."""
    from pucha.partition.check import _bool

    first = all_ba.sort_values(["building_id", "part"]).drop_duplicates("building_id")
    code_of = dict(zip(first["building_id"], first["area_code"]))
    nb = buildings.copy()
    typed = dict(zip(buildings["building_id"], buildings["area_code"]))
    nb["area_code"] = [typed.get(b) if b in keep_typed else code_of.get(b, "")
                       for b in nb["building_id"]]
    nb["locked"] = [_bool(lk) or b in honoured for b, lk in zip(nb["building_id"], nb["locked"])]
    return nb


def _revise_villages(path, villages, buildings, areas, ba, eff, pins, moved, a_locked, used,
                     result, *, fingerprints, settings, solver, cache_dir):
    """Each 居/村 kept, updated or re-solved (see the module docstring); returns the
    areas and assignments per 居/村 and the buildings whose typed move is not applied."""
    from pucha.partition.check import _bool
    from pucha.partition.resolve import (
        _locked_village_edits, _of_village, _village_context, revise_village,
    )

    last_fp, fps = fingerprints
    lo, hi = int(settings.min), int(settings.max)
    b_village = dict(zip(buildings["building_id"], buildings["village_code"]))
    v_locked = {v for v, lk in zip(villages["village_code"], villages["locked"]) if _bool(lk)}
    out_areas, out_ba = [], []
    vgeom = dict(zip(villages["village_code"], villages.geometry))
    deleted_of = _by_prefix(set(ba["area_code"].astype(str)) - set(areas["area_code"]))
    keep_typed: set[str] = set()  # moves not applied: buildings.area_code stays as typed

    bids_of = {v: set(g) for v, g in buildings.groupby("village_code")["building_id"]}
    areas_of = {v: g for v, g in areas.groupby("village_code")}
    eff_of, ba_of = _of_village(eff, b_village), _of_village(ba, b_village)
    empty_eff, empty_ba = eff.iloc[0:0], ba.iloc[0:0]
    for vc in sorted(villages["village_code"]):
        v_areas = areas_of.get(vc, areas.iloc[0:0])
        v_bids = bids_of.get(vc, set())
        v_eff = eff_of.get(vc, empty_eff)
        v_ba = ba_of.get(vc, empty_ba)
        v_pins = {b: c for b, c in pins.items() if b in v_bids}
        v_moved = moved & v_bids
        v_del = deleted_of.get(vc, set())
        if vc in v_locked:
            kept_ba = v_ba[v_ba["building_id"].isin(v_bids)]
            result.problems.extend(_locked_village_edits(vc, v_ba, v_moved, v_pins, v_del))
            keep_typed |= v_moved
            out_areas.append(v_areas)
            out_ba.append(kept_ba)
            result.kept.append(vc)
            continue
        same_input = last_fp.get(vc) == fps.get(vc)
        if not v_moved and not v_del and same_input:
            out_areas.append(v_areas)
            out_ba.append(v_eff)
            result.kept.append(vc)
            continue
        # (2) input changed, no edit: keep when still valid
        if not v_moved and not v_del and len(v_areas):
            kept = _try_keep(vc, v_areas, v_eff, buildings[buildings["village_code"] == vc],
                             vgeom.get(vc), lo, hi)
            if kept is not None:
                out_areas.append(v_areas)
                out_ba.append(kept)
                result.updated.append(vc)
                continue
        # (3) re-solve what the change reaches (partition/resolve.py)
        result.problems.extend(_problem(
            "warning", "moved_into_locked_area", S.LAYER_BUILDINGS, [b],
            f"building {b} was moved into locked area {v_pins[b]}; it stays there, but the "
            "locked boundary is not redrawn: unlock the area to redraw it around the building")
            for b in sorted(b for b in v_moved if v_pins.get(b) in a_locked))
        ctx = _village_context(vc, vgeom.get(vc), v_areas, v_eff, v_ba,
                               buildings[buildings["building_id"].isin(v_bids)], v_pins,
                               v_moved, a_locked, v_del, same_input, lo, hi)
        ctx.used_seqs = used.get(vc, set())
        ctx.reserved = {c for c in areas["area_code"] if not c.startswith(vc)}
        if solver is None:
            solver = engine_solver(path, cache_dir=cache_dir)
        new_areas, new_ba, probs, how = revise_village(ctx, solver, settings=settings, gpkg=path,
                                                       exhausted=CodesExhausted)
        result.problems.extend(probs)
        unmet = {r["feature_ids"].split(",")[0] for r in probs if r["code"] == "move_not_honoured"}
        result.unmet_moves.extend(sorted(unmet))
        out_areas.append(new_areas)
        out_ba.append(new_ba)
        result.resolved.append(vc)
        result.attempts[vc] = how
    return out_areas, out_ba, keep_typed


def repartition_project(gpkg: str | os.PathLike, *, settings: PartitionSettings | None = None,
                        jobs: int = 1, progress: bool = False, solver: SolveFn | None = None,
                        date: str | None = None, cache_dir: str | os.PathLike | None = None
                        ) -> RevisionResult:
    """Re-partition a project that already has a plan, keeping locks and edits.

    See the module docstring for the rules. ``solver`` defaults to
    :func:`engine_solver` (the engine's ``solve_village`` on the remainder); any
    callable ``(village_code, *, polygon, buildings, pinned, gpkg, settings,
    excluded)`` returning a :class:`VillageSolution` works. Writes ``areas``,
    ``building_areas``, ``buildings`` (area_code, locked), ``problems`` rows of
    stage ``partition`` about locks, and a new revision; all in one atomic
    GeoPackage update.
    """
    from pucha.partition.check import _bool, effective_assignment
    from pucha.partition.edits import invalid_edits, raise_invalid_edits
    from pucha.partition.resolve import _lost_and_deleted

    settings = settings or PartitionSettings()
    t_start = time.monotonic()
    lo, hi = int(settings.min), int(settings.max)
    path = Path(gpkg)
    if not has_plan(path):
        raise InputError(f"{path}: no areas to revise; run `pucha partition` first")
    villages, buildings, areas, ba = _read_plan(path)
    history = _read_table(path, LAYER_CODE_HISTORY, _HIST_COLS)
    revisions = _read_table(path, LAYER_REVISIONS, _REV_COLS)
    rev = _next_revision(path)
    last_fp = (json.loads(revisions["fingerprints"].iloc[-1]) if len(revisions) else {})
    fps = village_fingerprints(villages, buildings, settings)

    # the assignment in force, without buildings that no longer exist
    bids = set(buildings["building_id"])
    eff = effective_assignment(buildings, ba)
    eff = eff[eff["building_id"].isin(bids)]
    raise_invalid_edits(path, invalid_edits(buildings, ba, areas))
    pins = edited_buildings(buildings, ba)
    moved = {b for b in eff.loc[eff["edited"], "building_id"]}
    a_locked = {c for c, lk in zip(areas["area_code"], areas["locked"]) if _bool(lk)}
    used = _used_seqs(list(history["area_code"].astype(str)) + list(areas["area_code"].astype(str)))
    result = RevisionResult(revision=rev, locked_areas=sorted(a_locked), pinned=pins)
    for b in sorted(moved):
        frm = "/".join(sorted(set(ba.loc[ba["building_id"] == b, "area_code"].astype(str))))
        result.moves[b] = [frm, pins.get(b, "")]
    result.problems.extend(_lost_and_deleted(path, buildings, ba, areas))
    out_areas, out_ba, keep_typed = _revise_villages(
        path, villages, buildings, areas, ba, eff, pins, moved, a_locked, used, result,
        fingerprints=(last_fp, fps), settings=settings, solver=solver, cache_dir=cache_dir)

    all_areas, all_ba = _assemble(out_areas, out_ba, areas.crs, a_locked, lo, hi,
                                  int(settings.target))
    old_codes, new_codes = set(areas["area_code"]), set(all_areas["area_code"])
    result.new_codes = sorted(new_codes - old_codes)
    result.retired_codes = sorted(old_codes - new_codes)
    nb = _buildings_after(buildings, all_ba, keep_typed,
                          moved - keep_typed - set(result.unmet_moves))

    layers: dict[str, pd.DataFrame] = {S.LAYER_AREAS: all_areas, S.LAYER_BUILDING_AREAS: all_ba,
                                       S.LAYER_BUILDINGS: nb}
    try:
        from pucha.partition.quality import summary as quality_summary

        result.quality = quality_summary(all_areas, target=settings.target, vmin=lo, vmax=hi)
        layers[S.LAYER_QUALITY] = result.quality
    except ImportError:  # pragma: no cover - engine missing
        pass
    result.timings = {"total": round(time.monotonic() - t_start, 3)}
    last_settings = json.loads(revisions["settings"].iloc[-1]) if len(revisions) else None
    if (not result.updated and not result.resolved and not (moved - keep_typed)
            and _standing_written(path, result.problems)
            and last_settings is not None
            and _same_settings(last_settings, _settings_dict(settings))):
        # nothing changed: no new revision (a re-run is idempotent)
        result.revision = rev - 1
        if cache_dir is not None:  # an interrupted run's leftovers: nothing to resume
            shutil.rmtree(cache_dir, ignore_errors=True)
        logger.info("修订 nothing changed since revision %d: the plan is kept as it is",
                    rev - 1)
        return result
    layers[S.LAYER_PROBLEMS] = _merge_problems(path, result.problems, areas.crs,
                                               resolved=result.resolved)
    layers.update(_revision_layers(path, rev, all_areas, all_ba, history, kind="repartition",
                                   settings=settings, summary=result.summary,
                                   fingerprints=fps, date=date))
    update_gpkg(path, layers, finish=store_styles)  # plan + revision + styles: one atomic step
    if cache_dir is not None:
        shutil.rmtree(cache_dir, ignore_errors=True)
    logger.info("修订 revision %d: %d 居/村 kept, %d updated, %d re-solved; new codes %s, "
                "retired %s", rev, len(result.kept), len(result.updated), len(result.resolved),
                ", ".join(result.new_codes) or "none", ", ".join(result.retired_codes) or "none")
    return result


#: rows that describe the project as it stands (re-stated by every run, no reason for a
#: new revision on their own)
_STANDING = ("population_differs_from_import", "move_in_locked_village",
             "area_deleted_in_locked_village")
#: rows about hand edits, replaced by every run
_EDIT_ROWS = ("move_not_honoured", "building_deleted", "area_deleted")


def _standing_written(path: Path, rows: list[dict]) -> bool:
    """Every row of this run is a standing row already in the ``problems`` layer."""
    if any(p["code"] not in _STANDING for p in rows):
        return False
    key = {(p["code"], str(p["feature_ids"])) for p in rows}
    old = set()
    if S.LAYER_PROBLEMS in list_layers(path):
        o = read_layer(path, S.LAYER_PROBLEMS)
        o = o[o["code"].astype(str).isin(_STANDING)]
        old = set(zip(o["code"].astype(str), o["feature_ids"].astype(str)))
    return key == old


def _same_settings(a: Mapping[str, object], b: Mapping[str, object]) -> bool:
    """Settings that shape the plan are equal (``jobs`` only changes the speed)."""
    skip = {"jobs"}
    return ({k: v for k, v in a.items() if k not in skip}
            == {k: v for k, v in b.items() if k not in skip})


def _try_keep(vc, v_areas, v_eff, v_buildings, vgeom, lo, hi) -> pd.DataFrame | None:
    """The 居/村's assignment with counts refreshed, or None if it no longer meets the rules."""
    if vgeom is not None and len(v_areas):
        union = shapely.union_all(np.asarray(v_areas.geometry.values))
        if shapely.symmetric_difference(union, vgeom).area > 1.0:
            return None  # the outline moved: re-solve
    pop = dict(zip(v_buildings["building_id"], v_buildings["population"]))
    e = v_eff[v_eff["building_id"].isin(set(pop))].copy()
    # whole buildings take the new count; cut buildings must be re-cut when it changed
    n_rows = e["building_id"].map(e["building_id"].value_counts())
    single = (n_rows == 1).to_numpy()
    e.loc[single, "population"] = e.loc[single, "building_id"].map(pop).to_numpy()
    cut = e[~single]
    if len(cut):
        sums = cut.groupby("building_id")["population"].sum().round().astype(int)
        if any(int(pop[b]) != int(v) for b, v in sums.items()):
            return None
    missing = sorted(set(pop) - set(e["building_id"]))
    if missing:
        geoms = dict(zip(v_buildings["building_id"], v_buildings.geometry))
        rows = []
        for bid in missing:
            g = geoms[bid]
            inside = [c for c, ag in zip(v_areas["area_code"], v_areas.geometry)
                      if ag is not None and g is not None and ag.contains(g.representative_point())]
            if len(inside) != 1:
                return None
            rows.append(dict(building_id=bid, area_code=inside[0], part=0, floor_from=np.nan,
                             floor_to=np.nan, unit_from=np.nan, unit_to=np.nan,
                             population=pop[bid], dwellings=np.nan, edited=False))
        e = pd.concat([e, pd.DataFrame(rows)], ignore_index=True)
    p = e.groupby("area_code")["population"].sum()
    for code in v_areas["area_code"]:
        if not (lo <= int(p.get(code, 0)) <= hi):
            return None
    return e


def _merge_problems(path: Path, rows: list[dict], crs, *, resolved: list[str] = ()
                    ) -> gpd.GeoDataFrame:
    """Old problem rows + this run's; check rows and the partition rows of re-solved
    居/村 (they name the 居/村 code) are dropped: they describe a plan that is gone."""
    new = gpd.GeoDataFrame(pd.DataFrame(rows, columns=list(S.PROBLEM_COLUMNS) + ["geometry"]),
                           geometry="geometry", crs=crs)
    if S.LAYER_PROBLEMS not in list_layers(path):
        return new
    old = read_layer(path, S.LAYER_PROBLEMS)
    codes = {"lock_leaves_too_few", "lock_blocks_band", "moved_into_locked_area",
             "lock_holds_moved_building", "resolve_widened"} | set(_STANDING) | set(_EDIT_ROWS)
    old = old[~old["code"].astype(str).isin(codes) & (old["stage"].astype(str) != "check")]
    if resolved:
        text = old["feature_ids"].astype(str) + " " + old["message"].astype(str)
        stale = (old["stage"].astype(str) == "partition") & text.apply(
            lambda t: any(v in t for v in resolved))
        old = old[~stale]
    if not isinstance(old, gpd.GeoDataFrame):
        old = gpd.GeoDataFrame(old, geometry=gpd.GeoSeries([shapely.Polygon()] * len(old)),
                               crs=crs)
    old = gpd.GeoDataFrame(old[[c for c in S.PROBLEM_COLUMNS]], geometry=old.geometry.values,
                           crs=crs)
    frames = [f for f in (old, new) if len(f)]
    if not frames:
        return new
    return gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), geometry="geometry", crs=crs)

"""Validate a (hand-edited) plan without changing it: ``pucha check``.

The census office reviews the automatic plan with the 居/村 cadres and edits it
in QGIS. :func:`check_plan` reads the project GeoPackage and tests every rule of
../shared/CENSUS-RULES.md that a plan must meet:

==================  =====================================================  =====
rule                what is tested                                         hard
==================  =====================================================  =====
assignment          every building assigned exactly once; parts of cut     yes
                    buildings sum to the building's people; codes exist
cut_ranges          a cut building's floor/unit ranges cover it exactly    yes
                    once (no floor/unit twice, none missing)
codes               15 digits = 12-digit 普查区 code + 3-digit sequence,     yes
                    unique, gapless from 001 (a code retired in an earlier
                    revision, ``code_history``, is not a gap)
contiguity          each area polygon is one piece (unless its 居/村 has     yes
                    several) and contains the buildings assigned to it
band                each area's people inside [min, max] (default 240-360) yes
tiling              the areas of a 居/村 do not overlap, leave no gap        yes
                    > 1 m² and stay inside the 居/村
==================  =====================================================  =====

Which assignment counts
-----------------------
``buildings.area_code`` is THE editable assignment of a whole building: moving a
building in QGIS means changing this attribute. ``building_areas`` is what the
last ``pucha partition`` wrote. When they disagree the attribute wins: the
building is in ``buildings.area_code`` as a whole, with all its people. A cut
building (several ``building_areas`` rows, ``part`` >= 1) keeps its parts while
``buildings.area_code`` is empty or one of its parts' codes; set it to any other
code to move the whole building there. :func:`effective_assignment` applies this
rule; the check, ``pucha partition`` (re-solving around edits) and ``pucha diff``
all use it.

The population of an area is recomputed from the effective assignment (the
stored ``areas.population`` may be stale after an edit; that is a warning).

Exceptions to the band that the plan cannot avoid are warnings, not errors: a
居/村 whose people are fewer than the band minimum (one area below the band), an
area holding one building that alone is above the band and cannot be cut (no
floor or unit data), an area ``pucha partition`` proved impossible from the cells
and their links (its ``problems`` row, while the area still holds the people it was
solved with), and virtual areas (sequence 900 and up).
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from pucha.config import PartitionSettings
from pucha.errors import InputError
from pucha.gis import schema as S
from pucha.gis.write import list_layers, read_layer, replace_rows

__all__ = [
    "CheckIssue", "CheckReport", "check_plan", "effective_assignment", "RULES",
    "GAP_TOLERANCE_M2", "OVERLAP_TOLERANCE_M2", "load_code_history",
]

logger = logging.getLogger(__name__)

#: rule slug -> (Chinese, English) title, in report order.
RULES: dict[str, tuple[str, str]] = {
    "assignment": ("每栋建筑只属于一个小区", "every building assigned exactly once"),
    "cut_ranges": ("切割建筑的楼层/单元不重不漏", "cut buildings' floor/unit ranges"),
    "codes": ("编码唯一、连续、前缀正确", "codes unique, gapless, right 普查区 prefix"),
    "contiguity": ("小区连通、包含其建筑", "contiguity"),
    "band": ("人口规模", "population band"),
    "tiling": ("小区铺满居/村、不重叠", "tiling (no overlap, no gap)"),
}

GAP_TOLERANCE_M2 = 1.0
OVERLAP_TOLERANCE_M2 = 0.01
_INSIDE_SHARE = 0.5  # a building is "in" an area when >= half its footprint lies inside


@dataclass(frozen=True)
class CheckIssue:
    """One finding: a rule, how bad, which features, and a message saying how to fix it."""

    rule: str
    severity: str
    code: str
    layer: str
    feature_ids: tuple[str, ...]
    message: str
    geometry: object = None

    @property
    def hard(self) -> bool:
        return self.severity == "error"


@dataclass
class CheckReport:
    """The result of :func:`check_plan`."""

    path: Path
    issues: list[CheckIssue] = field(default_factory=list)
    n_areas: int = 0
    n_villages: int = 0
    n_buildings: int = 0
    population: int = 0
    band: tuple[int, int] = (240, 360)
    area_population: dict[str, int] = field(default_factory=dict)
    #: per rule, the figures behind its line; then the other steps' warnings
    #: (:mod:`pucha.partition.report`)
    figures: dict[str, str] = field(default_factory=dict)
    context: list[str] = field(default_factory=list)

    @property
    def hard_broken(self) -> bool:
        """True when at least one hard rule is broken (``pucha check`` exits 1)."""
        return any(i.hard for i in self.issues)

    @property
    def ok(self) -> bool:
        return not self.hard_broken

    def by_rule(self, rule: str) -> list[CheckIssue]:
        return [i for i in self.issues if i.rule == rule]

    def errors(self, rule: str | None = None) -> list[CheckIssue]:
        return [i for i in self.issues if i.hard and (rule is None or i.rule == rule)]

    @property
    def summary(self) -> dict[str, object]:
        return {
            "areas": self.n_areas, "villages": self.n_villages, "buildings": self.n_buildings,
            "population": self.population, "hard_broken": self.hard_broken,
            "errors": {r: len(self.errors(r)) for r in RULES},
            "warnings": sum(i.severity == "warning" for i in self.issues),
        }

    @property
    def text(self) -> str:
        """A readable report (Chinese and English), one section per rule."""
        lo, hi = self.band
        lines = [f"核查 check: {self.path}",
                 f"  {self.n_villages} 个居/村 villages, {self.n_areas} 个普查小区 areas, "
                 f"{self.n_buildings} 栋建筑 buildings, {self.population} 人 people; "
                 f"人口规模 band {lo}-{hi}", ""]
        for rule, (zh, en) in RULES.items():
            found = self.by_rule(rule)
            errs = [i for i in found if i.hard]
            mark = "FAIL" if errs else ("WARN" if found else " OK ")
            lines.append(f"[{mark}] {zh} / {en}" + (f": {len(errs)} error(s)" if errs else "")
                         + (f", {len(found) - len(errs)} warning/info" if len(found) > len(errs)
                            else ""))
            if rule in self.figures:
                lines.append(f"       {self.figures[rule]}")
            for i in found[:50]:
                lines.append(f"    {i.severity:7s} {i.message}")
            if len(found) > 50:
                lines.append(f"    ... {len(found) - 50} more in the problems layer (stage=check)")
        lines += [""] + self.context if self.context else []
        lines.append("")
        n_err = len(self.errors())
        lines.append(f"结论 result: {'有硬性规则未满足 hard rule(s) broken' if n_err else '通过 passed'}"
                     f" ({n_err} error(s), "
                     f"{sum(i.severity == 'warning' for i in self.issues)} warning(s))")
        return "\n".join(lines) + "\n"

    def problems_frame(self, crs: object = None) -> gpd.GeoDataFrame:
        """The issues as rows of the ``problems`` layer (stage ``check``)."""
        rows = [dict(severity=i.severity, code=i.code, layer=i.layer,
                     feature_ids=",".join(i.feature_ids), message=i.message, stage="check")
                for i in self.issues]
        geoms = [i.geometry if i.geometry is not None else shapely.Polygon()
                 for i in self.issues]
        df = pd.DataFrame(rows, columns=list(S.PROBLEM_COLUMNS))
        return gpd.GeoDataFrame(df, geometry=gpd.GeoSeries(geoms, crs=crs), crs=crs)


# --------------------------------------------------------------------------- helpers


def _isnan(v: object) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA


def _bool(v: object) -> bool:
    if _isnan(v):
        return False
    if isinstance(v, str):
        return v.strip().lower() in ("1", "true", "yes", "y", "t")
    return bool(v)


def effective_assignment(buildings: pd.DataFrame, building_areas: pd.DataFrame
                         ) -> pd.DataFrame:
    """The assignment in force: ``building_areas`` with the hand edits of
    ``buildings.area_code`` applied (see the module docstring for the rule).

    Returns one row per (building, part) with the columns of ``building_areas``
    plus ``edited`` (bool: the row comes from an edit of ``buildings.area_code``).
    Buildings with neither an ``area_code`` nor a ``building_areas`` row are absent
    (unassigned). ``building_areas`` rows of buildings missing from ``buildings``
    are kept (the check reports them).

    >>> b = pd.DataFrame({"building_id": ["a", "b"], "area_code": ["X", "Y"],
    ...                   "population": [10, 20]})
    >>> ba = pd.DataFrame({"building_id": ["a", "b"], "area_code": ["X", "X"], "part": [0, 0],
    ...                    "population": [10, 20]})
    >>> effective_assignment(b, ba)[["building_id", "area_code", "edited"]].values.tolist()
    [['a', 'X', False], ['b', 'Y', True]]
    """
    cols = list(S.BUILDING_AREA_COLUMNS)
    ba = pd.DataFrame(building_areas).copy()
    for c in cols:
        if c not in ba.columns:
            ba[c] = np.nan if c not in ("building_id", "area_code") else ""
    ba = ba[cols].copy()
    ba["building_id"] = ba["building_id"].astype(str)
    ba["area_code"] = ba["area_code"].fillna("").astype(str)
    ba["part"] = pd.to_numeric(ba["part"], errors="coerce").fillna(0).astype(int)
    ba["edited"] = False
    b = pd.DataFrame(buildings)
    attr = dict(zip(b["building_id"].astype(str),
                    b["area_code"].fillna("").astype(str).str.strip()))
    pop = dict(zip(b["building_id"].astype(str),
                   pd.to_numeric(b["population"], errors="coerce").fillna(0).astype(int)))
    dw = (dict(zip(b["building_id"].astype(str), pd.to_numeric(b["dwellings"], errors="coerce")))
          if "dwellings" in b.columns else {})
    codes_of: dict[str, set[str]] = {}
    for bid, code in zip(ba["building_id"], ba["area_code"]):
        codes_of.setdefault(bid, set()).add(code)
    keep = []
    new_rows = []
    for bid in sorted(set(attr) | set(codes_of)):
        code = attr.get(bid, "")
        solved = codes_of.get(bid, set())
        if bid not in attr:  # in building_areas only: kept, reported by the check
            keep.append(bid)
            continue
        if code and code not in solved:
            new_rows.append(dict(building_id=bid, area_code=code, part=0, floor_from=np.nan,
                                 floor_to=np.nan, unit_from=np.nan, unit_to=np.nan,
                                 population=pop.get(bid, 0), dwellings=dw.get(bid, np.nan),
                                 edited=True))
        elif solved:
            keep.append(bid)
    out = ba[ba["building_id"].isin(set(keep))]
    if new_rows:
        out = pd.concat([out, pd.DataFrame(new_rows)], ignore_index=True)
    out = out.sort_values(["building_id", "part", "area_code"], kind="stable")
    return out.reset_index(drop=True)


def load_code_history(path: str | os.PathLike) -> pd.DataFrame:
    """The ``code_history`` table (see :mod:`pucha.partition.revision`), or an empty one."""
    cols = ["area_code", "village_code", "seq", "created_revision", "retired_revision"]
    if "code_history" not in list_layers(path):
        return pd.DataFrame({c: pd.Series(dtype=object) for c in cols})
    return pd.DataFrame(read_layer(path, "code_history"))


def _polys(geom) -> list:
    """The polygon pieces of any geometry (empty list for None/empty)."""
    if geom is None or geom.is_empty:
        return []
    out = []
    for g in shapely.get_parts(geom):
        if g.geom_type == "Polygon":
            out.append(g)
        elif hasattr(g, "geoms"):
            out.extend(_polys(g))
    return out


# --------------------------------------------------------------------------- rules


def _issue(issues: list, rule: str, severity: str, code: str, layer: str, ids: Iterable[str],
           message: str, geometry=None) -> None:
    issues.append(CheckIssue(rule, severity, code, layer, tuple(str(i) for i in ids),
                             message, geometry))


from pucha.partition.edits import check_edits  # noqa: E402


def _check_assignment(issues, buildings, ba, eff, area_codes) -> None:
    bids = set(buildings["building_id"])
    orphan = sorted(set(ba["building_id"]) - bids)
    for bid in orphan:
        _issue(issues, "assignment", "error", "assignment_unknown_building", S.LAYER_BUILDING_AREAS,
               [bid], f"building_areas names building {bid}, which is not in layer 'buildings' "
               "(demolished or deleted?); re-run `pucha partition` to drop it")
    assigned = set(eff["building_id"])
    for row in buildings[~buildings["building_id"].isin(assigned)].itertuples():
        _issue(issues, "assignment", "error", "assignment_missing", S.LAYER_BUILDINGS,
               [row.building_id], f"building {row.building_id} ({int(row.population)} people) "
               "belongs to no area: set its area_code in QGIS or re-run `pucha partition`",
               row.geometry)
    dup = eff[eff.duplicated(["building_id", "part"], keep=False)]
    for bid, grp in dup.groupby("building_id", sort=True):
        _issue(issues, "assignment", "error", "assignment_duplicate", S.LAYER_BUILDING_AREAS,
               [bid], f"building {bid} part {int(grp['part'].iloc[0])} is assigned "
               f"{len(grp)} times (areas {', '.join(sorted(grp['area_code']))}); keep one row")
    flags = pd.DataFrame({"building_id": eff["building_id"], "whole": eff["part"] == 0,
                          "cut": eff["part"] > 0}).groupby("building_id")[["whole", "cut"]].any()
    mixed = flags["whole"] & flags["cut"]
    for bid in sorted(mixed[mixed].index):
        _issue(issues, "assignment", "error", "assignment_whole_and_parts",
               S.LAYER_BUILDING_AREAS, [bid], f"building {bid} is assigned both whole and in "
               "parts; a building is either whole (part 0) or cut (parts 1..n)")
    for row in eff[~eff["area_code"].isin(area_codes)].itertuples():
        _issue(issues, "assignment", "error", "assignment_unknown_area", S.LAYER_BUILDINGS,
               [row.building_id], f"building {row.building_id} is assigned to area "
               f"{row.area_code!r}, which is not in layer 'areas'; correct its area_code "
               "(15 digits) in QGIS")
    a_village = {c: c[:12] for c in area_codes}
    b_village = dict(zip(buildings["building_id"], buildings["village_code"].astype(str)))
    for row in eff[eff["area_code"].isin(area_codes)].itertuples():
        bv = b_village.get(row.building_id, "")
        if bv and a_village.get(row.area_code, bv) != bv:
            _issue(issues, "assignment", "error", "assignment_other_village", S.LAYER_BUILDINGS,
                   [row.building_id], f"building {row.building_id} belongs to 居/村 {bv} but is "
                   f"assigned to area {row.area_code} of 居/村 {row.area_code[:12]}; move it to "
                   f"an area of {bv}, or correct its village_code if the 居/村 is wrong")
    pop = dict(zip(buildings["building_id"], buildings["population"]))
    sums = eff.groupby("building_id")["population"].sum()
    for bid, total in sums.items():
        if bid in pop and int(round(total)) != int(pop[bid]):
            _issue(issues, "assignment", "error", "assignment_population_mismatch",
                   S.LAYER_BUILDING_AREAS, [bid], f"building {bid} holds {int(pop[bid])} people "
                   f"but its parts add up to {int(round(total))}; re-run `pucha partition` to "
                   "re-cut it")


def _check_cut_ranges(issues, buildings, eff) -> None:
    cut = eff[eff["part"] > 0]
    floors = dict(zip(buildings["building_id"], pd.to_numeric(buildings["floors"],
                                                              errors="coerce")))
    for bid, grp in cut.groupby("building_id", sort=True):
        rows = list(grp.itertuples())
        nf = floors.get(bid, np.nan)
        f_hi = [r.floor_to for r in rows if not _isnan(r.floor_to)]
        u_hi = [r.unit_to for r in rows if not _isnan(r.unit_to)]
        n_floor = int(nf) if not _isnan(nf) and nf >= 1 else int(max(f_hi, default=1))
        if f_hi and max(f_hi) > n_floor:
            n_floor_note = f" (the parts reach floor {int(max(f_hi))}, the building has {n_floor})"
            _issue(issues, "cut_ranges", "error", "cut_floor_beyond_building", S.LAYER_BUILDING_AREAS,
                   [bid], f"cut building {bid}: a part names a floor above the top"
                   f"{n_floor_note}; correct floor_to")
            n_floor = int(max(f_hi))
        n_unit = int(max(u_hi, default=1))
        if not f_hi and not u_hi:
            _issue(issues, "cut_ranges", "error", "cut_without_ranges", S.LAYER_BUILDING_AREAS,
                   [bid], f"building {bid} is cut into {len(rows)} parts without floor or unit "
                   "ranges: the enumerators cannot tell which dwellings are theirs")
            continue
        grid = np.zeros((n_unit, n_floor), dtype=int)
        bad = False
        for r in rows:
            f0 = 1 if _isnan(r.floor_from) else int(r.floor_from)
            f1 = n_floor if _isnan(r.floor_to) else int(r.floor_to)
            u0 = 1 if _isnan(r.unit_from) else int(r.unit_from)
            u1 = n_unit if _isnan(r.unit_to) else int(r.unit_to)
            if f0 > f1 or u0 > u1 or f0 < 1 or u0 < 1:
                _issue(issues, "cut_ranges", "error", "cut_bad_range", S.LAYER_BUILDING_AREAS,
                       [bid], f"cut building {bid} part {r.part} (area {r.area_code}) has an "
                       f"empty or invalid range: floors {f0}-{f1}, units {u0}-{u1}")
                bad = True
                continue
            grid[u0 - 1:u1, f0 - 1:f1] += 1
        if bad:
            continue
        twice = np.argwhere(grid > 1)
        missing = np.argwhere(grid == 0)
        if len(twice):
            u, f = twice[0]
            _issue(issues, "cut_ranges", "error", "cut_overlap", S.LAYER_BUILDING_AREAS, [bid],
                   f"cut building {bid}: {len(twice)} floor/unit cell(s) are in two parts "
                   f"(e.g. unit {u + 1} floor {f + 1}); those dwellings would be counted twice")
        if len(missing):
            u, f = missing[0]
            _issue(issues, "cut_ranges", "error", "cut_gap", S.LAYER_BUILDING_AREAS, [bid],
                   f"cut building {bid}: {len(missing)} floor/unit cell(s) are in no part "
                   f"(e.g. unit {u + 1} floor {f + 1}); those dwellings would be missed")


def _check_codes(issues, areas, villages, history, township_code) -> None:
    vcodes = set(villages["village_code"]) if villages is not None else set()
    retired = set(history["area_code"].astype(str)) if len(history) else set()
    dup = areas[areas.duplicated("area_code", keep=False)]
    for code in sorted(set(dup["area_code"])):
        _issue(issues, "codes", "error", "code_duplicate", S.LAYER_AREAS, [code],
               f"area code {code} is used by {int((areas['area_code'] == code).sum())} areas; "
               "codes must be unique")
    good = []
    for row in areas.itertuples():
        code, vc = str(row.area_code), str(row.village_code)
        if len(code) != 15 or not code.isdigit():
            _issue(issues, "codes", "error", "code_format", S.LAYER_AREAS, [code],
                   f"area code {code!r} is not 15 digits (12-digit 普查区 code + 001...)")
            continue
        if code[:12] != vc:
            _issue(issues, "codes", "error", "code_prefix", S.LAYER_AREAS, [code],
                   f"area {code} lies in 居/村 {vc} but its code starts with {code[:12]}; "
                   f"the code must start with the 普查区 code {vc}")
            continue
        if vcodes and vc not in vcodes:
            _issue(issues, "codes", "error", "code_unknown_village", S.LAYER_AREAS, [code],
                   f"area {code} names 居/村 {vc}, which is not in layer 'villages'")
        if township_code and not vc.startswith(township_code):
            _issue(issues, "codes", "error", "code_township", S.LAYER_AREAS, [code],
                   f"area {code}: 居/村 code {vc} is not in township {township_code}")
        seq = getattr(row, "seq", None)
        if not _isnan(seq) and str(seq) != "" and int(float(seq)) != int(code[12:]):
            _issue(issues, "codes", "warning", "code_seq_mismatch", S.LAYER_AREAS, [code],
                   f"area {code}: seq column says {int(float(seq))}, the code says "
                   f"{int(code[12:])}; the code counts")
        good.append((vc, int(code[12:]), code))
    by_v: dict[str, list[int]] = {}
    for vc, seq, _ in good:
        by_v.setdefault(vc, []).append(seq)
    for vc in sorted(by_v):
        seqs = sorted(set(s for s in by_v[vc] if s < 900))
        if not seqs:
            continue
        if seqs[0] == 0:
            _issue(issues, "codes", "error", "code_zero", S.LAYER_AREAS, [f"{vc}000"],
                   f"居/村 {vc}: sequence 000 is not allowed; sequences start at 001")
        missing = [s for s in range(1, seqs[-1] + 1) if s not in set(seqs)]
        unexplained = [s for s in missing if f"{vc}{s:03d}" not in retired]
        if unexplained:
            _issue(issues, "codes", "error", "code_gap", S.LAYER_AREAS,
                   [f"{vc}{s:03d}" for s in unexplained],
                   f"居/村 {vc}: codes are not gapless, missing sequence(s) "
                   f"{', '.join(f'{s:03d}' for s in unexplained)}; renumber, or re-run "
                   "`pucha partition`")
        elif missing:
            _issue(issues, "codes", "info", "code_retired_gap", S.LAYER_AREAS,
                   [f"{vc}{s:03d}" for s in missing],
                   f"居/村 {vc}: sequence(s) {', '.join(f'{s:03d}' for s in missing)} were "
                   "retired in an earlier revision (code_history) and are not reused")


def _require_columns(path: Path, layer: str, frame: pd.DataFrame, cols: Iterable[str]) -> None:
    missing = [c for c in cols if c not in frame.columns]
    if missing:
        raise InputError(
            f"{path}: layer {layer!r} has no column {', '.join(map(repr, missing))} (it has: "
            f"{', '.join(map(str, frame.columns))[:300]}); the project GeoPackage is damaged "
            "or a column was renamed outside pucha: restore a copy or re-run the step that "
            "wrote it (`pucha import`, `pucha partition`)")


def _repair_invalid(issues, frame, layer: str, id_col: str, rule: str, severity: str):
    """Repair invalid polygons (self-intersections from a hand edit, damaged coordinates)
    so the geometric rules can be tested; each repaired feature is one issue."""
    if not isinstance(frame, gpd.GeoDataFrame) or not len(frame):
        return frame
    geoms = np.asarray(frame.geometry.values, dtype=object)
    present = ~shapely.is_missing(geoms)
    bad = np.zeros(len(geoms), dtype=bool)
    bad[present] = ~shapely.is_valid(geoms[present])
    if not bad.any():
        return frame
    fixed = geoms.copy()
    for i in np.flatnonzero(bad):
        g = shapely.make_valid(geoms[i])
        polys = [p for p in shapely.get_parts(g) if p.geom_type in ("Polygon", "MultiPolygon")]
        fixed[i] = shapely.union_all(polys) if polys else shapely.Polygon()
        fid = str(frame[id_col].iat[i]) if id_col in frame.columns else str(i)
        why = shapely.is_valid_reason(geoms[i])
        _issue(issues, rule, severity, "invalid_geometry", layer, [fid],
               f"{layer} {fid}: the polygon is invalid ({why}); checked as repaired, fix it "
               "in QGIS (Vector > Geometry Tools > Fix Geometries) or re-run `pucha partition`",
               fixed[i])
    out = frame.copy()
    out[out.geometry.name] = gpd.GeoSeries(fixed, index=frame.index, crs=frame.crs)
    return out


def _check_contiguity(issues, areas, villages, buildings, eff, min_area) -> None:
    vgeom = dict(zip(villages["village_code"], villages.geometry)) if villages is not None else {}
    ageom = dict(zip(areas["area_code"], areas.geometry))
    for row in areas.itertuples():
        parts = [p for p in _polys(row.geometry) if p.area > min_area]
        if len(parts) <= 1:
            continue
        vg = vgeom.get(row.village_code)
        vparts = [p for p in _polys(vg) if p.area > min_area] if vg is not None else []
        if len(vparts) > 1:
            # allowed when each piece sits in a different part of the 居/村
            owners = [max(range(len(vparts)), key=lambda k: p.intersection(vparts[k]).area)
                      for p in parts]
            if len(set(owners)) == len(owners):
                continue
        _issue(issues, "contiguity", "error", "area_not_contiguous", S.LAYER_AREAS,
               [row.area_code], f"area {row.area_code} is in {len(parts)} separate pieces "
               f"({', '.join(f'{p.area:.0f} m²' for p in parts[:5])}); merge the pieces into "
               "neighbouring areas or re-run `pucha partition`", row.geometry)
    bgeom = dict(zip(buildings["building_id"], buildings.geometry))
    # share of each building's footprint inside each area it is assigned to (vectorised)
    pairs = eff[["building_id", "area_code", "edited"]].drop_duplicates(["building_id",
                                                                       "area_code"])
    pairs = pairs[pairs["building_id"].isin(bgeom.keys()) & pairs["area_code"].isin(ageom.keys())]
    bg = np.asarray([bgeom[b] for b in pairs["building_id"]], dtype=object)
    ag = np.asarray([ageom[c] for c in pairs["area_code"]], dtype=object)
    ok = ~(shapely.is_missing(bg) | shapely.is_missing(ag))
    ok[ok] &= ~(shapely.is_empty(bg[ok]) | shapely.is_empty(ag[ok]))
    barea = np.zeros(len(pairs))
    barea[ok] = shapely.area(bg[ok])
    inside = np.zeros(len(pairs))
    fast = ok & (barea > 0)
    cover = np.zeros(len(pairs), dtype=bool)
    cover[fast] = shapely.contains_properly(ag[fast], bg[fast])
    inside[cover] = barea[cover]
    slow = fast & ~cover
    inside[slow] = shapely.area(shapely.intersection(bg[slow], ag[slow]))
    pairs = pairs.assign(share=np.where(barea > 0, inside / np.where(barea > 0, barea, 1), 1.0),
                         valid=fast)
    pairs = pairs[pairs["valid"]]
    # a building cut vertically (纵向切割) lies in the union of its parts' areas: the
    # areas of a 居/村 do not overlap (rule tiling), so their shares add up
    best = pairs.groupby("building_id").agg(share=("share", "sum"), edited=("edited", "any"))
    best["share"] = best["share"].clip(upper=1.0)
    codes_by: dict[str, set[str]] = {}
    for b, c in zip(pairs["building_id"], pairs["area_code"]):
        codes_by.setdefault(b, set()).add(c)
    # a building the 居/村 line cuts: only its part inside its 居/村 can lie in its areas
    low = sorted(best.index[best["share"] < _INSIDE_SHARE])
    vshare = {}
    if low and vgeom:
        vc_of = dict(zip(buildings["building_id"], buildings["village_code"]))
        for bid in low:
            vg, bg_ = vgeom.get(vc_of.get(bid)), bgeom[bid]
            if vg is not None and not shapely.is_empty(vg) and bg_ is not None and bg_.area > 0:
                try:
                    vshare[bid] = shapely.intersection(bg_, vg).area / bg_.area
                except shapely.errors.GEOSException:
                    continue
    for bid in low:
        share = float(best.loc[bid, "share"])
        vs = vshare.get(bid, 1.0)
        if vs < _INSIDE_SHARE and vs > 0 and share >= _INSIDE_SHARE * vs:
            _issue(issues, "contiguity", "warning", "building_across_village_line", S.LAYER_BUILDINGS,
                   [bid], f"building {bid} straddles the line of its 居/村 {vc_of.get(bid)}: only "
                   f"{vs:.0%} of it lies inside, most of that in area {'/'.join(sorted(codes_by[bid]))}; "
                   "`pucha boundaries` lists it for the 自治办 to settle which 居/村 holds it",
                   bgeom[bid])
            continue
        codes = sorted(codes_by[bid])
        edited = bool(best.loc[bid, "edited"])
        _issue(issues, "contiguity", "error", "building_outside_area", S.LAYER_BUILDINGS,
               [bid], f"building {bid} is assigned to area {'/'.join(codes)} but lies "
               f"outside {'them' if len(codes) > 1 else 'it'} ({share:.0%} inside)"
               + ("; it was moved by hand: re-run `pucha partition` to redraw the area "
                  "boundaries around the move" if edited else
                  "; move it to the area it stands in or redraw the boundary"), bgeom[bid])


def _solver_reasons(path: Path) -> dict[str, tuple[int, str]]:
    """Area code -> (people, reason) of the partition's band rows in the problems layer."""
    import re

    pr = pd.DataFrame(read_layer(path, S.LAYER_PROBLEMS))
    if not len(pr) or "code" not in pr.columns:
        return {}
    pr = pr[pr["code"].isin(["area_below_band", "area_above_band"])]
    out = {}
    for fid, msg in zip(pr["feature_ids"].astype(str), pr["message"].astype(str)):
        m = re.search(r"has (\d+) people, outside \d+-\d+: (.*)$", msg)
        if m:
            out[fid] = (int(m.group(1)), m.group(2))
    return out


def _check_band(issues, areas, buildings, eff, lo, hi, report, names=None, proofs=None) -> None:
    names = names or {}
    proofs = proofs or {}

    def label(code: str) -> str:
        v = names.get(code[:12], "")
        return f"{code} ({v}第{code[12:]}普查小区)" if v and len(code) == 15 else code

    pop = eff.groupby("area_code")["population"].sum().round().astype(int).to_dict()
    v_pop = buildings.groupby("village_code")["population"].sum().to_dict()
    n_in_v = areas.groupby("village_code")["area_code"].nunique().to_dict()
    cuttable = {}
    for r in buildings.itertuples():
        f = getattr(r, "floors", np.nan)
        d = getattr(r, "dwellings", np.nan)
        cuttable[r.building_id] = (not _isnan(f) and f > 1) or (not _isnan(d) and d > 1)
    members = eff.groupby("area_code")["building_id"].agg(lambda s: sorted(set(s))).to_dict()
    for row in areas.itertuples():
        code = str(row.area_code)
        p = int(pop.get(code, 0))
        report.area_population[code] = p
        stored = getattr(row, "population", None)
        if not _isnan(stored) and int(stored) != p:
            _issue(issues, "band", "warning", "area_population_stale", S.LAYER_AREAS, [code],
                   f"area {code}: the areas layer says {int(stored)} people, its buildings hold "
                   f"{p} (after hand edits); re-run `pucha partition` to update it")
        if lo <= p <= hi:
            continue
        side = "below" if p < lo else "above"
        zh = "低于" if p < lo else "高于"
        is_virtual = len(code) == 15 and code.isdigit() and int(code[12:]) >= 900
        vp = int(v_pop.get(row.village_code, 0))
        mem = members.get(code, [])
        unavoidable = None
        if is_virtual:
            unavoidable = "a virtual area (sequence 900+)"
        elif p < lo and vp < lo and n_in_v.get(row.village_code, 0) == 1:
            unavoidable = f"its 居/村 {row.village_code} has only {vp} people"
        elif p > hi and len(mem) == 1 and not cuttable.get(mem[0], False):
            unavoidable = (f"building {mem[0]} alone holds {p} people and has no floor or unit "
                           "data to cut it")
        elif code in proofs and proofs[code][0] == p and "(proven impossible)" in proofs[code][1]:
            # the partition proved it from the cells and their links (problems layer); the
            # area still holds the people it was solved with
            unavoidable = f"pucha partition proved it: {proofs[code][1]}"
        if unavoidable:
            _issue(issues, "band", "warning", f"band_{side}_unavoidable", S.LAYER_AREAS, [code],
                   f"area {label(code)}: {p} people, {zh}{lo if p < lo else hi} ({side} the band "
                   f"{lo}-{hi}), unavoidable: {unavoidable}", row.geometry)
        else:
            why = f" (pucha partition: {proofs[code][1]})" if code in proofs and proofs[code][0] == p else ""
            _issue(issues, "band", "error", f"band_{side}", S.LAYER_AREAS, [code],
                   f"area {label(code)}: {p} people, {zh}{lo if p < lo else hi} ({side} the band "
                   f"{lo}-{hi}); move buildings {'into' if p < lo else 'out of'} it or re-run "
                   f"`pucha partition`{why}", row.geometry)


def _check_tiling(issues, areas, villages, min_area) -> None:
    if villages is None:
        return
    vgeom = dict(zip(villages["village_code"], villages.geometry))
    real = areas[~areas.geometry.is_empty & areas.geometry.notna()]
    for vc, grp in real.groupby("village_code", sort=True):
        vg = vgeom.get(vc)
        geoms = list(grp.geometry)
        codes = list(grp["area_code"])
        tree = shapely.STRtree(geoms)
        left, right = tree.query(geoms, predicate="intersects")
        for i, j in zip(left, right):
            if i >= j:
                continue
            inter = geoms[i].intersection(geoms[j])
            if inter.area > OVERLAP_TOLERANCE_M2:
                _issue(issues, "tiling", "error", "tiling_overlap", S.LAYER_AREAS,
                       sorted([codes[i], codes[j]]),
                       f"areas {codes[i]} and {codes[j]} overlap by {inter.area:.1f} m²; "
                       "people there would be counted twice: redraw the shared boundary", inter)
        if vg is None or vg.is_empty:
            continue
        union = shapely.union_all(np.asarray(geoms))
        gaps = vg.difference(union)
        for g in _polys(gaps):
            if g.area > min_area:
                _issue(issues, "tiling", "error", "tiling_gap", S.LAYER_VILLAGES, [vc],
                       f"居/村 {vc}: {g.area:.1f} m² belong to no area (gap near "
                       f"{g.representative_point().x:.0f}, {g.representative_point().y:.0f}); "
                       "people there would be missed: extend a neighbouring area over it", g)
        for code, ag in zip(codes, geoms):
            out = ag.difference(vg)
            if out.area > min_area:
                _issue(issues, "tiling", "error", "area_outside_village", S.LAYER_AREAS, [code],
                       f"area {code}: {out.area:.1f} m² lie outside its 居/村 {vc}; an area "
                       "must stay inside the 普查区 whose code it carries", out)


# --------------------------------------------------------------------------- entry point


def check_plan(gpkg: str | os.PathLike, *, settings: PartitionSettings | None = None,
               write_problems: bool = True, min_area_m2: float = GAP_TOLERANCE_M2
               ) -> CheckReport:
    """Check the plan in the project GeoPackage ``gpkg`` against every rule.

    Parameters
    ----------
    gpkg
        A project GeoPackage after ``pucha partition`` (layers ``areas``,
        ``building_areas``, ``buildings``, ``villages``).
    settings
        The band (``min``/``max``) comes from here; default 240-360.
    write_problems
        Replace the ``stage="check"`` rows of the ``problems`` layer with this
        check's findings (other stages' rows are kept). Nothing else is changed.
    min_area_m2
        Gaps and extra pieces smaller than this are ignored (default 1 m²).

    Returns
    -------
    CheckReport
        ``report.hard_broken`` is true when a hard rule is broken;
        ``report.text`` is the readable report.
    """
    settings = settings or PartitionSettings()
    path = Path(gpkg)
    if not path.exists():
        raise InputError(f"{path}: no such project GeoPackage; run `pucha import` first")
    layers = set(list_layers(path))
    for need in (S.LAYER_AREAS, S.LAYER_BUILDING_AREAS, S.LAYER_BUILDINGS):
        if need not in layers:
            raise InputError(f"{path}: no layer {need!r}; run `pucha partition {path}` first "
                             "(the check validates a partitioned plan)")
    areas = read_layer(path, S.LAYER_AREAS)
    ba = pd.DataFrame(read_layer(path, S.LAYER_BUILDING_AREAS))
    buildings = read_layer(path, S.LAYER_BUILDINGS)
    villages = read_layer(path, S.LAYER_VILLAGES) if S.LAYER_VILLAGES in layers else None
    _require_columns(path, S.LAYER_AREAS, areas, ("area_code", "village_code"))
    _require_columns(path, S.LAYER_BUILDING_AREAS, ba, ("building_id", "area_code", "part",
                                                        "population", "floor_from", "floor_to",
                                                        "unit_from", "unit_to"))
    _require_columns(path, S.LAYER_BUILDINGS, buildings, ("building_id", "village_code",
                                                          "population", "area_code", "floors"))
    if villages is not None:
        _require_columns(path, S.LAYER_VILLAGES, villages, ("village_code",))
    township_code = ""
    if S.LAYER_TOWNSHIP in layers:
        t = read_layer(path, S.LAYER_TOWNSHIP)
        _require_columns(path, S.LAYER_TOWNSHIP, t, ("code",))
        if len(t):
            township_code = str(t["code"].iloc[0])
    history = load_code_history(path)
    proofs = _solver_reasons(path) if S.LAYER_PROBLEMS in layers else {}
    buildings["population"] = pd.to_numeric(buildings["population"], errors="coerce"
                                            ).fillna(0).astype(int)
    for col in ("population", "dwellings", "floor_from", "floor_to", "unit_from", "unit_to"):
        if col in ba.columns:
            ba[col] = pd.to_numeric(ba[col], errors="coerce")
    eff = effective_assignment(buildings, ba)
    invalid: list[CheckIssue] = []
    areas = _repair_invalid(invalid, areas, S.LAYER_AREAS, "area_code", "contiguity", "error")
    buildings = _repair_invalid(invalid, buildings, S.LAYER_BUILDINGS, "building_id",
                                "contiguity", "warning")
    if villages is not None:
        villages = _repair_invalid(invalid, villages, S.LAYER_VILLAGES, "village_code", "tiling",
                                   "warning")

    report = CheckReport(path=path, n_areas=len(areas),
                         n_villages=int(areas["village_code"].nunique()),
                         n_buildings=len(buildings), population=int(buildings["population"].sum()),
                         band=(int(settings.min), int(settings.max)))
    issues: list[CheckIssue] = list(invalid)
    area_codes = set(areas["area_code"])
    _check_assignment(issues, buildings, ba, eff, area_codes)
    check_edits(issues, _issue, buildings, ba, areas,
                path if S.LAYER_PROBLEMS in layers else None, project=path)
    _check_cut_ranges(issues, buildings, eff)
    _check_codes(issues, areas, villages, history, township_code)
    _check_contiguity(issues, areas, villages, buildings, eff, min_area_m2)
    names = {}
    if villages is not None and "name" in villages.columns:
        names = {str(c): " ".join(str(n or "").split())[:40]
                 for c, n in zip(villages["village_code"], villages["name"])}
    _check_band(issues, areas, buildings, eff, settings.min, settings.max, report, names, proofs)
    _check_tiling(issues, areas, villages, min_area_m2)
    order = {r: k for k, r in enumerate(RULES)}
    sev = {s: k for k, s in enumerate(S.SEVERITIES)}
    issues.sort(key=lambda i: (order[i.rule], sev.get(i.severity, 9), i.feature_ids, i.code))
    report.issues = issues
    _add_figures(report, path, areas, buildings, ba, villages, settings)
    logger.info("核查 check %s: %d error(s), %d warning(s)", path.name,
                len(report.errors()), sum(i.severity == "warning" for i in issues))
    if write_problems:
        _write_problems(path, report, areas.crs, layers)
    return report


def _add_figures(report: CheckReport, path: Path, areas, buildings, ba, villages,
                 settings: PartitionSettings) -> None:
    """The figures behind each line and the other steps' warnings (partition/report.py)."""
    from pucha.partition.report import other_warnings, read_context, rule_figures

    report.figures = rule_figures(areas, buildings, ba, villages,
                                  (int(settings.min), int(settings.max)),
                                  target=int(settings.target))
    report.context = other_warnings(*read_context(path), buildings=buildings)


def _write_problems(path: Path, report: CheckReport, crs, layers: set[str]) -> None:
    """Replace the stage=check rows of the problems layer, in place, in one transaction;
    nothing else in the project is written (the plan is not changed)."""
    replace_rows(path, S.LAYER_PROBLEMS, report.problems_frame(crs), column="stage",
                 value="check")

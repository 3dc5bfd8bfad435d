"""What changed between two plans: ``pucha diff``.

A *plan* is the areas plus the assignment of buildings to them: the current
layers of a project GeoPackage (with hand edits of ``buildings.area_code``
applied, see :func:`pucha.partition.check.effective_assignment`) or a revision
kept in it (layers ``areas_r{N}`` and ``building_areas_r{N}``, see
:mod:`pucha.partition.revision`).

When is an area "the same area"?
--------------------------------
Old area A and new area B are *the same area* when a maximum-weight matching
between old and new areas (weight: the people of the buildings they share) pairs
them and the shared buildings hold more than half of A's people (old plan) and
more than half of B's people (new plan). Areas without people compare building
counts. :mod:`pucha.partition.revision` uses this rule to let an area keep its
code across revisions; :func:`match_areas` implements it for both.

Each area of either plan gets one ``change``:

``unchanged``   same code, same buildings, same people, boundary moved < 1 m²
``population``  same code and buildings, the people changed (re-estimate)
``reshaped``    same code, buildings or boundary changed
``recoded``     the same area under another code
``added``       a new area (no material match in the old plan)
``removed``     an old area with no material match in the new plan
"""

from __future__ import annotations

import csv
import io
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from pucha.errors import InputError
from pucha.gis import schema as S
from pucha.gis.write import list_layers, read_layer, write_text

__all__ = ["Plan", "PlanDiff", "load_plan", "match_areas", "diff_plans", "write_diff_csv",
           "hand_moves",
           "MATERIAL_SHARE", "AREA_CHANGES"]

logger = logging.getLogger(__name__)

MATERIAL_SHARE = 0.5  # "the same area": more than half its people, both ways
AREA_CHANGES = ("unchanged", "population", "reshaped", "recoded", "added", "removed")
_GEOM_TOL_M2 = 1.0


@dataclass
class Plan:
    """Areas and the effective assignment of one plan."""

    label: str
    areas: gpd.GeoDataFrame
    assignment: pd.DataFrame  # building_id, area_code, part, population, ...

    def area_population(self) -> dict[str, int]:
        pop = self.assignment.groupby("area_code")["population"].sum()
        return {str(k): int(round(v)) for k, v in pop.items()}


def _revision_layers(path: Path, revision: int) -> tuple[str, str]:
    a, b = f"areas_r{int(revision)}", f"building_areas_r{int(revision)}"
    layers = list_layers(path)
    if a not in layers or b not in layers:
        have = sorted(int(n[7:]) for n in layers if n.startswith("areas_r") and n[7:].isdigit())
        raise InputError(f"{path}: no revision {revision}; kept revisions: "
                         f"{', '.join(map(str, have)) or 'none (run `pucha partition` first)'}")
    return a, b


def load_plan(gpkg: str | os.PathLike, *, revision: int | None = None) -> Plan:
    """Read a plan: the current one (``revision=None``) or a kept revision."""
    from pucha.partition.check import effective_assignment

    path = Path(gpkg)
    if not path.exists():
        raise InputError(f"{path}: no such project GeoPackage")
    if revision is None:
        layers = list_layers(path)
        for need in (S.LAYER_AREAS, S.LAYER_BUILDING_AREAS, S.LAYER_BUILDINGS):
            if need not in layers:
                raise InputError(f"{path}: no layer {need!r}; run `pucha partition` first")
        areas = read_layer(path, S.LAYER_AREAS)
        b = read_layer(path, S.LAYER_BUILDINGS)
        b["population"] = pd.to_numeric(b["population"], errors="coerce").fillna(0)
        ba = pd.DataFrame(read_layer(path, S.LAYER_BUILDING_AREAS))
        ba["population"] = pd.to_numeric(ba["population"], errors="coerce").fillna(0)
        assign = effective_assignment(b, ba)
        assign = assign[assign["building_id"].isin(set(b["building_id"]))]  # demolished: gone
        label = f"{path.name}"
    else:
        al, bl = _revision_layers(path, revision)
        areas = read_layer(path, al)
        assign = pd.DataFrame(read_layer(path, bl))
        assign["population"] = pd.to_numeric(assign["population"], errors="coerce").fillna(0)
        assign["part"] = pd.to_numeric(assign["part"], errors="coerce").fillna(0).astype(int)
        label = f"{path.name} r{int(revision)}"
    return Plan(label=label, areas=areas, assignment=assign)


def match_areas(old: pd.DataFrame, new: pd.DataFrame, *, share: float = MATERIAL_SHARE
                ) -> dict[str, str]:
    """Old area code -> new area code for every pair that is *the same area*.

    ``old`` and ``new`` are assignments (building_id, area_code, part, population).
    The pairs are a **maximum-weight matching** between old and new areas, the
    weight of a pair being the people of the buildings they share (counted in both
    plans; a cut building's parts with their people). A matched pair is the same
    area when the shared buildings hold **more than half** (``share``) of the old
    area's people in the old plan *and* more than half of the new area's people in
    the new plan: the area kept most of its people and took in fewer than it kept
    (people re-estimated in the same buildings do not make it another area).
    Areas without people compare building counts the same way. Each area matches at
    most one other; ties go to the lower codes (deterministic).

    >>> old = pd.DataFrame({"building_id": list("abc"), "area_code": ["A", "A", "B"],
    ...                     "part": 0, "population": [100, 200, 300]})
    >>> new = pd.DataFrame({"building_id": list("abc"), "area_code": ["X", "X", "Y"],
    ...                     "part": 0, "population": [100, 205, 300]})
    >>> match_areas(old, new)
    {'A': 'X', 'B': 'Y'}
    """
    from scipy.optimize import linear_sum_assignment

    def rows(df):
        d = pd.DataFrame({"area_code": df["area_code"].astype(str),
                          "building_id": df["building_id"].astype(str),
                          "part": pd.to_numeric(df["part"], errors="coerce").fillna(0).astype(int),
                          "population": pd.to_numeric(df["population"], errors="coerce"
                                                      ).fillna(0).clip(lower=0)})
        return d.groupby(["area_code", "building_id", "part"], sort=True,
                         as_index=False)["population"].sum()

    ro, rn = rows(old), rows(new)
    if not len(ro) or not len(rn):
        return {}
    tot_o = ro.groupby("area_code")["population"].sum().to_dict()
    tot_n = rn.groupby("area_code")["population"].sum().to_dict()
    cnt_o = ro.groupby("area_code")["building_id"].nunique().to_dict()
    cnt_n = rn.groupby("area_code")["building_id"].nunique().to_dict()
    # a building cut the same way in both plans is compared part by part; any other
    # building by its people, a re-cut tower's people shared out in proportion
    parts_o = ro.groupby("building_id")["part"].agg(frozenset)
    parts_n = rn.groupby("building_id")["part"].agg(frozenset)
    common = parts_o.index.intersection(parts_n.index)
    same = set(common[(parts_o[common] == parts_n[common]).to_numpy()])
    jo = ro[ro["building_id"].isin(same)].merge(rn[rn["building_id"].isin(same)],
                                                on=["building_id", "part"], suffixes=("_o", "_n"))
    jo = jo.rename(columns={"population_o": "kept", "population_n": "came"})
    bo = ro[~ro["building_id"].isin(same)].groupby(["area_code", "building_id"],
                                                    as_index=False)["population"].sum()
    bn = rn[~rn["building_id"].isin(same)].groupby(["area_code", "building_id"],
                                                    as_index=False)["population"].sum()
    jb = bo.merge(bn, on="building_id", suffixes=("_o", "_n"))
    if len(jb):
        tot_bo = jb["building_id"].map(bo.groupby("building_id")["population"].sum())
        tot_bn = jb["building_id"].map(bn.groupby("building_id")["population"].sum())
        n_o = jb["building_id"].map(bo.groupby("building_id").size())
        n_n = jb["building_id"].map(bn.groupby("building_id").size())
        to_x = np.where(tot_bn > 0, jb["population_n"] / tot_bn.where(tot_bn > 0, 1), 1 / n_n)
        from_a = np.where(tot_bo > 0, jb["population_o"] / tot_bo.where(tot_bo > 0, 1), 1 / n_o)
        jb["kept"] = jb["population_o"] * to_x    # A's people in b that went to X
        jb["came"] = jb["population_n"] * from_a  # X's people in b that came from A
    else:
        jb = jb.assign(kept=[], came=[])
    j = pd.concat([jo[["area_code_o", "area_code_n", "building_id", "kept", "came"]],
                   jb[["area_code_o", "area_code_n", "building_id", "kept", "came"]]],
                  ignore_index=True)
    if not len(j):
        return {}
    ov = j.groupby(["area_code_o", "area_code_n"], sort=True).agg(
        kept=("kept", "sum"), came=("came", "sum"), n=("building_id", "nunique")).reset_index()
    codes_o = sorted(set(ov["area_code_o"]))
    codes_n = sorted(set(ov["area_code_n"]))
    io = {c: i for i, c in enumerate(codes_o)}
    jn = {c: i for i, c in enumerate(codes_n)}
    # people first; shared buildings break ties and weigh areas without people
    big = float(2 * (max(tot_o.values()) + max(tot_n.values())) + 1)
    w = np.zeros((len(codes_o), len(codes_n)))
    ok = np.zeros_like(w, dtype=bool)
    for co, cn, kept, came, n in ov.itertuples(index=False):
        po, pn = tot_o.get(co, 0), tot_n.get(cn, 0)
        if po > 0 or pn > 0:
            good = kept > share * po and came > share * pn
        else:
            good = n > share * cnt_o.get(co, 0) and n > share * cnt_n.get(cn, 0)
        w[io[co], jn[cn]] = (kept + came) * big + n
        ok[io[co], jn[cn]] = good
    w = np.where(ok, w, 0.0)
    rows, cols = linear_sum_assignment(w, maximize=True)
    out = {codes_o[r]: codes_n[c] for r, c in zip(rows, cols) if ok[r, c]}
    return dict(sorted(out.items()))


def hand_moves(gpkg: str | os.PathLike, rev_from: int | None, rev_to: int | None) -> set[str]:
    """Buildings moved by hand between revision ``rev_from`` and ``rev_to`` of one
    project (``None`` as ``rev_to``: up to the current plan, its pending edits
    included): the ``moves`` each revision's summary records."""
    import json

    from pucha.partition.check import effective_assignment

    path = Path(gpkg)
    out: set[str] = set()
    if "revisions" in list_layers(path):
        revs = read_layer(path, "revisions")
        for r, summ in zip(revs["revision"].astype(int), revs["summary"].astype(str)):
            if (rev_from is None or r > rev_from) and (rev_to is None or r <= rev_to):
                try:
                    out |= set((json.loads(summ) or {}).get("moves") or {})
                except ValueError:
                    continue
    if rev_to is None and S.LAYER_BUILDINGS in list_layers(path):
        b = read_layer(path, S.LAYER_BUILDINGS)
        ba = pd.DataFrame(read_layer(path, S.LAYER_BUILDING_AREAS))
        eff = effective_assignment(b, ba)
        out |= set(eff.loc[eff["edited"], "building_id"])
    return out


@dataclass
class PlanDiff:
    """The changes from ``old`` to ``new``: one row per area, one per moved building."""

    old_label: str
    new_label: str
    areas: pd.DataFrame      # change, old_code, new_code, village_code, populations, ...
    buildings: pd.DataFrame  # building_id, change, old_area_code, new_area_code, populations
    geometries: dict[str, dict[str, object]] = field(default_factory=dict)  # code -> old/new
    crs: object = None

    @property
    def changed(self) -> pd.DataFrame:
        return self.areas[self.areas["change"] != "unchanged"]

    @property
    def summary(self) -> dict[str, object]:
        counts = self.areas["change"].value_counts().to_dict()
        return {"areas": {k: int(counts.get(k, 0)) for k in AREA_CHANGES},
                "buildings_moved": int((self.buildings["change"] == "moved").sum()),
                "buildings_added": int((self.buildings["change"] == "added").sum()),
                "buildings_removed": int((self.buildings["change"] == "removed").sum()),
                "population_old": int(self.areas["old_population"].sum()),
                "population_new": int(self.areas["new_population"].sum())}

    @property
    def text(self) -> str:
        s = self.summary
        lines = [f"变化 diff: {self.old_label} -> {self.new_label}"]
        names = {"unchanged": "未变", "population": "人口变化", "reshaped": "边界/建筑变化",
                 "recoded": "改编码", "added": "新增", "removed": "撤销"}
        lines.append("  " + ", ".join(f"{names[k]} {k}: {v}" for k, v in s["areas"].items()))
        lines.append(f"  建筑 buildings: moved {s['buildings_moved']}, added "
                     f"{s['buildings_added']}, removed {s['buildings_removed']}")
        lines.append(f"  人口 population: {s['population_old']} -> {s['population_new']} "
                     f"({s['population_new'] - s['population_old']:+d})")
        for r in self.changed.itertuples():
            lines.append(f"  {r.change:10s} {r.old_code or '-':15s} -> {r.new_code or '-':15s} "
                         f"{int(r.old_population)} -> {int(r.new_population)} 人"
                         + (f"  ({r.reason})" if getattr(r, "reason", "") else ""))
        return "\n".join(lines) + "\n"


def _geom_changed(a, b) -> float:
    if a is None or b is None:
        return float("inf") if (a is None) != (b is None) else 0.0
    if a.is_empty and b.is_empty:
        return 0.0
    return float(shapely.symmetric_difference(a, b).area)


def diff_plans(old: Plan, new: Plan, *, share: float = MATERIAL_SHARE,
               moved: set[str] | None = None) -> PlanDiff:
    """Compare two plans area by area and building by building.

    ``diff.buildings`` lists every building whose area code(s) changed, and every
    building added or removed, with a ``reason``: ``hand move`` (in ``moved``: moved
    in QGIS or with ``pucha move`` between the plans, see :func:`hand_moves`),
    ``new data`` (added, removed, or its people changed), else ``re-solve``."""
    match = match_areas(old.assignment, new.assignment, share=share)
    back = {v: k for k, v in match.items()}
    pop_o, pop_n = old.area_population(), new.area_population()

    def mem(df):
        return {c: frozenset(zip(g["building_id"].astype(str), g["part"].astype(int)))
                for c, g in df.groupby("area_code")}
    mo, mn = mem(old.assignment), mem(new.assignment)
    go = dict(zip(old.areas["area_code"], old.areas.geometry))
    gn = dict(zip(new.areas["area_code"], new.areas.geometry))
    vo = dict(zip(old.areas["area_code"], old.areas["village_code"]))
    vn = dict(zip(new.areas["area_code"], new.areas["village_code"]))
    rows = []
    for code in sorted(set(go) | set(gn)):
        in_o, in_n = code in go, code in gn
        if in_o and in_n:
            dg = _geom_changed(go[code], gn[code])
            same_set = mo.get(code, frozenset()) == mn.get(code, frozenset())
            if same_set and dg < _GEOM_TOL_M2:
                change = "unchanged" if pop_o.get(code, 0) == pop_n.get(code, 0) else "population"
            else:
                change = "reshaped"
            rows.append((change, code, code, vn[code], dg, match.get(code) == code))
        elif in_o and code in match and match[code] not in go:
            nc = match[code]
            rows.append(("recoded", code, nc, vn.get(nc, vo[code]),
                         _geom_changed(go[code], gn.get(nc)), True))
        elif in_o:
            rows.append(("removed", code, "", vo[code], float("nan"), False))
        elif code in back and back[code] not in gn:
            continue  # reported as the recoded row of its old code
        else:
            rows.append(("added", "", code, vn[code], float("nan"), False))
    areas = pd.DataFrame(rows, columns=["change", "old_code", "new_code", "village_code",
                                        "boundary_change_m2", "material_match"])
    areas["old_population"] = [pop_o.get(c, 0) if c else 0 for c in areas["old_code"]]
    areas["new_population"] = [pop_n.get(c, 0) if c else 0 for c in areas["new_code"]]
    areas["delta"] = areas["new_population"] - areas["old_population"]
    areas["old_buildings"] = [len({b for b, _ in mo.get(c, ())}) for c in areas["old_code"]]
    areas["new_buildings"] = [len({b for b, _ in mn.get(c, ())}) for c in areas["new_code"]]
    areas["boundary_change_m2"] = areas["boundary_change_m2"].round(1)
    areas = areas.sort_values(["village_code", "new_code", "old_code"]).reset_index(drop=True)

    # buildings: EVERY building whose codes changed, with the reason
    def codes(df):
        return {b: tuple(sorted(set(g["area_code"]))) for b, g in df.groupby("building_id")}
    def pops(df):
        return df.groupby("building_id")["population"].sum().round().astype(int).to_dict()
    co, cn = codes(old.assignment), codes(new.assignment)
    po, pn = pops(old.assignment), pops(new.assignment)
    hand = set(moved or ())
    brows = []
    for bid in sorted(set(co) | set(cn)):
        if bid not in cn:
            brows.append((bid, "removed", "/".join(co[bid]), "", po.get(bid, 0), 0, "new data"))
        elif bid not in co:
            brows.append((bid, "added", "", "/".join(cn[bid]), 0, pn.get(bid, 0), "new data"))
        elif co[bid] != cn[bid]:
            why = ("hand move" if bid in hand else
                   "new data" if po.get(bid, 0) != pn.get(bid, 0) else "re-solve")
            brows.append((bid, "moved", "/".join(co[bid]), "/".join(cn[bid]),
                          po.get(bid, 0), pn.get(bid, 0), why))
    buildings = pd.DataFrame(brows, columns=["building_id", "change", "old_area_code",
                                             "new_area_code", "old_population",
                                             "new_population", "reason"])
    geoms = {}
    for r in areas.itertuples():
        if r.change == "unchanged":
            continue
        key = r.new_code or r.old_code
        geoms[key] = {"old": go.get(r.old_code) if r.old_code else None,
                      "new": gn.get(r.new_code) if r.new_code else None,
                      "change": r.change, "old_code": r.old_code, "new_code": r.new_code,
                      "old_population": int(r.old_population),
                      "new_population": int(r.new_population)}
    return PlanDiff(old_label=old.label, new_label=new.label, areas=areas, buildings=buildings,
                    geometries=geoms, crs=new.areas.crs or old.areas.crs)


def _cell(v: object) -> str:
    s = "" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v)
    if s[:1] in ("=", "+", "-", "@") and not s.lstrip("-+").replace(".", "").isdigit():
        s = "'" + s  # never a spreadsheet formula
    return s


def _csv_text(df: pd.DataFrame) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(list(df.columns))
    for row in df.itertuples(index=False):
        w.writerow([_cell(v) for v in row])
    return "\ufeff" + buf.getvalue()


def write_diff_csv(diff: PlanDiff, out_dir: str | os.PathLike) -> list[Path]:
    """Write ``diff-areas.csv`` and ``diff-buildings.csv`` (UTF-8 with BOM, for Excel)."""
    out = Path(out_dir)
    a = write_text(out / "diff-areas.csv", _csv_text(diff.areas))
    b = write_text(out / "diff-buildings.csv", _csv_text(diff.buildings))
    return [a, b]

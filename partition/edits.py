"""Hand edits of the plan (QGIS or ``pucha move``/``lock``): validation and their reach.

Used by ``pucha check`` (:mod:`pucha.partition.check`) and by the re-partition
(:mod:`pucha.partition.revision`), so both judge an edit the same way.

``buildings.area_code`` is the editable assignment. Its meaning, exactly:

* NULL or ``''`` (nothing typed): **no hand edit**; the building stays where the
  last ``pucha partition`` put it (``building_areas``).
* a code equal to one of the building's ``building_areas`` codes: no move.
* any other text: a **move** of the whole building to that area. It must be the
  15-digit code of an area that exists in layer ``areas`` and belongs to the
  building's own 居/村 (``buildings.village_code``), written exactly (no spaces).
  Anything else (a 14-digit typo, a code that does not exist, another 居/村's
  area, surrounding spaces) is an **invalid edit**: an error in ``pucha check``,
  and ``pucha partition`` stops before solving, naming every such building and
  code, and writes nothing (:class:`InvalidEdits`), so a typo is neither adopted
  as an official code nor silently replaced.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import shapely

from pucha.errors import InputError
from pucha.gis import schema as S

__all__ = ["InvalidEdits", "invalid_edits", "raise_invalid_edits", "touched_areas",
           "population_accounting", "neighbours", "check_edits"]


class InvalidEdits(InputError):
    """Hand-typed ``area_code`` values that name no area of the building's 居/村."""


def _text(v: object) -> str | None:
    if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)):
        return None
    return str(v)


def invalid_edits(buildings: pd.DataFrame, building_areas: pd.DataFrame,
                  areas: pd.DataFrame) -> list[tuple[str, str, str]]:
    """(building_id, typed code, why) for every hand-typed ``area_code`` that is not
    an existing area of the building's own 居/村 (see the module docstring)."""
    village_of = dict(zip(areas["area_code"].astype(str), areas["village_code"].astype(str)))
    solved: dict[str, set[str]] = {}
    for b, c in zip(building_areas["building_id"].astype(str),
                    building_areas["area_code"].astype(str)):
        solved.setdefault(b, set()).add(c)
    out = []
    for bid, vc, raw in zip(buildings["building_id"].astype(str),
                            buildings["village_code"].astype(str), buildings["area_code"]):
        code = _text(raw)
        if code is None or code == "" or code in solved.get(bid, ()):
            continue
        if code.strip() != code:
            why = (f"has spaces around it ({code!r}); type the 15 digits only"
                   if code.strip() else "is only spaces; clear the cell (NULL) for no move")
        elif not (len(code) == 15 and code.isdigit()):
            why = f"is not a 15-digit area code ({len(code)} characters)"
        elif code not in village_of:
            why = "names no area in layer 'areas'"
        elif village_of[code] != vc:
            why = (f"is an area of 居/村 {village_of[code]}, not of the building's 居/村 {vc}; "
                   "a building can only move within its 居/村")
        else:
            continue
        out.append((bid, code, why))
    return out


def raise_invalid_edits(path, bad: list[tuple[str, str, str]]) -> None:
    """Stop ``pucha partition`` with one clear error naming every invalid edit."""
    if not bad:
        return
    lines = [f"  building {b}: area_code {c!r} {why}" for b, c, why in bad[:50]]
    more = f"\n  ... and {len(bad) - 50} more" if len(bad) > 50 else ""
    raise InvalidEdits(
        f"{path}: {len(bad)} building(s) carry an area_code that is not an area of their "
        "own 居/村; nothing was partitioned or written:\n" + "\n".join(lines) + more +
        "\nCorrect each area_code in QGIS (layer 'buildings') to an existing 15-digit code of "
        "the building's 居/村 (layer 'areas'), or clear it (NULL) to keep the building where "
        "it is; `pucha check` lists the same errors")


def neighbours(areas: pd.DataFrame, codes: set[str], tol: float = 0.5) -> set[str]:
    """Codes of the areas that share a boundary with (or touch) one of ``codes``."""
    geoms = dict(zip(areas["area_code"], areas.geometry))
    sel = [geoms[c] for c in sorted(codes) if c in geoms and geoms[c] is not None]
    if not sel:
        return set()
    zone = shapely.union_all(np.asarray(sel, dtype=object)).buffer(tol)
    return {c for c, g in geoms.items() if g is not None and c not in codes
            and g.intersection(zone).area > 0.0}


def touched_areas(v_areas, v_ba, v_eff, v_buildings, moved: set[str], hole) -> set[str]:
    """The areas of one 居/村 an edit or new data reaches: the areas moved buildings
    leave and join, the areas of deleted buildings, of buildings whose people changed,
    areas holding new buildings, areas that touch the ground of a deleted area
    (``hole``), and areas outside the band after the change are left to the caller."""
    codes = set(v_areas["area_code"])
    t: set[str] = set()
    solved = v_ba.groupby("building_id")["area_code"].agg(set).to_dict() if len(v_ba) else {}
    pop_now = dict(zip(v_buildings["building_id"], v_buildings["population"]))
    for b in moved:
        t |= solved.get(b, set())
        t |= set(v_eff.loc[v_eff["building_id"] == b, "area_code"])
    gone = set(solved) - set(pop_now)
    for b in gone:
        t |= solved[b]
    if len(v_ba):
        had = v_ba.groupby("building_id")["population"].sum()
        for b, p in had.items():
            if b in pop_now and int(round(p)) != int(pop_now[b]):
                t |= solved.get(b, set())
    new_b = v_buildings[~v_buildings["building_id"].isin(set(solved))]
    for g in new_b.geometry:
        if g is None:
            continue
        pt = g.representative_point()
        t |= {c for c, ag in zip(v_areas["area_code"], v_areas.geometry)
              if ag is not None and ag.contains(pt)}
    if hole is not None and not hole.is_empty:
        z = hole.buffer(0.5)
        t |= {c for c, ag in zip(v_areas["area_code"], v_areas.geometry)
              if ag is not None and ag.intersection(z).area > 0.0}
    return t & codes


def population_accounting(buildings: pd.DataFrame, imported: dict, *, stage: str
                          ) -> list[dict]:
    """Warning rows where a 居/村's people in layer ``buildings`` differ from what
    ``pucha import`` wrote (``pucha_meta.import_population.per_village``): buildings
    deleted in QGIS take their people with them, and the census would miss them."""
    now = (pd.to_numeric(buildings["population"], errors="coerce").fillna(0)
           .groupby(buildings["village_code"].astype(str)).sum().round().astype(int).to_dict())
    rows = []
    for vc in sorted(set(imported) | set(now)):
        want = imported.get(vc, {}).get("out") if isinstance(imported.get(vc), dict) else None
        have = int(now.get(vc, 0))
        if want is None or int(want) == have:
            continue
        rows.append(dict(severity="warning", code="population_differs_from_import",
                         layer=S.LAYER_BUILDINGS, feature_ids=vc, stage=stage,
                         message=f"居/村 {vc}: layer 'buildings' holds {have} people, "
                                 f"`pucha import` wrote {int(want)} ({have - int(want):+d}): "
                                 "buildings were deleted or their people edited since the "
                                 "import; if that was not meant, re-import or restore them"))
    return rows


def check_edits(issues: list, _issue, buildings, ba, areas, problems_path,
                project=None) -> None:
    """Hand-typed area codes that name no area of the building's own 居/村 (see
    :mod:`pucha.partition.edits`; ``pucha partition`` refuses them too), and hand
    moves the last ``pucha partition`` could not keep (its ``move_not_honoured`` rows)."""
    from pucha.gis.write import read_layer

    bad = invalid_edits(buildings, ba, areas)
    named = {b for i in issues if i.code in ("assignment_unknown_area", "assignment_other_village")
             for b in i.feature_ids}
    for bid, code, why in bad:
        if bid in named:  # already an error of its own (unknown area, other 居/村)
            continue
        _issue(issues, "assignment", "error", "assignment_invalid_edit", S.LAYER_BUILDINGS,
               [bid], f"building {bid}: area_code {code!r} {why}. Type an existing 15-digit "
               "code of an area of the building's 居/村 (layer 'areas'), or clear the cell "
               "(NULL: no move); `pucha partition` refuses to run until it is corrected")
    if project is not None:  # people against what pucha import wrote
        from pucha.gis.write import read_meta

        try:
            imported = (read_meta(project).get("import_population") or {}).get("per_village")
        except Exception:  # noqa: BLE001 - no import meta: nothing to compare with
            imported = None
        for r in population_accounting(buildings, imported or {}, stage="check"):
            _issue(issues, "assignment", "warning", r["code"], r["layer"],
                   [r["feature_ids"]], r["message"])
    if problems_path is None:
        return
    old = read_layer(problems_path, S.LAYER_PROBLEMS)
    rows = old[(old["code"].astype(str) == "move_not_honoured")
               & (old["stage"].astype(str) == "partition")]
    for ids, msg in zip(rows["feature_ids"].astype(str), rows["message"].astype(str)):
        _issue(issues, "assignment", "warning", "move_not_honoured", S.LAYER_BUILDINGS,
               ids.split(",")[:1], f"the last `pucha partition` did not keep a hand move: {msg}")

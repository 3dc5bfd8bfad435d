"""Re-solve the part of one 居/村 that an edit or new data reaches (docs/review.md §3).

:func:`revise_village` is called by :func:`pucha.partition.revision.repartition_project`
for a 居/村 with hand moves, deleted buildings or areas, or new data that no longer
fits. It re-solves as little as it can, in three widening attempts, and keeps the
first whose areas are all inside the band:

1. ``local``: only the *touched* areas (those the edit reaches, see
   :func:`pucha.partition.edits.touched_areas`), every building in them pinned to
   the area it is in now (hand moves applied): the areas are redrawn around the
   move and keep their buildings;
2. ``neighbours``: the touched areas and the unlocked areas next to them, only
   the hand-moved (and locked) buildings pinned: the solver re-balances them;
3. ``village``: the whole unlocked rest of the 居/村, moved buildings pinned.

Every area outside the re-solved part keeps its buildings, boundary and code.
Codes come from :func:`pucha.partition.codes.stable_codes` against the plan as the
user left it. A hand move that the result does not keep is named in an error row
(``move_not_honoured``), never undone in silence.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import shapely

from pucha.gis import schema as S

__all__ = ["VillageContext", "revise_village", "ATTEMPTS"]

ATTEMPTS = ("local", "neighbours", "village", "without_moves")


def _problem(severity: str, code: str, layer: str, ids, message: str, geometry=None) -> dict:
    return dict(severity=severity, code=code, layer=layer,
                feature_ids=",".join(str(i) for i in ids), message=message, stage="partition",
                geometry=geometry if geometry is not None else shapely.Polygon())


@dataclass
class VillageContext:
    """Everything :func:`revise_village` needs about one 居/村."""

    vc: str
    polygon: object
    areas: pd.DataFrame          # its current areas (layer ``areas``)
    eff: pd.DataFrame            # effective assignment (hand edits applied)
    solved: pd.DataFrame         # building_areas as the last partition wrote them
    buildings: pd.DataFrame      # its buildings
    pins: dict[str, str]         # moved or locked building -> area code
    moved: set[str]              # buildings moved by hand
    locked: set[str]             # locked area codes
    touched: set[str]            # areas the change reaches
    deleted: set[str]            # area codes deleted by hand
    whole_village: bool          # the outline changed: only a whole re-solve makes sense
    lo: int
    hi: int
    used_seqs: set[int] = field(default_factory=set)
    reserved: set[str] = field(default_factory=set)


@dataclass
class _Try:
    kind: str
    frozen: list[str]
    sol: object
    new_ba: pd.DataFrame
    problems: list[dict]
    rest_pop: int

    @property
    def misses(self) -> int:
        p = self.new_ba.groupby("area_code")["population"].sum()
        keys = list(self.sol.areas["area_code"]) if len(self.sol.areas) else []
        return sum(not (self.lo <= int(p.get(k, 0)) <= self.hi) for k in keys)

    lo: int = 0
    hi: int = 0
    out_ba: pd.DataFrame | None = None      # with final codes, kept areas included
    final_ba: pd.DataFrame | None = None    # the re-solved part, final codes
    out_areas: pd.DataFrame | None = None


def _runs(floors: list[int]) -> list[tuple[int, int]]:
    out: list[list[int]] = []
    for f in floors:
        if out and f == out[-1][1] + 1:
            out[-1][1] = f
        else:
            out.append([f, f])
    return [(a, b) for a, b in out]


def _split_people(total: int, sizes: list[int]) -> list[int]:
    n = sum(sizes)
    acc, out, prev = 0, [], 0
    for s in sizes:
        acc += s
        cur = round(total * acc / n) if n else 0
        out.append(cur - prev)
        prev = cur
    return out


def _floors_back(bid: str, rows: pd.DataFrame, real: list[int]) -> list[dict]:
    """The solver's rows of a straddling tower's rest (virtual floors 1..len(real))
    mapped back to its real floors (several runs when the locked floors sit between)."""
    out = []
    for r in rows.itertuples(index=False):
        if r.part == 0 or pd.isna(r.floor_from):
            fl = real
        else:
            fl = real[int(r.floor_from) - 1:int(r.floor_to)]
        runs = _runs(fl)
        pops = _split_people(int(round(r.population)), [b - a + 1 for a, b in runs])
        for (a, b), p in zip(runs, pops):
            out.append(dict(building_id=bid, area_code=r.area_code, part=1, floor_from=float(a),
                            floor_to=float(b), unit_from=np.nan, unit_to=np.nan, population=p,
                            dwellings=np.nan))
    return out


def _solve_rest(ctx: VillageContext, kind: str, frozen: list[str], pins: dict[str, str],
                solver, **kw) -> _Try:
    """Solve the 居/村 minus the ``frozen`` areas (kept as they are)."""
    from pucha.partition.polygons import without_slivers

    fz = set(frozen)
    fz_areas = ctx.areas[ctx.areas["area_code"].isin(fz)]
    fz_eff = ctx.eff[ctx.eff["area_code"].isin(fz)]
    v_bids = set(ctx.buildings["building_id"])
    open_rows = ctx.eff[~ctx.eff["area_code"].isin(fz)]
    # cut buildings with parts in a frozen area and parts elsewhere ("straddlers"): the
    # frozen parts stay; the other floors are cut again like any tower (item 4 of issue 13)
    straddle = sorted(set(fz_eff["building_id"]) & set(open_rows["building_id"]))
    resid = open_rows[open_rows["building_id"].isin(straddle)]
    rest_bids = sorted((v_bids - set(fz_eff["building_id"])) | set(straddle))
    rest_b = ctx.buildings[ctx.buildings["building_id"].isin(rest_bids)].copy()
    real_floors: dict[str, list[int]] = {}
    pins = {b: c for b, c in pins.items() if b in set(rest_bids)}
    if straddle:
        rp = resid.groupby("building_id")["population"].sum().round().astype(int)
        m = rest_b["building_id"].isin(straddle)
        rest_b.loc[m, "population"] = rest_b.loc[m, "building_id"].map(rp).to_numpy()
        for bid, g in resid.groupby("building_id"):
            if g["floor_from"].notna().all() and g["floor_to"].notna().all():
                real_floors[bid] = sorted({f for a, b in zip(g["floor_from"], g["floor_to"])
                                           for f in range(int(a), int(b) + 1)})
        rest_b.loc[m, "floors"] = [float(len(real_floors[b])) if b in real_floors else np.nan
                                   for b in rest_b.loc[m, "building_id"]]
        if "dwellings" in rest_b.columns:
            rest_b.loc[m, "dwellings"] = np.nan
        for bid in straddle:  # a straddler is never forced whole into one area
            pins.pop(bid, None)
    problems: list[dict] = []
    for lc, lg in zip(fz_areas["area_code"], fz_areas.geometry):
        if lc not in ctx.locked or lg is None or lg.is_empty:
            continue
        cand = rest_b[~rest_b["building_id"].isin(straddle) & rest_b["building_id"].isin(ctx.moved)]
        inside = cand[cand.geometry.intersection(lg).area > 0.5 * cand.geometry.area]
        for bid in sorted(inside["building_id"]):
            problems.append(_problem(
                "error", "lock_holds_moved_building", S.LAYER_BUILDINGS, [bid, lc],
                f"building {bid} stands inside locked area {lc} but was moved to "
                f"{ctx.pins.get(bid, 'another area')}; the locked boundary cannot change: "
                f"unlock {lc} (`pucha lock --unlock {lc}`) or move the building back"))
    vg = ctx.polygon
    if vg is None or vg.is_empty or not len(fz_areas):
        rest_poly = vg
    else:
        rest_poly = without_slivers(vg.difference(
            shapely.union_all(np.asarray(fz_areas.geometry.values))))
    rest_pop = int(rest_b["population"].sum())
    sol = solver(ctx.vc, polygon=rest_poly, buildings=rest_b, pinned=pins,
                 settings=kw["settings"], gpkg=kw["gpkg"],
                 excluded=sorted(set(fz_eff["building_id"])))
    problems.extend(sol.problems)
    sba = pd.DataFrame(sol.building_areas)
    if straddle and len(sba):
        rows = []
        for bid in straddle:
            got = sba[sba["building_id"] == bid]
            if bid in real_floors and len(got):
                rows.extend(_floors_back(bid, got, real_floors[bid]))
            elif len(got):  # floors unknown: the rest goes whole to one area, as before
                keep = resid[resid["building_id"] == bid].copy()
                keep["area_code"] = got["area_code"].iloc[0]
                rows.extend(keep[list(S.BUILDING_AREA_COLUMNS)].to_dict("records"))
        sba = pd.concat([sba[~sba["building_id"].isin(straddle)], pd.DataFrame(rows)],
                        ignore_index=True)
    t = _Try(kind, sorted(fz), sol, sba[list(S.BUILDING_AREA_COLUMNS)] if len(sba) else sba,
             problems, rest_pop, ctx.lo, ctx.hi)
    return t


def _renumber_parts(ba: pd.DataFrame, ids: set[str]) -> pd.DataFrame:
    """Parts of the cut buildings ``ids`` (towers with kept and re-solved floors)
    numbered 1.. from the lowest floor (unit)."""
    ba = ba.copy()
    cut = (ba["part"].astype(int) > 0) & ba["building_id"].isin(ids)
    if not cut.any():
        return ba
    c = ba[cut].sort_values(["building_id", "floor_from", "unit_from", "area_code"], kind="stable")
    c["part"] = c.groupby("building_id").cumcount() + 1
    return pd.concat([ba[~cut], c], ignore_index=True)


def revise_village(ctx: VillageContext, solver, *, settings, gpkg, exhausted
                   ) -> tuple[pd.DataFrame, pd.DataFrame, list[dict], str]:
    """Re-solve what the change reaches in one 居/村; returns (areas, building_areas,
    problems, attempt kind) with final codes. See the module docstring."""
    from pucha.partition.edits import neighbours

    codes_all = list(ctx.areas["area_code"])
    unlocked = [c for c in codes_all if c not in ctx.locked]
    touched = set(ctx.touched) - ctx.locked
    # an area a building was moved into keeps its other buildings with it when that fits
    # the band (the solver then honours the move by redrawing around it); otherwise only
    # the moved buildings are pinned and the area may hand some buildings on
    pop = ctx.eff.groupby("area_code")["population"].sum()
    dest = {c for b, c in ctx.pins.items() if b in ctx.moved} - ctx.locked
    fits = {c for c in dest if pop.get(c, 0) <= ctx.hi}
    core = ctx.eff[(ctx.eff["part"] == 0) & ctx.eff["area_code"].isin(fits)]
    move_pins = dict(zip(core["building_id"], core["area_code"]))
    move_pins.update(ctx.pins)
    attempts = []
    if not ctx.whole_village and touched:
        eff_whole = ctx.eff[(ctx.eff["part"] == 0) & ctx.eff["area_code"].isin(touched)]
        local_pins = dict(zip(eff_whole["building_id"], eff_whole["area_code"]))
        local_pins.update(ctx.pins)
        attempts.append(("local", touched, local_pins))
        wider = touched | (neighbours(ctx.areas, touched) - ctx.locked)
        if wider != touched and wider != set(unlocked):
            attempts.append(("neighbours", wider, move_pins))
    attempts.append(("village", set(unlocked), move_pins))
    if move_pins != ctx.pins:
        attempts.append(("village", set(unlocked), dict(ctx.pins)))
    if ctx.moved:  # last resort: the touched areas re-solved without the moves (error rows)
        kept_pins = {b: c for b, c in ctx.pins.items() if b not in ctx.moved}
        attempts.append(("without_moves", touched or set(unlocked), kept_pins))
    best, best_score = None, None
    for kind, region, pins in attempts:
        frozen = [c for c in codes_all if c not in region]
        t = _solve_rest(ctx, kind, frozen, pins, solver, settings=settings, gpkg=gpkg)
        _final(ctx, t, exhausted)
        score = (t.misses, len(_unmet(ctx, t.out_ba)))
        if best_score is None or score < best_score:  # ties: the more local attempt
            best, best_score = t, score
        if score == (0, 0):
            break
    t = best
    fz = set(t.frozen)
    new_ba, out_ba, areas = t.final_ba, t.out_ba, t.out_areas
    problems = list(t.problems)
    if t.kind in ("neighbours", "village") and touched:
        problems.append(_problem(
            "info", "resolve_widened", S.LAYER_VILLAGES, [ctx.vc],
            f"居/村 {ctx.vc}: the edit could not be absorbed by the areas it touches "
            f"({', '.join(sorted(touched))}) inside the band {ctx.lo}-{ctx.hi}; "
            + ("their unlocked neighbours were re-solved with them"
               if t.kind == "neighbours" else "the whole unlocked 居/村 was re-solved")))
    problems += _moves_not_honoured(ctx, out_ba)
    problems += _band_diagnosis(ctx, new_ba, sorted(c for c in fz if c in ctx.locked), t)
    return areas, out_ba, problems, t.kind


def _final(ctx: VillageContext, t: _Try, exhausted) -> None:
    """Give the attempt's areas their codes (the same area keeps its code) and join
    them to the areas kept as they are."""
    from pucha.partition.codes import stable_codes

    sol = t.sol
    fz = set(t.frozen)
    fz_areas = ctx.areas[ctx.areas["area_code"].isin(fz)]
    fz_eff = ctx.eff[ctx.eff["area_code"].isin(fz)]
    old = ctx.eff[~ctx.eff["area_code"].isin(fz | ctx.deleted)]
    keys = list(sol.areas["area_code"]) if len(sol.areas) else []
    reserved = set(ctx.reserved) | fz | ctx.deleted
    codes = stable_codes(ctx.vc, t.new_ba, old, used_seqs=ctx.used_seqs, reserved=reserved,
                         keys=keys, exhausted=exhausted)
    new_a = sol.areas.copy()
    if len(new_a):
        new_a["area_code"] = new_a["area_code"].map(codes)
        new_a["village_code"] = ctx.vc
        new_a["locked"] = False
    new_ba = t.new_ba.copy()
    if len(new_ba):
        new_ba["area_code"] = new_ba["area_code"].map(codes)
    out_ba = pd.concat([fz_eff[list(S.BUILDING_AREA_COLUMNS)], new_ba], ignore_index=True)
    t.out_ba = _renumber_parts(out_ba, set(fz_eff["building_id"]) & set(new_ba["building_id"])
                               if len(new_ba) else set())
    t.final_ba = new_ba
    t.out_areas = pd.concat([fz_areas, new_a], ignore_index=True) if len(new_a) else fz_areas


def _unmet(ctx: VillageContext, ba: pd.DataFrame) -> list[str]:
    """Hand-moved buildings that do not end in the area whose code was typed."""
    have = ba.groupby("building_id")["area_code"].agg(set).to_dict() if len(ba) else {}
    return sorted(b for b in ctx.moved
                  if ctx.pins.get(b) is not None and ctx.pins[b] not in have.get(b, set()))


def _moves_not_honoured(ctx: VillageContext, ba: pd.DataFrame) -> list[dict]:
    rows = []
    have = ba.groupby("building_id")["area_code"].agg(lambda s: sorted(set(s))).to_dict()
    solved = ctx.solved.groupby("building_id")["area_code"].agg(
        lambda s: "/".join(sorted(set(s)))).to_dict() if len(ctx.solved) else {}
    pop = ba.groupby("area_code")["population"].sum()
    eff_pop = ctx.eff.groupby("area_code")["population"].sum()
    for b in sorted(ctx.moved):
        to = ctx.pins.get(b)
        got = have.get(b, [])
        if to is None or to in got:
            continue
        frm = solved.get(b, "(none)")
        if to not in set(pop.index):
            why = (f"area {to} is not in the new plan: with the move it held "
                   f"{int(eff_pop.get(to, 0))} people and the re-solve found no plan inside "
                   f"{ctx.lo}-{ctx.hi} that keeps it as the same area")
        else:
            n = int(eff_pop.get(to, 0))
            why = (f"with the move area {to} holds {n} people; the re-solve found no "
                   f"contiguous plan inside {ctx.lo}-{ctx.hi} that keeps the building in {to}")
            gap = _distance(ctx, b, to)
            if ctx.lo <= n <= ctx.hi and gap > 1.0:
                why = (f"area {to} would hold {n} people, inside the band, but the building "
                       f"stands {gap:.0f} m from it, across other areas' buildings: no "
                       f"contiguous area holds it together with {to}")
        rows.append(_problem(
            "error", "move_not_honoured", S.LAYER_BUILDINGS, [b, frm, to],
            f"building {b} was moved by hand from {frm} to {to}, but `pucha partition` could "
            f"not keep it there and it is now in {'/'.join(got) or 'no area'}: {why}. Move "
            "more buildings, unlock neighbouring areas, or move it to an adjacent area"))
    return rows


def _distance(ctx: VillageContext, bid: str, code: str) -> float:
    """Metres between building ``bid`` and area ``code`` as it was drawn (0: touching)."""
    g = dict(zip(ctx.buildings["building_id"], ctx.buildings.geometry)).get(bid)
    a = dict(zip(ctx.areas["area_code"], ctx.areas.geometry)).get(code)
    if g is None or a is None:
        return 0.0
    return float(g.distance(a))


def _band_diagnosis(ctx: VillageContext, new_ba: pd.DataFrame, locked: list[str],
                    t: _Try) -> list[dict]:
    """Name the re-solved areas left outside the band, and the locks that cause it."""
    out = []
    lo, hi = ctx.lo, ctx.hi
    if not locked:
        return out
    names = ", ".join(locked)
    if 0 < t.rest_pop < lo:
        out.append(_problem("error", "lock_leaves_too_few", S.LAYER_AREAS, locked,
                            f"居/村 {ctx.vc}: locked area(s) {names} leave {t.rest_pop} people "
                            f"in the rest of the 居/村, below the band {lo}-{hi}; unlock one of "
                            f"them (`pucha lock --unlock CODE`) so the rest can be re-balanced"))
        return out
    pop = new_ba.groupby("area_code")["population"].sum() if len(new_ba) else pd.Series(dtype=int)
    bad = [(c, int(p)) for c, p in pop.items() if not lo <= p <= hi]
    if bad:
        what = ", ".join(f"{c} ({p} people)" for c, p in sorted(bad))
        out.append(_problem("error", "lock_blocks_band", S.LAYER_AREAS,
                            [c for c, _ in sorted(bad)] + locked,
                            f"居/村 {ctx.vc}: with area(s) {names} locked, re-solved area(s) "
                            f"{what} stay outside the band {lo}-{hi}: the people left around "
                            f"the locked areas cannot be split into areas inside it; unlocking "
                            f"{locked[0]} gives the solver room"))
    return out


# --------------------------------------------------------------------------- per 居/村 edits


def _lost_and_deleted(path: Path, buildings: pd.DataFrame, ba: pd.DataFrame,
                      areas: pd.DataFrame) -> list[dict]:
    """Rows for buildings and areas deleted by hand since the last partition, and for
    居/村 whose people no longer add up to what ``pucha import`` wrote."""
    from pucha.gis.write import read_meta
    from pucha.partition.edits import population_accounting

    rows = []
    bids = set(buildings["building_id"])
    gone = ba[~ba["building_id"].isin(bids)]
    for bid, g in gone.groupby("building_id", sort=True):
        rows.append(_problem(
            "warning", "building_deleted", S.LAYER_BUILDINGS, [bid],
            f"building {bid} ({int(round(g['population'].sum()))} people, area "
            f"{'/'.join(sorted(set(g['area_code'])))}) is no longer in layer 'buildings' "
            "(deleted in QGIS?): its people are no longer counted and its area is re-balanced"))
    live = set(areas["area_code"])
    for code, g in ba[~ba["area_code"].isin(live)].groupby("area_code", sort=True):
        g = g[g["building_id"].isin(bids)]
        rows.append(_problem(
            "info", "area_deleted", S.LAYER_AREAS, [code],
            f"area {code} was deleted from layer 'areas': its {g['building_id'].nunique()} "
            f"building(s) ({int(round(g['population'].sum()))} people) are re-solved with the "
            f"areas around them; code {code} is retired"))
    try:
        imported = (read_meta(path).get("import_population") or {}).get("per_village") or {}
    except Exception:  # noqa: BLE001 - a project without import meta: nothing to compare
        imported = {}
    rows += [dict(r, geometry=shapely.Polygon())
             for r in population_accounting(buildings, imported, stage="partition")]
    return rows


def _locked_village_edits(vc, v_ba, v_moved, v_pins, v_del) -> list[dict]:
    """A locked 居/村 keeps its plan as it is: hand moves in it are not applied (they
    stay typed in buildings.area_code) and each, like a deleted area, is an error row."""
    rows = []
    for b in sorted(v_moved):
        frm = "/".join(sorted(set(v_ba.loc[v_ba["building_id"] == b, "area_code"])))
        rows.append(_problem(
            "error", "move_in_locked_village", S.LAYER_BUILDINGS, [b, frm, v_pins[b]],
            f"building {b} was moved by hand from {frm or '(none)'} to {v_pins[b]}, but "
            f"its 居/村 {vc} is locked: the move is not applied and the plan of {vc} "
            f"is kept as it is. Unlock the 居/村 (`pucha lock --unlock {vc}`) to apply "
            "it, or clear the building's area_code"))
    for c in sorted(v_del):
        rows.append(_problem(
            "error", "area_deleted_in_locked_village", S.LAYER_AREAS, [c],
            f"area {c} was deleted from layer 'areas', but its 居/村 {vc} is locked: "
            "nothing is re-solved and its buildings belong to no area. Unlock the "
            f"居/村 (`pucha lock --unlock {vc}`) so `pucha partition` re-solves them"))
    return rows


def _village_context(vc, vg, v_areas, v_eff, v_ba, v_b, v_pins, v_moved, a_locked, v_del,
                     same_input, lo, hi):
    """What :func:`pucha.partition.resolve.revise_village` needs: the areas the change
    touches, the ground of deleted areas, whether the outline moved."""
    from pucha.partition.edits import touched_areas

    union = (shapely.union_all(np.asarray(v_areas.geometry.values)) if len(v_areas)
             else shapely.Polygon())
    hole = vg.difference(union) if (v_del and vg is not None) else None
    outline_moved = (vg is not None and len(v_areas) and not v_del
                     and shapely.symmetric_difference(union, vg).area > 1.0)
    touched = touched_areas(v_areas, v_ba, v_eff, v_b, v_moved, hole)
    pop_now = v_eff.groupby("area_code")["population"].sum()
    touched |= {c for c in v_areas["area_code"] if not lo <= pop_now.get(c, 0) <= hi
                and (c in touched or not same_input)}
    return VillageContext(vc=vc, polygon=vg, areas=v_areas, eff=v_eff, solved=v_ba,
                          buildings=v_b, pins=v_pins, moved=v_moved, locked=a_locked,
                          touched=touched, deleted=v_del, whole_village=bool(outline_moved),
                          lo=lo, hi=hi)


def _of_village(rows: pd.DataFrame, b_village: Mapping[str, str]) -> dict[str, pd.DataFrame]:
    """Assignment rows per 居/村 of their building (else of their area code)."""
    v = rows.assign(_v=[b_village.get(b, str(c)[:12]) for b, c in zip(rows["building_id"],
                                                                       rows["area_code"])])
    return {k: g.drop(columns="_v") for k, g in v.groupby("_v")}

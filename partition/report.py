"""The figures behind check-report.txt's lines, and the other steps' warnings.

:func:`rule_figures` gives, per hard rule of :mod:`pucha.partition.check`, one line
with the counts the verdict rests on (buildings assigned, cut buildings and their
ranges, codes per 居/村, contiguous areas, the people per area, the area of the
居/村 tiled). :func:`other_warnings` summarises what import, boundaries and
partition left in the project for the census office: boundary conflicts by level
(a building with people cut by the township line first), buildings whose population
was guessed, and areas outside the band that the partition proved unavoidable.
Both only read; ``check_plan`` prints them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["rule_figures", "other_warnings"]


def _int(v: object) -> int:
    try:
        return int(float(v))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return 0


def rule_figures(areas: pd.DataFrame, buildings: pd.DataFrame, building_areas: pd.DataFrame,
                 villages: pd.DataFrame | None, band: tuple[int, int], *,
                 target: int = 300) -> dict[str, str]:
    """One line of figures per rule (keys as :data:`pucha.partition.check.RULES`)."""
    lo, hi = band
    ba = pd.DataFrame(building_areas)
    n_b = len(buildings)
    in_plan = int(ba["building_id"].nunique()) if len(ba) else 0
    pop_b = int(pd.to_numeric(buildings["population"], errors="coerce").fillna(0).sum())
    pop_ba = int(round(pd.to_numeric(ba["population"], errors="coerce").fillna(0).sum())) \
        if len(ba) else 0
    shared = ba.groupby("building_id")["area_code"].nunique() if len(ba) else pd.Series([])
    n_cut = int((shared > 1).sum())
    n_ranges = int((pd.to_numeric(ba.get("part", pd.Series([], dtype=float)),
                                  errors="coerce") > 0).sum()) if len(ba) else 0
    codes = areas["area_code"].astype(str)
    n_v = int(codes.str[:12].nunique())
    pop = pd.to_numeric(areas["population"], errors="coerce").fillna(0).astype(int)
    within = int(((pop - target).abs() <= 0.1 * target).sum())
    inside = int(((pop >= lo) & (pop <= hi)).sum())
    contiguous = int(areas["contiguous"].astype(bool).sum()) if "contiguous" in areas else None
    out = {
        "assignment": (f"依据 figures: {in_plan} of {n_b} 栋建筑 buildings in the plan; "
                       f"{pop_ba} 人 in building_areas = {pop_b} 人 in buildings"),
        "cut_ranges": (f"依据 figures: {n_cut} 栋切割建筑 cut buildings in {n_ranges} "
                       "floor/unit ranges"),
        "codes": (f"依据 figures: {len(codes)} codes, {int(codes.nunique())} distinct, "
                  f"in {n_v} 居/村 (15 digits: {int((codes.str.len() == 15).sum())})"),
        "band": (f"依据 figures: {inside} of {len(pop)} areas in {lo}-{hi} 人; "
                 f"{within} ({100 * within / max(1, len(pop)):.0f}%) within ±10% of {target}; "
                 f"people per area min {int(pop.min()) if len(pop) else 0}, "
                 f"median {int(np.median(pop)) if len(pop) else 0}, "
                 f"max {int(pop.max()) if len(pop) else 0}"),
    }
    if contiguous is not None:
        out["contiguity"] = f"依据 figures: {contiguous} of {len(areas)} areas in one piece"
    if villages is not None and len(villages) and hasattr(areas, "geometry"):
        v_area = float(villages.geometry.area.sum())
        a_area = float(areas.geometry.area.sum())
        out["tiling"] = (f"依据 figures: areas cover {a_area / 1e6:.3f} km² of the "
                         f"{v_area / 1e6:.3f} km² of {len(villages)} 居/村")
    return out


def other_warnings(meta: dict, problems: pd.DataFrame | None,
                   buildings: pd.DataFrame | None = None) -> list[str]:
    """Lines summarising the other steps' warnings (boundaries, import, partition);
    ``buildings`` (building_id, population) names the people in buildings cut by the
    township line."""
    lines = ["其他步骤的提示 other steps' warnings:"]
    p = pd.DataFrame(problems) if problems is not None else pd.DataFrame()
    for c in ("stage", "code", "severity", "message"):
        if c not in p.columns:
            p[c] = ""
    p = p[p["stage"].astype(str) != "check"]
    bnd = p[p["stage"].astype(str) == "boundaries"]
    n_conf = _int((meta.get("boundaries") or {}).get("n_conflicts")) \
        if isinstance(meta.get("boundaries"), dict) else len(bnd)
    if n_conf or len(bnd):
        by = bnd.groupby("code").size().sort_index()
        parts = ", ".join(f"{k} {v}" for k, v in by.items())
        lines.append(f"  边界核查 boundaries: {max(n_conf, len(bnd))} conflicts"
                     + (f" ({parts})" if parts else "")
                     + "; see boundaries/conflicts.pdf")
        cut = bnd[bnd["code"].astype(str) == "boundary_building_cut"]
        ids = cut["message"].astype(str).str.extract(r"建筑 (\S+) 被边界切开")[0].dropna()
        if buildings is not None and len(ids):
            pop = pd.to_numeric(buildings.set_index(buildings["building_id"].astype(str))
                                ["population"], errors="coerce")
            held = pop.reindex(ids.astype(str)).fillna(0)
            held = held[held > 0].sort_values(ascending=False)
            if len(held):
                top = ", ".join(f"{i} ({int(v)} 人)" for i, v in held.head(5).items())
                lines.append(f"    警告 warning: {len(held)} building(s) with people cut by the "
                             f"township line, {int(held.sum())} 人: {top}")
    summary = meta.get("import_summary") if isinstance(meta.get("import_summary"), dict) else {}
    guessed = _int(summary.get("population_guessed"))
    if guessed:
        total = _int(summary.get("buildings_out")) or _int(summary.get("buildings_in"))
        lines.append(f"  导入 import: {guessed} of {total} 栋建筑 buildings had their population "
                     f"guessed (method {summary.get('population_method', '?')}); "
                     "check them in QGIS (buildings.pop_guessed)")
    dropped = _int(summary.get("buildings_dropped"))
    if dropped:
        lines.append(f"  导入 import: {dropped} building(s) dropped (see problems, stage import)")
    part = p[p["stage"].astype(str) == "partition"]
    band = part[part["code"].astype(str).str.startswith("area_")
                & part["code"].astype(str).str.endswith("_band")]
    proven = band[band["message"].astype(str).str.contains("proven|impossible|不可能", regex=True)]
    if len(band):
        lines.append(f"  划分 partition: {len(band)} area(s) outside the band, {len(proven)} "
                     "proven unavoidable")
    cuts = int((part["code"].astype(str) == "building_cut_for_band").sum())
    if cuts:
        lines.append(f"  划分 partition: {cuts} building(s) cut by floors/units to keep areas "
                     "inside the band (building_cut_for_band)")
    if len(lines) == 1:
        lines.append("  none")
    return lines


def read_context(path: Path) -> tuple[dict, pd.DataFrame | None]:
    """The meta and problems layer of the project (for :func:`other_warnings`)."""
    from pucha.gis.write import list_layers, read_layer, read_meta

    meta = read_meta(path)
    problems = read_layer(path, "problems") if "problems" in list_layers(path) else None
    return meta, problems

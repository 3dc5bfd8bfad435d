"""The census office's roster: who enumerates which area, who supervises which group.

:func:`read_roster` reads a CSV (UTF-8, UTF-8 with BOM or GBK) with the columns
``name, role, phone`` and optionally ``village`` (the preferred 居/村, code or name);
Chinese headers ``姓名, 角色, 电话, 居村`` work too. Roles: 普查员 / enumerator and
普查指导员 / 指导员 / supervisor.

:func:`assign_staff` gives every supervisor's group (指导区) one supervisor, who also
enumerates the group's ``supervisor_area``, and every other area one enumerator:
first whoever held it in the earlier assignment (same name and phone, same role, the
area or group still exists), then people who prefer its 居/村, then the others, in
roster order. People left over are reserves (备用); a shortage is a problem row.

Names and phones live only in the ``staff`` layer of the project GeoPackage and are
printed only on registers and signature lines (never in the area HTML maps).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from pucha.errors import InputError

__all__ = ["ROLE_ENUMERATOR", "ROLE_SUPERVISOR", "STAFF_COLUMNS", "read_roster", "assign_staff",
           "staff_assign_project", "read_staff"]

ROLE_ENUMERATOR = "普查员"
ROLE_SUPERVISOR = "普查指导员"
STAFF_COLUMNS = ("person_id", "name", "role", "phone", "village_pref", "group_code", "area_code",
                 "status")

_HEADERS = {
    "name": ("name", "姓名", "名字"),
    "role": ("role", "角色", "职务", "岗位"),
    "phone": ("phone", "电话", "手机", "联系电话", "手机号"),
    "village": ("village", "preferred_village", "居村", "居/村", "居委会", "村委会", "居村委"),
}
_ROLES = {
    ROLE_ENUMERATOR: ("普查员", "enumerator", "调查员"),
    ROLE_SUPERVISOR: ("普查指导员", "指导员", "supervisor"),
}


def _decode(raw: bytes, path: Path) -> str:
    for enc in ("utf-8-sig", "gb18030"):
        try:
            return raw.decode(enc)
        except UnicodeDecodeError:
            continue
    raise InputError(f"{path}: not UTF-8 or GBK text; save the roster as CSV UTF-8 from Excel")


def read_roster(path: str | Path) -> pd.DataFrame:
    """The roster as a DataFrame (name, role, phone, village; roster order kept).

    Raises InputError naming the file, row and column for a missing header, an empty
    name, an unknown role or the same person twice.
    """
    path = Path(path)
    try:
        text = _decode(path.read_bytes(), path)
    except FileNotFoundError:
        raise InputError(f"roster not found: {path}") from None
    rows = list(csv.reader(io.StringIO(text)))
    if not rows:
        raise InputError(f"{path}: empty roster; give a header row name,role,phone[,village]")
    header = [h.strip().lower() for h in rows[0]]
    col = {}
    for key, names in _HEADERS.items():
        hit = [i for i, h in enumerate(header) if h in names]
        if hit:
            col[key] = hit[0]
        elif key != "village":
            raise InputError(f"{path}: no column {key!r} (or {'/'.join(names[1:])}); the header "
                             f"is {', '.join(rows[0])}; columns: name,role,phone[,village]")
    out, seen = [], {}
    for n, row in enumerate(rows[1:], start=2):
        if not any(c.strip() for c in row):
            continue

        def cell(key: str) -> str:
            i = col.get(key)
            return " ".join(row[i].split()) if i is not None and i < len(row) else ""

        name, role_raw = cell("name"), cell("role")
        if not name:
            raise InputError(f"{path}, row {n}: empty name")
        role = next((r for r, names in _ROLES.items() if role_raw.lower() in names), None)
        if role is None:
            raise InputError(f"{path}, row {n} ({name}): unknown role {role_raw!r}; use "
                             f"{ROLE_ENUMERATOR} (enumerator) or {ROLE_SUPERVISOR} (supervisor)")
        phone = re.sub(r"[\s-]", "", cell("phone"))
        key = (name, phone)
        if key in seen:
            raise InputError(f"{path}, rows {seen[key]} and {n}: {name} {phone} is listed twice; "
                             "keep one row per person")
        seen[key] = n
        out.append(dict(name=name, role=role, phone=phone, village=cell("village")))
    return pd.DataFrame(out, columns=["name", "role", "phone", "village"])


def _pref_code(pref: str, villages: Mapping[str, str]) -> str:
    """The 居/村 code a preference names (a code, a name, or a name without 居委会/村委会)."""
    if not pref:
        return ""
    if pref in villages:
        return pref
    for code, name in sorted(villages.items()):
        if pref in (name, name.removesuffix("居委会"), name.removesuffix("村委会")):
            return code
    return ""


def assign_staff(areas: pd.DataFrame, roster: pd.DataFrame, *,
                 villages: Mapping[str, str] | None = None,
                 previous: pd.DataFrame | None = None) -> tuple[pd.DataFrame, list[dict]]:
    """Assign the roster to the groups and areas of the staff plan.

    ``areas`` needs area_code, village_code, supervisor_group and supervisor_area
    (bool). ``villages`` maps 居/村 code -> name (for preferences given by name).
    ``previous``: the earlier ``staff`` layer. Returns the new ``staff`` table
    (:data:`STAFF_COLUMNS`) and problem rows (dicts: severity, code, feature_ids, message).
    """
    villages = dict(villages or {})
    a = areas.sort_values("area_code")
    groups = sorted(set(a["supervisor_group"].astype(str)))
    need_enum = [str(c) for c, s in zip(a["area_code"], a["supervisor_area"]) if not bool(s)]
    vill = dict(zip(a["area_code"].astype(str), a["village_code"].astype(str)))
    people = roster.reset_index(drop=True).copy()
    people["pref"] = [_pref_code(p, villages) for p in people["village"].fillna("")]
    problems: list[dict] = []
    for p, code in zip(people["village"], people["pref"]):
        if p and not code:
            problems.append(dict(severity="warning", code="staff_unknown_village", feature_ids=p,
                                 message=f"名册中的居/村 {p!r} 不在本项目中，按无偏好分配"))
    prev: dict[tuple, str] = {}
    if previous is not None and len(previous):
        for r in previous.itertuples():
            slot = str(r.group_code) if r.role == ROLE_SUPERVISOR else str(r.area_code)
            if slot and slot != "nan":
                prev[(str(r.name), str(r.phone or ""), str(r.role))] = slot
    job: dict[int, str] = {}
    for role, slots, vil_of in ((ROLE_SUPERVISOR, groups, lambda g: g[:12]),
                                (ROLE_ENUMERATOR, need_enum, lambda c: vill[c])):
        free = [i for i in people.index if people.at[i, "role"] == role]
        taken: dict[str, int] = {}
        slot_set = set(slots)
        for i in free:  # 1. the same place as before, where it survives
            old = prev.get((people.at[i, "name"], people.at[i, "phone"], role))
            if old in slot_set and old not in taken:
                taken[old] = i
        left = [i for i in free if i not in taken.values()]
        for want_pref in (True, False, None):  # 2. preferred 居/村, 3. no preference, 4. anyone
            for s in slots:
                if s in taken:
                    continue
                for i in left:
                    pref = people.at[i, "pref"]
                    if (want_pref is True and pref == vil_of(s)) or \
                            (want_pref is False and not pref) or want_pref is None:
                        taken[s] = i
                        left.remove(i)
                        break
        for s, i in taken.items():
            job[i] = s
        short = [s for s in slots if s not in taken]
        if short:
            problems.append(dict(
                severity="warning", code="staff_short", feature_ids=",".join(short),
                message=f"名册缺 {len(short)} 名{role}：{'、'.join(short[:10])}"
                        f"{' 等' if len(short) > 10 else ''} 尚无人"))
    sup_area = {str(g): str(c) for g, c, s in zip(a["supervisor_group"], a["area_code"],
                                                   a["supervisor_area"]) if bool(s)}
    group_of = dict(zip(a["area_code"].astype(str), a["supervisor_group"].astype(str)))
    rows = []
    for i in people.index:
        slot = job.get(i, "")
        sup = people.at[i, "role"] == ROLE_SUPERVISOR
        rows.append(dict(person_id=f"P{i + 1:04d}", name=people.at[i, "name"],
                         role=people.at[i, "role"], phone=people.at[i, "phone"],
                         village_pref=people.at[i, "pref"] or people.at[i, "village"],
                         group_code=slot if sup else group_of.get(slot, ""),
                         area_code=sup_area.get(slot, "") if sup else slot,
                         status="assigned" if slot else "reserve"))
    n_res = sum(r["status"] == "reserve" for r in rows)
    if n_res:
        problems.append(dict(severity="info", code="staff_reserve", feature_ids="",
                             message=f"名册中 {n_res} 人未分配岗位（备用）"))
    return pd.DataFrame(rows, columns=list(STAFF_COLUMNS)), problems


def read_staff(gpkg_path: str | Path) -> pd.DataFrame | None:
    """The ``staff`` layer of a project (None when no roster was assigned)."""
    from pucha.gis.write import list_layers, read_layer
    from pucha.partition.staff import LAYER_STAFF

    if LAYER_STAFF not in list_layers(gpkg_path):
        return None
    df = pd.DataFrame(read_layer(gpkg_path, LAYER_STAFF))
    for c in STAFF_COLUMNS:
        df[c] = df[c].fillna("").astype(str) if c in df.columns else ""
    return df[list(STAFF_COLUMNS)]


def staff_assign_project(gpkg_path: str | Path, roster_path: str | Path | None
                         ) -> tuple[pd.DataFrame, list[dict]]:
    """Read the roster, assign it (:func:`assign_staff`, keeping the earlier assignment
    where it survives) and write the ``staff`` layer and the ``problems`` rows of stage
    ``roster`` into the project, in one atomic update. ``roster_path`` None: re-assign
    the people of the current ``staff`` layer (after a new staff plan)."""
    import geopandas as gpd

    from pucha.gis import schema as S
    from pucha.gis.write import list_layers, read_layer, update_gpkg
    from pucha.partition.staff import LAYER_STAFF

    path = Path(gpkg_path)
    if roster_path is None:
        current = read_staff(path)
        if current is None:
            raise InputError(f"{path}: no layer 'staff'; give a roster CSV")
        roster = current.rename(columns={"village_pref": "village"})[
            ["name", "role", "phone", "village"]]
    else:
        roster = read_roster(roster_path)
    names = list_layers(path)
    if S.LAYER_AREAS not in names:
        raise InputError(f"{path}: no layer 'areas'; run `pucha partition` and "
                         "`pucha staff plan` first")
    areas = read_layer(path, S.LAYER_AREAS)
    if "supervisor_group" not in areas.columns or areas["supervisor_group"].isna().any():
        raise InputError(f"{path}: the areas have no supervisors' groups (指导区) — the plan "
                         f"was re-partitioned or never grouped; run `pucha staff plan {path.name}` "
                         "first")
    villages = {}
    if S.LAYER_VILLAGES in names:
        v = read_layer(path, S.LAYER_VILLAGES)
        villages = dict(zip(v["village_code"].astype(str), v["name"].fillna("").astype(str)))
    staff, problems = assign_staff(pd.DataFrame(areas.drop(columns="geometry")), roster,
                                   villages=villages, previous=read_staff(path))
    rows = [dict(severity=p["severity"], code=p["code"], layer=LAYER_STAFF,
                 feature_ids=p["feature_ids"], message=p["message"], stage="roster")
            for p in problems]
    new = gpd.GeoDataFrame(pd.DataFrame(rows, columns=list(S.PROBLEM_COLUMNS)),
                           geometry=gpd.GeoSeries([None] * len(rows), crs=areas.crs),
                           crs=areas.crs)
    out = {LAYER_STAFF: staff}
    if S.LAYER_PROBLEMS in names:
        old = read_layer(path, S.LAYER_PROBLEMS)
        old = old[old["stage"].astype(str) != "roster"]
        out[S.LAYER_PROBLEMS] = gpd.GeoDataFrame(pd.concat([old, new], ignore_index=True),
                                                 geometry="geometry", crs=areas.crs)
    else:
        out[S.LAYER_PROBLEMS] = new
    source = Path(roster_path).name if roster_path is not None else "(staff layer)"
    update_gpkg(path, out, meta={"roster": {"file": source, "people": len(staff)}})
    return staff, problems

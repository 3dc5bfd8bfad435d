"""``pucha lock`` / ``pucha move``: the review edits, scriptable.

Both change attributes in place, in one SQLite transaction (as a QGIS edit
session does): ``areas.locked`` / ``villages.locked`` / ``buildings.locked`` and
``buildings.area_code``. The next ``pucha partition`` keeps locked areas and
moved buildings where they are and re-solves only the rest.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import click

from pucha.errors import InputError

__all__ = ["lock", "move", "set_locked", "move_building"]


def _connect(path: Path) -> sqlite3.Connection:
    try:
        from pucha.gis.styles import connect_gpkg

        con = connect_gpkg(path)
        con.execute("SELECT 1 FROM gpkg_contents LIMIT 1")
    except sqlite3.DatabaseError as exc:
        raise InputError(f"{path}: not a readable GeoPackage ({exc}); run `pucha import` "
                         "and `pucha partition` first") from None
    return con


def _has_table(con: sqlite3.Connection, name: str) -> bool:
    return con.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?",
                       (name,)).fetchone() is not None


def set_locked(path: str | Path, codes: list[str], *, locked: bool = True,
               buildings: bool = False) -> list[str]:
    """Set the ``locked`` flag of areas (15-digit codes), 居/村 (12-digit codes) or,
    with ``buildings=True``, of buildings (ids). Returns what was changed; raises
    :class:`InputError` naming every code that does not exist (nothing changed then)."""
    path = Path(path)
    con = _connect(path)
    try:
        plan = []
        missing = []
        for c in codes:
            c = str(c).strip()
            if buildings:
                table, col = "buildings", "building_id"
            elif len(c) == 12:
                table, col = "villages", "village_code"
            else:
                table, col = "areas", "area_code"
            if not _has_table(con, table) or con.execute(
                    f'SELECT 1 FROM "{table}" WHERE "{col}"=?', (c,)).fetchone() is None:
                missing.append(f"{c} (layer {table})")
            else:
                plan.append((table, col, c))
        if missing:
            hint = ("" if _has_table(con, "areas") else
                    ". The project has no areas yet: run `pucha partition` first")
            raise InputError(f"{path}: not found: {', '.join(missing)}; nothing was changed. "
                             f"Area codes have 15 digits, 居/村 codes 12; see layer 'areas'{hint}")
        with con:
            for table, col, c in plan:
                con.execute(f'UPDATE "{table}" SET locked=? WHERE "{col}"=?', (int(locked), c))
        return [c for _, _, c in plan]
    finally:
        con.close()


def move_building(path: str | Path, building_id: str, area_code: str, *,
                  lock: bool = False) -> str:
    """Assign a whole building to ``area_code`` (``buildings.area_code``), as a QGIS
    edit would; returns the previous code. ``lock=True`` also locks the building."""
    path = Path(path)
    con = _connect(path)
    try:
        row = con.execute("SELECT area_code, village_code FROM buildings WHERE building_id=?",
                          (str(building_id),)).fetchone()
        if row is None:
            raise InputError(f"{path}: layer 'buildings' has no building_id {building_id!r}")
        area = (con.execute("SELECT village_code FROM areas WHERE area_code=?",
                            (str(area_code),)).fetchone() if _has_table(con, "areas") else None)
        if area is None:
            raise InputError(f"{path}: layer 'areas' has no area_code {area_code!r}; "
                             "move the building to an existing area (see layer 'areas'); "
                             "nothing was changed")
        if str(area[0]) != str(row[1]):
            raise InputError(f"{path}: building {building_id} belongs to 居/村 {row[1]}, area "
                             f"{area_code} to 居/村 {area[0]}: a building can only move to an "
                             "area of its own 居/村 (a boundary change is the 自治办's: "
                             "`pucha boundaries`, then re-import); nothing was changed")
        with con:
            if lock:
                con.execute("UPDATE buildings SET area_code=?, locked=1 WHERE building_id=?",
                            (str(area_code), str(building_id)))
            else:
                con.execute("UPDATE buildings SET area_code=? WHERE building_id=?",
                            (str(area_code), str(building_id)))
        return str(row[0] or "")
    finally:
        con.close()


@click.command("lock")
@click.argument("project_gpkg", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("codes", nargs=-1, required=True)
@click.option("--unlock", is_flag=True, help="Clear the flag instead of setting it.")
@click.option("--building", "buildings", is_flag=True,
              help="CODES are building ids: lock buildings instead of areas.")
def lock(project_gpkg: Path, codes: tuple[str, ...], unlock: bool, buildings: bool) -> None:
    """Lock areas (or 居/村, or buildings) so `pucha partition` keeps them as they are.

    \b
    A locked area keeps its buildings, its boundary and its code when the rest of
    its 居/村 is re-solved. A 15-digit code locks an area, a 12-digit code a whole
    居/村; --building locks buildings to their current area. The same flags are
    the `locked` check boxes in QGIS.
    Examples:
      pucha lock out/project.gpkg 310118002001003 310118002001004
      pucha lock out/project.gpkg --unlock 310118002001003
      pucha lock out/project.gpkg --building b1234
    """
    done = set_locked(project_gpkg, list(codes), locked=not unlock, buildings=buildings)
    click.echo(f"{'解锁 unlocked' if unlock else '锁定 locked'}: {', '.join(done)}")


@click.command("move")
@click.argument("project_gpkg", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("building_id")
@click.argument("area_code")
@click.option("--lock", "lock_it", is_flag=True, help="Also lock the building.")
def move(project_gpkg: Path, building_id: str, area_code: str, lock_it: bool) -> None:
    """Move building BUILDING_ID into area AREA_CODE (the scriptable QGIS edit).

    \b
    Sets buildings.area_code; `pucha check` then tells whether the plan still
    meets the rules, and `pucha partition` redraws the areas around the move
    (the moved building stays where it was put).
    Example:
      pucha move out/project.gpkg b1234 310118002001005
    """
    old = move_building(project_gpkg, building_id, area_code, lock=lock_it)
    click.echo(f"移动 moved: building {building_id}: {old or '(none)'} -> {area_code}")

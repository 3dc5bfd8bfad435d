"""The project GeoPackage is a database QGIS keeps open: pucha writes it in place.

No QGIS needed here: another :mod:`sqlite3` connection plays QGIS, as QGIS's OGR
provider does (it switches the file to WAL mode and keeps it open; an edit session
that is saving holds the write lock). The real ``pucha`` commands run as
subprocesses on the tiny project of ``fixture_outputs`` (written by the real
writer, ``update_gpkg``). tests/test_qgis_review.py does the same with real QGIS.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
import shapely

from fixture_outputs import VA, make_tiny_project
from pucha.errors import ProjectBusyError
from pucha.gis.gpkg import GPKG_USER_VERSION, register_functions
from pucha.gis.write import read_layer, update_gpkg

BUSY = "is being edited in another program (QGIS?): save or discard the edits and run again"


def pucha(*args: str, busy_seconds: float = 1.0) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONHASHSEED="0", PUCHA_BUSY_SECONDS=str(busy_seconds))
    return subprocess.run([sys.executable, "-m", "pucha.scripts.cli", "-qq", *args],
                          capture_output=True, text=True, timeout=600, env=env)


_HOLDER = r"""
import json, sqlite3, sys
sys.path[:0] = json.loads(sys.argv[2])
from pucha.gis.gpkg import register_functions
con = sqlite3.connect(sys.argv[1], isolation_level=None)
register_functions(con)
for line in sys.stdin:
    try:
        rows = con.execute(line).fetchall()
        print(json.dumps(["ok", rows]), flush=True)
    except Exception as exc:
        print(json.dumps(["error", str(exc)]), flush=True)
con.close()
"""


class OtherProgram:
    """Another program (QGIS's stand-in) with its own connection to the GeoPackage.

    A separate process, as QGIS is: POSIX file locks belong to a process, so a test
    that read the file in its own process would drop a connection's locks there."""

    def __init__(self, path: Path) -> None:
        self.p = subprocess.Popen([sys.executable, "-c", _HOLDER, str(path),
                                   json.dumps(sys.path)], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True)

    def sql(self, statement: str) -> list:
        assert self.p.stdin is not None and self.p.stdout is not None
        self.p.stdin.write(" ".join(statement.split()) + "\n")
        self.p.stdin.flush()
        status, rows = json.loads(self.p.stdout.readline())
        assert status == "ok", rows
        return rows

    def close(self) -> None:
        assert self.p.stdin is not None and self.p.stdout is not None
        self.p.stdin.close()
        self.p.wait(timeout=60)
        self.p.stdout.close()


def connect(path: Path, **kw) -> sqlite3.Connection:
    """A connection like QGIS's: GDAL's R-tree triggers need the ST_* functions."""
    con = sqlite3.connect(path, **kw)
    register_functions(con)
    return con


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def dump(path: Path, skip: tuple[str, ...] = ()) -> dict[str, list]:
    """Every table's rows (and the schema), read by a fresh connection."""
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        out = {"__schema__": sorted(con.execute(
            "SELECT type, name, tbl_name, sql FROM sqlite_master WHERE name NOT LIKE "
            "'sqlite_autoindex%'").fetchall(), key=repr)}
        for (t,) in con.execute("SELECT name FROM sqlite_master WHERE type='table'").fetchall():
            if t.startswith(skip) or t == "sqlite_sequence":
                continue
            out[t] = sorted(con.execute(f'SELECT * FROM "{t}"').fetchall(), key=repr)
        return out
    finally:
        con.close()


@pytest.fixture()
def tiny(tmp_path: Path) -> Path:
    return make_tiny_project(tmp_path / "project.gpkg")


@pytest.mark.parametrize("mode", ["delete", "wal"])
def test_refuses_and_writes_nothing_while_another_program_holds_the_write_lock(
        tiny: Path, mode: str) -> None:
    """QGIS saving (an open write transaction, BEGIN IMMEDIATE): check and partition wait,
    then stop with the clear message and exit 75; the file and every table are unchanged."""
    qgis = OtherProgram(tiny)
    qgis.sql(f"PRAGMA journal_mode={mode}")
    qgis.sql("BEGIN IMMEDIATE")
    qgis.sql(f"UPDATE villages SET name = 'unsaved' WHERE village_code = '{VA}'")
    try:
        before, rows = sha(tiny), dump(tiny)
        for args in (("check", str(tiny)), ("partition", str(tiny), "--jobs", "1")):
            r = pucha(*args)
            assert r.returncode == 75, (args, r.returncode, r.stderr[-2000:])
            assert BUSY in r.stderr and "Traceback" not in r.stderr, r.stderr
            assert sha(tiny) == before and dump(tiny) == rows, args
        with pytest.raises(ProjectBusyError, match=r"QGIS\?"):
            update_gpkg(tiny, {"extra": pd.DataFrame({"a": [1]})})
        assert sha(tiny) == before and dump(tiny) == rows
    finally:
        qgis.sql("ROLLBACK")
        qgis.close()
    assert pucha("check", str(tiny)).returncode in (0, 1)     # free again: it runs
    assert "extra" not in dump(tiny)


def test_check_keeps_edits_that_sit_in_the_wal(tiny: Path) -> None:
    """QGIS's committed edits sit in project.gpkg-wal while it keeps the file open:
    pucha check and pucha partition write in place through the WAL, keep those edits,
    leave the file in WAL mode and pass PRAGMA integrity_check, before and after QGIS
    closes (checkpoints)."""
    qgis = OtherProgram(tiny)
    assert qgis.sql("PRAGMA journal_mode=wal") == [["wal"]]
    qgis.sql("PRAGMA wal_autocheckpoint=0")                  # QGIS's edits stay in the WAL
    qgis.sql(f"UPDATE areas SET locked = 1 WHERE area_code = '{VA}001'")
    qgis.sql(f"UPDATE villages SET name = 'edited in QGIS' WHERE village_code = '{VA}'")
    qgis.sql(f"UPDATE buildings SET area_code = '{VA}002' WHERE building_id = 'b0000'")
    try:
        wal = Path(f"{tiny}-wal")
        assert wal.stat().st_size > 0
        r = pucha("check", str(tiny))
        assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr[-2000:]
        assert wal.exists()
        probs = read_layer(tiny, "problems")
        assert (probs["stage"] == "check").any()
        r = pucha("partition", str(tiny), "--jobs", "1")
        assert r.returncode in (0, 1) and "Traceback" not in r.stderr, r.stderr[-2000:]
        assert wal.exists()
        # QGIS's own connection (still open) and the file as a new reader sees it
        assert qgis.sql("PRAGMA integrity_check") == [["ok"]]
        assert qgis.sql(f"SELECT name FROM villages WHERE village_code='{VA}'") == [
            ["edited in QGIS"]]
        assert qgis.sql(f"SELECT locked FROM areas WHERE area_code='{VA}001'") == [[1]]
        assert qgis.sql("PRAGMA journal_mode") == [["wal"]]
        a = read_layer(tiny, "areas")
        assert bool(a.loc[a["area_code"] == f"{VA}001", "locked"].iloc[0])
    finally:
        qgis.close()                                         # QGIS closes: checkpoint
    c = sqlite3.connect(tiny)
    try:
        assert c.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert c.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert c.execute(f"SELECT locked FROM areas WHERE area_code='{VA}001'"
                         ).fetchone()[0] == 1
        assert c.execute(f"SELECT name FROM villages WHERE village_code='{VA}'"
                         ).fetchone()[0] == "edited in QGIS"
    finally:
        c.close()


def test_check_no_problems_leaves_the_file_byte_identical(tiny: Path) -> None:
    pucha("check", str(tiny))              # a first run: rolls back nothing, writes rows
    before = sha(tiny)
    r = pucha("check", str(tiny), "--no-problems")
    assert r.returncode in (0, 1) and "Traceback" not in r.stderr
    assert sha(tiny) == before
    assert not any(Path(f"{tiny}{s}").exists() for s in ("-wal", "-shm", "-journal"))


def test_check_writes_only_its_own_problem_rows(tiny: Path) -> None:
    """The plan is not changed: every table but the problems layer's is identical, and
    problem rows of other stages are kept as they were."""
    con = connect(tiny)
    with con:
        con.execute(f"UPDATE buildings SET area_code='{VA}002' WHERE building_id='b0000'")
    con.close()
    pucha("check", str(tiny))
    other = read_layer(tiny, "problems")
    other = other[other["stage"] != "check"].reset_index(drop=True)
    before = dump(tiny, skip=("problems", "rtree_problems", "gpkg_contents", "gpkg_ogr_contents"))
    r = pucha("check", str(tiny))
    assert r.returncode == 1                                  # the hand move breaks a rule
    after = dump(tiny, skip=("problems", "rtree_problems", "gpkg_contents",
                             "gpkg_ogr_contents"))
    assert after == before
    p = read_layer(tiny, "problems")
    assert (p["stage"] == "check").sum() >= 1
    kept = p[p["stage"] != "check"].reset_index(drop=True)
    pd.testing.assert_frame_equal(kept, other)


def test_user_fields_keep_their_declared_types(tiny: Path) -> None:
    """Fields a user adds in QGIS (integer = MEDIUMINT, text with a width) keep their
    declared types across a pucha write, NULLs and all; a new file is GeoPackage 1.2."""
    con = connect(tiny)
    with con:
        con.execute("ALTER TABLE buildings ADD COLUMN visits MEDIUMINT")
        con.execute("ALTER TABLE buildings ADD COLUMN note TEXT(20)")
        con.execute("UPDATE buildings SET visits = 2, note = '门卫' WHERE fid = 1")
    con.close()
    b = read_layer(tiny, "buildings")
    assert b["visits"].dtype.kind == "f"                      # NULLs: read back as float
    update_gpkg(tiny, {"buildings": b})
    con = sqlite3.connect(tiny)
    try:
        types = {r[1]: r[2] for r in con.execute("PRAGMA table_info(buildings)")}
        assert types["visits"] == "MEDIUMINT" and types["note"] == "TEXT(20)"
        assert con.execute("SELECT visits, typeof(visits), note FROM buildings WHERE fid=1"
                           ).fetchone() == (2, "integer", "门卫")
        assert con.execute("PRAGMA user_version").fetchone()[0] == GPKG_USER_VERSION == 10200
        assert con.execute("PRAGMA application_id").fetchone()[0] == 0x47504B47
    finally:
        con.close()


def test_mixed_and_empty_layers_are_typed(tmp_path: Path) -> None:
    """A mixed layer is stored as typed tables but reads back as one layer, in order;
    an empty layer gets its geometry type and the project's CRS."""
    p = make_tiny_project(tmp_path / "p.gpkg")
    mixed = gpd.GeoDataFrame({"severity": ["error", "info", "warning", "info"],
                              "stage": "check", "code": ["a", "b", "c", "d"]},
                             geometry=[shapely.Point(0, 0), shapely.LineString([(0, 0), (1, 1)]),
                                       shapely.box(0, 0, 1, 1), None], crs="EPSG:4549")
    rail = gpd.GeoDataFrame({"feature_id": pd.Series([], dtype=object)},
                            geometry=gpd.GeoSeries([]))
    update_gpkg(p, {"problems": mixed, "railways": rail})
    con = sqlite3.connect(p)
    try:
        geo = {r[0]: (r[1], r[2]) for r in con.execute(
            "SELECT table_name, geometry_type_name, srs_id FROM gpkg_geometry_columns")}
    finally:
        con.close()
    assert geo["problems_points"][0] == "POINT" and geo["problems_lines"][0] == "LINESTRING"
    assert geo["problems_polygons"][0] == "POLYGON" and "problems" not in geo
    assert geo["railways"] == ("LINESTRING", 4549)
    back = read_layer(p, "problems")
    assert list(back["code"]) == ["a", "b", "c", "d"]
    assert list(back.geometry.geom_type.fillna("none")) == ["Point", "LineString", "Polygon",
                                                           "none"]
    from pucha.gis.write import list_layers
    names = list_layers(p)
    assert "problems" in names and "problems_points" not in names

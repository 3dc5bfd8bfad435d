"""The project GeoPackage, written in place as the SQLite database it is.

QGIS keeps the project open while the census office runs ``pucha check`` and
``pucha partition``; it switches the file to WAL mode and its saved edits may sit
in ``project.gpkg-wal`` until it closes the layer. So pucha never copies, replaces
or deletes the file or its ``-wal``/``-shm``/``-journal``: every change is ONE
SQLite write transaction on the file itself (:func:`transaction`), and SQLite's
own journal or WAL (whichever mode the file is in; pucha never changes it) makes a
run killed at any moment leave the last committed state.

A layer is replaced by dropping its table (with its R-tree index, triggers and
``gpkg_*`` metadata rows) and writing it again inside that transaction; the
feature tables, R-trees, ``gpkg_contents``, ``gpkg_geometry_columns``,
``gpkg_extensions`` and ``gpkg_ogr_contents`` are written as GDAL writes them, so
GDAL (pyogrio) and QGIS read them as usual. A user's own columns keep their
declared types (an integer field stays an integer, a ``TEXT(20)`` keeps its width).

Layers that hold points, lines and polygons at once (:data:`SPLIT_LAYERS`:
``problems``, ``water``, ``conflicts``) are stored as one table per geometry
family (``problems_points``, ``problems_lines``, ``problems_polygons``; rows
without geometry go to ``_polygons``) so QGIS draws every layer with one
geometry type; :func:`read_layer` and :func:`list_layers` show them as the one
layer (rows in their written order).

When another program holds the write lock (QGIS saving, or an open edit
transaction), pucha waits :data:`BUSY_SECONDS` and then raises
:class:`~pucha.errors.ProjectBusyError` having written nothing.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sqlite3
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pyogrio.errors
import shapely
import shapely.errors

from pucha.errors import InputError, ProjectBusyError
from pucha.gis.gpkg_read import (BUSY_SECONDS, PARTS, SPLIT_LAYERS, _damaged, _logical,
                                 list_layers, read_layer, read_meta, recover)
from pucha.gis.schema import LAYER_META

__all__ = ["update_gpkg", "replace_rows", "read_layer", "list_layers", "read_meta", "meta_table",
           "transaction", "active_connection", "register_functions", "drop_layer",
           "recover", "SPLIT_LAYERS", "PARTS", "BUSY_SECONDS", "GPKG_USER_VERSION"]

logger = logging.getLogger(__name__)

#: GeoPackage 1.2 (what GDAL 3.x writes by default; QGIS 3.22 LTR reads it without warning)
GPKG_USER_VERSION = 10200
_APPLICATION_ID = 0x47504B47  # "GPKG"
_FAMILY = {"Point": "points", "MultiPoint": "points", "LineString": "lines",
           "MultiLineString": "lines", "LinearRing": "lines", "Polygon": "polygons",
           "MultiPolygon": "polygons"}
#: geometry type of a layer written with no rows (so QGIS can draw into it)
_EMPTY_TYPE = {"railways": "LINESTRING", "roads": "LINESTRING", "walls": "LINESTRING",
               "conflict_lines": "LINESTRING", "villages": "POLYGON", "township": "POLYGON",
               "areas": "POLYGON", "buildings": "POLYGON", "neighbours": "POLYGON"}
_PART_TYPE = {"points": "POINT", "lines": "LINESTRING", "polygons": "POLYGON"}
_INT_TYPES = ("INTEGER", "MEDIUMINT", "SMALLINT", "TINYINT", "INT")

_local = threading.local()


# --------------------------------------------------------------------------- connections


def _key(path: str | os.PathLike) -> str:
    return os.path.realpath(path)


def active_connection(path: str | os.PathLike) -> sqlite3.Connection | None:
    """The connection of the write transaction this thread holds open on ``path``.

    Code run inside :func:`update_gpkg` (its ``finish`` callback, e.g.
    :func:`pucha.gis.styles.write_styles`) writes through it, so its changes are
    part of the same transaction.
    """
    return getattr(_local, "active", {}).get(_key(path))


def register_functions(con: sqlite3.Connection) -> None:
    """The GeoPackage SQL functions GDAL's R-tree triggers call (``ST_IsEmpty``,
    ``ST_MinX``...), computed from the geometry blob's header."""
    def is_empty(blob):
        return None if blob is None else int(_envelope(blob) is None)

    def coord(k):
        def f(blob):
            env = _envelope(blob)
            return None if env is None else env[k]
        return f

    con.create_function("ST_IsEmpty", 1, is_empty, deterministic=True)
    for k, name in enumerate(("ST_MinX", "ST_MaxX", "ST_MinY", "ST_MaxY")):
        con.create_function(name, 1, coord(k), deterministic=True)


def _envelope(blob: bytes | None) -> tuple[float, float, float, float] | None:
    """(minx, maxx, miny, maxy) of a GeoPackage geometry blob, None if empty/NULL."""
    import struct

    if blob is None or len(blob) < 8 or bytes(blob[:2]) != b"GP":
        return None
    flags = blob[3]
    if flags & 0x10:
        return None
    order = "<" if flags & 0x01 else ">"
    if (flags >> 1) & 0x07 in (1, 2, 3, 4):
        minx, maxx, miny, maxy = struct.unpack(order + "4d", bytes(blob[8:40]))
        return minx, maxx, miny, maxy
    geom = shapely.from_wkb(bytes(blob[8:]))
    if geom is None or geom.is_empty:
        return None
    x0, y0, x1, y1 = geom.bounds
    return x0, x1, y0, y1


def _busy(exc: sqlite3.Error) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    return code in (5, 6) or "locked" in str(exc) or "busy" in str(exc)


def _busy_error(path: Path) -> ProjectBusyError:
    return ProjectBusyError(
        f"{path.name} is being edited in another program (QGIS?): save or discard the edits "
        f"and run again. ({path}: another program held its write lock for more than "
        f"{BUSY_SECONDS:g} s; nothing was written.)")


@contextlib.contextmanager
def transaction(path: str | os.PathLike) -> Iterator[sqlite3.Connection]:
    """One write transaction on the GeoPackage ``path`` itself (``BEGIN IMMEDIATE``).

    Commits when the block ends, rolls back on any exception. The file's journal
    mode is left as it is. Raises :class:`~pucha.errors.ProjectBusyError` (nothing
    written) when another program holds the write lock for :data:`BUSY_SECONDS`.
    Nested calls on the same file in this thread reuse the open transaction.
    """
    path = Path(path)
    outer = active_connection(path)
    if outer is not None:
        yield outer
        return
    if not path.is_file():
        raise InputError(f"{path}: no such GeoPackage")
    try:
        con = sqlite3.connect(path, timeout=BUSY_SECONDS, isolation_level=None)
    except sqlite3.Error as exc:
        raise _damaged(path, exc) from None
    register_functions(con)
    active = _local.__dict__.setdefault("active", {})
    try:
        try:
            con.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if _busy(exc):
                raise _busy_error(path) from None
            raise _damaged(path, exc) from None
        except sqlite3.DatabaseError as exc:
            raise _damaged(path, exc) from None
        active[_key(path)] = con
        try:
            # large writes: keep changed pages in memory (no spill = no early exclusive lock)
            con.execute("PRAGMA cache_size = -262144")
            yield con
            con.execute("COMMIT")
        except BaseException as exc:
            if con.in_transaction:
                con.execute("ROLLBACK")
            if isinstance(exc, sqlite3.OperationalError) and _busy(exc):
                raise _busy_error(path) from None
            raise
        finally:
            active.pop(_key(path), None)
    finally:
        con.close()


# --------------------------------------------------------------------------- creating


def _create_empty(path: Path) -> None:
    """A new, empty GeoPackage 1.2 at ``path`` (made by GDAL beside it, then renamed:
    no other program can hold a file that did not exist)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".gpkg",
                               dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        tmp_path.unlink()
        pyogrio.write_dataframe(pd.DataFrame({"x": pd.Series([], dtype=object)}), tmp_path,
                                layer="_pucha_init", driver="GPKG",
                                dataset_options={"VERSION": "1.2"})
        con = sqlite3.connect(tmp_path, isolation_level=None)
        try:
            con.execute("BEGIN")
            _drop_table(con, "_pucha_init")
            con.execute("COMMIT")
        finally:
            con.close()
        with open(tmp_path, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp_path, path)
    finally:
        for p in (tmp_path, Path(f"{tmp_path}-journal")):
            with contextlib.suppress(FileNotFoundError):
                p.unlink()


def _is_gpkg(path: Path) -> bool:
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=BUSY_SECONDS)
        try:
            return con.execute("SELECT count(*) FROM sqlite_master WHERE type='table' AND "
                               "name='gpkg_contents'").fetchone()[0] == 1
        finally:
            con.close()
    except sqlite3.OperationalError as exc:
        return _busy(exc)      # a busy file is a database some program is writing
    except sqlite3.Error:
        return False


# --------------------------------------------------------------------------- table level


def _q(name: str) -> str:
    return '"' + str(name).replace('"', '""') + '"'


def _has_table(con: sqlite3.Connection, name: str) -> bool:
    return con.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?",
                       (name,)).fetchone() is not None


def _contents(con: sqlite3.Connection) -> list[str]:
    return [r[0] for r in con.execute("SELECT table_name FROM gpkg_contents ORDER BY rowid")]


def _drop_table(con: sqlite3.Connection, name: str) -> None:
    """Drop one table with its R-tree, triggers and metadata rows (styles are kept)."""
    for (trig,) in con.execute("SELECT name FROM sqlite_master WHERE type='trigger' AND "
                               "tbl_name=?", (name,)).fetchall():
        con.execute(f"DROP TRIGGER IF EXISTS {_q(trig)}")
    geo = {"geom"}       # GDAL's name: also an R-tree left when a tool dropped the table
    for meta in ("gpkg_geometry_columns", "gpkg_extensions"):
        if _has_table(con, meta):
            geo |= {str(r[0]) for r in con.execute(
                f"SELECT column_name FROM {meta} WHERE table_name=? AND column_name IS NOT "
                "NULL", (name,))}
    for col in sorted(geo):
        con.execute(f"DROP TABLE IF EXISTS {_q(f'rtree_{name}_{col}')}")
    con.execute(f"DROP TABLE IF EXISTS {_q(name)}")
    for table in ("gpkg_extensions", "gpkg_ogr_contents", "gpkg_geometry_columns",
                  "gpkg_data_columns", "gpkg_contents"):
        if _has_table(con, table):
            con.execute(f"DELETE FROM {table} WHERE lower(table_name)=lower(?)", (name,))


def _declared(con: sqlite3.Connection, name: str) -> dict[str, str]:
    if not _has_table(con, name):
        return {}
    return {r[1]: str(r[2] or "").upper() for r in con.execute(f"PRAGMA table_info({_q(name)})")}


def _srs_id(con: sqlite3.Connection, crs) -> int:
    """The ``gpkg_spatial_ref_sys`` id of ``crs`` (added if missing); with no CRS the
    project's own (the one most layers use), else 0 (undefined Cartesian)."""
    if crs is None:
        row = con.execute("SELECT srs_id, count(*) n FROM gpkg_geometry_columns WHERE srs_id "
                          "> 0 GROUP BY srs_id ORDER BY n DESC LIMIT 1").fetchone()
        return int(row[0]) if row else 0
    from pyproj import CRS

    crs = CRS(crs)
    epsg = crs.to_epsg()
    if epsg is not None:
        if con.execute("SELECT 1 FROM gpkg_spatial_ref_sys WHERE srs_id=?", (epsg,)).fetchone():
            return int(epsg)
        org, org_id, srs = "EPSG", int(epsg), int(epsg)
    else:
        wkt = crs.to_wkt("WKT1_GDAL")
        row = con.execute("SELECT srs_id FROM gpkg_spatial_ref_sys WHERE definition=?",
                          (wkt,)).fetchone()
        if row:
            return int(row[0])
        srs = max(100000, int(con.execute("SELECT max(srs_id) FROM gpkg_spatial_ref_sys")
                                 .fetchone()[0] or 0) + 1)
        org, org_id = "NONE", srs
    con.execute("INSERT INTO gpkg_spatial_ref_sys (srs_name, srs_id, organization, "
                "organization_coordsys_id, definition, description) VALUES (?,?,?,?,?,?)",
                (crs.name or "unnamed", srs, org, org_id, crs.to_wkt("WKT1_GDAL") or "undefined",
                 None))
    return srs


def _geometry_type(geoms: np.ndarray, layer: str, old: str | None) -> str:
    types = set(shapely.get_type_id(geoms[~shapely.is_missing(geoms)]).tolist())
    names = {0: "POINT", 1: "LINESTRING", 2: "LINESTRING", 3: "POLYGON", 4: "MULTIPOINT",
             5: "MULTILINESTRING", 6: "MULTIPOLYGON"}
    found = {names.get(t, "GEOMETRY") for t in types}
    if not found:
        return old or _EMPTY_TYPE.get(layer, "GEOMETRY")
    if len(found) == 1:
        return found.pop()
    fam = {f.replace("MULTI", "") for f in found}
    if len(fam) == 1 and "GEOMETRY" not in fam:
        return "MULTI" + fam.pop()
    return "GEOMETRY"


def _blobs(geoms: np.ndarray, srs_id: int) -> tuple[list, np.ndarray, np.ndarray]:
    """GeoPackage geometry blobs (header + envelope + ISO WKB), bounds and a mask of
    the rows that go into the R-tree (not NULL, not empty)."""
    n = len(geoms)
    missing = shapely.is_missing(geoms)
    empty = shapely.is_empty(geoms) & ~missing
    wkb = shapely.to_wkb(geoms, byte_order=1, flavor="iso")
    bounds = shapely.bounds(geoms)
    hdr = np.zeros(n, dtype=[("magic", "S2"), ("ver", "u1"), ("flags", "u1"), ("srs", "<i4"),
                             ("minx", "<f8"), ("maxx", "<f8"), ("miny", "<f8"),
                             ("maxy", "<f8")])
    hdr["magic"] = b"GP"
    hdr["flags"] = np.where(empty, 0x11, 0x03)
    hdr["srs"] = srs_id
    hdr["minx"], hdr["maxx"] = bounds[:, 0], bounds[:, 2]
    hdr["miny"], hdr["maxy"] = bounds[:, 1], bounds[:, 3]
    raw = hdr.tobytes()
    size = hdr.dtype.itemsize
    out = [None if m else (raw[k * size:k * size + (8 if e else size)] + w)
           for k, (m, e, w) in enumerate(zip(missing.tolist(), empty.tolist(), wkb.tolist()))]
    return out, bounds, ~(missing | empty)


def _column_type(s: pd.Series, old: str | None) -> tuple[str, str]:
    """(declared GeoPackage type, conversion) of one column; a user's declared
    integer/text/date type is kept when the values fit it."""
    dt = s.dtype
    if isinstance(dt, pd.CategoricalDtype):
        dt = np.dtype(object)
    if pd.api.types.is_bool_dtype(dt):
        typ, conv = "BOOLEAN", "int"
    elif pd.api.types.is_integer_dtype(dt):
        typ, conv = "INTEGER", "int"
    elif pd.api.types.is_float_dtype(dt):
        a = s.to_numpy(dtype="float64", na_value=np.nan)
        fin = a[np.isfinite(a)]
        if old and old.startswith(_INT_TYPES) and np.all(fin == np.round(fin)):
            return old, "float_int"
        typ, conv = "REAL", "float"
    elif pd.api.types.is_datetime64_any_dtype(dt):
        typ, conv = "DATETIME", "datetime"
    else:
        kind = pd.api.types.infer_dtype(s, skipna=True)
        typ, conv = {"boolean": ("BOOLEAN", "obj_bool"), "integer": ("INTEGER", "obj_int"),
                     "floating": ("REAL", "obj_float"),
                     "mixed-integer-float": ("REAL", "obj_float"), "bytes": ("BLOB", "obj"),
                     "date": ("DATE", "obj_date"), "string": ("TEXT", "obj"),
                     "empty": ("TEXT", "obj")}.get(kind, ("TEXT", "obj_str"))
    if old and old != typ:
        if typ == "INTEGER" and old.startswith(_INT_TYPES + ("BOOLEAN",)):
            typ = old
        elif typ == "TEXT" and old.startswith(("TEXT", "DATE")):
            typ = old
    return typ, conv


def _values(s: pd.Series, conv: str) -> list:
    """The values of (a slice of) a column for SQLite (None for missing)."""
    notna = s.notna().to_numpy()
    if isinstance(s.dtype, pd.CategoricalDtype):
        s = s.astype(object)
    if conv == "int":
        return [int(v) if ok else None for v, ok in zip(s.tolist(), notna)]
    if conv in ("float", "float_int"):
        a = s.to_numpy(dtype="float64", na_value=np.nan).tolist()
        if conv == "float_int":
            return [int(v) if ok else None for v, ok in zip(a, notna)]
        return [v if ok else None for v, ok in zip(a, notna)]
    if conv == "datetime":
        return [v.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z" if ok else None
                for v, ok in zip(pd.to_datetime(s).tolist(), notna)]
    vals = s.astype(object).where(pd.Series(notna, index=s.index), None).tolist()
    if conv == "obj_bool":
        return [None if v is None else int(bool(v)) for v in vals]
    if conv == "obj_int":
        return [None if v is None else int(v) for v in vals]
    if conv == "obj_float":
        return [None if v is None else float(v) for v in vals]
    if conv == "obj_date":
        return [None if v is None else v.isoformat() for v in vals]
    if conv == "obj_str":
        return [v if v is None or isinstance(v, str) else str(v) for v in vals]
    return vals


def _column(s: pd.Series, old: str | None) -> tuple[str, list]:
    """(declared GeoPackage type, values for SQLite) of one column."""
    typ, conv = _column_type(s, old)
    return typ, _values(s, conv)


#: rows converted and inserted at a time (bounds the Python objects alive at once)
_CHUNK = 50_000


def _write_table(con: sqlite3.Connection, name: str, frame: pd.DataFrame, *,
                 geometry_type: str | None = None, fids: np.ndarray | None = None) -> None:
    """Replace table ``name`` by ``frame`` (a GeoDataFrame becomes a feature table with
    its R-tree; a DataFrame an attribute table), inside the open transaction."""
    old = _declared(con, name)
    old_geo = con.execute("SELECT column_name, geometry_type_name FROM gpkg_geometry_columns "
                          "WHERE table_name=?", (name,)).fetchone()
    _drop_table(con, name)
    is_geo = isinstance(frame, gpd.GeoDataFrame) and frame.geometry.name in frame.columns
    gcol = old_geo[0] if old_geo else "geom"
    attrs = frame.drop(columns=[frame.geometry.name]) if is_geo else pd.DataFrame(frame)
    attrs = attrs.drop(columns=[c for c in attrs.columns if str(c).lower() in ("fid", gcol)])
    cols, convs = [], []
    for c in attrs.columns:
        typ, conv = _column_type(attrs[c], old.get(str(c)))
        cols.append(f"{_q(c)} {typ}")
        convs.append(conv)
    n = len(frame)
    fid = np.arange(1, n + 1) if fids is None else np.asarray(fids)
    now = "strftime('%Y-%m-%dT%H:%M:%fZ','now')"
    names = [_q("fid")] + ([_q(gcol)] if is_geo else []) + [_q(c) for c in attrs.columns]
    if is_geo:
        geoms = np.asarray(frame.geometry.values, dtype=object)
        gtype = geometry_type or _geometry_type(geoms, name, old_geo[1] if old_geo else None)
        srs = _srs_id(con, frame.crs)
        z = int(bool(np.any(shapely.has_z(geoms))))
        con.execute(f"CREATE TABLE {_q(name)} (\"fid\" INTEGER PRIMARY KEY AUTOINCREMENT NOT "
                    f"NULL, {_q(gcol)} {gtype}{''.join(', ' + c for c in cols)})")
    else:
        con.execute(f"CREATE TABLE {_q(name)} (\"fid\" INTEGER PRIMARY KEY AUTOINCREMENT NOT "
                    f"NULL{''.join(', ' + c for c in cols)})")
    insert = (f"INSERT INTO {_q(name)} ({', '.join(names)}) VALUES "
              f"({', '.join('?' * len(names))})")
    ext = [np.inf, np.inf, -np.inf, -np.inf]
    if is_geo:
        rt = f"rtree_{name}_{gcol}"
        con.execute(f"CREATE VIRTUAL TABLE {_q(rt)} USING rtree(id, minx, maxx, miny, maxy)")
    for a in range(0, max(n, 1), _CHUNK):
        b = min(n, a + _CHUNK)
        if b <= a:
            break
        cols_vals = [_values(attrs[c].iloc[a:b], conv) for c, conv in zip(attrs.columns, convs)]
        if is_geo:
            blobs, bounds, ok = _blobs(geoms[a:b], srs)
            con.executemany(insert, zip(fid[a:b].tolist(), blobs, *cols_vals))
            bx = bounds[ok]
            con.executemany(f"INSERT INTO {_q(rt)} VALUES (?,?,?,?,?)",
                            zip(fid[a:b][ok].tolist(), bx[:, 0].tolist(), bx[:, 2].tolist(),
                                bx[:, 1].tolist(), bx[:, 3].tolist()))
            if len(bx):
                ext = [min(ext[0], bx[:, 0].min()), min(ext[1], bx[:, 1].min()),
                       max(ext[2], bx[:, 2].max()), max(ext[3], bx[:, 3].max())]
        else:
            con.executemany(insert, zip(fid[a:b].tolist(), *cols_vals))
    if is_geo:
        env = tuple(float(v) for v in ext) if np.isfinite(ext[0]) else (None,) * 4
        con.execute("INSERT INTO gpkg_contents (table_name, data_type, identifier, description,"
                    " last_change, min_x, min_y, max_x, max_y, srs_id) VALUES (?, 'features', ?,"
                    f" '', {now}, ?, ?, ?, ?, ?)", (name, name, *env, srs))
        con.execute("INSERT INTO gpkg_geometry_columns (table_name, column_name, "
                    "geometry_type_name, srs_id, z, m) VALUES (?,?,?,?,?,0)",
                    (name, gcol, gtype, srs, z))
        _rtree_triggers(con, name, gcol)
    else:
        con.execute("INSERT INTO gpkg_contents (table_name, data_type, identifier, description,"
                    f" last_change) VALUES (?, 'attributes', ?, '', {now})", (name, name))
    _feature_count(con, name, n)


def _rtree_triggers(con: sqlite3.Connection, name: str, gcol: str) -> None:
    """The triggers that keep a feature table's (filled) R-tree index, and its
    ``gpkg_extensions`` row."""
    rt = f"rtree_{name}_{gcol}"
    t, g, r = _q(name), _q(gcol), _q(rt)
    env = (f'ST_MinX(NEW.{g}), ST_MaxX(NEW.{g}), ST_MinY(NEW.{g}), ST_MaxY(NEW.{g})')
    full = f'NEW.{g} NOTNULL AND NOT ST_IsEmpty(NEW.{g})'
    trig = {
        "insert": f"AFTER INSERT ON {t} WHEN ({full}) BEGIN INSERT OR REPLACE INTO {r} VALUES "
                  f"(NEW.\"fid\", {env}); END",
        "update1": f"AFTER UPDATE OF {g} ON {t} WHEN OLD.\"fid\" = NEW.\"fid\" AND ({full}) "
                   f"BEGIN INSERT OR REPLACE INTO {r} VALUES (NEW.\"fid\", {env}); END",
        "update2": f"AFTER UPDATE OF {g} ON {t} WHEN OLD.\"fid\" = NEW.\"fid\" AND (NEW.{g} "
                   f"ISNULL OR ST_IsEmpty(NEW.{g})) BEGIN DELETE FROM {r} WHERE id = "
                   "OLD.\"fid\"; END",
        "update3": f"AFTER UPDATE ON {t} WHEN OLD.\"fid\" != NEW.\"fid\" AND ({full}) BEGIN "
                   f"DELETE FROM {r} WHERE id = OLD.\"fid\"; INSERT OR REPLACE INTO {r} VALUES "
                   f"(NEW.\"fid\", {env}); END",
        "update4": f"AFTER UPDATE ON {t} WHEN OLD.\"fid\" != NEW.\"fid\" AND (NEW.{g} ISNULL OR "
                   f"ST_IsEmpty(NEW.{g})) BEGIN DELETE FROM {r} WHERE id IN (OLD.\"fid\", "
                   "NEW.\"fid\"); END",
        "delete": f"AFTER DELETE ON {t} WHEN OLD.{g} NOT NULL BEGIN DELETE FROM {r} WHERE id = "
                  "OLD.\"fid\"; END",
    }
    for suffix, body in trig.items():
        con.execute(f"CREATE TRIGGER {_q(f'{rt}_{suffix}')} {body}")
    con.execute("CREATE TABLE IF NOT EXISTS gpkg_extensions (table_name TEXT, column_name "
                "TEXT, extension_name TEXT NOT NULL, definition TEXT NOT NULL, scope TEXT NOT "
                "NULL, CONSTRAINT ge_tce UNIQUE (table_name, column_name, extension_name))")
    con.execute("INSERT INTO gpkg_extensions (table_name, column_name, extension_name, "
                "definition, scope) VALUES (?, ?, 'gpkg_rtree_index', "
                "'http://www.geopackage.org/spec120/#extension_rtree', 'write-only')",
                (name, gcol))


def _feature_count(con: sqlite3.Connection, name: str, n: int) -> None:
    """``gpkg_ogr_contents`` (GDAL's feature count) and the triggers that keep it."""
    if not _has_table(con, "gpkg_ogr_contents"):
        return
    con.execute("INSERT OR REPLACE INTO gpkg_ogr_contents (table_name, feature_count) "
                "VALUES (?, ?)", (name, n))
    lit = "'" + name.replace("'", "''") + "'"
    con.execute(f"CREATE TRIGGER {_q(f'trigger_insert_feature_count_{name}')} AFTER INSERT ON "
                f"{_q(name)} BEGIN UPDATE gpkg_ogr_contents SET feature_count = feature_count "
                f"+ 1 WHERE lower(table_name) = lower({lit}); END")
    con.execute(f"CREATE TRIGGER {_q(f'trigger_delete_feature_count_{name}')} AFTER DELETE ON "
                f"{_q(name)} BEGIN UPDATE gpkg_ogr_contents SET feature_count = feature_count "
                f"- 1 WHERE lower(table_name) = lower({lit}); END")


def _split(frame: pd.DataFrame) -> dict[str, tuple[pd.DataFrame, np.ndarray]]:
    """A mixed layer's rows per geometry family (rows without geometry: polygons),
    with their 1-based positions (the fids that keep the written order)."""
    if isinstance(frame, gpd.GeoDataFrame) and frame.geometry.name in frame.columns:
        types = frame.geometry.geom_type.map(_FAMILY).fillna("polygons").to_numpy()
    else:
        frame = gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries([None] * len(frame)))
        types = np.full(len(frame), "polygons")
    pos = np.arange(1, len(frame) + 1)
    return {p: (frame[types == p], pos[types == p]) for p in PARTS}


def _write_layer(con: sqlite3.Connection, name: str, frame: pd.DataFrame) -> None:
    if name not in SPLIT_LAYERS:
        _write_table(con, name, frame)
        return
    for part, (sub, fids) in _split(frame).items():
        one = _PART_TYPE[part]
        gtype = _geometry_type(np.asarray(sub.geometry.values, dtype=object), name, None)
        _write_table(con, f"{name}_{part}", sub, fids=fids,
                     geometry_type=gtype if gtype in (one, "MULTI" + one) else one)
    if _has_table(con, name):          # a project written before the split
        _drop_table(con, name)


def _quick_check(con: sqlite3.Connection, path: Path) -> None:
    try:
        result = [r[0] for r in con.execute("PRAGMA quick_check").fetchall()]
        ok = _has_table(con, "gpkg_contents")
    except sqlite3.DatabaseError as exc:
        raise _damaged(path, exc) from None
    if result != ["ok"]:
        raise _damaged(path, RuntimeError("; ".join(map(str, result[:3]))))
    if not ok:
        raise _damaged(path, RuntimeError("no gpkg_contents table"))


def _set_version(con: sqlite3.Connection) -> None:
    if con.execute("PRAGMA application_id").fetchone()[0] != _APPLICATION_ID:
        con.execute(f"PRAGMA application_id = {_APPLICATION_ID}")
    if con.execute("PRAGMA user_version").fetchone()[0] != GPKG_USER_VERSION:
        con.execute(f"PRAGMA user_version = {GPKG_USER_VERSION}")


def _meta_from(con: sqlite3.Connection) -> dict[str, object]:
    if not _has_table(con, LAYER_META):
        return {}
    return {str(k): json.loads(v) for k, v in con.execute(
        f"SELECT key, value FROM {_q(LAYER_META)} ORDER BY fid")}


# --------------------------------------------------------------------------- public API


def update_gpkg(path: str | os.PathLike, layers: Mapping[str, pd.DataFrame], *,
                fresh: bool = False, meta: Mapping[str, object] | None = None,
                finish: Callable[[Path], object] | None = None) -> Path:
    """Write ``layers`` into the GeoPackage at ``path`` in ONE transaction, in place.

    Layers not named in ``layers`` are kept unless ``fresh`` is true (then every
    layer not in ``layers`` is dropped; a user's saved QGIS styles stay). ``meta``
    entries are merged into the ``pucha_meta`` table (values stored as JSON text).
    ``finish(path)`` runs inside the same transaction before it commits (e.g. to
    store QGIS styles: :func:`pucha.gis.styles.write_styles` writes through the open
    transaction). A new file is created as a GeoPackage 1.2. Raises
    :class:`~pucha.errors.ProjectBusyError` (nothing written) while another program
    holds the write lock, :class:`~pucha.errors.InputError` if the file is damaged.
    """
    path = Path(path)
    if not path.exists() or (fresh and path.stat().st_size == 0):
        _create_empty(path)
    elif fresh and not _is_gpkg(path) and active_connection(path) is None:
        _create_empty(path)   # not a GeoPackage (no program edits it as one): start anew
    with transaction(path) as con:
        _quick_check(con, path)
        if fresh:
            for name in _contents(con):
                if name != "layer_styles" and name not in layers:
                    _drop_table(con, name)
        to_write = dict(layers)
        if meta:
            old = {} if fresh else _meta_from(con)
            old.update(meta)
            to_write[LAYER_META] = meta_table(old)
        for name in sorted(to_write):
            _write_layer(con, name, to_write[name])
        _set_version(con)
        if finish is not None:
            finish(path)
    return path


def replace_rows(path: str | os.PathLike, name: str, frame: pd.DataFrame, *,
                 column: str, value: str) -> None:
    """Replace the rows of layer ``name`` whose ``column`` is ``value`` by ``frame``,
    in one transaction; every other row (and the rest of the file) is left as it is.

    ``pucha check`` writes its ``stage=check`` problem rows this way. New rows come
    after the kept ones; missing columns are added to the table.
    """
    path = Path(path)
    with transaction(path) as con:
        _quick_check(con, path)
        tables = ([f"{name}_{p}" for p in PARTS] if name in SPLIT_LAYERS else [name])
        if not all(_has_table(con, t) for t in tables):
            old = read_layer(path, name) if name in _logical(_contents(con)) else None
            if old is not None:
                old = old[old[column].astype(str) != value] if column in old.columns else old
                frame = pd.concat([f for f in (old, frame) if len(f)] or [frame],
                                  ignore_index=True)
                if isinstance(old, gpd.GeoDataFrame) and not isinstance(
                        frame, gpd.GeoDataFrame):
                    frame = gpd.GeoDataFrame(frame, geometry=old.geometry.name, crs=old.crs)
            _write_layer(con, name, frame)
            return
        for t in tables:
            if column in _declared(con, t):
                con.execute(f"DELETE FROM {_q(t)} WHERE {_q(column)} = ?", (value,))
        top = max(int(con.execute(f"SELECT coalesce(max(fid), 0) FROM {_q(t)}").fetchone()[0])
                  for t in tables)
        parts = (_split(frame) if name in SPLIT_LAYERS
                 else {"": (frame, np.arange(1, len(frame) + 1))})
        for part, (sub, fids) in parts.items():
            if len(sub):
                _append(con, f"{name}_{part}" if part else name, sub, fids + top)


def _append(con: sqlite3.Connection, table: str, frame: pd.DataFrame, fids: np.ndarray) -> None:
    old = _declared(con, table)
    geo = con.execute("SELECT column_name, srs_id FROM gpkg_geometry_columns WHERE "
                      "table_name=?", (table,)).fetchone()
    is_geo = isinstance(frame, gpd.GeoDataFrame) and frame.geometry.name in frame.columns
    attrs = frame.drop(columns=[frame.geometry.name]) if is_geo else pd.DataFrame(frame)
    attrs = attrs.drop(columns=[c for c in attrs.columns if str(c).lower() == "fid"
                                or (geo and str(c) == geo[0])])
    names, values = [_q("fid")], [fids.tolist()]
    for c in attrs.columns:
        typ, vals = _column(attrs[c], old.get(str(c)))
        if str(c) not in old:
            con.execute(f"ALTER TABLE {_q(table)} ADD COLUMN {_q(c)} {typ}")
        names.append(_q(c))
        values.append(vals)
    if geo and is_geo:
        blobs, _, _ = _blobs(np.asarray(frame.geometry.values, dtype=object), int(geo[1]))
        names.append(_q(geo[0]))
        values.append(blobs)
    con.executemany(f"INSERT INTO {_q(table)} ({', '.join(names)}) VALUES "
                    f"({', '.join('?' * len(names))})", zip(*values))
    con.execute("UPDATE gpkg_contents SET last_change = strftime('%Y-%m-%dT%H:%M:%fZ','now') "
                "WHERE table_name = ?", (table,))
    if geo:
        ext = con.execute(f"SELECT min(minx), min(miny), max(maxx), max(maxy) FROM "
                          f"{_q(f'rtree_{table}_{geo[0]}')}").fetchone()
        con.execute("UPDATE gpkg_contents SET min_x=?, min_y=?, max_x=?, max_y=? WHERE "
                    "table_name=?", (*ext, table))


def drop_layer(path: str | os.PathLike, name: str) -> None:
    """Drop layer ``name`` (all its typed tables for a split layer) in one transaction."""
    with transaction(path) as con:
        for t in [name] + ([f"{name}_{p}" for p in PARTS] if name in SPLIT_LAYERS else []):
            if _has_table(con, t):
                _drop_table(con, t)


def meta_table(meta: Mapping[str, object]) -> pd.DataFrame:
    """A key/value DataFrame (values JSON text) for the ``pucha_meta`` table."""
    keys = sorted(meta)
    return pd.DataFrame({"key": keys,
                         "value": [json.dumps(meta[k], ensure_ascii=False, sort_keys=True,
                                              default=str) for k in keys]})

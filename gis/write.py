"""Atomic, crash-safe writing of every output pucha produces.

Every file is written to a temporary path in the destination folder and renamed
into place with :func:`os.replace`, so a run killed at any moment leaves the
previous file intact and readable. A GeoPackage is updated by copying it, writing
the new layers into the copy and renaming the copy over the original.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio

import pyogrio.errors
import shapely.errors

from pucha.errors import InputError
from pucha.gis.schema import LAYER_META

__all__ = [
    "atomic_path", "write_text", "write_bytes", "update_gpkg", "read_layer", "list_layers",
    "read_meta", "meta_table",
]


@contextlib.contextmanager
def atomic_path(dest: str | os.PathLike, *, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``dest``; rename it onto ``dest`` on success.

    On any exception the temporary file is removed and ``dest`` is untouched.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    # The writer's pid is in the name, so a later run can tell a killed run's leftovers.
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.{os.getpid()}.",
                               suffix=suffix or dest.suffix + ".tmp", dir=dest.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        if tmp_path.exists():
            with open(tmp_path, "rb+") as fh:
                os.fsync(fh.fileno())
        os.replace(tmp_path, dest)
        _sweep_stale(dest)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        for side in (Path(str(tmp_path) + "-wal"), Path(str(tmp_path) + "-shm"),
                     Path(str(tmp_path) + "-journal")):
            with contextlib.suppress(FileNotFoundError):
                side.unlink()


def _pid_dead(pid: int) -> bool:
    if os.name != "posix":  # pragma: no cover - os.kill(pid, 0) would end the process there
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _sweep_stale(dest: Path) -> None:
    """Remove temporary siblings of ``dest`` left by runs that were killed (dead pid).

    Files of still-running writers (live pid) are left alone; on non-POSIX systems
    only temporary files older than 12 hours are removed.
    """
    import glob
    import time

    head = f".{dest.name}."
    for side in dest.parent.glob(glob.escape(head) + "*"):
        pid = side.name[len(head):].split(".", 1)[0]
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            stale = _pid_dead(int(pid)) or (os.name != "posix" and
                                             time.time() - side.stat().st_mtime > 12 * 3600)
        except OSError:
            continue
        if stale:
            with contextlib.suppress(OSError):
                side.unlink()


def write_text(dest: str | os.PathLike, text: str, *, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``dest`` atomically and return the path."""
    with atomic_path(dest) as tmp:
        tmp.write_text(text, encoding=encoding)
    return Path(dest)


def write_bytes(dest: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``dest`` atomically and return the path."""
    with atomic_path(dest) as tmp:
        tmp.write_bytes(data)
    return Path(dest)


def _write_layer(path: Path, name: str, frame: pd.DataFrame) -> None:
    if isinstance(frame, gpd.GeoDataFrame) and frame.geometry.name in frame.columns:
        gdf = frame
        if len(gdf) == 0:
            # pyogrio cannot infer a geometry type from an empty frame.
            pyogrio.write_dataframe(gdf, path, layer=name, driver="GPKG",
                                    geometry_type="Unknown")
            return
        pyogrio.write_dataframe(gdf, path, layer=name, driver="GPKG",
                                promote_to_multi=False)
    else:
        pyogrio.write_dataframe(pd.DataFrame(frame), path, layer=name, driver="GPKG")


def update_gpkg(path: str | os.PathLike, layers: Mapping[str, pd.DataFrame], *,
                fresh: bool = False, meta: Mapping[str, object] | None = None,
                finish: Callable[[Path], object] | None = None) -> Path:
    """Write ``layers`` into the GeoPackage at ``path`` atomically.

    Layers not named in ``layers`` are kept unless ``fresh`` is true (then the
    GeoPackage is rebuilt from ``layers`` alone). ``meta`` entries are merged into
    the ``pucha_meta`` table (values stored as JSON text). ``finish(tmp)`` runs on
    the written temporary copy before it is renamed into place (e.g. to store QGIS
    styles), so its changes are part of the same atomic step.
    """
    path = Path(path)
    with atomic_path(path, suffix=".gpkg") as tmp:
        tmp.unlink()
        if path.exists() and not fresh:
            shutil.copyfile(path, tmp)
            _check_integrity(path, tmp)
            try:
                existing = {n for n, _ in pyogrio.list_layers(tmp)}
            except pyogrio.errors.DataSourceError as exc:
                raise _damaged(path, exc) from None
        else:
            existing = set()
        to_write = dict(layers)
        if meta:
            old = read_meta(tmp) if LAYER_META in existing else {}
            old.update(meta)
            to_write[LAYER_META] = meta_table(old)
        for name in sorted(to_write):
            if name in existing:
                _drop_layer(tmp, name)
            _write_layer(tmp, name, to_write[name])
        if finish is not None:
            finish(tmp)
    return path


def _drop_layer(path: Path, name: str) -> None:
    import sqlite3

    con = sqlite3.connect(path)
    try:
        cur = con.cursor()
        cur.execute(f'DROP TABLE IF EXISTS "{name}"')
        for table, col in (("gpkg_contents", "table_name"), ("gpkg_geometry_columns", "table_name"),
                           ("gpkg_extensions", "table_name"), ("gpkg_ogr_contents", "table_name")):
            try:
                cur.execute(f"DELETE FROM {table} WHERE {col} = ?", (name,))
            except sqlite3.OperationalError:
                pass
        for (tname,) in cur.execute(
                "SELECT name FROM sqlite_master WHERE type='table' AND name LIKE ?",
                (f"rtree_{name}_%",)).fetchall():
            cur.execute(f'DROP TABLE IF EXISTS "{tname}"')
        for (trig,) in cur.execute(
                "SELECT name FROM sqlite_master WHERE type='trigger' AND tbl_name = ?",
                (name,)).fetchall():
            cur.execute(f'DROP TRIGGER IF EXISTS "{trig}"')
        con.commit()
    finally:
        con.close()


def meta_table(meta: Mapping[str, object]) -> pd.DataFrame:
    """A key/value DataFrame (values JSON text) for the ``pucha_meta`` table."""
    keys = sorted(meta)
    return pd.DataFrame({"key": keys,
                         "value": [json.dumps(meta[k], ensure_ascii=False, sort_keys=True,
                                              default=str) for k in keys]})


def read_meta(path: str | os.PathLike) -> dict[str, object]:
    """Read the ``pucha_meta`` table of a project GeoPackage as a dict."""
    if LAYER_META not in list_layers(path):
        return {}
    try:
        df = pyogrio.read_dataframe(path, layer=LAYER_META)
        return {str(k): json.loads(v) for k, v in zip(df["key"], df["value"])}
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError, ValueError,
            TypeError, KeyError) as exc:
        raise _damaged(path, exc) from None


def _check_integrity(path: Path, copy: Path) -> None:
    """Refuse to build on a damaged GeoPackage (SQLite ``quick_check`` of the copy)."""
    import sqlite3

    try:
        con = sqlite3.connect(copy)
        try:
            result = [r[0] for r in con.execute("PRAGMA quick_check").fetchall()]
        finally:
            con.close()
    except sqlite3.DatabaseError as exc:
        raise _damaged(path, exc) from None
    if result != ["ok"]:
        raise _damaged(path, RuntimeError("; ".join(map(str, result[:3]))))


def _damaged(path: str | os.PathLike, exc: Exception) -> InputError:
    return InputError(
        f"{path}: not a readable GeoPackage ({' '.join(str(exc).split())[:200]}); the file "
        "is empty, truncated or damaged. Re-run the step that wrote it (`pucha import` "
        "makes the project GeoPackage, `pucha partition` adds the areas) or restore a copy.")


def list_layers(path: str | os.PathLike) -> list[str]:
    """Names of the layers/tables in a GeoPackage (empty list if it does not exist).

    Raises :class:`~pucha.errors.InputError` if the file exists but cannot be read.
    """
    if not Path(path).exists():
        return []
    try:
        return [str(n) for n, _ in pyogrio.list_layers(path)]
    except pyogrio.errors.DataSourceError as exc:
        raise _damaged(path, exc) from None


def read_layer(path: str | os.PathLike, name: str) -> gpd.GeoDataFrame | pd.DataFrame:
    """Read one layer of a project GeoPackage; id and code columns come back as str.

    Raises :class:`~pucha.errors.InputError` if the file cannot be read.
    """
    try:
        df = pyogrio.read_dataframe(path, layer=name)
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError) as exc:
        if Path(path).exists() and name in list_layers(path):
            raise _damaged(path, exc) from None
        raise InputError(f"{path}: no layer {name!r}; it has: "
                         f"{', '.join(list_layers(path)) or 'no layers'}") from None
    except (UnicodeDecodeError, shapely.errors.GEOSException) as exc:
        # damaged bytes inside a row: text that is not UTF-8, a geometry blob GEOS rejects
        raise _damaged(path, exc) from None
    for col in df.columns:
        if col.endswith("_id") or col.endswith("code") or col in ("code", "feature_ids"):
            df[col] = df[col].astype("string").fillna("").astype(object)
    return df

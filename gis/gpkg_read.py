"""Reading the project GeoPackage (pyogrio/GDAL), as one layer per name.

A split layer (:data:`SPLIT_LAYERS`: mixed geometries stored as one table per
geometry family, see :mod:`pucha.gis.gpkg`) reads back as one frame, rows in
their written order. Every reader first rolls back what a killed writer left
(:func:`recover`), as any read-write SQLite open would.
"""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio
import pyogrio.errors
import shapely.errors

from pucha.errors import InputError
from pucha.gis.schema import LAYER_META

__all__ = ["read_layer", "list_layers", "read_meta", "recover", "SPLIT_LAYERS", "PARTS",
           "BUSY_SECONDS"]

#: seconds to wait for another program's write lock before giving up
BUSY_SECONDS = float(os.environ.get("PUCHA_BUSY_SECONDS", "5"))
#: layers of mixed geometry, stored as one table per geometry family
SPLIT_LAYERS = ("problems", "water", "conflicts")
PARTS = ("points", "lines", "polygons")


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


def _damaged(path: str | os.PathLike, exc: Exception) -> InputError:
    return InputError(
        f"{path}: not a readable GeoPackage ({' '.join(str(exc).split())[:200]}); the file "
        "is empty, truncated or damaged. Re-run the step that wrote it (`pucha import` "
        "makes the project GeoPackage, `pucha partition` adds the areas) or restore a copy.")


def recover(path: str | os.PathLike) -> None:
    """Roll back what a killed writer left (a hot ``-journal``) before reading.

    SQLite rolls a hot journal back on the next read-write open; GDAL opens
    read-only and cannot, so pucha's readers open the file read-write once (a
    plain read: nothing is written unless a killed transaction is undone). A
    journal of a live writer is not hot and is left alone.
    """
    if not os.path.exists(f"{path}-journal"):
        return
    try:
        con = sqlite3.connect(path, timeout=BUSY_SECONDS)
        try:
            con.execute("SELECT count(*) FROM sqlite_master").fetchone()
        finally:
            con.close()
    except sqlite3.Error:
        pass    # a locked or damaged file: the read that follows reports it


def _logical(names: list[str]) -> list[str]:
    """Table names with the typed tables of a split layer shown as the one layer."""
    out: list[str] = []
    for n in names:
        base = next((b for b in SPLIT_LAYERS if n in {f"{b}_{p}" for p in PARTS}), None)
        n = base or n
        if n not in out:
            out.append(n)
    return out


def list_layers(path: str | os.PathLike) -> list[str]:
    """Names of the layers/tables in a GeoPackage (empty list if it does not exist);
    a split layer's typed tables are listed once under the layer's name.

    Raises :class:`~pucha.errors.InputError` if the file exists but cannot be read.
    """
    if not Path(path).exists():
        return []
    recover(path)
    try:
        return _logical([str(n) for n, _ in pyogrio.list_layers(path)])
    except pyogrio.errors.DataSourceError as exc:
        raise _damaged(path, exc) from None


def _read_one(path: str | os.PathLike, name: str, **kw) -> gpd.GeoDataFrame | pd.DataFrame:
    try:
        return pyogrio.read_dataframe(path, layer=name, **kw)
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError) as exc:
        if Path(path).exists() and name in [str(n) for n, _ in pyogrio.list_layers(path)]:
            raise _damaged(path, exc) from None
        raise InputError(f"{path}: no layer {name!r}; it has: "
                         f"{', '.join(list_layers(path)) or 'no layers'}") from None
    except (UnicodeDecodeError, shapely.errors.GEOSException) as exc:
        # damaged bytes inside a row: text that is not UTF-8, a geometry blob GEOS rejects
        raise _damaged(path, exc) from None


def read_layer(path: str | os.PathLike, name: str) -> gpd.GeoDataFrame | pd.DataFrame:
    """Read one layer of a project GeoPackage; id and code columns come back as str.

    A split layer (:data:`SPLIT_LAYERS`) comes back as one frame: the rows of its
    typed tables in their written order. Raises :class:`~pucha.errors.InputError`
    if the file cannot be read.
    """
    recover(path)
    tables = [str(n) for n, _ in pyogrio.list_layers(path)] if (
        name in SPLIT_LAYERS and Path(path).exists()) else []
    parts = [f"{name}_{p}" for p in PARTS if f"{name}_{p}" in tables]
    if parts and name not in tables:
        frames = [_read_one(path, t, fid_as_index=True) for t in parts]
        crs = next((f.crs for f in frames if getattr(f, "crs", None) is not None), None)
        full = [f for f in frames if len(f)] or frames[:1]
        df = gpd.GeoDataFrame(pd.concat(full).sort_index(kind="stable"), geometry="geometry",
                              crs=crs).reset_index(drop=True)
    else:
        df = _read_one(path, name)
    for col in df.columns:
        if col.endswith("_id") or col.endswith("code") or col in ("code", "feature_ids"):
            df[col] = df[col].astype("string").fillna("").astype(object)
    return df

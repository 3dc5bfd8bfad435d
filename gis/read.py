"""Read one input layer of any GDAL format (or a CSV) into a GeoDataFrame.

GeoPackage, Shapefile (UTF-8 or GBK/cp936, with or without ``.cpg``), GeoJSON, FileGDB,
CSV with a WKT column or x/y columns. Text encoding of a shapefile/CSV: the ``.cpg``
when there is one, else ``[layers.X].encoding``, else UTF-8 when every text decodes,
else GB18030. Garbled text (mojibake like ``å±…`` or U+FFFD) is reported as a problem.

Problems found while reading are returned in ``gdf.attrs["pucha_problems"]`` (list of
dicts with the ``problems`` columns).
"""

from __future__ import annotations

import logging
import re
import unicodedata
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from pyproj import CRS

from pucha.config import LayerSource
from pucha.errors import CRSError, InputError
from pucha.gis.crs import parse_crs, to_crs_checked

__all__ = ["read_source", "detect_encoding", "score_encodings", "looks_garbled", "source_path",
           "csv_separator"]

log = logging.getLogger(__name__)

_MOJIBAKE = re.compile(r"[ÃÂåäæçèéêëìíîïðñòóôõö÷øùúûüýþÿ][\x80-\xbf\u0152\u0153\u0160\u0161"
                       r"\u0178\u017d\u017e\u0192\u02c6\u02dc\u2013\u2014\u2018-\u201e\u2020-"
                       r"\u2022\u2026\u2030\u2039\u203a\u20ac\u2122\u00a1-\u00bf]")
_X_NAMES = ("x", "lon", "lng", "long", "longitude", "经度", "x坐标", "东坐标", "easting")
_Y_NAMES = ("y", "lat", "latitude", "纬度", "y坐标", "北坐标", "northing")
_WKT_NAMES = ("wkt", "geometry", "geom", "the_geom", "shape", "几何")


def looks_garbled(text: object) -> bool:
    """True for text with U+FFFD or UTF-8/GBK bytes decoded as Latin-1/cp1252."""
    if not isinstance(text, str) or not text:
        return False
    if "\ufffd" in text:
        return True
    return bool(_MOJIBAKE.search(text)) and not any(
        unicodedata.east_asian_width(ch) == "W" for ch in text)


def _decodes(raw: bytes, enc: str) -> bool:
    """True when ``raw`` is text in ``enc``; for UTF-8 a few broken sequences are
    tolerated (Chinese field names cut at the 10-byte .dbf limit)."""
    try:
        raw.decode(enc)
    except UnicodeDecodeError:
        if enc.replace("-", "").lower() != "utf8":
            return False
        high = sum(1 for c in raw if c > 127)
        bad = raw.decode("utf-8", errors="replace").count("\ufffd")
        return high > 0 and bad * 20 <= high
    return True


def score_encodings(raw: bytes) -> tuple[str, str, bool]:
    """The text encoding of ``raw``: (codec, why it was chosen, doubtful?).

    A BOM decides (UTF-8 / UTF-16); ASCII-only or valid UTF-8 is UTF-8; NUL every
    second byte is UTF-16; otherwise GB18030 (GBK) and Big5 are scored on the text itself,
    told apart by their second bytes (Big5's common characters use 0x40-0x7E, GBK's
    never); damaged text is scored by charset-normalizer. Doubtful with few characters
    or when no codec decodes the text cleanly.
    """
    if raw.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig", "a UTF-8 byte-order mark", False
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16", "a UTF-16 byte-order mark", False
    if not any(c > 127 for c in raw):
        return "utf-8", "ASCII only", False
    if (len(raw) > 8 and raw[1::2].count(0) > 0.3 * len(raw) / 2
            and raw[0::2].count(0) < 0.02 * len(raw) / 2):   # not NUL padding: text
        return "utf-16-le", "every second byte is 0 (UTF-16 without a byte-order mark)", False
    if _decodes(raw, "utf-8"):
        return "utf-8", "the text is valid UTF-8", False
    # GBK and Big5 share the lead-byte range; they differ in the second byte: Big5's
    # common characters use 0x40-0x7E half the time, GBK's common ones (GB2312) never
    pairs = low = 0
    i = 0
    while i < len(raw) - 1:
        if raw[i] >= 0x81:
            pairs += 1
            low += raw[i + 1] < 0x7F
            i += 2
        else:
            i += 1
    gb_ok, big5_ok = _strict(raw, "gb18030"), _strict(raw, "big5")
    share = low / pairs if pairs else 0.0
    if big5_ok and share > 0.1:
        return ("big5", f"{share:.0%} of the {pairs} double-byte characters have a second byte "
                        f"below 0x7F, as Big5 text has and GBK's common characters never do",
                pairs < 4)
    if gb_ok:
        return ("gb18030", f"every one of the {pairs} double-byte characters is in the GB2312/"
                           f"GBK ranges" + (" (few characters: Big5 possible too)"
                                            if big5_ok and pairs < 4 else ""),
                big5_ok and pairs < 4)
    try:
        from charset_normalizer import from_bytes
    except ImportError:  # pragma: no cover - a dependency of requests, always there
        return "gb18030", "no codec decodes it cleanly; GB18030 assumed", True
    # damaged text: let charset-normalizer score which codec reads it most coherently
    # (binary runs, e.g. dBASE field descriptors, blanked first)
    text = re.sub(rb"[\x00-\x08\x0b\x0c\x0e-\x1f]+", b" ", raw)
    best = from_bytes(text, cp_isolation=["gb18030", "big5", "utf_16"]).best()
    if best is None:
        return "gb18030", "no codec decodes it cleanly; GB18030 assumed", True
    enc = {"gb18030": "gb18030", "big5": "big5", "utf_16": "utf-16"}.get(best.encoding,
                                                                       best.encoding)
    return enc, f"no codec decodes it cleanly; {enc} reads it most coherently", True


def _strict(raw: bytes, enc: str) -> bool:
    try:
        raw.decode(enc)
    except UnicodeDecodeError:
        return False
    return True


def detect_encoding(raw: bytes) -> str:
    """The codec :func:`score_encodings` chooses (``utf-8``, ``gb18030``, ``big5`` ...)."""
    enc = score_encodings(raw)[0]
    return "utf-8" if enc == "utf-8-sig" else enc


def source_path(source: LayerSource, base_dir: Path | str) -> Path:
    """The source file's path, relative to ``base_dir`` (the TOML file's folder)."""
    p = Path(source.path).expanduser()
    return p if p.is_absolute() else Path(base_dir) / p


def _sibling(path: Path, ext: str) -> Path | None:
    for cand in path.parent.glob(path.stem + ".*"):
        if cand.suffix.lower() == ext and cand.stem == path.stem:
            return cand
    return None


def _check_file(path: Path, kind: str) -> None:
    sec = f"[layers.{kind}]"
    if not path.exists():
        raise InputError(f"{sec}: file not found: {path}; check path = ... (relative to the "
                         f"project TOML file)")
    if path.is_file() and path.stat().st_size == 0:
        raise InputError(f"{path}: the file is empty (0 bytes); copy it again from the "
                         f"规土所 source")
    if path.suffix.lower() == ".shp":
        missing = [ext for ext in (".shx", ".dbf") if _sibling(path, ext) is None]
        if missing:
            raise InputError(
                f"{path}: the shapefile is incomplete: "
                f"{' and '.join(path.stem + ext for ext in missing)} ({' and '.join(missing)}) "
                f"missing beside "
                f"it. A shapefile is several files (.shp .shx .dbf .prj .cpg) with the same "
                f"name; copy all of them")
        _check_shp_length(path)


def _check_shp_length(path: Path) -> None:
    """A .shp shorter than its header or its .shx index says is truncated."""
    data_len = path.stat().st_size
    with open(path, "rb") as fh:
        head = fh.read(100)
    if len(head) < 100 or int.from_bytes(head[0:4], "big") != 9994:
        raise InputError(f"{path}: not a shapefile (bad .shp header); copy it again")
    declared = int.from_bytes(head[24:28], "big") * 2
    shx = _sibling(path, ".shx")
    end = 0
    if shx is not None:
        idx = shx.read_bytes()[100:]
        for k in range(0, len(idx) - 7, 8):
            off = int.from_bytes(idx[k:k + 4], "big") * 2
            ln = int.from_bytes(idx[k + 4:k + 8], "big") * 2
            end = max(end, off + 8 + ln)
    if declared > data_len or end > data_len:
        raise InputError(
            f"{path}: the file is truncated ({data_len} bytes, its header/index say "
            f"{max(declared, end)}); copy the shapefile again from the 规土所 source")


def _dbf_text_bytes(dbf: Path) -> bytes:
    """Raw bytes of the field names and character fields of a .dbf (for detection)."""
    data = dbf.read_bytes()
    if len(data) < 32:
        return b""
    header_len = int.from_bytes(data[8:10], "little")
    return data[32:min(len(data), header_len + 200_000)]


def _mojibake_problems(frame: pd.DataFrame, where: str, kind: str, enc: str) -> list[dict]:
    bad_cols = []
    for c in frame.columns:
        if c == "geometry":
            continue
        if looks_garbled(str(c)):
            bad_cols.append(str(c))
            continue
        if (frame[c].dtype == object or pd.api.types.is_string_dtype(frame[c])) and \
                frame[c].map(looks_garbled).any():
            bad_cols.append(str(c))
    if not bad_cols:
        return []
    return [{
        "severity": "warning", "code": "text_garbled", "layer": kind, "feature_ids": "",
        "message": (f"{where}: garbled text (乱码) in column(s) {', '.join(bad_cols)} when read "
                    f"as {enc}; set encoding = \"gbk\" or \"utf-8\" in [layers.{kind}] or add "
                    f"a .cpg file saying the encoding"),
    }]


def _read_csv(path: Path, source: LayerSource, kind: str) -> tuple[gpd.GeoDataFrame, str]:
    raw = path.read_bytes()
    enc = source.encoding or score_encodings(raw)[0]
    import io

    try:
        text = raw.decode(enc, errors="replace").lstrip("\ufeff")
        df = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False,
                         sep=csv_separator(text))
    except (pd.errors.ParserError, pd.errors.EmptyDataError, LookupError) as exc:
        raise InputError(f"{path}: not a readable CSV table ({exc})") from None
    df.columns = [str(c).strip() for c in df.columns]
    low = {unicodedata.normalize("NFKC", c).lower(): c for c in df.columns}
    wkt = source.wkt or next((low[n] for n in _WKT_NAMES if n in low), "")
    xcol = source.x or ("" if source.wkt else next((low[n] for n in _X_NAMES if n in low), ""))
    ycol = source.y or ("" if source.wkt else next((low[n] for n in _Y_NAMES if n in low), ""))
    if wkt and not (source.x and source.y):
        if wkt not in df.columns:
            raise InputError(f"{path}: [layers.{kind}] wkt = {wkt!r} but the CSV has no such "
                             f"column; its columns are: {', '.join(df.columns)}")
        texts = df[wkt].replace("", None).values
        geoms = np.empty(len(df), dtype=object)
        for i, t in enumerate(texts):
            try:
                geoms[i] = shapely.from_wkt(t) if t is not None else None
            except shapely.errors.GEOSException:
                geoms[i] = None
        df = df.drop(columns=[wkt])
    elif xcol and ycol:
        for c in (xcol, ycol):
            if c not in df.columns:
                raise InputError(f"{path}: [layers.{kind}] names column {c!r} but the CSV has "
                                 f"no such column; its columns are: {', '.join(df.columns)}")
        xs = pd.to_numeric(df[xcol].map(_fold), errors="coerce").values
        ys = pd.to_numeric(df[ycol].map(_fold), errors="coerce").values
        geoms = shapely.points(xs, ys)
        geoms[~(np.isfinite(xs) & np.isfinite(ys))] = None
    else:
        raise InputError(
            f"{path}: a CSV needs coordinates: set wkt = \"<WKT column>\" or x = \"<lon/easting "
            f"column>\" and y = \"<lat/northing column>\" in [layers.{kind}]; its columns are: "
            f"{', '.join(df.columns)}")
    crs = parse_crs(source.crs, where=f"[layers.{kind}].crs") if source.crs else None
    return gpd.GeoDataFrame(df, geometry=list(geoms), crs=crs), enc


def csv_separator(text: str) -> str:
    """Tab for Excel's "Unicode text" (UTF-16, tab-separated), ``;`` or ``,`` otherwise,
    by the first line."""
    head = text.split("\n", 1)[0]
    counts = {sep: head.count(sep) for sep in ("\t", ",", ";")}
    best = max(counts, key=lambda k: counts[k])
    return best if counts[best] else ","


def _fold(v: object) -> object:
    return unicodedata.normalize("NFKC", v).strip() if isinstance(v, str) else v


def _read_gdal(path: Path, source: LayerSource, kind: str) -> tuple[gpd.GeoDataFrame, str]:
    where = str(path)
    try:
        layers = [str(n) for n, _ in pyogrio.list_layers(path)]
    except (pyogrio.errors.DataSourceError, OSError) as exc:
        raise InputError(f"{path}: not a readable GIS file ({exc}); export it again as "
                         f"GeoPackage or Shapefile") from None
    layer = source.layer or None
    if layer is not None and layer not in layers:
        raise InputError(f"{path}: [layers.{kind}] layer = {layer!r} not found; the file has "
                         f"layers: {', '.join(layers)}")
    if layer is None and len(layers) > 1:
        if kind in layers:
            layer = kind
        else:
            raise InputError(f"{path}: the file has several layers ({', '.join(layers)}); say "
                             f"which one with layer = \"...\" in [layers.{kind}]")
    enc = source.encoding or ""
    kwargs: dict = {}
    if path.suffix.lower() == ".shp" and not source.encoding:
        cpg = _sibling(path, ".cpg")
        if cpg is None:
            dbf = _sibling(path, ".dbf")
            enc, why, doubtful = (score_encodings(_dbf_text_bytes(dbf)) if dbf
                                  else ("utf-8", "no .dbf", False))
            enc = "utf-8" if enc == "utf-8-sig" else enc
            (log.warning if doubtful else log.info)(
                "%s: no .cpg; text read as %s (%s)%s", path, enc, why,
                f"; if names look wrong, set encoding = \"...\" in [layers.{kind}]"
                if doubtful else "")
            kwargs["encoding"] = enc.upper()
        else:
            enc = cpg.read_text(errors="replace").strip() or "utf-8"
            dbf = _sibling(path, ".dbf")
            raw = _dbf_text_bytes(dbf) if dbf else b""
            says_utf8 = "utf" in enc.lower() and "8" in enc
            if not says_utf8 and any(c > 127 for c in raw) and _decodes(raw, "utf-8"):
                log.warning("%s: .cpg says %s but the text is UTF-8; read as UTF-8", path, enc)
                enc = "utf-8"
                kwargs["encoding"] = "UTF-8"
            elif says_utf8 and not _decodes(raw, "utf-8"):
                log.warning("%s: .cpg says %s but the text is not UTF-8; read as GB18030",
                            path, enc)
                enc = "gb18030"
                kwargs["encoding"] = "GB18030"
    elif source.encoding:
        kwargs["encoding"] = source.encoding
    if path.suffix.lower() in (".geojson", ".json") and path.is_file():
        # GDAL reads GeoJSON as UTF-8 only: a GBK/Big5 file is decoded here
        raw = path.read_bytes()
        got = source.encoding or score_encodings(raw[:2_000_000])[0]
        if got.replace("-", "").lower() not in ("utf8", "utf8sig"):
            import io

            log.info("%s: GeoJSON text is %s, not UTF-8; decoded as %s", path, got, got)
            try:
                path = io.BytesIO(raw.decode(got, errors="replace").encode("utf-8"))  # type: ignore[assignment]
            except LookupError:
                raise InputError(f"{where}: encoding = {got!r} is not a codec Python "
                                 f"knows; use e.g. \"gbk\", \"big5\", \"utf-8\"") from None
            enc = got
    try:
        try:
            import warnings

            with warnings.catch_warnings():
                # GeoJSON: a column of mixed text ('约300') "could not be parsed as JSON";
                # it stays text and is validated later
                warnings.filterwarnings("ignore", message="Could not parse column",
                                        category=UserWarning)
                warnings.filterwarnings("ignore", message="One or several characters",
                                        category=RuntimeWarning)
                gdf = pyogrio.read_dataframe(path, layer=layer, where=source.where or None,
                                             **kwargs)
        except shapely.errors.GEOSException:
            gdf = _read_lenient(path, layer, source.where or None, kwargs)
        except UnicodeDecodeError:
            # e.g. a UTF-8 shapefile whose Chinese field names were cut at 10 bytes
            # mid-character: read bytes as Latin-1 and decode them here
            gdf = pyogrio.read_dataframe(path, layer=layer, where=source.where or None,
                                         encoding="ISO-8859-1")
            gdf = _redecode(gdf, "utf-8" if not enc or "utf" in enc.lower() else enc)
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError,
            pyogrio.errors.FieldError, pyogrio.errors.GeometryError, pyogrio.errors.CRSError,
            pyogrio.errors.FeatureError, OSError, ValueError, UnicodeDecodeError) as exc:
        msg = str(exc)
        if source.where and ("where" in msg.lower() or "sql" in msg.lower()):
            raise InputError(f"{path}: [layers.{kind}] where = {source.where!r} is not a valid "
                             f"filter for this layer ({msg})") from None
        raise InputError(f"{where}: cannot read layer {layer or '(first)'} ({msg}); the file "
                         f"may be truncated or damaged: export it again") from None
    if not isinstance(gdf, gpd.GeoDataFrame):
        raise InputError(f"{where}: layer {layer or '(first)'} has no geometry; a GIS layer "
                         f"with polygons/lines is needed for [layers.{kind}]")
    return gdf, enc or "utf-8"


def _redecode(gdf: gpd.GeoDataFrame, enc: str) -> gpd.GeoDataFrame:
    """Re-decode names/values read as Latin-1 with ``enc`` (cut characters dropped)."""
    def fix(v: object, errors: str) -> object:
        if not isinstance(v, str):
            return v
        try:
            return v.encode("latin-1").decode(enc, errors=errors)
        except (UnicodeEncodeError, LookupError):
            return v

    names = {c: fix(c, "ignore") for c in gdf.columns if c != gdf.geometry.name}
    out = gdf.rename(columns=names)
    for c in names.values():
        if out[c].dtype == object or pd.api.types.is_string_dtype(out[c]):
            out[c] = out[c].map(lambda v: fix(v, "replace"))
    log.warning("field names/values cut mid-character (10-byte shapefile limit?); "
                "read leniently: %s", ", ".join(str(v) for v in names.values()))
    return out


def _read_lenient(path: Path, layer: str | None, where: str | None, kwargs: dict
                  ) -> gpd.GeoDataFrame:
    """Read a layer whose WKB GEOS rejects (e.g. unclosed rings): fix or null each one."""
    import pyogrio.raw

    attrs = pyogrio.read_dataframe(path, layer=layer, where=where, read_geometry=False,
                                   **kwargs)
    meta, _fids, wkb, _fields = pyogrio.raw.read(path, layer=layer, where=where, columns=[],
                                                 **kwargs)
    geoms = shapely.from_wkb(np.asarray(wkb, dtype=object), on_invalid="fix")
    log.warning("%s: some geometries are malformed WKB; repaired or left empty", path)
    return gpd.GeoDataFrame(pd.DataFrame(attrs), geometry=list(geoms), crs=meta.get("crs"))


def read_source(source: LayerSource, *, base_dir: Path | str, kind: str,
                crs: CRS | str | None = None) -> gpd.GeoDataFrame:
    """Read one configured layer; reproject to ``crs`` (checked) when given.

    Parameters
    ----------
    source
        The ``[layers.<kind>]`` settings (path, layer, crs, encoding, gcj02, x/y/wkt, where).
    base_dir
        Folder that relative paths are relative to (the TOML file's folder).
    kind
        Layer kind, used in messages (``buildings``, ``villages`` ...).
    crs
        Target CRS; ``None`` keeps the source CRS (after GCJ-02 conversion).

    Returns
    -------
    GeoDataFrame
        Raw attribute columns plus ``geometry``; ``attrs["pucha_problems"]`` holds read
        problems and ``attrs["pucha_source"]`` the file path.

    Raises
    ------
    InputError, CRSError
        Missing/empty/truncated files, incomplete shapefiles, no or implausible CRS.
    """
    path = source_path(source, base_dir)
    _check_file(path, kind)
    where = f"{path}" + (f" (layer {source.layer})" if source.layer else "")
    if path.suffix.lower() in (".csv", ".txt"):
        gdf, enc = _read_csv(path, source, kind)
        if source.where:
            try:
                gdf = gdf.query(source.where)
            except Exception as exc:  # noqa: BLE001 - pandas raises many kinds
                raise InputError(f"{path}: [layers.{kind}] where = {source.where!r} is not a "
                                 f"valid pandas query ({exc})") from None
    else:
        gdf, enc = _read_gdal(path, source, kind)
    if gdf.geometry.name != "geometry":
        gdf = gdf.rename_geometry("geometry")
    if len(gdf) == 0 and source.where and kind not in ("buildings", "villages", "township"):
        # a filter that keeps nothing of a layer that has features is a mistake, not an
        # empty layer (roads filtered away leave areas that ignore every road)
        try:
            total = int(pyogrio.read_info(path, layer=source.layer or None)["features"]) \
                if path.suffix.lower() not in (".csv", ".txt") else 1
        except Exception:  # noqa: BLE001 - the count is only for the message
            total = 1
        if total:  # a warning, not an error: all rail underground is a real case (the demo)
            log.warning("%s: [layers.%s] where = %r leaves 0 of %d features: check the column "
                        "and the value it compares with (e.g. a text column holding "
                        "'True'/'False', not 0/1)", where, kind, source.where, total)
    if len(gdf) == 0 and kind in ("buildings", "villages", "township"):
        if source.where:
            raise InputError(f"{where}: [layers.{kind}] where = {source.where!r} leaves 0 "
                             f"features: check the column and the value it compares with")
        raise InputError(f"{where}: the {kind} layer has no features (0 rows); export it "
                         f"again from the source, or point path/layer at the right one")
    if source.crs:
        declared = parse_crs(source.crs, where=f"[layers.{kind}].crs")
        if gdf.crs is None:
            gdf = gdf.set_crs(declared)
        elif not CRS(gdf.crs).equals(declared):
            log.warning("%s: file says %s, [layers.%s].crs says %s; using the TOML value",
                        where, CRS(gdf.crs).to_string(), kind, declared.to_string())
            gdf = gdf.set_crs(declared, allow_override=True)
    if gdf.crs is None:
        from pucha.gis.crs import check_coordinates

        check_coordinates(gdf, where=where, kind=kind)  # raises with how to fix
    if source.gcj02:
        gdf = _from_gcj02(gdf, where, kind)
    problems = _mojibake_problems(gdf, where, kind, enc)
    raw_crs = gdf.crs
    raw_bounds = (tuple(map(float, shapely.total_bounds(gdf.geometry.values)))
                  if len(gdf) else None)
    if crs is not None:
        gdf = to_crs_checked(gdf, crs, where=where, kind=kind)
    else:
        from pucha.gis.crs import check_coordinates

        check_coordinates(gdf, where=where, kind=kind)
    gdf.attrs["pucha_problems"] = problems
    gdf.attrs["pucha_source"] = str(path)
    gdf.attrs["pucha_encoding"] = enc
    gdf.attrs["pucha_raw_crs"] = raw_crs
    gdf.attrs["pucha_raw_bounds"] = raw_bounds
    return gdf


def _from_gcj02(gdf: gpd.GeoDataFrame, where: str, kind: str) -> gpd.GeoDataFrame:
    from pucha.gis.crs import check_coordinates
    from pucha.gis.gcj02 import gcj02_to_wgs84

    if not CRS(gdf.crs).is_geographic:
        raise CRSError(f"{where}: gcj02 = true needs longitude/latitude degrees, but the layer "
                       f"is in {CRS(gdf.crs).to_string()}; set crs = \"EPSG:4326\" in "
                       f"[layers.{kind}] or drop gcj02")
    check_coordinates(gdf, where=where, kind=kind)

    def conv(xy: np.ndarray) -> np.ndarray:
        lon, lat = gcj02_to_wgs84(xy[:, 0], xy[:, 1])
        return np.column_stack([lon, lat])

    out = gdf.copy()
    out["geometry"] = shapely.transform(gdf.geometry.values, conv)
    return out.set_crs("EPSG:4326", allow_override=True)

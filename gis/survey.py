"""``pucha init``: look at the files a planning office hands over and write a project TOML.

:func:`survey` inspects each file (every layer: geometry type, feature count, CRS,
text encoding, fields with sample values, whether it looks GCJ-02-shifted) and guesses
what each layer is (buildings, 居/村, 街镇, neighbours, roads, water, railways, walls,
or a population totals table) from its name, geometry and columns.
:func:`project_toml` writes the commented project file ``pucha import`` reads, with
the field mapping it guessed (the same aliases the import uses, so the file says what
will happen); every guess is a comment a user can check and correct.

Sample values are masked with :func:`pucha.gis.privacy.mask_text`: the TOML never
holds a resident's name, ID or phone number.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyogrio
import shapely

from pucha.errors import InputError

__all__ = ["LayerSurvey", "survey", "project_toml", "guess_kind"]

log = logging.getLogger(__name__)

_KIND_WORDS = {
    "buildings": ("building", "buildings", "建筑", "房屋", "楼栋", "楼", "bldg", "house"),
    "villages": ("village", "villages", "居委", "村委", "居村", "社区", "普查区", "cun"),
    "township": ("township", "街道", "街镇", "乡镇", "镇界", "town"),
    "neighbours": ("neighbour", "neighbours", "neighbor", "相邻", "周边", "邻"),
    "roads": ("road", "roads", "道路", "路网", "street", "highway"),
    "water": ("water", "水系", "河流", "河道", "水域", "river", "lake"),
    "railways": ("rail", "railway", "railways", "铁路", "轨道", "地铁"),
    "walls": ("wall", "walls", "围墙", "围栏", "fence"),
}
_ORDER = ("buildings", "villages", "township", "neighbours", "roads", "water", "railways",
          "walls")


@dataclass
class LayerSurvey:
    """What :func:`survey` found in one layer of one file."""

    path: Path
    layer: str
    n_layers: int
    geometry: str
    features: int
    crs: str
    encoding: str
    fields: dict[str, list[str]] = field(default_factory=dict)
    kind: str = ""
    why: str = ""
    gcj02_hint: str = ""
    where: str = ""


def _samples(path: Path, layer: str | None, columns: list[str], enc: str | None
             ) -> tuple[dict[str, list[str]], object]:
    from pucha.gis.privacy import mask_text

    kw = {"encoding": enc.upper()} if enc and path.suffix.lower() == ".shp" else {}
    df = pyogrio.read_dataframe(path, layer=layer, max_features=200, **kw)
    out: dict[str, list[str]] = {}
    for c in columns:
        vals = []
        for v in df[c].tolist() if c in df.columns else []:
            s = "" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v).strip()
            if s and s not in vals:
                vals.append(mask_text(s)[0][:30])
            if len(vals) == 3:
                break
        out[c] = vals
    return out, df


def guess_kind(path: Path, layer: str, geometry: str, columns: list[str], n: int
               ) -> tuple[str, str]:
    """(kind, why) of a layer from its name, geometry type and columns."""
    for names in (layer.lower(), path.stem.lower()):   # the layer's own name first
        if not names:
            continue
        for kind in _ORDER:
            if any(w in names for w in _KIND_WORDS[kind]):
                if kind == "villages" and "building" in names:
                    continue
                return kind, f"its name ({names}) says {kind}"
    cols = " ".join(columns)
    poly = "Polygon" in geometry
    if poly and re.search("居委会代码|村委会代码|居村代码|居委会名称", cols):
        return "villages", "polygons with a 居/村 code column"
    if poly and re.search("街道代码|街镇代码|乡镇代码", cols):
        return ("township" if n == 1 else "neighbours"), "polygons with a 街镇 code column"
    if poly and n > 20:
        return "buildings", f"{n} polygons"
    if "Line" in geometry:
        if re.search("道路|highway|road|fclass", cols, re.IGNORECASE):
            return "roads", "lines with a road class column"
        return "roads", "lines"
    return "", "not recognised"


def _read_layers(path: Path) -> list[tuple[str, str]]:
    try:
        return [(str(a), str(b)) for a, b in pyogrio.list_layers(path)]
    except Exception as exc:  # noqa: BLE001 - any GDAL failure: say which file
        raise InputError(f"{path}: not a readable GIS file ({exc})") from None


def _gcj02_hint(df: object, crs: str) -> str:
    """A hint when a lon/lat layer lies in China (GCJ-02 cannot be told from the file
    alone: pucha import compares it with the 居/村 and warns)."""
    try:
        import geopandas as gpd

        g = df if isinstance(df, gpd.GeoDataFrame) else None
        if g is None or g.crs is None or not g.crs.is_geographic or not len(g):
            return ""
        from pucha.gis.gcj02 import in_china

        c = shapely.centroid(shapely.union_all(g.geometry.values[:50]))
        if bool(in_china(c.x, c.y)):
            return ("longitude/latitude in China: if these were digitised on AMap/Gaode or "
                    "Tencent maps they are GCJ-02: then add gcj02 = true")
    except Exception:  # noqa: BLE001 - a hint only
        return ""
    return ""


def survey(paths: list[Path]) -> tuple[list[LayerSurvey], list[Path]]:
    """Inspect the handed-over files: (layers found, CSV tables that look like totals)."""
    from pucha.gis.read import _dbf_text_bytes, _sibling, score_encodings

    layers: list[LayerSurvey] = []
    tables: list[Path] = []
    for path in sorted(Path(p) for p in paths):
        if not path.exists():
            raise InputError(f"{path}: file not found")
        if path.suffix.lower() in (".shx", ".dbf", ".prj", ".cpg", ".qmd", ".xml", ".sbn",
                                   ".sbx", ".txt", ".md", ".toml"):
            continue
        if path.suffix.lower() == ".csv":
            head = path.read_bytes()[:4000]
            enc = score_encodings(head)[0]
            text = head.decode(enc, errors="replace")
            if re.search("人口|population", text, re.IGNORECASE) and not re.search(
                    "wkt|geometry|经度|lon", text, re.IGNORECASE):
                tables.append(path)
                continue
        enc, why = "", ""
        if path.suffix.lower() == ".shp":
            cpg = _sibling(path, ".cpg")
            dbf = _sibling(path, ".dbf")
            if cpg is not None:
                enc, why = cpg.read_text(errors="replace").strip().lower(), ".cpg says so"
            elif dbf is not None:
                enc, why, _doubt = score_encodings(_dbf_text_bytes(dbf))
        names = _read_layers(path)
        for lname, gtype in names:
            info = pyogrio.read_info(path, layer=lname,
                                     **({"encoding": enc.upper()} if enc and path.suffix.lower()
                                        == ".shp" else {}))
            cols = [str(c) for c in info["fields"]]
            samples, df = _samples(path, lname, cols, enc or None)
            crs = str(info.get("crs") or "")
            kind, kwhy = guess_kind(path, lname if len(names) > 1 else "", str(gtype), cols,
                                    int(info["features"]))
            ls = LayerSurvey(path=path, layer=lname, n_layers=len(names), geometry=str(gtype),
                             features=int(info["features"]), crs=crs,
                             encoding=f"{enc} ({why})" if enc else "", fields=samples,
                             kind=kind, why=kwhy, gcj02_hint=_gcj02_hint(df, crs))
            if "is_tunnel" in cols and kind in ("roads", "railways"):
                ls.where = _tunnel_filter(df["is_tunnel"] if "is_tunnel" in df else None)
            layers.append(ls)
    return layers, tables


def _tunnel_filter(values) -> str:
    """A ``where`` that leaves tunnels out (no boundary on the ground), by the column's type:
    0/1 integers (the demo), or OSM/Tilezen text ('True' or empty)."""
    import pandas as pd

    if values is not None and pd.api.types.is_numeric_dtype(values):
        return "is_tunnel IS NULL OR is_tunnel = 0"
    return "is_tunnel IS NULL OR is_tunnel NOT IN ('True', 'true', 'yes', '1')"


def _q(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def project_toml(layers: list[LayerSurvey], tables: list[Path], *, base: Path,
                 gpkg: str = "project.gpkg") -> str:
    """The commented project TOML for the surveyed files (paths relative to ``base``)."""
    from pucha.gis.fields import resolve_fields

    def rel(p: Path) -> str:
        try:
            return Path(p).resolve().relative_to(base.resolve()).as_posix()
        except ValueError:
            return Path(p).resolve().as_posix()

    chosen: dict[str, LayerSurvey] = {}
    for ls in layers:
        if ls.kind and ls.kind not in chosen:
            chosen[ls.kind] = ls
    name, code = "", ""
    t = chosen.get("township")
    out = ["# pucha project file written by `pucha init` from the files below. Every line",
           "# is a guess to CHECK: the layer kinds, the field mapping (model field = source",
           "# column) and the population method. Then run: pucha import <this file>.",
           "# Reference of every key: docs/project-file.md", ""]
    if t is not None:
        for c, vals in t.fields.items():
            if re.search("代码|code", c, re.IGNORECASE) and vals:
                code = vals[0]
            if re.search("名称|name", c, re.IGNORECASE) and vals:
                name = vals[0]
    out += ["[project]", f"name = {_q(name)}" + ("" if name else "               # 街镇 name"),
            f"township_code = {_q(code)}" + ("" if code else "      # 9-digit 街镇 code"),
            f"gpkg = {_q(gpkg)}", ""]
    for ls in layers:
        mark = "" if ls.kind and chosen.get(ls.kind) is ls else "# "
        out.append(f"# {rel(ls.path)}" + (f" layer {ls.layer}" if ls.n_layers > 1 else "")
                   + f": {ls.features} {ls.geometry} feature(s), CRS {ls.crs or 'NONE (set crs)'}"
                   + (f", text {ls.encoding}" if ls.encoding else ""))
        out.append(f"#   kind: {ls.kind or '?'} ({ls.why})")
        for c, vals in ls.fields.items():
            out.append(f"#   {c}: {', '.join(vals) if vals else '(empty)'}")
        if ls.gcj02_hint:
            out.append(f"#   {ls.gcj02_hint}")
        if not ls.kind:
            out.append("#   not used: give it a [layers.<kind>] section if it is needed")
            out.append("")
            continue
        out.append(f"{mark}[layers.{ls.kind}]")
        out.append(f"{mark}path = {_q(rel(ls.path))}")
        if ls.n_layers > 1:
            out.append(f"{mark}layer = {_q(ls.layer)}")
        if not ls.crs:
            out.append(f"{mark}crs = \"EPSG:4549\"              # the file has none: CHECK")
        if ls.where:
            out.append(f"{mark}where = {_q(ls.where)}     # tunnels are no boundary on the ground")
        mapping = resolve_fields(list(ls.fields), ls.kind)
        if mapping:
            items = ", ".join(f"{k} = {_q(v)}" for k, v in mapping.items())
            out.append(f"{mark}fields = {{ {items} }}")
        out.append("")
    out.append("[population]")
    if tables:
        out += ['method = "totals"                # people per 居/村 shared by floor area',
                f"totals = {_q(rel(tables[0]))}",
                'totals_level = "village"',
                "floor_height_m = 3.0",
                "default_floors = 3.0             # floors of a building with no height or "
                "floors: CHECK"]
    else:
        b = chosen.get("buildings")
        m = resolve_fields(list(b.fields), "buildings") if b else {}
        method = "given" if "population" in m else "dwellings" if "dwellings" in m else "totals"
        out.append(f"method = {_q(method)}" + ("" if method != "totals" else
                                               "   # no population column: give totals = ..."))
    out += ["", "[partition]", "target = 300", "min = 240", "max = 360", "seed = 0", ""]
    return "\n".join(out)

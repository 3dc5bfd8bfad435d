"""The bad-input corpus: real-world defects in the files a planning office sends.

Each case is a small project folder (a ``project.toml`` plus its source files)
written deterministically by one generator function below; the EXPECTED outcome
of importing it (a clear error, or problem rows plus a correct result) lives in
``cases.toml`` beside this file, keyed by the same case name.

The base project every case mutates (EPSG:4549 metres, drawn; origin near 盈浦街道)::

      y=600 +-----------------+-----------------+
            |  310118002003   |  310118002004   |
            |  城北社区居委会  |  龙威社区居委会  |   9 buildings per 居/村,
            |   # # #         |   # # #         |   3 x 3 grid, 20 m x 12 m,
      y=300 +-------城中路-----+-----------------+   34 people each (306 per 居/村),
            |  310118002001   |  310118002002   |   6 floors, 住宅.
            |  庆华社区居委会  |  庆新社区居委会  |   ids JZ0001..JZ0036,
            |   # # #   青安路 |   # # #         |   village order 001, 002, 003, 004.
      y=0   +-----------------+-----------------+
           x=0              x=300             x=600      township 310118002 盈浦街道

Usage: ``python tests/corpus/make_corpus.py OUT_DIR [CASE ...]`` (writes
OUT_DIR/<case>/project.toml), or from Python ``make_case(name, folder) -> Path``.
"""

from __future__ import annotations

import json
import math
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import tomli_w
from shapely import affinity
from shapely.geometry import LineString, MultiPolygon, Point, Polygon, box

__all__ = ["CASES", "make_case", "make_all", "base_frames", "X0", "Y0", "WORK_CRS",
           "TOWNSHIP_CODE", "VILLAGES", "N_BUILDINGS", "PEOPLE_PER_BUILDING"]

WORK_CRS = "EPSG:4549"
X0, Y0 = 604000.0, 3448000.0          # EPSG:4549 metres, about 121.09 E 31.15 N (青浦)
TOWNSHIP_CODE = "310118002"
TOWNSHIP_NAME = "盈浦街道"
VILLAGES = [  # code, name, (col, row) in the 2 x 2 grid
    ("310118002001", "庆华社区居委会", (0, 0)),
    ("310118002002", "庆新社区居委会", (1, 0)),
    ("310118002003", "城北社区居委会", (0, 1)),
    ("310118002004", "龙威社区居委会", (1, 1)),
]
SIDE = 300.0
PEOPLE_PER_BUILDING = 34
N_BUILDINGS = 36

# model field -> source column, as the TOML [layers.X] fields table says it
FIELDS = {
    "buildings": {"id": "id", "name": "name", "use": "use", "floors": "floors",
                  "population": "population"},
    "villages": {"village_code": "code", "name": "name"},
    "township": {"code": "code", "name": "name"},
    "roads": {"road_id": "id", "name": "name", "road_class": "kind"},
}

HERE = Path(__file__).resolve().parent
CaseFn = Callable[["Case"], None]
CASES: dict[str, CaseFn] = {}


def case(name: str) -> Callable[[CaseFn], CaseFn]:
    def deco(fn: CaseFn) -> CaseFn:
        if name in CASES:
            raise ValueError(f"duplicate corpus case {name}")
        CASES[name] = fn
        return fn
    return deco


# --------------------------------------------------------------------------- base data
def _bid(i: int) -> str:
    return f"JZ{i:04d}"


def base_frames(crs: str = "EPSG:4326") -> dict[str, gpd.GeoDataFrame]:
    """The clean base project as GeoDataFrames (converted to ``crs``)."""
    vrows, brows = [], []
    n = 0
    for code, name, (cx, cy) in VILLAGES:
        x, y = X0 + cx * SIDE, Y0 + cy * SIDE
        vrows.append({"code": code, "name": name, "geometry": box(x, y, x + SIDE, y + SIDE)})
        for j in range(3):
            for i in range(3):
                n += 1
                bx, by = x + 60 + 90 * i, y + 60 + 90 * j
                brows.append({
                    "id": _bid(n), "name": f"{name[:2]}{n}号楼", "use": "住宅",
                    "floors": 6, "population": PEOPLE_PER_BUILDING,
                    "geometry": box(bx, by, bx + 20, by + 12),
                })
    township = [{"code": TOWNSHIP_CODE, "name": TOWNSHIP_NAME,
                 "geometry": box(X0, Y0, X0 + 2 * SIDE, Y0 + 2 * SIDE)}]
    roads = [
        {"id": "R1", "name": "青安路", "kind": "major",
         "geometry": LineString([(X0 + SIDE, Y0 - 20), (X0 + SIDE, Y0 + 2 * SIDE + 20)])},
        {"id": "R2", "name": "城中路", "kind": "minor",
         "geometry": LineString([(X0 - 20, Y0 + SIDE), (X0 + 2 * SIDE + 20, Y0 + SIDE)])},
    ]
    out = {
        "township": gpd.GeoDataFrame(township, crs=WORK_CRS),
        "villages": gpd.GeoDataFrame(vrows, crs=WORK_CRS),
        "buildings": gpd.GeoDataFrame(brows, crs=WORK_CRS),
        "roads": gpd.GeoDataFrame(roads, crs=WORK_CRS),
    }
    return {k: v.to_crs(crs) for k, v in out.items()}


class Case:
    """A project folder under construction: frames to write, TOML to emit."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.frames = base_frames("EPSG:4326")
        # layer kind -> (file name, TOML layer table); None = written by the case itself
        self.files: dict[str, str] = {k: f"{k}.geojson" for k in self.frames}
        self.layer_opts: dict[str, dict[str, Any]] = {
            k: {"fields": dict(FIELDS[k])} for k in self.frames}
        self.toml: dict[str, Any] = {
            "project": {"name": TOWNSHIP_NAME, "township_code": TOWNSHIP_CODE,
                        "gpkg": "out/project.gpkg"},
        }
        self.custom: set[str] = set()     # layers the case writes itself

    @property
    def b(self) -> gpd.GeoDataFrame:
        return self.frames["buildings"]

    @b.setter
    def b(self, value: gpd.GeoDataFrame) -> None:
        self.frames["buildings"] = value

    def path(self, kind: str) -> Path:
        return self.folder / self.files[kind]

    def write(self) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        layers: dict[str, Any] = {}
        for kind, frame in self.frames.items():
            if frame is None:
                continue
            if kind not in self.custom:
                _write_geojson(frame, self.path(kind))
            layers[kind] = {"path": self.files[kind], **self.layer_opts.get(kind, {})}
        self.toml["layers"] = layers
        toml_path = self.folder / "project.toml"
        toml_path.write_bytes(tomli_w.dumps(self.toml).encode("utf-8"))
        return toml_path


def _write_geojson(frame: gpd.GeoDataFrame, path: Path) -> None:
    """Deterministic GeoJSON text (no GDAL timestamps, sorted keys off, 7 decimals)."""
    feats = []
    for _, row in frame.iterrows():
        props = {k: _jsonable(v) for k, v in row.items() if k != frame.geometry.name}
        geom = row[frame.geometry.name]
        feats.append({"type": "Feature", "properties": props,
                      "geometry": None if geom is None else _geo_interface(geom)})
    doc: dict[str, Any] = {"type": "FeatureCollection", "features": feats}
    path.write_text(json.dumps(doc, ensure_ascii=False, indent=None), encoding="utf-8")


def _geo_interface(geom: Any) -> dict[str, Any]:
    gi = json.loads(json.dumps(geom.__geo_interface__))

    def rnd(c: Any) -> Any:
        if isinstance(c, (list, tuple)) and c and isinstance(c[0], (int, float)):
            return [round(float(v), 8) for v in c]
        if isinstance(c, (list, tuple)):
            return [rnd(v) for v in c]
        return c
    if "coordinates" in gi:
        gi["coordinates"] = rnd(gi["coordinates"])
    return gi


def _jsonable(v: Any) -> Any:
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating, float)):
        f = float(v)
        return None if math.isnan(f) else f
    if v is pd.NA or v is None:
        return None
    return v


def _set(c: Case, bid: str, **values: Any) -> None:
    """Set attributes of building ``bid`` (object dtype so text can go in)."""
    b = c.b
    for k, v in values.items():
        if k in b.columns and b[k].dtype != object:
            b[k] = b[k].astype(object)
        b.loc[b["id"] == bid, k] = v


def _to_metric(c: Case) -> None:
    c.frames = {k: v.to_crs(WORK_CRS) for k, v in c.frames.items()}


def _write_gpkg(frame: gpd.GeoDataFrame, path: Path, layer: str) -> None:
    """A GeoPackage with a fixed timestamp (byte-identical on every generation)."""
    old = pyogrio.get_gdal_config_option("OGR_CURRENT_DATE")
    pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": "2026-01-01T00:00:00.000Z"})
    try:
        pyogrio.write_dataframe(frame, path, layer=layer, driver="GPKG", promote_to_multi=False)
    finally:
        pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": old})


def _write_shp(frame: gpd.GeoDataFrame, path: Path, *, encoding: str = "UTF-8",
               cpg: str | None = "keep", ldid: int | None = 0) -> None:
    """A shapefile with a chosen text encoding; ``cpg``: "keep", None (delete), or text."""
    pyogrio.write_dataframe(frame, path, driver="ESRI Shapefile", encoding=encoding)
    cpg_path = path.with_suffix(".cpg")
    if cpg is None:
        cpg_path.unlink(missing_ok=True)
    elif cpg != "keep":
        cpg_path.write_text(cpg, encoding="ascii")
    if ldid is not None:   # the dBASE language-driver byte: 0 = "not said", as many tools write
        dbf = path.with_suffix(".dbf")
        data = bytearray(dbf.read_bytes())
        data[29] = ldid
        dbf.write_bytes(bytes(data))


# --------------------------------------------------------------------------- the clean base
@case("clean_base")
def _clean(c: Case) -> None:
    """The unmodified base project: imports with no error and no warning."""


# --------------------------------------------------------------------------- files and text
@case("zero_byte_buildings")
def _zero(c: Case) -> None:
    c.custom.add("buildings")
    c.path("buildings").parent.mkdir(parents=True, exist_ok=True)
    c.path("buildings").write_bytes(b"")


@case("truncated_geojson")
def _trunc_geojson(c: Case) -> None:
    c.custom.add("buildings")
    c.folder.mkdir(parents=True, exist_ok=True)
    _write_geojson(c.b, c.path("buildings"))
    data = c.path("buildings").read_bytes()
    c.path("buildings").write_bytes(data[: len(data) // 2])


@case("truncated_gpkg")
def _trunc_gpkg(c: Case) -> None:
    c.custom.add("buildings")
    c.files["buildings"] = "buildings.gpkg"
    c.layer_opts["buildings"].update({"layer": "buildings"})
    c.folder.mkdir(parents=True, exist_ok=True)
    _write_gpkg(c.b, c.path("buildings"), "buildings")
    data = c.path("buildings").read_bytes()
    c.path("buildings").write_bytes(data[: len(data) // 3])


@case("truncated_shp")
def _trunc_shp(c: Case) -> None:
    c.custom.add("buildings")
    c.files["buildings"] = "buildings.shp"
    c.folder.mkdir(parents=True, exist_ok=True)
    _write_shp(c.b, c.path("buildings"))
    data = c.path("buildings").read_bytes()
    c.path("buildings").write_bytes(data[: len(data) // 2 + 7])


@case("shp_missing_shx")
def _no_shx(c: Case) -> None:
    c.custom.add("buildings")
    c.files["buildings"] = "buildings.shp"
    c.folder.mkdir(parents=True, exist_ok=True)
    _write_shp(c.b, c.path("buildings"))
    c.path("buildings").with_suffix(".shx").unlink()


@case("shp_missing_dbf")
def _no_dbf(c: Case) -> None:
    c.custom.add("buildings")
    c.files["buildings"] = "buildings.shp"
    c.folder.mkdir(parents=True, exist_ok=True)
    _write_shp(c.b, c.path("buildings"))
    c.path("buildings").with_suffix(".dbf").unlink()


@case("shp_gbk_no_cpg")
def _gbk(c: Case) -> None:
    """居/村 and building names in GBK, no .cpg, dBASE language byte 0 (as ArcGIS 9 wrote)."""
    for kind in ("villages", "buildings"):
        c.custom.add(kind)
        c.files[kind] = f"{kind}.shp"
        c.folder.mkdir(parents=True, exist_ok=True)
        _write_shp(c.frames[kind], c.path(kind), encoding="GBK", cpg=None)


@case("shp_utf8_wrong_cpg")
def _wrong_cpg(c: Case) -> None:
    """UTF-8 text but a .cpg claiming GBK (someone copied the .cpg of another file)."""
    for kind in ("villages", "buildings"):
        c.custom.add(kind)
        c.files[kind] = f"{kind}.shp"
        c.folder.mkdir(parents=True, exist_ok=True)
        _write_shp(c.frames[kind], c.path(kind), encoding="UTF-8", cpg="GBK")


def _csv_buildings(c: Case, *, columns: dict[str, str] | None = None, encoding: str = "utf-8",
                   bom: bool = False, extra: dict[str, list[Any]] | None = None) -> None:
    """Write buildings as a CSV with a WKT column (EPSG:4326) and point the TOML at it."""
    c.custom.add("buildings")
    c.files["buildings"] = "buildings.csv"
    b = c.b
    df = pd.DataFrame({k: b[k] for k in b.columns if k != "geometry"})
    if columns:
        df = df.rename(columns=columns)
        fields = c.layer_opts["buildings"]["fields"]
        for k, v in list(fields.items()):
            fields[k] = columns.get(v, v)
    for k, v in (extra or {}).items():
        df[k] = v
    df["WKT"] = [g.wkt for g in b.geometry.set_precision(1e-8)]
    c.folder.mkdir(parents=True, exist_ok=True)
    text = df.to_csv(index=False, lineterminator="\r\n")
    data = text.encode(encoding)
    if bom:
        data = b"\xef\xbb\xbf" + data
    c.path("buildings").write_bytes(data)
    c.layer_opts["buildings"].update({"wkt": "WKT", "crs": "EPSG:4326"})


@case("csv_excel_bom")
def _bom(c: Case) -> None:
    """Excel's "CSV UTF-8": a BOM glued to the first header, CRLF lines, Chinese headers."""
    _csv_buildings(c, bom=True, columns={"id": "编号", "name": "建筑名称", "use": "用途",
                                         "floors": "层数", "population": "人口"})


@case("csv_gbk_no_encoding")
def _csv_gbk(c: Case) -> None:
    """A CSV saved by Excel on a Chinese Windows PC: GBK, no BOM, no encoding declared."""
    _csv_buildings(c, encoding="gbk", columns={"id": "编号", "name": "建筑名称", "use": "用途",
                                               "floors": "层数", "population": "人口"})
    del c.layer_opts["buildings"]["fields"]      # Chinese headers map out of the box


@case("csv_xy_columns")
def _csv_xy(c: Case) -> None:
    """Buildings as points in x/y columns (a register with coordinates, no footprints)."""
    c.custom.add("buildings")
    c.files["buildings"] = "buildings.csv"
    b = c.b
    df = pd.DataFrame({k: b[k] for k in b.columns if k != "geometry"})
    cent = b.geometry.to_crs(WORK_CRS).centroid.to_crs("EPSG:4326")
    df["lon"] = cent.x.round(7)
    df["lat"] = cent.y.round(7)
    c.folder.mkdir(parents=True, exist_ok=True)
    c.path("buildings").write_text(df.to_csv(index=False), encoding="utf-8")
    c.layer_opts["buildings"].update({"x": "lon", "y": "lat", "crs": "EPSG:4326"})


@case("fullwidth_codes")
def _fullwidth(c: Case) -> None:
    """居/村 codes typed with full-width digits (３１０１１８…) in an IME."""
    fw = str.maketrans("0123456789", "０１２３４５６７８９")
    c.frames["villages"]["code"] = [s.translate(fw) for s in c.frames["villages"]["code"]]


@case("codes_as_float")
def _codes_float(c: Case) -> None:
    """Codes stored as numbers (310118002001.0), as a spreadsheet round trip leaves them."""
    c.frames["villages"]["code"] = [float(s) for s in c.frames["villages"]["code"]]


@case("codes_lost_leading_zeros")
def _codes_lost_zeros(c: Case) -> None:
    """The 居/村 code column holds the 3-digit sequence stored as a number: 001 -> 1."""
    c.frames["villages"]["code"] = [int(s[-3:]) for s in c.frames["villages"]["code"]]


@case("codes_excel_scientific")
def _codes_sci(c: Case) -> None:
    """Excel turned the codes into 3.10118E+11: digits are gone for good."""
    c.frames["villages"]["code"] = ["3.10118E+11"] * len(c.frames["villages"])


# --------------------------------------------------------------------------- coordinates
@case("latlon_swapped")
def _swapped(c: Case) -> None:
    """Buildings with (lat, lon) instead of (lon, lat) in a GeoJSON."""
    c.b = c.b.set_geometry(c.b.geometry.map(lambda g: affinity.affine_transform(
        g, [0, 1, 1, 0, 0, 0])))


@case("projected_as_degrees")
def _proj_deg(c: Case) -> None:
    """Metric EPSG:4549 coordinates written into a GeoJSON (which means EPSG:4326)."""
    c.b = c.b.to_crs(WORK_CRS).set_crs("EPSG:4326", allow_override=True)


@case("gcj02_as_wgs84")
def _gcj(c: Case) -> None:
    """Buildings digitised on an AMap (GCJ-02) basemap but declared WGS84: ~500 m off."""
    from pucha.gis.gcj02 import wgs84_to_gcj02

    def shift(g: Any) -> Any:
        from shapely import transform
        return transform(g, lambda xy: np.column_stack(wgs84_to_gcj02(xy[:, 0], xy[:, 1])))
    c.b = c.b.set_geometry(c.b.geometry.map(shift))


@case("gcj02_declared")
def _gcj_declared(c: Case) -> None:
    """The same GCJ-02 buildings, declared with gcj02 = true: imported in place."""
    _gcj(c)
    c.layer_opts["buildings"].update({"gcj02": True})


@case("zone_prefix_eastings")
def _zone_prefix(c: Case) -> None:
    """Eastings with the 3-degree zone number in front (40604887 m) labelled EPSG:4549."""
    c.b = c.b.to_crs("EPSG:4528").set_crs(WORK_CRS, allow_override=True)
    c.custom.add("buildings")
    c.files["buildings"] = "buildings.gpkg"
    c.layer_opts["buildings"].update({"layer": "buildings"})
    c.folder.mkdir(parents=True, exist_ok=True)
    _write_gpkg(c.b, c.path("buildings"), "buildings")


@case("no_crs_shapefile")
def _no_crs(c: Case) -> None:
    """A shapefile without .prj (metric coordinates) and no crs in the TOML."""
    c.b = c.b.to_crs(WORK_CRS)
    c.custom.add("buildings")
    c.files["buildings"] = "buildings.shp"
    c.folder.mkdir(parents=True, exist_ok=True)
    _write_shp(c.b, c.path("buildings"))
    c.path("buildings").with_suffix(".prj").unlink()


@case("no_crs_declared_in_toml")
def _no_crs_ok(c: Case) -> None:
    """The same shapefile without .prj, with crs = "EPSG:4549" in the TOML: imports fine."""
    _no_crs(c)
    c.layer_opts["buildings"].update({"crs": WORK_CRS})


@case("web_mercator_source")
def _webmerc(c: Case) -> None:
    """Buildings in EPSG:3857 (a web-map export), correctly labelled: reprojected."""
    c.b = c.b.to_crs("EPSG:3857")
    c.custom.add("buildings")
    c.files["buildings"] = "buildings.gpkg"
    c.layer_opts["buildings"].update({"layer": "buildings"})
    c.folder.mkdir(parents=True, exist_ok=True)
    _write_gpkg(c.b, c.path("buildings"), "buildings")


# --------------------------------------------------------------------------- geometries
def _metric_geom(c: Case, bid: str, geom: Any) -> None:
    """Replace building ``bid``'s footprint by ``geom`` given in EPSG:4549 metres."""
    g4326 = gpd.GeoSeries([geom], crs=WORK_CRS).to_crs("EPSG:4326").iloc[0]
    b = c.b
    b.loc[b["id"] == bid, "geometry"] = g4326


def _origin(c: Case, bid: str) -> tuple[float, float]:
    g = gpd.GeoSeries(c.b.loc[c.b["id"] == bid, "geometry"], crs="EPSG:4326").to_crs(WORK_CRS)
    minx, miny, _, _ = g.iloc[0].bounds
    return minx, miny


@case("self_intersecting_footprint")
def _bowtie(c: Case) -> None:
    x, y = _origin(c, "JZ0005")
    _metric_geom(c, "JZ0005", Polygon([(x, y), (x + 20, y + 12), (x + 20, y), (x, y + 12)]))


@case("zero_area_footprint")
def _zero_area(c: Case) -> None:
    """JZ0006's vertices all on one parallel: exactly zero area as delivered."""
    b = c.b
    i = b.index[b["id"] == "JZ0006"][0]
    minx, miny, maxx, _ = b.loc[i, "geometry"].bounds
    b.loc[i, "geometry"] = Polygon([(minx, miny), ((minx + maxx) / 2, miny), (maxx, miny),
                                    (minx, miny)])


@case("duplicated_vertices")
def _dup_vertex(c: Case) -> None:
    x, y = _origin(c, "JZ0007")
    _metric_geom(c, "JZ0007", Polygon([(x, y), (x, y), (x + 20, y), (x + 20, y), (x + 20, y + 12),
                                       (x, y + 12), (x, y + 12)]))


@case("multipart_footprint")
def _multipart(c: Case) -> None:
    x, y = _origin(c, "JZ0008")
    _metric_geom(c, "JZ0008", MultiPolygon([box(x, y, x + 9, y + 12), box(x + 11, y, x + 20, y + 12)]))


@case("null_geometry")
def _null(c: Case) -> None:
    c.b.loc[c.b["id"] == "JZ0009", "geometry"] = None


@case("mixed_geometry_types")
def _mixed(c: Case) -> None:
    """A point and a line among the footprints (someone's annotation layer merged in)."""
    x, y = _origin(c, "JZ0010")
    _metric_geom(c, "JZ0010", Point(x + 10, y + 6))
    x, y = _origin(c, "JZ0011")
    _metric_geom(c, "JZ0011", LineString([(x, y), (x + 20, y + 12)]))


@case("villages_as_lines")
def _vill_lines(c: Case) -> None:
    """居/村 boundaries delivered as lines (the CAD layer), not polygons."""
    v = c.frames["villages"]
    c.frames["villages"] = v.set_geometry(v.geometry.boundary)


@case("village_hole_enclave")
def _enclave(c: Case) -> None:
    """庆新 (002) has a hole; the hole is an enclave of 庆华 (001), holding JZ0014."""
    _to_metric(c)
    v = c.frames["villages"]
    b = c.b
    bx = b.loc[b["id"] == "JZ0014", "geometry"].iloc[0].buffer(15, join_style="mitre")
    i1 = v.index[v["code"] == "310118002001"][0]
    i2 = v.index[v["code"] == "310118002002"][0]
    v.loc[i2, "geometry"] = v.loc[i2, "geometry"].difference(bx)
    v.loc[i1, "geometry"] = MultiPolygon([v.loc[i1, "geometry"], bx])
    c.frames = {k: f.to_crs("EPSG:4326") for k, f in c.frames.items()}


@case("village_exclave_multipart")
def _exclave(c: Case) -> None:
    """城北 (003) is two pieces: its own square plus a detached strip inside the township hole."""
    _to_metric(c)
    v = c.frames["villages"]
    t = c.frames["township"]
    strip = box(X0 + 2 * SIDE, Y0, X0 + 2 * SIDE + 100, Y0 + SIDE)
    i3 = v.index[v["code"] == "310118002003"][0]
    v.loc[i3, "geometry"] = MultiPolygon([v.loc[i3, "geometry"], strip])
    t.loc[t.index[0], "geometry"] = t.geometry.iloc[0].union(strip)
    b = c.b
    extra = b.iloc[[0]].copy()
    extra["id"] = _bid(N_BUILDINGS + 1)
    extra["name"] = "飞地1号楼"
    extra["geometry"] = [box(X0 + 2 * SIDE + 40, Y0 + 100, X0 + 2 * SIDE + 60, Y0 + 112)]
    c.b = pd.concat([b, extra], ignore_index=True)
    c.frames = {k: f.to_crs("EPSG:4326") for k, f in c.frames.items()}


@case("villages_overlap")
def _overlap(c: Case) -> None:
    """庆新 (002) reaches 20 m into 庆华 (001): a strip counted twice."""
    _to_metric(c)
    v = c.frames["villages"]
    i2 = v.index[v["code"] == "310118002002"][0]
    v.loc[i2, "geometry"] = box(X0 + SIDE - 20, Y0, X0 + 2 * SIDE, Y0 + SIDE)
    c.frames = {k: f.to_crs("EPSG:4326") for k, f in c.frames.items()}


@case("villages_gap")
def _gap(c: Case) -> None:
    """龙威 (004) stops 20 m short of the township edge: an unclaimed strip."""
    _to_metric(c)
    v = c.frames["villages"]
    i4 = v.index[v["code"] == "310118002004"][0]
    v.loc[i4, "geometry"] = box(X0 + SIDE, Y0 + SIDE, X0 + 2 * SIDE - 20, Y0 + 2 * SIDE)
    c.frames = {k: f.to_crs("EPSG:4326") for k, f in c.frames.items()}


@case("building_outside_all_villages")
def _outside(c: Case) -> None:
    x, y = X0 + 2 * SIDE + 200, Y0 + 100
    _metric_geom(c, "JZ0012", box(x, y, x + 20, y + 12))


@case("building_straddles_two_villages")
def _straddle(c: Case) -> None:
    """JZ0003 (in 001) stretched across x=300 into 002: 15 m in 001, 25 m in 002."""
    _metric_geom(c, "JZ0003", box(X0 + SIDE - 15, Y0 + 60, X0 + SIDE + 25, Y0 + 72))


# --------------------------------------------------------------------------- attribute values
@case("population_approx_text")
def _pop_approx(c: Case) -> None:
    _set(c, "JZ0013", population="约300")


@case("population_dash")
def _pop_dash(c: Case) -> None:
    _set(c, "JZ0014", population="-")


@case("population_nan")
def _pop_nan(c: Case) -> None:
    _set(c, "JZ0015", population=float("nan"))


@case("population_1e9")
def _pop_1e9(c: Case) -> None:
    _set(c, "JZ0016", population=1e9)


@case("population_negative")
def _pop_neg(c: Case) -> None:
    _set(c, "JZ0017", population=-5)


@case("population_fractional")
def _pop_frac(c: Case) -> None:
    _set(c, "JZ0018", population=33.6)


@case("floors_zero")
def _floors0(c: Case) -> None:
    _set(c, "JZ0019", floors=0)


@case("floors_200")
def _floors200(c: Case) -> None:
    _set(c, "JZ0020", floors=200)


@case("use_non_residential_no_population")
def _use_nonres(c: Case) -> None:
    """JZ0007 用途 '非住宅' (holds the word 住宅) and no population."""
    _set(c, "JZ0007", use="非住宅", population=float("nan"))


@case("use_unknown_no_population")
def _use_unknown_nopop(c: Case) -> None:
    """JZ0008: neither a use nor a population."""
    _set(c, "JZ0008", use="", population=float("nan"))


@case("use_unknown_with_population")
def _use_unknown_pop(c: Case) -> None:
    """JZ0009: use 'yes' (an OSM-style value that says nothing), 34 people given."""
    _set(c, "JZ0009", use="yes")


@case("use_osm_english_values")
def _use_osm(c: Case) -> None:
    """JZ0010 'warehouse' (not a house) and JZ0011 'apartments', both without population."""
    _set(c, "JZ0010", use="warehouse", population=float("nan"))
    _set(c, "JZ0011", use="apartments", population=float("nan"))


# --------------------------------------------------------------------------- reference & size
@case("duplicate_building_ids")
def _dup_ids(c: Case) -> None:
    """Two different buildings both carry id JZ0021 (two offices' exports pasted together)."""
    _set(c, "JZ0022", id="JZ0021")


@case("building_id_repeated_across_files")
def _dup_across(c: Case) -> None:
    """Buildings delivered as two files merged into one GPKG with two layers... the office
    concatenated two exports: ids of the second restart at JZ0001 (same ids, other houses)."""
    b = c.b
    first = b.iloc[:18].copy()
    second = b.iloc[18:].copy()
    second["id"] = [_bid(i + 1) for i in range(len(second))]
    c.b = pd.concat([first, second], ignore_index=True)


@case("village_code_not_in_township")
def _foreign_code(c: Case) -> None:
    """One 居/村 carries a code of 香花桥街道 (310118003…), not of 盈浦街道 (310118002…)."""
    v = c.frames["villages"]
    v.loc[v["code"] == "310118002004", "code"] = "310118003004"


@case("duplicate_village_codes")
def _dup_village(c: Case) -> None:
    v = c.frames["villages"]
    v.loc[v["code"] == "310118002004", "code"] = "310118002003"


@case("empty_village")
def _empty_village(c: Case) -> None:
    """龙威 (004) has no building at all (a new development not yet built)."""
    ids = {_bid(i) for i in range(28, 37)}
    c.b = c.b[~c.b["id"].isin(ids)].reset_index(drop=True)


@case("one_building_5000_people")
def _big_building(c: Case) -> None:
    _set(c, "JZ0023", population=5000, floors=33)


@case("missing_population_field")
def _no_pop_field(c: Case) -> None:
    """The TOML maps population to a column that is not in the file (typo)."""
    c.layer_opts["buildings"]["fields"]["population"] = "人口数"


@case("layer_name_typo")
def _layer_typo(c: Case) -> None:
    c.custom.add("buildings")
    c.files["buildings"] = "buildings.gpkg"
    c.layer_opts["buildings"].update({"layer": "buildngs"})
    c.folder.mkdir(parents=True, exist_ok=True)
    _write_gpkg(c.b, c.path("buildings"), "buildings")


@case("missing_source_file")
def _missing_file(c: Case) -> None:
    c.custom.add("buildings")
    c.files["buildings"] = "楼栋/buildings.shp"


@case("html_instead_of_geojson")
def _html(c: Case) -> None:
    """A download that saved the portal's login page under buildings.geojson."""
    c.custom.add("buildings")
    c.folder.mkdir(parents=True, exist_ok=True)
    c.path("buildings").write_text("<!DOCTYPE html><html><body>请登录</body></html>",
                                   encoding="utf-8")


@case("unknown_toml_key")
def _toml_key(c: Case) -> None:
    c.toml["project"]["townshp_code"] = TOWNSHIP_CODE


@case("bad_wkt_row")
def _bad_wkt(c: Case) -> None:
    """One CSV row's WKT is cut short (POLYGON ((121.1 31.1, ...)."""
    _csv_buildings(c)
    text = c.path("buildings").read_bytes().decode("utf-8").split("\r\n")
    row = 1 + 24  # JZ0025
    assert text[row].startswith("JZ0025,")
    head, _, wkt = text[row].partition('"POLYGON')
    text[row] = head + '"POLYGON ((121.1 31.1, 121.2"'
    c.path("buildings").write_bytes("\r\n".join(text).encode("utf-8"))


# --------------------------------------------------------------------------- issue 15
def _register_more() -> None:
    """Cases in cases_text.py and cases_intake.py (issue 15): this module stays small."""
    import importlib.util

    for name in ("cases_text", "cases_intake"):
        spec = importlib.util.spec_from_file_location(f"pucha_corpus_{name}", HERE / f"{name}.py")
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        mod.register(sys.modules[__name__])


_register_more()


# --------------------------------------------------------------------------- driver
def make_case(name: str | list[str], folder: str | Path) -> Path:
    """Write corpus case ``name`` into ``folder`` (created) and return its project TOML.

    A list of names applies several defects in that order (e.g. hostile names, then the
    personal-data CSV that writes the buildings file).
    """
    folder = Path(folder)
    if folder.exists():
        shutil.rmtree(folder)
    c = Case(folder)
    for n in [name] if isinstance(name, str) else name:
        CASES[n](c)
    return c.write()


def make_all(root: str | Path, names: list[str] | None = None) -> dict[str, Path]:
    root = Path(root)
    return {n: make_case(n, root / n) for n in (names or sorted(CASES))}


if __name__ == "__main__":  # pragma: no cover
    if len(sys.argv) < 2:
        print(__doc__)
        sys.exit(2)
    for n, p in make_all(sys.argv[1], sys.argv[2:] or None).items():
        print(f"{n:40s} {p}")

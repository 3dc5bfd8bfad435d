"""Build the bundled demo data set (``pucha/data/demo/``) from real OpenStreetMap data.

Run from the repository root::

    /work/venv/bin/python -m pucha.data.build_demo            # writes pucha/data/demo/
    /work/venv/bin/python -m pucha.data.build_demo -o /tmp/x  # somewhere else

Source: ``../shared/data/osm/shanghai-lujiazui.gpkg`` (OpenStreetMap via a Tilezen
vector-tile dump, © OpenStreetMap contributors, ODbL 1.0), the 2020 census district
figures ``../shared/data/census/shanghai_districts_census2020.csv`` and the division
codes ``../shared/data/codes/shanghai_31_streets.csv``.

What it makes, in the shape a township planning office (规土所) hands data over
--------------------------------------------------------------------------------
Township (街道)
    The ``boundaries`` layer holds 18 district-boundary lines (``name:left`` /
    ``name:right``). With the extract's bounding box they are polygonized into faces;
    each face is labelled by the district names on its sides. The 黄浦区 face (the Bund
    side, west of the Huangpu river midline, south of Suzhou Creek) is the demo
    township. It carries the real code of 外滩街道 (310101013), which lies there; its
    outline is *derived* (district boundary + extract edge), not the official 外滩街道
    boundary (it also covers parts of 南京东路, 小东门 and 豫园街道). The other faces become
    ``neighbours`` with the codes of real 街道 lying there (陆家嘴街道, 北外滩街道,
    大桥街道), also labelled as derived.
居/村 (居委会)
    The township is cut by its major roads (OSM ``major_road`` without links and
    tunnels) and by water polygons (``shapely.polygonize``). Faces covered mostly by
    water, faces below :data:`MIN_FACE_M2` and faces with no residential building are
    merged into the neighbour sharing the longest border; then the face with the least
    residential floor area is merged likewise until :data:`MAX_VILLAGES` remain.
    Merging is a coverage union of polygonize faces, so the 居/村 tile the township
    exactly. Codes are the township code + 001.. (north to south, then west to east);
    names ``外滩演示一居委会`` ...; field ``说明`` says they are derived.
Buildings
    OSM ``kind == "building"`` footprints whose representative point lies in the
    township (``building_part`` features are 3D parts of a building already present and
    are left out). Residential (用途 = 住宅) when OSM ``kind_detail`` is a dwelling kind
    (apartments, residential, house, dormitory, ...); or when ``kind_detail`` is missing
    and the building lies in OSM residential land use; or (demo assumption for the
    untagged old fabric of Puxi: 里弄 and 新村 housing) when ``kind_detail`` and ``name``
    are missing, the building lies in no other land use and is at most
    :data:`LOWRISE_MAX_M` metres high or has no height. Other buildings get a Chinese
    用途 from ``kind_detail`` (商业, 办公, 酒店, ...) or 其他; 是否住宅 (是/否) states the
    decision explicitly, so no importer vocabulary has to guess it. 高度 is the OSM height in
    metres (on about half of them); 层数 is not in the source and is not invented:
    the importer derives floors as 高度 / 3 m, and the demo project sets 3 floors where
    the height is unknown (``[population] default_floors``).
Population (method "totals")
    Township total = 黄浦区 2020 census population (662,030) / its land area
    (:data:`HUANGPU_LAND_KM2` = 18.72 km²; 20.52 km² total minus 1.82 km² water, as given
    by the 黄浦区 article of Chinese Wikipedia, citing the district's official figures)
    x the township's land area (area minus OSM water polygons). This total is split
    over the 居/村 in proportion to their residential floor area (footprint x floors,
    floors = height / 3 m rounded, at least 1, else 3), largest-remainder rounding, so
    the people sit where the housing is; the importer then allocates each 居/村 total to
    its residential buildings by floor area.

Outputs are deterministic: GeoJSON, CSV, TOML and README are byte-identical between
runs; the GeoPackages get a fixed timestamp (``OGR_CURRENT_DATE``) and the Shapefile's
DBF header a fixed date, so they are byte-identical too. Files are written into a
staging folder and moved into place one by one (``os.replace``).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import logging
import math
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from shapely.geometry import box

__all__ = [
    "DemoSummary", "build_demo", "main", "DEMO_DIR", "TOWNSHIP_CODE", "TOWNSHIP_NAME",
    "HUANGPU_LAND_KM2", "HUANGPU_POPULATION", "WORK_CRS", "RESIDENTIAL_KINDS",
    "MAX_VILLAGES", "MIN_FACE_M2", "MIN_VILLAGE_SHARE", "MAX_VILLAGE_SHARE", "LOWRISE_MAX_M", "DERIVED_NOTE", "village_name",
]

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared" / "data"
DEMO_DIR = Path(__file__).resolve().parent / "demo"

WORK_CRS = "EPSG:4549"          # CGCS2000 / 3-degree Gauss-Kruger CM 120E
TOWNSHIP_CODE = "310101013"     # 外滩街道, 黄浦区 (shanghai_31_streets.csv)
TOWNSHIP_NAME = "外滩街道"
TOWNSHIP_DISTRICT = "黄浦区"
DISTRICT_CODE = "310101"
# 黄浦区 land area: 20.52 km² total, 18.72 km² land, 1.82 km² water (zh.wikipedia 黄浦区).
HUANGPU_LAND_KM2 = 18.72
HUANGPU_POPULATION = 662_030    # 7th census, shanghai_districts_census2020.csv, 人口数_合计
# Neighbouring faces: district -> (code, name) of a real 街道 lying in that face.
NEIGHBOUR_STREETS = {
    "浦东新区": ("310115005", "陆家嘴街道"),
    "虹口区": ("310109018", "北外滩街道"),
    "杨浦区": ("310110018", "大桥街道"),
}
DERIVED_NOTE = "演示用：由主要道路和水系派生，非官方边界"
TOWNSHIP_NOTE = "演示用：由区界与数据范围派生，非官方边界"
NEIGHBOUR_NOTE = "演示用：区界与数据范围围成的局部，非官方边界"

MAX_VILLAGES = 10
MIN_FACE_M2 = 10_000.0
MIN_VILLAGE_SHARE = 0.05       # of the township's residential floor area
MAX_VILLAGE_SHARE = 0.16
WATER_FACE_SHARE = 0.5
LOWRISE_MAX_M = 30.0
FLOOR_HEIGHT_M = 3.0
DEFAULT_FLOORS = 3.0
CONTEXT_M = 200.0               # roads / water kept this far around the township
FIXED_DATE = "2024-01-01T00:00:00.000Z"
DATA_DATE = "2024"

RESIDENTIAL_KINDS = ("apartments", "bungalow", "detached", "dormitory", "house",
                     "residential", "semidetached_house", "terrace")
USE_ZH = {
    "arts_centre": "公共文化", "attraction": "公共文化", "bank": "金融办公", "commercial": "商业",
    "communications_tower": "构筑物", "construction": "在建", "embassy": "办公",
    "hotel": "酒店", "mall": "商业", "office": "办公", "place_of_worship": "宗教",
    "retail": "商业", "school": "学校", "shed": "附属用房", "shop": "商业",
    "tower": "构筑物", "transportation": "交通",
}
MAJOR_DETAILS = ("trunk", "primary", "secondary", "tertiary")
STREET_DETAILS = ("residential", "unclassified", "living_street")
_CN_DIGITS = "零一二三四五六七八九"


def village_name(seq: int) -> str:
    """``外滩演示一居委会`` for 1, ``外滩演示十二居委会`` for 12.

    >>> village_name(1), village_name(10), village_name(12)
    ('外滩演示一居委会', '外滩演示十居委会', '外滩演示十二居委会')
    """
    if not 1 <= seq <= 99:
        raise ValueError(f"sequence {seq} out of range 1..99")
    tens, ones = divmod(seq, 10)
    num = ("" if tens == 0 else ("十" if tens == 1 else _CN_DIGITS[tens] + "十")) + \
        (_CN_DIGITS[ones] if ones else "")
    return f"外滩演示{num}居委会"


@dataclass(frozen=True)
class DemoSummary:
    """The demo's figures (written into README.md)."""

    n_buildings: int
    n_residential: int
    n_villages: int
    population: int
    land_km2: float
    township_km2: float
    residential_floor_m2: float
    n_crossing: int
    n_overlapping: int
    village_totals: tuple[tuple[str, str, int], ...]

    @property
    def expected_areas(self) -> int:
        return round(self.population / 300)


# ---------------------------------------------------------------------------- reading

def _read(source: Path, layer: str) -> gpd.GeoDataFrame:
    gdf = pyogrio.read_dataframe(source, layer=layer)
    return gdf.sort_values("id", kind="stable").reset_index(drop=True) if "id" in gdf else gdf


def _extract_box(source: Path) -> shapely.Polygon:
    """The extract's bounding box: the tile extent shared by roads / water / boundaries."""
    bounds = np.array([pyogrio.read_info(source, layer=lyr)["total_bounds"]
                       for lyr in ("roads", "water", "boundaries")])
    return box(bounds[:, 0].min(), bounds[:, 1].min(), bounds[:, 2].max(), bounds[:, 3].max())


def district_faces(source: Path) -> gpd.GeoDataFrame:
    """Faces of the district-boundary lines plus the extract box, labelled by district.

    Each face's district is the ``name:left`` / ``name:right`` of the boundary lines on
    its border, decided by which side of the line the face lies on.
    """
    lines = _read(source, "boundaries")
    bbox = _extract_box(source)
    noded = shapely.union_all(list(lines.geometry) + [bbox.exterior])
    faces = [f for f in shapely.get_parts(shapely.polygonize(shapely.get_parts(noded)))
             if bbox.buffer(1e-9).contains(f)]
    out = []
    for face in faces:
        votes: dict[str, float] = {}
        for line, left, right in zip(lines.geometry, lines["name:left"], lines["name:right"]):
            shared = face.boundary.intersection(line)
            if shared.length <= 0:
                continue
            # which side of the line is the face on, at the middle of the shared part?
            sp = shared.interpolate(shared.length / 2) if shared.geom_type != "Point" else shared
            t = line.project(sp)
            q0 = line.interpolate(max(t - 1e-7, 0.0))
            q1 = line.interpolate(min(t + 1e-7, line.length))
            ex, ey = q1.x - q0.x, q1.y - q0.y
            n2 = math.hypot(ex, ey) or 1.0
            left_probe = shapely.Point(sp.x - ey / n2 * 1e-6, sp.y + ex / n2 * 1e-6)
            name = left if face.contains(left_probe) else right
            votes[name] = votes.get(name, 0.0) + shared.length
        district = max(sorted(votes), key=lambda k: votes[k]) if votes else ""
        out.append({"district": district, "geometry": face})
    gdf = gpd.GeoDataFrame(out, geometry="geometry", crs="EPSG:4326").to_crs(WORK_CRS)
    gdf["area_m2"] = gdf.area
    return gdf.sort_values(["district", "area_m2"], ascending=[True, False]).reset_index(drop=True)


# ---------------------------------------------------------------------------- buildings

def classify_buildings(buildings: gpd.GeoDataFrame, landuse: gpd.GeoDataFrame) -> pd.DataFrame:
    """用途 and residential flag for each OSM building (see the module docstring)."""
    polys = landuse[landuse.geom_type.isin(["Polygon", "MultiPolygon"])]
    res_lu = shapely.union_all(polys.loc[polys["kind"] == "residential", "geometry"].values)
    other_lu = shapely.union_all(polys.loc[polys["kind"] != "residential", "geometry"].values)
    pts = buildings.geometry.representative_point()
    in_res = pts.within(res_lu) | (buildings["landuse_kind"] == "residential")
    in_other = pts.within(other_lu) | (buildings["landuse_kind"].notna()
                                        & (buildings["landuse_kind"] != "residential"))
    detail = buildings["kind_detail"]
    no_detail = detail.isna()
    height = pd.to_numeric(buildings["height"], errors="coerce")
    lowrise = height.isna() | (height <= LOWRISE_MAX_M)
    residential = (detail.isin(RESIDENTIAL_KINDS)
                   | (no_detail & in_res)
                   | (no_detail & buildings["name"].isna() & ~in_other & lowrise))
    use = np.where(residential, "住宅",
                   detail.map(USE_ZH).fillna("其他").to_numpy())
    return pd.DataFrame({"residential": residential.to_numpy(bool), "use": use},
                        index=buildings.index)


def floors_of(height: pd.Series) -> pd.Series:
    """Floors as the demo project estimates them: height / 3 m rounded (>= 1), else 3."""
    h = pd.to_numeric(height, errors="coerce")
    return (h / FLOOR_HEIGHT_M).round().clip(lower=1).fillna(DEFAULT_FLOORS)


# ---------------------------------------------------------------------------- villages

def _extend_ends(geom: shapely.Geometry, by: float) -> shapely.Geometry:
    """Lengthen every line part by ``by`` metres at both ends.

    Roads clipped at the tile edge end a hair short of (or beyond) the extract box,
    so they would not node with the township boundary; lengthened and clipped again,
    they end exactly on it.
    """
    parts = []
    for line in shapely.get_parts(geom):
        if line.geom_type != "LineString" or len(line.coords) < 2:
            parts.append(line)
            continue
        xy = np.asarray(line.coords)[:, :2].copy()
        for end, prev in ((0, 1), (-1, -2)):
            d = xy[end] - xy[prev]
            norm = float(np.hypot(*d))
            if norm > 0:
                xy[end] = xy[end] + d / norm * by
        parts.append(shapely.LineString(xy))
    return shapely.multilinestrings(parts) if len(parts) > 1 else parts[0]


def _faces_of(township: shapely.Polygon, cutters: list) -> list[shapely.Polygon]:
    lines = [township.boundary]
    for geom in cutters:
        if geom.geom_type in ("LineString", "MultiLineString"):
            geom = _extend_ends(geom, 2.0)
        part = shapely.intersection(geom, township)
        if not part.is_empty:
            lines.append(part)
    noded = shapely.union_all(lines)
    faces = [f for f in shapely.get_parts(shapely.polygonize(shapely.get_parts(noded)))
             if f.area > 0 and township.contains(f.representative_point())]
    faces.sort(key=lambda f: (-round(f.representative_point().y, 3),
                              round(f.representative_point().x, 3)))
    return faces


def derive_villages(township: shapely.Polygon, major_roads: gpd.GeoSeries,
                    water: shapely.Geometry, res_points: gpd.GeoSeries,
                    res_floor: np.ndarray, *, max_villages: int = MAX_VILLAGES,
                    min_face_m2: float = MIN_FACE_M2,
                    min_share: float = MIN_VILLAGE_SHARE,
                    max_share: float = MAX_VILLAGE_SHARE) -> list[shapely.Polygon]:
    """Cut the township by major roads and water; merge faces into <= ``max_villages``.

    Returns polygons that tile ``township`` (coverage unions of polygonize faces),
    ordered north to south, then west to east.
    """
    cutters = list(major_roads.values) + [water.boundary]
    faces = _faces_of(township, cutters)
    n = len(faces)
    log.info("%d faces from major roads and water", n)
    tree = shapely.STRtree(faces)
    # shared border length between faces
    shared: dict[int, dict[int, float]] = {i: {} for i in range(n)}
    for i, face in enumerate(faces):
        for j in sorted(int(k) for k in tree.query(face, predicate="intersects")):
            if j <= i:
                continue
            length = shapely.intersection(face.boundary, faces[j].boundary).length
            if length > 0.0:
                shared[i][j] = shared[j][i] = length
    water_share = np.array([shapely.intersection(f, water).area / f.area for f in faces])
    floor = np.zeros(n)
    idx = tree.query(res_points.values, predicate="within")
    for b, f in zip(idx[0], idx[1]):
        floor[f] += res_floor[b]
    # groups: representative face id -> members
    group = list(range(n))
    members = {i: [i] for i in range(n)}
    g_area = {i: faces[i].area for i in range(n)}
    g_floor = {i: float(floor[i]) for i in range(n)}
    g_water = {i: bool(water_share[i] > WATER_FACE_SHARE) for i in range(n)}

    def border(g: int) -> dict[int, float]:
        out: dict[int, float] = {}
        for i in members[g]:
            for j, length in shared[i].items():
                h = group[j]
                if h != g:
                    out[h] = out.get(h, 0.0) + length
        return out

    def merge(g: int) -> None:
        """Merge group ``g`` into the land neighbour sharing the longest border.

        Neighbours that would grow beyond ``max_share`` of the residential floor area
        are passed over while another one is available (keeps 居/村 balanced and stops
        one growing group from swallowing everything).
        """
        nb = border(g)
        if not nb:
            raise RuntimeError(f"face group {g} has no neighbour")
        land = {h: v for h, v in nb.items() if not g_water[h]} or nb
        fits = {h: v for h, v in land.items()
                if g_floor[h] + g_floor[g] <= max_share * total_floor} or land
        cands = sorted(fits, key=lambda h: (-fits[h], g_floor[h], h))
        h = cands[0]
        for i in members.pop(g):
            group[i] = h
            members[h].append(i)
        g_area[h] += g_area.pop(g)
        g_floor[h] += g_floor.pop(g)
        g_water[h] = g_water[h] and g_water.pop(g)

    total_floor = float(floor.sum())
    # 1. land faces that are tiny or hold (almost) no housing
    while True:
        small = sorted((g for g in members if not g_water[g]
                        and (g_area[g] < min_face_m2
                             or g_floor[g] < min_share / 4 * total_floor)),
                       key=lambda g: (g_floor[g], g_area[g], g))
        if not small:
            break
        merge(small[0])
    # 2. water faces go to the land next to them
    while any(g_water[g] for g in members):
        g = sorted((g for g in members if g_water[g]), key=lambda g: (g_area[g], g))[0]
        merge(g)
    # 3. merge the least housing first, down to max_villages and min_share each
    while True:
        g = sorted(members, key=lambda g: (g_floor[g], g_area[g], g))[0]
        if len(members) <= max_villages and g_floor[g] >= min_share * total_floor:
            break
        merge(g)
    polys = []
    for g in sorted(members):
        geom = shapely.coverage_union_all([faces[i] for i in sorted(members[g])])
        if geom.geom_type != "Polygon":
            raise RuntimeError(f"merged 居/村 is a {geom.geom_type}, expected one polygon")
        polys.append(shapely.normalize(geom))
    polys.sort(key=lambda p: (-round(p.representative_point().y, 3),
                              round(p.representative_point().x, 3)))
    return polys


def largest_remainder(total: int, weights: np.ndarray) -> np.ndarray:
    """Integers proportional to ``weights`` summing exactly to ``total``.

    >>> largest_remainder(10, np.array([1.0, 1.0, 1.0])).tolist()
    [4, 3, 3]
    """
    w = np.asarray(weights, dtype=float)
    quota = total * w / w.sum()
    base = np.floor(quota).astype(int)
    rest = total - int(base.sum())
    order = sorted(range(len(w)), key=lambda i: (-(quota[i] - base[i]), i))
    for i in order[:rest]:
        base[i] += 1
    return base


# ---------------------------------------------------------------------------- writing

@contextlib.contextmanager
def _fixed_gdal_date() -> Iterator[None]:
    pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": FIXED_DATE})
    try:
        yield
    finally:
        pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": None})


def _fix_dbf_date(dbf: Path) -> None:
    """Set the DBF header's last-update date (bytes 1-3) to 2024-01-01."""
    with open(dbf, "r+b") as fh:
        fh.seek(1)
        fh.write(bytes([124, 1, 1]))


def _overlapping_pairs(geoms: np.ndarray, share: float) -> int:
    """Pairs of polygons overlapping by more than ``share`` of the smaller one."""
    i, j = shapely.STRtree(geoms).query(geoms, predicate="intersects")
    keep = i < j
    n = 0
    for a, b in zip(i[keep], j[keep]):
        inter = shapely.intersection(geoms[a], geoms[b]).area
        if inter > share * min(geoms[a].area, geoms[b].area):
            n += 1
    return n


def _one_per_id(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """One feature per OSM id: the tile pieces of a way are merged again.

    Tilezen cuts features at tile edges and repeats the id on every piece; a water id
    can also come as polygons and lines (river area + centre line), which stay apart
    with ``-line`` added to the id of the lines. Merged water polygons with no OSM id
    are numbered ``tilezen-1`` ...
    """
    g = gdf.copy()
    ids = [str(int(v)) if pd.notna(v) else "" for v in g["id"]]
    no_id = iter(range(1, len(ids) + 1))
    g["id"] = [v or f"tilezen-{next(no_id)}" for v in ids]
    dims = shapely.get_dimensions(g.geometry.values)
    polys = {i for i, d in zip(g["id"], dims) if d == 2}
    g["id"] = [f"{i}-line" if d == 1 and i in polys else i for i, d in zip(g["id"], dims)]
    rows = []
    attrs = [c for c in g.columns if c not in ("id", "geometry")]
    for fid, part in g.groupby("id", sort=True):
        geoms = part.geometry.values
        if shapely.get_dimensions(geoms[0]) == 2:
            geom = shapely.union_all(geoms)
        else:
            geom = shapely.line_merge(shapely.union_all(geoms))
        row = {"id": fid, **{c: part[c].iloc[0] for c in attrs}}
        row["geometry"] = shapely.normalize(geom)
        rows.append(row)
    out = gpd.GeoDataFrame(rows, columns=["id", *attrs, "geometry"], geometry="geometry",
                           crs=g.crs)
    return out


def _same_dim(geom: shapely.Geometry, dim: int) -> shapely.Geometry:
    """The parts of ``geom`` of dimension ``dim`` as one (Multi)LineString/Polygon."""
    if geom.is_empty or geom.geom_type != "GeometryCollection":
        return geom
    parts = [p for p in shapely.get_parts(geom) if shapely.get_dimensions(p) == dim]
    if not parts:
        return shapely.from_wkt("GEOMETRYCOLLECTION EMPTY")
    if dim == 2:
        return shapely.multipolygons(parts) if len(parts) > 1 else parts[0]
    return shapely.multilinestrings(parts) if len(parts) > 1 else parts[0]


def _gbk_safe(text: object) -> object:
    if not isinstance(text, str):
        return text
    return text.encode("gbk", errors="replace").decode("gbk")


def _write_gpkg(path: Path, layers: dict[str, gpd.GeoDataFrame]) -> None:
    with _fixed_gdal_date():
        for name, gdf in layers.items():
            geometry_type = None
            if len(set(gdf.geom_type)) > 1:
                geometry_type = "Unknown"
            pyogrio.write_dataframe(gdf, path, layer=name, driver="GPKG",
                                    geometry_type=geometry_type, promote_to_multi=False)


def _csv_bytes(rows: list[tuple[str, int]]) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(["居委会代码", "人口"])
    for code, pop in rows:
        w.writerow([code, pop])
    return ("\ufeff" + buf.getvalue()).encode("utf-8")


# ---------------------------------------------------------------------------- the build

def build_demo(out_dir: str | os.PathLike = DEMO_DIR, *,
               shared_data: str | os.PathLike = SHARED) -> DemoSummary:
    """Build the demo files into ``out_dir`` and return its figures."""
    shared_data = Path(shared_data)
    source = shared_data / "osm" / "shanghai-lujiazui.gpkg"
    streets = pd.read_csv(shared_data / "codes" / "shanghai_31_streets.csv", dtype=str)
    street_names = dict(zip(streets["code"], streets["name"]))
    for code, name in [(TOWNSHIP_CODE, TOWNSHIP_NAME), *NEIGHBOUR_STREETS.values()]:
        if street_names.get(code) != name:
            raise RuntimeError(f"{code} is {street_names.get(code)!r} in the code list, "
                               f"expected {name!r}")
    census = pd.read_csv(shared_data / "census" / "shanghai_districts_census2020.csv",
                         dtype={"区划代码": str})
    pop_district = int(census.loc[census["区划代码"] == DISTRICT_CODE, "人口数_合计"].iloc[0])
    if pop_district != HUANGPU_POPULATION:
        raise RuntimeError(f"census CSV gives {pop_district} for 黄浦区, expected "
                           f"{HUANGPU_POPULATION}")

    faces = district_faces(source)
    town_rows = faces[faces["district"] == TOWNSHIP_DISTRICT]
    township = shapely.normalize(town_rows.geometry.iloc[0])
    log.info("township face: %.0f m²", township.area)
    bbox_m = gpd.GeoSeries([_extract_box(source)], crs="EPSG:4326").to_crs(WORK_CRS).iloc[0]
    # the box reprojected corner to corner sags by centimetres from the tile edge: keep
    # the whole township inside the context clip
    context = township.buffer(CONTEXT_M).intersection(bbox_m.union(township))

    # --- buildings
    bld = _read(source, "buildings").to_crs(WORK_CRS)
    bld = bld[bld["kind"] == "building"]
    landuse = _read(source, "landuse").to_crs(WORK_CRS)
    cls = classify_buildings(bld, landuse)
    inside = bld.geometry.representative_point().within(township)
    bld, cls = bld[inside.to_numpy()], cls[inside.to_numpy()]
    height = pd.to_numeric(bld["height"], errors="coerce").round(1)
    height = height.where(height > 0)              # OSM height 0 means "not known"
    floor_area = bld.area * floors_of(height)
    buildings = gpd.GeoDataFrame({
        "编号": bld["id"].astype("int64").astype(str),
        "建筑名称": bld["name"].fillna("").map(_gbk_safe),
        "用途": cls["use"],
        "是否住宅": np.where(cls["residential"], "是", "否"),
        "高度": height,
    }, geometry=bld.geometry.values, crs=WORK_CRS)
    buildings = buildings.sort_values("编号", key=lambda s: s.astype("int64")).reset_index(drop=True)

    # --- water, roads, railways
    water_all = _read(source, "water").to_crs(WORK_CRS)
    water_polys = water_all[water_all.geom_type.isin(["Polygon", "MultiPolygon"])]
    water_union = shapely.union_all(water_polys.geometry.values)
    water_in_town = water_union.intersection(township)
    roads_all = _read(source, "roads").to_crs(WORK_CRS)
    tunnel = roads_all["is_tunnel"].astype(object).eq("True")
    bridge = roads_all["is_bridge"].astype(object).eq("True")
    major = roads_all[((roads_all["kind"] == "major_road")
                       & roads_all["kind_detail"].isin(MAJOR_DETAILS)
                       | (roads_all["kind"] == "minor_road")
                       & roads_all["kind_detail"].isin(STREET_DETAILS)) & ~tunnel]
    res_mask = cls["residential"].to_numpy()
    res_pts = bld.geometry.representative_point()[res_mask]
    res_floor = floor_area.to_numpy()[res_mask]
    villages_geom = derive_villages(township, major.geometry, water_union,
                                    res_pts, res_floor)

    # --- population
    land_m2 = township.area - water_in_town.area
    density = HUANGPU_POPULATION / HUANGPU_LAND_KM2           # people per km² of land
    total = round(density * land_m2 / 1e6)
    vtree = shapely.STRtree(villages_geom)
    v_floor = np.zeros(len(villages_geom))
    idx = vtree.query(res_pts.values, predicate="within")
    for b, v in zip(idx[0], idx[1]):
        v_floor[v] += res_floor[b]
    if (v_floor <= 0).any():
        raise RuntimeError("a derived 居/村 holds no residential building")
    v_pop = largest_remainder(total, v_floor)
    codes = [f"{TOWNSHIP_CODE}{i:03d}" for i in range(1, len(villages_geom) + 1)]
    names = [village_name(i) for i in range(1, len(villages_geom) + 1)]
    villages = gpd.GeoDataFrame({"居委会代码": codes, "居委会名称": names,
                                 "类型": ["居委会"] * len(codes),
                                 "说明": [DERIVED_NOTE] * len(codes)},
                                geometry=villages_geom, crs=WORK_CRS)

    # --- township + neighbours
    town_gdf = gpd.GeoDataFrame({"街道代码": [TOWNSHIP_CODE], "街道名称": [f"{TOWNSHIP_NAME}（演示）"],
                                 "说明": [TOWNSHIP_NOTE]}, geometry=[township], crs=WORK_CRS)
    nb_rows = []
    for district, geom in zip(faces["district"], faces.geometry):
        if district == TOWNSHIP_DISTRICT:
            continue
        code, name = NEIGHBOUR_STREETS[district]
        nb_rows.append({"街镇代码": code, "街镇名称": f"{name}（局部）", "区": district,
                        "说明": NEIGHBOUR_NOTE, "geometry": shapely.normalize(geom)})
    neighbours = gpd.GeoDataFrame(nb_rows, geometry="geometry", crs=WORK_CRS)
    neighbours = neighbours.sort_values("街镇代码").reset_index(drop=True)

    # --- context layers (EPSG:4326, OSM's own attribute names)
    def clip(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
        g = gdf.copy()
        dims = shapely.get_dimensions(g.geometry.values)
        cut = shapely.intersection(g.geometry.values, context)
        # keep the pieces of the feature's own dimension (a polygon clipped along an
        # edge may come back as a collection with a stray line)
        g["geometry"] = [_same_dim(geom, dim) for geom, dim in zip(cut, dims)]
        g = g[~g.geometry.isna()]
        g = g[~g.geometry.is_empty]
        g = g[g.geom_type.isin(["LineString", "MultiLineString", "Polygon", "MultiPolygon"])]
        g = g.set_geometry(shapely.normalize(g.geometry.values))
        return g.to_crs("EPSG:4326").reset_index(drop=True)

    road_cols = ["id", "kind", "kind_detail", "name", "is_bridge", "is_tunnel"]
    roads_all = roads_all.assign(is_bridge=bridge.astype("int32"), is_tunnel=tunnel.astype("int32"))
    roads = clip(roads_all.loc[roads_all["kind"].isin(["major_road", "minor_road", "path"]),
                               road_cols + ["geometry"]])
    rails = clip(roads_all.loc[roads_all["kind"] == "rail", road_cols + ["geometry"]])
    water = clip(water_all.loc[~water_all.geom_type.isin(["Point", "MultiPoint"]),
                               ["id", "kind", "name", "geometry"]])
    roads, rails, water = (_one_per_id(g) for g in (roads, rails, water))

    # --- write
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=".demo-build-", dir=out_dir.parent))
    try:
        buildings.to_file(stage / "buildings.shp", driver="ESRI Shapefile",
                          engine="pyogrio", encoding="GBK")
        (stage / "buildings.cpg").write_text("GBK", encoding="ascii")
        _fix_dbf_date(stage / "buildings.dbf")
        gj = villages.to_crs("EPSG:4326")
        pyogrio.write_dataframe(gj, stage / "villages.geojson", driver="GeoJSON",
                                layer="villages", COORDINATE_PRECISION=9,
                                WRITE_NAME=False)
        _write_gpkg(stage / "township.gpkg", {"township": town_gdf, "neighbours": neighbours})
        _write_gpkg(stage / "osm_context.gpkg", {"roads": roads, "water": water,
                                                 "railways": rails})
        (stage / "population_totals.csv").write_bytes(
            _csv_bytes(list(zip(codes, (int(p) for p in v_pop)))))
        summary = DemoSummary(
            n_buildings=len(buildings), n_residential=int(res_mask.sum()),
            n_villages=len(villages), population=int(v_pop.sum()),
            land_km2=land_m2 / 1e6, township_km2=township.area / 1e6,
            residential_floor_m2=float(res_floor.sum()),
            n_crossing=int((buildings.geometry.difference(township).area > 0.5).sum()),
            n_overlapping=_overlapping_pairs(buildings.geometry.values, 0.05),
            village_totals=tuple((c, n, int(p)) for c, n, p in zip(codes, names, v_pop)))
        (stage / "demo.toml").write_text(_toml(summary), encoding="utf-8")
        (stage / "README.md").write_text(_readme(summary, density), encoding="utf-8")
        (stage / "LICENSE-ODbL.txt").write_text(LICENSE_ODBL, encoding="utf-8")
        for old in sorted(out_dir.iterdir()):
            if old.is_file() and not (stage / old.name).exists():
                old.unlink()
        for f in sorted(stage.iterdir()):
            os.replace(f, out_dir / f.name)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    log.info("demo: %d buildings (%d residential), %d 居/村, %d people", summary.n_buildings,
             summary.n_residential, summary.n_villages, summary.population)
    return summary


def _toml(s: DemoSummary) -> str:
    return f'''# pucha project file for the bundled demo (built by pucha/data/build_demo.py).
# Real OpenStreetMap data (© OpenStreetMap contributors, ODbL 1.0); 居/村 and
# population are derived for the demo, not official. See README.md.

[project]
name = "{TOWNSHIP_NAME}（演示）"
township_code = "{TOWNSHIP_CODE}"
gpkg = "project.gpkg"
data_date = "{DATA_DATE}"

[layers.buildings]
path = "buildings.shp"              # EPSG:4549, GBK with .cpg
fields = {{ id = "编号", name = "建筑名称", use = "用途", residential = "是否住宅", height = "高度" }}

[layers.villages]
path = "villages.geojson"           # EPSG:4326
fields = {{ village_code = "居委会代码", name = "居委会名称", kind = "类型" }}

[layers.township]
path = "township.gpkg"
layer = "township"
fields = {{ code = "街道代码", name = "街道名称" }}

[layers.neighbours]
path = "township.gpkg"
layer = "neighbours"
fields = {{ code = "街镇代码", name = "街镇名称" }}

[layers.roads]
path = "osm_context.gpkg"
layer = "roads"
where = "is_tunnel = 0"             # tunnels are no boundary on the ground
fields = {{ road_id = "id", name = "name", road_class = "kind" }}

[layers.water]
path = "osm_context.gpkg"
layer = "water"
fields = {{ feature_id = "id", name = "name", water_kind = "kind" }}

[layers.railways]
path = "osm_context.gpkg"
layer = "railways"
where = "is_tunnel = 0"             # all rail here is underground (metro 2/9/10/12)
fields = {{ feature_id = "id", name = "name" }}

[population]
method = "totals"
totals = "population_totals.csv"    # 居委会代码,人口 (UTF-8 with BOM); {s.population} people
totals_level = "village"
floor_height_m = {FLOOR_HEIGHT_M}
default_floors = {DEFAULT_FLOORS}        # 里弄 / 新村 housing where OSM has no height

[partition]
target = 300
min = 240
max = 360
seed = 0

[maps]
data_date = "{DATA_DATE}"
attribution = "© OpenStreetMap contributors (ODbL 1.0)；居/村界与人口为演示派生数据"
'''


def _readme(s: DemoSummary, density: float) -> str:
    rows = "\n".join(f"| {c} | {n} | {p:,} |" for c, n, p in s.village_totals)
    return f'''# pucha demo data: {TOWNSHIP_NAME} (演示)

Built by `python -m pucha.data.build_demo` (see its docstring for every rule) from real
OpenStreetMap data around the Bund, Shanghai. **The 街道 outline, the {s.n_villages} 居委会 and
all population figures are derived for the demo; they are not official boundaries or
census counts.** Only the building footprints, roads, rails and water are real (OSM).

## Figures

| | |
|---|---|
| township | {TOWNSHIP_NAME} {TOWNSHIP_CODE} (outline derived: 黄浦区 face of the district boundaries + extract edge) |
| township area | {s.township_km2:.3f} km², of which land {s.land_km2:.3f} km² |
| buildings | {s.n_buildings} (OSM ids kept in 编号), {s.n_residential} residential (用途 = 住宅) |
| residential floor area | {s.residential_floor_m2:,.0f} m² (footprint x floors; floors = 高度/3 m, else {DEFAULT_FLOORS:g}) |
| 居/村 | {s.n_villages} 居委会, {TOWNSHIP_CODE}001-{s.n_villages:03d} |
| population | **{s.population:,}** people (method "totals") |
| expected 普查小区 | about {s.expected_areas} at 300 people each |

| 居委会代码 | 居委会名称 | 人口 |
|---|---|---|
{rows}

## Files (mixed formats, as a planning office hands them over)

| file | format | content |
|---|---|---|
| `buildings.shp` (+ .shx .dbf .prj .cpg) | Shapefile, EPSG:4549, GBK with `.cpg` | 编号 (OSM id), 建筑名称, 用途, 是否住宅 (是/否), 高度 (m, about half known) |
| `villages.geojson` | GeoJSON, EPSG:4326 | 居委会代码, 居委会名称, 类型, 说明 |
| `township.gpkg` | GeoPackage, EPSG:4549 | layer `township` (街道代码, 街道名称, 说明); layer `neighbours` (街镇代码, 街镇名称, 区, 说明) |
| `osm_context.gpkg` | GeoPackage, EPSG:4326 | layers `roads`, `water` (polygons and lines mixed), `railways` (OSM `id`, `kind`, `kind_detail`, `name`, `is_bridge`, `is_tunnel`), clipped to {CONTEXT_M:g} m around the township |
| `population_totals.csv` | CSV, UTF-8 with BOM, CRLF (as Excel writes) | 居委会代码, 人口 |
| `demo.toml` | pucha project file | maps the files above |

## Method

- **Township.** The 18 district-boundary lines (`name:left` / `name:right`) and the
  extract's bounding box are polygonized into faces labelled by district. The 黄浦区 face is
  the demo township and carries the real code of 外滩街道 ({TOWNSHIP_CODE}), which lies there;
  it also covers parts of neighbouring 街道 (南京东路, 小东门, 豫园). The other faces are the
  `neighbours`, labelled with a real 街道 lying in each (陆家嘴街道 310115005, 北外滩街道
  310109018, 大桥街道 310110018) and marked 局部 / derived.
- **居委会.** The township is cut by major roads (OSM trunk/primary/secondary/tertiary, no
  links, no tunnels) and water polygons. Faces mostly water, smaller than
  {MIN_FACE_M2:,.0f} m² or with no housing are merged into the neighbour sharing the
  longest border, then the face with the least housing is merged until {MAX_VILLAGES} remain.
  They tile the township exactly (coverage union of polygonize faces). 说明 =
  "{DERIVED_NOTE}".
- **Residential buildings.** OSM `kind_detail` apartments / residential / house / dormitory
  / ...; or no `kind_detail` inside OSM residential land use; or (demo assumption, since OSM
  tags almost none of the old Puxi housing) no `kind_detail`, no name, in no other land
  use and at most {LOWRISE_MAX_M:g} m high or of unknown height (里弄 / 新村 fabric). OSM
  `building_part` features (3D parts of buildings already present) are left out.
- **Population.** 黄浦区 had {HUANGPU_POPULATION:,} residents in the 2020 census
  (`shanghai_districts_census2020.csv`) on {HUANGPU_LAND_KM2} km² of land (20.52 km² total
  minus 1.82 km² water, Chinese Wikipedia 黄浦区, from the district's official figures):
  {density:,.0f} people per km² of land. Times the township's land area
  ({s.land_km2:.4f} km², area minus OSM water polygons) gives **{s.population:,}** people,
  split over the 居委会 in proportion to residential floor area (largest remainder). That is
  {s.residential_floor_m2 / s.population:.1f} m² of residential floor area per person,
  close to the census figure for 黄浦区 (人均住房建筑面积 26.07 m²). The importer then
  allocates each 居委会's total to its residential buildings by floor area.

## Real-world mess kept on purpose

- Buildings were selected by their representative point, not cut: {s.n_crossing} of them reach
  past the township's west / south edge (the extract edge), as footprints do at a real
  街镇 boundary; `pucha boundaries` should report them.
- OSM has a few overlapping footprints (a multipolygon building drawn over the ways of
  its parts, {s.n_overlapping} pairs overlapping by more than 5 %); they are delivered as they are.
  Negative 编号 are OSM relations.
- The water layer mixes polygons (Huangpu, Suzhou Creek, ponds) and lines; three
  fountain / label points of the source are left out.
- One vector tile in the middle of Lujiazui is missing from the source; it lies in the
  陆家嘴街道 neighbour, not in the demo township.
- Every metro line here runs underground (lines 2, 9, 10, 12 and the Bund sightseeing
  tunnel): `railways` and the road tunnels carry `is_tunnel = 1`, and `demo.toml` reads
  only `is_tunnel = 0` features, so they draw no boundary.

## Licence

The buildings, roads, rails and water are © OpenStreetMap contributors, ODbL 1.0
(https://www.openstreetmap.org/copyright). This folder is a Produced Work / derived
database under the Open Database License 1.0: see `LICENSE-ODbL.txt`. Anything that shows
or ships it must say "© OpenStreetMap contributors, ODbL 1.0". Division codes: 统计用区划代码
(National Bureau of Statistics, 2023); census figures: 7th national census (2020).
'''


LICENSE_ODBL = """This folder contains data from OpenStreetMap.

© OpenStreetMap contributors, ODbL 1.0.

The data is made available under the Open Database License 1.0 (ODbL):
https://opendatacommons.org/licenses/odbl/1-0/
Copyright and licence details: https://www.openstreetmap.org/copyright

The building footprints, roads, railways and water in buildings.shp and
osm_context.gpkg are extracted from OpenStreetMap (via a Tilezen vector-tile dump)
and reprojected / clipped. The township outline, 居委会 polygons (villages.geojson,
township.gpkg) are derived from OpenStreetMap district boundaries and roads, and are
therefore a derivative database under the same licence. If you publicly use or
adapt this database, you must attribute it as above, share adapted databases
under the ODbL, and keep this notice.
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pucha.data.build_demo",
        description="Build pucha's bundled demo data from ../shared/data (OpenStreetMap, "
                    "census 2020, division codes). Deterministic.")
    parser.add_argument("-o", "--out", default=str(DEMO_DIR),
                        help=f"output folder (default: {DEMO_DIR})")
    parser.add_argument("--shared-data", default=str(SHARED),
                        help=f"the shared data folder (default: {SHARED})")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    s = build_demo(args.out, shared_data=args.shared_data)
    print(f"{args.out}: {s.n_buildings} buildings ({s.n_residential} residential), "
          f"{s.n_villages} 居/村, {s.population} people, ~{s.expected_areas} areas")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

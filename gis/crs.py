"""The working CRS and checked reprojection of input layers.

The working CRS is metric: EPSG:4549 (CGCS2000 / 3-degree Gauss-Kruger CM 120E) when the
data lies inside its area of use, else the matching UTM zone, unless ``[project].crs``
says otherwise. Every :class:`pyproj.Transformer` is built with ``always_xy=True``.

:func:`check_coordinates` explains the usual mistakes of 规土所 files: northing and
easting swapped, 8-digit eastings with the zone number in front (EPSG:4528 style:
40500000 -> zone 40), projected coordinates labelled as degrees, latitude/longitude
swapped, and a layer with no CRS at all.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence

import geopandas as gpd
import numpy as np
import shapely
from pyproj import CRS, Transformer
from pyproj.exceptions import CRSError as ProjCRSError

from pucha.errors import CRSError
from pucha.gis.schema import WORKING_CRS_DEFAULT

__all__ = ["working_crs", "parse_crs", "check_coordinates", "to_crs_checked", "utm_crs",
           "check_layer_near", "feature_labels",
           "gk3_zone_crs", "CHINA_BOUNDS"]

log = logging.getLogger(__name__)

#: generous lon/lat box around China (incl. its seas)
CHINA_BOUNDS = (73.0, 3.0, 136.0, 54.0)


def parse_crs(value: object, *, where: str = "") -> CRS:
    """A :class:`pyproj.CRS` from text (``EPSG:4549``, WKT, PROJ) or raise CRSError."""
    if "gcj" in str(value).lower() or "火星" in str(value):
        raise CRSError(f"{where or 'crs'}: {value!r}: GCJ-02 (AMap/Gaode) is not a CRS but an "
                       f"offset of WGS 84 degrees; declare it with gcj02 = true in the layer's "
                       f"[layers.<kind>] section (and crs = \"EPSG:4326\" if the file has no "
                       f"CRS). [project].crs is the metric working CRS, e.g. \"EPSG:4549\"")
    try:
        return CRS.from_user_input(value)
    except (ProjCRSError, TypeError, ValueError) as exc:
        raise CRSError(f"{where or 'crs'}: {value!r} is not a coordinate system pyproj "
                       f"understands ({exc}); write it like crs = \"EPSG:4549\"") from None


def utm_crs(lon: float, lat: float) -> CRS:
    """The WGS 84 UTM zone CRS containing (lon, lat)."""
    zone = int(math.floor((lon + 180.0) / 6.0)) % 60 + 1
    return CRS.from_epsg((32600 if lat >= 0 else 32700) + zone)


def gk3_zone_crs(zone: int) -> CRS | None:
    """CGCS2000 3-degree Gauss-Kruger CRS with zone-prefixed eastings (zone 25..45)."""
    if 25 <= zone <= 45:
        return CRS.from_epsg(4513 + zone - 25)
    return None


def _bounds_wgs84(obj: gpd.GeoDataFrame | gpd.GeoSeries | Sequence[float]) -> tuple[float, ...]:
    if isinstance(obj, (gpd.GeoDataFrame, gpd.GeoSeries)):
        if obj.crs is None:
            raise CRSError("working_crs: the layer has no CRS; set one first")
        b = obj.total_bounds
        if obj.crs.is_geographic and CRS(obj.crs).equals(CRS.from_epsg(4326), ignore_axis_order=True):
            return tuple(map(float, b))
        t = Transformer.from_crs(obj.crs, 4326, always_xy=True)
        return tuple(map(float, t.transform_bounds(*b)))
    return tuple(map(float, obj))


def working_crs(gdf_or_bounds_wgs84: gpd.GeoDataFrame | gpd.GeoSeries | Sequence[float], *,
                override: str = "") -> CRS:
    """The metric working CRS for data at these WGS 84 bounds (or this layer).

    EPSG:4549 when the centre lies inside its area of use, else the UTM zone of the
    centre. ``override`` (``[project].crs``) wins when given; it must be projected.
    """
    if override:
        crs = parse_crs(override, where="[project].crs")
        if not crs.is_projected:
            raise CRSError(f"[project].crs = {override!r} is not a metric (projected) CRS; "
                           f"use e.g. \"EPSG:4549\" or a UTM zone")
        return crs
    minx, miny, maxx, maxy = _bounds_wgs84(gdf_or_bounds_wgs84)
    if not all(np.isfinite([minx, miny, maxx, maxy])):
        return CRS.from_user_input(WORKING_CRS_DEFAULT)
    cx, cy = (minx + maxx) / 2, (miny + maxy) / 2
    default = CRS.from_user_input(WORKING_CRS_DEFAULT)
    aou = default.area_of_use
    if aou is not None and aou.west <= cx <= aou.east and aou.south <= cy <= aou.north:
        return default
    return utm_crs(cx, cy)


def _inside(b: Sequence[float], box: Sequence[float]) -> bool:
    return b[0] >= box[0] and b[1] >= box[1] and b[2] <= box[2] and b[3] <= box[3]


def _to_lonlat(crs: CRS, b: Sequence[float]) -> tuple[float, ...] | None:
    try:
        t = Transformer.from_crs(crs, 4326, always_xy=True)
        out = t.transform_bounds(*b)
    except Exception:  # noqa: BLE001 - any PROJ failure means implausible
        return None
    return tuple(out) if all(np.isfinite(out)) else None


def _area_box(crs: CRS) -> tuple[float, float, float, float]:
    aou = crs.area_of_use
    if aou is None:
        return (-180.0, -90.0, 180.0, 90.0)
    return (aou.west - 3, aou.south - 3, aou.east + 3, aou.north + 3)


def check_coordinates(gdf: gpd.GeoDataFrame, *, where: str = "", kind: str = "") -> None:
    """Raise :class:`CRSError` explaining implausible coordinates for ``gdf.crs``.

    Detects: no CRS; projected coordinates labelled as degrees; latitude/longitude
    swapped; northing/easting swapped; zone-prefixed 8-digit eastings declared without
    the zone; coordinates outside the CRS's area of use.
    """
    section = f"[layers.{kind}]" if kind else "the layer's section"
    if gdf.crs is None:
        raise CRSError(
            f"{where}: the layer has no coordinate system (no .prj / no CRS in the file). "
            f"Say which one it is in the project TOML, {section}: crs = \"EPSG:4326\" for "
            f"longitude/latitude degrees, or crs = \"EPSG:4549\" for CGCS2000 Gauss-Kruger "
            f"metres (CM 120E), or the EPSG code your 规土所 uses")
    geoms = gdf.geometry.values
    ok = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    if not ok.any():
        return
    _check_outliers(gdf, ok, where=where, section=section)
    geoms = geoms[ok]
    b = tuple(map(float, shapely.total_bounds(geoms)))
    if not all(np.isfinite(b)):
        raise CRSError(f"{where}: coordinates are not finite numbers (NaN/inf)")
    crs = CRS(gdf.crs)
    name = crs.to_string()
    if crs.is_geographic:
        if _inside((b[1], b[0], b[3], b[2]), CHINA_BOUNDS) and not _inside(b, CHINA_BOUNDS):
            raise CRSError(
                f"{where}: longitude and latitude look swapped (x from {b[0]:.4f} to "
                f"{b[2]:.4f} looks like latitude, y from {b[1]:.4f} to {b[3]:.4f} like "
                f"longitude). Fix the file so x = longitude (经度), y = latitude (纬度); for "
                f"a CSV set x = \"<longitude column>\" and y = \"<latitude column>\" in {section}")
        if abs(b[0]) > 180 or abs(b[2]) > 180 or abs(b[1]) > 90 or abs(b[3]) > 90:
            hint = ""
            if b[0] > 1e7 and b[2] < 1e8:
                z = int(b[0] // 1e6)
                g = gk3_zone_crs(z)
                if g is not None:
                    hint = (f"; the 8-digit eastings start with zone {z}: try crs = "
                            f"\"EPSG:{g.to_epsg()}\"")
            elif 1e5 < b[0] < 1e6 and 1e6 < b[1] < 1e7:
                hint = "; they look like Gauss-Kruger/UTM metres: try crs = \"EPSG:4549\""
            raise CRSError(
                f"{where}: the file says {name} (degrees) but the coordinates "
                f"({b[0]:.0f}, {b[1]:.0f}) .. ({b[2]:.0f}, {b[3]:.0f}) are metres: projected "
                f"coordinates labelled as degrees. Set the real CRS in {section}: crs = ..."
                f"{hint}")
        return
    ll = _to_lonlat(crs, b)
    box = _area_box(crs)
    if ll is not None and _inside(ll, box):
        return
    # explain what went wrong
    if b[0] > 1e7 and b[2] < 1e8:
        z = int(b[0] // 1e6)
        g = gk3_zone_crs(z)
        if g is not None:
            raise CRSError(
                f"{where}: eastings are 8 digits ({b[0]:.0f} ..) with the zone number {z} in "
                f"front, but the file says {name}. Set crs = \"EPSG:{g.to_epsg()}\" "
                f"(CGCS2000 3-degree zone {z}) in {section}")
    if b[1] > 1e7 and b[3] < 1e8 and int(b[1] // 1e6) == int(b[3] // 1e6):
        z = int(b[1] // 1e6)
        g = gk3_zone_crs(z)
        if g is not None:
            raise CRSError(
                f"{where}: northing and easting are swapped: y holds 8-digit eastings with "
                f"zone {z} ({b[1]:.0f} ..). Swap the X/Y columns in the source (x = easting, "
                f"y = northing), then use crs = \"EPSG:{g.to_epsg()}\"")
    swapped = _to_lonlat(crs, (b[1], b[0], b[3], b[2]))
    if swapped is not None and _inside(swapped, box):
        raise CRSError(
            f"{where}: northing and easting are swapped for {name}: x runs "
            f"{b[0]:.0f}..{b[2]:.0f} (a northing) and y runs {b[1]:.0f}..{b[3]:.0f} (an "
            f"easting). Swap the X/Y columns in the source (x = easting 东坐标, "
            f"y = northing 北坐标) and import again")
    if -180 <= b[0] and b[2] <= 180 and -90 <= b[1] and b[3] <= 90:
        raise CRSError(
            f"{where}: the file says {name} (metres) but the coordinates look like degrees "
            f"({b[0]:.4f}, {b[1]:.4f}); set crs = \"EPSG:4326\" in {section}")
    raise CRSError(
        f"{where}: coordinates ({b[0]:.0f}, {b[1]:.0f}) .. ({b[2]:.0f}, {b[3]:.0f}) lie outside "
        f"the area of use of {name}; check the .prj or set the right crs in {section}")


_ID_COLUMNS = ("building_id", "id", "编号", "建筑编号", "fid", "objectid", "osm_id", "code",
               "village_code", "居委会代码")


def feature_labels(gdf: gpd.GeoDataFrame, positions: Sequence[int]) -> list[str]:
    """How a message names features: ``id JZ0005`` from an id column, else ``row 17``."""
    low = {str(c).strip().lower(): c for c in gdf.columns}
    col = next((low[c] for c in _ID_COLUMNS if c in low), None)
    if col is None:
        return [f"row {p + 1}" for p in positions]
    vals = gdf[col].tolist()
    return [f"{col} {vals[p]}" for p in positions]


def _check_outliers(gdf: gpd.GeoDataFrame, ok: np.ndarray, *, where: str, section: str) -> None:
    """A few features with absurd coordinates (1e308, NaN, a vertex typed in the wrong
    unit) are named by id, with short numbers, instead of condemning the whole layer."""
    geoms = gdf.geometry.values
    bounds = np.full((len(geoms), 4), np.nan)
    bounds[ok] = shapely.bounds(geoms[ok])
    finite = np.isfinite(bounds).all(axis=1)
    bad = ok & ~finite
    good = ok & finite
    if good.sum() >= 3:
        centre = np.median((bounds[good, :2] + bounds[good, 2:]) / 2, axis=0)
        core = bounds[good]
        spread = np.nanmax([np.percentile(core[:, 2], 90) - np.percentile(core[:, 0], 10),
                            np.percentile(core[:, 3], 90) - np.percentile(core[:, 1], 10)])
        geo = gdf.crs is not None and CRS(gdf.crs).is_geographic
        limit = max(spread * 50, 5.0 if geo else 500_000.0)
        far = np.zeros(len(geoms), dtype=bool)
        d = np.maximum(np.abs(bounds[:, :2] - centre), np.abs(bounds[:, 2:] - centre)).max(axis=1)
        far[good] = d[good] > limit
        if far.sum() <= max(1, 0.1 * ok.sum()):
            bad |= far
    if not bad.any() or bad.sum() > max(1, 0.1 * ok.sum()):
        return
    pos = np.flatnonzero(bad)
    labels = feature_labels(gdf, pos)
    shown = []
    for p, lab in zip(pos[:10], labels[:10]):
        bx = bounds[p]
        shown.append(f"{lab} ({bx[0]:.6g}, {bx[1]:.6g}) .. ({bx[2]:.6g}, {bx[3]:.6g})")
    raise CRSError(
        f"{where}: {len(pos)} feature(s) have impossible coordinates, far from the other "
        f"{int(ok.sum()) - len(pos)}: {'; '.join(shown)}. A vertex typed in the wrong unit or "
        f"a damaged record: fix or delete these features in the source (the layer's CRS "
        f"itself looks right)")


def check_layer_near(layer: gpd.GeoDataFrame, reference: object, *,
                     raw_bounds: Sequence[float] | None = None, raw_crs: object = None,
                     where: str = "", kind: str = "", ref_name: str = "",
                     margin_m: float = 2000.0) -> None:
    """Raise CRSError when EVERY feature of ``layer`` lies far from ``reference``.

    Both in the (metric) working CRS. The message gives the offset (km, direction) and
    the likely cause: a .prj that lies or a wrong ``crs = ...``; when the layer's raw
    coordinates (``raw``, in its declared CRS) fit the reference under a common Chinese
    CRS, it names that EPSG code.
    """
    geoms = layer.geometry.values
    geoms = geoms[~(shapely.is_missing(geoms) | shapely.is_empty(geoms))]
    if len(geoms) == 0 or reference is None or shapely.is_empty(reference):
        return
    rb = shapely.bounds(reference)
    ref_box = shapely.box(rb[0] - margin_m, rb[1] - margin_m, rb[2] + margin_m,
                          rb[3] + margin_m)
    if shapely.intersects(geoms, ref_box).any():
        return
    lb = shapely.total_bounds(geoms)
    dx = (lb[0] + lb[2]) / 2 - (rb[0] + rb[2]) / 2
    dy = (lb[1] + lb[3]) / 2 - (rb[1] + rb[3]) / 2
    dist = math.hypot(dx, dy)
    compass = "北 N,东北 NE,东 E,东南 SE,南 S,西南 SW,西 W,西北 NW".split(",")
    ang = (math.degrees(math.atan2(dx, dy)) + 360) % 360
    direction = compass[int((ang + 22.5) // 45) % 8]
    said = (f"{CRS(raw_crs).to_string()} ({CRS(raw_crs).name})" if raw_crs is not None
            else "?")
    fit = (_fitting_crs(raw_bounds, raw_crs, reference, layer.crs)
           if raw_bounds is not None else None)
    hint = (f" Its coordinates fit the other layers as {fit}: set crs = \"{fit}\" in "
            f"[layers.{kind}] (it overrides the file's CRS)." if fit else
            f" Check which CRS the 规土所 really used and set crs = \"EPSG:....\" in "
            f"[layers.{kind}].")
    raise CRSError(
        f"{where}: all {len(geoms)} feature(s) of {kind} lie {dist / 1000:,.1f} km {direction} "
        f"of the {ref_name or 'other layers'}: the file says {said}, which is probably wrong "
        f"(a .prj that lies, or a wrong EPSG code in the TOML).{hint}")


#: CRSs Chinese planning offices deliver in (tried to explain a displaced layer)
_CANDIDATES = ("EPSG:4549", "EPSG:4326", "EPSG:4490", "EPSG:3857", "EPSG:32651", "EPSG:32650",
               "EPSG:4548", "EPSG:4550", "EPSG:4547", "EPSG:2385", "EPSG:2437")


def _fitting_crs(raw_b: Sequence[float], raw_crs: object, reference: object,
                 target: object) -> str | None:
    """The first candidate CRS under which the raw coordinates overlap ``reference``."""
    rb = shapely.bounds(reference)
    if not np.isfinite(raw_b).all():
        return None
    for cand in _CANDIDATES:
        try:
            c = CRS.from_user_input(cand)
            if raw_crs is not None and c.equals(CRS(raw_crs)):
                continue
            t = Transformer.from_crs(c, target, always_xy=True)
            b = t.transform_bounds(*raw_b)
        except Exception:  # noqa: BLE001 - PROJ cannot project these: not this one
            continue
        if not all(np.isfinite(b)):
            continue
        if b[0] < rb[2] and b[2] > rb[0] and b[1] < rb[3] and b[3] > rb[1]:
            return cand
    return None


def to_crs_checked(gdf: gpd.GeoDataFrame, target: CRS | str | int, *, where: str = "",
                   kind: str = "") -> gpd.GeoDataFrame:
    """Check ``gdf``'s coordinates against its CRS, then reproject to ``target``.

    Raises :class:`CRSError` with an explanation for implausible coordinates.
    """
    check_coordinates(gdf, where=where, kind=kind)
    target = CRS.from_user_input(target)
    if CRS(gdf.crs).equals(target):
        return gdf.set_crs(target, allow_override=True)
    t = Transformer.from_crs(gdf.crs, target, always_xy=True)
    geoms = shapely.transform(gdf.geometry.values, lambda xy: np.column_stack(
        t.transform(xy[:, 0], xy[:, 1])))
    out = gdf.copy()
    out = out.set_geometry(gpd.GeoSeries(geoms, index=gdf.index, crs=target))
    return out

"""Boundary conflicts: the township against its neighbours, and the 居/村 inside it.

All geometry is in the project's metric working CRS. Definitions (tolerances in
:class:`pucha.config.BoundarySettings`):

overlap
    township ∩ neighbour: land counted twice.
gap
    land of nobody between facing outlines. It is computed in a band along the
    shared border: ``(T.buffer(D) ∩ N.buffer(D)) − T − N`` with ``D =
    gap_search_m`` (default 50 m), i.e. land within D metres of BOTH outlines and
    covered by neither. Land beyond D is not a gap between these two sides.
sliver
    an overlap or gap whose maximum width is below ``sliver_width_m`` (default 5 m):
    digitising noise reported separately (kind ``overlap_sliver`` / ``gap_sliver``,
    severity warning) from real overlaps and gaps (severity error).
maximum width
    twice the radius of the maximum inscribed circle
    (:func:`shapely.maximum_inscribed_circle`, tolerance 0.1 m).
shift
    a systematic translation between the township outline and a neighbour's
    (same border, different source). Estimated by translation-only ICP on the
    neighbour's outline vertices within ``shift_search_m`` of the township outline;
    reported (``shift``) when it raises the share of the neighbour's outline lying
    within ``on_line_m`` of the township's to >= 30% and more than doubles it. If
    undoing a GCJ-02 offset (:mod:`pucha.gis.gcj02`) makes the outlines meet (share
    within max(sliver width, 5% of the offset) >= 30% and > 2x + 10 points the share
    as given), the neighbour is reported ONCE as ``shift_gcj02`` instead of as a
    500 m overlap.

Every conflict row: conflict_id, kind, severity, neighbour, area_m2, max_width_m,
buildings (comma-joined building ids), people_township, people_neighbour, message,
suggestion, lon, lat, geometry (the conflict polygon / line).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Iterable

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS, Transformer
from shapely.affinity import translate

from pucha.config import BoundarySettings
from pucha.gis.gcj02 import gcj02_to_wgs84, wgs84_to_gcj02

__all__ = [
    "CONFLICT_COLUMNS", "max_width", "median_line", "estimate_shift", "gcj02_offset_m",
    "undo_gcj02", "neighbour_conflicts", "village_conflicts", "cut_buildings",
    "claimed_both", "near_line_conflicts", "find_conflicts", "exceeds_tolerance",
    "read_neighbour", "split_spec", "compare_sources",
]

logger = logging.getLogger(__name__)

CONFLICT_COLUMNS = ("conflict_id", "kind", "severity", "neighbour", "area_m2", "max_width_m",
                    "buildings", "people_township", "people_neighbour", "message",
                    "suggestion", "lon", "lat")

_DIRS = ("东", "东北", "北", "西北", "西", "西南", "南", "东南")


def _direction(dx: float, dy: float) -> str:
    ang = math.degrees(math.atan2(dy, dx)) % 360
    return _DIRS[int(((ang + 22.5) % 360) // 45)]


def max_width(poly: shapely.Geometry, *, tolerance: float = 0.1) -> float:
    """Maximum width (m): 2 x radius of the maximum inscribed circle of the widest part."""
    best = 0.0
    for part in shapely.get_parts(poly):
        if part.geom_type != "Polygon" or part.is_empty or part.area <= 0:
            continue
        r = shapely.maximum_inscribed_circle(part, tolerance=tolerance).length
        best = max(best, 2.0 * r)
    return float(best)


def median_line(poly: shapely.Geometry, *, max_points: int = 4000) -> shapely.Geometry:
    """Approximate median (centre) line of a thin polygon: Voronoi edges of its densified
    outline that lie inside it, merged. Empty if the polygon is empty."""
    if poly.is_empty or poly.area <= 0:
        return shapely.LineString()
    step = max(poly.length / max_points, 0.25)
    pts = shapely.MultiPoint(shapely.get_coordinates(shapely.segmentize(poly.boundary, step)))
    edges = shapely.get_parts(shapely.voronoi_polygons(pts, only_edges=True))
    inner = poly.buffer(-step * 0.01) if poly.area > 0 else poly
    keep = edges[shapely.covered_by(edges, poly) & shapely.intersects(edges, inner)]
    if len(keep) == 0:
        return shapely.LineString()
    merged = shapely.line_merge(shapely.union_all(keep))
    # drop the short spurs of the skeleton: keep lines longer than the max width
    w = max_width(poly)
    parts = [p for p in shapely.get_parts(merged) if p.length > w] or list(shapely.get_parts(merged))
    return shapely.line_merge(shapely.MultiLineString(parts)) if len(parts) > 1 else parts[0]


def _outline_points(geom: shapely.Geometry, step: float) -> np.ndarray:
    return shapely.get_coordinates(shapely.segmentize(shapely.boundary(geom), step))


def estimate_shift(reference: shapely.Geometry, other: shapely.Geometry, *, search_m: float = 1000.0,
                   step: float = 10.0, iterations: int = 30,
                   start: tuple[float, float] = (0.0, 0.0)) -> tuple[float, float, float]:
    """Translation (dx, dy) that best moves ``other``'s outline onto ``reference``'s.

    Translation-only ICP on ``other``'s outline vertices (densified every ``step``
    m) within ``search_m`` of ``reference``'s outline, trimming pairs beyond 3x the
    median distance, starting from ``start``. Returns (dx, dy, residual median
    distance after the shift).
    A translation ALONG a straight shared border cannot be observed; only the
    component across it is recovered.
    """
    ref_b = shapely.boundary(reference)
    pts = _outline_points(other, step)
    if len(pts) == 0 or ref_b.is_empty:
        return 0.0, 0.0, float("nan")
    t = np.asarray(start, dtype=float).copy()
    d0 = shapely.distance(shapely.points(pts + t), ref_b)
    pts = pts[d0 <= search_m]
    if len(pts) < 3:
        return 0.0, 0.0, float("nan")
    med = float("nan")
    for _ in range(iterations):
        moved = shapely.points(pts + t)
        near = shapely.get_coordinates(shapely.shortest_line(moved, ref_b))[1::2]
        res = near - (pts + t)
        dist = np.hypot(res[:, 0], res[:, 1])
        med = float(np.median(dist))
        use = dist <= max(2 * med, step)
        delta = res[use].mean(axis=0)
        t += delta
        if np.hypot(*delta) < 0.01:
            break
    return float(t[0]), float(t[1]), med


def gcj02_offset_m(x: float, y: float, crs: CRS | str) -> tuple[float, float]:
    """The GCJ-02 offset (dx, dy metres in ``crs``) at working-CRS point (x, y)."""
    to_ll = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    from_ll = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    lon, lat = to_ll.transform(x, y)
    glon, glat = wgs84_to_gcj02(lon, lat)
    gx, gy = from_ll.transform(float(glon), float(glat))
    return float(gx - x), float(gy - y)


def undo_gcj02(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Treat ``gdf``'s coordinates as GCJ-02 mislabelled as WGS84: convert them to true WGS84
    (via lon/lat) and back to ``gdf``'s CRS."""
    crs = gdf.crs
    to_ll = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    from_ll = Transformer.from_crs("EPSG:4326", crs, always_xy=True)

    def fix(xy: np.ndarray) -> np.ndarray:
        lon, lat = to_ll.transform(xy[:, 0], xy[:, 1])
        wl, wt = gcj02_to_wgs84(lon, lat)
        return np.column_stack(from_ll.transform(wl, wt))

    out = gdf.copy()
    out["geometry"] = shapely.transform(gdf.geometry.values, fix)
    return out


@dataclass
class _Ctx:
    settings: BoundarySettings
    crs: CRS
    buildings: gpd.GeoDataFrame | None
    nb_buildings: gpd.GeoDataFrame | None
    lines: gpd.GeoDataFrame | None = None  # named roads/rivers (name, kind, geometry)


def _people_in(b: gpd.GeoDataFrame | None, poly: shapely.Geometry) -> tuple[list[str], int]:
    if b is None or len(b) == 0 or poly.is_empty:
        return [], 0
    hit = b.sindex.query(poly, predicate="intersects")
    if len(hit) == 0:
        return [], 0
    sub = b.iloc[np.sort(hit)]
    pts = shapely.point_on_surface(sub.geometry.values)
    inside = shapely.within(pts, poly) | (shapely.area(shapely.intersection(sub.geometry.values, poly))
                                           > 0.5 * shapely.area(sub.geometry.values))
    sub = sub[inside]
    ids = sub["building_id"].astype(str).tolist() if "building_id" in sub else [str(i) for i in sub.index]
    pop = int(pd.to_numeric(sub["population"], errors="coerce").fillna(0).sum()) if "population" in sub else 0
    return sorted(ids), pop


def _row(kind: str, severity: str, neighbour: str, geom: shapely.Geometry, message: str,
         suggestion: str = "", buildings: Iterable[str] = (), people_t: int = 0, people_n: int = 0,
         width: float | None = None, suggested: shapely.Geometry | None = None) -> dict:
    area = float(geom.area) if geom.geom_type in ("Polygon", "MultiPolygon") else 0.0
    return {"kind": kind, "severity": severity, "neighbour": neighbour, "area_m2": round(area, 2),
            "max_width_m": round(max_width(geom) if width is None else width, 2),
            "buildings": ",".join(buildings), "people_township": int(people_t),
            "people_neighbour": int(people_n), "message": message, "suggestion": suggestion,
            "geometry": geom, "_line": suggested}


def _followed_line(part: shapely.Geometry, median: shapely.Geometry,
                   lines: gpd.GeoDataFrame | None) -> tuple[str, str] | None:
    """The named road/river whose centre line runs through ``part`` along at least half
    the length of its median line (both sides can follow it), as (name, 道路|河道)."""
    if lines is None or len(lines) == 0 or median is None or median.is_empty:
        return None
    hits = lines.sindex.query(part, predicate="intersects")
    best: tuple[float, str, str] | None = None
    zone = part.buffer(0.5)
    for i in sorted(hits.tolist()):
        inside = shapely.intersection(lines.geometry.iloc[i], zone).length
        if inside >= 0.5 * median.length:
            cand = (-inside, str(lines["name"].iloc[i]), str(lines["what"].iloc[i]))
            best = cand if best is None or cand < best else best
    return (best[1], best[2]) if best else None


def _named_lines(roads: gpd.GeoDataFrame | None, water: gpd.GeoDataFrame | None) -> gpd.GeoDataFrame | None:
    frames = []
    for f, what in ((roads, "道路"), (water, "河道")):
        if f is None or len(f) == 0 or "name" not in f:
            continue
        f = f[(f["name"].fillna("").astype(str).str.len() > 0)
              & f.geometry.geom_type.isin(["LineString", "MultiLineString"])]
        frames.append(gpd.GeoDataFrame({"name": f["name"].astype(str).tolist(), "what": what},
                                       geometry=list(f.geometry), crs=f.crs))
    if not frames:
        return None
    return gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), geometry="geometry", crs=frames[0].crs)


def _parts_rows(geom: shapely.Geometry, kind: str, neighbour: str, ctx: _Ctx,
                what: str) -> list[dict]:
    s = ctx.settings
    rows = []
    for part in shapely.get_parts(shapely.make_valid(geom)):
        if part.geom_type != "Polygon" or part.area < s.min_area_m2:
            continue
        w = max_width(part)
        sliver = w < s.sliver_width_m
        k = f"{kind}_sliver" if sliver else kind
        ids, pt = _people_in(ctx.buildings, part)
        nids, pn = _people_in(ctx.nb_buildings, part)
        line = median_line(part)
        msg = (f"{what}{' (细条)' if sliver else ''}: 面积 {part.area:.1f} m², 最大宽度 {w:.1f} m"
               f"{', 涉及本街镇建筑 ' + str(len(ids)) + ' 栋 (' + str(pt) + ' 人)' if ids else ''}"
               f"{', 邻方建筑 ' + str(len(nids)) + ' 栋 (' + str(pn) + ' 人)' if nids else ''}")
        follow = _followed_line(part, line, ctx.lines)
        sug = ((f"建议以{follow[1]}“{follow[0]}”中心线为界 (双方均沿此线); 或" if follow else "建议")
               + "以重叠/缝隙区的中线为界 (见 conflict_lines)" +
               (f"; 按中线划分, 本街镇约得/失 {pt} 人, 邻方约 {pn} 人" if (pt or pn) else ""))
        rows.append(_row(k, "warning" if sliver else "error", neighbour, part, msg, sug,
                         sorted(set(ids) | set(nids)), pt, pn, w, line))
    return rows


def _match_fraction(ref: shapely.Geometry, other: shapely.Geometry, *, tol: float,
                    search_m: float, step: float = 10.0) -> float:
    """Share of ``other``'s outline (densified every ``step`` m, only the part within
    ``search_m`` of ``ref``'s outline) lying within ``tol`` of ``ref``'s outline."""
    ref_b = shapely.boundary(ref)
    pts = shapely.points(_outline_points(other, step))
    if len(pts) == 0:
        return 0.0
    d = shapely.distance(pts, ref_b)
    d = d[d <= search_m]
    return float((d <= tol).mean()) if len(d) else 0.0


def _gap_between(T: shapely.Geometry, N: shapely.Geometry, D: float) -> shapely.Geometry:
    """Land of nobody between T and N (see module docstring): holes of T ∪ N and the
    channels narrower than 2D closed by a morphological closing of T ∪ N, kept when they
    touch both outlines and at least 80% of their outline lies on T or N (this drops the
    fill of acute outside corners at a point where a third area meets both)."""
    both = shapely.union(T, N)
    closed = shapely.buffer(shapely.buffer(both, D, quad_segs=16), -D, quad_segs=16)
    holes = [shapely.Polygon(r) for p in shapely.get_parts(both) if p.geom_type == "Polygon"
             for r in p.interiors]
    cand = shapely.difference(shapely.union_all([closed, *holes]), both)
    eps = max(0.01, 1e-6 * D)
    edge = shapely.boundary(both).buffer(eps)
    keep = []
    for p in shapely.get_parts(shapely.make_valid(cand)):
        if p.geom_type != "Polygon" or p.area <= 0:
            continue
        if shapely.distance(p, T) > eps or shapely.distance(p, N) > eps:
            continue
        if shapely.intersection(p.boundary, edge).length < 0.8 * p.boundary.length:
            continue
        keep.append(p)
    return shapely.union_all(keep) if keep else shapely.Polygon()


def neighbour_conflicts(township: shapely.Geometry, neighbour: shapely.Geometry, name: str, *,
                        settings: BoundarySettings = BoundarySettings(), crs: CRS | str,
                        buildings: gpd.GeoDataFrame | None = None,
                        nb_buildings: gpd.GeoDataFrame | None = None,
                        neighbour_frame: gpd.GeoDataFrame | None = None,
                        named_lines: gpd.GeoDataFrame | None = None) -> list[dict]:
    """Overlaps, gaps, slivers and a systematic shift between the township and one neighbour.

    ``named_lines`` (name, what, geometry): roads/rivers offered as the line to follow."""
    ctx = _Ctx(settings, CRS.from_user_input(crs), buildings, nb_buildings, named_lines)
    s = settings
    T, N = shapely.make_valid(township), shapely.make_valid(neighbour)
    D = s.gap_search_m

    def discrepancy(nb: shapely.Geometry) -> tuple[shapely.Geometry, shapely.Geometry]:
        ov = shapely.intersection(T, nb)
        return ov, _gap_between(T, nb, D)

    ov, gap = discrepancy(N)
    bad = ov.area + gap.area
    rows: list[dict] = []
    c = shapely.centroid(shapely.union(T, N))
    gx, gy = gcj02_offset_m(c.x, c.y, ctx.crs)
    g_len = math.hypot(gx, gy)
    tol = max(s.sliver_width_m, 0.05 * g_len)
    if bad > s.min_area_m2 and g_len > 0:
        fixed = shapely.make_valid(undo_gcj02(gpd.GeoDataFrame(geometry=[N], crs=ctx.crs)).geometry.iloc[0])
        f0 = _match_fraction(T, N, tol=tol, search_m=1.5 * g_len)
        f1 = _match_fraction(T, fixed, tol=tol, search_m=1.5 * g_len)
        logger.debug("%s: outline match %.2f as given, %.2f with GCJ-02 undone", name, f0, f1)
        if f1 >= 0.3 and f1 > 2 * f0 + 0.1:
            ov2, gap2 = discrepancy(fixed)
            dx, dy, _ = estimate_shift(T, N, search_m=max(s.shift_search_m, 0.5 * g_len),
                                       start=(-gx, -gy))
            dx, dy = -dx, -dy  # the neighbour relative to the township
            msg = (f"邻方 {name} 的边界像是 GCJ-02 (火星坐标) 却标为 WGS84: 平均偏移 "
                   f"{math.hypot(dx, dy):.0f} m 向{_direction(dx, dy)}, 与此处 GCJ-02 偏移 "
                   f"{g_len:.0f} m 向{_direction(gx, gy)} 相符 (边界吻合率 {f0:.0%} -> {f1:.0%}); "
                   f"纠正后重叠+缝隙由 {bad:.0f} m² 降为 {ov2.area + gap2.area:.0f} m²")
            rows.append(_row("shift_gcj02", "error", name, shapely.union(ov, gap), msg,
                             "使用 --neighbour-gcj02 重新运行 (re-run with --neighbour-gcj02)",
                             width=math.hypot(dx, dy)))
            return rows
    if bad > s.min_area_m2:
        dx, dy, med = estimate_shift(T, N, search_m=s.shift_search_m)
        sh = math.hypot(dx, dy)
        if sh >= s.shift_min_m:
            moved = translate(N, dx, dy)
            f0 = _match_fraction(T, N, tol=s.on_line_m, search_m=s.shift_search_m)
            f1 = _match_fraction(T, moved, tol=s.on_line_m, search_m=s.shift_search_m)
            logger.debug("%s: shift %.1f m, outline match %.2f -> %.2f", name, sh, f0, f1)
            if f1 >= 0.3 and f1 > 2 * f0:
                ov3, gap3 = discrepancy(moved)
                msg = (f"邻方 {name} 的边界与本街镇边界存在系统性平移: 约 {sh:.1f} m 向"
                       f"{_direction(-dx, -dy)} (邻方相对本方, 边界吻合率 {f0:.0%} -> {f1:.0%}); "
                       f"平移后重叠+缝隙由 {bad:.0f} m² 降为 {ov3.area + gap3.area:.0f} m²")
                rows.append(_row("shift", "warning", name, shapely.union(ov, gap), msg,
                                 "核对双方数据来源与坐标系; 统一底图后重新勾绘", width=sh))
    rows += _parts_rows(ov, "overlap", name, ctx, f"与 {name} 重叠 (重复计数风险)")
    rows += _parts_rows(gap, "gap", name, ctx, f"与 {name} 之间的缝隙 (漏查风险)")
    return rows


def compare_sources(a: shapely.Geometry, b: shapely.Geometry, name: str, *, crs: CRS | str,
                    settings: BoundarySettings = BoundarySettings(),
                    labels: tuple[str, str] = ("A", "B")) -> list[dict]:
    """Two sources of the SAME area's outline (e.g. the project's ``neighbours`` layer and
    the file that office delivered): a GCJ-02 offset (``source_gcj02``), a systematic shift
    (``source_shift``) or pieces where they differ by more than the sliver width
    (``source_mismatch``), each explained once."""
    s = settings
    A, B = shapely.make_valid(a), shapely.make_valid(b)
    diff = shapely.symmetric_difference(A, B)
    if diff.area <= s.min_area_m2:
        return []
    c = shapely.centroid(A)
    gx, gy = gcj02_offset_m(c.x, c.y, crs)
    g_len = math.hypot(gx, gy)
    la, lb = labels
    if g_len > 0:
        fixed = shapely.make_valid(undo_gcj02(gpd.GeoDataFrame(geometry=[B], crs=crs)).geometry.iloc[0])
        f0 = _match_fraction(A, B, tol=max(s.sliver_width_m, 0.05 * g_len), search_m=1.5 * g_len)
        f1 = _match_fraction(A, fixed, tol=max(s.sliver_width_m, 0.05 * g_len), search_m=1.5 * g_len)
        if f1 >= 0.3 and f1 > 2 * f0 + 0.1:
            dx, dy, _ = estimate_shift(A, B, search_m=1.5 * g_len, start=(-gx, -gy))
            return [_row("source_gcj02", "error", name, diff,
                         f"{name} 的两个来源 ({la} / {lb}) 相差约 {math.hypot(dx, dy):.0f} m 向"
                         f"{_direction(-dx, -dy)}, 与此处 GCJ-02 偏移 {g_len:.0f} m 向"
                         f"{_direction(gx, gy)} 相符: {lb} 像是 GCJ-02 却标为 WGS84",
                         "使用 --neighbour-gcj02 重新读取该文件 (re-run with --neighbour-gcj02)",
                         width=math.hypot(dx, dy))]
    dx, dy, _ = estimate_shift(A, B, search_m=s.shift_search_m)
    sh = math.hypot(dx, dy)
    rows: list[dict] = []
    if sh >= s.shift_min_m:
        f0 = _match_fraction(A, B, tol=s.on_line_m, search_m=s.shift_search_m)
        f1 = _match_fraction(A, translate(B, dx, dy), tol=s.on_line_m, search_m=s.shift_search_m)
        if f1 >= 0.3 and f1 > 2 * f0:
            return [_row("source_shift", "warning", name, diff,
                         f"{name} 的两个来源 ({la} / {lb}) 存在系统性平移约 {sh:.1f} m 向"
                         f"{_direction(-dx, -dy)} (边界吻合率 {f0:.0%} -> {f1:.0%})",
                         "核对两份数据的坐标系与底图; 以双方认可的一份为准", width=sh)]
    for part in shapely.get_parts(diff):
        if part.geom_type != "Polygon" or part.area < s.min_area_m2:
            continue
        w = max_width(part)
        if w >= s.sliver_width_m:
            rows.append(_row("source_mismatch", "warning", name, part,
                             f"{name} 的两个来源 ({la} / {lb}) 在此相差: 面积 {part.area:.1f} m², "
                             f"最大宽度 {w:.1f} m", "核对哪一份是现行界线", width=w))
    return rows


def village_conflicts(township: shapely.Geometry, villages: gpd.GeoDataFrame, *,
                      settings: BoundarySettings = BoundarySettings(),
                      buildings: gpd.GeoDataFrame | None = None) -> list[dict]:
    """居/村 inside the township: overlaps, gaps, parts outside, enclaves."""
    ctx = _Ctx(settings, CRS.from_user_input(villages.crs or "EPSG:4549"), buildings, None)
    rows: list[dict] = []
    if len(villages) == 0:
        return rows
    v = villages.sort_values("village_code").reset_index(drop=True)
    geoms = shapely.make_valid(v.geometry.values)
    names = [f"{n}({c})" for n, c in zip(v["name"], v["village_code"])]
    valid = bool(shapely.coverage_is_valid(geoms))
    logger.debug("居/村 coverage valid: %s", valid)
    tree = shapely.STRtree(geoms)
    i_idx, j_idx = tree.query(geoms, predicate="intersects")
    for i, j in sorted(zip(i_idx.tolist(), j_idx.tolist())):
        if i >= j:
            continue
        ov = shapely.intersection(geoms[i], geoms[j])
        rows += _parts_rows(ov, "village_overlap", f"{names[i]}/{names[j]}", ctx,
                            f"居/村 {names[i]} 与 {names[j]} 重叠")
    union = shapely.union_all(geoms)
    T = shapely.make_valid(township)
    rows += _parts_rows(shapely.difference(T, union), "village_gap", "", ctx,
                        "街镇内不属于任何居/村的区域")
    for i, g in enumerate(geoms):
        rows += _parts_rows(shapely.difference(g, T), "village_outside", names[i], ctx,
                            f"居/村 {names[i]} 超出街镇边界的部分")
    # enclaves: a 居/村 whose every part lies inside a hole-filled outline of another one
    for i, g in enumerate(geoms):
        for j in tree.query(g, predicate="intersects").tolist() + \
                tree.query(g.envelope, predicate="intersects").tolist():
            if j == i:
                continue
            filled = shapely.Polygon() if geoms[j].is_empty else shapely.union_all(
                [shapely.Polygon(p.exterior) for p in shapely.get_parts(geoms[j])])
            if filled.contains(g.buffer(-0.01)) and not geoms[j].contains(g):
                rows.append(_row("enclave", "warning", f"{names[i]}/{names[j]}", g,
                                 f"居/村 {names[i]} 是 {names[j]} 内的飞地 (被其完全包围)",
                                 "确认飞地归属; 普查小区不得跨越居/村"))
                break
    for i, g in enumerate(geoms):
        parts = [p for p in shapely.get_parts(g) if p.area >= settings.min_area_m2]
        if len(parts) > 1:
            rows.append(_row("exclave", "info", names[i], g,
                             f"居/村 {names[i]} 由 {len(parts)} 块不相连的部分组成",
                             "确认各块归属", width=max_width(g)))
    return rows


def cut_buildings(buildings: gpd.GeoDataFrame, zones: gpd.GeoDataFrame, label: str, *,
                  settings: BoundarySettings = BoundarySettings(), side_name: str = "") -> list[dict]:
    """Buildings cut by the outlines of ``zones`` (column ``label`` names each zone):
    one row per building crossing a boundary, with the share of its footprint on each side.
    A building is reported when its smaller share is >= ``building_cut_share``."""
    rows: list[dict] = []
    if buildings is None or len(buildings) == 0 or len(zones) == 0:
        return rows
    zones = zones.reset_index(drop=True)
    zg = shapely.make_valid(zones.geometry.values)
    lines = shapely.boundary(zg)
    ltree = shapely.STRtree(lines)
    bg = buildings.geometry.values
    bi, _ = ltree.query(bg, predicate="intersects")
    ztree = shapely.STRtree(zg)
    for i in sorted(set(bi.tolist())):
        g = bg[i]
        a = g.area
        if a <= 0:
            continue
        shares = []
        for j in ztree.query(g, predicate="intersects").tolist():
            sh = shapely.intersection(g, zg[j]).area / a
            if sh > 1e-6:
                shares.append((str(zones[label].iloc[j]), sh))
        outside = 1.0 - sum(sh for _, sh in shares)
        if outside > 1e-6:
            shares.append((side_name or "界外", outside))
        shares.sort(key=lambda t: (-t[1], t[0]))
        if len(shares) < 2 or shares[1][1] < settings.building_cut_share:
            continue
        bid = str(buildings["building_id"].iloc[i]) if "building_id" in buildings else str(i)
        pop = int(pd.to_numeric(pd.Series([buildings["population"].iloc[i]]), errors="coerce")
                  .fillna(0).iloc[0]) if "population" in buildings else 0
        txt = ", ".join(f"{n} {sh:.0%}" for n, sh in shares)
        rows.append(_row("building_cut", "warning", ",".join(n for n, _ in shares), g,
                         f"建筑 {bid} 被边界切开: {txt}",
                         f"建议整栋归入 {shares[0][0]} (占 {shares[0][1]:.0%}), 边界绕建筑调整",
                         [bid], pop, 0))
        rows[-1]["shares"] = shares
    return rows


def claimed_both(buildings: gpd.GeoDataFrame, nb_buildings: gpd.GeoDataFrame, neighbour: str = "",
                 *, min_share: float = 0.5) -> list[dict]:
    """Project buildings also in the neighbour's building list (overlap >= ``min_share`` of the
    smaller footprint)."""
    rows: list[dict] = []
    if buildings is None or nb_buildings is None or len(buildings) == 0 or len(nb_buildings) == 0:
        return rows
    a, b = buildings.geometry.values, nb_buildings.geometry.values
    ia, ib = shapely.STRtree(b).query(a, predicate="intersects")
    for i, j in sorted(zip(ia.tolist(), ib.tolist())):
        inter = shapely.intersection(a[i], b[j]).area
        if inter < min_share * min(a[i].area, b[j].area):
            continue
        bid = str(buildings["building_id"].iloc[i]) if "building_id" in buildings else str(i)
        nid = str(nb_buildings["building_id"].iloc[j]) if "building_id" in nb_buildings else str(j)
        pt = int(pd.to_numeric(pd.Series([buildings.get("population", pd.Series([0] * len(a))).iloc[i]]),
                               errors="coerce").fillna(0).iloc[0])
        pn = int(pd.to_numeric(pd.Series([nb_buildings.get("population", pd.Series([0] * len(b))).iloc[j]]),
                               errors="coerce").fillna(0).iloc[0])
        rows.append(_row("claimed_both", "error", neighbour, a[i],
                         f"建筑 {bid} 同时被本街镇与 {neighbour} (其编号 {nid}) 登记",
                         "双方协商确定归属, 另一方删除", [bid], pt, pn))
    return rows


def near_line_conflicts(boundary: shapely.Geometry, features: gpd.GeoDataFrame, what: str, *,
                        settings: BoundarySettings = BoundarySettings(), step: float = 2.0) -> list[dict]:
    """Stretches of ``boundary`` within ``near_line_m`` of a NAMED line feature without following
    it (distance > ``on_line_m``) over at least ``near_line_min_len_m``."""
    rows: list[dict] = []
    if features is None or len(features) == 0 or "name" not in features:
        return rows
    f = features[features["name"].fillna("").astype(str).str.len() > 0]
    f = f[f.geometry.geom_type.isin(["LineString", "MultiLineString"])].reset_index(drop=True)
    if len(f) == 0:
        return rows
    s = settings
    tree = shapely.STRtree(f.geometry.values)
    for ring in shapely.get_parts(shapely.line_merge(shapely.boundary(boundary))):
        coords = shapely.get_coordinates(shapely.segmentize(ring, step))
        if len(coords) < 2:
            continue
        pts = shapely.points(coords)
        (pi, fi), dist = tree.query_nearest(pts, max_distance=s.near_line_m, return_distance=True,
                                            all_matches=False)
        near = np.full(len(coords), -1)
        d = np.full(len(coords), np.inf)
        near[pi] = fi
        d[pi] = dist
        flag = (d > s.on_line_m) & (d <= s.near_line_m)
        # runs of consecutive flagged points with the same nearest feature name
        nm = np.array([f["name"].iloc[k] if k >= 0 else "" for k in near], dtype=object)
        i = 0
        while i < len(coords):
            if not flag[i]:
                i += 1
                continue
            j = i
            while j + 1 < len(coords) and flag[j + 1] and nm[j + 1] == nm[i]:
                j += 1
            run = shapely.LineString(coords[i:j + 1]) if j > i else None
            if run is not None and run.length >= s.near_line_min_len_m:
                mean_d = float(d[i:j + 1].mean())
                rows.append(_row("near_line", "warning", nm[i], run,
                                 f"边界有 {run.length:.0f} m 距{what}“{nm[i]}”中心线约 {mean_d:.1f} m "
                                 f"但未沿其走向 (疑为勾绘误差)",
                                 f"建议边界改沿{what}“{nm[i]}”中心线", width=mean_d,
                                 suggested=shapely.shortest_line(run, f.geometry.values[near[i]])))
            i = j + 1
    return rows


def find_conflicts(township: gpd.GeoDataFrame, villages: gpd.GeoDataFrame | None,
                   neighbours: gpd.GeoDataFrame | None, *,
                   settings: BoundarySettings = BoundarySettings(),
                   buildings: gpd.GeoDataFrame | None = None,
                   nb_buildings: gpd.GeoDataFrame | None = None,
                   roads: gpd.GeoDataFrame | None = None,
                   water: gpd.GeoDataFrame | None = None) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Run every check. All inputs in the same metric CRS (the township's).

    ``neighbours`` columns: ``name`` (and optional ``code``, ``source``); a neighbour
    delivered by two sources appears as two rows.

    Returns
    -------
    (conflicts, conflict_lines)
        ``conflicts``: columns :data:`CONFLICT_COLUMNS` + geometry, sorted by severity then
        kind then area (largest first), ids ``C001``...; ``conflict_lines``: conflict_id, kind,
        geometry (suggested lines).
    """
    crs = township.crs
    T = shapely.make_valid(shapely.union_all(township.geometry.values))
    s = settings
    rows: list[dict] = []
    named = _named_lines(roads, water)
    if neighbours is not None and len(neighbours):
        nbs = neighbours.reset_index(drop=True)
        for k in range(len(nbs)):
            nm = str(nbs["name"].iloc[k]) if "name" in nbs else f"邻方{k + 1}"
            rows += neighbour_conflicts(T, nbs.geometry.iloc[k], nm, settings=s, crs=crs,
                                        buildings=buildings, nb_buildings=nb_buildings,
                                        neighbour_frame=nbs.iloc[[k]], named_lines=named)
        if nb_buildings is not None:
            rows += claimed_both(buildings, nb_buildings, "邻方")
        # the same neighbour from two sources: compare them with each other
        src = nbs["source"].astype(str).tolist() if "source" in nbs else [""] * len(nbs)
        names = nbs["name"].astype(str).tolist() if "name" in nbs else [""] * len(nbs)
        for i in range(len(nbs)):
            for j in range(i + 1, len(nbs)):
                if names[i] and names[i] == names[j]:
                    rows += compare_sources(nbs.geometry.iloc[i], nbs.geometry.iloc[j], names[i],
                                            crs=crs, settings=s,
                                            labels=(src[i] or f"#{i + 1}", src[j] or f"#{j + 1}"))
    if villages is not None and len(villages):
        rows += village_conflicts(T, villages, settings=s, buildings=buildings)
    if buildings is not None and len(buildings):
        tw = gpd.GeoDataFrame({"name": [str(township["name"].iloc[0]) if "name" in township else "本街镇"]},
                              geometry=[T], crs=crs)
        seen: set[str] = set()
        if villages is not None and len(villages):
            for r in cut_buildings(buildings, villages, "name", settings=s, side_name="街镇外"):
                seen.add(r["buildings"])
                rows.append(r)
        for r in cut_buildings(buildings, tw, "name", settings=s, side_name="邻方"):
            if r["buildings"] not in seen:
                rows.append(r)
    for feats, what in ((roads, "道路"), (water, "河道")):
        if feats is not None and len(feats):
            rows += near_line_conflicts(T, feats, what, settings=s)
    order = {"error": 0, "warning": 1, "info": 2}
    rows.sort(key=lambda r: (order[r["severity"]], r["kind"], -r["area_m2"], r["neighbour"],
                             r["geometry"].wkb))
    lines = []
    to_ll = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    for n, r in enumerate(rows, 1):
        r["conflict_id"] = f"C{n:03d}"
        p = shapely.point_on_surface(r["geometry"]) if not r["geometry"].is_empty else shapely.Point(0, 0)
        lon, lat = to_ll.transform(p.x, p.y)
        r["lon"], r["lat"] = round(float(lon), 6), round(float(lat), 6)
        line = r.pop("_line", None)
        r.pop("shares", None)
        if line is not None and not line.is_empty:
            lines.append({"conflict_id": r["conflict_id"], "kind": r["kind"], "geometry": line})
    conflicts = gpd.GeoDataFrame(rows, columns=[*CONFLICT_COLUMNS, "geometry"], geometry="geometry",
                                 crs=crs)
    clines = gpd.GeoDataFrame(lines, columns=["conflict_id", "kind", "geometry"],
                              geometry="geometry", crs=crs)
    return conflicts, clines


def exceeds_tolerance(conflicts: pd.DataFrame) -> bool:
    """True when any conflict has severity ``error`` (beyond tolerance)."""
    return bool(len(conflicts)) and bool((conflicts["severity"] == "error").any())


_NAME_COLUMNS = ("name", "名称", "NAME", "Name", "xzqmc", "XZQMC", "jdmc", "JDMC")


def _name_column(gdf: pd.DataFrame) -> str | None:
    for c in _NAME_COLUMNS:
        if c in gdf.columns:
            return c
    return None


def split_spec(spec: str) -> tuple[str, str]:
    """``FILE[:LAYER]`` -> (file, layer); a drive letter or an existing path is not split."""
    from pathlib import Path

    if Path(spec).exists() or ":" not in spec:
        return spec, ""
    head, layer = spec.rsplit(":", 1)
    if len(head) <= 1 or "/" in layer or "\\" in layer:
        return spec, ""
    return head, layer


def read_neighbour(spec: str, *, working_crs: CRS | str, crs: str = "", gcj02: bool = False,
                   exclude: Iterable[str] = (), base_dir: str = ".") -> gpd.GeoDataFrame:
    """Read one neighbour's boundary as delivered (``FILE[:LAYER]``, any OGR format/CRS).

    Polygons are dissolved by name (columns tried: name, 名称, XZQMC ...; else the file
    stem). A LINE layer is assembled into faces (:func:`pucha.gis.faces.assemble_faces`,
    left/right labels) and faces named in ``exclude`` (the township itself) or unnamed
    are dropped. ``crs`` overrides/sets the file's CRS; ``gcj02`` converts GCJ-02
    coordinates to WGS 84 first.

    Returns
    -------
    GeoDataFrame
        ``code``, ``name``, ``source``, geometry in ``working_crs``; one row per neighbour.
    """
    from pathlib import Path

    from pucha.config import LayerSource
    from pucha.errors import InputError
    from pucha.gis.faces import assemble_faces
    from pucha.gis.read import read_source

    path, layer = split_spec(spec)
    src = LayerSource(path=path, layer=layer, crs=crs, gcj02=gcj02)
    gdf = read_source(src, base_dir=base_dir, kind="neighbours", crs=working_crs)
    gdf = gdf[~gdf.geometry.isna() & ~gdf.geometry.is_empty]
    if len(gdf) == 0:
        raise InputError(f"{spec}: no geometry in the neighbour's file; give the layer as "
                         f"FILE:LAYER if it has several")
    kinds = set(gdf.geometry.geom_type)
    stem = Path(path).stem
    ex = {str(e) for e in exclude if e}
    if kinds <= {"LineString", "MultiLineString"}:
        faces = assemble_faces(gdf)
        faces = faces[(faces["name"] != "") & ~faces["name"].isin(ex)]
        if len(faces) == 0:
            raise InputError(f"{spec}: the boundary lines could not be assembled into named "
                             f"faces; they need name:left/name:right columns (or names "
                             f"\"LEFT - RIGHT\")")
        out = gpd.GeoDataFrame({"code": "", "name": faces["name"].astype(str).tolist()},
                               geometry=list(faces.geometry), crs=gdf.crs)
    else:
        gdf = gdf[gdf.geometry.geom_type.isin(["Polygon", "MultiPolygon"])]
        if len(gdf) == 0:
            raise InputError(f"{spec}: neither polygons nor lines ({', '.join(sorted(kinds))})")
        col = _name_column(gdf)
        names = gdf[col].fillna(stem).astype(str) if col else pd.Series([stem] * len(gdf), index=gdf.index)
        codes = gdf["code"].astype(str) if "code" in gdf else pd.Series([""] * len(gdf), index=gdf.index)
        tmp = gpd.GeoDataFrame({"code": codes, "name": names},
                               geometry=shapely.make_valid(gdf.geometry.values), crs=gdf.crs)
        tmp = tmp[~tmp["name"].isin(ex)]
        out = tmp.dissolve(by="name", aggfunc="first", as_index=False)[["code", "name", "geometry"]]
    out["source"] = Path(path).name
    return out.sort_values("name").reset_index(drop=True)

"""Assemble boundary LINES into labelled faces (polygons).

Boundaries often arrive as lines (OSM ``boundary=administrative`` ways, CAD
exports) carrying the names of the areas on each side (``name:left`` /
``name:right``). :func:`assemble_faces` nodes the lines, closes them with an
optional clip box, polygonizes, and labels every face by sampling a point a
small distance to the left and to the right of each line: the face holding the
left point votes for the line's left label, the face holding the right point for
its right label. A face's label is its majority vote (ties: sorted first);
faces nobody voted for get the label ``""``.

    box  +-----------+---------+
         |  A  line1 ^  B      |     line1 drawn upwards: name:left=A, name:right=B
         +-----------+---------+     -> two faces, labelled A and B
"""

from __future__ import annotations

import logging
from collections import Counter

import geopandas as gpd
import numpy as np
import shapely
from shapely.geometry import box as _box

__all__ = ["assemble_faces"]

logger = logging.getLogger(__name__)


def _side_points(line: shapely.LineString, d: float) -> tuple[shapely.Point, shapely.Point] | None:
    """Points ``d`` to the left and right of the middle of ``line``'s longest segment."""
    xy = np.asarray(line.coords)[:, :2]
    if len(xy) < 2:
        return None
    seg = np.diff(xy, axis=0)
    lens = np.hypot(seg[:, 0], seg[:, 1])
    i = int(np.argmax(lens))
    if lens[i] <= 0:
        return None
    mid = xy[i] + seg[i] / 2
    n = np.array([-seg[i, 1], seg[i, 0]]) / lens[i]  # left normal
    d = min(d, lens[i] / 4)
    return shapely.Point(*(mid + n * d)), shapely.Point(*(mid - n * d))


def _labels(lines: gpd.GeoDataFrame, left: str, right: str) -> tuple[list[str], list[str]]:
    """Left/right labels; falls back to a ``name`` of the form "LEFT - RIGHT" (OSM style)."""
    n = len(lines)
    lv = lines[left].fillna("").astype(str).tolist() if left in lines else [""] * n
    rv = lines[right].fillna("").astype(str).tolist() if right in lines else [""] * n
    if "name" in lines:
        for i, name in enumerate(lines["name"].fillna("").astype(str)):
            if (not lv[i] or not rv[i]) and " - " in name:
                a, b = name.split(" - ", 1)
                lv[i] = lv[i] or a.strip()
                rv[i] = rv[i] or b.strip()
    return lv, rv


def assemble_faces(lines: gpd.GeoDataFrame, *, left: str = "name:left", right: str = "name:right",
                   clip: tuple[float, float, float, float] | str | None = "extent",
                   dissolve: bool = True, side_offset_m: float = 0.5, snap_m: float = 1.0) -> gpd.GeoDataFrame:
    """Polygonize boundary lines into faces labelled from left/right attributes.

    Parameters
    ----------
    lines : GeoDataFrame
        LineString/MultiLineString boundaries with columns ``left`` and ``right``.
        Any CRS; labelling is done in a local metric CRS (UTM) if it is geographic.
    left, right : str
        Columns naming the area on each side of a line (in digitising direction).
        Where they are missing or empty, a ``name`` of the form ``"LEFT - RIGHT"``
        (as in OSM boundary extracts, e.g. ``"关山街道 - 关东街道"``) is split instead.
    clip : (minx, miny, maxx, maxy) | "extent" | None
        Closing box in the CRS of ``lines``: its outline is added to the lines so
        faces cut off by the edge of an extract still close. ``"extent"`` (default)
        uses the lines' bounds; ``None`` adds nothing (only closed rings form faces).
    dissolve : bool
        Merge faces of the same label into one (Multi)Polygon (default true).
    side_offset_m : float
        Distance of the left/right sample points from the line (metres, default 0.5).
    snap_m : float
        Line vertices within this distance of the clip box are snapped onto it
        (metres, default 1.0), so lines cut at the edge of an extract close faces.

    Returns
    -------
    GeoDataFrame
        Columns ``name`` (label, ``""`` if unknown), ``votes`` (int), ``geometry``;
        CRS of ``lines``; sorted by name then area (largest first).
    """
    if len(lines) == 0:
        return gpd.GeoDataFrame({"name": [], "votes": []}, geometry=[], crs=lines.crs)
    crs = lines.crs
    # Topology is the same in any CRS: node and polygonize in the input CRS; only
    # the metre tolerances are converted (1 degree ~ 111.32 km for geographic data).
    unit = 1.0 / 111_320.0 if (crs is not None and crs.is_geographic) else 1.0
    work = lines
    geoms = [g for g in shapely.get_parts(np.asarray(work.geometry.values)) if not g.is_empty]
    if clip is not None:
        box_bounds = tuple(lines.total_bounds) if isinstance(clip, str) else tuple(clip)
        clip_poly = _box(*box_bounds)
        # Snap line ends that stop at the extract edge onto the box so the faces close.
        tol = snap_m * unit
        geoms = [shapely.snap(shapely.intersection(g, clip_poly.buffer(tol)),
                              clip_poly.exterior, tol) for g in geoms]
        geoms.append(clip_poly.exterior)
    noded = shapely.node(shapely.GeometryCollection([g for g in geoms if not g.is_empty]))
    faces = list(shapely.get_parts(shapely.polygonize(list(shapely.get_parts(noded)))))
    if clip is not None:
        faces = [f for f in faces if shapely.intersection(f, clip_poly).area > 0.5 * f.area]
    side_offset_m = side_offset_m * unit
    tree = shapely.STRtree(faces)
    votes: list[Counter] = [Counter() for _ in faces]
    lvals, rvals = _labels(work, left, right)
    for geom, lv, rv in zip(work.geometry.values, lvals, rvals):
        for part in shapely.get_parts(geom):
            pts = _side_points(part, side_offset_m)
            if pts is None:
                continue
            for p, label in zip(pts, (lv, rv)):
                if not label:
                    continue
                for j in tree.query(p, predicate="within"):
                    votes[int(j)][label] += 1
    names, counts = [], []
    for c in votes:
        if c:
            best = sorted(c.items(), key=lambda kv: (-kv[1], kv[0]))[0]
            names.append(best[0]); counts.append(int(sum(c.values())))
        else:
            names.append(""); counts.append(0)
    out = gpd.GeoDataFrame({"name": names, "votes": counts}, geometry=faces, crs=crs)
    if dissolve and len(out):
        out = out.dissolve(by="name", aggfunc="sum", as_index=False)
    out["_a"] = shapely.area(out.geometry.values)
    out = out.sort_values(["name", "_a"], ascending=[True, False]).drop(columns="_a")
    logger.debug("assembled %d faces from %d lines", len(out), len(lines))
    return out.reset_index(drop=True)

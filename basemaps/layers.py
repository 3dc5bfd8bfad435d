"""The default basemap: the project's own vector layers, clipped to the view.

No tiles, no network. Under every area map pucha draws, from the project
GeoPackage: water (rivers, canals, lakes), railways, roads with their Chinese
names, the other buildings, the neighbouring 普查小区 with their codes and the
居/村 boundaries. :func:`clip_layers` cuts them to the view; the same clipped
layers are drawn into a folium map (:func:`add_to_folium`) and onto a
matplotlib axes (:func:`draw_on_axes`), so the web and paper maps agree.

Text from the data is escaped with :func:`escape_text` before it reaches any
HTML or JavaScript.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Callable
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry import box
from shapely.geometry.base import BaseGeometry

__all__ = ["BasemapLayers", "STYLE", "clip_layers", "escape_text", "label_points",
           "add_to_folium", "draw_on_axes", "to_display"]

logger = logging.getLogger(__name__)

#: colours and widths shared by the web and the paper maps
STYLE = {
    "water_fill": "#a9d3f0", "water_line": "#4a90c8",
    "road_major": "#f0a040", "road_minor": "#c8c8c8", "road_path": "#d8d0c0",
    "road_casing": "#909090", "rail": "#606060",
    "building_other": "#d9d4cc", "building_other_edge": "#b0a89c",
    "village_line": "#7b3294", "neighbour_line": "#888888", "neighbour_text": "#555555",
    "road_text": "#333333", "water_text": "#1f5f99", "town_line": "#2d6a2d",
}


def escape_text(value: object) -> str:
    """Text from the data made safe for HTML, JS template literals and inline JSON.

    ``html.escape`` plus the characters that matter inside JavaScript: ``$``,
    ``{``, ``}``, backtick and backslash become numeric entities, which a browser
    shows as the same characters but which cannot start an interpolation or an
    escape sequence. Newlines become spaces. ``None``/NaN become ``""``.

    >>> escape_text("<script>alert(1)</script>")
    '&lt;script&gt;alert(1)&lt;/script&gt;'
    >>> escape_text("`${x}`")
    '&#96;&#36;&#123;x&#125;&#96;'
    """
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    s = html.escape(str(value), quote=True)
    for ch, ent in (("\\", "&#92;"), ("`", "&#96;"), ("$", "&#36;"), ("{", "&#123;"),
                    ("}", "&#125;")):
        s = s.replace(ch, ent)
    s = s.replace("\r\n", " ").replace("\n", " ").replace("\r", " ")
    s = s.replace("\u2028", " ").replace("\u2029", " ")
    return s


@dataclass
class BasemapLayers:
    """Project layers clipped to one view (working CRS)."""

    view: BaseGeometry
    roads: gpd.GeoDataFrame
    water: gpd.GeoDataFrame
    railways: gpd.GeoDataFrame
    buildings: gpd.GeoDataFrame
    areas: gpd.GeoDataFrame
    villages: gpd.GeoDataFrame
    towns: gpd.GeoDataFrame | None = None
    town_labels: list[tuple[str, float, float]] | None = None


def _clip_by_rect(geoms: np.ndarray, xmin: float, ymin: float, xmax: float,
                  ymax: float) -> np.ndarray:
    """``shapely.clip_by_rect``, robust to the odd degenerate geometry.

    GEOS refuses some valid-looking inputs (e.g. a ring that collapses to three
    points inside the clip); such geometries are repaired with ``make_valid`` and
    intersected with the rectangle instead of stopping the whole map.
    """
    try:
        return shapely.clip_by_rect(geoms, xmin, ymin, xmax, ymax)
    except shapely.errors.GEOSException:
        rect = box(xmin, ymin, xmax, ymax)
        out = np.empty(len(geoms), dtype=object)
        for i, g in enumerate(geoms):
            try:
                out[i] = shapely.clip_by_rect(g, xmin, ymin, xmax, ymax)
            except shapely.errors.GEOSException:
                try:
                    out[i] = shapely.make_valid(g).intersection(rect)
                except shapely.errors.GEOSException:
                    logger.warning("cannot clip a geometry to the map view; left out")
                    out[i] = shapely.GeometryCollection()
        return out


def _clip(gdf: gpd.GeoDataFrame | None, view: BaseGeometry, columns: tuple[str, ...],
          *, exclude: tuple[str, set[str]] | None = None,
          boundary: bool = False) -> gpd.GeoDataFrame:
    cols = [c for c in columns]
    if gdf is None or len(gdf) == 0:
        return gpd.GeoDataFrame({c: pd.Series(dtype=object) for c in cols},
                                geometry=gpd.GeoSeries([], crs=getattr(gdf, "crs", None)))
    idx = np.sort(gdf.sindex.query(view, predicate="intersects"))
    sub = gdf.iloc[idx]
    if exclude is not None:
        col, ids = exclude
        sub = sub[~sub[col].isin(ids)]
    keep = [c for c in cols if c in sub.columns]
    sub = sub[keep + [sub.geometry.name]].copy()
    for c in cols:
        if c not in sub.columns:
            sub[c] = ""
    geoms = sub.geometry.values
    if boundary:
        geoms = shapely.boundary(np.asarray(geoms))
    xmin, ymin, xmax, ymax = view.bounds
    clipped = _clip_by_rect(np.asarray(geoms), xmin, ymin, xmax, ymax)
    sub = sub.set_geometry(gpd.GeoSeries(clipped, index=sub.index, crs=gdf.crs))
    arr = np.asarray(sub.geometry.values)
    sub = sub[~(shapely.is_missing(arr) | shapely.is_empty(arr))]
    return sub[cols + [sub.geometry.name]].reset_index(drop=True)


def clip_layers(view: BaseGeometry, *, roads: gpd.GeoDataFrame | None = None,
                water: gpd.GeoDataFrame | None = None,
                railways: gpd.GeoDataFrame | None = None,
                buildings: gpd.GeoDataFrame | None = None,
                areas: gpd.GeoDataFrame | None = None,
                villages: gpd.GeoDataFrame | None = None,
                towns: gpd.GeoDataFrame | None = None,
                exclude_buildings: set[str] | None = None,
                exclude_areas: set[str] | None = None) -> BasemapLayers:
    """Clip the project layers to the rectangle around ``view``.

    ``buildings`` named in ``exclude_buildings`` (the area's own, drawn on top by
    the caller) and ``areas`` in ``exclude_areas`` are left out. 居/村 polygons
    become their boundary lines. ``towns`` (columns code, name: this 街道/镇 and
    the neighbouring ones; optional bool column ``own`` marks this one) become
    boundary lines plus one name label for each neighbouring town in the view.
    """
    rect = box(*view.bounds)
    town_lines = _clip(towns, rect, ("code", "name"), boundary=True)
    labels: list[tuple[str, float, float]] = []
    if towns is not None and len(towns):
        idx = np.sort(towns.sindex.query(rect, predicate="intersects"))
        sub = towns.iloc[idx]
        own = sub["own"].astype(bool) if "own" in sub.columns else [False] * len(sub)
        for name, geom, is_own in zip(sub["name"], sub.geometry, own):
            part = geom.intersection(rect)
            if not is_own and str(name).strip() and not part.is_empty and part.area > 0.02 * rect.area:
                p = part.representative_point()
                labels.append((str(name), p.x, p.y))
    return BasemapLayers(
        view=rect,
        roads=_clip(roads, rect, ("name", "road_class")),
        water=_clip(water, rect, ("name", "water_kind")),
        railways=_clip(railways, rect, ("name",)),
        buildings=_clip(buildings, rect, ("building_id",),
                        exclude=("building_id", exclude_buildings or set())),
        areas=_clip(areas, rect, ("area_code", "village_code"),
                    exclude=("area_code", exclude_areas or set())),
        villages=_clip(villages, rect, ("village_code", "name"), boundary=True),
        towns=town_lines, town_labels=labels,
    )


def label_points(gdf: gpd.GeoDataFrame, *, column: str = "name", min_length: float = 60.0,
                 max_labels: int = 40) -> list[tuple[str, float, float, float]]:
    """One label per distinct name: ``(text, x, y, angle_deg)`` on its longest piece.

    Angle is the direction of the line at the label (kept between -90 and 90
    degrees so text reads left to right). Polygons get their representative point
    and angle 0. Sorted by length (longest first), then name.
    """
    if len(gdf) == 0 or column not in gdf.columns:
        return []
    named = gdf[gdf[column].astype(str).str.strip() != ""]
    best: dict[str, tuple[float, float, float, float]] = {}
    for name, geom in zip(named[column].astype(str), named.geometry):
        for part in shapely.get_parts(np.asarray([geom]))[0:]:
            if part is None or part.is_empty:
                continue
            if part.geom_type in ("Polygon", "MultiPolygon"):
                size = float(np.sqrt(part.area))
                p = part.representative_point()
                cand = (size, p.x, p.y, 0.0)
            elif part.geom_type == "LineString":
                size = part.length
                if size <= 0:
                    continue
                mid = part.interpolate(0.5, normalized=True)
                a = part.interpolate(max(0.0, size / 2 - 5))
                b = part.interpolate(min(size, size / 2 + 5))
                ang = float(np.degrees(np.arctan2(b.y - a.y, b.x - a.x)))
                if ang > 90:
                    ang -= 180
                elif ang < -90:
                    ang += 180
                cand = (size, mid.x, mid.y, ang)
            else:
                continue
            if name not in best or cand[0] > best[name][0]:
                best[name] = cand
    items = sorted(best.items(), key=lambda kv: (-kv[1][0], kv[0]))
    return [(name, x, y, ang) for name, (size, x, y, ang) in items
            if size >= min_length][:max_labels]


def to_display(gdf: gpd.GeoDataFrame, *, shift: Callable | None = None) -> gpd.GeoDataFrame:
    """Reproject to EPSG:4326 for the web, optionally shifted (e.g. into GCJ-02)."""
    out = gdf.to_crs(4326) if gdf.crs is not None else gdf
    if shift is not None and len(out):
        out = shift(out)
    return out


def round_for_web(geom):
    """``geom`` (lon/lat) rounded to 1e-7 degrees (~1 cm); an invalid source geometry
    (e.g. a free hole) is repaired first instead of failing the map."""
    try:
        return shapely.set_precision(geom, 1e-7)
    except shapely.errors.GEOSException:
        return shapely.set_precision(shapely.make_valid(geom), 1e-7, mode="pointwise")


def _geojson(gdf: gpd.GeoDataFrame, props: tuple[str, ...] = ()) -> dict:
    """A GeoJSON dict with only ``props`` (escaped), geometry rounded to ~1 cm."""
    feats = []
    for i, geom in enumerate(gdf.geometry):
        if geom is None or geom.is_empty:
            continue
        g = round_for_web(geom)
        feats.append({"type": "Feature", "id": i,
                      "properties": {p: escape_text(gdf.iloc[i][p]) for p in props},
                      "geometry": shapely.geometry.mapping(g)})
    return {"type": "FeatureCollection", "features": feats}


def add_to_folium(m, layers: BasemapLayers, *, shift: Callable | None = None,
                  name_prefix: str = "") -> None:
    """Draw ``layers`` into folium map ``m`` as vector layers (no tiles).

    Adds feature groups 水系, 铁路, 道路, 其他建筑, 相邻普查小区 and 居/村界, plus
    road and water name labels; names are escaped.
    """
    import folium

    def disp(g: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
        return to_display(g, shift=shift)

    w = disp(layers.water)
    if len(w):
        fg = folium.FeatureGroup(name="水系", control=True)
        folium.GeoJson(_geojson(w), style_function=lambda f: {
            "color": STYLE["water_line"], "weight": 2, "fillColor": STYLE["water_fill"],
            "fillOpacity": 0.8}, interactive=False).add_to(fg)
        fg.add_to(m)
    rl = disp(layers.railways)
    if len(rl):
        fg = folium.FeatureGroup(name="铁路")
        folium.GeoJson(_geojson(rl), style_function=lambda f: {
            "color": STYLE["rail"], "weight": 2, "dashArray": "6 4"}, interactive=False).add_to(fg)
        fg.add_to(m)
    r = disp(layers.roads)
    if len(r):
        fg = folium.FeatureGroup(name="道路")
        widths = {"major": 7, "minor": 4, "path": 2}
        colours = {"major": STYLE["road_major"], "minor": STYLE["road_minor"],
                   "path": STYLE["road_path"]}
        for cls in ("path", "minor", "major"):
            sub = r[r["road_class"] == cls]
            if len(sub) == 0:
                continue
            folium.GeoJson(_geojson(sub), style_function=lambda f, c=cls: {
                "color": colours[c], "weight": widths[c], "opacity": 0.9},
                interactive=False).add_to(fg)
        fg.add_to(m)
    b = disp(layers.buildings)
    if len(b):
        fg = folium.FeatureGroup(name="其他建筑")
        folium.GeoJson(_geojson(b), style_function=lambda f: {
            "color": STYLE["building_other_edge"], "weight": 1,
            "fillColor": STYLE["building_other"], "fillOpacity": 0.7},
            interactive=False).add_to(fg)
        fg.add_to(m)
    v = disp(layers.villages)
    if len(v):
        fg = folium.FeatureGroup(name="居/村界")
        folium.GeoJson(_geojson(v), style_function=lambda f: {
            "color": STYLE["village_line"], "weight": 3, "dashArray": "10 6"},
            interactive=False).add_to(fg)
        fg.add_to(m)
    t = disp(layers.towns) if layers.towns is not None else None
    if t is not None and len(t):
        fg = folium.FeatureGroup(name="街镇界")
        folium.GeoJson(_geojson(t), style_function=lambda f: {
            "color": STYLE["town_line"], "weight": 4, "dashArray": "14 5 3 5"},
            interactive=False).add_to(fg)
        fg.add_to(m)
    a = disp(layers.areas)
    if len(a):
        fg = folium.FeatureGroup(name="相邻普查小区")
        folium.GeoJson(_geojson(a), style_function=lambda f: {
            "color": STYLE["neighbour_line"], "weight": 1.5, "fill": False},
            interactive=False).add_to(fg)
        fg.add_to(m)
    # name labels (roads, water) as small text markers
    labels = [(t, x, y, 0.0, "town") for t, x, y in (layers.town_labels or [])]
    labels += [(t, x, y, ang, "road") for t, x, y, ang in label_points(layers.roads)]
    labels += [(t, x, y, ang, "water") for t, x, y, ang in label_points(layers.water)]
    if labels:
        fg = folium.FeatureGroup(name="地名注记")
        pts = gpd.GeoDataFrame({"t": [lb[0] for lb in labels]},
                               geometry=gpd.points_from_xy([lb[1] for lb in labels],
                                                           [lb[2] for lb in labels]),
                               crs=layers.roads.crs or layers.water.crs)
        pts = disp(pts)
        for (text, _x, _y, ang, kind), p in zip(labels, pts.geometry):
            colour = {"road": STYLE["road_text"], "water": STYLE["water_text"],
                      "town": STYLE["town_line"]}[kind]
            html_ = (f'<div class="pucha-lbl" style="color:{colour};'
                     f'transform:translate(-50%,-50%) rotate({-ang:.0f}deg)">'
                     f'{escape_text(text)}</div>')
            folium.Marker([p.y, p.x], icon=folium.DivIcon(html=html_, icon_size=(0, 0)),
                          interactive=False).add_to(fg)
        fg.add_to(m)


def draw_on_axes(ax, layers: BasemapLayers, *, fontsize: float = 6.5,
                 road_labels: bool = True, max_labels: int = 40) -> None:
    """Draw ``layers`` on a matplotlib axes in the working CRS (metres).

    ``max_labels``: road and water names drawn at most (longest first); a printed
    sheet needs a dozen, and every label costs text layout twice (placement, PDF)."""
    halo = dict(boxstyle="square,pad=0.08", facecolor="white", edgecolor="none", alpha=0.75)
    w = layers.water
    if len(w):
        polys = w[w.geometry.geom_type.isin(["Polygon", "MultiPolygon"])]
        lines = w[~w.geometry.geom_type.isin(["Polygon", "MultiPolygon"])]
        if len(polys):
            polys.plot(ax=ax, color=STYLE["water_fill"], edgecolor=STYLE["water_line"],
                       linewidth=0.4, zorder=1)
        if len(lines):
            lines.plot(ax=ax, color=STYLE["water_line"], linewidth=2.0, zorder=1)
    if len(layers.railways):
        layers.railways.plot(ax=ax, color=STYLE["rail"], linewidth=1.0, linestyle=(0, (4, 2)),
                             zorder=2)
    r = layers.roads
    widths = {"path": 0.6, "minor": 1.6, "major": 3.2}
    colours = {"major": STYLE["road_major"], "minor": STYLE["road_minor"],
               "path": STYLE["road_path"]}
    for cls in ("path", "minor", "major"):
        sub = r[r["road_class"] == cls] if len(r) else r
        if len(sub):
            sub.plot(ax=ax, color=STYLE["road_casing"], linewidth=widths[cls] + 0.6, zorder=2)
            sub.plot(ax=ax, color=colours[cls], linewidth=widths[cls], zorder=2.1)
    if len(layers.buildings):
        layers.buildings.plot(ax=ax, color=STYLE["building_other"],
                              edgecolor=STYLE["building_other_edge"], linewidth=0.3, zorder=3)
    if len(layers.villages):
        layers.villages.plot(ax=ax, color=STYLE["village_line"], linewidth=1.4,
                             linestyle=(0, (6, 3)), zorder=4)
    if layers.towns is not None and len(layers.towns):
        layers.towns.plot(ax=ax, color=STYLE["town_line"], linewidth=2.0,
                          linestyle=(0, (8, 2, 2, 2)), zorder=4)
    for text, x, y in layers.town_labels or []:
        ax.text(x, y, text, fontsize=fontsize + 2, color=STYLE["town_line"], ha="center",
                va="center", zorder=8, clip_on=True,
                bbox=dict(boxstyle="square,pad=0.08", facecolor="white", edgecolor="none",
                          alpha=0.75))
    if len(layers.areas):
        layers.areas.boundary.plot(ax=ax, color=STYLE["neighbour_line"], linewidth=0.6, zorder=4)
    if road_labels:
        for text, x, y, ang in label_points(layers.roads, max_labels=max_labels):
            ax.text(x, y, text, fontsize=fontsize, color=STYLE["road_text"], rotation=ang,
                    rotation_mode="anchor", ha="center", va="center", zorder=8,
                    bbox=halo, clip_on=True)
        for text, x, y, ang in label_points(layers.water, max_labels=max_labels):
            ax.text(x, y, text, fontsize=fontsize, color=STYLE["water_text"], rotation=ang,
                    rotation_mode="anchor", ha="center", va="center", zorder=8,
                    bbox=halo, clip_on=True)

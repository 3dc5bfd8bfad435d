"""An offline HTML map of what changed between two plans (``pucha diff``).

Changed areas are drawn in a colour per kind of change (added green, removed
grey dashed, reshaped orange, re-coded purple, population blue); the old outline
is dashed under the new one. Buildings that moved are marked. All text is
escaped; Leaflet is inlined (:mod:`pucha.outputs.offline`), so the file works
with the network off.
"""

from __future__ import annotations

import html
import logging
import os
from pathlib import Path

import folium
import geopandas as gpd
import shapely

from pucha.outputs.offline import RawHtml, new_map, save_html
from pucha.partition.diff import PlanDiff

__all__ = ["diff_map", "write_diff_map", "CHANGE_COLOURS"]

logger = logging.getLogger(__name__)

CHANGE_COLOURS = {"added": "#1a9641", "removed": "#777777", "reshaped": "#f08c00",
                  "recoded": "#7b3294", "population": "#2b6cb0", "unchanged": "#bbbbbb"}
_CHANGE_ZH = {"added": "新增", "removed": "撤销", "reshaped": "边界/建筑变化",
              "recoded": "改编码", "population": "人口变化", "unchanged": "未变"}


def _rings(geom) -> list[list[list[list[float]]]]:
    """Polygon parts as Leaflet rings [[lat, lon], ...] (outer ring then holes)."""
    out = []
    for p in shapely.get_parts(geom):
        if p.geom_type != "Polygon" or p.is_empty:
            continue
        rings = [p.exterior, *p.interiors]
        out.append([[[round(y, 7), round(x, 7)] for x, y in r.coords] for r in rings])
    return out


def _to_wgs84(geoms: list, crs) -> list:
    if crs is None:
        return geoms
    s = gpd.GeoSeries(geoms, crs=crs)
    return list(s.to_crs("EPSG:4326").values)


def diff_map(diff: PlanDiff, *, title: str = "") -> folium.Map:
    """A folium map (offline) of the changed areas of ``diff``."""
    items = sorted(diff.geometries.items())
    old = [v["old"] if v["old"] is not None else shapely.Polygon() for _, v in items]
    new = [v["new"] if v["new"] is not None else shapely.Polygon() for _, v in items]
    old_w, new_w = _to_wgs84(old, diff.crs), _to_wgs84(new, diff.crs)
    allg = [g for g in old_w + new_w if g is not None and not g.is_empty]
    if allg:
        x0, y0, x1, y1 = shapely.union_all(allg).bounds
    else:
        x0 = y0 = x1 = y1 = 0.0
    m = new_map(location=[(y0 + y1) / 2, (x0 + x1) / 2], zoom_start=15, tiles=None,
                control_scale=True)
    if allg:
        m.fit_bounds([[y0, x0], [y1, x1]])
    old_grp = folium.FeatureGroup(name="旧边界 old outlines").add_to(m)
    new_grp = folium.FeatureGroup(name="变化的小区 changed areas").add_to(m)
    for (key, v), go, gn in zip(items, old_w, new_w):
        colour = CHANGE_COLOURS.get(v["change"], "#333333")
        text = (f"{_CHANGE_ZH.get(v['change'], '')} {v['change']}: "
                f"{v['old_code'] or '-'} → {v['new_code'] or '-'}, "
                f"{v['old_population']} → {v['new_population']} 人")
        tip = html.escape(text)
        if go is not None and not go.is_empty:
            for rings in _rings(go):
                folium.Polygon(rings, color=colour, weight=2, dash_array="6 4", fill=False,
                               tooltip=tip).add_to(old_grp)
        if gn is not None and not gn.is_empty:
            for rings in _rings(gn):
                folium.Polygon(rings, color=colour, weight=3, fill=True, fill_color=colour,
                               fill_opacity=0.35, tooltip=tip).add_to(new_grp)
    folium.LayerControl(collapsed=False).add_to(m)
    s = diff.summary
    rows = "".join(
        f'<tr><td><span style="display:inline-block;width:12px;height:12px;background:'
        f'{CHANGE_COLOURS[k]}"></span> {html.escape(_CHANGE_ZH[k])} {k}</td>'
        f"<td style='text-align:right'>{n}</td></tr>"
        for k, n in s["areas"].items())
    head = html.escape(title or f"{diff.old_label} → {diff.new_label}")
    panel = (
        '<div style="position:fixed;top:10px;left:50px;z-index:1000;background:white;'
        'padding:8px 12px;border:1px solid #888;font:13px sans-serif;max-width:360px">'
        f"<b>普查小区变化 plan changes</b><br>{head}<table>{rows}</table>"
        f"建筑移动 buildings moved: {s['buildings_moved']}, 新增 added: "
        f"{s['buildings_added']}, 拆除 removed: {s['buildings_removed']}<br>"
        f"人口 population: {s['population_old']} → {s['population_new']}</div>")
    m.get_root().html.add_child(RawHtml(panel, name="diff_panel"))
    return m


def write_diff_map(diff: PlanDiff, path: str | os.PathLike, *, title: str = "") -> Path:
    """Write :func:`diff_map` to ``path`` atomically (one self-contained HTML file)."""
    return save_html(diff_map(diff, title=title), path)

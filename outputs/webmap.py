"""Interactive maps: one self-contained HTML per area, per 居/村, and the index.

Each area HTML opens from ``file://`` on a phone with the network off (Leaflet
is inlined by :mod:`pucha.outputs.offline`). It shows the area boundary with
the neighbouring areas' codes around it, every building numbered in walking
order with the route drawn, a tooltip and a popup per building (number,
name/address, floors, dwellings, people, floor/unit range of a cut building),
a header panel with the title, code, totals and 四至, a legend, a scale bar and
a button that shows the user's position (``navigator.geolocation``; nothing is
sent anywhere).

All text from the data goes through :func:`~pucha.basemaps.layers.escape_text`:
folium inserts tooltip and popup text as raw HTML inside JavaScript template
literals, so unescaped data could run code.
"""

from __future__ import annotations

import functools
import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry import LineString, MultiLineString, Point

from pucha.basemaps.attribution import attribution_text
from pucha.basemaps.layers import STYLE, add_to_folium, clip_layers, escape_text, round_for_web
from pucha.basemaps.tiles import TileSource, shift_geoms, tile_url_for
from pucha.outputs.naming import area_seq_text, area_title, fmt_number
from pucha.outputs.offline import RawHtml, new_map, render_html
from pucha.outputs.project import MapProject
from pucha.outputs.route import Route, number_area
from pucha.partition.quality import known_sum

__all__ = ["area_map", "area_html", "village_map", "village_html", "index_html",
           "neighbour_label_points", "AREA_COLOUR", "ROUTE_COLOUR"]

logger = logging.getLogger(__name__)

AREA_COLOUR = "#e0301e"     # this area's boundary
ROUTE_COLOUR = "#1f5fd6"    # walking route
BUILDING_FILL = "#5b8fd9"   # this area's buildings
CUT_FILL = "#f08c00"        # cut buildings (纵向切割)


def _fmt(v: object, unit: str = "") -> str:
    return fmt_number(v, unit)


def neighbour_label_points(area_geom, neighbours: gpd.GeoDataFrame, *, ring: float = 40.0
                           ) -> list[tuple[str, Point]]:
    """A label point inside each neighbour, near the boundary it shares with the area."""
    out = []
    band = area_geom.buffer(ring)
    for code, geom in zip(neighbours["area_code"], neighbours.geometry):
        near = geom.intersection(band).difference(area_geom)
        target = near if not near.is_empty and near.area > 1 else geom
        out.append((str(code), target.representative_point()))
    return out


def _lines_latlon(geoms: Sequence) -> list[list[list[float]]]:
    out = []
    for g in geoms:
        for part in shapely.get_parts(np.asarray([g])):
            if isinstance(part, (LineString,)) and not part.is_empty:
                out.append([[round(y, 7), round(x, 7)] for x, y in part.coords])
            elif isinstance(part, MultiLineString):
                out.extend([[round(y, 7), round(x, 7)] for x, y in p.coords] for p in part.geoms)
    return out


def _rings_latlon(geom) -> list:
    """Leaflet polygon rings ([[lat, lon], ...]; holes follow their shell) of a
    Polygon/MultiPolygon, rounded to ~1 cm."""
    out = []
    for poly in shapely.get_parts(np.asarray([geom])):
        if poly.is_empty:
            continue
        rings = [poly.exterior, *poly.interiors]
        out.append([[[round(y, 7), round(x, 7)] for x, y in r.coords] for r in rings])
    return out[0] if len(out) == 1 else out


def _display(project: MapProject, gdf: gpd.GeoDataFrame, tiles: TileSource | None):
    out = gdf.to_crs(4326)
    return shift_geoms(out, tiles) if tiles is not None and tiles.gcj02 else out


def _add_tiles(m: folium.Map, tiles: TileSource | None, html_dir: Path | None) -> None:
    if tiles is None:
        return
    for i, url in enumerate(tiles.urls):
        u = tile_url_for(tiles, url, html_dir or Path("."))
        kw = {"subdomains": tiles.subdomains} if tiles.subdomains else {}
        folium.TileLayer(tiles=u, attr=escape_text(tiles.attribution) if i == 0 else " ",
                         name=f"底图{i + 1}", max_zoom=tiles.max_zoom, overlay=i > 0,
                         control=False, **kw).add_to(m)


_CSS = """
<style>
.pucha-lbl{font:12px/1.1 sans-serif;white-space:nowrap;text-shadow:0 0 2px #fff,0 0 2px #fff;
 pointer-events:none}
.pucha-num{display:flex;align-items:center;justify-content:center;width:22px;height:22px;
 margin:-11px 0 0 -11px;border-radius:11px;background:#fff;border:2px solid %(route)s;
 color:#000;font:bold 12px/1 sans-serif}
.pucha-num.cut{border-color:%(cut)s;background:#fff3e0}
.pucha-nb{font:11px/1.15 sans-serif;color:#555;text-align:center;white-space:nowrap;
 transform:translate(-50%%,-50%%);text-shadow:0 0 2px #fff,0 0 2px #fff}
.pucha-nb b{font-size:14px;color:#333}
.pucha-start{font:bold 12px sans-serif;color:#fff;background:%(route)s;border-radius:4px;
 padding:2px 4px;transform:translate(-50%%,-50%%);display:inline-block;white-space:nowrap}
#pucha-head{position:fixed;top:8px;left:54px;right:8px;z-index:1000;background:rgba(255,255,255,.94);
 border:1px solid #999;border-radius:6px;padding:6px 8px;font:13px/1.35 sans-serif;max-height:45vh;
 overflow:auto}
#pucha-head h1{font-size:15px;margin:0 0 2px 0}
#pucha-head .code{font-family:monospace;font-size:13px}
#pucha-head .more{margin-top:4px}
#pucha-head.min .more{display:none}
#pucha-head button{float:right;font-size:12px}
#pucha-legend{position:fixed;bottom:28px;right:8px;z-index:1000;background:rgba(255,255,255,.92);
 border:1px solid #999;border-radius:6px;padding:4px 6px;font:12px/1.4 sans-serif}
#pucha-legend i{display:inline-block;width:18px;height:0;vertical-align:middle;margin-right:4px}
#pucha-legend .sw{height:10px;border:1px solid #666}
#pucha-legend.min .rows{display:none}
#pucha-locate{position:fixed;bottom:90px;left:10px;z-index:1000;width:44px;height:44px;
 border-radius:22px;border:2px solid #444;background:#fff;font-size:20px}
#pucha-locmsg{position:fixed;bottom:140px;left:10px;z-index:1000;font:12px sans-serif;
 background:#fff;padding:2px 4px;display:none}
.pucha-pop table{border-collapse:collapse;font-size:13px}
.pucha-pop td{padding:1px 4px;vertical-align:top}
.pucha-pop td:first-child{color:#555;white-space:nowrap}
</style>
""" % {"route": ROUTE_COLOUR, "cut": CUT_FILL}

# WGS84 -> GCJ-02 in JavaScript (same formula as pucha.gis.gcj02), used only for
# a GCJ-02 tile source so the user's GPS position lands on the shifted overlays.
_GCJ_JS = """
function puchaGcj(lon,lat){var a=6378245.0,ee=0.00669342162296594323,PI=Math.PI;
if(lon<72.004||lon>137.8347||lat<0.8293||lat>55.8271)return [lon,lat];
var x=lon-105.0,y=lat-35.0;
var dlat=-100.0+2.0*x+3.0*y+0.2*y*y+0.1*x*y+0.2*Math.sqrt(Math.abs(x))
+(20.0*Math.sin(6.0*x*PI)+20.0*Math.sin(2.0*x*PI))*2.0/3.0
+(20.0*Math.sin(y*PI)+40.0*Math.sin(y/3.0*PI))*2.0/3.0
+(160.0*Math.sin(y/12.0*PI)+320*Math.sin(y*PI/30.0))*2.0/3.0;
var dlon=300.0+x+2.0*y+0.1*x*x+0.1*x*y+0.1*Math.sqrt(Math.abs(x))
+(20.0*Math.sin(6.0*x*PI)+20.0*Math.sin(2.0*x*PI))*2.0/3.0
+(20.0*Math.sin(x*PI)+40.0*Math.sin(x/3.0*PI))*2.0/3.0
+(150.0*Math.sin(x/12.0*PI)+300.0*Math.sin(x/30.0*PI))*2.0/3.0;
var radlat=lat/180.0*PI,magic=1-ee*Math.sin(radlat)*Math.sin(radlat),sm=Math.sqrt(magic);
dlat=(dlat*180.0)/((a*(1-ee))/(magic*sm)*PI);dlon=(dlon*180.0)/(a/sm*Math.cos(radlat)*PI);
return [lon+dlon,lat+dlat];}
"""


def _locate_js(map_name: str, gcj: bool, attribution: str = "") -> str:
    shift = "var s=puchaGcj(lon,lat);lon=s[0];lat=s[1];" if gcj else ""
    attr = json.dumps(attribution, ensure_ascii=False)
    return ((_GCJ_JS if gcj else "") + """
document.addEventListener('DOMContentLoaded',function(){
L.control.scale({metric:true,imperial:false,maxWidth:150}).addTo(%(map)s);
if(%(map)s.attributionControl){%(map)s.attributionControl.addAttribution(%(attr)s);}
var btn=document.getElementById('pucha-locate'),msg=document.getElementById('pucha-locmsg');
var mk=null,circ=null;
function say(t){msg.textContent=t;msg.style.display=t?'block':'none';}
btn.addEventListener('click',function(ev){
  ev.preventDefault();ev.stopPropagation();
  if(!navigator.geolocation){say('此设备不支持定位');return;}
  say('定位中…');
  navigator.geolocation.getCurrentPosition(function(p){
    var lat=p.coords.latitude,lon=p.coords.longitude;%(shift)s
    var m=%(map)s;
    if(mk){m.removeLayer(mk);m.removeLayer(circ);}
    circ=L.circle([lat,lon],{radius:p.coords.accuracy||20,color:'#0a0',weight:1,fillOpacity:0.1}).addTo(m);
    mk=L.circleMarker([lat,lon],{radius:7,color:'#fff',weight:2,fillColor:'#0a0',fillOpacity:1}).addTo(m);
    m.setView([lat,lon],Math.max(m.getZoom(),17));say('');
  },function(e){say('无法定位：'+e.message);},{enableHighAccuracy:true,timeout:15000,maximumAge:30000});
});
});
""" % {"shift": shift, "map": map_name, "attr": attr})


class _LocateScript(RawHtml):
    """The locate-me script; the map's JS name is read at render time (ids change)."""

    def __init__(self, m: folium.Map, gcj: bool, attribution: str = "") -> None:
        super().__init__("", name="LocateScript")
        self._map = m
        self._gcj = gcj
        self._attr = attribution  # already escaped

    def render(self, **kwargs) -> str:
        return _locate_js(self._map.get_name(), self._gcj, self._attr)


@functools.lru_cache(maxsize=None)
def _asset(name: str) -> str:
    """An asset shipped beside this module (package data), read once."""
    return (Path(__file__).with_name(name)).read_text(encoding="utf-8")


def _json_for_script(data: object) -> str:
    """JSON safe inside a <script> element (no ``</script>``, no ``<!--``, and no
    ``${`` or backquote that a careless template literal could run)."""
    return (json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
            .replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("$", "\\u0024").replace("`", "\\u0060")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def _tool_building(row, rp, wgs) -> dict:
    """One building as the phone tools and the 摸底 mode see it (no resident data)."""
    fl = row.get("floors")
    label = str(row.get("name") or row.get("address") or "")
    return {"id": str(row["building_id"]), "n": int(row["number"]),
            "y": round(rp.y, 7), "x": round(rp.x, 7), "wy": round(wgs.y, 7),
            "wx": round(wgs.x, 7), "name": label[:40],
            "fl": int(fl) if fl is not None and not pd.isna(fl) else None,
            "p": int(row["population"]) if not pd.isna(row.get("population")) else None}


def _pph(project: MapProject) -> float:
    """Persons per household of the project (the 摸底 form's 户数-only estimate)."""
    return _pph_of(str(project.path))


@functools.lru_cache(maxsize=8)
def _pph_of(path: str) -> float:
    from pucha.gis.settings import project_config

    try:
        return float(project_config(path).population.persons_per_household)
    except Exception:  # noqa: BLE001 - a hand-made project without settings: the default
        return 2.2


_AREA_TOOLS = (
    '<div id="pucha-tools">'
    '<button id="pucha-listing" type="button" title="摸底：登记每栋建筑" aria-label="摸底">摸底</button>'
    '<button id="pucha-find" type="button" title="按编号查找建筑" aria-label="按编号查找">编号</button>'
    '<button id="pucha-next" type="button" title="沿路线的下一栋建筑" aria-label="下一栋">下一栋</button>'
    '<button id="pucha-follow" type="button" title="跟随我的位置" aria-label="跟随我的位置">跟随</button>'
    '<button id="pucha-locate" type="button" title="显示我的位置" aria-label="显示我的位置">◎</button>'
    '</div><div id="pucha-locmsg"></div><div id="pucha-msg"></div>'
    '<form id="pucha-findbox"><input id="pucha-findnum" type="number" min="1" inputmode="numeric"'
    ' placeholder="编号" aria-label="建筑编号"><button type="submit">查找</button></form>'
    '<div id="pucha-lstbar"><div id="pucha-prog"></div><div class="row">'
    '<button id="pucha-add" type="button">新增建筑</button>'
    '<button id="pucha-export" type="button">导出文件</button>'
    '<label class="btn" for="pucha-import">导入文件</label>'
    '<input id="pucha-import" type="file" accept=".geojson,.json,application/json">'
    '</div></div>'
    '<form id="pucha-form" autocomplete="off"><div class="card"><h2 id="pucha-form-title"></h2>'
    '<div class="st">' + "".join(
        f'<label><input type="radio" name="status" value="{s}">{s}</label>'
        for s in ("已核实", "空置", "拆除", "在建", "非住宅", "无法进入")) + '</div>'
    '<div class="num">' + "".join(
        f'<label for="pucha-f-{k}">{t}</label><input id="pucha-f-{k}" name="{k}" '
        f'inputmode="numeric" pattern="[0-9]*" maxlength="5">'
        for k, t in (("dwellings", "住房单元"), ("households", "户数"), ("people", "人数"),
                     ("floors", "层数（与图不同时填）"))) + '</div>'
    '<label for="pucha-f-note">备注（简短）</label>'
    '<input id="pucha-f-note" name="note" type="text" maxlength="200">'
    '<div class="priv">本表不登记姓名、身份证号、电话号码，备注中也不要写。'
    '记录只保存在本机浏览器中，导出文件后交给普查指导员。</div>'
    '<div class="err" id="pucha-form-err"></div>'
    '<div class="btns"><button type="submit">保存</button>'
    '<button type="button" id="pucha-form-cancel">取消</button></div></div></form>')


class _AreaScript(RawHtml):
    """The phone tools and 摸底 mode (areamap.js) with this area's data."""

    def __init__(self, m: folium.Map, data: dict) -> None:
        super().__init__("", name="AreaScript")
        self._map = m
        self._data = data

    def render(self, **kwargs) -> str:
        data = dict(self._data, map=self._map.get_name())
        return f"window.PUCHA_AREA={_json_for_script(data)};\n{_asset('areamap.js')}"


def _popup_html(row, area_code: str) -> str:
    rows = [("编号", str(int(row["number"]))),
            ("名称", escape_text(row.get("name", "")) or "—"),
            ("地址", escape_text(row.get("address", "")) or "—"),
            ("层数", _fmt(row.get("floors"))),
            ("住房", _fmt(row.get("dwellings"), " 套")),
            ("人口", _fmt(row.get("population"), " 人"))]
    if row.get("cut"):
        rows.append(("本小区部分", escape_text(row.get("part_label", "")) or "部分"))
    body = "".join(f"<tr><td>{k}</td><td>{v}</td></tr>" for k, v in rows)
    return f'<div class="pucha-pop"><table>{body}</table></div>'


def _tooltip_text(row) -> str:
    label = escape_text(row.get("name", "")) or escape_text(row.get("address", "")) or "建筑"
    extra = f" {escape_text(row.get('part_label', ''))}" if row.get("cut") else ""
    return f"{int(row['number'])}. {label}{extra} · {_fmt(row.get('population'))}人"


def _legend(attribution: str, *, tiles: TileSource | None) -> str:
    rows = [
        f'<i style="border-top:3px solid {AREA_COLOUR}"></i>本普查小区边界',
        f'<i style="border-top:3px dashed {ROUTE_COLOUR}"></i>走访路线（编号=顺序）',
        f'<i class="sw" style="background:{BUILDING_FILL}"></i>本小区建筑',
        f'<i class="sw" style="background:{CUT_FILL}"></i>切割建筑（部分楼层/单元）',
        f'<i class="sw" style="background:{STYLE["building_other"]}"></i>其他建筑',
        f'<i style="border-top:4px solid {STYLE["road_major"]}"></i>道路',
        f'<i class="sw" style="background:{STYLE["water_fill"]}"></i>水系',
        f'<i style="border-top:2px dashed {STYLE["village_line"]}"></i>居/村界',
        f'<i style="border-top:1px solid {STYLE["neighbour_line"]}"></i>相邻普查小区（代码）',
    ]
    attr = escape_text(attribution_text(attribution, tiles.attribution if tiles else ""))
    return ('<div id="pucha-legend" class="min"><b onclick="this.parentNode.classList.'
            'toggle(\'min\')" style="cursor:pointer">图例 ▾</b><div class="rows">'
            + "<br>".join(rows) + f'<br><small>数据: {attr}</small></div></div>')


def _header(title: str, code: str, lines: list[str], more: list[str]) -> str:
    return ('<div id="pucha-head"><button type="button" onclick="document.getElementById('
            '\'pucha-head\').classList.toggle(\'min\')">详情</button>'
            f'<h1>{title}</h1><div class="code">{code}</div>'
            + "".join(f'<div class="sum">{x}</div>' for x in lines)
            + '<div class="more">' + "".join(f"<div>{x}</div>" for x in more) + "</div></div>")


def _add_buildings(fgb: folium.FeatureGroup, project: MapProject, b: gpd.GeoDataFrame,
                   tiles: TileSource | None, area_code: str) -> list[dict]:
    """The area's buildings (shape, number, tooltip, popup) into ``fgb``; returns them as
    the phone tools and the 摸底 mode see them (:func:`_tool_building`)."""
    tool_data: list[dict] = []
    if not len(b):
        return tool_data
    bd = _display(project, b, tiles)
    reps = _display(project, gpd.GeoDataFrame(
        geometry=b.geometry.representative_point().values, crs=project.crs), tiles)
    for (_, row), g, rp in zip(b.iterrows(), bd.geometry, reps.geometry):
        fill = CUT_FILL if row.get("cut") else BUILDING_FILL
        pop = _popup_html(row, area_code)
        tip = _tooltip_text(row)
        gj = folium.Polygon(_rings_latlon(g), color="#234", weight=1, fill=True,
                            fill_color=fill, fill_opacity=0.75)
        folium.Tooltip(tip, sticky=False).add_to(gj)
        folium.Popup(pop, max_width=280).add_to(gj)
        gj.add_to(fgb)
        cls = "pucha-num cut" if row.get("cut") else "pucha-num"
        mk = folium.Marker([rp.y, rp.x], icon=folium.DivIcon(
            html=f'<div class="{cls}">{int(row["number"])}</div>', icon_size=(0, 0),
            class_name="pucha-numicon"))
        folium.Tooltip(tip).add_to(mk)
        folium.Popup(pop, max_width=280).add_to(mk)
        mk.add_to(fgb)
    wgs = b.geometry.representative_point().to_crs(4326)
    for (_, row), rp, w in zip(b.iterrows(), reps.geometry, wgs):
        tool_data.append(_tool_building(row, rp, w))
    return tool_data


def area_map(project: MapProject, area_code: str, *, tiles: TileSource | None = None,
             html_dir: str | os.PathLike | None = None,
             numbered: tuple[gpd.GeoDataFrame, Route] | None = None,
             pdf_href: str = "", overview_href: str = "") -> folium.Map:
    """The interactive map of one area (see module docstring).

    Parameters
    ----------
    project
        The loaded project.
    area_code
        15-digit area code.
    tiles
        Optional tile source (default: none, vector basemap only).
    html_dir
        Folder the HTML will be saved in (for relative local-tile URLs).
    numbered
        ``(buildings, route)`` from :func:`~pucha.outputs.route.number_area`
        (computed when omitted).
    pdf_href, overview_href
        Relative links shown in the header (to the printable PDF and overview).
    """
    area = project.area(area_code)
    vname = project.village_name(str(area["village_code"]))
    b, route = numbered if numbered is not None else number_area(project, area_code)
    geom = project.area_geometry(area_code)
    minx, miny, maxx, maxy = geom.bounds
    pad = max(60.0, 0.15 * max(maxx - minx, maxy - miny))
    view = shapely.box(minx - pad, miny - pad, maxx + pad, maxy + pad)
    nb = project.neighbours(area_code)
    layers = clip_layers(view, roads=project.roads, water=project.water,
                         railways=project.railways, buildings=project.buildings,
                         areas=project.areas, villages=project.villages,
                         towns=project.towns,
                         exclude_buildings=set(b["building_id"]), exclude_areas={area_code})

    def shift(g):
        return shift_geoms(g, tiles)

    bounds = gpd.GeoSeries([view], crs=project.crs).to_crs(4326)
    bounds = shift(bounds) if tiles is not None and tiles.gcj02 else bounds
    bx0, by0, bx1, by1 = bounds.total_bounds
    m = new_map(location=[(by0 + by1) / 2, (bx0 + bx1) / 2], zoom_start=17,
                control_scale=False, max_zoom=21, zoom_snap=0.25)
    _add_tiles(m, tiles, Path(html_dir) if html_dir else None)
    add_to_folium(m, layers, shift=shift if tiles is not None and tiles.gcj02 else None)

    # this area's boundary
    ag = _display(project, gpd.GeoDataFrame(geometry=[geom], crs=project.crs), tiles)
    fg = folium.FeatureGroup(name="本普查小区")
    folium.GeoJson(json.loads(ag.to_json(drop_id=True)), style_function=lambda f: {
        "color": AREA_COLOUR, "weight": 4, "fillColor": AREA_COLOUR, "fillOpacity": 0.04},
        interactive=False).add_to(fg)
    fg.add_to(m)

    # neighbours' codes
    lbl = neighbour_label_points(geom, nb)
    if lbl:
        pts = _display(project, gpd.GeoDataFrame({"code": [c for c, _ in lbl]},
                                                  geometry=[p for _, p in lbl], crs=project.crs),
                        tiles)
        fgn = folium.FeatureGroup(name="相邻普查小区代码")
        own_v = str(area["village_code"])
        for code, p in zip(pts["code"], pts.geometry):
            other_v = code[:12] != own_v
            sub = escape_text(project.village_name(code[:12])) if other_v else ""
            html_ = (f'<div class="pucha-nb"><b>{escape_text(code[-3:])}</b><br>'
                     f'{escape_text(code)}{"<br>" + sub if sub else ""}</div>')
            folium.Marker([p.y, p.x], icon=folium.DivIcon(html=html_, icon_size=(0, 0)),
                          interactive=False).add_to(fgn)
        fgn.add_to(m)

    # route
    fgr = folium.FeatureGroup(name="走访路线")
    if route.legs:
        legs = _display(project, gpd.GeoDataFrame(geometry=list(route.legs), crs=project.crs),
                        tiles)
        for line in _lines_latlon(list(legs.geometry)):
            if len(line) >= 2 and line[0] != line[-1] or len(line) > 2:
                folium.PolyLine(line, color=ROUTE_COLOUR, weight=4, opacity=0.85,
                                dash_array="8 6", interactive=False).add_to(fgr)
    if route.start is not None:
        sp = _display(project, gpd.GeoDataFrame(geometry=[route.start], crs=project.crs),
                      tiles).geometry.iloc[0]
        folium.Marker([sp.y, sp.x], icon=folium.DivIcon(
            html='<div class="pucha-start">起点</div>', icon_size=(0, 0)),
            interactive=False).add_to(fgr)
    fgr.add_to(m)

    # buildings, numbered
    fgb = folium.FeatureGroup(name="本小区建筑（编号）")
    tool_data = _add_buildings(fgb, project, b, tiles, area_code)
    fgb.add_to(m)
    folium.LayerControl(collapsed=True, position="topright").add_to(m)
    ax0, ay0, ax1, ay1 = ag.total_bounds  # fit the area itself, below the header
    m.fit_bounds([[ay0, ax0], [ay1, ax1]], padding_top_left=(8, 96),
                 padding_bottom_right=(8, 24))

    # header, legend, locate button
    title = escape_text(area_title(vname, area_code, area.get("seq")))
    pop_total = int(b["population"].sum()) if len(b) else 0
    dw_total = known_sum(b["dwellings"]) if len(b) else float("nan")
    n_cut = int(b["cut"].sum()) if len(b) else 0
    lines = [f"人口 {pop_total} 人 · 住房 {_fmt(dw_total)} 套 · 建筑 {len(b)} 栋"
             + (f"（其中切割 {n_cut} 栋）" if n_cut else "")]
    sizhi = project.sizhi(area_code)
    more = [f"四至：{escape_text(sizhi) or '—'}",
            f"{escape_text(project.township_name)} {escape_text(vname)} · "
            f"路线 {route.length_m:.0f} 米（自起点）"]
    links = []
    if pdf_href:
        links.append(f'<a href="{escape_text(pdf_href)}">打印版 PDF</a>')
    if overview_href:
        links.append(f'<a href="{escape_text(overview_href)}">居/村总图</a>')
    if links:
        more.append(" · ".join(links))
    if project.data_date:
        more.append(f"数据日期：{escape_text(project.data_date)}")
    from pucha.outputs.staffing import area_staff_lines  # staff plan: group, workload (no names)

    more += [escape_text(x) for x in area_staff_lines(area)]
    root = m.get_root()
    root.header.add_child(RawHtml(_CSS), name="pucha_css")
    root.header.add_child(RawHtml(f"<title>{title} {escape_text(area_code)}</title>"),
                          name="pucha_title")
    root.header.add_child(RawHtml(f"<style>{_asset('areamap.css')}</style>"),
                          name="pucha_area_css")
    root.html.add_child(RawHtml(_header(title, escape_text(area_code), lines, more)
                                + _legend(project.attribution, tiles=tiles)
                                + _AREA_TOOLS), name="pucha_panels")
    root.script.add_child(_LocateScript(m, bool(tiles and tiles.gcj02), escape_text(
        attribution_text(project.attribution))), name="pucha_locate")
    root.script.add_child(_AreaScript(m, {
        "area": str(area_code), "plan_people": pop_total, "pph": _pph(project),
        "gcj": bool(tiles and tiles.gcj02), "buildings": tool_data}), name="pucha_area_js")
    return m


def area_html(project: MapProject, area_code: str, **kwargs) -> str:
    """Render :func:`area_map` to one HTML string."""
    return render_html(area_map(project, area_code, **kwargs))


def village_map(project: MapProject, village_code: str, *, tiles: TileSource | None = None,
                html_dir: str | os.PathLike | None = None,
                area_links: dict[str, str] | None = None) -> folium.Map:
    """Overview of one 居/村: every area with its number, linked to its own HTML."""
    areas = project.areas[project.areas["village_code"] == village_code]
    areas = areas[~(areas.geometry.isna() | areas.geometry.is_empty)]  # virtual: no land
    vname = project.village_name(village_code)
    minx, miny, maxx, maxy = areas.total_bounds
    pad = max(60.0, 0.05 * max(maxx - minx, maxy - miny))
    view = shapely.box(minx - pad, miny - pad, maxx + pad, maxy + pad)
    layers = clip_layers(view, roads=project.roads, water=project.water,
                         railways=project.railways, villages=project.villages,
                         towns=project.towns,
                         areas=project.areas,
                         exclude_areas=set(areas["area_code"]))
    layers.roads = layers.roads[layers.roads["road_class"] != "path"]
    bounds = gpd.GeoSeries([view], crs=project.crs).to_crs(4326)
    if tiles is not None and tiles.gcj02:
        bounds = shift_geoms(bounds, tiles)
    bx0, by0, bx1, by1 = bounds.total_bounds
    m = new_map(location=[(by0 + by1) / 2, (bx0 + bx1) / 2], zoom_start=15,
                control_scale=False, max_zoom=21, zoom_snap=0.25)
    _add_tiles(m, tiles, Path(html_dir) if html_dir else None)
    shift = (lambda g: shift_geoms(g, tiles)) if tiles is not None and tiles.gcj02 else None
    add_to_folium(m, layers, shift=shift)
    ad = _display(project, areas, tiles)
    reps = _display(project, gpd.GeoDataFrame(geometry=areas.geometry.representative_point()
                                              .values, crs=project.crs), tiles)
    fg = folium.FeatureGroup(name="普查小区")
    links = area_links or {}
    for (_, row), g, rp in zip(areas.iterrows(), ad.geometry, reps.geometry):
        code = str(row["area_code"])
        gj = folium.GeoJson(shapely.geometry.mapping(round_for_web(g)),
                            style_function=lambda f: {"color": AREA_COLOUR, "weight": 2,
                                                      "fillColor": AREA_COLOUR,
                                                      "fillOpacity": 0.06})
        text = (f"{escape_text(area_seq_text(code, row.get('seq')))} {escape_text(code)}<br>"
                f"人口 {_fmt(row.get('population'))} · 住房 {_fmt(row.get('dwellings'))} · "
                f"建筑 {_fmt(row.get('n_buildings'))}")
        href = links.get(code)
        if href:
            text += f'<br><a href="{escape_text(href)}">打开本小区地图</a>'
        folium.Popup(f'<div class="pucha-pop">{text}</div>', max_width=280).add_to(gj)
        gj.add_to(fg)
        folium.Marker([rp.y, rp.x], icon=folium.DivIcon(
            html=f'<div class="pucha-nb"><b>{escape_text(code[-3:])}</b></div>',
            icon_size=(0, 0)), interactive=False).add_to(fg)
    fg.add_to(m)
    from pucha.outputs.staffing import group_feature_group  # staff plan: 指导区 outlines

    fgg = group_feature_group(project, village_code, lambda g: _display(project, g, tiles))
    if fgg is not None:
        fgg.add_to(m)
    m.fit_bounds([[by0, bx0], [by1, bx1]], padding_top_left=(8, 96),
                 padding_bottom_right=(8, 24))
    pop = int(areas["population"].sum())
    title = escape_text(f"{vname} 普查小区总图")
    lines = [f"{escape_text(village_code)} · {len(areas)} 个普查小区 · 人口 {pop} 人"]
    root = m.get_root()
    root.header.add_child(RawHtml(_CSS), name="pucha_css")
    root.header.add_child(RawHtml(f"<title>{title}</title>"), name="pucha_title")
    root.html.add_child(RawHtml(_header(title, escape_text(project.township_name), lines,
                                        ["点击小区查看人口并打开其地图"])
                                + _legend(project.attribution, tiles=tiles)
                                + '<button id="pucha-locate" type="button" title="显示我的位置"'
                                  ' aria-label="显示我的位置">◎</button>'
                                  '<div id="pucha-locmsg"></div>'), name="pucha_panels")
    root.script.add_child(_LocateScript(m, bool(tiles and tiles.gcj02), escape_text(
        attribution_text(project.attribution))), name="pucha_locate")
    return m


def village_html(project: MapProject, village_code: str, **kwargs) -> str:
    """Render :func:`village_map` to one HTML string."""
    return render_html(village_map(project, village_code, **kwargs))


_INDEX_CSS = """
body{font:14px/1.4 sans-serif;margin:8px}
h1{font-size:18px;margin:4px 0}
input{font-size:16px;width:100%;max-width:420px;padding:6px;box-sizing:border-box}
table{border-collapse:collapse;margin-top:8px;width:100%}
th,td{border-bottom:1px solid #ddd;padding:4px 6px;text-align:left;white-space:nowrap}
td.num{text-align:right}
tr.vil td{background:#f3f0f7;font-weight:bold}
.code{font-family:monospace}
#count{color:#555;margin-left:8px}
.wrap{overflow-x:auto;-webkit-overflow-scrolling:touch}
"""

_INDEX_JS = """
(function(){
var q=document.getElementById('q'),rows=document.querySelectorAll('tbody tr'),
    cnt=document.getElementById('count');
function norm(s){return (s||'').toLowerCase().replace(/\\s+/g,'');}
function run(){var v=norm(q.value),n=0;
  for(var i=0;i<rows.length;i++){var r=rows[i];
    var hit=!v||norm(r.getAttribute('data-key')).indexOf(v)>=0;
    r.style.display=hit?'':'none';if(hit&&r.className!=='vil')n++;}
  cnt.textContent=n+' 个普查小区';}
q.addEventListener('input',run);run();
})();
"""


def index_html(project: MapProject, entries: list[dict], *, village_entries: list[dict],
               extra_links: list[tuple[str, str]] | None = None) -> str:
    """The township index: search by area code or 居/村 name, links to every file.

    ``entries``: one dict per area with keys area_code, village_code, village,
    population, dwellings, n_buildings, html, pdf (relative links; "" = none).
    ``village_entries``: one per 居/村 with village_code, village, overview, atlas,
    register. ``extra_links``: extra ``(label, href)`` pairs shown under the title
    (e.g. the township registers).
    """
    title = escape_text(f"{project.township_name} 普查小区图 索引")
    rows = []
    by_v: dict[str, list[dict]] = {}
    for e in entries:
        by_v.setdefault(e["village_code"], []).append(e)
    for v in village_entries:
        vc = v["village_code"]
        key = escape_text(f"{vc} {v['village']}")
        links = []
        for label, k in (("总图", "overview"), ("图册PDF", "atlas"), ("登记表", "register")):
            if v.get(k):
                links.append(f'<a href="{escape_text(v[k])}">{label}</a>')
        rows.append(f'<tr class="vil" data-key="{key}"><td class="code">{escape_text(vc)}</td>'
                    f'<td colspan="5">{escape_text(v["village"])}</td>'
                    f'<td colspan="2">{" ".join(links)}</td></tr>')
        for e in sorted(by_v.get(vc, []), key=lambda x: x["area_code"]):
            key = escape_text(f"{e['area_code']} {vc} {e['village']} {e.get('group', '')}")
            html_l = f'<a href="{escape_text(e["html"])}">地图</a>' if e.get("html") else ""
            pdf_l = f'<a href="{escape_text(e["pdf"])}">PDF</a>' if e.get("pdf") else ""
            rows.append(
                f'<tr data-key="{key}"><td class="code">{escape_text(e["area_code"])}</td>'
                f'<td>{escape_text(e["village"])}</td>'
                f'<td class="code">{escape_text(str(e.get("group") or "")[12:])}</td>'
                f'<td class="num">{_fmt(e.get("population"))}</td>'
                f'<td class="num">{_fmt(e.get("dwellings"))}</td>'
                f'<td class="num">{_fmt(e.get("n_buildings"))}</td>'
                f"<td>{html_l}</td><td>{pdf_l}</td></tr>")
    total = sum(int(e.get("population") or 0) for e in entries)
    return (
        "<!DOCTYPE html>\n<html lang=\"zh-CN\"><head><meta charset=\"utf-8\">"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{title}</title><style>{_INDEX_CSS}</style></head><body>"
        f"<h1>{title}</h1><div>{escape_text(project.township_code)} · {len(entries)} 个普查小区 · "
        f"{len(village_entries)} 个居/村 · 人口 {total} 人"
        + (f" · 数据日期 {escape_text(project.data_date)}" if project.data_date else "")
        + "</div>"
        + ("<div>" + " · ".join(f'<a href="{escape_text(h)}">{escape_text(t)}</a>'
                                for t, h in extra_links) + "</div>" if extra_links else "")
        + '<p><input id="q" type="search" placeholder="输入普查小区代码或居/村名称搜索" '
        'autocomplete="off"><span id="count"></span></p>'
        "<div class='wrap'><table><thead><tr><th>代码</th><th>居/村</th><th>指导区</th><th>人口</th>"
        "<th>住房</th><th>建筑</th><th>地图</th><th>PDF</th></tr></thead><tbody>"
        + "".join(rows) + "</tbody></table></div>"
        f"<p><small>数据: {escape_text(attribution_text(project.attribution))}</small></p>"
        f"<script>{_INDEX_JS}</script></body></html>\n")

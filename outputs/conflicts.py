"""Outputs of ``pucha boundaries``: CSV, an offline HTML map and a Chinese PDF summary.

The HTML map draws the township outline (solid red), each neighbour's outline
(dashed blue), the 居/村 (thin grey), every conflict polygon/line coloured by
severity and the suggested lines (green). A side panel lists the conflicts; a click
zooms to one. Leaflet is inlined (:mod:`pucha.outputs.offline`); every data text is
HTML-escaped, and the list is built with ``textContent`` from JSON (no markup from data).

The PDF (A4 landscape, CJK font embedded as Type 42) holds an overview map and a
table of the conflicts for the coordination meeting (自治办).
"""

from __future__ import annotations

import html
import json
import logging
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import folium  # noqa: E402
import geopandas as gpd  # noqa: E402
import pandas as pd  # noqa: E402
import shapely  # noqa: E402
from branca.element import MacroElement  # noqa: E402
from jinja2 import Template  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from pucha.gis.write import atomic_path, write_text  # noqa: E402
from pucha.outputs.fonts import pdf_rc, save_pdf  # noqa: E402
from pucha.outputs.labels import NUMBER, declutter, mark  # noqa: E402
from pucha.outputs.offline import new_map, save_html  # noqa: E402

__all__ = ["KIND_ZH", "SEVERITY_COLOURS", "conflicts_map", "write_conflicts_map",
           "write_conflicts_csv", "write_conflicts_pdf"]

logger = logging.getLogger(__name__)

SEVERITY_COLOURS = {"error": "#d7191c", "warning": "#f08c00", "info": "#2b6cb0"}
KIND_ZH = {
    "overlap": "重叠", "overlap_sliver": "重叠细条", "gap": "缝隙", "gap_sliver": "缝隙细条",
    "shift": "系统平移", "shift_gcj02": "GCJ-02 偏移", "village_overlap": "居/村重叠",
    "village_overlap_sliver": "居/村重叠细条", "village_gap": "居/村缝隙",
    "village_gap_sliver": "居/村缝隙细条", "village_outside": "居/村出界",
    "village_outside_sliver": "居/村出界细条", "enclave": "飞地", "exclave": "多块",
    "source_gcj02": "来源GCJ-02偏移", "source_shift": "来源平移", "source_mismatch": "来源不一致",
    "building_cut": "建筑被切", "claimed_both": "重复登记建筑", "near_line": "近路/河未沿线",
}
_SEV_ZH = {"error": "超限", "warning": "提示", "info": "信息"}
WARN_COLOUR = "#b8002e"


def level(r) -> tuple[str, str]:
    """(Chinese level, colour) of a conflict row: a building with people cut by the
    township line is a 警告 whatever its geometric severity (people would be counted
    twice or not at all), an error stays 超限."""
    sev = str(r["severity"])
    people = 0
    for c in ("people_township", "people_neighbour"):
        try:
            people += int(float(r[c]))
        except (KeyError, TypeError, ValueError):
            pass
    if sev != "error" and str(r["kind"]) in ("building_cut", "claimed_both") and people > 0:
        return "警告", WARN_COLOUR
    return _SEV_ZH.get(sev, ""), SEVERITY_COLOURS.get(sev, "#333333")


def _wgs(gdf: gpd.GeoDataFrame | None) -> gpd.GeoDataFrame | None:
    if gdf is None or len(gdf) == 0:
        return None
    return gdf.to_crs("EPSG:4326") if gdf.crs is not None else gdf


def _safe_json(obj: object) -> str:
    return (json.dumps(obj, ensure_ascii=False).replace("<", "\\u003c").replace(">", "\\u003e")
            .replace("&", "\\u0026").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


class _ConflictList(MacroElement):
    """A panel listing the conflicts; clicking one zooms the map to it."""

    _template = Template("""
{% macro html(this, kwargs) %}
<style>
.leaflet-tooltip{white-space:normal;max-width:min(260px,70vw);font:12px sans-serif}
#pucha-conflicts{position:fixed;top:10px;right:10px;z-index:1000;background:white;
 padding:6px 10px;border:1px solid #888;font:12px sans-serif;max-width:min(380px,80vw);
 max-height:85vh;overflow:auto}
#pucha-conflicts summary{cursor:pointer;font-weight:bold}
@media (max-width:600px){ #pucha-conflicts{max-height:45vh} }
#pucha-credit{position:fixed;bottom:0;right:0;z-index:1000;background:rgba(255,255,255,.85);
 padding:1px 5px;font:11px sans-serif;color:#333}
</style>
<details id="pucha-conflicts" open><summary>边界冲突 boundary conflicts
 <span id="pucha-conflicts-n"></span> <small>(点此收起/展开)</small></summary><ol
 id="pucha-conflicts-list" style="padding-left:18px;margin:4px 0"></ol></details>
<div id="pucha-credit">地图数据 © OpenStreetMap contributors (ODbL 1.0)</div>
{% endmacro %}
{% macro script(this, kwargs) %}
(function() {
  var map = {{ this._parent.get_name() }};
  var items = {{ this.data }};
  var ol = document.getElementById("pucha-conflicts-list");
  var box = document.getElementById("pucha-conflicts");
  var phone = window.matchMedia("(max-width: 600px)").matches;
  if (phone) { box.open = false; }
  document.getElementById("pucha-conflicts-n").textContent = "(" + items.length + ")";
  items.forEach(function(it) {
    var li = document.createElement("li");
    li.style.cursor = "pointer";
    li.style.color = it.colour;
    li.textContent = it.label;
    li.title = it.message;
    li.addEventListener("click", function() {
      // on a phone the list folds away so it does not hide the conflict zoomed to
      if (window.matchMedia("(max-width: 600px)").matches) { box.open = false; }
      map.fitBounds([[it.b[1], it.b[0]], [it.b[3], it.b[2]]], {maxZoom: 19});
    });
    ol.appendChild(li);
  });
})();
{% endmacro %}
""")

    def __init__(self, data: list[dict]) -> None:
        super().__init__()
        self._name = "ConflictList"
        self.data = _safe_json(data)


def _tip(text: str) -> folium.Tooltip:
    """A tooltip that opens on the side with room and wraps (stays on a phone screen)."""
    return folium.Tooltip(text, sticky=False, direction="auto")


def _add_outline(group: folium.FeatureGroup, geom: shapely.Geometry, tip: str, **style) -> None:
    for p in shapely.get_parts(geom):
        if p.is_empty:
            continue
        if p.geom_type == "Polygon":
            rings = [[[round(y, 7), round(x, 7)] for x, y in r.coords] for r in (p.exterior, *p.interiors)]
            folium.Polygon(rings, tooltip=_tip(tip), **style).add_to(group)
        elif p.geom_type == "LineString":
            folium.PolyLine([[round(y, 7), round(x, 7)] for x, y in p.coords], tooltip=_tip(tip),
                            **{k: v for k, v in style.items() if not k.startswith("fill")}).add_to(group)
        elif p.geom_type == "Point":
            folium.CircleMarker([p.y, p.x], radius=6, tooltip=_tip(tip),
                                color=style.get("color")).add_to(group)


def conflicts_map(conflicts: gpd.GeoDataFrame, *, lines: gpd.GeoDataFrame | None = None,
                  township: gpd.GeoDataFrame | None = None,
                  neighbours: gpd.GeoDataFrame | None = None,
                  villages: gpd.GeoDataFrame | None = None, title: str = "") -> folium.Map:
    """An offline folium map of the conflicts with one zoomable list entry per conflict."""
    c = _wgs(conflicts)
    t, n, v, ln = _wgs(township), _wgs(neighbours), _wgs(villages), _wgs(lines)
    frames = [f for f in (t, n, c) if f is not None and len(f)]
    if frames:
        x0, y0, x1, y1 = shapely.union_all([shapely.union_all(f.geometry.values) for f in frames]).bounds
    else:
        x0 = y0 = x1 = y1 = 0.0
    m = new_map(location=[(y0 + y1) / 2, (x0 + x1) / 2], zoom_start=14, control_scale=True)
    if frames:
        m.fit_bounds([[y0, x0], [y1, x1]])
    if v is not None:
        g = folium.FeatureGroup(name="居/村 villages").add_to(m)
        for name, geom in zip(v.get("name", [""] * len(v)), v.geometry):
            _add_outline(g, geom, html.escape(str(name)), color="#777777", weight=1, fill=False)
    if n is not None:
        g = folium.FeatureGroup(name="邻方边界 neighbours").add_to(m)
        for name, geom in zip(n.get("name", [""] * len(n)), n.geometry):
            _add_outline(g, geom, html.escape(f"邻方 {name}"), color="#2b6cb0", weight=3,
                         dash_array="8 6", fill=False)
    if t is not None:
        g = folium.FeatureGroup(name="本街镇边界 township").add_to(m)
        for name, geom in zip(t.get("name", [""] * len(t)), t.geometry):
            _add_outline(g, geom, html.escape(f"本街镇 {name}"), color="#d7191c", weight=3, fill=False)
    items = []
    if c is not None:
        g = folium.FeatureGroup(name="冲突 conflicts").add_to(m)
        for _, r in c.iterrows():
            lvl, colour = level(r)
            label = (f"{r['conflict_id']} [{lvl}] {KIND_ZH.get(str(r['kind']), str(r['kind']))} "
                     f"{r['neighbour']} {r['area_m2']:.0f} m²")
            tip = html.escape(f"{label}: {r['message']} {r['suggestion']}")
            _add_outline(g, r.geometry, tip, color=colour, weight=2, fill=True, fill_color=colour,
                         fill_opacity=0.5)
            b = r.geometry.bounds if not r.geometry.is_empty else (x0, y0, x1, y1)
            items.append({"label": label, "message": f"{r['message']} {r['suggestion']}",
                          "colour": colour, "b": [round(float(x), 7) for x in b]})
    if ln is not None:
        g = folium.FeatureGroup(name="建议界线 suggested lines").add_to(m)
        for cid, geom in zip(ln["conflict_id"], ln.geometry):
            _add_outline(g, geom, html.escape(f"{cid} 建议界线"), color="#1a9641", weight=3)
    folium.LayerControl(collapsed=True, position="topleft").add_to(m)
    m.add_child(_ConflictList(items))
    if title:
        from pucha.outputs.offline import RawHtml
        m.get_root().html.add_child(RawHtml(
            '<div style="position:fixed;bottom:10px;left:10px;z-index:1000;background:white;'
            f'padding:4px 8px;border:1px solid #888;font:13px sans-serif">{html.escape(title)}</div>',
            name="conflicts_title"))
    return m


def write_conflicts_map(conflicts: gpd.GeoDataFrame, path: str | os.PathLike, **kwargs) -> Path:
    """Write :func:`conflicts_map` atomically to ``path`` (one self-contained HTML file)."""
    return save_html(conflicts_map(conflicts, **kwargs), path)


def write_conflicts_csv(conflicts: pd.DataFrame, path: str | os.PathLike) -> Path:
    """The conflicts as UTF-8 CSV with BOM (opens in Excel), geometry as WKT, atomically."""
    df = pd.DataFrame(conflicts.drop(columns="geometry", errors="ignore"))
    if "geometry" in conflicts:
        df["wkt"] = [g.wkt if g is not None else "" for g in conflicts.geometry]
    return write_text(path, "\ufeff" + df.to_csv(index=False, lineterminator="\n"))


def _figure(conflicts: gpd.GeoDataFrame, township: gpd.GeoDataFrame | None,
            neighbours: gpd.GeoDataFrame | None, title: str, max_rows: int) -> Figure:
    fig = Figure(figsize=(11.69, 8.27))
    fig.suptitle(title or "边界冲突核查", fontsize=15)
    ax = fig.add_axes((0.03, 0.08, 0.36, 0.8))
    ax.set_aspect("equal")
    ax.set_axis_off()
    if neighbours is not None and len(neighbours):
        neighbours.boundary.plot(ax=ax, color="#2b6cb0", linewidth=1.0, linestyle="--")
    if township is not None and len(township):
        township.boundary.plot(ax=ax, color="#d7191c", linewidth=1.5)
    for _, r in conflicts.iterrows():
        geom = r.geometry
        if geom is None or geom.is_empty:
            continue
        colour = SEVERITY_COLOURS.get(str(r["severity"]), "#333333")
        gpd.GeoSeries([geom], crs=conflicts.crs).plot(ax=ax, color=colour, edgecolor=colour,
                                                      linewidth=1.2, alpha=0.7)
        p = shapely.point_on_surface(geom)
        mark(ax.text(p.x, p.y, str(r["conflict_id"]), fontsize=6, color=level(r)[1],
                     ha="center", va="center",
                     bbox=dict(boxstyle="square,pad=0.1", facecolor="white", edgecolor="none",
                               alpha=0.8)), priority=NUMBER, must=True)
    ax.set_title("总览 (红: 本街镇, 蓝虚线: 邻方)", fontsize=9)
    ax.set_axis_on()
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_xlabel("")
    ax.set_ylabel("")
    ax.apply_aspect()
    from pucha.outputs.printmap import north_arrow as _north_arrow, scale_bar as _scale_bar

    _north_arrow(ax)
    _scale_bar(ax, ax.get_xlim(), ax.get_ylim())
    declutter(ax)
    fig.text(0.03, 0.05, "地图数据 © OpenStreetMap contributors (ODbL 1.0)", fontsize=6,
             va="top", color="#333")
    tx = fig.add_axes((0.41, 0.05, 0.57, 0.83))
    tx.set_axis_off()
    n_err = int((conflicts["severity"] == "error").sum()) if len(conflicts) else 0
    n_warn = int((conflicts["severity"] == "warning").sum()) if len(conflicts) else 0
    code = ""
    if township is not None and len(township) and "code" in township.columns:
        code = f"街镇代码 {township['code'].astype(str).iloc[0]}    "
    levels = [level(r)[0] for _, r in conflicts.iterrows()]
    n_people = levels.count("警告")
    head = (f"{code}共 {len(conflicts)} 处: 超限 {n_err} 处, 警告 {n_people} 处 (有人口的建筑被切), "
            f"提示 {n_warn - n_people} 处")
    tx.text(0, 1.0, head, fontsize=10, va="top")
    if len(conflicts):
        rows = []
        for _, r in conflicts.head(max_rows).iterrows():
            msg = str(r["message"])
            rows.append([str(r["conflict_id"]), KIND_ZH.get(str(r["kind"]), str(r["kind"])),
                         level(r)[0], str(r["neighbour"])[:14],
                         f"{r['area_m2']:.0f}", f"{r['max_width_m']:.1f}",
                         f"{int(r['people_township'])}/{int(r['people_neighbour'])}",
                         msg[:26] + ("…" if len(msg) > 26 else "")])
        table = tx.table(cellText=rows, colLabels=["编号", "类型", "级别", "相关方", "面积m²",
                                                   "宽m", "人口本/邻", "说明"],
                         loc="upper left", bbox=(0, 0.9 - 0.035 * (len(rows) + 1), 1, 0.035 * (len(rows) + 1)),
                         colWidths=[0.05, 0.12, 0.05, 0.19, 0.07, 0.05, 0.08, 0.39])
        table.auto_set_font_size(False)
        table.set_fontsize(6.5)
        for (row, col), cell in table.get_celld().items():
            if col in (3, 7):  # 相关方, 说明: left-aligned text
                cell.set_text_props(ha="left")
                cell.PAD = 0.02
        if len(conflicts) > max_rows:
            tx.text(0, 0.0, f"另有 {len(conflicts) - max_rows} 处见 conflicts.csv", fontsize=8)
    return fig


def write_conflicts_pdf(conflicts: gpd.GeoDataFrame, path: str | os.PathLike, *,
                        township: gpd.GeoDataFrame | None = None,
                        neighbours: gpd.GeoDataFrame | None = None, title: str = "",
                        max_rows: int = 24) -> Path:
    """A one-page Chinese summary (overview map + table) for the boundary meeting."""
    here = Path(__file__).parent  # labels of this module and the north arrow / scale bar
    texts = [title] + [(here / f).read_text(encoding="utf-8")
                       for f in ("conflicts.py", "printmap.py")]
    for df in (conflicts, township, neighbours):
        if df is not None:
            texts += [str(v) for c in df.columns if c != "geometry" for v in df[c].astype(str)]
    rc = pdf_rc(texts)
    # matplotlib's font subsetting logs every glyph list at INFO: keep the CLI readable
    ft = logging.getLogger("fontTools")
    old_level = ft.level
    ft.setLevel(max(old_level, logging.WARNING))
    try:
        return _write_pdf(conflicts, path, rc, township, neighbours, title, max_rows)
    finally:
        ft.setLevel(old_level)


def _write_pdf(conflicts, path, rc, township, neighbours, title, max_rows) -> Path:
    with matplotlib.rc_context(rc):
        fig = _figure(conflicts, township, neighbours, title, max_rows)
        meta = {"Title": title or "边界冲突核查", "Creator": "pucha", "CreationDate": None,
                "ModDate": None}
        with atomic_path(path) as tmp:
            save_pdf(fig, tmp, metadata=meta)
    return Path(path)

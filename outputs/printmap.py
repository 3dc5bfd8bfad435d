"""Printable maps: one A4 page per area, and an atlas PDF per 居/村.

Each page (matplotlib, vector PDF) carries what CENSUS-RULES.md asks of a
普查小区图: a title block (居/村 name, "第NNN普查小区", the 15-digit code,
people, dwellings, buildings), the area boundary with the neighbouring areas'
codes, the buildings numbered in walking order with the route, roads and
rivers with their names, a legend, a north arrow, a scale bar, the 四至, the
data date and the ODbL attribution, and signature lines for the enumerator
(普查员) and the supervisor (普查指导员). The page is portrait or landscape,
whichever fits the area's shape, with a 25 mm binding margin (left edge of a
portrait page, top edge of a landscape page, which faces the spine when bound).

Fonts: a Simplified-Chinese family chosen by *name* (:func:`~pucha.outputs.
fonts.cjk_family`), embedded as Type 42/CID (``pdf.fonttype = 42``) so that
``pdftotext`` finds the text and ``pdffonts`` lists the embedded SC font. A
character the font cannot draw is an error (:class:`~pucha.errors.FontError`)
naming the area and the text: a map must not silently drop characters.
"""

from __future__ import annotations

import io
import logging
import math
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import geopandas as gpd  # noqa: E402
import numpy as np  # noqa: E402
import shapely  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch, Rectangle  # noqa: E402

from pucha.basemaps.attribution import attribution_text  # noqa: E402
from pucha.basemaps.layers import STYLE, clip_layers, draw_on_axes  # noqa: E402
from pucha.errors import FontError  # noqa: E402
from pucha.gis.write import atomic_path  # noqa: E402
from pucha.outputs.buildinglist import draw_table, list_rows, rows_fitting  # noqa: E402
from pucha.outputs.labels import NEIGHBOUR, NUMBER, START, declutter, mark  # noqa: E402
from pucha.outputs.fonts import cjk_family, missing_glyphs, pdf_font  # noqa: E402
from pucha.outputs.fonts import draw_with_font as _draw  # noqa: E402
from pucha.outputs.fonts import save_figures as _save  # noqa: E402
from pucha.outputs.fonts import pdf_rc as fonts_pdf_rc  # noqa: E402
from pucha.outputs.naming import area_seq_text, area_title, fmt_number  # noqa: E402
from pucha.outputs.project import MapProject  # noqa: E402
from pucha.partition.quality import known_sum  # noqa: E402
from pucha.outputs.route import Route, number_area  # noqa: E402
from pucha.outputs.webmap import (AREA_COLOUR, BUILDING_FILL, CUT_FILL, ROUTE_COLOUR,  # noqa: E402
                                  neighbour_label_points)

__all__ = ["area_figure", "village_figure", "write_area_pdf", "write_atlas", "merge_pdfs",
           "pdf_rc", "use_subset_font", "area_pages", "list_figure", "project_texts", "A4_MM", "BINDING_MM"]

logger = logging.getLogger(__name__)

A4_MM = (210.0, 297.0)
BINDING_MM = 25.0
MARGIN_MM = 10.0
MM = 1 / 25.4


def use_subset_font(texts: list[str]) -> str:
    """Draw pages with a TrueType subset of the CJK font holding the characters needed.

    ``texts``: every string the pages may draw from the data; the fixed labels of
    this package are added. Returns the family name (see
    :func:`pucha.outputs.fonts.pdf_font`: a subset converted to TrueType outlines,
    which every PDF reader draws).
    """
    here = Path(__file__).parent
    src = "".join((here / f).read_text(encoding="utf-8") for f in
                  ("printmap.py", "project.py", "naming.py", "webmap.py", "registers.py",
                   "buildinglist.py", "labels.py", "staffing.py", "listing_sheet.py")
                  if (here / f).exists())
    src += (here.parent / "basemaps" / "layers.py").read_text(encoding="utf-8")
    src += (here.parent / "basemaps" / "attribution.py").read_text(encoding="utf-8")
    return pdf_font(list(texts) + [src])


def pdf_rc(*, texts: list[str] | tuple = ()) -> dict:
    """matplotlib rcParams for extractable, embedded CJK text (TrueType subset)."""
    return fonts_pdf_rc(texts)


def _check_text(texts: list[str], where: str) -> None:
    """FontError naming the characters of ``texts`` the CJK font lacks."""
    family = cjk_family()
    missing = missing_glyphs(texts, family)
    if missing:
        bad = [t for t in texts if any(ch in t for ch in missing)][:3]
        raise FontError(f"{where}: font {family!r} has no glyph for {''.join(missing)!r} "
                        f"(in {bad!r}); remove these characters from the data (e.g. emoji in "
                        "building names/addresses) or install a font that has them")


def _fmt(v: object) -> str:
    return fmt_number(v)


def _nice_scale(width_m: float) -> float:
    """A round scale-bar length of about a quarter of the map width."""
    target = width_m / 4
    exp = 10 ** math.floor(math.log10(max(target, 1e-9)))
    for f in (5, 2, 1):
        if f * exp <= target:
            return f * exp
    return exp


def _north_arrow(ax, *, x: float = 0.94) -> None:
    """N, arrow and 北 hanging from the top of the frame (sizes in points, so they stay
    inside the frame whatever the map's shape)."""
    from matplotlib.transforms import offset_copy

    def at(dy: float):
        return offset_copy(ax.transAxes, fig=ax.figure, x=0, y=dy, units="points")

    mark(ax.annotate("N", xy=(x, 1), xycoords=at(-4), ha="center", va="top", fontsize=11,
                     zorder=20), fixed=True)
    ax.annotate("", xy=(x, 1), xycoords=at(-19), xytext=(x, 1), textcoords=at(-44),
                arrowprops=dict(facecolor="black", width=4, headwidth=12, headlength=12),
                zorder=20)
    mark(ax.annotate("北", xy=(x, 1), xycoords=at(-46), ha="center", va="top", fontsize=8,
                     zorder=20), fixed=True)


def _scale_bar(ax, xlim: tuple[float, float], ylim: tuple[float, float]) -> None:
    width = xlim[1] - xlim[0]
    length = _nice_scale(width)
    x0 = xlim[0] + 0.04 * width
    y0 = ylim[0] + 0.04 * (ylim[1] - ylim[0])
    h = 0.012 * (ylim[1] - ylim[0])
    for i in range(2):
        ax.add_patch(Rectangle((x0 + i * length / 2, y0), length / 2, h,
                               facecolor="black" if i == 0 else "white", edgecolor="black",
                               linewidth=0.6, zorder=20))
    halo = dict(boxstyle="square,pad=0.08", facecolor="white", edgecolor="none", alpha=0.75)
    unit = f"{length / 1000:g} 千米" if length >= 1000 else f"{length:g} 米"
    for xx, t in ((x0, "0"), (x0 + length, unit)):
        mark(ax.text(xx, y0 + h * 1.6, t, ha="center", va="bottom", fontsize=7, zorder=20,
                     bbox=halo), fixed=True)


north_arrow = _north_arrow
scale_bar = _scale_bar


def _view(geom, aspect: float, pad_frac: float = 0.08) -> tuple[tuple[float, float],
                                                                  tuple[float, float]]:
    """x/y limits around ``geom`` with the given width/height aspect."""
    minx, miny, maxx, maxy = geom.bounds
    w, h = maxx - minx, maxy - miny
    w, h = max(w, 30.0), max(h, 30.0)
    w *= 1 + 2 * pad_frac
    h *= 1 + 2 * pad_frac
    if w / h < aspect:
        w = h * aspect
    else:
        h = w / aspect
    cx, cy = (minx + maxx) / 2, (miny + maxy) / 2
    return (cx - w / 2, cx + w / 2), (cy - h / 2, cy + h / 2)


def _page(landscape: bool) -> tuple[Figure, float, float]:
    w, h = (A4_MM[1], A4_MM[0]) if landscape else A4_MM
    fig = Figure(figsize=(w * MM, h * MM))
    return fig, w, h


def _fx(fig_w: float, mm: float) -> float:
    return mm / fig_w


def _legend_handles() -> list:
    return [
        Line2D([], [], color=AREA_COLOUR, linewidth=2.5, label="本普查小区边界"),
        Line2D([], [], color=ROUTE_COLOUR, linewidth=1.5, linestyle=(0, (4, 2)),
               label="走访路线（按编号顺序）"),
        Patch(facecolor=BUILDING_FILL, edgecolor="#234", label="本小区建筑（编号）"),
        Patch(facecolor=CUT_FILL, edgecolor="#234", label="切割建筑（部分楼层/单元）"),
        Patch(facecolor="white", edgecolor=EMPTY_EDGE, linestyle=(0, (2, 1.5)),
              label="无人居住建筑（空心编号）"),
        Patch(facecolor=STYLE["building_other"], edgecolor=STYLE["building_other_edge"],
              label="其他建筑"),
        Line2D([], [], color=STYLE["road_major"], linewidth=3, label="道路"),
        Patch(facecolor=STYLE["water_fill"], edgecolor=STYLE["water_line"], label="河流水系"),
        Line2D([], [], color=STYLE["village_line"], linewidth=1.2, linestyle=(0, (6, 3)),
               label="居/村界"),
        Line2D([], [], color=STYLE["neighbour_line"], linewidth=0.8,
               label="相邻普查小区（代码）"),
    ]


def _wrap(text: str, width: int) -> str:
    lines, cur = [], ""
    for ch in text:
        cur += ch
        if len(cur) >= width:
            lines.append(cur)
            cur = ""
    if cur:
        lines.append(cur)
    return "\n".join(lines)


EMPTY_EDGE = "#8a8a8a"


def _draw_numbered(ax, b: gpd.GeoDataFrame) -> None:
    """The area's buildings with their numbers: filled where people live (orange for a
    cut building), hollow (white, grey dashed outline) where nobody is counted."""
    holds = b["holds_people"].to_numpy(dtype=bool) if "holds_people" in b.columns \
        else np.ones(len(b), dtype=bool)
    cut = b["cut"].to_numpy(dtype=bool)
    full = b[holds]
    if len(full):
        full.plot(ax=ax, color=[CUT_FILL if c else BUILDING_FILL for c in cut[holds]],
                  edgecolor="#223344", linewidth=0.4, zorder=5)
    if (~holds).any():
        b[~holds].plot(ax=ax, facecolor="white", edgecolor=EMPTY_EDGE, linewidth=0.7,
                       linestyle=(0, (2, 1.5)), zorder=5)
    fs = 7 if len(b) <= 60 else 5.5 if len(b) <= 150 else 4.5
    for num, p, c, h in zip(b["number"], b.geometry.representative_point(), cut, holds):
        edge = (CUT_FILL if c else ROUTE_COLOUR) if h else EMPTY_EDGE
        mark(ax.text(p.x, p.y, str(int(num)), fontsize=fs, ha="center", va="center",
                     zorder=12, color="black" if h else EMPTY_EDGE,
                     bbox=dict(boxstyle="circle,pad=0.18",
                               facecolor=("#fff3e0" if c else "white"), edgecolor=edge,
                               linewidth=0.7 if h else 0.6,
                               linestyle="solid" if h else (0, (1.5, 1)))),
             priority=NUMBER, must=True)


def _project_rc(project: MapProject) -> dict:
    """PDF rcParams whose font covers every string of ``project`` (computed once)."""
    if not getattr(project, "_pucha_font_ready", False):
        use_subset_font(project_texts(project))
        project._pucha_font_ready = True  # type: ignore[attr-defined]
    return pdf_rc()


def area_figure(project: MapProject, area_code: str, *,
                numbered: tuple[gpd.GeoDataFrame, Route] | None = None) -> Figure:
    """The A4 page of one area as a matplotlib Figure (not yet saved)."""
    with matplotlib.rc_context(_project_rc(project)):
        return _area_figure(project, area_code, numbered=numbered)


def _area_figure(project: MapProject, area_code: str, *,
                 numbered: tuple[gpd.GeoDataFrame, Route] | None = None) -> Figure:
    area = project.area(area_code)
    vname = project.village_name(str(area["village_code"]))
    b, route = numbered if numbered is not None else number_area(project, area_code)
    geom = project.area_geometry(area_code)
    minx, miny, maxx, maxy = geom.bounds
    landscape = (maxx - minx) > 1.15 * (maxy - miny)
    fig, W, H = _page(landscape)
    # binding edge: left on portrait; top on landscape (the top goes to the spine
    # when a landscape sheet is bound into a portrait atlas)
    left, top = (MARGIN_MM, BINDING_MM) if landscape else (BINDING_MM, MARGIN_MM)
    title = area_title(vname, area_code, area.get("seq"))
    pop = int(b["population"].sum()) if len(b) else 0
    dw = known_sum(b["dwellings"]) if len(b) else float("nan")
    stats = f"普查小区代码 {area_code}    人口 {pop} 人    住房 {_fmt(dw)} 套    建筑 {len(b)} 栋"
    sizhi = "四至：" + (project.sizhi(area_code) or "—")
    attr = attribution_text(project.attribution)
    footer = (f"{project.township_name}（{project.township_code}）  数据日期："
              f"{project.data_date or '—'}  地图数据：{attr}  由 pucha 生成")
    from pucha.outputs.staffing import area_staff_lines, signature_names  # staff plan

    staff_lines = area_staff_lines(area)
    if staff_lines:
        stats += "    " + staff_lines[0]
    signed = signature_names(project, area_code)
    texts = [title, stats, sizhi, footer, vname, *signed]

    # geometry of the panels (mm from bottom-left)
    title_h = 22.0
    foot_h = 8.0
    if landscape:
        side_w = 90.0
        map_box = (left, MARGIN_MM + foot_h, W - left - MARGIN_MM - side_w - 4,
                   H - top - title_h - MARGIN_MM - foot_h)
        side_box = (W - MARGIN_MM - side_w, MARGIN_MM + foot_h, side_w,
                    map_box[3])
    else:
        bottom_h = 70.0
        map_box = (left, MARGIN_MM + foot_h + bottom_h + 3, W - left - MARGIN_MM,
                   H - top - title_h - (MARGIN_MM + foot_h + bottom_h + 3))
        side_box = (left, MARGIN_MM + foot_h, W - left - MARGIN_MM, bottom_h)

    # title block
    fig.text(_fx(W, left), 1 - _fx(H, top + 8), title, fontsize=17,
             va="baseline")
    fig.text(_fx(W, left), 1 - _fx(H, top + 16), stats, fontsize=9.5, va="baseline")
    fig.text(1 - _fx(W, MARGIN_MM), 1 - _fx(H, top + 8),
             area_seq_text(area_code, area.get("seq")), fontsize=11, ha="right",
             va="baseline", color="#444")
    fig.add_artist(Line2D([_fx(W, left), 1 - _fx(W, MARGIN_MM)],
                          [1 - _fx(H, top + 19)] * 2, color="black", linewidth=0.8))

    # the map
    ax = fig.add_axes([map_box[0] / W, map_box[1] / H, map_box[2] / W, map_box[3] / H])
    xlim, ylim = _view(geom, map_box[2] / map_box[3])
    view = shapely.box(xlim[0], ylim[0], xlim[1], ylim[1])
    layers = clip_layers(view, roads=project.roads, water=project.water,
                         railways=project.railways, buildings=project.buildings,
                         areas=project.areas, villages=project.villages,
                         towns=project.towns,
                         exclude_buildings=set(b["building_id"]), exclude_areas={area_code})
    texts += [t for t in layers.roads["name"]] + [t for t in layers.water["name"]]
    texts += [t for t, *_ in layers.town_labels or []]
    draw_on_axes(ax, layers, max_labels=14)
    gpd.GeoSeries([geom], crs=project.crs).boundary.plot(ax=ax, color=AREA_COLOUR,
                                                        linewidth=2.2, zorder=6)
    halo = dict(boxstyle="square,pad=0.08", facecolor="white", edgecolor="none", alpha=0.75)
    for code, p in neighbour_label_points(geom, project.neighbours(area_code)):
        if xlim[0] < p.x < xlim[1] and ylim[0] < p.y < ylim[1]:
            mark(ax.text(p.x, p.y, f"{code[-3:]}\n{code}", fontsize=6.5, ha="center",
                         va="center", color=STYLE["neighbour_text"], zorder=9, bbox=halo,
                         linespacing=1.1), priority=NEIGHBOUR)
    for line in route.legs:
        xy = np.asarray(line.coords)
        if len(xy) >= 2:
            ax.plot(xy[:, 0], xy[:, 1], color=ROUTE_COLOUR, linewidth=1.3,
                    linestyle=(0, (4, 2)), zorder=7, solid_capstyle="round")
    if route.start is not None:
        mark(ax.text(route.start.x, route.start.y, "起点", fontsize=7, color="white",
                     ha="center", va="center", zorder=11,
                     bbox=dict(boxstyle="round,pad=0.2", facecolor=ROUTE_COLOUR,
                               edgecolor="none")), priority=START)
    if len(b):
        _draw_numbered(ax, b)
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_xlabel("")
    ax.set_ylabel("")
    for s in ax.spines.values():
        s.set_linewidth(0.8)
    _north_arrow(ax)
    _scale_bar(ax, xlim, ylim)
    declutter(ax)

    # side / bottom panel: legend, 四至, building list, signatures
    sx, sy, sw, sh = side_box
    lax = fig.add_axes([sx / W, sy / H, sw / W, sh / H])
    lax.set_axis_off()
    lax.set_xlim(0, sw)
    lax.set_ylim(0, sh)
    if landscape:
        leg_box = (0, sh - 52, sw, 52)
        list_box = (0, 30, sw, sh - 52 - 30)
        sign_box = (0, 0, sw, 28)
    else:
        leg_box = (0, 0, 62, sh)
        list_box = (64, 22, sw - 64, sh - 22)
        sign_box = (64, 0, sw - 64, 20)
    leg = lax.legend(handles=_legend_handles(), loc="upper left", fontsize=7,
                     bbox_to_anchor=(leg_box[0] / sw, (leg_box[1] + leg_box[3]) / sh),
                     frameon=True, title="图例", title_fontsize=8, borderaxespad=0)
    leg.get_frame().set_linewidth(0.5)
    # 四至 + building list (8 pt table; the whole list on a continuation page if long)
    lx, ly, lw, lh = list_box
    chars = max(20, int(lw / 2.7))
    sizhi_txt = _wrap(sizhi, chars)
    lax.text(lx + 1, ly + lh - 1, sizhi_txt, fontsize=7.5, va="top", ha="left")
    list_top = ly + lh - 3.3 * (sizhi_txt.count("\n") + 1) - 2.5
    rows = list_rows(b, project.roads)
    fits = len(rows) <= rows_fitting(list_top - ly)
    if fits:
        draw_table(lax, rows, lx, list_top, lw, texts=texts)
    else:
        note = f"建筑清单：共 {len(rows)} 栋，见续页（第2页）"
        lax.text(lx + 1, list_top - 4, note, fontsize=8.5, va="top", ha="left")
        texts.append(note)
    fig._pucha_list = [] if fits else rows  # type: ignore[attr-defined]
    # signatures
    gx, gy, gw, gh = sign_box
    for i, who in enumerate(("普查员（签字）", "普查指导员（签字）")):
        yy = gy + gh - 7 - i * (gh / 2)
        lax.text(gx + 1, yy, who, fontsize=8.5, va="bottom")
        lax.plot([gx + 30, gx + gw - 30], [yy, yy], color="black", linewidth=0.6)
        if signed[i]:  # staff plan: the assigned person (pucha staff assign)
            lax.text(gx + 1, yy - 0.6, signed[i], fontsize=6, va="top", color="#333")
        lax.text(gx + gw - 28, yy, "日期：", fontsize=8, va="bottom")
        lax.plot([gx + gw - 18, gx + gw - 1], [yy, yy], color="black", linewidth=0.6)
    texts += ["普查员（签字）", "普查指导员（签字）", "日期：", "图例"]
    texts += [h.get_label() for h in _legend_handles()]
    fig.text(_fx(W, left), _fx(H, MARGIN_MM), footer, fontsize=6.5, va="bottom", color="#333")
    _check_text(texts, f"普查小区 {area_code}")
    fig._pucha_texts = texts  # type: ignore[attr-defined]
    return fig


def village_figure(project: MapProject, village_code: str) -> Figure:
    """The overview page of one 居/村: every area with its number and totals."""
    with matplotlib.rc_context(_project_rc(project)):
        return _village_figure(project, village_code)


def _village_figure(project: MapProject, village_code: str) -> Figure:
    areas = project.areas[project.areas["village_code"] == village_code]
    areas = areas[~(areas.geometry.isna() | areas.geometry.is_empty)]  # virtual: no land
    vname = project.village_name(village_code)
    union = shapely.union_all(np.asarray(areas.geometry.values))
    minx, miny, maxx, maxy = union.bounds
    landscape = (maxx - minx) > 1.15 * (maxy - miny)
    fig, W, H = _page(landscape)
    left, top = (MARGIN_MM, BINDING_MM) if landscape else (BINDING_MM, MARGIN_MM)
    title = f"{vname} 普查小区总图"
    pop = int(areas["population"].sum())
    dw = known_sum(areas["dwellings"])
    nb = int(areas["n_buildings"].sum())
    stats = (f"居/村代码 {village_code}    普查小区 {len(areas)} 个    人口 {pop} 人    "
             f"住房 {_fmt(dw)} 套    建筑 {nb} 栋")
    attr = attribution_text(project.attribution)
    footer = (f"{project.township_name}（{project.township_code}）  数据日期："
              f"{project.data_date or '—'}  地图数据：{attr}  由 pucha 生成")
    fig.text(_fx(W, left), 1 - _fx(H, top + 8), title, fontsize=17)
    fig.text(_fx(W, left), 1 - _fx(H, top + 16), stats, fontsize=9.5)
    box = (left, MARGIN_MM + 8, W - left - MARGIN_MM, H - top - MARGIN_MM - 30)
    ax = fig.add_axes([box[0] / W, box[1] / H, box[2] / W, box[3] / H])
    xlim, ylim = _view(union, box[2] / box[3], pad_frac=0.04)
    view = shapely.box(xlim[0], ylim[0], xlim[1], ylim[1])
    layers = clip_layers(view, roads=project.roads, water=project.water,
                         railways=project.railways, villages=project.villages,
                         towns=project.towns,
                         areas=project.areas, exclude_areas=set(areas["area_code"]))
    layers.roads = layers.roads[layers.roads["road_class"] != "path"]
    texts = [title, stats, footer] + list(layers.roads["name"]) + list(layers.water["name"])
    texts += [t for t, *_ in layers.town_labels or []]
    draw_on_axes(ax, layers, max_labels=14)
    areas.boundary.plot(ax=ax, color=AREA_COLOUR, linewidth=1.2, zorder=6)
    from pucha.outputs.staffing import draw_groups  # staff plan: 指导区 outlines

    texts += draw_groups(ax, project, village_code)
    halo = dict(boxstyle="square,pad=0.08", facecolor="white", edgecolor="none", alpha=0.75)
    for code, seq, p, ppl in zip(areas["area_code"], areas["seq"],
                                 areas.geometry.representative_point(), areas["population"]):
        mark(ax.text(p.x, p.y, f"{str(code)[-3:]}\n{_fmt(ppl)}人", fontsize=7, ha="center",
                     va="center", zorder=10, bbox=halo), priority=NUMBER, must=True)
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_xlabel("")
    ax.set_ylabel("")
    _north_arrow(ax)
    _scale_bar(ax, xlim, ylim)
    declutter(ax)
    fig.text(_fx(W, left), _fx(H, MARGIN_MM), footer, fontsize=6.5, va="bottom", color="#333")
    _check_text(texts, f"居/村 {village_code}")
    fig._pucha_texts = texts  # type: ignore[attr-defined]
    return fig


def project_texts(project: MapProject) -> list[str]:
    """Every data string a page may draw (names, addresses, codes, dates)."""
    out = [project.township_name, project.township_code, project.data_date,
           attribution_text(project.attribution)]
    towns = project.towns if project.towns is not None else project.villages.iloc[0:0]
    for df, cols in ((project.villages, ("name", "kind", "village_code")), (towns, ("name",)),
                     (project.roads, ("name",)), (project.water, ("name",)),
                     (project.buildings, ("name", "address", "use", "building_id")),
                     (project.areas, ("area_code", "sizhi", "east", "south", "west", "north"))):
        for c in cols:
            if c in df.columns:
                out.extend(sorted(set(df[c].fillna("").astype(str))))
    from pucha.outputs.staffing import staff_texts  # staff plan: names on signature lines

    return out + staff_texts(project)


def list_figure(project: MapProject, area_code: str, rows: list[tuple], *,
                page: int = 2) -> Figure:
    """A portrait A4 continuation page (续页) with the area's building list at 8 pt."""
    area = project.area(area_code)
    vname = project.village_name(str(area["village_code"]))
    fig, W, H = _page(False)
    left, top = BINDING_MM, MARGIN_MM
    title = f"{area_title(vname, area_code, area.get('seq'))} 建筑清单（续页，第{page}页）"
    head = f"普查小区代码 {area_code}    建筑 {len(rows)} 栋"
    footer = (f"{project.township_name}（{project.township_code}）  数据日期："
              f"{project.data_date or '—'}  由 pucha 生成")
    fig.text(_fx(W, left), 1 - _fx(H, top + 8), title, fontsize=14, va="baseline")
    fig.text(_fx(W, left), 1 - _fx(H, top + 15), head, fontsize=9.5, va="baseline")
    ax = fig.add_axes([0, 0, 1, 1])
    ax.set_axis_off()
    ax.set_xlim(0, W)
    ax.set_ylim(0, H)
    texts = [title, head, footer]
    draw_table(ax, rows, left, H - top - 20, W - left - MARGIN_MM, texts=texts)
    fig.text(_fx(W, left), _fx(H, MARGIN_MM), footer, fontsize=6.5, va="bottom", color="#333")
    fig._pucha_texts = texts  # type: ignore[attr-defined]
    return fig


def area_pages(project: MapProject, area_code: str, *,
               numbered: tuple[gpd.GeoDataFrame, Route] | None = None) -> list[Figure]:
    """The area's sheet, then continuation pages for a building list too long for it."""
    fig = _draw(area_figure, project, area_code, numbered=numbered)
    rows = getattr(fig, "_pucha_list", [])
    pages = [fig]
    per_page = rows_fitting(A4_MM[1] - 2 * MARGIN_MM - 20 - 10)
    for k in range(0, len(rows), max(1, per_page)):
        pages.append(_draw(list_figure, project, area_code, rows[k:k + per_page],
                           page=len(pages) + 1))
    return pages


def _meta(title: str) -> dict:
    # A fixed date keeps identical input -> identical PDF bytes.
    return {"Title": title, "Creator": "pucha", "Producer": "pucha (matplotlib)",
            "CreationDate": None, "ModDate": None}


def write_area_pdf(project: MapProject, area_code: str, dest: str | os.PathLike, *,
                   numbered: tuple[gpd.GeoDataFrame, Route] | None = None) -> Path:
    """Draw one area's A4 sheet (and continuation pages) and write it atomically."""
    fig = area_pages(project, area_code, numbered=numbered)
    area = project.area(area_code)
    title = area_title(project.village_name(str(area["village_code"])), area_code,
                       area.get("seq")) + " " + area_code
    with atomic_path(dest) as tmp:
        _save(fig, tmp, _meta(title))
        from pucha.outputs.listing_sheet import append_listing_sheet  # 摸底表 after the map
        append_listing_sheet(project, area_code, tmp, numbered=numbered)
    return Path(dest)


def merge_pdfs(parts: list[str | os.PathLike | bytes], dest: str | os.PathLike) -> Path:
    """Concatenate PDF files (or bytes) into ``dest`` atomically (pypdf)."""
    from pypdf import PdfWriter

    writer = PdfWriter()
    for p in parts:
        writer.append(io.BytesIO(p) if isinstance(p, bytes) else str(p))
    with atomic_path(dest) as tmp:
        with open(tmp, "wb") as fh:
            writer.write(fh)
    writer.close()
    return Path(dest)


def write_atlas(project: MapProject, village_code: str, dest: str | os.PathLike, *,
                area_pdfs: dict[str, str | os.PathLike] | None = None) -> Path:
    """The 居/村 atlas: overview page, then each area's page (sorted by code).

    Area pages already written (``area_pdfs``: code -> file) are reused; the
    others are drawn now.
    """
    fig = _draw(village_figure, project, village_code)
    buf = io.BytesIO()
    _save(fig, buf, _meta(f"{project.village_name(village_code)} 普查小区图册"))
    parts: list[str | os.PathLike | bytes] = [buf.getvalue()]
    for code in project.area_codes(village_code):
        if area_pdfs and code in area_pdfs and Path(area_pdfs[code]).exists():
            parts.append(area_pdfs[code])
        else:
            f = area_pages(project, code)
            bb = io.BytesIO()
            _save(f, bb, _meta(code))
            parts.append(bb.getvalue())
            from pucha.outputs.listing_sheet import listing_sheet_pdf  # 摸底表 after the map
            parts.append(listing_sheet_pdf(project, code))
    return merge_pdfs(parts, dest)

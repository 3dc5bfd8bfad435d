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

import functools
import io
import logging
import math
import os
import warnings
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
from pucha.outputs.fonts import cjk_family  # noqa: E402
from pucha.outputs.naming import area_seq_text, area_title  # noqa: E402
from pucha.outputs.project import MapProject  # noqa: E402
from pucha.partition.quality import known_sum  # noqa: E402
from pucha.outputs.route import Route, number_area  # noqa: E402
from pucha.outputs.webmap import (AREA_COLOUR, BUILDING_FILL, CUT_FILL, ROUTE_COLOUR,  # noqa: E402
                                  neighbour_label_points)

__all__ = ["area_figure", "village_figure", "write_area_pdf", "write_atlas", "merge_pdfs",
           "pdf_rc", "use_subset_font", "project_texts", "A4_MM", "BINDING_MM"]

logger = logging.getLogger(__name__)

A4_MM = (210.0, 297.0)
BINDING_MM = 25.0
MARGIN_MM = 10.0
MM = 1 / 25.4


_SUBSET: dict[str, object] = {"family": None, "chars": frozenset()}


def use_subset_font(texts: list[str]) -> str | None:
    """Draw pages with a subset of the CJK font holding only the characters needed.

    Embedding (fontTools subsetting of a 20 MB CJK collection) dominates the time
    of a page; subsetting once per process to the few hundred characters of a
    project makes each page's own subsetting cheap. The subset keeps the
    PostScript name (``NotoSansCJKsc-Regular``) and is registered under its own
    family name. ``texts``: every string the pages may draw from the data; the
    fixed labels of this package are added. Returns the family name (None if the
    subset could not be made: then the full font is used).
    """
    import hashlib

    from matplotlib import font_manager

    here = Path(__file__).parent
    src = "".join((here / f).read_text(encoding="utf-8") for f in
                  ("printmap.py", "project.py", "naming.py", "webmap.py", "staffing.py",
                   "listing_sheet.py"))
    src += (here.parent / "basemaps" / "layers.py").read_text(encoding="utf-8")
    src += (here.parent / "basemaps" / "attribution.py").read_text(encoding="utf-8")
    ascii_ = "".join(chr(c) for c in range(32, 127))
    family = cjk_family()
    cmap = _charmap(family)
    chars = sorted({ch for ch in "".join(texts) + src + ascii_ + "…—·，、（）：；"
                    if ord(ch) in cmap})
    key = hashlib.sha256(("".join(chars) + family).encode("utf-8")).hexdigest()[:16]
    sub_family = f"pucha SC {key}"
    if _SUBSET["family"] == sub_family:
        return sub_family
    try:
        from fontTools import subset
        from fontTools.ttLib import TTFont

        fp = font_manager.findfont(font_manager.FontProperties(family=family),
                                   fallback_to_default=False)
        # per-user cache, not the shared temp dir (no planted fonts, no temp files left)
        folder = Path(matplotlib.get_cachedir()) / "pucha-fonts"
        folder.mkdir(parents=True, exist_ok=True)
        out = folder / f"{key}.otf"
        if not out.exists():
            font = TTFont(str(fp), fontNumber=int(getattr(fp, "face_index", 0) or 0))
            opts = subset.Options()
            opts.name_IDs = ["*"]
            opts.name_languages = ["*"]
            opts.notdef_outline = True
            opts.layout_features = []
            sub = subset.Subsetter(opts)
            sub.populate(unicodes=[ord(c) for c in chars])
            sub.subset(font)
            for rec in font["name"].names:
                if rec.nameID in (1, 4, 16):
                    rec.string = sub_family
            with atomic_path(out) as tmp:
                font.save(str(tmp))
        font_manager.fontManager.addfont(str(out))
    except Exception as exc:  # noqa: BLE001 - any failure: fall back to the full font
        logger.warning("字体子集失败，使用完整字体: %s", exc)
        return None
    _SUBSET["family"] = sub_family
    _SUBSET["chars"] = frozenset(chars)
    return sub_family


def _subset_covers(texts: list[str]) -> bool:
    chars = _SUBSET["chars"]
    return bool(_SUBSET["family"]) and all(
        ch in chars for t in texts for ch in t if not ch.isspace())  # type: ignore[operator]


def pdf_rc(*, full: bool = False) -> dict:
    """matplotlib rcParams for extractable, embedded CJK text."""
    fam = cjk_family() if full or not _SUBSET["family"] else str(_SUBSET["family"])
    return {"pdf.fonttype": 42, "ps.fonttype": 42, "font.family": [fam],
            "axes.unicode_minus": False, "pdf.compression": 6,
            "svg.fonttype": "none"}


@functools.lru_cache(maxsize=4)
def _charmap(family: str) -> frozenset[int]:
    from matplotlib import font_manager
    from matplotlib.ft2font import FT2Font

    path = font_manager.findfont(font_manager.FontProperties(family=family),
                                 fallback_to_default=False)
    return frozenset(FT2Font(path).get_charmap())


def _check_text(texts: list[str], where: str) -> None:
    """FontError naming the characters of ``texts`` the CJK font lacks."""
    family = cjk_family()
    cmap = _charmap(family)
    missing = sorted({ch for t in texts for ch in t if not ch.isspace() and ord(ch) not in cmap})
    if missing:
        bad = [t for t in texts if any(ch in t for ch in missing)][:3]
        raise FontError(f"{where}: font {family!r} has no glyph for {''.join(missing)!r} "
                        f"(in {bad!r}); remove these characters from the data (e.g. emoji in "
                        "building names/addresses) or install a font that has them")


def _fmt(v: object) -> str:
    try:
        f = float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return "—"
    if math.isnan(f):
        return "—"
    return f"{int(f)}" if f.is_integer() else f"{f:.1f}"


def _nice_scale(width_m: float) -> float:
    """A round scale-bar length of about a quarter of the map width."""
    target = width_m / 4
    exp = 10 ** math.floor(math.log10(max(target, 1e-9)))
    for f in (5, 2, 1):
        if f * exp <= target:
            return f * exp
    return exp


def _north_arrow(ax, *, x: float = 0.94, y: float = 0.90) -> None:
    ax.annotate("", xy=(x, y + 0.06), xytext=(x, y - 0.02), xycoords="axes fraction",
                arrowprops=dict(facecolor="black", width=4, headwidth=12, headlength=12),
                zorder=20)
    ax.text(x, y + 0.075, "N", transform=ax.transAxes, ha="center", va="bottom",
            fontsize=11, zorder=20)
    ax.text(x, y - 0.035, "北", transform=ax.transAxes, ha="center", va="top", fontsize=8,
            zorder=20)


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
        ax.text(xx, y0 + h * 1.6, t, ha="center", va="bottom", fontsize=7, zorder=20,
                bbox=halo)


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


def area_figure(project: MapProject, area_code: str, *,
                numbered: tuple[gpd.GeoDataFrame, Route] | None = None) -> Figure:
    """The A4 page of one area as a matplotlib Figure (not yet saved)."""
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
        side_w = 78.0
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
    draw_on_axes(ax, layers)
    gpd.GeoSeries([geom], crs=project.crs).boundary.plot(ax=ax, color=AREA_COLOUR,
                                                        linewidth=2.2, zorder=6)
    halo = dict(boxstyle="square,pad=0.08", facecolor="white", edgecolor="none", alpha=0.75)
    for code, p in neighbour_label_points(geom, project.neighbours(area_code)):
        if xlim[0] < p.x < xlim[1] and ylim[0] < p.y < ylim[1]:
            ax.text(p.x, p.y, f"{code[-3:]}\n{code}", fontsize=6.5, ha="center", va="center",
                    color=STYLE["neighbour_text"], zorder=9, bbox=halo,
                    linespacing=1.1)
    for line in route.legs:
        xy = np.asarray(line.coords)
        if len(xy) >= 2:
            ax.plot(xy[:, 0], xy[:, 1], color=ROUTE_COLOUR, linewidth=1.3,
                    linestyle=(0, (4, 2)), zorder=7, solid_capstyle="round")
    if route.start is not None:
        ax.text(route.start.x, route.start.y, "起点", fontsize=7, color="white", ha="center",
                va="center", zorder=11,
                bbox=dict(boxstyle="round,pad=0.2", facecolor=ROUTE_COLOUR, edgecolor="none"))
    if len(b):
        colours = [CUT_FILL if c else BUILDING_FILL for c in b["cut"]]
        b.plot(ax=ax, color=colours, edgecolor="#223344", linewidth=0.4, zorder=5)
        reps = b.geometry.representative_point()
        fs = 7 if len(b) <= 60 else 5.5 if len(b) <= 150 else 4.5
        for num, p, cut in zip(b["number"], reps, b["cut"]):
            ax.text(p.x, p.y, str(int(num)), fontsize=fs, ha="center", va="center", zorder=12,
                    bbox=dict(boxstyle="circle,pad=0.18", facecolor="#fff3e0" if cut else "white",
                              edgecolor=CUT_FILL if cut else ROUTE_COLOUR, linewidth=0.7))
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

    # side / bottom panel: legend, 四至, building list, signatures
    sx, sy, sw, sh = side_box
    lax = fig.add_axes([sx / W, sy / H, sw / W, sh / H])
    lax.set_axis_off()
    lax.set_xlim(0, sw)
    lax.set_ylim(0, sh)
    if landscape:
        leg_box = (0, sh - 62, sw, 62)
        list_box = (0, 40, sw, sh - 62 - 40)
        sign_box = (0, 0, sw, 38)
    else:
        leg_box = (0, 0, 62, sh)
        list_box = (64, 22, sw - 64, sh - 22)
        sign_box = (64, 0, sw - 64, 20)
    leg = lax.legend(handles=_legend_handles(), loc="upper left", fontsize=7,
                     bbox_to_anchor=(leg_box[0] / sw, (leg_box[1] + leg_box[3]) / sh),
                     frameon=True, title="图例", title_fontsize=8, borderaxespad=0)
    leg.get_frame().set_linewidth(0.5)
    # 四至 + building list
    lx, ly, lw, lh = list_box
    chars = max(20, int(lw / 2.6))
    lax.text(lx + 1, ly + lh - 1, _wrap(sizhi, chars), fontsize=7.5, va="top", ha="left")
    n_lines = sizhi.count("\n") + 1 + len(sizhi) // chars
    rows = []
    for r in b.itertuples():
        label = (str(r.address) or str(r.name) or str(r.building_id)).strip()
        part = f" [{r.part_label}]" if r.cut and r.part_label else ""
        rows.append(f"{int(r.number)}. {label}{part}  {_fmt(r.floors)}层 {_fmt(r.population)}人")
    texts += rows
    list_top = ly + lh - 4.5 * n_lines - 3
    cols = 2 if lw > 100 else 1
    # shrink the list (down to 4.6 pt) before cutting it short
    line_h = 3.1
    while line_h > 2.45 and len(rows) > cols * max(1, int((list_top - ly) / line_h)):
        line_h -= 0.1
    fs_list = 5.8 * line_h / 3.1
    per_col = max(1, int((list_top - ly) / line_h))
    cap = per_col * cols
    shown = rows[:cap]
    if len(rows) > cap:
        shown = rows[:cap - 1] + [f"……另 {len(rows) - cap + 1} 栋见登记表"]
    col_w = lw / cols
    max_chars = int(col_w / (1.9 * fs_list / 5.8))
    for i, text in enumerate(shown):
        c, k = divmod(i, per_col)
        if len(text) > max_chars:
            text = text[:max_chars - 1] + "…"
        lax.text(lx + 1 + c * col_w, list_top - k * line_h, text, fontsize=fs_list, va="top",
                 ha="left")
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
    draw_on_axes(ax, layers)
    areas.boundary.plot(ax=ax, color=AREA_COLOUR, linewidth=1.2, zorder=6)
    from pucha.outputs.staffing import draw_groups  # staff plan: 指导区 outlines

    texts += draw_groups(ax, project, village_code)
    halo = dict(boxstyle="square,pad=0.08", facecolor="white", edgecolor="none", alpha=0.75)
    for code, seq, p, ppl in zip(areas["area_code"], areas["seq"],
                                 areas.geometry.representative_point(), areas["population"]):
        ax.text(p.x, p.y, f"{str(code)[-3:]}\n{_fmt(ppl)}人", fontsize=7, ha="center",
                va="center", zorder=10, bbox=halo)
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_xlabel("")
    ax.set_ylabel("")
    _north_arrow(ax)
    _scale_bar(ax, xlim, ylim)
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
                     (project.buildings, ("name", "address", "building_id")),
                     (project.areas, ("area_code", "sizhi", "east", "south", "west", "north"))):
        for c in cols:
            if c in df.columns:
                out.extend(sorted(set(df[c].fillna("").astype(str))))
    from pucha.outputs.staffing import staff_texts  # staff plan: names on signature lines

    return out + staff_texts(project)


def _draw(make, *args, **kwargs) -> tuple[Figure, bool]:
    """Build a figure with the subset font; rebuild with the full font if it lacks a glyph."""
    with matplotlib.rc_context(pdf_rc()), warnings.catch_warnings():
        # A glyph outside the subset is caught below and the page redrawn.
        warnings.filterwarnings("ignore", message="Glyph .* missing from font")
        fig = make(*args, **kwargs)
    if _SUBSET["family"] and not _subset_covers(getattr(fig, "_pucha_texts", [])):
        with matplotlib.rc_context(pdf_rc(full=True)):
            return make(*args, **kwargs), True
    return fig, not _SUBSET["family"]


def _save(fig: Figure, dest: Path | io.BytesIO, metadata: dict, *, full: bool = False) -> None:
    with matplotlib.rc_context(pdf_rc(full=full)):
        fig.savefig(dest, format="pdf", metadata=metadata)


def _meta(title: str) -> dict:
    # A fixed date keeps identical input -> identical PDF bytes.
    return {"Title": title, "Creator": "pucha", "Producer": "pucha (matplotlib)",
            "CreationDate": None, "ModDate": None}


def write_area_pdf(project: MapProject, area_code: str, dest: str | os.PathLike, *,
                   numbered: tuple[gpd.GeoDataFrame, Route] | None = None) -> Path:
    """Draw one area's A4 page and write it atomically to ``dest``."""
    fig, full = _draw(area_figure, project, area_code, numbered=numbered)
    area = project.area(area_code)
    title = area_title(project.village_name(str(area["village_code"])), area_code,
                       area.get("seq")) + " " + area_code
    with atomic_path(dest) as tmp:
        _save(fig, tmp, _meta(title), full=full)
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
    fig, full = _draw(village_figure, project, village_code)
    buf = io.BytesIO()
    _save(fig, buf, _meta(f"{project.village_name(village_code)} 普查小区图册"), full=full)
    parts: list[str | os.PathLike | bytes] = [buf.getvalue()]
    for code in project.area_codes(village_code):
        if area_pdfs and code in area_pdfs and Path(area_pdfs[code]).exists():
            parts.append(area_pdfs[code])
        else:
            f, full = _draw(area_figure, project, code)
            bb = io.BytesIO()
            _save(f, bb, _meta(code), full=full)
            parts.append(bb.getvalue())
            from pucha.outputs.listing_sheet import listing_sheet_pdf  # 摸底表 after the map
            parts.append(listing_sheet_pdf(project, code))
    return merge_pdfs(parts, dest)

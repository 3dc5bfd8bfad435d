"""The staff plan on paper and on the maps: 人员配备表, supervisors' districts, names.

:func:`staffing_table` sums the staff plan (``pucha staff plan``) per 居/村 and for the
township: areas, supervisors' groups (指导区), supervisors (普查指导员, one per group, who
also enumerate one area), further enumerators (普查员), people, dwellings and the total
workload. :func:`write_staffing` writes it as CSV (UTF-8 with BOM), XLSX (openpyxl, A4
landscape, fit to one page wide) and a one-page A4 PDF summary, plus, after
``pucha staff assign``, who works where (人员分工).

The map hooks (:func:`group_feature_group`, :func:`draw_groups`,
:func:`area_staff_lines`, :func:`fill_register_rows`, :func:`signature_names`) draw the
groups and the workload on the maps and fill the registers. Staff names and phones
are read from the ``staff`` layer only by :func:`fill_register_rows` and
:func:`signature_names` (registers and the PDF signature lines), never by the HTML maps.
"""

from __future__ import annotations

import csv
import io
import logging
import math
import os
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from pucha.gis.write import atomic_path, write_bytes

__all__ = [
    "TABLE_COLUMNS", "ASSIGNMENT_COLUMNS", "staffing_table", "assignment_table",
    "write_staffing_csv", "write_staffing_xlsx", "write_staffing_pdf", "write_staffing",
    "has_groups", "area_staff_lines", "group_feature_group", "draw_groups",
    "fill_register_rows", "signature_names", "staff_texts", "GROUP_COLOUR",
]

logger = logging.getLogger(__name__)

GROUP_COLOUR = "#b15928"
TABLE_COLUMNS = ("居/村代码", "居/村", "普查小区", "指导区", "普查指导员", "普查员", "人员合计",
                 "人口", "住房套数", "工作量(人·时)", "小区平均(时)", "小区最大(时)", "工作量提示",
                 "已落实指导员", "已落实普查员")
ASSIGNMENT_COLUMNS = ("指导区", "普查小区代码", "居/村", "岗位", "姓名", "电话",
                      "普查指导员", "指导员电话", "工作量(时)")


def has_groups(areas: pd.DataFrame) -> bool:
    """True when the areas carry a current staff plan (``pucha staff plan`` ran after the
    last partition)."""
    return "supervisor_group" in areas.columns and len(areas) > 0 and \
        bool(areas["supervisor_group"].notna().all())


def _hours(minutes: float) -> float:
    return round(float(minutes) / 60.0, 1)


def staffing_table(areas: pd.DataFrame, villages: Mapping[str, str], *,
                   township: tuple[str, str] = ("", ""),
                   staff: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per 居/村 (sorted by code) and a township total row (:data:`TABLE_COLUMNS`).

    Supervisors = groups; enumerators = areas - supervisors (each supervisor enumerates
    one area); people = areas. ``staff`` (the ``staff`` layer) fills the assigned counts.
    """
    a = pd.DataFrame(areas).copy()
    a["village_code"] = a["village_code"].astype(str)
    assigned = {}
    if staff is not None and len(staff):
        s = staff[staff["status"] == "assigned"]
        for (v, role), n in s.assign(v=s["group_code"].str[:12]).groupby(["v", "role"]).size().items():
            assigned[(v, role)] = int(n)
    rows = []
    for v, g in a.groupby("village_code", sort=True):
        n, k = len(g), int(g["supervisor_group"].nunique())
        rows.append({"居/村代码": v, "居/村": villages.get(v, v), "普查小区": n, "指导区": k,
                     "普查指导员": k, "普查员": n - k, "人员合计": n,
                     "人口": int(pd.to_numeric(g["population"]).fillna(0).sum()),
                     "住房套数": int(round(float(g["dwellings_est"].sum()))),
                     "工作量(人·时)": _hours(g["workload_min"].sum()),
                     "小区平均(时)": _hours(g["workload_min"].mean()),
                     "小区最大(时)": _hours(g["workload_min"].max()),
                     "工作量提示": int((g["workload_note"].fillna("") != "").sum()),
                     "已落实指导员": assigned.get((v, "普查指导员"), 0) if assigned else "",
                     "已落实普查员": assigned.get((v, "普查员"), 0) if assigned else ""})
    t = pd.DataFrame(rows, columns=list(TABLE_COLUMNS))
    total = {c: t[c].sum() for c in ("普查小区", "指导区", "普查指导员", "普查员", "人员合计", "人口",
                                     "住房套数", "工作量提示")}
    total.update({"居/村代码": township[0], "居/村": f"合计{('（' + township[1] + '）') if township[1] else ''}",
                  "工作量(人·时)": round(float(t["工作量(人·时)"].sum()), 1),
                  "小区平均(时)": _hours(a["workload_min"].mean()) if len(a) else 0.0,
                  "小区最大(时)": _hours(a["workload_min"].max()) if len(a) else 0.0,
                  "已落实指导员": int(sum(x for x in t["已落实指导员"] if x != "")) if assigned else "",
                  "已落实普查员": int(sum(x for x in t["已落实普查员"] if x != "")) if assigned else ""})
    return pd.concat([t, pd.DataFrame([total], columns=list(TABLE_COLUMNS))], ignore_index=True)


def assignment_table(areas: pd.DataFrame, villages: Mapping[str, str],
                     staff: pd.DataFrame) -> pd.DataFrame:
    """Who works where (人员分工): one row per area, sorted by group and area code."""
    by_area = {r.area_code: r for r in staff.itertuples() if r.status == "assigned"
               and r.role == "普查员"}
    by_group = {r.group_code: r for r in staff.itertuples() if r.status == "assigned"
                and r.role == "普查指导员"}
    rows = []
    for r in pd.DataFrame(areas).sort_values(["supervisor_group", "area_code"]).itertuples():
        sup = by_group.get(r.supervisor_group)
        who = sup if bool(r.supervisor_area) else by_area.get(r.area_code)
        rows.append({"指导区": r.supervisor_group, "普查小区代码": r.area_code,
                     "居/村": villages.get(str(r.village_code), str(r.village_code)),
                     "岗位": "普查指导员（兼）" if bool(r.supervisor_area) else "普查员",
                     "姓名": who.name if who is not None else "",
                     "电话": who.phone if who is not None else "",
                     "普查指导员": sup.name if sup is not None else "",
                     "指导员电话": sup.phone if sup is not None else "",
                     "工作量(时)": _hours(r.workload_min)})
    return pd.DataFrame(rows, columns=list(ASSIGNMENT_COLUMNS))


def _cell(v: object) -> str:
    s = "" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v)
    if s[:1] in ("=", "+", "-", "@") and not s.lstrip("-").replace(".", "").isdigit():
        s = "'" + s  # never a formula in Excel
    return s


def write_staffing_csv(table: pd.DataFrame, dest: str | os.PathLike) -> Path:
    """CSV, UTF-8 with BOM (Excel opens the Chinese text), codes as text; atomic."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(list(table.columns))
    for row in table.itertuples(index=False):
        w.writerow([_cell(v) for v in row])
    return write_bytes(dest, buf.getvalue().encode("utf-8-sig"))


def _sheet(wb, title: str, table: pd.DataFrame, *, first: bool = False, bold_last: bool = False):
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    ws = wb.active if first else wb.create_sheet()
    ws.title = title
    ws.append(list(table.columns))
    for c in ws[1]:
        c.font = Font(bold=True)
    text_cols = {i for i, c in enumerate(table.columns) if "代码" in c or c in ("指导区", "电话",
                                                                              "指导员电话")}
    for row in table.itertuples(index=False):
        ws.append([str(v) if i in text_cols else (v if isinstance(v, (int, float)) else _cell(v))
                   for i, v in enumerate(row)])
    if bold_last and ws.max_row > 1:
        for c in ws[ws.max_row]:
            c.font = Font(bold=True)
    for i, col in enumerate(table.columns, 1):
        letter = get_column_letter(i)
        width = max([len(str(col)) * 2] + [len(str(v)) * (2 if any(ord(ch) > 127 for ch in str(v))
                                                            else 1) for v in table[col]])
        ws.column_dimensions[letter].width = min(max(8, width + 2), 40)
        if i - 1 in text_cols:
            for cell in ws[letter][1:]:
                cell.number_format = "@"
    ws.freeze_panes = "A2"
    ws.print_title_rows = "1:1"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.orientation = "landscape"
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.print_options.horizontalCentered = True
    return ws


def write_staffing_xlsx(table: pd.DataFrame, dest: str | os.PathLike, *,
                        assignments: pd.DataFrame | None = None,
                        title: str = "人员配备表") -> Path:
    """XLSX: sheet 人员配备表 (and 人员分工 when assigned), A4 landscape, one page wide."""
    from openpyxl import Workbook

    from pucha.outputs.registers import _stable_zip

    wb = Workbook()
    _sheet(wb, "人员配备表", table, first=True, bold_last=True)
    if assignments is not None and len(assignments):
        _sheet(wb, "人员分工", assignments)
    wb.properties.title = title
    wb.properties.creator = "pucha"
    raw = io.BytesIO()
    wb.save(raw)
    return write_bytes(dest, _stable_zip(raw.getvalue()))


_PDF_COLUMNS = ("居/村代码", "居/村", "普查小区", "指导区", "普查指导员", "普查员", "人员合计", "人口",
                "住房套数", "工作量(人·时)", "小区最大(时)", "工作量提示")
_PDF_MAX_ROWS = 70


def _model_text(settings: Mapping[str, object]) -> str:
    s = dict(settings)
    return (f"工作量模型：每套住房 {s.get('minutes_per_dwelling', '')} 分钟 + 每栋建筑 "
            f"{s.get('minutes_per_building', '')} 分钟 + 每爬一层楼 {s.get('minutes_per_floor', '')} "
            f"分钟 + 步行（按楼栋顺路直线距离 ×{s.get('route_detour', '')}，"
            f"{s.get('walking_speed_kmh', '')} km/h）；每个指导区约 "
            f"{s.get('areas_per_supervisor', '')} 个普查小区（{s.get('min_group_areas', '')}-"
            f"{s.get('max_group_areas', '')} 个），指导员兼任其中一个小区的普查员；"
            f"小区工作量超过本居/村中位数 {s.get('workload_warning_factor', '')} 倍的计入“工作量提示”。")


def _summary_figure(table: pd.DataFrame, title: str, settings: Mapping[str, object],
                    data_date: str):
    from matplotlib.figure import Figure

    total = table.iloc[-1]
    body = table.iloc[:-1]
    fig = Figure(figsize=(8.27, 11.69))
    fig.text(0.5, 0.965, title, fontsize=16, ha="center", va="top")
    head = (f"共 {int(total['普查小区'])} 个普查小区、{int(total['指导区'])} 个指导区：需配备 "
            f"{int(total['人员合计'])} 人，其中普查员 {int(total['普查员'])} 人、普查指导员 "
            f"{int(total['普查指导员'])} 人（指导员兼普查员）")
    sub = (f"人口 {int(total['人口'])} 人，住房约 {int(total['住房套数'])} 套，工作量约 "
           f"{total['工作量(人·时)']:.0f} 人·时" + (f"；数据日期 {data_date}" if data_date else ""))
    fig.text(0.06, 0.93, head, fontsize=9.5, va="top")
    fig.text(0.06, 0.912, sub, fontsize=9.5, va="top")
    shown = body.head(_PDF_MAX_ROWS) if len(body) > _PDF_MAX_ROWS else body
    cells = [[_fmt_cell(r[c], c) for c in _PDF_COLUMNS] for _, r in shown.iterrows()]
    cells.append([_fmt_cell(total[c], c) for c in _PDF_COLUMNS])
    n = len(cells) + 1
    row_h = min(0.022, 0.78 / n)
    top = 0.895
    ax = fig.add_axes((0.04, 0.10, 0.92, top - 0.10))
    ax.set_axis_off()
    h = row_h * n / (top - 0.10)
    labels = [c.replace("(", "\n(").replace("工作量提示", "提示") for c in _PDF_COLUMNS]
    tab = ax.table(cellText=cells, colLabels=labels,
                   loc="upper left", bbox=(0, 1 - h, 1, h), cellLoc="center",
                   colWidths=[0.12, 0.17, 0.06, 0.06, 0.07, 0.06, 0.07, 0.07, 0.07, 0.09, 0.08, 0.06])
    tab.auto_set_font_size(False)
    tab.set_fontsize(max(5.0, min(7.5, row_h * 11.69 * 72 * 0.55)))
    for (r, _c), cell in tab.get_celld().items():
        if r == 0 or r == len(cells):
            cell.set_facecolor("#eeeeee")
    notes = []
    if len(body) > _PDF_MAX_ROWS:
        notes.append(f"另有 {len(body) - _PDF_MAX_ROWS} 个居/村见人员配备表.xlsx（合计行含全部居/村）。")
    notes.append(_model_text(settings))
    import textwrap

    fig.text(0.06, 0.085, "\n".join(textwrap.fill(t, 75) for t in notes), fontsize=7, va="top",
             color="#333333")
    fig.text(0.06, 0.03, "填报单位（盖章）：                  负责人：                  "
             "填报人：                  日期：", fontsize=9)
    texts = [title, head, sub] + [str(x) for row in cells for x in row] + notes + list(_PDF_COLUMNS)
    return fig, texts


def _fmt_cell(v: object, column: str = "") -> str:
    if "时" in column and isinstance(v, (int, float)):
        return f"{float(v):.1f}"
    if isinstance(v, float):
        return f"{v:.1f}" if not float(v).is_integer() else str(int(v))
    return "" if v is None else str(v)


def write_staffing_pdf(table: pd.DataFrame, dest: str | os.PathLike, *,
                       title: str = "人员配备表", settings: Mapping[str, object] | None = None,
                       data_date: str = "") -> Path:
    """The one-page A4 summary an office sends to the district (CJK font embedded)."""
    import matplotlib

    from pucha.outputs.fonts import check_glyphs, pdf_rc, save_pdf

    # a TrueType subset every PDF reader draws (outputs/fonts.py), covering this table
    rc = pdf_rc([title, data_date, Path(__file__).read_text(encoding="utf-8"),
                 *map(str, (settings or {}).values()),
                 *(str(v) for c in table.columns for v in table[c])])
    ft = logging.getLogger("fontTools")
    old = ft.level
    ft.setLevel(max(old, logging.WARNING))
    try:
        with matplotlib.rc_context(rc):
            fig, texts = _summary_figure(table, title, settings or {}, data_date)
            check_glyphs("".join(texts))
            meta = {"Title": title, "Creator": "pucha", "CreationDate": None, "ModDate": None}
            with atomic_path(dest) as tmp:
                save_pdf(fig, tmp, metadata=meta)
    finally:
        ft.setLevel(old)
    return Path(dest)


def write_staffing(gpkg: str | os.PathLike, out_dir: str | os.PathLike) -> list[Path]:
    """Write 人员配备表.csv/.xlsx/.pdf (and 人员分工.csv after ``pucha staff assign``) for a
    project whose staff plan is current; returns the files written."""
    from pucha.errors import InputError
    from pucha.gis import schema as S
    from pucha.gis.settings import project_config
    from pucha.gis.write import list_layers, read_layer, read_meta
    from pucha.partition.roster import read_staff

    gpkg = Path(gpkg)
    areas = pd.DataFrame(read_layer(gpkg, S.LAYER_AREAS))
    if not has_groups(areas):
        raise InputError(f"{gpkg}: the areas have no supervisors' groups; run "
                         f"`pucha staff plan {gpkg.name}` (again after every partition)")
    names = list_layers(gpkg)
    villages, township = {}, ("", "")
    if S.LAYER_VILLAGES in names:
        v = read_layer(gpkg, S.LAYER_VILLAGES)
        villages = dict(zip(v["village_code"].astype(str), v["name"].fillna("").astype(str)))
    if S.LAYER_TOWNSHIP in names:
        t = read_layer(gpkg, S.LAYER_TOWNSHIP)
        if len(t):
            township = (str(t.iloc[0]["code"]), str(t.iloc[0]["name"] or ""))
    staff = read_staff(gpkg)
    meta = read_meta(gpkg)
    settings = (meta.get("staff") or {}).get("settings", {}) if isinstance(meta.get("staff"), dict) else {}
    cfg = project_config(gpkg)
    data_date = cfg.maps.data_date or cfg.project.data_date
    table = staffing_table(areas, villages, township=township, staff=staff)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    title = f"{township[1]} 人员配备表".strip()
    assign = assignment_table(areas, villages, staff) if staff is not None else None
    files = [write_staffing_csv(table, out / "人员配备表.csv"),
             write_staffing_xlsx(table, out / "人员配备表.xlsx", assignments=assign, title=title),
             write_staffing_pdf(table, out / "人员配备表.pdf", title=title, settings=settings,
                                data_date=str(data_date or ""))]
    if assign is not None:
        files.append(write_staffing_csv(assign, out / "人员分工.csv"))
    return files


# -- hooks for the maps and registers (pack.py, webmap.py, printmap.py) --------

def _group_tail(code: str) -> str:
    """``Z01`` of ``310118002001Z01``."""
    return code[12:] if len(code) > 12 else code


def area_staff_lines(area: Mapping[str, object]) -> list[str]:
    """Header lines of an area map: its group and workload (never a name)."""
    g = area.get("supervisor_group")
    if g is None or (isinstance(g, float) and math.isnan(g)) or not str(g):
        return []
    line = f"指导区 {_group_tail(str(g))}" + ("（指导员兼本小区普查员）" if bool(area.get("supervisor_area"))
                                          else "")
    wl = area.get("workload_min")
    if wl is not None and not (isinstance(wl, float) and math.isnan(wl)):
        route = float(area.get("route_m") or 0.0)
        line += (f" · 工作量约 {_hours(float(wl)):.1f} 小时（住房 {float(area.get('dwellings_est') or 0):.0f} 套，"
                 f"爬楼 {float(area.get('floors_climbed') or 0):.0f} 层，路线 {route / 1000:.1f} km）")
    return [line]


def _village_groups(project, village_code: str):
    areas = project.areas
    if not has_groups(areas):
        return None
    a = areas[(areas["village_code"] == village_code)
              & ~(areas.geometry.isna() | areas.geometry.is_empty)]
    if len(a) == 0:
        return None
    return a.dissolve(by="supervisor_group", as_index=False, sort=True)


def group_feature_group(project, village_code: str, to_display):
    """A folium FeatureGroup with the supervisors' districts of one 居/村 (outline and
    code), or None without a staff plan. ``to_display(gdf)`` projects to the map's CRS."""
    import folium
    import shapely

    from pucha.basemaps.layers import escape_text, round_for_web

    groups = _village_groups(project, village_code)
    if groups is None:
        return None
    fg = folium.FeatureGroup(name="指导区")
    shown = to_display(groups)
    reps = to_display(groups.set_geometry(groups.geometry.representative_point()))
    for code, g, rp in zip(groups["supervisor_group"], shown.geometry, reps.geometry):
        folium.GeoJson(shapely.geometry.mapping(round_for_web(g)), style_function=lambda f: {
            "color": GROUP_COLOUR, "weight": 4, "dashArray": "10 6", "fill": False},
            interactive=False).add_to(fg)
        folium.Marker([rp.y, rp.x], icon=folium.DivIcon(
            html=f'<div style="color:{GROUP_COLOUR};font-weight:bold;white-space:nowrap;'
                 f'transform:translate(-50%,-160%)">指导区 {escape_text(_group_tail(str(code)))}'
                 '</div>', icon_size=(0, 0)), interactive=False).add_to(fg)
    return fg


def draw_groups(ax, project, village_code: str) -> list[str]:
    """Draw the supervisors' districts of one 居/村 on a matplotlib Axes (working CRS);
    returns the texts drawn (for the font check)."""
    groups = _village_groups(project, village_code)
    if groups is None:
        return []
    groups.boundary.plot(ax=ax, color=GROUP_COLOUR, linewidth=2.4, linestyle=(0, (6, 3)),
                         zorder=7)
    texts = []
    for code, p in zip(groups["supervisor_group"], groups.geometry.representative_point()):
        t = f"指导区 {_group_tail(str(code))}"
        ax.annotate(t, (p.x, p.y), xytext=(0, 14), textcoords="offset points", fontsize=7.5,
                    color=GROUP_COLOUR, ha="center", va="bottom", zorder=11, fontweight="bold")
        texts.append(t)
    return texts


def _staff_of(project):
    """The ``staff`` layer of the project, cached on the project object (or None)."""
    cached = getattr(project, "_pucha_staff", False)
    if cached is not False:
        return cached
    from pucha.partition.roster import read_staff

    staff = read_staff(project.path) if has_groups(project.areas) else None
    try:
        project._pucha_staff = staff  # type: ignore[attr-defined]
    except AttributeError:  # pragma: no cover - a frozen project object
        pass
    return staff


def signature_names(project, area_code: str) -> tuple[str, str]:
    """(enumerator, supervisor) printed on an area's PDF signature lines: names and
    phones from ``pucha staff assign``, ("", "") without a roster."""
    staff = _staff_of(project)
    if staff is None or len(staff) == 0:
        return "", ""
    a = project.area(area_code)
    group = str(a.get("supervisor_group") or "")
    got = staff[staff["status"] == "assigned"]
    sup = got[(got["role"] == "普查指导员") & (got["group_code"] == group)]
    enu = got[(got["role"] == "普查员") & (got["area_code"] == area_code)]
    fmt = (lambda r: f"{r['name']} {r['phone']}".strip())
    s = fmt(sup.iloc[0]) if len(sup) else ""
    e = s if bool(a.get("supervisor_area")) else (fmt(enu.iloc[0]) if len(enu) else "")
    return e, s


def fill_register_rows(project, rows: list[dict]) -> list[dict]:
    """Fill the register columns 指导区, 工作量(时), 普查员 and 普查指导员 in place."""
    if not has_groups(project.areas):
        return rows
    for r in rows:
        code = str(r["普查小区代码"])
        a = project.area(code)
        r["指导区"] = str(a.get("supervisor_group") or "")
        r["工作量(时)"] = _hours(float(a.get("workload_min") or 0.0))
        e, s = signature_names(project, code)
        r["普查员"], r["普查指导员"] = e, s
    return rows


def staff_texts(project) -> list[str]:
    """Every name and phone the signature lines may print (for the PDF font subset)."""
    staff = _staff_of(project)
    if staff is None:
        return []
    return sorted(set(staff["name"]) | set(staff["phone"]))

"""The paper 摸底表: one A4 page (or more) per area, after the area's map page.

The numbered buildings in route order (编号 = the number on the map) with their
name or address and floors on the map, and empty columns for 状态, 住房单元, 户数,
人数 and 备注, then empty rows for buildings missing from the map. The office
types a filled sheet into the XLSX template (:mod:`pucha.outputs.listing_template`)
and imports it like a phone's listing file. No column for resident data.
"""

from __future__ import annotations

import io
import math

import geopandas as gpd
from matplotlib.figure import Figure

from pucha.outputs.naming import area_title
from pucha.outputs.project import MapProject
from pucha.outputs.route import Route, number_area

__all__ = ["listing_sheet_figures", "listing_sheet_pdf", "append_listing_sheet",
           "ROWS_PER_PAGE", "EMPTY_ROWS"]

ROWS_PER_PAGE = 32
EMPTY_ROWS = 5
MM = 1 / 25.4
STATUS_HINT = "状态：已核实 / 空置 / 拆除 / 在建 / 非住宅 / 无法进入"
PRIVACY = "本表不登记姓名、身份证号、电话号码，备注中也不要写。"
# column title, width in mm
COLUMNS = (("编号", 12), ("名称/地址", 46), ("图上层数", 15), ("状态", 22), ("住房单元", 17),
           ("户数", 14), ("人数", 14), ("备注", 35))


def _rows(b: gpd.GeoDataFrame) -> list[tuple[str, str, str]]:
    out = []
    for row in b.sort_values("number").itertuples():
        label = str(row.name or row.address or "")
        if getattr(row, "cut", False) and getattr(row, "part_label", ""):
            label = f"{label} {row.part_label}".strip()
        fl = getattr(row, "floors", float("nan"))
        out.append((str(int(row.number)), label[:18],
                    "" if fl is None or (isinstance(fl, float) and math.isnan(fl)) else
                    str(int(fl))))
    return out + [("新增", "", "")] * EMPTY_ROWS


def listing_sheet_figures(project: MapProject, area_code: str, *,
                          numbered: tuple[gpd.GeoDataFrame, Route] | None = None
                          ) -> list[Figure]:
    """The 摸底表 pages of one area (A4 portrait figures)."""
    area = project.area(area_code)
    vname = project.village_name(str(area["village_code"]))
    b, _route = numbered if numbered is not None else number_area(project, area_code)
    rows = _rows(b)
    pages = [rows[i:i + ROWS_PER_PAGE] for i in range(0, len(rows), ROWS_PER_PAGE)] or [[]]
    title = f"摸底表 · {area_title(vname, area_code, area.get('seq'))}"
    figs = []
    for k, page in enumerate(pages, start=1):
        fig = Figure(figsize=(210 * MM, 297 * MM))
        ax = fig.add_axes((0, 0, 1, 1))
        ax.set_xlim(0, 210)
        ax.set_ylim(297, 0)
        ax.axis("off")
        left = 25.0  # binding margin
        ax.text(left, 16, title, fontsize=13, va="baseline")
        ax.text(left, 23, f"{area_code} · 共 {len(b)} 栋 · 计划人口 "
                f"{int(b['population'].sum()) if len(b) else 0} 人 · 第 {k}/{len(pages)} 页",
                fontsize=9, va="baseline")
        ax.text(left, 29, STATUS_HINT, fontsize=8.5, va="baseline")
        ax.text(left, 34, PRIVACY, fontsize=8.5, va="baseline", color="#a00")
        top, h = 38.0, 7.0
        xs = [left]
        for _t, w in COLUMNS:
            xs.append(xs[-1] + w)
        n = len(page) + 1
        for i in range(n + 1):
            ax.plot([xs[0], xs[-1]], [top + i * h] * 2, color="#000", lw=0.8 if i < 2 else 0.4)
        for x in xs:
            ax.plot([x, x], [top, top + n * h], color="#000", lw=0.5)
        for (t, _w), x0, x1 in zip(COLUMNS, xs, xs[1:]):
            ax.text((x0 + x1) / 2, top + h * 0.68, t, fontsize=9,
                    ha="center", va="baseline")
        for i, (num, label, fl) in enumerate(page, start=1):
            y = top + i * h + h * 0.68
            ax.text((xs[0] + xs[1]) / 2, y, num, fontsize=9, ha="center", va="baseline")
            ax.text(xs[1] + 1.2, y, label, fontsize=8, va="baseline")
            ax.text((xs[2] + xs[3]) / 2, y, fl, fontsize=9, ha="center", va="baseline")
        y_sig = min(290.0, top + n * h + 10)
        ax.text(left, y_sig, "普查员签名：__________    普查指导员签名：__________    "
                "日期：__________", fontsize=9, va="baseline")
        fig._pucha_texts = [title, STATUS_HINT, PRIVACY] + [t for t, _ in COLUMNS] + [
            r[1] for r in page]
        figs.append(fig)
    return figs


def listing_sheet_pdf(project: MapProject, area_code: str, *,
                      numbered: tuple[gpd.GeoDataFrame, Route] | None = None) -> bytes:
    """The 摸底表 pages of one area as PDF bytes (same fonts as the map pages)."""
    from pucha.outputs.fonts import draw_with_font as _draw
    from pucha.outputs.fonts import save_figures as _save

    def make(i: int) -> Figure:
        return listing_sheet_figures(project, area_code, numbered=numbered)[i]

    n = len(listing_sheet_figures(project, area_code, numbered=numbered))
    parts = []
    for i in range(n):
        fig = _draw(make, i)  # (printmap: the subset font widens itself if need be)
        buf = io.BytesIO()
        _save(fig, buf, {"Title": f"摸底表 {area_code}", "Creator": "pucha",
                         "Producer": "pucha (matplotlib)", "CreationDate": None,
                         "ModDate": None})
        parts.append(buf.getvalue())
    if len(parts) == 1:
        return parts[0]
    from pypdf import PdfWriter

    writer = PdfWriter()
    for part in parts:
        writer.append(io.BytesIO(part))
    out = io.BytesIO()
    writer.write(out)
    writer.close()
    return out.getvalue()


def append_listing_sheet(project: MapProject, area_code: str, pdf_path, *,
                         numbered: tuple[gpd.GeoDataFrame, Route] | None = None) -> None:
    """Append the area's 摸底表 pages to the (temporary) PDF file ``pdf_path``."""
    from pathlib import Path

    from pypdf import PdfWriter

    path = Path(pdf_path)
    writer = PdfWriter()
    writer.append(io.BytesIO(path.read_bytes()))
    writer.append(io.BytesIO(listing_sheet_pdf(project, area_code, numbered=numbered)))
    with open(path, "wb") as fh:
        writer.write(fh)
    writer.close()

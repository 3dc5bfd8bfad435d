"""Registers (普查小区登记表) per 居/村 and for the township: CSV, XLSX and PDF.

One row per area: area code, 居/村, people, 户数/住房单元, buildings, the list of
building numbers with their addresses (in walking order, cut buildings with
their floor/unit range), 四至, a note (cut buildings, estimated 户数), the
supervisor's group (指导区) and workload of the staff plan, and the columns 普查员 and
普查指导员 (names after ``pucha staff assign``, else empty to be filled by hand;
:func:`pucha.outputs.staffing.fill_register_rows`); then a totals row (合计) in the
XLSX and PDF made for print.

All figures come from one function, :func:`area_figures`, over the project's
``building_areas`` table (the plan as written by ``pucha partition``): a building
cut by floors or units (纵向切割) counts once in *each* area holding part of it
(the note says so), and the totals row counts every building once, so
``建筑栋数`` of the totals equals the buildings of the township, not the sum of
the rows. The maps' title blocks use the same function.

CSV is UTF-8 with a byte-order mark so that Excel opens the Chinese text
correctly; XLSX (openpyxl) is set up for A4: landscape, fit to one page wide,
header row repeated on every page, print area set; the PDF register
(:func:`write_register_pdf`) prints the same rows on A4 landscape pages beside
it. All written atomically. Codes are written as text (a 15-digit code would
lose digits as an Excel number).
"""

from __future__ import annotations

import csv
import io
import math
import os
import re
import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from pucha.gis.write import write_bytes
from pucha.partition.figures import PERSONS_PER_HOUSEHOLD, area_figures
from pucha.outputs.naming import number_value
from pucha.outputs.project import MapProject

__all__ = ["REGISTER_COLUMNS", "TOTAL_LABEL", "area_figures", "register_rows", "totals_row",
           "register_frame", "write_register_csv", "write_register_xlsx", "write_register_pdf",
           "building_list_text"]

REGISTER_COLUMNS = ("普查小区代码", "居/村代码", "居/村", "普查小区", "人口", "户数/住房单元",
                    "建筑栋数", "建筑编号及地址", "四至", "备注", "指导区", "工作量(时)", "普查员",
                    "普查指导员")
TOTAL_LABEL = "合计"


def _num(v: object) -> object:
    value = number_value(v)
    return "" if value is None else value


def _clean(text: object) -> str:
    """One line of text: newlines/tabs become spaces (a register cell stays one line)."""
    s = "" if text is None or (isinstance(text, float) and math.isnan(text)) else str(text)
    return " ".join(s.split())


def building_list_text(numbered: pd.DataFrame) -> str:
    """``"1 东方路1号; 2 东方路2号; 13 东方路99号(1-10层)"`` in walking order."""
    items = []
    for r in numbered.sort_values("number").itertuples():
        label = _clean(r.address) or _clean(r.name) or _clean(r.building_id)
        if getattr(r, "cut", False) and _clean(getattr(r, "part_label", "")):
            label += f"({_clean(r.part_label)})"
        items.append(f"{int(r.number)} {label}")
    return "; ".join(items)


def _persons_per_household(project: MapProject) -> float:
    s = project.meta.get("import_settings") if isinstance(project.meta, dict) else None
    pop = s.get("population", {}) if isinstance(s, dict) else {}
    try:
        return float(pop.get("persons_per_household") or PERSONS_PER_HOUSEHOLD)
    except (TypeError, ValueError):
        return PERSONS_PER_HOUSEHOLD


def _note(fig: pd.Series) -> str:
    notes = []
    if int(fig["n_cut"]):
        notes.append(f"含切割建筑{int(fig['n_cut'])}栋（部分楼层/单元，另见相邻小区）")
    if bool(fig["households_estimated"]) and int(fig["population"]):
        notes.append("户数为估算")
    return "；".join(notes)


def register_rows(project: MapProject, area_codes: Sequence[str],
                  numbered: dict[str, pd.DataFrame]) -> list[dict[str, object]]:
    """Register rows for ``area_codes`` (sorted): figures from :func:`area_figures`,
    the building list from each area's numbered buildings."""
    codes = sorted(area_codes)
    ba = project.building_areas
    # over the whole plan: a cut building is shared if ANY other area holds part of it
    figs = area_figures(ba, persons_per_household=_persons_per_household(project))
    rows = []
    for code in codes:
        a = project.area(code)
        b = numbered[code]
        vcode = str(a["village_code"])
        if code in figs.index:
            fig = figs.loc[code]
        else:
            fig = pd.Series({"population": 0, "dwellings": np.nan, "households": 0,
                             "households_estimated": False, "n_buildings": 0, "n_cut": 0})
        rows.append({
            "普查小区代码": code, "居/村代码": vcode, "居/村": _clean(project.village_name(vcode)),
            "普查小区": f"第{int(a['seq']):03d}普查小区" if _num(a.get("seq")) != "" else code[-3:],
            "人口": int(fig["population"]), "户数/住房单元": int(fig["households"]),
            "建筑栋数": int(fig["n_buildings"]),
            "建筑编号及地址": building_list_text(b) if len(b) else "",
            "四至": _clean(project.sizhi(code)), "备注": _note(fig), "指导区": "", "工作量(时)": "",
            "普查员": "", "普查指导员": "",
        })
    return rows


def totals_row(rows: list[dict[str, object]], project: MapProject) -> dict[str, object]:
    """The 合计 row: people and 户数 summed; buildings counted once each (a building cut
    between areas is in several rows but one building)."""
    codes = {str(r["普查小区代码"]) for r in rows}
    ba = project.building_areas
    n_b = int(ba.loc[ba["area_code"].astype(str).isin(codes), "building_id"].nunique()) \
        if len(ba) else 0
    row_sum = sum(int(r["建筑栋数"]) for r in rows)  # type: ignore[call-overload]
    note = f"{len(rows)}个普查小区；建筑按栋计（各行之和{row_sum}，切割建筑只计一次）" \
        if row_sum != n_b else f"{len(rows)}个普查小区"
    return {c: "" for c in REGISTER_COLUMNS} | {
        "普查小区代码": TOTAL_LABEL, "人口": sum(int(r["人口"]) for r in rows),  # type: ignore[call-overload]
        "户数/住房单元": sum(int(r["户数/住房单元"]) for r in rows),  # type: ignore[call-overload]
        "建筑栋数": n_b, "备注": note}


def register_frame(rows: list[dict[str, object]]) -> pd.DataFrame:
    """The rows as a DataFrame with :data:`REGISTER_COLUMNS` in order."""
    return pd.DataFrame(rows, columns=list(REGISTER_COLUMNS))


def _cell(v: object) -> str:
    s = "" if v is None else str(v)
    # A cell starting with = + - @ would run as a formula in Excel: quote it.
    if s[:1] in ("=", "+", "-", "@") and not s.lstrip("-").replace(".", "").isdigit():
        s = "'" + s
    return s


def write_register_csv(rows: list[dict[str, object]], dest: str | os.PathLike, *,
                       total: dict[str, object] | None = None) -> Path:
    """CSV, UTF-8 with BOM (Excel), one row per area (then ``total``); atomic."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(REGISTER_COLUMNS)
    for r in rows + ([total] if total else []):
        w.writerow([_cell(r.get(c, "")) for c in REGISTER_COLUMNS])
    return write_bytes(dest, buf.getvalue().encode("utf-8-sig"))


_XLSX_WIDTHS = {"普查小区代码": 17, "居/村代码": 14, "居/村": 14, "普查小区": 13, "人口": 7,
                "户数/住房单元": 8, "建筑栋数": 6, "建筑编号及地址": 48, "四至": 34, "备注": 20,
                "指导区": 15, "工作量(时)": 7,  # staff plan (outputs/staffing.py)
                "普查员": 9, "普查指导员": 9}


def write_register_xlsx(rows: list[dict[str, object]], dest: str | os.PathLike, *,
                        title: str = "普查小区登记表",
                        total: dict[str, object] | None = None) -> Path:
    """XLSX (openpyxl), set up to print on A4: landscape, fit to one page wide, the
    header row repeated on every page, print area = the table; header frozen, codes
    as text, long cells wrapped; a bold totals row (``total``) last; atomic."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font
    from openpyxl.worksheet.properties import PageSetupProperties

    wb = Workbook()
    ws = wb.active
    ws.title = "登记表"
    ws.append(list(REGISTER_COLUMNS))
    for c in ws[1]:
        c.font = Font(bold=True)
        c.alignment = Alignment(wrap_text=True, vertical="center")
    text_cols = {"普查小区代码", "居/村代码"}
    for r in rows + ([total] if total else []):
        ws.append([str(r.get(c, "")) if c in text_cols else
                   (r.get(c, "") if isinstance(r.get(c, ""), (int, float)) else _cell(r.get(c, "")))
                   for c in REGISTER_COLUMNS])
    if total:
        for c in ws[ws.max_row]:
            c.font = Font(bold=True)
    for i, col in enumerate(REGISTER_COLUMNS, 1):
        letter = ws.cell(row=1, column=i).column_letter
        ws.column_dimensions[letter].width = _XLSX_WIDTHS[col]
        for cell in ws[letter][1:]:
            if col in text_cols:
                cell.number_format = "@"
            if col in ("建筑编号及地址", "四至", "备注", "居/村"):
                cell.alignment = Alignment(wrap_text=True, vertical="top")
    ws.freeze_panes = "A2"
    ws.print_title_rows = "1:1"
    last = ws.cell(row=1, column=len(REGISTER_COLUMNS)).column_letter
    ws.print_area = f"A1:{last}{ws.max_row}"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.orientation = ws.ORIENTATION_LANDSCAPE
    ws.sheet_properties.pageSetUpPr = PageSetupProperties(fitToPage=True)
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.print_options.gridLines = True
    ws.page_margins.left = ws.page_margins.right = 0.4
    ws.page_margins.top = ws.page_margins.bottom = 0.6
    ws.oddHeader.center.text = title.replace("&", "&&")
    ws.oddFooter.center.text = "第 &P 页，共 &N 页"
    wb.properties.title = title
    wb.properties.creator = "pucha"
    raw = io.BytesIO()
    wb.save(raw)
    return write_bytes(dest, _stable_zip(raw.getvalue()))


_STAMP = re.compile(rb"(<dcterms:(?:created|modified)[^>]*>)[^<]*(</dcterms:)")


def _stable_zip(data: bytes) -> bytes:
    """Rewrite an XLSX with fixed timestamps so identical registers are identical bytes."""
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            body = src.read(info.filename)
            if info.filename == "docProps/core.xml":
                body = _STAMP.sub(rb"\g<1>2000-01-01T00:00:00Z\g<2>", body)
            zi = zipfile.ZipInfo(info.filename, date_time=(1980, 1, 1, 0, 0, 0))
            zi.compress_type = zipfile.ZIP_DEFLATED
            zi.external_attr = info.external_attr
            dst.writestr(zi, body)
    return out.getvalue()


# -- PDF register ------------------------------------------------------------------

#: (column, width in mm, characters per line) of the PDF register; the building list
#: is on each area's map, the PDF keeps the columns a clerk signs off
_PDF_COLUMNS = (("普查小区代码", 31, 0), ("居/村", 30, 10), ("普查小区", 22, 0), ("人口", 11, 0),
                ("户数/住房单元", 22, 0), ("建筑栋数", 15, 0), ("四至", 60, 20),
                ("备注", 38, 13), ("普查员", 22, 0), ("普查指导员", 22, 0))


def _lines(text: str, width: int) -> list[str]:
    if width <= 0 or len(text) <= width:
        return [text]
    return [text[i:i + width] for i in range(0, len(text), width)]


def write_register_pdf(rows: list[dict[str, object]], dest: str | os.PathLike, *,
                       title: str = "普查小区登记表", total: dict[str, object] | None = None,
                       data_date: str = "") -> Path:
    """The register on A4 landscape pages (8 pt), header repeated on every page, the
    totals row last, page numbers; fonts every PDF reader draws
    (:func:`pucha.outputs.fonts.save_pdf`); atomic."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.backends.backend_pdf import PdfPages
    from matplotlib.figure import Figure

    from pucha.gis.write import atomic_path
    from pucha.outputs.fonts import pdf_writing

    W, H, M, FS = 297.0, 210.0, 12.0, 8.0
    line_h = FS * 0.3528 * 1.45  # mm per text line
    body = rows + ([total] if total else [])
    cells = [[_lines(_clean(r.get(c, "")), n) for c, _, n in _PDF_COLUMNS] for r in body]
    texts = [title, data_date, Path(__file__).read_text(encoding="utf-8")] + \
        [t for row in cells for cell in row for t in cell]
    pages: list[list[int]] = [[]]
    avail = H - 2 * M - 14 - line_h * 2.2
    used = 0.0
    for i, row in enumerate(cells):
        h = line_h * max(len(c) for c in row) + 1.2
        if used + h > avail and pages[-1]:
            pages.append([])
            used = 0.0
        pages[-1].append(i)
        used += h
    with pdf_writing(texts), atomic_path(dest) as tmp:
        with PdfPages(tmp, metadata={"Title": title, "Creator": "pucha", "CreationDate": None,
                                     "ModDate": None}) as pdf:
            for k, idx in enumerate(pages, 1):
                fig = Figure(figsize=(W / 25.4, H / 25.4))
                ax = fig.add_axes((0, 0, 1, 1))
                ax.set_axis_off()
                ax.set_xlim(0, W)
                ax.set_ylim(H, 0)  # mm from the top
                ax.text(M, M + 5, title, fontsize=13, va="baseline")
                if data_date:
                    ax.text(W - M, M + 5, f"数据日期：{data_date}", fontsize=FS, ha="right",
                            va="baseline")
                y = M + 10
                x = M
                for c, w, _ in _PDF_COLUMNS:
                    ax.text(x + 1, y + line_h * 0.8, c, fontsize=FS, va="baseline")
                    x += w
                y += line_h * 1.3
                ax.plot([M, W - M], [y, y], color="black", linewidth=0.8)
                for i in idx:
                    if total is not None and i == len(body) - 1:
                        ax.plot([M, W - M], [y, y], color="black", linewidth=0.8)
                    row = cells[i]
                    h = line_h * max(len(c) for c in row) + 1.2
                    x = M
                    bold = total is not None and i == len(body) - 1
                    for (c, w, _), lines in zip(_PDF_COLUMNS, row):
                        for j, t in enumerate(lines):
                            ax.text(x + 1, y + 0.6 + line_h * (j + 0.8), t, fontsize=FS,
                                    va="baseline")
                        x += w
                    y += h
                    ax.plot([M, W - M], [y, y], color="black" if bold else "#888",
                            linewidth=0.8 if bold else 0.3)
                ax.text(W / 2, H - M / 2, f"第 {k} 页，共 {len(pages)} 页", fontsize=7,
                        ha="center")
                pdf.savefig(fig)
    return Path(dest)

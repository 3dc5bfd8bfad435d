"""Registers (普查小区登记表) per 居/村 and for the township, CSV and XLSX.

One row per area: area code, 居/村, people, dwellings, buildings, the list of
building numbers with their addresses (in walking order, cut buildings with
their floor/unit range), 四至, the supervisor's group (指导区) and workload of the staff
plan, and the columns 普查员 and 普查指导员 (names after ``pucha staff assign``, else empty
to be filled by hand; :func:`pucha.outputs.staffing.fill_register_rows`). CSV is UTF-8 with a byte-order mark so that Excel opens the
Chinese text correctly; XLSX is written with openpyxl. Both atomically.

Codes are written as text (never numbers: a 15-digit code would lose digits in
Excel).
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

import pandas as pd

from pucha.gis.write import write_bytes
from pucha.outputs.project import MapProject

__all__ = ["REGISTER_COLUMNS", "register_rows", "register_frame", "write_register_csv",
           "write_register_xlsx", "building_list_text"]

REGISTER_COLUMNS = ("普查小区代码", "居/村代码", "居/村", "普查小区", "人口", "住房套数", "建筑栋数",
                    "建筑编号及地址", "四至", "指导区", "工作量(时)", "普查员", "普查指导员")


def _num(v: object) -> object:
    try:
        f = float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return ""
    if math.isnan(f):
        return ""
    return int(f) if f.is_integer() else round(f, 1)


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


def register_rows(project: MapProject, area_codes: Sequence[str],
                  numbered: dict[str, pd.DataFrame]) -> list[dict[str, object]]:
    """Register rows for ``area_codes`` (sorted), using each area's numbered buildings."""
    rows = []
    for code in sorted(area_codes):
        a = project.area(code)
        b = numbered[code]
        vcode = str(a["village_code"])
        dw = pd.to_numeric(b["dwellings"], errors="coerce") if len(b) else pd.Series([])
        rows.append({
            "普查小区代码": code, "居/村代码": vcode, "居/村": _clean(project.village_name(vcode)),
            "普查小区": f"第{int(a['seq']):03d}普查小区" if _num(a.get("seq")) != "" else code[-3:],
            "人口": int(b["population"].sum()) if len(b) else 0,
            "住房套数": _num(dw.sum()) if dw.notna().any() else "",
            "建筑栋数": len(b), "建筑编号及地址": building_list_text(b) if len(b) else "",
            "四至": _clean(project.sizhi(code)), "普查员": "", "普查指导员": "",
        })
    return rows


def register_frame(rows: list[dict[str, object]]) -> pd.DataFrame:
    """The rows as a DataFrame with :data:`REGISTER_COLUMNS` in order."""
    return pd.DataFrame(rows, columns=list(REGISTER_COLUMNS))


def _cell(v: object) -> str:
    s = "" if v is None else str(v)
    # A cell starting with = + - @ would run as a formula in Excel: quote it.
    if s[:1] in ("=", "+", "-", "@") and not s.lstrip("-").replace(".", "").isdigit():
        s = "'" + s
    return s


def write_register_csv(rows: list[dict[str, object]], dest: str | os.PathLike) -> Path:
    """CSV, UTF-8 with BOM (Excel), one row per area; atomic."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(REGISTER_COLUMNS)
    for r in rows:
        w.writerow([_cell(r.get(c, "")) for c in REGISTER_COLUMNS])
    return write_bytes(dest, buf.getvalue().encode("utf-8-sig"))


def write_register_xlsx(rows: list[dict[str, object]], dest: str | os.PathLike, *,
                        title: str = "普查小区登记表") -> Path:
    """XLSX (openpyxl): header row frozen, codes as text, wrapped building lists; atomic."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font

    wb = Workbook()
    ws = wb.active
    ws.title = "登记表"
    ws.append(list(REGISTER_COLUMNS))
    for c in ws[1]:
        c.font = Font(bold=True)
    text_cols = {"普查小区代码", "居/村代码"}
    for r in rows:
        ws.append([str(r.get(c, "")) if c in text_cols else
                   (r.get(c, "") if isinstance(r.get(c, ""), (int, float)) else _cell(r.get(c, "")))
                   for c in REGISTER_COLUMNS])
    widths = {"普查小区代码": 18, "居/村代码": 15, "居/村": 14, "普查小区": 13, "人口": 7,
              "住房套数": 9, "建筑栋数": 9, "建筑编号及地址": 60, "四至": 40, "普查员": 12,
              "普查指导员": 12, "指导区": 17, "工作量(时)": 10}  # + staff plan (outputs/staffing.py)
    for i, col in enumerate(REGISTER_COLUMNS, 1):
        letter = ws.cell(row=1, column=i).column_letter
        ws.column_dimensions[letter].width = widths[col]
        for cell in ws[letter][1:]:
            if col in text_cols:
                cell.number_format = "@"
            if col in ("建筑编号及地址", "四至"):
                cell.alignment = Alignment(wrap_text=True, vertical="top")
    ws.freeze_panes = "A2"
    ws.print_title_rows = "1:1"
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

"""The XLSX 摸底 listing template of one 居/村 (typed in at the office).

One sheet ``摸底表``: every building of every area of the 居/村, in the map's
walking order (编号 = the number on the map), with empty columns for 状态,
住房单元, 户数, 人数, 实际层数 and 备注, and ten empty rows per area for buildings
missing from the map (type 经度/纬度 read off the map, WGS84). ``pucha listing
import`` reads a filled template into exactly the records a phone's listing
file holds (:func:`pucha.partition.listing.read_listing_file`). The template
never holds resident data: no column for names, ID numbers or phone numbers.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import geopandas as gpd

from pucha.gis.write import atomic_path
from pucha.outputs.project import MapProject
from pucha.outputs.route import number_area
from pucha.partition.listing import STATUSES, XLSX_HEADERS, XLSX_SHEET

__all__ = ["write_listing_template", "EMPTY_ROWS_PER_AREA"]

EMPTY_ROWS_PER_AREA = 10
_WIDTHS = (17, 6, 12, 24, 8, 9, 8, 7, 7, 8, 24, 12, 12, 20, 16)


def _device(village_code: str) -> str:
    """The template's device id: one per 居/村 template (deterministic)."""
    return "xlsx-" + hashlib.sha256(village_code.encode()).hexdigest()[:10]


def write_listing_template(project: MapProject, village_code: str,
                           path: str | os.PathLike) -> Path:
    """Write the 摸底 template of ``village_code`` to ``path`` (atomically)."""
    import openpyxl
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.worksheet.datavalidation import DataValidation

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = XLSX_SHEET
    vname = project.village_name(village_code)
    ws.append([f"{vname} 摸底表（{village_code}）：每栋建筑填一行；图上没有的建筑填在空行，"
               "并填经度、纬度。不登记姓名、身份证号、电话号码。"])
    ws.append(list(XLSX_HEADERS))
    for c in ws[2]:
        c.font = Font(bold=True)
        c.fill = PatternFill("solid", fgColor="DDDDDD")
        c.alignment = Alignment(wrap_text=True)
    device = _device(village_code)
    for code in project.area_codes(village_code):
        b, _route = number_area(project, code)
        if len(b):
            wgs = gpd.GeoSeries(b.geometry.representative_point().values,
                                crs=project.crs).to_crs(4326)
            b = b.assign(wx=wgs.x.round(7).to_numpy(), wy=wgs.y.round(7).to_numpy())
            for row in b.sort_values("number").itertuples():
                label = str(row.name or row.address or "")
                fl = getattr(row, "floors", None)
                ws.append([code, int(row.number), str(row.building_id), label,
                           int(fl) if fl == fl and fl is not None else None,
                           None, None, None, None, None, None, float(row.wx), float(row.wy),
                           None, device])
        for _ in range(EMPTY_ROWS_PER_AREA):
            ws.append([code, None, None, "（图上没有的建筑）", None, None, None, None, None,
                       None, None, None, None, None, device])
    last = ws.max_row
    dv = DataValidation(type="list", formula1='"' + ",".join(STATUSES) + '"', allow_blank=True,
                        showErrorMessage=True, errorTitle="状态",
                        error="请从列表中选择：" + "、".join(STATUSES))
    ws.add_data_validation(dv)
    dv.add(f"F3:F{last}")
    counts = DataValidation(type="whole", operator="between", formula1="0", formula2="5000",
                            allow_blank=True, showErrorMessage=True, error="请填 0–5000 的整数")
    ws.add_data_validation(counts)
    counts.add(f"G3:J{last}")
    for i, w in enumerate(_WIDTHS, start=1):
        ws.column_dimensions[openpyxl.utils.get_column_letter(i)].width = w
    for r in range(3, last + 1):
        ws.cell(r, 1).number_format = "@"
        ws.cell(r, 3).number_format = "@"
    ws.freeze_panes = "A3"
    ws.print_title_rows = "2:2"
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    wb.properties.creator = "pucha"
    out = Path(path)
    with atomic_path(out, suffix=".xlsx") as tmp:
        wb.save(tmp)
    return out

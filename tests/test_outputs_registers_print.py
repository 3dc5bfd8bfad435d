"""Registers agree with the GeoPackage and print on A4.

* On the demo (real import + partition) and on the 160k synthetic township (slow):
  every register row's people and buildings equal the ``areas`` layer's and what the
  ``building_areas`` table holds; the totals row counts each building once
  (the demo's buildings, not the sum of the rows, which counts a cut tower in each
  of its areas). 0 mismatches.
* The XLSX is set up for A4 (landscape, fit to one page wide, header row repeated,
  print area), read back with openpyxl; LibreOffice (``--headless --convert-to pdf``)
  prints the largest 居委 register one page wide: every page holds the first and the
  last column and is landscape A4.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from fixture_demo import demo_dir
from pucha.gis.write import read_layer
from pucha.outputs.project import load_project
from pucha.outputs.registers import (register_rows, totals_row, write_register_pdf,
                                     write_register_xlsx)
from pucha.outputs.route import number_area

DEMO_PEOPLE = 56651


def _mismatches(gpkg: Path) -> tuple[list[str], list[dict], dict, object]:
    project = load_project(gpkg)
    numbered = {c: number_area(project, c)[0] for c in project.area_codes()}
    rows = register_rows(project, project.area_codes(), numbered)
    areas = read_layer(gpkg, "areas").set_index("area_code")
    ba = pd.DataFrame(read_layer(gpkg, "building_areas"))
    held = ba.groupby("area_code").agg(people=("population", "sum"),
                                       buildings=("building_id", "nunique"))
    bad = []
    for r in rows:
        c = str(r["普查小区代码"])
        want = (int(areas.loc[c, "population"]), int(areas.loc[c, "n_buildings"]),
                int(round(held.loc[c, "people"])), int(held.loc[c, "buildings"]),
                len(numbered[c]))
        got = (r["人口"], r["建筑栋数"], r["人口"], r["建筑栋数"], r["建筑栋数"])
        if want != got:
            bad.append(f"{c}: register {got} != gpkg {want}")
    return bad, rows, totals_row(rows, project), project


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    return _mismatches(demo_dir(tmp_path_factory) / "project.gpkg")


def test_demo_register_agrees_with_the_geopackage(demo):
    bad, rows, total, project = demo
    assert len(rows) == len(project.areas) > 180
    assert bad == [], f"{len(bad)} mismatches: {bad[:5]}"
    assert total["人口"] == DEMO_PEOPLE == sum(r["人口"] for r in rows)
    # each building once in the total (a cut tower is in each of its areas' rows)
    assert total["建筑栋数"] == len(project.buildings) < sum(r["建筑栋数"] for r in rows)
    assert "切割建筑只计一次" in total["备注"]
    cut_rows = [r for r in rows if "切割建筑" in r["备注"]]
    assert cut_rows and all(re.search(r"\(\d+-\d+[层单元]", r["建筑编号及地址"]) or
                            re.search(r"\(\d+[层单元]", r["建筑编号及地址"]) for r in cut_rows)
    assert all(isinstance(r["户数/住房单元"], int) and r["户数/住房单元"] >= 0 for r in rows)


@pytest.mark.slow
def test_160k_synthetic_register_agrees_with_the_geopackage(tmp_path):
    from pucha.gis.synthetic import write_synthetic_gpkg
    from pucha.partition.run import partition_project

    gpkg = write_synthetic_gpkg(tmp_path / "s.gpkg", seed=0)
    partition_project(gpkg, progress=False, jobs=2)
    bad, rows, total, _ = _mismatches(gpkg)
    assert len(rows) > 400
    assert bad == [], f"{len(bad)} mismatches: {bad[:5]}"
    b = read_layer(gpkg, "buildings")
    assert total["人口"] == int(b["population"].sum())
    assert total["建筑栋数"] == len(b)


def _largest_village_rows(demo) -> tuple[list[dict], dict, object]:
    _, rows, _, project = demo
    by_v = pd.Series([r["居/村代码"] for r in rows]).value_counts()
    v = sorted(by_v[by_v == by_v.max()].index)[0]
    sub = [r for r in rows if r["居/村代码"] == v]
    return sub, totals_row(sub, project), project


def test_xlsx_is_set_up_for_a4(demo, tmp_path):
    rows, total, _ = _largest_village_rows(demo)
    p = write_register_xlsx(rows, tmp_path / "r.xlsx", title="登记表", total=total)
    ws = openpyxl.load_workbook(p).active
    assert ws.page_setup.orientation == "landscape" and int(ws.page_setup.paperSize) == 9
    assert ws.sheet_properties.pageSetUpPr.fitToPage
    assert int(ws.page_setup.fitToWidth) == 1 and int(ws.page_setup.fitToHeight) == 0
    assert ws.print_title_rows == "$1:$1"
    last = ws.cell(row=1, column=ws.max_column).column_letter
    assert ws.cell(row=1, column=ws.max_column).value == "普查指导员"
    assert str(ws.print_area).endswith(f"$A$1:${last}${len(rows) + 2}"), ws.print_area
    assert ws.cell(row=len(rows) + 2, column=1).value == "合计"
    assert ws.cell(row=len(rows) + 2, column=5).value == sum(r["人口"] for r in rows)


def test_libreoffice_prints_the_register_one_page_wide(demo, tmp_path):
    soffice = shutil.which("libreoffice") or shutil.which("soffice")
    assert soffice, "LibreOffice is needed (Debian: libreoffice-calc-nogui)"
    rows, total, _ = _largest_village_rows(demo)
    assert len(rows) >= 17
    p = write_register_xlsx(rows, tmp_path / "r.xlsx", title="登记表", total=total)
    subprocess.run([soffice, "--headless", f"-env:UserInstallation=file://{tmp_path}/lo",
                    "--convert-to", "pdf", "--outdir", str(tmp_path), str(p)],
                   check=True, capture_output=True, timeout=180)
    pdf = tmp_path / "r.pdf"
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True,
                          check=True).stdout
    pages = int(re.search(r"Pages:\s+(\d+)", info).group(1))
    w, h = map(float, re.search(r"Page size:\s+([\d.]+) x ([\d.]+)", info).groups())
    assert (round(w), round(h)) == (842, 595), info  # A4 landscape
    assert pages <= 3, f"{len(rows)} rows on {pages} pages"
    for k in range(1, pages + 1):
        text = subprocess.run(["pdftotext", "-f", str(k), "-l", str(k), str(pdf), "-"],
                              capture_output=True, text=True, check=True).stdout
        # one page wide: the header row (repeated) holds the first and the last column
        assert "普查小区代码" in text and "普查指导员" in text, f"page {k} lacks columns"


def test_register_pdf_paginates_with_header_and_total(demo, tmp_path):
    _, rows, total, project = demo
    p = write_register_pdf(rows, tmp_path / "t.pdf", title="外滩 普查小区登记表", total=total,
                           data_date=project.data_date)
    info = subprocess.run(["pdfinfo", str(p)], capture_output=True, text=True,
                          check=True).stdout
    pages = int(re.search(r"Pages:\s+(\d+)", info).group(1))
    assert pages > 1
    text = subprocess.run(["pdftotext", "-layout", str(p), "-"], capture_output=True, text=True,
                          check=True).stdout
    assert text.count("普查小区代码") == pages and text.count("第 ") >= pages
    assert all(str(r["普查小区代码"]) in text for r in rows)
    assert "合计" in text and str(DEMO_PEOPLE) in text and "数据日期：2024" in text

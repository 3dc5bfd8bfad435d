"""pucha.outputs.registers (+ project loading): rows, CSV with BOM, XLSX, formula guard."""

from __future__ import annotations

import csv

import openpyxl
import pytest

from fixture_outputs import VA, VB, make_tiny_project
from pucha.errors import InputError
from pucha.outputs.project import load_project, part_label
from pucha.outputs.registers import (REGISTER_COLUMNS, register_rows, write_register_csv,
                                     write_register_xlsx)
from pucha.outputs.route import number_area


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    return load_project(make_tiny_project(tmp_path_factory.mktemp("rg") / "t.gpkg",
                                          hostile=True))


def _rows(project):
    numbered = {c: number_area(project, c)[0] for c in project.area_codes()}
    return register_rows(project, project.area_codes(), numbered)


def test_rows_account_for_every_person(project):
    rows = _rows(project)
    assert sum(r["人口"] for r in rows) == int(project.building_areas["population"].sum())
    assert [r["建筑栋数"] for r in rows] == [13, 13, 12, 12]
    assert rows[1]["建筑编号及地址"].count("(11-20层)") == 1
    assert rows[0]["普查小区"] == "第001普查小区"
    assert all(r["普查员"] == "" and r["普查指导员"] == "" for r in rows)
    assert "\n" not in rows[2]["居/村"]


def test_csv_bom_and_formula_guard(project, tmp_path):
    rows = _rows(project)
    rows[0] = dict(rows[0], 四至="=HYPERLINK(\"x\")")
    p = write_register_csv(rows, tmp_path / "r.csv")
    raw = p.read_bytes()
    assert raw[:3] == b"\xef\xbb\xbf"
    got = list(csv.reader(raw.decode("utf-8-sig").splitlines()))
    assert tuple(got[0]) == REGISTER_COLUMNS
    assert got[1][0] == f"{VA}001" and got[1][8].startswith("'=")
    assert len(got) == 5


def test_xlsx(project, tmp_path):
    p = write_register_xlsx(_rows(project), tmp_path / "r.xlsx")
    ws = openpyxl.load_workbook(p).active
    assert ws.cell(row=2, column=1).value == f"{VA}001"
    assert ws.cell(row=4, column=2).value == VB
    assert ws.cell(row=2, column=5).value == 340
    assert ws.freeze_panes == "A2"


def test_part_label():
    nan = float("nan")
    assert part_label(1, 10, nan, nan) == "1-10层"
    assert part_label(nan, nan, 1, 2) == "1-2单元"
    assert part_label(3, 3, 2, 2) == "2单元 3层"


def test_unpartitioned_project_is_a_clear_error(tmp_path):
    p = make_tiny_project(tmp_path / "t.gpkg")
    from pucha.gis.write import _drop_layer
    _drop_layer(p, "areas")
    with pytest.raises(InputError, match="pucha partition"):
        load_project(p)


def test_xlsx_is_byte_identical_across_runs(project, tmp_path):
    a = write_register_xlsx(_rows(project), tmp_path / "a.xlsx").read_bytes()
    import time
    time.sleep(1.1)
    b = write_register_xlsx(_rows(project), tmp_path / "b.xlsx").read_bytes()
    assert a == b
    ws = openpyxl.load_workbook(tmp_path / "b.xlsx").active
    assert ws.cell(row=1, column=1).value == "普查小区代码"

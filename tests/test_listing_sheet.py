"""The paper 摸底表 (outputs/listing_sheet.py) after each area's map page."""

from __future__ import annotations

import re
import subprocess

import pytest

from fixture_outputs import VA, make_tiny_project
from pucha.outputs.printmap import project_texts, use_subset_font, write_area_pdf
from pucha.outputs.project import load_project


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    return load_project(make_tiny_project(tmp_path_factory.mktemp("sheet") / "t.gpkg"))



def test_listing_sheet_page(project, tmp_path):
    """The area PDF's second page is the 摸底表: numbered buildings in route order with
    empty 状态/住房单元/户数/人数/备注 columns, and no column for resident data."""
    from pucha.outputs.listing_sheet import EMPTY_ROWS
    from pucha.outputs.route import number_area

    use_subset_font(project_texts(project))
    out = write_area_pdf(project, f"{VA}001", tmp_path / "a.pdf")
    text = subprocess.run(["pdftotext", "-f", "2", "-l", "2", "-layout", str(out), "-"],
                          capture_output=True, check=True).stdout.decode()
    for word in ("摸底表", "编号", "状态", "住房单元", "户数", "人数", "备注", f"{VA}001",
                 "不登记姓名、身份证号、电话号码"):
        assert word in text, word
    b, _ = number_area(project, f"{VA}001")
    nums = [int(x) for x in re.findall(r"^\s*(\d{1,3})\s", text, flags=re.M)]
    assert nums[:len(b)] == list(range(1, len(b) + 1))
    assert text.count("新增") == EMPTY_ROWS

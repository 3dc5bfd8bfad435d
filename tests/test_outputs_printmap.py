"""pucha.outputs.printmap: A4 orientation, title block, glyph check, subset font."""

from __future__ import annotations

import subprocess

import pytest
from pypdf import PdfReader

from fixture_outputs import VA, make_tiny_project
from pucha.errors import FontError
from pucha.outputs.printmap import (_check_text, area_figure, project_texts, use_subset_font,
                                    write_area_pdf)
from pucha.outputs.project import load_project


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    return load_project(make_tiny_project(tmp_path_factory.mktemp("pm") / "t.gpkg"))


def test_orientation_fits_the_shape(project):
    """Each tiny area is 400 m wide x 200 m high: landscape A4 (297 x 210 mm)."""
    fig = area_figure(project, f"{VA}001")
    w, h = fig.get_size_inches()
    assert w > h and round(w * 25.4) == 297 and round(h * 25.4) == 210


def test_page_text_and_embedded_font(project, tmp_path):
    use_subset_font(project_texts(project))
    out = write_area_pdf(project, f"{VA}002", tmp_path / "a.pdf")
    # the map (its 13 buildings fit the panel as an 8 pt table with headers), then the 摸底表
    assert len(PdfReader(out).pages) == 2
    text = subprocess.run(["pdftotext", str(out), "-"], capture_output=True,
                          check=True).stdout.decode()
    for s in ("东方居委会 第002普查小区", f"{VA}002", "人口", "住房", "建筑", "四至",
              "普查员", "普查指导员", "北", "11-20层", "编号", "名称/地址", "层数", "住房单元",
              "人数", "楼层范围", "来源编号", "东方路"):
        assert s in text, s
    fonts = subprocess.run(["pdffonts", str(out)], capture_output=True, check=True).stdout.decode()
    assert "NotoSansCJKsc" in fonts or "SC" in fonts
    assert all(" yes " in ln for ln in fonts.splitlines()[2:])


def test_missing_glyph_is_an_error():
    with pytest.raises(FontError, match="🏠"):
        _check_text(["东方路1号", "房子🏠"], "普查小区 x")
    _check_text(["东方路1号 1-10层"], "ok")


def test_subset_font_falls_back_for_new_characters(project, tmp_path):
    fam = use_subset_font(["东方"])
    assert fam is not None
    # a road name with characters outside the subset still renders (full font)
    project.roads.loc[0, "name"] = "龘靐路"
    try:
        out = write_area_pdf(project, f"{VA}001", tmp_path / "b.pdf")
        text = subprocess.run(["pdftotext", str(out), "-"], capture_output=True,
                              check=True).stdout.decode()
        assert "龘靐路" in text
    finally:
        project.roads.loc[0, "name"] = "中山路"


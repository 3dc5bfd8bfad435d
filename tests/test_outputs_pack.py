"""pucha.outputs.pack (+ printmap, registers, webmap index) on the hostile tiny project.

One pack is built per module (jobs=1) and inspected: file layout inside the
output folder whatever the names, PDFs (page count, text, embedded SC font),
registers, the index, and a scan of every output for URLs.
"""

from __future__ import annotations

import csv
import re
import subprocess
from pathlib import Path

import openpyxl
import pytest
from pypdf import PdfReader

from fixture_outputs import (HOSTILE_BUILDING, HOSTILE_VILLAGE, LONG_NAME, VA, VB,
                             make_lujiazui_project, make_tiny_project)
from pucha.basemaps.tiles import parse_tile_spec
from pucha.errors import FontError, InputError
from pucha.outputs.offline import leaflet_assets
from pucha.outputs.pack import make_pack

URL = re.compile(rb"https?://[^\s\"'<>`)\\]+")


@pytest.fixture(scope="module")
def pack(tmp_path_factory):
    d = tmp_path_factory.mktemp("pack")
    gpkg = make_tiny_project(d / "tiny.gpkg", hostile=True)
    res = make_pack(gpkg, d / "out", jobs=1, progress=False)
    return res


def test_layout_stays_inside(pack):
    out = pack.out_dir.resolve()
    files = [p for p in out.rglob("*") if p.is_file()]
    assert all(out in p.resolve().parents for p in files)
    assert not any(".tmp" in p.name for p in files)
    names = "".join(p.as_posix() for p in files)
    assert "\n" not in names and ".." not in names
    assert pack.n_areas == 4 and pack.n_villages == 2
    assert len(pack.html) == 4 + 2 + 1 and len(pack.pdf) == 4 + 2
    for p in pack.files:
        assert p.exists() and p.stat().st_size > 0


def _pdftotext(p: Path) -> str:
    return subprocess.run(["pdftotext", "-layout", str(p), "-"], capture_output=True,
                          check=True).stdout.decode("utf-8")


def test_atlas_pages_title_code_and_fonts(pack):
    atlases = sorted(p for p in pack.pdf if p.name.endswith("_图册.pdf"))
    assert len(atlases) == 2
    for atlas in atlases:
        n_areas = 2
        assert len(PdfReader(atlas).pages) == 2 * n_areas + 1  # map + 摸底表 per area
    a = next(p for p in atlases if p.name.startswith(VA))
    text = _pdftotext(a)
    assert "东方居委会 第001普查小区" in text and "东方居委会 第002普查小区" in text
    assert "310118002001001" in text and "310118002001002" in text
    assert "普查小区总图" in text
    assert "普查员" in text and "普查指导员" in text and "OpenStreetMap" in text
    assert "四至" in text and "数据日期" in text
    fonts = subprocess.run(["pdffonts", str(a)], capture_output=True, check=True).stdout.decode()
    sc = [ln for ln in fonts.splitlines() if "CJKsc" in ln or "SC" in ln.split()[0]]
    assert sc, fonts
    for ln in sc:
        assert ("CID" in ln or "TrueType" in ln) and " yes " in ln  # embedded


def test_single_area_pdf(pack):
    p = next(p for p in pack.pdf if p.name == "310118002001001.pdf")
    assert len(PdfReader(p).pages) == 2  # the map, then the 摸底表 (listing sheet)
    page = PdfReader(p).pages[0]
    w, h = float(page.mediabox.width), float(page.mediabox.height)
    assert sorted((round(w), round(h))) == [595, 842]  # A4 in points
    text = _pdftotext(p)
    assert "1-10层" in text  # the cut tower's share
    assert "中山路" in text and "东街" in text  # road names drawn


def test_registers(pack):
    t_csv = next(p for p in pack.registers if p.suffix == ".csv" and p.parent.name == "登记表")
    raw = t_csv.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(raw.decode("utf-8-sig").splitlines()))
    assert [r["普查小区代码"] for r in rows] == [f"{VA}001", f"{VA}002", f"{VB}001", f"{VB}002"]
    assert sum(int(r["人口"]) for r in rows) == 300 * 4 + 80
    south = rows[0]
    assert "东方路99号(1-10层)" in south["建筑编号及地址"]
    assert south["普查员"] == "" and south["普查指导员"] == ""
    assert south["四至"].startswith("东至东街")
    assert "\n" not in rows[2]["居/村"]
    xlsx = next(p for p in pack.registers if p.suffix == ".xlsx" and p.parent.name == "登记表")
    ws = openpyxl.load_workbook(xlsx).active
    header = [c.value for c in ws[1]]
    assert header[:3] == ["普查小区代码", "居/村代码", "居/村"] and header[-2:] == ["普查员", "普查指导员"]
    assert ws.cell(row=2, column=1).value == f"{VA}001"  # text, all 15 digits
    # XLSX (for print) ends with the totals row: the tower cut between two areas is one
    # building in the total, one in each of its rows
    assert ws.max_row == 6 and ws.cell(row=6, column=1).value == "合计"
    col = {c.value: c.column for c in ws[1]}
    assert ws.cell(row=6, column=col["人口"]).value == 300 * 4 + 80
    assert ws.cell(row=6, column=col["建筑栋数"]).value == sum(
        int(r["建筑栋数"]) for r in rows) - 1


def test_no_urls_in_any_output(pack):
    script, _ = leaflet_assets()
    for p in sorted(pack.out_dir.rglob("*")):
        if not p.is_file() or p.suffix in (".pdf", ".xlsx"):
            continue
        data = p.read_bytes().replace(script.encode("utf-8"), b"")
        assert URL.findall(data) == [], p


def test_hostile_names_are_text(pack):
    html = next(p for p in pack.html if p.name == "310118002001001.html").read_text("utf-8")
    assert HOSTILE_BUILDING not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "${alert(2)}" not in html and "&#36;&#123;alert(2)&#125;" in html
    assert LONG_NAME[:50] in html
    vhtml = next(p for p in pack.html if p.name == "310118002002001.html").read_text("utf-8")
    assert HOSTILE_VILLAGE not in vhtml and "../东风/居委会 第二" in vhtml
    index = (pack.out_dir / "index.html").read_text("utf-8")
    assert HOSTILE_BUILDING not in index and "<script>" in index  # only our own filter script
    assert index.count("<script>") == 1


def test_emoji_is_refused_in_pdf_but_shown_in_html(tmp_path):
    gpkg = make_tiny_project(tmp_path / "e.gpkg", hostile=True, emoji=True)
    res = make_pack(gpkg, tmp_path / "html", jobs=1, progress=False, pdf=False,
                    only_village=VA)
    html = (res.out_dir / f"{VA}_东方居委会" / f"{VA}001.html").read_text("utf-8")
    assert "🏠" in html
    with pytest.raises(FontError, match="🏠"):
        make_pack(gpkg, tmp_path / "pdf", jobs=1, progress=False, only_village=VA)


def test_only_village_and_errors(tmp_path):
    gpkg = make_tiny_project(tmp_path / "t.gpkg")
    with pytest.raises(InputError, match="no areas"):
        make_pack(gpkg, tmp_path / "o", jobs=1, progress=False, only_village="999")
    with pytest.raises(InputError, match="not found"):
        make_pack(tmp_path / "missing.gpkg", tmp_path / "o", jobs=1, progress=False)


def test_real_lujiazui_parallel_with_amap_tiles(tmp_path, lujiazui_gpkg):
    gpkg = make_lujiazui_project(tmp_path / "l.gpkg", lujiazui_gpkg, n_strips=2)
    res = make_pack(gpkg, tmp_path / "out", jobs=2, progress=False, pdf=False,
                    tile_source=parse_tile_spec("amap"))
    assert res.n_areas == 4
    html = next(p for p in res.html if p.name.endswith("001.html")).read_bytes()
    hosts = {u.split(b"/")[2] for u in URL.findall(html.replace(
        leaflet_assets()[0].encode(), b""))}
    assert hosts == {b"webrd0{s}.is.autonavi.com"}
    assert b"puchaGcj" in html  # GPS position shifted like the overlays


def test_byte_identical_under_different_hash_seeds(tmp_path):
    """Same project, PYTHONHASHSEED 1 vs 2, 2 workers: every file identical."""
    import os
    import sys

    gpkg = make_tiny_project(tmp_path / "t.gpkg", hostile=True)
    outs = []
    for seed in ("1", "2"):
        out = tmp_path / f"out{seed}"
        code = (f"from pucha.outputs.pack import make_pack; make_pack({str(gpkg)!r}, "
                f"{str(out)!r}, jobs=2, progress=False, only_village={VA!r})")
        env = dict(os.environ, PYTHONHASHSEED=seed)
        subprocess.run([sys.executable, "-c", code], check=True, env=env)
        outs.append(out)
    files = sorted(p.relative_to(outs[0]) for p in outs[0].rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(outs[1]) for p in outs[1].rglob("*") if p.is_file())
    for f in files:
        assert (outs[0] / f).read_bytes() == (outs[1] / f).read_bytes(), f


@pytest.mark.slow
def test_pack_on_the_real_partition_engine(tmp_path, lujiazui_gpkg):
    """Real Lujiazui OSM, partitioned by pucha.partition, then the whole pack."""
    from pucha.gis.write import _drop_layer, read_layer
    from pucha.partition.run import partition_project

    gpkg = make_lujiazui_project(tmp_path / "l.gpkg", lujiazui_gpkg)
    for layer in ("areas", "building_areas"):
        _drop_layer(gpkg, layer)
    partition_project(gpkg, progress=False)
    res = make_pack(gpkg, tmp_path / "out", jobs=2, progress=False)
    areas = read_layer(gpkg, "areas")
    assert res.n_areas == len(areas) > 10
    assert res.pages == len(areas) + res.n_villages
    rows = list(csv.DictReader(
        next(p for p in res.registers if p.parent.name == "登记表" and p.suffix == ".csv")
        .read_text("utf-8-sig").splitlines()))
    people = int(read_layer(gpkg, "buildings")["population"].sum())
    assert sum(int(r["人口"]) for r in rows) == people
    for atlas in (p for p in res.pdf if p.name.endswith("_图册.pdf")):
        vcode = atlas.name[:12]
        sheets = [p for p in res.pdf if p.name.startswith(vcode) and p.stem.isdigit()]
        # overview + each area's sheet and its building-list continuation pages
        assert len(PdfReader(atlas).pages) == 1 + sum(len(PdfReader(p).pages) for p in sheets)
        assert len(sheets) == int((areas["village_code"] == vcode).sum())

"""Tests for pucha.outputs.conflicts: CSV, offline HTML map, Chinese PDF summary."""

from __future__ import annotations

import json
import re

import geopandas as gpd
import pandas as pd
import pytest
from shapely.geometry import box

from pucha.gis.boundaries import find_conflicts
from pucha.gis.faces import assemble_faces
from pucha.outputs.conflicts import write_conflicts_csv, write_conflicts_map, write_conflicts_pdf

CRS = "EPSG:4549"
EVIL = '<script>alert("x")</script>邻镇&'


@pytest.fixture(scope="module")
def result(shared_data):
    faces = assemble_faces(gpd.read_file(shared_data / "osm" / "shanghai-lujiazui.gpkg",
                                         layer="boundaries")).to_crs(CRS).set_index("name").geometry
    T, N = faces["浦东新区"], faces["黄浦区"]
    p = T.representative_point()
    tw = gpd.GeoDataFrame({"code": ["310115005"], "name": ["浦东新区"]}, geometry=[T], crs=CRS)
    nb = gpd.GeoDataFrame({"code": [""], "name": [EVIL]},
                          geometry=[N.union(box(p.x - 30, p.y - 20, p.x + 30, p.y + 20))], crs=CRS)
    c, lines = find_conflicts(tw, None, nb)
    return c, lines, tw, nb


def test_csv(result, tmp_path):
    c, *_ = result
    out = write_conflicts_csv(c, tmp_path / "c.csv")
    raw = out.read_bytes()
    assert raw.startswith("\ufeff".encode())
    df = pd.read_csv(out, encoding="utf-8-sig", dtype=str)
    assert df["conflict_id"].tolist() == c["conflict_id"].tolist()
    assert df["wkt"].str.startswith("POLYGON").any()
    assert float(df.loc[df["kind"] == "overlap", "area_m2"].iloc[0]) == pytest.approx(2400, rel=0.01)


def test_html_offline_escaped_one_entry_per_conflict(result, tmp_path):
    c, lines, tw, nb = result
    out = write_conflicts_map(c, tmp_path / "c.html", lines=lines, township=tw, neighbours=nb,
                              title="浦东新区 边界冲突核查")
    html = out.read_text(encoding="utf-8")
    assert EVIL not in html and "<script>alert" not in html
    from pucha.outputs.offline import check_offline

    check_offline(html)  # raises on any remote src/href
    assert "<script src" not in html
    m = re.search(r"var items = (\[.*?\]);\n", html, re.S)
    items = json.loads(m.group(1))
    assert len(items) == len(c)
    assert all(len(it["b"]) == 4 for it in items)
    ov = [it for it in items if it["label"].startswith(c.loc[c["kind"] == "overlap", "conflict_id"].iloc[0])]
    lon0, lat0, lon1, lat1 = ov[0]["b"]
    assert 121.4 < lon0 < lon1 < 121.6 and 31.1 < lat0 < lat1 < 31.3
    assert "浦东新区 边界冲突核查" in html


def test_pdf_chinese_embedded(result, tmp_path):
    c, lines, tw, nb = result
    out = write_conflicts_pdf(c, tmp_path / "c.pdf", township=tw, neighbours=nb, title="浦东新区 边界冲突核查")
    from pypdf import PdfReader

    r = PdfReader(out)
    text = r.pages[0].extract_text()
    assert "边界冲突核查" in text and "重叠" in text
    for cid in c["conflict_id"]:
        assert cid in text
    fonts = set()
    for page in r.pages:
        for f in page["/Resources"]["/Font"].values():
            fonts.add(str(f.get_object()["/BaseFont"]))
    assert any("CJK" in f or "Noto" in f or "Hei" in f for f in fonts), fonts

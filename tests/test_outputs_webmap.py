"""pucha.outputs.webmap: what an area HTML, an overview and the index contain."""

from __future__ import annotations

import re

import numpy as np
import pytest

from fixture_outputs import VA, VB, make_tiny_project
from pucha.basemaps.tiles import parse_tile_spec
from pucha.gis.gcj02 import gcj02_to_wgs84
from pucha.outputs.project import load_project
from pucha.outputs.webmap import area_html, index_html, village_html


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    return load_project(make_tiny_project(tmp_path_factory.mktemp("wm") / "t.gpkg"))


def test_area_html_content(project):
    html = area_html(project, f"{VA}001", pdf_href="a.pdf", overview_href="总图.html")
    assert 'name="viewport"' in html
    assert "东方居委会 第001普查小区" in html and f"{VA}001" in html
    assert "人口 340 人" in html and "建筑 13 栋" in html and "切割 1 栋" in html
    assert "四至：东至东街，南至小河，西至边界，北至中山路" in html
    nums = re.findall(r'class=\\"pucha-num(?: cut)?\\"\\u003e(\d+)\\u003c', html)
    assert sorted(int(n) for n in nums) == list(range(1, 14))
    assert 'class=\\"pucha-num cut\\"' in html  # the cut tower
    assert "1-10层" in html
    assert "navigator.geolocation" in html and 'id="pucha-locate"' in html
    assert "L.control.scale" in html and 'id="pucha-legend"' in html
    assert "© OpenStreetMap contributors" in html
    # neighbour codes around it: the north area and village B's south area
    assert f"{VA}002" in html and f"{VB}001" in html
    assert 'href="a.pdf"' in html and 'href="总图.html"' in html
    assert "中山路" in html  # road name label


def test_area_html_deterministic(project):
    assert area_html(project, f"{VA}002") == area_html(project, f"{VA}002")


def test_amap_overlays_are_shifted_into_gcj02(project):
    plain = area_html(project, f"{VA}001")
    shifted = area_html(project, f"{VA}001", tiles=parse_tile_spec("amap"))

    def first_marker(h: str) -> tuple[float, float]:
        m = re.search(r"L\.marker\(\s*\[([0-9.]+), ([0-9.]+)\]", h)
        return float(m.group(1)), float(m.group(2))

    lat0, lon0 = first_marker(plain)
    lat1, lon1 = first_marker(shifted)
    assert abs(lat1 - lat0) + abs(lon1 - lon0) > 1e-3  # hundreds of metres
    blon, blat = gcj02_to_wgs84(np.array([lon1]), np.array([lat1]))
    assert abs(blon[0] - lon0) < 1e-6 and abs(blat[0] - lat0) < 1e-6
    assert "function puchaGcj(" in shifted and "function puchaGcj(" not in plain


def test_overview_links_every_area(project):
    links = {f"{VA}001": f"{VA}001.html", f"{VA}002": f"{VA}002.html"}
    html = village_html(project, VA, area_links=links)
    for href in links.values():
        assert f'href="{href}"' in html
    assert "东方居委会 普查小区总图" in html


def test_index_search_and_links(project):
    entries = [dict(area_code=c, village_code=c[:12], village=project.village_name(c[:12]),
                    population=300, dwellings=120, n_buildings=12, html=f"x/{c}.html",
                    pdf=f"x/{c}.pdf") for c in project.area_codes()]
    ventries = [dict(village_code=v, village=project.village_name(v), overview="o.html",
                     atlas="a.pdf", register="r.xlsx") for v in project.village_codes()]
    html = index_html(project, entries, village_entries=ventries)
    for c in project.area_codes():
        assert f'href="x/{c}.html"' in html and f'href="x/{c}.pdf"' in html
        assert f'data-key="{c} ' in html
    assert 'id="q"' in html and "addEventListener('input'" in html
    assert "http" not in html

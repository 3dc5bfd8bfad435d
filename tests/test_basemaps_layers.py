"""pucha.basemaps.layers: clip to view, escape, labels; attribution."""

from __future__ import annotations

import geopandas as gpd
import pytest
from shapely.geometry import LineString, box

from fixture_outputs import X0, Y0, make_lujiazui_project, make_tiny_project
from pucha.basemaps.attribution import attribution_text, is_osm_attribution
from pucha.basemaps.layers import clip_layers, escape_text, label_points
from pucha.outputs.project import load_project


@pytest.mark.parametrize("text,forbidden", [
    ("<script>alert(1)</script>", ["<", ">"]),
    ("`${alert(1)}`", ["`", "${"]),
    ("a\\u0022b", ["\\"]),
    ('"onmouseover="x', ['"']),
    ("line1\nline2\u2028", ["\n", "\u2028"]),
])
def test_escape_text(text, forbidden):
    out = escape_text(text)
    for f in forbidden:
        assert f not in out
    import html
    assert html.unescape(out).replace(" ", "") == text.replace("\n", "").replace("\u2028", "")\
        .replace(" ", "")


def test_clip_to_view_and_exclusions(tmp_path):
    p = load_project(make_tiny_project(tmp_path / "t.gpkg"))
    view = box(X0 + 350, Y0 + 150, X0 + 450, Y0 + 250)
    lay = clip_layers(view, roads=p.roads, water=p.water, buildings=p.buildings,
                      areas=p.areas, villages=p.villages, exclude_buildings={"tower"},
                      exclude_areas={"310118002001001"})
    for g in list(lay.roads.geometry) + list(lay.buildings.geometry):
        assert g.within(view.buffer(1e-6))
    assert set(lay.roads["name"]) == {"中山路", "东街"}
    assert "tower" not in set(lay.buildings["building_id"])
    assert "310118002001001" not in set(lay.areas["area_code"])
    assert len(lay.water) == 0  # the river is outside the view
    assert all(g.geom_type in ("LineString", "MultiLineString") for g in lay.villages.geometry)


def test_labels_one_per_name_longest_piece():
    roads = gpd.GeoDataFrame({"name": ["长路", "长路", "短路", ""]},
                             geometry=[LineString([(0, 0), (100, 0)]),
                                       LineString([(0, 50), (400, 50)]),
                                       LineString([(0, 0), (0, 30)]),
                                       LineString([(0, 0), (500, 500)])], crs="EPSG:4549")
    labels = label_points(roads)
    assert [t for t, *_ in labels] == ["长路"]
    t, x, y, ang = labels[0]
    assert (x, y, ang) == (200, 50, 0)


def test_real_osm_names_clip(tmp_path, lujiazui_gpkg):
    p = load_project(make_lujiazui_project(tmp_path / "l.gpkg", lujiazui_gpkg))
    a = p.area(p.area_codes()[0]).geometry
    lay = clip_layers(a.buffer(100), roads=p.roads, water=p.water)
    names = {t for t, *_ in label_points(lay.roads)} | {t for t, *_ in label_points(lay.water)}
    assert any(any("\u4e00" <= ch <= "\u9fff" for ch in n) for n in names)
    assert len(lay.roads) < len(p.roads)


def test_attribution():
    assert attribution_text() == "© OpenStreetMap contributors (ODbL 1.0)"
    assert is_osm_attribution(attribution_text())
    assert attribution_text("a", "", "a", "b") == "a | b"


def test_township_and_neighbouring_towns(tmp_path):
    """Village B's east edge is the township edge; 香花桥街道 lies beyond it."""
    p = load_project(make_tiny_project(tmp_path / "t.gpkg"))
    assert set(p.towns["name"]) == {"盈浦街道", "香花桥街道"}
    view = box(X0 + 600, Y0 - 50, X0 + 1000, Y0 + 450)
    lay = clip_layers(view, towns=p.towns)
    assert len(lay.towns) >= 1
    # only the neighbouring town is named (the own township is the whole map)
    assert [t for t, *_ in lay.town_labels] == ["香花桥街道"]
    far = clip_layers(box(X0, Y0, X0 + 100, Y0 + 100), towns=p.towns)
    assert far.town_labels == []

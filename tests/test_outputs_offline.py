"""pucha.outputs.offline: Leaflet inlined, no CDN, class lists untouched."""

from __future__ import annotations

import re

import folium
import pytest

from pucha.errors import PuchaError
from pucha.outputs.offline import check_offline, leaflet_assets, new_map, render_html, save_html

URL = re.compile(r"https?://[^\s\"'<>`)]+")


def _sample(name: str = "x") -> folium.Map:
    m = new_map(location=[31.24, 121.5], zoom_start=16, control_scale=True)
    folium.CircleMarker([31.24, 121.5], radius=5, tooltip=name, popup=name).add_to(m)
    folium.PolyLine([[31.24, 121.5], [31.241, 121.501]]).add_to(m)
    folium.Marker([31.24, 121.5], icon=folium.DivIcon(html="<b>1</b>")).add_to(m)
    folium.LayerControl().add_to(m)
    return m


def test_no_cdn_and_leaflet_inlined():
    html = render_html(_sample())
    script, style = leaflet_assets()
    assert script in html and style in html
    assert "L.map(" in html
    # Outside Leaflet's own source text (licence header) there is no URL at all.
    rest = html.replace(script, "")
    assert URL.findall(rest) == []
    assert "<script src" not in html and "<link" not in html


def test_class_level_lists_untouched():
    before_js = list(folium.Map.default_js)
    before_css = list(folium.Map.default_css)
    m = new_map()
    assert m.default_js == [] and m.default_css == []
    assert folium.Map.default_js == before_js and folium.Map.default_css == before_css
    # A plain folium map made afterwards still has its CDN list (we did not mutate it).
    assert any("leaflet" in name for name, _ in folium.Map().default_js)


def test_css_images_are_data_uris():
    _script, style = leaflet_assets()
    assert "images/" not in style
    assert "data:image/png;base64," in style
    assert "/*" not in style


def test_deterministic_output():
    assert render_html(_sample()) == render_html(_sample())


def test_check_offline_rejects_remote_script():
    with pytest.raises(PuchaError, match="offline"):
        check_offline('<script src="https://cdn.example.org/x.js"></script>')
    with pytest.raises(PuchaError):
        check_offline('<link rel="stylesheet" href="//cdn.example.org/x.css">')
    check_offline("<p>https://example.org as text is not a fetch</p>")


def test_plugin_with_cdn_is_rejected():
    from folium.plugins import Fullscreen

    m = new_map()
    Fullscreen().add_to(m)
    with pytest.raises(PuchaError, match="remote resource"):
        render_html(m)


def test_save_html_atomic(tmp_path):
    out = save_html(_sample(), tmp_path / "a" / "m.html")
    assert out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert [p.name for p in out.parent.iterdir()] == ["m.html"]

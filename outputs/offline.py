"""Folium maps that work from ``file://`` with the network off.

A stock :class:`folium.Map` links Leaflet, jQuery, Bootstrap and Font Awesome
from CDNs. An enumerator's phone in a courtyard has no signal, so every map
pucha writes carries Leaflet's JavaScript and CSS *inside* the HTML file, read
from the installed ``xstatic-leaflet`` package; the CSS images (layer-control
icon, default marker) are inlined as ``data:`` URIs.

The CDN lists are emptied on the *instance* (``m.default_js = []``): folium keeps
them as class attributes shared by every map in the process, and mutating those
would change every other map (the mistake STYLE.md warns about).

Only core Leaflet features work in these maps: GeoJson, Tooltip, Popup,
CircleMarker, Marker with DivIcon, PolyLine, Polygon, FeatureGroup,
LayerControl, the scale control. Plugins that bring their own assets
(``folium.plugins``) would link a CDN again and are rejected by
:func:`check_offline` unless their assets are inlined too.

>>> m = new_map(location=[31.24, 121.5], zoom_start=15)
>>> html = render_html(m)
>>> "cdn.jsdelivr" in html, "L.map(" in html
(False, True)
"""

from __future__ import annotations

import base64
import functools
import json
import logging
import os
import re
from pathlib import Path
from typing import Any

import folium
from branca.element import Element, Figure
from jinja2 import Template

from pucha.errors import PuchaError
from pucha.gis.write import write_text

__all__ = [
    "new_map", "save_html", "render_html", "leaflet_assets", "RawHtml",
    "check_offline", "LEAFLET_VERSION",
]

logger = logging.getLogger(__name__)

try:  # pragma: no cover - import guarded for a clear message
    from xstatic.pkg import leaflet as _xs_leaflet
except ImportError:  # pragma: no cover
    _xs_leaflet = None

LEAFLET_VERSION = getattr(_xs_leaflet, "VERSION", "")

# Elements whose src/href would make the browser fetch something.
_REMOTE_REF = re.compile(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", re.I)


class RawHtml(Element):
    """An element that renders its text verbatim (no Jinja processing).

    ``branca.element.Element(template=...)`` compiles its text as a Jinja
    template, which would mangle inlined JavaScript containing ``{{`` or ``{%``.
    """

    _template = Template("{{ this.raw }}")

    def __init__(self, raw: str, *, name: str = "RawHtml") -> None:
        super().__init__()
        self._name = name
        self.raw = raw

    def __getstate__(self) -> dict:  # pragma: no cover - pickling support
        return dict(self.__dict__)


def _leaflet_dir() -> Path:
    if _xs_leaflet is None:
        raise PuchaError("the Python package xstatic-leaflet is not installed; install it "
                         "with `pip install xstatic-leaflet` (it carries Leaflet for offline maps)")
    return Path(_xs_leaflet.BASE_DIR)


def _data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


@functools.lru_cache(maxsize=1)
def leaflet_assets() -> tuple[str, str]:
    """Return ``(script_html, style_html)``: Leaflet inlined as ``<script>``/``<style>``.

    CSS comments are dropped (one holds a bug-tracker URL) and ``url(images/...)``
    references become ``data:`` URIs, so the browser fetches nothing.
    """
    base = _leaflet_dir()
    js = (base / "leaflet.js").read_text(encoding="utf-8")
    css = (base / "leaflet.css").read_text(encoding="utf-8")
    css = re.sub(r"/\*.*?\*/", "", css, flags=re.S)
    images = base / "images"

    def repl(match: re.Match[str]) -> str:
        name = match.group(1)
        return f'url("{_data_uri(images / name)}")'

    css = re.sub(r"url\(\s*[\"']?images/([A-Za-z0-9_.-]+\.png)[\"']?\s*\)", repl, css)
    # A source map comment would make DevTools fetch leaflet.js.map: drop it.
    js = re.sub(r"//# sourceMappingURL=\S+\s*$", "", js.rstrip())
    if "</script" in js.lower():  # pragma: no cover - would break the page
        raise PuchaError("the installed leaflet.js contains '</script' and cannot be inlined")
    icons = {
        "icon": _data_uri(images / "marker-icon.png"),
        "iconRetina": _data_uri(images / "marker-icon-2x.png"),
        "shadow": _data_uri(images / "marker-shadow.png"),
    }
    # Leaflet looks for the default marker's folder in the CSS and joins file
    # names to it; point it at the inlined images instead.
    # The attribution prefix links leafletjs.com by default: keep it as plain text.
    fix = ("(function(){var u=" + json.dumps(icons, sort_keys=True) + ";"
           "L.Icon.Default.prototype._getIconUrl=function(n){return u[n]||u.icon;};"
           "L.Control.Attribution.prototype.options.prefix='Leaflet';})();")
    script = f"<script>\n{js}\n</script>\n<script>{fix}{_JQUERY_SHIM}</script>"
    style = f"<style>\n{css}\n</style>"
    return script, style


# folium's Popup template parses its content with jQuery (``$(`<div>..</div>`)[0]``)
# and the Map template may call ``$(document).ready(fn)``. These two uses are all
# folium's core needs, so a few lines stand in for the 90 kB library.
_JQUERY_SHIM = (
    "if(!window.jQuery&&!window.$){window.$=function(s){"
    "if(typeof s==='string'){var t=document.createElement('template');t.innerHTML=s.trim();"
    "return Array.prototype.slice.call(t.content.childNodes);}"
    "var o=[s];o.ready=function(f){if(document.readyState!=='loading'){f();}"
    "else{document.addEventListener('DOMContentLoaded',f);}return o;};return o;};}"
)


def new_map(**folium_kwargs: Any) -> folium.Map:
    """A :class:`folium.Map` that renders with Leaflet inlined and no CDN link.

    Parameters
    ----------
    **folium_kwargs
        Passed to :class:`folium.Map`. ``tiles`` defaults to ``None`` (no web
        tiles: pucha draws its own vector basemap); pass a
        :class:`folium.TileLayer` or URL template to use a tile source.

    Returns
    -------
    folium.Map
        The map; its per-instance ``default_js``/``default_css`` are empty lists
        and its figure header carries the inlined Leaflet ``<script>``/``<style>``.
    """
    folium_kwargs.setdefault("tiles", None)
    m = folium.Map(**folium_kwargs)
    # Per instance: never touch folium.Map.default_js (a class attribute).
    m.default_js = []
    m.default_css = []
    script, style = leaflet_assets()
    header = m.get_root().header
    header.add_child(RawHtml(style, name="LeafletCss"), name="pucha_leaflet_css", index=0)
    header.add_child(RawHtml(script, name="LeafletJs"), name="pucha_leaflet_js", index=1)
    return m


def _renumber(root: Element) -> None:
    """Give every element a sequential id so identical maps render identically.

    branca draws element ids from ``os.urandom``; two runs would differ in every
    variable name. Walk the tree in insertion order and number the nodes.
    """
    counter = 0
    stack = [root]
    seen: set[int] = set()
    visited: list[Element] = []
    old_names: dict[int, str] = {}
    while stack:
        el = stack.pop()
        if id(el) in seen:
            continue
        seen.add(id(el))
        visited.append(el)
        old_names[id(el)] = el.get_name()
        counter += 1
        el._id = f"{counter:08d}"
        children = list(getattr(el, "_children", {}).values())
        # Popup keeps its content in header/html/script elements outside _children.
        children += [getattr(el, a) for a in ("header", "html", "script")
                     if isinstance(getattr(el, a, None), Element)]
        stack.extend(reversed(children))
    # Children are keyed by the name they had when added (used as JS variable
    # names by some templates): re-key those that carried the random name.
    for el in visited:
        kids = getattr(el, "_children", None)
        if not kids:
            continue
        el._children = type(kids)(
            (child.get_name() if key == old_names.get(id(child)) else key, child)
            for key, child in kids.items())


def render_html(m: folium.Map) -> str:
    """Render a map made by :func:`new_map` to one self-contained HTML string."""
    root = m.get_root()
    _renumber(root)
    html = root.render()
    check_offline(html)
    return html


def check_offline(html: str) -> None:
    """Raise PuchaError if ``html`` links an external script, style or image.

    Catches ``<script src="https://...">``, ``<link href="//...">`` and the like;
    tile URL templates inside JavaScript strings are not attributes and pass.
    """
    script, _style = leaflet_assets()
    html = html.replace(script, "")  # Leaflet's own source holds a link string
    bad = _REMOTE_REF.search(html)
    if bad:
        start = max(0, bad.start() - 60)
        raise PuchaError("a map would load a remote resource "
                         f"({html[start:bad.end() + 60]!r}); pucha maps must work offline. "
                         "Use only core folium features or inline the plugin's assets.")


def save_html(m: folium.Map, path: str | os.PathLike) -> Path:
    """Render ``m`` and write it atomically to ``path`` (UTF-8); return the path."""
    html = render_html(m)
    out = write_text(path, html)
    logger.debug("wrote %s (%d bytes)", out, len(html.encode("utf-8")))
    return out

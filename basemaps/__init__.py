"""pucha.basemaps: the layers under every map, offline first.

:mod:`~pucha.basemaps.layers` (the project's own roads, water, buildings,
areas and boundaries as vector layers), :mod:`~pucha.basemaps.tiles` (optional
local / 天地图 / AMap tiles, GCJ-02 shift at render time),
:mod:`~pucha.basemaps.attribution` (ODbL credit).
"""

from __future__ import annotations

from pucha.basemaps.attribution import attribution_text
from pucha.basemaps.tiles import TileSource, parse_tile_spec

__all__ = ["attribution_text", "TileSource", "parse_tile_spec"]

"""``pucha init`` on raw OpenStreetMap (Tilezen) data, and filters that keep nothing.

Found by trying the Wuhan extract as a new user: ``is_tunnel`` there is text ('True' or
empty), so the demo's ``is_tunnel = 0`` kept 0 of 1,778 roads and the plan ignored every
road without a word.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pyogrio
import pytest

from pucha.config import LayerSource
from pucha.gis.read import read_source
from pucha.gis.survey import survey


@pytest.mark.parametrize("name", ["shanghai-lujiazui.gpkg", "wuhan-guanggu.gpkg"])
def test_init_road_filter_keeps_the_roads_of_raw_osm(shared_data: Path, name: str) -> None:
    path = shared_data / "osm" / name
    layers, _tables = survey([path])
    (roads,) = [ls for ls in layers if ls.layer == "roads"]
    assert roads.where, "tunnels are no boundary on the ground: init filters them"
    total = int(pyogrio.read_info(path, layer="roads")["features"])
    kept = len(pyogrio.read_dataframe(path, layer="roads", where=roads.where,
                                      read_geometry=False))
    assert 0.5 * total < kept < total + 1


def test_a_where_that_keeps_nothing_of_a_context_layer_is_said(lujiazui_gpkg: Path) -> None:
    """Not an error (the demo's railways are all underground and all filtered out), but
    never silent. (The record is caught on pucha's own logger: the command line, run by
    earlier tests, may have stopped it from propagating to the root.)"""
    records: list[logging.LogRecord] = []
    catch = logging.Handler(logging.WARNING)
    catch.emit = records.append  # type: ignore[method-assign]
    logger = logging.getLogger("pucha.gis.read")
    level = logger.level
    logger.addHandler(catch)
    logger.setLevel(logging.WARNING)  # whatever -q an earlier command set
    try:
        src = LayerSource(path=str(lujiazui_gpkg), layer="roads", where="is_tunnel = 0")
        gdf = read_source(src, base_dir=lujiazui_gpkg.parent, kind="roads")
    finally:
        logger.removeHandler(catch)
        logger.setLevel(level)
    assert len(gdf) == 0
    assert any("leaves 0 of" in r.getMessage() for r in records)

"""pucha.outputs: what the enumerators carry — maps, atlases, registers.

Modules (one concept each): :mod:`~pucha.outputs.offline` (folium maps with
Leaflet inlined), :mod:`~pucha.outputs.project` (read a partitioned project),
:mod:`~pucha.outputs.route` (walking order), :mod:`~pucha.outputs.webmap`
(area / 居村 / index HTML), :mod:`~pucha.outputs.printmap` (A4 PDF, atlases),
:mod:`~pucha.outputs.registers` (CSV/XLSX), :mod:`~pucha.outputs.naming` (safe
file names), :mod:`~pucha.outputs.pack` (all of it, in parallel),
:mod:`~pucha.outputs.fonts` (the SC font).

The names below are re-exported lazily, so importing one light module (e.g.
``pucha.outputs.offline``) does not import matplotlib.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["make_pack", "PackResult", "new_map", "save_html", "load_project", "MapProject",
           "walking_route", "number_area"]

_WHERE = {"make_pack": "pack", "PackResult": "pack", "new_map": "offline",
          "save_html": "offline", "load_project": "project", "MapProject": "project",
          "walking_route": "route", "number_area": "route"}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(f"pucha.outputs.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'pucha.outputs' has no attribute {name!r}")

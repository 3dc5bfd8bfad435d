"""Township families for :mod:`benchmarks.bench_families`, each from its own generator.

Every generator returns the layers of a project in the shape of :mod:`pucha.gis.schema`
(township, villages, buildings, roads, railways, water, walls; EPSG:4549), seeded, so a
benchmark runs pucha and its peers on identical inputs. They differ in shape from
:mod:`pucha.gis.synthetic` (a jittered grid of 居/村 over a jittered street grid):

- :mod:`.highrise` 高层: Voronoi 居委会 over a rotated, unevenly spaced grid of major
  roads; gated compounds of 18-33-floor towers of 60-250 people, floors and dwellings
  (units) known; a winding river.
- :mod:`.village` 乡村: Voronoi 村 of 150-2,000 people, 3-8-person houses in hamlets,
  two county roads and a few lanes, a net of canals.
- :mod:`.oldtown` 老城: a dense old town of 2-3-floor 里弄 rows in lanes, floors known but
  no dwelling data, a skewed grid of streets, a creek.
- :mod:`.osm` real OpenStreetMap extracts (../shared/data/osm): 居/村 and people derived as
  the demo builder does (:mod:`pucha.data.build_demo`).

``FAMILIES`` maps a family name to ``make(seed, *, small)``; ``small`` builds a reduced
township for quick runs.
"""

from __future__ import annotations

from . import highrise, oldtown, osm, village

__all__ = ["FAMILIES"]

FAMILIES = {
    "highrise": highrise.make,
    "village": village.make,
    "oldtown": oldtown.make,
    "osm-lujiazui": osm.make_lujiazui,
    "osm-guanggu": osm.make_guanggu,
}

"""The project GeoPackage: layer names and columns (the contract between parts).

Every stage reads and writes ONE GeoPackage in a metric working CRS (default
EPSG:4549). Ids are strings everywhere; codes are strings of digits (never
numbers: leading zeros matter). Columns not listed here are not written.

Layers written by ``pucha import`` (gis/):

``township``   code (9 digits), name
``villages``   village_code (12 digits), name, kind ("居委会" | "村委会" | ""), locked (bool)
``buildings``  building_id, village_code, name, address, use (source text), residential (bool),
               floors (float, NaN = unknown), height (float m, NaN), dwellings (float, NaN),
               population (int, >= 0, always filled after estimation), pop_method
               ("given" | "dwellings" | "totals"), pop_guessed (bool), locked (bool),
               area_code (str, "" until partitioned; the editable assignment),
               source (file name), geometry (Polygon/MultiPolygon)
``roads``      road_id, name, road_class ("major" | "minor" | "path"), geometry (lines)
``railways``   feature_id, name, geometry (lines)
``water``      feature_id, name, water_kind ("river" | "canal" | "lake" | ...), geometry
               (polygons or lines: rivers drawn as centre lines stay lines)
``walls``      feature_id, name, geometry (lines)
``neighbours`` code, name, geometry (polygons of the neighbouring 街镇, optional)
``problems``   severity ("error" | "warning" | "info"), code (slug), layer, feature_ids
               (comma-joined ids), message, stage ("import" | "partition" | "check" |
               "boundaries" | "maps"), geometry (may be empty)

Layers written by ``pucha partition`` (partition/):

``areas``           area_code (15 digits), village_code, seq (int), population, deviation
                    ((population - target) / target, e.g. -0.05), dwellings, n_buildings,
                    locked (bool), sizhi (四至 text), east, south, west, north, polsby_popper,
                    river_crossings, major_road_crossings, contiguous (bool: its cells are
                    connected), status ("ok" | "below_band" | "above_band" | ...),
                    balance_note (why the buildings force the area outside ±10% of the
                    target, "" if they do not), geometry (Polygon)
``building_areas``  building_id, area_code, part (0 = whole building, 1.. = vertical cut),
                    floor_from, floor_to, unit_from, unit_to (float, NaN when whole),
                    population, dwellings
``quality``         attribute table: one row per 居/村 plus a township row

Attribute tables (no geometry): ``pucha_meta`` (key, value: JSON text) holding the
resolved settings, input hashes, library versions and timestamps of each stage.

Invariants (checked by tests):
- every source building is either one row of ``buildings`` or named in a ``problems`` row
  whose code starts with ``building_dropped``;
- sum(buildings.population) == sum(building_areas.population) after partition;
- areas of one 居/村 tile it: union == village polygon, pairwise overlap 0.
"""

from __future__ import annotations

__all__ = [
    "WORKING_CRS_DEFAULT",
    "LAYER_TOWNSHIP", "LAYER_VILLAGES", "LAYER_BUILDINGS", "LAYER_ROADS", "LAYER_RAILWAYS",
    "LAYER_WATER", "LAYER_WALLS", "LAYER_NEIGHBOURS", "LAYER_PROBLEMS", "LAYER_AREAS",
    "LAYER_BUILDING_AREAS", "LAYER_QUALITY", "LAYER_META",
    "BUILDING_COLUMNS", "VILLAGE_COLUMNS", "TOWNSHIP_COLUMNS", "ROAD_COLUMNS",
    "WATER_COLUMNS", "LINE_COLUMNS", "NEIGHBOUR_COLUMNS", "PROBLEM_COLUMNS",
    "AREA_COLUMNS", "BUILDING_AREA_COLUMNS", "ROAD_CLASSES", "SEVERITIES",
]

WORKING_CRS_DEFAULT = "EPSG:4549"

LAYER_TOWNSHIP = "township"
LAYER_VILLAGES = "villages"
LAYER_BUILDINGS = "buildings"
LAYER_ROADS = "roads"
LAYER_RAILWAYS = "railways"
LAYER_WATER = "water"
LAYER_WALLS = "walls"
LAYER_NEIGHBOURS = "neighbours"
LAYER_PROBLEMS = "problems"
LAYER_AREAS = "areas"
LAYER_BUILDING_AREAS = "building_areas"
LAYER_QUALITY = "quality"
LAYER_META = "pucha_meta"

TOWNSHIP_COLUMNS = ("code", "name")
VILLAGE_COLUMNS = ("village_code", "name", "kind", "locked")
BUILDING_COLUMNS = (
    "building_id", "village_code", "name", "address", "use", "residential", "floors",
    "height", "dwellings", "population", "pop_method", "pop_guessed", "locked",
    "area_code", "source",
)
ROAD_COLUMNS = ("road_id", "name", "road_class")
ROAD_CLASSES = ("major", "minor", "path")
WATER_COLUMNS = ("feature_id", "name", "water_kind")
LINE_COLUMNS = ("feature_id", "name")
NEIGHBOUR_COLUMNS = ("code", "name")
SEVERITIES = ("error", "warning", "info")
PROBLEM_COLUMNS = ("severity", "code", "layer", "feature_ids", "message", "stage")
AREA_COLUMNS = (
    "area_code", "village_code", "seq", "population", "deviation", "dwellings", "n_buildings",
    "locked",
    "sizhi", "east", "south", "west", "north", "polsby_popper", "river_crossings",
    "major_road_crossings", "contiguous", "status", "balance_note",
)
BUILDING_AREA_COLUMNS = (
    "building_id", "area_code", "part", "floor_from", "floor_to", "unit_from", "unit_to",
    "population", "dwellings",
)

# --- pucha_meta keys (the ONE place they are named; read through pucha.gis.settings) ---
#: the project TOML as :meth:`pucha.config.Config.to_dict` resolved it at ``pucha import``
META_SETTINGS = "import_settings"
#: the settings a step actually ran with (stored settings + that run's flags)
META_RUN_SETTINGS = {"partition": "partition_settings", "boundaries": "boundaries",
                     "maps": "maps_settings", "check": "check_settings"}

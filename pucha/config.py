"""The project TOML file: one table per step, unknown keys rejected.

Layout (every section optional except ``[project]`` and ``[layers.buildings]``)::

    [project]
    name = "盈浦街道"
    township_code = "310118002"     # 9 digits
    crs = "EPSG:4549"               # working CRS; default: EPSG:4549 inside its area of use, else UTM
    gpkg = "out/project.gpkg"       # the project GeoPackage (relative to this file)
    data_date = "2026-11"           # printed on maps

    [layers.buildings]              # also: villages, township, roads, water, railways, walls, neighbours
    path = "buildings.shp"
    layer = "buildings"             # for multi-layer sources
    crs = "EPSG:4326"               # only when the file has none
    encoding = "gbk"                # shapefile / CSV text encoding when no .cpg says it
    gcj02 = false                   # true: coordinates are GCJ-02 (AMap/Gaode); converted on import
    x = "lon"                       # CSV point columns, or wkt = "WKT"
    fields = { id = "编号", population = "人口" }   # model field -> source column

    [population]    method = "given" | "dwellings" | "totals", persons_per_household, totals, ...
    [privacy]       keep_columns = []
    [partition]     target, min, max, households_target, seed, time_limit_s, jobs
    [maps]          tile_source, tile_url, tianditu_key, data_date, attribution
    [boundaries]    tolerances in metres / m²
    [staff]         areas_per_supervisor, workload model (see StaffSettings, docs/staff.md)

Each section is a frozen dataclass; :func:`load_config` resolves paths relative to
the TOML file and raises :class:`~pucha.errors.ConfigError` naming the section,
the unknown key and the list of valid keys.
"""

from __future__ import annotations

import dataclasses
import logging
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pucha.errors import ConfigError

log = logging.getLogger(__name__)

__all__ = [
    "ProjectSettings", "LayerSource", "PopulationSettings", "PrivacySettings",
    "PartitionSettings", "MapSettings", "BoundarySettings", "StaffSettings", "Config", "LAYER_KINDS",
    "load_config", "config_from_dict",
]

LAYER_KINDS = ("buildings", "villages", "township", "roads", "water", "railways", "walls",
               "neighbours")


@dataclass(frozen=True)
class ProjectSettings:
    name: str = ""
    township_code: str = ""
    crs: str = ""
    gpkg: str = "project.gpkg"
    data_date: str = ""


@dataclass(frozen=True)
class LayerSource:
    path: str
    layer: str = ""
    crs: str = ""
    encoding: str = ""
    gcj02: bool = False
    x: str = ""
    y: str = ""
    wkt: str = ""
    where: str = ""
    fields: dict[str, str] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PopulationSettings:
    method: str = "given"
    persons_per_household: float = 2.20
    totals: str = ""
    totals_level: str = "village"
    floor_height_m: float = 3.0
    default_floors: float = 1.0

    def __post_init__(self) -> None:
        for key in ("persons_per_household", "floor_height_m", "default_floors"):
            _positive("population", key, getattr(self, key))
        if self.method not in ("given", "dwellings", "totals"):
            raise ConfigError(f"[population].method = {self.method!r}; valid methods are: "
                              f"given, dwellings, totals")


@dataclass(frozen=True)
class PrivacySettings:
    keep_columns: tuple[str, ...] = ()


@dataclass(frozen=True)
class PartitionSettings:
    target: int = 300
    min: int = 240
    max: int = 360
    households_target: int | None = None
    seed: int = 0
    time_limit_s: float = 20.0
    jobs: int = 1

    def __post_init__(self) -> None:
        # the same checks for [partition] in the TOML and for the command-line flags
        _positive("partition", "target", self.target, flag="--target")
        _positive("partition", "min", self.min, flag="--min")
        _positive("partition", "max", self.max, flag="--max")
        _positive("partition", "time_limit_s", self.time_limit_s, flag="--time-limit")
        _positive("partition", "jobs", self.jobs, flag="--jobs")
        if self.households_target is not None:
            _positive("partition", "households_target", self.households_target,
                      flag="--households-target")
        if not self.min <= self.max:
            raise ConfigError(f"[partition] / --min --max: need min <= max, got {self.min}, "
                              f"{self.max} (census rule: 240, 360)")

    def check_target(self) -> None:
        """The target inside the band (a check's --min/--max alone need not hold it)."""
        if not self.min <= self.target <= self.max:
            raise ConfigError(f"[partition] / --min --target --max: need min <= target <= max, "
                              f"got {self.min}, {self.target}, {self.max} (census rule: 240, "
                              f"300, 360)")


def _positive(section: str, key: str, value: object, *, flag: str = "") -> None:
    """A number > 0 (not a bool, not text), or a ConfigError naming the key and the flag."""
    name = f"[{section}].{key}" + (f" / {flag}" if flag else "")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{name} must be a number, got {value!r}")
    if not value > 0 or value != value:
        raise ConfigError(f"{name} must be greater than 0, got {value!r}")


@dataclass(frozen=True)
class MapSettings:
    tile_source: str = "none"
    tile_url: str = ""
    tianditu_key: str = ""
    data_date: str = ""
    attribution: str = "© OpenStreetMap contributors (ODbL 1.0)"


@dataclass(frozen=True)
class BoundarySettings:
    """Tolerances of ``pucha boundaries`` (see pucha.gis.boundaries).

    sliver_width_m: overlaps/gaps narrower than this (max inscribed circle diameter) are
    slivers (warning), wider ones are errors. min_area_m2: smaller pieces are ignored.
    near_line_m / on_line_m: a boundary stretch between on_line_m and near_line_m from a
    named road/river centre line, over at least near_line_min_len_m, is "near but not
    along" it. building_cut_share: a building is "cut" when its smaller share is at least
    this. gap_search_m: width of the band along the shared border searched for gaps.
    shift_search_m / shift_min_m: radius for matching outlines when estimating a
    systematic shift, and the smallest shift reported.
    """

    sliver_width_m: float = 5.0
    min_area_m2: float = 1.0
    near_line_m: float = 10.0
    on_line_m: float = 1.0
    near_line_min_len_m: float = 30.0
    building_cut_share: float = 0.05
    gap_search_m: float = 50.0
    shift_search_m: float = 200.0
    shift_min_m: float = 2.0


@dataclass(frozen=True)
class StaffSettings:
    """The census office's staff plan (``pucha staff``, pucha.partition.staff; docs/staff.md).

    Supervisors' districts (指导区): about ``areas_per_supervisor`` areas each, between
    ``min_group_areas`` and ``max_group_areas`` wherever the 居/村 has that many. Workload
    of an area in minutes = dwellings x minutes_per_dwelling + buildings x
    minutes_per_building + floors climbed x minutes_per_floor + walking route (metres,
    straight-line tour over the buildings x route_detour) / walking speed. Dwellings not
    given are estimated as people / persons_per_dwelling. An area above
    workload_warning_factor x its 居/村's median workload is a warning.
    """

    areas_per_supervisor: int = 5
    min_group_areas: int = 3
    max_group_areas: int = 7
    minutes_per_dwelling: float = 10.0
    minutes_per_building: float = 3.0
    minutes_per_floor: float = 0.5
    walking_speed_kmh: float = 4.0
    route_detour: float = 1.3
    persons_per_dwelling: float = 2.2
    workload_warning_factor: float = 1.5

    def __post_init__(self) -> None:
        if not 1 <= self.min_group_areas <= self.max_group_areas:
            raise ConfigError(f"[staff]: need 1 <= min_group_areas <= max_group_areas, got "
                              f"{self.min_group_areas}, {self.max_group_areas}")
        if self.areas_per_supervisor < 1 or self.walking_speed_kmh <= 0 \
                or self.persons_per_dwelling <= 0:
            raise ConfigError("[staff]: areas_per_supervisor >= 1, walking_speed_kmh > 0 and "
                              "persons_per_dwelling > 0 are required")


@dataclass(frozen=True)
class Config:
    project: ProjectSettings
    layers: dict[str, LayerSource]
    population: PopulationSettings = PopulationSettings()
    privacy: PrivacySettings = PrivacySettings()
    partition: PartitionSettings = PartitionSettings()
    maps: MapSettings = MapSettings()
    boundaries: BoundarySettings = BoundarySettings()
    staff: StaffSettings = StaffSettings()
    base_dir: Path = Path(".")
    path: Path | None = None

    def resolve(self, path: str) -> Path:
        """A path from the file, relative to the TOML file's folder."""
        p = Path(path).expanduser()
        return p if p.is_absolute() else (self.base_dir / p)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["base_dir"] = str(self.base_dir)
        d.pop("path", None)     # where the TOML was read from: not a setting
        return d


_EXAMPLES = {"fields": 'fields = { id = "编号", population = "人口" }',
             "values": 'values = { use = "住宅" } or values = { use = { "1" = "住宅" } }',
             "keep_columns": 'keep_columns = ["联系单位"]'}


def _check_type(where: str, key: str, typ: str, value: Any, default: Any) -> None:
    """The value of one TOML key has the type its setting needs, else a ConfigError that
    names the key, what it got and an example."""
    if value is None and "None" in typ:
        return      # an optional setting left unset (stored settings hold it as null)
    got = f"{type(value).__name__} {value!r}"
    ex = _EXAMPLES.get(key)
    if typ.startswith("dict") and not isinstance(value, dict):
        raise ConfigError(f"[{where}].{key} must be a table, got {got}; write e.g. {ex}")
    if typ.startswith("tuple") and not isinstance(value, tuple):
        raise ConfigError(f"[{where}].{key} must be a list, got {got}; write e.g. {ex}")
    if typ == "str" and not isinstance(value, str):
        raise ConfigError(f"[{where}].{key} must be text in quotes, got {got}")
    if typ == "bool" and not isinstance(value, bool):
        raise ConfigError(f"[{where}].{key} must be true or false, got {got}")
    if typ in ("int", "float", "int | None") and (
            isinstance(value, bool) or not isinstance(value, (int, float))
            or (typ.startswith("int") and isinstance(value, float) and not value.is_integer())):
        kind = "a whole number" if typ.startswith("int") else "a number"
        raise ConfigError(f"[{where}].{key} must be {kind} without quotes, got {got} "
                          f"(e.g. {key} = {default if default is not None else 1})")


def _build(cls: type, data: Any, where: str) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(f"[{where}] must be a table, got {type(data).__name__}")
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(data) - set(names))
    if unknown:
        raise ConfigError(f"[{where}]: unknown key(s) {', '.join(map(repr, unknown))}; "
                          f"valid keys are: {', '.join(names)}")
    kwargs = {}
    for f in dataclasses.fields(cls):
        if f.name not in data:
            continue
        value = data[f.name]
        if f.type in ("tuple[str, ...]",) and isinstance(value, list):
            value = tuple(str(v) for v in value)
        _check_type(where, f.name, str(f.type), value, f.default)
        kwargs[f.name] = value
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise ConfigError(f"[{where}]: {exc}") from None


_GCJ_NAMES = frozenset(("gcj-02", "gcj02", "gcj_02", "gcj 02", "火星坐标", "火星坐标系", "gcj-02/wgs84",
                        "amap", "gaode", "高德"))


def _gcj02_crs(data: Any, kind: str) -> Any:
    """``crs = "GCJ-02"`` (no CRS pyproj knows) is read as ``gcj02 = true`` with
    ``crs = "EPSG:4326"``, with a warning naming the right key."""
    if not isinstance(data, dict):
        return data
    crs = str(data.get("crs", "")).strip().lower()
    if crs not in _GCJ_NAMES:
        return data
    log.warning("[layers.%s] crs = %r: GCJ-02 is an offset of WGS 84 degrees, not a CRS; "
                "read as gcj02 = true with crs = \"EPSG:4326\". Write it that way in the "
                "project file", kind, data["crs"])
    return {**data, "crs": "EPSG:4326", "gcj02": True}


def _partition_settings(data: Any) -> PartitionSettings:
    st = _build(PartitionSettings, data, "partition")
    st.check_target()
    return st


def config_from_dict(data: dict[str, Any], *, base_dir: Path | str = ".") -> Config:
    """Build a :class:`Config` from parsed TOML; raise ConfigError on unknown keys."""
    sections = {"project", "layers", "population", "privacy", "partition", "maps", "boundaries",
                "staff"}
    unknown = sorted(set(data) - sections)
    if unknown:
        raise ConfigError(f"unknown section(s) {', '.join(map(repr, unknown))}; "
                          f"valid sections are: {', '.join(sorted(sections))}")
    layers_raw = data.get("layers", {})
    bad = sorted(set(layers_raw) - set(LAYER_KINDS))
    if bad:
        raise ConfigError(f"[layers]: unknown layer(s) {', '.join(map(repr, bad))}; "
                          f"valid layers are: {', '.join(LAYER_KINDS)}")
    layers = {k: _build(LayerSource, _gcj02_crs(v, k), f"layers.{k}")
              for k, v in sorted(layers_raw.items())}
    if "path" in layers_raw.get("buildings", {"path": 1}) and "buildings" not in layers:
        raise ConfigError("[layers.buildings] is required: say where the building footprints are")
    return Config(
        project=_build(ProjectSettings, data.get("project", {}), "project"),
        layers=layers,
        population=_build(PopulationSettings, data.get("population", {}), "population"),
        privacy=_build(PrivacySettings, data.get("privacy", {}), "privacy"),
        partition=_partition_settings(data.get("partition", {})),
        maps=_build(MapSettings, data.get("maps", {}), "maps"),
        boundaries=_build(BoundarySettings, data.get("boundaries", {}), "boundaries"),
        staff=_build(StaffSettings, data.get("staff", {}), "staff"),
        base_dir=Path(base_dir),
    )


def load_config(path: str | Path) -> Config:
    """Read and check a project TOML file."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8-sig"))
    except FileNotFoundError:
        raise ConfigError(f"project file not found: {path}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not a valid UTF-8 TOML file: {exc}") from None
    config = config_from_dict(data, base_dir=path.resolve().parent)
    return dataclasses.replace(config, path=path.resolve())


# --------------------------------------------------------------------------- the reference
#: one line per key: what it means (docs/project-file.md is generated from these and the
#: dataclasses above by ``python -m pucha.config --doc``; a test fails when it drifts)
KEY_DOCS: dict[str, str] = {
    "project.name": "街镇 name printed on maps; the township layer's own name wins when it has one",
    "project.township_code": "9-digit 街镇 code (统计用区划代码); the township layer's code wins",
    "project.crs": "metric working CRS, e.g. `\"EPSG:4549\"`; default: EPSG:4549 inside its "
                   "area of use, else the UTM zone. Not GCJ-02 (see `gcj02` below)",
    "project.gpkg": "the project GeoPackage pucha import writes, relative to this file; it may "
                    "not be one of the input files (refused)",
    "project.data_date": "date of the data, printed on the maps",
    "layers.path": "the source file (any GDAL format: GeoPackage, Shapefile, GeoJSON, FileGDB, "
                   "or a CSV with WKT or x/y columns), relative to this file",
    "layers.layer": "the layer of a multi-layer file (GeoPackage, FileGDB)",
    "layers.crs": "the CRS when the file has none (or a wrong one: it overrides the file's), "
                  "e.g. `\"EPSG:4326\"`; `\"GCJ-02\"` is read as `gcj02 = true` with EPSG:4326",
    "layers.encoding": "text encoding when no .cpg says it (`\"gbk\"`, `\"big5\"`, "
                       "`\"utf-8\"`); default: detected from the text, and the choice logged",
    "layers.gcj02": "`true`: the coordinates are GCJ-02 (AMap/Gaode, Tencent: 火星坐标, "
                    "300-700 m off WGS 84) and are converted on import; the layer must be in "
                    "longitude/latitude. Undeclared GCJ-02 buildings are detected against the 居/村 "
                    "(an error, or a `looks_gcj02` warning)",
    "layers.x": "CSV: the longitude/easting column (points, drawn as 4 m squares)",
    "layers.y": "CSV: the latitude/northing column",
    "layers.wkt": "CSV: the column holding WKT geometries",
    "layers.where": "an attribute filter (OGR SQL, e.g. `\"is_tunnel = 0\"`); one that leaves "
                    "no building, 居/村 or 街镇 is an error",
    "layers.fields": "model field -> source column, e.g. `{ id = \"编号\", population = \"人口\" }`; "
                     "unmapped fields use the built-in Chinese/English aliases. A column whose "
                     "name looks personal (姓名, 电话, xm, lxdh ...) is dropped even when mapped",
    "layers.values": "model field -> constant, or -> `{ source value = model value }`, e.g. "
                     "`{ use = \"住宅\" }`",
    "population.method": "`\"given\"` (people per building), `\"dwellings\"` (dwellings x "
                         "persons_per_household) or `\"totals\"` (per-居/村 totals shared by floor "
                         "area)",
    "population.persons_per_household": "people per dwelling for `dwellings` (default 2.20)",
    "population.totals": "the totals CSV (居委会代码,人口): UTF-8, GBK, Big5 or Excel's UTF-16 "
                         "tab-separated; a 居/村 missing from it is an error",
    "population.totals_level": "`\"village\"` (one row per 居/村) or `\"township\"` (one total)",
    "population.floor_height_m": "metres per floor, for floors from a height",
    "population.default_floors": "floors of a building with neither floors nor height",
    "privacy.keep_columns": "columns that look personal but are not (e.g. `\"联系单位\"`): kept",
    "partition.target": "people per area aimed at (census rule: 300); also `--target`",
    "partition.min": "lowest population of an area (240); also `--min`",
    "partition.max": "highest population of an area (360); also `--max`",
    "partition.households_target": "optional dwellings per area aimed at; also "
                                   "`--households-target`",
    "partition.seed": "random seed: the same seed gives the same plan; also `--seed`",
    "partition.time_limit_s": "work per 居/村, in seconds of a reference PC core; also "
                              "`--time-limit`",
    "partition.jobs": "居/村 solved in parallel; also `--jobs`",
    "maps.tile_source": "`\"none\"` (offline, default), or a tile source for the web maps",
    "maps.tile_url": "URL template of a custom tile source",
    "maps.tianditu_key": "key for 天地图 tiles",
    "maps.data_date": "date printed on the maps (default: [project].data_date)",
    "maps.attribution": "attribution printed on the maps",
    "staff.areas_per_supervisor": "areas per supervisors' district (指导区) aimed at",
    "staff.min_group_areas": "fewest areas of a district where the 居/村 has that many",
    "staff.max_group_areas": "most areas of a district",
    "staff.minutes_per_dwelling": "workload: minutes per dwelling",
    "staff.minutes_per_building": "workload: minutes per building",
    "staff.minutes_per_floor": "workload: minutes per floor climbed",
    "staff.walking_speed_kmh": "workload: walking speed along the route",
    "staff.route_detour": "workload: the straight-line tour over the buildings times this",
    "staff.persons_per_dwelling": "dwellings not given are estimated as people / this",
    "staff.workload_warning_factor": "an area above this x its 居/村's median workload is a "
                                     "warning",
    "boundaries.sliver_width_m": "overlaps/gaps narrower than this are slivers (warnings)",
    "boundaries.min_area_m2": "smaller overlap/gap pieces are ignored",
    "boundaries.near_line_m": "a boundary within this of a road/river centre line is 'near' it",
    "boundaries.on_line_m": "... and within this it is 'on' it",
    "boundaries.near_line_min_len_m": "shortest stretch reported as near a line",
    "boundaries.building_cut_share": "a building is cut by a boundary when its smaller share "
                                     "is at least this",
    "boundaries.gap_search_m": "width of the band along the shared border searched for gaps",
    "boundaries.shift_search_m": "radius for matching outlines when estimating a shift",
    "boundaries.shift_min_m": "smallest systematic shift reported",
}

#: the introduction of each section in the reference (sections come from Config's fields)
_INTROS = {
    "project": "The township and the project GeoPackage.",
    "layers": "One table per source layer: `[layers.buildings]` (required), "
              "`[layers.villages]`, `[layers.township]`, `[layers.roads]`, `[layers.water]`, "
              "`[layers.railways]`, `[layers.walls]`, `[layers.neighbours]`.",
    "population": "How buildings get their people.",
    "privacy": "Residents' personal data (besides, ID/phone numbers and 户主/姓名 fragments "
               "are masked in every kept text value at import).",
    "partition": "The census-area rules (the same checks for the TOML and the flags).",
    "maps": "The enumerators' maps.",
    "boundaries": "Tolerances of `pucha boundaries`.",
    "staff": "The census office's staff plan (`pucha staff`; docs/staff.md).",
}


def _sections() -> list[tuple[str, type]]:
    """(section name, settings dataclass) of every TOML section, in Config's order."""
    out = []
    for f in dataclasses.fields(Config):
        if f.name == "layers":
            out.append(("layers", LayerSource))
        elif f.default is not dataclasses.MISSING and dataclasses.is_dataclass(f.default):
            out.append((f.name, type(f.default)))
        elif f.name == "project":
            out.append(("project", ProjectSettings))
    return out


def undocumented_keys() -> list[str]:
    """Keys of the settings dataclasses with no line in KEY_DOCS."""
    return [f"{name}.{f.name}" for name, cls in _sections() for f in dataclasses.fields(cls)
            if f"{name}.{f.name}" not in KEY_DOCS]


def doc_markdown() -> str:
    """docs/project-file.md: every key of the project TOML, from the dataclasses."""
    out = ["# The project file (reference)", "",
           "<!-- generated by `python -m pucha.config --doc > docs/project-file.md`; "
           "tests/test_gis_project_file_doc.py fails when it drifts -->", "",
           "A project TOML has one table per step; unknown keys are rejected with the list "
           "of valid ones, and every value is checked (type and range) the same way as the "
           "command-line flags. Paths are relative to the TOML file. `pucha init FILE...` "
           "writes one from the files a planning office hands over.", "",
           "Declaring GCJ-02 input (AMap/Gaode, Tencent):", "", "```toml",
           "[layers.buildings]", 'path = "建筑.geojson"', "gcj02 = true        # converted to WGS 84 "
           "on import", "```", ""]
    for name, cls in _sections():
        intro = _INTROS.get(name, (cls.__doc__ or "").strip().split("\n")[0])
        out += [f"## [{name}]" if name != "layers" else "## [layers.<kind>]", "", intro, "",
                "| key | type | default | meaning |", "|---|---|---|---|"]
        for f in dataclasses.fields(cls):
            if f.default is not dataclasses.MISSING:
                default = repr(f.default).replace("'", '"')
            elif f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
                default = repr(f.default_factory()).replace("'", '"')  # type: ignore[misc]
            else:
                default = "(required)"
            text = KEY_DOCS.get(f"{name}.{f.name}", "").replace("|", "\\|")
            out.append(f"| `{f.name}` | {str(f.type).replace('|', 'or')} | `{default}` | "
                       f"{text} |")
        out.append("")
    from pucha.errors import __doc__ as errors_doc

    codes = (errors_doc or "").split("Exit status of every ``pucha`` command", 1)[-1]
    out += ["## Exit status", "", "```", *[ln for ln in codes.strip().splitlines()
                                           if not ln.startswith("=====")
                                           and not ln.startswith("(the one place")], "```",
            ""]
    return "\n".join(out)


if __name__ == "__main__":  # pragma: no cover - python -m pucha.config --doc
    import sys

    if sys.argv[1:] == ["--doc"]:
        sys.stdout.write(doc_markdown())
    else:
        sys.stderr.write("usage: python -m pucha.config --doc > docs/project-file.md\n")
        sys.exit(2)

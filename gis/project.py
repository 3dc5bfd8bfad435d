"""``pucha import``: the planning office's (规土所) GIS files -> ONE project GeoPackage.

:func:`import_project` reads every ``[layers.<kind>]`` source (:func:`read_source`),
maps fields (:mod:`pucha.gis.fields`), drops personal-data columns
(:mod:`pucha.gis.privacy`), reprojects to the working CRS (:mod:`pucha.gis.crs`),
validates (:mod:`pucha.gis.validate`), estimates population
(:mod:`pucha.gis.population`) and writes the layers of :mod:`pucha.gis.schema` plus
``problems``, ``pucha_meta`` and the QGIS default styles (:mod:`pucha.gis.styles`)
in one atomic step (a temporary GeoPackage renamed into place).

Invariant: every source building ends either as one row of ``buildings`` or in a
``problems`` row whose code starts with ``building_dropped`` naming its id.
"""

from __future__ import annotations

import datetime as _dt
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from pucha.config import Config, LayerSource
from pucha.errors import ConfigError, InputError
from pucha.gis import schema as S
from pucha.gis.crs import working_crs
from pucha.gis.fields import map_fields, resolve_fields
from pucha.gis.footprints import check_sizes, resolve_overlaps, split_multipart
from pucha.gis.inputs import input_files, refuse_overwrite, sha256_file
from pucha.gis.inputs import source_files as _input_files
from pucha.gis.population import estimate_population, read_totals
from pucha.gis.privacy import drop_personal_columns
from pucha.gis.read import read_source, source_path
from pucha.gis.validate import (assign_villages, check_glyphs, check_village_coverage,
                                clean_codes, clean_numbers, keep_geometry_family, problem,
                                problems_frame, repair_geometries, unique_ids)
from pucha.gis.styles import write_styles
from pucha.gis.uses import (ROAD_EXACT, classify_use, is_residential,  # noqa: F401
                            residential_flag, road_class, water_kind)
from pucha.gis.uses import residential as _residential
from pucha.gis.write import update_gpkg

__all__ = ["ImportResult", "import_project", "road_class", "water_kind", "is_residential",
           "classify_use", "residential_flag", "sha256_file", "library_versions"]

log = logging.getLogger(__name__)


@dataclass
class ImportResult:
    """What :func:`import_project` wrote."""

    gpkg: Path
    problems: gpd.GeoDataFrame
    summary: dict[str, Any] = field(default_factory=dict)
    population_report: str = ""


def _apply_values(frame: pd.DataFrame, values: dict[str, Any], kind: str) -> pd.DataFrame:
    """``values``: model field -> constant, or -> {source value: model value}."""
    from pucha.gis.fields import MODEL_FIELDS, SYNONYMS

    for key, v in sorted(values.items()):
        model = SYNONYMS.get(kind, {}).get(key, key)
        if model not in MODEL_FIELDS[kind]:
            raise ConfigError(f"[layers.{kind}].values: unknown model field {key!r}; valid "
                              f"fields are: {', '.join(MODEL_FIELDS[kind])}")
        if isinstance(v, dict):
            if model not in frame:
                raise ConfigError(f"[layers.{kind}].values.{key} maps source values but no "
                                  f"column is mapped to {model}; add it to fields")
            m = {str(a): b for a, b in v.items()}
            frame[model] = frame[model].map(lambda x, m=m: m.get(str(x), x))
        else:
            frame[model] = v
    return frame


def _text(series: pd.Series | None, n: int, index: pd.Index) -> pd.Series:
    if series is None:
        return pd.Series([""] * n, index=index, dtype=object)
    return series.map(lambda v: "" if v is None or (isinstance(v, float) and np.isnan(v))
                      else str(v).strip()).astype(object)


class _Layer:
    """One read + mapped + privacy-cleaned source layer."""

    def __init__(self, frame: gpd.GeoDataFrame, mapping: dict[str, str], path: Path,
                 probs: list[dict], raw: dict | None = None):
        self.frame, self.mapping, self.path, self.problems = frame, mapping, path, probs
        self.raw = raw or {}

    def near(self, reference: object, kind: str, ref_name: str) -> None:
        """CRS sanity: every feature far from ``reference`` is a CRSError (issue 15)."""
        from pucha.gis.crs import check_layer_near

        check_layer_near(self.frame, reference, raw_bounds=self.raw.get("pucha_raw_bounds"),
                         raw_crs=self.raw.get("pucha_raw_crs"), where=str(self.path),
                         kind=kind, ref_name=ref_name)


def _load(config: Config, kind: str, crs: CRS | None) -> _Layer:
    src: LayerSource = config.layers[kind]
    gdf = read_source(src, base_dir=config.base_dir, kind=kind, crs=crs)
    raw = {k: gdf.attrs.get(k) for k in ("pucha_raw_bounds", "pucha_raw_crs")}
    path = source_path(src, config.base_dir)
    probs = list(gdf.attrs.get("pucha_problems", []))
    mapping = resolve_fields(list(gdf.columns), kind, src.fields,
                             where=f"{path.name}" + (f" layer {src.layer}" if src.layer else ""))
    gdf, dropped = drop_personal_columns(gdf, keep=config.privacy.keep_columns,
                                         protected=list(mapping.values()), where=path.name)
    if dropped:
        lost = sorted(m for m, c in mapping.items() if c in dropped)
        probs.append(problem("personal_data_dropped", kind, "",
                             f"{path.name}: personal-data column(s) {', '.join(dropped)} dropped "
                             f"at import (姓名/电话/身份证 never enter the project)"
                             + (f"; the field(s) {', '.join(lost)} mapped to them stay empty"
                                if lost else "")
                             + "; list them in [privacy].keep_columns only if they are not "
                               "personal", severity="warning" if lost else "info"))
        mapping = {m: c for m, c in mapping.items() if c not in dropped}
    mapped = map_fields(gdf, kind, mapping)
    mapped = _apply_values(mapped, dict(src.values), kind)
    mapped, p = _mask_personal(mapped, kind, path)
    return _Layer(mapped, mapping, path, probs + p, raw=raw)


#: model fields holding ids and codes (not free text; masked only if personal by name)
_ID_FIELDS = frozenset(("building_id", "village_code", "code", "road_id", "feature_id"))


def _mask_personal(frame: gpd.GeoDataFrame, kind: str, path: Path
                   ) -> tuple[gpd.GeoDataFrame, list[dict]]:
    """Mask ID/phone numbers and householders' names in every kept text value (issue 15):
    a warning with counts and feature ids, never the values."""
    from pucha.gis.privacy import scan_frame

    id_col = next((c for c in ("building_id", "village_code", "code", "road_id", "feature_id")
                   if c in frame.columns), None)
    cols = [c for c in frame.columns if c != "geometry" and c not in _ID_FIELDS]
    masked, found = scan_frame(frame, columns=cols, id_column=id_col)
    if not found:
        return frame, []
    ids = sorted({i for v in found.ids.values() for i in v})
    log.warning("%s: %s: personal data masked (%s)", path.name, kind, found.summary())
    return masked, [problem(
        "personal_data_masked", kind, ids[:500],
        f"{path.name}: {kind}: residents' personal data found in text values and masked "
        f"with * ({found.summary()}); remove it from the source: names, ID and phone numbers "
        f"of residents never enter the project, its maps or registers")]


def _prepare(layer: _Layer, kind: str, id_field: str, prefix: str, seen: set[str]
             ) -> tuple[gpd.GeoDataFrame, list[dict]]:
    gdf = layer.frame
    raw_ids = gdf[id_field] if id_field in gdf else pd.Series([None] * len(gdf), index=gdf.index)
    ids, probs = unique_ids(raw_ids, kind, prefix=prefix, seen=seen)
    if kind not in ("buildings", "villages"):
        probs = [r for r in probs if r["code"] == "duplicate_id"]
    if probs and kind not in ("buildings", "villages"):
        # context layers (OSM ways split in pieces): one summary row, information only
        allids = ",".join(r["feature_ids"] for r in probs)
        probs = [problem("duplicate_id", kind, allids,
                         f"{kind}: {len(probs)} id(s) used by several features (pieces of one "
                         f"feature); the copies got -2, -3 suffixes", severity="info")]
    gdf = gdf.copy()
    gdf[id_field] = ids
    gdf, p2 = repair_geometries(gdf, kind, gdf[id_field])
    gdf, p3 = keep_geometry_family(gdf, kind, gdf[id_field])
    return gdf, probs + p2 + p3


def _frame(data: dict[str, Any], geoms: Any, crs: CRS, columns: tuple[str, ...]
           ) -> gpd.GeoDataFrame:
    df = pd.DataFrame({c: data[c] for c in columns})
    return gpd.GeoDataFrame(df, geometry=gpd.GeoSeries(list(geoms), crs=crs), crs=crs)


def _township(config: Config, wcrs: CRS, problems: list[dict]
              ) -> tuple[object, str, str]:
    """The 街镇: its geometry (None without a township layer), code and name."""
    tcode_cfg = re.sub(r"\s", "", str(config.project.township_code or ""))
    township_geom = None
    tname = config.project.name
    tcode = tcode_cfg
    if "township" in config.layers:
        tl = _load(config, "township", wcrs)
        problems += tl.problems
        raw_codes = tl.frame["code"] if "code" in tl.frame else None
        tg, p = _prepare(tl, "township", "code", "T", set())
        problems += [r for r in p if r["code"] != "duplicate_id"]
        if raw_codes is not None:   # pieces of one 街镇 share its code: no -2 suffixes
            tg["code"] = raw_codes.reindex(tg.index)
        if len(tg) > 1:
            problems.append(_multi_township(tg))
        if len(tg):
            township_geom = shapely.union_all(tg.geometry.values)
            codes, p = clean_codes(tg["code"] if "code" in tg else pd.Series([tcode] * len(tg),
                                   index=tg.index), "township", tg["code"], length=9)
            problems += p
            if not tcode and codes.iloc[0].isdigit():
                tcode = codes.iloc[0]
            elif codes.iloc[0] and codes.iloc[0] != tcode:
                problems.append(problem("township_code_mismatch", "township", [codes.iloc[0]],
                                        f"township layer code {codes.iloc[0]} differs from "
                                        f"[project].township_code {tcode}; using {tcode}"))
            names = [n for n in _text(tg.get("name"), len(tg), tg.index) if n]
            if names:
                # the 街镇 layer's own name wins; [project].name is the fallback
                if tname and names[0] != tname:
                    problems.append(problem(
                        "township_name_differs", "township", [codes.iloc[0] or tcode],
                        f"township layer name {names[0]!r} differs from [project].name "
                        f"{tname!r}; using {names[0]!r} (the layer's)", severity="info"))
                tname = names[0]
    return township_geom, tcode, tname


def _villages(config: Config, wcrs: CRS, township_geom: object, tcode: str,
              problems: list[dict]) -> gpd.GeoDataFrame | None:
    """The 居/村 layer (codes checked, parts merged), or None without one."""
    villages = None
    if "villages" in config.layers:
        vl = _load(config, "villages", wcrs)
        problems += vl.problems
        vl.near(township_geom, "villages", "街镇 township boundary")
        if "village_code" not in vl.mapping:
            raise InputError(f"{vl.path}: no 居/村 code column found; map it with fields = "
                             f"{{ village_code = \"<column>\" }} in [layers.villages]; columns: "
                             f"{', '.join(c for c in vl.frame.columns if c != 'geometry')}")
        vg = vl.frame.copy()
        vcodes, p = clean_codes(vg["village_code"], "villages",
                                _text(vg["village_code"], len(vg), vg.index), length=12,
                                parent=tcode)
        fatal = [x for x in p if x["code"] in ("code_leading_zeros", "code_missing",
                                                "code_not_digits", "code_length")]
        if fatal:
            raise InputError(
                f"{vl.path}: villages: " + "; ".join(x["message"] for x in fatal)
                + ". 居/村 codes must be the 12-digit 统计用区划代码 stored as text (in Excel, "
                  "format the column as 文本 before typing or pasting codes)")
        problems += p
        vg["village_code"] = vcodes
        dups = sorted(vcodes[vcodes.duplicated()].unique())
        if dups:
            raise InputError(
                f"{vl.path}: villages: code(s) {', '.join(dups)} used by several 居/村 "
                f"features; give each 居/村 its own code, or merge the parts of one 居/村 "
                f"into one (multi)polygon feature")
        kinds = set(vg.geometry.geom_type.dropna())
        if not kinds & {"Polygon", "MultiPolygon"}:
            raise InputError(
                f"{vl.path}: villages must be Polygon features (areas), got "
                f"{', '.join(sorted(kinds)) or 'no geometry'}; export the 居/村 boundaries as "
                f"polygons (in QGIS: 处理 > 线转多边形 Lines to polygons)")
        vg, p = repair_geometries(vg, "villages", vg["village_code"])
        problems += p
        vg, p = keep_geometry_family(vg, "villages", vg["village_code"])
        problems += p
        vg["name"] = _text(vg.get("name"), len(vg), vg.index)
        vg["kind"] = _text(vg.get("kind"), len(vg), vg.index)
        dups = sorted(vg["village_code"][vg["village_code"].duplicated()].unique())
        for code in dups:
            problems.append(problem("village_multipart", "villages", [code],
                                    f"居/村 {code} has several polygons; they were merged",
                                    severity="info"))
        rows = []
        for code, grp in sorted(vg.groupby("village_code", sort=True), key=lambda t: t[0]):
            geom = shapely.union_all(grp.geometry.values)
            name = next((n for n in grp["name"] if n), "")
            kind = next((k for k in grp["kind"] if k), "")
            if kind not in ("居委会", "村委会"):
                kind = "居委会" if "居" in name or "社区" in name else ("村委会" if name.endswith("村")
                                                                   or "村委" in name else "")
            rows.append({"village_code": code, "name": name, "kind": kind, "locked": False,
                         "geometry": geom})
        villages = gpd.GeoDataFrame(rows, columns=[*S.VILLAGE_COLUMNS, "geometry"],
                                    geometry="geometry", crs=wcrs)
        unnamed = sorted(villages["village_code"][villages["name"] == ""])
        if unnamed:
            problems.append(problem("village_name_missing", "villages", unnamed,
                                    f"villages: {len(unnamed)} 居/村 without a name: "
                                    f"{', '.join(unnamed[:20])}; the maps and registers need "
                                    f"it: fill the name column (or map it with fields = {{ "
                                    f"name = \"<column>\" }})"))
        problems += check_village_coverage(villages, township_geom,
                                           min_area_m2=config.boundaries.min_area_m2)
    return villages


def _context_layers(config: Config, wcrs: CRS, township_geom: object,
                    layers: dict[str, pd.DataFrame], problems: list[dict]) -> None:
    """Roads, water, railways, walls and neighbours into ``layers``."""
    rail_extra: list[gpd.GeoDataFrame] = []
    if "roads" in config.layers:
        rl = _load(config, "roads", wcrs)
        problems += rl.problems
        rl.near(township_geom, "roads", "街镇 township")
        rg, p = _prepare(rl, "roads", "road_id", "R", set())
        problems += p
        cls = rg["road_class"].map(road_class) if "road_class" in rg else \
            pd.Series(["minor"] * len(rg), index=rg.index)
        unknown = cls == ""
        if "road_class" in rg and unknown.any():
            vals = sorted({str(v) for v in rg["road_class"][unknown]})[:10]
            problems.append(problem("road_class_unknown", "roads", list(rg["road_id"][unknown])[:200],
                                    f"roads: {int(unknown.sum())} road(s) of unknown class "
                                    f"({', '.join(vals)}) left out of roads; map them with "
                                    f"values = {{ road_class = {{ \"<value>\" = \"minor\" }} }}",
                                    severity="info"))
        rail = cls == "rail"
        if rail.any():
            rail_extra.append(_frame({"feature_id": rg["road_id"][rail].values,
                                      "name": _text(rg.get("name"), len(rg), rg.index)[rail].values},
                                     rg.geometry[rail].values, wcrs, S.LINE_COLUMNS))
        keep = ~unknown & ~rail
        layers[S.LAYER_ROADS] = _frame(
            {"road_id": rg["road_id"][keep].values,
             "name": _text(rg.get("name"), len(rg), rg.index)[keep].values,
             "road_class": cls[keep].values}, rg.geometry[keep].values, wcrs, S.ROAD_COLUMNS)
    for kind, cols in (("water", S.WATER_COLUMNS), ("railways", S.LINE_COLUMNS),
                       ("walls", S.LINE_COLUMNS)):
        if kind not in config.layers:
            continue
        ll = _load(config, kind, wcrs)
        problems += ll.problems
        ll.near(township_geom, kind, "街镇 township")
        g, p = _prepare(ll, kind, "feature_id", kind[0].upper(), set())
        problems += p
        data = {"feature_id": g["feature_id"].values,
                "name": _text(g.get("name"), len(g), g.index).values}
        if kind == "water":
            src = g["water_kind"] if "water_kind" in g else _text(g.get("name"), len(g), g.index)
            data["water_kind"] = src.map(water_kind).values
        layers[kind] = _frame(data, g.geometry.values, wcrs, cols)
    if rail_extra:
        parts = [layers[S.LAYER_RAILWAYS]] if S.LAYER_RAILWAYS in layers else []
        layers[S.LAYER_RAILWAYS] = pd.concat(parts + rail_extra, ignore_index=True)
    if "neighbours" in config.layers:
        nl = _load(config, "neighbours", wcrs)
        problems += nl.problems
        g, p = _prepare(nl, "neighbours", "code", "N", set())
        problems += p
        codes, p = clean_codes(g["code"], "neighbours", g["code"], length=9)
        problems += p
        layers[S.LAYER_NEIGHBOURS] = _frame({"code": codes.values, "name": _text(
            g.get("name"), len(g), g.index).values}, g.geometry.values, wcrs, S.NEIGHBOUR_COLUMNS)


def _assign_villages(config: Config, bg: gpd.GeoDataFrame, villages: gpd.GeoDataFrame | None,
                     tcode: str, wcrs: CRS, problems: list[dict]) -> gpd.GeoDataFrame:
    """Fill ``bg["village_code"]`` ('' = dropped, with a row) from the 居/村 polygons, or
    from a village_code column (then the 居/村 are drawn as hulls); returns the 居/村."""
    if villages is not None:
        codes, p = assign_villages(bg, villages)
        if "village_code" in bg:
            problems += _contradicting_codes(bg, codes)
        varea = dict(zip(villages["village_code"], shapely.area(villages.geometry.values)))
        problems += check_sizes(bg, village_area=np.array([varea.get(c, np.inf)
                                                           for c in codes]))
        problems += _check_gcj02(config, bg, villages, codes, wcrs)
        problems += p
        bg["village_code"] = codes
    elif "village_code" in bg:
        problems += check_sizes(bg)
        codes, p = clean_codes(bg["village_code"], "buildings", bg["building_id"], length=12,
                               parent=tcode)
        problems += p
        bg["village_code"] = codes
        bad = bg["village_code"].map(lambda c: not (c.isdigit() and len(c) == 12))
        for bid in bg["building_id"][bad]:
            problems.append(problem("building_dropped_no_village", "buildings", [bid],
                                    f"building {bid} has no valid 居/村 code", severity="error"))
        bg.loc[bad, "village_code"] = ""
        rows = []
        for code, grp in bg[~bad].groupby("village_code", sort=True):
            rows.append({"village_code": code, "name": "", "kind": "", "locked": False,
                         "geometry": shapely.convex_hull(shapely.union_all(grp.geometry.values))})
        villages = gpd.GeoDataFrame(rows, columns=[*S.VILLAGE_COLUMNS, "geometry"],
                                    geometry="geometry", crs=wcrs)
        problems.append(problem("villages_from_buildings", "villages", "",
                                "no [layers.villages]: 居/村 drawn as convex hulls of their "
                                "buildings' codes; give the real boundaries for the maps",
                                severity="warning"))
    else:
        raise ConfigError("the 居/村 are unknown: add [layers.villages] (居/村 polygons) or map a "
                          "village_code column (居委会代码) in [layers.buildings].fields")
    return villages


def _finish(config: Config, gpkg: Path, wcrs: CRS, layers: dict[str, pd.DataFrame],
            problems: list[dict], *, started: _dt.datetime, tcode: str, tname: str,
            villages: gpd.GeoDataFrame, report: Any, totals: pd.DataFrame | None,
            all_ids: list[str], n_in: int, split_extra: set[str],
            people: dict[str, float]) -> ImportResult:
    """Check that every source building is accounted for, sum up, and write the project
    (layers, meta and QGIS styles) in one atomic step."""
    buildings = layers[S.LAYER_BUILDINGS]
    # every source building is in buildings or in a building_dropped row
    dropped: set[str] = set()
    for r in problems:
        if r["code"].startswith("building_dropped") and r["feature_ids"]:
            dropped.update(r["feature_ids"].split(","))
    kept = set(buildings["building_id"]) - split_extra
    unaccounted = sorted(set(all_ids) - kept - dropped)
    if kept & dropped or unaccounted or len(kept) + len(dropped) != n_in:
        raise RuntimeError(f"import lost track of buildings: {len(kept)} kept + {len(dropped)} "
                           f"dropped != {n_in} read; unaccounted {unaccounted[:10]}")
    dropped_people = _annotate_dropped(problems, people)
    problems += _empty_result(buildings, config)
    prob_gdf = problems_frame(problems, wcrs)
    by_code: dict[str, int] = {}
    for r in problems:
        by_code[r["code"]] = by_code.get(r["code"], 0) + 1
    summary = {
        "gpkg": str(gpkg), "working_crs": wcrs.to_string(), "township_code": tcode,
        "township_name": tname, "buildings_in": n_in, "buildings_out": len(buildings),
        "buildings_dropped": len(dropped), "villages": int(len(villages)),
        "population_method": report.method,
        "population_in": report.total_in + (dropped_people if report.method != "totals" else 0),
        "population_dropped": dropped_people,
        "errors": sum(1 for r in problems if r["severity"] == "error"),
        "population_out": report.total_out, "population_guessed": report.n_guessed,
        "problems": len(problems), "problems_by_code": dict(sorted(by_code.items())),
        "layers": {k: int(len(v)) for k, v in sorted(layers.items())},
    }
    inputs: dict[str, str] = {}
    for kind, src in sorted(config.layers.items()):
        for f in _input_files(source_path(src, config.base_dir)):
            inputs[str(f)] = sha256_file(f)
    if totals is not None:
        f = config.resolve(config.population.totals)
        inputs[str(f)] = sha256_file(f)
    meta = {
        S.META_SETTINGS: config.to_dict(),
        "import_inputs_sha256": inputs,
        "import_versions": library_versions(),
        "import_started": started.isoformat(timespec="seconds"),
        "import_finished": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "import_summary": summary,
        "import_population": report.as_dict(),
        "working_crs": wcrs.to_string(),
    }
    layers[S.LAYER_PROBLEMS] = prob_gdf
    gpkg.parent.mkdir(parents=True, exist_ok=True)
    # layers, meta and the QGIS default styles in ONE atomic step (renamed into place
    # only when all are written)
    to_write = dict(layers)
    plan_meta = _carry_plan(gpkg, to_write) if gpkg.exists() else {}
    update_gpkg(gpkg, to_write, fresh=True, meta={**plan_meta, **meta}, finish=write_styles)
    return ImportResult(gpkg=gpkg, problems=prob_gdf, summary=summary,
                        population_report=report.text())


def import_project(config: Config, *, out: Path | None = None,
                   keep_columns: tuple[str, ...] = ()) -> ImportResult:
    """Read the project's GIS files and write the project GeoPackage.

    Parameters
    ----------
    config
        The project settings (:func:`pucha.config.load_config`).
    out
        GeoPackage to write; default ``[project].gpkg`` relative to the TOML file.
    keep_columns
        Extra columns not to drop as personal data (added to ``[privacy].keep_columns``).

    Returns
    -------
    ImportResult
        ``.gpkg`` path, ``.problems`` GeoDataFrame, ``.summary`` dict.

    Raises
    ------
    InputError, CRSError, ConfigError
        Input that cannot be imported at all, with where/what/how-to-fix.
    """
    if keep_columns:
        import dataclasses

        config = dataclasses.replace(config, privacy=dataclasses.replace(
            config.privacy, keep_columns=tuple(config.privacy.keep_columns) + tuple(keep_columns)))
    if "buildings" not in config.layers:
        raise ConfigError("[layers.buildings] is required: say where the building footprints are")
    gpkg = Path(out) if out is not None else config.resolve(config.project.gpkg)
    refuse_overwrite([("-o" if out is not None else "[project].gpkg", gpkg)],
                     input_files(config, toml=config.path))
    started = _dt.datetime.now(_dt.timezone.utc)
    problems: list[dict] = []

    # 1. working CRS from the buildings (read once in their own CRS, checked)
    b0 = read_source(config.layers["buildings"], base_dir=config.base_dir, kind="buildings")
    wcrs = working_crs(b0, override=config.project.crs)
    log.info("working CRS %s", wcrs.to_string())

    # 2. township
    township_geom, tcode, tname = _township(config, wcrs, problems)

    # 3. villages
    villages = _villages(config, wcrs, township_geom, tcode, problems)
    if township_geom is None and villages is not None and len(villages):
        township_geom = shapely.union_all(villages.geometry.values)

    # 4. buildings
    bl = _load(config, "buildings", wcrs)
    problems += bl.problems
    bl.near(shapely.union_all(villages.geometry.values) if villages is not None and
            len(villages) else township_geom, "buildings",
            "居/村 polygons" if villages is not None else "街镇 township boundary")
    n_in = len(bl.frame)
    pts = bl.frame.geometry.geom_type.isin(["Point", "MultiPoint"])
    if pts.all() and len(pts):
        # a register with coordinates: each point stands for one building
        log.info("buildings: %d point(s) drawn as 4 m squares", int(pts.sum()))
        bl.frame.loc[pts, "geometry"] = shapely.buffer(
            shapely.centroid(bl.frame.geometry[pts].values), 2.0, cap_style="square")
    bg, p = _prepare(bl, "buildings", "building_id", "B", set())
    problems += p
    all_ids = list(unique_ids(bl.frame["building_id"] if "building_id" in bl.frame else
                              pd.Series([None] * n_in), "buildings", prefix="B")[0])
    raw_pop = bg["population"].copy() if "population" in bg else None
    raw_dw = bg["dwellings"].copy() if "dwellings" in bg else None
    people = _source_people(bl.frame, all_ids, config.population)
    for col in ("population", "floors", "height", "dwellings"):
        if col in bg:
            bg[col], p = clean_numbers(bg, col, "buildings", bg["building_id"])
            if col == "population":
                _refuse_implausible(p, bl.path)
            problems += [x for x in p if not x["code"].endswith("_missing")
                         or col == "population" and config.population.method == "given"]
        else:
            bg[col] = np.nan
    # footprints that are not one building each (gis/footprints.py rules)
    bg, p = resolve_overlaps(bg)
    problems += p
    bg, p = split_multipart(bg)
    problems += p
    split_extra = {i for r in p for i in r["feature_ids"].split(",")[1:]}
    villages = _assign_villages(config, bg, villages, tcode, wcrs, problems)
    bg = bg[bg["village_code"] != ""].copy()
    n = len(bg)
    idx = bg.index
    bg["name"] = _text(bg.get("name"), n, idx)
    bg["address"] = _text(bg.get("address"), n, idx)
    bg["use"] = _text(bg.get("use"), n, idx)
    res, p = _residential(bg, raw_pop.reindex(idx) if raw_pop is not None else None,
                          raw_dw.reindex(idx) if raw_dw is not None else None,
                          config.population.method)
    problems += p
    bg["residential"] = res.astype(bool)
    totals = None
    if config.population.method == "totals":
        if not config.population.totals:
            raise ConfigError("[population].method = \"totals\" needs totals = \"<csv>\"")
        totals = read_totals(config.resolve(config.population.totals))
    bg, report, p = estimate_population(bg, config.population, totals=totals)
    problems += p
    bg["locked"] = False
    bg["area_code"] = ""
    bg["source"] = bl.path.name
    bg = bg.sort_values("building_id", kind="stable")
    buildings = _frame({c: bg[c].values for c in S.BUILDING_COLUMNS}, bg.geometry.values, wcrs,
                       S.BUILDING_COLUMNS)
    for c in ("floors", "height", "dwellings"):
        buildings[c] = pd.to_numeric(buildings[c], errors="coerce").astype(float)
    buildings["population"] = buildings["population"].astype("int64")

    layers: dict[str, pd.DataFrame] = {S.LAYER_BUILDINGS: buildings, S.LAYER_VILLAGES: villages}
    layers[S.LAYER_TOWNSHIP] = _frame({"code": [tcode], "name": [tname]},
                                      [township_geom], wcrs, S.TOWNSHIP_COLUMNS)

    # 5. context layers
    _context_layers(config, wcrs, township_geom, layers, problems)

    # 6. names the PDF maps cannot draw (emoji ...): a warning now, not a FontError later
    for lname, id_col in ((S.LAYER_TOWNSHIP, "code"), (S.LAYER_VILLAGES, "village_code"),
                          (S.LAYER_BUILDINGS, "building_id"), (S.LAYER_ROADS, "road_id"),
                          (S.LAYER_WATER, "feature_id"), (S.LAYER_RAILWAYS, "feature_id"),
                          (S.LAYER_WALLS, "feature_id"), (S.LAYER_NEIGHBOURS, "code")):
        if lname in layers:
            problems += check_glyphs(layers[lname], lname, id_col)

    # 7. accounting, summary, provenance and the one atomic write
    return _finish(config, gpkg, wcrs, layers, problems, started=started, tcode=tcode,
                   tname=tname, villages=villages, report=report, totals=totals,
                   all_ids=all_ids, n_in=n_in, split_extra=split_extra, people=people)


def _contradicting_codes(bg: gpd.GeoDataFrame, codes: pd.Series) -> list[dict]:
    """A village_code attribute that names another 居/村 than the location: a warning
    naming the buildings and both codes (the location wins)."""
    from pucha.gis.validate import normalise_code

    given = bg["village_code"].map(lambda v: normalise_code(v, length=12)[0])
    bad = (given != "") & (codes != "") & (given != codes)
    if not bad.any():
        return []
    pairs = [f"{b} ({g} -> {c})" for b, g, c in zip(bg["building_id"][bad], given[bad],
                                                    codes[bad])]
    return [problem("village_code_contradicts", "buildings", list(bg["building_id"][bad]),
                    f"buildings: {int(bad.sum())} building(s) carry a village_code that "
                    f"contradicts the 居/村 polygon they lie in: {', '.join(pairs[:20])}; the "
                    f"polygon wins. Fix the attribute or the 居/村 boundary")]


def _multi_township(tg: gpd.GeoDataFrame) -> dict:
    """A township layer of several features: info when they are pieces of one 街镇,
    an error when they carry different codes/names (another 街镇 delivered along)."""
    codes = sorted({str(c) for c in tg.get("code", pd.Series(dtype=object)) if str(c).strip()})
    names = sorted({str(n) for n in tg.get("name", pd.Series(dtype=object))
                    if str(n).strip() and str(n) != "nan"})
    if len(codes) > 1 or len(names) > 1:
        return problem("township_multifeature", "township", codes or list(tg["code"]),
                       f"township: the layer has {len(tg)} features of different 街镇 (codes "
                       f"{', '.join(codes)}; names {', '.join(names)}); they were merged into "
                       f"one. Keep only your 街镇 (where = \"code = '...'\" in "
                       f"[layers.township]) and import again", severity="error")
    return problem("township_multipart", "township", codes,
                   f"township: {len(tg)} features of one 街镇 merged into one", severity="info")


def _source_people(frame: pd.DataFrame, ids: list[str], pop: Any) -> dict[str, float]:
    """People of each SOURCE building (before anything is dropped): its population, or
    dwellings x persons_per_household (``dwellings`` method); unusable values count 0."""
    from pucha.gis.validate import RANGES, parse_number

    out: dict[str, float] = {}
    hi = RANGES["population"][1]
    for col, factor in (("dwellings", pop.persons_per_household), ("population", 1.0)):
        if col not in frame.columns or (col == "population" and pop.method == "dwellings"):
            continue
        for bid, v in zip(ids, frame[col].tolist()):
            f, why = parse_number(v)
            if not why and 0 <= f <= hi * (1 if col == "population" else 1):
                out[bid] = f * factor
    return out


def _annotate_dropped(problems: list[dict], people: dict[str, float]) -> int:
    """Say on every ``building_dropped*`` row how many people its buildings carry in the
    source (issue 15: nothing lost silently). Returns the people dropped in all."""
    total = 0.0
    for r in problems:
        if not r["code"].startswith("building_dropped") or not r["feature_ids"]:
            continue
        n = sum(people.get(i, 0.0) for i in r["feature_ids"].split(","))
        total += n
        if n:
            r["message"] += (f" [{round(n)} people in the source left out with "
                             f"{'it' if ',' not in r['feature_ids'] else 'them'}]")
    return int(round(total))


def _empty_result(buildings: gpd.GeoDataFrame, config: Config) -> list[dict]:
    """An import that ends with 0 buildings or 0 people is an error, with the likely cause."""
    if len(buildings) == 0:
        return [problem("no_buildings", "buildings", "",
                        "buildings: no building is left after import (see the "
                        "building_dropped* rows): usually a CRS that puts the buildings "
                        "outside every 居/村 (a .prj that lies, a wrong crs = ...), or a "
                        "where = ... that leaves nothing", severity="error")]
    if int(buildings["population"].sum()) == 0:
        how = ("give the 居/村 totals: [population] method = \"totals\", totals = "
               "\"<csv>\"; or dwellings with method = \"dwellings\"")
        return [problem("no_population", "buildings", "",
                        f"buildings: the {len(buildings)} buildings hold 0 people in all "
                        f"(method {config.population.method!r}): the population column is "
                        f"missing, empty or not numbers (mapped to a text column?), or the "
                        f"source (e.g. OpenStreetMap) has no population. To fix it, map the "
                        f"population column (fields = {{ population = \"<column>\" }}) or "
                        f"{how}", severity="error")]
    return []


def _refuse_implausible(probs: list[dict], path: Path) -> None:
    """A building population above the plausibility limit is refused, never replaced."""
    from pucha.gis.validate import RANGES

    for r in probs:
        if r["code"] == "population_implausible":
            raise InputError(
                f"{path}: {r['message'].replace('; treated as unknown', '')}. pucha does not "
                f"replace a population: fix the value(s) in the source (a typo? a 居/村 total "
                f"typed into one building?), or clear them to have them estimated. The limit "
                f"is {RANGES['population'][1]:g} people per building")


#: layers of the census office's plan and its history (pucha partition, docs/review.md)
_PLAN_LAYERS = (S.LAYER_AREAS, S.LAYER_BUILDING_AREAS, S.LAYER_QUALITY, "revisions",
                "code_history")


def _carry_plan(gpkg: Path, to_write: dict) -> dict:
    """Re-importing into a project that holds a plan keeps the plan, its revisions and
    code history, the locks and the hand edits (buildings.area_code / locked, villages'
    locked) of buildings and 居/村 that are still there, so the next ``pucha partition``
    re-solves only what changed and keeps every other code. Returns the plan's meta."""
    from pucha.gis.write import list_layers, read_layer, read_meta

    names = list_layers(gpkg)
    if S.LAYER_AREAS not in names:
        return {}
    areas = read_layer(gpkg, S.LAYER_AREAS)
    crs = to_write[S.LAYER_BUILDINGS].crs
    if areas.crs is not None and crs is not None and not CRS(areas.crs).equals(CRS(crs)):
        log.warning("re-import: the working CRS changed (%s -> %s); the earlier plan is not "
                    "kept, run pucha partition anew", areas.crs.to_string(), CRS(crs).to_string())
        return {}
    to_write[S.LAYER_AREAS] = areas
    for name in names:
        if name != S.LAYER_AREAS and (name in _PLAN_LAYERS
                                      or re.fullmatch(r"(areas|building_areas)_r\d+", name)):
            to_write[name] = read_layer(gpkg, name)
    for layer, key in ((S.LAYER_BUILDINGS, "building_id"), (S.LAYER_VILLAGES, "village_code")):
        if layer not in names or layer not in to_write:
            continue
        old = read_layer(gpkg, layer)
        new = to_write[layer].copy()
        for col in ("area_code", "locked"):
            if col in old.columns and key in old.columns:
                kept = dict(zip(old[key].astype(str), old[col]))
                carried = new[key].astype(str).map(kept)
                new[col] = carried.where(carried.notna(), new[col]) if col in new else carried
        to_write[layer] = new
    meta = read_meta(gpkg)
    log.info("重新导入 re-import: kept the plan (%d areas), its revisions and hand edits",
             len(to_write[S.LAYER_AREAS]))
    return {k: v for k, v in meta.items() if not k.startswith("import_")
            and k not in ("working_crs",)}


def _check_gcj02(config: Config, bg: gpd.GeoDataFrame, villages: gpd.GeoDataFrame,
                 codes: pd.Series, wcrs: CRS) -> list[dict]:
    """Undeclared GCJ-02 (AMap) coordinates as the likely reason for buildings falling
    outside their 居/村 (converting them puts far more inside): an error when 30% or more
    are outside, a ``looks_gcj02`` warning from 5%."""
    src = config.layers["buildings"]
    if src.gcj02 or len(bg) < 5:
        return []
    outside = float((codes == "").mean())
    if outside < 0.05:
        return []
    from pucha.errors import CRSError
    from pucha.gis.gcj02 import gcj02_to_wgs84, in_china

    ll = bg.to_crs(4326)
    c = shapely.centroid(ll.geometry.values)
    x, y = shapely.get_x(c), shapely.get_y(c)
    if not np.all(in_china(x, y)):
        return
    lon, lat = gcj02_to_wgs84(x, y)
    pts = gpd.GeoSeries(shapely.points(lon, lat), crs=4326).to_crs(wcrs)
    tree = shapely.STRtree(villages.geometry.values)
    inside = np.zeros(len(pts), bool)
    inside[tree.query(pts.values, predicate="within")[0]] = True
    after = 1 - inside.mean()
    if after >= outside / 2:
        return []
    off = np.median(np.hypot(*(np.array([shapely.get_x(pts.values), shapely.get_y(pts.values)])
                               - np.array([shapely.get_x(shapely.centroid(bg.geometry.values)),
                                           shapely.get_y(shapely.centroid(bg.geometry.values))]))))
    if outside < 0.3:
        return [problem("looks_gcj02", "buildings", "", (
            f"{src.path}: buildings: {outside:.0%} of the buildings lie outside every 居/村, "
            f"only {after:.0%} after a GCJ-02 -> WGS 84 conversion (a consistent shift of "
            f"about {off:.0f} m): the buildings look digitised on AMap/Gaode (GCJ-02). If so, "
            f"declare it with gcj02 = true in [layers.buildings] and import again"))]
    raise CRSError(
            f"{config.layers['buildings'].path}: buildings: {outside:.0%} of the buildings lie "
            f"outside every 居/村, but only {1 - inside.mean():.0%} after a GCJ-02 -> WGS 84 "
            f"conversion: the buildings look digitised on AMap/Gaode (GCJ-02, ~{off:.0f} m off). "
            f"If so, declare it with gcj02 = true in [layers.buildings]")


def library_versions() -> dict[str, str]:
    """pucha's and the geospatial libraries' versions (GEOS, GDAL, PROJ), for provenance."""
    import pyogrio
    import pyproj

    from pucha import __version__

    return {"pucha": __version__, "geopandas": gpd.__version__, "shapely": shapely.__version__,
            "GEOS": shapely.geos_version_string, "pyogrio": pyogrio.__version__,
            "GDAL": pyogrio.__gdal_version_string__, "pyproj": pyproj.__version__,
            "PROJ": pyproj.proj_version_str, "pandas": pd.__version__, "numpy": np.__version__}

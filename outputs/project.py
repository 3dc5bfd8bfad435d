"""Read a partitioned project GeoPackage into what the map makers need.

:func:`load_project` reads the layers named in :mod:`pucha.gis.schema` once and
checks that the partition has run. :class:`MapProject` then answers the few
questions every output asks: the areas of a 居/村, the buildings (or building
parts) of an area with their floor/unit ranges, the neighbours of an area.

A building cut vertically (纵向切割) into several areas appears in the list of
*each* of those areas once, with the parts that belong to that area merged into
one entry (``floor_from``-``floor_to``, ``unit_from``-``unit_to``).
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from pucha.errors import InputError
from pucha.gis import schema as S
from pucha.config import MapSettings
from pucha.gis.settings import project_config
from pucha.gis.write import list_layers, read_layer, read_meta

__all__ = ["MapProject", "load_project", "part_label", "village_label"]

logger = logging.getLogger(__name__)


def _empty(columns: tuple[str, ...], crs) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({c: pd.Series(dtype=object) for c in columns},
                            geometry=gpd.GeoSeries([], crs=crs), crs=crs)


def _fmt_num(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else f"{v:g}"


def part_label(floor_from: float, floor_to: float, unit_from: float, unit_to: float) -> str:
    """Chinese text for the part of a cut building, e.g. ``"1-10层"``, ``"2单元"``.

    >>> part_label(1, 10, float("nan"), float("nan"))
    '1-10层'
    >>> part_label(float("nan"), float("nan"), 2, 2)
    '2单元'
    >>> part_label(float("nan"), float("nan"), float("nan"), float("nan"))
    ''
    """
    out = []
    for lo, hi, unit in ((unit_from, unit_to, "单元"), (floor_from, floor_to, "层")):
        lo_ok = lo is not None and not (isinstance(lo, float) and math.isnan(lo))
        hi_ok = hi is not None and not (isinstance(hi, float) and math.isnan(hi))
        if lo_ok and hi_ok and float(lo) != float(hi):
            out.append(f"{_fmt_num(lo)}-{_fmt_num(hi)}{unit}")
        elif lo_ok or hi_ok:
            out.append(f"{_fmt_num(lo if lo_ok else hi)}{unit}")
    return " ".join(out)


def village_label(name: str, kind: str = "") -> str:
    """The 居/村 name as printed: the name, with its kind appended when missing."""
    name = (name or "").strip()
    if kind and not name.endswith(kind) and not name.endswith(kind[:1] + "委会"):
        return name + kind if name else kind
    return name


@dataclass
class MapProject:
    """Everything the map makers read from a project GeoPackage (working CRS)."""

    path: Path
    crs: object
    township_code: str
    township_name: str
    villages: gpd.GeoDataFrame
    areas: gpd.GeoDataFrame
    buildings: gpd.GeoDataFrame
    building_areas: pd.DataFrame
    roads: gpd.GeoDataFrame
    water: gpd.GeoDataFrame
    railways: gpd.GeoDataFrame
    towns: gpd.GeoDataFrame | None = None
    data_date: str = ""
    attribution: str = ""
    meta: dict = field(default_factory=dict)

    # -- lookups ---------------------------------------------------------
    def village_codes(self) -> list[str]:
        """Codes of the 居/村 that have areas, sorted."""
        return sorted(set(self.areas["village_code"]))

    def village_name(self, village_code: str) -> str:
        v = self.villages[self.villages["village_code"] == village_code]
        if len(v) == 0:
            return village_code
        return village_label(str(v.iloc[0]["name"]), str(v.iloc[0].get("kind", "") or ""))

    def area_codes(self, village_code: str | None = None) -> list[str]:
        a = self.areas
        if village_code is not None:
            a = a[a["village_code"] == village_code]
        return sorted(a["area_code"])

    def area(self, area_code: str) -> pd.Series:
        rows = self.areas[self.areas["area_code"] == area_code]
        if len(rows) == 0:
            raise InputError(f"{self.path}: layer 'areas' has no area_code {area_code!r}")
        return rows.iloc[0]

    def area_buildings(self, area_code: str) -> gpd.GeoDataFrame:
        """The buildings of one area: one row per building, cut parts merged.

        Columns: building_id, name, address, floors, residential, population and
        dwellings (of this area's share), part_label (e.g. ``"11-20层"``, empty for
        whole buildings), cut (bool), geometry. Sorted by building_id.
        """
        ba = self.building_areas[self.building_areas["area_code"] == area_code]
        if len(ba) == 0:
            cols = ["building_id", "name", "address", "use", "floors", "residential", "population",
                    "dwellings", "part_label", "cut"]
            return _empty(tuple(cols), self.crs)
        rows = []
        for bid, grp in ba.groupby("building_id", sort=True):
            grp = grp.sort_values("part")
            cut = bool((grp["part"].astype(int) > 0).any())
            labels = []
            if cut:
                labels = [part_label(r.floor_from, r.floor_to, r.unit_from, r.unit_to)
                          for r in grp.itertuples()]
                labels = [x for x in labels if x] or [f"第{int(p)}部分" for p in grp["part"]]
            dw = pd.to_numeric(grp["dwellings"], errors="coerce")
            rows.append(dict(building_id=str(bid),
                             population=int(pd.to_numeric(grp["population"]).sum()),
                             dwellings=float(dw.sum()) if dw.notna().any() else np.nan,
                             part_label="、".join(labels), cut=cut))
        parts = pd.DataFrame(rows)
        b = self.buildings[[c for c in ("building_id", "name", "address", "use", "floors",
                                        "residential", "geometry") if c in self.buildings]]
        out = parts.merge(b, on="building_id", how="left")
        missing = out["geometry"].isna()
        if missing.any():
            ids = ", ".join(out.loc[missing, "building_id"].head(5))
            raise InputError(f"{self.path}: building_areas of area {area_code} names building(s) "
                             f"{ids} missing from layer 'buildings'; re-run `pucha partition`")
        out = gpd.GeoDataFrame(out, geometry="geometry", crs=self.crs)
        if "use" not in out.columns:
            out["use"] = ""
        for c in ("name", "address", "use"):
            out[c] = out[c].fillna("").astype(str)
        return out.sort_values("building_id").reset_index(drop=True)

    def area_geometry(self, area_code: str):
        """The area polygon; for a virtual area (code 900+, no land) without one, the
        outline of its buildings (or, failing that, of its 居/村), so it can be drawn."""
        geom = self.area(area_code).geometry
        if geom is not None and not geom.is_empty:
            return geom
        b = self.area_buildings(area_code)
        if len(b):
            return shapely.union_all(np.asarray(b.geometry.values)).buffer(20).envelope
        v = self.villages[self.villages["village_code"] == str(self.area(area_code)
                                                               ["village_code"])]
        if len(v) and v.geometry.iloc[0] is not None and not v.geometry.iloc[0].is_empty:
            return v.geometry.iloc[0]
        raise InputError(f"{self.path}: area {area_code} has no geometry, no buildings and "
                         "no 居/村 polygon; give it a polygon or remove it")

    def sizhi(self, area_code: str) -> str:
        """The area's 四至: as stored by the partition, else described from the data
        (:func:`pucha.outputs.sizhi.describe_sides`)."""
        a = self.area(area_code)
        stored = " ".join(str(a.get("sizhi", "") or "").split())
        if stored:
            return stored
        sides = {k: str(a.get(k, "") or "").strip() for k in ("east", "south", "west", "north")}
        from pucha.outputs.sizhi import describe_sides, sizhi_text

        if all(sides.values()):
            return sizhi_text(sides)
        if self.is_virtual(area_code):
            return ""
        from pucha.outputs.naming import area_seq_text

        nb = self.neighbours(area_code)
        own_v = str(a["village_code"])
        nb = nb.assign(label=[area_seq_text(c, q) if str(c)[:12] == own_v
                              else f"{self.village_name(str(c)[:12])}{area_seq_text(c, q)}"
                              for c, q in zip(nb["area_code"], nb["seq"])])
        found = describe_sides(a.geometry, roads=self.roads, water=self.water, neighbours=nb)
        return sizhi_text({k: sides[k] or found[k] for k in sides})

    def is_virtual(self, area_code: str) -> bool:
        """True for an area without land of its own (empty geometry)."""
        geom = self.area(area_code).geometry
        return geom is None or geom.is_empty

    def neighbours(self, area_code: str, *, tolerance: float = 1.0) -> gpd.GeoDataFrame:
        """Areas touching ``area_code`` (any 居/村), sorted by code."""
        if self.is_virtual(area_code):
            return self.areas.iloc[0:0]
        geom = self.area(area_code).geometry
        idx = self.areas.sindex.query(geom.buffer(tolerance), predicate="intersects")
        nb = self.areas.iloc[sorted(idx)]
        nb = nb[nb["area_code"] != area_code]
        return nb.sort_values("area_code")


def _read(path: Path, name: str, columns: tuple[str, ...], crs, layers: list[str]):
    if name not in layers:
        return _empty(columns, crs)
    df = read_layer(path, name)
    if isinstance(df, gpd.GeoDataFrame) and crs is not None and df.crs is not None \
            and df.crs != crs:
        df = df.to_crs(crs)
    return df


def load_project(gpkg: str | os.PathLike, *, attribution: str | None = None) -> MapProject:
    """Read a partitioned project GeoPackage.

    Parameters
    ----------
    gpkg
        The project GeoPackage (layers per :mod:`pucha.gis.schema`).
    attribution
        Data attribution printed on every map; default: the ``[maps]``
        attribution stored in the project's settings, else the OSM/ODbL notice.

    Raises
    ------
    InputError
        If the file is missing or has not been partitioned (no ``areas``).
    """
    path = Path(gpkg)
    if not path.exists():
        raise InputError(f"project GeoPackage not found: {path}; run `pucha import` first")
    layers = list_layers(path)
    for need in (S.LAYER_AREAS, S.LAYER_BUILDING_AREAS, S.LAYER_BUILDINGS):
        if need not in layers:
            raise InputError(f"{path}: layer {need!r} is missing; run `pucha partition "
                             f"{path.name}` before `pucha maps`")
    areas = read_layer(path, S.LAYER_AREAS)
    crs = areas.crs
    if crs is None or not crs.is_projected:
        raise InputError(f"{path}: layer 'areas' must be in a metric working CRS "
                         f"(got {crs}); re-run `pucha import`")
    buildings = _read(path, S.LAYER_BUILDINGS, S.BUILDING_COLUMNS, crs, layers)
    ba = read_layer(path, S.LAYER_BUILDING_AREAS)
    if "geometry" in getattr(ba, "columns", []):
        ba = pd.DataFrame(ba.drop(columns="geometry"))
    villages = _read(path, S.LAYER_VILLAGES, S.VILLAGE_COLUMNS, crs, layers)
    roads = _read(path, S.LAYER_ROADS, S.ROAD_COLUMNS, crs, layers)
    water = _read(path, S.LAYER_WATER, S.WATER_COLUMNS, crs, layers)
    rail = _read(path, S.LAYER_RAILWAYS, S.LINE_COLUMNS, crs, layers)
    township = _read(path, S.LAYER_TOWNSHIP, S.TOWNSHIP_COLUMNS, crs, layers)
    neighbour_towns = _read(path, S.LAYER_NEIGHBOURS, S.NEIGHBOUR_COLUMNS, crs, layers)
    parts = [gpd.GeoDataFrame({"code": t["code"].astype(str).values,
                               "name": t["name"].fillna("").astype(str).values,
                               "own": [t is township] * len(t)},
                              geometry=gpd.GeoSeries(t.geometry.values, crs=crs), crs=crs)
             for t in (township, neighbour_towns)
             if isinstance(t, gpd.GeoDataFrame) and len(t) and "name" in t.columns]
    towns = pd.concat(parts, ignore_index=True) if parts else None
    if towns is not None:
        towns = gpd.GeoDataFrame(towns, geometry="geometry", crs=crs)
        towns = towns[~(towns.geometry.isna() | towns.geometry.is_empty)].reset_index(drop=True)
    for df, cols in ((roads, ("name",)), (water, ("name",)), (rail, ("name",)),
                     (villages, ("name", "kind"))):
        for c in cols:
            if c in df.columns:
                df[c] = df[c].fillna("").astype(str)
    meta = read_meta(path)
    config = project_config(path)
    data_date = str(config.maps.data_date or config.project.data_date or "")
    if attribution is None:
        attribution = str(config.maps.attribution or MapSettings().attribution)
    tcode = str(township.iloc[0]["code"]) if len(township) else \
        str(areas["area_code"].iloc[0])[:9] if len(areas) else ""
    tname = str(township.iloc[0]["name"]) if len(township) else \
        str(config.project.name or "")
    areas = areas.sort_values("area_code").reset_index(drop=True)
    for c in ("sizhi", "east", "south", "west", "north", "status"):
        if c in areas.columns:
            areas[c] = areas[c].fillna("").astype(str)
    logger.info("读取 %s: %d 个普查小区, %d 栋建筑", path.name, len(areas), len(buildings))
    return MapProject(path=path, crs=crs, township_code=tcode, township_name=tname,
                      villages=villages, areas=areas, buildings=buildings, building_areas=ba,
                      roads=roads, water=water, railways=rail, towns=towns,
                      data_date=data_date,
                      attribution=attribution, meta=meta)

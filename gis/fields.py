"""Field-name mapping: source columns -> model fields of the project GeoPackage.

Chinese and English aliases are recognised out of the box (``人口``/``population``/
``pop`` -> ``population`` ...). The ``fields`` table of a ``[layers.<kind>]`` section
overrides them: ``fields = { population = "常住人口" }``. A model field not known for
the layer kind is rejected with the list of valid ones.
"""

from __future__ import annotations

import logging
import unicodedata
from collections.abc import Mapping

import pandas as pd

from pucha.errors import ConfigError, InputError

__all__ = ["MODEL_FIELDS", "ALIASES", "SYNONYMS", "resolve_fields", "map_fields",
           "normalise_name"]

log = logging.getLogger(__name__)

#: model fields that a source may provide, per layer kind
MODEL_FIELDS: dict[str, tuple[str, ...]] = {
    "buildings": ("building_id", "village_code", "name", "address", "use", "residential",
                  "floors", "height", "dwellings", "population", "locked"),
    "villages": ("village_code", "name", "kind", "locked"),
    "township": ("code", "name"),
    "neighbours": ("code", "name"),
    "roads": ("road_id", "name", "road_class"),
    "water": ("feature_id", "name", "water_kind"),
    "railways": ("feature_id", "name"),
    "walls": ("feature_id", "name"),
}

#: short names accepted in the TOML ``fields`` table, per kind
SYNONYMS: dict[str, dict[str, str]] = {
    "buildings": {"id": "building_id", "code": "village_code"},
    "villages": {"code": "village_code", "id": "village_code"},
    "township": {"id": "code", "township_code": "code"},
    "neighbours": {"id": "code", "township_code": "code"},
    "roads": {"id": "road_id", "kind": "road_class", "class": "road_class"},
    "water": {"id": "feature_id", "kind": "water_kind"},
    "railways": {"id": "feature_id"},
    "walls": {"id": "feature_id"},
}

_COMMON_NAME = ("建筑名称", "名称", "name", "name:zh", "楼名", "小区名称")
#: source column aliases (compared case-insensitively after NFKC), first match wins
ALIASES: dict[str, dict[str, tuple[str, ...]]] = {
    "buildings": {
        "building_id": ("building_id", "编号", "建筑编号", "楼栋编号", "id", "bid", "fid_1",
                        "objectid"),
        "village_code": ("village_code", "居委会代码", "村委会代码", "居村代码"),
        "name": _COMMON_NAME,
        "address": ("address", "地址", "门牌地址", "addr", "addr_full"),
        "use": ("use", "用途", "建筑用途", "类型", "kind_detail", "building", "usage"),
        "residential": ("residential", "是否住宅", "住宅"),
        "floors": ("floors", "层数", "楼层数", "地上层数", "levels", "building:levels",
                   "building_levels"),
        "height": ("height", "高度", "建筑高度", "height_m"),
        "dwellings": ("dwellings", "户数", "住房单元", "住房单元数", "套数", "units", "flats",
                      "households"),
        "population": ("population", "人口", "人口数", "常住人口", "pop"),
        "locked": ("locked",),
    },
    "villages": {
        "village_code": ("village_code", "居委会代码", "村委会代码", "居村代码", "code",
                         "代码", "区划代码", "编号"),
        "name": ("居委会名称", "村委会名称", "居村名称", "名称", "name"),
        "kind": ("kind", "类型", "居村类型", "类别"),
        "locked": ("locked",),
    },
    "township": {
        "code": ("code", "街道代码", "街镇代码", "乡镇代码", "镇代码", "代码", "区划代码"),
        "name": ("name", "街道名称", "街镇名称", "乡镇名称", "镇名称", "名称"),
    },
    "roads": {
        "road_id": ("road_id", "id", "编号", "道路编号"),
        "name": ("name", "道路名称", "名称", "路名"),
        "road_class": ("road_class", "道路等级", "等级", "kind", "highway", "fclass"),
    },
    "water": {
        "feature_id": ("feature_id", "id", "编号"),
        "name": ("name", "名称", "水系名称", "河流名称"),
        "water_kind": ("water_kind", "类型", "kind", "waterway", "water", "fclass"),
    },
    "railways": {"feature_id": ("feature_id", "id", "编号"), "name": ("name", "名称", "线路名称")},
    "walls": {"feature_id": ("feature_id", "id", "编号"), "name": ("name", "名称")},
}
ALIASES["neighbours"] = ALIASES["township"]


def normalise_name(name: str) -> str:
    """Compare column names case-insensitively, full-width folded, spaces trimmed."""
    return unicodedata.normalize("NFKC", str(name)).strip().lower()


def resolve_fields(columns: list[str] | pd.Index, kind: str,
                   overrides: Mapping[str, str] | None = None, *,
                   where: str = "") -> dict[str, str]:
    """Map model field -> source column for one layer.

    Parameters
    ----------
    columns
        The source layer's columns.
    kind
        Layer kind (``buildings``, ``villages`` ...).
    overrides
        The TOML ``fields`` table: model field -> source column.
    where
        Text naming the file/layer in messages.

    Raises
    ------
    ConfigError
        A model field in ``overrides`` unknown for ``kind`` (message lists the valid ones),
    InputError
        A configured source column missing from the file (message lists its columns).
    """
    valid = MODEL_FIELDS[kind]
    syn = SYNONYMS.get(kind, {})
    cols = [str(c) for c in columns if str(c) != "geometry"]
    by_norm: dict[str, str] = {}
    for c in cols:
        by_norm.setdefault(normalise_name(c), c)
    out: dict[str, str] = {}
    for model, src in sorted((overrides or {}).items()):
        canon = syn.get(model, model)
        if canon not in valid:
            raise ConfigError(
                f"[layers.{kind}].fields: unknown model field {model!r}; valid fields for "
                f"{kind} are: {', '.join(valid)}"
                + (f" (short names: {', '.join(sorted(syn))})" if syn else ""))
        if not isinstance(src, str):
            raise ConfigError(
                f"[layers.{kind}].fields: {model} = {src!r} must be a column name in quotes, "
                f"e.g. {model} = \"编号\"")
        src_col = src if src in cols else by_norm.get(normalise_name(src))
        if src_col is None:
            from pucha.gis.read import looks_garbled

            hint = ""
            if any(looks_garbled(c) or any("\u0080" <= ch <= "\u00ff" for ch in c)
                   for c in cols):
                hint = (f". The column names look garbled (乱码): the text encoding was "
                        f"guessed wrong; set encoding = \"gbk\" (or \"big5\", \"utf-8\") in "
                        f"[layers.{kind}] or add a .cpg file")
            raise InputError(
                f"[layers.{kind}].fields: {model} = {src!r} but {where or 'the source'} has no "
                f"column {src!r}; its columns are: {', '.join(cols) or '(none)'}{hint}")
        out[canon] = src_col
    used = set(out.values())
    for model in valid:
        if model in out:
            continue
        for alias in ALIASES.get(kind, {}).get(model, ()):
            col = by_norm.get(normalise_name(alias))
            if col is not None and col not in used:
                out[model] = col
                used.add(col)
                break
    return out


def map_fields(frame: pd.DataFrame, kind: str, mapping: Mapping[str, str]) -> pd.DataFrame:
    """A frame with model-field columns (and geometry), copied from the mapped sources."""
    data = {model: frame[src].values for model, src in mapping.items()}
    out = pd.DataFrame(data, index=frame.index)
    if "geometry" in frame.columns:
        import geopandas as gpd

        return gpd.GeoDataFrame(out, geometry=frame.geometry.values, crs=frame.crs,
                                index=frame.index)
    return out



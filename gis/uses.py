"""What a building is used for, and road / water classes, from the source's values.

:func:`classify_use` reads 用途 texts (住宅/商业/办公 ...) and OSM ``building=*`` values;
:func:`residential_flag` a 是否住宅 column; :func:`road_class` and :func:`water_kind` the
class columns of roads and water. :func:`residential` combines them for the buildings
of an import, with info rows for the ones the data leaves open.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from pucha.gis.validate import problem

__all__ = ["road_class", "water_kind", "classify_use", "is_residential", "residential_flag",
           "residential", "ROAD_EXACT"]


_MAJOR = ("major", "highway", "motorway", "trunk", "primary", "secondary", "快速", "主干",
          "高速", "国道", "省道", "干道", "主要")
_PATH = ("path", "footway", "pedestrian", "cycleway", "steps", "track", "bridleway",
         "步行", "小路", "小径", "人行", "巷", "弄")
_MINOR = ("minor", "tertiary", "residential", "service", "unclassified", "living_street",
          "次干", "支路", "县道", "乡道", "村道", "街", "路")
_RAIL = ("rail", "railway", "subway", "light_rail", "tram", "铁路", "轨道", "地铁")


def road_class(value: object) -> str:
    """major | minor | path | rail | '' from an OSM kind, highway tag or 道路等级 text."""
    s = str(value or "").strip().lower()
    if not s or s == "nan":
        return ""
    if s in ROAD_EXACT:
        return ROAD_EXACT[s]
    for words, cls in ((_RAIL, "rail"), (_MAJOR, "major"), (_PATH, "path"), (_MINOR, "minor")):
        if any(w in s for w in words):
            return cls
    return ""


ROAD_EXACT = {"major_road": "major", "minor_road": "minor", "path": "path", "rail": "rail",
              "highway": "major", "ferry": "", "aerialway": "", "piste": "",
              "一级": "major", "二级": "major", "三级": "minor", "四级": "minor",
              "等外": "path"}


def water_kind(value: object) -> str:
    """river | canal | lake | pond | reservoir | water from a kind/名称 text."""
    s = str(value or "").strip().lower()
    for words, k in ((("river", "stream", "河", "江", "浦", "泾", "浜"), "river"),
                     (("canal", "drain", "ditch", "渠", "沟"), "canal"),
                     (("lake", "湖"), "lake"), (("pond", "basin", "塘", "池"), "pond"),
                     (("reservoir", "水库"), "reservoir"), (("ocean", "sea", "海"), "sea")):
        if any(w in s for w in words):
            return k
    return "water"


#: use values that say nothing about residents (OSM building=yes, 其他 ...)
_USE_NONE = frozenset(("", "nan", "none", "null", "yes", "true", "1", "building", "buildings",
                       "建筑", "建筑物", "房屋", "其他", "其它", "未知", "不详", "待定", "-", "--",
                       "/", "无", "空", "unknown", "other", "construction", "collapsed",
                       "ruins", "damaged", "roof"))
#: negations and look-alikes checked first ("非住宅" holds "住宅", "住院部" holds "住")
_USE_NEG = ("非住", "非居", "不住", "住院", "住建", "居委", "村委", "家居", "non-res", "nonres",
            "non_res", "non res", "not residential", "not_residential")
_RES_ZH = ("住宅", "居住", "住房", "民居", "民宅", "居民", "公寓", "宿舍", "别墅", "里弄",
           "新村", "农房", "农宅", "商住", "住户", "养老", "敬老", "福利院", "住", "宅")
_RES_EN = frozenset(("residential", "residence", "residences", "apartments", "apartment",
                     "flats", "flat", "house", "houses", "housing", "home", "homes",
                     "dwelling", "dwellings", "dormitory", "dorm", "detached",
                     "semidetached", "terrace", "bungalow", "villa", "cabin", "farm",
                     "farmhouse", "houseboat", "caravan", "shophouse"))
_NONRES_ZH = ("商业", "商务", "商场", "商店", "商铺", "店铺", "门面", "超市", "市场", "写字楼",
              "办公", "工业", "工厂", "厂房", "厂", "公建", "公共", "配套", "公司", "机关",
              "政府", "行政", "学校", "教学", "教育", "幼儿园", "托儿", "医院", "卫生", "诊所",
              "仓库", "仓储", "物流", "车库", "车棚", "停车", "酒店", "宾馆", "旅馆", "饭店",
              "寺", "庙", "教堂", "宗教", "体育", "文化", "科研", "变电", "配电", "泵房", "门卫",
              "厕所", "公厕", "附属", "设施", "农业", "养殖", "大棚", "加油", "车站", "银行")
_NONRES_EN = frozenset((
    "commercial", "office", "offices", "industrial", "retail", "shop", "shops", "store",
    "supermarket", "mall", "kiosk", "school", "university", "college", "kindergarten",
    "hospital", "clinic", "church", "chapel", "cathedral", "mosque", "temple", "shrine",
    "religious", "warehouse", "storage", "garage", "garages", "carport", "parking", "shed",
    "hangar", "greenhouse", "barn", "stable", "cowshed", "sty", "auxiliary", "government",
    "public", "civic", "station", "transportation", "train", "hotel", "factory",
    "manufacture", "service", "sports", "stadium", "grandstand", "pavilion", "gatehouse",
    "toilets", "toilet", "transformer", "tower", "bridge", "boathouse", "guardhouse",
    "fire", "police", "bank", "museum", "library", "theatre", "cinema", "worship",
    "embassy", "consulate", "arts", "attraction", "centre", "center", "hall", "townhall",
    "pagoda", "monastery", "synagogue", "restaurant", "cafe", "pub", "bar", "market",
    "pharmacy", "laboratory", "research", "exhibition", "gym", "pool", "barracks"))
#: OSM values whose words mislead a word match
_USE_EXACT = {"farm_auxiliary": False, "semidetached_house": True, "static_caravan": True,
              "mixed_use": True, "stilt_house": True}
_RES_FLAG_YES = frozenset(("1", "1.0", "true", "yes", "y", "t", "是", "√", "住宅"))
_RES_FLAG_NO = frozenset(("0", "0.0", "false", "no", "n", "f", "否", "×", "非住宅"))


def classify_use(use: object) -> bool | None:
    """True = residential, False = not residential, None = the use does not say.

    住宅/居住/公寓/宿舍/商住 and OSM ``residential``/``apartments``/``house`` ... are
    residential (a mixed 商住 building has residents); 非住宅/商业/办公/工业/公建/学校/仓库
    and OSM ``commercial``/``office``/``warehouse`` ... are not; empty values and
    ``yes``/``building``/其他 say nothing (None). English words are matched whole, so
    ``warehouse`` is not a ``house``.
    """
    if use is None or (isinstance(use, float) and np.isnan(use)):
        return None
    s = unicodedata.normalize("NFKC", str(use)).strip().lower()
    if s in _USE_NONE:
        return None
    if s in _USE_EXACT:
        return _USE_EXACT[s]
    if any(w in s for w in _USE_NEG):
        return False
    words = set(re.split(r"[^a-z]+", s)) - {""}
    if any(w in s for w in _RES_ZH) or words & _RES_EN:
        return True
    if any(w in s for w in _NONRES_ZH) or words & _NONRES_EN:
        return False
    return None


def is_residential(use: object, *, default: bool = False) -> bool:
    """:func:`classify_use` as a bool; ``default`` when the use does not say."""
    c = classify_use(use)
    return default if c is None else c


def residential_flag(value: object) -> bool | None:
    """A 是否住宅/residential cell: 是/1/true -> True, 否/0/false -> False, else by use text."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    s = unicodedata.normalize("NFKC", str(value)).strip().lower()
    if s in _RES_FLAG_YES:
        return True
    if s in _RES_FLAG_NO:
        return False
    return classify_use(s)


def _something_given(values: pd.Series) -> np.ndarray:
    """Cells holding a number other than 0 or an unusable entry (约300, -5, 1e9): the
    source meant people/dwellings there. Empty cells and 0 say nothing."""
    from pucha.gis.validate import parse_number

    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        f = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
        return np.isfinite(f) & (f != 0)
    out = np.zeros(len(values), dtype=bool)
    for i, v in enumerate(values.tolist()):
        f, why = parse_number(v)
        out[i] = why == "text" or (why == "" and f != 0)
    return out


def _by_value(values: list, fn: Any) -> list:
    """``fn`` over each distinct value once (use texts repeat: 住宅, 住宅, ...)."""
    memo: dict = {}
    out = []
    for v in values:
        key = ("nan",) if isinstance(v, float) and np.isnan(v) else (type(v).__name__, v)
        if key not in memo:
            memo[key] = fn(v)
        out.append(memo[key])
    return out


def residential(bg: gpd.GeoDataFrame, raw_pop: pd.Series | None, raw_dw: pd.Series | None,
                 method: str) -> tuple[pd.Series, list[dict]]:
    """The residential flag of each building, and info rows for the ones the data left open.

    From the ``residential`` column (是/否), else from ``use`` (:func:`classify_use`). A
    building whose use does not say is residential when the source gives it people or
    dwellings; otherwise only under ``method = "totals"`` (the totals are shared by floor
    area and nothing tells these buildings apart); under ``given``/``dwellings`` it is
    not residential and gets no people.
    """
    n = len(bg)
    flag = [None] * n
    if "residential" in bg:
        flag = _by_value(bg["residential"].tolist(), residential_flag)
    uses = bg["use"].tolist()
    by_use = _by_value(uses, classify_use)
    flag = [f if f is not None else u for f, u in zip(flag, by_use)]
    unknown = np.array([f is None for f in flag], dtype=bool)
    given = np.zeros(n, dtype=bool)
    for raw in (raw_pop, raw_dw):
        if raw is not None:
            given |= _something_given(raw)
    res = np.array([bool(f) for f in flag], dtype=bool)
    res[unknown & given] = True
    res[unknown & ~given] = method == "totals"
    probs: list[dict] = []
    ids = bg["building_id"].astype(str).values
    vals = sorted({str(u) for u, k in zip(uses, unknown) if k})
    shown = ", ".join(repr(v) for v in vals[:8]) + (" ..." if len(vals) > 8 else "")
    how = ("map the use column (fields = { use = \"<column>\" }), or a 是否住宅 column "
           "(fields = { residential = \"<column>\" }), or set values = { residential = ... }")
    yes = unknown & res
    if yes.any():
        why = ("people or dwellings are given for them" if given[yes].all() else
               "method = \"totals\" shares the totals over them by floor area"
               if not given[yes].any() else
               "people/dwellings are given, or method = \"totals\" shares the totals by "
               "floor area")
        probs.append(problem("use_unknown", "buildings", sorted(ids[yes])[:500],
                             f"buildings: {int(yes.sum())} building(s) whose use does not say "
                             f"whether people live there ({shown}) counted as residential: "
                             f"{why}. To decide it yourself, {how}", severity="info"))
    no = unknown & ~res
    if no.any():
        probs.append(problem("use_unknown", "buildings", sorted(ids[no])[:500],
                             f"buildings: {int(no.sum())} building(s) whose use does not say "
                             f"whether people live there ({shown}) and with no people or "
                             f"dwellings given counted as NOT residential (0 people). If "
                             f"people live there, give their population/dwellings, or {how}",
                             severity="info"))
    return pd.Series(res, index=bg.index), probs

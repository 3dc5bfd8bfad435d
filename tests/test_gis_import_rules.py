"""pucha import: residential or not, the 街镇 name, QGIS styles, names the maps cannot draw.

Fixture (EPSG:4549 metres, around 青浦), one 居/村 holding five 10 x 10 m buildings::

    +--------------------------------------------+   居/村 310118002001
    |  r1 住宅   n1 非住宅   u1 ?   u2 ?   c1 商业  |   (u1, u2: use not given)
    +--------------------------------------------+
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import tomli_w
from shapely.geometry import box

from pucha.config import load_config
from pucha.gis import schema as S
from pucha.gis.project import classify_use, import_project, is_residential, residential_flag
from pucha.gis.write import list_layers, read_layer

X0, Y0 = 509_500.0, 3_446_500.0
TOWN = "310118002"
V = "310118002001"


# --------------------------------------------------------------------------- use text
@pytest.mark.parametrize("use", [
    "住宅", "居住", "居住用地", "住宅楼", "公寓", "宿舍", "别墅", "商住楼", "商业/住宅", "农村住房",
    "residential", "Residential", "apartments", "house", "semidetached_house", "dormitory",
    "detached", "terrace", "养老院"])
def test_residential_uses(use: str) -> None:
    assert classify_use(use) is True
    assert is_residential(use) is True


@pytest.mark.parametrize("use", [
    "非住宅", "非居住", "商业", "办公", "工业", "公建", "公共建筑", "厂房", "学校", "医院",
    "住院部", "居委会办公", "仓库", "车库", "commercial", "office", "industrial", "retail",
    "place_of_worship", "embassy", "arts_centre", "community_centre", "attraction",
    "warehouse", "greenhouse", "boathouse", "farm_auxiliary", "garages", "non-residential",
    "school", "hotel"])
def test_non_residential_uses(use: str) -> None:
    assert classify_use(use) is False
    assert is_residential(use, default=True) is False


@pytest.mark.parametrize("use", [None, math.nan, "", "  ", "yes", "building", "其他", "未知",
                                 "建筑", "construction", "roof", "mixed-whatever?"])
def test_unknown_uses(use: object) -> None:
    assert classify_use(use) is None
    assert is_residential(use) is False and is_residential(use, default=True) is True


@pytest.mark.parametrize("value,expect", [
    ("是", True), ("否", False), ("1", True), (0, False), (1.0, True), (True, True),
    ("非住宅", False), ("住宅", True), ("住宅楼", True), ("商业", False), ("", None),
    (None, None), (math.nan, None), ("?", None)])
def test_residential_flag(value: object, expect: bool | None) -> None:
    assert residential_flag(value) is expect


# --------------------------------------------------------------------------- fixture
def _sq(i: int) -> object:
    return box(X0 + 20 * i, Y0, X0 + 20 * i + 10, Y0 + 10)


def _project(tmp: Path, *, method: str, buildings: dict, township: dict | None = None,
             name: str = "项目里的名字") -> Path:
    gpd.GeoDataFrame({"居委会代码": [V], "居委会名称": ["测试居委会"]},
                     geometry=[box(X0 - 50, Y0 - 50, X0 + 200, Y0 + 60)],
                     crs="EPSG:4549").to_file(tmp / "villages.gpkg")
    n = len(buildings["编号"])
    gpd.GeoDataFrame(buildings, geometry=[_sq(i) for i in range(n)],
                     crs="EPSG:4549").to_file(tmp / "b.gpkg")
    doc: dict = {"project": {"name": name, "township_code": TOWN, "gpkg": "p.gpkg"},
                 "layers": {"buildings": {"path": "b.gpkg"},
                            "villages": {"path": "villages.gpkg"}},
                 "population": {"method": method}}
    if method == "totals":
        pd.DataFrame({"居委会代码": [V], "人口": [100]}).to_csv(tmp / "totals.csv", index=False)
        doc["population"]["totals"] = "totals.csv"
    if township is not None:
        gpd.GeoDataFrame(township, geometry=[box(X0 - 50, Y0 - 50, X0 + 200, Y0 + 60)],
                         crs="EPSG:4549").to_file(tmp / "town.gpkg")
        doc["layers"]["township"] = {"path": "town.gpkg"}
    (tmp / "p.toml").write_text(tomli_w.dumps(doc), encoding="utf-8")
    return tmp / "p.toml"


FIVE = {"编号": ["r1", "n1", "u1", "u2", "c1"],
        "用途": ["住宅", "非住宅", "", "其他", "商业"]}


def _rows(res: object, code: str) -> list[tuple[str, str]]:
    p = res.problems  # type: ignore[attr-defined]
    return [(s, f) for s, f in zip(p["severity"][p["code"] == code],
                                   p["feature_ids"][p["code"] == code])]


def test_given_unknown_use_residential_only_with_people(tmp_path: Path) -> None:
    """given: u1 has 12 people -> residential; u2 has none -> not residential, 0 people."""
    b = dict(FIVE, 人口=[30.0, 5.0, 12.0, np.nan, np.nan])
    res = import_project(load_config(_project(tmp_path, method="given", buildings=b)))
    out = read_layer(res.gpkg, S.LAYER_BUILDINGS).set_index("building_id")
    assert out["residential"].astype(bool).to_dict() == {
        "c1": False, "n1": False, "r1": True, "u1": True, "u2": False}
    # the people given stay where they are, also on the 非住宅 building
    assert out["population"].to_dict() == {"c1": 0, "n1": 5, "r1": 30, "u1": 12, "u2": 0}
    assert res.summary["population_in"] == res.summary["population_out"] == 47
    assert not out["pop_guessed"].astype(bool).any()
    rows = _rows(res, "use_unknown")
    assert sorted(rows) == [("info", "u1"), ("info", "u2")]
    msg = dict(zip(res.problems["feature_ids"], res.problems["message"]))
    assert "NOT residential" in msg["u2"]
    assert "counted as residential: people or dwellings are given for them" in msg["u1"]


def test_given_unusable_population_counts_as_people(tmp_path: Path) -> None:
    """A population the register gave but that cannot be used ('约300') still says someone
    lives there: u2 is residential and estimated from the others' density."""
    b = dict(FIVE, 人口=["30", "0", "", "约300", ""])
    res = import_project(load_config(_project(tmp_path, method="given", buildings=b)))
    out = read_layer(res.gpkg, S.LAYER_BUILDINGS).set_index("building_id")
    assert out.loc["u2", "residential"] and not out.loc["u1", "residential"]
    assert bool(out.loc["u2", "pop_guessed"]) and out.loc["u2", "population"] == 30
    assert out.loc["u1", "population"] == 0 and out.loc["n1", "population"] == 0


def test_totals_unknown_use_shares_by_floor_area(tmp_path: Path) -> None:
    """totals: 100 people over r1, u1, u2 (equal floor area); 非住宅 and 商业 get none."""
    res = import_project(load_config(_project(tmp_path, method="totals", buildings=dict(FIVE))))
    out = read_layer(res.gpkg, S.LAYER_BUILDINGS).set_index("building_id")
    assert out["residential"].astype(bool).to_dict() == {
        "c1": False, "n1": False, "r1": True, "u1": True, "u2": True}
    assert out.loc[["n1", "c1"], "population"].tolist() == [0, 0]
    assert sorted(out.loc[["r1", "u1", "u2"], "population"]) == [33, 33, 34]
    assert int(out["population"].sum()) == 100 == res.summary["population_out"]
    assert _rows(res, "use_unknown") == [("info", "u1,u2")]
    msg = res.problems.loc[res.problems["code"] == "use_unknown", "message"].iloc[0]
    assert "counted as residential: method = \"totals\" shares the totals" in msg
    assert "'', '其他'" in msg                            # the use values that said nothing


def test_residential_column_wins_over_use(tmp_path: Path) -> None:
    b = dict(FIVE, 是否住宅=["否", "是", "", "是", ""], 人口=[1.0, 2.0, 3.0, 4.0, 0.0])
    res = import_project(load_config(_project(tmp_path, method="given", buildings=b)))
    out = read_layer(res.gpkg, S.LAYER_BUILDINGS).set_index("building_id")
    # r1/n1/u2 from 是否住宅; u1: blank flag, blank use, people given; c1: blank -> 商业
    assert out["residential"].astype(bool).to_dict() == {
        "c1": False, "n1": True, "r1": False, "u1": True, "u2": True}
    assert int(out["population"].sum()) == 10


# --------------------------------------------------------------------------- 街镇 name
def test_township_name_from_layer(tmp_path: Path) -> None:
    toml = _project(tmp_path, method="totals", buildings=dict(FIVE),
                    township={"街道代码": [TOWN], "街道名称": ["盈浦街道"]})
    res = import_project(load_config(toml))
    t = read_layer(res.gpkg, S.LAYER_TOWNSHIP)
    assert t["name"].tolist() == ["盈浦街道"] and t["code"].tolist() == [TOWN]
    assert res.summary["township_name"] == "盈浦街道"
    assert _rows(res, "township_name_differs") == [("info", TOWN)]


@pytest.mark.parametrize("township", [{"街道代码": [TOWN]}, {"街道代码": [TOWN], "名称": [""]},
                                      None])
def test_township_name_falls_back_to_project(tmp_path: Path, township: dict | None) -> None:
    toml = _project(tmp_path, method="totals", buildings=dict(FIVE), township=township)
    res = import_project(load_config(toml))
    assert read_layer(res.gpkg, S.LAYER_TOWNSHIP)["name"].tolist() == ["项目里的名字"]
    assert not _rows(res, "township_name_differs")


# --------------------------------------------------------------------------- QGIS styles
def test_import_writes_qgis_styles_in_place(tmp_path: Path) -> None:
    import sqlite3

    res = import_project(load_config(_project(tmp_path, method="totals", buildings=dict(FIVE))))
    assert "layer_styles" in list_layers(res.gpkg)
    con = sqlite3.connect(res.gpkg)
    try:
        rows = con.execute("SELECT f_table_name, styleName, useAsDefault FROM layer_styles "
                           "ORDER BY f_table_name").fetchall()
        ok = con.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        con.close()
    assert rows == [(S.LAYER_BUILDINGS, "pucha", 1)] + [  # problems: one table per type
        (f"{S.LAYER_PROBLEMS}_{p}", "pucha", 1) for p in ("lines", "points", "polygons")] + [
        (S.LAYER_VILLAGES, "pucha", 1)]
    assert ok == "ok"
    # nothing but the project is left beside it (no temporary copies)
    assert sorted(os.listdir(tmp_path / "")) == sorted(
        ["b.gpkg", "p.gpkg", "p.toml", "totals.csv", "villages.gpkg"])


# --------------------------------------------------------------------------- glyphs
def test_emoji_names_are_a_warning_naming_feature_and_characters(tmp_path: Path) -> None:
    b = dict(FIVE, 建筑名称=["阳光🌞小区1号楼", "", "好", "家\u200d人", "商场"])
    res = import_project(load_config(_project(tmp_path, method="totals", buildings=b)))
    rows = res.problems[res.problems["code"] == "text_glyph_missing"]
    assert sorted(rows["feature_ids"]) == ["r1", "u2"]
    assert set(rows["severity"]) == {"warning"}
    msg = dict(zip(rows["feature_ids"], rows["message"]))
    assert "阳光🌞小区1号楼" in msg["r1"] and "U+1F31E" in msg["r1"]
    assert "U+200D" in msg["u2"]
    # the data itself is imported unchanged
    out = read_layer(res.gpkg, S.LAYER_BUILDINGS).set_index("building_id")
    assert out.loc["r1", "name"] == "阳光🌞小区1号楼"


def test_glyph_rule_without_a_font(monkeypatch: pytest.MonkeyPatch) -> None:
    """With no CJK font installed the Unicode rule still catches emoji & co."""
    from pucha.gis import validate

    monkeypatch.setattr(validate, "_font_charmap", lambda: None)
    got = validate.undrawable_chars("阳光🌞小区\u200b\ue000\x01❤\ufe0f é\n")
    assert got == {"🌞", "\u200b", "\ue000", "\x01", "\ufe0f"}
    frame = pd.DataFrame({"id": [f"b{i}" for i in range(60)], "name": ["🏠"] * 60})
    rows = validate.check_glyphs(frame, "buildings", "id", max_rows=50)
    assert len(rows) == 51 and len(rows[-1]["feature_ids"].split(",")) == 10
    assert validate.check_glyphs(frame.assign(name="正常名字"), "buildings", "id") == []


def test_glyph_rule_uses_the_map_font_when_installed() -> None:
    from pucha.gis import validate

    fm = validate._font_charmap()
    if fm is None:
        pytest.skip("no CJK font installed here")
    # a CJK Extension B character is not an emoji, but the SC map font lacks it
    assert validate.undrawable_chars("𠀀庆华") == ({"𠀀"} if 0x20000 not in fm[1] else set())

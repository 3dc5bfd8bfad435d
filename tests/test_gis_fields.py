"""pucha.gis.fields and pucha.gis.privacy: aliases, overrides, personal columns."""

from __future__ import annotations

import logging

import pandas as pd
import pytest

from pucha.errors import ConfigError, InputError
from pucha.gis.fields import resolve_fields
from pucha.gis.privacy import drop_personal_columns, is_personal_column


def test_chinese_and_english_aliases() -> None:
    cols = ["编号", "建筑名称", "层数", "高度", "户数", "人口", "地址", "用途", "geometry"]
    m = resolve_fields(cols, "buildings")
    assert m == {"building_id": "编号", "name": "建筑名称", "floors": "层数", "height": "高度",
                 "dwellings": "户数", "population": "人口", "address": "地址", "use": "用途"}
    m = resolve_fields(["ID", "POP", "Floors", "住房单元"], "buildings")
    assert m["population"] == "POP" and m["floors"] == "Floors" and m["dwellings"] == "住房单元"
    assert resolve_fields(["居委会代码", "居委会名称"], "villages") == {
        "village_code": "居委会代码", "name": "居委会名称"}
    assert resolve_fields(["村委会代码", "名称"], "villages")["village_code"] == "村委会代码"


def test_override_wins_and_short_names() -> None:
    m = resolve_fields(["人口", "常住人口2020", "编号"], "buildings",
                       {"population": "常住人口2020", "id": "编号"})
    assert m["population"] == "常住人口2020" and m["building_id"] == "编号"


def test_unknown_model_field_lists_valid_ones() -> None:
    with pytest.raises(ConfigError, match="unknown model field 'people'.*population"):
        resolve_fields(["人口"], "buildings", {"people": "人口"})


def test_missing_source_column_lists_columns() -> None:
    with pytest.raises(InputError, match="no column '人数'.*人口, 编号"):
        resolve_fields(["人口", "编号"], "buildings", {"population": "人数"}, where="b.shp")


@pytest.mark.parametrize("col", ["姓名", "户主", "户主姓名", "联系人", "身份证号", "证件号码", "电话",
                                 "手机", "联系方式", "owner", "Resident_Name", "phone", "TEL",
                                 "mobile", "id_card", "IDCARD"])
def test_personal_columns(col: str) -> None:
    assert is_personal_column(col)


@pytest.mark.parametrize("col", ["name", "建筑名称", "名称", "height", "hotel_kind", "居委会代码",
                                 "building_id", "address", "地址"])
def test_not_personal(col: str) -> None:
    assert not is_personal_column(col)


def test_drop_warns_and_keep(caplog: pytest.LogCaptureFixture) -> None:
    df = pd.DataFrame({"编号": [1], "户主姓名": ["张三"], "phone": ["13800000000"], "名称": ["甲楼"]})
    with caplog.at_level(logging.WARNING, logger="pucha.gis.privacy"):
        out, dropped = drop_personal_columns(df, where="b.csv")
    assert dropped == ["户主姓名", "phone"] and list(out.columns) == ["编号", "名称"]
    assert "户主姓名" in caplog.text and "phone" in caplog.text
    out, dropped = drop_personal_columns(df, keep=["phone"])
    assert dropped == ["户主姓名"] and "phone" in out.columns

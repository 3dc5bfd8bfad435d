"""The importer over deliberately broken 规土所 inputs: one clear message or problem row
per defect, never a traceback.

Fixture (EPSG:4549, around 青浦 121.1E 31.15N)::

    +------------------------------+
    | 居/村 310118002001           |   b1..b5 inside; b2 a bow-tie (invalid)
    |  b1  b2  b3  b4(dup id b3)   |   b3 population -5
    +------------------------------+   b9 far outside every 居/村
                                        b9
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pytest
import tomli_w
from click.testing import CliRunner
from shapely.geometry import Polygon, box

from pucha.config import load_config
from pucha.gis import schema as S
from pucha.gis.project import import_project
from pucha.gis.write import read_layer

X0, Y0 = 509_500.0, 3_446_500.0    # 121.1E 31.15N in EPSG:4549


def _sq(i: float, j: float = 0, s: float = 10) -> Polygon:
    return box(X0 + i, Y0 + j, X0 + i + s, Y0 + j + s)


def _buildings() -> gpd.GeoDataFrame:
    bowtie = Polygon([(X0 + 20, Y0), (X0 + 30, Y0 + 10), (X0 + 30, Y0), (X0 + 20, Y0 + 10)])
    return gpd.GeoDataFrame({
        "编号": ["b1", "b2", "b3", "b3", "b9"],
        "建筑名称": ["住宅一号楼", "住宅二号楼", "三号楼", "四号楼", "远处仓库"],
        "人口": [30, 20, -5, 12, 0],
    }, geometry=[_sq(0), bowtie, _sq(40), _sq(60), _sq(5000)], crs="EPSG:4549")


def _project(tmp: Path, buildings: dict, **extra: dict) -> Path:
    gpd.GeoDataFrame({"居委会代码": ["310118002001"], "居委会名称": ["测试居委会"]},
                     geometry=[box(X0 - 100, Y0 - 100, X0 + 200, Y0 + 100)],
                     crs="EPSG:4549").to_file(tmp / "villages.gpkg")
    doc = {"project": {"name": "盈浦街道", "township_code": "310118002", "gpkg": "p.gpkg"},
           "layers": {"buildings": buildings, "villages": {"path": "villages.gpkg"}, **extra},
           "population": {"method": "given"}}
    (tmp / "p.toml").write_text(tomli_w.dumps(doc), encoding="utf-8")
    return tmp / "p.toml"


def _run(toml: Path) -> tuple[int, str]:
    from pucha.scripts.cli import main

    res = CliRunner().invoke(_main_cmd(main), [str(toml)], catch_exceptions=True)
    return res.exit_code, res.output + (str(res.exception) if res.exception and not
                                        isinstance(res.exception, SystemExit) else "")


def _main_cmd(main):  # a click wrapper so CliRunner exercises main()'s error handling
    import click

    @click.command()
    @click.argument("toml")
    def wrapper(toml: str) -> None:
        main(["import", toml])

    return wrapper


def test_repairable_defects_each_give_a_problem_row(tmp_path: Path) -> None:
    b = _buildings()
    b.to_file(tmp_path / "b.shp", encoding="GBK")
    (tmp_path / "b.cpg").unlink(missing_ok=True)            # GBK shapefile without .cpg
    toml = _project(tmp_path, {"path": "b.shp"})
    res = import_project(load_config(toml))
    p = res.problems
    rows = {c: list(p["feature_ids"][p["code"] == c]) for c in sorted(set(p["code"]))}
    assert rows["invalid_geometry"] == ["b2"]
    assert rows["duplicate_id"] == ["b3,b3-2"]
    assert rows["population_negative"] == ["b3"]
    assert rows["building_dropped_outside"] == ["b9"]
    assert "text_garbled" not in rows                        # GBK detected without .cpg
    out = read_layer(res.gpkg, S.LAYER_BUILDINGS)
    # the bow-tie b2 is repaired into two triangles and split into b2 and b2-2 (10 + 10)
    assert sorted(out["name"]) == sorted(["住宅一号楼", "住宅二号楼", "住宅二号楼", "三号楼",
                                          "四号楼"])
    assert rows["building_split_multipart"] == ["b2,b2-2"]
    assert out.set_index("building_id").loc[["b2", "b2-2"], "population"].tolist() == [10, 10]
    assert res.summary["buildings_in"] == 5 and res.summary["buildings_out"] == 5
    assert res.summary["buildings_dropped"] == 1
    assert bool(out.set_index("building_id").loc["b3", "pop_guessed"])


def test_utf8_shapefile_with_cut_chinese_field_names(tmp_path: Path) -> None:
    """建筑名称 is 12 bytes in UTF-8: the .dbf keeps 10, cutting the 4th character."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)   # GDAL: 'laundered field name'
        _buildings().to_file(tmp_path / "b.shp", encoding="UTF-8")
    toml = _project(tmp_path, {"path": "b.shp", "fields": {"name": "建筑名"}})
    res = import_project(load_config(toml))
    out = read_layer(res.gpkg, S.LAYER_BUILDINGS)
    assert "住宅一号楼" in set(out["name"])
    assert res.summary["buildings_in"] == 5


def test_csv_with_resident_names(tmp_path: Path) -> None:
    b = _buildings().iloc[[0, 2]].copy()
    b["户主姓名"] = ["张三丰", "李四光"]
    b["联系电话"] = ["13800138000", "13900139000"]
    b["WKT"] = b.geometry.to_wkt()
    b.drop(columns="geometry").to_csv(tmp_path / "b.csv", index=False, encoding="utf-8")
    toml = _project(tmp_path, {"path": "b.csv", "wkt": "WKT", "crs": "EPSG:4549"})
    res = import_project(load_config(toml))
    rows = res.problems[res.problems["code"] == "personal_data_dropped"]
    assert len(rows) == 1 and "户主姓名" in rows["message"].iloc[0]
    assert "联系电话" in rows["message"].iloc[0]
    data = res.gpkg.read_bytes()
    for secret in ("张三丰", "李四光", "13800138000"):
        assert secret.encode("utf-8") not in data


@pytest.mark.parametrize("defect,expect", [
    ("no_crs", r'crs = "EPSG:4326"'),
    ("swapped", "northing and easting are swapped"),
    ("no_shx", "incomplete: b.shx"),
    ("zero", "empty (0 bytes)"),
])
def test_fatal_defects_clear_message_no_traceback(tmp_path: Path, defect: str,
                                                  expect: str) -> None:
    b = _buildings()
    if defect == "swapped":
        from shapely import transform

        b = b.set_geometry(transform(b.geometry.values, lambda xy: xy[:, ::-1]))
    b.to_file(tmp_path / "b.shp", encoding="GBK")
    if defect == "no_crs":
        (tmp_path / "b.prj").unlink()
    if defect == "no_shx":
        (tmp_path / "b.shx").unlink()
    if defect == "zero":
        (tmp_path / "b.shp").write_bytes(b"")
    toml = _project(tmp_path, {"path": "b.shp"})
    code, output = _run(toml)
    assert code == 2, output
    assert "Traceback" not in output
    assert expect in output
    assert "b.shp" in output
    assert not (tmp_path / "p.gpkg").exists()

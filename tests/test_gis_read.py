"""pucha.gis.read: every format, encodings, damaged files, CSV geometry.

Fixture (EPSG:4549 metres)::

    +----+      one 10 x 10 m square building at (500000, 3450000)
    | 甲 |      name 住宅楼甲 / 人口 30
    +----+
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pytest
from shapely.geometry import box

from pucha.config import LayerSource
from pucha.errors import CRSError, InputError
from pucha.gis.read import detect_encoding, looks_garbled, read_source


def _frame() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"编号": ["A1", "A2"], "名称": ["住宅楼甲", "商场乙"], "人口": [30, 0]},
                            geometry=[box(500000, 3450000, 500010, 3450010),
                                      box(500020, 3450000, 500030, 3450010)], crs="EPSG:4549")


@pytest.mark.parametrize("enc", ["UTF-8", "GBK"])
@pytest.mark.parametrize("cpg", [True, False])
def test_shapefile_encodings(tmp_path: Path, enc: str, cpg: bool) -> None:
    _frame().to_file(tmp_path / "b.shp", encoding=enc)
    if not cpg:
        (tmp_path / "b.cpg").unlink(missing_ok=True)
    else:
        (tmp_path / "b.cpg").write_text(enc)
    g = read_source(LayerSource(path="b.shp"), base_dir=tmp_path, kind="buildings")
    assert list(g["名称"]) == ["住宅楼甲", "商场乙"]
    assert "名称" in g.columns
    assert g.attrs["pucha_problems"] == []


def test_declared_wrong_encoding_is_reported_as_garbled(tmp_path: Path) -> None:
    _frame().to_file(tmp_path / "b.shp", encoding="UTF-8")
    (tmp_path / "b.cpg").unlink(missing_ok=True)
    g = read_source(LayerSource(path="b.shp", encoding="latin1"), base_dir=tmp_path,
                    kind="buildings")
    codes = [p["code"] for p in g.attrs["pucha_problems"]]
    assert codes == ["text_garbled"]
    assert "encoding" in g.attrs["pucha_problems"][0]["message"]


def test_looks_garbled() -> None:
    assert looks_garbled("å±…å§”ä¼š")
    assert looks_garbled("住宅\ufffd")
    assert not looks_garbled("住宅楼")
    assert not looks_garbled("Café")
    assert detect_encoding("居委会".encode("gbk")) == "gb18030"
    assert detect_encoding("居委会".encode("utf-8")) == "utf-8"


@pytest.mark.parametrize("ext,driver", [("gpkg", "GPKG"), ("geojson", "GeoJSON"),
                                        ("gdb", "OpenFileGDB")])
def test_gdal_formats_reprojected(tmp_path: Path, ext: str, driver: str) -> None:
    f = tmp_path / f"b.{ext}"
    frame = _frame().to_crs(4326)
    frame["人口"] = frame["人口"].astype(float)   # FileGDB has no Integer64 by default
    frame.to_file(f, driver=driver, layer="b")
    g = read_source(LayerSource(path=f.name), base_dir=tmp_path, kind="buildings",
                    crs="EPSG:4549")
    assert g.crs.to_epsg() == 4549
    assert abs(g.geometry.iloc[0].area - 100) < 0.5


def test_multi_layer_needs_layer_name(tmp_path: Path) -> None:
    f = tmp_path / "m.gpkg"
    _frame().to_file(f, layer="one")
    _frame().to_file(f, layer="two")
    with pytest.raises(InputError, match="several layers.*layer = "):
        read_source(LayerSource(path="m.gpkg"), base_dir=tmp_path, kind="roads")
    with pytest.raises(InputError, match="layers: one, two"):
        read_source(LayerSource(path="m.gpkg", layer="three"), base_dir=tmp_path, kind="roads")
    assert len(read_source(LayerSource(path="m.gpkg", layer="two"), base_dir=tmp_path,
                           kind="roads")) == 2


def test_csv_wkt_and_xy(tmp_path: Path) -> None:
    (tmp_path / "w.csv").write_text("编号,WKT\nA,\"POLYGON((500000 3450000,500001 3450000,500001 3450001,500000 3450000))\"\n",
                                    encoding="gbk")
    g = read_source(LayerSource(path="w.csv", crs="EPSG:4549", wkt="WKT"), base_dir=tmp_path,
                    kind="buildings")
    assert g.geometry.iloc[0].geom_type == "Polygon" and list(g["编号"]) == ["A"]
    (tmp_path / "p.csv").write_text("名称,经度,纬度\n甲,121.1,31.1\n乙,１２１．２,31.2\n",
                                    encoding="utf-8-sig")
    g = read_source(LayerSource(path="p.csv", crs="EPSG:4326"), base_dir=tmp_path,
                    kind="buildings", crs="EPSG:4549")
    assert len(g) == 2 and g.geometry.notna().all()
    assert list(g["名称"]) == ["甲", "乙"]


def test_csv_without_coordinates(tmp_path: Path) -> None:
    (tmp_path / "c.csv").write_text("a,b\n1,2\n")
    with pytest.raises(InputError, match="wkt = .* or x = "):
        read_source(LayerSource(path="c.csv", crs="EPSG:4326"), base_dir=tmp_path,
                    kind="buildings")


def test_csv_without_crs_is_refused(tmp_path: Path) -> None:
    (tmp_path / "p.csv").write_text("x,y\n121.1,31.1\n")
    with pytest.raises(CRSError, match=r'\[layers.buildings\]: crs = "EPSG:4326"'):
        read_source(LayerSource(path="p.csv"), base_dir=tmp_path, kind="buildings")


def test_damaged_files(tmp_path: Path) -> None:
    (tmp_path / "zero.gpkg").write_bytes(b"")
    with pytest.raises(InputError, match="empty"):
        read_source(LayerSource(path="zero.gpkg"), base_dir=tmp_path, kind="buildings")
    with pytest.raises(InputError, match="not found"):
        read_source(LayerSource(path="nope.shp"), base_dir=tmp_path, kind="buildings")
    _frame().to_file(tmp_path / "t.gpkg")
    data = (tmp_path / "t.gpkg").read_bytes()
    (tmp_path / "trunc.gpkg").write_bytes(data[: len(data) // 3])
    with pytest.raises(InputError, match="trunc.gpkg"):
        read_source(LayerSource(path="trunc.gpkg"), base_dir=tmp_path, kind="buildings")
    (tmp_path / "junk.geojson").write_text("{not json")
    with pytest.raises(InputError, match="junk.geojson"):
        read_source(LayerSource(path="junk.geojson"), base_dir=tmp_path, kind="buildings")


@pytest.mark.parametrize("missing", [".shx", ".dbf"])
def test_shapefile_missing_part(tmp_path: Path, missing: str) -> None:
    _frame().to_file(tmp_path / "b.shp")
    (tmp_path / f"b{missing}").unlink()
    with pytest.raises(InputError, match=rf"incomplete: b\{missing}"):
        read_source(LayerSource(path="b.shp"), base_dir=tmp_path, kind="buildings")


def test_where_filter(tmp_path: Path) -> None:
    _frame().to_file(tmp_path / "b.gpkg")
    g = read_source(LayerSource(path="b.gpkg", where="人口 > 0"), base_dir=tmp_path,
                    kind="buildings")
    assert list(g["编号"]) == ["A1"]

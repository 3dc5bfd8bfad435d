"""The bundled demo data (pucha/data/demo/) and its builder (pucha/data/build_demo.py).

The demo is a derived 外滩街道 (310101013): real OSM buildings / roads / water, 居委会
cut from the township by roads and water, population totals from the 2020 census
density of 黄浦区. These tests check the files against the census rules the pipeline
relies on (居/村 tile the township, codes nest, totals add up) and that rebuilding
gives the same bytes.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely

from pucha.config import load_config
from pucha.data import build_demo as bd

DEMO = Path(bd.__file__).resolve().parent / "demo"
FILES = ("buildings.shp", "buildings.shx", "buildings.dbf", "buildings.prj", "buildings.cpg",
         "villages.geojson", "township.gpkg", "osm_context.gpkg", "population_totals.csv",
         "demo.toml", "README.md", "LICENSE-ODbL.txt")
TEXT_FILES = ("villages.geojson", "population_totals.csv", "demo.toml", "README.md",
              "LICENSE-ODbL.txt")


@pytest.fixture(scope="module")
def township() -> shapely.Polygon:
    gdf = pyogrio.read_dataframe(DEMO / "township.gpkg", layer="township").to_crs(bd.WORK_CRS)
    assert len(gdf) == 1
    return gdf.geometry.iloc[0]


@pytest.fixture(scope="module")
def villages() -> gpd.GeoDataFrame:
    return pyogrio.read_dataframe(DEMO / "villages.geojson").to_crs(bd.WORK_CRS)


@pytest.fixture(scope="module")
def totals() -> pd.DataFrame:
    return pd.read_csv(DEMO / "population_totals.csv", dtype={"居委会代码": str},
                       encoding="utf-8-sig")


def test_files_exist_and_small() -> None:
    missing = [f for f in FILES if not (DEMO / f).is_file()]
    assert not missing, f"demo files missing: {missing}; run python -m pucha.data.build_demo"
    size = sum(p.stat().st_size for p in DEMO.rglob("*") if p.is_file())
    assert size < 5 * 1024 * 1024, f"demo folder is {size / 1e6:.1f} MB, keep it under 5 MB"


def test_township_code_and_neighbours(township: shapely.Polygon) -> None:
    town = pyogrio.read_dataframe(DEMO / "township.gpkg", layer="township")
    assert town["街道代码"].tolist() == [bd.TOWNSHIP_CODE]
    assert town["街道名称"].tolist() == ["外滩街道（演示）"]   # marked: a derived outline
    nb = pyogrio.read_dataframe(DEMO / "township.gpkg", layer="neighbours").to_crs(bd.WORK_CRS)
    assert sorted(nb["街镇代码"]) == ["310109018", "310110018", "310115005"]
    assert nb["说明"].str.contains("演示").all()
    # neighbours touch the township but do not overlap it
    assert nb.intersection(township).area.max() < 1.0
    assert nb.geometry.touches(township).any() or nb.distance(township).min() < 1e-6


def test_villages_tile_the_township(township: shapely.Polygon,
                                    villages: gpd.GeoDataFrame) -> None:
    assert 6 <= len(villages) <= 12
    geoms = villages.geometry.values
    assert (villages.geom_type == "Polygon").all()
    assert shapely.coverage_is_valid(geoms), "居/村 overlap or leave slivers between them"
    overlap = sum(shapely.intersection(a, b).area for i, a in enumerate(geoms)
                  for b in geoms[i + 1:])
    assert overlap < 1.0, f"居/村 overlap by {overlap:.3f} m²"
    union = shapely.coverage_union_all(geoms)
    diff = shapely.symmetric_difference(union, township).area
    assert diff < 1.0, f"居/村 union differs from the township by {diff:.3f} m²"


def test_village_codes_and_labels(villages: gpd.GeoDataFrame) -> None:
    codes = villages["居委会代码"].tolist()
    assert codes == [f"{bd.TOWNSHIP_CODE}{i:03d}" for i in range(1, len(codes) + 1)]
    assert all(re.fullmatch(r"\d{12}", c) and c.startswith(bd.TOWNSHIP_CODE) for c in codes)
    assert villages["居委会名称"].tolist()[:2] == ["外滩演示一居委会", "外滩演示二居委会"]
    assert (villages["说明"] == bd.DERIVED_NOTE).all()


def test_totals_csv_like_excel(totals: pd.DataFrame, villages: gpd.GeoDataFrame) -> None:
    raw = (DEMO / "population_totals.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf"), "Excel's CSV UTF-8 starts with a BOM"
    assert b"\r\n" in raw
    assert list(totals.columns) == ["居委会代码", "人口"]
    assert totals["居委会代码"].tolist() == villages["居委会代码"].tolist()
    assert (totals["人口"] > 0).all()


def test_totals_sum_to_documented_figure(totals: pd.DataFrame,
                                         township: shapely.Polygon) -> None:
    readme = (DEMO / "README.md").read_text(encoding="utf-8")
    documented = int(re.search(r"\*\*([\d,]+)\*\* people", readme).group(1).replace(",", ""))
    assert int(totals["人口"].sum()) == documented
    assert 30_000 <= documented <= 60_000
    # and the figure follows from the census: 黄浦区 density x the township's land area
    water = pyogrio.read_dataframe(DEMO / "osm_context.gpkg", layer="water").to_crs(bd.WORK_CRS)
    polys = water[water.geom_type.isin(["Polygon", "MultiPolygon"])]
    land = township.area - shapely.union_all(polys.geometry.values).intersection(township).area
    expected = bd.HUANGPU_POPULATION / bd.HUANGPU_LAND_KM2 * land / 1e6
    assert abs(documented - expected) <= 1, (documented, expected)


def test_buildings_shapefile(villages: gpd.GeoDataFrame) -> None:
    assert (DEMO / "buildings.cpg").read_text(encoding="ascii").strip().upper() == "GBK"
    b = pyogrio.read_dataframe(DEMO / "buildings.shp")
    assert list(b.columns) == ["编号", "建筑名称", "用途", "是否住宅", "高度", "geometry"]
    assert b["编号"].is_unique
    assert ((b["用途"] == "住宅") == (b["是否住宅"] == "是")).all()
    assert (b["高度"].dropna() > 0).all()
    assert b.crs is not None and b.crs.to_epsg() == 4549
    res = b[b["用途"] == "住宅"]
    assert 300 <= len(res) < len(b)
    # heights on about half, never invented
    share = b["高度"].notna().mean()
    assert 0.3 < share < 0.8
    # every 居/村 holds housing, or its total could not be allocated
    joined = gpd.sjoin(gpd.GeoDataFrame(geometry=res.geometry.representative_point(),
                                        crs=res.crs).to_crs(bd.WORK_CRS),
                       villages[["居委会代码", "geometry"]], predicate="within")
    assert set(joined["居委会代码"]) == set(villages["居委会代码"])
    # the ids are real OSM ids from the extract
    src = pyogrio.read_dataframe(bd.SHARED / "osm" / "shanghai-lujiazui.gpkg", layer="buildings",
                                 columns=["id"], read_geometry=False)
    assert set(b["编号"]) <= set(src["id"].astype(str))


def test_demo_toml_loads() -> None:
    cfg = load_config(DEMO / "demo.toml")
    assert cfg.project.township_code == bd.TOWNSHIP_CODE
    assert cfg.population.method == "totals"
    assert cfg.resolve(cfg.population.totals).is_file()
    for kind, layer in cfg.layers.items():
        path = cfg.resolve(layer.path)
        assert path.is_file(), f"[layers.{kind}] path {path} missing"
        if layer.layer:
            assert layer.layer in [n for n, _ in pyogrio.list_layers(path)]
        cols = set(pyogrio.read_info(path, layer=layer.layer or None)["fields"])
        assert set(layer.fields.values()) <= cols, (kind, layer.fields, cols)


def test_context_layers_one_feature_per_id() -> None:
    for layer in ("roads", "water", "railways"):
        df = pyogrio.read_dataframe(DEMO / "osm_context.gpkg", layer=layer, read_geometry=False)
        assert df["id"].is_unique, f"{layer}: repeated ids"
        assert (df["id"] != "").all()


def test_readme_attribution() -> None:
    readme = (DEMO / "README.md").read_text(encoding="utf-8")
    assert "© OpenStreetMap contributors, ODbL 1.0" in readme
    assert "LICENSE-ODbL" in readme
    assert "ODbL" in (DEMO / "LICENSE-ODbL.txt").read_text(encoding="utf-8")


def test_largest_remainder() -> None:
    out = bd.largest_remainder(7, np.array([1.0, 2.0, 4.0]))
    assert out.tolist() == [1, 2, 4] and out.sum() == 7
    out = bd.largest_remainder(100, np.array([1.0, 1.0, 1.0]))
    assert out.sum() == 100 and out.max() - out.min() == 1


def _build(out: Path, seed: str, shared: Path) -> None:
    env = {**os.environ, "PYTHONHASHSEED": seed}
    subprocess.run([sys.executable, "-m", "pucha.data.build_demo", "-o", str(out),
                    "--shared-data", str(shared)], check=True, env=env,
                   capture_output=True)


def test_build_is_deterministic_and_committed_data_is_current(tmp_path: Path,
                                                              shared_data: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    _build(a, "1", shared_data)
    _build(b, "2", shared_data)
    names = sorted(p.name for p in a.iterdir())
    assert names == sorted(p.name for p in b.iterdir()) == sorted(FILES)
    for name in names:
        assert (a / name).read_bytes() == (b / name).read_bytes(), f"{name} differs between runs"
    for name in TEXT_FILES:
        assert (a / name).read_bytes() == (DEMO / name).read_bytes(), \
            f"committed demo/{name} is stale: run python -m pucha.data.build_demo"


def test_demo_imports_cleanly(tmp_path: Path) -> None:
    """The importer reads every demo file: all buildings kept, population in == out."""
    from pucha.gis.project import import_project
    from pucha.gis.write import read_layer

    readme = (DEMO / "README.md").read_text(encoding="utf-8")
    documented = int(re.search(r"\*\*([\d,]+)\*\* people", readme).group(1).replace(",", ""))
    out = tmp_path / "demo.gpkg"
    result = import_project(load_config(DEMO / "demo.toml"), out=out)
    s = result.summary
    # 743 OSM footprints: 2 duplicates and 5 building:part pieces inside their outline are
    # dropped at import (gis/footprints.py), each with a problem row: 736 buildings
    assert s["buildings_in"] == 743 and s["buildings_out"] == 736 and s["buildings_dropped"] == 7
    assert s["population_in"] == s["population_out"] == documented
    assert s["villages"] == len(pyogrio.read_dataframe(DEMO / "villages.geojson",
                                                       read_geometry=False))
    problems = read_layer(out, "problems")
    assert not (problems["severity"] == "error").any(), problems["message"].tolist()
    b = read_layer(out, "buildings")
    src = pyogrio.read_dataframe(DEMO / "buildings.shp", read_geometry=False)
    assert int(b["residential"].astype(bool).sum()) == int((src["是否住宅"] == "是").sum())
    assert int(b["population"].sum()) == documented

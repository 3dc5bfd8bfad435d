"""pucha check on the tiny two-village project of fixture_outputs::

      y=400 +-------------------+-------------------+
            |  A …001002        |  B …002002        |
            |  12 x 25 people   |  12 x 25 people   |
      y=200 +===================+===================+
            |  A …001001        |  B …002001        |
            |  12 x 25 + tower  |  12 x 25 people   |
      y=0   +-------------------+-------------------+

A = 310118002001 (areas 340 + 340 people: the tower, 80 people, is cut in two
parts of 40, floors 1-10 in …001001 and 11-20 in …001002), B = 310118002002
(300 + 300). Each edit below breaks one rule; the check must name it.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import shapely
from click.testing import CliRunner

from fixture_outputs import VA, VB, make_tiny_project
from pucha.gis.styles import connect_gpkg
from pucha.gis.write import read_layer
from pucha.partition.check import check_plan, effective_assignment
from pucha.scripts.cli import cli


@pytest.fixture()
def tiny(tmp_path: Path) -> Path:
    return make_tiny_project(tmp_path / "tiny.gpkg")


def _sql(path: Path, *statements: str) -> None:
    con = connect_gpkg(path)
    with con:
        for s in statements:
            con.execute(s)
    con.close()


def codes_of(report, rule: str) -> list[str]:
    return sorted(i.code for i in report.errors(rule))


def test_clean_plan_passes(tiny: Path) -> None:
    r = check_plan(tiny)
    assert not r.hard_broken, r.text
    assert r.n_areas == 4 and r.population == 1280
    assert r.area_population == {f"{VA}001": 340, f"{VA}002": 340, f"{VB}001": 300,
                                 f"{VB}002": 300}
    assert "通过 passed" in r.text


def test_moved_building_breaks_band_and_containment(tiny: Path) -> None:
    # b0000 (25 people) from A south (340) to A north (340 -> 365 > 360)
    _sql(tiny, f"UPDATE buildings SET area_code='{VA}002' WHERE building_id='b0000'")
    r = check_plan(tiny)
    assert r.hard_broken
    assert [i.feature_ids for i in r.errors("band")] == [(f"{VA}002",)]
    assert "365" in r.errors("band")[0].message
    assert [i.feature_ids for i in r.errors("contiguity")] == [("b0000",)]
    assert "moved by hand" in r.errors("contiguity")[0].message
    # the attribute wins over building_areas
    eff = effective_assignment(read_layer(tiny, "buildings"),
                               read_layer(tiny, "building_areas"))
    assert eff.loc[eff["building_id"] == "b0000", "area_code"].tolist() == [f"{VA}002"]
    # problems layer rows with stage=check
    probs = read_layer(tiny, "problems")
    assert set(probs["stage"]) == {"check"}
    assert {"band_above", "building_outside_area"} <= set(probs["code"])
    # a second check replaces, not appends
    check_plan(tiny)
    assert len(read_layer(tiny, "problems")) == len(probs)


def test_unassigned_and_unknown_area(tiny: Path) -> None:
    _sql(tiny, "DELETE FROM building_areas WHERE building_id='b1000'",
         "UPDATE buildings SET area_code='' WHERE building_id='b1000'",
         "UPDATE buildings SET area_code='310118002002009' WHERE building_id='b1001'")
    r = check_plan(tiny)
    assert "assignment_missing" in codes_of(r, "assignment")
    assert "assignment_unknown_area" in codes_of(r, "assignment")


def test_cut_building_ranges(tiny: Path) -> None:
    _sql(tiny, "UPDATE building_areas SET floor_from=9 WHERE building_id='tower' AND part=2")
    r = check_plan(tiny)
    assert codes_of(r, "cut_ranges") == ["cut_overlap"]
    _sql(tiny, "UPDATE building_areas SET floor_from=13 WHERE building_id='tower' AND part=2")
    r = check_plan(tiny)
    assert codes_of(r, "cut_ranges") == ["cut_gap"]
    assert "floor 11" in r.errors("cut_ranges")[0].message


def test_codes_gap_prefix_duplicate(tiny: Path) -> None:
    _sql(tiny, f"UPDATE areas SET area_code='{VB}003', seq=3 WHERE area_code='{VB}002'",
         f"UPDATE building_areas SET area_code='{VB}003' WHERE area_code='{VB}002'",
         f"UPDATE buildings SET area_code='{VB}003' WHERE area_code='{VB}002'")
    r = check_plan(tiny)
    assert codes_of(r, "codes") == ["code_gap"]
    assert f"{VB}002" in r.errors("codes")[0].feature_ids
    # a retired code recorded in code_history is not a gap
    con = sqlite3.connect(tiny)
    con.execute("CREATE TABLE code_history (area_code TEXT, village_code TEXT, seq INTEGER, "
                "created_revision INTEGER, retired_revision INTEGER)")
    con.execute("INSERT INTO code_history VALUES (?, ?, 2, 1, 2)", (f"{VB}002", VB))
    con.execute("INSERT INTO gpkg_contents (table_name, data_type, identifier) "
                "VALUES ('code_history', 'attributes', 'code_history')")
    con.commit()
    con.close()
    r = check_plan(tiny)
    assert codes_of(r, "codes") == []
    assert any(i.code == "code_retired_gap" for i in r.by_rule("codes"))
    _sql(tiny, f"UPDATE areas SET area_code='{VA}001' WHERE area_code='{VB}003'")
    r = check_plan(tiny)
    assert {"code_duplicate", "code_prefix"} <= set(codes_of(r, "codes"))


def test_tiling_overlap_and_gap(tiny: Path) -> None:
    areas = read_layer(tiny, "areas")
    geoms = dict(zip(areas["area_code"], areas.geometry))
    south = geoms[f"{VB}001"]
    x0, y0, x1, y1 = south.bounds
    shrunk = shapely.box(x0, y0, x1, y1 - 10)            # leaves a 400 x 10 m gap
    import geopandas as gpd

    from pucha.gis.write import update_gpkg

    areas.loc[areas["area_code"] == f"{VB}001", "geometry"] = shrunk
    update_gpkg(tiny, {"areas": gpd.GeoDataFrame(areas, geometry="geometry", crs=areas.crs)})
    r = check_plan(tiny)
    gaps = [i for i in r.errors("tiling") if i.code == "tiling_gap"]
    assert len(gaps) == 1 and "4000.0 m²" in gaps[0].message
    areas.loc[areas["area_code"] == f"{VB}001", "geometry"] = shapely.box(x0, y0, x1, y1 + 5)
    update_gpkg(tiny, {"areas": gpd.GeoDataFrame(areas, geometry="geometry", crs=areas.crs)})
    r = check_plan(tiny)
    assert [i.code for i in r.errors("tiling")] == ["tiling_overlap"]
    assert r.errors("tiling")[0].feature_ids == (f"{VB}001", f"{VB}002")


def test_non_contiguous_area(tiny: Path) -> None:
    import geopandas as gpd

    from pucha.gis.write import update_gpkg

    areas = read_layer(tiny, "areas")
    g = areas.loc[areas["area_code"] == f"{VB}002", "geometry"].iloc[0]
    x0, y0, x1, y1 = g.bounds
    split = shapely.MultiPolygon([shapely.box(x0, y0, x0 + 100, y1),
                                  shapely.box(x0 + 300, y0, x1, y1)])
    areas.loc[areas["area_code"] == f"{VB}002", "geometry"] = split
    update_gpkg(tiny, {"areas": gpd.GeoDataFrame(areas, geometry="geometry", crs=areas.crs)})
    r = check_plan(tiny)
    assert [i.feature_ids for i in r.errors("contiguity")
            if i.code == "area_not_contiguous"] == [(f"{VB}002",)]


def test_band_from_settings_and_unavoidable(tiny: Path) -> None:
    from pucha.config import PartitionSettings

    r = check_plan(tiny, settings=PartitionSettings(min=310, max=400), write_problems=False)
    assert sorted(i.feature_ids[0] for i in r.errors("band")) == [f"{VB}001", f"{VB}002"]


def test_cli_exit_codes(tiny: Path) -> None:
    runner = CliRunner()
    res = runner.invoke(cli, ["check", str(tiny)])
    assert res.exit_code == 0, res.output
    assert "通过 passed" in res.output
    res = runner.invoke(cli, ["move", str(tiny), "b0000", f"{VA}002"])
    assert res.exit_code == 0, res.output
    from pucha.scripts.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["check", str(tiny), "-q"])
    assert exc.value.code == 1


def test_missing_partition_is_a_clear_error(tmp_path: Path) -> None:
    from pucha.errors import InputError
    from pucha.gis.write import update_gpkg

    p = make_tiny_project(tmp_path / "t.gpkg")
    q = tmp_path / "bare.gpkg"
    update_gpkg(q, {"buildings": read_layer(p, "buildings")}, fresh=True)
    with pytest.raises(InputError, match="pucha partition"):
        check_plan(q)


def test_building_moved_to_another_village(tiny: Path) -> None:
    _sql(tiny, f"UPDATE buildings SET area_code='{VB}001' WHERE building_id='b0005'")
    r = check_plan(tiny, write_problems=False)
    assert "assignment_other_village" in codes_of(r, "assignment")


def test_real_osm_footprints(tmp_path: Path, lujiazui_gpkg: Path) -> None:
    """Real Lujiazui buildings (ODbL) in strips that ignore the census band: the check
    passes what is right (codes, tiling) and lists every area outside the band."""
    from fixture_outputs import make_lujiazui_project

    p = make_lujiazui_project(tmp_path / "lu.gpkg", lujiazui_gpkg)
    r = check_plan(p)
    assert r.errors("codes") == [] and r.errors("tiling") == [] and r.errors("assignment") == []
    pops = r.area_population
    outside = sorted(c for c, n in pops.items() if not 240 <= n <= 360)
    assert outside and sorted(i.feature_ids[0] for i in r.errors("band")) == outside
    assert sum(pops.values()) == r.population
    # every building in contiguity errors really lies mostly outside its area
    b = read_layer(p, "buildings").set_index("building_id")
    a = read_layer(p, "areas").set_index("area_code")
    for i in r.errors("contiguity"):
        bid = i.feature_ids[0]
        g = b.loc[bid, "geometry"]
        assert g.intersection(a.loc[b.loc[bid, "area_code"], "geometry"]).area < 0.5 * g.area


def test_band_miss_the_partition_proved_is_a_warning(tiny: Path) -> None:
    """An area ``pucha partition`` proved impossible (its problems row) is a warning with
    the proof; an unproven one stays an error and carries the partition's reason."""
    import geopandas as gpd

    from pucha.config import PartitionSettings
    from pucha.gis import schema as S
    from pucha.gis.write import update_gpkg

    rows = [dict(severity="warning", code="area_below_band", layer="areas", feature_ids=f"{VB}001",
                 message=f"普查小区 {VB}001 has 300 people, outside 310-400: every contiguous group of "
                         "cells holding the cell of 300 people (node 3) has fewer than 310 or more than "
                         "400 people: its neighbours are too large (proven impossible)", stage="partition"),
            dict(severity="warning", code="area_below_band", layer="areas", feature_ids=f"{VB}002",
                 message=f"普查小区 {VB}002 has 300 people, outside 310-400: 300 people: the solver "
                         "found no contiguous plan (there is no proof that it is impossible)",
                 stage="partition")]
    probs = gpd.GeoDataFrame({c: [r[c] for r in rows] for c in S.PROBLEM_COLUMNS},
                             geometry=[None, None], crs=read_layer(tiny, "areas").crs)
    update_gpkg(tiny, {"problems": probs})
    r = check_plan(tiny, settings=PartitionSettings(min=310, max=400), write_problems=False)
    assert [i.feature_ids[0] for i in r.errors("band")] == [f"{VB}002"]
    assert "no proof" in r.errors("band")[0].message
    warn = [i for i in r.issues if i.rule == "band" and i.severity == "warning"]
    assert [i.feature_ids[0] for i in warn] == [f"{VB}001"] and "proven impossible" in warn[0].message
    # once the area holds other people than it was solved with, the proof no longer applies
    _sql(tiny, f"UPDATE buildings SET area_code='{VB}002' WHERE building_id='b1000'")
    r = check_plan(tiny, settings=PartitionSettings(min=310, max=400), write_problems=False)
    assert f"{VB}001" in [i.feature_ids[0] for i in r.errors("band")]


def test_building_cut_by_the_village_line_is_a_warning(tiny: Path) -> None:
    """A building that the 居/村 line cuts (60% in the neighbouring 居/村) lies in its area
    as far as it can: a warning naming the line, not a 'move it' error."""
    import geopandas as gpd

    from pucha.gis.write import update_gpkg

    b = read_layer(tiny, "buildings")
    v = read_layer(tiny, "villages")
    x_line = v.loc[v["village_code"] == VA, "geometry"].iloc[0].bounds[2]
    i = b.index[b["building_id"] == "b0005"][0]  # the easternmost building of area A 001
    y0, y1 = b.geometry[i].bounds[1], b.geometry[i].bounds[3]
    b.loc[i, "geometry"] = shapely.box(x_line - 8, y0, x_line + 12, y1)
    update_gpkg(tiny, {"buildings": gpd.GeoDataFrame(b, geometry="geometry", crs=b.crs)})
    r = check_plan(tiny, write_problems=False)
    assert not r.errors("contiguity"), r.text
    warn = [i for i in r.issues if i.code == "building_across_village_line"]
    assert [i.feature_ids for i in warn] == [("b0005",)] and "40%" in warn[0].message

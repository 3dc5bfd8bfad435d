"""pucha diff: area matching, CSV and the offline map (tiny project of fixture_outputs).

Areas: A = 310118002001 (…001 south 340 people, …002 north 340), B = 310118002002
(…001 south 300, …002 north 300); 25 people per building, tower cut in two.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from fixture_outputs import VA, VB, make_tiny_project
from pucha.gis.styles import connect_gpkg
from pucha.gis.write import read_layer
from pucha.partition.diff import diff_plans, hand_moves, load_plan, match_areas
from pucha.scripts.cli import cli


def _assign(rows):
    return pd.DataFrame(rows, columns=["building_id", "area_code", "population"]).assign(part=0)


def test_material_rule() -> None:
    old = _assign([("a", "A", 100), ("b", "A", 100), ("c", "A", 100), ("d", "B", 300)])
    # A keeps 2 of its 3 buildings (67% of its people, all of X's): the same area; B's
    # 300 are 75% of Y: the same area
    new = _assign([("a", "X", 100), ("b", "X", 100), ("c", "Y", 100), ("d", "Y", 300)])
    assert match_areas(old, new) == {"A": "X", "B": "Y"}
    # A split in halves: neither half is A any more
    new = _assign([("a", "X", 150), ("b", "Y", 150), ("d", "Z", 300)])
    old1 = _assign([("a", "A", 150), ("b", "A", 150), ("d", "B", 300)])
    assert match_areas(old1, new) == {"B": "Z"}
    # X took in more than A kept (A's 100 of X's 300): not the same area
    assert match_areas(_assign([("a", "A", 100)]),
                       _assign([("a", "X", 100), ("n", "X", 200)])) == {}
    # 95% both ways: the same area
    old = _assign([(f"b{i}", "A", 10) for i in range(20)])
    new = _assign([(f"b{i}", "X" if i else "Y", 10) for i in range(20)]
                  + [("n1", "X", 5)])
    assert match_areas(old, new) == {"A": "X"}
    # same building set but all people re-estimated: same area
    new2 = _assign([(f"b{i}", "Z", 50) for i in range(20)])
    assert match_areas(old, new2) == {"A": "Z"}
    # areas without people compare building counts
    old0 = _assign([("p", "E", 0), ("q", "E", 0)])
    assert match_areas(old0, _assign([("p", "F", 0), ("q", "F", 0)])) == {"E": "F"}


@pytest.fixture()
def pair(tmp_path: Path) -> tuple[Path, Path]:
    old = make_tiny_project(tmp_path / "old.gpkg")
    new = tmp_path / "new.gpkg"
    shutil.copy(old, new)
    return old, new


def _sql(path: Path, *st: str) -> None:
    con = connect_gpkg(path)
    with con:
        for s in st:
            con.execute(s)
    con.close()


def test_diff_lists_exactly_the_changed_areas(pair) -> None:
    old, new = pair
    # A: one building moved north; B: re-coded north area (…002 -> …003); B south people +10
    _sql(new, f"UPDATE buildings SET area_code='{VA}002' WHERE building_id='b0000'",
         f"UPDATE areas SET area_code='{VB}003', seq=3 WHERE area_code='{VB}002'",
         f"UPDATE building_areas SET area_code='{VB}003' WHERE area_code='{VB}002'",
         f"UPDATE buildings SET area_code='{VB}003' WHERE area_code='{VB}002'",
         "UPDATE buildings SET population=35 WHERE building_id='b1000'",
         "UPDATE building_areas SET population=35 WHERE building_id='b1000'")
    d = diff_plans(load_plan(old), load_plan(new))
    ch = {(r.change, r.old_code, r.new_code) for r in d.changed.itertuples()}
    assert ch == {("reshaped", f"{VA}001", f"{VA}001"), ("reshaped", f"{VA}002", f"{VA}002"),
                  ("recoded", f"{VB}002", f"{VB}003"),
                  ("population", f"{VB}001", f"{VB}001")}
    # EVERY building whose code changed is listed (the re-coded area's too), with why
    moved_b = d.buildings[d.buildings["change"] == "moved"]
    recoded = set(read_layer(old, "building_areas").query(f"area_code == '{VB}002'")["building_id"])
    assert set(moved_b["building_id"]) == {"b0000"} | recoded
    assert set(moved_b.loc[moved_b["building_id"] != "b0000", "reason"]) == {"re-solve"}
    d2 = diff_plans(load_plan(old), load_plan(new), moved=hand_moves(new, None, None))
    why = dict(zip(d2.buildings["building_id"], d2.buildings["reason"]))
    assert why["b0000"] == "hand move"
    s = d.summary
    assert s["population_new"] - s["population_old"] == 10
    assert s["areas"]["unchanged"] == 0 and s["areas"]["recoded"] == 1


def test_identical_plans_have_no_change(pair) -> None:
    old, new = pair
    d = diff_plans(load_plan(old), load_plan(new))
    assert len(d.changed) == 0 and len(d.buildings) == 0


def test_cli_writes_csv_and_offline_map(pair, tmp_path: Path) -> None:
    old, new = pair
    _sql(new, "UPDATE buildings SET area_code='' WHERE building_id='b1100'",
         "DELETE FROM building_areas WHERE building_id='b1100'",
         "DELETE FROM buildings WHERE building_id='b1101'")
    out = tmp_path / "d"
    res = CliRunner().invoke(cli, ["diff", str(old), str(new), "-o", str(out)])
    assert res.exit_code == 0, res.output
    areas = pd.read_csv(out / "diff-areas.csv", dtype=str, encoding="utf-8-sig")
    assert areas.loc[areas["change"] != "unchanged", "old_code"].tolist() == [f"{VB}002"]
    b = pd.read_csv(out / "diff-buildings.csv", dtype=str, encoding="utf-8-sig")
    assert sorted(b["building_id"]) == ["b1100", "b1101"]
    assert set(b["change"]) == {"removed"}
    html = (out / "diff.html").read_text(encoding="utf-8")
    from pucha.outputs.offline import check_offline

    check_offline(html)  # raises if anything would be fetched
    assert "<script src=" not in html
    assert f"{VB}002" in html and "撤销" in html


def test_diff_revisions_in_one_gpkg(pair, tmp_path: Path) -> None:
    from pucha.partition.revision import record_revision

    old, _ = pair
    assert record_revision(old) == 1
    _sql(old, f"UPDATE buildings SET area_code='{VA}002' WHERE building_id='b0000'")
    res = CliRunner().invoke(cli, ["diff", str(old), "--from", "1", "-o", str(tmp_path / "o")])
    assert res.exit_code == 0, res.output
    assert "moved 1" in res.output
    res = CliRunner().invoke(cli, ["diff", str(old), "--from", "7", "-o", str(tmp_path / "o")])
    assert res.exit_code != 0 and "no revision 7" in str(res.exception or res.output)

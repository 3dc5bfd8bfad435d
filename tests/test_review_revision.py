"""Revisions, stable codes and "re-solve only what changed" (partition/revision.py).

Tiny project of fixture_outputs: 居/村 A = 310118002001 (areas …001 340 people,
…002 340), B = 310118002002 (…001 300, …002 300), 25 people per building::

    +---------+---------+
    | A …002  | B …002  |
    +---------+---------+
    | A …001  | B …001  |
    +---------+---------+
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from fixture_outputs import VA, VB, make_tiny_project
from pucha.gis.styles import connect_gpkg
from pucha.gis.write import list_layers, read_layer
from pucha.partition.check import check_plan
from pucha.partition.diff import diff_plans, load_plan
from pucha.partition.revision import (
    assign_codes, edited_buildings, list_revisions, record_revision, repartition_project,
)


def _no_solver(*_a, **_k):
    raise AssertionError("the solver must not run when nothing needs re-solving")


@pytest.fixture()
def tiny(tmp_path: Path) -> Path:
    p = make_tiny_project(tmp_path / "tiny.gpkg")
    record_revision(p)
    return p


def _codes(path: Path) -> list[str]:
    return sorted(read_layer(path, "areas")["area_code"])


def test_record_revision_keeps_snapshot_history_and_styles(tiny: Path) -> None:
    layers = set(list_layers(tiny))
    assert {"revisions", "areas_r1", "building_areas_r1", "code_history",
            "layer_styles"} <= layers
    rev = read_layer(tiny, "revisions")
    assert rev["revision"].tolist() == [1] and rev["kind"].tolist() == ["partition"]
    assert '"target": 300' in rev["settings"].iloc[0]
    h = read_layer(tiny, "code_history")
    assert sorted(h["area_code"]) == _codes(tiny)
    assert set(h["retired_revision"].astype(int)) == {0}
    assert len(read_layer(tiny, "building_areas_r1")) == len(read_layer(tiny, "building_areas"))


def test_nothing_changed_keeps_everything(tiny: Path) -> None:
    before = _codes(tiny)
    res = repartition_project(tiny, solver=_no_solver)
    assert res.kept == [VA, VB] and res.resolved == []
    assert _codes(tiny) == before
    # an idempotent re-run: no new revision when nothing (plan, input, settings) changed
    assert list_revisions(tiny) == [1] and res.revision == 1
    assert len(diff_plans(load_plan(tiny, revision=1), load_plan(tiny)).changed) == 0
    # other settings (a new seed) are worth a revision, even though every 居/村 is kept
    from pucha.config import PartitionSettings
    res = repartition_project(tiny, solver=_no_solver, settings=PartitionSettings(seed=5))
    assert res.kept == [VA, VB] and list_revisions(tiny) == [1, 2]
    assert len(diff_plans(load_plan(tiny, revision=1), load_plan(tiny, revision=2)).changed) == 0


def test_population_re_estimated_in_one_village_keeps_all_codes(tiny: Path) -> None:
    # 5% of B's 24 buildings (here: 2) get new estimates; the plan stays inside the band
    con = connect_gpkg(tiny)
    with con:
        con.execute("UPDATE buildings SET population=30 WHERE building_id IN ('b1000','b1100')")
    con.close()
    before = _codes(tiny)
    res = repartition_project(tiny, solver=_no_solver)
    assert res.kept == [VA] and res.updated == [VB]
    assert _codes(tiny) == before
    areas = read_layer(tiny, "areas").set_index("area_code")
    assert areas.loc[f"{VB}001", "population"] == 305 and areas.loc[f"{VB}002", "population"] == 305
    assert not check_plan(tiny).hard_broken
    d = diff_plans(load_plan(tiny, revision=1), load_plan(tiny, revision=2))
    assert sorted(d.changed["new_code"]) == [f"{VB}001", f"{VB}002"]
    assert set(d.changed["change"]) == {"population"}


def test_population_out_of_band_needs_the_solver(tiny: Path) -> None:
    con = connect_gpkg(tiny)
    with con:
        con.execute("UPDATE buildings SET population=200 WHERE building_id='b1000'")
    con.close()
    with pytest.raises(AssertionError, match="must not run"):
        repartition_project(tiny, solver=_no_solver)
    assert list_revisions(tiny) == [1]  # a failed run leaves the project as it was


def test_edited_buildings() -> None:
    b = pd.DataFrame({"building_id": ["a", "b", "c"], "area_code": ["X", "Y", "X"],
                      "population": [1, 2, 3], "locked": [False, False, True]})
    ba = pd.DataFrame({"building_id": ["a", "b", "c"], "area_code": ["X", "X", "X"],
                       "part": [0, 0, 0], "population": [1, 2, 3]})
    assert edited_buildings(b, ba) == {"b": "Y", "c": "X"}


def test_assign_codes_labels_matches_and_next_free() -> None:
    v = "310118002001"
    old = pd.DataFrame({"building_id": list("abcdef"), "part": 0, "population": 100,
                        "area_code": [f"{v}001"] * 2 + [f"{v}002"] * 2 + [f"{v}004"] * 2})
    new = pd.DataFrame({"building_id": list("abcdef"), "part": 0, "population": 100,
                        "area_code": ["p1", "p1", "p2", "p3", "p4", "p4"]})
    codes = assign_codes(v, new, old, labels={"p3": f"{v}002"}, used_seqs={1, 2, 3, 4},
                         reserved=set())
    # p1 and p4 are the old 001 and 004; 002 was split in halves (neither keeps more than
    # half of its people): it is retired whatever label a solver gives, and p2, p3 get the
    # next sequences after the largest ever issued (4, with 3 retired) -> 005, 006
    assert codes == {"p1": f"{v}001", "p2": f"{v}005", "p3": f"{v}006", "p4": f"{v}004"}


def test_retired_codes_are_never_reused(tiny: Path) -> None:
    from pucha.partition.revision import _history_update

    h = read_layer(tiny, "code_history")
    h2 = _history_update(h, [(f"{VA}001", VA), (f"{VA}003", VA)], 2)
    row = h2.set_index("area_code")
    assert row.loc[f"{VA}002", "retired_revision"] == 2
    assert row.loc[f"{VA}003", "created_revision"] == 2
    codes = assign_codes(VA, pd.DataFrame({"building_id": ["z"], "part": 0, "population": 9,
                                           "area_code": ["p"]}),
                         pd.DataFrame(columns=["building_id", "part", "population",
                                               "area_code"]),
                         labels={}, used_seqs={1, 2, 3}, reserved={f"{VA}001", f"{VA}003"})
    assert codes == {"p": f"{VA}004"}


def _one_area_solver(calls: list):
    """Test double for the engine: the whole remainder becomes one area, labelled with the
    first pinned label. It exercises the orchestration (locks, pins, codes, writing), not
    the engine's rules."""
    import geopandas as gpd
    import numpy as np

    from pucha.partition.revision import VillageSolution

    def solve(vc, *, polygon, buildings, pinned, gpkg, settings, excluded):
        calls.append(dict(village=vc, buildings=sorted(buildings["building_id"]),
                          pinned=dict(pinned), excluded=list(excluded), area=polygon.area))
        areas = gpd.GeoDataFrame({"area_code": ["p1"], "village_code": [vc],
                                  "population": [int(buildings["population"].sum())]},
                                 geometry=[polygon], crs=buildings.crs)
        ba = pd.DataFrame({"building_id": sorted(buildings["building_id"]), "area_code": "p1",
                           "part": 0, "floor_from": np.nan, "floor_to": np.nan,
                           "unit_from": np.nan, "unit_to": np.nan})
        pop = dict(zip(buildings["building_id"], buildings["population"]))
        ba["population"] = ba["building_id"].map(pop)
        ba["dwellings"] = np.nan
        labels = {"p1": sorted(pinned.values())[0]} if pinned else {}
        return VillageSolution(areas=areas, building_areas=ba, labels=labels)

    return solve


def test_resolve_path_keeps_locks_and_pins(tiny: Path) -> None:
    from pucha.scripts.cmd_lock import move_building, set_locked

    set_locked(tiny, [f"{VB}002"])
    move_building(tiny, "b1000", f"{VB}002")  # B south -> locked B north
    move_building(tiny, "b0006", f"{VA}002")  # A south -> A north
    locked_geom = read_layer(tiny, "areas").set_index("area_code").loc[f"{VB}002", "geometry"]
    calls: list = []
    res = repartition_project(tiny, solver=_one_area_solver(calls))
    assert res.resolved == [VA, VB]
    by_v = {c["village"]: c for c in calls}
    # the moved building is pinned to the area it was put in (with that area's buildings)
    assert any(c["pinned"].get("b0006") == f"{VA}002" for c in calls if c["village"] == VA)
    assert "b1000" not in by_v[VB]["buildings"]          # joined the locked area
    assert by_v[VB]["area"] < 400 * 400 / 2 + 1          # remainder = village minus locked
    areas = read_layer(tiny, "areas").set_index("area_code")
    # B's remainder keeps 11 of B …001's 12 buildings (92% of its people): same area, same code
    assert sorted(areas.index) == [f"{VA}002", f"{VB}001", f"{VB}002"]
    assert areas.loc[f"{VB}002", "geometry"].equals(locked_geom)
    assert bool(areas.loc[f"{VB}002", "locked"])
    b = read_layer(tiny, "buildings").set_index("building_id")
    assert b.loc["b0006", "area_code"] == f"{VA}002" and bool(b.loc["b0006", "locked"])
    assert b.loc["b1000", "area_code"] == f"{VB}002"
    h = read_layer(tiny, "code_history").set_index("area_code")
    assert h.loc[f"{VA}001", "retired_revision"] == 2 and h.loc[f"{VB}001", "retired_revision"] == 0
    probs = read_layer(tiny, "problems")
    assert "moved_into_locked_area" in set(probs["code"])
    r = check_plan(tiny, write_problems=False)
    assert r.errors("assignment") == [] and r.errors("codes") == [] and r.errors("tiling") == []
    assert {i.code for i in r.by_rule("codes")} == {"code_retired_gap"}


def test_moving_a_building_out_of_a_locked_area_names_the_lock(tiny: Path) -> None:
    from pucha.scripts.cmd_lock import move_building, set_locked

    set_locked(tiny, [f"{VA}001"])
    move_building(tiny, "b0006", f"{VA}002")
    res = repartition_project(tiny, solver=_one_area_solver([]))
    msgs = [p["message"] for p in res.problems if p["code"] == "lock_holds_moved_building"]
    assert len(msgs) == 1 and f"unlock {VA}001" in msgs[0] and "b0006" in msgs[0]


def test_plan_without_revisions_is_kept_when_valid(tmp_path: Path) -> None:
    p = make_tiny_project(tmp_path / "old.gpkg")  # partitioned before revisions existed
    before = _codes(p)
    res = repartition_project(p, solver=_no_solver)
    assert res.updated == [VA, VB] and _codes(p) == before
    assert list_revisions(p) == [1]


def test_cut_building_across_a_locked_area_keeps_its_ranges(tiny: Path) -> None:
    """The tower is cut: floors 1-10 in A …001, 11-20 in A …002. Lock …001, edit in A:
    the locked part stays, the other part keeps floors 11-20 in the re-solved area."""
    from pucha.scripts.cmd_lock import move_building, set_locked

    set_locked(tiny, [f"{VA}001"])
    move_building(tiny, "b0100", f"{VA}002")  # an edit inside A north (same area: a pin)
    move_building(tiny, "b0101", f"{VA}001")  # A north -> locked A south
    calls: list = []
    repartition_project(tiny, solver=_one_area_solver(calls))
    tower = [c for c in calls if c["village"] == VA][0]
    assert "tower" in tower["buildings"]
    ba = read_layer(tiny, "building_areas")
    t = ba[ba["building_id"] == "tower"].sort_values("part")
    assert t["area_code"].tolist() == [f"{VA}001", f"{VA}002"]
    assert t["floor_from"].tolist() == [1, 11] and t["population"].sum() == 80
    r = check_plan(tiny, write_problems=False)
    assert r.errors("assignment") == [] and r.errors("cut_ranges") == []

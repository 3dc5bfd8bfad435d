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
    assert list_revisions(tiny) == [1, 2]
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
    # p3 carries the moved building's label; p1 and p4 are materially the old 001 and 004;
    # p2 is new: next after the largest ever used (4, with 3 retired) -> 005
    assert codes == {"p1": f"{v}001", "p2": f"{v}005", "p3": f"{v}002", "p4": f"{v}004"}


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

"""partition/run.py: schedulers, stable codes on ``--fresh``, the 899-area limit, resume.

The township is ``pucha.gis.synthetic.synthetic_township`` (3 居/村, ~6,000 people),
written to a project GeoPackage where a test needs one.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from shapely.geometry import box

from pucha.config import PartitionSettings
from pucha.gis import schema as S
from pucha.gis.synthetic import synthetic_township
from pucha.gis.write import read_layer, update_gpkg
from pucha.partition.revision import (
    LAYER_CODE_HISTORY, CodesExhausted, assign_codes, list_revisions,
)
from pucha.partition.run import (
    CodeMemory, partition_frames, partition_project, resume_dir, solve_village,
)

SETTINGS = PartitionSettings(time_limit_s=60.0)


@pytest.fixture(scope="module")
def township() -> dict[str, gpd.GeoDataFrame]:
    return synthetic_township(n_villages=3, people=6000, seed=1)


@pytest.fixture(scope="module")
def plain(township) -> object:
    return partition_frames(township, settings=SETTINGS)


def _same(a, b) -> None:
    cols = list(S.BUILDING_AREA_COLUMNS)
    x = a.building_areas[cols].sort_values(["building_id", "part"]).reset_index(drop=True)
    y = b.building_areas[cols].sort_values(["building_id", "part"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(x, y)
    ka = a.areas.sort_values("area_code").reset_index(drop=True)
    kb = b.areas.sort_values("area_code").reset_index(drop=True)
    assert ka["area_code"].tolist() == kb["area_code"].tolist()
    assert all(shapely.equals_exact(p, q, 1e-9) for p, q in zip(ka.geometry, kb.geometry))
    assert ka["sizhi"].tolist() == kb["sizhi"].tolist()


# --------------------------------------------------------------------------- schedulers
def test_dask_synchronous_scheduler_gives_the_plain_result(township, plain) -> None:
    pytest.importorskip("dask")
    _same(plain, partition_frames(township, settings=SETTINGS, scheduler="dask", jobs=1))


@pytest.mark.slow
def test_dask_process_scheduler_gives_the_plain_result(township, plain) -> None:
    pytest.importorskip("dask")
    _same(plain, partition_frames(township, settings=SETTINGS, scheduler="dask", jobs=2))


@pytest.mark.slow
def test_dask_distributed_local_cluster_gives_the_plain_result(township, plain) -> None:
    pytest.importorskip("dask")
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster):
        res = partition_frames(township, settings=SETTINGS, scheduler="distributed")
    _same(plain, res)


def test_process_pool_gives_the_plain_result(township, plain) -> None:
    _same(plain, partition_frames(township, settings=SETTINGS, jobs=2))


# --------------------------------------------------------------------------- codes
def test_assign_codes_past_899_fills_never_issued_gaps_then_refuses() -> None:
    v = "310118002001"
    new = pd.DataFrame({"building_id": ["a", "b"], "part": 0, "population": 300,
                        "area_code": ["p1", "p2"]})
    old = new.iloc[:0]
    used = set(range(1, 900)) - {5, 7}
    codes = assign_codes(v, new, old, labels={}, used_seqs=used, reserved=set())
    assert codes == {"p1": f"{v}005", "p2": f"{v}007"}      # never 900+, never 1000
    new3 = pd.concat([new, new.assign(building_id="c", area_code="p3").iloc[:1]])
    with pytest.raises(CodesExhausted, match="every sequence 001-899"):
        assign_codes(v, new3, old, labels={}, used_seqs=used, reserved=set())


def _grid(n: int, people: int):
    poly = box(0, 0, 40 * 40, 40 * (n // 40 + 1))
    b = pd.DataFrame({
        "building_id": [f"B{i:05d}" for i in range(n)], "village_code": "310118002001",
        "population": people, "floors": np.nan, "dwellings": np.nan, "residential": True,
        "geometry": [box(40 * (i % 40) + 5, 40 * (i // 40) + 5, 40 * (i % 40) + 25,
                         40 * (i // 40) + 25) for i in range(n)]})
    return poly, b


def test_more_people_than_899_areas_can_hold_is_reported_not_solved() -> None:
    from pucha.partition.cells import barrier_lines

    poly, b = _grid(1000, 4)           # 4,000 people; band 2-4: at least 1,000 areas
    st = PartitionSettings(target=3, min=2, max=4, time_limit_s=5)
    res = solve_village("310118002001", "大居", poly, b, barrier_lines(crs="EPSG:4549"),
                        settings=st, crs="EPSG:4549")
    assert len(res.areas) == 0 and len(res.building_areas) == 0
    [p] = [p for p in res.problems if p["code"] == "village_too_many_areas"]
    assert p["severity"] == "error" and "more than the 899 codes" in p["message"]
    assert "4000 people need about 1000" in p["message"]


def test_more_than_899_areas_after_solving_is_reported() -> None:
    from pucha.partition.cells import barrier_lines

    poly, b = _grid(950, 3)            # 2,850 people fit 899 x 4, but each building is an area
    st = PartitionSettings(target=3, min=2, max=4, time_limit_s=60)
    res = solve_village("310118002001", "大居", poly, b, barrier_lines(crs="EPSG:4549"),
                        settings=st, crs="EPSG:4549")
    assert len(res.areas) == 0
    [p] = [p for p in res.problems if p["code"] == "village_too_many_areas"]
    assert "950 普查小区" in p["message"]


def test_code_memory_keeps_matching_codes_and_skips_retired(township) -> None:
    """A 居/村 solved with its earlier plan: identical areas keep their codes even when
    the old codes were not 001...; new areas get sequences never issued before."""
    from pucha.partition.cells import barrier_lines

    vil = township[S.LAYER_VILLAGES].sort_values("village_code").iloc[0]
    bld = township[S.LAYER_BUILDINGS]
    b = pd.DataFrame(bld[bld["village_code"] == vil["village_code"]].sort_values("building_id"))
    bars = barrier_lines(township.get(S.LAYER_ROADS), None, township.get(S.LAYER_WATER),
                         None, crs=township[S.LAYER_VILLAGES].crs)
    args = (vil["village_code"], str(vil["name"]), vil.geometry, b, pd.DataFrame(bars))
    kw = dict(settings=SETTINGS, crs=township[S.LAYER_VILLAGES].crs)
    first = solve_village(*args, **kw)
    n = len(first.areas)
    assert n >= 3
    vc = vil["village_code"]
    # pretend the plan had been re-coded: 001 -> 101, 002 -> 102 ... (101.. in use) and
    # sequences up to 150 issued once (retired since)
    recode = {c: f"{vc}{100 + int(c[12:]):03d}" for c in first.areas["area_code"]}
    old = first.building_areas.assign(area_code=first.building_areas["area_code"].map(recode))
    # one area of the old plan is gone: its buildings were demolished
    gone = first.areas["area_code"].iloc[-1]
    keep_b = set(first.building_areas.loc[first.building_areas["area_code"] != gone,
                                          "building_id"])
    mem = CodeMemory(old, tuple(sorted(recode.values())), frozenset(range(1, 151)))
    again = solve_village(*args, **kw, previous=mem)
    assert sorted(again.areas["area_code"]) == sorted(recode.values())   # all kept
    b2 = b[b["building_id"].isin(keep_b)]
    third = solve_village(vc, str(vil["name"]), vil.geometry, b2, pd.DataFrame(bars), **kw,
                          previous=mem)
    new_codes = set(third.areas["area_code"]) - set(recode.values())
    assert all(int(c[12:]) > 150 for c in new_codes), new_codes        # never a retired one
    assert len(set(third.areas["area_code"])) == len(third.areas)


# --------------------------------------------------------------------------- projects
@pytest.fixture()
def project(tmp_path: Path, township) -> Path:
    p = tmp_path / "project.gpkg"
    layers = {k: v for k, v in township.items()}
    b = layers[S.LAYER_BUILDINGS].copy()
    if "area_code" not in b.columns:
        b["area_code"] = ""
    layers[S.LAYER_BUILDINGS] = b
    update_gpkg(p, layers, fresh=True)
    return p


def _codes(p: Path) -> dict[str, frozenset]:
    ba = pd.DataFrame(read_layer(p, S.LAYER_BUILDING_AREAS))
    return {c: frozenset(g["building_id"]) for c, g in ba.groupby("area_code")}


@pytest.mark.slow
def test_fresh_keeps_codes_never_reuses_retired_and_renumber_restarts(project: Path) -> None:
    partition_project(project, settings=SETTINGS, progress=False)
    rev1 = _codes(project)
    # the same input, solved anew: every area keeps its code
    partition_project(project, settings=SETTINGS, progress=False, fresh=True)
    assert _codes(project) == rev1 and list_revisions(project) == [1, 2]
    # demolish a third of the first 居/村's buildings, then solve anew
    b = read_layer(project, S.LAYER_BUILDINGS)
    v0 = sorted(set(b["village_code"]))[0]
    drop = set(sorted(b.loc[b["village_code"] == v0, "building_id"])[::3])
    update_gpkg(project, {S.LAYER_BUILDINGS: b[~b["building_id"].isin(drop)]})
    partition_project(project, settings=SETTINGS, progress=False, fresh=True)
    rev3 = _codes(project)
    for c, members in rev1.items():          # the other 居/村 keep every code
        if not c.startswith(v0):
            assert rev3.get(c) == members
    top = max(int(c[12:]) for c in rev1 if c.startswith(v0))
    assert set(rev3) - set(rev1) and set(rev1) - set(rev3)   # areas were added and retired
    for c in set(rev3) - set(rev1):          # new areas: sequences never issued before
        assert c.startswith(v0) and int(c[12:]) > top
    h = read_layer(project, LAYER_CODE_HISTORY)
    retired = set(h.loc[h["retired_revision"].astype(int) > 0, "area_code"])
    assert not (retired & set(rev3))
    # renumber (on request): 001... gapless again, history restarted
    partition_project(project, settings=SETTINGS, progress=False, renumber=True)
    a = read_layer(project, S.LAYER_AREAS)
    for v, g in a.groupby("village_code"):
        assert sorted(int(c[12:]) for c in g["area_code"]) == list(range(1, len(g) + 1))
    h = read_layer(project, LAYER_CODE_HISTORY)
    assert set(h["area_code"]) == set(a["area_code"])
    assert read_layer(project, "revisions")["kind"].tolist()[-1] == "renumber"


def test_partition_writes_plan_and_revision_together_and_removes_resume(project: Path
                                                                         ) -> None:
    from pucha.gis.write import list_layers, read_meta

    partition_project(project, settings=SETTINGS, progress=False)
    layers = set(list_layers(project))
    assert {"areas", "building_areas", "revisions", "areas_r1", "building_areas_r1",
            "code_history", "layer_styles"} <= layers
    assert not resume_dir(project).exists()
    assert read_meta(project)["partition"]["resumed"] == []


def test_resume_takes_finished_villages_from_the_cache(project: Path, tmp_path: Path) -> None:
    """What a killed run leaves (per-居/村 results in the resume folder) is reused; an entry
    whose key does not match (other settings) or that is damaged is solved again."""
    import shutil

    from pucha.gis.write import read_meta

    ref = tmp_path / "ref.gpkg"
    shutil.copy(project, ref)
    partition_project(ref, settings=SETTINGS, progress=False)
    # a run that stopped after the first 居/村: fill the cache by solving just that one
    layers = {n: read_layer(project, n) for n in (S.LAYER_VILLAGES, S.LAYER_BUILDINGS,
                                                  S.LAYER_ROADS, S.LAYER_WATER)}
    codes = sorted(layers[S.LAYER_VILLAGES]["village_code"])
    cache = resume_dir(project)
    partition_frames(layers, settings=SETTINGS, villages=codes[:2], cache_dir=cache)
    assert sorted(p.stem for p in cache.glob("*.pkl")) == codes[:2]
    (cache / f"{codes[1]}.pkl").write_bytes(b"damaged")            # half-written by hand
    # an entry for other settings must not be used
    partition_frames(layers, settings=PartitionSettings(time_limit_s=60.0, seed=9),
                     villages=codes[2:], cache_dir=cache)
    partition_project(project, settings=SETTINGS, progress=False)
    assert read_meta(project)["partition"]["resumed"] == codes[:1]
    for name in ("areas", "building_areas", "buildings", "code_history"):
        x, y = read_layer(ref, name), read_layer(project, name)
        if "geometry" in x.columns:
            x = pd.DataFrame(x).assign(geometry=x.geometry.to_wkb())
            y = pd.DataFrame(y).assign(geometry=y.geometry.to_wkb())
        pd.testing.assert_frame_equal(x, y)
    assert not cache.exists()


class _Planted:
    """Unpickling this creates ``marker``: what a hostile resume file could do."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_resume_file_not_signed_by_this_user_is_never_unpickled(project: Path,
                                                                tmp_path: Path) -> None:
    """A resume file copied in with a project (another office, a planted file) is ignored:
    only files signed with this user's key are loaded."""
    import pickle

    from pucha.gis.write import read_meta
    from pucha.partition.run import _MAGIC

    marker = tmp_path / "unpickled"
    code = sorted(read_layer(project, S.LAYER_VILLAGES)["village_code"])[0]
    cache = resume_dir(project)
    cache.mkdir()
    payload = pickle.dumps(("any key", _Planted(str(marker))))
    (cache / f"{code}.pkl").write_bytes(_MAGIC + bytes(32) + payload)
    partition_project(project, settings=SETTINGS, progress=False)
    assert not marker.exists()
    assert read_meta(project)["partition"]["resumed"] == []
    assert not cache.exists()


def test_killed_repartition_resumes_the_resolved_villages(project: Path, tmp_path: Path,
                                                          monkeypatch) -> None:
    """A re-partition killed before it writes (here: the write fails) keeps the 居/村 it
    re-solved in the resume folder; the next run takes them from there (the engine does
    not run again) and ends with the plan an uninterrupted run gives."""
    import shutil

    import pucha.partition.revision as revision_mod
    import pucha.partition.engine as run_mod  # the per-居/村 engine the scheduler calls
    from pucha.gis.styles import connect_gpkg

    partition_project(project, settings=SETTINGS, progress=False)
    v0 = sorted(read_layer(project, S.LAYER_VILLAGES)["village_code"])[0]
    con = connect_gpkg(project)     # people re-estimated: the first 居/村 doubles
    with con:
        con.execute("UPDATE buildings SET population = 2 * population WHERE village_code = ?",
                    (v0,))
    con.close()
    ref = tmp_path / "ref.gpkg"
    shutil.copy(project, ref)
    want = partition_project(ref, settings=SETTINGS, progress=False)
    assert want.resolved == [v0]

    def killed(*_a, **_k):
        raise RuntimeError("killed")

    with monkeypatch.context() as m:
        m.setattr(revision_mod, "update_gpkg", killed)
        with pytest.raises(RuntimeError, match="killed"):
            partition_project(project, settings=SETTINGS, progress=False)
    cache = resume_dir(project)
    assert [p.stem for p in cache.glob("*.pkl")] == [v0]
    assert list_revisions(project) == [1]

    def must_not_run(*_a, **_k):
        raise AssertionError("a resumed 居/村 must not be solved again")

    monkeypatch.setattr(run_mod, "solve_village", must_not_run)
    res = partition_project(project, settings=SETTINGS, progress=False)
    assert res.resolved == [v0] and list_revisions(project) == [1, 2]
    assert not cache.exists()
    for name in ("areas", "building_areas", "code_history"):
        x, y = read_layer(ref, name), read_layer(project, name)
        if "geometry" in x.columns:
            x = pd.DataFrame(x).assign(geometry=x.geometry.to_wkb())
            y = pd.DataFrame(y).assign(geometry=y.geometry.to_wkb())
        pd.testing.assert_frame_equal(x, y)


def test_merge_parts_joins_floor_ranges_in_one_area():
    """Floor ranges of a cut building in one area, in a row, become one part; the sum of
    people and dwellings is kept; all ranges in one area make the building whole again."""
    from pucha.partition.run import merge_parts

    nan = float("nan")

    def row(bid, code, part, f0, f1, pop, dw):
        return dict(building_id=bid, area_code=code, part=part, floor_from=f0, floor_to=f1,
                    unit_from=nan, unit_to=nan, population=pop, dwellings=dw)
    ba = pd.DataFrame([
        row("T", "A", 1, 1, 3, 90, 30.0), row("T", "A", 2, 4, 6, 90, 30.0), row("T", "B", 3, 7, 9, 90, nan),
        row("T", "A", 4, 10, 12, 90, 30.0),  # back in A above B: a part of its own
        row("W", "C", 1, 1, 5, 100, nan), row("W", "C", 2, 6, 10, 100, nan),
        row("H", "C", 0, nan, nan, 40, 12.0),
    ])
    out = merge_parts(ba)
    t = out[out["building_id"] == "T"]
    assert t[["area_code", "part", "floor_from", "floor_to", "population"]].values.tolist() == [
        ["A", 1, 1, 6, 180], ["B", 2, 7, 9, 90], ["A", 3, 10, 12, 90]]
    assert t["dwellings"].iloc[0] == 60.0 and np.isnan(t["dwellings"].iloc[1])
    w = out[out["building_id"] == "W"]
    assert len(w) == 1 and w["part"].iloc[0] == 0 and np.isnan(w["floor_from"].iloc[0])
    assert w["population"].iloc[0] == 200
    assert out["population"].sum() == ba["population"].sum()
    h = out[out["building_id"] == "H"].iloc[0]
    assert (h["area_code"], h["part"], h["population"], h["dwellings"]) == ("C", 0, 40, 12.0)


def test_unknown_dwellings_stay_unknown_in_the_areas_layer():
    """Buildings without dwelling counts: the area's dwellings are unknown (NaN), not 0
    (empty land cells hold 0 dwellings and must not make the sum look known); the map
    header shows — ."""
    from pucha.partition.quality import known_sum

    poly = box(0, 0, 200, 200)
    b = gpd.GeoDataFrame({"building_id": [f"b{i}" for i in range(4)], "village_code": "310118002001",
                          "population": [80, 80, 80, 80], "floors": [3.0] * 4,
                          "dwellings": [np.nan] * 4},
                         geometry=[box(10 + 45 * i, 10, 40 + 45 * i, 40) for i in range(4)], crs="EPSG:4549")
    from pucha.partition.cells import barrier_lines

    # a road across the north: the block beyond it holds no building (an empty cell)
    road = gpd.GeoDataFrame({"road_class": ["minor"], "name": ["北路"]},
                            geometry=[shapely.LineString([(-5, 120), (205, 120)])], crs="EPSG:4549")
    res = solve_village("310118002001", "x", poly, b, barrier_lines(road, crs="EPSG:4549"), crs="EPSG:4549")
    assert len(res.areas) == 1 and np.isnan(res.areas["dwellings"].iloc[0])
    assert np.isnan(known_sum([np.nan, np.nan])) and known_sum([np.nan, 2.0, 3.0]) == 5.0


def _row_of_three(floors):
    """Three buildings in a row (216, 242 and 171 people): no split into two areas of
    240-360 keeps every building whole ({216} | {242, 171} or {216, 242} | {171})::

        +------------------------------------+
        |  [A 216]     [B 242]     [C 171]   |
        +------------------------------------+
    """
    b = gpd.GeoDataFrame({"building_id": ["A", "B", "C"], "village_code": "310118002001",
                          "population": [216, 242, 171], "floors": floors,
                          "dwellings": [np.nan] * 3},
                         geometry=[box(10 + 100 * i, 10, 90 + 100 * i, 50) for i in range(3)], crs="EPSG:4549")
    from pucha.partition.cells import barrier_lines
    return solve_village("310118002001", "排", box(0, 0, 300, 60), b, barrier_lines(crs="EPSG:4549"),
                         crs="EPSG:4549")


def test_buildings_inside_the_band_are_cut_when_no_whole_plan_fits_it():
    """With floors known, a building that fits the band is cut by floors (纵向切割) when
    the 居/村 has no plan inside the band otherwise: both areas are inside, an info row
    names the cut building, the floor ranges of each building cover its floors once and
    no one is lost."""
    res = _row_of_three([9.0, 8.0, 5.0])
    pops = sorted(res.areas["population"].tolist())
    assert len(pops) == 2 and all(240 <= p <= 360 for p in pops), pops
    # the quality columns: the deviation from the target of each area, signed
    assert [round((p - 300) / 300, 3) for p in res.areas["population"]] == res.areas["deviation"].tolist()
    rows = [p for p in res.problems if p["code"] == "building_cut_for_band"]
    assert len(rows) == 1 and "纵向切割" in rows[0]["message"]
    ba = res.building_areas
    assert ba["population"].sum() == 629
    assert ba.groupby("building_id")["population"].sum().to_dict() == {"A": 216, "B": 242, "C": 171}
    split = ba[ba.groupby("building_id")["area_code"].transform("nunique") > 1]
    assert set(split["building_id"]) and set(split["building_id"]) <= {"A", "B", "C"}
    assert rows[0]["feature_ids"] == ",".join(sorted(set(split["building_id"])))
    floors = {"A": 9, "B": 8, "C": 5}
    for bid, grp in split.groupby("building_id"):
        covered = sorted(f for f0, f1 in zip(grp["floor_from"], grp["floor_to"]) for f in range(int(f0), int(f1) + 1))
        assert covered == list(range(1, floors[bid] + 1))
    assert not any(p["code"].startswith("area_") and p["severity"] != "info" for p in res.problems)


def test_buildings_without_floors_or_units_are_not_cut_to_fit_the_band():
    """The same row with no floor or unit data: nothing can be cut, the area off the band
    is reported and no building is listed as cut."""
    res = _row_of_three([np.nan] * 3)
    assert any(not 240 <= p <= 360 for p in res.areas["population"])
    assert not any(p["code"] == "building_cut_for_band" for p in res.problems)
    assert any(p["code"] in ("area_below_band", "area_above_band") for p in res.problems)
    assert (res.building_areas["part"] == 0).all()


def test_quality_summary_keeps_unknown_dwellings_unknown():
    """A 居/村 whose areas all have unknown dwellings shows unknown (NaN, printed —) in
    the quality summary, not 0; known counts are summed."""
    from pucha.partition.quality import summary

    a = pd.DataFrame(dict(village_code=["1", "1", "2"], population=[300, 280, 310],
                          dwellings=[np.nan, np.nan, 100.0], contiguous=[True] * 3, river_crossings=[0] * 3,
                          major_road_crossings=[0] * 3, polsby_popper=[0.5] * 3))
    q = summary(a).set_index("village_code")
    assert np.isnan(q.loc["1", "dwellings"]) and q.loc["2", "dwellings"] == 100.0
    assert q.loc["township", "population"] == 890


def test_both_passes_share_the_time_limit(monkeypatch):
    """The second pass (buildings cut for the band) gets what the first left of the
    居/村's time limit, so a 居/村 never takes more than one limit of work; with too
    little left it does not run at all."""
    from pucha.partition import engine as run_mod

    limits = []
    real = run_mod.solve_graph

    def spy(*a, **kw):
        limits.append(kw["time_limit"])
        return real(*a, **kw)

    monkeypatch.setattr(run_mod, "solve_graph", spy)
    _row_of_three([9.0, 8.0, 5.0])
    assert len(limits) == 2 and limits[0] == 20.0 and 0 < limits[1] < 20.0, limits

    def greedy(*a, **kw):  # a first pass that used up 95% of the budget
        limits.append(kw["time_limit"])
        r = real(*a, **kw)
        r.work = 0.95 * kw["time_limit"]
        return r

    limits.clear()
    monkeypatch.setattr(run_mod, "solve_graph", greedy)
    res = _row_of_three([9.0, 8.0, 5.0])
    assert limits == [20.0]
    assert not any(p["code"] == "building_cut_for_band" for p in res.problems)


def test_balance_note_names_what_forces_an_area_outside_the_window():
    """The areas layer says why the buildings force an area outside ±10%: a whole
    building above 330 (inside the band, so not cut), or pieces of one tower that no run
    of floors brings to 270-330; nothing when the window is met or nothing forces it."""
    from pucha.config import PartitionSettings
    from pucha.partition.run import balance_note

    st = PartitionSettings()
    assert balance_note(300, [("b1", 0, 300)], {}, st) == ""
    note = balance_note(352, [("b1", 0, 340), ("b2", 0, 12)], {}, st)
    assert "building b1" in note and "340" in note and "not cut" in note
    assert "no floor or unit data" in balance_note(646, [("big", 0, 646)], {}, st)
    tower = {"t": [171] * 7}  # 7 floors of 171 people
    note = balance_note(342, [("t", 3, 171), ("t", 4, 171)], tower, st)
    assert "building t" in note and "171-171" in note and "270-330" in note
    # finer pieces (100 each): three make 300, so nothing forces 400
    assert balance_note(400, [("u", k, 100) for k in (1, 2, 3, 4)], {"u": [100] * 12}, st) == ""
    # the tower's floors with another building beside them: not forced
    assert balance_note(342, [("t", 3, 171), ("t", 4, 171), ("x", 0, 0)], tower, st) != ""
    assert balance_note(362, [("t", 3, 171), ("t", 4, 171), ("x", 0, 20)], tower, st) == ""
    assert balance_note(250, [("x", 0, 150), ("y", 0, 100)], {}, st) == ""
    assert balance_note(124, [("x", 0, 124)], {}, st, village_people=124) == \
        "only 124 people in the 居/村 (apart from locked areas): one area"


def test_resume_folder_is_absolute_and_its_key_ignores_jobs(tmp_path, monkeypatch) -> None:
    """The client resolves a relative project path (workers never write into their own
    working directory), and ``--jobs`` does not change the key: a run killed with
    --jobs 1 resumes with --jobs 2 or on a cluster."""
    from pucha.partition.cache import _cache_key

    monkeypatch.chdir(tmp_path)
    assert resume_dir("p.gpkg") == tmp_path / ".p.gpkg.resume"
    args = ("310118002001", "一居", box(0, 0, 1, 1), pd.DataFrame({"a": [1]}), pd.DataFrame(),
            PartitionSettings(jobs=1), {}, "EPSG:4549", None)
    assert _cache_key(args) == _cache_key(args[:5] + (PartitionSettings(jobs=8),) + args[6:])
    assert _cache_key(args) != _cache_key(args[:5] + (PartitionSettings(seed=3),) + args[6:])

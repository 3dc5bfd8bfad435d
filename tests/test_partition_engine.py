"""The partition engine on small drawn fixtures and a tiny synthetic township."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pytest
import shapely

from pucha.config import PartitionSettings
from pucha.gis import schema as S
from pucha.gis.synthetic import synthetic_township, write_synthetic_gpkg
from pucha.partition.cells import barrier_lines, cut_plan, village_cells
from pucha.partition.codes import assign_codes, serpentine_order
from pucha.partition.graph import cell_graph
from pucha.partition.run import partition_frames, partition_project, solve_village
from pucha.partition.solver import choose_k, solve_graph

CRS = "EPSG:4549"


def _buildings(rows):
    """rows: (id, x, y, population, floors, dwellings)."""
    return gpd.GeoDataFrame({
        "building_id": [r[0] for r in rows], "village_code": "310118002001",
        "population": [r[3] for r in rows], "floors": [r[4] for r in rows],
        "dwellings": [r[5] for r in rows]},
        geometry=[shapely.box(r[1] - 5, r[2] - 5, r[1] + 5, r[2] + 5) for r in rows], crs=CRS)


def _grid_village(n=4, pop=60, river_x=None):
    """A 400 x 400 m 居/村 with an n x n grid of buildings of ``pop`` people.

    ::

        +---------------------+
        |  b   b  |~|  b   b  |     ~ river at river_x (optional)
        |  b   b  |~|  b   b  |
        +---------------------+
    """
    poly = shapely.box(0, 0, 400, 400)
    rows = []
    for i in range(n):
        for j in range(n):
            rows.append((f"b{i}{j}", 50 + 100 * i, 50 + 100 * j, pop, 6.0, 20.0))
    b = _buildings(rows)
    water = None
    if river_x is not None:
        water = gpd.GeoDataFrame({"name": ["淀浦河"], "water_kind": ["river"]},
                                 geometry=[shapely.box(river_x - 5, -10, river_x + 5, 410)], crs=CRS)
    bars = barrier_lines(None, None, water, None, crs=CRS)
    return poly, b, bars


def test_tiling_invariant():
    poly, b, bars = _grid_village(river_x=200)
    cells, _ = village_cells(poly, b, bars)
    u = shapely.union_all(cells.geometry.values)
    assert abs(u.area - poly.area) < 1.0
    assert shapely.symmetric_difference(u, poly).area < 1.0
    assert abs(cells.geometry.area.sum() - poly.area) < 1.0  # no overlaps
    res = solve_village("310118002001", "庆华社区居委会", poly, b, bars)
    a = res.areas
    assert abs(shapely.union_all(a.geometry.values).area - poly.area) < 1.0
    assert abs(a.geometry.area.sum() - poly.area) < 1.0
    assert all(shapely.get_type_id(g) == 3 for g in a.geometry)


def test_band_contiguity_and_river():
    """16 buildings of 60 (960 people) with a river down the middle: 4 areas of 240,
    none crossing the river."""
    poly, b, bars = _grid_village(river_x=200)
    res = solve_village("310118002001", "x", poly, b, bars)
    a = res.areas
    assert len(a) == choose_k(960) == 3 or len(a) == 4
    assert (a["population"].between(240, 360)).all()
    assert a["contiguous"].all()
    assert (a["river_crossings"] == 0).all()
    assert res.building_areas["population"].sum() == 960


def test_tower_cut_vertically():
    """One 30-floor tower of 900 people -> 3 parts of floors 1-10, 11-20, 21-30."""
    assert cut_plan(900, 30.0, 300.0) == (3, "floor")
    poly = shapely.box(0, 0, 200, 200)
    b = _buildings([("t1", 100, 100, 900, 30.0, 300.0)])
    res = solve_village("310118002001", "x", poly, b, barrier_lines(crs=CRS))
    ba = res.building_areas.sort_values("part")
    assert ba["part"].tolist() == [1, 2, 3]
    assert ba["floor_from"].tolist() == [1, 11, 21]
    assert ba["floor_to"].tolist() == [10, 20, 30]
    assert ba["population"].sum() == 900
    assert ba["area_code"].nunique() == 3
    assert abs(res.areas.geometry.area.sum() - poly.area) < 1.0


def test_building_without_floor_data_reported():
    poly = shapely.box(0, 0, 200, 200)
    b = _buildings([("t9", 100, 100, 412, np.nan, np.nan)])
    res = solve_village("310118002001", "x", poly, b, barrier_lines(crs=CRS))
    msgs = [p["message"] for p in res.problems]
    assert any("building t9 holds 412 people and has no floor or unit data" in m for m in msgs)


def test_impossible_village_reported():
    poly = shapely.box(0, 0, 100, 100)
    b = _buildings([("a", 30, 30, 70, 2.0, 2.0), ("b", 70, 70, 70, 2.0, 2.0)])
    res = solve_village("310118002203", "南厍村村委会", poly, b, barrier_lines(crs=CRS))
    assert len(res.areas) == 1
    assert any("310118002203" in p["message"] and "140 people: one area below the band" in p["message"]
               for p in res.problems)
    empty = solve_village("310118002204", "x", poly, b.iloc[:0], barrier_lines(crs=CRS))
    assert any(p["code"] == "village_no_buildings" for p in empty.problems)


def test_island_joined_and_reported():
    """A 居/村 of two separate squares (an enclave): both get areas, the split is reported."""
    poly = shapely.union(shapely.box(0, 0, 100, 100), shapely.box(300, 0, 400, 100))
    b = _buildings([("a", 50, 50, 300, 6.0, 100.0), ("b", 350, 50, 300, 6.0, 100.0)])
    res = solve_village("310118002001", "x", poly, b, barrier_lines(crs=CRS))
    assert any(p["code"] == "island" for p in res.problems)
    assert any(p["code"] == "village_parts" for p in res.problems)
    assert res.building_areas["area_code"].nunique() == 2


def test_a_small_exclave_is_an_exclave_link_not_a_river_crossing():
    """A 居/村 without any water: its main part (300 people) and an exclave of 5 people
    115 m away. The exclave joins the area next to it across the gap: the report says
    ``area_exclave_link`` with its people and distance, never ``area_crosses_river``
    (the city run reported "a part enclosed by rivers holds only 5 people" there)::

        +--------+          +--+
        | a  300 |  115 m   |e5|
        +--------+          +--+
    """
    poly = shapely.union(shapely.box(0, 0, 100, 100), shapely.box(215, 0, 235, 20))
    b = _buildings([("a", 50, 50, 300, 6.0, 100.0), ("e", 225, 10, 5, 1.0, 2.0)])
    res = solve_village("310118002001", "x", poly, b, barrier_lines(crs=CRS))
    codes = {p["code"] for p in res.problems}
    assert "area_crosses_river" not in codes
    rows = [p for p in res.problems if p["code"] == "area_exclave_link"]
    assert len(rows) == 1 and "5 people, 115 m away" in rows[0]["message"]
    assert res.areas["river_crossings"].tolist() == [0]


def test_every_river_crossing_has_a_reason():
    """A river cuts off the east column of a 4 x 4 grid of buildings. With 50 people a
    building the east bank holds 200 (too few for an area); with 100, 400 (no number of
    areas holds it inside 240-360). Either way an area crosses the river, and its
    ``area_crosses_river`` row proves why::

        +-----------------+~+-----+
        |  b    b    b    |~|  b  |    ~ river at x = 310
        |  b    b    b    |~|  b  |
        +-----------------+~+-----+
    """
    for pop, why in ((50, "holds only 200 people, too few"), (100, "400 people: 1 area holds at most 360")):
        poly, b, bars = _grid_village(n=4, pop=pop, river_x=310)
        res = solve_village("310118002001", "x", poly, b, bars)
        rows = [p for p in res.problems if p["code"] == "area_crosses_river"]
        assert rows and all("proven impossible" in p["message"] for p in rows), rows
        assert any(why in p["message"] for p in rows), rows
        assert (res.areas["population"].between(240, 360)).all()


def test_pinned_nodes_honoured():
    g = nx.path_graph(6)
    for u, v in g.edges:
        g.edges[u, v].update(length=10.0, barrier="none", rank=0)
    pop = {n: 100 for n in g}
    xy = {n: np.array([float(n), 0.0]) for n in g}
    r = solve_graph(g, pop, xy, pinned={0: "A", 2: "A", 5: "B"})
    where = {n: i for i, a in enumerate(r.areas) for n in a}
    assert where[0] == where[2] != where[5]
    assert r.labels[where[0]] == "A" and r.labels[where[5]] == "B"


def test_codes_serpentine():
    """Four squares in a 2 x 2 grid: NW=001, NE=002, SE=003, SW=004."""
    polys = [shapely.box(0, 0, 10, 10), shapely.box(10, 0, 20, 10),
             shapely.box(0, 10, 10, 20), shapely.box(10, 10, 20, 20)]
    assert serpentine_order(polys) == [2, 3, 1, 0]
    codes = assign_codes("310118002001", polys)
    assert codes[2] == "310118002001001" and codes[0] == "310118002001004"
    kept = assign_codes("310118002001", polys, previous={0: "310118002001001"})
    assert kept[0] == "310118002001001" and len(set(kept)) == 4


def test_tiny_township_end_to_end(tmp_path):
    path = write_synthetic_gpkg(tmp_path / "t.gpkg", n_villages=2, people=2000, seed=3)
    res = partition_project(path, progress=False)
    b = gpd.read_file(path, layer=S.LAYER_BUILDINGS)
    ba = pd.DataFrame(gpd.read_file(path, layer=S.LAYER_BUILDING_AREAS))
    assert set(b["building_id"]) == set(ba["building_id"])
    assert ba["population"].sum() == b["population"].sum()
    assert (b["area_code"].str.len() == 15).all()
    areas = gpd.read_file(path, layer=S.LAYER_AREAS)
    vil = gpd.read_file(path, layer=S.LAYER_VILLAGES)
    for code, grp in areas.groupby("village_code"):
        vp = vil[vil["village_code"] == code].geometry.iloc[0]
        assert shapely.symmetric_difference(shapely.union_all(grp.geometry.values), vp).area < 1.0
        assert abs(grp.geometry.area.sum() - vp.area) < 1.0
    assert res.quality.iloc[-1]["non_contiguous"] == 0
    # the per-area quality columns, written to the layer
    assert areas["contiguous"].astype(bool).all()
    assert np.allclose(areas["deviation"], ((areas["population"] - 300) / 300).round(3))
    assert areas["balance_note"].notna().all()

    # one 居/村 re-solved beside the areas of a plan older than those columns: filled in
    from pucha.gis.write import update_gpkg

    update_gpkg(path, {S.LAYER_AREAS: areas.drop(columns=["contiguous", "deviation", "balance_note"])})
    first = sorted(areas["village_code"])[0]
    partition_project(path, progress=False, villages=[first])
    again = gpd.read_file(path, layer=S.LAYER_AREAS)
    assert len(again) == len(areas)
    assert again["contiguous"].astype(bool).all() and again["deviation"].notna().all()
    assert again["balance_note"].notna().all()


_DET = """
import json, sys
from pucha.gis.synthetic import synthetic_township
from pucha.partition.run import partition_frames
r = partition_frames(synthetic_township(n_villages=3, people=6000, seed=1))
print(json.dumps(sorted(zip(r.building_areas.building_id, r.building_areas.part.astype(int).tolist(),
                            r.building_areas.area_code))))
"""


def test_deterministic_across_hash_seeds():
    outs = []
    for seed in ("1", "12345"):
        env = dict(os.environ, PYTHONHASHSEED=seed)
        out = subprocess.run([sys.executable, "-c", _DET], env=env, capture_output=True, text=True,
                             check=True).stdout
        outs.append(json.loads(out))
    assert outs[0] == outs[1] and len(outs[0]) > 100


def test_real_demo_project(tmp_path):
    """The bundled real-OSM demo (外滩): two 居委会 partitioned, tiling and people conserved."""
    from pathlib import Path

    from pucha.config import load_config
    from pucha.gis.project import import_project

    demo = Path(__file__).resolve().parent.parent / "pucha" / "data" / "demo" / "demo.toml"
    if not demo.exists():
        pytest.skip("demo data not present")
    gpkg = import_project(load_config(demo), out=tmp_path / "demo.gpkg").gpkg
    villages = ["310101013007", "310101013008"]
    res = partition_project(gpkg, progress=False, villages=villages)
    b = gpd.read_file(gpkg, layer=S.LAYER_BUILDINGS)
    b = b[b["village_code"].isin(villages)]
    assert res.building_areas["population"].sum() == b["population"].sum()
    assert set(res.building_areas["building_id"]) == set(b["building_id"])
    vil = gpd.read_file(gpkg, layer=S.LAYER_VILLAGES)
    for code, grp in res.areas.groupby("village_code"):
        vp = vil[vil["village_code"] == code].geometry.iloc[0]
        assert shapely.symmetric_difference(shapely.union_all(grp.geometry.values), vp).area < 1.0
        assert abs(grp.geometry.area.sum() - vp.area) < 1.0
        assert grp["contiguous"].all()


def test_cut_plan_forced_cuts_a_building_inside_the_band_only_with_floors_or_units():
    assert cut_plan(242, 8.0, float("nan")) == (1, "")
    assert cut_plan(242, 8.0, float("nan"), force=True) == (2, "floor")
    assert cut_plan(242, float("nan"), 40.0, force=True) == (2, "unit")
    assert cut_plan(242, float("nan"), float("nan"), force=True) == (1, "")
    assert cut_plan(242, 1.0, 1.0, force=True) == (1, "")  # one floor, one unit: nothing to cut
    assert cut_plan(900, 30.0, 300.0, force=True) == (3, "floor")  # above the band: as without force


def _scattered_village(total, seed=0, size=800.0):
    """A 村 of ``total`` people in houses of 1-3 people scattered over a square, a village
    road east-west and a track north-south (the 居/村 of the city run that took 103 s)::

        +----------|---------+
        |  h  h    |  h   h  |
        |=====================   村道 (minor road)
        |  h    h  | h  h    |
        +----------|---------+   track (minor)
    """
    rng = np.random.default_rng(seed)
    rows, left = [], total
    while left > 0:
        p = int(min(left, rng.integers(1, 4)))
        x, y = rng.uniform(20, size - 20, 2)
        rows.append((f"h{len(rows)}", x, y, p, 2.0, np.nan))
        left -= p
    roads = gpd.GeoDataFrame({"name": ["村道", ""], "road_class": ["minor", "minor"]},
                             geometry=[shapely.LineString([(0, size / 2), (size, size / 2 + 10)]),
                                       shapely.LineString([(size * .38, 0), (size * .39, size)])], crs=CRS)
    return shapely.box(0, 0, size, size), _buildings(rows), barrier_lines(roads, crs=CRS)


def test_a_village_no_number_of_areas_fits_is_proven_at_once():
    """475 people with 240-360: one area is above 360, two need 480. The solver knows it
    before searching: two areas, one of them at 240 (the fewest people outside the band),
    the other's row carries the proof, every area outside ±10% a balance_note, and the
    whole 居/村 (231 houses) takes well under a CPU-second (the search used to spend its
    whole budget and every restart on it: 18.7 s here)."""
    import time
    poly, b, bars = _scattered_village(475)
    t = time.process_time()
    res = solve_village("310118002201", "试村村委会", poly, b, bars, crs=CRS)
    cpu = time.process_time() - t
    assert cpu < 1.0, cpu
    assert sorted(res.areas["population"]) == [235, 240]
    rows = [p for p in res.problems if p["code"] == "area_below_band"]
    assert len(rows) == 1 and "proven impossible" in rows[0]["message"]
    assert "2 areas need at least 480" in rows[0]["message"]
    assert not any(p["code"] == "time_limit" for p in res.problems)
    assert all("proven impossible" in n for n in res.areas["balance_note"])
    assert choose_k(475) == 2 and choose_k(700) == 2 and choose_k(370) == 1


def test_a_tower_inside_the_band_is_cut_by_floors_when_that_brings_areas_within_ten_percent():
    """Four towers, 15 people a floor: three of 315 (21 floors) and one of 255 (17). Whole,
    they are four areas inside 240-360, one of them 255, outside ±10% (270-330). The
    second pass cuts towers by floors (纵向切割) though they fit the band, and every area
    ends within ±10%, each floor range at least one floor; the problems row says why::

        +------+
        |  t2  |  315
        |  t3  |  255   takes the top floors of t1 (a cut tower's first and last
        |  t1  |  315   floor ranges face north)
        |  t0  |  315
        +------+
    """
    poly = shapely.box(0, 0, 100, 400)
    b = _buildings([("t0", 50, 50, 315, 21.0, 42.0), ("t1", 50, 150, 315, 21.0, 42.0),
                    ("t3", 50, 250, 255, 17.0, 34.0), ("t2", 50, 350, 315, 21.0, 42.0)])
    res = solve_village("310118002001", "x", poly, b, barrier_lines(crs=CRS))
    assert len(res.areas) == 4
    assert res.areas["population"].between(270, 330).all(), res.areas["population"].tolist()
    assert (res.areas["balance_note"] == "").all()
    assert any(p["code"] == "building_cut_for_balance" for p in res.problems)
    ba = res.building_areas
    cut = ba[ba["floor_from"].notna()]
    assert len(cut) and ((cut["floor_to"] - cut["floor_from"]) >= 0).all()
    assert ba.groupby("building_id").size().max() >= 2


def test_every_area_outside_ten_percent_names_its_cause_on_the_high_rise_family():
    """The high-rise family of the benchmark (benchmarks/families/highrise.py, reduced: 8
    居委会, 263 towers of 18-33 floors, floors and dwellings known), a generator the
    solver was not tuned on: every area inside the band, at least 85% within ±10%, and
    every area outside ±10% carries a balance_note naming its cause."""
    import sys
    from pathlib import Path
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
    try:
        from families import highrise
    finally:
        sys.path.pop(0)
    from pucha.partition.run import _village_inputs
    layers = highrise.make(0, small=True)
    v = layers["villages"]
    bars = barrier_lines(layers["roads"], None, layers["water"], None, crs=v.crs)
    rows = []
    for code, name, poly, b, bar in _village_inputs(v, layers["buildings"], bars, sorted(v["village_code"])):
        rows.append(solve_village(code, name, poly, b, bar, crs=v.crs).areas)
    areas = pd.concat(rows)
    assert areas["population"].between(240, 360).all()
    out = (areas["population"] - 300).abs() * 10 > 300
    assert 1 - out.mean() >= 0.85
    assert (areas.loc[out, "balance_note"] != "").all()

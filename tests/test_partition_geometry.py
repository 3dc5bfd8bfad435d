"""Geometry of the partition: cells and area polygons tile each 居/村 exactly.

What is checked (CENSUS-RULES.md "areas of a 居/村 tile it exactly"; issue 3):

- cells: every building gets one cell, each cell is ONE polygon, the cells tile the
  居/村 (sum of areas == area of the union == area of the 居/村, no gap, no overlap),
  on drawn fixtures and on real OSM footprints/roads/water (Lujiazui, Wuhan) with
  invalid inputs repaired and no GEOS TopologyException;
- every building's footprint lies in its own cell (enclosed tessellation), also when
  two OSM outlines overlap in part;
- a tower cut vertically (纵向切割): each part's area holds a strip of the footprint
  and the union of its areas holds the whole footprint;
- area polygons: one Polygon per area (the 居/村 has one part), overlap 0 m², gap < 1 m²,
  on the real Lujiazui extract and on the synthetic township, and ``pucha check``
  finds no contiguity or tiling error there.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely

from pucha.gis import schema as S
from pucha.partition.cells import barrier_lines, village_cells
from pucha.partition.polygons import area_polygons, without_slivers
from pucha.partition.run import partition_frames, solve_village

CRS = "EPSG:4549"
V = "310118002001"


def _buildings(rows, crs=CRS):
    """rows: (id, geometry, population, floors, dwellings)."""
    return gpd.GeoDataFrame({
        "building_id": [r[0] for r in rows], "village_code": V,
        "population": [r[2] for r in rows], "floors": [r[3] for r in rows],
        "dwellings": [r[4] for r in rows]}, geometry=[r[1] for r in rows], crs=crs)


def assert_tiles(polygon, geoms, *, what="cells", max_gap=1.0) -> dict:
    """``geoms`` tile ``polygon``: one Polygon each, no overlap, gap and spill < 1 m²."""
    geoms = [g for g in geoms if g is not None and not g.is_empty]
    for g in geoms:
        assert g.geom_type == "Polygon", f"a {what[:-1]} is a {g.geom_type}"
        assert g.is_valid, shapely.is_valid_reason(g)
    arr = np.asarray(geoms, dtype=object)
    union = shapely.union_all(arr)
    total = float(shapely.area(arr).sum())
    overlap = total - union.area
    gap = shapely.difference(polygon, union).area
    spill = shapely.difference(union, polygon).area
    assert overlap < 1e-6, f"{what} overlap by {overlap:.6f} m²"
    assert gap < max_gap, f"{what} leave a gap of {gap:.4f} m²"
    assert spill < max_gap, f"{what} spill {spill:.4f} m² out of the 居/村"
    # pairwise: no two share more than an edge
    tree = shapely.STRtree(arr)
    a, b = tree.query(arr, predicate="overlaps")
    worst = max((shapely.intersection(arr[i], arr[j], grid_size=1e-6).area
                 for i, j in zip(a, b) if i < j), default=0.0)
    assert worst < 1e-6, f"two {what} overlap by {worst:.6f} m²"
    return {"overlap": overlap, "gap": gap, "spill": spill}


def own_share(cells: gpd.GeoDataFrame, buildings: gpd.GeoDataFrame) -> pd.Series:
    """Share of each building's footprint inside the union of its own cells."""
    out = {}
    for bid, grp in cells[cells["building_id"].notna()].groupby("building_id"):
        fp = buildings.loc[buildings["building_id"] == bid].geometry.iloc[0]
        u = shapely.union_all(grp.geometry.values)
        out[bid] = shapely.intersection(fp, u, grid_size=1e-6).area / fp.area
    return pd.Series(out)


# --------------------------------------------------------------------------- drawn fixtures


def test_footprints_in_their_own_cells_with_road_and_overlaps():
    """A 200 x 120 m 居/村 with a road, two outlines overlapping in part, a duplicate
    outline, a building across the road and an invalid (bow-tie) footprint::

        +------------------------------------+
        |  [A]  [B][C]     [D=D']            |
        |=============road===[E]=============|
        |  [F]   bow-tie G                   |
        +------------------------------------+
    """
    poly = shapely.box(0, 0, 200, 120)
    bow = shapely.Polygon([(60, 20), (80, 40), (80, 20), (60, 40)])  # invalid
    rows = [
        ("A", shapely.box(10, 80, 30, 100), 40, 6.0, 20.0),
        ("B", shapely.box(50, 80, 70, 100), 40, 6.0, 20.0),
        ("C", shapely.box(62, 82, 80, 98), 40, 6.0, 20.0),      # overlaps B by 8 x 16
        ("D", shapely.box(110, 80, 130, 100), 40, 6.0, 20.0),
        ("D2", shapely.box(110, 80, 130, 100), 40, 6.0, 20.0),  # the same outline again
        ("E", shapely.box(150, 50, 170, 70), 40, 6.0, 20.0),    # across the road y=60
        ("F", shapely.box(10, 10, 30, 30), 40, 6.0, 20.0),
        ("G", bow, 40, 6.0, 20.0),
    ]
    b = _buildings(rows)
    roads = gpd.GeoDataFrame({"name": ["青安路"], "road_class": ["minor"]},
                             geometry=[shapely.LineString([(-5, 60), (205, 60)])], crs=CRS)
    bars = barrier_lines(roads, crs=CRS)
    cells, _ = village_cells(poly, b, bars)
    assert_tiles(poly, cells.geometry.values)
    assert sorted(cells["building_id"].dropna()) == sorted(r[0] for r in rows)
    assert (cells.geometry.area[cells["building_id"].notna()] > 0).all()
    share = own_share(cells, b.assign(geometry=shapely.make_valid(b.geometry.values)))
    for bid in ("A", "B", "C", "E", "F", "G"):
        assert share[bid] > 0.99 or (bid in "BC" and share[bid] >= 0.5), (bid, share[bid])
    assert share[["B", "C"]].min() >= 0.5          # the overlap is shared, not taken by one
    # the cell of a building that is not across the road stays on its side
    f = cells.loc[cells["building_id"] == "F"].geometry.iloc[0]
    assert f.bounds[3] <= 60 + 1e-6
    # deterministic: the same input gives the same cells
    again, _ = village_cells(poly, b, bars)
    assert [g.wkb for g in again.geometry] == [g.wkb for g in cells.geometry]


def test_invalid_village_polygon_repaired():
    """A self-touching 居/村 polygon (bow-tie) is repaired, not crashed on."""
    poly = shapely.Polygon([(0, 0), (200, 200), (200, 0), (0, 200)])
    b = _buildings([("a", shapely.box(20, 90, 30, 110), 50, 6.0, 20.0),
                    ("b", shapely.box(170, 90, 180, 110), 50, 6.0, 20.0)])
    cells, _ = village_cells(poly, b, barrier_lines(crs=CRS))
    fixed = shapely.make_valid(poly)
    union = shapely.union_all(cells.geometry.values)
    assert abs(union.area - fixed.area) < 1.0
    assert shapely.symmetric_difference(union, fixed).area < 1.0
    assert sorted(cells["building_id"].dropna()) == ["a", "b"]


def _tower_village():
    """A 300 x 300 m 居/村: an L-shaped 30-floor tower of 900 people among 30-people houses."""
    poly = shapely.box(0, 0, 300, 300)
    tower = shapely.Polygon([(120, 130), (180, 130), (180, 150), (160, 150), (160, 170),
                             (120, 170)])  # an L-shaped footprint
    rows = [("t1", tower, 900, 30.0, 300.0)]
    k = 0
    for x in range(20, 300, 60):
        for y in range(20, 300, 60):
            if 100 < x < 200 and 100 < y < 200:
                continue
            k += 1
            rows.append((f"h{k:02d}", shapely.box(x, y, x + 14, y + 10), 30, 3.0, 10.0))
    return poly, tower, _buildings(rows)


def test_cut_tower_lies_inside_its_areas():
    """The tower is cut in wedges around the centre of its footprint: each of its areas
    holds one run of consecutive floors and a piece of the footprint, and the union of
    its areas holds all of it."""
    poly, tower, b = _tower_village()
    res = solve_village(V, "x", poly, b, barrier_lines(crs=CRS))
    ba = res.building_areas[res.building_areas["building_id"] == "t1"].sort_values("part")
    assert 3 <= len(ba) <= 5 and ba["area_code"].nunique() == len(ba)  # one run of floors per area
    assert ba["floor_from"].tolist() == [1.0] + (ba["floor_to"].to_numpy()[:-1] + 1).tolist()
    assert ba["floor_to"].iloc[-1] == 30.0 and ba["population"].sum() == 900
    areas = res.areas.set_index("area_code")
    parts = [shapely.intersection(tower, areas.loc[c, "geometry"], grid_size=1e-6).area / tower.area
             for c in ba["area_code"]]
    assert min(parts) > 0.05, parts                   # every part holds a piece of it
    union = shapely.union_all(areas.loc[ba["area_code"], "geometry"].values)
    assert shapely.intersection(tower, union, grid_size=1e-6).area / tower.area > 0.999
    assert_tiles(poly, res.areas.geometry.values, what="areas")


def test_rest_of_a_village_without_locked_areas_has_no_sliver_parts():
    """A 居/村 less the union of areas drawn from it (locked areas) differs from the
    rest only by hairline slivers where the two disagree in the last digits: they are
    dropped (not reported as 飞地 parts); a real detached part stays."""
    village = shapely.Polygon([(0, 0), (100, 0), (100, 100), (0, 100)])
    # its left edge bends 0.001 mm inside the 居/村's: a hairline triangle is left over
    locked = shapely.Polygon([(0, 0), (50, 0), (50, 60), (0, 60), (0, 40), (1e-6, 30), (0, 20)])
    rest = village.difference(locked)
    assert len(shapely.get_parts(rest)) == 2 and min(shapely.area(shapely.get_parts(rest))) < 1e-4
    clean = without_slivers(rest)
    assert clean.geom_type == "Polygon" and abs(clean.area - rest.area) < 1e-4
    real = shapely.MultiPolygon([village, shapely.box(200, 0, 201, 1)])  # a 1 m² 飞地 stays
    assert without_slivers(real).equals(real)
    assert without_slivers(shapely.Polygon()).is_empty


def test_area_polygons_are_one_polygon_from_cells():
    """area_polygons dissolves cells that share edges into one clean polygon."""
    cells = [shapely.box(0, 0, 10, 10), shapely.box(10, 0, 20, 10), shapely.box(0, 10, 20, 20),
             shapely.box(20, 0, 30, 20)]
    out = area_polygons(cells, [[0, 1, 2], [3]])
    assert [g.geom_type for g in out] == ["Polygon", "Polygon"]
    assert out[0].equals(shapely.box(0, 0, 20, 20)) and len(out[0].interiors) == 0
    assert out[1].equals(cells[3])


# --------------------------------------------------------------------------- real OSM


def _osm_village(osm: Path, crs: str, bbox=None):
    """Real OSM footprints, roads and water in a metric CRS, one irregular 居/村 over them."""
    b = pyogrio.read_dataframe(osm, layer="buildings", bbox=bbox).to_crs(crs)
    r = pyogrio.read_dataframe(osm, layer="roads", bbox=bbox).to_crs(crs)
    w = pyogrio.read_dataframe(osm, layer="water", bbox=bbox).to_crs(crs)
    b = b[b.geometry.geom_type.isin(["Polygon", "MultiPolygon"])].reset_index(drop=True)
    x0, y0, x1, y1 = b.total_bounds
    cx, cy, rx, ry = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) * 0.42, (y1 - y0) * 0.42
    ang = np.linspace(0, 2 * np.pi, 23, endpoint=False)
    wob = 1 + 0.12 * np.sin(3 * ang)
    village = shapely.Polygon(np.column_stack([cx + rx * wob * np.cos(ang), cy + ry * wob * np.sin(ang)]))
    rp = b.geometry.representative_point()
    b = b[rp.within(village).values].reset_index(drop=True)
    height = pd.to_numeric(b.get("height"), errors="coerce").fillna(9.0)
    floors = np.clip(np.round(height / 3.0), 1, 60)
    pop = np.minimum(np.maximum(1, np.round(b.geometry.area * floors * 0.01)), 900).astype(int)
    buildings = gpd.GeoDataFrame({
        "building_id": [f"osm{int(i)}_{k}" for k, i in enumerate(b["id"])], "village_code": V,
        "population": pop, "floors": floors.astype(float), "dwellings": np.round(pop / 2.2)},
        geometry=b.geometry.values, crs=crs)
    kind = {"major_road": "major", "minor_road": "minor", "path": "path"}
    r = r[r["kind"].isin(list(kind))]
    roads = gpd.GeoDataFrame({"name": r["name"].fillna("").astype(str),
                              "road_class": r["kind"].map(kind)}, geometry=r.geometry.values, crs=crs)
    w = w[~w.geometry.geom_type.isin(["Point", "MultiPoint"])]
    water = gpd.GeoDataFrame({"name": w["name"].fillna("").astype(str)}, geometry=w.geometry.values,
                             crs=crs)
    return village, buildings, barrier_lines(roads, None, water, None, crs=crs)


@pytest.mark.parametrize("which", ["lujiazui", "wuhan"])
def test_real_osm_cells_tile(which, lujiazui_gpkg, wuhan_gpkg):
    """Real OSM footprints (overlapping building parts, odd rings) with roads and water:
    cells tile the 居/村 exactly, one per building, each one polygon."""
    if which == "lujiazui":
        village, b, bars = _osm_village(lujiazui_gpkg, "EPSG:32651")
    else:
        village, b, bars = _osm_village(wuhan_gpkg, "EPSG:32650")
    assert len(b) > 100 and len(bars) > 50
    cells, _ = village_cells(village, b, bars)
    m = assert_tiles(village, cells.geometry.values)
    assert m["gap"] < 0.05 and m["spill"] < 0.05
    parted = cells[cells["building_id"].notna()]
    assert set(parted["building_id"]) == set(b["building_id"])
    assert (parted.groupby("building_id")["population"].sum().reindex(b["building_id"]).values
            == b["population"].values).all()
    # a footprint lies in its own cell(s) unless other outlines cover it
    share = own_share(cells, b)
    tree = shapely.STRtree(b.geometry.values)
    for bid in share.index[share < 0.5]:
        fp = b.loc[b["building_id"] == bid].geometry.iloc[0]
        others = [b.geometry.values[i] for i in tree.query(fp, predicate="intersects")
                  if b["building_id"].iat[i] != bid]
        covered = shapely.intersection(fp, shapely.union_all(others)).area / fp.area if others else 0
        outside = 1 - shapely.intersection(fp, village).area / fp.area
        assert covered + outside > 0.5, f"{bid}: {share[bid]:.0%} in its cell, {covered:.0%} covered"


def test_real_lujiazui_areas_tile(tmp_path, lujiazui_gpkg):
    """The engine on real Lujiazui OSM (two 居/村): areas tile each 居/村, one polygon each."""
    from fixture_outputs import make_lujiazui_project
    from pucha.gis.write import list_layers, read_layer

    gpkg = make_lujiazui_project(tmp_path / "l.gpkg", lujiazui_gpkg)
    layers = {n: read_layer(gpkg, n) for n in (S.LAYER_VILLAGES, S.LAYER_BUILDINGS, S.LAYER_ROADS,
                                                S.LAYER_WATER) if n in list_layers(gpkg)}
    res = partition_frames(layers, progress=False)
    assert len(res.areas) > 10
    for vc, grp in res.areas.groupby("village_code"):
        vg = layers[S.LAYER_VILLAGES].set_index("village_code").loc[vc, "geometry"]
        m = assert_tiles(vg, grp.geometry.values, what="areas")
        assert m["gap"] < 0.05 and m["spill"] < 0.05
    b = layers[S.LAYER_BUILDINGS]
    assert int(res.building_areas["population"].sum()) == int(b["population"].sum())
    # an area outside ±10% whose note blames one whole building holds that building, whole
    off = res.areas[(res.areas["population"] - 300).abs() > 30]
    ba = res.building_areas
    for code, note in zip(off["area_code"], off["balance_note"]):
        if note.startswith("building "):
            bid = note.split()[1]
            row = ba[(ba["building_id"] == bid) & (ba["area_code"] == code)]
            assert len(row) == 1 and row["part"].iat[0] == 0 and row["population"].iat[0] > 330
    assert (res.areas.loc[(res.areas["population"] - 300).abs() <= 30, "balance_note"] == "").all()


# --------------------------------------------------------------------------- synthetic + check


def test_synthetic_township_plan_passes_geometry_checks(tmp_path):
    """Synthetic 盈浦-like township (towers cut vertically, rivers, roads): ``pucha partition``
    then ``pucha check``: contiguity (incl. cut towers inside their areas) and tiling OK."""
    from pucha.gis.synthetic import write_synthetic_gpkg
    from pucha.gis.write import read_layer
    from pucha.partition.check import check_plan
    from pucha.partition.run import partition_project

    gpkg = write_synthetic_gpkg(tmp_path / "s.gpkg", seed=3, n_villages=2, people=9000)
    partition_project(gpkg, progress=False)
    ba = read_layer(gpkg, S.LAYER_BUILDING_AREAS)
    assert (ba["part"].astype(int) > 0).any(), "no tower was cut: the test lost its point"
    r = check_plan(gpkg, write_problems=False)
    assert r.errors("contiguity") == [], [i.message for i in r.errors("contiguity")]
    assert r.errors("tiling") == [], [i.message for i in r.errors("tiling")]
    areas = read_layer(gpkg, S.LAYER_AREAS)
    vil = read_layer(gpkg, S.LAYER_VILLAGES).set_index("village_code")
    for vc, grp in areas.groupby("village_code"):
        assert_tiles(vil.loc[vc, "geometry"], grp.geometry.values, what="areas")


def test_check_passes_a_tower_cut_in_three(tmp_path):
    """``pucha check`` on the cut tower: no part's area holds half the footprint, the
    union of its areas does, so there is no building_outside_area error."""
    from pucha.gis.write import read_layer, update_gpkg
    from pucha.partition.check import check_plan
    from pucha.partition.run import partition_project

    poly, tower, b = _tower_village()
    n = len(b)
    b = b.assign(name="", address="", use="住宅", residential=True, height=np.nan,
                 pop_method="given", pop_guessed=False, locked=False, area_code="", source="test")
    b = gpd.GeoDataFrame(b[list(S.BUILDING_COLUMNS)], geometry=b.geometry.values, crs=CRS)
    villages = gpd.GeoDataFrame({"village_code": [V], "name": ["庆华居委会"], "kind": ["居委会"],
                                 "locked": [False]}, geometry=[poly], crs=CRS)
    township = gpd.GeoDataFrame({"code": [V[:9]], "name": ["盈浦街道"]}, geometry=[poly], crs=CRS)
    problems = gpd.GeoDataFrame({c: pd.Series([], dtype=str) for c in S.PROBLEM_COLUMNS},
                                geometry=gpd.GeoSeries([], crs=CRS), crs=CRS)
    gpkg = update_gpkg(tmp_path / "t.gpkg", {"township": township, "villages": villages,
                                             "buildings": b, "problems": problems}, fresh=True)
    partition_project(gpkg, progress=False)
    ba = read_layer(gpkg, S.LAYER_BUILDING_AREAS)
    assert len(ba) == n - 1 + (ba["building_id"] == "t1").sum() and (ba["building_id"] == "t1").sum() >= 3
    areas = read_layer(gpkg, S.LAYER_AREAS).set_index("area_code")
    shares = [tower.intersection(areas.loc[c, "geometry"]).area / tower.area
              for c in ba.loc[ba["building_id"] == "t1", "area_code"]]
    assert min(shares) > 0.05 and sum(shares) > 0.999  # each holds a piece, the union all of it
    r = check_plan(gpkg, write_problems=False)
    assert r.errors("contiguity") == [], [i.message for i in r.errors("contiguity")]
    assert r.errors("tiling") == []


def test_vectorised_cell_helpers_match_their_scalar_forms():
    """The array forms used by the tessellation give what the one-by-one forms give:
    the wedges of a cut building share its cell (holes, several parts, either
    orientation) in about equal areas, each holding some of its ground; _polygonal_many is _polygonal of each element;
    _dissolve_many is dissolve of each group."""
    from pucha.partition import cells as C
    from pucha.partition.polygons import dissolve

    x0, y0 = 641300.0, 3458700.0
    ring = shapely.Polygon([(x0, y0), (x0 + 60, y0 + 5), (x0 + 55, y0 + 30), (x0 + 20, y0 + 40), (x0 - 5, y0 + 20)],
                           holes=[[(x0 + 10, y0 + 10), (x0 + 20, y0 + 10), (x0 + 20, y0 + 20), (x0 + 10, y0 + 20)]])
    tall = shapely.affinity.rotate(ring, 90, origin=(x0, y0))
    multi = shapely.MultiPolygon([ring, shapely.box(x0 + 80, y0, x0 + 90, y0 + 8)])
    ground = shapely.box(x0 + 25, y0 + 12, x0 + 40, y0 + 25)
    for piece in (ring, shapely.reverse(ring), tall, multi):
        g = ground if piece is not tall else shapely.affinity.rotate(ground, 90, origin=(x0, y0))
        for n in (2, 3, 5):
            cx, cy, rays = C._wedges(piece, g, n)
            assert shapely.contains_xy(g, cx, cy) and np.all(np.diff(rays) > 0) and rays[-1] - rays[0] < 2 * np.pi
            reach = 1e3
            ends = [*rays, rays[0] + 2 * np.pi]
            wedges = [shapely.Polygon([(cx, cy)] + [(cx + reach * np.cos(t), cy + reach * np.sin(t))
                                                    for t in np.linspace(a, b, 64)])
                      for a, b in zip(ends, ends[1:])]
            areas = [shapely.intersection(piece, w).area for w in wedges]
            np.testing.assert_allclose(areas, piece.area / n, rtol=0.05)  # a 64 x 64 sample
            assert min(shapely.intersection(g, w).area for w in wedges) > 0  # each holds some ground
    bowtie = shapely.Polygon([(0, 0), (2, 2), (2, 0), (0, 2)])
    geoms = [None, shapely.Polygon(), shapely.box(0, 0, 1.234567891, 1), bowtie, shapely.LineString([(0, 0), (1, 1)]),
             shapely.GeometryCollection([shapely.box(5, 5, 6, 6), shapely.Point(0, 0)]), multi,
             shapely.box(0, 0, 1e-7, 1e-7)]
    for grid in (None, 1e-5, 1e-2):
        got = C._polygonal_many(geoms, grid)
        want = [C._polygonal(g, grid) for g in geoms]
        assert [shapely.to_wkb(g) for g in got] == [shapely.to_wkb(g) for g in want], grid

    cells = list(shapely.get_parts(shapely.polygonize(shapely.get_parts(shapely.union_all(
        [shapely.box(0, 0, 30, 30).boundary, shapely.LineString([(10, -1), (10, 31)]),
         shapely.LineString([(-1, 12), (31, 12)]), shapely.LineString([(20, -1), (20, 31)])], grid_size=1e-5)))))
    groups = [cells[:2], cells[2:5], [cells[5]], cells[1:4], [cells[0], cells[4]]]
    got = C._dissolve_many(groups)
    assert [shapely.to_wkb(g) for g in got] == [shapely.to_wkb(dissolve(g)) for g in groups]

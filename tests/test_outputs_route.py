"""pucha.outputs.route: open tour, street distances, start corner, cut buildings."""

from __future__ import annotations

import itertools

import geopandas as gpd
import numpy as np
import pytest
from shapely.geometry import LineString, Point, box

from fixture_outputs import X0, Y0, make_lujiazui_project, make_tiny_project
from pucha.outputs.project import load_project
from pucha.outputs.route import entrance_corner, number_area, open_tour, tour_length, walking_route


def _brute(d: np.ndarray, start: int) -> float:
    rest = [i for i in range(len(d)) if i != start]
    return min(tour_length(d, [start, *p]) for p in itertools.permutations(rest))


@pytest.mark.parametrize("seed", range(6))
def test_open_tour_near_optimal_on_random_points(seed):
    rng = np.random.default_rng(seed)
    pts = rng.uniform(0, 100, (8, 2))
    d = np.hypot(*(pts[:, None, :] - pts[None, :, :]).transpose(2, 0, 1))
    order = open_tour(d, 0)
    assert sorted(order) == list(range(8)) and order[0] == 0
    assert tour_length(d, order) <= 1.05 * _brute(d, 0) + 1e-9


def test_open_tour_deterministic_and_line():
    """Points on a line, shuffled:  0 . . . 3 . 1 . 2  -> visited left to right."""
    pts = np.array([[0, 0], [50, 0], [70, 0], [30, 0]], dtype=float)
    assert walking_route(pts).order == [0, 3, 1, 2]
    assert walking_route(pts).order == walking_route(pts).order


def test_street_distance_beats_straight_line_across_a_block():
    """Two rows of houses on both sides of a wall-like block; the only street is a U.

        A(0,10)      B(100,10)          street: (0,0)-(0,-50)-(100,-50)-(100,0)
        |               |
        +------U--------+
    Straight-line A-B is 100 m; along the street it is much longer, but still
    used (detour < 3x). The drawn leg follows the street.
    """
    road = gpd.GeoDataFrame({"road_id": ["u"], "name": ["环路"], "road_class": ["minor"]},
                            geometry=[LineString([(0, 0), (0, -50), (100, -50), (100, 0)])],
                            crs="EPSG:4549")
    pts = np.array([[0, 10], [100, 10]], dtype=float)
    r = walking_route(pts, roads=road, start=Point(0, 0))
    assert r.along_roads
    assert r.length_m > 200
    leg = r.legs[1]
    assert leg.length > 200 and min(y for _, y in leg.coords) == pytest.approx(-50)


def test_far_from_roads_falls_back_to_straight_lines():
    road = gpd.GeoDataFrame({"road_id": ["r"], "name": ["远路"], "road_class": ["major"]},
                            geometry=[LineString([(0, 1000), (100, 1000)])], crs="EPSG:4549")
    pts = np.array([[0, 0], [10, 0], [20, 0]], dtype=float)
    r = walking_route(pts, roads=road, start=Point(0, 0))
    assert not r.along_roads
    assert r.length_m == pytest.approx(20)


def test_entrance_corner_is_nearest_major_road():
    area = box(0, 0, 100, 100)
    roads = gpd.GeoDataFrame({"road_id": ["a", "b"], "name": ["小路", "大路"],
                              "road_class": ["minor", "major"]},
                             geometry=[LineString([(-10, 0), (-10, 100)]),
                                       LineString([(120, 90), (200, 150)])], crs="EPSG:4549")
    c = entrance_corner(area, roads)
    assert (c.x, c.y) == (100, 100)
    c2 = entrance_corner(area, roads[roads.road_class == "minor"])
    assert c2.x == 0


def test_tiny_project_numbers_and_cut_building(tmp_path):
    p = load_project(make_tiny_project(tmp_path / "t.gpkg"))
    south, route = number_area(p, "310118002001001")
    north, _ = number_area(p, "310118002001002")
    assert list(south["number"]) == list(range(1, 14))
    # the cut tower appears once in each area, with its floor range
    t_s = south[south.building_id == "tower"].iloc[0]
    t_n = north[north.building_id == "tower"].iloc[0]
    assert t_s.part_label == "1-10层" and t_n.part_label == "11-20层"
    assert t_s.population == 40 and t_n.population == 40
    # start: the corner of the area on 中山路 (the major road at y=200)
    assert route.start.y == pytest.approx(Y0 + 200)
    first = south.iloc[0].geometry.centroid
    assert first.y > Y0 + 90  # first building is in the row nearest the road
    assert len(route.legs) == len(south)
    assert route.legs[0].coords[0] == pytest.approx((route.start.x, route.start.y))


def test_real_lujiazui_routes_use_streets(tmp_path, lujiazui_gpkg):
    p = load_project(make_lujiazui_project(tmp_path / "l.gpkg", lujiazui_gpkg))
    total_pop = 0
    used = 0
    for code in p.area_codes():
        b, r = number_area(p, code)
        assert sorted(b["number"]) == list(range(1, len(b) + 1))
        assert b["building_id"].is_unique
        total_pop += int(b["population"].sum())
        used += r.along_roads
        # nearest-neighbour + improvement: never worse than visiting in id order
        straight = sum(leg.length for leg in r.legs)
        assert straight >= r.length_m * 0.5
    assert total_pop == int(p.building_areas["population"].sum())
    assert used >= 4


def test_residential_first_on_the_demo(tmp_path_factory):
    """On the demo (real import + partition): every building that may hold people is
    numbered, the first stop of every area with people holds people, and
    ``residential_only`` leaves out exactly the buildings nobody lives in."""
    from fixture_demo import demo_dir

    from pucha.outputs.route import holds_people

    p = load_project(demo_dir(tmp_path_factory) / "project.gpkg")
    mixed = 0
    for code in p.area_codes():
        b, route = number_area(p, code)
        holders = set(b.loc[b["holds_people"], "building_id"])
        assert holders == set(p.area_buildings(code).pipe(
            lambda d: d.loc[holds_people(d), "building_id"]))
        if holders:
            assert bool(b.iloc[0]["holds_people"]), f"{code}: stop 1 holds nobody"
        if holders and len(holders) < len(b):
            mixed += 1
            only, _ = number_area(p, code, residential_only=True)
            assert set(only["building_id"]) == holders
            assert list(only["number"]) == list(range(1, len(only) + 1))
    assert mixed >= 10  # the demo has many areas mixing homes and offices

"""pucha.partition.sizhi: the one 四至 algorithm (partition, maps, registers).

Layouts are drawn in each test's docstring; units are metres, y grows north.
"""

from __future__ import annotations

import geopandas as gpd
from shapely.geometry import LineString, Polygon, box

from pucha.outputs import sizhi as outputs_sizhi
from pucha.partition.sizhi import EDGE, describe_sides, sizhi, sizhi_text


def _lines(**named):
    return gpd.GeoDataFrame({"name": list(named)}, geometry=list(named.values()))


def test_corner_roads_name_only_the_side_they_run_along():
    """A 100 m square; 北路 runs along the north side and on past the north-east
    corner; 东路 runs along the east side and on past it. Each must name its own
    side only, not the side whose corner it passes.

            北路 ---------------------+--
            +----------------------+ |
            |                      | 东路
            +----------------------+ |
    """
    roads = _lines(北路=LineString([(-50, 104), (160, 104)]),
                   东路=LineString([(104, -60), (104, 160)]))
    sides = describe_sides(box(0, 0, 100, 100), roads=roads)
    assert sides == {"east": "东路", "south": EDGE, "west": EDGE, "north": "北路"}


def test_a_road_across_a_corner_names_no_side():
    """A road cuts across the south-west corner diagonally, 20 m of each side."""
    roads = _lines(斜路=LineString([(-10, 30), (30, -10)]))
    assert describe_sides(box(0, 0, 100, 100), roads=roads) == {
        "east": EDGE, "south": EDGE, "west": EDGE, "north": EDGE}


def test_river_side_and_road_beats_river_on_the_same_side():
    """The south side follows a river; the east side has both a road and a river
    (the road, which an enumerator walks, names it)."""
    water = _lines(小河=LineString([(-20, -6), (120, -6)]), 东河=LineString([(112, -20), (112, 120)]))
    roads = _lines(东路=LineString([(104, -20), (104, 120)]))
    sides = describe_sides(box(0, 0, 100, 100), roads=roads, water=water)
    assert sides["south"] == "小河" and sides["east"] == "东路"


def test_unnamed_side_falls_back_to_neighbour_then_edge():
    """West: an unnamed lane and a neighbouring area (第002普查小区); north: nothing."""
    roads = _lines(**{"": LineString([(-3, -10), (-3, 110)])})
    nb = gpd.GeoDataFrame({"label": ["第002普查小区"]}, geometry=[box(-100, 0, 0, 100)])
    sides = describe_sides(box(0, 0, 100, 100), roads=roads, neighbours=nb)
    assert sides["west"] == "第002普查小区" and sides["north"] == EDGE


def test_hand_edited_l_shape():
    """An L-shaped area (a clerk moved a block into it): its east side is the short
    arm's end; the road along the long arm's east edge is inside the notch and runs
    along only part of the east extent, the road at the arm's end names it.

        +----+
        |    |
        |    +-------+ |
        |            | 东路
        +------------+ |
    """
    area = Polygon([(0, 0), (100, 0), (100, 40), (40, 40), (40, 100), (0, 100)])
    roads = _lines(东路=LineString([(104, -10), (104, 50)]),
                   北街=LineString([(-10, 104), (50, 104)]))
    sides = describe_sides(area, roads=roads)
    assert sides["east"] == "东路" and sides["north"] == "北街"


def test_partition_call_labels_neighbours_by_sequence():
    """The partition's call names a neighbouring area by its 3-digit sequence."""
    out = sizhi(box(0, 0, 100, 100), _lines(南街=LineString([(-50, -4), (150, -4)])),
                [("310118002001007", box(100, 0, 200, 100))])
    assert out["east"] == "第007普查小区" and out["south"] == "南街"
    assert out["sizhi"] == "东至第007普查小区，南至南街，西至普查区界，北至普查区界"


def test_maps_and_partition_share_one_algorithm():
    assert outputs_sizhi.describe_sides is describe_sides
    assert outputs_sizhi.sizhi_text is sizhi_text

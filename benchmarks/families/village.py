"""乡村 family: 村 of 150-2,000 people in scattered houses, few roads, canals.

Each 村 (a relaxed Voronoi cell) gets a number of people drawn from 150-2,000 and
houses of 3-8 people (1-3 floors, one dwelling) in 1-4 hamlets (自然村) around random
centres, spread 40-120 m. Two county roads (major) cross the town and a lane or two
(minor) runs through some 村; a net of canals (6-10 m wide) cuts the fields, so many
hamlets lie between canals.
"""

from __future__ import annotations

import numpy as np
import shapely

from .common import X0, Y0, free_of, layers, voronoi_villages


def make(seed: int = 0, *, small: bool = False) -> dict:
    rng = np.random.default_rng(2000 + seed)
    n_cun = 8 if small else 24
    side = 1300.0 * np.sqrt(n_cun)
    town = shapely.box(X0, Y0, X0 + side, Y0 + side)
    villages = voronoi_villages(town, n_cun, rng, code0="320583105", kind="村委会", name="周庄合成")
    roads = []
    for k in range(2):  # county roads
        a = rng.uniform(0, np.pi)
        c = np.array([X0 + side * rng.uniform(.3, .7), Y0 + side * rng.uniform(.3, .7)])
        d = np.array([np.cos(a), np.sin(a)]) * side
        roads.append((shapely.LineString([c - d, c + d]), ["锦周公路", "大渔路"][k], "major"))
    water = []
    for k in range(3 if small else 6):  # canals, meandering across the town
        t = np.linspace(0, 1, 30)
        if k % 2 == 0:
            y = Y0 + side * rng.uniform(.1, .9)
            pts = np.column_stack([X0 - 20 + t * (side + 40), y + 60 * np.sin(t * 9 + k)])
        else:
            x = X0 + side * rng.uniform(.1, .9)
            pts = np.column_stack([x + 60 * np.sin(t * 7 + k), Y0 - 20 + t * (side + 40)])
        water.append((shapely.LineString(pts).buffer(rng.uniform(3, 5), cap_style="flat"),
                      f"{'东西南北中'[k % 5]}港", "canal"))
    xs, ys, pops = [], [], []
    for poly in villages.geometry:
        people = int(rng.integers(150, 2001))
        hamlets = int(rng.integers(1, 5))
        minx, miny, maxx, maxy = poly.bounds
        centres = []
        while len(centres) < hamlets:
            p = rng.uniform([minx, miny], [maxx, maxy])
            if shapely.contains_xy(poly.buffer(-60), *p):
                centres.append(p)
        if len(centres) > 1 or rng.uniform() < 0.6:  # a lane through the hamlets
            roads.append((shapely.LineString(centres + [centres[0] + [90, 40]]), "", "minor"))
        left = people
        while left > 0:
            p = int(min(left, rng.integers(3, 9)))
            if 0 < left - p < 3:
                p = left
            c = centres[rng.integers(len(centres))]
            xs.append(c[0] + rng.normal(0, rng.uniform(40, 120)))
            ys.append(c[1] + rng.normal(0, rng.uniform(40, 120)))
            pops.append(p)
            left -= p
    px, py, pop = np.array(xs), np.array(ys), np.array(pops)
    ok = free_of(px, py, [g for g, _, _ in roads + water], 9.0) & shapely.contains_xy(town, px, py)
    # a house that falls on a road or canal moves 25 m north-east
    px, py = np.where(ok, px, px + 25), np.where(ok, py, py + 25)
    n = len(px)
    floors = rng.integers(1, 4, n).astype(float)
    return layers(town, villages, bx=px, by=py, hw=np.full(n, 6.0), hh=np.full(n, 4.5),
                  angle=rng.uniform(0, np.pi, n), floors=floors, dwellings=np.ones(n),
                  population=pop, use=np.full(n, "住宅"), roads=roads, water=water, source="family:village")

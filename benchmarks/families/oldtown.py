"""老城 family: dense 2-3-floor 里弄 rows, floors known but no dwelling data.

Streets run on a skewed grid (a major street every 3-4 blocks, lanes between); each
block is filled with rows of terraced 里弄 houses (5-7 m wide, 12-16 m deep, 8-30
people each: no dwelling counts, as in most old-town registers), with a few 5-7-floor
buildings of 60-200 people whose dwellings are unknown too. A creek crosses the town.
居委会 are relaxed Voronoi cells of about 3,500 people.
"""

from __future__ import annotations

import numpy as np
import shapely

from .common import X0, Y0, free_of, layers, voronoi_villages


def make(seed: int = 0, *, small: bool = False) -> dict:
    rng = np.random.default_rng(3000 + seed)
    people = 30_000 if small else 120_000
    side = float(np.sqrt(people * 9.0))
    town = shapely.box(X0, Y0, X0 + side, Y0 + side)
    skew = rng.uniform(0.15, 0.35)  # streets north-south lean by this
    roads = []
    x, k = X0 + rng.uniform(40, 80), 0
    while x < X0 + side:
        roads.append((shapely.LineString([(x, Y0 - 10), (x + skew * side, Y0 + side + 10)]),
                      "" if k % 3 else "中山路", "major" if k % 3 == 0 else "minor"))
        x += rng.uniform(70, 110) - skew * 0  # blocks 70-110 m wide
        k += 1
    # the skewed streets leave the west corner: start them further west
    x, k = X0 - skew * side, 0
    while x < X0:
        roads.append((shapely.LineString([(x, Y0 - 10), (x + skew * side, Y0 + side + 10)]), "",
                      "major" if k % 4 == 0 else "minor"))
        x += rng.uniform(70, 110)
        k += 1
    y, k = Y0 + rng.uniform(40, 80), 0
    while y < Y0 + side:
        pts = np.column_stack([np.linspace(X0 - 10, X0 + side + 10, 6), y + rng.normal(0, 5, 6)])
        roads.append((shapely.LineString(pts), "" if k % 4 else "人民路", "major" if k % 4 == 0 else "minor"))
        y += rng.uniform(60, 95)
        k += 1
    t = np.linspace(0, 1, 40)
    creek = shapely.LineString(np.column_stack([X0 + side * (0.6 + 0.1 * np.sin(t * 4 + seed)),
                                                Y0 - 20 + t * (side + 40)]))
    water = [(creek.buffer(7, cap_style="flat"), "肇嘉浜", "river")]
    villages = voronoi_villages(town, max(2, people // 3500), rng, code0="310101002", kind="居委会",
                                name="老城合成")
    # 里弄 rows: houses every 6 m along east-west rows 15 m apart
    u, v = np.meshgrid(np.arange(0, side, 6.0), np.arange(0, side, 15.0))
    px = X0 + u.ravel() + rng.normal(0, .4, u.size)
    py = Y0 + v.ravel() + 7.5
    ok = free_of(px, py, [g for g, _, _ in roads + water], 9.0) & shapely.contains_xy(town.buffer(-4), px, py)
    px, py = px[ok], py[ok]
    n = len(px)
    big = rng.uniform(size=n) < 0.01
    pop = np.where(big, rng.integers(60, 200, n), rng.integers(8, 31, n))
    # thin the rows to the requested people at random (a prefix would leave the north empty)
    order = rng.permutation(n)
    keep = np.sort(order[np.cumsum(pop[order]) <= people])
    px, py, pop, big = px[keep], py[keep], pop[keep], big[keep]
    n = len(px)
    floors = np.where(big, rng.integers(5, 8, n), rng.integers(2, 4, n)).astype(float)
    return layers(town, villages, bx=px, by=py, hw=np.where(big, 9.0, 2.8), hh=np.where(big, 7.0, 6.5),
                  angle=np.zeros(n), floors=floors, dwellings=np.full(n, np.nan), population=pop,
                  use=np.full(n, "住宅"), roads=roads, water=water, source="family:oldtown")

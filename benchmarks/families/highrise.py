"""高层 family: gated compounds of towers, floors and dwellings (units) known.

The town is a square of about 18 m² of land per person. Major roads run on a grid
rotated by 10-35 degrees with uneven spacing (280-480 m); inside each superblock minor
compound roads split it in two or three. Towers (18-33 floors, 1-3 dwellings a floor,
2.3-2.9 people a dwelling: 60-250 people, a few above the band) stand in rows inside
the compounds, with some 6-floor walk-ups; a winding river crosses the town.
居委会 are relaxed Voronoi cells of about 5,000 people.
"""

from __future__ import annotations

import numpy as np
import shapely

from .common import X0, Y0, free_of, layers, voronoi_villages


def _grid_lines(town, rng, angle, lo, hi, klass, names):
    """Parallel lines across ``town`` at uneven spacing, rotated by ``angle`` (radians)."""
    x0, y0, x1, y1 = town.bounds
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    r = np.hypot(x1 - x0, y1 - y0)
    out = []
    for a in (angle, angle + np.pi / 2):
        d, t = np.array([np.cos(a), np.sin(a)]), -r / 2 + rng.uniform(lo, hi) / 2
        while t < r / 2:
            n = np.array([-d[1], d[0]]) * t
            p = np.column_stack([cx + n[0] + d[0] * np.linspace(-r, r, 8), cy + n[1] + d[1] * np.linspace(-r, r, 8)])
            p += rng.normal(0, 4, p.shape)
            out.append((shapely.LineString(p), names[len(out) % len(names)], klass))
            t += rng.uniform(lo, hi)
    return out


def make(seed: int = 0, *, small: bool = False) -> dict:
    rng = np.random.default_rng(1000 + seed)
    people = 40_000 if small else 160_000
    side = float(np.sqrt(people * 18.0))
    town = shapely.box(X0, Y0, X0 + side, Y0 + side)
    angle = rng.uniform(np.radians(10), np.radians(35))
    majors = _grid_lines(town, rng, angle, 280, 480, "major", ["科技大道", "光谷大道", "高新路", "关山大道", ""])
    minors = _grid_lines(town, rng, angle, 120, 200, "minor", ["", "", "康园路"])
    t = np.linspace(0, 1, 50)
    river_line = shapely.LineString(np.column_stack([X0 - 20 + t * (side + 40),
                                                     Y0 + side * (0.35 + 0.15 * np.sin(t * 5 + seed))]))
    water = [(river_line.buffer(18, cap_style="flat"), "南湖港", "river")]
    villages = voronoi_villages(town, max(2, people // 5000), rng, code0="420111001", kind="居委会",
                                name="光谷合成")
    # tower sites on a lattice aligned with the roads, 38 x 30 m apart
    step_u, step_v = 38.0, 30.0
    u, v = np.meshgrid(np.arange(-side, side, step_u), np.arange(-side, side, step_v))
    c, s = np.cos(angle), np.sin(angle)
    px = X0 + side / 2 + c * u.ravel() - s * v.ravel() + rng.normal(0, 2, u.size)
    py = Y0 + side / 2 + s * u.ravel() + c * v.ravel() + rng.normal(0, 2, u.size)
    inside = shapely.contains_xy(town.buffer(-5), px, py)
    px, py = px[inside], py[inside]
    ok = free_of(px, py, [g for g, _, _ in majors + minors] + [water[0][0]], 16.0)
    px, py = px[ok], py[ok]
    n = len(px)
    kind = np.where(rng.uniform(size=n) < 0.8, "tower", np.where(rng.uniform(size=n) < 0.7, "walkup", "other"))
    floors = np.where(kind == "tower", rng.integers(18, 34, n), np.where(kind == "walkup", 6, rng.integers(2, 5, n)))
    per_floor = np.where(kind == "tower", rng.integers(1, 4, n), np.where(kind == "walkup", rng.integers(2, 5, n), 0))
    dwell = (floors * per_floor).astype(float)
    pop = np.floor(dwell * rng.uniform(2.3, 2.9, n)).astype(np.int64)
    # thin the sites to the requested people at random (a prefix of the lattice would
    # leave one side of the town empty); non-residential buildings stay among them
    order = rng.permutation(n)
    res = np.cumsum(np.where(kind == "other", 0, pop)[order]) <= people
    idx = np.sort(order[res])
    px, py, kind, floors, dwell, pop = px[idx], py[idx], kind[idx], floors[idx], dwell[idx], pop[idx]
    hw = np.where(kind == "tower", 11.0, np.where(kind == "walkup", 16.0, 9.0))
    hh = np.where(kind == "tower", 8.0, 6.0)
    use = np.where(kind == "other", "商业", "住宅")
    return layers(town, villages, bx=px, by=py, hw=hw, hh=hh, angle=np.full(len(px), angle),
                  floors=floors.astype(float), dwellings=np.where(kind == "other", 0.0, dwell),
                  population=np.where(kind == "other", 0, pop), use=use, roads=majors + minors, water=water,
                  source="family:highrise")

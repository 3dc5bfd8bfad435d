"""A seeded synthetic township modelled on 盈浦街道 (310118002), for tests and benchmarks.

Layers come back in the shape of :mod:`pucha.gis.schema` (EPSG:4549, around
121.1E 31.15N). 居/村 tile the township as a jittered grid of cells; roads form a
jittered street grid (major every few lines, some diagonals); two rivers and a canal
cross it as water polygons; buildings are towers (18-33 floors, some above the
band so they must be cut vertically), 6-floor walk-ups, village houses and
non-residential buildings with 0 people. Everything is vectorised: ``scale``
multiplies the building count (``scale=6`` gives about a million buildings).
"""

from __future__ import annotations

import os
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from pucha.gis import schema as S

__all__ = ["synthetic_township", "write_synthetic_gpkg", "yingpu_villages"]

_CRS = "EPSG:4549"
# 121.1E 31.15N in EPSG:4549 (CGCS2000 / 3-degree GK CM 120E), rounded
_X0, _Y0 = 595_000.0, 3_447_000.0


def yingpu_villages() -> pd.DataFrame:
    """The 35 real 居/村 codes and names of 盈浦街道 (from shared/data/codes)."""
    here = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "codes"
    path = here / "yingpu_310118002_villages.csv"
    if path.exists():
        df = pd.read_csv(path, dtype=str)
        kind = np.where(df["type"].str.contains("村委会"), "村委会", "居委会")
        return pd.DataFrame({"village_code": df["code"], "name": df["name"], "kind": kind})
    codes = [f"310118002{i:03d}" for i in range(1, 31)] + [f"310118002{i}" for i in range(202, 207)]
    names = [f"第{i}社区居委会" for i in range(1, 31)] + [f"第{i}村村委会" for i in range(1, 6)]
    return pd.DataFrame({"village_code": codes, "name": names,
                         "kind": ["居委会"] * 30 + ["村委会"] * 5})


def _grid_shape(n: int) -> tuple[int, int]:
    cols = int(np.ceil(np.sqrt(n * 1.4)))
    rows = int(np.ceil(n / cols))
    return rows, cols


def synthetic_township(*, seed: int = 0, n_villages: int = 35, people: int = 160_000,
                       scale: float = 1.0) -> dict[str, gpd.GeoDataFrame]:
    """Build a synthetic township.

    Parameters
    ----------
    seed : int
        Random seed; the same seed gives the same township.
    n_villages : int
        Number of 居/村 (the first ``n_villages`` real 盈浦 codes, then made-up ones).
    people : int
        Approximate total population (before ``scale``).
    scale : float
        Multiplies people and buildings (for load benchmarks).

    Returns
    -------
    dict of str to GeoDataFrame
        township, villages, buildings, roads, railways, water, walls.
    """
    rng = np.random.default_rng(seed)
    people_total = int(people * scale)
    vil = yingpu_villages()
    if n_villages > len(vil):
        extra = [f"310118002{300 + i:03d}" for i in range(n_villages - len(vil))]
        vil = pd.concat([vil, pd.DataFrame({"village_code": extra,
                                            "name": [f"合成{i}居委会" for i in range(len(extra))],
                                            "kind": "居委会"})], ignore_index=True)
    vil = vil.iloc[:n_villages].reset_index(drop=True)
    # town size: about 60 m^2 of land per person
    side = float(np.sqrt(max(people_total, 500) * 60.0))
    rows, cols = _grid_shape(n_villages)
    width, height = side * np.sqrt(cols / rows), side * np.sqrt(rows / cols)
    # jittered village grid (shared vertices -> exact tiling)
    xs = np.linspace(0, width, cols + 1)
    ys = np.linspace(0, height, rows + 1)
    gx, gy = np.meshgrid(xs, ys)
    jit = min(width / cols, height / rows) * 0.12
    gx[1:-1, 1:-1] += rng.uniform(-jit, jit, gx[1:-1, 1:-1].shape)
    gy[1:-1, 1:-1] += rng.uniform(-jit, jit, gy[1:-1, 1:-1].shape)
    gx += _X0
    gy += _Y0
    polys = []
    for r in range(rows):
        for c in range(cols):
            polys.append(shapely.Polygon([(gx[r, c], gy[r, c]), (gx[r, c + 1], gy[r, c + 1]),
                                          (gx[r + 1, c + 1], gy[r + 1, c + 1]),
                                          (gx[r + 1, c], gy[r + 1, c])]))
    # merge surplus grid cells into their left neighbour
    while len(polys) > n_villages:
        last = polys.pop()
        polys[-1] = shapely.union(polys[-1], last)
    villages = gpd.GeoDataFrame({"village_code": vil["village_code"], "name": vil["name"],
                                 "kind": vil["kind"], "locked": False},
                                geometry=polys, crs=_CRS)
    town_poly = shapely.union_all(polys)
    township = gpd.GeoDataFrame({"code": ["310118002"], "name": ["盈浦街道"]},
                                geometry=[town_poly], crs=_CRS)
    x0, y0, x1, y1 = town_poly.bounds

    # roads: jittered grid, every 4th line major, two diagonals
    spacing = 110.0
    nx_ = max(2, int((x1 - x0) / spacing))
    ny_ = max(2, int((y1 - y0) / spacing))
    lines, klass, names = [], [], []
    road_names = ["盈港路", "城中路", "公园路", "青松路", "华青路", "外青松公路", "淀山湖大道",
                  "胜利路", "青安路", "庆华路", "城北路", "漕盈路", "新塘浦路", "五厍浜路"]
    for i in range(1, nx_):
        x = x0 + i * (x1 - x0) / nx_
        pts = np.column_stack([x + rng.normal(0, 6, 6), np.linspace(y0 - 5, y1 + 5, 6)])
        lines.append(shapely.LineString(pts))
        klass.append("major" if i % 4 == 0 else "minor")
        names.append(road_names[i % len(road_names)] if i % 2 == 0 else "")
    for j in range(1, ny_):
        y = y0 + j * (y1 - y0) / ny_
        pts = np.column_stack([np.linspace(x0 - 5, x1 + 5, 6), y + rng.normal(0, 6, 6)])
        lines.append(shapely.LineString(pts))
        klass.append("major" if j % 4 == 0 else "minor")
        names.append(road_names[(j + 7) % len(road_names)] if j % 2 == 0 else "")
    lines.append(shapely.LineString([(x0, y0 + (y1 - y0) * 0.1), (x0 + (x1 - x0) * 0.6, y1)]))
    klass.append("major")
    names.append("青赵公路")
    lines.append(shapely.LineString([(x0 + (x1 - x0) * 0.5, y0), (x1, y0 + (y1 - y0) * 0.45)]))
    klass.append("minor")
    names.append("")
    roads = gpd.GeoDataFrame({"road_id": [f"r{i}" for i in range(len(lines))], "name": names,
                              "road_class": klass}, geometry=lines, crs=_CRS)
    roads = roads.clip(township.geometry.iloc[0].buffer(1)).reset_index(drop=True)
    roads["geometry"] = roads.geometry.line_merge() if hasattr(roads.geometry, "line_merge") \
        else roads.geometry

    # water: a river and a canal as polygons
    t = np.linspace(0, 1, 40)
    river = shapely.LineString(np.column_stack([x0 - 10 + t * (x1 - x0 + 20),
                                                y0 + (y1 - y0) * (0.55 + 0.12 * np.sin(t * 6.0))]))
    canal = shapely.LineString([(x0 + (x1 - x0) * 0.33, y0 - 10), (x0 + (x1 - x0) * 0.38, y1 + 10)])
    wgeoms = [river.buffer(14, cap_style="flat"), canal.buffer(6, cap_style="flat")]
    water = gpd.GeoDataFrame({"feature_id": ["w1", "w2"], "name": ["淀浦河", "西大盈港"],
                              "water_kind": ["river", "canal"]},
                             geometry=[shapely.intersection(g, town_poly) for g in wgeoms], crs=_CRS)
    railways = gpd.GeoDataFrame({"feature_id": pd.Series([], dtype=object),
                                 "name": pd.Series([], dtype=object)},
                                geometry=gpd.GeoSeries([], crs=_CRS), crs=_CRS)
    walls = railways.copy()

    # buildings: candidate centres on a fine lattice, removed near roads/water
    n_target = int(people_total / 14)  # ~14 people per building on average incl. 0-pop
    area = (x1 - x0) * (y1 - y0)
    step = np.sqrt(area / (n_target * 1.6))
    bx, by = np.meshgrid(np.arange(x0 + step / 2, x1, step), np.arange(y0 + step / 2, y1, step))
    px = bx.ravel() + rng.uniform(-step * 0.1, step * 0.1, bx.size)
    py = by.ravel() + rng.uniform(-step * 0.1, step * 0.1, by.size)
    pts = shapely.points(px, py)
    inside = shapely.contains_xy(town_poly, px, py)
    barrier = shapely.union_all(list(roads.geometry.buffer(step * 0.35 + 6)) + list(water.geometry.buffer(4)))
    shapely.prepare(barrier)
    keep = inside & ~shapely.intersects(barrier, pts)
    px, py = px[keep], py[keep]
    order = rng.permutation(len(px))[:n_target]
    order.sort()
    px, py = px[order], py[order]
    n = len(px)
    # kind by location: village houses (村委会), towers/walk-ups elsewhere
    vtree = shapely.STRtree(polys)
    pi, vi = vtree.query(shapely.points(px, py), predicate="within")
    vidx = np.full(n, -1)
    vidx[pi] = vi
    is_cun = np.isin(vidx, np.where(villages["kind"].to_numpy() == "村委会")[0])
    u = rng.uniform(size=n)
    kind = np.where(is_cun, np.where(u < 0.85, "house", "other"),
                    np.where(u < 0.02, "tower", np.where(u < 0.70, "walkup",
                             np.where(u < 0.8, "house", "other"))))
    floors = np.select([kind == "tower", kind == "walkup", kind == "house"],
                       [rng.integers(18, 34, n), np.full(n, 6), rng.integers(2, 4, n)],
                       rng.integers(1, 5, n)).astype(float)
    per_floor = np.select([kind == "tower", kind == "walkup", kind == "house"],
                          [rng.integers(8, 16, n), rng.integers(2, 5, n), np.ones(n, int)], 0)
    dwellings = floors * per_floor
    pop_raw = dwellings * rng.uniform(2.2, 2.9, n)
    pop_raw = np.where(kind == "other", 0, pop_raw)
    # towers keep their dwelling-based population (many exceed the band and must be
    # cut vertically); the rest is rescaled to the requested total
    tower = kind == "tower"
    tower_pop = np.floor(np.where(tower, pop_raw, 0)).astype(np.int64)
    other_raw = np.where(tower, 0, pop_raw)
    rest_total = max(people_total - int(tower_pop.sum()), 0)
    population = tower_pop + np.floor(other_raw * rest_total / max(other_raw.sum(), 1)).astype(np.int64)
    rem = people_total - population.sum()
    res = np.where(population > 0)[0]
    if len(res) and rem > 0:
        population[res[rng.choice(len(res), size=int(rem), replace=True)]] += 1
    # some towers lose their floor/unit data (cannot be cut: reported)
    lost = (kind == "tower") & (rng.uniform(size=n) < 0.03)
    floors = np.where(lost, np.nan, floors)
    dwellings = np.where(lost | (kind == "other"), np.where(kind == "other", 0.0, np.nan), dwellings)
    half = np.select([kind == "tower", kind == "walkup", kind == "house"],
                     [np.full(n, 14.0), np.full(n, 24.0), np.full(n, 6.0)], 8.0)
    half = np.minimum(half, step * 0.38)
    hw = np.where(kind == "walkup", half, half * 0.8)
    hh = np.where(kind == "walkup", half * 0.45, half * 0.8)
    geoms = shapely.box(px - hw, py - hh, px + hw, py + hh)
    vcode = np.where(vidx >= 0, villages["village_code"].to_numpy()[np.maximum(vidx, 0)], "")
    use = np.select([kind == "other"], ["商业"], "住宅")
    buildings = gpd.GeoDataFrame({
        "building_id": [f"b{i:07d}" for i in range(n)], "village_code": vcode,
        "name": "", "address": "", "use": use, "residential": kind != "other",
        "floors": floors, "height": floors * 3.0, "dwellings": dwellings,
        "population": population, "pop_method": "dwellings", "pop_guessed": False,
        "locked": False, "area_code": "", "source": "synthetic"}, geometry=geoms, crs=_CRS)
    buildings = buildings[buildings["village_code"] != ""].reset_index(drop=True)
    return {S.LAYER_TOWNSHIP: township, S.LAYER_VILLAGES: villages, S.LAYER_BUILDINGS: buildings,
            S.LAYER_ROADS: roads, S.LAYER_RAILWAYS: railways, S.LAYER_WATER: water,
            S.LAYER_WALLS: walls}


def write_synthetic_gpkg(path: str | os.PathLike, **kw) -> Path:
    """Write a ready project GeoPackage of :func:`synthetic_township` (``kw`` passed on)."""
    from pucha.gis.write import update_gpkg

    layers = synthetic_township(**kw)
    problems = gpd.GeoDataFrame({c: pd.Series([], dtype=object) for c in S.PROBLEM_COLUMNS},
                                geometry=gpd.GeoSeries([], crs=_CRS), crs=_CRS)
    layers[S.LAYER_PROBLEMS] = problems
    return update_gpkg(path, layers, fresh=True, meta={"synthetic": {k: v for k, v in kw.items()}})

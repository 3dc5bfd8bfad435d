"""The barriers areas' borders follow: roads, railways, walls, rivers, as one line layer.

Each barrier has a class (``barrier``) whose crossing cost rank the cell graph uses
(:data:`BARRIER_RANK`): an area should not straddle a river or a major road unless
nothing else is possible (the census rules).
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

__all__ = ["BARRIER_RANK", "barrier_lines"]

#: crossing cost rank of each barrier class ("gap": the link that joins a part of the 居/村
#: touching no other part, an exclave or island, to its nearest cell; as costly as a river)
BARRIER_RANK = {"none": 0, "path": 1, "minor": 1, "wall": 1, "major": 3, "railway": 4, "river": 5, "gap": 5}


def barrier_lines(roads=None, railways=None, water=None, walls=None, *, crs=None) -> gpd.GeoDataFrame:
    """One line layer of barriers with columns ``barrier`` (class) and ``name``."""
    parts = []
    if roads is not None and len(roads):
        r = roads[roads["road_class"].isin(["major", "minor"])]
        parts.append(pd.DataFrame({"barrier": r["road_class"].astype(str), "name": r["name"].fillna("").astype(str),
                                   "geometry": r.geometry.values}))
    if railways is not None and len(railways):
        parts.append(pd.DataFrame({"barrier": "railway", "name": railways["name"].fillna("").astype(str),
                                   "geometry": railways.geometry.values}))
    if walls is not None and len(walls):
        parts.append(pd.DataFrame({"barrier": "wall", "name": walls["name"].fillna("").astype(str),
                                   "geometry": walls.geometry.values}))
    if water is not None and len(water):
        g = water.geometry.values
        poly = shapely.get_type_id(g) >= 3
        g = np.where(poly, shapely.boundary(g), g)
        parts.append(pd.DataFrame({"barrier": "river", "name": water["name"].fillna("").astype(str),
                                   "geometry": g}))
    if not parts:
        return gpd.GeoDataFrame({"barrier": [], "name": []}, geometry=[], crs=crs)
    df = pd.concat(parts, ignore_index=True)
    df = df[~shapely.is_empty(df["geometry"].values) & df["geometry"].notna()]
    return gpd.GeoDataFrame(df, geometry="geometry", crs=crs).reset_index(drop=True)

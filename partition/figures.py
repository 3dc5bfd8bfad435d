"""An area's figures, computed once for the register, the maps and the ``areas`` layer.

:func:`area_figures` reads the plan's ``building_areas`` rows (one row per
building, or per floor/unit range of a cut building, and area). A building cut
by floors or units (纵向切割) counts once in *each* area that holds part of it
(``n_cut`` says how many such buildings an area shares); a township total counts
each building once (``building_areas["building_id"].nunique()``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["PERSONS_PER_HOUSEHOLD", "area_figures"]

#: persons per household when the data hold no dwellings (gis.population's default)
PERSONS_PER_HOUSEHOLD = 2.20


def area_figures(building_areas: pd.DataFrame, *,
                 persons_per_household: float = PERSONS_PER_HOUSEHOLD) -> pd.DataFrame:
    """Each area's figures, from the plan's ``building_areas`` rows.

    Returns one row per area_code (sorted) with ``population`` (int),
    ``dwellings`` (sum of known 住房单元, NaN when none is known),
    ``households`` (dwellings when known, else people / persons_per_household,
    rounded), ``households_estimated`` (bool), ``n_buildings`` (distinct
    buildings holding part of the area: a cut building counts in each of its
    areas) and ``n_cut`` (of those, buildings shared with another area).

    >>> ba = pd.DataFrame({"area_code": ["a", "a", "b"], "building_id": ["1", "2", "2"],
    ...                    "population": [10, 20, 30], "dwellings": [4, np.nan, np.nan]})
    >>> f = area_figures(ba)
    >>> f[["population", "n_buildings", "n_cut"]].to_dict("index")
    {'a': {'population': 30, 'n_buildings': 2, 'n_cut': 1}, 'b': {'population': 30, 'n_buildings': 1, 'n_cut': 1}}
    """
    ba = pd.DataFrame(building_areas)
    if len(ba) == 0:
        return pd.DataFrame(columns=["population", "dwellings", "households",
                                     "households_estimated", "n_buildings", "n_cut"])
    ba = ba.assign(area_code=ba["area_code"].astype(str), building_id=ba["building_id"].astype(str),
                   _dw=pd.to_numeric(ba["dwellings"], errors="coerce"),
                   _pop=pd.to_numeric(ba["population"], errors="coerce").fillna(0))
    g = ba.groupby("area_code", sort=True)
    n_areas_of = ba.groupby("building_id")["area_code"].nunique()
    shared = ba["building_id"].map(n_areas_of) > 1
    out = pd.DataFrame({
        "population": g["_pop"].sum().round().astype(int),
        "dwellings": g["_dw"].sum(min_count=1),
        "n_buildings": g["building_id"].nunique().astype(int),
        "n_cut": ba[shared].groupby("area_code")["building_id"].nunique(),
    })
    out["n_cut"] = out["n_cut"].fillna(0).astype(int)
    est = out["dwellings"].isna()
    out["households"] = np.where(est, (out["population"] / persons_per_household).round(),
                                 out["dwellings"]).astype(int)
    out["households_estimated"] = est
    return out

"""pucha.gis.population: the three methods, exact totals, deterministic rounding.

Fixture: three residential 10 x 10 m buildings in one 居/村, floors 1, 2 and (height
9 m ->) 3, plus one shop::

    [a 1F] [b 2F] [c 9 m] [shop]
"""

from __future__ import annotations

import math
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import box

from pucha.config import PopulationSettings
from pucha.errors import ConfigError, InputError
from pucha.gis.population import estimate_population, largest_remainder, read_totals

V = "310118002001"


def _b(**cols: list) -> gpd.GeoDataFrame:
    base = {"building_id": ["a", "b", "c", "shop"], "village_code": [V] * 4,
            "residential": [True, True, True, False], "floors": [1, 2, math.nan, 1],
            "height": [math.nan, math.nan, 9.0, math.nan],
            "dwellings": [math.nan] * 4, "population": [math.nan] * 4}
    base.update(cols)
    return gpd.GeoDataFrame(base, geometry=[box(i * 20, 0, i * 20 + 10, 10) for i in range(4)],
                            crs="EPSG:4549")


def test_largest_remainder_exact_and_tie_by_id() -> None:
    r = largest_remainder(10, np.array([1.0, 1.0, 1.0]), ["c", "a", "b"])
    assert r.sum() == 10 and list(r) == [3, 4, 3]        # tie -> smallest id "a"
    assert largest_remainder(7, np.zeros(3), ["x", "y", "z"]).sum() == 7
    r = largest_remainder(1000, np.array([0.2, 0.3, 0.5]), ["1", "2", "3"])
    assert list(r) == [200, 300, 500]


def test_totals_by_floor_area() -> None:
    totals = pd.DataFrame({"code": [V], "population": [61]})
    out, rep, _ = estimate_population(_b(), PopulationSettings(method="totals"), totals=totals)
    assert out["population"].sum() == 61
    assert list(out["population"]) == [10, 20, 31, 0] or list(out["population"]) == [10, 21, 30, 0]
    assert list(out["floors"]) == [1, 2, 3, 1]       # height 9 m / 3 m
    assert rep.total_in == rep.total_out == 61
    assert "totals" in rep.text()


def test_totals_guessed_floors() -> None:
    b = _b(floors=[math.nan] * 4)
    out, rep, probs = estimate_population(b, PopulationSettings(method="totals",
                                                                default_floors=2.0),
                                          totals=pd.DataFrame({"code": [V], "population": [9]}))
    assert out["pop_guessed"].tolist() == [True, True, False, False]
    assert rep.n_guessed == 2 and probs[0]["code"] == "population_guessed"


def test_dwellings_method() -> None:
    b = _b(dwellings=[10, 20, math.nan, math.nan])
    out, rep, _ = estimate_population(b, PopulationSettings(method="dwellings"))
    assert out["population"].iloc[0] == 22 and out["population"].iloc[1] == 44
    assert bool(out["pop_guessed"].iloc[2]) and out["population"].iloc[3] == 0
    assert rep.total_in == rep.total_out
    with pytest.raises(InputError, match="no building has dwellings"):
        estimate_population(_b(), PopulationSettings(method="dwellings"))


def test_given_method_fills_unknowns() -> None:
    b = _b(population=[30, math.nan, 40, math.nan], dwellings=[math.nan, 10, math.nan, math.nan])
    out, rep, _ = estimate_population(b, PopulationSettings(method="given"))
    assert list(out["population"][:2]) == [30, 22] and out["population"].iloc[2] == 40
    assert list(out["pop_method"][:2]) == ["given", "dwellings"]
    assert out["population"].iloc[3] == 0


def test_unknown_method() -> None:
    with pytest.raises(ConfigError, match="valid methods are: given, dwellings, totals"):
        estimate_population(_b(), PopulationSettings(method="census"))


def test_read_totals(tmp_path: Path) -> None:
    f = tmp_path / "t.csv"
    f.write_bytes("居委会代码,人口\n３１０１１８００２００１,1200\n".encode("gbk"))
    t = read_totals(f)
    assert t.to_dict("records") == [{"code": V, "population": 1200}]
    f.write_text("code,population\n310118002001,约300\n")
    with pytest.raises(InputError, match="row 2.*约300"):
        read_totals(f)


def test_qingpu_household_size_default() -> None:
    assert PopulationSettings().persons_per_household == 2.20

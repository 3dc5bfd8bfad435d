"""Quality of a plan: per area, per 居/村 and for the township."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import shapely

__all__ = ["deviation", "fill_area_quality", "known_sum", "polsby_popper", "summary"]


def known_sum(values) -> float:
    """Sum of the known values (NaN = unknown); NaN when none is known, so that "unknown"
    (shown as —) is not reported as 0."""
    a = np.asarray(values, dtype=float)
    return float(np.nansum(a)) if np.isfinite(a).any() else float("nan")


def deviation(population: float, target: float) -> float:
    """An area's relative deviation from the target: (population - target) / target,
    rounded to 0.1% (-0.05: 5% below)."""
    return round((float(population) - target) / target, 3) if target else 0.0


def fill_area_quality(areas, target: float) -> None:
    """Complete, in place, the quality columns of ``areas`` that a plan drawn before they
    existed lacks (locked areas, other 居/村 kept beside a re-solved one): ``deviation``
    from the population; ``contiguous`` the engine's value (its cells connected) where
    known, else whether the polygon is one piece; ``balance_note`` "" where unknown."""
    areas["deviation"] = [deviation(p, target) for p in areas["population"]]
    one = shapely.get_num_geometries(np.asarray(areas.geometry.values, dtype=object)) == 1
    known = areas["contiguous"].tolist() if "contiguous" in areas else [None] * len(areas)
    areas["contiguous"] = [bool(o) if pd.isna(k) else bool(k) for k, o in zip(known, one)]
    areas["balance_note"] = (areas["balance_note"].fillna("").astype(str) if "balance_note" in areas
                             else [""] * len(areas))


def polsby_popper(poly) -> float:
    """4*pi*area / perimeter^2 (1 for a disc)."""
    p = shapely.length(poly)
    return float(4 * math.pi * shapely.area(poly) / p ** 2) if p > 0 else 0.0


def summary(areas: pd.DataFrame, *, target: int = 300, vmin: int = 240, vmax: int = 360,
            key: str = "village_code") -> pd.DataFrame:
    """One row per 居/村 plus a township row (village_code = "township")."""
    def row(df, code):
        p = df["population"].to_numpy(dtype=float)
        dev = np.abs(p - target) / target if len(p) else np.array([])
        return dict(village_code=code, n_areas=len(df), population=int(p.sum()),
                    dwellings=known_sum(df["dwellings"]),
                    within_10=float((dev <= 0.10).mean()) if len(p) else 0.0,
                    within_20=float((dev <= 0.20).mean()) if len(p) else 0.0,
                    outside_band=int(((p < vmin) | (p > vmax)).sum()),
                    non_contiguous=int((~df["contiguous"]).sum()) if "contiguous" in df else 0,
                    river_crossings=int((df["river_crossings"] > 0).sum()),
                    major_road_crossings=int((df["major_road_crossings"] > 0).sum()),
                    mean_polsby_popper=float(df["polsby_popper"].mean()) if len(df) else 0.0)
    rows = [row(d, c) for c, d in sorted(areas.groupby(key), key=lambda t: t[0])]
    rows.append(row(areas, "township"))
    return pd.DataFrame(rows)

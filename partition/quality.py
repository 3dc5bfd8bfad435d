"""Quality of a plan: per area, per 居/村 and for the township."""

from __future__ import annotations

import math

from collections.abc import Mapping

import networkx as nx
import numpy as np
import pandas as pd
import shapely

from pucha.config import PartitionSettings
from pucha.partition.proofs import band_admits, band_proof

__all__ = ["balance_note", "deviation", "fill_area_quality", "known_sum", "part_people", "polsby_popper",
           "summary"]


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


def part_people(g: nx.Graph, pop: Mapping[int, int], areas, classes: tuple[str, ...]) -> list[int | None]:
    """Per area, the people of the part of the 居/村 between ``classes`` barriers that holds
    all its people (None: its people lie in several parts, or the part is the whole 居/村)."""
    h = nx.Graph()
    h.add_nodes_from(g.nodes)
    h.add_edges_from((u, v) for u, v, d in g.edges(data=True) if d["barrier"] not in classes)
    if h.number_of_edges() == g.number_of_edges():
        return [None] * len(areas)
    part, people = {}, []
    for k, comp in enumerate(sorted(nx.connected_components(h), key=min)):
        part.update(dict.fromkeys(comp, k))
        people.append(int(sum(pop[n] for n in comp)))
    if sum(1 for x in people if x > 0) <= 1:
        return [None] * len(areas)
    out: list[int | None] = []
    for a in areas:
        ks = {part[n] for n in a if pop[n] > 0}
        out.append(people[ks.pop()] if len(ks) == 1 else None)
    return out


def balance_note(people: int, held: list[tuple[str, int, int]], pieces: Mapping[str, list[int]],
                 st: PartitionSettings, village_people: int | None = None, *, n_areas: int | None = None,
                 river_part: int | None = None, road_part: int | None = None) -> str:
    """Why an area is outside ±10% of the target when its buildings force it ("" otherwise).

    ``held``: (building id, part, people) of its buildings (part 0 = whole); ``pieces``:
    per building cut vertically, the people of its pieces in floor/unit order.
    - A whole building above +10%: inside the band it is not cut, above the band it
      could not be (no floor or unit data); its area is above +10% by that building alone.
    - An area of pieces of one building only, when no run of consecutive pieces holds
      -10%..+10% (few floors for many people: a 7-floor tower of 1,199 has 171 per floor).
    - The whole 居/村 (``village_people``) holds fewer people than -10%, or a number that
      no count of areas holds within ±10% (475: one area is above +10%, two average 237.5).
    """
    t = st.target
    lo, hi = math.ceil(0.9 * t), math.floor(1.1 * t)
    if lo <= people <= hi:
        return ""
    if village_people is not None and village_people < lo:
        return f"only {village_people} people in the 居/村 (apart from locked areas): one area"
    if village_people is not None and not band_admits(village_people, vmin=lo, vmax=hi):
        return (f"the 居/村 holds {band_proof(village_people, vmin=lo, vmax=hi)} (±10%) "
                f"(proven impossible)")
    whole = sorted(((n, b) for b, part, n in held if part == 0 and n > hi), reverse=True)
    if whole:
        n, b = whole[0]
        if n > st.max:  # (it would have been cut with floors or units known)
            return f"building {b} alone holds {n} people and has no floor or unit data to cut it"
        return (f"building {b} alone holds {n} people, above {hi} (+10%); inside the band "
                f"{st.min}-{st.max}, so it is not cut")
    peopled = {b for b, _, n in held if n > 0}
    if len(peopled) == 1 and all(part > 0 for b, part, n in held if n > 0):
        b = peopled.pop()
        runs = pieces.get(b, [])
        sums = np.concatenate([[0], np.cumsum(runs)])
        if not any(lo <= sums[j] - sums[i] <= hi for i in range(len(runs)) for j in range(i + 1, len(runs) + 1)):
            return (f"holds only pieces of building {b}, cut into {len(runs)} floor/unit ranges of "
                    f"{min(runs)}-{max(runs)} people: no run of them holds {lo}-{hi}")
    if river_part is not None and not band_admits(river_part, vmin=lo, vmax=hi):
        return (f"the part between rivers that holds it has {band_proof(river_part, vmin=lo, vmax=hi)} "
                f"(±10%) unless an area crosses the river (proven impossible otherwise)")
    if n_areas is None or village_people is None:
        return ""
    return _unproven_note(people, held, st, village_people, n_areas, road_part)


def _unproven_note(people, held, st, village_people, n_areas, road_part) -> str:
    """The cause of an area outside ±10% that the structure does not prove (said so)."""
    lo, hi = math.ceil(0.9 * st.target), math.floor(1.1 * st.target)
    if road_part is not None and not band_admits(road_part, vmin=lo, vmax=hi):
        return (f"kept between major roads and rivers: the part between them that holds it has "
                f"{band_proof(road_part, vmin=lo, vmax=hi)} (±10%); crossing a major road was weighed "
                f"worse (no proof that it is impossible)")
    room = min(n_areas * hi - village_people, village_people - n_areas * lo)
    biggest = max((n for _, _, n in held), default=0)
    if 0 <= room < st.target // 10:
        return (f"the 居/村's {village_people} people leave {n_areas} areas only {room} people of room "
                f"inside {lo}-{hi} (±10%), less than its buildings and floor ranges (up to {biggest} "
                f"people) can be moved by (no proof that it is impossible)")
    return (f"{people} people: the solver found no contiguous plan that brings it within {lo}-{hi} (±10%) "
            f"without pushing a neighbouring area out; its largest building or floor range holds {biggest} "
            f"(no proof that it is impossible)")

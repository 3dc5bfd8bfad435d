"""15-digit 普查小区 codes: 普查区 code + 001.. in serpentine order from the north-west.

Rows of bands north -> south, alternating west -> east and east -> west. Codes 900+
are reserved for virtual areas. Separate from solving so a caller can keep earlier
codes stable (``previous``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import shapely

from pucha.errors import InputError

__all__ = ["serpentine_order", "assign_codes", "stable_codes", "MAX_SEQ", "VIRTUAL_SEQ",
           "CodesExhausted", "CodeMemory", "village_stable_codes"]


def serpentine_order(polygons: Sequence) -> list[int]:
    """Indices of ``polygons`` in serpentine reading order from the north-west."""
    if not polygons:
        return []
    pts = shapely.point_on_surface(np.asarray(polygons, dtype=object))
    x, y = shapely.get_x(pts), shapely.get_y(pts)
    areas = shapely.area(np.asarray(polygons, dtype=object))
    band = max(float(np.sqrt(np.median(areas))) if len(areas) else 1.0, 1.0)
    row = np.floor((y.max() - y) / band).astype(int)
    key = [(int(r), (x[i] if r % 2 == 0 else -x[i]), -y[i], i) for i, r in enumerate(row)]
    return [k[3] for k in sorted(key)]


def assign_codes(village_code: str, polygons: Sequence, *,
                 previous: Mapping[int, str] | None = None) -> list[str]:
    """Codes for the areas (same order as ``polygons``).

    ``previous`` maps an area index to a code to keep; the others get the free
    sequence numbers 001.. in serpentine order (never 900+).
    """
    previous = dict(previous or {})
    codes: list[str] = [""] * len(polygons)
    used = set()
    for i, c in sorted(previous.items()):
        codes[i] = c
        used.add(c)
    seq = 1
    for i in serpentine_order(polygons):
        if codes[i]:
            continue
        while f"{village_code}{seq:03d}" in used:
            seq += 1
        if seq >= 900:
            raise ValueError(f"居/村 {village_code} needs more than 899 areas")
        codes[i] = f"{village_code}{seq:03d}"
        used.add(codes[i])
    return codes


# --------------------------------------------------------------------------- stable codes

MAX_SEQ = 899       # 普查小区 sequences 001-899 (CENSUS-RULES.md)
VIRTUAL_SEQ = 900   # 900+ are kept for virtual areas


def stable_codes(village_code: str, new_assign, old_assign, *, used_seqs: set[int],
                 reserved: set[str], keys: Sequence[str] | None = None,
                 exhausted: type[Exception] = ValueError) -> dict[str, str]:
    """Codes for the new areas of one 居/村 (provisional key -> 15-digit code).

    ``new_assign``/``old_assign``: assignments (building_id, area_code, part,
    population) keyed by provisional key / old code; the old one is the plan as
    the user left it (hand edits applied), so an area that took in a hand-moved
    building is "the same area" as the one it was moved into. ``used_seqs``: every
    sequence ever issued in this 居/村 (in use or retired). ``reserved``: codes that
    must not be given (locked or kept areas, deleted areas, other 居/村). ``keys``:
    every provisional key (areas without buildings too; default: those of
    ``new_assign``).

    A new area that is the same area as an old one
    (:func:`pucha.partition.diff.match_areas`: maximum-weight matching by shared
    people, more than half of the people both ways) keeps its code; every other
    gets the next sequence after the largest ever issued, in order of the keys.
    Past 899 the lowest sequence never issued is used; none left: ``exhausted``.
    """
    from pucha.partition.diff import match_areas

    new_assign = new_assign[["building_id", "area_code", "part", "population"]]
    old_assign = old_assign[["building_id", "area_code", "part", "population"]]
    given: set[str] = set(reserved)
    old = old_assign[old_assign["area_code"].astype(str).str.startswith(village_code)
                     & ~old_assign["area_code"].isin(given)]
    out: dict[str, str] = {}
    for old_code, key in sorted(match_areas(old, new_assign).items()):
        out[key] = old_code
        given.add(old_code)
    taken = {int(c[12:]) for c in given if c.startswith(village_code) and c[12:].isdigit()}
    ever = {q for q in set(used_seqs) | taken if q <= MAX_SEQ}
    top = max(ever | {0})
    fresh = iter(q for q in range(1, MAX_SEQ + 1) if q not in ever)  # never issued, lowest first
    all_keys = list(keys) if keys is not None else sorted(set(new_assign["area_code"]))
    need = [k for k in all_keys if k not in out]
    for key in need:
        if top < MAX_SEQ:
            top += 1
            q = top
        else:  # past 899: the lowest sequence never issued (a gap), never a retired one
            q = next(fresh, None)
            if q is None:
                raise exhausted(
                    f"居/村 {village_code}: {len(need)} new 普查小区 need codes, but every "
                    f"sequence 001-{MAX_SEQ:03d} is in use or was issued in an earlier revision "
                    f"(codes {VIRTUAL_SEQ:03d}+ are for virtual areas). Raise the target "
                    "(--target/--max) or split the 居/村; `pucha partition --fresh --renumber` "
                    "restarts the numbering (only before the codes are issued to enumerators)")
        ever.add(q)
        out[key] = f"{village_code}{q:03d}"
    return out


class CodesExhausted(InputError):
    """No free 普查小区 sequence is left in a 居/村 (001-899, none reused)."""


@dataclass(frozen=True)
class CodeMemory:
    """A 居/村's earlier plan, for stable codes: its ``building_areas`` rows
    (building_id, area_code, part, population), its area codes, and every sequence
    ever issued in it (``code_history``)."""
    assignment: pd.DataFrame
    codes: tuple[str, ...] = ()
    used_seqs: frozenset[int] = frozenset()


def village_stable_codes(village_code: str, codes: list[str], ba: pd.DataFrame, previous: CodeMemory) -> list[str]:
    """Replace the serpentine codes by stable ones (see :class:`CodeMemory`); ``ba`` is the
    assignment under the serpentine codes."""
    new = ba[["building_id", "area_code", "part", "population"]]
    old = previous.assignment
    old = old[old["area_code"].astype(str).str.startswith(village_code)]
    old = old[["building_id", "area_code", "part", "population"]]
    used = set(previous.used_seqs)
    out = (stable_codes(village_code, new, old, used_seqs=used, reserved=set(), exhausted=CodesExhausted)
           if len(new) else {})
    # areas without buildings (empty land): the old empty areas' codes, else new ones
    empty = [c for c in codes if c not in out]
    given = set(out.values())
    old_empty = [c for c in sorted(previous.codes) if c.startswith(village_code)
                 and c not in set(old["area_code"]) and c not in given]
    for k, c in zip(empty, old_empty):
        out[k] = c
    rest = [k for k in empty if k not in out]
    if rest:
        pseudo = pd.DataFrame({"building_id": [f"\0{k}" for k in rest], "area_code": rest,
                               "part": 0, "population": 0})
        out.update(stable_codes(village_code, pseudo, old.iloc[:0],
                          used_seqs=used | {int(c[12:]) for c in out.values()},
                          reserved=set(out.values()), exhausted=CodesExhausted))
    return [out[c] for c in codes]

"""15-digit 普查小区 codes: 普查区 code + 001.. in serpentine order from the north-west.

Rows of bands north -> south, alternating west -> east and east -> west. Codes 900+
are reserved for virtual areas. Separate from solving so a caller can keep earlier
codes stable (``previous``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import shapely

__all__ = ["serpentine_order", "assign_codes"]


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

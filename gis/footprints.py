"""Building footprints that are not one building each: resolved at import, by rule.

The rules (applied in the order 2, 3, 4, 1; each with a ``problems`` row naming the
ids, so the population is counted once over the same ground):

1. **Multi-part footprints** (a bow-tie repaired into two triangles, an OSM multipolygon
   building of two wings): split into one building per part. The largest part keeps
   the source id, the others get ``<id>-2``, ``<id>-3`` ... in order of decreasing area;
   a given population / dwellings is shared over the parts by area (largest remainder),
   so the total is unchanged (``building_split_multipart``, info). No later step (maps,
   partition) ever sees a MultiPolygon building.
2. **Duplicates**: footprints that cover the same ground (each holds >= 90% of the
   other) under two ids: the smallest id is kept, the others are dropped
   (``building_dropped_duplicate``, warning, naming the kept id); a population given only
   on the dropped copy moves to the kept one.
3. **Parts inside an outline** (OSM ``building:part`` pieces drawn inside the
   building's outline): a footprint lying >= 90% inside a larger one is dropped
   (``building_dropped_part``, warning, naming the outline); its population, when the
   outline has none, moves to the outline. An "outline" above 50,000 m² is no building
   (a block drawn in the buildings layer): nothing inside it is dropped.
4. **Partial overlaps** (more than 1 m² shared, neither 90% inside the other): the
   smaller footprint loses the shared ground (``building_clipped_overlap``, warning,
   naming both); a footprint cut in two pieces is then split by rule 1.
5. **Implausible sizes**: below 2 m² (``footprint_tiny``), above 200,000 m² or covering
   half of its 居/村 or more (``footprint_large``): kept, with a warning naming them.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from pucha.gis.validate import problem

__all__ = ["split_multipart", "resolve_overlaps", "check_sizes", "COVER_SHARE",
           "TINY_M2", "LARGE_M2"]

COVER_SHARE = 0.9
TINY_M2 = 2.0
LARGE_M2 = 200_000.0
#: an "outline" larger than this is no building outline (a block or 居/村 drawn as a
#: building): the footprints inside it are not dropped as its parts
OUTLINE_MAX_M2 = 50_000.0
#: overlaps up to this (m²) are drawing noise and left alone
CLIP_MIN_M2 = 1.0
_SHARED = ("population", "dwellings")


def _share(total: float, weights: np.ndarray) -> np.ndarray:
    from pucha.gis.population import largest_remainder

    if not np.isfinite(total):
        return np.full(len(weights), np.nan)
    if float(total).is_integer():
        keys = [f"{i:06d}" for i in range(len(weights))]
        return largest_remainder(int(total), weights, keys).astype(float)
    return total * weights / weights.sum()


def split_multipart(bg: gpd.GeoDataFrame, id_col: str = "building_id"
                    ) -> tuple[gpd.GeoDataFrame, list[dict]]:
    """One building per polygon part (rule 1); returns the frame and info rows."""
    multi = bg.geometry.geom_type == "MultiPolygon"
    if not multi.any():
        return bg, []
    rows = []
    labels = []
    probs = []
    taken = set(bg[id_col].astype(str))
    next_label = int(max(bg.index)) + 1 if len(bg) else 0
    for idx, r in bg.iterrows():
        if not multi.loc[idx]:
            rows.append(r)
            labels.append(idx)
            continue
        parts = sorted(shapely.get_parts(r.geometry), key=lambda g: -g.area)
        w = np.array([p.area for p in parts])
        shares = {c: _share(float(pd.to_numeric(r.get(c), errors="coerce")), w)
                  for c in _SHARED if c in bg.columns}
        ids = []
        for k, part in enumerate(parts):
            nr = r.copy()
            nid = str(r[id_col]) if k == 0 else f"{r[id_col]}-{k + 1}"
            while k and nid in taken:
                nid += "b"
            taken.add(nid)
            nr[id_col] = nid
            nr["geometry"] = part
            for c, v in shares.items():
                nr[c] = v[k]
            rows.append(nr)
            labels.append(idx if k == 0 else next_label)
            next_label += k > 0
            ids.append(nid)
        probs.append(problem(
            "building_split_multipart", "buildings", ids,
            f"building {r[id_col]} is {len(parts)} separate polygons (a repaired self-"
            f"intersecting outline, or a multipolygon); split into buildings "
            f"{', '.join(ids)} (the largest keeps the id; given people shared by area)",
            severity="info", geometry=shapely.centroid(r.geometry)))
    out = gpd.GeoDataFrame(rows, columns=bg.columns, geometry="geometry", crs=bg.crs)
    out.index = labels    # the first part keeps the source row's label
    return out, probs


def _has(v: object) -> bool:
    f = pd.to_numeric(v, errors="coerce")
    return bool(np.isfinite(f)) and f != 0


def resolve_overlaps(bg: gpd.GeoDataFrame, id_col: str = "building_id"
                     ) -> tuple[gpd.GeoDataFrame, list[dict]]:
    """Duplicates (rule 2), parts inside an outline (rule 3): drop; partial overlaps
    (rule 4): clip the smaller; with rows."""
    geoms = np.array(bg.geometry.values, dtype=object)
    n = len(geoms)
    if n < 2:
        return bg, []
    ids = bg[id_col].astype(str).tolist()
    area = shapely.area(geoms)
    tree = shapely.STRtree(geoms)
    a, b = tree.query(geoms, predicate="intersects")
    keep = a < b
    a, b = a[keep], b[keep]
    if len(a) == 0:
        return bg, []
    inter = shapely.area(shapely.intersection(geoms[a], geoms[b]))
    sa, sb = inter / np.maximum(area[a], 1e-9), inter / np.maximum(area[b], 1e-9)
    dropped: dict[int, tuple[str, int]] = {}
    order = np.lexsort((b, a))
    for k in order:
        i, j = int(a[k]), int(b[k])
        if i in dropped or j in dropped:
            continue
        if sa[k] >= COVER_SHARE and sb[k] >= COVER_SHARE:
            lose, win = (j, i) if ids[i] <= ids[j] else (i, j)
            dropped[lose] = ("duplicate", win)
        elif sa[k] >= COVER_SHARE and area[i] < area[j] <= OUTLINE_MAX_M2:
            dropped[i] = ("part", j)
        elif sb[k] >= COVER_SHARE and area[j] < area[i] <= OUTLINE_MAX_M2:
            dropped[j] = ("part", i)
    clipped = _clip_partial(geoms, ids, area, a, b, inter, dropped)
    if not dropped and not clipped:
        return bg, []
    out = bg.copy()
    probs = []
    if clipped:
        col = out.columns.get_loc(out.geometry.name)
        for small, (large, lost) in sorted(clipped.items(), key=lambda t: ids[t[0]]):
            out.iloc[small, col] = geoms[small]
            probs.append(problem(
                "building_clipped_overlap", "buildings", [ids[small], ids[large]],
                f"building {ids[small]} overlapped {ids[large]} by {lost:.0f} m² (less than "
                f"90% of it): the shared ground was cut from the smaller one, {ids[small]}, so "
                f"no ground belongs to two buildings", geometry=shapely.centroid(geoms[small])))
    for lose in sorted(dropped, key=lambda p: ids[p]):
        why, win = dropped[lose]
        while win in dropped:
            win = dropped[win][1]
        moved = []
        for c in _SHARED:
            if c in out.columns and _has(out[c].iloc[lose]) and not _has(out[c].iloc[win]):
                out.iloc[win, out.columns.get_loc(c)] = out[c].iloc[lose]
                moved.append(c)
        note = f"; its {' and '.join(moved)} moved to {ids[win]}" if moved else ""
        if why == "duplicate":
            msg = (f"building {ids[lose]} has the same footprint as {ids[win]} (each covers "
                   f"90% or more of the other): {ids[lose]} dropped, {ids[win]} kept (the "
                   f"smaller id), so the ground is counted once{note}")
        else:
            msg = (f"building {ids[lose]} lies inside the outline of {ids[win]} (an OSM "
                   f"building:part, or a piece drawn twice): dropped, the outline {ids[win]} "
                   f"kept, so the ground is counted once{note}")
        probs.append(problem(f"building_dropped_{why if why == 'duplicate' else 'part'}",
                             "buildings", [ids[lose]], msg,
                             geometry=shapely.centroid(geoms[lose])))
    mask = np.ones(n, dtype=bool)
    mask[list(dropped)] = False
    return out[mask].copy(), probs


def _clip_partial(geoms: np.ndarray, ids: list[str], area: np.ndarray, a: np.ndarray,
                  b: np.ndarray, inter: np.ndarray, dropped: dict) -> dict[int, tuple[int, float]]:
    """Rule 5: two footprints sharing more than 1 m² (neither 90% inside the other): the
    smaller loses the shared ground. ``geoms`` is changed in place; returns
    {smaller: (larger, m² cut)}."""
    out: dict[int, tuple[int, float]] = {}
    for k in np.lexsort((b, a)):
        i, j = int(a[k]), int(b[k])
        if inter[k] <= CLIP_MIN_M2 or i in dropped or j in dropped:
            continue
        small, large = (i, j) if (area[i], ids[j]) < (area[j], ids[i]) else (j, i)
        cut = shapely.difference(geoms[small], geoms[large])
        lost = float(shapely.area(geoms[small]) - shapely.area(cut))
        if cut.is_empty or lost <= CLIP_MIN_M2:
            continue
        polys = [g for g in shapely.get_parts(cut) if g.geom_type == "Polygon" and g.area > 0.01]
        if not polys:
            continue
        geoms[small] = polys[0] if len(polys) == 1 else shapely.MultiPolygon(polys)
        prev = out.get(small)
        out[small] = (large, lost + (prev[1] if prev else 0.0))
    return out


def check_sizes(bg: gpd.GeoDataFrame, id_col: str = "building_id", *,
                village_area: np.ndarray | None = None) -> list[dict]:
    """Warnings for footprints below 2 m², above 200,000 m² or covering half or more of
    their 居/村 (``village_area``: the area of each building's 居/村) (rule 5)."""
    area = shapely.area(bg.geometry.values)
    ids = bg[id_col].astype(str).values
    probs = []
    if village_area is not None:
        cover = (area >= 0.5 * village_area) & (area <= LARGE_M2)
        if cover.any():
            probs.append(problem("footprint_large", "buildings", list(ids[cover]),
                                 f"buildings: {int(cover.sum())} footprint(s) cover half of "
                                 f"their 居/村 or more: {', '.join(ids[cover][:20])}; a 居/村 "
                                 f"or block polygon in the buildings layer? Check them (kept)"))
    tiny = area < TINY_M2
    if tiny.any():
        listed = ", ".join(f"{i} ({a:.3g} m²)" for i, a in zip(ids[tiny][:20], area[tiny][:20]))
        probs.append(problem("footprint_tiny", "buildings", list(ids[tiny]),
                             f"buildings: {int(tiny.sum())} footprint(s) smaller than "
                             f"{TINY_M2:g} m²: {listed}; a digitising slip or a point drawn as "
                             f"a polygon? Check them (kept)"))
    large = area > LARGE_M2
    if large.any():
        listed = ", ".join(f"{i} ({a:,.0f} m²)" for i, a in zip(ids[large][:20], area[large][:20]))
        probs.append(problem("footprint_large", "buildings", list(ids[large]),
                             f"buildings: {int(large.sum())} footprint(s) larger than "
                             f"{LARGE_M2:,.0f} m²: {listed}; a 居/村 or block polygon in the "
                             f"buildings layer? Check them (kept)"))
    return probs

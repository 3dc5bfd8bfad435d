"""The one validation layer at the import boundary.

Every check returns problem rows (dicts with the ``problems`` columns plus ``geometry``)
instead of raising, so one import reports every defect at once:

- invalid geometries repaired with :func:`shapely.make_valid` (``invalid_geometry``);
- empty/null geometries (``geometry_empty``) and wrong geometry types, e.g. points in a
  water layer of polygons (``geometry_type_dropped``);
- duplicate ids, also across files (``duplicate_id``);
- numbers that are negative, fractional, missing, non-numeric (``约300``, ``-``) or
  implausible (``1e9``), floors 0 or 200 (``population_negative``, ``floors_implausible`` ...);
- codes: full-width digits (３１０…) folded, leading zeros lost by numeric storage,
  a 居/村 code not starting with its 街镇 code (``code_*``);
- buildings outside every 居/村 (``building_dropped_outside``) or straddling two
  (``building_straddles``);
- 居/村 polygons that overlap or leave gaps inside the 街镇 (``villages_overlap``,
  ``villages_gap``);
- names the map fonts cannot draw, e.g. emoji in 阳光🌞小区 (``text_glyph_missing``).
"""

from __future__ import annotations

import functools
import logging
import math
import re
import unicodedata
from collections.abc import Iterable

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

__all__ = ["problem", "problems_frame", "repair_geometries", "keep_geometry_family",
           "unique_ids", "parse_number", "clean_numbers", "normalise_code", "clean_codes",
           "assign_villages", "check_village_coverage", "GEOMETRY_FAMILIES",
           "undrawable_chars", "check_glyphs"]

log = logging.getLogger(__name__)

GEOMETRY_FAMILIES = {
    "buildings": ("Polygon",), "villages": ("Polygon",), "township": ("Polygon",),
    "neighbours": ("Polygon",), "roads": ("LineString",), "railways": ("LineString",),
    "walls": ("LineString",), "water": ("Polygon", "LineString"),
}
_FAMILY = {"Polygon": "Polygon", "MultiPolygon": "Polygon", "LineString": "LineString",
           "MultiLineString": "LineString", "LinearRing": "LineString", "Point": "Point",
           "MultiPoint": "Point", "GeometryCollection": "GeometryCollection"}


def problem(code: str, layer: str, ids: Iterable[object] | str, message: str, *,
            severity: str = "warning", geometry: object = None) -> dict:
    """One ``problems`` row (stage ``import``)."""
    fid = ids if isinstance(ids, str) else ",".join(str(i) for i in ids)
    return {"severity": severity, "code": code, "layer": layer, "feature_ids": fid,
            "message": message, "stage": "import", "geometry": geometry}


def problems_frame(rows: list[dict], crs: object) -> gpd.GeoDataFrame:
    """The ``problems`` layer from rows (in a stable order)."""
    cols = ["severity", "code", "layer", "feature_ids", "message", "stage"]
    df = pd.DataFrame([{c: r.get(c, "") for c in cols} for r in rows], columns=cols)
    for c in cols:
        df[c] = df[c].fillna("").astype(str)
    geoms = [r.get("geometry") for r in rows]
    return gpd.GeoDataFrame(df, geometry=gpd.GeoSeries(geoms, crs=crs), crs=crs)


def _only_family(g: object, fam: str) -> object:
    """The parts of ``g`` of family ``fam`` (or None)."""
    if g is None:
        return None
    parts = [p for p in shapely.get_parts(g) if _FAMILY.get(p.geom_type) == fam]
    sub = []
    for p in parts:
        if p.geom_type == "GeometryCollection":
            continue
        sub.append(p)
    if not sub:
        return None
    if fam == "Polygon":
        u = shapely.union_all(sub)
    else:
        u = shapely.line_merge(shapely.union_all(sub)) if len(sub) > 1 else sub[0]
    return u if not u.is_empty else None


def repair_geometries(gdf: gpd.GeoDataFrame, layer: str, ids: pd.Series
                      ) -> tuple[gpd.GeoDataFrame, list[dict]]:
    """Drop null/empty geometries, repair invalid ones; return kept rows and problems.

    Rows removed here are reported with code ``geometry_empty`` (for buildings the code
    is ``building_dropped_empty``).
    """
    probs: list[dict] = []
    geoms = gdf.geometry.values
    empty = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    if GEOMETRY_FAMILIES[layer] == ("Polygon",):
        poly = np.array([g is not None and _FAMILY.get(g.geom_type) == "Polygon" for g in geoms])
        valid = shapely.is_valid(geoms)
        flat = shapely.area(geoms) <= 1e-7 * shapely.length(geoms) ** 2   # zero area
        empty = empty | (poly & ~empty & valid & flat)
    if empty.any():
        bad = [str(i) for i in ids[empty]]
        code = "building_dropped_empty" if layer == "buildings" else "geometry_empty"
        probs.append(problem(code, layer, bad, f"{layer}: {len(bad)} feature(s) without "
                             f"geometry (null/empty/zero area) left out: {', '.join(bad[:20])}"))
    gdf = gdf[~empty].copy()
    ids = ids[~empty]
    geoms = gdf.geometry.values
    invalid = ~shapely.is_valid(geoms)
    fam = GEOMETRY_FAMILIES[layer][0]
    for pos in np.flatnonzero(invalid):
        reason = shapely.is_valid_reason(geoms[pos])
        fixed = _only_family(shapely.make_valid(geoms[pos]), fam)
        fid = str(ids.iloc[pos])
        geoms[pos] = fixed
        if fixed is None:
            continue   # reported below as dropped
        probs.append(problem("invalid_geometry", layer, [fid],
                             f"{layer} {fid}: invalid geometry ({reason}) repaired with "
                             f"make_valid", severity="info", geometry=shapely.centroid(geoms[pos])))
        geoms[pos] = fixed
    gdf["geometry"] = geoms
    gone = np.array([g is None for g in geoms], dtype=bool)
    if gone.any():
        bad = [str(i) for i in ids[gone]]
        code = "building_dropped_empty" if layer == "buildings" else "geometry_empty"
        probs.append(problem(code, layer, bad, f"{layer}: {len(bad)} feature(s) whose repair "
                             f"left no area/line (e.g. all vertices on one line) left out: "
                             f"{', '.join(bad[:20])}"))
        gdf = gdf[~gone].copy()
    return gdf, probs


def keep_geometry_family(gdf: gpd.GeoDataFrame, layer: str, ids: pd.Series
                         ) -> tuple[gpd.GeoDataFrame, list[dict]]:
    """Keep only geometries of the layer's families (water: polygons and lines).

    Mixed layers (points beside polygons) keep what fits and record the rest.
    """
    fams = GEOMETRY_FAMILIES[layer]
    geoms = gdf.geometry.values
    out = np.empty(len(geoms), dtype=object)
    dropped: list[str] = []
    for i, g in enumerate(geoms):
        f = _FAMILY.get(g.geom_type) if g is not None else None
        if f in fams:
            out[i] = g
            continue
        kept = None
        for fam in fams:
            kept = _only_family(g, fam) if g is not None else None
            if kept is not None:
                break
        out[i] = kept
        if kept is None:
            dropped.append(str(ids.iloc[i]))
    probs: list[dict] = []
    if dropped:
        code = "building_dropped_geometry_type" if layer == "buildings" else "geometry_type_dropped"
        probs.append(problem(code, layer, dropped,
                             f"{layer}: {len(dropped)} feature(s) of the wrong geometry type "
                             f"(expected {'/'.join(fams)}) left out: {', '.join(dropped[:20])}"))
    keep = np.array([g is not None for g in out], dtype=bool)
    gdf = gdf.copy()
    gdf["geometry"] = out
    return gdf[keep].copy(), probs


def unique_ids(ids: pd.Series, layer: str, *, prefix: str = "", seen: set[str] | None = None
               ) -> tuple[pd.Series, list[dict]]:
    """Ids as strings, unique within the layer and across ``seen`` ids of other files.

    Missing ids are generated (``<prefix><row>``); duplicates get a ``-2``, ``-3`` suffix
    and are recorded (``duplicate_id``).
    """
    seen = set() if seen is None else seen
    out = []
    probs: list[dict] = []
    dup: dict[str, list[str]] = {}
    blank: list[str] = []
    for row, v in enumerate(ids.tolist()):
        s = _id_text(v)
        if not s:
            s = f"{prefix}{row + 1}"
            blank.append(s)
        base, k = s, 1
        while s in seen:
            k += 1
            s = f"{base}-{k}"
        if k > 1:
            dup.setdefault(base, []).append(s)
        seen.add(s)
        out.append(s)
    for base in sorted(dup):
        probs.append(problem("duplicate_id", layer, [base, *dup[base]],
                             f"{layer}: id {base} used {len(dup[base]) + 1} times; the copies "
                             f"were renamed {', '.join(dup[base])}. Give each feature its own id "
                             f"in the source"))
    if blank and layer == "buildings":
        probs.append(problem("id_blank", layer, blank,
                             f"{layer}: {len(blank)} feature(s) without an id (null or blank) "
                             f"got the id of their row: {', '.join(blank[:20])}. Give every "
                             f"feature its id in the source, or the plan cannot be matched "
                             f"with the next delivery"))
    return pd.Series(out, index=ids.index, dtype=object), probs


def _id_text(v: object) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    return unicodedata.normalize("NFKC", str(v)).strip()


_NUM = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")


def parse_number(v: object) -> tuple[float, str]:
    """A float from a cell, and '' or the reason it is unusable ('missing', 'text')."""
    if v is None:
        return math.nan, "missing"
    if isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool):
        f = float(v)
        return (f, "") if math.isfinite(f) else (math.nan, "missing")
    s = unicodedata.normalize("NFKC", str(v)).strip().replace(",", "")
    if s in ("", "nan", "NaN", "null", "NULL", "None", "-", "--", "—", "/", "无", "空", "不详"):
        return math.nan, "missing"
    if _NUM.match(s):
        f = float(s)
        return (f, "") if math.isfinite(f) else (math.nan, "text")
    return math.nan, "text"


#: plausible ranges per numeric field: (min, max, integer?)
RANGES = {
    "population": (0.0, 20000.0, True),
    "dwellings": (0.0, 5000.0, False),
    "floors": (1.0, 130.0, False),
    "height": (1.0, 650.0, False),
}


def clean_numbers(frame: pd.DataFrame, column: str, layer: str, ids: pd.Series
                  ) -> tuple[pd.Series, list[dict]]:
    """Parse a numeric column; unusable values become NaN and are recorded.

    Non-numeric text (``约300``, ``-``), negative and implausible values (``1e9``, floors 0
    or 200) become NaN (to be estimated); fractional people are rounded.
    """
    lo, hi, integer = RANGES[column]
    vals = np.full(len(frame), math.nan)
    groups: dict[str, list[str]] = {}
    shown: dict[str, object] = {}
    for i, v in enumerate(frame[column].tolist()):
        f, why = parse_number(v)
        fid = str(ids.iloc[i])
        if why == "text":
            groups.setdefault(f"text:{v}", []).append(fid)
            continue
        if why == "missing":
            groups.setdefault("missing", []).append(fid)
            continue
        if f < 0:
            groups.setdefault("negative", []).append(fid)
            continue
        if f < lo or f > hi:
            groups.setdefault("range", []).append(fid)
            shown.setdefault(fid, v)
            continue
        if integer and not float(f).is_integer():
            groups.setdefault("fraction", []).append(fid)
            f = float(math.floor(f + 0.5))
        vals[i] = f
    probs = []
    texts = {k: v for k, v in groups.items() if k.startswith("text:")}
    if texts:
        allids = [i for k in texts for i in texts[k]]
        samples = ", ".join(f"{k[5:]!r} ({','.join(texts[k][:3])})" for k in sorted(texts)[:8])
        probs.append(problem(f"{column}_invalid", layer, allids,
                             f"{layer}.{column}: {len(allids)} value(s) are not numbers: "
                             f"{samples}; treated as unknown and estimated"))
    msgs = {
        "missing": (f"{column}_missing", "info",
                    "empty/NaN; estimated for residential buildings (see pop_guessed)"),
        "negative": (f"{column}_negative", "warning", "negative; treated as unknown"),
        "range": (f"{column}_implausible", "warning",
                  f"outside {lo:g}..{hi:g}; treated as unknown"),
        "fraction": (f"{column}_fractional", "info", "fractional; rounded"),
    }
    for key in ("missing", "negative", "range", "fraction"):
        if key in groups:
            code, sev, text = msgs[key]
            idl = groups[key]
            listed = ", ".join(f"{i} ({shown[i]!r})" if i in shown else i for i in idl[:20])
            probs.append(problem(code, layer, idl, f"{layer}.{column}: {len(idl)} value(s) "
                                 f"{text}: {listed}", severity=sev))
    return pd.Series(vals, index=frame.index), probs


def normalise_code(v: object, *, length: int) -> tuple[str, list[str]]:
    """A code as a string of digits; notes of what was fixed.

    Full-width digits (３１０…) are folded, ``.0`` of numeric storage removed, and leading
    zeros lost by numeric storage restored when one digit short... (padded to ``length``).
    """
    notes = []
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "", ["missing"]
    if isinstance(v, float) and v.is_integer():
        v = int(v)
        notes.append("numeric")
    elif isinstance(v, (int, np.integer)) and not isinstance(v, bool):
        notes.append("numeric")
    raw = str(v).strip()
    s = unicodedata.normalize("NFKC", raw).strip()
    if s != raw:
        notes.append("fullwidth")
    if re.fullmatch(r"\d+\.0+", s):
        s = s.split(".")[0]
        notes.append("numeric")
    if not s.isdigit():
        return s, notes + ["not_digits"]
    if len(s) < length and "numeric" in notes:
        # only a number loses its leading zeros; short TEXT is reported as too short
        s = s.zfill(length)
        notes.append("zeros")
    return s, notes


def clean_codes(values: pd.Series, layer: str, ids: pd.Series, *, length: int,
                parent: str = "") -> tuple[pd.Series, list[dict]]:
    """Normalise a code column; record fixes and codes not under ``parent``."""
    out = []
    groups: dict[str, list[str]] = {}
    for i, v in enumerate(values.tolist()):
        s, notes = normalise_code(v, length=length)
        for n in notes:
            groups.setdefault(n, []).append(f"{ids.iloc[i]}={s}")
        if s.isdigit() and len(s) != length:
            groups.setdefault("length", []).append(f"{ids.iloc[i]}={s}")
        if parent and s.isdigit() and not s.startswith(parent):
            groups.setdefault("parent", []).append(f"{ids.iloc[i]}={s}")
        out.append(s)
    probs = []
    text = {
        "fullwidth": ("code_fullwidth", "info", "full-width digits (３１０…) folded"),
        "zeros": ("code_leading_zeros", "warning",
                  f"stored as numbers and lost leading zeros; padded to {length} digits"),
        "numeric": ("code_numeric", "info", "stored as numbers; read as text"),
        "missing": ("code_missing", "error", "missing"),
        "not_digits": ("code_not_digits", "error", "not made of digits"),
        "length": ("code_length", "error", f"not {length} digits"),
        "parent": ("village_code_prefix", "error",
                   f"do not start with the 街镇 code {parent}"),
    }
    for key in ("fullwidth", "numeric", "zeros", "missing", "not_digits", "length", "parent"):
        if key in groups:
            code, sev, msg = text[key]
            items = groups[key]
            probs.append(problem(code, layer, [x.split("=")[0] for x in items],
                                 f"{layer}: {len(items)} code(s) {msg}: {', '.join(items[:10])}",
                                 severity=sev))
    return pd.Series(out, index=values.index, dtype=object), probs


def assign_villages(buildings: gpd.GeoDataFrame, villages: gpd.GeoDataFrame
                    ) -> tuple[pd.Series, list[dict]]:
    """The 居/村 code of each building: the village it overlaps most.

    Returns codes ('' = outside every 居/村) and problems: ``building_dropped_outside``
    (error; the caller leaves these buildings out) and ``building_straddles`` (warning,
    naming both codes).
    """
    codes = pd.Series([""] * len(buildings), index=buildings.index, dtype=object)
    if len(buildings) == 0 or len(villages) == 0:
        probs = []
        if len(buildings):
            probs.append(problem("building_dropped_outside", "buildings",
                                 buildings["building_id"].tolist(),
                                 "no 居/村 polygons: every building is outside", severity="error"))
        return pd.Series([""] * len(buildings), index=buildings.index, dtype=object), probs
    bgeo = buildings.geometry.values
    vgeo = villages.geometry.values
    vcode = villages["village_code"].astype(str).values
    tree = shapely.STRtree(vgeo)
    bi, vi = tree.query(bgeo, predicate="intersects")
    areas = shapely.area(shapely.intersection(bgeo[bi], vgeo[vi])) if len(bi) else np.array([])
    probs: list[dict] = []
    best: dict[int, list[tuple[float, str]]] = {}
    for b, v, a in zip(bi.tolist(), vi.tolist(), areas.tolist()):
        if a > 0:
            best.setdefault(b, []).append((a, vcode[v]))
    outside = []
    for pos in range(len(buildings)):
        cands = sorted(best.get(pos, []), key=lambda t: (-t[0], t[1]))
        bid = str(buildings["building_id"].iloc[pos])
        if not cands:
            outside.append(pos)
            continue
        codes.iloc[pos] = cands[0][1]
        if len(cands) > 1:
            total = sum(a for a, _ in cands)
            share = ", ".join(f"{c} {a / total:.0%}" for a, c in cands)
            probs.append(problem("building_straddles", "buildings", [bid],
                                 f"building {bid} straddles 居/村 {share}; assigned to "
                                 f"{cands[0][1]} (largest overlap)",
                                 geometry=shapely.centroid(bgeo[pos])))
    for pos in outside:
        bid = str(buildings["building_id"].iloc[pos])
        probs.append(problem("building_dropped_outside", "buildings", [bid],
                             f"building {bid} lies outside every 居/村 polygon; left out of "
                             f"buildings. Fix the 居/村 boundary or remove the building",
                             severity="error", geometry=shapely.centroid(bgeo[pos])))
    return codes, probs


def check_village_coverage(villages: gpd.GeoDataFrame, township: object, *,
                           min_area_m2: float = 1.0) -> list[dict]:
    """Overlaps between 居/村 polygons and gaps inside the 街镇 (coverage checks)."""
    probs: list[dict] = []
    geoms = villages.geometry.values
    codes = villages["village_code"].astype(str).values
    if len(geoms) == 0:
        return probs
    tree = shapely.STRtree(geoms)
    a, b = tree.query(geoms, predicate="intersects")
    for i, j in zip(a.tolist(), b.tolist()):
        if i >= j:
            continue
        inter = shapely.intersection(geoms[i], geoms[j])
        if inter.area > min_area_m2:
            probs.append(problem("villages_overlap", "villages", [codes[i], codes[j]],
                                 f"居/村 {codes[i]} and {codes[j]} overlap by {inter.area:.0f} m²; "
                                 f"a building there goes to the larger overlap. Fix the "
                                 f"boundary", geometry=inter))
    if not shapely.coverage_is_valid(shapely.GeometryCollection(list(geoms)), gap_width=0.0):
        log.info("居/村 polygons do not form a valid coverage (edges not shared exactly)")
    if township is not None and not shapely.is_empty(township):
        union = shapely.union_all(geoms)
        gaps = shapely.difference(township, union)
        parts = [g for g in shapely.get_parts(gaps) if g.area > min_area_m2 and
                 g.geom_type == "Polygon"]
        if parts:
            gap = shapely.union_all(parts)
            probs.append(problem("villages_gap", "villages", "",
                                 f"{len(parts)} gap(s) of {gap.area:.0f} m² inside the 街镇 "
                                 f"belong to no 居/村; buildings there are left out",
                                 geometry=gap))
        outside = shapely.difference(union, shapely.buffer(township, 1.0))
        if outside.area > min_area_m2:
            probs.append(problem("village_outside_township", "villages", "",
                                 f"居/村 polygons reach {outside.area:.0f} m² outside the 街镇 "
                                 f"boundary", geometry=outside))
    return probs


# --------------------------------------------------------------------------- glyphs
#: code points no CJK map font has: emoji and pictographs, variation selectors,
#: zero-width and other format characters, private use, unassigned, controls
_NO_FONT_RANGES = ((0x1F000, 0x1FAFF), (0xFE00, 0xFE0F), (0xE0000, 0xE0FFF), (0x2FF80, 0x10FFFF))


@functools.lru_cache(maxsize=1)
def _font_charmap() -> tuple[str, frozenset[int]] | None:
    """(family, code points) of the CJK font the PDF maps use, None if none is installed."""
    try:
        from pucha.glyphs import font_charmap  # the one font choice and glyph table

        return font_charmap()
    except Exception as exc:  # no font / no matplotlib: fall back to the Unicode rule
        log.debug("no CJK font for the glyph check (%s); using the Unicode rule", exc)
        return None


def _no_font_has(ch: str) -> bool:
    cp = ord(ch)
    if any(lo <= cp <= hi for lo, hi in _NO_FONT_RANGES):
        return True
    return unicodedata.category(ch) in ("Cc", "Cf", "Co", "Cs", "Cn")


def undrawable_chars(chars: Iterable[str]) -> set[str]:
    """The characters of ``chars`` the PDF maps cannot draw.

    Emoji, variation selectors, zero-width/format characters, private-use and
    unassigned code points (no CJK font has them), plus, when a CJK font is
    installed, every character that font lacks (the map stops with a FontError on
    those). Whitespace is ignored.
    """
    fm = _font_charmap()
    out = set()
    for ch in set(chars):
        if ch.isspace():
            continue
        if _no_font_has(ch) or (fm is not None and ord(ch) not in fm[1]):
            out.add(ch)
    return out


def _show(chars: Iterable[str]) -> str:
    return " ".join(f"{c!r} U+{ord(c):04X}".replace("'", "") for c in sorted(chars))


def check_glyphs(frame: pd.DataFrame, layer: str, id_column: str,
                 columns: Iterable[str] = ("name", "address"), *, max_rows: int = 50
                 ) -> list[dict]:
    """``text_glyph_missing`` warnings: one row per feature whose text the maps cannot draw.

    Each row names the feature, the field, the text and the characters (with their
    U+ code points). Past ``max_rows`` features, one more row lists the rest.
    """
    cols = [c for c in columns if c in frame.columns]
    if not cols or len(frame) == 0:
        return []
    texts = {c: frame[c].map(lambda v: "" if v is None or (isinstance(v, float) and
                                                         math.isnan(v)) else str(v)).tolist()
             for c in cols}
    allchars: set[str] = set()
    for c in cols:
        for t in texts[c]:
            allchars.update(t)
    bad = undrawable_chars(allchars)
    if not bad:
        return []
    ids = frame[id_column].astype(str).tolist() if id_column in frame.columns else \
        [str(i) for i in range(len(frame))]
    hits: list[tuple[str, str, str, set[str]]] = []
    for c in cols:
        for fid, t in zip(ids, texts[c]):
            found = bad.intersection(t)
            if found:
                hits.append((fid, c, t, found))
    hits.sort(key=lambda h: (h[0], h[1]))
    fm = _font_charmap()
    font = f"the map font {fm[0]!r}" if fm else "the CJK map fonts"
    probs = []
    for fid, c, t, found in hits[:max_rows]:
        shown = t if len(t) <= 60 else t[:57] + "..."
        probs.append(problem(
            "text_glyph_missing", layer, [fid],
            f"{layer} {fid}: {c} {shown!r} has character(s) {font} cannot draw: "
            f"{_show(found)}; the PDF maps cannot print them. Replace or remove them in the "
            f"source (e.g. 阳光🌞小区 -> 阳光小区) and import again"))
    if len(hits) > max_rows:
        rest = hits[max_rows:]
        chars = set().union(*(h[3] for h in rest))
        probs.append(problem(
            "text_glyph_missing", layer, sorted({h[0] for h in rest}),
            f"{layer}: {len(rest)} more text(s) with character(s) {font} cannot draw: "
            f"{_show(chars)}; replace or remove them in the source"))
    return probs

"""Population per building, by one of three methods (``[population].method``).

``given``
    The building layer carries people (人口). Unknown values are estimated: from
    dwellings x persons_per_household when known, else from the floor-area density of
    the buildings with a given population; those buildings are ``pop_guessed``.
``dwellings``
    dwellings (户数/住房单元) x persons_per_household (default 2.20: 第七次全国人口普查
    青浦区 average household size), rounded per 居/村 by largest remainder so each 居/村
    total is the rounded sum.
``totals``
    Totals per 居/村 (or per 街镇) from a CSV, allocated to residential buildings in
    proportion to floor area = floors x footprint (floors = height / floor_height_m
    when only the height is known; default_floors when neither is), as integers that
    preserve each total exactly (largest remainder; ties broken by building_id).
"""

from __future__ import annotations

import io
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from pucha.config import PopulationSettings
from pucha.errors import ConfigError, InputError
from pucha.gis.fields import normalise_name
from pucha.gis.validate import normalise_code, parse_number, problem

__all__ = ["estimate_population", "largest_remainder", "read_totals", "effective_floors",
           "PopulationReport", "METHODS"]

log = logging.getLogger(__name__)

METHODS = ("given", "dwellings", "totals")
_CODE_COLS = ("village_code", "code", "居委会代码", "村委会代码", "居村代码", "街道代码",
              "街镇代码", "代码", "区划代码")
_POP_COLS = ("population", "pop", "人口", "人口数", "常住人口", "总人口")


@dataclass
class PopulationReport:
    """What :func:`estimate_population` did, as a dict (``as_dict``) and text (``text``)."""

    method: str
    persons_per_household: float
    total_in: int
    total_out: int
    n_buildings: int
    n_guessed: int
    guessed_ids: list[str] = field(default_factory=list)
    per_village: dict[str, dict[str, int]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"method": self.method, "persons_per_household": self.persons_per_household,
                "total_in": self.total_in, "total_out": self.total_out,
                "n_buildings": self.n_buildings, "n_guessed": self.n_guessed,
                "guessed_ids": self.guessed_ids[:200], "per_village": self.per_village,
                "notes": self.notes}

    def text(self) -> str:
        lines = [f"人口估算 population method: {self.method}",
                 f"  输入合计 total in:  {self.total_in}",
                 f"  输出合计 total out: {self.total_out}",
                 f"  建筑 buildings: {self.n_buildings}, 估算 guessed: {self.n_guessed}"]
        if self.method == "dwellings":
            lines.append(f"  户均人口 persons per household: {self.persons_per_household}")
        if self.guessed_ids:
            lines.append("  guessed: " + ", ".join(self.guessed_ids[:20])
                         + (" ..." if len(self.guessed_ids) > 20 else ""))
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


def largest_remainder(total: int, weights: np.ndarray, keys: list[str]) -> np.ndarray:
    """Integers proportional to ``weights`` summing exactly to ``total``.

    Ties in the fractional parts go to the smaller key (building_id), so the result does
    not depend on row order. All-zero weights are treated as equal.
    """
    n = len(weights)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    w = np.asarray(weights, dtype=float)
    w = np.where(np.isfinite(w) & (w > 0), w, 0.0)
    if w.sum() <= 0:
        w = np.ones(n)
    quota = total * w / w.sum()
    base = np.floor(quota).astype(np.int64)
    rest = int(total - base.sum())
    frac = quota - base
    order = sorted(range(n), key=lambda i: (-round(frac[i], 12), keys[i]))
    for i in order[:rest]:
        base[i] += 1
    return base


def effective_floors(buildings: pd.DataFrame, settings: PopulationSettings
                     ) -> tuple[pd.Series, pd.Series]:
    """Floors used for floor area, and whether they were defaulted (no floors, no height)."""
    floors = pd.to_numeric(buildings.get("floors"), errors="coerce") if "floors" in buildings \
        else pd.Series(np.nan, index=buildings.index)
    height = pd.to_numeric(buildings.get("height"), errors="coerce") if "height" in buildings \
        else pd.Series(np.nan, index=buildings.index)
    from_h = np.maximum(1.0, np.round(height / settings.floor_height_m))
    out = floors.where(floors.notna(), from_h)
    defaulted = out.isna()
    out = out.fillna(settings.default_floors)
    return out.astype(float), defaulted


def read_totals(path: Path) -> pd.DataFrame:
    """A totals CSV as (code, population): UTF-8 (BOM ok) or GB18030, Chinese/English headers."""
    if not path.exists():
        raise ConfigError(f"[population].totals: file not found: {path}")
    raw = path.read_bytes()
    if not raw.strip():
        raise InputError(f"{path}: the totals CSV is empty")
    from pucha.gis.read import csv_separator, score_encodings

    enc, why, doubtful = score_encodings(raw)
    if doubtful:
        log.warning("%s: text encoding doubtful: read as %s (%s)", path, enc, why)
    text = raw.decode(enc, errors="replace").lstrip("\ufeff")
    try:
        df = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False,
                         sep=csv_separator(text))
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise InputError(f"{path}: not a readable CSV table ({exc}); save it from Excel as "
                         f"CSV UTF-8 or Unicode text") from None
    low = {normalise_name(c): c for c in df.columns}
    code = next((low[normalise_name(c)] for c in _CODE_COLS if normalise_name(c) in low), None)
    pop = next((low[normalise_name(c)] for c in _POP_COLS if normalise_name(c) in low), None)
    if code is None or pop is None:
        raise InputError(f"{path}: the totals CSV needs a code column (居委会代码/code) and a "
                         f"population column (人口/population); it has: {', '.join(df.columns)}")
    rows = []
    for i, (c, p) in enumerate(zip(df[code], df[pop])):
        value, why = parse_number(p)
        if why or value < 0 or not float(value).is_integer():
            raise InputError(f"{path}: row {i + 2}: population {p!r} for {c} is not a whole "
                             f"number >= 0; fix the totals CSV")
        s, notes = normalise_code(c, length=12 if len(str(c).strip()) > 9 else 9)
        rows.append((s, int(value)))
    out = pd.DataFrame(rows, columns=["code", "population"])
    dup = out["code"][out["code"].duplicated()].tolist()
    if dup:
        raise InputError(f"{path}: code(s) {', '.join(dup)} appear twice in the totals CSV")
    return out


def estimate_population(buildings: gpd.GeoDataFrame, settings: PopulationSettings, *,
                        totals: pd.DataFrame | None = None
                        ) -> tuple[gpd.GeoDataFrame, PopulationReport, list[dict]]:
    """Fill ``population`` (int), ``pop_method``, ``pop_guessed`` of every building.

    Parameters
    ----------
    buildings
        Columns building_id, village_code, residential, floors, height, dwellings,
        population (NaN = unknown) in a metric CRS.
    settings
        ``[population]``.
    totals
        For ``method = "totals"``: columns code, population (see :func:`read_totals`).

    Returns
    -------
    (buildings, report, problems)
    """
    if settings.method not in METHODS:
        raise ConfigError(f"[population].method = {settings.method!r}; valid methods are: "
                          f"{', '.join(METHODS)}")
    if not settings.persons_per_household > 0:
        raise ConfigError("[population].persons_per_household must be > 0 (default 2.20)")
    b = buildings.copy()
    n = len(b)
    ids = b["building_id"].astype(str).tolist()
    floors, defaulted = effective_floors(b, settings)
    area = np.asarray(b.geometry.area, dtype=float) * floors.values
    resid = b["residential"].astype(bool).values if "residential" in b else np.ones(n, bool)
    pop = np.zeros(n, dtype=np.int64)
    guessed = np.zeros(n, dtype=bool)
    method = np.array([settings.method] * n, dtype=object)
    probs: list[dict] = []
    notes: list[str] = []
    per_village: dict[str, dict[str, int]] = {}
    vcodes = b["village_code"].astype(str).values
    pph = settings.persons_per_household
    given = pd.to_numeric(b["population"], errors="coerce").values if "population" in b \
        else np.full(n, np.nan)
    dw = pd.to_numeric(b["dwellings"], errors="coerce").values if "dwellings" in b \
        else np.full(n, np.nan)

    if settings.method == "totals":
        if totals is None:
            raise ConfigError("[population].method = \"totals\" needs totals = \"<csv>\" with "
                              "one row per 居/村 (居委会代码,人口)")
        level = settings.totals_level
        if level not in ("village", "township"):
            raise ConfigError(f"[population].totals_level = {level!r}; use \"village\" or "
                              f"\"township\"")
        groups: dict[str, np.ndarray] = {}
        if level == "township":
            groups["__all__"] = np.arange(n)
            tmap = {"__all__": int(totals["population"].sum())}
        else:
            for code in sorted(set(vcodes)):
                groups[code] = np.flatnonzero(vcodes == code)
            tmap = dict(zip(totals["code"], totals["population"].astype(int)))
            extra = sorted(set(tmap) - set(groups))
            for code in extra:
                probs.append(problem("population_total_unallocated", "villages", [code],
                                     f"totals CSV gives {tmap[code]} people to {code}, which has "
                                     f"no buildings; those people are not allocated",
                                     severity="error"))
            for code in sorted(set(groups) - set(tmap)):
                probs.append(problem("population_total_missing", "villages", [code],
                                     f"居/村 {code} has no row in the totals CSV; its buildings "
                                     f"get 0 people", severity="error"))
        for code in sorted(groups):
            idx = groups[code]
            total = int(tmap.get(code, 0))
            sel = idx[resid[idx]] if resid[idx].any() else idx
            if not resid[idx].any() and total > 0 and len(idx):
                probs.append(problem("population_no_residential", "buildings",
                                     [code], f"居/村 {code}: no residential building; its "
                                     f"{total} people spread over all {len(idx)} buildings",
                                     severity="warning"))
            alloc = largest_remainder(total, area[sel], [ids[i] for i in sel])
            pop[sel] = alloc
            per_village[code] = {"in": total, "out": int(alloc.sum())}
        guessed[:] = defaulted.values & (pop > 0)
        total_in = int(sum(tmap.get(c, 0) for c in groups)) + int(
            sum(v for c, v in tmap.items() if c not in groups))
    else:
        known_pop = np.isfinite(given) & (settings.method == "given")
        known_dw = np.isfinite(dw)
        if settings.method == "dwellings" and not known_dw.any():
            raise InputError("[population].method = \"dwellings\" but no building has dwellings "
                             "(户数/住房单元); map the column with fields = { dwellings = ... } "
                             "or use method = \"totals\"")
        # raw (float) people
        raw = np.zeros(n)
        raw[known_pop] = given[known_pop]
        use_dw = ~known_pop & known_dw
        raw[use_dw] = dw[use_dw] * pph
        method[use_dw] = "dwellings"
        rest = ~known_pop & ~known_dw & resid
        if rest.any():
            basis = (known_pop | known_dw) & resid & (area > 0)
            dens = (raw[basis].sum() / area[basis].sum()) if basis.any() else 0.0
            if dens == 0:
                notes.append("no building with a known population/dwellings to learn a density "
                             "from; the guessed buildings get 0 people")
            raw[rest] = area[rest] * dens
            guessed[rest] = True
            method[rest] = settings.method
        if settings.method == "given":
            guessed[use_dw] = True
        # integers: given values as they are; estimated parts by largest remainder per 居/村
        est = ~known_pop
        pop[known_pop] = np.round(given[known_pop]).astype(np.int64)
        for code in sorted(set(vcodes)):
            idx = np.flatnonzero((vcodes == code) & est)
            if len(idx) == 0:
                continue
            t = int(round(raw[idx].sum()))
            pop[idx] = largest_remainder(t, raw[idx], [ids[i] for i in idx])
        for code in sorted(set(vcodes)):
            idx = vcodes == code
            per_village[code] = {"in": int(round(raw[idx].sum())), "out": int(pop[idx].sum())}
        total_in = int(pop[known_pop].sum()) + int(round(dw[use_dw].sum() * pph)) \
            if settings.method == "given" else int(sum(v["in"] for v in per_village.values()))
        nonres = ~resid & ~known_pop & ~known_dw
        method[nonres] = settings.method
    b["population"] = pop.astype(np.int64)
    b["pop_method"] = method.astype(str)
    b["pop_guessed"] = guessed
    b["floors"] = floors.values
    gids = [ids[i] for i in np.flatnonzero(guessed)]
    if gids:
        probs.append(problem("population_guessed", "buildings", gids[:500],
                             f"{len(gids)} building(s) had no usable population/dwellings/"
                             f"floors and were estimated (pop_guessed = true)", severity="info"))
    report = PopulationReport(settings.method, pph, int(total_in), int(pop.sum()), n,
                              len(gids), gids, per_village, notes)
    log.info("%s", report.text())
    return b, report, probs

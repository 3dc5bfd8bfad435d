"""摸底 (pre-enumeration listing): what enumerators found comes back into the plan.

The listing file (``docs/listing.md``) is a GeoJSON FeatureCollection written by
the 摸底 mode of every offline area map (or typed into the XLSX listing template
at the office, which reads into exactly the same records). :func:`import_listing`
validates every record against the JSON Schema shipped beside this module
(``listing.schema.json``) and against the plan, keeps every record in the
project's ``listing`` layer and puts the counts on the buildings:

* a counted building's people (or households x persons per household when only
  households are given) replace its estimate; the estimate stays beside it
  (``pop_estimate``, ``estimate_method``), ``pop_method`` reads ``"listing"``;
* a building 拆除 (demolished) keeps its row with 0 people, 空置 and 非住宅 without
  counts hold 0 people, 已核实 / 在建 / 无法进入 without counts keep the estimate;
* a new building (``building_id`` null) becomes a building row of its 居/村 (an
  8 m square around the tapped point) with ``area_code`` empty: the next
  ``pucha partition`` puts it in the area it stands in;
* a cut building (纵向切割) counted in one of its areas: that area's part is
  replaced by the count, the other parts keep theirs.

Every record is kept (``listing`` layer, with its file and device); a rejected
record is a ``problems`` row of stage ``listing`` with the reason. Two devices
disagreeing on one building: the newest record wins and a ``listing_conflict``
row says so. Everything is recomputed from the whole ``listing`` layer on each
import, so importing the same file twice changes nothing. Notes are masked
(ID numbers, phone numbers, names) before they are stored, and no map or
register reads them.

The next ``pucha partition`` sees the changed buildings in the per-居/村
fingerprints of :mod:`pucha.partition.revision` and re-solves only those 居/村
(and only when an area left the band), keeping every other code.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from pucha.errors import InputError
from pucha.gis import schema as S
from pucha.gis.write import list_layers, read_layer, read_meta, update_gpkg

__all__ = ["STATUSES", "LAYER_LISTING", "LISTING_COLUMNS", "XLSX_HEADERS", "XLSX_SHEET",
           "listing_schema", "mask_note", "read_listing_file", "import_listing",
           "ListingResult", "NEW_BUILDING_PREFIX"]

logger = logging.getLogger(__name__)

STATUSES = ("已核实", "空置", "拆除", "在建", "非住宅", "无法进入")
LAYER_LISTING = "listing"
LISTING_COLUMNS = ("record_id", "building_id", "area_code", "status", "dwellings", "households",
                   "people", "floors", "note", "recorded_at", "device", "file", "accepted",
                   "reason", "winner")
NEW_BUILDING_PREFIX = "L"
XLSX_SHEET = "摸底表"
# the XLSX listing template's columns (outputs/listing_template.py writes them)
XLSX_HEADERS = ("普查小区代码", "编号", "建筑ID", "名称/地址", "图上层数", "状态", "住房单元",
                "户数", "人数", "实际层数", "备注", "经度", "纬度", "登记时间", "设备")
_COUNT_KEYS = ("dwellings", "households", "people", "floors")
_PROPS = ("building_id", "area_code", "status", "dwellings", "households", "people", "floors",
          "note", "recorded_at", "device")
# what a building can plausibly hold; beyond this a record is rejected (a typing slip)
LIMITS = {"people": 5000, "households": 2000, "dwellings": 2000, "floors": 150}
MAX_PEOPLE_PER_HOUSEHOLD = 20
NEW_BUILDING_TOLERANCE_M = 5.0
# the device ids pucha makes (browser: 16 hex digits; XLSX template: xlsx- + 10)
_OUR_DEVICE = re.compile(r"(?:xlsx-)?[0-9a-f]{10,16}")


@lru_cache(maxsize=1)
def listing_schema() -> dict:
    """The JSON Schema of a listing file (shipped as ``listing.schema.json``)."""
    return json.loads((Path(__file__).with_name("listing.schema.json")).read_text("utf-8"))


# --------------------------------------------------------------------------- privacy

try:  # the import's content scanner (gis/privacy.py, issue 15), where present
    from pucha.gis.privacy import mask_text as _shared_mask
except ImportError:  # an installation whose gis.privacy only drops columns
    _shared_mask = None
_ID_RE = re.compile(r"(?<![0-9])(?:[1-9][0-9]{5}(?:19|20)[0-9]{2}[0-9]{7}[0-9Xx]|[1-9][0-9]{14})"
                    r"(?![0-9])")
_PHONE_RE = re.compile(r"(?<![0-9])(?:\+?86[- ]?)?(?:1[3-9][0-9][- ]?[0-9]{4}[- ]?[0-9]{4}"
                       r"|0[0-9]{2,3}[- ]?[0-9]{7,8}|[2-9][0-9]{6,7})(?![0-9])")
_NAME_KEY_RE = re.compile(r"(姓名|户主|联系人|业主|房东|租户|住户|居民|本人|名字|叫)\s*[:：是为]?\s*"
                          r"[\u4e00-\u9fff]{2,4}")
_NAME_HON_RE = re.compile(r"[\u4e00-\u9fff](先生|女士|小姐|阿姨|大爷|师傅|老师)")


def mask_note(text: object) -> str:
    """A note with ID numbers, phone numbers and names of persons masked.

    Uses the import's content scanner (:func:`pucha.gis.privacy.mask_text`) where this
    installation has it, then the rules below (which also catch 王先生-style names).

    >>> "13812345678" in mask_note("户主张三 电话13812345678")
    False
    >>> "王" in mask_note("3楼王先生不在家")
    False
    """
    if text is None or (isinstance(text, float) and math.isnan(text)):
        return ""
    s = str(text)
    if _shared_mask is not None:
        s = _shared_mask(s)[0]
    s = _ID_RE.sub("[证件号]", s)
    s = _PHONE_RE.sub("[电话]", s)
    s = _NAME_KEY_RE.sub(lambda m: m.group(1) + "[姓名]", s)
    s = _NAME_HON_RE.sub("[姓名]", s)
    return s[:200]


# 18-digit 公民身份号码 only: a 15-digit run here is an area code
_ID18_RE = re.compile(r"(?<![0-9])[1-9][0-9]{5}(?:19|20)[0-9]{2}[0-9]{7}[0-9Xx](?![0-9])")
_MOBILE_RE = re.compile(r"(?<![0-9])(?:\+?86[- ]?)?1[3-9][0-9][- ]?[0-9]{4}[- ]?[0-9]{4}(?![0-9])")


def _mask_ids(text: object) -> str:
    """ID and mobile numbers masked in a machine text (a reason, a device, a file name)
    that also holds building ids and counts, which must stay readable."""
    s = "" if text is None else str(text)
    if _shared_mask is not None:
        s = _shared_mask(s)[0]
    return _MOBILE_RE.sub("[电话]", _ID18_RE.sub("[证件号]", s))


# --------------------------------------------------------------------------- reading


def _record_id(props: dict, coords) -> str:
    key = {k: props.get(k) for k in _PROPS}
    key["xy"] = [round(float(c), 7) for c in coords[:2]] if _coords_ok(coords) else None
    return hashlib.sha256(json.dumps(key, sort_keys=True, ensure_ascii=False,
                                     default=str).encode()).hexdigest()[:16]


def _coords_ok(coords) -> bool:
    try:
        return len(coords) >= 2 and all(math.isfinite(float(c)) for c in coords[:2])
    except (TypeError, ValueError):
        return False


def _xlsx_collection(path: Path) -> dict:
    """A filled XLSX listing template as a listing FeatureCollection (same records)."""
    import openpyxl

    try:
        wb = openpyxl.load_workbook(path, data_only=True, read_only=False)
    except Exception as exc:  # openpyxl raises many types for a damaged file
        raise InputError(f"{path}: not a readable XLSX listing template ({exc}); open it in "
                         "Excel/WPS/LibreOffice and save it again as .xlsx") from None
    if XLSX_SHEET not in wb.sheetnames:
        raise InputError(f"{path}: no sheet {XLSX_SHEET!r} (it has {', '.join(wb.sheetnames)}); "
                         "use the 摸底表 template written by `pucha maps`")
    ws = wb[XLSX_SHEET]
    rows = ws.iter_rows(values_only=True)
    header_row = None
    for i, row in enumerate(rows):
        if row and tuple(str(c or "").strip() for c in row[:len(XLSX_HEADERS)]) == XLSX_HEADERS:
            header_row = i
            break
    if header_row is None:
        raise InputError(f"{path}: sheet {XLSX_SHEET!r} has no header row "
                         f"({' | '.join(XLSX_HEADERS)}); do not edit the header")
    modified = wb.properties.modified or datetime.fromtimestamp(path.stat().st_mtime,
                                                                 tz=timezone.utc)
    if modified.tzinfo is None:
        modified = modified.replace(tzinfo=timezone.utc)
    features = []
    for row in rows:
        vals = dict(zip(XLSX_HEADERS, list(row) + [None] * len(XLSX_HEADERS)))
        entered = [vals[k] for k in ("状态", "住房单元", "户数", "人数", "实际层数", "备注")]
        if all(v is None or str(v).strip() == "" for v in entered):
            continue  # not filled in
        when = vals["登记时间"]
        if isinstance(when, datetime):
            when = (when if when.tzinfo else when.replace(
                tzinfo=timezone(pd.Timedelta(hours=8).to_pytimedelta()))).isoformat()
        elif when is None or str(when).strip() == "":
            when = modified.isoformat(timespec="seconds")
        props = {"building_id": _text_or_none(vals["建筑ID"]),
                 "area_code": _code_text(vals["普查小区代码"]),
                 "status": str(vals["状态"] or "").strip(),
                 "dwellings": _int_or_raw(vals["住房单元"]),
                 "households": _int_or_raw(vals["户数"]),
                 "people": _int_or_raw(vals["人数"]),
                 "floors": _int_or_raw(vals["实际层数"]),
                 "note": _text_or_none(vals["备注"]),
                 "recorded_at": str(when).strip(),
                 "device": _text_or_none(vals["设备"]) or "xlsx"}
        lon, lat = _float_or_none(vals["经度"]), _float_or_none(vals["纬度"])
        features.append({"type": "Feature", "properties": props,
                         "geometry": {"type": "Point", "coordinates": [lon, lat]}})
    return {"type": "FeatureCollection", "pucha_listing": 1, "features": features}


def _text_or_none(v) -> str | None:
    if v is None:
        return None
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    s = str(v).strip()
    return s or None


def _code_text(v) -> str:
    if isinstance(v, (int, float)) and not isinstance(v, bool) and float(v).is_integer():
        return str(int(v))
    return str(v or "").strip()


def _int_or_raw(v):
    if v is None or (isinstance(v, str) and not v.strip()):
        return None
    if isinstance(v, bool):
        return v
    if isinstance(v, (int, float)) and float(v).is_integer():
        return int(v)
    if isinstance(v, str) and re.fullmatch(r"-?[0-9]+", v.strip()):
        return int(v.strip())
    return v  # the schema rejects it with a reason


def _float_or_none(v):
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _schema_reason(err) -> str:
    """A schema error without the offending value (it may be a resident's data)."""
    if err.validator in ("required", "additionalProperties"):
        return err.message  # names keys only
    return (f"violates {err.validator} "
            f"{json.dumps(err.validator_value, ensure_ascii=False, default=str)[:80]}")


def read_listing_file(path: str | os.PathLike) -> tuple[list[dict], list[dict]]:
    """The records of one listing file (GeoJSON or filled XLSX template).

    Returns ``(records, rejected)``: dicts with the properties, ``lon``, ``lat``,
    ``record_id``, ``file``; ``rejected`` ones carry ``reason`` (the JSON Schema
    errors of that feature). Raises :class:`InputError` for a file that is not a
    listing file at all.
    """
    import jsonschema

    path = Path(path)
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        doc = _xlsx_collection(path)
    else:
        try:
            doc = json.loads(path.read_text(encoding="utf-8-sig"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InputError(f"{path}: not a listing file (GeoJSON expected: {exc}); export "
                             "it again from the area map's 摸底 panel (导出)") from None
    validator = jsonschema.Draft202012Validator(listing_schema())
    by_feature: dict[int, list[str]] = {}
    for err in validator.iter_errors(doc):
        p = list(err.absolute_path)
        if len(p) >= 2 and p[0] == "features" and isinstance(p[1], int):
            where = "/".join(str(x) for x in p[2:]) or "feature"
            by_feature.setdefault(p[1], []).append(f"{where}: {_schema_reason(err)}"[:200])
        else:
            raise InputError(f"{path}: not a pucha listing file ({err.message} at "
                             f"{'/'.join(map(str, p)) or 'top level'}); see docs/listing.md")
    records, rejected = [], []
    for i, feat in enumerate(doc.get("features", [])):
        feat = feat if isinstance(feat, dict) else {}
        props = feat.get("properties") if isinstance(feat.get("properties"), dict) else {}
        geom = feat.get("geometry") if isinstance(feat.get("geometry"), dict) else {}
        coords = geom.get("coordinates") or []
        rec = {k: props.get(k) for k in _PROPS}
        rec["lon"], rec["lat"] = ((float(coords[0]), float(coords[1])) if _coords_ok(coords)
                                  else (None, None))
        rec["record_id"] = _record_id(props, coords)
        rec["file"] = path.name
        rec["index"] = i
        if i in by_feature:
            rec["reason"] = "文件格式 schema: " + "; ".join(by_feature[i])
            rejected.append(rec)
        else:
            records.append(rec)
    return records, rejected


# --------------------------------------------------------------------------- import


@dataclass
class ListingResult:
    """What :func:`import_listing` did."""

    new_records: int = 0
    known_records: int = 0
    accepted: int = 0
    rejected: int = 0
    new_rejected: int = 0
    conflicts: int = 0
    buildings_counted: int = 0
    buildings_added: int = 0
    changed_villages: list[str] = field(default_factory=list)
    villages: pd.DataFrame = field(default_factory=pd.DataFrame)  # per 居/村 before/after
    areas: pd.DataFrame = field(default_factory=pd.DataFrame)     # per area before/after
    problems: list[dict] = field(default_factory=list)
    written: bool = False

    @property
    def left_band(self) -> list[str]:
        if not len(self.areas):
            return []
        return sorted(self.areas.loc[self.areas["left_band"], "area_code"])

    def text(self) -> str:
        """The report printed by ``pucha listing import``."""
        lines = [f"摸底 listing: {self.new_records} 条新记录 new records "
                 f"({self.known_records} 条已导入过 already imported), 采用 accepted "
                 f"{self.accepted}, 退回 rejected {self.rejected}, 冲突 conflicts "
                 f"{self.conflicts}",
                 f"  建筑 buildings: {self.buildings_counted} 栋按摸底计数 counted, "
                 f"{self.buildings_added} 栋新增 added"]
        if len(self.villages):
            lines.append("  居/村 village          人口 before -> after   变化")
            for r in self.villages.itertuples():
                if r.after == r.before:
                    continue
                lines.append(f"  {r.village_code} {str(r.name)[:8]:8s} {int(r.before):7d} -> "
                             f"{int(r.after):7d}  {int(r.after - r.before):+6d}")
        ch = self.areas[self.areas["after"] != self.areas["before"]] if len(self.areas) else []
        if len(ch):
            lines.append("  普查小区 area          人口 before -> after   变化")
            for r in ch.itertuples():
                flag = "  超出范围 outside the band" if r.left_band else ""
                lines.append(f"  {r.area_code} {int(r.before):5d} -> {int(r.after):5d}  "
                             f"{int(r.after - r.before):+5d}{flag}")
        if self.left_band:
            lines.append(f"  {len(self.left_band)} 个普查小区被摸底推出人口范围 pushed outside "
                         f"the band: {', '.join(self.left_band)}; run `pucha partition` to "
                         "re-plan those 居/村")
        if self.rejected or self.conflicts:
            lines.append("  退回与冲突的记录见 problems 图层 (stage = listing)")
        if not self.written:
            lines.append("  没有新记录，项目未改变 nothing new: the project is unchanged")
        return "\n".join(lines) + "\n"


def _problem(severity: str, code: str, ids, message: str, geometry=None) -> dict:
    return {"severity": severity, "code": code, "layer": LAYER_LISTING,
            "feature_ids": ",".join(str(i) for i in ids), "message": message,
            "stage": "listing", "geometry": geometry}


def _when(s: object) -> datetime:
    try:
        t = datetime.fromisoformat(str(s).replace("Z", "+00:00"))
    except ValueError:
        return datetime.min.replace(tzinfo=timezone.utc)
    return t if t.tzinfo else t.replace(tzinfo=timezone.utc)


def _num(v) -> float:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return float("nan")
    return f


def _people_of(rec: dict, pph: float) -> int | None:
    """People a record counts (None: it counts none, the estimate stays)."""
    if rec["status"] == "拆除":
        return 0
    p, h = _num(rec.get("people")), _num(rec.get("households"))
    if not math.isnan(p):
        return int(p)
    if not math.isnan(h):
        return int(round(h * pph))
    if rec["status"] in ("空置", "非住宅"):
        return 0
    return None


def _plausible(rec: dict) -> str:
    for k, lim in LIMITS.items():
        v = _num(rec.get(k))
        if not math.isnan(v) and v > lim:
            return f"{k} = {int(v)} 不合理 implausible (more than {lim} in one building)"
    p, h = _num(rec.get("people")), _num(rec.get("households"))
    if not math.isnan(p) and not math.isnan(h):
        if h > 0 and p / h > MAX_PEOPLE_PER_HOUSEHOLD:
            return (f"人数 {int(p)} / 户数 {int(h)}: more than {MAX_PEOPLE_PER_HOUSEHOLD} people "
                    "per household, implausible")
        if p > 0 and h == 0:
            return f"人数 {int(p)} 但户数 0: people without households"
    if rec["status"] == "拆除" and (_num(rec.get("people")) or 0) > 0:
        return f"状态 拆除 (demolished) but 人数 {int(p)}: a demolished building holds nobody"
    return ""


def _validate(recs: list[dict], buildings: gpd.GeoDataFrame, eff: pd.DataFrame,
              areas: gpd.GeoDataFrame) -> None:
    """Set ``accepted`` and ``reason`` of each record (schema-valid ones)."""
    codes_of = {b: set(g) for b, g in eff.groupby("building_id")["area_code"]}
    area_geom = dict(zip(areas["area_code"], areas.geometry))
    bids = set(buildings["building_id"])
    _points(recs, areas.crs)
    for rec in recs:
        pt = rec["_pt"]
        code, bid = rec["area_code"], rec["building_id"]
        reason = ""
        if code not in area_geom:
            reason = f"未知普查小区 unknown area code {code}"
        elif bid is not None and bid not in bids:
            reason = f"未知建筑 unknown building id {bid} (not in the project's buildings)"
        elif bid is not None and code not in codes_of.get(bid, set()):
            reason = (f"建筑 {bid} 属于普查小区 {'/'.join(sorted(codes_of.get(bid, set()))) or '无'}"
                      f", 不属于 {code}: a building recorded in another area (recorded in two "
                      "areas or the map is from an older plan)")
        elif bid is None:
            g = area_geom[code]
            if g is None or g.is_empty or g.distance(pt) > NEW_BUILDING_TOLERANCE_M:
                reason = (f"新增建筑在普查小区 {code} 之外 a new building outside its area "
                          f"({0 if g is None or g.is_empty else g.distance(pt):.0f} m away)")
        reason = reason or _plausible(rec)
        rec["accepted"] = not reason
        rec["reason"] = _mask_ids(reason)  # a count typed as an ID number is not kept


def _key(rec: dict) -> tuple:
    if rec["building_id"] is not None:
        return ("b", rec["building_id"], rec["area_code"])
    return ("n", rec["area_code"], round(rec["lon"], 6), round(rec["lat"], 6))


def _winners(recs: list[dict]) -> tuple[dict[tuple, dict], list[dict]]:
    """The newest accepted record per building (and area); conflict problem rows."""
    groups: dict[tuple, list[dict]] = {}
    for r in recs:
        if r["accepted"]:
            groups.setdefault(_key(r), []).append(r)
    winners, conflicts = {}, []
    for key in sorted(groups, key=str):
        g = sorted(groups[key], key=lambda r: (_when(r["recorded_at"]), r["device"],
                                               r["record_id"]))
        win = g[-1]
        winners[key] = win
        latest = {}
        for r in g:
            latest[r["device"]] = r
        vals = {d: tuple(r.get(k) for k in ("status", *_COUNT_KEYS)) for d, r in latest.items()}
        if len(set(vals.values())) > 1:
            what = "; ".join(f"设备 {d}: {r['status']} 户{r.get('households')} "
                             f"人{r.get('people')} ({r['recorded_at']})"
                             for d, r in sorted(latest.items()))
            who = win["building_id"] or f"新增建筑 new building at {win['lon']:.6f},{win['lat']:.6f}"
            conflicts.append(_problem(
                "warning", "listing_conflict", sorted(r["record_id"] for r in latest.values()),
                f"{who} in {win['area_code']}: {len(latest)} devices disagree ({what}); the "
                f"newest ({win['device']}, {win['recorded_at']}) is used; check on the ground "
                "and record again if it is wrong", win.get("_pt")))
    return winners, conflicts


def _apply(buildings: gpd.GeoDataFrame, eff: pd.DataFrame, winners: dict[tuple, dict],
           areas: gpd.GeoDataFrame, pph: float) -> tuple[gpd.GeoDataFrame, dict, int, int]:
    """Buildings with the listing's counts; per-(building, area) people after; counts."""
    b = buildings.copy()
    for c, d in (("pop_estimate", np.nan), ("estimate_method", ""), ("listing_status", "")):
        if c not in b.columns:
            b[c] = d
    b["estimate_method"] = b["estimate_method"].fillna("").astype(str)
    b["listing_status"] = b["listing_status"].fillna("").astype(str)
    # start again from the estimates: the whole listing is re-applied each time
    b = b[b["estimate_method"] != "new"].copy()
    was = b["pop_method"].astype(str) == "listing"
    b.loc[was, "population"] = pd.to_numeric(b.loc[was, "pop_estimate"], errors="coerce"
                                             ).fillna(0).astype(int).to_numpy()
    b.loc[was, "pop_method"] = b.loc[was, "estimate_method"].to_numpy()
    b["pop_estimate"] = np.nan
    b["estimate_method"] = ""
    b["listing_status"] = ""
    # a building's people per area (a tower cut by floors may hold several ranges in one
    # area: they add up, the enumerator of that area counts them together)
    parts: dict[tuple, float] = {}
    for bid, c, p in zip(eff["building_id"], eff["area_code"], eff["population"]):
        parts[(bid, c)] = parts.get((bid, c), 0.0) + float(p)
    base = dict(zip(b["building_id"], b["population"].astype(int)))
    whole = eff.groupby("building_id")["area_code"].nunique() == 1
    after_parts: dict[tuple, float] = {}
    by_b: dict[str, list[dict]] = {}
    for key, rec in winners.items():
        if key[0] == "b":
            by_b.setdefault(rec["building_id"], []).append(rec)
    idx = {bid: i for i, bid in enumerate(b["building_id"])}
    pop_col = b["population"].astype(int).to_numpy().copy()
    cols = {c: b[c].to_numpy(dtype=object).copy() for c in
            ("pop_method", "listing_status", "estimate_method", "pop_estimate", "dwellings",
             "floors", "pop_guessed")}
    counted = 0
    for bid in sorted(by_b):
        recs = sorted(by_b[bid], key=lambda r: r["area_code"])
        i = idx[bid]
        est = int(base[bid])
        n_parts = {c: p for (bb, c), p in parts.items() if bb == bid}
        new_pop, any_count = float(est), False
        for rec in recs:
            people = _people_of(rec, pph)
            if people is None:
                continue
            any_count = True
            if bool(whole.get(bid, True)):
                new_pop = float(people)
                after_parts[(bid, rec["area_code"])] = float(people)
            else:
                new_pop += people - n_parts.get(rec["area_code"], 0.0)
                after_parts[(bid, rec["area_code"])] = float(people)
        cols["listing_status"][i] = "/".join(sorted({r["status"] for r in recs}))
        if bool(whole.get(bid, True)):
            rec = recs[0]
            if rec.get("dwellings") is not None:
                cols["dwellings"][i] = float(rec["dwellings"])
            if rec.get("floors") is not None:
                cols["floors"][i] = float(rec["floors"])
        if any_count:
            counted += 1
            cols["pop_estimate"][i] = float(est)
            cols["estimate_method"][i] = str(cols["pop_method"][i])
            cols["pop_method"][i] = "listing"
            cols["pop_guessed"][i] = False
            pop_col[i] = max(0, int(round(new_pop)))
    b["population"] = pop_col
    for c, v in cols.items():
        b[c] = v
    b["pop_estimate"] = pd.to_numeric(b["pop_estimate"], errors="coerce")
    b["dwellings"] = pd.to_numeric(b["dwellings"], errors="coerce")
    b["floors"] = pd.to_numeric(b["floors"], errors="coerce")
    b["pop_guessed"] = b["pop_guessed"].astype(bool)
    village_of = dict(zip(areas["area_code"], areas["village_code"]))
    new_rows = []
    for key, rec in winners.items():
        if key[0] != "n":
            continue
        people = _people_of(rec, pph) or 0
        bid = NEW_BUILDING_PREFIX + rec["record_id"][:11]
        pt = rec["_pt"]
        new_rows.append({
            "building_id": bid, "village_code": village_of[rec["area_code"]],
            "name": "摸底新增建筑", "address": "", "use": "摸底新增",
            "residential": rec["status"] not in ("非住宅", "拆除"),
            "floors": float(rec["floors"]) if rec.get("floors") is not None else np.nan,
            "height": np.nan,
            "dwellings": float(rec["dwellings"]) if rec.get("dwellings") is not None else np.nan,
            "population": int(people), "pop_method": "listing", "pop_guessed": False,
            "locked": False, "area_code": "", "source": str(rec["file"]),
            "pop_estimate": np.nan, "estimate_method": "new", "listing_status": rec["status"],
            "geometry": shapely.box(pt.x - 4, pt.y - 4, pt.x + 4, pt.y + 4)})
        after_parts[(bid, rec["area_code"])] = float(people)
    if new_rows:
        add = gpd.GeoDataFrame(new_rows, geometry="geometry", crs=b.crs)
        b = gpd.GeoDataFrame(pd.concat([b, add], ignore_index=True), geometry="geometry",
                             crs=buildings.crs)
    b = b.sort_values("building_id", kind="stable").reset_index(drop=True)
    return b, after_parts, counted, len(new_rows)


def _report(eff: pd.DataFrame, after_parts: dict, areas: gpd.GeoDataFrame,
            villages: pd.DataFrame, lo: int, hi: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    before = eff.groupby("area_code")["population"].sum()
    after = before.copy().astype(float)
    for (bid, code), p in after_parts.items():
        old = eff.loc[(eff["building_id"] == bid) & (eff["area_code"] == code), "population"]
        after[code] = after.get(code, 0.0) + p - float(old.sum())
    a = pd.DataFrame({"area_code": areas["area_code"].astype(str),
                      "village_code": areas["village_code"].astype(str)})
    a["before"] = [int(round(before.get(c, 0))) for c in a["area_code"]]
    a["after"] = [int(round(after.get(c, 0))) for c in a["area_code"]]
    inside = lambda p: lo <= p <= hi  # noqa: E731
    a["left_band"] = [inside(x) and not inside(y) for x, y in zip(a["before"], a["after"])]
    a = a.sort_values("area_code").reset_index(drop=True)
    v = a.groupby("village_code")[["before", "after"]].sum().reset_index()
    names = dict(zip(villages["village_code"], villages["name"]))
    v["name"] = [names.get(c, "") for c in v["village_code"]]
    return v, a


def _listing_frame(recs: list[dict], crs) -> gpd.GeoDataFrame:
    rows = []
    for r in recs:
        row = {k: r.get(k) for k in LISTING_COLUMNS}
        # what a resident's data could be typed into is masked (a phone number as 设备,
        # an ID number as 建筑ID); counts beyond what a building holds are not kept
        row["building_id"] = r.get("building_id") or ""
        if row["building_id"] and not r.get("_known"):
            row["building_id"] = _mask_ids(row["building_id"])
        row["note"] = mask_note(r.get("note"))
        for k in _COUNT_KEYS:
            v = _num(r.get(k)) if not isinstance(r.get(k), (str, bool)) else float("nan")
            row[k] = v if math.isnan(v) or v <= LIMITS[k] else float("nan")
        for k in ("status", "recorded_at", "area_code", "reason", "file"):
            row[k] = "" if r.get(k) is None else str(r.get(k))
            if k != "area_code" or not re.fullmatch(r"[0-9]{15}", row[k]):
                row[k] = _mask_ids(row[k])
        dev = str(r.get("device") or "")
        row["device"] = dev if _OUR_DEVICE.fullmatch(dev) else _mask_ids(dev)
        row["accepted"] = bool(r.get("accepted"))
        row["winner"] = bool(r.get("winner"))
        pt = r.get("_pt")
        row["geometry"] = pt if pt is not None and not pt.is_empty else None
        rows.append(row)
    if not rows:
        return gpd.GeoDataFrame({c: pd.Series(dtype=object) for c in LISTING_COLUMNS},
                                geometry=gpd.GeoSeries([], crs=crs), crs=crs)
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=crs).sort_values(
        ["area_code", "recorded_at", "record_id"]).reset_index(drop=True)


def _stored_records(path: Path) -> list[dict]:
    if LAYER_LISTING not in list_layers(path):
        return []
    old = read_layer(path, LAYER_LISTING).to_crs(4326)
    out = []
    for row, g in zip(old.drop(columns="geometry").to_dict("records"), old.geometry):
        rec = {k: row.get(k) for k in LISTING_COLUMNS}
        rec["building_id"] = rec["building_id"] or None
        for k in _COUNT_KEYS:
            v = _num(rec[k])
            rec[k] = None if math.isnan(v) else int(v)
        rec["note"] = rec["note"] or None
        rec["lon"], rec["lat"] = (g.x, g.y) if g is not None and not g.is_empty else (None, None)
        rec["_stored"] = True
        out.append(rec)
    return out


def _points(recs: list[dict], crs) -> None:
    """Each record's point in the project CRS (``_pt``; None without coordinates)."""
    pts = gpd.GeoSeries([shapely.Point(r["lon"], r["lat"]) if r["lon"] is not None else None
                         for r in recs], crs=4326).to_crs(crs)
    for r, p in zip(recs, pts):
        r["_pt"] = p


def import_listing(gpkg: str | os.PathLike, files: list[str | os.PathLike], *,
                   persons_per_household: float | None = None) -> ListingResult:
    """Import listing files (GeoJSON or filled XLSX templates) into the project.

    See the module docstring. Writes ``listing``, ``buildings`` and ``problems``
    in one atomic GeoPackage update, or nothing when every record was imported
    before. ``persons_per_household`` defaults to the import's setting (2.20).
    """
    from pucha.partition.check import effective_assignment

    path = Path(gpkg)
    if S.LAYER_AREAS not in list_layers(path):
        raise InputError(f"{path}: no areas; run `pucha partition` before importing 摸底 "
                         "listing files")
    from pucha.gis.settings import project_config

    meta = read_meta(path)
    config = project_config(path)  # the settings pucha import stored (defaults if none)
    pph = float(persons_per_household or config.population.persons_per_household)
    band = (meta.get("partition") or {}).get("settings", {}) if isinstance(
        meta.get("partition"), dict) else {}  # the band of the plan in force
    lo = int(band.get("min", config.partition.min))
    hi = int(band.get("max", config.partition.max))
    stored = _stored_records(path)
    known = {r["record_id"] for r in stored}
    result = ListingResult()
    fresh, rejected_schema = [], []
    for f in files:
        recs, bad = read_listing_file(f)
        for r in recs + bad:
            if r["record_id"] in known:
                result.known_records += 1
                continue
            known.add(r["record_id"])
            (fresh if "reason" not in r else rejected_schema).append(r)
    result.new_records = len(fresh) + len(rejected_schema)
    buildings = read_layer(path, S.LAYER_BUILDINGS)
    areas = read_layer(path, S.LAYER_AREAS)
    villages = read_layer(path, S.LAYER_VILLAGES)
    ba = pd.DataFrame(read_layer(path, S.LAYER_BUILDING_AREAS))
    eff = effective_assignment(buildings, ba)
    eff["population"] = pd.to_numeric(eff["population"], errors="coerce").fillna(0)
    known_bids = set(buildings["building_id"])
    for r in stored + fresh + rejected_schema:
        r["_known"] = r.get("building_id") in known_bids
    # new records are checked against the plan in force; stored ones keep their verdict
    _validate(fresh, buildings, eff, areas)
    for r in stored:
        r["accepted"] = str(r.get("accepted")).lower() in ("true", "1")
        r["reason"] = r.get("reason") or ""
    _points(stored + rejected_schema, areas.crs)
    for r in rejected_schema:
        r["accepted"] = False
    valid = [r for r in stored if r["accepted"]] + fresh
    kept_bad = [r for r in stored if not r["accepted"]]
    everything = valid + rejected_schema + kept_bad
    winners, conflicts = _winners(valid)
    win_ids = {r["record_id"] for r in winners.values()}
    for r in everything:
        r["winner"] = r["record_id"] in win_ids
    result.accepted = sum(bool(r["accepted"]) for r in everything)
    result.rejected = len(everything) - result.accepted
    result.conflicts = len(conflicts)
    result.new_rejected = len(rejected_schema) + sum(not r["accepted"] for r in fresh)
    nb, after_parts, result.buildings_counted, result.buildings_added = _apply(
        buildings, eff, winners, areas, pph)
    result.villages, result.areas = _report(eff, after_parts, areas, villages, lo, hi)
    changed = result.villages[result.villages["after"] != result.villages["before"]]
    result.changed_villages = sorted(changed["village_code"])
    probs = [_problem("error", "listing_rejected", [r["record_id"]] + (
        [_mask_ids(r["building_id"])] if r.get("building_id") else []),
        _mask_ids(f"{r['file']} #{r.get('index', '?')}: 设备 {r.get('device')}, 普查小区 "
                  f"{r.get('area_code')}: {r['reason']}")
        + "; correct the record on the phone (or in the XLSX) and import it again", r.get("_pt"))
        for r in everything if not r["accepted"]]
    result.problems = probs + conflicts
    if not fresh and not rejected_schema:
        logger.info("摸底 nothing new: every record was imported before")
        return result
    old_p = read_layer(path, S.LAYER_PROBLEMS) if S.LAYER_PROBLEMS in list_layers(path) else None
    new_p = gpd.GeoDataFrame(result.problems or None, columns=[*S.PROBLEM_COLUMNS, "geometry"],
                             geometry="geometry", crs=areas.crs)
    if old_p is not None:
        old_p = old_p[old_p["stage"].astype(str) != "listing"]
        new_p = gpd.GeoDataFrame(pd.concat([old_p.to_crs(areas.crs), new_p], ignore_index=True),
                                 geometry="geometry", crs=areas.crs)
    nb = nb[[c for c in nb.columns if c != "geometry"] + ["geometry"]]
    update_gpkg(path, {LAYER_LISTING: _listing_frame(everything, areas.crs),
                       S.LAYER_BUILDINGS: nb, S.LAYER_PROBLEMS: new_p},
                meta={"listing": {"files": sorted({Path(f).name for f in files}),
                                  "records": len(everything), "accepted": result.accepted,
                                  "persons_per_household": pph}})
    result.written = True
    logger.info("摸底 %d new records: %d accepted, %d rejected, %d conflicts; %d 居/村 changed",
                result.new_records, result.accepted, result.rejected, result.conflicts,
                len(result.changed_villages))
    return result


def mark_listing_changes(diff, gpkg: str | os.PathLike, *plans) -> int:
    """Add a ``reason`` column to a :class:`~pucha.partition.diff.PlanDiff`: "listing"
    for each changed area holding a building whose people came from the 摸底 listing
    (``pop_method == "listing"``, new buildings included) in ``gpkg``; on the buildings
    rows of those buildings "listing" replaces the reason "new data". ``plans``: the compared
    :class:`~pucha.partition.diff.Plan` objects (their assignments say which
    buildings each area holds). Returns the number of areas marked."""
    b = read_layer(gpkg, S.LAYER_BUILDINGS) if S.LAYER_BUILDINGS in list_layers(gpkg) else None
    listed: set[str] = set()
    if b is not None and "pop_method" in b.columns:
        listed = set(b.loc[b["pop_method"].astype(str) == "listing", "building_id"].astype(str))
    areas = diff.areas
    members: dict[str, set[str]] = {}
    for plan in plans:
        for c, g in plan.assignment.groupby("area_code"):
            members.setdefault(str(c), set()).update(g["building_id"].astype(str))
    moved = diff.buildings
    touched = set(moved.loc[moved["building_id"].astype(str).isin(listed),
                            ["old_area_code", "new_area_code"]].stack().astype(str))
    reasons = []
    for r in areas.itertuples():
        codes = {str(r.old_code), str(r.new_code)} - {""}
        hit = r.change != "unchanged" and (
            any(members.get(c, set()) & listed for c in codes) or bool(codes & touched))
        reasons.append("listing" if hit else "")
    diff.areas["reason"] = reasons
    # a listed building's "new data" is the listing; other reasons (hand move, re-solve) stay
    prev = (diff.buildings["reason"].astype(str) if "reason" in diff.buildings.columns
            else pd.Series("", index=diff.buildings.index))
    diff.buildings["reason"] = [
        "listing" if str(x) in listed and p in ("", "new data") else p
        for x, p in zip(diff.buildings["building_id"], prev)]
    return sum(x == "listing" for x in reasons)

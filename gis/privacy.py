"""Residents' personal data: dropped by column name AND masked by content at import.

Two lines of defence, both at the import boundary so nothing downstream (partition,
maps, registers, exports) ever sees a resident's data:

1. **Column names** (:func:`is_personal_column`): columns whose names say 姓名 / 户主 /
   身份证 / 电话 ..., their English names (owner, phone, id_card ...) or their pinyin
   abbreviations (xm, sfzh, lxdh, hzxm ...) are dropped with a warning naming them,
   unless listed in ``[privacy].keep_columns``. Mapping such a column to a model field
   (``fields = { name = "户主姓名" }``) does NOT bypass the check.
2. **Content** (:func:`mask_text`, :func:`scan_frame`): every kept text value (names,
   addresses, use, any mapped field) is scanned for 18-digit ID numbers (birth date and
   ISO 7064 checksum checked), 15-digit ID numbers (birth date checked), mobile and
   landline numbers, and 户主/姓名/联系人-style name fragments; each hit is replaced by
   ``*`` characters. The warning counts the hits per kind and names the features, never
   the values.

Public, stable API (also used by the map listing notes): :func:`mask_text`,
:func:`scan_frame`, :func:`is_personal_column`, :func:`drop_personal_columns`.

>>> mask_text("城中路1号 户主张三 电话13812345678")
('城中路1号 户主** 电话***********', ['name', 'phone'])
>>> mask_text("庆华1号楼")
('庆华1号楼', [])
"""

from __future__ import annotations

import datetime as _dt
import logging
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import pandas as pd

from pucha.gis.fields import normalise_name

__all__ = ["PERSONAL_ZH", "PERSONAL_EN", "PERSONAL_PINYIN", "KINDS", "is_personal_column",
           "drop_personal_columns", "mask_text", "scan_frame", "PrivacyFindings",
           "id_checksum_ok"]

log = logging.getLogger(__name__)

PERSONAL_ZH = ("姓名", "户主", "联系人", "身份证", "证件号", "证件号码", "电话", "手机",
               "联系方式", "居民姓名", "住户姓名", "业主", "房东", "负责人", "租户", "承租人",
               "户籍人", "公民身份号码", "手机号", "座机")
PERSONAL_EN = ("owner", "resident", "residents", "phone", "tel", "telephone", "mobile",
               "cellphone", "idcard", "id_card", "idno", "id_no", "id_number", "passport",
               "person", "surname", "firstname", "first_name", "lastname", "last_name",
               "fullname", "full_name", "householder", "contact", "landlord", "tenant",
               "email")
#: pinyin (initials) column names of Chinese registers: 姓名 xm, 身份证号 sfzh, 联系电话
#: lxdh, 户主姓名 hzxm ...
PERSONAL_PINYIN = ("xm", "xingming", "sfz", "sfzh", "sfzhm", "shenfenzheng", "zjh", "zjhm",
                   "lxdh", "dh", "dianhua", "sj", "sjh", "sjhm", "shouji", "hz", "huzhu",
                   "hzxm", "yzxm", "fzxm", "lxr", "lxrxm", "lianxiren", "lxfs", "gmsfhm",
                   "czrxm", "zhxm")
_TOKEN = re.compile(r"[a-z]+")

#: the kinds of personal data :func:`mask_text` finds, as shown in warnings
KINDS = {"id_number": "身份证号 ID number", "phone": "电话 phone number",
         "name": "户主/姓名/联系人 name"}


def is_personal_column(name: str) -> bool:
    """True when a column name looks like personal data (Chinese, English or pinyin).

    >>> [is_personal_column(c) for c in ("户主姓名", "sfzh", "LXDH", "建筑名称", "height")]
    [True, True, True, False, False]
    """
    n = normalise_name(name)
    if any(p in n for p in PERSONAL_ZH):
        return True
    compact = re.sub(r"[^a-z0-9_]", "_", n)
    if any(p in compact.split("__") or compact == p for p in PERSONAL_EN if "_" in p):
        return True
    if any(compact.replace("_", "").startswith(p.replace("_", "")) and "_" in p
           for p in PERSONAL_EN):
        return True
    tokens = set(_TOKEN.findall(n))
    if tokens & set(PERSONAL_PINYIN):
        return True
    return bool(tokens & {p for p in PERSONAL_EN if "_" not in p})


def drop_personal_columns(frame: pd.DataFrame, *, keep: Iterable[str] = (),
                          protected: Iterable[str] = (), where: str = ""
                          ) -> tuple[pd.DataFrame, list[str]]:
    """Drop personal-data columns; return the frame and the dropped column names.

    ``keep`` (``[privacy].keep_columns``) is never dropped. ``protected`` columns
    (mapped to model fields) are kept only when their names do not look personal:
    mapping ``name = "户主姓名"`` does not keep the householders' names.
    """
    keep_set = {normalise_name(k) for k in keep}
    del protected   # mapped columns get no pass (issue 15): only keep_columns does
    drop = [c for c in frame.columns if c != "geometry" and is_personal_column(str(c))
            and normalise_name(c) not in keep_set]
    if drop:
        log.warning("%s: 删除个人信息列 dropped personal-data column(s) %s (list them in "
                    "[privacy].keep_columns to keep them)", where or "input",
                    ", ".join(map(str, drop)))
    return frame.drop(columns=drop), [str(c) for c in drop]


# --------------------------------------------------------------------------- content
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
#: 省级 codes of 公民身份号码 (GB 11643): 11-15, 21-23, 31-37, 41-46, 50-54, 61-65, 71, 81-83
_PROVINCES = frozenset(
    [*range(11, 16), *range(21, 24), *range(31, 38), *range(41, 47), *range(50, 55),
     *range(61, 66), 71, 81, 82, 83])
_ID18 = re.compile(r"(?<![0-9A-Za-z])(\d{17}[\dXx])(?![0-9A-Za-z])")
_ID15 = re.compile(r"(?<![0-9A-Za-z])(\d{15})(?![0-9A-Za-z])")
_SEP = r"[\s\-－—.·]?"
_MOBILE = re.compile(r"(?<![0-9])(?:(?:\+|00)?86" + _SEP + r")?1[3-9]\d" + _SEP + r"\d{4}"
                     + _SEP + r"\d{4}(?![0-9])")
_LANDLINE = re.compile(
    r"(?<![0-9])(?:(?:\+|00)?86" + _SEP + r")?(?:\(0\d{2,3}\)|（0\d{2,3}）|0\d{2,3})"
    r"[\s\-－—]?\d{7,8}(?:[\-－转]\d{1,5})?(?![0-9])")
#: a 7-8 digit local number only when a phone word says so (电话 59731234)
_LOCAL = re.compile(r"((?:电话|手机|座机|联系方式|tel|phone)\s*[:：]?\s*(?:号码)?\s*[:：]?\s*)"
                    r"(\d[\d\s\-]{5,10}\d)(?![0-9])", re.IGNORECASE)
_NAME_WORDS = ("户主", "姓名", "联系人", "业主", "房东", "房主", "住户", "租户", "承租人",
               "负责人", "户籍人", "居民", "屋主")
_NAME = re.compile(r"(" + "|".join(_NAME_WORDS) + r")(\s*(?:姓名|名字)?\s*[:：为是]?\s*)"
                   r"([\u4e00-\u9fff·]{2,3}|[A-Za-z][A-Za-z .'-]{1,30}[A-Za-z])")
#: words after a name keyword that are no name (户主信息, 居民楼, 住户数 ...)
_NOT_NAMES = ("信息", "楼", "区", "户数", "数", "人数", "电话", "手机", "身份", "证", "委员",
              "委会", "小区", "点", "住宅", "活动", "服务", "中心", "大会", "代表", "自治",
              "单位", "公司", "委托", "姓名", "名字", "联系")


#: a word of 2-4 Chinese characters standing on its own (a name beside a number)
_ALONE = re.compile(r"(?<![\u4e00-\u9fff*])([\u4e00-\u9fff·]{2,4})(?![\u4e00-\u9fff])")
#: endings of place words that are not names
_PLACE_ENDINGS = ("路", "街", "道", "号", "楼", "栋", "幢", "座", "室", "单元", "村", "区", "社区",
                  "委会", "小区", "弄", "巷", "里", "苑", "园", "厦", "城", "寓", "院", "组", "队",
                  "门", "层", "镇", "乡", "县", "市", "省", "桥", "站", "场", "馆", "店", "厂", "司",
                  "所", "局", "中心", "大楼", "花园", "新村", "公寓", "住宅", "宅", "浜", "塘",
                  "湾", "埭", "泾", "港", "庄", "坊", "铺", "寨", "墩", "头", "口", "河", "湖",
                  "山", "岭", "沟", "堂", "阁", "亭", "宫", "寺", "庙", "证", "部", "处", "科",
                  "房", "屋", "舍", "库", "棚")


def id_checksum_ok(s: str) -> bool:
    """The ISO 7064 MOD 11-2 check character of an 18-character 公民身份号码.

    >>> id_checksum_ok("11010519491231002X"), id_checksum_ok("110105194912310021")
    (True, False)
    """
    if len(s) != 18 or not s[:17].isdigit():
        return False
    total = sum(int(c) * w for c, w in zip(s[:17], _ID_WEIGHTS))
    return _ID_CHECK[total % 11] == s[17].upper()


def _date_ok(y: int, m: int, d: int) -> bool:
    try:
        _dt.date(y, m, d)
    except ValueError:
        return False
    return 1890 <= y <= 2100


def _is_id18(s: str) -> bool:
    if int(s[:2]) not in _PROVINCES:
        return False
    return id_checksum_ok(s) or _date_ok(int(s[6:10]), int(s[10:12]), int(s[12:14]))


def _is_id15(s: str) -> bool:
    return int(s[:2]) in _PROVINCES and _date_ok(1900 + int(s[6:8]), int(s[8:10]),
                                                 int(s[10:12]))


def _stars(m: re.Match, group: int = 0) -> str:
    return "*" * len(m.group(group))


def mask_text(text: str) -> tuple[str, list[str]]:
    """``text`` with residents' personal data replaced by ``*``, and the kinds found.

    Kinds (sorted, each once): ``id_number`` (18-digit 公民身份号码 with a valid birth
    date or check character, 15-digit ones with a valid birth date), ``phone`` (mobile
    1[3-9]x xxxx xxxx, landline 0xx-xxxxxxxx / (0xx)xxxxxxxx, 7-8 digit numbers after
    电话/手机/tel), ``name`` (the 2-3 characters after 户主/姓名/联系人/业主/房东 ...).
    In a value that holds an ID or phone number, a word of 2-4 Chinese characters
    standing on its own is a name too (it needs no keyword beside the number), unless it
    ends like a place (路, 号, 楼, 村, 宅, 居委会 ...). Non-text values are returned
    unchanged with no kinds.

    >>> mask_text("身份证310118199001011234，联系人：李四 (021)59731234")[1]
    ['id_number', 'name', 'phone']
    >>> mask_text("张三 310118199001011234 城中路1号")[0]
    '** ****************** 城中路1号'
    >>> mask_text("张三 310118199001011234")
    ('** ******************', ['id_number', 'name'])
    >>> mask_text("户主：李四")
    ('户主：**', ['name'])
    """
    if not isinstance(text, str) or not text:
        return text, []
    kinds: set[str] = set()
    out = text

    def id18(m: re.Match) -> str:
        if _is_id18(m.group(1)):
            kinds.add("id_number")
            return _stars(m)
        return m.group(0)

    def id15(m: re.Match) -> str:
        if _is_id15(m.group(1)):
            kinds.add("id_number")
            return _stars(m)
        return m.group(0)

    if any(ch.isdigit() for ch in out):
        out = _ID18.sub(id18, out)
        out = _ID15.sub(id15, out)

        def phone(m: re.Match) -> str:
            kinds.add("phone")
            return _stars(m)

        out = _MOBILE.sub(phone, out)
        out = _LANDLINE.sub(phone, out)

        def local(m: re.Match) -> str:
            kinds.add("phone")
            return m.group(1) + "*" * len(m.group(2))

        out = _LOCAL.sub(local, out)

    def name(m: re.Match) -> str:
        who = m.group(3)
        if any(who.startswith(w) for w in _NOT_NAMES):
            return m.group(0)
        kinds.add("name")
        return m.group(1) + m.group(2) + "*" * len(who)

    if any(w in out for w in _NAME_WORDS):
        out = _NAME.sub(name, out)
    if kinds & {"id_number", "phone"}:
        # a value that holds an ID or phone number is about a person: a name standing
        # beside the number needs no keyword ("张三 3101...1234"); a place name stays
        def alone(m: re.Match) -> str:
            word = m.group(1)
            if (word.endswith(_PLACE_ENDINGS) or word in _NAME_WORDS
                    or any(word.startswith(w) for w in _NOT_NAMES)):
                return word
            kinds.add("name")
            return "*" * len(word)

        out = _ALONE.sub(alone, out)
    return out, sorted(kinds)


@dataclass
class PrivacyFindings:
    """What :func:`scan_frame` masked: counts per kind and column, feature ids per kind."""

    counts: dict[str, int] = field(default_factory=dict)
    columns: dict[str, int] = field(default_factory=dict)
    ids: dict[str, list[str]] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.counts)

    def summary(self) -> str:
        """Counts and feature ids, never the values."""
        parts = [f"{n} {KINDS.get(k, k)}" for k, n in sorted(self.counts.items())]
        cols = ", ".join(f"{c} ({n})" for c, n in sorted(self.columns.items()))
        allids = sorted({i for v in self.ids.values() for i in v})
        shown = ", ".join(allids[:20]) + (" ..." if len(allids) > 20 else "")
        return f"{'; '.join(parts)} in column(s) {cols}; features {shown}"


def _is_text(v: object) -> bool:
    return isinstance(v, str) and bool(v)


def scan_frame(frame: pd.DataFrame, *, columns: Sequence[str] | None = None,
               id_column: str | None = None) -> tuple[pd.DataFrame, PrivacyFindings]:
    """Mask personal data in every text cell of ``frame`` (or of ``columns``).

    Returns a copy with masked values and the :class:`PrivacyFindings` (counts per kind,
    per column, and the ids from ``id_column``, or the row positions, of the features
    with a hit). Non-text cells and the geometry are left alone.
    """
    out = frame.copy()
    found = PrivacyFindings()
    cols = [c for c in (columns if columns is not None else frame.columns)
            if c in frame.columns and c != "geometry" and c != id_column]
    ids = (frame[id_column].astype(str).tolist() if id_column and id_column in frame.columns
           else [str(i + 1) for i in range(len(frame))])
    for c in cols:
        s = frame[c]
        if not (s.dtype == object or pd.api.types.is_string_dtype(s)):
            continue
        values = s.tolist()
        changed = False
        new = list(values)
        for i, v in enumerate(values):
            if not _is_text(v) or (isinstance(v, float) and math.isnan(v)):
                continue
            masked, kinds = mask_text(v)
            if not kinds:
                continue
            new[i] = masked
            changed = True
            found.columns[str(c)] = found.columns.get(str(c), 0) + 1
            for k in kinds:
                found.counts[k] = found.counts.get(k, 0) + 1
                found.ids.setdefault(k, []).append(ids[i])
        if changed:
            out[c] = pd.Series(new, index=frame.index, dtype=object)
    for k in found.ids:
        found.ids[k] = sorted(set(found.ids[k]))
    return out, found

"""Drop personal-data columns (names of persons, ID numbers, phone numbers) at import.

A building's ``name`` (建筑名称) is not personal; only the column mapped to the
building-name field is kept under that meaning. Columns whose names look personal are
dropped with a logged warning naming them, unless listed in ``[privacy].keep_columns``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

import pandas as pd

from pucha.gis.fields import normalise_name

__all__ = ["PERSONAL_ZH", "PERSONAL_EN", "is_personal_column", "drop_personal_columns"]

log = logging.getLogger(__name__)

PERSONAL_ZH = ("姓名", "户主", "联系人", "身份证", "证件号", "证件号码", "电话", "手机",
               "联系方式", "居民姓名", "住户姓名", "业主", "房东", "负责人")
PERSONAL_EN = ("owner", "resident", "residents", "phone", "tel", "telephone", "mobile",
               "cellphone", "idcard", "id_card", "idno", "id_no", "id_number", "passport",
               "person", "surname", "firstname", "first_name", "lastname", "last_name",
               "fullname", "full_name", "householder", "contact", "landlord", "tenant",
               "email")
_TOKEN = re.compile(r"[a-z]+")


def is_personal_column(name: str) -> bool:
    """True when a column name looks like personal data (Chinese or English)."""
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
    return bool(tokens & {p for p in PERSONAL_EN if "_" not in p})


def drop_personal_columns(frame: pd.DataFrame, *, keep: Iterable[str] = (),
                          protected: Iterable[str] = (), where: str = ""
                          ) -> tuple[pd.DataFrame, list[str]]:
    """Drop personal-data columns; return the frame and the dropped column names.

    ``keep`` (``[privacy].keep_columns``) and ``protected`` (columns mapped to model
    fields, such as the building-name column) are never dropped.
    """
    keep_set = {normalise_name(k) for k in keep} | {normalise_name(p) for p in protected}
    drop = [c for c in frame.columns if c != "geometry" and is_personal_column(str(c))
            and normalise_name(c) not in keep_set]
    if drop:
        log.warning("%s: 删除个人信息列 dropped personal-data column(s) %s (list them in "
                    "[privacy].keep_columns to keep them)", where or "input",
                    ", ".join(map(str, drop)))
    return frame.drop(columns=drop), [str(c) for c in drop]

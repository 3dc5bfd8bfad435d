"""File names and titles for the map pack, safe whatever the data says.

Every file name that carries data (居/村 names, codes) goes through
:func:`safe_name`, and every path through :func:`inside`, so a 居/村 called
``../x`` or ``a/b`` or one with a newline can never write outside the pack
folder.

Layout of a pack (``OUT`` = the folder given to ``pucha maps -o``)::

    OUT/index.html                          township index (search, links)
    OUT/登记表/<township>_普查小区登记表.csv|.xlsx
    OUT/<村code>_<村name>/总图.html          overview of one 居/村
    OUT/<村code>_<村name>/<村code>_<name>_图册.pdf   atlas: overview + every area
    OUT/<村code>_<村name>/<area_code>.html|.pdf
    OUT/<村code>_<村name>/<村code>_<name>_登记表.csv|.xlsx

>>> safe_name("../东风/居委会\\n第二")
'东风_居委会_第二'
>>> safe_name("")
'x'
>>> safe_name("CON")
'_CON'
"""

from __future__ import annotations

import math
import re
import unicodedata
from pathlib import Path

from pucha.errors import PuchaError

__all__ = ["safe_name", "inside", "area_title", "area_seq_text", "PackLayout"]

_RESERVED = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)),
             *(f"LPT{i}" for i in range(1, 10))}
_BAD = re.compile(r"[^\w\u3400-\u9fff\uf900-\ufaff()（）·-]+", re.UNICODE)


def safe_name(text: object, *, max_len: int = 40) -> str:
    """A file-name component from data text: letters, digits, CJK, ``-_()·``.

    Path separators, dots, control characters, spaces and anything else become
    ``_``; runs collapse; leading/trailing ``_.-`` are stripped; the result is
    cut to ``max_len`` characters; empty input gives ``"x"``.
    """
    s = unicodedata.normalize("NFKC", str(text or ""))
    s = _BAD.sub("_", s)
    s = re.sub(r"_+", "_", s).strip("_.-")
    s = s[:max_len].strip("_.-")
    if s.split(".")[0].upper() in _RESERVED:  # Windows device names
        s = "_" + s
    return s or "x"


def inside(root: Path, path: Path) -> Path:
    """``path`` if it lies inside ``root``; raise PuchaError otherwise."""
    r = Path(root).resolve()
    p = Path(path).resolve()
    if p != r and r not in p.parents:
        raise PuchaError(f"refusing to write {p}: outside the output folder {r}")
    return path


def area_seq_text(area_code: str, seq: object = None) -> str:
    """``"第NNN普查小区"`` from the seq (or the code's last 3 digits)."""
    try:
        n = int(seq)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        n = None
    if n is None:
        tail = str(area_code)[-3:]
        return f"第{tail}普查小区"
    return f"第{n:03d}普查小区"


def area_title(village_name: str, area_code: str, seq: object = None) -> str:
    """``"XX居委会 第NNN普查小区"``."""
    return f"{village_name} {area_seq_text(area_code, seq)}".strip()


class PackLayout:
    """Where each file of a pack goes (all under ``root``)."""

    def __init__(self, root: Path, township_name: str = "") -> None:
        self.root = Path(root)
        self.township = safe_name(township_name or "township")

    def village_dir(self, village_code: str, village_name: str) -> Path:
        return inside(self.root, self.root / f"{safe_name(village_code, max_len=20)}_"
                      f"{safe_name(village_name)}")

    def area_file(self, village_dir: Path, area_code: str, ext: str) -> Path:
        return inside(self.root, village_dir / f"{safe_name(area_code, max_len=20)}.{ext}")

    def overview_html(self, village_dir: Path) -> Path:
        return inside(self.root, village_dir / "总图.html")

    def atlas_pdf(self, village_dir: Path, village_code: str, village_name: str) -> Path:
        return inside(self.root, village_dir / f"{safe_name(village_code, max_len=20)}_"
                      f"{safe_name(village_name)}_图册.pdf")

    def village_register(self, village_dir: Path, village_code: str, village_name: str,
                         ext: str) -> Path:
        return inside(self.root, village_dir / f"{safe_name(village_code, max_len=20)}_"
                      f"{safe_name(village_name)}_登记表.{ext}")

    def township_register(self, ext: str) -> Path:
        return inside(self.root, self.root / "登记表" / f"{self.township}_普查小区登记表.{ext}")

    def index(self) -> Path:
        return self.root / "index.html"

    def rel(self, path: Path) -> str:
        """``path`` relative to the root, with forward slashes (for links)."""
        return Path(path).relative_to(self.root).as_posix()


def fmt_number(v: object, unit: str = "", *, missing: str = "—") -> str:
    """A count or measure as the maps, sheets and registers print it: whole numbers
    without a decimal point, others to one decimal, ``missing`` when unknown.

    >>> fmt_number(12.0), fmt_number(3.25, " m"), fmt_number(float("nan")), fmt_number(None)
    ('12', '3.2 m', '—', '—')
    """
    value = number_value(v)
    if value is None:
        return missing
    return (str(value) if isinstance(value, int) else f"{value:.1f}") + unit


def number_value(v: object) -> int | float | None:
    """The number of ``v`` for a spreadsheet cell: an int when whole, else rounded to one
    decimal; None when unknown (empty, NaN, not a number).

    >>> number_value("7"), number_value(2.54), number_value("")
    (7, 2.5, None)
    """
    try:
        f = float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    if math.isnan(f):
        return None
    return int(f) if f.is_integer() else round(f, 1)

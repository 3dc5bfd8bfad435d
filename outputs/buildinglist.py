"""The building list (建筑清单) of an area's printed sheet: a table at 8 pt.

Columns: 编号 (walking-order number), 名称/地址 (the building's name or address;
a building with neither is described by its use and the nearest named road, e.g.
"住宅，近四川中路"), 层数, 住房单元, 人数, 楼层范围 (the floors/units of a cut
building that belong to this area), and the source id in a small last column
(来源编号, 6 pt) so a clerk can still find the record. A list too long for the
sheet's panel is printed in full on a continuation page (``续页``).

Layout is in millimetres on an axes whose limits are its box in mm (see
:func:`draw_table`).
"""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pandas as pd

from pucha.outputs.naming import fmt_number

__all__ = ["LIST_COLUMNS", "FONT_PT", "building_label", "list_rows", "row_height_mm",
           "draw_table", "rows_fitting"]

FONT_PT = 8.0
ID_PT = 6.0
PT_MM = 25.4 / 72
#: (header, width in mm at 8 pt; None = takes the rest)
LIST_COLUMNS = (("编号", 8.0), ("名称/地址", None), ("层数", 8.5), ("住房单元", 12.5),
                ("人数", 9.5), ("楼层范围", 14.0), ("来源编号", 15.0))
NEAR_ROAD_M = 80.0


def _s(v: object) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    return " ".join(str(v).split())


def _fmt(v: object) -> str:
    return fmt_number(v)


def building_label(name: str, address: str, use: str = "", road: str = "") -> str:
    """What the list calls a building: its name, else its address, else its use and the
    nearest named road.

    >>> building_label("", "东方路1号")
    '东方路1号'
    >>> building_label("", "", "住宅", "四川中路")
    '住宅，近四川中路'
    >>> building_label("", "", "", "")
    '无名建筑'
    """
    name, address = _s(name), _s(address)
    if name and address and address not in name:
        return f"{name}（{address}）"
    if name or address:
        return name or address
    use = _s(use) or "无名建筑"
    return f"{use}，近{road}" if road else use


def _nearest_road_names(b: gpd.GeoDataFrame, roads: gpd.GeoDataFrame | None) -> list[str]:
    if roads is None or len(roads) == 0 or len(b) == 0 or "name" not in roads.columns:
        return [""] * len(b)
    named = roads[roads["name"].fillna("").astype(str).str.strip() != ""]
    if len(named) == 0:
        return [""] * len(b)
    pts = b.geometry.representative_point()
    idx_b, idx_r = named.sindex.nearest(pts.values, max_distance=NEAR_ROAD_M,
                                        return_all=False)
    out = [""] * len(b)
    names = named["name"].astype(str).to_numpy()
    for i, j in zip(idx_b, idx_r):
        out[int(i)] = names[int(j)]
    return out


def list_rows(b: gpd.GeoDataFrame, roads: gpd.GeoDataFrame | None = None) -> list[tuple]:
    """One tuple per building (in number order) with the cells of :data:`LIST_COLUMNS`."""
    if len(b) == 0:
        return []
    b = b.sort_values("number")
    near = _nearest_road_names(b, roads)
    rows = []
    for r, road in zip(b.itertuples(), near):
        label = building_label(getattr(r, "name", ""), getattr(r, "address", ""),
                               getattr(r, "use", ""), road)
        part = _s(getattr(r, "part_label", "")) if bool(getattr(r, "cut", False)) else ""
        rows.append((str(int(r.number)), label, _fmt(getattr(r, "floors", np.nan)),
                     _fmt(getattr(r, "dwellings", np.nan)), _fmt(getattr(r, "population", 0)),
                     part or "全部", _s(r.building_id)))
    return rows


def row_height_mm(fs: float = FONT_PT) -> float:
    return fs * PT_MM * 1.42


def rows_fitting(height_mm: float, fs: float = FONT_PT) -> int:
    """Rows (below the header) a table of ``height_mm`` holds."""
    return max(0, int((height_mm - row_height_mm(fs) * 1.25) / row_height_mm(fs)))


def _clip(text: str, width_mm: float, fs: float) -> str:
    """``text`` cut (with …) to what fits ``width_mm`` at ``fs`` pt (CJK = 1 em,
    Latin/digits = 0.55 em)."""
    em = fs * PT_MM
    used, out = 0.0, ""
    for ch in text:
        w = em * (0.55 if ord(ch) < 0x2E80 else 1.0)
        if used + w > width_mm - 0.8:
            return out[:-1] + "…" if out else "…"
        out += ch
        used += w
    return out


def draw_table(ax, rows: list[tuple], x: float, y_top: float, width: float, *,
               fs: float = FONT_PT, texts: list[str] | None = None) -> float:
    """Draw a header and ``rows`` on ``ax`` (limits in mm, y up) from ``(x, y_top)``.

    Returns the y (mm) below the last row. Every cell is clipped to its column;
    ``texts`` collects the strings drawn (for the font check).
    """
    fixed = sum(w for _, w in LIST_COLUMNS if w)
    widths = [w if w else max(20.0, width - fixed) for _, w in LIST_COLUMNS]
    lh = row_height_mm(fs)
    y = y_top - lh
    xs = np.concatenate([[x], x + np.cumsum(widths)])
    if texts is not None:
        texts.extend(h for h, _ in LIST_COLUMNS)
    for (head, _), cx in zip(LIST_COLUMNS, xs[:-1]):
        ax.text(cx + 0.5, y + 0.25 * lh, head, fontsize=fs, va="baseline", ha="left",
                color="#000", fontweight="normal")
    y -= 0.25 * lh
    ax.plot([x, x + sum(widths)], [y, y], color="black", linewidth=0.6)
    for row in rows:
        y -= lh
        for k, (cell, cx, w) in enumerate(zip(row, xs[:-1], widths)):
            size = ID_PT if k == len(LIST_COLUMNS) - 1 else fs
            t = _clip(str(cell), w, size)
            if texts is not None:
                texts.append(t)
            ax.text(cx + 0.5, y + 0.3 * lh, t, fontsize=size, va="baseline", ha="left",
                    color="#555" if size == ID_PT else "#000")
        ax.plot([x, x + sum(widths)], [y, y], color="#bbb", linewidth=0.25)
    return y


def frame(rows: list[tuple]) -> pd.DataFrame:
    """The rows as a DataFrame (for tests and the register)."""
    return pd.DataFrame(rows, columns=[h for h, _ in LIST_COLUMNS])

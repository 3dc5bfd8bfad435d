"""Label placement on printed maps: no two labels overlap, every label inside the frame.

Every text drawn on a map axes is a label: building numbers, 起点, neighbour
codes, road/river/town names, the north arrow's letters and the scale bar's. After
the map is drawn, :func:`declutter` measures each one with the renderer
(:func:`label_extent`: the text's window extent, or its box/circle patch when it
has one) and places them greedily in priority order:

1. fixed labels (north arrow, scale bar: ``fixed=True``) stay where they are;
2. building numbers (``must=True``) try their anchor, then ever farther positions
   in 8 directions; a number moved off its building gets a thin leader line;
3. the rest (neighbour codes, names) try their anchor and a few nearby positions,
   and are left out when none is free (a road name is not worth hiding a number).

A position is free when the label's box, grown by a small gap, lies inside the
axes frame and overlaps no label placed before it. Placement is deterministic
(priority, then drawing order).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from matplotlib.lines import Line2D
from matplotlib.text import Text
from matplotlib.transforms import Bbox

__all__ = ["label_extent", "mark", "declutter", "DeclutterStats", "overlaps", "outside",
           "renderer_for"]

#: priorities (lower = placed first)
FIXED, NUMBER, START, NEIGHBOUR, NAME = 0, 1, 2, 3, 4


def mark(t: Text, *, priority: int = NAME, must: bool = False, fixed: bool = False) -> Text:
    """Tag a text for :func:`declutter` (untagged texts are names: low priority)."""
    t._pucha_label = (FIXED if fixed else priority, must, fixed)  # type: ignore[attr-defined]
    return t


def renderer_for(fig):
    """An Agg renderer for ``fig`` (text extents as drawn)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = fig.canvas if isinstance(fig.canvas, FigureCanvasAgg) else FigureCanvasAgg(fig)
    return canvas.get_renderer()


def label_extent(t: Text, renderer) -> Bbox:
    """The label's box in display units: its bbox patch (halo, circle) when it has one,
    else the text's window extent."""
    patch = t.get_bbox_patch()
    if patch is not None:
        t.update_bbox_position_size(renderer)
        return patch.get_window_extent(renderer)
    return t.get_window_extent(renderer)


def _boxes(ax, renderer) -> list[tuple[Text, Bbox]]:
    return [(t, label_extent(t, renderer)) for t in ax.texts
            if t.get_visible() and t.get_text().strip()]


def overlaps(ax, renderer, *, tol: float = 0.5) -> list[tuple[str, str]]:
    """Pairs of visible labels on ``ax`` whose boxes overlap by more than ``tol`` px."""
    boxes = _boxes(ax, renderer)
    out = []
    arr = np.array([[b.x0, b.y0, b.x1, b.y1] for _, b in boxes]) if boxes else np.empty((0, 4))
    for i in range(len(boxes)):
        ix = np.minimum(arr[i, 2], arr[i + 1:, 2]) - np.maximum(arr[i, 0], arr[i + 1:, 0])
        iy = np.minimum(arr[i, 3], arr[i + 1:, 3]) - np.maximum(arr[i, 1], arr[i + 1:, 1])
        for j in np.flatnonzero((ix > tol) & (iy > tol)):
            out.append((boxes[i][0].get_text(), boxes[i + 1 + j][0].get_text()))
    return out


def outside(ax, renderer, *, tol: float = 0.5) -> list[str]:
    """Visible labels of ``ax`` that reach outside its frame by more than ``tol`` px."""
    frame = ax.get_window_extent(renderer)
    return [t.get_text() for t, b in _boxes(ax, renderer)
            if b.x0 < frame.x0 - tol or b.y0 < frame.y0 - tol or b.x1 > frame.x1 + tol
            or b.y1 > frame.y1 + tol]


@dataclass
class DeclutterStats:
    placed: int = 0
    moved: int = 0
    dropped: int = 0
    dropped_numbers: int = 0


def _free(box: np.ndarray, placed: list[np.ndarray], frame: np.ndarray) -> bool:
    if box[0] < frame[0] or box[1] < frame[1] or box[2] > frame[2] or box[3] > frame[3]:
        return False
    if not placed:
        return True
    p = np.asarray(placed)
    hit = (p[:, 0] < box[2]) & (p[:, 2] > box[0]) & (p[:, 1] < box[3]) & (p[:, 3] > box[1])
    return not bool(hit.any())


_DIRS = [(0, 1), (1, 0), (0, -1), (-1, 0), (1, 1), (1, -1), (-1, -1), (-1, 1)]


def declutter(ax, *, renderer=None, gap_px: float = 1.0,
              leader_colour: str = "#555555") -> DeclutterStats:
    """Move or hide the texts of ``ax`` so none overlaps another or leaves the frame."""
    renderer = renderer or renderer_for(ax.figure)
    frame_bb = ax.get_window_extent(renderer)
    frame = np.array([frame_bb.x0 + 0.5, frame_bb.y0 + 0.5, frame_bb.x1 - 0.5,
                      frame_bb.y1 - 0.5])
    items = []
    for k, t in enumerate(ax.texts):
        if not t.get_visible() or not t.get_text().strip():
            continue
        prio, must, fixed = getattr(t, "_pucha_label", (NAME, False, False))
        items.append((prio, k, t, must, fixed))
    items.sort(key=lambda r: (r[0], r[1]))
    placed: list[np.ndarray] = []
    for t in ax.texts:  # arrows of annotations (the north arrow) are obstacles too
        arrow = getattr(t, "arrow_patch", None)
        if arrow is not None and t.get_visible():
            ab = arrow.get_window_extent(renderer)
            placed.append(np.array([ab.x0, ab.y0, ab.x1, ab.y1]))
    stats = DeclutterStats()
    to_data = ax.transData.inverted()
    for prio, _, t, must, fixed in items:
        bb = label_extent(t, renderer)
        box = np.array([bb.x0 - gap_px, bb.y0 - gap_px, bb.x1 + gap_px, bb.y1 + gap_px])
        if fixed:
            placed.append(box)
            stats.placed += 1
            continue
        w, h = box[2] - box[0], box[3] - box[1]
        step = max(h, 4.0)
        rings = (0.0, 0.6, 1.2, 2.0, 3.0, 4.5, 6.5) if must else (0.0, 0.5, 1.0)
        found = None
        for r in rings:
            for dx, dy in (_DIRS if r else [(0, 0)]):
                norm = (dx * dx + dy * dy) ** 0.5 or 1.0
                off = np.array([dx * r * max(step, w * 0.6) / norm, dy * r * step / norm])
                cand = box + np.array([off[0], off[1], off[0], off[1]])
                if _free(cand, placed, frame):
                    found = off
                    break
            if found is not None:
                break
        if found is None:
            t.set_visible(False)
            stats.dropped += 1
            stats.dropped_numbers += int(must)
            continue
        placed.append(box + np.array([found[0], found[1], found[0], found[1]]))
        stats.placed += 1
        if found[0] or found[1]:
            stats.moved += 1
            x0, y0 = t.get_position()
            disp = ax.transData.transform((x0, y0))
            nx, ny = to_data.transform(disp + found)
            t.set_position((nx, ny))
            if must:
                ax.add_line(Line2D([x0, nx], [y0, ny], color=leader_colour, linewidth=0.4,
                                   zorder=max(t.get_zorder() - 1, 0)))
    return stats

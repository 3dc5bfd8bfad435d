"""Paper labels: none overlaps another, none leaves the map frame, on the demo pack.

Every text on every map axes of every area sheet and 居/村 overview page of the demo
(real import + partition) is measured with the renderer's window extents
(:func:`pucha.outputs.labels.label_extent`: the text, or its halo/circle box):
overlapping pairs and labels reaching outside the frame must both be 0. The
fast test covers the largest 居/村; the slow one all 189 areas and 10 overviews.
"""

from __future__ import annotations

import pytest

from fixture_demo import demo_dir
from pucha.outputs.labels import outside, overlaps, renderer_for
from pucha.outputs.printmap import area_figure, village_figure
from pucha.outputs.project import load_project
from pucha.outputs.route import number_area


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    return load_project(demo_dir(tmp_path_factory) / "project.gpkg")


def _count(fig) -> tuple[list, list, int]:
    renderer = renderer_for(fig)
    ax = fig.axes[0]  # the map
    return overlaps(ax, renderer), outside(ax, renderer), sum(
        1 for t in ax.texts if t.get_visible() and t.get_text().strip())


def _check(project, villages) -> None:
    bad_overlap, bad_outside, labels, numbers, shown = [], [], 0, 0, 0
    for v in villages:
        figs = [("总图 " + v, village_figure(project, v))]
        for code in project.area_codes(v):
            b, route = number_area(project, code)
            numbers += len(b)
            fig = area_figure(project, code, numbered=(b, route))
            shown += sum(1 for t in fig.axes[0].texts if t.get_visible()
                         and t.get_text().strip().isdigit() and len(t.get_text()) <= 4)
            figs.append((code, fig))
        for name, fig in figs:
            ov, out, n = _count(fig)
            labels += n
            bad_overlap += [(name, p) for p in ov]
            bad_outside += [(name, t) for t in out]
    assert labels > 0
    assert bad_overlap == [], f"{len(bad_overlap)} overlapping label pairs: {bad_overlap[:5]}"
    assert bad_outside == [], f"{len(bad_outside)} labels outside the frame: {bad_outside[:5]}"
    # every building keeps its number (moved with a leader line if need be)
    assert shown >= numbers


def test_labels_of_the_largest_village(project):
    by_v = project.areas.groupby("village_code").size()
    _check(project, [str(by_v.sort_index().idxmax())])


@pytest.mark.slow
def test_labels_of_the_whole_demo_pack(project):
    _check(project, project.village_codes())

"""check-report.txt: the figures behind each line and the other steps' warnings.

On the demo as ``pucha demo`` wrote it (real import, boundaries, partition, check):
each rule's line is followed by the counts it rests on, and the report sums up the
boundary conflicts (the 1,199-person tower cut 50/50 by the township line first),
the buildings whose population was guessed, and the buildings cut to stay in band.
"""

from __future__ import annotations

import re

from fixture_demo import demo_dir


def test_demo_check_report_has_figures_and_warnings(tmp_path_factory):
    from pucha.gis.write import read_layer

    demo = demo_dir(tmp_path_factory)
    text = (demo / "check-report.txt").read_text(encoding="utf-8")
    nb = len(read_layer(demo / "project.gpkg", "buildings"))
    na = len(read_layer(demo / "project.gpkg", "areas"))
    lines = text.splitlines()
    rules = [i for i, ln in enumerate(lines) if ln.startswith("[")]
    assert len(rules) == 6
    for i in rules:  # every rule's line is followed by its figures
        assert lines[i + 1].strip().startswith("依据 figures:"), lines[i:i + 2]
    assert f"{nb} of {nb} 栋建筑 buildings in the plan; 56651 人 in building_areas = 56651 人" \
        in text
    assert re.search(rf"{na} of {na} areas in 240-360 人; \d+ \(\d+%\) within ±10% of 300", text)
    assert "其他步骤的提示 other steps' warnings:" in text
    assert re.search(r"边界核查 boundaries: 25 conflicts \(boundary_building_cut 20, "
                     r"boundary_near_line 5\)", text)
    assert re.search(r"警告 warning: \d+ building\(s\) with people cut by the township line, "
                     r"\d+ 人: 380340027 \(1199 人\)", text)
    assert re.search(rf"\d+ of {nb} 栋建筑 buildings had their population guessed", text)

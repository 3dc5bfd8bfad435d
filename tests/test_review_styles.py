"""QGIS default styles stored in the project GeoPackage (gis/styles.py).

The table content is always checked; when QGIS is installed (Debian packages
``python3-qgis qgis-providers``) a headless PyQGIS run opens the GeoPackage and
checks that QGIS applies the styles by itself.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from fixture_outputs import VA, make_tiny_project
from pucha.gis.styles import STYLED_LAYERS, connect_gpkg, write_styles
from pucha.gis.write import list_layers, read_layer

QGIS_PYTHON = "/usr/bin/python3"


@pytest.fixture()
def styled(tmp_path: Path) -> Path:
    p = make_tiny_project(tmp_path / "tiny.gpkg")
    from pucha.partition.check import check_plan

    con = connect_gpkg(p)
    with con:  # a hand move: the check then writes problem rows with geometries
        con.execute(f"UPDATE buildings SET area_code='{VA}002' WHERE building_id='b0000'")
    con.close()
    check_plan(p)
    write_styles(p)
    return p


def _rows(path: Path) -> list[tuple]:
    con = sqlite3.connect(path)
    try:
        return con.execute("SELECT f_table_name, f_geometry_column, styleName, styleQML, "
                           "useAsDefault, f_table_schema FROM layer_styles "
                           "ORDER BY f_table_name").fetchall()
    finally:
        con.close()


def test_layer_styles_table(styled: Path) -> None:
    rows = _rows(styled)
    assert sorted(r[0] for r in rows) == sorted(STYLED_LAYERS)  # one per layer
    assert "layer_styles" in list_layers(styled)                # registered in gpkg_contents
    for name, geom_col, style, qml, default, schema in rows:
        assert default == 1 and style == "pucha" and geom_col == "geom" and schema == ""
        root = ET.fromstring(qml.split("\n", 1)[1])              # valid XML after the DOCTYPE
        assert root.tag == "qgis" and root.get("labelsEnabled") == "1"
        assert root.find("renderer-v2") is not None
        editable = {f.get("name"): f.get("editable") for f in root.iter("field")
                    if f.get("editable") is not None}
        if name == "buildings":
            assert editable["area_code"] == "1" and editable["locked"] == "1"
            assert editable["population"] == "0"
            cats = [c.get("value") for c in root.iter("category")]
            areas = read_layer(styled, "areas")
            assert cats == sorted(areas["area_code"]) + [""]
        if name == "areas":
            text = root.find("labeling/settings/text-style")
            assert text.get("fieldName") == "area_code"
            assert editable["locked"] == "1"


def test_update_time_is_a_geopackage_datetime(styled: Path) -> None:
    import re

    con = sqlite3.connect(styled)
    try:
        times = [r[0] for r in con.execute("SELECT update_time FROM layer_styles")]
    finally:
        con.close()
    assert times and all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", t)
                         for t in times), times


def test_locked_rules_test_a_boolean(styled: Path) -> None:
    """GeoPackage booleans are true/false in QGIS: no rule compares "locked" with 1."""
    for _, _, _, qml, _, _ in _rows(styled):
        assert "locked&quot; = 1" not in qml and '"locked" = 1' not in qml
    areas = [r for r in _rows(styled) if r[0] == "areas"][0][3]
    assert 'filter="&quot;locked&quot;"' in areas


def test_rewrite_replaces_and_keeps_user_styles(styled: Path) -> None:
    con = sqlite3.connect(styled)
    con.execute("INSERT INTO layer_styles (f_table_catalog, f_table_schema, f_table_name, "
                "f_geometry_column, styleName, styleQML, useAsDefault) VALUES "
                "('', '', 'areas', 'geom', 'mine', '<qgis/>', 1)")
    con.commit()
    con.close()
    write_styles(styled)
    rows = _rows(styled)
    assert len(rows) == len(STYLED_LAYERS) + 1
    mine = [r for r in rows if r[2] == "mine"]
    assert mine and mine[0][4] == 1                  # the user's default stays the default
    ours = [r for r in rows if r[0] == "areas" and r[2] == "pucha"]
    assert len(ours) == 1 and ours[0][4] == 0        # ours is kept as an alternative
    assert sum(r[4] for r in rows if r[0] == "areas") == 1
    others = [r for r in rows if r[0] != "areas"]
    assert all(r[4] == 1 for r in others)


def test_edits_through_connect_gpkg_keep_the_spatial_index(styled: Path) -> None:
    con = connect_gpkg(styled)
    with con:
        con.execute(f"UPDATE buildings SET area_code='{VA}001', locked=1 "
                    "WHERE building_id='b0000'")
    n = con.execute("SELECT count(*) FROM rtree_buildings_geom").fetchone()[0]
    con.close()
    b = read_layer(styled, "buildings")
    assert n == len(b)
    row = b[b["building_id"] == "b0000"].iloc[0]
    assert row["area_code"] == f"{VA}001" and bool(row["locked"])


_QGIS_SCRIPT = r"""
import json, sys
from qgis.core import QgsApplication, QgsVectorLayer
app = QgsApplication([], False); app.initQgis()
out = {}
for name in sys.argv[2:]:
    lyr = QgsVectorLayer(f"{sys.argv[1]}|layername={name}", name, "ogr")
    r = lyr.renderer()
    cfg = lyr.editFormConfig()
    d = {"valid": lyr.isValid(), "renderer": r.type() if r else None,
         "labels": lyr.labelsEnabled(),
         "editable": sorted(f.name() for i, f in enumerate(lyr.fields()) if not cfg.readOnly(i))}
    if lyr.labelsEnabled():
        d["label"] = lyr.labeling().settings().fieldName
    if r is not None and r.type() == "categorizedSymbol":
        d["attr"] = r.classAttribute(); d["n"] = len(r.categories())
    i = lyr.fields().indexOf("locked")
    d["locked_widget"] = lyr.editorWidgetSetup(i).type() if i >= 0 else None
    out[name] = d
print("RESULT " + json.dumps(out))
app.exitQgis()
"""


def _has_qgis() -> bool:
    if not Path(QGIS_PYTHON).exists():
        return False
    return subprocess.run([QGIS_PYTHON, "-c", "import qgis.core"], capture_output=True,
                          timeout=120).returncode == 0


@pytest.mark.skipif(not _has_qgis(), reason="QGIS not installed (apt-get install python3-qgis "
                    "qgis-providers)")
def test_qgis_applies_the_styles_on_open(styled: Path, tmp_path: Path) -> None:
    script = tmp_path / "q.py"
    script.write_text(_QGIS_SCRIPT, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env.update(QT_QPA_PLATFORM="offscreen", XDG_RUNTIME_DIR=str(tmp_path),
               HOME=str(tmp_path))
    proc = subprocess.run([QGIS_PYTHON, str(script), str(styled), *STYLED_LAYERS],
                          capture_output=True, text=True, timeout=300, env=env)
    line = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")]
    assert line, proc.stdout + proc.stderr
    res = json.loads(line[0][7:])
    a, b, v = (res[n] for n in ("areas", "buildings", "villages"))
    assert all(d["valid"] and d["labels"] for d in res.values()), res
    assert a["renderer"] == "RuleRenderer" and a["label"] == "area_code"
    assert b["renderer"] == "categorizedSymbol" and b["attr"] == "area_code" and b["n"] == 5
    assert "area_code" in b["editable"] and "locked" in b["editable"]
    assert "population" not in b["editable"] and "building_id" not in b["editable"]
    assert a["locked_widget"] == b["locked_widget"] == "CheckBox"
    assert v["label"] == "name"
    for part in ("points", "lines", "polygons"):     # the problems layer's typed tables
        p = res[f"problems_{part}"]
        assert p["renderer"] == "categorizedSymbol" and p["attr"] == "severity"

"""One settings path: what the project file says is what every step command uses.

The project is made by the real ``pucha import`` from small drawn source files (never
a hand-written ``pucha_meta``), then ``pucha partition``, ``check``, ``boundaries`` and
``maps`` run WITHOUT flags and must use the file's ``[partition]`` band, ``[maps]``
data date and attribution, and ``[boundaries]`` tolerances; a flag overrides a value
for one run and the revision records it.

The drawn township (EPSG:4549 metres, 600 x 300 m, two 居委会 side by side)::

    +-----------------------------+-----------------------------+
    | 36 buildings of 50 people   | 36 buildings of 50 people   |
    | 东湖居委会 310118002001      | 西湖居委会 310118002002      |
    +-----------------------------+-----------------------------+
      streets every 50 m (named 一路..., 一街...) cut both into blocks
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import pytest
import tomli_w
from shapely.geometry import LineString, box

from pucha.gis.settings import project_config
from pucha.gis.write import read_layer, read_meta

CRS = "EPSG:4549"
X0, Y0 = 500_000.0, 3_450_000.0
TOWNSHIP = "310118002"
V1, V2 = TOWNSHIP + "001", TOWNSHIP + "002"


def _pucha(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONHASHSEED="3")
    return subprocess.run([sys.executable, "-m", "pucha.scripts.cli", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=600, env=env)


def _draw_sources(d: Path) -> None:
    d.mkdir(parents=True, exist_ok=True)
    vill = gpd.GeoDataFrame({"居委会代码": [V1, V2], "居委会名称": ["东湖居委会", "西湖居委会"]},
                            geometry=[box(X0, Y0, X0 + 300, Y0 + 300),
                                      box(X0 + 300, Y0, X0 + 600, Y0 + 300)], crs=CRS)
    vill.to_file(d / "villages.gpkg", layer="villages")
    town = gpd.GeoDataFrame({"code": [TOWNSHIP], "name": ["盈浦街道"]},
                            geometry=[box(X0, Y0, X0 + 600, Y0 + 300)], crs=CRS)
    town.to_file(d / "township.gpkg", layer="township")
    ids, geoms = [], []
    for i in range(12):
        for j in range(6):
            x, y = X0 + 10 + 50 * i, Y0 + 10 + 50 * j
            ids.append(f"B{i:02d}{j:02d}")
            geoms.append(box(x, y, x + 20, y + 20))
    b = gpd.GeoDataFrame({"编号": ids, "人口": [50] * len(ids), "用途": ["住宅"] * len(ids)},
                         geometry=geoms, crs=CRS)
    b.to_file(d / "buildings.gpkg", layer="buildings")
    digits = "一二三四五六七八九十"
    roads = [LineString([(X0 + 50 * i, Y0 - 5), (X0 + 50 * i, Y0 + 305)]) for i in range(1, 12)]
    roads += [LineString([(X0 - 5, Y0 + 50 * j), (X0 + 605, Y0 + 50 * j)]) for j in range(1, 6)]
    names = [f"{digits[i % 10]}路" for i in range(11)] + [f"{digits[j]}街" for j in range(5)]
    gpd.GeoDataFrame({"name": names, "kind": ["minor"] * len(roads)}, geometry=roads,
                     crs=CRS).to_file(d / "roads.gpkg", layer="roads")


def _toml(d: Path) -> Path:
    doc = {
        "project": {"name": "盈浦街道", "township_code": TOWNSHIP, "gpkg": "out/project.gpkg",
                    "data_date": "2026-10"},
        "layers": {
            "buildings": {"path": "buildings.gpkg", "fields": {"id": "编号", "population": "人口",
                                                                "use": "用途"}},
            "villages": {"path": "villages.gpkg",
                         "fields": {"village_code": "居委会代码", "name": "居委会名称"}},
            "township": {"path": "township.gpkg"},
            "roads": {"path": "roads.gpkg", "fields": {"name": "name", "road_class": "kind"}},
        },
        "population": {"method": "given"},
        "partition": {"target": 300, "min": 260, "max": 340, "seed": 7},
        "maps": {"data_date": "2026-11", "attribution": "测试底图 © 规土所"},
        "boundaries": {"sliver_width_m": 7.5, "near_line_m": 12.0},
    }
    p = d / "project.toml"
    p.write_text(tomli_w.dumps(doc), encoding="utf-8")
    return p


@pytest.mark.slow
def test_stored_settings_reach_every_step(tmp_path: Path) -> None:
    src = tmp_path / "src"
    _draw_sources(src)
    toml = _toml(src)
    r = _pucha("import", str(toml), cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    gpkg = src / "out" / "project.gpkg"
    config = project_config(gpkg)
    assert (config.partition.min, config.partition.max, config.partition.seed) == (260, 340, 7)
    assert config.maps.data_date == "2026-11"

    # partition without flags: the file's band
    r = _pucha("partition", str(gpkg), "-q", cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    areas = read_layer(gpkg, "areas")
    assert len(areas) == 12
    assert areas["population"].between(260, 340).all(), areas["population"].tolist()
    rev = read_layer(gpkg, "revisions")
    used = json.loads(rev["settings"].iloc[-1])
    assert (used["min"], used["max"], used["seed"]) == (260, 340, 7)

    # a second plain run: same settings, nothing re-solved, same codes
    r = _pucha("partition", str(gpkg), "-q", cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    again = read_layer(gpkg, "areas")
    assert sorted(again["area_code"]) == sorted(areas["area_code"])

    # check without flags: the file's band
    r = _pucha("check", str(gpkg), cwd=tmp_path)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert "260" in r.stdout and "340" in r.stdout

    # boundaries without flags: the file's tolerances, recorded
    r = _pucha("boundaries", str(gpkg), "-o", str(tmp_path / "bnd"), "--no-pdf", cwd=tmp_path)
    assert r.returncode in (0, 3), r.stderr[-2000:]
    bmeta = read_meta(gpkg)["boundaries"]
    assert bmeta["settings"]["sliver_width_m"] == 7.5 and bmeta["settings"]["near_line_m"] == 12.0
    assert bmeta["flags"] == {}

    # maps without flags: the file's data date and attribution, on HTML and PDF
    r = _pucha("maps", str(gpkg), "-o", str(tmp_path / "maps"), "-j", "1", "-q",
               "--only-village", V1, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    code = sorted(a for a in areas["area_code"] if a.startswith(V1))[0]
    (html,) = (tmp_path / "maps").glob(f"*/{code}.html")
    text = html.read_text(encoding="utf-8")
    assert "2026-11" in text and "测试底图" in text
    (pdf,) = (tmp_path / "maps").glob(f"*/{code}.pdf")
    pdftext = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True,
                             text=True, check=True).stdout
    assert "2026-11" in pdftext

    # a flag overrides for one run, and the revision records it; the stored band stays
    r = _pucha("partition", str(gpkg), "-q", "--min", "250", "--max", "350", "--fresh",
               cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    used = json.loads(read_layer(gpkg, "revisions")["settings"].iloc[-1])
    assert (used["min"], used["max"], used["seed"]) == (250, 350, 7)
    assert project_config(gpkg).partition.min == 260


def test_project_without_stored_settings_gets_defaults(tmp_path: Path) -> None:
    """A GeoPackage no pucha import wrote (no pucha_meta) reads as the defaults."""
    p = tmp_path / "bare.gpkg"
    gpd.GeoDataFrame({"a": [1]}, geometry=[box(0, 0, 1, 1)], crs=CRS).to_file(p, layer="x")
    c = project_config(p)
    assert (c.partition.min, c.partition.target, c.partition.max) == (240, 300, 360)
    assert c.maps.tile_source == "none"

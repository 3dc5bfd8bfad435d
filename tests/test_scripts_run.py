"""``pucha demo`` / ``pucha run``: the README's first command, end to end, in a real process.

Runs the bundled demo (外滩街道, real OSM buildings) through import, boundaries,
partition, check and maps, then checks what a census office would open: the project
GeoPackage, every area's HTML and PDF, the registers, the boundary report, the check
report and run.json, and that people and buildings are neither lost nor doubled.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pucha.gis.write import read_layer

DEMO_PEOPLE = 56651
DEMO_BUILDINGS = 736   # 743 in the source; 2 duplicate footprints and 5 OSM building:part pieces dropped at import


def _pucha(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONHASHSEED="1")
    return subprocess.run([sys.executable, "-m", "pucha.scripts.cli", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=900, env=env)


@pytest.mark.slow
def test_demo_writes_everything_the_offices_open(tmp_path: Path) -> None:
    out = tmp_path / "pucha-demo"
    r = _pucha("demo", "-o", str(out), "-j", "2", cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "Traceback" not in r.stderr
    for step in ("[1/5]", "[2/5]", "[3/5]", "[4/5]", "[5/5]"):
        assert step in r.stdout

    gpkg = out / "project.gpkg"
    areas = read_layer(gpkg, "areas")
    ba = read_layer(gpkg, "building_areas")
    b = read_layer(gpkg, "buildings")
    assert len(b) == DEMO_BUILDINGS and b["building_id"].is_unique
    assert set(ba["building_id"]) == set(b["building_id"])      # every building in an area
    assert int(round(areas["population"].sum())) == DEMO_PEOPLE
    codes = sorted(areas["area_code"])
    assert all(len(c) == 15 and c.startswith("310101013") for c in codes)
    assert len(set(codes)) == len(codes)

    maps = out / "maps"
    assert (maps / "index.html").exists()
    html = {p.stem for p in maps.glob("*/3101*.html") if p.stem.isdigit()}
    pdf = {p.stem for p in maps.glob("*/3101*.pdf") if p.stem.isdigit()}
    assert html == set(codes) and pdf == set(codes)
    assert len(list(maps.glob("*/*_图册.pdf"))) == areas["village_code"].nunique()
    (register,) = (maps / "登记表").glob("*.csv")
    with register.open(encoding="utf-8-sig") as f:
        rows = list(csv.DictReader(f))
    assert sorted(r["普查小区代码"] for r in rows) == codes
    assert sum(int(r["人口"]) for r in rows) == DEMO_PEOPLE

    assert (out / "boundaries" / "conflicts.csv").exists()
    assert (out / "boundaries" / "conflicts.pdf").read_bytes()[:5] == b"%PDF-"
    report = (out / "check-report.txt").read_text(encoding="utf-8")
    assert "结论 result:" in report

    manifest = json.loads((out / "run.json").read_text(encoding="utf-8"))
    assert set(manifest["timings_s"]) == {"import", "boundaries", "partition", "check", "maps"}
    hashed = {Path(p).name for p in manifest["inputs_sha256"]}
    assert {"buildings.shp", "buildings.dbf"} <= hashed
    assert all(len(h) == 64 for h in manifest["inputs_sha256"].values())
    assert manifest["settings"]["partition"]["target"] == 300
    assert manifest["versions"]["GDAL"] and manifest["versions"]["GEOS"]


def test_run_help_teaches_the_steps() -> None:
    from click.testing import CliRunner

    from pucha.scripts.cli import cli

    r = CliRunner().invoke(cli, ["run", "--help"])
    assert r.exit_code == 0
    assert "import -> boundaries -> partition -> check -> maps" in r.output
    r = CliRunner().invoke(cli, ["--help"])
    assert "demo" in r.output and "run" in r.output


def test_run_stops_cleanly_on_a_bad_project_file(tmp_path: Path) -> None:
    toml = tmp_path / "bad.toml"
    toml.write_text('[project]\nname = "x"\nbogus = 1\n[layers.buildings]\npath = "b.shp"\n',
                    encoding="utf-8")
    r = _pucha("run", str(toml), "-o", str(tmp_path / "out"), cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    assert "错误 / error:" in r.stderr and "bogus" in r.stderr
    assert "Traceback" not in r.stderr
    assert not (tmp_path / "out" / "project.gpkg").exists()


def test_reimport_keeps_the_plan_codes_and_edits(tmp_path: Path) -> None:
    """规土所 re-delivers the data: re-importing into a partitioned project keeps the
    plan, revisions and hand edits; an unchanged re-partition keeps every code."""
    from pucha.config import PartitionSettings, load_config
    from pucha.gis.project import import_project
    from pucha.gis.write import read_layer, update_gpkg
    from pucha.partition.run import partition_project
    from pucha.scripts.cmd_run import DEMO_TOML

    gpkg = tmp_path / "p.gpkg"
    cfg = load_config(DEMO_TOML)
    import_project(cfg, out=gpkg)
    st = PartitionSettings(time_limit_s=60)
    partition_project(gpkg, settings=st, jobs=1, progress=False, villages=["310101013001"])
    before = read_layer(gpkg, "building_areas")[["building_id", "part", "area_code"]]
    b = read_layer(gpkg, "buildings")
    lock_id = str(before["building_id"].iloc[0])
    b["locked"] = b["building_id"].astype(str) == lock_id
    update_gpkg(gpkg, {"buildings": b})

    import_project(cfg, out=gpkg)                      # the same files delivered again
    b2 = read_layer(gpkg, "buildings")
    assert bool(b2.loc[b2["building_id"].astype(str) == lock_id, "locked"].iloc[0])
    assert len(read_layer(gpkg, "areas")) > 0 and len(b2) == len(b)
    partition_project(gpkg, settings=st, jobs=1, progress=False, villages=["310101013001"])
    after = read_layer(gpkg, "building_areas")[["building_id", "part", "area_code"]]
    key = ["building_id", "part"]
    assert (before.sort_values(key).reset_index(drop=True)
            .equals(after.sort_values(key).reset_index(drop=True)))

"""pucha lock / pucha move on the tiny project of fixture_outputs (A = …001, B = …002)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from fixture_outputs import VA, VB, make_tiny_project
from pucha.gis.write import read_layer
from pucha.scripts.cli import cli, main


@pytest.fixture()
def tiny(tmp_path: Path) -> Path:
    return make_tiny_project(tmp_path / "tiny.gpkg")


def _locked(path: Path, layer: str, col: str) -> list[str]:
    df = read_layer(path, layer)
    return sorted(df.loc[df["locked"].astype(bool), col])


def test_lock_unlock_areas_villages_buildings(tiny: Path) -> None:
    r = CliRunner()
    assert r.invoke(cli, ["lock", str(tiny), f"{VA}001", f"{VB}002", VB]).exit_code == 0
    assert _locked(tiny, "areas", "area_code") == [f"{VA}001", f"{VB}002"]
    assert _locked(tiny, "villages", "village_code") == [VB]
    assert r.invoke(cli, ["lock", str(tiny), "--unlock", f"{VA}001"]).exit_code == 0
    assert _locked(tiny, "areas", "area_code") == [f"{VB}002"]
    assert r.invoke(cli, ["lock", str(tiny), "--building", "b0001"]).exit_code == 0
    assert _locked(tiny, "buildings", "building_id") == ["b0001"]
    assert len(read_layer(tiny, "buildings")) == 49  # nothing else touched


def test_unknown_codes_change_nothing(tiny: Path, capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["lock", str(tiny), f"{VA}001", "310118002001099"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "310118002001099" in err and "nothing was changed" in err
    assert _locked(tiny, "areas", "area_code") == []


def test_move(tiny: Path, capsys) -> None:
    r = CliRunner().invoke(cli, ["move", str(tiny), "b0000", f"{VA}002", "--lock"])
    assert r.exit_code == 0 and f"{VA}001 -> {VA}002" in r.output
    b = read_layer(tiny, "buildings").set_index("building_id")
    assert b.loc["b0000", "area_code"] == f"{VA}002" and bool(b.loc["b0000", "locked"])
    # building_areas (the last solve) is untouched: the edit lives in buildings.area_code
    ba = read_layer(tiny, "building_areas").set_index("building_id")
    assert ba.loc["b0000", "area_code"] == f"{VA}001"
    for args, msg in ((["nope", f"{VA}002"], "no building_id"),
                      (["b0000", "310118002001777"], "no area_code")):
        with pytest.raises(SystemExit):
            main(["move", str(tiny), *args])
        assert msg in capsys.readouterr().err

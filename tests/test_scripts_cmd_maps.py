"""``pucha maps`` through click's CliRunner."""

from __future__ import annotations

from click.testing import CliRunner

from fixture_outputs import VA, make_tiny_project
from pucha.scripts.cli import cli


def test_help_teaches():
    res = CliRunner().invoke(cli, ["maps", "--help"])
    assert res.exit_code == 0
    for s in ("Example", "--tiles", "--only-village",
              "--no-pdf", "--jobs", "index.html", "tianditu:KEY", "local:DIR"):
        assert s in res.output, s


def test_maps_html_only_one_village(tmp_path):
    gpkg = make_tiny_project(tmp_path / "t.gpkg")
    res = CliRunner().invoke(cli, ["maps", str(gpkg), "-o", str(tmp_path / "out"), "-j", "1",
                                   "--only-village", VA, "--no-pdf", "-q"])
    assert res.exit_code == 0, res.output
    assert "2 个普查小区" in res.output
    assert (tmp_path / "out" / "index.html").exists()
    assert not list((tmp_path / "out").rglob("*.pdf"))


def test_bad_tiles_is_a_clean_error(tmp_path):
    gpkg = make_tiny_project(tmp_path / "t.gpkg")
    res = CliRunner().invoke(cli, ["maps", str(gpkg), "-o", str(tmp_path / "o"),
                                   "--tiles", "google"])
    assert res.exit_code != 0
    assert "unknown tile source" in str(res.exception) or "unknown tile source" in res.output


def test_unknown_stored_tile_source_is_an_error(tmp_path):
    """A [maps] tile_source the maps cannot use stops them, naming it (not ignored)."""
    from pucha.config import config_from_dict
    from pucha.gis.schema import META_SETTINGS
    from pucha.gis.write import update_gpkg

    gpkg = make_tiny_project(tmp_path / "t.gpkg")
    config = config_from_dict({"layers": {"buildings": {"path": "b.shp"}},
                               "maps": {"tile_source": "googel"}})
    update_gpkg(gpkg, {}, meta={META_SETTINGS: config.to_dict()})
    res = CliRunner().invoke(cli, ["maps", str(gpkg), "-o", str(tmp_path / "o"), "--no-pdf"])
    assert res.exit_code != 0
    assert "googel" in str(res.exception) + res.output


def test_tiles_default_from_project_settings(tmp_path):
    """The [maps] settings as pucha import stores them (Config.to_dict under the one
    meta key); the full import -> maps round trip is tests/test_settings_roundtrip.py."""
    from pucha.config import config_from_dict
    from pucha.gis.schema import META_SETTINGS
    from pucha.gis.write import update_gpkg

    gpkg = make_tiny_project(tmp_path / "t.gpkg")
    config = config_from_dict({"layers": {"buildings": {"path": "b.shp"}},
                               "maps": {"tile_source": "amap", "data_date": "2026-11"}})
    update_gpkg(gpkg, {}, meta={META_SETTINGS: config.to_dict()})
    res = CliRunner().invoke(cli, ["maps", str(gpkg), "-o", str(tmp_path / "out"), "-j", "1",
                                   "--only-village", VA, "--no-pdf", "-q"])
    assert res.exit_code == 0, res.output
    html = (tmp_path / "out" / f"{VA}_东方居委会" / f"{VA}001.html").read_text("utf-8")
    assert "autonavi.com" in html and "2026-11" in html
    res = CliRunner().invoke(cli, ["maps", str(gpkg), "-o", str(tmp_path / "o2"), "-j", "1",
                                   "--only-village", VA, "--no-pdf", "-q", "--tiles", "none"])
    html = (tmp_path / "o2" / f"{VA}_东方居委会" / f"{VA}001.html").read_text("utf-8")
    assert "autonavi.com" not in html

"""Issue 15 beyond the corpus: export into the project, umask, full disk, numeric flags,
the project-file reference, ``pucha init`` on the demo's own files, privacy unit cases."""

from __future__ import annotations

import errno
import os
import shutil
import stat
from pathlib import Path

import pytest

from pucha.gis.privacy import id_checksum_ok, is_personal_column, mask_text, scan_frame

DEMO = Path(__file__).resolve().parents[1] / "pucha" / "data" / "demo"
ROOT = Path(__file__).resolve().parents[1]


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    from pucha.scripts.cli import main

    capsys.readouterr()
    try:
        main(argv)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def partitioned(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import sys
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import fixture_outputs

    return fixture_outputs.make_tiny_project(tmp_path_factory.mktemp("p") / "p.gpkg")


# --------------------------------------------------------------------------- 1. overwrite
def test_export_into_the_project_is_refused(partitioned: Path, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    """The issue's `pucha export out/project.gpkg --what areas --format gpkg -o
    out/project.gpkg` left only `areas` in the project: now refused, project intact."""
    gpkg = tmp_path / "project.gpkg"
    shutil.copy(partitioned, gpkg)
    before = gpkg.read_bytes()
    code, out, err = run_cli(["export", str(gpkg), "--what", "areas", "--format", "gpkg",
                              "-o", str(gpkg)], capsys)
    assert code == 2 and "is an input of this project" in err, err
    assert gpkg.read_bytes() == before
    # through a symlink too
    link = tmp_path / "link.gpkg"
    link.symlink_to(gpkg)
    code, out, err = run_cli(["export", str(gpkg), "--what", "areas", "--format", "gpkg",
                              "-o", str(link)], capsys)
    assert code == 2 and gpkg.read_bytes() == before
    code, out, err = run_cli(["export", str(gpkg), "--what", "areas", "--format", "gpkg",
                              "-o", str(tmp_path / "areas.gpkg")], capsys)
    assert code == 0, err


# --------------------------------------------------------------------------- 11. umask
@pytest.mark.parametrize("mask, mode", [(0o022, 0o644), (0o027, 0o640), (0o002, 0o664)])
def test_outputs_respect_the_umask(tmp_path: Path, mask: int, mode: int) -> None:
    from pucha.gis.write import update_gpkg, write_text

    import geopandas as gpd
    from shapely.geometry import Point

    old = os.umask(mask)
    try:
        write_text(tmp_path / "a.txt", "x")
        update_gpkg(tmp_path / "p.gpkg", {"pts": gpd.GeoDataFrame(
            {"a": [1]}, geometry=[Point(0, 0)], crs=4326)})
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "a.txt").stat().st_mode) == mode
    # the project GeoPackage is created by SQLite: 0644 less the umask (never 0600)
    assert stat.S_IMODE((tmp_path / "p.gpkg").stat().st_mode) == 0o644 & ~mask


# --------------------------------------------------------------------------- 9. full disk
def test_full_disk_during_import_is_a_message(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    import sys
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from corpus.make_corpus import make_case

    toml = make_case("clean_base", tmp_path / "case")
    out = tmp_path / "out" / "project.gpkg"
    assert run_cli(["import", str(toml), "-o", str(out)], capsys)[0] == 0
    before = out.read_bytes()

    import pucha.gis.gpkg as G

    def full(*_a: object, **_k: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device", str(out))

    monkeypatch.setattr(G, "_write_layer", full)   # inside the project's transaction
    code, _o, err = run_cli(["import", str(toml), "-o", str(out)], capsys)
    assert code == 2 and "no space left on the device" in err and "intact" in err, err
    assert "Traceback" not in err
    assert out.read_bytes() == before
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".project.gpkg.")]


# --------------------------------------------------------------------------- 9. numeric flags
@pytest.mark.parametrize("args, text", [
    (["--jobs", "0"], "--jobs"), (["--time-limit", "-5"], "--time-limit"),
    (["--households-target", "0"], "--households-target"), (["--target", "0"], "--target"),
])
def test_partition_flags_validated(partitioned: Path, tmp_path: Path, args: list[str],
                                   text: str, capsys: pytest.CaptureFixture[str]) -> None:
    gpkg = tmp_path / "p.gpkg"
    shutil.copy(partitioned, gpkg)
    before = gpkg.read_bytes()
    code, _o, err = run_cli(["partition", str(gpkg), *args], capsys)
    assert code == 2 and text in err and "Traceback" not in err, err
    assert gpkg.read_bytes() == before


def test_check_min_max_zero(partitioned: Path, tmp_path: Path,
                            capsys: pytest.CaptureFixture[str]) -> None:
    gpkg = tmp_path / "p.gpkg"
    shutil.copy(partitioned, gpkg)
    code, _o, err = run_cli(["check", str(gpkg), "--min", "0", "--max", "0"], capsys)
    assert code == 2 and "--min" in err and "Traceback" not in err, err


# --------------------------------------------------------------------------- 10. reference
def test_project_file_reference_is_current() -> None:
    """docs/project-file.md is generated from the settings dataclasses; regenerate it with
    `python -m pucha.config --doc > docs/project-file.md` when a key changes."""
    from pucha.config import doc_markdown, undocumented_keys

    assert not undocumented_keys(), "add a KEY_DOCS line for each"
    assert (ROOT / "docs" / "project-file.md").read_text(encoding="utf-8") == doc_markdown()
    text = doc_markdown()
    assert "gcj02 = true" in text and "`households_target`" in text


def test_init_on_the_demo_files_imports_like_demo_toml(tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]
                                                       ) -> None:
    """`pucha init` on the demo's source files (without demo.toml) writes a TOML that
    imports to the same project as the demo's own TOML."""
    from pucha.gis.write import read_layer

    src = tmp_path / "src"
    shutil.copytree(DEMO, src)
    (src / "demo.toml").unlink()
    toml = tmp_path / "init.toml"
    code, out, err = run_cli(["init", str(src), "-o", str(toml)], capsys)
    assert code == 0, err
    text = toml.read_text(encoding="utf-8")
    assert "[layers.buildings]" in text and 'totals = "src/population_totals.csv"' in text
    a, b = tmp_path / "a.gpkg", tmp_path / "b.gpkg"
    assert run_cli(["-q", "import", str(toml), "-o", str(a)], capsys)[0] == 0
    assert run_cli(["-q", "import", str(DEMO / "demo.toml"), "-o", str(b)], capsys)[0] == 0
    for layer in ("buildings", "villages", "township", "neighbours", "roads", "water",
                  "railways", "problems"):
        la, lb = read_layer(a, layer), read_layer(b, layer)
        assert la.drop(columns=["source"], errors="ignore").equals(
            lb.drop(columns=["source"], errors="ignore")), layer
    # refuses to overwrite without --force
    code, _o, err = run_cli(["init", str(src), "-o", str(toml)], capsys)
    assert code == 2 and "--force" in err


# --------------------------------------------------------------------------- 4. privacy
@pytest.mark.parametrize("text, kinds", [
    ("户主张三 身份证310118199001011231 电话13812345678", ["id_number", "name", "phone"]),
    ("联系人：李四 (021)59731234", ["name", "phone"]),
    ("+86 138-1234-5678", ["phone"]),
    ("老证 310118900101123", ["id_number"]),
    ("业主王小明", ["name"]),
    ("姓名: Zhang San", ["name"]),
    ("电话 5973 1234", ["phone"]),
])
def test_mask_text_finds(text: str, kinds: list[str]) -> None:
    masked, got = mask_text(text)
    assert got == kinds and "*" in masked


@pytest.mark.parametrize("text", ["居民楼310118002001号", "户主信息登记点", "1号楼 2单元 1201室",
                                  "310118002001001", "建于2019年", "居委会", "住户数 120",
                                  "12345678901234567"])
def test_mask_text_leaves_alone(text: str) -> None:
    assert mask_text(text) == (text, [])


def test_id_checksum_and_pinyin_columns() -> None:
    assert id_checksum_ok("11010519491231002X") and not id_checksum_ok("110105194912310021")
    for col in ("xm", "SFZH", "lxdh", "hzxm", "hz_xm", "户主姓名", "联系电话"):
        assert is_personal_column(col), col
    for col in ("xmmc", "lx", "高度", "name", "类型"):
        assert not is_personal_column(col), col


def test_scan_frame_counts_and_ids_never_values() -> None:
    import pandas as pd

    df = pd.DataFrame({"building_id": ["A", "B", "C"],
                       "address": ["户主张三", "城中路1号", "电话13812345678"],
                       "floors": [3, 4, 5]})
    masked, found = scan_frame(df, id_column="building_id")
    assert masked["address"].tolist() == ["户主**", "城中路1号", "电话***********"]
    assert found.counts == {"name": 1, "phone": 1} and found.ids == {"name": ["A"],
                                                                      "phone": ["C"]}
    assert "张三" not in found.summary() and "138" not in found.summary()


# --------------------------------------------------------------------------- 2. pucha run
@pytest.mark.parametrize("case", ["all_buildings_just_outside", "no_population_like_osm"])
def test_run_stops_at_the_first_failing_step(case: str, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    """The issue's run ended with "4 areas, 0 people", 通过 passed, 完成 done, exit 0."""
    import json
    import sys
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from corpus.make_corpus import make_case

    toml = make_case(case, tmp_path / "case")
    out = tmp_path / "run"
    code, stdout, err = run_cli(["run", str(toml), "-o", str(out), "--jobs", "1"], capsys)
    assert code == 1, err
    assert "停止 stopped at import" in err and "完成 done" not in stdout
    manifest = json.loads((out / "run.json").read_text(encoding="utf-8"))
    assert manifest["status"]["failed_step"] == "import" and manifest["exit"] == 1
    assert not (out / "maps").exists() and (out / "project.gpkg").exists()


def test_init_on_a_fresh_folder_of_shapefiles(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    """A folder of GBK shapefiles as an office delivers them: the TOML init writes
    imports as it stands (the user only confirms it)."""
    import sys
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from corpus.make_corpus import base_frames

    from pucha.gis.write import read_layer

    folder = tmp_path / "交付"
    folder.mkdir()
    for kind, frame in base_frames("EPSG:4549").items():
        frame.to_file(folder / f"{kind}.shp", encoding="GBK")
        (folder / f"{kind}.cpg").unlink(missing_ok=True)
    toml = tmp_path / "yingpu.toml"
    code, out, err = run_cli(["init", str(folder), "-o", str(toml)], capsys)
    assert code == 0, err
    assert "buildings <- buildings.shp" in out and "villages <- villages.shp" in out
    text = toml.read_text(encoding="utf-8")
    assert 'township_code = "310118002"' in text and 'method = "given"' in text
    assert "text gb18030" in text          # detected, said why
    gpkg = tmp_path / "p.gpkg"
    code, out, err = run_cli(["import", str(toml), "-o", str(gpkg)], capsys)
    assert code == 0, err
    b = read_layer(gpkg, "buildings")
    assert len(b) == 36 and int(b["population"].sum()) == 1224
    assert sorted(read_layer(gpkg, "villages")["name"])[0] == "城北社区居委会"

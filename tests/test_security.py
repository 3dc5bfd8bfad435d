"""Security: nothing escapes the output folder, data text is escaped, no network, no
personal data, no temporary files left behind.

The map pack is built through the real command line (``pucha maps`` in a subprocess)
from a project whose 居/村 and building names try to break paths, HTML and spreadsheets::

    村 A  '</script><script>alert("pucha")</script>居委会'
    村 B  '../../etc/passwd\\n第二'           (fixture_outputs' tiny township otherwise)
    building names '<img src=x onerror=alert(1)>', '" onmouseover="alert(2)', '=1+2'

and every file written is read back (HTML/CSV/JSON text, XLSX XML, PDF via pdftotext,
GeoPackage bytes + every text cell) by tests/corpus/scan.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from corpus import scan
from pucha.outputs.naming import PackLayout, safe_name

HERE = Path(__file__).resolve().parent

VILLAGE_A = '</script><script>alert("pucha")</script>居委会'
VILLAGE_B = "../../etc/passwd\n第二"
BUILDING_NAMES = ['<img src=x onerror=alert(1)>', '" onmouseover="alert(2)', "=1+2"]
RAW_HOSTILE = ["<script>alert(", "<img src=x", '" onmouseover="', "</script><script>"]


def run_pucha(*args: str, cwd: Path, timeout: float = 600,
              tmpdir: Path | None = None) -> subprocess.CompletedProcess:
    """Run the real ``pucha`` command line in a fresh interpreter (own TMPDIR if given)."""
    env = dict(os.environ, PYTHONHASHSEED="0")
    if tmpdir is not None:
        tmpdir.mkdir(parents=True, exist_ok=True)
        env.update(TMPDIR=str(tmpdir), TEMP=str(tmpdir), TMP=str(tmpdir))
    return subprocess.run([sys.executable, "-m", "pucha.scripts.cli", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout, env=env)


# --------------------------------------------------------------------------- file names
HOSTILE_NAMES = ["../../etc", "../..", "..", ".", "", "/etc/passwd", "a/b\\c", "第一\n第二\r",
                 "\x00nul", "C:\\Windows\\system32", "~/.ssh", "名" * 500, "🏠居委会",
                 "  .hidden", "CON", "a\u202eexe.pdf", "％２Ｅ％２Ｅ／"]


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_file_names_from_data_stay_inside_the_pack(tmp_path: Path, name: str) -> None:
    root = tmp_path / "pack"
    layout = PackLayout(root, name)
    vdir = layout.village_dir(name, name)            # data in the code slot too
    paths = [vdir, layout.area_file(vdir, name, "html"), layout.overview_html(vdir),
             layout.atlas_pdf(vdir, name, name), layout.village_register(vdir, name, name, "csv"),
             layout.township_register("xlsx")]
    for p in paths:
        resolved = p.resolve()
        assert resolved.is_relative_to(root.resolve()), p
        rel = p.relative_to(root)
        for part in rel.parts:
            assert part not in ("", ".", ".."), rel
            assert not part.startswith("."), rel
            assert not any(ch in part for ch in "/\\\n\r\x00:\u202e"), repr(part)
            assert len(part.encode("utf-8")) < 255, len(part)
    assert safe_name(name) == safe_name(name)          # deterministic


# --------------------------------------------------------------------------- the hostile pack
@pytest.fixture(scope="module")
def hostile_pack(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    sys.path.insert(0, str(HERE))
    import fixture_outputs

    from pucha.gis.write import read_layer, update_gpkg

    root = tmp_path_factory.mktemp("hostile")
    gpkg = fixture_outputs.make_tiny_project(root / "project.gpkg", hostile=True)
    v = read_layer(gpkg, "villages")
    v.loc[v["village_code"] == fixture_outputs.VA, "name"] = VILLAGE_A
    v.loc[v["village_code"] == fixture_outputs.VB, "name"] = VILLAGE_B
    b = read_layer(gpkg, "buildings")
    for i, n in enumerate(BUILDING_NAMES):
        b.loc[b.index[i], "name"] = n
        b.loc[b.index[i], "address"] = n
    update_gpkg(gpkg, {"villages": v, "buildings": b})
    (root / "tmp").mkdir()
    before = sorted(p.name for p in root.iterdir())
    r = run_pucha("-q", "maps", str(gpkg), "-o", str(root / "pack"), "-j", "2", "-q", cwd=root,
                  tmpdir=root / "tmp")
    assert r.returncode == 0, r.stderr[-3000:]
    return {"root": root, "pack": root / "pack", "before": before, "result": r}


def test_pack_writes_nothing_outside_its_folder(hostile_pack: dict) -> None:
    root: Path = hostile_pack["root"]
    after = sorted(p.name for p in root.iterdir())
    assert after == sorted(hostile_pack["before"] + ["pack"])
    pack: Path = hostile_pack["pack"]
    files = scan.output_files(pack)
    assert len(files) >= 15
    for p in files:
        assert p.resolve().is_relative_to(pack.resolve())
        assert "\n" not in p.name and ".." not in p.relative_to(pack).as_posix()
    assert not (root.parent / "etc").exists() and not (pack.parent / "etc").exists()


def test_every_html_output_escapes_data_text(hostile_pack: dict) -> None:
    pack: Path = hostile_pack["pack"]
    htmls = [p for p in scan.output_files(pack) if p.suffix == ".html"]
    assert len(htmls) >= 7
    for p in htmls:
        text = p.read_text(encoding="utf-8")
        for raw in RAW_HOSTILE:
            assert raw not in text, f"{p.relative_to(pack)} holds unescaped {raw!r}"
    index = (pack / "index.html").read_text(encoding="utf-8")
    # not vacuous: the names ARE shown, escaped
    assert "&lt;/script&gt;&lt;script&gt;alert(" in index
    assert "etc/passwd" in index


def test_registers_do_not_run_formulas(hostile_pack: dict) -> None:
    pack: Path = hostile_pack["pack"]
    regs = [p for p in scan.output_files(pack) if p.suffix == ".csv"]
    assert regs
    body = "\n".join(p.read_text(encoding="utf-8-sig") for p in regs)
    assert "=1+2" in body                       # the address is listed...
    for line in body.splitlines():
        for cell in line.split(","):
            assert not cell.strip('"').startswith(("=", "+", "@")), cell   # ...never as a formula


def test_no_url_except_inert_identifiers(hostile_pack: dict) -> None:
    """No output names a host to fetch from: only XML namespaces / licence links."""
    pack: Path = hostile_pack["pack"]
    bad: dict[str, set[str]] = {}
    for p in scan.output_files(pack):
        for text in scan.texts(p):
            found = {u for u in scan.urls(text) if not scan.inert(u)}
            found |= scan.fetching_urls(text) if p.suffix == ".html" else set()
            if found:
                bad.setdefault(p.relative_to(pack).as_posix(), set()).update(found)
    assert not bad, bad


def test_configured_tile_source_is_the_only_host(tmp_path: Path, hostile_pack: dict) -> None:
    """With 天地图 tiles configured, the only fetched host is the configured one."""
    gpkg = hostile_pack["root"] / "project.gpkg"
    out = tmp_path / "tiles-pack"
    r = run_pucha("-q", "maps", str(gpkg), "-o", str(out), "--no-pdf", "-j", "1", "-q",
                  "--tiles", "tianditu:KEY0123456789", cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    hosts = set()
    for p in scan.output_files(out):
        for text in scan.texts(p):
            for u in scan.urls(text):
                if not scan.inert(u):
                    hosts.add(u.split("/")[2])
    assert hosts, "the configured tile URL should appear"
    assert all(h.endswith(".tianditu.gov.cn") or h == "t{s}.tianditu.gov.cn" for h in hosts), hosts


def test_no_temporary_files_left(hostile_pack: dict) -> None:
    assert scan.temp_leftovers(hostile_pack["root"]) == []
    assert sorted((hostile_pack["root"] / "tmp").rglob("*")) == [], "files left in TMPDIR"


def test_scan_sees_text_inside_every_format(tmp_path: Path) -> None:
    """The scanner itself must find a planted value in each format (else the greps are blind)."""
    import geopandas as gpd
    from openpyxl import Workbook
    from shapely.geometry import Point

    secret = "身份证310118198001010017"
    (tmp_path / "a.html").write_text(f"<p>{secret}</p>", encoding="utf-8")
    (tmp_path / "a.csv").write_bytes(secret.encode("gbk"))
    wb = Workbook()
    wb.active.append([secret])
    wb.save(tmp_path / "a.xlsx")
    gpd.GeoDataFrame({"x": [secret]}, geometry=[Point(0, 0)], crs="EPSG:4326").to_file(
        tmp_path / "a.gpkg", driver="GPKG")
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from pucha.outputs.fonts import cjk_family
    fig = plt.figure()
    fig.text(0.1, 0.5, secret, family=cjk_family())
    fig.savefig(tmp_path / "a.pdf")
    plt.close(fig)
    hits = scan.find_values(tmp_path, [secret])
    assert sorted(hits) == ["a.csv", "a.gpkg", "a.html", "a.pdf", "a.xlsx"]


# --------------------------------------------------------------------------- end to end
PERSONAL = ["张三丰00", "张三丰17", "张三丰35", "310118198001010000", "310118198001010023",
            "13912340007", "13912340035"]


@pytest.fixture(scope="module")
def full_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """``pucha run`` (import, boundaries, partition, check, maps) on the corpus base with a
    personal-data CSV register (姓名/身份证号/联系电话) and hostile 居/村 names."""
    from corpus.make_corpus import make_case

    root = tmp_path_factory.mktemp("e2e")
    toml = make_case(["name_script_tag", "name_path_traversal", "resident_personal_columns"],
                     root / "src")
    src_text = (root / "src" / "buildings.csv").read_text(encoding="utf-8")
    assert all(v in src_text for v in PERSONAL)          # the values ARE in the input
    r = run_pucha("-q", "run", str(toml), "-o", str(root / "out"), "-j", "2", cwd=root,
                  tmpdir=root / "tmp")
    assert r.returncode == 0, r.stderr[-3000:]
    assert "Traceback" not in r.stderr
    return {"root": root, "out": root / "out", "stderr": r.stderr}


def test_personal_data_never_reaches_an_output(full_run: dict) -> None:
    out = full_run["out"]
    files = scan.output_files(out)
    assert any(p.suffix == ".gpkg" for p in files) and any(p.suffix == ".pdf" for p in files)
    hits = scan.find_values(out, PERSONAL)
    assert not hits, f"personal data in outputs: {hits}"
    # the column names are gone from the project too (not just emptied)
    from pucha.gis.write import read_layer
    cols = set(read_layer(out / "project.gpkg", "buildings").columns)
    assert not cols & {"姓名", "身份证号", "联系电话"}


def test_personal_columns_dropped_with_a_warning_naming_them(full_run: dict) -> None:
    from pucha.gis.write import read_layer

    p = read_layer(full_run["out"] / "project.gpkg", "problems")
    msgs = " ".join(p["message"].astype(str))
    for col in ("姓名", "身份证号", "联系电话"):
        assert col in msgs, f"no problem row names the dropped column {col}"


def test_full_run_stays_inside_and_offline(full_run: dict) -> None:
    root, out = full_run["root"], full_run["out"]
    assert sorted(p.name for p in root.iterdir()) == ["out", "src", "tmp"]
    assert sorted((root / "tmp").rglob("*")) == [], "temporary files left in TMPDIR"
    bad = {}
    for p in scan.output_files(out):
        assert p.resolve().is_relative_to(out.resolve())
        for text in scan.texts(p):
            found = {u for u in scan.urls(text) if not scan.inert(u)}
            if p.suffix == ".html":
                found |= scan.fetching_urls(text)
                for raw in RAW_HOSTILE:
                    assert raw not in text, f"{p.relative_to(out)} holds unescaped {raw!r}"
            if found:
                bad.setdefault(p.relative_to(out).as_posix(), set()).update(found)
    assert not bad, bad
    assert scan.temp_leftovers(root) == []


def test_diff_outputs_are_offline_and_escaped(hostile_pack: dict, tmp_path: Path) -> None:
    """``pucha diff`` on the hostile project (one building moved): same rules."""
    import shutil

    old = tmp_path / "old.gpkg"
    new = tmp_path / "new.gpkg"
    shutil.copy(hostile_pack["root"] / "project.gpkg", old)
    shutil.copy(old, new)
    from pucha.gis.write import read_layer
    ba = read_layer(new, "building_areas")
    codes = sorted(ba["area_code"].unique())
    bid = ba.loc[ba["area_code"] == codes[0], "building_id"].iloc[0]
    r = run_pucha("-q", "move", str(new), str(bid), codes[1], cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    r = run_pucha("-q", "diff", str(old), str(new), "-o", str(tmp_path / "d"), cwd=tmp_path,
                  tmpdir=tmp_path / "tmp")
    assert r.returncode == 0, r.stderr[-2000:]
    files = scan.output_files(tmp_path / "d")
    assert any(p.suffix == ".html" for p in files)
    for p in files:
        for text in scan.texts(p):
            assert not {u for u in scan.urls(text) if not scan.inert(u)}, p.name
            if p.suffix == ".html":
                assert not scan.fetching_urls(text), p.name
                for raw in RAW_HOSTILE:
                    assert raw not in text, f"{p.name} holds unescaped {raw!r}"
    assert sorted((tmp_path / "tmp").rglob("*")) == []
    assert scan.temp_leftovers(tmp_path) == []

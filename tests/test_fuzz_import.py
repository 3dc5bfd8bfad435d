"""A bounded-time fuzz of the importer on mutated real files.

Seed files: 24 real OpenStreetMap buildings around the Bund (../shared/data, ODbL) with
a drawn 居/村 around them, written as GeoJSON, Shapefile and GeoPackage. Hypothesis
mutates the bytes of the buildings file (flip, delete, insert, duplicate, truncate) and
``pucha.gis.project.import_project`` must either import or raise a
:class:`pucha.errors.PuchaError`: any other exception is a crash a user would see as a
traceback. Python warnings are not crashes here (they are errors in the rest of the
suite), so they are ignored inside each example.

The quick run (20 examples per format) is in the default set; the ~30 s run per format
is marked slow.
"""

from __future__ import annotations

import shutil
import tempfile
import traceback
import warnings
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

BBOX = (121.484, 31.232, 121.492, 31.240)   # the Bund, west bank of the Huangpu


@pytest.fixture(scope="module")
def seed_dir(tmp_path_factory: pytest.TempPathFactory, lujiazui_gpkg: Path) -> Path:
    import geopandas as gpd
    import pyogrio
    import tomli_w
    from shapely.geometry import box

    root = tmp_path_factory.mktemp("fuzz-seed")
    b = pyogrio.read_dataframe(lujiazui_gpkg, layer="buildings", bbox=BBOX)
    b = b[b.geometry.geom_type.isin(["Polygon", "MultiPolygon"])].head(24).copy()
    assert len(b) >= 12
    out = gpd.GeoDataFrame({
        "编号": [f"OSM{int(i)}" for i in b["id"]],
        "名称": b["name"].fillna("").astype(str),
        "高度": b["height"].astype(float),
        "人口": [30 + (i % 7) for i in range(len(b))],
    }, geometry=b.geometry.values, crs="EPSG:4326")
    minx, miny, maxx, maxy = out.total_bounds
    frame = box(minx - 0.001, miny - 0.001, maxx + 0.001, maxy + 0.001)
    gpd.GeoDataFrame({"code": ["310101013001"], "name": ["外滩演示居委会"]}, geometry=[frame],
                     crs="EPSG:4326").to_file(root / "villages.geojson", driver="GeoJSON")
    gpd.GeoDataFrame({"code": ["310101013"], "name": ["外滩街道"]}, geometry=[frame],
                     crs="EPSG:4326").to_file(root / "township.geojson", driver="GeoJSON")
    out.to_file(root / "buildings.geojson", driver="GeoJSON")
    out.to_file(root / "buildings.gpkg", driver="GPKG", layer="buildings")
    out.to_file(root / "buildings.shp", driver="ESRI Shapefile", encoding="UTF-8")
    fields = {"id": "编号", "name": "名称", "height": "高度", "population": "人口"}
    for fmt, extra in (("geojson", {}), ("gpkg", {"layer": "buildings"}), ("shp", {})):
        doc = {
            "project": {"name": "外滩街道", "township_code": "310101013"},
            "layers": {
                "buildings": {"path": f"buildings.{fmt}", "fields": fields, **extra},
                "villages": {"path": "villages.geojson",
                             "fields": {"village_code": "code", "name": "name"}},
                "township": {"path": "township.geojson", "fields": {"code": "code", "name": "name"}},
            },
        }
        (root / f"{fmt}.toml").write_bytes(tomli_w.dumps(doc).encode("utf-8"))
    return root


def _import(root: Path, fmt: str) -> None:
    from pucha.config import load_config
    from pucha.gis.project import import_project

    import_project(load_config(root / f"{fmt}.toml"), out=root / "out" / "project.gpkg")


def test_seed_files_import_cleanly(seed_dir: Path) -> None:
    """The unmutated seeds import (so a mutant's failure is the mutation's doing)."""
    for fmt in ("geojson", "gpkg", "shp"):
        work = Path(tempfile.mkdtemp(dir=seed_dir.parent))
        try:
            for p in seed_dir.iterdir():
                shutil.copy(p, work / p.name)
            _import(work, fmt)
            assert (work / "out" / "project.gpkg").exists()
        finally:
            shutil.rmtree(work)


@st.composite
def mutations(draw: st.DrawFn) -> list[tuple[str, float, float, bytes]]:
    ops = st.tuples(
        st.sampled_from(["flip", "delete", "insert", "duplicate", "truncate", "zero"]),
        st.floats(0, 1, allow_nan=False), st.floats(0, 0.2, allow_nan=False),
        st.binary(min_size=1, max_size=16))
    return draw(st.lists(ops, min_size=1, max_size=4))


def mutate(data: bytes, muts: list[tuple[str, float, float, bytes]]) -> bytes:
    buf = bytearray(data)
    for op, where, span, payload in muts:
        if not buf:
            break
        i = min(int(where * len(buf)), len(buf) - 1)
        n = max(1, int(span * len(buf) * 0.1))
        if op == "flip":
            buf[i] ^= payload[0] or 0xFF
        elif op == "delete":
            del buf[i:i + n]
        elif op == "insert":
            buf[i:i] = payload
        elif op == "duplicate":
            buf[i:i] = buf[i:i + n]
        elif op == "truncate":
            del buf[i:]
        elif op == "zero":
            buf[i:i + n] = bytes(len(buf[i:i + n]))
    return bytes(buf)


def _targets(fmt: str) -> list[str]:
    return {"geojson": ["buildings.geojson"], "gpkg": ["buildings.gpkg"],
            "shp": ["buildings.shp", "buildings.dbf", "buildings.shx"]}[fmt]


def _fuzz_one(seed_dir: Path, fmt: str, target: int, muts: list) -> None:
    from pucha.errors import PuchaError

    work = Path(tempfile.mkdtemp(dir=seed_dir.parent))
    try:
        for p in seed_dir.iterdir():
            shutil.copy(p, work / p.name)
        names = _targets(fmt)
        name = names[target % len(names)]
        (work / name).write_bytes(mutate((seed_dir / name).read_bytes(), muts))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                _import(work, fmt)
            except PuchaError as exc:
                assert str(exc).strip(), "a pucha error needs a message"
            except Exception:  # noqa: BLE001 - exactly what the fuzz looks for
                pytest.fail(f"{fmt}: {name} mutated by {muts!r} crashed the importer:\n"
                            f"{traceback.format_exc()}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _make_test(fmt: str, examples: int):
    @settings(max_examples=examples, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture,
                                     HealthCheck.too_slow])
    @given(target=st.integers(0, 2), muts=mutations())
    def run(seed_dir: Path, target: int, muts: list) -> None:
        _fuzz_one(seed_dir, fmt, target, muts)
    return run


test_fuzz_geojson_quick = _make_test("geojson", 20)
test_fuzz_gpkg_quick = _make_test("gpkg", 10)
test_fuzz_shp_quick = _make_test("shp", 20)
test_fuzz_geojson_long = pytest.mark.slow(_make_test("geojson", 200))
test_fuzz_gpkg_long = pytest.mark.slow(_make_test("gpkg", 100))
test_fuzz_shp_long = pytest.mark.slow(_make_test("shp", 200))


# --------------------------------------------------------------------------- the project file
@pytest.fixture(scope="module")
def project_seed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small partitioned project GeoPackage (tests/fixture_outputs.py)."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import fixture_outputs

    return fixture_outputs.make_tiny_project(tmp_path_factory.mktemp("proj-seed") / "p.gpkg")


def _fuzz_project(seed: Path, muts: list, command: str) -> None:
    """Mutated project GeoPackage bytes (a damaged USB copy): a pucha error or success."""
    from pucha.scripts.cli import main

    work = Path(tempfile.mkdtemp(dir=seed.parent.parent))
    try:
        bad = work / "project.gpkg"
        bad.write_bytes(mutate(seed.read_bytes(), muts))
        args = {"check": ["check", str(bad)],
                "maps": ["maps", str(bad), "-o", str(work / "pack"), "--no-pdf", "-j", "1",
                         "-q"]}[command]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                main(["-qq", *args])
            except SystemExit:
                pass               # a clean exit (error message printed, no traceback)
            except Exception:  # noqa: BLE001
                pytest.fail(f"{command}: project bytes mutated by {muts!r} crashed:\n"
                            f"{traceback.format_exc()}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _make_project_test(command: str, examples: int):
    @settings(max_examples=examples, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    @given(muts=mutations())
    def run(project_seed: Path, muts: list) -> None:
        _fuzz_project(project_seed, muts, command)
    return run


test_fuzz_project_check_quick = _make_project_test("check", 40)
test_fuzz_project_check_long = pytest.mark.slow(_make_project_test("check", 400))
test_fuzz_project_maps_long = pytest.mark.slow(_make_project_test("maps", 60))


# --------------------------------------------------------------------------- found by the fuzz
def _damage(seed: Path, work: Path, how: str) -> Path:
    """The project seed with one defect the project fuzz found (as SQL on a copy)."""
    import struct

    from pucha.gis.styles import connect_gpkg

    bad = work / "project.gpkg"
    shutil.copy(seed, bad)
    con = connect_gpkg(bad)  # with the ST_* functions the GeoPackage triggers call
    try:
        if how == "text_not_utf8":          # a flipped byte inside a name
            con.execute("UPDATE buildings SET address = CAST(X'E4B8FF41' AS TEXT) "
                        "WHERE rowid = 1")
        elif how == "ring_not_closed":      # a flipped coordinate in a geometry blob
            blob = con.execute("SELECT geom FROM buildings WHERE rowid = 1").fetchone()[0]
            flags = blob[3]
            env = {0: 0, 1: 32, 2: 48, 3: 48, 4: 64}[(flags >> 1) & 7]
            head = bytes(blob[:8 + env])
            ring = [(0.0, 0.0), (10.0, 0.0), (10.0, 10.0), (0.0, 10.0), (1.0, 1.0)]
            wkb = struct.pack("<BIII", 1, 3, 1, len(ring)) + b"".join(
                struct.pack("<dd", x, y) for x, y in ring)
            con.execute("UPDATE buildings SET geom = ? WHERE rowid = 1", (head + wkb,))
        elif how == "area_self_intersecting":  # a bow-tie area (a bad hand edit)
            blob = con.execute("SELECT geom FROM areas WHERE rowid = 1").fetchone()[0]
            import shapely
            flags = blob[3]
            env = {0: 0, 1: 32, 2: 48, 3: 48, 4: 64}[(flags >> 1) & 7]
            g = shapely.from_wkb(bytes(blob[8 + env:]))
            x0, y0, x1, y1 = g.bounds
            bow = shapely.Polygon([(x0, y0), (x1, y1), (x1, y0), (x0, y1), (x0, y0)])
            con.execute("UPDATE areas SET geom = ? WHERE rowid = 1",
                        (bytes(blob[:8 + env]) + shapely.to_wkb(bow),))
        elif how == "column_renamed":       # a flipped byte in the table definition
            con.execute("ALTER TABLE buildings RENAME COLUMN village_code TO vil_age_code")
        con.commit()
    finally:
        con.close()
    return bad


@pytest.mark.parametrize("how,expect", [
    ("text_not_utf8", "not a readable GeoPackage"),
    ("ring_not_closed", "not a readable GeoPackage"),
    ("area_self_intersecting", None),
    ("column_renamed", "has no column 'village_code'"),
])
def test_damaged_project_is_a_clear_error(project_seed: Path, tmp_path: Path, capsys,
                                          how: str, expect: str | None) -> None:
    """The defects the project fuzz found: a clean error message (exit 2) or, for a
    self-intersecting area, a check that repairs it to test the rules and reports it."""
    from pucha.partition.check import check_plan
    from pucha.scripts.cli import main

    bad = _damage(project_seed, tmp_path, how)
    with pytest.raises(SystemExit) as exc:
        main(["-qq", "check", str(bad)])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    if expect is None:
        rep = check_plan(bad)
        bad_geom = [i for i in rep.issues if i.code == "invalid_geometry"]
        assert len(bad_geom) == 1 and bad_geom[0].severity == "error"
        assert bad_geom[0].layer == "areas" and "Self-intersection" in bad_geom[0].message
        assert exc.value.code == 1        # a hard rule is broken: the plan is not valid
    else:
        assert exc.value.code not in (0, 1) and expect in err, err

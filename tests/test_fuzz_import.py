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

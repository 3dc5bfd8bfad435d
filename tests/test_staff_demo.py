"""The staff plan on the bundled demo (real OSM, Lujiazui / the Bund) and on the 160,000-person
synthetic 盈浦 township, against the figures of the 盈浦 plan document (533 areas, 423
enumerators + 110 supervisors). Both projects are built by the real ``pucha demo`` /
``pucha partition`` once per module; both tests are slow (about a minute each).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import shapely
from click.testing import CliRunner

from pucha.gis import schema as S
from pucha.gis.write import read_layer
from pucha.scripts.cli import cli

pytestmark = pytest.mark.slow


def _run(*args: str) -> str:
    res = CliRunner().invoke(cli, list(args))
    assert res.exit_code == 0, res.output + repr(res.exception)
    return res.output


def _check_groups(areas) -> None:
    for code, grp in areas.groupby("supervisor_group"):
        vcode = code[:12]
        assert set(grp["village_code"]) == {vcode}, code  # inside one 居/村
        n_village = int((areas["village_code"] == vcode).sum())
        if n_village >= 3:
            assert 3 <= len(grp) <= 7, (code, len(grp))
        union = shapely.union_all(grp.geometry.buffer(0.05).values)
        assert union.geom_type == "Polygon", f"{code} is not contiguous"


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("demo")
    _run("demo", "-o", str(out), "--no-maps", "--jobs", "2")
    return out / "project.gpkg"


def test_demo_groups_registers_and_table(demo: Path, tmp_path: Path) -> None:
    from pucha.outputs.pack import make_pack

    out = _run("staff", "plan", str(demo), "-o", str(tmp_path / "staff"))
    areas = read_layer(demo, S.LAYER_AREAS)
    groups = read_layer(demo, "supervisor_groups")
    listed = sorted(c for codes in groups["area_codes"] for c in codes.split(","))
    assert listed == sorted(areas["area_code"])  # every area in exactly one group
    _check_groups(areas)
    assert f"{len(areas)} 个普查小区，{len(groups)} 个指导区" in out
    table = pd.read_csv(tmp_path / "staff" / "人员配备表.csv", dtype={"居/村代码": str},
                        encoding="utf-8-sig")
    per_v = areas.groupby("village_code")["supervisor_group"].nunique()
    body = table.iloc[:-1].set_index("居/村代码")
    assert body["指导区"].to_dict() == per_v.to_dict()
    assert int(table.iloc[-1]["普查指导员"]) == len(groups)
    # a roster; the township register (of one 居/村's pack) carries the groups and the
    # names, no HTML file carries a name or a phone
    roster = tmp_path / "roster.csv"
    rows = [(f"指导员{i:02d}", "指导员", f"1380000{i:04d}") for i in range(len(groups))]
    rows += [(f"普查员{i:03d}", "普查员", f"1390000{i:04d}") for i in range(len(areas))]
    pd.DataFrame(rows, columns=["name", "role", "phone"]).to_csv(roster, index=False)
    _run("staff", "assign", str(demo), str(roster), "-o", str(tmp_path / "staff"))
    village = sorted(per_v.index)[0]
    res = make_pack(demo, tmp_path / "maps", jobs=2, progress=False, pdf=False,
                    only_village=village)
    reg = next(p for p in res.registers if p.suffix == ".csv" and p.parent.name == "登记表")
    got = pd.read_csv(reg, dtype=str, encoding="utf-8-sig")
    mine = areas.set_index("area_code")["supervisor_group"]
    assert list(got["指导区"]) == list(mine[got["普查小区代码"]])
    assert got["普查员"].str.startswith(("普查员", "指导员")).all()
    assert got["普查指导员"].str.startswith("指导员").all()
    secrets = [r[0] for r in rows] + [r[2] for r in rows]
    for h in res.html:
        text = h.read_text(encoding="utf-8")
        assert not [s for s in secrets if s in text], h.name


@pytest.fixture(scope="module")
def yingpu(tmp_path_factory) -> Path:
    from pucha.gis.synthetic import write_synthetic_gpkg

    path = tmp_path_factory.mktemp("yingpu") / "yingpu.gpkg"
    write_synthetic_gpkg(path, seed=0)
    _run("partition", str(path), "--jobs", "2", "-q")
    return path


def test_synthetic_township_beside_the_plan_document(yingpu: Path, tmp_path: Path,
                                                     capsys) -> None:
    _run("staff", "plan", str(yingpu), "-o", str(tmp_path))
    areas = read_layer(yingpu, S.LAYER_AREAS)
    _check_groups(areas)
    n, k = len(areas), int(areas["supervisor_group"].nunique())
    assert abs(k - n / 5) <= 0.2 * n / 5, (k, n)
    table = pd.read_csv(tmp_path / "人员配备表.csv", dtype={"居/村代码": str}, encoding="utf-8-sig")
    total = table.iloc[-1]
    assert int(total["普查指导员"]) == k and int(total["普查员"]) == n - k
    with capsys.disabled():
        print(f"\n{'':14}{'盈浦 plan document':>20}{'pucha (synthetic 160k)':>26}")
        for label, plan, ours in (("areas", 533, n), ("enumerators", 423, n - k),
                                  ("supervisors", 110, k), ("staff", 533, n),
                                  ("people", 160000, int(total["人口"]))):
            print(f"{label:14}{plan:>20}{ours:>26}")

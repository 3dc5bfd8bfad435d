"""The staff plan (``pucha staff plan`` / ``assign``) on a small project from the real writers.

The project is the seeded synthetic township with 2 居/村 and 7,000 people
(:func:`pucha.gis.synthetic.write_synthetic_gpkg`) cut by the real ``pucha partition``
(about 23 areas); each test works on its own copy.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import shapely
from click.testing import CliRunner

from pucha.gis import schema as S
from pucha.gis.write import read_layer, read_meta
from pucha.scripts.cli import cli

NAME_RE = re.compile(r"^(\d{12})Z(\d{2})$")


@pytest.fixture(scope="module")
def partitioned(tmp_path_factory) -> Path:
    from pucha.gis.synthetic import write_synthetic_gpkg
    from pucha.partition.run import partition_project

    path = tmp_path_factory.mktemp("staff") / "small.gpkg"
    write_synthetic_gpkg(path, seed=3, n_villages=2, people=7000)
    partition_project(path, progress=False)
    return path


@pytest.fixture(scope="module")
def planned(partitioned: Path, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("planned") / "p.gpkg"
    shutil.copy(partitioned, path)
    res = CliRunner().invoke(cli, ["staff", "plan", str(path), "-o", str(path.parent / "out")])
    assert res.exit_code == 0, res.output
    return path


def _copy(src: Path, tmp_path: Path, name: str = "p.gpkg") -> Path:
    dst = tmp_path / name
    shutil.copy(src, dst)
    return dst


def _run(*args: str) -> str:
    res = CliRunner().invoke(cli, list(args))
    assert res.exit_code == 0, res.output + repr(res.exception)
    return res.output


def test_every_area_in_one_contiguous_group_of_3_to_7(planned: Path) -> None:
    areas = read_layer(planned, S.LAYER_AREAS)
    groups = read_layer(planned, "supervisor_groups")
    assert areas["supervisor_group"].notna().all() and len(areas) >= 20
    listed = [c for codes in groups["area_codes"] for c in codes.split(",")]
    assert sorted(listed) == sorted(areas["area_code"])  # exactly one group each
    for code, grp in areas.groupby("supervisor_group"):
        m = NAME_RE.match(code)
        assert m, code
        assert set(grp["village_code"]) == {m.group(1)}  # inside one 居/村
        assert 3 <= len(grp) <= 7, (code, len(grp))
        union = shapely.union_all(grp.geometry.buffer(0.05).values)
        assert union.geom_type == "Polygon", f"{code} is not contiguous"
        assert int(grp["supervisor_area"].astype(bool).sum()) == 1
    assert len(groups) == areas["supervisor_group"].nunique()


def test_workload_follows_the_stated_model(planned: Path) -> None:
    areas = read_layer(planned, S.LAYER_AREAS)
    st = read_meta(planned)["staff"]["settings"]
    speed = st["walking_speed_kmh"] * 1000 / 60
    ba = pd.DataFrame(read_layer(planned, S.LAYER_BUILDING_AREAS))
    n_b = ba.groupby("area_code")["building_id"].nunique().reindex(areas["area_code"]).fillna(0)
    expect = (areas["dwellings_est"] * st["minutes_per_dwelling"]
              + n_b.to_numpy() * st["minutes_per_building"]
              + areas["floors_climbed"] * st["minutes_per_floor"] + areas["route_m"] / speed)
    assert np.allclose(expect, areas["workload_min"], atol=0.2)
    several = n_b.to_numpy() > 1
    assert (areas.loc[several, "route_m"] > 0).all()
    # dwellings given where known, else people / persons_per_dwelling
    known = areas["dwellings"].notna()
    assert (areas.loc[known, "dwellings_est"] >= areas.loc[known, "dwellings"] - 0.5).all()


def test_workload_warning_names_its_cause(planned: Path) -> None:
    areas = read_layer(planned, S.LAYER_AREAS)
    probs = read_layer(planned, S.LAYER_PROBLEMS)
    rows = probs[(probs["stage"] == "staff") & (probs["code"] == "workload_high")]
    med = areas.groupby("village_code")["workload_min"].transform("median")
    high = set(areas.loc[areas["workload_min"] > 1.5 * med, "area_code"])
    assert set(rows["feature_ids"]) == high
    assert high, "no area above 1.5x its median: the test lost its point"
    for msg in rows["message"]:
        assert "主要原因" in msg and re.search(r"住房|建筑|爬楼|路线", msg)
    noted = areas[areas["workload_note"].fillna("") != ""]
    assert set(noted["area_code"]) == high


def test_plan_is_deterministic_and_kept_when_nothing_changed(planned: Path,
                                                             tmp_path: Path) -> None:
    again = _copy(planned, tmp_path)
    out = _run("staff", "plan", str(again), "-o", str(tmp_path / "o"))
    assert "2 个居/村沿用原指导区" in out
    a = read_layer(planned, S.LAYER_AREAS).set_index("area_code")["supervisor_group"]
    b = read_layer(again, S.LAYER_AREAS).set_index("area_code")["supervisor_group"]
    assert a.sort_index().equals(b.sort_index())


def test_fresh_plans_are_identical(partitioned: Path, tmp_path: Path) -> None:
    from pucha.partition.staff import staff_plan_project

    one = staff_plan_project(_copy(partitioned, tmp_path, "a.gpkg"))
    two = staff_plan_project(_copy(partitioned, tmp_path, "b.gpkg"))
    assert list(one.areas["supervisor_group"]) == list(two.areas["supervisor_group"])
    assert list(one.groups["area_codes"]) == list(two.groups["area_codes"])


def test_areas_per_supervisor_option(partitioned: Path, tmp_path: Path) -> None:
    path = _copy(partitioned, tmp_path)
    _run("staff", "plan", str(path), "--areas-per-supervisor", "3", "-o", str(tmp_path / "o"))
    areas = read_layer(path, S.LAYER_AREAS)
    n = areas.groupby("village_code")["supervisor_group"].nunique()
    sizes = areas.groupby("village_code").size()
    # about 3 areas per group, within 3..7: floor(n / 3) groups, or one fewer where the
    # areas' layout allows no split into groups of exactly 3
    assert ((n == sizes // 3) | (n == sizes // 3 - 1)).all(), (n.to_dict(), sizes.to_dict())
    five = read_layer(partitioned, S.LAYER_AREAS)
    assert n.sum() > len(five) // 5
    assert areas.groupby("supervisor_group").size().between(3, 7).all()


def test_groups_unchanged_where_the_repartition_did_not_touch(planned: Path,
                                                              tmp_path: Path) -> None:
    path = _copy(planned, tmp_path)
    before = read_layer(path, S.LAYER_AREAS)
    touched, other = sorted(set(before["village_code"]))
    _run("partition", str(path), "--village", touched, "--target", "270", "--min", "200", "-q")
    out = _run("staff", "plan", str(path), "-o", str(tmp_path / "o"))
    assert "1 个居/村沿用原指导区" in out
    after = read_layer(path, S.LAYER_AREAS)
    keep = before[before["village_code"] == other].set_index("area_code")["supervisor_group"]
    now = after[after["village_code"] == other].set_index("area_code")["supervisor_group"]
    assert keep.sort_index().equals(now.sort_index())
    assert read_meta(path)["staff"]["kept_villages"] == [other]
    # in the re-cut 居/村 a group whose areas all survived keeps its code
    old = before[before["village_code"] == touched].groupby("supervisor_group")["area_code"]
    new = after[after["village_code"] == touched].set_index("area_code")["supervisor_group"]
    for code, members in old:
        if set(members) <= set(new.index) and new[list(members)].nunique() == 1 \
                and len(new[new == new[members.iloc[0]]]) == len(members):
            assert new[members.iloc[0]] == code


def _roster(path: Path, n_sup: int, n_enum: int, *, pref: str = "", encoding="utf-8-sig") -> Path:
    rows = [(f"指导{i:02d}", "普查指导员", f"138 0000 {i:04d}", pref if i == 0 else "")
            for i in range(n_sup)]
    rows += [(f"普查{i:03d}", "普查员", f"139-0000-{i:04d}", "") for i in range(n_enum)]
    pd.DataFrame(rows, columns=["姓名", "角色", "电话", "居村"]).to_csv(path, index=False,
                                                                   encoding=encoding)
    return path


def test_roster_round_trip(planned: Path, tmp_path: Path) -> None:
    path = _copy(planned, tmp_path)
    areas = read_layer(path, S.LAYER_AREAS)
    n_groups = areas["supervisor_group"].nunique()
    second = sorted(set(areas["village_code"]))[1]
    roster = _roster(tmp_path / "名册.csv", n_groups + 1, len(areas), pref=second,
                     encoding="gb18030")
    out = _run("staff", "assign", str(path), str(roster), "-o", str(tmp_path / "o"))
    assert "备用" in out
    staff = pd.DataFrame(read_layer(path, "staff"))
    got = staff[staff["status"] == "assigned"]
    sup = got[got["role"] == "普查指导员"]
    assert sorted(sup["group_code"]) == sorted(set(areas["supervisor_group"]))
    assert sup.iloc[0]["group_code"][:12] == second  # preferred 居/村 honoured
    enum_areas = set(areas.loc[~areas["supervisor_area"].astype(bool), "area_code"])
    assert sorted(got.loc[got["role"] == "普查员", "area_code"]) == sorted(enum_areas)
    assert staff.iloc[0]["phone"] == "13800000000"  # spaces and dashes dropped
    # the staffing table and the assignment list carry them
    table = pd.read_csv(tmp_path / "o" / "人员配备表.csv", dtype=str, encoding="utf-8-sig")
    assert int(table.iloc[-1]["已落实指导员"]) == n_groups
    who = pd.read_csv(tmp_path / "o" / "人员分工.csv", dtype=str, encoding="utf-8-sig")
    assert len(who) == len(areas) and who["姓名"].ne("").all()
    # the same roster again: the same assignment
    _run("staff", "assign", str(path), str(roster), "-o", str(tmp_path / "o"))
    again = pd.DataFrame(read_layer(path, "staff"))
    assert again.equals(staff)
    # after a re-partition of one 居/村, everyone whose area or group survived stays
    touched = sorted(set(areas["village_code"]))[0]
    _run("partition", str(path), "--village", touched, "--target", "270", "--min", "200", "-q")
    out = _run("staff", "plan", str(path), "-o", str(tmp_path / "o"))
    assert "名册已按新指导区重新分配" in out  # the plan re-assigns the people it has
    replanned = pd.DataFrame(read_layer(path, "staff"))
    _run("staff", "assign", str(path), str(roster), "-o", str(tmp_path / "o"))
    assert pd.DataFrame(read_layer(path, "staff")).equals(replanned)
    after = replanned.set_index("name")
    now = read_layer(path, S.LAYER_AREAS)
    need = set(now.loc[~now["supervisor_area"].astype(bool), "area_code"])
    kept = 0
    for r in staff.itertuples():
        if r.role == "普查员" and r.area_code in need:
            assert after.loc[r.name, "area_code"] == r.area_code
            kept += 1
        if r.role == "普查指导员" and r.group_code in set(now["supervisor_group"]):
            assert after.loc[r.name, "group_code"] == r.group_code
    assert kept > 0


def test_roster_errors_are_clear(planned: Path, tmp_path: Path) -> None:
    path = _copy(planned, tmp_path)
    bad = tmp_path / "bad.csv"
    bad.write_text("name,role,phone\n张三,普查员,1\n李四,组长,2\n", encoding="utf-8")
    res = CliRunner().invoke(cli, ["staff", "assign", str(path), str(bad)])
    assert res.exit_code != 0 and "row 3" in str(res.exception) and "组长" in str(res.exception)
    nohead = tmp_path / "nohead.csv"
    nohead.write_text("姓名,电话\n张三,1\n", encoding="utf-8")
    res = CliRunner().invoke(cli, ["staff", "assign", str(path), str(nohead)])
    assert res.exit_code != 0 and "role" in str(res.exception)


def test_assign_needs_a_current_plan(partitioned: Path, tmp_path: Path) -> None:
    path = _copy(partitioned, tmp_path)
    roster = _roster(tmp_path / "r.csv", 2, 2)
    res = CliRunner().invoke(cli, ["staff", "assign", str(path), str(roster)])
    assert res.exit_code != 0 and "pucha staff plan" in str(res.exception)


def test_staffing_table_files(planned: Path) -> None:
    from openpyxl import load_workbook

    out = planned.parent / "out"
    areas = read_layer(planned, S.LAYER_AREAS)
    table = pd.read_csv(out / "人员配备表.csv", dtype={"居/村代码": str}, encoding="utf-8-sig")
    total = table.iloc[-1]
    assert int(total["普查小区"]) == len(areas)
    assert int(total["指导区"]) == int(total["普查指导员"]) == areas["supervisor_group"].nunique()
    assert int(total["普查员"]) + int(total["普查指导员"]) == int(total["人员合计"]) == len(areas)
    assert int(total["人口"]) == int(areas["population"].sum())
    assert table.iloc[:-1]["普查小区"].sum() == len(areas)
    wb = load_workbook(out / "人员配备表.xlsx")
    ws = wb["人员配备表"]
    assert str(ws.page_setup.paperSize) == str(ws.PAPERSIZE_A4) and ws.page_setup.orientation == "landscape"
    assert ws.cell(row=2, column=1).value == str(table.iloc[0]["居/村代码"])
    info = subprocess.run(["pdfinfo", str(out / "人员配备表.pdf")], capture_output=True,
                          text=True, check=True).stdout
    assert re.search(r"Pages:\s+1\b", info) and "(A4)" in info  # one A4 page
    text = subprocess.run(["pdftotext", str(out / "人员配备表.pdf"), "-"], capture_output=True,
                          text=True, check=True).stdout
    assert "人员配备表" in text and "普查指导员" in text and "工作量模型" in text


def test_staff_settings_in_the_project_file() -> None:
    from pucha.config import config_from_dict
    from pucha.errors import ConfigError

    cfg = config_from_dict({"layers": {"buildings": {"path": "b.shp"}},
                            "staff": {"areas_per_supervisor": 4, "minutes_per_dwelling": 12}})
    assert cfg.staff.areas_per_supervisor == 4 and cfg.staff.minutes_per_dwelling == 12
    with pytest.raises(ConfigError, match="minutes_per_household"):
        config_from_dict({"layers": {"buildings": {"path": "b.shp"}},
                          "staff": {"minutes_per_household": 3}})


def test_tour_and_group_count() -> None:
    from pucha.config import StaffSettings
    from pucha.partition.staff import n_groups, tour_length_m

    pts = np.array([[0, 0], [0, 100], [100, 100], [100, 0]], dtype=float)
    assert tour_length_m(pts) == pytest.approx(300.0)
    st = StaffSettings()
    for n in range(3, 200):
        k = n_groups(n, st)
        assert 3 * k <= n <= 7 * k, n  # a split into sizes 3..7 exists
    assert n_groups(533, st) == 107


def test_names_only_on_signature_lines_never_in_html(planned: Path, tmp_path: Path) -> None:
    """After `pucha staff assign`: the PDF signature lines carry the names and phones, the
    area and overview HTML maps never do (they show the group and the workload)."""
    from pucha.outputs.printmap import write_area_pdf
    from pucha.outputs.project import load_project
    from pucha.outputs.webmap import area_html, village_html

    path = _copy(planned, tmp_path)
    areas = read_layer(path, S.LAYER_AREAS)
    roster = _roster(tmp_path / "r.csv", areas["supervisor_group"].nunique(), len(areas))
    _run("staff", "assign", str(path), str(roster), "-o", str(tmp_path / "o"))
    staff = pd.DataFrame(read_layer(path, "staff"))
    secrets = list(staff["name"]) + list(staff["phone"])
    project = load_project(path)
    sup_area = areas[areas["supervisor_area"].astype(bool)].iloc[0]
    other = areas[~areas["supervisor_area"].astype(bool)].iloc[0]
    for code in (sup_area["area_code"], other["area_code"]):
        html = area_html(project, code)
        assert "指导区" in html and "工作量" in html
        assert not [s for s in secrets if s in html], code
    over = village_html(project, str(sup_area["village_code"]))
    assert "b15928" in over and not [s for s in secrets if s in over]  # groups drawn
    write_area_pdf(project, other["area_code"], tmp_path / "a.pdf")
    text = subprocess.run(["pdftotext", str(tmp_path / "a.pdf"), "-"], capture_output=True,
                          text=True, check=True).stdout
    who = staff[(staff["area_code"] == other["area_code"]) & (staff["role"] == "普查员")]
    boss = staff[(staff["group_code"] == other["supervisor_group"])
                 & (staff["role"] == "普查指导员")]
    assert who.iloc[0]["name"] in text and boss.iloc[0]["name"] in text
    assert who.iloc[0]["phone"] in text and "指导区" in text

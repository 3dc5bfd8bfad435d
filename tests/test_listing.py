"""摸底 listing import: schema, validation, conflicts, XLSX template, privacy.

The project is the partitioned demo (real ``pucha import`` + ``pucha partition``,
:mod:`fixture_listing`). Listing files are GeoJSON checked against the shipped
JSON Schema before use (the same contract the area map's export follows; the
browser test exports a real one) or XLSX templates written by the real writer
(``pucha listing template``).
"""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import jsonschema
import pytest
from click.testing import CliRunner

from fixture_listing import copy_project, listing_demo  # noqa: F401 (fixture)
from pucha.gis.write import read_layer
from pucha.partition.listing import listing_schema, mask_note, read_listing_file
from pucha.scripts.cli import cli


def _points(gpkg: Path, ids: list[str]) -> dict[str, tuple[float, float]]:
    b = read_layer(gpkg, "buildings")
    b = b[b["building_id"].isin(ids)]
    rp = gpd.GeoSeries(b.geometry.representative_point().values, crs=b.crs).to_crs(4326)
    return {bid: (round(p.x, 7), round(p.y, 7)) for bid, p in zip(b["building_id"], rp)}


def _feature(bid, code, xy, *, status="已核实", households=None, people=None, dwellings=None,
             floors=None, note=None, at="2026-10-15T10:00:00+08:00", device="devA0001"):
    return {"type": "Feature", "geometry": {"type": "Point", "coordinates": list(xy)},
            "properties": {"building_id": bid, "area_code": code, "status": status,
                           "dwellings": dwellings, "households": households, "people": people,
                           "floors": floors, "note": note, "recorded_at": at, "device": device}}


def _write(path: Path, features: list[dict], *, valid: bool = True) -> Path:
    doc = {"type": "FeatureCollection", "pucha_listing": 1, "features": features}
    if valid:
        jsonschema.validate(doc, listing_schema())
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    return path


def _whole_buildings(gpkg: Path, n: int, skip: int = 0) -> list[tuple[str, str]]:
    ba = read_layer(gpkg, "building_areas")
    counts = ba.groupby("building_id")["area_code"].transform("count")
    whole = ba[(counts == 1) & (ba["population"] > 20)].sort_values("building_id")
    return list(zip(whole["building_id"], whole["area_code"]))[skip:skip + n]


def test_mask_note():
    for note, secrets in (("户主张三 电话13812345678 身份证310101199001011234",
                           ("张三", "13812345678", "310101199001011234")),
                          ("3楼王先生不在家，座机021-63211234", ("王先生", "63211234")),
                          ("联系人：李四 (021)59731234", ("李四", "59731234"))):
        masked = mask_note(note)
        assert all(x not in masked for x in secrets), masked
    assert mask_note("北侧门进，共6层，24户") == "北侧门进，共6层，24户"
    assert mask_note(None) == ""


def test_schema_rejects_personal_fields():
    doc = {"type": "FeatureCollection", "features": [_feature("1", "3" * 15, (121.5, 31.2))]}
    jsonschema.validate(doc, listing_schema())
    doc["features"][0]["properties"]["name"] = "张三"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, listing_schema())


@pytest.mark.slow
def test_conflicts_and_rejections(listing_demo: Path, tmp_path: Path):  # noqa: F811
    gpkg = copy_project(listing_demo, tmp_path)
    (x, xc), (y, yc), (z, zc) = _whole_buildings(gpkg, 3)
    (w, wc), = _whole_buildings(gpkg, 1, skip=40)
    pts = _points(gpkg, [x, y, z, w])
    other = next(c for c in read_layer(gpkg, "areas")["area_code"] if c != xc)
    a = _write(tmp_path / "a.geojson", [
        _feature(x, xc, pts[x], households=40, people=100, at="2026-10-15T10:00:00+08:00"),
        _feature(y, yc, pts[y], households=10, people=25, at="2026-10-15T09:00:00+08:00"),
        _feature(z, zc, pts[z], status="拆除", at="2026-10-15T09:05:00+08:00"),
    ])
    b = _write(tmp_path / "b.geojson", [
        _feature(x, xc, pts[x], households=44, people=120, at="2026-10-15T03:30:00Z",
                 device="devB0002"),
        _feature(y, yc, pts[y], households=10, people=25, at="2026-10-16T09:00:00+08:00",
                 device="devB0002"),
        _feature(w, wc, pts[w], households=30, at="2026-10-16T09:10:00+08:00", device="devB0002"),
        _feature("no-such-building", xc, pts[x], people=5, device="devB0002"),
        _feature(x, other, pts[x], people=5, device="devB0002"),           # another area
        _feature(None, xc, (121.0, 31.0), status="在建", device="devB0002"),  # far away
        _feature(z, zc, pts[z], people=9000, households=900, device="devB0002"),
        _feature(y, yc, pts[y], people=310101199001011234, households=1,  # an ID typed as 人数
                 device="devB0002"),
    ])
    bad = _write(tmp_path / "bad.geojson", [
        _feature(x, xc, pts[x], people=-3, device="devC0003")], valid=False)
    before = read_layer(gpkg, "buildings").set_index("building_id")
    r = CliRunner().invoke(cli, ["listing", "import", str(gpkg), str(a), str(b), str(bad)])
    assert r.exit_code == 1, r.output  # records were rejected
    got = read_layer(gpkg, "buildings").set_index("building_id")
    # newest wins: devB's 11:30+08:00 record for x beats devA's 10:00+08:00
    assert got.loc[x, "population"] == 120 and got.loc[x, "pop_method"] == "listing"
    assert got.loc[x, "pop_estimate"] == before.loc[x, "population"]
    assert got.loc[y, "population"] == 25
    assert got.loc[z, "population"] == 0 and got.loc[z, "listing_status"] == "拆除"
    assert got.loc[w, "population"] == round(30 * 2.2)  # households x persons per household
    assert len(got) == len(before)  # the demolished building keeps its row; nothing new
    probs = read_layer(gpkg, "problems")
    lp = probs[probs["stage"] == "listing"]
    conflicts = lp[lp["code"] == "listing_conflict"]
    assert len(conflicts) == 1 and x in conflicts["message"].iloc[0]  # y agrees: no conflict
    reasons = " | ".join(lp.loc[lp["code"] == "listing_rejected", "message"])
    assert (lp["code"] == "listing_rejected").sum() == 6, reasons
    assert b"310101199001011234" not in gpkg.read_bytes()  # not in listing, not in problems
    for word in ("unknown building", "another area", "outside its area", "implausible",
                 "minimum"):
        assert word in reasons, word
    lst = read_layer(gpkg, "listing")
    assert len(lst) == 12 and set(lst["file"]) == {"a.geojson", "b.geojson", "bad.geojson"}
    assert set(lst["device"]) == {"devA0001", "devB0002", "devC0003"}
    # the same files again: nothing changes
    stamp = gpkg.stat().st_mtime_ns
    r = CliRunner().invoke(cli, ["listing", "import", str(gpkg), str(b), str(a)])
    assert r.exit_code == 0 and "nothing new" in r.output
    assert gpkg.stat().st_mtime_ns == stamp


@pytest.mark.slow
def test_xlsx_template_round_trip(listing_demo: Path, tmp_path: Path):  # noqa: F811
    import openpyxl

    gpkg = copy_project(listing_demo, tmp_path)
    village = sorted(read_layer(gpkg, "villages")["village_code"])[2]
    r = CliRunner().invoke(cli, ["listing", "template", str(gpkg), "-o", str(tmp_path / "t"),
                                 "--village", village])
    assert r.exit_code == 0, r.output
    xlsx = next((tmp_path / "t").glob(f"{village}_*_摸底表.xlsx"))
    wb = openpyxl.load_workbook(xlsx)
    ws = wb["摸底表"]
    rows = list(ws.iter_rows(min_row=3))
    ba = read_layer(gpkg, "building_areas")
    whole = set(ba.loc[~ba["building_id"].duplicated(keep=False), "building_id"])
    listed = [row for row in rows if row[2].value in whole][:3]
    assert [c.value for c in ws[2]][:6] == ["普查小区代码", "编号", "建筑ID", "名称/地址",
                                           "图上层数", "状态"]
    for row, (st, hh, pp) in zip(listed, (("已核实", 20, 48), ("空置", None, None),
                                          ("已核实", 15, None))):
        row[5].value, row[7].value, row[8].value = st, hh, pp
    listed[0][10].value = "户主李四 身份证310101199001011234"
    blank = next(row for row in rows if not row[2].value and row[0].value == listed[0][0].value)
    area = read_layer(gpkg, "areas").set_index("area_code").loc[listed[0][0].value]
    pt = gpd.GeoSeries([area.geometry.representative_point()], crs=read_layer(
        gpkg, "areas").crs).to_crs(4326).iloc[0]
    blank[5].value, blank[8].value, blank[9].value = "在建", 12, 5
    blank[11].value, blank[12].value = pt.x, pt.y
    wb.save(xlsx)
    recs, bad = read_listing_file(xlsx)
    assert bad == [] and len(recs) == 4
    # the same records as a listing file with the same values
    gj = _write(tmp_path / "same.geojson", [
        _feature(r_["building_id"], r_["area_code"], (r_["lon"], r_["lat"]),
                 **{k: r_[k] for k in ("status", "households", "people", "dwellings", "floors",
                                       "note")}, at=r_["recorded_at"], device=r_["device"])
        for r_ in recs])
    recs_gj, _ = read_listing_file(gj)
    strip = [{k: v for k, v in r_.items() if k not in ("file", "index")} for r_ in recs]
    assert strip == [{k: v for k, v in r_.items() if k not in ("file", "index")}
                     for r_ in recs_gj]
    r = CliRunner().invoke(cli, ["listing", "import", str(gpkg), str(xlsx)])
    assert r.exit_code == 0, r.output
    b = read_layer(gpkg, "buildings").set_index("building_id")
    ids = [row[2].value for row in listed]
    assert b.loc[ids[0], "population"] == 48 and b.loc[ids[1], "population"] == 0
    assert b.loc[ids[2], "population"] == round(15 * 2.2)
    new = b[b["estimate_method"] == "new"]
    assert len(new) == 1 and new["village_code"].iloc[0] == village
    assert b"310101199001011234" not in gpkg.read_bytes()
    # importing the GeoJSON twin changes nothing: same records
    stamp = gpkg.stat().st_mtime_ns
    r = CliRunner().invoke(cli, ["listing", "import", str(gpkg), str(gj)])
    assert r.exit_code == 0 and gpkg.stat().st_mtime_ns == stamp


@pytest.mark.slow
def test_cut_building_counted_in_one_area(listing_demo: Path, tmp_path: Path):  # noqa: F811
    """A tower cut by floors (纵向切割) counted by the enumerator of one of its areas: that
    area's part is replaced by the count, the other parts keep theirs; the report moves
    exactly that area."""
    gpkg = copy_project(listing_demo, tmp_path)
    ba = read_layer(gpkg, "building_areas")
    parts = ba.groupby("building_id")["area_code"].nunique()
    bid = sorted(parts[parts >= 2].index)[0]
    rows = ba[ba["building_id"] == bid]
    code = sorted(rows["area_code"])[0]
    part = int(rows.loc[rows["area_code"] == code, "population"].sum())
    total = int(read_layer(gpkg, "buildings").set_index("building_id").loc[bid, "population"])
    f = _write(tmp_path / "cut.geojson", [
        _feature(bid, code, _points(gpkg, [bid])[bid], households=20, people=part + 7)])
    r = CliRunner().invoke(cli, ["listing", "import", str(gpkg), str(f), "--report",
                                 str(tmp_path / "report.csv")])
    assert r.exit_code == 0, r.output
    b = read_layer(gpkg, "buildings").set_index("building_id")
    assert b.loc[bid, "population"] == total + 7 and b.loc[bid, "pop_estimate"] == total
    rep = (tmp_path / "report.csv").read_text(encoding="utf-8-sig").splitlines()
    moved = [ln for ln in rep[1:] if ln.split(",")[2] != ln.split(",")[3]]
    assert len(moved) == 1 and moved[0].startswith(code)
    before, after = (int(x) for x in moved[0].split(",")[2:4])
    assert after - before == 7

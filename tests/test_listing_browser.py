"""摸底 end to end in a REAL headless Chromium, all network blocked (issue 18's must-show).

On the partitioned demo (real OSM buildings): open one area map from file://,
switch to 摸底, record five buildings (one note holds an ID and a phone number)
and add one new building, reload (the records are still there), export the file
(a download); ``pucha listing import`` takes it; the buildings carry the counts;
the report shows the change; ``pucha partition`` re-solves that 居/村 only and
every other area keeps its code; the ID number typed into the note reaches no
output (GeoPackage, maps, registers).
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import geopandas as gpd
import pytest
from click.testing import CliRunner

from fixture_listing import SETTINGS, copy_project, listing_demo  # noqa: F401 (fixture)
from pucha.gis.write import read_layer
from pucha.outputs.pack import make_pack
from pucha.partition import run
from pucha.scripts.cli import cli

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run", "--disable-sync"]
ID_NUMBER = "310101199001011234"
PHONE = "13812345678"


def _playwright():
    try:
        import playwright.sync_api
    except ImportError:  # a browser test must not pass silently without a browser
        pytest.fail("playwright missing: pip install -e '.[test]'")
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} missing: apt-get install chromium")
    return playwright.sync_api


def _pick_area(gpkg: Path) -> tuple[str, str]:
    """An area with at least 6 populated buildings (first by code)."""
    ba = read_layer(gpkg, "building_areas")
    ba = ba[ba["population"] > 0]
    n = ba.groupby("area_code")["building_id"].nunique()
    code = sorted(n[n >= 6].index)[0]
    return code, code[:12]


def _free_point(gpkg: Path, code: str):
    """A WGS84 point inside the area away from every building (a tap on open ground)."""
    areas = read_layer(gpkg, "areas")
    b = read_layer(gpkg, "buildings")
    geom = areas.loc[areas["area_code"] == code].geometry.iloc[0]
    for gap in (12.0, 6.0, 3.0, 0.5):  # the largest gap this area leaves
        free = geom.buffer(-gap).difference(b.geometry.buffer(gap).union_all())
        if not free.is_empty:
            break
    pt = free.representative_point()
    return gpd.GeoSeries([pt], crs=areas.crs).to_crs(4326).iloc[0]


def _all_text(folder: Path) -> str:
    out = []
    for p in sorted(folder.rglob("*")):
        if p.is_file() and p.suffix in (".html", ".csv", ".txt", ".json", ".geojson"):
            out.append(p.read_text(encoding="utf-8", errors="replace"))
        elif p.is_file() and p.suffix == ".xlsx":
            import zipfile

            with zipfile.ZipFile(p) as z:
                out.extend(z.read(n).decode("utf-8", "replace") for n in z.namelist())
    return "\n".join(out)


def test_listing_field_loop(listing_demo: Path, tmp_path: Path):  # noqa: F811
    sync_api = _playwright()
    gpkg = copy_project(listing_demo, tmp_path)
    code, village = _pick_area(gpkg)
    res = make_pack(gpkg, tmp_path / "maps", jobs=1, progress=False, pdf=False,
                    only_village=village)
    html = next(p for p in res.html if p.name == f"{code}.html")
    free = _free_point(gpkg, code)
    blocked: list[str] = []
    errors: list[str] = []
    export = tmp_path / "hand-in"
    export.mkdir()
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            ctx = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True,
                                      has_touch=True, accept_downloads=True)
            ctx.route(re.compile(r"^(?!file:|data:|blob:)"),
                      lambda r: (blocked.append(r.request.url), r.abort()))
            page = ctx.new_page()
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(html.as_uri())
            page.wait_for_selector(".pucha-num", timeout=15000)
            page.tap("#pucha-listing")
            page.wait_for_selector(".pucha-hit")
            assert "不登记姓名、身份证号、电话号码" in page.inner_text("#pucha-form")
            for n in range(1, 6):
                page.evaluate("n => window[PUCHA_AREA.map].setView([PUCHA_AREA.buildings"
                              ".find(b => b.n === n).y, PUCHA_AREA.buildings.find(b => b.n === n)"
                              ".x], 19)", n)
                page.wait_for_timeout(150)
                page.locator(f'.pucha-hit[data-n="{n}"]').tap()
                page.wait_for_selector("#pucha-form.open")
                page.check('#pucha-form input[name=status][value="已核实"]')
                page.fill("#pucha-f-dwellings", "60")
                page.fill("#pucha-f-households", "58")
                page.fill("#pucha-f-people", "150")
                if n == 1:
                    page.fill("#pucha-f-note", f"户主身份证{ID_NUMBER} 电话{PHONE} 3楼空")
                page.click("#pucha-form button[type=submit]")
                page.wait_for_selector("#pucha-form.open", state="hidden")
            assert "已走访 5/" in page.inner_text("#pucha-prog")
            # a building missing from the map: tap "新增建筑", then the ground where it stands
            page.tap("#pucha-add")
            xy = page.evaluate("ll => { var m = window[PUCHA_AREA.map]; m.setView(ll, 19);"
                               " var p = m.latLngToContainerPoint(ll); return [p.x, p.y]; }",
                               [free.y, free.x])
            page.wait_for_timeout(300)
            xy = page.evaluate("ll => { var p = window[PUCHA_AREA.map]"
                               ".latLngToContainerPoint(ll); return [p.x, p.y]; }",
                               [free.y, free.x])
            page.mouse.click(xy[0], xy[1])
            page.wait_for_selector("#pucha-form.open")
            assert "新增建筑" in page.inner_text("#pucha-form-title")
            page.check('#pucha-form input[name=status][value="在建"]')
            page.fill("#pucha-f-households", "12")
            page.fill("#pucha-f-people", "30")
            page.fill("#pucha-f-floors", "6")
            page.click("#pucha-form button[type=submit]")
            # reload: everything is still there (localStorage)
            page.reload()
            page.wait_for_selector(".pucha-num")
            page.tap("#pucha-listing")
            prog = page.inner_text("#pucha-prog")
            assert "已走访 5/" in prog and "新增 1 栋" in prog, prog
            assert page.locator(".pucha-hit.done").count() == 5
            assert page.locator(".pucha-hit.new").count() == 1
            with page.expect_download() as dl:
                page.tap("#pucha-export")
            name = dl.value.suggested_filename
            assert re.fullmatch(rf"{code}_\d{{8}}-\d{{6}}\.geojson", name), name
            listing_file = export / name
            dl.value.save_as(listing_file)
            assert errors == []
        finally:
            browser.close()
    assert blocked == []
    doc = json.loads(listing_file.read_text(encoding="utf-8"))
    assert len(doc["features"]) == 6
    props = [f["properties"] for f in doc["features"]]
    assert sum(p["building_id"] is None for p in props) == 1
    assert all(re.search(r"[+-]\d\d:\d\d$", p["recorded_at"]) for p in props)
    assert len({p["device"] for p in props}) == 1

    # the 人普办 imports the file
    before = read_layer(gpkg, "buildings")
    old_pop = dict(zip(before["building_id"], before["population"]))
    r = CliRunner().invoke(cli, ["listing", "import", str(gpkg), str(listing_file)])
    assert r.exit_code == 0, r.output
    assert code in r.output and "超出范围" in r.output  # the report shows the change
    b = read_layer(gpkg, "buildings")
    listed = [p["building_id"] for p in props if p["building_id"]]
    got = b.set_index("building_id")
    for bid in listed:
        assert got.loc[bid, "population"] == 150
        assert got.loc[bid, "pop_method"] == "listing"
        assert got.loc[bid, "pop_estimate"] == old_pop[bid]
    new = b[b["estimate_method"] == "new"]
    assert len(new) == 1 and new["village_code"].iloc[0] == village
    assert int(new["population"].iloc[0]) == 30
    assert int(b["population"].sum()) == int(before["population"].sum()) + 30 + sum(
        150 - old_pop[x] for x in listed)
    # the same file again changes nothing
    stamp = gpkg.stat().st_mtime_ns
    r2 = CliRunner().invoke(cli, ["listing", "import", str(gpkg), str(listing_file)])
    assert r2.exit_code == 0 and gpkg.stat().st_mtime_ns == stamp

    # re-plan: only that 居/村 is re-solved; every other area keeps its code and buildings
    old_ba = read_layer(gpkg, "building_areas")
    old_members = {c: frozenset(g["building_id"]) for c, g in old_ba.groupby("area_code")}
    run.partition_project(gpkg, settings=SETTINGS, jobs=1, progress=False)
    new_ba = read_layer(gpkg, "building_areas")
    new_members = {c: frozenset(g["building_id"]) for c, g in new_ba.groupby("area_code")}
    changed_villages = {c[:12] for c in set(old_members) | set(new_members)
                        if old_members.get(c) != new_members.get(c)}
    assert changed_villages == {village}, changed_villages
    for c in old_members:
        if not c.startswith(village):
            assert new_members[c] == old_members[c]
    areas = read_layer(gpkg, "areas")
    v_areas = areas[areas["village_code"] == village]
    assert v_areas["population"].between(240, 360).all()
    assert new_ba.loc[new_ba["building_id"].isin(listed)].groupby(
        "building_id")["population"].sum().eq(150).all()

    # pucha diff names the reason
    r = CliRunner().invoke(cli, ["diff", str(gpkg), "--from", "1", "-o", str(tmp_path / "diff"),
                                 "--no-map"])
    assert r.exit_code == 0, r.output
    assert "(listing)" in r.output
    diff_csv = (tmp_path / "diff" / "diff-areas.csv").read_text(encoding="utf-8-sig")
    assert ",listing" in diff_csv

    # privacy: the ID and phone typed into the note reach no output
    maps = tmp_path / "maps2"
    make_pack(gpkg, maps, jobs=1, progress=False, pdf=False, only_village=village)
    raw = gpkg.read_bytes()
    lst = read_layer(gpkg, "listing")
    assert lst["note"].str.contains("3楼空").any()  # the note is kept, masked
    for secret in (ID_NUMBER, PHONE):
        assert secret.encode() not in raw
        assert secret not in _all_text(maps)
        assert secret not in _all_text(tmp_path / "diff")
    shutil.rmtree(maps)

"""More corpus cases: the defects of issue 15 ("nothing lost, nothing leaked, nothing
overwritten"), one generator each, registered into make_corpus.CASES by
:func:`register` (expected outcomes in cases.toml, section "issue 15").

Same base project as make_corpus.py (4 居/村 x 9 buildings x 34 people, EPSG:4549
origin X0, Y0 near 盈浦街道); coordinates below are in EPSG:4549 metres.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
from shapely.geometry import MultiPolygon, Polygon, box

ID18 = "310118199001011231"      # a valid 公民身份号码 (check digit 1)
ID15 = "310118900101123"         # an old 15-digit one (born 1990-01-01)
MOBILE = "13812345678"
LANDLINE = "021-59731234"
HOLDER = "张三丰"


def register(m: ModuleType) -> None:  # noqa: C901 - one small generator per case
    case, Case = m.case, m.Case
    X0, Y0, SIDE, WORK_CRS = m.X0, m.Y0, m.SIDE, m.WORK_CRS
    _set, _metric_geom, _origin = m._set, m._metric_geom, m._origin
    _write_shp, _write_gpkg, _csv_buildings = m._write_shp, m._write_gpkg, m._csv_buildings

    def as_shp(c: Case, kind: str = "buildings", *, encoding: str = "UTF-8",
               cpg: Any = "keep", crs: str | None = None) -> None:
        c.custom.add(kind)
        c.files[kind] = f"{kind}.shp"
        c.folder.mkdir(parents=True, exist_ok=True)
        frame = c.frames[kind].to_crs(crs or WORK_CRS)
        _write_shp(frame, c.path(kind), encoding=encoding, cpg=cpg)

    def as_gpkg(c: Case, kind: str, frame: gpd.GeoDataFrame | None = None) -> None:
        c.custom.add(kind)
        c.files[kind] = f"{kind}.gpkg"
        c.layer_opts[kind].update({"layer": kind})
        c.folder.mkdir(parents=True, exist_ok=True)
        _write_gpkg(c.frames[kind] if frame is None else frame, c.path(kind), kind)

    def add_building(c: Case, bid: str, geom: Any, **attrs: Any) -> None:
        g = gpd.GeoSeries([geom], crs=WORK_CRS).to_crs("EPSG:4326").iloc[0]
        row = {"id": bid, "name": f"{bid}号楼", "use": "住宅", "floors": 6,
               "population": 34, **attrs, "geometry": g}
        c.b = gpd.GeoDataFrame(pd.concat([c.b, gpd.GeoDataFrame([row], crs="EPSG:4326")],
                                         ignore_index=True), crs="EPSG:4326")

    def totals(c: Case, rows: list[tuple[str, int]], *, encoding: str = "utf-8",
               sep: str = ",", bom: bool = False) -> None:
        c.toml["population"] = {"method": "totals", "totals": "totals.csv"}
        c.folder.mkdir(parents=True, exist_ok=True)
        text = sep.join(["居委会代码", "人口"]) + "\r\n" + "".join(
            f"{code}{sep}{n}\r\n" for code, n in rows)
        data = text.encode(encoding)
        (c.folder / "totals.csv").write_bytes((b"\xef\xbb\xbf" if bom else b"") + data)

    all_totals = [(code, 306) for code, _n, _p in m.VILLAGES]

    # ------------------------------------------------------------- 1. never overwrite
    @case("overwrite_o_is_buildings")
    def _ow1(c: Case) -> None:
        """pucha import ... -o buildings.geojson: the output names the buildings source."""

    @case("overwrite_gpkg_is_source")
    def _ow2(c: Case) -> None:
        """[project].gpkg names the buildings GeoPackage itself."""
        as_gpkg(c, "buildings")
        c.toml["project"]["gpkg"] = "buildings.gpkg"

    @case("overwrite_o_is_shp_sidecar")
    def _ow3(c: Case) -> None:
        """-o buildings.dbf: a sidecar of the buildings shapefile."""
        as_shp(c)

    @case("overwrite_o_is_toml")
    def _ow4(c: Case) -> None:
        """-o project.toml: the project file itself."""

    @case("overwrite_o_is_totals")
    def _ow5(c: Case) -> None:
        """-o totals.csv: the population totals."""
        totals(c, all_totals)

    @case("overwrite_o_is_villages_gpkg")
    def _ow6(c: Case) -> None:
        """[project].gpkg = villages.gpkg (the 居/村 GeoPackage), through a ./ path."""
        as_gpkg(c, "villages")
        c.toml["project"]["gpkg"] = "./sub/../villages.gpkg"

    @case("overwrite_gpkg_is_shp_prj")
    def _ow7(c: Case) -> None:
        """[project].gpkg = buildings.prj (any sidecar counts)."""
        as_shp(c)
        c.toml["project"]["gpkg"] = "buildings.prj"

    # ------------------------------------------------------------- 2. exit status
    @case("prj_says_utm51_data_4549")
    def _prj_lies(c: Case) -> None:
        """A shapefile in EPSG:4549 whose .prj says UTM 51N (the issue's 1,224 people)."""
        as_shp(c)
        import pyproj
        c.path("buildings").with_suffix(".prj").write_text(
            pyproj.CRS.from_epsg(32651).to_wkt("WKT1_ESRI"), encoding="ascii")

    @case("villages_degrees_labelled_webmercator")
    def _vill_3857(c: Case) -> None:
        """居/村 in degrees written into a GeoPackage labelled EPSG:3857."""
        v = c.frames["villages"].to_crs("EPSG:4326").set_crs("EPSG:3857", allow_override=True)
        as_gpkg(c, "villages", v)

    @case("all_buildings_just_outside")
    def _all_out(c: Case) -> None:
        """Every building 1.2 km east of the township (a false easting slip): all dropped."""
        from shapely import affinity
        g = c.b.to_crs(WORK_CRS).geometry.map(lambda p: affinity.translate(p, 1200, 0))
        c.b = c.b.set_geometry(gpd.GeoSeries(g, crs=WORK_CRS).to_crs("EPSG:4326"))

    @case("population_mapped_to_text_column")
    def _pop_text(c: Case) -> None:
        """population = "name": a text column (庆华1号楼 ...)."""
        c.layer_opts["buildings"]["fields"]["population"] = "name"

    @case("no_population_like_osm")
    def _pop_none(c: Case) -> None:
        """An OSM-like layer: no population column, method given (the default)."""
        c.b = c.b.drop(columns=["population"])
        del c.layer_opts["buildings"]["fields"]["population"]

    @case("dropped_building_carries_people")
    def _drop_people(c: Case) -> None:
        """JZ0012 (34 people) outside every 居/村: its row says so; in 1224, out 1190."""
        x, y = X0 + 2 * SIDE + 200, Y0 + 100
        _metric_geom(c, "JZ0012", box(x, y, x + 20, y + 12))

    @case("dropped_empty_carries_people")
    def _drop_empty(c: Case) -> None:
        """JZ0009 (34 people) has no geometry: its drop row carries its people."""
        c.b.loc[c.b["id"] == "JZ0009", "geometry"] = None

    @case("totals_incomplete")
    def _tot_missing(c: Case) -> None:
        """The totals CSV lacks 003 and 004: an error, not 0 people silently."""
        totals(c, all_totals[:2])

    @case("totals_extra_village")
    def _tot_extra(c: Case) -> None:
        """The totals CSV gives people to a 居/村 that is not in the project."""
        totals(c, all_totals + [("310118002099", 50)])

    # ------------------------------------------------------------- 3. CRS sanity
    @case("bad_vertex_1e308")
    def _v1e308(c: Case) -> None:
        """One vertex of JZ0004 is 1e308 (a damaged record)."""
        b = c.b
        i = b.index[b["id"] == "JZ0004"][0]
        g = b.loc[i, "geometry"]
        pts = list(g.exterior.coords)[:-1]
        pts[1] = (1e308, pts[1][1])
        b.loc[i, "geometry"] = Polygon(pts)

    @case("bad_vertex_metres_in_degrees")
    def _vmetres(c: Case) -> None:
        """JZ0020 typed in metres (604000, 3448000) in a layer of degrees."""
        b = c.b
        i = b.index[b["id"] == "JZ0020"][0]
        b.loc[i, "geometry"] = box(X0, Y0, X0 + 20, Y0 + 12)

    @case("crs_key_gcj02_text")
    def _crs_gcj(c: Case) -> None:
        """GCJ-02 buildings declared with crs = "GCJ-02" (not gcj02 = true)."""
        m.CASES["gcj02_as_wgs84"](c)
        c.layer_opts["buildings"].update({"crs": "GCJ-02"})

    @case("project_crs_gcj02")
    def _pcrs_gcj(c: Case) -> None:
        """[project].crs = "GCJ-02": the working CRS must be metric; name the right key."""
        c.toml["project"]["crs"] = "GCJ-02"

    @case("roads_50km_away")
    def _roads_far(c: Case) -> None:
        """The roads layer in EPSG:4549 labelled EPSG:4547 (CM 114E): 580 km west."""
        r = c.frames["roads"].to_crs(WORK_CRS).set_crs("EPSG:4547", allow_override=True)
        as_gpkg(c, "roads", r)

    @case("buildings_labelled_utm50")
    def _utm50(c: Case) -> None:
        """Buildings in EPSG:4549 labelled UTM 50N: the message names EPSG:4549."""
        b = c.b.to_crs(WORK_CRS).set_crs("EPSG:32650", allow_override=True)
        as_gpkg(c, "buildings", b)

    @case("villages_shifted_10km")
    def _v10(c: Case) -> None:
        """The 居/村 drawn 10 km north of the township (a false northing slip)."""
        from shapely import affinity
        v = c.frames["villages"].to_crs(WORK_CRS)
        v = v.set_geometry(v.geometry.map(lambda p: affinity.translate(p, 0, 10_000)))
        as_gpkg(c, "villages", v)

    # ------------------------------------------------------------- 4. privacy
    @case("privacy_address_text")
    def _p_addr(c: Case) -> None:
        """An address holding a householder, an ID number and a mobile number."""
        c.b["address"] = ""
        c.layer_opts["buildings"]["fields"]["address"] = "address"
        _set(c, "JZ0001", address=f"城中路1号 户主{HOLDER} 身份证{ID18} 电话{MOBILE}")

    @case("privacy_mapped_name_column")
    def _p_mapped(c: Case) -> None:
        """fields name = "户主姓名": mapping does not bypass the column check."""
        c.b["户主姓名"] = [f"李{i}华" for i in range(len(c.b))]
        c.layer_opts["buildings"]["fields"]["name"] = "户主姓名"

    @case("privacy_pinyin_columns")
    def _p_pinyin(c: Case) -> None:
        """A register with xm / sfzh / lxdh / hzxm columns (pinyin initials)."""
        n = len(c.b)
        _csv_buildings(c, extra={"xm": [f"王{i}明" for i in range(n)],
                                 "sfzh": [ID18] * n, "lxdh": [MOBILE] * n,
                                 "hzxm": [HOLDER] * n})

    @case("privacy_landline_in_name")
    def _p_land(c: Case) -> None:
        """A building name with a landline: 张家宅 电话021-59731234."""
        _set(c, "JZ0002", name=f"张家宅 电话{LANDLINE}")

    @case("privacy_id15_in_use")
    def _p_id15(c: Case) -> None:
        """An old 15-digit ID number typed into the use field."""
        _set(c, "JZ0003", use=f"住宅 {ID15}")

    @case("privacy_village_name_phone")
    def _p_vill(c: Case) -> None:
        """A 居/村 name with the contact person and a phone (联系人王五 13912345678)."""
        v = c.frames["villages"]
        v.loc[v["code"] == "310118002002", "name"] = "庆新社区居委会 联系人王五 13912345678"

    @case("privacy_no_false_alarm")
    def _p_none(c: Case) -> None:
        """Codes and numbers that are no personal data: nothing masked, no row."""
        _set(c, "JZ0004", name="居民楼310118002001号")
        _set(c, "JZ0005", name="户主信息登记点")
        _set(c, "JZ0006", name="1号楼 2单元 1201室")

    @case("privacy_mapped_address_column")
    def _p_addr2(c: Case) -> None:
        """address mapped to 联系方式 (a contact column): dropped, and said so."""
        c.b["联系方式"] = [MOBILE] * len(c.b)
        c.layer_opts["buildings"]["fields"]["address"] = "联系方式"

    # ------------------------------------------------------------- 5/6. overlaps, values
    @case("duplicate_footprint_two_ids")
    def _dup_fp(c: Case) -> None:
        """JZ0037 has the same footprint as JZ0001 (two offices' exports merged)."""
        x, y = _origin(c, "JZ0001")
        add_building(c, "JZ0037", box(x, y, x + 20, y + 12))

    @case("near_duplicate_footprint")
    def _near_dup(c: Case) -> None:
        """JZ0038 is JZ0010's footprint shifted 0.5 m (digitised twice)."""
        x, y = _origin(c, "JZ0010")
        add_building(c, "JZ0038", box(x + 0.5, y, x + 20.5, y + 12))

    @case("osm_building_part_inside_outline")
    def _part(c: Case) -> None:
        """A building:part (tower) drawn inside JZ0002's outline, no population."""
        x, y = _origin(c, "JZ0002")
        add_building(c, "P0001", box(x + 2, y + 2, x + 10, y + 10), population=None)

    @case("part_carries_the_people")
    def _part_pop(c: Case) -> None:
        """The part holds the people, the outline none: the people move to the outline."""
        x, y = _origin(c, "JZ0011")
        _set(c, "JZ0011", population=None)
        add_building(c, "P0002", box(x + 2, y + 2, x + 10, y + 10), population=34)

    @case("tiny_footprint")
    def _tiny(c: Case) -> None:
        """JZ0010 is 0.5 m x 0.5 m (a point drawn as a polygon)."""
        x, y = _origin(c, "JZ0010")
        _metric_geom(c, "JZ0010", box(x, y, x + 0.5, y + 0.5))

    @case("footprint_covers_village")
    def _cover(c: Case) -> None:
        """A 'building' B9999 covering the whole of 城北 (003): the 居/村 polygon pasted in."""
        x, y = X0, Y0 + SIDE
        add_building(c, "B9999", box(x + 1, y + 1, x + SIDE - 1, y + SIDE - 1),
                     population=None)

    @case("blank_building_id")
    def _blank(c: Case) -> None:
        _set(c, "JZ0005", id="")

    @case("null_building_id")
    def _nullid(c: Case) -> None:
        _set(c, "JZ0006", id=None)

    @case("village_code_contradicts_location")
    def _contra(c: Case) -> None:
        """A village_code attribute on the buildings; JZ0001's says 004 but it lies in 001."""
        c.b["vcode"] = ""
        for code, _n, (cx, cy) in m.VILLAGES:
            k = m.VILLAGES.index((code, _n, (cx, cy)))
            ids = [m._bid(i) for i in range(9 * k + 1, 9 * k + 10)]
            c.b.loc[c.b["id"].isin(ids), "vcode"] = code
        _set(c, "JZ0001", vcode="310118002004")
        c.layer_opts["buildings"]["fields"]["village_code"] = "vcode"

    @case("township_two_townships")
    def _tw2(c: Case) -> None:
        """The township layer also holds 香花桥街道 (another code): merged, an error."""
        t = c.frames["township"].to_crs(WORK_CRS)
        extra = gpd.GeoDataFrame([{"code": "310118003", "name": "香花桥街道",
                                   "geometry": box(X0 + 2 * SIDE, Y0, X0 + 3 * SIDE, Y0 + 300)}],
                                 crs=WORK_CRS)
        c.frames["township"] = pd.concat([t, extra], ignore_index=True).to_crs("EPSG:4326")

    @case("township_two_pieces")
    def _tw_pieces(c: Case) -> None:
        """The township in two features of the same code (an island): merged, info."""
        t = c.frames["township"].to_crs(WORK_CRS)
        a = box(X0, Y0, X0 + 2 * SIDE, Y0 + SIDE)
        b = box(X0, Y0 + SIDE, X0 + 2 * SIDE, Y0 + 2 * SIDE)
        t = gpd.GeoDataFrame([{"code": m.TOWNSHIP_CODE, "name": m.TOWNSHIP_NAME, "geometry": a},
                              {"code": m.TOWNSHIP_CODE, "name": m.TOWNSHIP_NAME, "geometry": b}],
                             crs=WORK_CRS)
        c.frames["township"] = t.to_crs("EPSG:4326")

    @case("population_50000")
    def _p50k(c: Case) -> None:
        """JZ0024 population 50,000 (the 居/村 total typed into one building)."""
        _set(c, "JZ0024", population=50000)

    @case("population_20001_text")
    def _p20k(c: Case) -> None:
        _set(c, "JZ0025", population="20001")

    @case("empty_village_name")
    def _vname(c: Case) -> None:
        v = c.frames["villages"]
        v.loc[v["code"] == "310118002003", "name"] = ""

    @case("code_11_digits_text")
    def _code11(c: Case) -> None:
        """An 11-digit TEXT code (a digit forgotten): too short, not 'lost leading zeros'."""
        v = c.frames["villages"]
        v.loc[v["code"] == "310118002004", "code"] = "31011800204"

    # ------------------------------------------------------------- 7. multi-part
    @case("osm_multipolygon_two_parts")
    def _mp(c: Case) -> None:
        """JZ0014 a multipolygon of two wings 20 m apart, 35 people given."""
        x, y = _origin(c, "JZ0014")
        _metric_geom(c, "JZ0014", MultiPolygon([box(x, y, x + 20, y + 12),
                                                box(x, y + 30, x + 10, y + 42)]))
        _set(c, "JZ0014", population=35)

    @case("bowtie_with_population")
    def _bow2(c: Case) -> None:
        """JZ0015 a bow-tie (CAD export) with 35 people: repaired into two triangles."""
        x, y = _origin(c, "JZ0015")
        _metric_geom(c, "JZ0015", Polygon([(x, y), (x + 20, y + 12), (x + 20, y),
                                           (x, y + 12)]))
        _set(c, "JZ0015", population=35)

    # ------------------------------------------------------------- 8. encodings
    @case("shp_big5_no_cpg")
    def _big5(c: Case) -> None:
        """Traditional names (慶華1號樓) in Big5, no .cpg: decoded as Big5, not GB18030."""
        b = c.b
        b["name"] = [n.replace("庆华", "慶華").replace("庆新", "慶新").replace("龙威", "龍威")
                     .replace("号楼", "號樓") for n in b["name"]]
        v = c.frames["villages"]
        v["name"] = (v["name"].str.replace("庆华", "慶華").str.replace("庆新", "慶新")
                     .str.replace("龙威", "龍威").str.replace("社区", "社區")
                     .str.replace("居委会", "居委會"))
        for kind in ("villages", "buildings"):
            as_shp(c, kind, encoding="BIG5", cpg=None)

    @case("geojson_gbk")
    def _gj_gbk(c: Case) -> None:
        """A GeoJSON saved in GBK (not UTF-8, as GeoJSON must be)."""
        c.custom.add("villages")
        c.folder.mkdir(parents=True, exist_ok=True)
        m._write_geojson(c.frames["villages"], c.path("villages"))
        p = c.path("villages")
        p.write_bytes(p.read_text(encoding="utf-8").encode("gbk"))

    @case("totals_utf16_tab")
    def _tot16(c: Case) -> None:
        """Excel 'Unicode text': UTF-16 with BOM, tab-separated totals."""
        totals(c, all_totals, encoding="utf-16", sep="\t")

    @case("totals_gbk")
    def _totgbk(c: Case) -> None:
        totals(c, all_totals, encoding="gbk")

    @case("csv_big5")
    def _csvbig5(c: Case) -> None:
        """A CSV of buildings in Big5 with a Traditional header (建築名稱)."""
        c.b["name"] = [n.replace("庆华", "慶華").replace("庆新", "慶新").replace("龙威", "龍威")
                       .replace("号楼", "號樓") for n in c.b["name"]]
        _csv_buildings(c, columns={"name": "建築名稱"}, encoding="big5")

    @case("csv_utf16_tab_buildings")
    def _csv16(c: Case) -> None:
        """Buildings as Excel 'Unicode text' (UTF-16, tabs) with a WKT column."""
        _csv_buildings(c)
        p = c.path("buildings")
        import csv
        import io
        rows = list(csv.reader(io.StringIO(p.read_bytes().decode("utf-8"))))
        text = "\r\n".join("\t".join(r) for r in rows) + "\r\n"
        p.write_bytes(text.encode("utf-16"))

    # ------------------------------------------------------------- 9. messages
    @case("fields_is_a_string")
    def _f_str(c: Case) -> None:
        c.layer_opts["buildings"]["fields"] = "id"

    @case("fields_value_not_text")
    def _f_int(c: Case) -> None:
        c.layer_opts["buildings"]["fields"]["id"] = 1

    @case("default_floors_text")
    def _df_text(c: Case) -> None:
        c.toml["population"] = {"default_floors": "three"}

    @case("values_is_a_string")
    def _v_str(c: Case) -> None:
        c.layer_opts["buildings"]["values"] = "住宅"

    @case("where_leaves_nothing")
    def _where0(c: Case) -> None:
        as_gpkg(c, "buildings")
        c.layer_opts["buildings"]["where"] = "id = 'nothing'"

    @case("empty_buildings_layer")
    def _empty_layer(c: Case) -> None:
        """A buildings GeoPackage layer with 0 features (an export with a filter left on)."""
        as_gpkg(c, "buildings", c.b.iloc[0:0])

    @case("partition_target_zero")
    def _t0(c: Case) -> None:
        c.toml["partition"] = {"target": 0}

    @case("partition_jobs_zero")
    def _j0(c: Case) -> None:
        c.toml["partition"] = {"jobs": 0}

    @case("partition_time_limit_negative")
    def _tl(c: Case) -> None:
        c.toml["partition"] = {"time_limit_s": -5}

    @case("partition_households_target_zero")
    def _ht(c: Case) -> None:
        c.toml["partition"] = {"households_target": 0}

    @case("partition_min_above_max")
    def _mm(c: Case) -> None:
        c.toml["partition"] = {"min": 400, "max": 360}

    @case("persons_per_household_zero")
    def _pph(c: Case) -> None:
        c.toml["population"] = {"persons_per_household": 0}

    @case("population_method_typo")
    def _meth(c: Case) -> None:
        c.toml["population"] = {"method": "total"}

    @case("gcj02_flag_text")
    def _gflag(c: Case) -> None:
        """gcj02 = "yes" (text, not true)."""
        c.layer_opts["buildings"]["gcj02"] = "yes"


__all__ = ["register", "ID18", "ID15", "MOBILE", "LANDLINE", "HOLDER"]
_ = (np,)

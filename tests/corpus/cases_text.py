"""Corpus cases moved out of make_corpus.py (which stays < 800 lines): hostile text,
personal-data columns and the 100,000-building 居/村. Registered by :func:`register`."""

from __future__ import annotations

from types import ModuleType

import geopandas as gpd
import numpy as np
import pandas as pd


def register(m: ModuleType) -> None:
    case, Case, _set, _csv_buildings = m.case, m.Case, m._set, m._csv_buildings
    _to_metric, _bid, _write_gpkg = m._to_metric, m._bid, m._write_gpkg
    X0, Y0, SIDE, WORK_CRS = m.X0, m.Y0, m.SIDE, m.WORK_CRS

    # --------------------------------------------------------------------------- hostile text
    @case("name_script_tag")
    def _script(c: Case) -> None:
        v = c.frames["villages"]
        v.loc[v["code"] == "310118002001", "name"] = '</script><script>alert("pucha")</script>居委会'
        _set(c, "JZ0001", name="<img src=x onerror=alert(1)>")

    @case("name_path_traversal")
    def _traversal(c: Case) -> None:
        v = c.frames["villages"]
        v.loc[v["code"] == "310118002002", "name"] = "../../etc/passwd"
        v.loc[v["code"] == "310118002003", "name"] = "/tmp/城北\\居委会"

    @case("name_newlines")
    def _newlines(c: Case) -> None:
        v = c.frames["villages"]
        v.loc[v["code"] == "310118002003", "name"] = "城北社区\n居委会\r\n第二行"

    @case("name_emoji")
    def _emoji(c: Case) -> None:
        v = c.frames["villages"]
        v.loc[v["code"] == "310118002004", "name"] = "龙威🏠社区居委会👍"
        _set(c, "JZ0030", name="阳光🌞小区1号楼")

    @case("name_extremely_long")
    def _long(c: Case) -> None:
        v = c.frames["villages"]
        v.loc[v["code"] == "310118002004", "name"] = "龙威" * 5000 + "居委会"

    # --------------------------------------------------------------------------- privacy
    @case("resident_personal_columns")
    def _personal(c: Case) -> None:
        """A CSV register with 姓名 / 身份证号 / 联系电话 columns beside the building data."""
        n = len(c.b)
        _csv_buildings(c, extra={
            "姓名": [f"张三丰{i:02d}" for i in range(n)],
            "身份证号": [f"31011819800101{i:04d}" for i in range(n)],
            "联系电话": [f"1391234{i:04d}" for i in range(n)],
        })

    # --------------------------------------------------------------------------- size
    @case("big_village_100k")
    def _big(c: Case) -> None:
        """100,000 small buildings in one 居/村 (庆华 001), 3 people each (slow set)."""
        _to_metric(c)
        b = c.b
        keep = b[~b["id"].isin({_bid(i) for i in range(1, 10)})]
        n_side = 317  # 317 x 317 = 100,489 >= 100,000, 0.9 m pitch in a 300 m square
        step = SIDE / n_side
        xs, ys = np.meshgrid(np.arange(n_side), np.arange(n_side))
        xs, ys = xs.ravel()[:100_000], ys.ravel()[:100_000]
        import shapely
        geoms = shapely.box(X0 + xs * step + 0.1, Y0 + ys * step + 0.1,
                            X0 + xs * step + step * 0.8, Y0 + ys * step + step * 0.8)
        big = gpd.GeoDataFrame({"id": [f"BIG{i:06d}" for i in range(100_000)], "name": "",
                                "use": "住宅", "floors": 1, "population": 3},
                               geometry=geoms, crs=WORK_CRS)
        c.b = pd.concat([big, keep], ignore_index=True)
        c.custom.add("buildings")
        c.files["buildings"] = "buildings.gpkg"
        c.layer_opts["buildings"].update({"layer": "buildings"})
        c.frames = {k: f.to_crs("EPSG:4326") for k, f in c.frames.items()}
        c.folder.mkdir(parents=True, exist_ok=True)
        _write_gpkg(c.b, c.path("buildings"), "buildings")


__all__ = ["register"]
_ = (gpd, np, pd)

"""pucha.outputs.project and the pack on awkward partitions.

Tiny project (see fixture_outputs) changed so that:
- two buildings of A south go to a virtual area ...001900 with no land (empty geometry);
- A north gets an enclave (飞地): its geometry becomes a MultiPolygon;
- B north loses all its buildings (an empty area).
"""

from __future__ import annotations

import geopandas as gpd
import pandas as pd
from pypdf import PdfReader
from shapely.geometry import MultiPolygon, Polygon, box

from fixture_outputs import VA, VB, X0, Y0, make_tiny_project
from pucha.gis.write import read_layer, update_gpkg
from pucha.outputs.pack import make_pack
from pucha.outputs.project import load_project


def _awkward(path):
    make_tiny_project(path)
    areas = read_layer(path, "areas")
    ba = read_layer(path, "building_areas")
    virt = areas.iloc[[0]].copy()
    virt["area_code"] = f"{VA}900"
    virt["seq"] = 900
    virt = virt.set_geometry(gpd.GeoSeries([Polygon()], index=virt.index, crs=areas.crs))
    i = areas.index[areas.area_code == f"{VA}002"][0]
    g = areas.geometry[i]
    areas.loc[[i], "geometry"] = gpd.GeoSeries(
        [MultiPolygon([g, box(X0 + 900, Y0, X0 + 950, Y0 + 50)])], index=[i], crs=areas.crs)
    areas = pd.concat([areas, virt], ignore_index=True)
    ba.loc[ba.building_id.isin(["b0000", "b0001"]), "area_code"] = f"{VA}900"
    ba = ba[ba.area_code != f"{VB}002"]
    update_gpkg(path, {"areas": gpd.GeoDataFrame(areas, crs=areas.crs),
                       "building_areas": pd.DataFrame(ba)})
    return path


def test_awkward_partition_still_maps(tmp_path):
    gpkg = _awkward(tmp_path / "a.gpkg")
    p = load_project(gpkg)
    assert p.is_virtual(f"{VA}900") and not p.is_virtual(f"{VA}001")
    assert p.area_geometry(f"{VA}900").contains(p.buildings.geometry[0].centroid)
    assert len(p.area_buildings(f"{VB}002")) == 0
    res = make_pack(gpkg, tmp_path / "out", jobs=1, progress=False)
    assert res.n_areas == 5
    atlas = next(x for x in res.pdf if x.name.startswith(VA) and x.name.endswith("图册.pdf"))
    assert len(PdfReader(atlas).pages) == 2 * 3 + 1  # overview, map + 摸底表 per area
    html = next(x for x in res.html if x.name == f"{VA}900.html").read_text("utf-8")
    assert "第900普查小区" in html and "建筑 2 栋" in html
    empty = next(x for x in res.html if x.name == f"{VB}002.html").read_text("utf-8")
    assert "建筑 0 栋" in empty


def test_area_buildings_merge_parts(tmp_path):
    p = load_project(make_tiny_project(tmp_path / "t.gpkg"))
    b = p.area_buildings(f"{VA}001")
    assert b["building_id"].is_unique and len(b) == 13
    assert int(b["population"].sum()) == 12 * 25 + 40
    nb = p.neighbours(f"{VA}001")
    assert list(nb["area_code"]) == [f"{VA}002", f"{VB}001", f"{VB}002"]

"""``pucha boundaries``: check the township's limits against its neighbours and its 居/村."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import click

__all__ = ["boundaries", "EXIT_CONFLICT"]

#: exit status when a conflict exceeds tolerance (gate the partition on a clean boundary)
EXIT_CONFLICT = 3


@click.command("boundaries")
@click.argument("project_gpkg", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--neighbour", "neighbour_specs", multiple=True, metavar="FILE[:LAYER]",
              help="A neighbouring 街镇's boundary as that office delivered it (any format "
                   "GDAL reads: shp, gpkg, geojson, dxf ...; polygons or boundary LINES with "
                   "name:left/name:right). Repeat for each neighbour.")
@click.option("--neighbour-crs", default="", metavar="EPSG:xxxx",
              help="CRS of the --neighbour files when they have none (or a wrong one).")
@click.option("--neighbour-gcj02", is_flag=True,
              help="The --neighbour files are in GCJ-02 (AMap/Gaode 火星坐标); convert them.")
@click.option("--neighbour-buildings", "nb_buildings_spec", default=None, metavar="FILE[:LAYER]",
              help="The neighbours' buildings (or enumeration areas): finds buildings both "
                   "sides claim.")
@click.option("--sliver-width", type=float, default=None,
              help="Overlaps/gaps narrower than this (m) are slivers, reported as warnings "
                   "(default 5).")
@click.option("--near-line", type=float, default=None,
              help="Report boundary stretches within this distance (m) of a named road/river "
                   "centre line that do not follow it (default 10).")
@click.option("-o", "--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              default=None, help="Folder for conflicts.csv, conflicts.html, conflicts.pdf "
                                 "(default: boundaries/ beside the project).")
@click.option("--no-pdf", is_flag=True, help="Skip the PDF summary.")
@click.option("-q", "--quiet", is_flag=True, help="Print only the result line.")
def boundaries(project_gpkg: Path, neighbour_specs: tuple[str, ...], neighbour_crs: str,
               neighbour_gcj02: bool, nb_buildings_spec: str | None, sliver_width: float | None,
               near_line: float | None, out_dir: Path | None, no_pdf: bool, quiet: bool) -> int:
    """Check the township boundary against each neighbour's, and the 居/村 inside it.

    \b
    Finds, each with id, location, area (m²), max width (m), buildings and people:
      overlap / gap           with each neighbour (error: double counting / people missed)
      *_sliver                narrower than --sliver-width (warning: digitising noise)
      shift, shift_gcj02      a neighbour's outline systematically offset (GCJ-02 labelled
                              WGS84: explained once, with the fix, not as a 500 m overlap)
      village_overlap/_gap/_outside, enclave, exclave   the 居/村 must tile the township
      building_cut            a building cut by a boundary, with the share on each side
      claimed_both            a building in both sides' lists (--neighbour-buildings)
      near_line               a boundary a few metres off a named road/river centre line
      source_gcj02/_shift/_mismatch   the same neighbour from two sources (the project's
                              neighbours layer and a --neighbour file) compared
    Each overlap/sliver gets a suggested line (its median line) in conflict_lines.

    \b
    Writes into PROJECT_GPKG the layers conflicts and conflict_lines, and the rows of
    problems with stage=boundaries; into -o: conflicts.csv, conflicts.html (offline map,
    click an entry to zoom) and conflicts.pdf (Chinese one-page summary for the meeting).
    The project's own neighbours layer is checked too.

    \b
    Example:
      pucha boundaries out/project.gpkg --neighbour 邻镇.shp --neighbour qu.gpkg:boundaries
      pucha boundaries out/project.gpkg --neighbour amap.geojson --neighbour-gcj02 -o bnd/
    Exit status: 0 clean (warnings allowed), 3 a conflict exceeds tolerance.
    """
    from pucha.config import BoundarySettings
    from pucha.gis.settings import project_config, with_overrides
    from pucha.gis.write import list_layers, read_layer, update_gpkg

    layers = set(list_layers(project_gpkg))
    settings, flags = with_overrides(project_config(project_gpkg).boundaries,
                                     sliver_width_m=sliver_width, near_line_m=near_line)
    if "township" not in layers:
        from pucha.errors import InputError

        raise InputError(f"{project_gpkg}: no township layer; run pucha import first "
                         f"(with [layers.township] in the project TOML)")
    run = _run(project_gpkg, layers, neighbour_specs, neighbour_crs, neighbour_gcj02,
               nb_buildings_spec, settings)
    conflicts, lines, township, neighbours, villages = run
    update_gpkg(project_gpkg, {"conflicts": conflicts, "conflict_lines": lines,
                               "problems": _problems(project_gpkg, layers, conflicts, read_layer)},
                meta={"boundaries": {"settings": dataclasses.asdict(settings), "flags": flags,
                                     "neighbours": list(neighbour_specs),
                                     "n_conflicts": int(len(conflicts))}})
    out = out_dir or project_gpkg.parent / "boundaries"
    from pucha.outputs.conflicts import (write_conflicts_csv, write_conflicts_map,
                                         write_conflicts_pdf)

    name = str(township["name"].iloc[0]) if "name" in township and len(township) else ""
    title = f"{name} 边界冲突核查".strip()
    write_conflicts_csv(conflicts, out / "conflicts.csv")
    write_conflicts_map(conflicts, out / "conflicts.html", lines=lines, township=township,
                        neighbours=neighbours, villages=villages, title=title)
    if not no_pdf:
        write_conflicts_pdf(conflicts, out / "conflicts.pdf", township=township,
                            neighbours=neighbours, title=title)
    from pucha.gis.boundaries import exceeds_tolerance

    bad = exceeds_tolerance(conflicts)
    n_err = int((conflicts["severity"] == "error").sum()) if len(conflicts) else 0
    if not quiet:
        for _, r in conflicts.iterrows():
            click.echo(f"{r['conflict_id']} {r['severity']:<7} {r['kind']:<22} {r['message']}")
            if r["suggestion"]:
                click.echo(f"      -> {r['suggestion']}")
        click.echo(f"outputs: {out / 'conflicts.html'}, {out / 'conflicts.csv'}"
                   + ("" if no_pdf else f", {out / 'conflicts.pdf'}"))
    click.echo(f"{len(conflicts)} conflicts, {n_err} beyond tolerance: "
               + ("NOT CLEAN (exit 3)" if bad else "boundary clean"))
    return EXIT_CONFLICT if bad else 0


def _run(project_gpkg, layers, specs, nb_crs, gcj02, nb_buildings_spec, settings):
    import geopandas as gpd
    import pandas as pd

    from pucha.gis.boundaries import find_conflicts, read_neighbour
    from pucha.gis.write import read_layer

    township = read_layer(project_gpkg, "township")
    crs = township.crs

    def opt(name):
        return read_layer(project_gpkg, name) if name in layers else None

    villages, buildings, roads, water = (opt(n) for n in ("villages", "buildings", "roads", "water"))
    own = {str(n) for n in township.get("name", [])}
    frames = []
    if "neighbours" in layers:
        nb = read_layer(project_gpkg, "neighbours")
        if len(nb):
            nb = nb.assign(source="project")
            frames.append(nb[[c for c in ("code", "name", "source", "geometry") if c in nb]])
    for spec in specs:
        frames.append(read_neighbour(spec, working_crs=crs, crs=nb_crs, gcj02=gcj02, exclude=own))
    neighbours = (gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), geometry="geometry", crs=crs)
                  if frames else None)
    nb_buildings = None
    if nb_buildings_spec:
        from pucha.config import LayerSource
        from pucha.gis.boundaries import split_spec
        from pucha.gis.read import read_source

        p, lay = split_spec(nb_buildings_spec)
        nb_buildings = read_source(LayerSource(path=p, layer=lay, crs=nb_crs, gcj02=gcj02),
                                   base_dir=".", kind="neighbour buildings", crs=crs)
        nb_buildings = nb_buildings[nb_buildings.geometry.geom_type.isin(["Polygon", "MultiPolygon"])]
        if "building_id" not in nb_buildings:
            for c in ("id", "ID", "编号", "osm_id"):
                if c in nb_buildings:
                    nb_buildings = nb_buildings.assign(building_id=nb_buildings[c].astype(str))
                    break
    conflicts, lines = find_conflicts(township, villages, neighbours, settings=settings,
                                      buildings=buildings, nb_buildings=nb_buildings,
                                      roads=roads, water=water)
    return conflicts, lines, township, neighbours, villages


def _problems(project_gpkg, layers, conflicts, read_layer):
    import geopandas as gpd
    import pandas as pd

    rows = gpd.GeoDataFrame({
        "severity": conflicts["severity"].astype(str).tolist(),
        "code": [f"boundary_{k}" for k in conflicts["kind"]],
        "layer": "conflicts",
        "feature_ids": [",".join([c, b]) if b else c for c, b in
                        zip(conflicts["conflict_id"], conflicts["buildings"])],
        "message": [f"{m} {s}".strip() for m, s in zip(conflicts["message"], conflicts["suggestion"])],
        "stage": "boundaries"}, geometry=list(conflicts.geometry), crs=conflicts.crs)
    if "problems" in layers:
        old = read_layer(project_gpkg, "problems")
        old = old[old["stage"].astype(str) != "boundaries"]
        if len(old):
            if getattr(old, "crs", None) is not None and old.crs != conflicts.crs:
                old = old.to_crs(conflicts.crs)
            rows = gpd.GeoDataFrame(pd.concat([old, rows], ignore_index=True), geometry="geometry",
                                    crs=conflicts.crs)
    return rows

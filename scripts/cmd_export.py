"""``pucha export``: the plan as CSV / GeoJSON / GeoPackage files."""

from __future__ import annotations

from pathlib import Path

import click

__all__ = ["export"]


@click.command("export")
@click.argument("project_gpkg", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--what", type=click.Choice(["assignment", "areas"]), default="assignment", show_default=True,
              help="assignment: building_id,area_code (+ floor/unit ranges); areas: the area polygons.")
@click.option("--format", "fmt", type=click.Choice(["csv", "geojson", "gpkg"]), default="csv", show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True)
def export(project_gpkg: Path, what: str, fmt: str, output: Path) -> None:
    """Export the plan of PROJECT_GPKG (after pucha partition).

    The output may not be the project itself nor one of the files it was imported
    from (refused with exit status 2).

    \b
    Example:
      pucha export out/project.gpkg --what assignment --format csv -o assignment.csv
      pucha export out/project.gpkg --what areas --format geojson -o areas.geojson
    """
    import geopandas as gpd
    import pandas as pd

    from pucha.errors import InputError
    from pucha.gis import schema as S
    from pucha.gis.write import atomic_path, list_layers, read_layer, write_text

    from pucha.gis.inputs import refuse_overwrite
    from pucha.gis.write import read_meta

    # never into the project itself, nor over a file the project was imported from
    recorded = [Path(p) for p in (read_meta(project_gpkg).get("import_inputs_sha256") or {})]
    refuse_overwrite([("-o", output)], [project_gpkg, *recorded])
    layer = S.LAYER_BUILDING_AREAS if what == "assignment" else S.LAYER_AREAS
    if layer not in list_layers(project_gpkg):
        raise InputError(f"{project_gpkg}: no layer {layer!r}; run pucha partition first")
    df = read_layer(project_gpkg, layer)
    if what == "assignment":
        df = pd.DataFrame(df)[["building_id", "area_code", "part", "floor_from", "floor_to",
                               "unit_from", "unit_to"]].sort_values(["building_id", "part"])
        if fmt != "csv":
            raise click.BadParameter("the assignment has no geometry: use --format csv")
    if fmt == "csv":
        if isinstance(df, gpd.GeoDataFrame):
            df = pd.DataFrame(df.drop(columns="geometry"))
        write_text(output, df.to_csv(index=False))
    else:
        g = gpd.GeoDataFrame(df, geometry="geometry", crs=df.crs)
        with atomic_path(output, suffix=output.suffix) as tmp:
            tmp.unlink(missing_ok=True)
            if fmt == "geojson":
                g.to_crs(4326).to_file(tmp, driver="GeoJSON")
            else:
                g.to_file(tmp, driver="GPKG", layer="areas")
    click.echo(f"wrote {len(df)} rows to {output}")

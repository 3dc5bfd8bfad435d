"""``pucha import``: read the 规土所 GIS files named in a project TOML into one GeoPackage."""

from __future__ import annotations

import logging
from pathlib import Path

import click

__all__ = ["import_cmd", "format_summary"]


def format_summary(summary: dict) -> str:
    """The import summary as the lines the command prints."""
    lines = [
        f"工程文件 GeoPackage: {summary['gpkg']}",
        f"坐标系 working CRS:  {summary['working_crs']}",
        f"街镇 township:       {summary['township_code']} {summary['township_name']}",
        f"居/村 villages:      {summary['villages']}",
        f"建筑 buildings:      in {summary['buildings_in']}, out {summary['buildings_out']}, "
        f"dropped {summary['buildings_dropped']}",
        f"人口 population:     method {summary['population_method']}, in "
        f"{summary['population_in']}, out {summary['population_out']}, dropped "
        f"{summary.get('population_dropped', 0)}, guessed buildings "
        f"{summary['population_guessed']}",
        f"图层 layers:         " + ", ".join(f"{k} {v}" for k, v in summary["layers"].items()),
        f"问题 problems:       {summary['problems']}",
    ]
    for code, n in summary["problems_by_code"].items():
        lines.append(f"    {code:<34} {n}")
    if summary.get("errors"):
        lines.append(f"错误 errors: {summary['errors']} error-severity problem(s): the project is "
                     f"written for inspection, but exit status 1 (open the problems layer)")
    return "\n".join(lines)


@click.command("import")
@click.argument("project_toml", type=click.Path(dir_okay=False, path_type=Path))
@click.option("-o", "--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="GeoPackage to write (default: [project].gpkg beside the TOML file).")
@click.option("--keep-column", "keep_columns", multiple=True, metavar="COLUMN",
              help="A column that looks personal (e.g. 'contact_office') but is not: keep it. "
                   "Repeatable; adds to [privacy].keep_columns.")
@click.option("-q", "--quiet", is_flag=True, help="Print only errors.")
def import_cmd(project_toml: Path, out: Path | None, keep_columns: tuple[str, ...],
               quiet: bool) -> int:
    """Read the planning office's (规土所) GIS files into ONE project GeoPackage.

    PROJECT_TOML names the layers ([layers.buildings], [layers.villages], roads, water,
    railways, walls, township, neighbours), the field mapping and the population method.
    Any GDAL format is read (GeoPackage, Shapefile in UTF-8 or GBK, GeoJSON, FileGDB,
    CSV with WKT or x/y columns). Everything is reprojected to the working CRS
    (default EPSG:4549 where it applies, else the UTM zone), validated, personal-data
    columns (姓名/电话/身份证...) are dropped, population is estimated, and every
    repairable defect becomes a row of the `problems` layer.

    Example:

        pucha import pucha/data/demo/demo.toml -o /tmp/demo.gpkg

    The previous GeoPackage is replaced only when the import succeeds. The output
    may not be one of the input files (refused).

    \b
    Exit status: 0 imported (warnings only); 1 imported, but with error-severity
    problems (buildings dropped, 0 people, totals missing ...: the project is written
    for inspection); 2 nothing imported (unusable input or settings).
    """
    from pucha.config import load_config
    from pucha.gis.project import import_project

    if quiet:
        logging.getLogger("pucha").setLevel(logging.ERROR)
    config = load_config(project_toml)
    result = import_project(config, out=out, keep_columns=keep_columns)
    if not quiet:
        click.echo(format_summary(result.summary))
    elif result.summary.get("errors"):
        click.echo(f"错误 errors: {result.summary['errors']} error-severity problem(s) in "
                   f"{result.gpkg} (problems layer)", err=True)
    from pucha.errors import EXIT_OK, EXIT_PROBLEMS

    return EXIT_PROBLEMS if result.summary.get("errors") else EXIT_OK

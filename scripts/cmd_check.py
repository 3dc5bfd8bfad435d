"""``pucha check``: validate a hand-edited plan without changing it."""

from __future__ import annotations

from pathlib import Path

import click

__all__ = ["check"]


@click.command("check")
@click.argument("project_gpkg", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--min", "band_min", type=int, default=None,
              help="Lowest population of an area (default: the project's [partition] min, 240).")
@click.option("--max", "band_max", type=int, default=None,
              help="Highest population of an area (default: the project's [partition] max, 360).")
@click.option("-o", "--report", "report_path", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="Also write the report text to this file.")
@click.option("--no-problems", is_flag=True,
              help="Write nothing into the project (the file stays byte-identical).")
@click.option("-q", "--quiet", is_flag=True, help="Print only the result line.")
def check(project_gpkg: Path, band_min: int | None, band_max: int | None,
          report_path: Path | None, no_problems: bool, quiet: bool) -> int:
    """Check the plan in PROJECT_GPKG (after edits in QGIS) against the census rules.

    \b
    Rules (hard rules make the command exit with status 1):
      every building assigned exactly once (buildings.area_code is the editable
        assignment; it wins over building_areas), cut buildings' floor/unit ranges
        cover each building exactly once, codes unique, gapless and starting with
        the 普查区 code, each area one piece containing its buildings, population
        inside the band, areas tile each 居/村 (no overlap, no gap > 1 m²).
    The plan is not changed: the findings replace the stage=check rows of the
    problems layer (open it in QGIS to zoom to each one), written in place in one
    transaction, so QGIS may keep the project open; with --no-problems nothing
    at all is written.

    \b
    Example:
      pucha check out/project.gpkg
      pucha check out/project.gpkg --min 250 --max 350 -o check.txt
    Exit status: 0 passed (warnings allowed), 1 a hard rule is broken, 75 the
    project is being saved or edited in another program (QGIS): nothing written,
    save or discard the edits there and run again.
    """
    from pucha.gis.settings import project_config, with_overrides
    from pucha.gis.write import write_text
    from pucha.partition.check import check_plan

    settings, _flags = with_overrides(project_config(project_gpkg).partition,
                                      min=band_min, max=band_max)
    if settings.min > settings.max:
        raise click.BadParameter(f"--min {settings.min} is above --max {settings.max}")
    report = check_plan(project_gpkg, settings=settings, write_problems=not no_problems)
    text = report.text
    if report_path is not None:
        write_text(report_path, text)
    click.echo(text.strip().splitlines()[-1] if quiet else text.rstrip())
    return 1 if report.hard_broken else 0


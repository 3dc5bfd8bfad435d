"""``pucha listing``: 摸底 (pre-enumeration listing) records back into the plan."""

from __future__ import annotations

from pathlib import Path

import click

__all__ = ["listing"]


@click.group("listing")
def listing() -> None:
    """摸底 listing: import what enumerators recorded on their area maps.

    \b
    The enumerator records buildings in the 摸底 panel of the offline area map
    and hands in the exported file (or the office types the paper 摸底表 into
    the XLSX template of `pucha listing template`); the census office imports it:
      pucha listing import project.gpkg 310101013003006_20261015-173012.geojson
      pucha partition project.gpkg       re-plans only the 居/村 the listing changed
      pucha maps project.gpkg -o maps/   redraws the maps
    """


@listing.command("import")
@click.argument("gpkg", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("files", nargs=-1, required=True,
                type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--persons-per-household", type=float, default=None,
              help="People per household for records that give only 户数 (default: the "
                   "import's setting, 2.20).")
@click.option("--report", "report", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="Also write the per-area report as CSV (UTF-8, Excel-ready).")
def import_cmd(gpkg: Path, files: tuple[Path, ...], persons_per_household: float | None,
               report: Path | None) -> None:
    """Import listing files (.geojson from the area maps, or filled .xlsx templates).

    \b
    Every record is validated (unknown building, negative or implausible counts,
    a building recorded in another area, a new building outside its area) and
    kept in the `listing` layer; rejected ones and devices that disagree are
    `problems` rows (stage listing). Counted buildings get the counts (their
    estimate is kept in pop_estimate); new buildings join their 居/村.
    Importing the same file twice changes nothing. Exit status 1 when a record of
    these files was rejected.
    """
    from pucha.gis.write import write_text
    from pucha.partition.listing import import_listing

    res = import_listing(gpkg, list(files), persons_per_household=persons_per_household)
    click.echo(res.text().rstrip())
    if report is not None:
        write_text(report, "\ufeff" + res.areas.to_csv(index=False))
        click.echo(f"写出 written: {report}")
    if res.new_rejected:
        raise click.exceptions.Exit(1)


@listing.command("template")
@click.argument("gpkg", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-o", "--out", "out", type=click.Path(file_okay=False, path_type=Path),
              default=Path("摸底表"), show_default=True, help="Folder for the templates.")
@click.option("--village", "villages", multiple=True,
              help="Only this 居/村 code (repeatable; default: every 居/村).")
def template_cmd(gpkg: Path, out: Path, villages: tuple[str, ...]) -> None:
    """Write the XLSX 摸底 template of each 居/村 (<居村码>_<居村名>_摸底表.xlsx).

    \b
    One row per building in map order (编号 = the number on the map) with empty
    columns for 状态, 住房单元, 户数, 人数, 实际层数 and 备注, and empty rows for
    buildings missing from the map. Typed in at the office, a template imports
    exactly like a phone's listing file:
      pucha listing import project.gpkg 摸底表/310101013003_外滩演示三居委会_摸底表.xlsx
    """
    from pucha.outputs.listing_template import write_listing_template
    from pucha.errors import InputError
    from pucha.outputs.naming import inside, safe_name
    from pucha.outputs.project import load_project

    project = load_project(gpkg)
    codes = list(villages) or project.village_codes()
    unknown = sorted(set(codes) - set(project.village_codes()))
    if unknown:
        raise InputError(f"{gpkg}: no areas in 居/村 {', '.join(unknown)}; the 居/村 with "
                         f"areas are {', '.join(project.village_codes())}")
    for vc in codes:
        name = f"{vc}_{safe_name(project.village_name(vc))}_摸底表.xlsx"
        p = write_listing_template(project, vc, inside(out, out / name))
        click.echo(f"写出 written: {p}")

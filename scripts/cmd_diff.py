"""``pucha diff``: what changed between two plans (two GeoPackages or two revisions)."""

from __future__ import annotations

from pathlib import Path

import click

__all__ = ["diff"]


@click.command("diff")
@click.argument("old", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("new", required=False,
                type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--from", "rev_from", type=int, default=None,
              help="Revision of OLD to compare from (default: OLD's current plan; with one "
                   "GeoPackage: the last kept revision before --to).")
@click.option("--to", "rev_to", type=int, default=None,
              help="Revision to compare to (default: the current plan, hand edits included).")
@click.option("-o", "--out", "out", type=click.Path(file_okay=False, path_type=Path),
              default=Path("pucha-diff"), show_default=True,
              help="Folder for diff-areas.csv, diff-buildings.csv and diff.html.")
@click.option("--no-map", is_flag=True, help="Write the CSV files only.")
def diff(old: Path, new: Path | None, rev_from: int | None, rev_to: int | None, out: Path,
         no_map: bool) -> None:
    """Report the changes between two plans: areas added, removed, reshaped or re-coded,
    buildings moved between areas, and the population change.

    \b
    Two GeoPackages, or two revisions kept in one (`pucha partition` keeps each):
      pucha diff before.gpkg after.gpkg -o diff/
      pucha diff project.gpkg --from 1 --to 2
      pucha diff project.gpkg --from 2          revision 2 -> current plan
    An area is "the same area" when it keeps more than half of its people and
    takes in fewer than it keeps (docs/review.md). diff-buildings.csv lists EVERY
    building whose area code changed, with the reason: hand move, re-solve or
    new data. Writes diff-areas.csv, diff-buildings.csv (UTF-8, Excel-ready) and
    diff.html, an offline map of the changed areas.
    """
    from pucha.errors import InputError
    from pucha.partition.diff import diff_plans, hand_moves, load_plan, write_diff_csv
    from pucha.partition.revision import list_revisions

    if new is None:
        revs = list_revisions(old)
        if rev_from is None:
            before = [r for r in revs if rev_to is None or r < rev_to]
            if not before:
                raise InputError(f"{old}: no kept revision to compare from; give --from N "
                                 "or two GeoPackages")
            rev_from = before[-1]
        a = load_plan(old, revision=rev_from)
        b = load_plan(old, revision=rev_to)
        moved = hand_moves(old, rev_from, rev_to)
    else:
        a = load_plan(old, revision=rev_from)
        b = load_plan(new, revision=rev_to)
        moved = hand_moves(new, None, rev_to) if rev_to is None else set()
    d = diff_plans(a, b, moved=moved)
    from pucha.partition.listing import mark_listing_changes

    mark_listing_changes(d, new or old, a, b)  # reason "listing" where 摸底 counts changed it
    files = write_diff_csv(d, out)
    if not no_map:
        from pucha.outputs.diffmap import write_diff_map

        files.append(write_diff_map(d, out / "diff.html"))
    click.echo(d.text.rstrip())
    click.echo("写出 written: " + ", ".join(str(f) for f in files))

"""``pucha partition``: cut every 居/村 of a project into 普查小区."""

from __future__ import annotations

import sys
from pathlib import Path

import click

__all__ = ["partition", "EDITS_NOT_KEPT"]

#: error rows that mean a person's edit was not carried out (exit status 1); the
#: structural ones (a building above the band with no floor data ...) are proven and are
#: warnings for `pucha check`
EDITS_NOT_KEPT = ("move_not_honoured", "move_in_locked_village", "area_deleted_in_locked_village",
                  "lock_holds_moved_building")


@click.command("partition")
@click.argument("project_gpkg", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--target", type=int, default=None,
              help="People per area aimed at. Default: the project's [partition] target (300).")
@click.option("--min", "band_min", type=int, default=None,
              help="Lowest population of an area. Default: the project's [partition] min (240).")
@click.option("--max", "band_max", type=int, default=None,
              help="Highest population of an area. Default: the project's [partition] max (360).")
@click.option("--households-target", type=int, default=None,
              help="Optional dwellings per area aimed at. Default: [partition] households_target.")
@click.option("--seed", type=int, default=None,
              help="Random seed (same seed, same plan). Default: [partition] seed (0).")
@click.option("--time-limit", type=float, default=None,
              help="Work per 居/村 at most, in seconds of a reference PC core (a budget of work, "
                   "so the plan does not depend on the machine's speed). "
                   "Default: [partition] time_limit_s (20).")
@click.option("--jobs", type=click.IntRange(min=1), default=None,
              help="Local processes solving 居/村 in parallel (with --dask local: the "
                   "LocalCluster's workers; with a scheduler address: not used). "
                   "Default: [partition] jobs (1).")
@click.option("--village", "villages", multiple=True, help="Only this 居/村 code (repeatable).")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar; only the township line.")
@click.option("--fresh", is_flag=True,
              help="Ignore the existing plan, its locks and hand edits; solve everything anew "
                   "(default: keep locked areas and moved buildings, re-solve only what changed; "
                   "see docs/review.md). Unchanged areas keep their codes; a code issued "
                   "before is never given to a different area.")
@click.option("--renumber", is_flag=True,
              help="Implies --fresh: number the areas 001... again and restart the code history "
                   "(only before the codes were issued to enumerators).")
@click.option("--dask", "dask_address", default=None, metavar="ADDRESS",
              help="Solve the 居/村 on a Dask cluster, one task per 居/村, largest first: a "
                   "scheduler address (tcp://10.0.0.5:8786) or 'local' for a LocalCluster of "
                   "--jobs workers. The project folder must be mounted at the same path on "
                   "every worker (inputs and the resume cache go through it). Needs "
                   "pip install 'pucha[dask]'.")
@click.option("--dashboard", is_flag=True, help="With --dask: print the link of the Dask dashboard.")
def partition(project_gpkg: Path, target: int | None, band_min: int | None, band_max: int | None,
              households_target: int | None, seed: int | None, time_limit: float | None,
              jobs: int | None, villages: tuple[str, ...], quiet: bool,
              fresh: bool, renumber: bool, dask_address: str | None, dashboard: bool) -> int:
    """Cut every 居/村 in PROJECT_GPKG into 普查小区 (census enumeration areas).

    Areas are contiguous, hold between --min and --max people (about --target),
    follow roads, rivers, railways and walls, and tile each 居/村 exactly. Buildings
    larger than --max are cut vertically by floors or units. Writes the layers
    areas, building_areas, quality and problems (stage=partition) and fills
    buildings.area_code; prints the quality summary.

    \b
    The band, target, seed, work budget and jobs come from the project file's
    [partition] section as pucha import stored it; a flag overrides one of them
    for this run only (the revision records what the run used).

    \b
    Exit status: 0 the plan is written (a hand edit it could not keep is named on
    stderr and in the problems layer), 2 bad input (nothing written), 75 the project is
    being edited in another program (nothing written).

    \b
    Example:
      pucha partition out/project.gpkg
      pucha partition out/project.gpkg --target 300 --min 240 --max 360 --jobs 2
      pucha partition out/project.gpkg --village 310118002001
      pucha partition city.gpkg --dask tcp://10.0.0.5:8786     (city scale)

    A killed run (Ctrl-C, SIGTERM, power cut) leaves the project as it was and
    resumes: every 居/村 finished is kept, signed, in .PROJECT.gpkg.resume/ beside
    the project, whatever --jobs or cluster the next run uses.
    """
    from pucha.gis.settings import project_config, with_overrides
    from pucha.partition.run import partition_project
    from pucha.partition.schedule import dask_client, stop_on_sigterm

    # the project's [partition] settings (stored by pucha import); flags override them
    # for this run only, and the new revision records what the run used
    st, _flags = with_overrides(project_config(project_gpkg).partition, target=target,
                                min=band_min, max=band_max, households_target=households_target,
                                seed=seed, time_limit_s=time_limit, jobs=jobs)
    if not st.min <= st.target <= st.max:
        raise click.BadParameter(f"need min <= target <= max, got {st.min}, {st.target}, {st.max}")
    jobs = st.jobs
    kw = dict(settings=st, jobs=jobs, progress=(not quiet) and sys.stderr.isatty(),
              villages=list(villages) or None, fresh=fresh, renumber=renumber)
    if dask_address:
        with dask_client(dask_address, jobs=jobs, dashboard=dashboard, say=click.echo):
            res = partition_project(project_gpkg, scheduler="distributed", **kw)
    else:
        with stop_on_sigterm():
            res = partition_project(project_gpkg, **kw)
    q = res.quality
    if not quiet and len(q):
        click.echo(q.to_string(index=False, float_format=lambda v: f"{v:.3f}", na_rep="—"))
    if len(q):
        t = q.iloc[-1]
        click.echo(f"{int(t['n_areas'])} areas, {int(t['population'])} people; "
                   f"{t['within_10']:.0%} within ±10%, {int(t['outside_band'])} outside the band, "
                   f"{int(t['non_contiguous'])} non-contiguous; {len(res.problems)} problems "
                   f"({res.timings['total']:.1f} s)")
    from pucha.gis.write import read_layer

    probs = read_layer(project_gpkg, "problems")  # what this run wrote (stage partition)
    errors = (probs[(probs["severity"] == "error") & probs["code"].isin(EDITS_NOT_KEPT)
                    & (probs["stage"] == "partition")]
              if len(probs) and "severity" in probs else probs[:0])
    if len(errors):
        # the plan is written (to be inspected in QGIS); a hand edit it could not keep is
        # named on stderr and in the problems layer, and `pucha check` reports it
        codes = ", ".join(f"{c} ({n})" for c, n in errors["code"].value_counts().sort_index().items())
        click.echo(f"注意 edits not kept: {codes}; see the problems layer of {project_gpkg}",
                   err=True)
    return 0

"""``pucha run`` and ``pucha demo``: the whole pipeline in one command.

import (规土所) -> boundaries (自治办) -> partition (人普办) -> check -> maps,
registers and exports (普查员). Every step writes atomically; the output folder
gets a ``run.json`` with the resolved settings, the input files' SHA-256 and the
library versions, so the run is auditable.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import click

from pucha import __version__

__all__ = ["run", "demo", "run_pipeline", "DEMO_TOML"]

DEMO_TOML = Path(__file__).resolve().parents[1] / "pucha" / "data" / "demo" / "demo.toml"


def _versions() -> dict[str, str]:
    import fiona
    import folium
    import matplotlib
    import networkx

    from pucha.gis.project import library_versions

    return {**library_versions(), "fiona": fiona.__version__, "folium": folium.__version__,
            "networkx": networkx.__version__, "matplotlib": matplotlib.__version__}


def run_pipeline(ctx: click.Context, toml: Path, out: Path, *, jobs: int, maps: bool = True,
                 fresh: bool = False, quiet: bool = False, dask: str | None = None) -> dict:
    """Run every step for the project file ``toml`` into folder ``out``.

    Each step is the sub-command a user would type (same code path, same outputs):
    ``import -o out/project.gpkg``, ``boundaries -o out/boundaries``, ``partition`` (with
    the TOML's [partition] settings), ``check -o out/check-report.txt``, ``maps -o out/maps``.
    A boundary conflict or a broken hard rule is reported, not fatal: the census office
    reviews them in the outputs. ``dask``: partition and maps on this Dask cluster (a
    scheduler address or ``local``), one client for both. Returns the run.json manifest.
    """
    from pucha.config import load_config
    from pucha.gis.write import read_meta, write_text
    from pucha.partition.run import partition_project
    from pucha.scripts.cmd_boundaries import boundaries
    from pucha.scripts.cmd_check import check
    from pucha.scripts.cmd_import import import_cmd
    from pucha.scripts.cmd_maps import maps as maps_cmd

    def say(msg: str) -> None:
        if not quiet:
            click.echo(msg)

    out.mkdir(parents=True, exist_ok=True)
    config = load_config(toml)
    gpkg = out / "project.gpkg"
    timings: dict[str, float] = {}
    status: dict[str, object] = {}
    n_steps = 5 if maps else 4

    def step(i: int, label: str, key: str, fn) -> object:
        say(f"\n[{i}/{n_steps}] {label}")
        t = time.perf_counter()
        rv = fn()
        timings[key] = round(time.perf_counter() - t, 2)
        return rv

    def stop(key: str, why: str) -> dict:
        """The first failing step ends the run (issue 15): exit 1, run.json says why."""
        click.echo(f"\n停止 stopped at {key}: {why}", err=True)
        status["failed_step"] = key
        manifest = {"pucha": __version__, "project_file": str(toml), "timings_s": timings,
                    "status": status, "exit": 1,
                    "finished": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        write_text(out / "run.json", json.dumps(manifest, ensure_ascii=False, indent=2,
                                                sort_keys=True, default=str) + "\n")
        return manifest

    rc = step(1, f"导入 import: {toml}", "import",
              lambda: ctx.invoke(import_cmd, project_toml=toml, out=gpkg, quiet=quiet))
    if rc:
        return stop("import", f"error-severity problems in {gpkg} (problems layer); fix the "
                              f"input and run again")
    rc = step(2, "边界核查 boundaries (自治办)", "boundaries",
              lambda: ctx.invoke(boundaries, project_gpkg=gpkg, out_dir=out / "boundaries",
                                 quiet=True))
    status["boundaries"] = "clean" if not rc else "conflicts beyond tolerance (see boundaries/)"

    def _partition():
        st = dataclasses.replace(config.partition, jobs=jobs)
        res = partition_project(gpkg, settings=st, jobs=jobs,
                                progress=(not quiet) and sys.stderr.isatty(), fresh=fresh,
                                scheduler="distributed" if dask else "processes")
        if len(res.quality):
            t = res.quality.iloc[-1]
            say(f"{int(t['n_areas'])} areas, {int(t['population'])} people; "
                f"{t['within_10']:.0%} within ±10%, {int(t['outside_band'])} outside the band, "
                f"{int(t['non_contiguous'])} non-contiguous; {len(res.problems)} problems")
        return res

    with contextlib.ExitStack() as stack:
        if dask:
            from pucha.partition.schedule import dask_client

            stack.enter_context(dask_client(dask, jobs=jobs, say=say))
        res = step(3, "划分普查小区 partition (人普办)", "partition", _partition)
        people = int(res.quality.iloc[-1]["population"]) if len(res.quality) else 0
        if people == 0:
            return stop("partition", "the plan holds 0 people: nothing to enumerate")
        rc = step(4, "核查 check", "check",
                  lambda: ctx.invoke(check, project_gpkg=gpkg, report_path=out / "check-report.txt",
                                     quiet=True))
        status["check"] = "passed" if not rc else "hard rules broken (see check-report.txt)"
        if rc:
            return stop("check", f"hard rules broken (see {out / 'check-report.txt'})")
        if maps:
            step(5, "地图与名册 maps, registers (普查员)", "maps",
                 lambda: ctx.invoke(maps_cmd, project=gpkg, out_dir=out / "maps", jobs=jobs,
                                    quiet=quiet or not sys.stderr.isatty(), dask_address=dask))

    meta = read_meta(gpkg)
    manifest = {
        "pucha": __version__,
        "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "project_file": str(toml),
        "settings": config.to_dict(),
        "inputs_sha256": meta.get("import_inputs_sha256", {}),
        "versions": _versions(),
        "timings_s": timings,
        "status": status,
    }
    write_text(out / "run.json", json.dumps(manifest, ensure_ascii=False, indent=2,
                                            sort_keys=True, default=str) + "\n")
    return manifest


_common = [
    click.option("-o", "--out", "out", type=click.Path(file_okay=False, path_type=Path),
                 required=True, help="Output folder (created; previous files replaced atomically)."),
    click.option("-j", "--jobs", type=int, default=os.cpu_count() or 1, show_default=True,
                 help="Processes for partition and maps."),
    click.option("--no-maps", is_flag=True, help="Stop after the check; skip maps and registers."),
    click.option("--fresh", is_flag=True,
                 help="Solve every 居/村 anew (default: keep locked areas and hand edits of a "
                      "plan already in OUT/project.gpkg, re-solve only what changed)."),
]


def _with_common(f):
    for opt in reversed(_common):
        f = opt(f)
    return f


@click.command("run")
@click.argument("project_toml", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@_with_common
@click.option("--dask", "dask", default=None, metavar="ADDRESS",
              help="Partition and maps on a Dask cluster (a scheduler address, or 'local' for "
                   "--jobs local workers); OUT must be mounted at the same path on every worker.")
@click.pass_context
def run(ctx: click.Context, project_toml: Path, out: Path, jobs: int, no_maps: bool,
        fresh: bool, dask: str | None) -> int:
    """Run the whole pipeline for PROJECT_TOML into folder OUT.

    \b
    Steps: import -> boundaries -> partition -> check -> maps + registers.
    The run stops at the first failing step (import with error-severity problems,
    a plan of 0 people, a broken hard rule) with exit status 1.
    Example:
      pucha run yingpu.toml -o yingpu-2026/
      pucha run city.toml -o /shared/city-2026/ --dask tcp://10.0.0.5:8786
    """
    manifest = run_pipeline(ctx, project_toml, out, jobs=jobs, maps=not no_maps, fresh=fresh,
                            quiet=_quiet(ctx), dask=dask)
    if manifest.get("exit"):
        return int(manifest["exit"])
    _print_outputs(out)
    return 0


@click.command("demo")
@_with_common
@click.pass_context
def demo(ctx: click.Context, out: Path, jobs: int, no_maps: bool, fresh: bool) -> int:
    """Run the whole pipeline on the bundled demo data (OSM Lujiazui/Bund, ODbL).

    \b
    Example:
      pucha demo -o pucha-demo/
    then open pucha-demo/maps/index.html in a browser.
    """
    manifest = run_pipeline(ctx, DEMO_TOML, out, jobs=jobs, maps=not no_maps, fresh=fresh,
                            quiet=_quiet(ctx))
    if manifest.get("exit"):
        return int(manifest["exit"])
    _print_outputs(out)
    return 0


def _quiet(ctx: click.Context) -> bool:
    """``pucha -q run ...``: the group's -q silences the step output too."""
    parent = ctx.parent
    return bool(parent and parent.params.get("quiet"))


def _print_outputs(out: Path) -> None:
    index = out / "maps" / "index.html"
    maps = (f"{index} (township index of every area's map), " if index.exists() else "")
    click.echo(f"\n完成 done. Open {maps}{out / 'project.gpkg'} in QGIS, and {out / 'run.json'} "
               f"for provenance.")

"""The ``pucha`` command: a thin click group; one module per sub-command.

Sub-commands are imported lazily (``COMMANDS`` maps a name to ``module:attr``)
so that ``pucha --help`` is fast and one broken optional dependency does not
break every command. Libraries log; only this module configures logging.
"""

from __future__ import annotations

import importlib
import logging
import sys

import click

from pucha import __version__
from pucha.errors import PuchaError

__all__ = ["main", "cli", "COMMANDS"]

# name -> "module:attribute" (each module under pucha.scripts)
COMMANDS: dict[str, str] = {
    "maps": "cmd_maps:maps",
    "import": "cmd_import:import_cmd",
    "check": "cmd_check:check",
    "diff": "cmd_diff:diff",
    "listing": "cmd_listing:listing",
    "lock": "cmd_lock:lock",
    "move": "cmd_lock:move",
    "boundaries": "cmd_boundaries:boundaries",
    "partition": "cmd_partition:partition",
    "export": "cmd_export:export",
    "run": "cmd_run:run",
    "demo": "cmd_run:demo",
    "staff": "cmd_staff:staff",
    "init": "cmd_init:init",
}


def _show_versions(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    import fiona
    import geopandas
    import pyogrio
    import pyproj
    import shapely

    lines = [
        f"pucha      {__version__}",
        f"python     {sys.version.split()[0]}",
        f"geopandas  {geopandas.__version__}",
        f"shapely    {shapely.__version__}  (GEOS {shapely.geos_version_string})",
        f"pyogrio    {pyogrio.__version__}  (GDAL {pyogrio.__gdal_version_string__}, "
        f"GEOS {pyogrio.__gdal_geos_version__ and '.'.join(map(str, pyogrio.__gdal_geos_version__))})",
        f"fiona      {fiona.__version__}  (GDAL {fiona.__gdal_version__})",
        f"pyproj     {pyproj.__version__}  (PROJ {pyproj.proj_version_str})",
    ]
    click.echo("\n".join(lines))
    ctx.exit(0)


class LazyGroup(click.Group):
    """A click group whose sub-commands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module, attr = target.split(":")
        return getattr(importlib.import_module(f"pucha.scripts.{module}"), attr)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="pucha")
@click.option("--show-versions", is_flag=True, expose_value=False, is_eager=True,
              callback=_show_versions,
              help="Print pucha's and the GDAL/PROJ/GEOS library versions, then exit.")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
@click.option("-q", "--quiet", count=True, help="Less log output (-q warnings, -qq errors).")
def cli(verbose: int, quiet: int) -> None:
    """pucha (普查): draw census enumeration areas (普查小区) and enumerators' maps.

    \b
    A typical township run, one step per office:
      pucha init 交付文件/               规土所: write a project TOML from the delivered files
      pucha import project.toml          规土所: read the GIS files into one project GeoPackage
      pucha boundaries project.gpkg      自治办: check the 街镇 / 居村 boundaries
      pucha partition project.gpkg       人普办: split every 居/村 into ~300-person areas
      pucha check project.gpkg           人普办: validate a hand-edited plan
      pucha staff plan project.gpkg      人普办: supervisors' districts, workload, 人员配备表
      pucha maps project.gpkg -o maps/   普查员: HTML + A4 PDF maps, registers
      pucha demo -o pucha-demo/          everything above on the bundled demo data

    Run `pucha COMMAND --help` for the options of each step.
    """
    level = logging.INFO + 10 * (quiet - verbose)
    logging.basicConfig(level=max(logging.DEBUG, min(logging.CRITICAL, level)),
                        format="%(levelname)s %(name)s: %(message)s")
    logging.captureWarnings(True)
    # libraries that chat at INFO (font subsetting, GDAL driver notes): warnings only
    for name in ("fontTools", "pyogrio", "fiona", "matplotlib", "PIL", "distributed"):
        logging.getLogger(name).setLevel(max(logging.WARNING, level))


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the group, turning PuchaError into a clean message."""
    try:
        rv = cli.main(args=argv, prog_name="pucha", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(1)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except PuchaError as exc:
        click.echo(f"错误 / error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("Interrupted; previous outputs are intact.", err=True)
        sys.exit(130)
    except Exception as exc:  # noqa: BLE001 - only write failures are translated
        what = _write_failure(exc)
        if what is None:
            raise
        where = getattr(exc, "filename", None) or "the outputs"
        click.echo(f"错误 / error: {what} while writing {where}: nothing was replaced, the "
                   f"previous outputs are intact. Free space (or choose another folder with "
                   f"-o) and run again", err=True)
        sys.exit(2)
    if isinstance(rv, int) and rv:
        sys.exit(rv)


def _write_failure(exc: BaseException) -> str | None:
    """What went wrong when ``exc`` is a failed write (disk full, quota, read-only)."""
    import errno

    codes = {errno.ENOSPC: "no space left on the device (disk full)",
             errno.EDQUOT: "disk quota exceeded", errno.EROFS: "the folder is read-only"}
    seen: set[int] = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:   # the error or its cause
        seen.add(id(e))
        if isinstance(e, OSError) and e.errno in codes:
            return codes[e.errno]
        text = str(e).lower()
        if "no space left" in text or "disk is full" in text or "disk full" in text:
            return codes[errno.ENOSPC]
        e = e.__cause__ or e.__context__
    return None


if __name__ == "__main__":  # pragma: no cover
    main()

"""``pucha maps``: the enumerators' map pack (HTML + A4 PDF + registers + index)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

__all__ = ["maps"]


@click.command("maps")
@click.argument("project", type=click.Path(dir_okay=False, path_type=Path))
@click.option("-o", "--out", "out_dir", required=True,
              type=click.Path(file_okay=False, path_type=Path),
              help="Folder for the pack (created; files in it are replaced atomically).")
@click.option("-j", "--jobs", type=click.IntRange(min=1), default=None,
              help="Worker processes. Default: all cores.")
@click.option("--tiles", "tiles", default=None,
              help="Tiles under the vector basemap: none | local:DIR | tianditu:KEY | amap "
                   "(amap tiles are GCJ-02: overlays are shifted at render time only). "
                   "Default: [maps] tile_source of the project file, else none.")
@click.option("--only-village", "only_village", default=None, metavar="CODE",
              help="Draw only this 居/村 (12-digit code).")
@click.option("--no-pdf", "no_pdf", is_flag=True, help="HTML only: skip PDF pages and atlases.")
@click.option("--residential-only", "residential_only", is_flag=True,
              help="Number and route only the buildings that may hold people (people "
                   "counted, or residential); others stay on the map unnumbered. Default: "
                   "every building is numbered, empty ones drawn hollow.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
@click.option("--dask", "dask_address", default=None, metavar="ADDRESS",
              help="Draw on a Dask cluster, one task per 居/村: a scheduler address or 'local' "
                   "(--jobs workers). PROJECT and OUT_DIR must be mounted at the same path on "
                   "every worker.")
@click.option("--dashboard", is_flag=True, help="With --dask: print the Dask dashboard's link.")
def maps(project: Path, out_dir: Path, jobs: int | None, tiles: str | None,
         only_village: str | None,
         no_pdf: bool, quiet: bool, dask_address: str | None = None,
         dashboard: bool = False, residential_only: bool = False) -> None:
    """Draw every map the enumerators (普查员) carry, from a partitioned PROJECT.gpkg.

    \b
    Writes into OUT_DIR:
      index.html                        search areas by code or 居/村 name; links to all
      <居村>/<area_code>.html           one offline map per 普查小区 (opens from file://
                                        on a phone with no network: numbered buildings,
                                        walking route, 四至, locate-me button)
      <居村>/<area_code>.pdf            the same area on one A4 page (binding margin,
                                        title block, legend, north arrow, scale, signatures)
      <居村>/总图.html, <居村>_图册.pdf   overview of the 居/村; atlas = overview + all areas
      <居村>_登记表.csv/.xlsx/.pdf, 登记表/  registers per 居/村 and for the township

    The pack is built in a staging folder beside OUT_DIR and swapped in whole at
    the end: a killed run leaves the previous pack as it was, and maps of areas
    that no longer exist are removed.

    \b
    Example:
      pucha maps project.gpkg -o maps/
      pucha maps project.gpkg -o maps/ --only-village 310118002001 --no-pdf
      pucha maps project.gpkg -o maps/ --tiles local:tiles/   # tiles/{z}/{x}/{y}.png

    Defaults: all cores, no tiles (the basemap is the project's own roads, water and
    buildings), PDF on. Run `pucha partition` first.
    """
    from pucha.basemaps.tiles import parse_tile_spec
    from pucha.outputs.pack import make_pack

    source = parse_tile_spec(tiles) if tiles is not None else _tiles_from_settings(project)
    progress = not quiet and sys.stderr.isatty()
    kw = dict(jobs=jobs or os.cpu_count() or 1, progress=progress, tile_source=source,
              only_village=only_village, pdf=not no_pdf,
              residential_only=residential_only)
    if dask_address:
        from pucha.outputs.parallel import make_pack_dask
        from pucha.partition.schedule import dask_client

        with dask_client(dask_address, jobs=kw["jobs"], dashboard=dashboard, say=click.echo):
            res = make_pack_dask(project, out_dir, **kw)
    else:
        res = make_pack(project, out_dir, **kw)
    per = res.seconds / max(1, res.n_areas)
    click.echo(f"{res.n_areas} 个普查小区, {res.n_villages} 个居/村: {len(res.html)} HTML, "
               f"{len(res.pdf)} PDF ({res.pages} 页), {len(res.registers)} 登记表; "
               f"{res.seconds:.1f} s ({per:.2f} s/普查小区)")
    click.echo(f"打开 / open: {(out_dir / 'index.html')}")




def _tiles_from_settings(project: Path):
    """The tile source of the project's ``[maps]`` settings (stored at import), else None.

    ``tile_source = "local:DIR"`` is relative to the project file's folder, like every
    other path in it; ``"tianditu"`` takes ``tianditu_key``; an unknown source is an error.
    """
    from pucha.basemaps.tiles import parse_tile_spec
    from pucha.gis.settings import project_config

    config = project_config(project)
    st = config.maps
    spec = str(st.tile_source or "none").strip()
    kind, _, arg = spec.partition(":")
    if kind.lower() == "tianditu" and not arg and st.tianditu_key:
        spec = f"tianditu:{st.tianditu_key}"
    elif kind.lower() == "local" and arg:
        spec = f"local:{config.resolve(arg)}"
    return parse_tile_spec(spec, tile_url=st.tile_url)

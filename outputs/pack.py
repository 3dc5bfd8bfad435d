"""The enumerators' map pack: every map, atlas, register and the index, in parallel.

:func:`make_pack` reads a partitioned project GeoPackage and writes (layout in
:mod:`pucha.outputs.naming`): for every area one HTML and one A4 PDF; for every
居/村 an overview HTML, an atlas PDF (overview page + every area page) and a
register (CSV + XLSX); the township register; and ``index.html``, which
searches areas by code or 居/村 name and links to everything. Areas are drawn
in parallel (:class:`concurrent.futures.ProcessPoolExecutor`, one project
read per worker) with a tqdm progress bar. Every file is written atomically;
file names built from data are sanitised and checked to stay inside
``out_dir``.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from concurrent.futures import FIRST_EXCEPTION, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from pucha.basemaps.tiles import TileSource
from pucha.errors import InputError
from pucha.gis.inputs import sha256_file
from pucha.gis.write import write_text
from pucha.outputs.naming import PackLayout
from pucha.outputs.project import MapProject, load_project
from pucha.outputs.staging import staged_folder

__all__ = ["PackResult", "make_pack"]

logger = logging.getLogger(__name__)

MANIFEST = "pucha-maps.json"
_PACK_SUFFIXES = {".html", ".pdf", ".csv", ".xlsx"}
_SLOW_S = float(os.environ.get("PUCHA_TEST_SLOW_AREA_S", "0") or 0)

_KEEP = ["number", "building_id", "name", "address", "floors", "population", "dwellings",
         "cut", "part_label"]


@dataclass
class PackResult:
    """What :func:`make_pack` wrote.

    Attributes
    ----------
    out_dir
        The pack folder.
    n_areas, n_villages
        Areas and 居/村 drawn.
    html, pdf
        Files written of each kind (area maps, overviews, atlases, index).
    registers
        Register files (CSV and XLSX).
    pages
        PDF pages drawn (area pages + overview pages).
    seconds
        Wall time.
    cpu
        CPU seconds by part, summed over the workers: ``route`` (numbering),
        ``html`` (area maps), ``pdf`` (area sheets), ``overview`` (居/村 HTML),
        ``atlas`` (overview pages + merging), ``registers``, ``index``.
    """

    out_dir: Path
    n_areas: int = 0
    n_villages: int = 0
    html: list[Path] = field(default_factory=list)
    pdf: list[Path] = field(default_factory=list)
    registers: list[Path] = field(default_factory=list)
    pages: int = 0
    seconds: float = 0.0
    cpu: dict[str, float] = field(default_factory=dict)

    @property
    def files(self) -> list[Path]:
        return sorted(self.html + self.pdf + self.registers)


# -- worker side --------------------------------------------------------------

_PROJECT: MapProject | None = None


def _init(gpkg: str, attribution: str | None) -> None:
    global _PROJECT
    import logging as _lg
    _lg.getLogger("pucha").setLevel(_lg.WARNING)
    _PROJECT = load_project(gpkg, attribution=attribution)
    _prepare_fonts(_PROJECT)


def _prepare_fonts(project: MapProject) -> None:
    from pucha.outputs.printmap import project_texts, use_subset_font

    use_subset_font(project_texts(project))


def _area_task(code: str, html_path: str, pdf_path: str | None, pdf_href: str,
               overview_href: str, tiles: TileSource | None,
               residential_only: bool = False) -> dict:
    from pucha.outputs.offline import save_html
    from pucha.outputs.printmap import write_area_pdf
    from pucha.outputs.route import number_area
    from pucha.outputs.webmap import area_map

    project = _PROJECT
    assert project is not None
    t0 = time.process_time()
    b, route = number_area(project, code, residential_only=residential_only)
    if _SLOW_S:  # test hook: a slow pack, to be killed half-way
        time.sleep(_SLOW_S)
    t1 = time.process_time()
    m = area_map(project, code, tiles=tiles, html_dir=Path(html_path).parent,
                 numbered=(b, route), pdf_href=pdf_href, overview_href=overview_href)
    save_html(m, html_path)
    t2 = time.process_time()
    if pdf_path:
        write_area_pdf(project, code, pdf_path, numbered=(b, route))
    t3 = time.process_time()
    keep = pd.DataFrame(b[[c for c in _KEEP if c in b.columns]])
    return {"code": code, "buildings": keep, "route_m": route.length_m,
            "cpu": {"route": t1 - t0, "html": t2 - t1, "pdf": t3 - t2}}


def _village_task(vcode: str, overview_path: str, atlas_path: str | None,
                  area_pdfs: dict[str, str], area_links: dict[str, str],
                  tiles: TileSource | None) -> dict:
    from pucha.outputs.offline import save_html
    from pucha.outputs.printmap import write_atlas
    from pucha.outputs.webmap import village_map

    project = _PROJECT
    assert project is not None
    t0 = time.process_time()
    save_html(village_map(project, vcode, tiles=tiles, html_dir=Path(overview_path).parent,
                          area_links=area_links), overview_path)
    t1 = time.process_time()
    if atlas_path:
        write_atlas(project, vcode, atlas_path, area_pdfs=area_pdfs)
    return {"code": vcode, "cpu": {"overview": t1 - t0, "atlas": time.process_time() - t1}}


# -- driver -------------------------------------------------------------------

def _run(tasks: list[tuple], fn, *, jobs: int, gpkg: str, attribution: str | None,
         progress: bool, desc: str, project: MapProject, runner=None) -> list:
    global _PROJECT
    if runner is not None:  # e.g. a Dask cluster (pucha.outputs.parallel)
        return runner(tasks, fn, gpkg=gpkg, attribution=attribution, progress=progress, desc=desc)
    from tqdm import tqdm

    bar = tqdm(total=len(tasks), desc=desc, unit="个", disable=not progress, file=sys.stderr,
               dynamic_ncols=True)
    results = []
    try:
        if jobs <= 1:
            _PROJECT = project
            _prepare_fonts(project)
            for t in tasks:
                results.append(fn(*t))
                bar.update(1)
            return results
        with ProcessPoolExecutor(max_workers=jobs, initializer=_init,
                                 initargs=(gpkg, attribution)) as ex:
            pending = {ex.submit(fn, *t) for t in tasks}
            while pending:
                done, pending = wait(pending, return_when=FIRST_EXCEPTION)
                for f in done:
                    exc = f.exception()
                    if exc is not None:
                        for p in pending:
                            p.cancel()
                        raise exc
                    results.append(f.result())
                    bar.update(1)
        return results
    finally:
        bar.close()


def make_pack(gpkg: str | os.PathLike, out_dir: str | os.PathLike, *,
              jobs: int | None = os.cpu_count(), progress: bool = True,
              tile_source: TileSource | None = None, only_village: str | None = None,
              pdf: bool = True, attribution: str | None = None, runner=None,
              residential_only: bool = False) -> PackResult:
    """Write the whole map pack for a partitioned project.

    Parameters
    ----------
    gpkg
        The project GeoPackage (after ``pucha partition``).
    out_dir
        The pack folder. The whole pack is written into a staging folder beside it
        and swapped in at the end (:mod:`pucha.outputs.staging`): a killed run
        leaves the previous pack whole, and files of an older plan (areas that no
        longer exist) do not remain. Files of your own in it are kept.
    jobs
        Worker processes (default: all cores; 1 = in this process).
    progress
        Show tqdm bars (on stderr).
    tile_source
        Optional tiles under the vector basemap (:func:`~pucha.basemaps.tiles.parse_tile_spec`).
    only_village
        Draw only this 居/村 (12-digit code); the index and township register
        then list only it.
    pdf
        False: HTML only (no PDF pages, atlases).
    attribution
        Override the data attribution printed on the maps.
    runner
        Runs the drawing tasks instead of the local pool (see
        :func:`pucha.outputs.parallel.dask_runner`).
    residential_only
        Number (and route through) only the buildings that may hold people
        (:func:`pucha.outputs.route.holds_people`); others stay on the map unnumbered.

    Returns
    -------
    PackResult
    """
    t0 = time.perf_counter()
    gpkg = Path(gpkg)
    final = Path(out_dir)
    project = load_project(gpkg, attribution=attribution)
    vcodes = project.village_codes()
    if only_village is not None:
        if only_village not in vcodes:
            raise InputError(f"{gpkg}: no areas for 居/村 {only_village!r}; known codes: "
                             f"{', '.join(vcodes[:10])}{' …' if len(vcodes) > 10 else ''}")
        vcodes = [only_village]
    jobs = max(1, int(jobs or 1))
    keep, listed = _keep_rule(final, PackLayout(final, project.township_name
                                                or project.township_code),
                              project, only_village)
    with staged_folder(final, keep=keep) as out:
        res = _write_pack(project, gpkg, out, vcodes, jobs=jobs, progress=progress,
                          tile_source=tile_source, pdf=pdf, attribution=attribution,
                          residential_only=residential_only, runner=runner)
        res.seconds = time.perf_counter() - t0
        kept = sorted(r for r in listed if (out / r).is_file()) if only_village else []
        _write_manifest(out, gpkg, res, tile_source, kept=kept)
    res = _moved(res, out, final.absolute())
    logger.info("地图包完成：%d 个普查小区，%d 页 PDF，用时 %.1f 秒", res.n_areas, res.pages,
                res.seconds)
    return res


def _keep_rule(final: Path, layout: PackLayout, project: MapProject,
               only_village: str | None):
    """Which files of the pack on disk the new one starts with (hard links): on a
    one-居/村 run, all but that 居/村's folder; always the user's own files (not in
    the previous manifest, not of a kind pucha writes)."""
    listed: set[str] = set()
    try:
        listed = set(json.loads((final / MANIFEST).read_text(encoding="utf-8"))["files"])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    redrawn = None
    if only_village is not None:
        redrawn = layout.village_dir(only_village, project.village_name(only_village)).name

    def keep(rel: str) -> bool:
        if rel == MANIFEST:
            return False
        if redrawn is not None:
            return rel.split("/", 1)[0] != redrawn
        return rel not in listed and Path(rel).suffix.lower() not in _PACK_SUFFIXES

    return keep, listed


def _moved(res: PackResult, stage: Path, final: Path) -> PackResult:
    def mv(ps: list[Path]) -> list[Path]:
        return [final / Path(p).relative_to(stage) for p in ps]

    res.out_dir = final
    res.html, res.pdf, res.registers = mv(res.html), mv(res.pdf), mv(res.registers)
    return res


def _write_pack(project: MapProject, gpkg: Path, out: Path, vcodes: list[str], *, jobs: int,
                progress: bool, tile_source: TileSource | None, pdf: bool,
                attribution: str | None, residential_only: bool, runner=None) -> PackResult:
    """Draw every file of the pack into ``out`` (the staging folder)."""
    layout = PackLayout(out, project.township_name or project.township_code)
    res = PackResult(out_dir=out)
    vdirs = {v: layout.village_dir(v, project.village_name(v)) for v in vcodes}
    area_tasks, area_files = [], {}
    for v in vcodes:
        vdir = vdirs[v]
        for code in project.area_codes(v):
            h = layout.area_file(vdir, code, "html")
            p = layout.area_file(vdir, code, "pdf") if pdf else None
            area_files[code] = (h, p)
            area_tasks.append((code, str(h), str(p) if p else None,
                               p.name if p else "", layout.overview_html(vdir).name,
                               tile_source, residential_only))
    logger.info("绘制 %d 个普查小区（%d 个居/村），%d 个进程", len(area_tasks), len(vcodes), jobs)
    results = _run(area_tasks, _area_task, jobs=min(jobs, max(1, len(area_tasks))),
                   gpkg=str(gpkg), attribution=attribution, progress=progress,
                   desc="普查小区图", project=project, runner=runner)
    numbered = {r["code"]: r["buildings"] for r in results}
    for code, (h, p) in sorted(area_files.items()):
        res.html.append(h)
        if p:
            res.pdf.append(p)
    res.pages += len(area_files) if pdf else 0

    v_tasks = []
    for v in vcodes:
        vdir = vdirs[v]
        codes = project.area_codes(v)
        v_tasks.append((v, str(layout.overview_html(vdir)),
                        str(layout.atlas_pdf(vdir, v, project.village_name(v))) if pdf else None,
                        {c: str(area_files[c][1]) for c in codes if area_files[c][1]},
                        {c: area_files[c][0].name for c in codes}, tile_source))
    v_results = _run(v_tasks, _village_task, jobs=min(jobs, max(1, len(v_tasks))),
                     gpkg=str(gpkg), attribution=attribution, progress=progress,
                     desc="居/村总图与图册", project=project, runner=runner)
    for r in results + v_results:
        for k, v in (r.get("cpu", {}) if isinstance(r, dict) else {}).items():
            res.cpu[k] = res.cpu.get(k, 0.0) + v
    for v in vcodes:
        res.html.append(layout.overview_html(vdirs[v]))
        if pdf:
            res.pdf.append(layout.atlas_pdf(vdirs[v], v, project.village_name(v)))
            res.pages += 1

    # registers
    t_reg = time.process_time()
    all_rows, village_entries = _write_registers(project, layout, vcodes, vdirs, numbered,
                                                 res, pdf=pdf)
    t_xlsx = layout.township_register("xlsx")
    t_csv = layout.township_register("csv")

    res.cpu["registers"] = time.process_time() - t_reg
    # index
    t_idx = time.process_time()
    from pucha.outputs.webmap import index_html

    entries = []
    for r in all_rows:
        code = str(r["普查小区代码"])
        h, p = area_files[code]
        entries.append({"area_code": code, "village_code": r["居/村代码"], "village": r["居/村"],
                        "population": r["人口"], "dwellings": r["户数/住房单元"],
                        "n_buildings": r["建筑栋数"], "group": r.get("指导区", ""),
                        "html": layout.rel(h),
                        "pdf": layout.rel(p) if p else ""})
    write_text(layout.index(), index_html(
        project, entries, village_entries=village_entries,
        extra_links=[("普查小区登记表 (Excel)", layout.rel(t_xlsx)), ("登记表 (CSV)", layout.rel(t_csv))]
        + ([("登记表 (PDF)", layout.rel(layout.township_register("pdf")))] if pdf else [])))
    res.html.append(layout.index())
    res.cpu["index"] = time.process_time() - t_idx
    res.n_areas = len(area_files)
    res.n_villages = len(vcodes)
    return res


def _write_registers(project: MapProject, layout: PackLayout, vcodes: list[str],
                     vdirs: dict[str, Path], numbered: dict[str, pd.DataFrame],
                     res: PackResult, *, pdf: bool) -> tuple[list[dict], list[dict]]:
    """Per 居/村 and township registers: CSV (data, one row per area), XLSX and PDF (for
    print, with a totals row).

    Returns the township's rows and the index entries of the 居/村. (A hook for
    further per-居/村 sheets goes here: it gets the 居/村's rows.)
    """
    from pucha.outputs.registers import (register_rows, totals_row, write_register_csv,
                                         write_register_pdf, write_register_xlsx)
    from pucha.outputs.staffing import fill_register_rows

    all_rows: list[dict] = []
    entries: list[dict] = []

    def write(rows: list[dict], paths: dict[str, Path], title: str) -> None:
        total = totals_row(rows, project)
        write_register_csv(rows, paths["csv"])  # data: one row per area, no totals
        write_register_xlsx(rows, paths["xlsx"], title=title, total=total)
        res.registers += [paths["csv"], paths["xlsx"]]
        if pdf:
            write_register_pdf(rows, paths["pdf"], title=title, total=total,
                               data_date=project.data_date)
            res.registers.append(paths["pdf"])

    for v in vcodes:
        vname = project.village_name(v)
        rows = register_rows(project, project.area_codes(v), numbered)
        fill_register_rows(project, rows)  # staff plan: 指导区, workload, names (staffing.py)
        all_rows += rows
        vdir = vdirs[v]
        paths = {k: layout.village_register(vdir, v, vname, k) for k in ("csv", "xlsx", "pdf")}
        write(rows, paths, f"{vname} 普查小区登记表")
        entries.append({
            "village_code": v, "village": vname,
            "overview": layout.rel(layout.overview_html(vdir)),
            "atlas": layout.rel(layout.atlas_pdf(vdir, v, vname)) if pdf else "",
            "register": layout.rel(paths["xlsx"])})
    write(all_rows, {k: layout.township_register(k) for k in ("csv", "xlsx", "pdf")},
          f"{project.township_name} 普查小区登记表")
    return all_rows, entries


def _write_manifest(out: Path, gpkg: Path, res: PackResult, tiles: TileSource | None, *,
                    kept: list[str] = ()) -> None:
    import folium
    import matplotlib

    from pucha import __version__

    info = {
        "pucha": __version__, "folium": folium.__version__, "matplotlib": matplotlib.__version__,
        "input": {"path": gpkg.name, "sha256": sha256_file(gpkg)},
        "tile_source": tiles.name if tiles else "none",
        "areas": res.n_areas, "villages": res.n_villages, "pdf_pages": res.pages,
        "files": sorted({p.relative_to(out).as_posix() for p in res.files} | set(kept)),
    }
    write_text(out / MANIFEST, json.dumps(info, ensure_ascii=False, indent=1,
                                                   sort_keys=True) + "\n")

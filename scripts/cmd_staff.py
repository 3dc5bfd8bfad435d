"""``pucha staff``: the census office's staff plan (指导区, workload, 人员配备表, roster)."""

from __future__ import annotations

from pathlib import Path

import click

__all__ = ["staff"]


def _out_dir(project_gpkg: Path, out: Path | None) -> Path:
    return out if out is not None else project_gpkg.parent / "人员配备"


@click.group("staff")
def staff() -> None:
    """人普办: supervisors' districts (指导区), workload per area, staffing table, roster.

    \b
    After `pucha partition` (and again after every re-partition):
      pucha staff plan project.gpkg                  groups, workload, 人员配备表
      pucha staff assign project.gpkg roster.csv     names on registers and signature lines
      pucha maps project.gpkg -o maps/               maps and registers show the groups
    See docs/staff.md for the workload model and the group codes.
    """


@staff.command("plan")
@click.argument("project_gpkg", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--areas-per-supervisor", type=click.IntRange(1, 50), default=None,
              help="Areas per supervisor's group (default: [staff] areas_per_supervisor of the "
                   "project, 5). Groups hold 3-7 areas wherever the 居/村 has at least 3.")
@click.option("-o", "--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder for 人员配备表.csv/.xlsx/.pdf (default: 人员配备/ beside the project).")
def plan(project_gpkg: Path, areas_per_supervisor: int | None, out: Path | None) -> None:
    """Group each 居/村's areas into supervisors' districts and estimate each area's workload.

    Inside every 居/村 the areas are grouped into contiguous groups of about
    --areas-per-supervisor areas, balanced on workload; each group has one 普查指导员
    who also enumerates its lightest area. Group codes are the 居/村 code + Z + two
    digits (310118002001Z01) and stay the same for a 居/村 a re-partition did not
    touch. Writes the columns supervisor_group, supervisor_area and the workload
    (dwellings_est, floors_climbed, route_m, workload_min, workload_note) on `areas`,
    the layer `supervisor_groups`, `problems` rows (an area above 1.5x its 居/村's
    median workload, naming the cause) and the staffing table (人员配备表). After
    `pucha staff assign`, the people of the `staff` layer are re-assigned to the new
    groups and areas (each keeps the area or group they held wherever it survives).

    \b
    Example:
      pucha staff plan yingpu.gpkg
      pucha staff plan yingpu.gpkg --areas-per-supervisor 4 -o 人员配备/
    """
    from pucha.gis.write import read_meta
    from pucha.outputs.staffing import write_staffing
    from pucha.partition.staff import staff_plan_project, staff_settings_of

    st = staff_settings_of(read_meta(project_gpkg), areas_per_supervisor=areas_per_supervisor)
    res = staff_plan_project(project_gpkg, settings=st)
    from pucha.partition.roster import read_staff, staff_assign_project

    if read_staff(project_gpkg) is not None:  # a roster was assigned: keep people in place
        staff_df, _problems = staff_assign_project(project_gpkg, None)
        moved = int((staff_df["status"] == "reserve").sum())
        click.echo(f"名册已按新指导区重新分配（原岗位保留处不变），备用 {moved} 人")
    files = write_staffing(project_gpkg, _out_dir(project_gpkg, out))
    n, k = len(res.areas), len(res.groups)
    warn = int((res.problems["code"] == "workload_high").sum())
    other = len(res.problems) - warn
    click.echo(f"{n} 个普查小区，{k} 个指导区：需配备 {n} 人，其中普查员 {n - k} 人、普查指导员 "
               f"{k} 人（指导员兼普查员）；{warn} 个小区工作量超过本居/村中位数 "
               f"{st.workload_warning_factor:g} 倍；{other} 条分组提示；"
               f"{len(res.kept)} 个居/村沿用原指导区")
    for f in files:
        click.echo(f"  {f}")


@staff.command("assign")
@click.argument("project_gpkg", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("roster", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-o", "--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder for 人员配备表 and 人员分工 (default: 人员配备/ beside the project).")
def assign(project_gpkg: Path, roster: Path, out: Path | None) -> None:
    """Assign the people of ROSTER (CSV) to the supervisors' groups and areas.

    ROSTER has the columns name, role, phone and optionally village (the preferred
    居/村, code or name); Chinese headers 姓名, 角色, 电话, 居村 work too. Roles: 普查员
    (enumerator) and 普查指导员 / 指导员 (supervisor). Each group gets one supervisor
    (who enumerates its supervisor_area), every other area one enumerator; a person
    keeps the area or group they held before wherever it survives a re-partition.
    Names and phones go to the `staff` layer and are printed only on the registers
    and the PDF signature lines, never in the area HTML maps. Run `pucha maps` again
    to print them.

    \b
    Example:
      pucha staff assign yingpu.gpkg 名册.csv
    """
    from pucha.outputs.staffing import write_staffing
    from pucha.partition.roster import staff_assign_project

    staff_df, problems = staff_assign_project(project_gpkg, roster)
    files = write_staffing(project_gpkg, _out_dir(project_gpkg, out))
    got = staff_df[staff_df["status"] == "assigned"]
    n_sup = int((got["role"] == "普查指导员").sum())
    click.echo(f"已分配 {len(got)} 人（普查指导员 {n_sup}，普查员 {len(got) - n_sup}），"
               f"备用 {int((staff_df['status'] == 'reserve').sum())} 人")
    for p in problems:
        click.echo(f"  {p['message']}", err=p["severity"] != "info")
    for f in files:
        click.echo(f"  {f}")

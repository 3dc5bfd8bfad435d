"""Crash safety: a run killed with SIGKILL at any moment leaves the previous results intact
and readable, and the re-run completes with the same results and no temporary files.

Each test runs a real ``pucha`` command once to completion (the "previous results"),
then starts it again and SIGKILLs its whole process group (workers included) after a
seeded random delay inside the measured run time, several times; after every kill:

- every previous output file still exists, is readable (GeoPackage opens and every
  layer reads, HTML ends with ``</html>``, PDF parses, XLSX opens, JSON parses) and has
  the same content (:func:`fingerprint`: PDF by page count + text, XLSX by cell values
  (both carry creation timestamps), GeoPackage by the rows of every layer, other files
  by bytes);
- every other file under the output folder that is not a temporary file is readable too.

Finally a clean re-run must give the same fingerprint and leave no temporary file
(including the ones the killed runs left behind).

The project GeoPackage is written in place, one SQLite transaction per change
(gis/gpkg.py): a kill inside it leaves SQLite's hot ``-journal``, which the next
read-write open (pucha's own readers, QGIS) rolls back to the last committed state;
GDAL's read-only open cannot, so the checks here open it as pucha's readers do
(:func:`pucha.gis.gpkg.recover`) before reading it with pyogrio.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from corpus import scan

HERE = Path(__file__).resolve().parent


# --------------------------------------------------------------------------- helpers
def pucha_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "pucha.scripts.cli", "-qq", *args]


def run_to_end(cmd: list[str], cwd: Path, timeout: float = 900) -> float:
    t0 = time.perf_counter()
    r = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                       env=dict(os.environ, PYTHONHASHSEED="0"))
    assert r.returncode == 0, f"{' '.join(cmd)}\n{r.stderr[-3000:]}"
    assert "Traceback" not in r.stderr
    return time.perf_counter() - t0


def run_and_kill(cmd: list[str], cwd: Path, delay: float) -> bool:
    """Start ``cmd`` in its own process group; SIGKILL the group after ``delay`` s.

    Returns True if it was killed (False if it finished first).
    """
    p = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         start_new_session=True, env=dict(os.environ, PYTHONHASHSEED="0"))
    try:
        p.wait(timeout=delay)
        return False
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()
        return True


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _gpkg_digest(path: Path) -> str:
    import pyogrio

    from pucha.gis.gpkg import recover
    recover(path)     # a killed in-place write left SQLite's hot journal: roll it back

    h = hashlib.sha256()
    for name, _ in sorted(pyogrio.list_layers(path), key=lambda t: str(t[0])):
        name = str(name)
        if name == "pucha_meta":      # timestamps of each stage live here
            continue
        df = pyogrio.read_dataframe(path, layer=name)
        # wall-clock stamps (e.g. revisions.date) differ between any two runs
        df = df.drop(columns=[c for c in df.columns if c in ("date", "created", "finished",
                                                              "timestamp", "time")])
        if hasattr(df, "geometry") and "geometry" in df.columns:
            import pandas as pd
            wkb = df.geometry.to_wkb(hex=True)
            df = pd.DataFrame(df.drop(columns="geometry")).assign(wkb=list(wkb))
        h.update(name.encode())
        h.update(df.to_csv(index=False).encode())
    return h.hexdigest()


def _layer_names(folder: Path, rels: set[str]) -> dict[str, list[str]]:
    import pyogrio
    return {r: sorted(str(n) for n, _ in pyogrio.list_layers(folder / r))
            for r in rels if r.endswith(".gpkg")}


def readable(path: Path) -> None:
    """Raise AssertionError if ``path`` is not a complete file of its kind."""
    s = path.suffix.lower()
    if s == ".html":
        assert path.read_text(encoding="utf-8").rstrip().endswith("</html>"), path
    elif s == ".pdf":
        from pypdf import PdfReader
        assert len(PdfReader(str(path)).pages) >= 1, path
    elif s == ".xlsx":
        from openpyxl import load_workbook
        load_workbook(path, read_only=True).close()
    elif s == ".json":
        json.loads(path.read_text(encoding="utf-8"))
    elif s == ".csv":
        path.read_bytes().decode("utf-8-sig")
    elif s == ".gpkg":
        import pyogrio

        from pucha.gis.gpkg import recover
        recover(path)     # as any read-write open (pucha's readers, QGIS) does
        for name, _ in pyogrio.list_layers(path):
            pyogrio.read_dataframe(path, layer=name)


def fingerprint(folder: Path) -> dict[str, str]:
    """Content digest per output file (see the module docstring); temp files skipped."""
    leftovers = set(scan.temp_leftovers(folder))
    out = {}
    for p in scan.output_files(folder):
        if p in leftovers:
            continue
        s = p.suffix.lower()
        if s == ".pdf":
            from pypdf import PdfReader
            n = len(PdfReader(str(p)).pages)
            out[p.relative_to(folder).as_posix()] = f"{n}:{_sha(scan._pdf_text(p).encode())}"
        elif s == ".xlsx":
            from openpyxl import load_workbook
            wb = load_workbook(p, read_only=True)
            cells = [[ws.title] + [list(r) for r in ws.iter_rows(values_only=True)]
                     for ws in wb.worksheets]
            wb.close()
            out[p.relative_to(folder).as_posix()] = _sha(repr(cells).encode())
        elif s == ".gpkg":
            out[p.relative_to(folder).as_posix()] = _gpkg_digest(p)
        else:
            out[p.relative_to(folder).as_posix()] = _sha(p.read_bytes())
    return out


def kill_and_check(cmd: list[str], cwd: Path, folder: Path, *, seed: int, kills: int,
                   t_full: float, before: dict[str, str],
                   after: dict[str, str] | None = None) -> int:
    """SIGKILL ``cmd`` ``kills`` times at seeded delays; check ``folder`` after each.

    Each previous file must hold its ``before`` content or, if the killed run got to
    replace it, exactly its complete ``after`` content (never a mixture)."""
    rng = random.Random(seed)
    # spread the kill points over the run: early (start-up), middle, late (writing)
    # (up to 0.75: a warm run can be faster than the timed one on a loaded machine)
    delays = sorted(rng.uniform(0.1, 0.75) * t_full for _ in range(kills))
    n_killed = 0
    for d in delays:
        n_killed += run_and_kill(cmd, cwd, d)
        leftovers = set(scan.temp_leftovers(folder))
        for rel, digest in before.items():
            p = folder / rel
            assert p.exists(), f"killed at {d:.2f}s: {rel} is gone"
            readable(p)
        now = fingerprint(folder)
        changed = {rel for rel in before
                   if now.get(rel) != before[rel] and (after is None or now.get(rel) != after.get(rel))}
        assert not changed, (f"killed at {d:.2f}s: content changed: {sorted(changed)[:5]}; "
                             f"layers now: {_layer_names(folder, changed)}")
        for p in scan.output_files(folder):
            if p not in leftovers:
                readable(p)
    return n_killed


# --------------------------------------------------------------------------- pucha maps
@pytest.fixture(scope="module")
def tiny_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    sys.path.insert(0, str(HERE))
    import fixture_outputs

    root = tmp_path_factory.mktemp("crash-maps")
    return fixture_outputs.make_tiny_project(root / "project.gpkg")


@pytest.mark.slow
def test_maps_killed_keeps_previous_pack(tiny_project: Path) -> None:
    root = tiny_project.parent
    out = root / "pack"
    cmd = pucha_cmd("maps", str(tiny_project), "-o", str(out), "-j", "2", "-q")
    run_to_end(cmd, root)
    t_full = run_to_end(cmd, root)      # warm caches: the kill points use this time
    before = fingerprint(out)
    assert len(before) >= 15 and scan.temp_leftovers(out) == []
    killed = kill_and_check(cmd, root, out, seed=20261128, kills=4, t_full=t_full, before=before)
    print(f"pucha maps: {t_full:.1f} s per run, killed {killed} of 4 runs")
    assert killed >= 3, "the kill points should land inside the run"
    run_to_end(cmd, root)
    assert fingerprint(out) == before
    assert scan.temp_leftovers(out) == [], "a clean re-run must sweep the killed runs' temp files"


def test_atomic_write_killed_midway_keeps_old_file_and_is_swept(tmp_path: Path) -> None:
    """A writer SIGKILLed inside ``atomic_path`` leaves the old file; the next write sweeps
    the dead writer's temporary file (its pid is in the name) but not a live writer's."""
    dest = tmp_path / "村" / "310118002001.html"
    dest.parent.mkdir()
    dest.write_text("<html>old</html>", encoding="utf-8")
    code = (
        "import sys, time\n"
        "from pucha.gis.write import atomic_path\n"
        "with atomic_path(sys.argv[1]) as tmp:\n"
        "    tmp.write_text('<html>half', encoding='utf-8')\n"
        "    print('inside', flush=True)\n"
        "    time.sleep(60)\n")
    procs = [subprocess.Popen([sys.executable, "-c", code, str(dest)], stdout=subprocess.PIPE,
                              text=True, start_new_session=True) for _ in range(2)]
    for p in procs:
        assert p.stdout is not None and p.stdout.readline().strip() == "inside"
    dead, alive = procs
    os.killpg(dead.pid, signal.SIGKILL)
    dead.wait()
    try:
        temps = sorted(scan.temp_leftovers(tmp_path))
        assert len(temps) == 2
        assert dest.read_text(encoding="utf-8") == "<html>old</html>"
        from pucha.gis.write import write_text
        write_text(dest, "<html>new</html>")
        left = scan.temp_leftovers(tmp_path)
        assert [p.name for p in left] == [p.name for p in temps if f".{alive.pid}." in p.name]
        assert dest.read_text(encoding="utf-8") == "<html>new</html>"
    finally:
        os.killpg(alive.pid, signal.SIGKILL)
        alive.wait()
        for p in procs:
            p.stdout.close()


@pytest.mark.parametrize("mode", ["delete", "wal"])
def test_in_place_write_killed_inside_its_transaction_keeps_the_last_commit(
        tmp_path: Path, mode: str) -> None:
    """SIGKILL inside ``update_gpkg``'s transaction (every layer rewritten, not yet
    committed) in either journal mode: the file keeps its last committed content, passes
    ``PRAGMA integrity_check``, keeps its journal mode, and the next write succeeds."""
    import sqlite3

    sys.path.insert(0, str(HERE))
    import fixture_outputs

    from pucha.gis.write import read_layer

    gpkg = fixture_outputs.make_tiny_project(tmp_path / "project.gpkg")
    con = sqlite3.connect(gpkg)
    con.execute(f"PRAGMA journal_mode={mode}")
    con.close()
    before = _gpkg_digest(gpkg)
    code = (
        "import sys, time\n"
        "from pucha.gis.write import read_layer, update_gpkg\n"
        "p = sys.argv[1]\n"
        "layers = {n: read_layer(p, n) for n in ('areas', 'buildings', 'villages')}\n"
        "layers['buildings']['area_code'] = ''\n"
        "def finish(path):\n"
        "    print('inside', flush=True)\n"
        "    time.sleep(60)\n"
        "update_gpkg(p, layers, meta={'half': 1}, finish=finish)\n")
    p = subprocess.Popen([sys.executable, "-c", code, str(gpkg)], stdout=subprocess.PIPE,
                         text=True, start_new_session=True)
    assert p.stdout is not None and p.stdout.readline().strip() == "inside"
    os.killpg(p.pid, signal.SIGKILL)
    p.wait()
    p.stdout.close()
    assert _gpkg_digest(gpkg) == before
    con = sqlite3.connect(gpkg)
    try:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == mode
    finally:
        con.close()
    b = read_layer(gpkg, "buildings")
    assert (b["area_code"] != "").all()
    from pucha.gis.write import update_gpkg
    update_gpkg(gpkg, {"buildings": b}, meta={"whole": 1})
    assert _gpkg_digest(gpkg) == before


# --------------------------------------------------------------------------- pucha import
@pytest.mark.slow
def test_import_killed_keeps_previous_project(tmp_path: Path) -> None:
    from corpus.make_corpus import make_case

    toml = make_case("clean_base", tmp_path / "src")
    out = tmp_path / "out"
    cmd = pucha_cmd("import", str(toml), "-o", str(out / "project.gpkg"))
    run_to_end(cmd, tmp_path)
    t_full = run_to_end(cmd, tmp_path)
    before = fingerprint(out)
    assert "project.gpkg" in before and scan.temp_leftovers(out) == []
    killed = kill_and_check(cmd, tmp_path, out, seed=7, kills=4, t_full=t_full, before=before)
    print(f"pucha import: {t_full:.1f} s per run, killed {killed} of 4 runs")
    assert killed >= 3
    run_to_end(cmd, tmp_path)
    assert fingerprint(out) == before
    assert scan.temp_leftovers(out) == []


# --------------------------------------------------------------------------- pucha partition
def _load_project(folder: Path, n_buildings: int, per_village: int) -> Path:
    """A generated township (benchmarks/bench_load.py) written straight to the project
    contract (no import step): township, villages, buildings, no areas yet."""
    sys.path.insert(0, str(HERE.parent / "benchmarks"))
    import bench_load

    from pucha.gis.write import _drop_layer, read_layer, update_gpkg

    bench_load.make_project(folder, n_buildings, per_village=per_village)
    plan = bench_load.make_plan(folder)
    b = read_layer(plan, "buildings")
    b["area_code"] = ""
    update_gpkg(plan, {"buildings": b})
    for name in ("areas", "building_areas"):
        _drop_layer(plan, name)
    out = folder / "project.gpkg"
    plan.rename(out)
    return out


def run_and_kill_when(cmd: list[str], cwd: Path, ready, extra: float, timeout: float = 600
                      ) -> bool:
    """Start ``cmd``; once ``ready()`` is true, wait ``extra`` s more and SIGKILL the group.

    Returns True if it was killed (False if it finished first)."""
    p = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         start_new_session=True, env=dict(os.environ, PYTHONHASHSEED="0"))
    t_end = time.monotonic() + timeout
    try:
        while not ready():
            if p.poll() is not None:
                return False
            assert time.monotonic() < t_end, "the run never reached the kill point"
            time.sleep(0.02)
        p.wait(timeout=extra)
        return False
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()
        return True


def _check_after_kill(folder: Path, what: str, before: dict[str, str],
                      after: dict[str, str]) -> None:
    for rel in before:
        assert (folder / rel).exists(), f"{what}: {rel} is gone"
        readable(folder / rel)
    now = fingerprint(folder)
    changed = {rel for rel in before if now.get(rel) not in (before[rel], after.get(rel))}
    assert not changed, (f"{what}: content changed: {sorted(changed)[:5]}; "
                         f"layers now: {_layer_names(folder, changed)}")
    leftovers = set(scan.temp_leftovers(folder))
    for p in scan.output_files(folder):
        if p not in leftovers:
            readable(p)


@pytest.mark.slow
def test_partition_killed_keeps_project_and_resumes(tmp_path: Path) -> None:
    """SIGKILL ``pucha partition`` during start-up, between 居/村, mid-居/村 and while it
    writes the plan: the project GeoPackage stays intact (no areas, or the complete plan:
    the plan, its revision and styles are ONE atomic write), each re-run resumes the 居/村
    the killed runs finished, and the last re-run gives exactly the uninterrupted result.

    ``--time-limit 600``: the solver's result depends on time only when a 居/村 hits its
    time limit (asserted not to happen), so equal inputs give equal plans under any load.
    """
    from pucha.gis.write import read_meta
    from pucha.partition.run import resume_dir

    src = _load_project(tmp_path / "t", 6000, 1000)   # 6 居/村 of 1000 buildings
    ref = tmp_path / "ref"
    ref.mkdir()
    shutil.copy(src, ref / "project.gpkg")
    args = ("--jobs", "1", "--time-limit", "600")
    cmd_ref = pucha_cmd("partition", str(ref / "project.gpkg"), *args)
    t_full = run_to_end(cmd_ref, ref)
    expected = fingerprint(ref)
    from pucha.gis.write import read_layer
    assert "time_limit" not in set(read_layer(ref / "project.gpkg", "problems")["code"])

    work = tmp_path / "work"
    work.mkdir()
    gpkg = work / "project.gpkg"
    shutil.copy(src, gpkg)
    before = fingerprint(work)                   # the imported project, no areas yet
    cmd = pucha_cmd("partition", str(gpkg), *args)
    cache = resume_dir(gpkg)

    def done() -> int:
        return len(list(cache.glob("*.pkl"))) if cache.is_dir() else 0

    rng = random.Random(11)
    # 1. start-up (reading the project): nothing solved yet
    assert run_and_kill(cmd, work, rng.uniform(0.02, 0.08) * t_full)
    _check_after_kill(work, "killed at start-up", before, expected)
    # 2.-3. mid-run: once this run has finished one more 居/村, a little later
    for k in range(2):
        n0 = done()
        t0 = time.monotonic()
        killed = run_and_kill_when(cmd, work, lambda n0=n0: done() > n0,
                                   rng.uniform(0.0, 1.5))
        assert killed, f"run {k + 2} finished before the kill point"
        _check_after_kill(work, f"killed after {time.monotonic() - t0:.1f} s "
                          f"({done()} 居/村 kept)", before, expected)
    kept = done()
    assert 2 <= kept < 6, kept
    # 4. every 居/村 solved: killed while it writes the plan (or just after)
    t0 = time.monotonic()
    killed = run_and_kill_when(cmd, work, lambda: done() == 6, rng.uniform(0.0, 0.5))
    _check_after_kill(work, f"killed while writing ({time.monotonic() - t0:.1f} s)", before,
                      expected)
    t_resume = run_to_end(cmd, work)
    assert fingerprint(work) == expected
    assert scan.temp_leftovers(work) == []
    assert not cache.exists(), "the resume folder is removed once the plan is written"
    resumed = read_meta(gpkg)["partition"]["resumed"]
    assert len(resumed) >= kept, resumed    # finished 居/村 were not solved again
    print(f"pucha partition: {t_full:.1f} s uninterrupted; after 4 kills the re-run took "
          f"{t_resume:.1f} s ({len(resumed)} of 6 居/村 resumed)")
    # and a killed run over a finished project keeps its areas (a re-run that finds
    # nothing changed keeps the plan and records no revision)
    done_fp = fingerprint(work)
    kill_and_check(cmd, work, work, seed=12, kills=2, t_full=t_full, before=done_fp)
    run_to_end(cmd, work)
    assert fingerprint(work) == done_fp


# --------------------------------------------------------------------------- pucha check
def test_check_killed_keeps_project(tiny_project: Path) -> None:
    """``pucha check`` writes its problem rows into the project: a kill leaves it whole."""
    root = tiny_project.parent / "check"
    root.mkdir()
    shutil.copy(tiny_project, root / "project.gpkg")
    cmd = pucha_cmd("check", str(root / "project.gpkg"))
    run_to_end(cmd, root)
    t_full = run_to_end(cmd, root)
    before = fingerprint(root)
    killed = kill_and_check(cmd, root, root, seed=3, kills=3, t_full=t_full, before=before)
    assert killed >= 2
    run_to_end(cmd, root)
    assert fingerprint(root) == before and scan.temp_leftovers(root) == []

"""City scale: ``pucha partition`` on a real Dask cluster and clean stops of ``--jobs``.

A real ``dask scheduler`` and two ``dask worker`` processes on 127.0.0.1 (free ports,
workers started in an empty temporary folder), and the project written by
:func:`pucha.gis.synthetic.write_synthetic_gpkg` (8 居/村, ~8,000 people). The plan of a
serial run in this process is the reference every other run must equal.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from pucha.config import PartitionSettings
from pucha.gis import schema as S
from pucha.gis.synthetic import write_synthetic_gpkg
from pucha.gis.write import read_layer, read_meta
from pucha.partition.run import partition_project, resume_dir

distributed = pytest.importorskip("distributed")
psutil = pytest.importorskip("psutil")

SETTINGS = PartitionSettings(time_limit_s=60.0)
BIN = Path(sys.executable).parent
N_VILLAGES = 8


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def _same_plan(a: Path, b: Path) -> None:
    for name in (S.LAYER_AREAS, S.LAYER_BUILDING_AREAS, S.LAYER_BUILDINGS, "code_history"):
        x, y = read_layer(a, name), read_layer(b, name)
        if "geometry" in x.columns:
            x = pd.DataFrame(x).assign(geometry=x.geometry.to_wkb())
            y = pd.DataFrame(y).assign(geometry=y.geometry.to_wkb())
        pd.testing.assert_frame_equal(x, y)


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    p = tmp_path_factory.mktemp("src") / "project.gpkg"
    return write_synthetic_gpkg(p, n_villages=N_VILLAGES, people=8000, seed=1)


@pytest.fixture(scope="module")
def serial(source, tmp_path_factory) -> Path:
    p = tmp_path_factory.mktemp("serial") / "project.gpkg"
    shutil.copy(source, p)
    partition_project(p, settings=SETTINGS, progress=False, jobs=1)
    return p


@pytest.fixture
def project(source, tmp_path) -> Path:
    p = tmp_path / "proj" / "project.gpkg"
    p.parent.mkdir()
    shutil.copy(source, p)
    return p


class Cluster:
    """``dask scheduler`` + ``dask worker`` x2 as real processes on 127.0.0.1."""

    def __init__(self, root: Path, n_workers: int = 2) -> None:
        self.port = _free_port()
        self.address = f"tcp://127.0.0.1:{self.port}"
        self.cwd = root / "worker-cwd"
        self.cwd.mkdir()
        env = dict(os.environ)
        self.procs = [subprocess.Popen(
            [str(BIN / "dask"), "scheduler", "--host", "127.0.0.1", "--port", str(self.port),
             "--no-dashboard"], cwd=root, env=env, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)]
        for _ in range(n_workers):
            self.procs.append(subprocess.Popen(
                [str(BIN / "dask"), "worker", self.address, "--nthreads", "1", "--host",
                 "127.0.0.1", "--no-dashboard"], cwd=self.cwd, env=env,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        self.wait_for(n_workers)

    def client(self):
        return distributed.Client(self.address, timeout="60s")

    def wait_for(self, n: int, timeout: float = 90) -> None:
        with self.client() as c:
            c.wait_for_workers(n, timeout=timeout)

    def close(self) -> None:
        for p in reversed(self.procs):
            p.terminate()
        for p in self.procs:
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    pytest.importorskip("dask")
    c = Cluster(tmp_path_factory.mktemp("cluster"))
    yield c
    c.close()


def _pucha(*args: str, cwd: Path | None = None) -> subprocess.Popen:
    return subprocess.Popen([str(BIN / "pucha"), *args], cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


# --------------------------------------------------------------------------- the cluster
@pytest.mark.slow
def test_cluster_plan_equals_serial_one_task_per_village_nothing_in_worker_cwd(
        cluster, project, serial, monkeypatch) -> None:
    """A relative project path: the client resolves the resume folder and the inputs'
    folder beside the project; every 居/村 is its own task, both workers get some, the
    plan is the serial one and the workers' working directory stays empty."""
    monkeypatch.chdir(project.parent)
    with cluster.client() as client, distributed.get_task_stream(client) as ts:
        res = partition_project(Path(project.name), settings=SETTINGS, progress=False,
                                scheduler="distributed")
    tasks = [t for t in ts.data if str(t["key"]).startswith("pucha-solve-")]
    assert len({t["key"] for t in tasks}) == N_VILLAGES
    assert len({t["worker"] for t in tasks}) == 2
    _same_plan(serial, project)
    assert res.resumed == []
    assert not resume_dir(project).exists()
    assert list(cluster.cwd.iterdir()) == []


@pytest.mark.slow
def test_worker_killed_mid_run_is_recomputed(cluster, project, serial) -> None:
    """kill -9 of a worker while it holds tasks: the scheduler gives them to another
    worker and the plan is still the serial one."""
    with cluster.client() as client:
        pids = client.run(os.getpid)
        proc = _pucha("partition", str(project), "--dask", cluster.address, "-q", "--time-limit", "60")
        killed = None
        try:
            deadline = time.monotonic() + 120
            while killed is None and time.monotonic() < deadline and proc.poll() is None:
                busy = {w: ks for w, ks in client.processing().items() if ks and w in pids}
                if busy:
                    w = sorted(busy)[0]
                    os.kill(pids[w], signal.SIGKILL)
                    killed = (w, busy[w])
                time.sleep(0.05)
            out, err = proc.communicate(timeout=300)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
        assert killed is not None, "no task ran on a worker"
        assert proc.returncode == 0, err
        cluster.wait_for(2)            # the nanny restarts the killed worker
    assert any(k.startswith("pucha-solve-") for k in killed[1])
    _same_plan(serial, project)
    assert list(cluster.cwd.iterdir()) == []


# --------------------------------------------------------------------------- stops, resume
def _tree(pid: int) -> list:
    return [psutil.Process(pid)] + psutil.Process(pid).children(recursive=True)


@pytest.mark.slow
def test_sigterm_stops_every_pool_worker_and_resumes_on_the_cluster(cluster, project, serial
                                                                    ) -> None:
    """SIGTERM to ``pucha partition --jobs 2`` (what systemd or ``timeout`` send): no
    process is left behind, the project is untouched, and the cluster then takes every
    finished 居/村 from the resume cache instead of solving it again."""
    before = _sha(project)
    cache = resume_dir(project)
    proc = _pucha("partition", str(project), "--jobs", "2", "-q", "--time-limit", "60")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not list(cache.glob("*.pkl")):
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.02)
    tree = _tree(proc.pid)
    assert len(tree) >= 3, tree                      # the CLI and its 2 pool workers
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=30)
    assert proc.returncode != 0
    gone, alive = psutil.wait_procs(tree, timeout=10)
    assert alive == [], f"left behind: {alive}"
    assert _sha(project) == before                  # the project as it was
    finished = sorted(p.stem for p in cache.glob("*.pkl"))
    assert finished and len(finished) < N_VILLAGES
    with cluster.client():
        res = partition_project(project, settings=SETTINGS, progress=False, scheduler="distributed")
    assert set(finished) <= set(res.resumed), (finished, res.resumed)
    assert read_meta(project)["partition"]["resumed"] == res.resumed
    _same_plan(serial, project)


def test_resume_with_other_jobs_solves_only_the_unfinished(project, serial, tmp_path,
                                                           monkeypatch) -> None:
    """The cache key holds what shapes the plan, not --jobs: a run of two 居/村 with
    --jobs 1 (a killed run's cache), then the whole run with --jobs 2, solves only the
    other six (solves counted in the pool's processes through a file)."""
    import pucha.partition.engine as run_mod  # the per-居/村 engine the scheduler calls
    from pucha.partition.run import partition_frames

    layers = {n: read_layer(project, n) for n in (S.LAYER_VILLAGES, S.LAYER_BUILDINGS,
                                                  S.LAYER_ROADS, S.LAYER_WATER)}
    codes = sorted(layers[S.LAYER_VILLAGES]["village_code"])
    partition_frames(layers, settings=SETTINGS, villages=codes[:2], jobs=1,
                     cache_dir=resume_dir(project))
    log = tmp_path / "solves.txt"
    real = run_mod.solve_village

    def counted(code, *a, **k):
        with open(log, "a") as fh:
            fh.write(code + "\n")
        return real(code, *a, **k)

    monkeypatch.setattr(run_mod, "solve_village", counted)
    res = partition_project(project, settings=PartitionSettings(time_limit_s=60.0, jobs=2),
                            jobs=2, progress=False)
    assert sorted(log.read_text().split()) == codes[2:]
    assert res.resumed == codes[:2]
    _same_plan(serial, project)


def test_failed_village_is_retried_then_reported_without_losing_the_others(
        project, monkeypatch) -> None:
    """One 居/村 always fails in the pool: it is tried 1 + 2 times, the error names it,
    every other 居/村 is in the resume cache and the project is untouched."""
    import pucha.partition.engine as run_mod  # the per-居/村 engine the scheduler calls
    from pucha.partition.schedule import TaskFailed

    codes = sorted(read_layer(project, S.LAYER_VILLAGES)["village_code"])
    bad = codes[3]
    before = _sha(project)
    real = run_mod.solve_village
    log = project.parent / "tries.txt"

    def flaky(code, *a, **k):
        if code == bad:
            with open(log, "a") as fh:
                fh.write("x\n")
            raise RuntimeError("disk on fire")
        return real(code, *a, **k)

    monkeypatch.setattr(run_mod, "solve_village", flaky)
    with pytest.raises(TaskFailed, match=f"居/村 {bad}: RuntimeError: disk on fire"):
        partition_project(project, settings=SETTINGS, jobs=2, progress=False)
    assert log.read_text().count("x") == 3
    cached = sorted(p.stem for p in resume_dir(project).glob("*.pkl"))
    assert cached == [c for c in codes if c != bad]
    assert not (resume_dir(project) / "inputs").exists()
    assert _sha(project) == before


# --------------------------------------------------------------------------- maps
@pytest.mark.slow
def test_maps_on_the_cluster_equal_the_local_pack(cluster, serial, tmp_path, monkeypatch) -> None:
    """``pucha maps --dask``: one task per 居/村 and phase, the workers write the files
    (paths made absolute by the client) and every file equals the local pack's."""
    from pucha.outputs.pack import make_pack
    from pucha.outputs.parallel import make_pack_dask

    areas = read_layer(serial, S.LAYER_AREAS)
    v = areas["village_code"].value_counts().sort_index().idxmax()   # (one 居/村: CI time)
    local = make_pack(serial, tmp_path / "local", jobs=1, progress=False, pdf=False, only_village=v)
    monkeypatch.chdir(tmp_path)
    with cluster.client() as client, distributed.get_task_stream(client) as ts:
        res = make_pack_dask(serial, Path("onc"), progress=False, pdf=False, only_village=v)
    keys = {t["key"] for t in ts.data if str(t["key"]).startswith("pucha-maps-")}
    assert len(keys) == 2                                 # its area maps, then its overview
    assert res.n_areas == local.n_areas == (areas["village_code"] == v).sum() > 1
    a = sorted(p.relative_to(tmp_path / "local") for p in (tmp_path / "local").rglob("*") if p.is_file())
    b = sorted(p.relative_to(tmp_path / "onc") for p in (tmp_path / "onc").rglob("*") if p.is_file())
    assert a == b
    for rel in a:
        if rel.suffix in (".html", ".csv"):
            assert (tmp_path / "local" / rel).read_bytes() == (tmp_path / "onc" / rel).read_bytes(), rel
    assert list(cluster.cwd.iterdir()) == []

"""The map pack is replaced as a whole: killed half-way, the previous pack stays whole.

Two real plans of one synthetic township (``pucha.gis.synthetic`` through
``partition_project``): plan A with ~300-person areas, plan B with ~600-person
areas (fewer). Pack A is on disk; ``pucha maps`` for plan B runs in a real process,
slowed per area (``PUCHA_TEST_SLOW_AREA_S``), and is killed (SIGKILL) at several
moments. After each kill the pack folder must be pack A exactly (same files, same
bytes) or pack B whole, never a mixture; the user's own file in it survives. A run
left to finish gives pack B with no file of plan A's areas left behind, and the
abandoned staging folders are gone.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pucha.config import PartitionSettings
from pucha.gis.synthetic import write_synthetic_gpkg
from pucha.outputs.pack import make_pack
from pucha.partition.run import partition_project


def _snapshot(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def plans(tmp_path_factory):
    base = tmp_path_factory.mktemp("atomic")
    a = write_synthetic_gpkg(base / "a.gpkg", n_villages=2, people=3000, seed=5)
    partition_project(a, progress=False)
    b = write_synthetic_gpkg(base / "b.gpkg", n_villages=2, people=3000, seed=5)
    partition_project(b, progress=False,
                      settings=PartitionSettings(target=600, min=480, max=720))
    return a, b


def _areas(gpkg: Path) -> set[str]:
    from pucha.gis.write import read_layer

    return set(read_layer(gpkg, "areas")["area_code"])


@pytest.mark.slow
def test_killed_pack_leaves_previous_whole_or_new_whole(plans, tmp_path):
    a, b = plans
    assert len(_areas(b)) < len(_areas(a))
    out = tmp_path / "maps"
    make_pack(a, out, jobs=1, progress=False)
    (out / "我的备注.txt").write_text("keep me", encoding="utf-8")
    before = _snapshot(out)
    env = dict(os.environ, PUCHA_TEST_SLOW_AREA_S="0.4", PYTHONHASHSEED="0")
    cmd = [sys.executable, "-m", "pucha.scripts.cli", "maps", str(b), "-o", str(out), "-j", "1",
           "-q"]
    # the new pack as the same command draws it in a fresh process (the PDF font subset of
    # this test process depends on the tests that ran before it)
    ref_b = tmp_path / "ref-b"
    r = subprocess.run(cmd[:-4] + [str(ref_b), "-j", "1", "-q"],
                       env=dict(env, PUCHA_TEST_SLOW_AREA_S="0"), capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    after = _snapshot(ref_b) | {"我的备注.txt": before["我的备注.txt"]}
    after.pop("pucha-maps.json")

    outcomes = []
    for delay in (1.0, 4.0, 7.0):
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        time.sleep(delay)
        finished = proc.poll() is not None
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        now = _snapshot(out)
        if now == before:
            outcomes.append("previous")
        else:
            now.pop("pucha-maps.json", None)
            assert now == after, (f"killed after {delay}s: a mixture "
                                  f"({len(set(now) - set(after))} unexpected files)")
            outcomes.append("new")
            before = _snapshot(out)  # later kills must keep this one whole
        if finished:
            break
    assert "previous" in outcomes[:1], outcomes  # the first kill came before the swap

    r = subprocess.run(cmd, env=dict(env, PUCHA_TEST_SLOW_AREA_S="0"), capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    final = _snapshot(out)
    final.pop("pucha-maps.json")
    assert final == after
    stems = {Path(p).stem for p in final if Path(p).stem.isdigit() and len(Path(p).stem) == 15}
    assert stems == _areas(b)  # no map of plan A's areas left
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".maps.")]
    listed = json.loads((out / "pucha-maps.json").read_text(encoding="utf-8"))["files"]
    assert "我的备注.txt" not in listed and all((out / f).is_file() for f in listed)


@pytest.mark.slow
def test_one_village_run_keeps_the_others_and_drops_its_obsolete_maps(plans, tmp_path):
    a, b = plans
    out = tmp_path / "maps"
    make_pack(a, out, jobs=1, progress=False, pdf=False)
    before = _snapshot(out)
    v = sorted({c[:12] for c in _areas(b)})[0]
    make_pack(b, out, jobs=1, progress=False, pdf=False, only_village=v)
    now = _snapshot(out)
    v_dir = next(p.name for p in out.iterdir() if p.is_dir() and p.name.startswith(v))
    others = {k: h for k, h in before.items() if not k.startswith(v_dir + "/")
              and "/" in k and not k.startswith("登记表/")}
    assert all(now.get(k) == h for k, h in others.items())  # other 居/村 untouched
    stems = {Path(k).stem for k in now if k.startswith(v_dir + "/") and Path(k).stem.isdigit()}
    assert stems == {c for c in _areas(b) if c.startswith(v)}
    listed = json.loads((out / "pucha-maps.json").read_text(encoding="utf-8"))["files"]
    assert set(listed) == {k for k in now if k != "pucha-maps.json"}

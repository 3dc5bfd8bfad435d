"""The bundled demo run once per test session: ``pucha demo --no-maps`` in a real process.

Tests of the map pack read what the real import, boundaries and partition wrote
(``project.gpkg``, ``boundaries/conflicts.pdf``), never a hand-shaped copy.
:func:`demo_dir` runs it once per session (about 20 s on 2 cores) under pytest's
session temp folder and returns the output folder.
"""

from __future__ import annotations

import functools
import os
import subprocess
import sys
from pathlib import Path


@functools.lru_cache(maxsize=1)
def _run(base: str) -> Path:
    out = Path(base) / "pucha-demo"
    env = dict(os.environ, PYTHONHASHSEED="1")
    r = subprocess.run([sys.executable, "-m", "pucha.scripts.cli", "demo", "-o", str(out),
                        "-j", "2", "--no-maps"], capture_output=True, text=True, timeout=900,
                       env=env, cwd=base)
    if r.returncode != 0:
        raise RuntimeError(f"pucha demo failed ({r.returncode}):\n{r.stderr[-3000:]}")
    return out


def demo_dir(tmp_path_factory) -> Path:
    """The folder ``pucha demo --no-maps`` wrote (project.gpkg, boundaries/, check-report)."""
    return _run(str(tmp_path_factory.getbasetemp()))

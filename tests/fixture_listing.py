"""The partitioned demo project the 摸底 listing tests share (built once per session).

The bundled demo (外滩街道, real OSM buildings, ODbL) goes through the real
``pucha import`` and ``pucha partition`` (seed 0); tests copy the GeoPackage
before changing it.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pucha.config import PartitionSettings

SETTINGS = PartitionSettings(seed=0, time_limit_s=10.0)
# each test module that imports the fixture gets its own fixture definition: the built
# project is kept here so the session builds it once
_BUILT: dict[str, Path] = {}


@pytest.fixture(scope="session")
def listing_demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from pucha.config import load_config
    from pucha.gis.project import import_project
    from pucha.partition import run
    from pucha.scripts.cmd_run import DEMO_TOML

    if "demo" in _BUILT and _BUILT["demo"].exists():
        return _BUILT["demo"]
    out = tmp_path_factory.mktemp("listing-demo") / "project.gpkg"
    import_project(load_config(DEMO_TOML), out=out)
    run.partition_project(out, settings=SETTINGS, jobs=1, progress=False)
    _BUILT["demo"] = out
    return out


def copy_project(src: Path, dest_dir: Path) -> Path:
    dest = dest_dir / "project.gpkg"
    shutil.copy(src, dest)
    return dest
